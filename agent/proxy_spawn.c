/* proxy_spawn.c — starting a plugin child: the socketpair, the checked file passed as a descriptor
 * (the child maps that inode, not whatever the path names by then), fork and exec of
 * healerd-plugin without a shell, its memory and CPU limits (a cgroup of its own when one can be
 * made, RLIMIT_DATA otherwise), its private state directory (the only place it may write:
 * runner/confine.c), and MSG_INIT with its resolved settings. A program (plugins.<name>.exec)
 * is started the same way: healerd-plugin confines itself and then executes it. */
#include "proxy_int.h"
#include "isolation.h"
#include "statedir.h"
#include "runner/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

extern char **environ;

#ifndef HEALERD_RUNNER_INSTALLED
#define HEALERD_RUNNER_INSTALLED "/usr/bin/healerd-plugin"
#endif

/* Socket buffers: room for bursts of small messages and for one 1 MiB message. */
#define SOCK_BUF (4 << 20)

static char runner_path[PATH_MAX];
static pthread_once_t runner_once = PTHREAD_ONCE_INIT;

static void runner_find(void)
{
    const char *env = getenv("HEALERD_PLUGIN_RUNNER");
    if (env && *env) {
        snprintf(runner_path, sizeof runner_path, "%s", env);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(runner_path, sizeof runner_path, "%.4000s/healerd-plugin", self);
            if (access(runner_path, X_OK) == 0)
                return;
            /* tests and benches live one folder beside bin/ */
            snprintf(runner_path, sizeof runner_path, "%.4000s/../bin/healerd-plugin", self);
            if (access(runner_path, X_OK) == 0)
                return;
        }
    }
    snprintf(runner_path, sizeof runner_path, "%s", HEALERD_RUNNER_INSTALLED);
}

static const char *runner(void)
{
    pthread_once(&runner_once, runner_find);
    return runner_path;
}

const char *proxy_runner_path(void)
{
    return runner();
}

/* ---- limits ---------------------------------------------------------------------------------- */

/* The agent's own cgroup directory under a v1 controller's mount ("" when there is none). */
static void own_cgroup(const char *controller, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return;
    char line[1024];
    size_t cl = strlen(controller);
    while (fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        int match = 0;
        for (char *tok = c1 + 1; tok && *tok;) {
            char *comma = strchr(tok, ',');
            size_t tl = comma ? (size_t)(comma - tok) : strlen(tok);
            if (tl == cl && strncmp(tok, controller, cl) == 0)
                match = 1;
            tok = comma ? comma + 1 : NULL;
        }
        if (!match)
            continue;
        char *path = c2 + 1;
        path[strcspn(path, "\n")] = '\0';
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s%s", controller, path);
        struct stat st;
        if (stat(dir, &st) != 0) /* our path is not visible in this mount: use its root */
            snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s", controller);
        snprintf(out, len, "%s", dir);
        break;
    }
    fclose(f);
}

static int write_str(const char *dir, const char *file, const char *val)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, val, strlen(val));
    close(fd);
    return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* Makes the child's cgroups with their limits (before fork: the child joins them itself). */
static void cgroups_make(proxy *px)
{
    plugin_rec *p = px->w->p;
    const char *ctl[2] = { "memory", "cpu" };
    int want[2] = { p->memory_max_mb > 0, p->cpu_max_percent > 0 };
    char used[2][16] = { "", "" };
    for (int i = 0; i < 2; i++) {
        px->cgroup[i][0] = '\0';
        if (!want[i])
            continue;
        char base[PATH_MAX];
        own_cgroup(ctl[i], base, sizeof base);
        if (!base[0])
            continue;
        char dir[512];
        snprintf(dir, sizeof dir, "%.400s/healerd-plugin.%d.%s", base, (int)getpid(), p->name);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            continue;
        char v[64];
        int ok;
        if (i == 0) {
            snprintf(v, sizeof v, "%lld", p->memory_max_mb * 1024 * 1024);
            ok = write_str(dir, "memory.limit_in_bytes", v) == 0;
        } else {
            snprintf(v, sizeof v, "%lld", (long long)(p->cpu_max_percent * 1000)); /* of 100 ms */
            ok = write_str(dir, "cpu.cfs_period_us", "100000") == 0 &&
                 write_str(dir, "cpu.cfs_quota_us", v) == 0;
        }
        if (!ok) {
            rmdir(dir);
            continue;
        }
        snprintf(px->cgroup[i], sizeof px->cgroup[i], "%s", dir);
        snprintf(used[i], sizeof used[i], "cgroup");
    }
    snprintf(px->limits, sizeof px->limits, "memory: %s, cpu: %s",
             !want[0] ? "none" : (used[0][0] ? "cgroup v1" : "RLIMIT_DATA"),
             !want[1] ? "none" : (used[1][0] ? "cgroup v1" : "not enforced (no cpu cgroup)"));
}

