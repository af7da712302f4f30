/* actuators_files.c — act_write_file: procfs/sysfs attributes written in one write, declared
 * files replaced atomically, the old content backed up to state_dir/backups first. */
#include "actuators_int.h"
#include "jsonl.h"
#include "statedir.h"
#include "dryrun.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "procinfo.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* ---------------------------------------------------------------------------------------
 * Files */

static int is_kernel_fs(int dirfd)
{
    struct statfs sf;
    if (fstatfs(dirfd, &sf) < 0)
        return 0;
    switch ((unsigned long)sf.f_type) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case DEBUGFS_MAGIC:
    case SECURITYFS_MAGIC:
    case TRACEFS_MAGIC:
    case BPF_FS_MAGIC:
        return 1;
    default:
        return 0;
    }
}

/* cgroup membership and freezing have their own, checked actuator; writing these files
 * directly would bypass the protection of the processes inside. */
static int is_cgroup_control(const char *base)
{
    static const char *const names[] = { "cgroup.procs", "cgroup.threads", "tasks",
                                         "cgroup.kill", "cgroup.freeze", "freezer.state",
                                         "release_agent", "notify_on_release", NULL };
    for (size_t i = 0; names[i]; i++)
        if (strcmp(base, names[i]) == 0)
            return 1;
    return 0;
}

static void utc_stamp(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y%m%dT%H%M%S", &tm);
    snprintf(buf, len, "%.20s.%03dZ", b, (int)((ts.tv_nsec / 1000000L) % 1000));
}

/* Writes content to a new file state_dir/backups/<stamp>-<plugin>-<flattened path>.
 * The name goes to out. */
static int write_backup(actuators *a, const char *plugin, const char *path, const char *content,
                        size_t n, char *out, size_t outlen, char *m, size_t ml)
{
    char dir[PATH_MAX];
    if (!a->state_dir[0]) {
        setmsg(m, ml, "no state_dir configured for backups");
        return HEALER_E_IO;
    }
    snprintf(dir, sizeof dir, "%s/backups", a->state_dir);
    /* By descriptors from the checked state directory down: a link planted as backups/ would
     * send a copy of the file (perhaps a secret) wherever it points. */
    char why[PATH_MAX + 200];
    int sfd = statedir_open(a->state_dir, why, sizeof why);
    int dfd = sfd < 0 ? -1 : statedir_subdir(sfd, a->state_dir, "backups", 0700, why, sizeof why);
    if (sfd >= 0)
        close(sfd);
    if (dfd < 0) {
        setmsg(m, ml, "backup: %s", why);
        return HEALER_E_IO;
    }
    char stamp[40], plug[HEALER_NAME_MAX + 1], flat[160];
    utc_stamp(stamp, sizeof stamp);
    snprintf(plug, sizeof plug, "%s", plugin);
    for (char *p = plug; *p; p++)
        if (*p == '/' || *p == '.')
            *p = '_';
    /* The tail of the path names the file best when it must be shortened. */
    const char *src = path;
    while (*src == '/')
        src++;
    size_t sl = strlen(src);
    if (sl >= sizeof flat) {
        src += sl - (sizeof flat - 1);
        sl = sizeof flat - 1;
    }
    memcpy(flat, src, sl);
    flat[sl] = '\0';
    for (char *p = flat; *p; p++)
        if (*p == '/')
            *p = '_';
    char name[NAME_MAX + 1];
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++) {
        if (i == 0)
            snprintf(name, sizeof name, "%.24s-%.48s-%.160s", stamp, plug, flat);
        else
            snprintf(name, sizeof name, "%.24s-%.48s-%.160s.%d", stamp, plug, flat, i);
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        setmsg(m, ml, "backup %s/%s: %s", dir, name, strerror(errno));
        close(dfd);
        return HEALER_E_IO;
    }
    if (jsonl_write_all(fd, content, n) < 0 || fsync(fd) < 0) {
        setmsg(m, ml, "backup %s/%s: %s", dir, name, strerror(errno));
        close(fd);
        unlinkat(dfd, name, 0);
        close(dfd);
        return HEALER_E_IO;
    }
    close(fd);
    fsync(dfd);
    close(dfd);
    if (snprintf(out, outlen, "%s/%s", dir, name) < 0)
        out[0] = '\0';
    return HEALER_OK;
}

