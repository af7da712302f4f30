/* procinfo.c — parses a process's identity out of a procfs tree (proc_root). Owns the
 * /proc/PID/stat parser (comm may hold spaces and parentheses, so fields start after the LAST
 * ')') and the "vanished mid-read means gone, never a crash" rule. */
#include "procinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "healer/types.h"
#include "rules.h"

ssize_t procinfo_read_file(int dirfd, const char *name, char *buf, size_t len)
{
    if (len == 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len - 1) {
        ssize_t r = read(fd, buf + off, len - 1 - off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    buf[off] = '\0';
    return (ssize_t)off;
}

static int parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_ull(const char *s, unsigned long long *out)
{
    char *end;
    if (*s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int procinfo_parse_stat(const char *line, size_t len, procinfo *out, char *msg, size_t msglen)
{
    char buf[1024];
    if (len == 0 || len >= sizeof buf) {
        snprintf(msg, msglen, "stat: %zu bytes (expected 1..%zu)", len, sizeof buf - 1);
        return HEALER_E_INVAL;
    }
    memcpy(buf, line, len);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        snprintf(msg, msglen, "stat: NUL byte inside");
        return HEALER_E_INVAL;
    }
    char *open_paren = strchr(buf, '(');
    char *close_paren = strrchr(buf, ')');
    if (!open_paren || !close_paren || close_paren < open_paren) {
        snprintf(msg, msglen, "stat: no '(comm)' in '%.60s'", buf);
        return HEALER_E_INVAL;
    }
    *open_paren = '\0';
    long long pid;
    /* The pid is followed by exactly one space before '('. */
    char *sp = strchr(buf, ' ');
    if (sp)
        *sp = '\0';
    if (parse_ll(buf, &pid) < 0 || pid <= 0 || pid > INT_MAX) {
        snprintf(msg, msglen, "stat: bad pid '%.20s'", buf);
        return HEALER_E_INVAL;
    }
    memset(out, 0, sizeof *out);
    out->p.pid = (pid_t)pid;
    size_t comm_len = (size_t)(close_paren - open_paren - 1);
    if (comm_len >= sizeof out->p.name)
        comm_len = sizeof out->p.name - 1;
    memcpy(out->p.name, open_paren + 1, comm_len);
    out->p.name[comm_len] = '\0';

    /* Fields 3.. follow the last ')'. tok[0] is field 3. */
    char *rest = close_paren + 1;
    char *tok[24];
    size_t nt = 0;
    char *save = NULL;
    for (char *t = strtok_r(rest, " \n", &save); t && nt < 24; t = strtok_r(NULL, " \n", &save))
        tok[nt++] = t;
    if (nt < 22) {
        snprintf(msg, msglen, "stat of pid %lld: %zu fields after comm (need 22)", pid, nt);
        return HEALER_E_INVAL;
    }
    long long ppid, nice, rss_pages;
    unsigned long long flags, start;
    if (strlen(tok[0]) != 1 || parse_ll(tok[1], &ppid) < 0 || ppid < 0 || ppid > INT_MAX ||
        parse_ull(tok[6], &flags) < 0 || parse_ll(tok[16], &nice) < 0 ||
        nice < -20 || nice > 19 || parse_ull(tok[19], &start) < 0 ||
        parse_ll(tok[21], &rss_pages) < 0) {
        snprintf(msg, msglen, "stat of pid %lld: malformed field (state '%.4s' ppid '%.12s' "
                 "flags '%.12s' nice '%.6s' starttime '%.24s' rss '%.24s')", pid, tok[0],
                 tok[1], tok[6], tok[16], tok[19], tok[21]);
        return HEALER_E_INVAL;
    }
    out->state = tok[0][0];
    out->p.ppid = (pid_t)ppid;
    out->p.nice = (int)nice;
    out->p.start_time = start;
    out->p.kernel_thread = (flags & PROCINFO_PF_KTHREAD) ? 1 : 0;
    long page = sysconf(_SC_PAGESIZE);
    out->p.rss_bytes = rss_pages > 0 ? (uint64_t)rss_pages * (uint64_t)(page > 0 ? page : 4096) : 0;
    out->tgid = out->p.pid;
    return HEALER_OK;
}

/* A read failing because the process went away: ENOENT (entry gone), ESRCH (task reaped
 * while the directory fd was open). */
static int gone_errno(int e)
{
    return e == ENOENT || e == ESRCH;
}

int procinfo_read(const char *proc_root, pid_t pid, procinfo *out, char *msg, size_t msglen)
{
    char path[PATH_MAX];
    if (pid <= 0) {
        snprintf(msg, msglen, "pid %d: not a process id", (int)pid);
        return HEALER_E_INVAL;
    }
    snprintf(path, sizeof path, "%s/%d", proc_root, (int)pid);
    /* Every file is read relative to this one directory fd: if the pid is reused while we
     * read, the old directory answers ESRCH instead of showing us another process. */
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        int e = errno;
        snprintf(msg, msglen, "pid %d: gone (%s: %s)", (int)pid, path, strerror(e));
        return gone_errno(e) ? HEALER_E_GONE : HEALER_E_IO;
    }
    char buf[4096];
    int rc = HEALER_OK;
    ssize_t n = procinfo_read_file(dfd, "stat", buf, sizeof buf);
    if (n <= 0) {
        int e = n == 0 ? ESRCH : errno;
        snprintf(msg, msglen, "pid %d: gone (%s/stat: %s)", (int)pid, path, strerror(e));
        rc = gone_errno(e) || n == 0 ? HEALER_E_GONE : HEALER_E_IO;
        goto out;
    }
    char perr[256];
    rc = procinfo_parse_stat(buf, (size_t)n, out, perr, sizeof perr);
    if (rc != HEALER_OK) {
        snprintf(msg, msglen, "%s/stat: %s", path, perr);
        goto out;
    }
    if (out->p.pid != pid) {
        snprintf(msg, msglen, "%s/stat: names pid %d", path, (int)out->p.pid);
        rc = HEALER_E_INVAL;
        goto out;
    }

    n = procinfo_read_file(dfd, "status", buf, sizeof buf);
    if (n <= 0) {
        int e = n == 0 ? ESRCH : errno;
        snprintf(msg, msglen, "pid %d: gone (%s/status: %s)", (int)pid, path, strerror(e));
        rc = gone_errno(e) || n == 0 ? HEALER_E_GONE : HEALER_E_IO;
        goto out;
    }
    int have_uid = 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        unsigned long long v;
        if (strncmp(l, "Uid:", 4) == 0) {
            char *p = l + 4;
            while (*p == ' ' || *p == '\t')
                p++;
            char *end;
            errno = 0;
            v = strtoull(p, &end, 10);
            if (errno || end == p || v > UINT32_MAX - 1u) {
                snprintf(msg, msglen, "%s/status: bad Uid line '%.40s'", path, l);
                rc = HEALER_E_INVAL;
                goto out;
            }
            out->p.uid = (uid_t)v;
            have_uid = 1;
        } else if (strncmp(l, "Tgid:", 5) == 0) {
            char *p = l + 5;
            while (*p == ' ' || *p == '\t')
                p++;
            char *end;
            errno = 0;
            v = strtoull(p, &end, 10);
            if (!errno && end != p && v <= INT_MAX)
                out->tgid = (pid_t)v;
        }
    }
    if (!have_uid) {
        snprintf(msg, msglen, "%s/status: no Uid line", path);
        rc = HEALER_E_INVAL;
        goto out;
    }
    if (out->tgid != pid) {
        snprintf(msg, msglen, "pid %d is a thread of process %d, not a process", (int)pid,
                 (int)out->tgid);
        rc = HEALER_E_NOTFOUND;
        goto out;
    }

    n = procinfo_read_file(dfd, "oom_score_adj", buf, sizeof buf);
    if (n < 0) {
        int e = errno;
        snprintf(msg, msglen, "pid %d: gone (%s/oom_score_adj: %s)", (int)pid, path, strerror(e));
        rc = gone_errno(e) ? HEALER_E_GONE : HEALER_E_IO;
        goto out;
    }
    buf[strcspn(buf, "\n")] = '\0';
    long long adj;
    if (n == 0 || parse_ll(buf, &adj) < 0 || adj < -1000 || adj > 1000) {
        snprintf(msg, msglen, "%s/oom_score_adj: bad value '%.20s'", path, buf);
        rc = n == 0 ? HEALER_E_GONE : HEALER_E_INVAL;
        goto out;
    }
    out->p.oom_score_adj = (int)adj;
out:
    close(dfd);
    return rc;
}

int procinfo_exe_name(const char *proc_root, pid_t pid, char *buf, size_t len)
{
    char path[PATH_MAX], target[PATH_MAX];
    snprintf(path, sizeof path, "%s/%d/exe", proc_root, (int)pid);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return -1;
    target[n] = '\0';
    static const char deleted[] = " (deleted)";
    size_t tl = (size_t)n, dl = sizeof deleted - 1;
    if (tl > dl && strcmp(target + tl - dl, deleted) == 0)
        target[tl - dl] = '\0';
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    if (!*base)
        return -1;
    snprintf(buf, len, "%s", base);
    return 0;
}

ssize_t procinfo_cgroup_read(const char *proc_root, pid_t pid, char *buf, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%d", proc_root, (int)pid);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    ssize_t n = procinfo_read_file(dfd, "cgroup", buf, len);
    close(dfd);
    return n;
}

int procinfo_cgroup_under(char *buf, const char *scope, char *found, size_t found_len)
{
    if (found && found_len)
        found[0] = '\0';
    size_t sl = strlen(scope);
    while (sl > 1 && scope[sl - 1] == '/')
        sl--;
    int root = (sl == 1 && scope[0] == '/');
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        /* "ID:controllers:path"; the controllers list never holds ':' but the path may. */
        char *c1 = strchr(l, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        const char *cg = c2 + 1;
        if (found && found_len && !found[0])
            snprintf(found, found_len, "%s", cg);
        if (root && cg[0] == '/')
            return 1;
        if (strncmp(cg, scope, sl) == 0 && (cg[sl] == '\0' || cg[sl] == '/'))
            return 1;
    }
    return 0;
}