/* After the child died: did its memory cgroup OOM-kill it? Appends the reason to how. */
void proxy_cgroup_oom(proxy *px, char *how, size_t len)
{
    if (!px->cgroup[0][0])
        return;
    char p[PATH_MAX + 32], line[128];
    snprintf(p, sizeof p, "%s/memory.oom_control", px->cgroup[0]);
    FILE *f = fopen(p, "re");
    if (!f)
        return;
    unsigned long long kills = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "oom_kill %llu", &kills) == 1)
            break;
    fclose(f);
    size_t n = strlen(how);
    if (kills > 0 && n < len)
        snprintf(how + n, len - n, ": out of memory (over plugins.%s.memory_max_mb = %lld)",
                 px->w->p->name, px->w->p->memory_max_mb);
}

void proxy_cgroup_remove(proxy *px)
{
    for (int i = 0; i < 2; i++) {
        if (px->cgroup[i][0] && rmdir(px->cgroup[i]) != 0 && errno != ENOENT)
            log_warn(px->w->ph.who, "cannot remove %s: %s", px->cgroup[i], strerror(errno));
        px->cgroup[i][0] = '\0';
    }
}

unsigned long long proxy_child_private(pid_t pid)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return 0;
    unsigned long long kb = 0, v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "Private_Clean: %llu kB", &v) == 1 ||
            sscanf(line, "Private_Dirty: %llu kB", &v) == 1)
            kb += v;
    }
    fclose(f);
    return kb * 1024;
}

/* ---- MSG_INIT -------------------------------------------------------------------------------- */

/* A setting is bytes, as a path on Linux is: one that is not UTF-8 (JSON's alphabet) travels
 * as {"bytes": "<hex>"}, which the runner turns back into the same bytes (runner/main.c). */
static json_t *str_json(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j)
        return j;
    size_t n = strlen(s);
    char *hex = malloc(2 * n + 1);
    if (!hex)
        return NULL;
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)s[i]);
    j = json_pack("{s:s}", "bytes", hex);
    free(hex);
    return j;
}

static json_t *setting_json(const plugin_rec *p, const char *name, healer_config_type type)
{
    int b;
    long long i;
    double d;
    const char *s;
    const char *const *items;
    size_t n;
    switch (type) {
    case HEALER_CFG_BOOL:
        return plugin_conf_bool(p->conf, name, &b) == 0 ? json_boolean(b) : NULL;
    case HEALER_CFG_INT:
        return plugin_conf_int(p->conf, name, &i) == 0 ? json_integer(i) : NULL;
    case HEALER_CFG_DOUBLE:
        return plugin_conf_double(p->conf, name, &d) == 0 ? json_real(d) : NULL;
    case HEALER_CFG_STRING:
        return plugin_conf_string(p->conf, name, &s) == 0 ? str_json(s) : NULL;
    case HEALER_CFG_STRING_LIST: {
        if (plugin_conf_list(p->conf, name, &items, &n) != 0)
            return NULL;
        json_t *a = json_array();
        for (size_t k = 0; k < n; k++)
            json_array_append_new(a, str_json(items[k]));
        return a;
    }
    }
    return NULL;
}

