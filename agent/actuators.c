/* actuators.c — every change the agent makes to the system: signal, renice, procfs/sysfs and
 * declared-file writes (with backups), commands without a shell, removal of old files,
 * cgroup freezing. Owns the protection and scope rules, dry-run and one audit line per call. */
#include "actuators.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/magic.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procinfo.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

extern char **environ;

struct actuators {
    char *proc_root, *sys_root, *state_dir, *scope_cgroup;
    char **protect_names;
    size_t n_protect_names;
    unsigned protect_min_uid;
    uid_t *scope_uids;
    size_t n_scope_uids;
    pid_t self;
    pid_t *ancestors;      /* the agent's parent chain up to PID 1, computed once */
    size_t n_ancestors;
    int dry_run;           /* read and written with __atomic: set from the reload thread */
    audit_log *audit;
};

/* ---------------------------------------------------------------------------------------
 * Small helpers */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void setmsg(char *m, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setmsg(char *m, size_t len, const char *fmt, ...)
{
    if (!m || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, len, fmt, ap);
    va_end(ap);
}

static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

/* A string for a JSON value: jansson refuses invalid UTF-8, a file name may be anything. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (!c)
        return json_null();
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    c[n] = '\0';
    j = json_string(c);
    free(c);
    return j ? j : json_null();
}

/* A value for a message: at most 60 bytes, non-printables as '?'. */
static void printable(const char *s, char *out, size_t len)
{
    size_t n = 0, i = 0;
    for (; s[i] && n + 4 < len && i < 60; i++)
        out[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : (s[i] == '\n' ? ' ' : '?');
    if (s[i] && n + 4 < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
}

static const char *sig_name(int sig, char *buf, size_t len)
{
    const char *ab = sigabbrev_np(sig);
    if (ab)
        snprintf(buf, len, "SIG%s", ab);
    else
        snprintf(buf, len, "signal %d", sig);
    return buf;
}

static int is_under(const char *path, const char *root)
{
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    if (rl == 1 && root[0] == '/')
        return path[0] == '/';
    return strncmp(path, root, rl) == 0 && (path[rl] == '\0' || path[rl] == '/');
}

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

static int pidfd_signal_(int pidfd, int sig)
{
#ifdef SYS_pidfd_send_signal
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
#else
    (void)pidfd;
    (void)sig;
    errno = ENOSYS;
    return -1;
#endif
}

/* The real path of an open directory, from the kernel (/proc/self/fd), so the scope check is
 * made on what we hold open, not on a name someone may swap afterwards. */
static int fd_path(int fd, char *out, size_t len)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, len - 1);
    if (n <= 0 || (size_t)n >= len - 1)
        return -1;
    out[n] = '\0';
    return out[0] == '/' ? 0 : -1;
}

/* Opens dir (following symlinks in its path: the result is checked by its real path) and
 * returns the fd and its real path. */
static int open_dir_real(const char *dir, int *fd_out, char *real, size_t len)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fd_path(fd, real, len) < 0) {
        char *r = realpath(dir, NULL);
        if (!r || strlen(r) >= len) {
            free(r);
            close(fd);
            errno = ENAMETOOLONG;
            return -1;
        }
        strcpy(real, r);
        free(r);
    }
    *fd_out = fd;
    return 0;
}

static int real_of(const char *path, char *out, size_t len)
{
    char *r = realpath(path, NULL);
    if (!r)
        return -1;
    if (strlen(r) >= len) {
        free(r);
        return -1;
    }
    strcpy(out, r);
    free(r);
    return 0;
}

/* Reads a whole file relative to dirfd into a malloc'd, NUL-terminated buffer (at most cap
 * bytes). NULL with errno on failure. */
