/* actuators.c — the actuators' construction, the protection and scope rules, the audit line every
 * call ends with, and the process actuators (signal, renice). Files, commands, old-file removal
 * and cgroups live in actuators_files.c, _run.c, _clean.c and _cgroup.c. */
#include "actuators.h"
#include "sanitize_json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "actuators_int.h"
#include "preview.h"
#include "dryrun.h"
#include "log.h"
#include "procinfo.h"

/* ---------------------------------------------------------------------------------------
 * Small helpers */

double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void setmsg(char *m, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void setmsg(char *m, size_t len, const char *fmt, ...)
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
json_t *jstr(const char *s)
{
    /* Not UTF-8 or with control bytes (a file name, a process name, a command's output):
     * escaped by the sanitizer, never dropped (jansson refuses invalid UTF-8). */
    return sanitize_json_str((const char *)s);
}

/* A value for a message: at most 60 bytes, non-printables as '?'. */
void printable(const char *s, char *out, size_t len)
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

int is_under(const char *path, const char *root)
{
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    if (rl == 1 && root[0] == '/')
        return path[0] == '/';
    return strncmp(path, root, rl) == 0 && (path[rl] == '\0' || path[rl] == '/');
}

int pidfd_open_(pid_t pid)
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
int open_dir_real(const char *dir, int *fd_out, char *real, size_t len)
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

int real_of(const char *path, char *out, size_t len)
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
char *slurp_at(int dirfd, const char *name, size_t cap, size_t *len_out)
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
    /* 0 from a caller that predates the login range: no upper bound, as before. */
    a->protect_max_uid = cfg->protect_max_uid ? cfg->protect_max_uid : 4294967294u;
    a->dry_run = cfg->dry_run ? 1 : 0;
    a->audit = audit;
    a->undo = cfg->undo;
    a->changes = cfg->changes;
    a->deletions_max_bytes = cfg->deletions_max_bytes;
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

int is_dry_config(actuators *a)
{
    return __atomic_load_n(&a->dry_run, __ATOMIC_RELAXED);
}

/* Asked right before every change: no change without room for the line that records it. */
int is_dry(actuators *a, const act_context *c)
{
    /* plugins.<name>.mode = "dry-run" in a live agent: that plugin's calls only report. */
    if (is_dry_config(a) || (c && c->dry_run))
        return 1;
    return a->audit && !audit_ready(a->audit, NULL, 0);
}

int is_dry_release(actuators *a, const act_context *c)
{
    return is_dry_config(a) || (c && c->dry_run);
}

/* ---------------------------------------------------------------------------------------
 * Audit */

const act_context no_context = { .plugin = "agent" };

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

/* The log's line for an actuator call, made where its audit line is so that no change goes
 * unsaid: notice for a change made or one dry-run would make ("would"), warn for one that
 * failed, debug for a refusal (the plugin says why it asked). It names the target the way a
 * person looks for it: the pid with the process's name and uid, the path, the cgroup, the
 * command line (in m). log.c sanitizes what comes from outside (names, paths). */
static void finish_log(const act_context *c, const char *actuator, const char *target,
                       json_t *params, int rc, const char *m)
{
    const char *plugin = c->plugin ? c->plugin : "agent";
    const char *res = result_of(rc);
    int ok = rc == HEALER_OK, dry = rc == HEALER_DRY_RUN, refused = !strcmp(res, "refused");
    healer_log_level lvl = ok || dry ? HEALER_LOG_INFO : refused ? HEALER_LOG_DEBUG
                                                                 : HEALER_LOG_WARN;
    if (ok || dry ? !log_notice_enabled() : !log_enabled(lvl))
        return;
    char who[160] = "", heal[40] = "";
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *uid = json_object_get(params, "uid");
    if (name && json_is_integer(uid))
        snprintf(who, sizeof who, " (%.100s, uid %lld)", name, (long long)json_integer_value(uid));
    else if (name)
        snprintf(who, sizeof who, " (%.100s)", name);
    if (c->heal_id)
        snprintf(heal, sizeof heal, " heal #%llu", (unsigned long long)c->heal_id);
    const char *t = target ? target : "";
    if (ok)
        log_notice("actuators", "%s%s: %s %s%s: %s", plugin, heal, actuator, t, who, m);
    else if (dry)
        log_notice("actuators", "%s%s: would %s %s%s (%s): %s", plugin, heal, actuator, t,
                   who, c->preview ? "preview" : "dry-run", m);
    else
        log_write(lvl, "actuators", "%s%s: %s %s%s %s: %s", plugin, heal, actuator, t, who, res,
                  m);
}

/* A systemd unit named in a command line (busctl ... RestartUnit nginx.service ...), or NULL. */
static const char *unit_in_argv(json_t *argv)
{
    static const char *const sfx[] = { ".service", ".socket", ".timer", ".mount", ".target",
                                       ".slice", ".scope", ".path", ".swap", ".automount" };
    size_t i;
    json_t *v;
    json_array_foreach(argv, i, v) {
        const char *s = json_string_value(v);
        size_t n = s ? strlen(s) : 0;
        for (size_t j = 0; n && j < sizeof sfx / sizeof *sfx; j++) {
            size_t k = strlen(sfx[j]);
            if (n > k && strcmp(s + n - k, sfx[j]) == 0 && !strchr(s, '/'))
                return s;
        }
    }
    return NULL;
}

/* A previewed call's item (preview.h): what it would touch, from its params and message. */
static void preview_note(const act_context *c, const char *actuator, const char *target,
                         json_t *params, int rc, const char *m)
{
    msg_touch t = preview_touch_init();
    char text[HEALER_MSG_MAX + 32];
    t.action = actuator;
    if (rc == HEALER_DRY_RUN)
        snprintf(text, sizeof text, "%s", m);
    else
        snprintf(text, sizeof text, "not done (%s): %s", result_of(rc), m);
    t.text = text;
    json_t *pid = json_object_get(params, "pid"), *uid = json_object_get(params, "uid");
    if (!strcmp(actuator, "signal") || !strcmp(actuator, "renice")) {
        t.kind = "process";
        t.pid = json_is_integer(pid) ? (int64_t)json_integer_value(pid) : -1;
        t.uid = json_is_integer(uid) ? (int64_t)json_integer_value(uid) : -1;
        t.name = json_string_value(json_object_get(params, "name"));
    } else if (!strcmp(actuator, "write_file")) {
        t.kind = "file";
        const char *real = json_string_value(json_object_get(params, "real_path"));
        t.path = real ? real : target;
    } else if (!strcmp(actuator, "freeze_cgroup")) {
        t.kind = "cgroup";
        t.cgroup = target;
    } else if (!strcmp(actuator, "remove_old_files")) {
        /* the whole removal: its files are listed before it (actuators_clean.c) */
        json_t *fb = json_object_get(params, "freed_bytes");
        json_t *nf = json_object_get(params, "count");
        t.kind = "file";
        t.path = target;
        t.size = json_is_integer(fb) ? (int64_t)json_integer_value(fb) : -1;
        t.count = json_is_integer(nf) ? (int64_t)json_integer_value(nf) : -1;
    } else if (!strcmp(actuator, "run")) {
        t.unit = unit_in_argv(json_object_get(params, "argv"));
        t.kind = t.unit ? "unit" : "command";
    } else {
        t.kind = "other";
    }
    preview_add(c->preview, &t);
}

/* Every actuator call ends here: the message goes to the caller, one line to the log and one
 * to the audit log, whatever the outcome. Takes params. */
int finish(actuators *a, const act_context *c, const char *actuator, const char *target,
           json_t *params, int rc, const char *m, char *msg, size_t len)
{
    if (c->issue_type && params)
        json_object_set_new(params, "issue_type", jstr(c->issue_type));
    if (params)
        changes_note(a, c, actuator, target, params, rc);
    if (c->preview && strcmp(actuator, "probe") != 0) {
        if (params)
            json_object_set_new(params, "preview", json_true());
        preview_note(c, actuator, target, params, rc, m);
    }
    /* Probes measure; they change nothing and would flood the audit log every cycle. */
    int probe = strcmp(actuator, "probe") == 0;
    if (!a->audit && !probe)
        finish_log(c, actuator, target, params, rc, m);
    if (a->audit && !probe) {
        /* A dry run forced by a failing audit log is a refusal, said as such. */
        char why[512];
        if (rc == HEALER_DRY_RUN && !is_dry_config(a) && !c->dry_run &&
            !audit_ready(a->audit, why, sizeof why)) {
            char m2[1024];
            snprintf(m2, sizeof m2, "not done: %.500s; %.500s", why, m);
            log_warn("actuators", "%s %s for %s refused: %s", actuator, target ? target : "",
                     c->plugin ? c->plugin : "agent", why);
            setmsg(msg, len, "%s", m2);
            audit_rec r = {
                .heal_id = c->heal_id,
                .plugin = c->plugin ? c->plugin : "agent",
                .action = c->action ? c->action : actuator,
                .actuator = actuator,
                .target = target,
                .params = params,
                .result = "refused",
                .message = m2,
                .before_json = c->before_json,
                .dry_run = 1,
            };
            audit_append(a->audit, &r); /* likely fails too; it is tried all the same */
            json_decref(params);
            return rc;
        }
        finish_log(c, actuator, target, params, rc, m);
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
    /* A zombie has exited: act_signal and proc_allowed call it gone, so proc_read does too. */
    if (rc == HEALER_OK && (pi.state == 'Z' || pi.state == 'X'))
        return HEALER_E_GONE;
    if (rc == HEALER_OK)
        *out = pi.p;
    return rc;
}

int check_allowed(actuators *a, const healer_proc *p, int allow_system, int system_denied,
                  const char *plugin, char *m, size_t ml)
{
    const char *nm = p->name;
    int pid = (int)p->pid;
    /* The agent itself and its ancestors first (after PID 1 and kernel threads), then the rules
     * every host applies (rules.c: protect.names, oom_score_adj -1000, system uids), then the
     * agent's own again: executable names, scope. */
    if (p->pid > 1 && !p->kernel_thread) {
        if (p->pid == a->self) {
            setmsg(m, ml, "pid %d (%s): protected: the agent itself", pid, nm);
            return HEALER_E_PROTECTED;
        }
        for (size_t i = 0; i < a->n_ancestors; i++)
            if (a->ancestors[i] == p->pid) {
                setmsg(m, ml, "pid %d (%s): protected: an ancestor of the agent", pid, nm);
                return HEALER_E_PROTECTED;
            }
    }
    healer_rules_protect pr = { (const char *const *)a->protect_names, a->n_protect_names,
                                a->protect_min_uid, a->protect_max_uid, a->scope_cgroup,
                                a->scope_uids, a->n_scope_uids };
    /* Unreadable (gone, or a fixture without the file): only the uid decides. */
    char cgtext[16384], cg[512];
    int cg_read = procinfo_cgroup_read(a->proc_root, p->pid, cgtext, sizeof cgtext) >= 0;
    const char *cgp = cg_read && healer_rules_cgroup_of(cgtext, cg, sizeof cg) == 0 ? cg : NULL;
    int rc = healer_rules_proc_protected(p, cgp, &pr, allow_system, system_denied, plugin, m,
                                         ml);
    if (rc != HEALER_OK)
        return rc;
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
    if (a->scope_cgroup[0]) {
        char found[256];
        int r = cg_read ? procinfo_cgroup_under(cgtext, a->scope_cgroup, found, sizeof found) : -1;
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
    int rc = check_allowed(a, p, allow_system, 0, NULL, m, sizeof m);
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
    if (healer_rules_check_signal(pid, sig, grace_s, m, sizeof m) != HEALER_OK || sig >= NSIG)
        return finish(a, c, "signal", target, params, HEALER_E_INVAL, m, msg, len);
    procinfo pi;
    rc = read_target(a, pid, start_time, &pi, m, sizeof m);
    if (rc == HEALER_OK)
        rc = check_allowed(a, &pi.p, c->allow_system, c->system_denied, c->plugin, m, sizeof m);
    if (rc != HEALER_OK)
        return finish(a, c, "signal", target, params, rc, m, msg, len);
    json_object_set_new(params, "name", jstr(pi.p.name));
    json_object_set_new(params, "uid", json_integer((json_int_t)pi.p.uid));
    if (sig == SIGSTOP && (pi.state == 'T' || pi.state == 't'))
        json_object_set_new(params, "was_stopped", json_true());
    int escalate = sig == SIGTERM && grace_s > 0;
    if (sig == SIGCONT ? is_dry_release(a, c) : is_dry(a, c)) {
        healer_dry_signal(m, sizeof m, pid, pi.p.name, sig, grace_s);
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
    /* Journaled before it is sent: a process the agent stopped must run again even if the
     * agent dies now. One already stopped by someone else is theirs to continue. */
    undo_tok ut = { 0, 0 };
    if (sig == SIGSTOP && pi.state != 'T' && pi.state != 't') {
        undo_entry ue = { .kind = UNDO_STOP, .pid = pid, .start_time = start_time,
                          .name = pi.p.name };
        undo_before(a, c, &ue, &ut, params);
    }
    if (send_sig(pid, pidfd, sig) < 0) {
        int e = errno;
        undo_failed(a, &ut);
        setmsg(m, sizeof m, "pid %d (%s): %s: %s", (int)pid, pi.p.name, sn, strerror(e));
        rc = e == ESRCH ? HEALER_E_GONE : HEALER_E_IO;
        goto done;
    }
    if (sig == SIGCONT) {
        undo_entry inv = { .kind = UNDO_STOP, .pid = pid, .start_time = start_time };
        undo_inverse(a, &inv);
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
    if (healer_rules_check_renice(pid, nice, m, sizeof m) != HEALER_OK)
        return finish(a, c, "renice", target, params, HEALER_E_INVAL, m, msg, len);
    procinfo pi;
    int rc = read_target(a, pid, start_time, &pi, m, sizeof m);
    if (rc == HEALER_OK)
        rc = check_allowed(a, &pi.p, c->allow_system, c->system_denied, c->plugin, m, sizeof m);
    if (rc != HEALER_OK)
        return finish(a, c, "renice", target, params, rc, m, msg, len);
    int old = pi.p.nice;
    json_object_set_new(params, "name", jstr(pi.p.name));
    json_object_set_new(params, "uid", json_integer((json_int_t)pi.p.uid));
    json_object_set_new(params, "old_nice", json_integer(old));
    if (nice < old ? is_dry_release(a, c) : is_dry(a, c)) {
        healer_dry_renice(m, sizeof m, pid, pi.p.name, old, nice);
        return finish(a, c, "renice", target, params, HEALER_DRY_RUN, m, msg, len);
    }
    /* setpriority has no pidfd form. Holding a pidfd across it still tells us afterwards
     * whether the process stayed alive the whole time (then the pid cannot have been
     * reused under us). */
    int pidfd = pidfd_open_(pid);
    rc = read_target(a, pid, start_time, &pi, m, sizeof m);
    if (rc != HEALER_OK)
        goto done;
    undo_tok ut = { 0, 0 };
    if (old != nice) {
        undo_entry ue = { .kind = UNDO_RENICE, .pid = pid, .start_time = start_time,
                          .name = pi.p.name, .nice_before = old, .nice_after = nice };
        undo_before(a, c, &ue, &ut, params);
    }
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
        undo_failed(a, &ut);
        setmsg(m, sizeof m, "renice pid %d (%s) from %d to %d failed: %s", (int)pid, pi.p.name,
               old, nice, strerror(first_err));
        rc = first_err == ESRCH ? HEALER_E_GONE : HEALER_E_IO;
        goto done;
    }
    undo_entry inv = { .kind = UNDO_RENICE, .pid = pid, .start_time = start_time,
                       .nice_before = nice };
    undo_inverse(a, &inv);
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