static char *init_doc(proxy *px)
{
    worker *w = px->w;
    plugin_rec *p = w->p;
    const config *c = w->rt->cfg;
    json_t *set = json_object();
    for (const healer_config_key *k = p->desc.config; k && k->name; k++) {
        json_t *v = setting_json(p, k->name, k->type);
        if (v)
            json_object_set_new(set, k->name, v);
    }
    json_t *v;
    if (!json_object_get(set, "enabled") && (v = setting_json(p, "enabled", HEALER_CFG_BOOL)))
        json_object_set_new(set, "enabled", v);
    if (!json_object_get(set, "interval") && (v = setting_json(p, "interval", HEALER_CFG_DOUBLE)))
        json_object_set_new(set, "interval", v);
    json_t *o = json_pack("{s:s, s:o, s:o, s:b, s:f, s:f, s:b, s:i, s:i, s:b, s:o}", "plugin", p->name,
                          "proc_root", str_json(c->proc_root), "sys_root", str_json(c->sys_root),
                          "dry_run",
                          c->dry_run || p->mode_dry_run, "interval", p->interval, "action_timeout",
                          c->action_timeout, "auto_detect", w->auto_detect, "log_level",
                          c->log_level, "log_format", c->log_format, "log_journal",
                          log_get_journal(), "settings", set);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* ---- fork and exec --------------------------------------------------------------------------- */

/* state_dir/plugins/<name>: the one directory the child may write (runner/confine.c). */
static int state_dir_make(proxy *px, char *out, size_t olen, char *why, size_t len)
{
    const char *sd = px->w->rt->cfg->state_dir;
    out[0] = '\0';
    if (!sd || !*sd)
        return 0;
    /* By descriptors from the checked state directory: a link planted as plugins/ or as the
     * plugin's own folder would open the child's Landlock rule on whatever it points to. */
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/plugins", sd);
    int sfd = statedir_open(sd, why, len);
    int pfd = sfd < 0 ? -1 : statedir_subdir(sfd, sd, "plugins", 0700, why, len);
    /* A child that inspects processes runs as CONFINE_INSPECT_UID and was given its folder
     * (runner/confine.c): take it back before judging it; the runner gives it again. */
    if (pfd >= 0) {
        int own = openat(pfd, px->w->p->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat ost;
        if (own >= 0 && fstat(own, &ost) == 0 && ost.st_uid == CONFINE_INSPECT_UID &&
            fchown(own, 0, 0) != 0)
            log_warn("proxy", "%s/%s: cannot take it back from uid %u: %s", p, px->w->p->name,
                     (unsigned)CONFINE_INSPECT_UID, strerror(errno));
        if (own >= 0)
            close(own);
    }
    int nfd = pfd < 0 ? -1 : statedir_subdir(pfd, p, px->w->p->name, 0700, why, len);
    if (sfd >= 0)
        close(sfd);
    if (pfd >= 0)
        close(pfd);
    if (nfd < 0)
        return -1;
    close(nfd);
    snprintf(out, olen, "%.3000s/plugins/%s", sd, px->w->p->name);
    return 0;
}

int proxy_spawn(proxy *px, char *why, size_t len)
{
    worker *w = px->w;
    plugin_rec *p = w->p;
    const char *exe = runner();
    /* The very file the loader checked (its descriptor): never the path again, which anyone
     * able to rename into the folder's parents could have swapped since. */
    int pfd = p->fd >= 0 ? fcntl(p->fd, F_DUPFD_CLOEXEC, 3) : -1;
    if (p->fd < 0)
        errno = EBADF;
    if (pfd < 0) {
        snprintf(why, len, "%s: %s", p->file, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(pfd, &st) != 0 || st.st_dev != p->file_dev || st.st_ino != p->file_ino) {
        snprintf(why, len, "%s was replaced since it was checked; it loads at the next reload",
                 p->file);
        close(pfd);
        return -1;
    }
    char sdir[PATH_MAX];
    if (state_dir_make(px, sdir, sizeof sdir, why, len) < 0) {
        close(pfd);
        return -1;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(why, len, "socketpair: %s", strerror(errno));
        close(pfd);
        return -1;
    }
    int buf = SOCK_BUF;
    for (int i = 0; i < 2; i++) {
        if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
            setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        if (setsockopt(sv[i], SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
            setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    }
    cgroups_make(px);
    char *doc = init_doc(px);
    long long mem_bytes = p->memory_max_mb * 1024 * 1024;
    int rlimit_mem = p->memory_max_mb > 0 && !px->cgroup[0][0];
#ifdef __SANITIZE_ADDRESS__
    /* An ASan build's child reserves terabytes of shadow at start, which RLIMIT_DATA refuses
     * (seen where no cgroup can be made: under `ip netns exec`, /sys is the namespace's). Test
     * builds only; a real build keeps the fallback limit. */
    rlimit_mem = 0;
#endif
    char procs[2][PATH_MAX];
    for (int i = 0; i < 2; i++)
        snprintf(procs[i], sizeof procs[i], "%s/cgroup.procs", px->cgroup[i]);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, len, "fork: %s", strerror(errno));
        free(doc);
        close(sv[0]);
        close(sv[1]);
        close(pfd);
        proxy_cgroup_remove(px);
        return -1;
    }
    if (pid == 0) {
        /* The child: only async-signal-safe calls until exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        for (int i = 0; i < 2; i++) {
            if (!px->cgroup[i][0])
                continue;
            int fd = open(procs[i], O_WRONLY);
            if (fd >= 0) {
                if (write(fd, "0", 1) < 0) { /* "0": the writer itself */
                }
                close(fd);
            }
        }
        if (rlimit_mem) {
            struct rlimit rl = { (rlim_t)mem_bytes, (rlim_t)mem_bytes };
            setrlimit(RLIMIT_DATA, &rl);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* Exactly two descriptors survive exec besides 0-2: 3 the socket, 4 the plugin. */
        int hs = fcntl(sv[1], F_DUPFD, 10), hp = fcntl(pfd, F_DUPFD, 10);
        if (hs < 0 || hp < 0 || dup2(hs, 3) < 0 || dup2(hp, 4) < 0)
            _exit(127);
        syscall(SYS_close_range, 5, ~0U, 0);
        /* A program too goes through healerd-plugin, which confines itself as for a .so and
         * then executes the file checked, by its descriptor (--exec). */
        char *argv[12] = { (char *)exe, "--sock", "3", "--plugin-fd", "4", NULL };
        int ac = 5;
        if (!p->confine)
            argv[ac++] = "--no-confine";
        else if (sdir[0]) {
            argv[ac++] = "--state-dir";
            argv[ac++] = sdir;
        }
        if (p->inspect_processes)
            argv[ac++] = "--inspect-processes";
        if (p->local_sockets)
            argv[ac++] = "--local-sockets";
        if (p->is_exec) {
            argv[ac++] = "--exec";
            argv[ac++] = p->file;
        }
        argv[ac] = NULL;
        execv(exe, argv);
        _exit(127);
    }
    close(sv[1]);
    close(pfd);
    px->pid = pid;
    px->sock = sv[0];
    /* Batches only to a child that said it reads them (healerd-plugin does; a program may). */
    px->out.batch = describe_protocol(p) >= 2 ? DGRAM_BATCH_BYTES : 0;
    px->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    msg m = { .kind = MSG_INIT, .plugin = p->name, .text = doc ? doc : "{}" };
    int rc = proxy_send_child(px, &m);
    free(doc);
    if (rc < 0) {
        snprintf(why, len, "cannot send MSG_INIT: %s", healer_rc_str(rc));
        return -1;
    }
    if (!p->confine)
        log_warn(w->ph.who, "started %s (pid %d) NOT confined: plugins.%s.confine = false", exe,
                 (int)pid, p->name);
    log_debug(w->ph.who, "started %s (pid %d; %s)", exe, (int)pid, px->limits);
    return 0;
}