static char *slurp_at(int dirfd, const char *name, size_t cap, size_t *len_out)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    size_t size = 4096, n = 0;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    for (;;) {
        if (n == size) {
            if (size >= cap)
                break;
            size_t ns = size * 2 > cap ? cap : size * 2;
            char *nb = realloc(buf, ns + 1);
            if (!nb) {
                free(buf);
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            size = ns;
        }
        ssize_t r = read(fd, buf + n, size - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (len_out)
        *len_out = n;
    return buf;
}

static int write_all(int fd, const char *buf, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, buf + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Construction */

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void actuators_free(actuators *a)
{
    if (!a)
        return;
    free(a->proc_root);
    free(a->sys_root);
    free(a->state_dir);
    free(a->scope_cgroup);
    free_strv(a->protect_names, a->n_protect_names);
    free(a->scope_uids);
    free(a->ancestors);
    free(a);
}

static int add_ancestor(actuators *a, pid_t pid, size_t *cap)
{
    for (size_t i = 0; i < a->n_ancestors; i++)
        if (a->ancestors[i] == pid)
            return 0;
    if (a->n_ancestors == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        pid_t *n = realloc(a->ancestors, nc * sizeof *n);
        if (!n)
            return -1;
        a->ancestors = n;
        *cap = nc;
    }
    a->ancestors[a->n_ancestors++] = pid;
    return 0;
}

actuators *actuators_new(const act_config *cfg, audit_log *audit)
{
    if (!cfg)
        return NULL;
    actuators *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->proc_root = xstrdup(cfg->proc_root && *cfg->proc_root ? cfg->proc_root : "/proc");
    a->sys_root = xstrdup(cfg->sys_root && *cfg->sys_root ? cfg->sys_root : "/sys");
    a->state_dir = xstrdup(cfg->state_dir ? cfg->state_dir : "");
    a->scope_cgroup = xstrdup(cfg->scope_cgroup ? cfg->scope_cgroup : "");
    a->protect_min_uid = cfg->protect_min_uid;
    a->dry_run = cfg->dry_run ? 1 : 0;
    a->audit = audit;
    if (!a->proc_root || !a->sys_root || !a->state_dir || !a->scope_cgroup)
        goto fail;
    if (cfg->n_protect_names) {
        a->protect_names = calloc(cfg->n_protect_names, sizeof *a->protect_names);
        if (!a->protect_names)
            goto fail;
        for (size_t i = 0; i < cfg->n_protect_names; i++) {
            a->protect_names[i] = xstrdup(cfg->protect_names ? cfg->protect_names[i] : "");
            a->n_protect_names++;
            if (!a->protect_names[i])
                goto fail;
        }
    }
    if (cfg->n_scope_uids && cfg->scope_uids) {
        a->scope_uids = malloc(cfg->n_scope_uids * sizeof *a->scope_uids);
        if (!a->scope_uids)
            goto fail;
        memcpy(a->scope_uids, cfg->scope_uids, cfg->n_scope_uids * sizeof *a->scope_uids);
        a->n_scope_uids = cfg->n_scope_uids;
    }
    /* The agent and every ancestor: stopping or freezing any of them would take the agent
     * (or the session that runs it) down with the process it meant to heal. */
    a->self = getpid();
    size_t cap = 0;
    if (add_ancestor(a, a->self, &cap) < 0 || add_ancestor(a, getppid(), &cap) < 0)
        goto fail;
    pid_t pid = a->self;
    for (int depth = 0; depth < 4096 && pid > 1; depth++) {
        procinfo pi;
        char m[256];
        if (procinfo_read(a->proc_root, pid, &pi, m, sizeof m) != HEALER_OK)
            break;
        pid = pi.p.ppid;
        if (pid <= 0 || add_ancestor(a, pid, &cap) < 0)
            break;
    }
    return a;
fail:
    actuators_free(a);
    return NULL;
}

void actuators_set_dry_run(actuators *a, int dry_run)
{
    if (a)
        __atomic_store_n(&a->dry_run, dry_run ? 1 : 0, __ATOMIC_RELAXED);
}

static int is_dry(actuators *a)
{
    return __atomic_load_n(&a->dry_run, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------------------------------
 * Audit */

static const act_context no_context = { .plugin = "agent" };

static const char *result_of(int rc)
{
    switch (rc) {
    case HEALER_OK: return "ok";
    case HEALER_DRY_RUN: return "dry_run";
    case HEALER_E_PROTECTED:
    case HEALER_E_SCOPE:
    case HEALER_E_INVAL:
    case HEALER_E_DENIED: return "refused";
    default: return "failed";
    }
}

/* Every actuator call ends here: the message goes to the caller and one line to the audit
 * log, whatever the outcome. Takes params. */
static int finish(actuators *a, const act_context *c, const char *actuator, const char *target,
                  json_t *params, int rc, const char *m, char *msg, size_t len)
{
    if (c->issue_type && params)
        json_object_set_new(params, "issue_type", jstr(c->issue_type));
    /* Probes measure; they change nothing and would flood the audit log every cycle. */
    if (a->audit && strcmp(actuator, "probe") != 0) {
        audit_rec r = {
            .heal_id = c->heal_id,
            .plugin = c->plugin ? c->plugin : "agent",
            .action = c->action ? c->action : actuator,
            .actuator = actuator,
            .target = target,
            .params = params,
            .result = result_of(rc),
            .message = m,
            .before_json = c->before_json,
            .after_json = NULL,
            .dry_run = rc == HEALER_DRY_RUN,
        };
        if (audit_append(a->audit, &r) != 0 && msg && len) {
            setmsg(msg, len, "%s (audit log write failed)", m);
            json_decref(params);
            return rc;
        }
    }
    setmsg(msg, len, "%s", m);
    json_decref(params);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Processes: identity and protection */

int act_proc_read(actuators *a, pid_t pid, healer_proc *out)
{
    if (!a || !out)
        return HEALER_E_INVAL;
    procinfo pi;
    char m[256];
    int rc = procinfo_read(a->proc_root, pid, &pi, m, sizeof m);
    if (rc == HEALER_OK)
        *out = pi.p;
    return rc;
}

static int name_matches(const char *comm, const char *name)
{
    if (!*name)
        return 0;
    if (strcmp(comm, name) == 0)
        return 1;
    /* comm is cut at 15 bytes: "systemd-journald" shows as "systemd-journal". */
    size_t cl = strlen(comm);
    return cl == 15 && strlen(name) > 15 && strncmp(comm, name, 15) == 0;
}

static int check_allowed(actuators *a, const healer_proc *p, int allow_system, char *m, size_t ml)
{
    const char *nm = p->name;
    int pid = (int)p->pid;
    if (p->pid <= 0) {
        setmsg(m, ml, "pid %d: not a process id", pid);
        return HEALER_E_INVAL;
    }
    if (p->pid == 1) {
        setmsg(m, ml, "pid 1 (%s): protected: PID 1", nm);
        return HEALER_E_PROTECTED;
    }
    if (p->kernel_thread) {
        setmsg(m, ml, "pid %d (%s): protected: kernel thread", pid, nm);
        return HEALER_E_PROTECTED;
    }
    if (p->pid == a->self) {
        setmsg(m, ml, "pid %d (%s): protected: the agent itself", pid, nm);
        return HEALER_E_PROTECTED;
    }
    for (size_t i = 0; i < a->n_ancestors; i++)
        if (a->ancestors[i] == p->pid) {
            setmsg(m, ml, "pid %d (%s): protected: an ancestor of the agent", pid, nm);
            return HEALER_E_PROTECTED;
        }
    for (size_t i = 0; i < a->n_protect_names; i++)
        if (name_matches(nm, a->protect_names[i])) {
            setmsg(m, ml, "pid %d (%s): protected by name", pid, nm);
            return HEALER_E_PROTECTED;
        }
    if (a->n_protect_names) {
        /* comm is writable by the process itself; the executable's name is not. */
        char exe[256];
        if (procinfo_exe_name(a->proc_root, p->pid, exe, sizeof exe) == 0)
            for (size_t i = 0; i < a->n_protect_names; i++)
                if (a->protect_names[i][0] && strcmp(exe, a->protect_names[i]) == 0) {
                    setmsg(m, ml, "pid %d (%s): protected by name (executable %s)", pid, nm, exe);
                    return HEALER_E_PROTECTED;
                }
    }
    if (p->oom_score_adj == -1000) {
        setmsg(m, ml, "pid %d (%s): protected: oom_score_adj -1000", pid, nm);
        return HEALER_E_PROTECTED;
    }
    if (!allow_system && p->uid < a->protect_min_uid) {
        setmsg(m, ml, "pid %d (%s): protected: system process (uid %u < protect.min_uid %u)",
               pid, nm, (unsigned)p->uid, a->protect_min_uid);
        return HEALER_E_PROTECTED;
    }
    if (a->scope_cgroup[0]) {
        char found[256];
        int r = procinfo_cgroup_under(a->proc_root, p->pid, a->scope_cgroup, found, sizeof found);
        if (r < 0) {
            setmsg(m, ml, "pid %d (%s): out of scope: cannot read its cgroup", pid, nm);
            return HEALER_E_SCOPE;
        }
        if (r == 0) {
            setmsg(m, ml, "pid %d (%s): out of scope: cgroup %s is not under scope.cgroup %s",
                   pid, nm, found, a->scope_cgroup);
            return HEALER_E_SCOPE;
        }
    }
    if (a->n_scope_uids) {
        int in = 0;
        for (size_t i = 0; i < a->n_scope_uids; i++)
            if (a->scope_uids[i] == p->uid)
                in = 1;
        if (!in) {
            setmsg(m, ml, "pid %d (%s): out of scope: uid %u is not in scope.uids", pid, nm,
                   (unsigned)p->uid);
            return HEALER_E_SCOPE;
        }
    }
    return HEALER_OK;
}

int act_proc_allowed(actuators *a, const healer_proc *p, int allow_system, char *msg, size_t len)
{
    if (!a || !p) {
        setmsg(msg, len, "proc_allowed: NULL argument");
        return HEALER_E_INVAL;
    }
    char m[HEALER_MSG_MAX];
    m[0] = '\0';
    int rc = check_allowed(a, p, allow_system, m, sizeof m);
    if (rc == HEALER_OK)
        setmsg(m, sizeof m, "pid %d (%s): allowed", (int)p->pid, p->name);
    setmsg(msg, len, "%s", m);
    return rc;
}

/* Re-reads the process and checks it is still (pid, start_time) and alive. */
static int read_target(actuators *a, pid_t pid, uint64_t start_time, procinfo *pi, char *m,
                       size_t ml)
{
    int rc = procinfo_read(a->proc_root, pid, pi, m, ml);
    if (rc != HEALER_OK)
        return rc;
    if (start_time == 0) {
        setmsg(m, ml, "pid %d (%s): start_time required (take it from proc_read)", (int)pid,
               pi->p.name);
        return HEALER_E_INVAL;
    }
    if (pi->p.start_time != start_time) {
        setmsg(m, ml, "pid %d (%s): start time %llu, expected %llu: the pid was reused",
               (int)pid, pi->p.name, (unsigned long long)pi->p.start_time,
               (unsigned long long)start_time);
        return HEALER_E_GONE;
    }
    if (pi->state == 'Z' || pi->state == 'X') {
        setmsg(m, ml, "pid %d (%s): already exited (zombie)", (int)pid, pi->p.name);
        return HEALER_E_GONE;
    }
    return HEALER_OK;
}

/* 1 when the process (pid, start_time) has exited (a zombie counts), 0 while it lives. */
static int proc_gone(actuators *a, pid_t pid, uint64_t start_time, int pidfd)
{
    if (pidfd >= 0) {
        struct pollfd pf = { .fd = pidfd, .events = POLLIN };
        if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLIN | POLLHUP)))
            return 1;
    }
    procinfo pi;
    char m[256];
    int rc = procinfo_read(a->proc_root, pid, &pi, m, sizeof m);
    if (rc == HEALER_E_GONE || rc == HEALER_E_NOTFOUND)
        return 1;
    if (rc != HEALER_OK)
        return 0;
    return pi.p.start_time != start_time || pi.state == 'Z' || pi.state == 'X';
}

/* Waits up to secs for the process to exit, polling every 10 ms. */
static int wait_gone(actuators *a, pid_t pid, uint64_t start_time, int pidfd, double secs)
{
    double deadline = mono_now() + secs;
    for (;;) {
        if (proc_gone(a, pid, start_time, pidfd))
            return 1;
        double left = deadline - mono_now();
        if (left <= 0)
            return 0;
        int ms = left < 0.010 ? (int)(left * 1000) + 1 : 10;
        if (pidfd >= 0) {
            struct pollfd pf = { .fd = pidfd, .events = POLLIN };
            poll(&pf, 1, ms);
        } else {
            sleep_ms(ms);
        }
    }
}

/* Sends sig through the pidfd (no pid-reuse race) or, without pidfd support, kill(). */
static int send_sig(pid_t pid, int pidfd, int sig)
{
    if (pidfd >= 0) {
        if (pidfd_signal_(pidfd, sig) == 0)
            return 0;
        if (errno != ENOSYS)
            return -1;
    }
    return kill(pid, sig);
}

static json_t *proc_params(pid_t pid, uint64_t start_time)
{
    json_t *p = json_object();
    json_object_set_new(p, "pid", json_integer(pid));
    json_object_set_new(p, "start_time", json_integer((json_int_t)start_time));
    return p;
}

int act_signal(actuators *a, const act_context *c, pid_t pid, uint64_t start_time, int sig,
               double grace_s, char *msg, size_t len)
{
    if (!a) {
        setmsg(msg, len, "signal: no actuators");
        return HEALER_E_INVAL;
    }
    if (!c)
        c = &no_context;
    char target[32], sn[32], m[HEALER_MSG_MAX];
    snprintf(target, sizeof target, "pid:%d", (int)pid);
    json_t *params = proc_params(pid, start_time);
    json_object_set_new(params, "signal", json_integer(sig));
    json_object_set_new(params, "signal_name", jstr(sig_name(sig, sn, sizeof sn)));
    json_object_set_new(params, "grace_s", json_real(isfinite(grace_s) ? grace_s : 0));
    int rc;
    if (sig < 0 || sig >= NSIG || !isfinite(grace_s) || grace_s < 0 || grace_s > 3600) {
        setmsg(m, sizeof m, "signal: bad argument (signal %d, grace %g s)", sig, grace_s);
        return finish(a, c, "signal", target, params, HEALER_E_INVAL, m, msg, len);
    }
    procinfo pi;
    rc = read_target(a, pid, start_time, &pi, m, sizeof m);
    if (rc == HEALER_OK)
        rc = check_allowed(a, &pi.p, c->allow_system, m, sizeof m);
    if (rc != HEALER_OK)
        return finish(a, c, "signal", target, params, rc, m, msg, len);
    json_object_set_new(params, "name", jstr(pi.p.name));
    int escalate = sig == SIGTERM && grace_s > 0;
    if (is_dry(a)) {
        if (escalate)
            setmsg(m, sizeof m, "would send %s to pid %d (%s), then SIGKILL if it outlives "
                   "%.3g s", sn, (int)pid, pi.p.name, grace_s);
        else
            setmsg(m, sizeof m, "would send %s to pid %d (%s)", sn, (int)pid, pi.p.name);
        return finish(a, c, "signal", target, params, HEALER_DRY_RUN, m, msg, len);
    }

    /* Open the pidfd, then check the identity again: if (pid, start_time) still matches
     * after the pidfd exists, the pidfd names that process and no later reuse of the pid
     * can redirect the signal. */
    int pidfd = pidfd_open_(pid);
    if (pidfd < 0 && errno == ESRCH) {
        setmsg(m, sizeof m, "pid %d (%s): exited before the signal", (int)pid, pi.p.name);
        return finish(a, c, "signal", target, params, HEALER_E_GONE, m, msg, len);
    }
    rc = read_target(a, pid, start_time, &pi, m, sizeof m);
    if (rc != HEALER_OK)
        goto done;
    if (send_sig(pid, pidfd, sig) < 0) {
        int e = errno;
        setmsg(m, sizeof m, "pid %d (%s): %s: %s", (int)pid, pi.p.name, sn, strerror(e));
        rc = e == ESRCH ? HEALER_E_GONE : HEALER_E_IO;
        goto done;
    }
    rc = HEALER_OK;
    if (!escalate) {
        setmsg(m, sizeof m, "sent %s to pid %d (%s)%s", sn, (int)pid, pi.p.name,
               pidfd >= 0 ? "" : " (kill, no pidfd)");
        goto done;
    }
    if (wait_gone(a, pid, start_time, pidfd, grace_s)) {
        setmsg(m, sizeof m, "sent %s to pid %d (%s): exited within %.3g s", sn, (int)pid,
               pi.p.name, grace_s);
        json_object_set_new(params, "killed", json_false());
        goto done;
    }
    /* Outlived the grace: escalate, but only to the same process. */
    char m2[256];
    procinfo again;
    int r2 = read_target(a, pid, start_time, &again, m2, sizeof m2);
    if (r2 != HEALER_OK) {
        setmsg(m, sizeof m, "sent %s to pid %d (%s): gone at the end of the %.3g s grace",
               sn, (int)pid, pi.p.name, grace_s);
        goto done;
    }
    if (send_sig(pid, pidfd, SIGKILL) < 0) {
        int e = errno;
        if (e == ESRCH) {
            setmsg(m, sizeof m, "sent %s to pid %d (%s): exited as the grace ended", sn,
                   (int)pid, pi.p.name);
        } else {
            setmsg(m, sizeof m, "sent %s to pid %d (%s); still alive after %.3g s; SIGKILL "
                   "failed: %s", sn, (int)pid, pi.p.name, grace_s, strerror(e));
            rc = HEALER_E_IO;
        }
        goto done;
    }
    json_object_set_new(params, "killed", json_true());
    int dead = wait_gone(a, pid, start_time, pidfd, 2.0);
    setmsg(m, sizeof m, "sent %s to pid %d (%s); still alive after %.3g s: sent SIGKILL%s", sn,
           (int)pid, pi.p.name, grace_s, dead ? "" : " (not yet gone after 2 s)");
done:
    if (pidfd >= 0)
        close(pidfd);
    return finish(a, c, "signal", target, params, rc, m, msg, len);
}

int act_renice(actuators *a, const act_context *c, pid_t pid, uint64_t start_time, int nice,
               char *msg, size_t len)
{
    if (!a) {
        setmsg(msg, len, "renice: no actuators");
        return HEALER_E_INVAL;
    }
    if (!c)
        c = &no_context;
    char target[32], m[HEALER_MSG_MAX];
    snprintf(target, sizeof target, "pid:%d", (int)pid);
    json_t *params = proc_params(pid, start_time);
    json_object_set_new(params, "nice", json_integer(nice));
    if (nice < -20 || nice > 19) {
        setmsg(m, sizeof m, "renice pid %d: nice %d outside -20..19", (int)pid, nice);
        return finish(a, c, "renice", target, params, HEALER_E_INVAL, m, msg, len);
    }
    procinfo pi;
    int rc = read_target(a, pid, start_time, &pi, m, sizeof m);
    if (rc == HEALER_OK)
        rc = check_allowed(a, &pi.p, c->allow_system, m, sizeof m);
    if (rc != HEALER_OK)
        return finish(a, c, "renice", target, params, rc, m, msg, len);
    int old = pi.p.nice;
    json_object_set_new(params, "name", jstr(pi.p.name));
    json_object_set_new(params, "old_nice", json_integer(old));
    if (is_dry(a)) {
        setmsg(m, sizeof m, "would renice pid %d (%s) from %d to %d", (int)pid, pi.p.name, old,
               nice);
        return finish(a, c, "renice", target, params, HEALER_DRY_RUN, m, msg, len);
    }
    /* setpriority has no pidfd form. Holding a pidfd across it still tells us afterwards
     * whether the process stayed alive the whole time (then the pid cannot have been
     * reused under us). */
    int pidfd = pidfd_open_(pid);
    rc = read_target(a, pid, start_time, &pi, m, sizeof m);
    if (rc != HEALER_OK)
        goto done;
    /* PRIO_PROCESS on Linux changes one thread: renice every thread of the process. */
    char taskdir[PATH_MAX];
    snprintf(taskdir, sizeof taskdir, "%s/%d/task", a->proc_root, (int)pid);
    size_t threads = 0, failed = 0;
    int first_err = 0;
    DIR *d = opendir(taskdir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            char *end;
            long tid = strtol(de->d_name, &end, 10);
            if (*end || tid <= 0)
                continue;
            if (setpriority(PRIO_PROCESS, (id_t)tid, nice) < 0) {
                if (errno != ESRCH) {  /* a thread that just exited is no failure */
                    failed++;
                    if (!first_err)
                        first_err = errno;
                }
            } else {
                threads++;
            }
        }
        closedir(d);
    }
    if (threads == 0 && failed == 0) {
        if (setpriority(PRIO_PROCESS, (id_t)pid, nice) < 0) {
            failed++;
            first_err = errno;
        } else {
            threads = 1;
        }
    }
    if (threads == 0) {
        setmsg(m, sizeof m, "renice pid %d (%s) from %d to %d failed: %s", (int)pid, pi.p.name,
               old, nice, strerror(first_err));
        rc = first_err == ESRCH ? HEALER_E_GONE : HEALER_E_IO;
        goto done;
    }
    int exited = pidfd >= 0 && proc_gone(a, pid, start_time, pidfd);
    json_object_set_new(params, "threads", json_integer((json_int_t)threads));
    setmsg(m, sizeof m, "reniced pid %d (%s) from %d to %d (%zu thread%s%s%s)", (int)pid,
           pi.p.name, old, nice, threads, threads == 1 ? "" : "s",
           failed ? ", some failed: " : "", failed ? strerror(first_err) : "");
    if (exited)
        setmsg(m + strlen(m), sizeof m - strlen(m), "; it has exited since");
    rc = HEALER_OK;
done:
    if (pidfd >= 0)
        close(pidfd);
    return finish(a, c, "renice", target, params, rc, m, msg, len);
}

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

static int mkdir_p(const char *dir, mode_t mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -1;
            *p = saved;
            if (!saved)
                break;
        }
    }
    return 0;
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
    if (mkdir_p(dir, 0750) < 0) {
        setmsg(m, ml, "backup dir %s: %s", dir, strerror(errno));
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
    if (sl >= sizeof flat)
        src += sl - (sizeof flat - 1);
    snprintf(flat, sizeof flat, "%s", src);
    for (char *p = flat; *p; p++)
        if (*p == '/')
            *p = '_';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        setmsg(m, ml, "backup dir %s: %s", dir, strerror(errno));
        return HEALER_E_IO;
    }
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
    if (write_all(fd, content, n) < 0 || fsync(fd) < 0) {
        setmsg(m, ml, "backup %s/%s: %s", dir, name, strerror(errno));
        close(fd);
        unlinkat(dfd, name, 0);
        close(dfd);
        return HEALER_E_IO;
    }
    close(fd);
    fsync(dfd);
    close(dfd);
    snprintf(out, outlen, "%s/%s", dir, name);
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
    if (which == 1) {
        const char *rel = real + strlen(root);
        while (*rel == '/')
            rel++;
        if (strcmp(rel, "sysrq-trigger") == 0) {
            setmsg(m, sizeof m, "write_file %s: protected: sysrq-trigger", real);
            rc = HEALER_E_PROTECTED;
            goto out;
        }
        /* A per-process file (oom_score_adj, ...) obeys the same protection as a signal. */
        if (*rel >= '0' && *rel <= '9') {
            char *end;
            long pid = strtol(rel, &end, 10);
            if ((*end == '/' || *end == '\0') && pid > 0 && pid <= INT_MAX) {
                procinfo pi;
                rc = procinfo_read(a->proc_root, (pid_t)pid, &pi, m, sizeof m);
                if (rc == HEALER_OK)
                    rc = check_allowed(a, &pi.p, c->allow_system, m, sizeof m);
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
    if (is_dry(a)) {
        setmsg(m, sizeof m, "would write '%s' to %s (now '%s')", shown, real, oldshown);
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
    size_t vn = strlen(value);
    if (kernel) {
        /* procfs/sysfs: one write of the whole value, no truncation or rename games. */
        int fd = openat(dfd, base, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        ssize_t w = fd < 0 ? -1 : write(fd, value, vn);
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (w < 0 || (size_t)w != vn) {
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
            setmsg(m, sizeof m, "write_file %s: temporary file: %s", real, strerror(errno));
            rc = HEALER_E_IO;
            goto out;
        }
        int ok = write_all(fd, value, vn) == 0;
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
            unlinkat(dfd, tmp, 0);
            setmsg(m, sizeof m, "write_file %s: %s", real, strerror(e));
            rc = HEALER_E_IO;
            goto out;
        }
        fsync(dfd);
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

/* ---------------------------------------------------------------------------------------
 * Commands */

/* The executable for argv[0], resolved in the parent: execvp's PATH search is not
 * async-signal-safe after fork in a threaded process. */
static int resolve_exe(const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    const char *p = path;
    while (*p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0 && n + strlen(name) + 2 <= len) {
            snprintf(out, len, "%.*s/%s", (int)n, p, name);
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
                return 0;
        }
        p += n;
        if (*p == ':')
            p++;
    }
    errno = ENOENT;
    return -1;
}

/* Moves fd to 3 or above (close-on-exec): when the agent runs with 0, 1 or 2 closed, a pipe
 * may land there and the child's dup2 onto 0..2 would clobber it. */
static int fd_above2(int fd)
{
    if (fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

/* actuator is "run" (an action: honours dry-run, audited) or "probe" (a read-only measurement:
 * runs in dry-run too, not audited). */
static int run_command(actuators *a, const act_context *c, const char *actuator,
                       const char *const argv[], double timeout_s, char *out, size_t out_len,
                       int *exit_status, char *msg, size_t len)
{
    if (out && out_len)
        out[0] = '\0';
    if (exit_status)
        *exit_status = -1;
    if (!a) {
        setmsg(msg, len, "run: no actuators");
        return HEALER_E_INVAL;
    }
    if (!c)
        c = &no_context;
    char m[HEALER_MSG_MAX], cmdline[256];
    json_t *params = json_object();
    json_t *jargv = json_array();
    cmdline[0] = '\0';
    size_t argc = 0;
    for (; argv && argv[argc] && argc < 4096; argc++) {
        json_array_append_new(jargv, jstr(argv[argc]));
        size_t cl = strlen(cmdline);
        if (cl + 2 < sizeof cmdline)
            snprintf(cmdline + cl, sizeof cmdline - cl, "%s%s", cl ? " " : "", argv[argc]);
    }
    json_object_set_new(params, "argv", jargv);
    json_object_set_new(params, "timeout_s", json_real(isfinite(timeout_s) ? timeout_s : 0));
    const char *target = argv && argv[0] ? argv[0] : "";
    if (!argv || !argv[0] || !argv[0][0] || argv[argc] || !isfinite(timeout_s) ||
        timeout_s <= 0 || timeout_s > 86400) {
        setmsg(m, sizeof m, "run: need argv[0] and a timeout in (0, 86400] s (got %g)", timeout_s);
        return finish(a, c, actuator, target, params, HEALER_E_INVAL, m, msg, len);
    }
    if (is_dry(a) && strcmp(actuator, "probe") != 0) {
        setmsg(m, sizeof m, "would run: %s (timeout %.3g s)", cmdline, timeout_s);
        return finish(a, c, actuator, target, params, HEALER_DRY_RUN, m, msg, len);
    }
    char exe[PATH_MAX];
    if (resolve_exe(argv[0], exe, sizeof exe) < 0) {
        setmsg(m, sizeof m, "cannot run '%s': %s", argv[0],
               strchr(argv[0], '/') ? strerror(errno) : "not found on PATH");
        return finish(a, c, actuator, target, params, HEALER_E_NOTFOUND, m, msg, len);
    }
    /* Everything the child needs is prepared here: after fork in a threaded process only
     * async-signal-safe calls are allowed. */
    struct rlimit rl;
    int maxfd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                rl.rlim_cur < 1048576 ? (int)rl.rlim_cur : 65536;
    int outp[2], errp[2];
    if (pipe2(outp, O_CLOEXEC) < 0) {
        setmsg(m, sizeof m, "run %s: pipe: %s", argv[0], strerror(errno));
        return finish(a, c, actuator, target, params, HEALER_E_IO, m, msg, len);
    }
    if (pipe2(errp, O_CLOEXEC) < 0) {
        setmsg(m, sizeof m, "run %s: pipe: %s", argv[0], strerror(errno));
        close(outp[0]);
        close(outp[1]);
        return finish(a, c, actuator, target, params, HEALER_E_IO, m, msg, len);
    }
    outp[0] = fd_above2(outp[0]);
    outp[1] = fd_above2(outp[1]);
    errp[0] = fd_above2(errp[0]);
    errp[1] = fd_above2(errp[1]);
    if (outp[0] < 0 || outp[1] < 0 || errp[0] < 0 || errp[1] < 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (outp[i] >= 0)
                close(outp[i]);
            if (errp[i] >= 0)
                close(errp[i]);
        }
        setmsg(m, sizeof m, "run %s: fcntl: %s", argv[0], strerror(e));
        return finish(a, c, actuator, target, params, HEALER_E_IO, m, msg, len);
    }
    double start = mono_now(), deadline = start + timeout_s;
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(outp[0]); close(outp[1]); close(errp[0]); close(errp[1]);
        setmsg(m, sizeof m, "run %s: fork: %s", argv[0], strerror(e));
        return finish(a, c, actuator, target, params, HEALER_E_IO, m, msg, len);
    }
    if (child == 0) {
        /* Own process group: a timeout kills the command and whatever it started. */
        setpgid(0, 0);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++)
            if (s != SIGKILL && s != SIGSTOP)
                sigaction(s, &dfl, NULL);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(outp[1], 1) < 0 || dup2(outp[1], 2) < 0)
            goto child_fail;
        /* errp[1] is O_CLOEXEC: it closes itself on a successful exec. */
        if (errp[1] != 3) {
            if (dup3(errp[1], 3, O_CLOEXEC) < 0)
                goto child_fail;
        }
#ifdef SYS_close_range
        if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
#endif
            for (int fd = 4; fd < maxfd; fd++)
                close(fd);
        execve(exe, (char *const *)argv, environ);
    child_fail:;
        int e = errno;
        ssize_t w = write(3, &e, sizeof e);
        (void)w;
        _exit(127);
    }
    setpgid(child, child);
    close(outp[1]);
    close(errp[1]);
    int exec_errno = 0;
    ssize_t er;
    do
        er = read(errp[0], &exec_errno, sizeof exec_errno);
    while (er < 0 && errno == EINTR);
    close(errp[0]);
    if (er == (ssize_t)sizeof exec_errno) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            ;
        close(outp[0]);
        setmsg(m, sizeof m, "cannot run '%s': %s", exe, strerror(exec_errno));
        return finish(a, c, actuator, target, params,
                      exec_errno == ENOENT ? HEALER_E_NOTFOUND : HEALER_E_IO, m, msg, len);
    }

    int pidfd = pidfd_open_(child);
    size_t got = 0, total = 0;
    int out_open = 1, exited = 0, timed_out = 0, status = 0;
    char scratch[4096];
    while (out_open || !exited) {
        if (!exited) {
            pid_t w = waitpid(child, &status, WNOHANG);
            if (w == child)
                exited = 1;
        }
        if (exited && out_open) {
            /* The command exited; a background child may hold the pipe open: take what is
             * already there and stop. */
            fcntl(outp[0], F_SETFL, O_NONBLOCK);
        }
        if (exited && !out_open)
            break;
        double left = deadline - mono_now();
        if (left <= 0 && !exited) {
            timed_out = 1;
            break;
        }
        struct pollfd pf[2];
        int np = 0;
        if (out_open)
            pf[np++] = (struct pollfd){ .fd = outp[0], .events = POLLIN };
        if (!exited && pidfd >= 0)
            pf[np++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
        int ms = exited ? 0 : (int)(left * 1000) + 1;
        if (pidfd < 0 && !exited && ms > 10)
            ms = 10;
        int pr = np ? poll(pf, (nfds_t)np, ms) : (sleep_ms(ms), 0);
        if (pr < 0 && errno != EINTR)
            break;
        if (out_open && (exited || (pr > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))))) {
            for (;;) {
                char *dst = scratch;
                size_t room = sizeof scratch;
                if (out && out_len > 1 && got < out_len - 1) {
                    dst = out + got;
                    room = out_len - 1 - got;
                }
                ssize_t r = read(outp[0], dst, room);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0) {
                    if (r == 0 || exited || (errno != EAGAIN && errno != EWOULDBLOCK))
                        out_open = 0;
                    break;
                }
                if (dst != scratch)
                    got += (size_t)r;
                total += (size_t)r;
                if (!exited)
                    break;  /* back to poll: keeps the deadline checked */
            }
        }
    }
    if (timed_out) {
        kill(-child, SIGKILL);
        kill(child, SIGKILL);
    }
    if (!exited)
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            ;
    if (pidfd >= 0)
        close(pidfd);
    close(outp[0]);
    if (out && out_len)
        out[got < out_len ? got : out_len - 1] = '\0';
    int code = WIFEXITED(status) ? WEXITSTATUS(status)
             : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
    if (exit_status)
        *exit_status = code;
    double took = mono_now() - start;
    int truncated = out && out_len ? total > got : total > 0;
    json_object_set_new(params, "exit_status", json_integer(code));
    json_object_set_new(params, "output_bytes", json_integer((json_int_t)total));
    json_object_set_new(params, "seconds", json_real(took));
    if (out && got) {
        char head[257];
        size_t hn = got < 256 ? got : 256;
        memcpy(head, out, hn);
        head[hn] = '\0';
        json_object_set_new(params, "output_head", jstr(head));
    }
    int rc;
    if (timed_out) {
        setmsg(m, sizeof m, "%s: timed out after %.3g s: killed its process group",
               cmdline, timeout_s);
        rc = HEALER_E_TIMEOUT;
    } else if (code == 0) {
        setmsg(m, sizeof m, "ran %s: exit 0, %zu bytes of output%s (%.3f s)", cmdline, total,
               truncated ? ", truncated" : "", took);
        rc = HEALER_OK;
    } else {
        setmsg(m, sizeof m, "ran %s: exit status %d, %zu bytes of output%s (%.3f s)", cmdline,
               code, total, truncated ? ", truncated" : "", took);
        rc = HEALER_E_IO;
    }
    return finish(a, c, actuator, target, params, rc, m, msg, len);
}