/* Which root a real path falls under: 1 proc_root, 2 sys_root, 3 a declared path, 0 none. */
static int path_root(actuators *a, const act_context *c, const char *real, char *root,
                     size_t rl)
{
    char r[PATH_MAX];
    if (real_of(a->proc_root, r, sizeof r) == 0 && is_under(real, r)) {
        snprintf(root, rl, "%s", r);
        return 1;
    }
    if (real_of(a->sys_root, r, sizeof r) == 0 && is_under(real, r)) {
        snprintf(root, rl, "%s", r);
        return 2;
    }
    for (size_t i = 0; i < c->n_declared_paths; i++) {
        const char *dp = c->declared_paths ? c->declared_paths[i] : NULL;
        if (dp && real_of(dp, r, sizeof r) == 0 && is_under(real, r)) {
            snprintf(root, rl, "%s", r);
            return 3;
        }
    }
    return 0;
}

/* The pid of a per-process file (proc_root/PID/...). */
static int proc_file_pid(int which, const char *root, const char *real, pid_t *pid)
{
    if (which != 1)
        return 0;
    const char *rel = real + strlen(root);
    while (*rel == '/')
        rel++;
    char *end;
    long v = strtol(rel, &end, 10);
    if (end == rel || (*end != '/' && *end != '\0') || v <= 0 || v > INT_MAX)
        return 0;
    *pid = (pid_t)v;
    return 1;
}

/* Which writes the undo journal gives back after a crash: a tunable under proc_root or
 * sys_root (governor, frequency cap, fan, sysctl) whose prior content was read (at most 4 KiB)
 * and differs from the new value. Not: files under a declared path (persistent edits, such as
 * a fixed configuration, with a copy in backups/; a crash must not revert a fix), write-only
 * or unreadable attributes, and writes that trigger rather than set something
 * (vm/drop_caches, vm/compact_memory): there is no state to go back to. */
static int journal_write(actuators *a, int which, const char *root, const char *real,
                         const char *old, size_t oldn, const char *value)
{
    if (!a->undo || (which != 1 && which != 2) || !old || oldn > 4096 || strlen(old) != oldn)
        return 0;
    if (which == 1) {
        static const char *const triggers[] = { "sys/vm/drop_caches", "sys/vm/compact_memory",
                                                NULL };
        const char *rel = real + strlen(root);
        while (*rel == '/')
            rel++;
        for (size_t i = 0; triggers[i]; i++)
            if (strcmp(rel, triggers[i]) == 0)
                return 0;
    }
    return !undo_same_value(old, value);
}