int act_run(actuators *a, const act_context *c, const char *const argv[], double timeout_s,
            char *out, size_t out_len, int *exit_status, char *msg, size_t len)
{
    return run_command(a, c, "run", argv, timeout_s, out, out_len, exit_status, msg, len);
}

int act_probe(actuators *a, const act_context *c, const char *const argv[], double timeout_s,
              char *out, size_t out_len, int *exit_status, char *msg, size_t len)
{
    return run_command(a, c, "probe", argv, timeout_s, out, out_len, exit_status, msg, len);
}

/* ---------------------------------------------------------------------------------------
 * Removing old files */

typedef struct devino {
    dev_t dev;
    ino_t ino;
} devino;

typedef struct cand {
    char *rel;             /* relative to the root directory, '/'-separated */
    dev_t dev;
    ino_t ino;
    uint64_t blocks_bytes; /* st_blocks * 512 */
    nlink_t nlink;
    time_t mtime;
    int rotated;
} cand;

typedef struct walk {
    cand *v;
    size_t n, cap;
    time_t cutoff;
    const char *pattern;
    int recursive;
    dev_t root_dev;
    size_t skipped_special, skipped_mount;
    int err;
} walk;

static int cmp_devino(const void *x, const void *y)
{
    const devino *a = x, *b = y;
    if (a->dev != b->dev)
        return a->dev < b->dev ? -1 : 1;
    if (a->ino != b->ino)
        return a->ino < b->ino ? -1 : 1;
    return 0;
}

/* Every regular file some process holds open, as (dev, inode), from proc_root/[pid]/fd.
 * Cost: one fstatat per open fd on the host (a busy host with 50k fds: tens of ms), paid
 * once per call and only when there is a candidate. */
static devino *open_files(const char *proc_root, size_t *n_out)
{
    size_t n = 0, cap = 256;
    devino *v = malloc(cap * sizeof *v);
    if (!v)
        return NULL;
    DIR *d = opendir(proc_root);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] < '0' || de->d_name[0] > '9')
                continue;
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s/fd", proc_root, de->d_name);
            int fdd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fdd < 0)
                continue;
            DIR *fds = fdopendir(fdd);
            if (!fds) {
                close(fdd);
                continue;
            }
            struct dirent *fe;
            while ((fe = readdir(fds))) {
                if (fe->d_name[0] == '.')
                    continue;
                struct stat st;
                if (fstatat(fdd, fe->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
                    continue;
                if (n == cap) {
                    devino *nv = realloc(v, cap * 2 * sizeof *v);
                    if (!nv)
                        break;
                    v = nv;
                    cap *= 2;
                }
                v[n++] = (devino){ st.st_dev, st.st_ino };
            }
            closedir(fds);
        }
        closedir(d);
    }
    qsort(v, n, sizeof *v, cmp_devino);
    *n_out = n;
    return v;
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Rotated by logrotate and friends: *.1, *.gz (and other compressors), *-YYYYMMDD. */
static int is_rotated(const char *name)
{
    static const char *const comp[] = { ".gz", ".xz", ".bz2", ".zst", ".lz4", ".old", NULL };
    size_t n = strlen(name);
    for (size_t i = 0; comp[i]; i++) {
        size_t cl = strlen(comp[i]);
        if (n > cl && strcmp(name + n - cl, comp[i]) == 0)
            return 1;
    }
    const char *dot = strrchr(name, '.');
    if (dot && dot != name && all_digits(dot + 1, strlen(dot + 1)))
        return 1;
    if (n > 9 && name[n - 9] == '-' && all_digits(name + n - 8, 8))
        return 1;
    return 0;
}