int act_write_file(actuators *a, const act_context *c, const char *path, const char *value,
                   char *msg, size_t len)
{
    if (!a) {
        setmsg(msg, len, "write_file: no actuators");
        return HEALER_E_INVAL;
    }
    if (!c)
        c = &no_context;
    char m[HEALER_MSG_MAX * 2], shown[80], oldshown[80];
    json_t *params = json_object();
    json_object_set_new(params, "path", jstr(path));
    json_object_set_new(params, "value", jstr(value));
    int rc = HEALER_OK, dfd = -1, kernel = 0;
    char *old = NULL;
    size_t oldn = 0;
    int have_old = 0;
    struct stat ost;

    if (!path || !value || path[0] != '/' || strlen(path) >= PATH_MAX - 64) {
        setmsg(m, sizeof m, "write_file: path must be absolute and value given (path '%s')",
               path ? path : "(null)");
        return finish(a, c, "write_file", path, params, HEALER_E_INVAL, m, msg, len);
    }
    char dir[PATH_MAX], base[NAME_MAX + 1];
    const char *slash = strrchr(path, '/');
    size_t bl = strlen(slash + 1);
    if (bl == 0 || bl > NAME_MAX || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0) {
        setmsg(m, sizeof m, "write_file: '%s' does not name a file", path);
        return finish(a, c, "write_file", path, params, HEALER_E_INVAL, m, msg, len);
    }
    memcpy(base, slash + 1, bl + 1);
    size_t dl = (size_t)(slash - path);
    if (dl == 0)
        dl = 1;
    memcpy(dir, path, dl);
    dir[dl] = '\0';

    char rdir[PATH_MAX], real[PATH_MAX + NAME_MAX + 2], root[PATH_MAX];
    if (open_dir_real(dir, &dfd, rdir, sizeof rdir) < 0) {
        int e = errno;
        setmsg(m, sizeof m, "write_file %s: directory %s: %s", path, dir, strerror(e));
        rc = e == ENOENT ? HEALER_E_NOTFOUND : HEALER_E_IO;
        goto out;
    }
    snprintf(real, sizeof real, "%s/%s", strcmp(rdir, "/") == 0 ? "" : rdir, base);
    int which = path_root(a, c, real, root, sizeof root);
    if (!which) {
        setmsg(m, sizeof m, "write_file %s: real path %s is not under proc_root, sys_root or a "
               "declared path", path, real);
        rc = HEALER_E_SCOPE;
        goto out;
    }
    json_object_set_new(params, "real_path", jstr(real));
    if (is_cgroup_control(base)) {
        setmsg(m, sizeof m, "write_file %s: cgroup control file: use freeze_cgroup", real);
        rc = HEALER_E_PROTECTED;
        goto out;
    }
    if (which == 1 || which == 2) {
        /* The hard deny list, then the operator's plugins.<name>.write_allow (rules.c). The
         * agent's own writes (no policy: the undo journal's replay) meet the deny list only. */
        const char *rel = real + strlen(root);
        rc = healer_rules_check_write(which == 1 ? 'p' : 's', rel, c->policy, m, sizeof m);
        if (rc == HEALER_E_SCOPE && !c->policy)
            rc = HEALER_OK;
        if (rc != HEALER_OK)
            goto out;
    }
    if (which == 1) {
        const char *rel = real + strlen(root);
        while (*rel == '/')
            rel++;
        /* A per-process file (oom_score_adj, ...) obeys the same protection as a signal. */
        if (*rel >= '0' && *rel <= '9') {
            char *end;
            long pid = strtol(rel, &end, 10);
            if ((*end == '/' || *end == '\0') && pid > 0 && pid <= INT_MAX) {
                procinfo pi;
                rc = procinfo_read(a->proc_root, (pid_t)pid, &pi, m, sizeof m);
                if (rc == HEALER_OK)
                    rc = check_allowed(a, &pi.p, c->allow_system, c->system_denied, c->plugin, m,
                                       sizeof m);
                if (rc != HEALER_OK)
                    goto out;
            }
        }
    }
    if (fstatat(dfd, base, &ost, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(ost.st_mode)) {
            setmsg(m, sizeof m, "write_file %s: is a symlink; refusing to follow it", real);
            rc = HEALER_E_SCOPE;
            goto out;
        }
        if (!S_ISREG(ost.st_mode)) {
            setmsg(m, sizeof m, "write_file %s: not a regular file", real);
            rc = HEALER_E_INVAL;
            goto out;
        }
        have_old = 1;
    } else if (errno != ENOENT) {
        setmsg(m, sizeof m, "write_file %s: %s", real, strerror(errno));
        rc = HEALER_E_IO;
        goto out;
    }
    kernel = is_kernel_fs(dfd);
    if (!have_old && kernel) {
        setmsg(m, sizeof m, "write_file %s: no such file", real);
        rc = HEALER_E_NOTFOUND;
        goto out;
    }
    const char *unreadable = NULL;
    if (have_old) {
        old = slurp_at(dfd, base, kernel ? 65536 : (size_t)1 << 30, &oldn);
        if (!old) {
            /* Write-only attributes (sysfs "bind", ...) have no state to keep. */
            if (kernel && (errno == EACCES || errno == EPERM || errno == EINVAL || errno == EIO))
                unreadable = strerror(errno);
            else {
                setmsg(m, sizeof m, "write_file %s: reading the old content: %s", real,
                       strerror(errno));
                rc = HEALER_E_IO;
                goto out;
            }
        }
    }
    printable(value, shown, sizeof shown);
    if (old)
        printable(old, oldshown, sizeof oldshown);
    else
        snprintf(oldshown, sizeof oldshown, "%s", unreadable ? "unreadable" : "no file");
    json_object_set_new(params, "old_value", old && oldn <= 4096 ? jstr(old) : json_null());
    if (!have_old)
        json_object_set_new(params, "created", json_true());
    else if (!old)
        json_object_set_new(params, "unreadable", json_true());
    if (is_dry(a, c)) {
        healer_dry_write(m, sizeof m, real, shown, oldshown);
        rc = HEALER_DRY_RUN;
        goto out;
    }
    char backup[PATH_MAX];
    backup[0] = '\0';
    if (old) {
        const char *plug = c->plugin && *c->plugin ? c->plugin : "agent";
        rc = write_backup(a, plug, real, old, oldn, backup, sizeof backup, m, sizeof m);
        if (rc != HEALER_OK)
            goto out;
        json_object_set_new(params, "backup", jstr(backup));
    }
    undo_tok ut = { 0, 0 };
    if (journal_write(a, which, root, real, old, oldn, value)) {
        undo_entry ue = { .kind = UNDO_WRITE, .path = real, .prior = old, .value = (char *)value };
        procinfo upi;
        char um[256];
        if (proc_file_pid(which, root, real, &ue.pid) &&
            procinfo_read(a->proc_root, ue.pid, &upi, um, sizeof um) == HEALER_OK) {
            ue.start_time = upi.p.start_time;
            ue.name = upi.p.name;
        } else {
            ue.pid = 0;
        }
        undo_before(a, c, &ue, &ut, params);
    }
    size_t vn = strlen(value);
    if (kernel) {
        /* procfs/sysfs: one write of the whole value, no truncation or rename games. */
        int fd = openat(dfd, base, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        ssize_t w = fd < 0 ? -1 : write(fd, value, vn);
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (w < 0 || (size_t)w != vn) {
            undo_failed(a, &ut);
            setmsg(m, sizeof m, "write '%s' to %s failed: %s", shown, real,
                   w < 0 ? strerror(e) : "short write");
            rc = HEALER_E_IO;
            goto out;
        }
    } else {
        /* A regular file is replaced atomically: readers see the old or the new content,
         * never half of it, and a crash leaves one of the two. */
        char tmp[NAME_MAX + 1];
        int fd = -1;
        for (int i = 0; i < 100 && fd < 0; i++) {
            snprintf(tmp, sizeof tmp, ".%.200s.healer-%d-%d", base, (int)getpid(), i);
            fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd < 0 && errno != EEXIST)
                break;
        }
        if (fd < 0) {
            undo_failed(a, &ut);
            setmsg(m, sizeof m, "write_file %s: temporary file: %s", real, strerror(errno));
            rc = HEALER_E_IO;
            goto out;
        }
        int ok = jsonl_write_all(fd, value, vn) == 0;
        if (ok && have_old) {
            ok = fchmod(fd, ost.st_mode & 07777) == 0;
            if (ok && fchown(fd, ost.st_uid, ost.st_gid) < 0 && errno != EPERM)
                ok = 0;
        } else if (ok) {
            ok = fchmod(fd, 0644) == 0;
        }
        ok = ok && fsync(fd) == 0;
        int e = errno;
        close(fd);
        if (ok && renameat(dfd, tmp, dfd, base) < 0) {
            ok = 0;
            e = errno;
        }
        if (!ok) {
            undo_failed(a, &ut);
            unlinkat(dfd, tmp, 0);
            setmsg(m, sizeof m, "write_file %s: %s", real, strerror(e));
            rc = HEALER_E_IO;
            goto out;
        }
        fsync(dfd);
    }
    if (which != 3) {
        undo_entry inv = { .kind = UNDO_WRITE, .path = real, .prior = (char *)value };
        undo_inverse(a, &inv);
    }
    if (backup[0])
        setmsg(m, sizeof m, "wrote '%s' to %s (was '%s'; backup %s)", shown, real, oldshown,
               backup);
    else
        setmsg(m, sizeof m, "wrote '%s' to %s (was '%s'; no backup: %s)", shown, real, oldshown,
               unreadable ? "not readable" : "new file");
    rc = HEALER_OK;
out:
    free(old);
    if (dfd >= 0)
        close(dfd);
    return finish(a, c, "write_file", path, params, rc, m, msg, len);
}