static int walk_dir(walk *w, int dfd, const char *prefix, int depth)
{
    int dup_fd = dup(dfd);
    if (dup_fd < 0)
        return -1;
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        char rel[PATH_MAX];
        int rn = snprintf(rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "", nm);
        if (rn < 0 || (size_t)rn >= sizeof rel)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (!w->recursive || depth >= 64)
                continue;
            if (st.st_dev != w->root_dev) {  /* another filesystem mounted inside */
                w->skipped_mount++;
                continue;
            }
            int sub = openat(dfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue;
            struct stat sst;
            if (fstat(sub, &sst) == 0 && sst.st_dev == st.st_dev && sst.st_ino == st.st_ino)
                walk_dir(w, sub, rel, depth + 1);
            close(sub);
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            if (!S_ISLNK(st.st_mode))
                w->skipped_special++;
            continue;
        }
        if (st.st_mtime >= w->cutoff)
            continue;
        if (w->pattern && fnmatch(w->pattern, nm, 0) != 0)
            continue;
        if (w->n == w->cap) {
            size_t nc = w->cap ? w->cap * 2 : 64;
            cand *nv = realloc(w->v, nc * sizeof *nv);
            if (!nv) {
                w->err = ENOMEM;
                break;
            }
            w->v = nv;
            w->cap = nc;
        }
        char *r = strdup(rel);
        if (!r) {
            w->err = ENOMEM;
            break;
        }
        w->v[w->n++] = (cand){ r, st.st_dev, st.st_ino, (uint64_t)st.st_blocks * 512u,
                               st.st_nlink, st.st_mtime, is_rotated(nm) };
    }
    closedir(d);
    return 0;
}

static int cmp_cand(const void *x, const void *y, void *rotated_first)
{
    const cand *a = x, *b = y;
    if (*(const int *)rotated_first && a->rotated != b->rotated)
        return a->rotated ? -1 : 1;
    if (a->mtime != b->mtime)
        return a->mtime < b->mtime ? -1 : 1;
    return strcmp(a->rel, b->rel);
}

/* Opens the directory holding rel, one component at a time and never through a symlink;
 * returns its fd and points *name at the last component. */
static int open_parent(int rootfd, dev_t dev, const char *rel, char *buf, size_t bl,
                       const char **name)
{
    snprintf(buf, bl, "%s", rel);
    int fd = dup(rootfd);
    if (fd < 0)
        return -1;
    char *p = buf;
    for (;;) {
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        int nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        if (nfd < 0)
            return -1;
        struct stat st;
        if (fstat(nfd, &st) < 0 || st.st_dev != dev) {
            close(nfd);
            errno = EXDEV;
            return -1;
        }
        fd = nfd;
        p = slash + 1;
    }
    *name = p;
    return fd;
}

int act_remove_old_files(actuators *a, const act_context *c, const char *dir,
                         double older_than_days, const healer_remove_opts *opts,
                         uint64_t *freed, uint64_t *count, char *msg, size_t len)
{
    if (freed)
        *freed = 0;
    if (count)
        *count = 0;
    if (!a) {
        setmsg(msg, len, "remove_old_files: no actuators");
        return HEALER_E_INVAL;
    }
    if (!c)
        c = &no_context;
    healer_remove_opts o = { 0 };
    if (opts)
        o = *opts;
    char m[HEALER_MSG_MAX * 2];
    json_t *params = json_object();
    json_object_set_new(params, "dir", jstr(dir));
    json_object_set_new(params, "older_than_days",
                        json_real(isfinite(older_than_days) ? older_than_days : -1));
    json_object_set_new(params, "pattern", jstr(o.pattern));
    json_object_set_new(params, "recursive", json_boolean(o.recursive));
    json_object_set_new(params, "rotated_first", json_boolean(o.rotated_first));
    json_object_set_new(params, "stop_after_bytes", json_integer((json_int_t)o.stop_after_bytes));
    if (!dir || dir[0] != '/' || !isfinite(older_than_days) || older_than_days < 0 ||
        older_than_days > 100000) {
        setmsg(m, sizeof m, "remove_old_files: need an absolute dir and older_than_days >= 0 "
               "(dir '%s', days %g)", dir ? dir : "(null)", older_than_days);
        return finish(a, c, "remove_old_files", dir, params, HEALER_E_INVAL, m, msg, len);
    }
    int rootfd;
    char real[PATH_MAX], root[PATH_MAX];
    if (open_dir_real(dir, &rootfd, real, sizeof real) < 0) {
        int e = errno;
        setmsg(m, sizeof m, "remove_old_files %s: %s", dir, strerror(e));
        return finish(a, c, "remove_old_files", dir, params,
                      e == ENOENT ? HEALER_E_NOTFOUND : HEALER_E_IO, m, msg, len);
    }
    int declared = 0;
    for (size_t i = 0; i < c->n_declared_paths && !declared; i++) {
        const char *dp = c->declared_paths ? c->declared_paths[i] : NULL;
        if (dp && real_of(dp, root, sizeof root) == 0 && is_under(real, root))
            declared = 1;
    }
    if (!declared) {
        close(rootfd);
        setmsg(m, sizeof m, "remove_old_files %s: real path %s is not at or under a declared "
               "path", dir, real);
        return finish(a, c, "remove_old_files", dir, params, HEALER_E_SCOPE, m, msg, len);
    }
    struct stat rst;
    fstat(rootfd, &rst);
    walk w = { 0 };
    w.cutoff = time(NULL) - (time_t)(older_than_days * 86400.0);
    w.pattern = o.pattern;
    w.recursive = o.recursive;
    w.root_dev = rst.st_dev;
    walk_dir(&w, rootfd, "", 0);

    size_t n_open = 0;
    devino *open_set = w.n ? open_files(a->proc_root, &n_open) : NULL;
    int rf = o.rotated_first;
    qsort_r(w.v, w.n, sizeof *w.v, cmp_cand, &rf);

    int dry = is_dry(a);
    json_t *files = json_array();
    uint64_t fr = 0, cnt = 0;
    size_t held = 0, failed = 0, listed = 0;
    int first_err = 0;
    char list[400];
    list[0] = '\0';
    for (size_t i = 0; i < w.n; i++) {
        cand *cd = &w.v[i];
        if (o.stop_after_bytes && fr >= o.stop_after_bytes)
            break;
        devino key = { cd->dev, cd->ino };
        if (open_set && bsearch(&key, open_set, n_open, sizeof key, cmp_devino)) {
            held++;
            continue;
        }
        /* Hard links elsewhere keep the blocks: only the last link frees them. */
        uint64_t gain = cd->nlink <= 1 ? cd->blocks_bytes : 0;
        if (!dry) {
            char buf[PATH_MAX];
            const char *name;
            int pfd = open_parent(rootfd, rst.st_dev, cd->rel, buf, sizeof buf, &name);
            struct stat st;
            int ok = pfd >= 0 && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                     S_ISREG(st.st_mode) && st.st_dev == cd->dev && st.st_ino == cd->ino &&
                     st.st_mtime < w.cutoff;
            if (ok && unlinkat(pfd, name, 0) < 0)
                ok = 0;
            if (!ok) {
                failed++;
                if (!first_err)
                    first_err = errno ? errno : ESTALE;
            }
            if (pfd >= 0)
                close(pfd);
            if (!ok)
                continue;
        }
        fr += gain;
        cnt++;
        if (listed < 1000) {
            json_array_append_new(files, jstr(cd->rel));
            listed++;
        }
        size_t ll = strlen(list);
        if (ll < sizeof list - 1)
            snprintf(list + ll, sizeof list - ll, "%s%s", ll ? ", " : "", cd->rel);
    }
    if (strlen(list) >= sizeof list - 1)
        memcpy(list + sizeof list - 4, "...", 4);
    json_object_set_new(params, "files", files);
    json_object_set_new(params, "files_truncated", json_boolean(cnt > listed));
    json_object_set_new(params, "held_open", json_integer((json_int_t)held));
    json_object_set_new(params, "freed_bytes", json_integer((json_int_t)fr));
    int rc;
    char extra[160];
    snprintf(extra, sizeof extra, "%zu held open kept, %zu special files skipped%s",
             held, w.skipped_special,
             w.skipped_mount ? ", other filesystems not entered" : "");
    if (dry) {
        setmsg(m, sizeof m, "would remove %llu file%s (%llu bytes) under %s: %s (%s)",
               (unsigned long long)cnt, cnt == 1 ? "" : "s", (unsigned long long)fr, real,
               cnt ? list : "none", extra);
        rc = HEALER_DRY_RUN;
    } else if (failed && cnt == 0) {
        setmsg(m, sizeof m, "remove_old_files %s: %zu removal%s failed: %s (%s)", real, failed,
               failed == 1 ? "" : "s", strerror(first_err), extra);
        rc = HEALER_E_IO;
    } else {
        setmsg(m, sizeof m, "removed %llu file%s (%llu bytes freed) under %s: %s (%s%s%s)",
               (unsigned long long)cnt, cnt == 1 ? "" : "s", (unsigned long long)fr, real,
               cnt ? list : "none", extra, failed ? "; some failed: " : "",
               failed ? strerror(first_err) : "");
        rc = HEALER_OK;
    }
    if (w.err == ENOMEM && rc >= 0)
        setmsg(m + strlen(m), sizeof m - strlen(m), "; out of memory: walk incomplete");
    for (size_t i = 0; i < w.n; i++)
        free(w.v[i].rel);
    free(w.v);
    free(open_set);
    close(rootfd);
    if (freed)
        *freed = fr;
    if (count)
        *count = cnt;
    return finish(a, c, "remove_old_files", dir, params, rc, m, msg, len);
}

/* ---------------------------------------------------------------------------------------
 * Cgroups */

/* Checks every process in the cgroup and all cgroups below it (freezing reaches them
 * all). HEALER_OK, or the refusal with the process named in m. */
static int check_cgroup_tree(actuators *a, int dfd, const char *rel, int allow_system,
                             int depth, size_t *nprocs, char *m, size_t ml)
{
    size_t n;
    char *procs = slurp_at(dfd, "cgroup.procs", (size_t)64 << 20, &n);
    if (!procs) {
        setmsg(m, ml, "cgroup %s: cannot read cgroup.procs: %s", rel, strerror(errno));
        return HEALER_E_IO;
    }
    char *save = NULL;
    for (char *l = strtok_r(procs, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *end;
        long pid = strtol(l, &end, 10);
        if (*end || pid <= 0 || pid > INT_MAX)
            continue;
        procinfo pi;
        char pm[256];
        int rc = procinfo_read(a->proc_root, (pid_t)pid, &pi, pm, sizeof pm);
        if (rc == HEALER_E_GONE)
            continue;
        if (rc == HEALER_OK)
            rc = check_allowed(a, &pi.p, allow_system, pm, sizeof pm);
        if (rc != HEALER_OK) {
            setmsg(m, ml, "cgroup %s holds %s", rel, pm);
            free(procs);
            return rc;
        }
        (*nprocs)++;
    }
    free(procs);
    if (depth >= 32)
        return HEALER_OK;
    int dup_fd = dup(dfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        setmsg(m, ml, "cgroup %s: cannot list: %s", rel, strerror(errno));
        return HEALER_E_IO;
    }
    int rc = HEALER_OK;
    struct dirent *de;
    while (rc == HEALER_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        char srel[PATH_MAX];
        snprintf(srel, sizeof srel, "%s/%s", rel, de->d_name);
        rc = check_cgroup_tree(a, sub, srel, allow_system, depth + 1, nprocs, m, ml);
        close(sub);
    }
    closedir(d);
    return rc;
}

static void first_line(char *s)
{
    s[strcspn(s, "\n")] = '\0';
}

/* 1 when the cgroup reached the wanted state. */
static int cgroup_state_is(int dfd, int v2, int freeze)
{
    size_t n;
    char *s = slurp_at(dfd, v2 ? "cgroup.events" : "freezer.state", 65536, &n);
    if (!s)
        return 0;
    int ok = 0;
    if (v2) {
        const char *want = freeze ? "frozen 1" : "frozen 0";
        char *save = NULL;
        for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
            if (strcmp(l, want) == 0)
                ok = 1;
    } else {
        first_line(s);
        ok = strcmp(s, freeze ? "FROZEN" : "THAWED") == 0;
    }
    free(s);
    return ok;
}

int act_freeze_cgroup(actuators *a, const act_context *c, const char *cgroup_dir, int freeze,
                      char *msg, size_t len)
{
    if (!a) {
        setmsg(msg, len, "freeze_cgroup: no actuators");
        return HEALER_E_INVAL;
    }
    if (!c)
        c = &no_context;
    const char *verb = freeze ? "freeze" : "thaw";
    char m[HEALER_MSG_MAX * 2];
    json_t *params = json_object();
    json_object_set_new(params, "cgroup_dir", jstr(cgroup_dir));
    json_object_set_new(params, "freeze", json_boolean(freeze));
    if (!cgroup_dir || cgroup_dir[0] != '/') {
        setmsg(m, sizeof m, "freeze_cgroup: cgroup_dir must be an absolute path ('%s')",
               cgroup_dir ? cgroup_dir : "(null)");
        return finish(a, c, "freeze_cgroup", cgroup_dir, params, HEALER_E_INVAL, m, msg, len);
    }
    int dfd = -1, rc;
    char real[PATH_MAX], croot[PATH_MAX], tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/fs/cgroup", a->sys_root);
    if (real_of(tmp, croot, sizeof croot) < 0) {
        setmsg(m, sizeof m, "freeze_cgroup: %s: %s", tmp, strerror(errno));
        return finish(a, c, "freeze_cgroup", cgroup_dir, params, HEALER_E_NOTFOUND, m, msg, len);
    }
    if (open_dir_real(cgroup_dir, &dfd, real, sizeof real) < 0) {
        int e = errno;
        setmsg(m, sizeof m, "freeze_cgroup %s: %s", cgroup_dir, strerror(e));
        return finish(a, c, "freeze_cgroup", cgroup_dir, params,
                      e == ENOENT ? HEALER_E_NOTFOUND : HEALER_E_IO, m, msg, len);
    }
    if (!is_under(real, croot) || strcmp(real, croot) == 0) {
        setmsg(m, sizeof m, "freeze_cgroup %s: real path %s is not a cgroup below %s",
               cgroup_dir, real, croot);
        rc = HEALER_E_SCOPE;
        goto out;
    }
    int v2 = faccessat(dfd, "cgroup.freeze", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
    if (!v2 && faccessat(dfd, "freezer.state", F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
        setmsg(m, sizeof m, "freeze_cgroup %s: neither cgroup.freeze (v2) nor freezer.state "
               "(v1 freezer) here", real);
        rc = HEALER_E_NOTFOUND;
        goto out;
    }
    const char *file = v2 ? "cgroup.freeze" : "freezer.state";
    json_object_set_new(params, "file", jstr(file));
    size_t nprocs = 0;
    /* Thawing only gives back what freezing took; it is never refused for what the cgroup
     * holds, so a frozen protected process can always be released. */
    if (freeze) {
        rc = check_cgroup_tree(a, dfd, real, c->allow_system, 0, &nprocs, m, sizeof m);
        if (rc != HEALER_OK)
            goto out;
    }
    char *oldv = slurp_at(dfd, file, 4096, NULL);
    char was[32];
    snprintf(was, sizeof was, "%s", oldv ? oldv : "?");
    free(oldv);
    first_line(was);
    json_object_set_new(params, "was", jstr(was));
    json_object_set_new(params, "processes", json_integer((json_int_t)nprocs));
    if (is_dry(a)) {
        setmsg(m, sizeof m, "would %s cgroup %s (%s now %s)", verb, real, file, was);
        if (freeze)
            setmsg(m + strlen(m), sizeof m - strlen(m), "; %zu processes", nprocs);
        rc = HEALER_DRY_RUN;
        goto out;
    }
    const char *val = v2 ? (freeze ? "1" : "0") : (freeze ? "FROZEN" : "THAWED");
    int fd = openat(dfd, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t wr = fd < 0 ? -1 : write(fd, val, strlen(val));
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (wr != (ssize_t)strlen(val)) {
        setmsg(m, sizeof m, "%s cgroup %s: writing '%s' to %s: %s", verb, real, val, file,
               wr < 0 ? strerror(e) : "short write");
        rc = HEALER_E_IO;
        goto out;
    }
    /* Freezing completes asynchronously (FREEZING, then FROZEN); wait briefly so the
     * message says where it got to. */
    int reached = 0;
    for (int i = 0; i < 200 && !(reached = cgroup_state_is(dfd, v2, freeze)); i++)
        sleep_ms(10);
    setmsg(m, sizeof m, "%s cgroup %s (%s was %s)%s", freeze ? "froze" : "thawed", real, file,
           was, reached ? "" : freeze ? "; not fully frozen after 2 s" : "; not thawed after 2 s");
    json_object_set_new(params, "reached", json_boolean(reached));
    rc = HEALER_OK;
out:
    if (dfd >= 0)
        close(dfd);
    return finish(a, c, "freeze_cgroup", cgroup_dir, params, rc, m, msg, len);
}
