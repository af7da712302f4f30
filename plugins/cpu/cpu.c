/* cpu.c — the cpu plugin: raises cpu_high when whole-system utilization stays high over a
 * sliding window, names the top consumers, and heals with an escalation ladder (renice, stop
 * hogs, cpufreq governor, emergency stop/kill), verifying after each step; restores nice values,
 * governors and stopped processes when the issue clears. Measuring lives in cpu_scan.c. */

#include <healer/healer.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cpu_scan.h"

#define CPU_ISSUE "cpu_high"
#define CPU_TARGET "cpu"
#define CPU_RING 512          /* utilization samples kept for the window mean */
#define CPU_CAND_MAX 32       /* top consumers looked at when planning */
#define CPU_PIDS_MAX 16       /* processes one action acts on */

enum { CPU_CH_RENICE = 1, CPU_CH_STOP = 2, CPU_CH_GOVERNOR = 3 };

/* One change the plugin made and may undo when its issue clears. */
typedef struct cpu_change {
    uint64_t issue_id;
    int kind;
    pid_t pid;
    uint64_t start_time;
    int old_nice, new_nice;
    char path[1024];
    char old_value[64];
} cpu_change;

typedef struct cpu_sample {
    double t, dt, util;
} cpu_sample;

typedef struct cpu_plugin {
    const healer_host *host;
    healer_ctx *ctx;
    /* config */
    double high_percent, critical_percent, high_seconds, critical_seconds, clear_seconds;
    double renice_percent, renice_min_percent, stop_percent, stop_min_percent;
    double governor_percent, grace_seconds, settle_seconds;
    int renice_nice, top_n, stop_max, restore;
    int emergency_kill;       /* emergency = "kill" (else "stop") */
    int auto_stop;            /* auto_stop: stopping and killing need no confirmation */
    /* measuring */
    cpu_scan scan;
    int scan_ok;
    /* Per-process sampling runs only from the first sample at or above watch_percent until
     * utilization stayed below it for clear_seconds with no issue open: an idle host costs
     * one /proc/stat read per interval, whatever its number of processes (issue #12). */
    double watch_percent;
    int sampling;
    double below_watch;       /* start of the current run below watch_percent, or -1 */
    int stat_fd, load_fd;
    /* verify measures utilization from the end of the action over settle_seconds: the sample
     * taken when the action ended (or at verify's first call), and whether it is set */
    cpu_stat vbase;
    int vbase_set;
    cpu_stat last;
    int have_last;
    double last_t;
    double util_now;
    double above_high, above_crit, below_high;   /* start of the current run, or -1 */
    cpu_sample ring[CPU_RING];
    size_t ring_n, ring_head;
    double load[3];
    int ncpu;
    int open;                 /* we published cpu_high and have not resolved it */
    /* restore bookkeeping */
    cpu_change *ch;
    size_t nch, cap_ch;
} cpu_plugin;

static const char *const cpu_issue_types[] = {CPU_ISSUE, NULL};

static const healer_config_key cpu_config[] = {
    {"high_percent", HEALER_CFG_DOUBLE, "90", 1, 100,
     "cpu_high (high) when utilization stays at or above this for high_seconds"},
    {"critical_percent", HEALER_CFG_DOUBLE, "98", 1, 100,
     "cpu_high (critical) when utilization stays at or above this for critical_seconds"},
    {"high_seconds", HEALER_CFG_DOUBLE, "30", 0, 86400,
     "window for high; also the window of per-process shares"},
    {"critical_seconds", HEALER_CFG_DOUBLE, "60", 0, 86400, "window for critical"},
    {"clear_seconds", HEALER_CFG_DOUBLE, "10", 0, 86400,
     "the issue clears once utilization stayed below high_percent this long"},
    {"top_n", HEALER_CFG_INT, "5", 1, 8, "top consumers named in the issue and reniced"},
    {"renice_percent", HEALER_CFG_DOUBLE, "80", 0, 100,
     "step 0, renice: proposed when utilization over the window is at least this"},
    {"renice_nice", HEALER_CFG_INT, "10", -20, 19, "nice value given to the top consumers"},
    {"renice_min_percent", HEALER_CFG_DOUBLE, "10", 0, 10000,
     "a top consumer is reniced when it used at least this share of one core"},
    {"stop_percent", HEALER_CFG_DOUBLE, "90", 0, 100,
     "step 1, stop_processes: proposed when utilization is at least this"},
    {"stop_min_percent", HEALER_CFG_DOUBLE, "50", 0, 10000,
     "user processes over this share of one core over the window are stopped"},
    {"stop_max", HEALER_CFG_INT, "3", 1, CPU_PIDS_MAX, "at most this many processes stopped"},
    {"killable", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "process names that may always be stopped when the CPU is high (and they use CPU)"},
    {"grace_seconds", HEALER_CFG_DOUBLE, "5", 0, 3600, "SIGTERM, then SIGKILL after this"},
    {"governor_percent", HEALER_CFG_DOUBLE, "95", 0, 100,
     "step 2, cpufreq_governor: proposed when utilization is at least this"},
    {"governors", HEALER_CFG_STRING_LIST, "ondemand,schedutil", 0, 0,
     "governors to switch to, first one scaling_available_governors offers"},
    {"auto_stop", HEALER_CFG_BOOL, "false", 0, 0,
     "stop_processes and the emergency stop/kill run without confirmation (else they are flagged "
     "STOPS: the plan waits for the operator)"},
    {"emergency", HEALER_CFG_STRING, "stop", 0, 0,
     "step 3 for critical issues: \"stop\" (SIGSTOP, SIGCONT on restore) or \"kill\" the top hog"},
    {"settle_seconds", HEALER_CFG_DOUBLE, "5", 0, 600,
     "verify measures utilization over this long after each action"},
    {"restore", HEALER_CFG_BOOL, "true", 0, 0,
     "undo renice, governor and SIGSTOP when the issue clears"},
    {"watch_percent", HEALER_CFG_DOUBLE, "-1", -1, 100,
     "per-process sampling runs while utilization is at or above this (and while cpu_high is "
     "open); -1: high_percent - 15; 0: always"},
    {"max_open_fds", HEALER_CFG_INT, "4096", 0, 1000000,
     "/proc/PID/stat descriptors kept open between scans (capped at half RLIMIT_NOFILE)"},
    {NULL, 0, NULL, 0, 0, NULL}
};

/* ---- measuring --------------------------------------------------------------------------- */

static int cpu_open_rel(cpu_plugin *c, const char *rel)
{
    char path[512];
    if (!c->host->proc_path(c->ctx, rel, path, sizeof path))
        return -1;
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* Mean utilization over the samples ending in the last `window` seconds (time-weighted). */
static double cpu_window_mean(const cpu_plugin *c, double window)
{
    double sum = 0, w = 0;
    for (size_t k = 0; k < c->ring_n; k++) {
        const cpu_sample *s = &c->ring[(c->ring_head + CPU_RING - 1 - k) % CPU_RING];
        if (s->t < c->last_t - window && w > 0)
            break;
        sum += s->util * s->dt;
        w += s->dt;
    }
    return w > 0 ? sum / w : c->util_now;
}

/* One /proc/stat sample: updates the runs above and below the thresholds. 1 when a new
 * utilization value exists, 0 on the first sample, -1 on a read error. */
static int cpu_sample_stat(cpu_plugin *c, double now)
{
    cpu_stat st;
    if (c->stat_fd < 0 || cpu_stat_read(c->stat_fd, &st) < 0) {
        c->host->log(c->ctx, HEALER_LOG_DEBUG, "cannot read /proc/stat: %s", strerror(errno));
        return -1;
    }
    if (st.ncpu > 0)
        c->ncpu = st.ncpu;
    if (!c->have_last || st.total <= c->last.total || st.busy < c->last.busy) {
        int first = !c->have_last;
        c->last = st;
        c->last_t = now;
        c->have_last = 1;
        return first ? 0 : -1;
    }
    double util = 100.0 * (double)(st.busy - c->last.busy) / (double)(st.total - c->last.total);
    if (util > 100)
        util = 100;
    double t0 = c->last_t;
    c->last = st;
    c->last_t = now;
    c->util_now = util;
    cpu_sample *s = &c->ring[c->ring_head];
    s->t = now;
    s->dt = now > t0 ? now - t0 : 0;
    s->util = util;
    c->ring_head = (c->ring_head + 1) % CPU_RING;
    if (c->ring_n < CPU_RING)
        c->ring_n++;
    /* A run starts at the beginning of the first sample that is above (or below). */
    if (util >= c->high_percent) {
        if (c->above_high < 0)
            c->above_high = t0;
        c->below_high = -1;
    } else {
        c->above_high = -1;
        if (c->below_high < 0)
            c->below_high = t0;
    }
    if (util >= c->critical_percent) {
        if (c->above_crit < 0)
            c->above_crit = t0;
    } else {
        c->above_crit = -1;
    }
    return 1;
}

static double cpu_health(const cpu_plugin *c, double util, int critical)
{
    if (critical)
        return 35;
    if (util < c->high_percent)
        return 100;
    double span = 100 - c->high_percent;
    return span > 0 ? 100 - 50 * (util - c->high_percent) / span : 50;
}

/* ---- small helpers ----------------------------------------------------------------------- */

static int cpu_name_in_list(const cpu_plugin *c, const char *key, const char *comm)
{
    size_t n = c->host->config_list_len(c->ctx, key);
    for (size_t i = 0; i < n; i++) {
        const char *nm = c->host->config_list_item(c->ctx, key, i);
        if (!nm || !*nm)
            continue;
        if (strcmp(nm, comm) == 0)
            return 1;
        /* comm is cut at 15 bytes. */
        if (strlen(comm) == 15 && strncmp(nm, comm, 15) == 0)
            return 1;
    }
    return 0;
}

static const char *cpu_param(const healer_action *a, const char *key)
{
    for (size_t i = 0; i < a->n_params; i++)
        if (a->params[i].key && strcmp(a->params[i].key, key) == 0)
            return a->params[i].value;
    return NULL;
}

/* "pid:start,pid:start" -> arrays. Returns the count (odd items skipped). */
static size_t cpu_parse_pids(const char *s, pid_t *pids, uint64_t *starts, size_t max)
{
    size_t n = 0;
    while (s && *s && n < max) {
        char *end;
        long pid = strtol(s, &end, 10);
        if (end == s || *end != ':')
            break;
        unsigned long long st = strtoull(end + 1, &end, 10);
        if (pid > 0) {
            pids[n] = (pid_t)pid;
            starts[n] = st;
            n++;
        }
        s = *end == ',' ? end + 1 : end;
        if (*end != ',')
            break;
    }
    return n;
}

static int cpu_record(cpu_plugin *c, const cpu_change *x)
{
    for (size_t i = 0; i < c->nch; i++) {
        cpu_change *y = &c->ch[i];
        if (y->issue_id == x->issue_id && y->kind == x->kind && y->pid == x->pid &&
            y->start_time == x->start_time && strcmp(y->path, x->path) == 0)
            return 0;   /* the first record holds the original value */
    }
    if (c->nch == c->cap_ch) {
        size_t cap = c->cap_ch ? c->cap_ch * 2 : 16;
        cpu_change *nv = realloc(c->ch, cap * sizeof *nv);
        if (!nv)
            return -1;
        c->ch = nv;
        c->cap_ch = cap;
    }
    c->ch[c->nch++] = *x;
    return 0;
}

/* ---- cpufreq ----------------------------------------------------------------------------- */

/* Calls fn for every cpuN/cpufreq directory under sys_root that has a governor to switch to:
 * the first configured governor scaling_available_governors offers, when it is not current. */
typedef void (*cpu_gov_fn)(cpu_plugin *c, const char *dir, const char *cur, const char *want,
                           void *ud);

static int cpu_read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, len - 1);
    close(fd);
    if (r < 0)
        return -1;
    buf[r] = '\0';
    while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
        buf[--r] = '\0';
    return 0;
}

static int cpu_word_in(const char *words, const char *w)
{
    size_t wl = strlen(w);
    for (const char *p = words; (p = strstr(p, w)); p += wl)
        if ((p == words || p[-1] == ' ') && (p[wl] == '\0' || p[wl] == ' ' || p[wl] == '\n'))
            return 1;
    return 0;
}

static int cpu_governors(cpu_plugin *c, cpu_gov_fn fn, void *ud)
{
    char base[512];
    if (!c->host->sys_path(c->ctx, "devices/system/cpu", base, sizeof base))
        return 0;
    DIR *d = opendir(base);
    if (!d)
        return 0;
    int count = 0;
    struct dirent *de;
    size_t ng = c->host->config_list_len(c->ctx, "governors");
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "cpu", 3) != 0 || de->d_name[3] < '0' || de->d_name[3] > '9')
            continue;
        char dir[768], path[1024], avail[512], cur[64];
        int w = snprintf(dir, sizeof dir, "%s/%s/cpufreq", base, de->d_name);
        if (w < 0 || (size_t)w >= sizeof dir)
            continue;
        w = snprintf(path, sizeof path, "%s/scaling_available_governors", dir);
        if (w < 0 || (size_t)w >= sizeof path || cpu_read_small(path, avail, sizeof avail) < 0)
            continue;
        w = snprintf(path, sizeof path, "%s/scaling_governor", dir);
        if (w < 0 || (size_t)w >= sizeof path || cpu_read_small(path, cur, sizeof cur) < 0)
            continue;
        const char *want = NULL;
        for (size_t i = 0; i < ng && !want; i++) {
            const char *g = c->host->config_list_item(c->ctx, "governors", i);
            if (g && *g && cpu_word_in(avail, g))
                want = g;
        }
        if (!want || strcmp(cur, want) == 0)
            continue;
        count++;
        if (fn)
            fn(c, dir, cur, want, ud);
    }
    closedir(d);
    return count;
}

/* ---- init / destroy ---------------------------------------------------------------------- */

static void cpu_destroy(void *state)
{
    cpu_plugin *c = state;
    if (!c)
        return;
    if (c->scan_ok)
        cpu_scan_close(&c->scan);
    if (c->stat_fd >= 0)
        close(c->stat_fd);
    if (c->load_fd >= 0)
        close(c->load_fd);
    if (c->nch)
        c->host->log(c->ctx, HEALER_LOG_WARN, "%zu change(s) not restored at exit (nice values, "
                     "governors or stopped processes stay as they are)", c->nch);
    free(c->ch);
    free(c);
}

static int cpu_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    cpu_plugin *c = calloc(1, sizeof *c);
    if (!c)
        return HEALER_E_NOMEM;
    c->host = host;
    c->ctx = ctx;
    c->stat_fd = c->load_fd = -1;
    c->high_percent = host->config_double(ctx, "high_percent");
    c->critical_percent = host->config_double(ctx, "critical_percent");
    c->high_seconds = host->config_double(ctx, "high_seconds");
    c->critical_seconds = host->config_double(ctx, "critical_seconds");
    c->clear_seconds = host->config_double(ctx, "clear_seconds");
    c->top_n = (int)host->config_int(ctx, "top_n");
    c->renice_percent = host->config_double(ctx, "renice_percent");
    c->renice_nice = (int)host->config_int(ctx, "renice_nice");
    c->renice_min_percent = host->config_double(ctx, "renice_min_percent");
    c->stop_percent = host->config_double(ctx, "stop_percent");
    c->stop_min_percent = host->config_double(ctx, "stop_min_percent");
    c->stop_max = (int)host->config_int(ctx, "stop_max");
    c->grace_seconds = host->config_double(ctx, "grace_seconds");
    c->governor_percent = host->config_double(ctx, "governor_percent");
    c->settle_seconds = host->config_double(ctx, "settle_seconds");
    c->restore = host->config_bool(ctx, "restore");
    c->auto_stop = host->config_bool(ctx, "auto_stop");
    const char *em = host->config_string(ctx, "emergency");
    if (!em || (strcmp(em, "stop") != 0 && strcmp(em, "kill") != 0)) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.cpu.emergency = \"%s\": must be \"stop\" or "
                  "\"kill\"", em ? em : "");
        free(c);
        return HEALER_E_INVAL;
    }
    c->emergency_kill = strcmp(em, "kill") == 0;
    c->above_high = c->above_crit = c->below_high = c->below_watch = -1;
    c->watch_percent = host->config_double(ctx, "watch_percent");
    if (c->watch_percent < 0)
        c->watch_percent = c->high_percent > 15 ? c->high_percent - 15 : 0;
    if (c->watch_percent > c->high_percent) {
        /* Sampling would start after the run that raises the issue: its top list would cover
         * less than the window. */
        host->log(ctx, HEALER_LOG_WARN, "plugins.cpu.watch_percent = %g is above high_percent "
                  "(%g): using %g", c->watch_percent, c->high_percent, c->high_percent);
        c->watch_percent = c->high_percent;
    }

    /* Descriptors kept open count against the agent's RLIMIT_NOFILE: use half at most. */
    long long max_fds = host->config_int(ctx, "max_open_fds");
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (long long)rl.rlim_cur / 2 < max_fds)
        max_fds = (long long)rl.rlim_cur / 2;

    char root[512];
    if (!host->proc_path(ctx, "", root, sizeof root) ||
        cpu_scan_open(&c->scan, root, (size_t)max_fds,
                      (c->high_seconds > 0 ? c->high_seconds : 1) / (CPU_SCAN_CP - 2)) < 0) {
        host->log(ctx, HEALER_LOG_ERROR, "cannot open proc_root %s: %s", root, strerror(errno));
        free(c);
        return HEALER_E_IO;
    }
    c->scan_ok = 1;
    c->stat_fd = cpu_open_rel(c, "stat");
    c->load_fd = cpu_open_rel(c, "loadavg");
    if (c->stat_fd < 0) {
        host->log(ctx, HEALER_LOG_ERROR, "cannot open %s/stat: %s", root, strerror(errno));
        cpu_destroy(c);
        return HEALER_E_IO;
    }
    /* The first sample: utilization needs two. No process is read until it reaches
     * watch_percent. */
    double now = host->now(ctx);
    cpu_sample_stat(c, now);
    host->log(ctx, HEALER_LOG_INFO, "high at %g%% for %g s, critical at %g%% for %g s; "
              "processes sampled from %g%%; up to %zu stat descriptors kept open",
              c->high_percent, c->high_seconds, c->critical_percent, c->critical_seconds,
              c->watch_percent, c->scan.max_fds);
    *state = c;
    return HEALER_OK;
}

/* ---- detect ------------------------------------------------------------------------------ */

/* Names the top consumers: "pid:123 stress-ng uid=1000 97%". Returns how many. */
static size_t cpu_top_components(cpu_plugin *c, char comp[][96], size_t max, char *line,
                                 size_t line_len)
{
    size_t idx[8];
    double share[8];
    if (max > 8)
        max = 8;
    size_t n = cpu_scan_top(&c->scan, c->high_seconds, idx, share, max);
    size_t out = 0, off = 0;
    line[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const cpu_proc *p = &c->scan.v[idx[i]];
        if (share[i] < 1)
            break;
        healer_proc hp;
        char uid[24] = "uid=?";
        /* The scanner's name may be up to CPU_SCAN_RECHECK scans old (schedstat carries none):
         * the name is taken from this fresh read of the same process (start time) when there
         * is one. */
        const char *name = p->comm;
        if (c->host->proc_read(c->ctx, p->pid, &hp) == HEALER_OK &&
            hp.start_time == p->start_time) {
            snprintf(uid, sizeof uid, "uid=%u", (unsigned)hp.uid);
            if (hp.name[0])
                name = hp.name;
        }
        snprintf(comp[out], 96, "pid:%d %.15s %s %.0f%%", (int)p->pid, name, uid, share[i]);
        if (off < line_len) {
            int w = snprintf(line + off, line_len - off, "%s%.15s (pid %d, %s) %.0f%%",
                             out ? ", " : "", name, (int)p->pid, uid, share[i]);
            if (w > 0)
                off += (size_t)w;
        }
        out++;
    }
    return out;
}

/* Starts, keeps or stops per-process sampling after a /proc/stat sample, then scans when it
 * runs. Stopping waits clear_seconds below watch_percent so that load hovering at the watch
 * level does not rebuild the history (and reopen every stat file) each interval. */
static void cpu_watch(cpu_plugin *c, int have, double now)
{
    const healer_host *h = c->host;
    if (have > 0) {
        if (c->util_now >= c->watch_percent || c->open) {
            c->below_watch = -1;
            if (!c->sampling) {
                c->sampling = 1;
                h->log(c->ctx, HEALER_LOG_DEBUG, "CPU at %.0f%% (watch level %g%%): sampling "
                       "processes", c->util_now, c->watch_percent);
            }
        } else if (c->sampling) {
            if (c->below_watch < 0)
                c->below_watch = now;
            if (now - c->below_watch >= c->clear_seconds) {
                c->sampling = 0;
                c->below_watch = -1;
                cpu_scan_reset(&c->scan);
                h->log(c->ctx, HEALER_LOG_DEBUG, "CPU at %.0f%%, below %g%% for %g s: process "
                       "sampling stopped", c->util_now, c->watch_percent, c->clear_seconds);
            }
        }
    }
    if (c->sampling && cpu_scan_run(&c->scan, now) < 0)
        h->log(c->ctx, HEALER_LOG_DEBUG, "process scan failed: %s", strerror(errno));
}

static int cpu_detect(void *state)
{
    cpu_plugin *c = state;
    const healer_host *h = c->host;
    double now = h->now(c->ctx);
    int have = cpu_sample_stat(c, now);
    cpu_watch(c, have, now);
    if (c->load_fd >= 0 && cpu_loadavg_read(c->load_fd, c->load) < 0)
        h->log(c->ctx, HEALER_LOG_DEBUG, "cannot read loadavg");
    if (have <= 0)
        return HEALER_OK;

    int high = c->above_high >= 0 && now - c->above_high >= c->high_seconds;
    int crit = c->above_crit >= 0 && now - c->above_crit >= c->critical_seconds;
    int cleared = c->below_high >= 0 && now - c->below_high >= c->clear_seconds;
    h->report_health(c->ctx, CPU_TARGET, cpu_health(c, c->util_now, crit));
    h->metric(c->ctx, HEALER_METRIC_GAUGE, "cpu_utilization_percent",
              "Whole-system CPU utilization over the last interval", NULL, 0, c->util_now);

    if (high || crit || (c->open && !cleared)) {
        double mean = cpu_window_mean(c, c->high_seconds);
        char comp[8][96], top[HEALER_MSG_MAX / 2], summary[HEALER_MSG_MAX];
        size_t nc = cpu_top_components(c, comp, (size_t)c->top_n, top, sizeof top);
        const char *cp[8];
        for (size_t i = 0; i < nc; i++)
            cp[i] = comp[i];
        double run = c->above_high >= 0 ? now - c->above_high : 0;
        snprintf(summary, sizeof summary, "CPU at %.0f%% for %.0f s (load %.2f on %d CPUs)%s%s",
                 mean, run, c->load[0], c->ncpu, nc ? "; top: " : "", top);
        healer_measurement ms[] = {
            {"cpu_percent", mean},
            {"cpu_now_percent", c->util_now},
            {"high_run_seconds", run},
            {"load1", c->load[0]},
            {"load5", c->load[1]},
            {"load15", c->load[2]},
            {"cpus", (double)c->ncpu},
            {"processes", (double)c->scan.n},
            /* what the top list's shares cover: sampling began at the watch level */
            {"top_window_seconds", cpu_scan_span(&c->scan, c->high_seconds)},
        };
        healer_issue is = {
            .type = CPU_ISSUE,
            .severity = crit ? HEALER_SEV_CRITICAL : HEALER_SEV_HIGH,
            .target = CPU_TARGET,
            .summary = summary,
            .measurements = ms,
            .n_measurements = sizeof ms / sizeof ms[0],
            .components = cp,
            .n_components = nc,
        };
        int rc = h->publish_issue(c->ctx, &is);
        if (rc < 0)
            h->log(c->ctx, HEALER_LOG_WARN, "publish %s: %s", CPU_ISSUE, healer_rc_str(rc));
        else
            c->open = 1;
    } else if (c->open) {
        if (h->resolve_issue(c->ctx, CPU_ISSUE, CPU_TARGET) >= 0)
            c->open = 0;
    }
    return HEALER_OK;
}

/* ---- plan -------------------------------------------------------------------------------- */

typedef struct cpu_pick {
    char list[CPU_PIDS_MAX * 32];
    char names[HEALER_MSG_MAX / 2];
    size_t n;
} cpu_pick;

static void cpu_pick_add(cpu_pick *k, const healer_proc *p, double share)
{
    size_t l = strlen(k->list), m = strlen(k->names);
    snprintf(k->list + l, sizeof k->list - l, "%s%d:%llu", k->n ? "," : "", (int)p->pid,
             (unsigned long long)p->start_time);
    if (share >= 0)
        snprintf(k->names + m, sizeof k->names - m, "%s%s (pid %d, %.0f%%)", k->n ? ", " : "",
                 p->name, (int)p->pid, share);
    else
        snprintf(k->names + m, sizeof k->names - m, "%s%s (pid %d)", k->n ? ", " : "",
                 p->name, (int)p->pid);
    k->n++;
}

static int cpu_picked(const pid_t *pids, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return 1;
    return 0;
}

static void cpu_governor_count(cpu_plugin *c, const char *dir, const char *cur,
                               const char *want, void *ud)
{
    (void)c;
    (void)dir;
    (void)cur;
    snprintf(ud, 64, "%s", want);
}

static int cpu_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    cpu_plugin *c = state;
    const healer_host *h = c->host;
    if (strcmp(issue->type, CPU_ISSUE) != 0 || !issue->target ||
        strcmp(issue->target, CPU_TARGET) != 0)
        return HEALER_OK;
    double level = cpu_window_mean(c, c->high_seconds);
    size_t idx[CPU_CAND_MAX];
    double share[CPU_CAND_MAX];
    size_t n = cpu_scan_top(&c->scan, c->high_seconds, idx, share, CPU_CAND_MAX);

    cpu_pick ren = {0}, stop = {0}, emerg = {0};
    pid_t stopped[CPU_PIDS_MAX];
    size_t nstopped = 0;
    for (size_t i = 0; i < n; i++) {
        const cpu_proc *p = &c->scan.v[idx[i]];
        if (share[i] < 1)
            break;
        healer_proc hp;
        if (h->proc_read(c->ctx, p->pid, &hp) != HEALER_OK || hp.start_time != p->start_time)
            continue;   /* gone since the scan */
        if (h->proc_allowed(c->ctx, &hp, 0) != HEALER_OK) {
            h->log(c->ctx, HEALER_LOG_DEBUG, "not a candidate: %s", h->last_message(c->ctx));
            continue;
        }
        if ((int)ren.n < c->top_n && i < (size_t)c->top_n && share[i] >= c->renice_min_percent &&
            hp.nice < c->renice_nice)
            cpu_pick_add(&ren, &hp, share[i]);
        int killable = cpu_name_in_list(c, "killable", hp.name);
        if ((int)stop.n < c->stop_max && (share[i] >= c->stop_min_percent || killable)) {
            cpu_pick_add(&stop, &hp, share[i]);
            stopped[nstopped++] = hp.pid;
        }
        if (emerg.n == 0)
            cpu_pick_add(&emerg, &hp, share[i]);
    }
    /* Killable processes below the top shares, as long as they use some CPU. */
    for (size_t i = 0; i < c->scan.n && (int)stop.n < c->stop_max; i++) {
        const cpu_proc *p = &c->scan.v[i];
        if (cpu_picked(stopped, nstopped, p->pid) || !cpu_name_in_list(c, "killable", p->comm))
            continue;
        double sh = cpu_scan_share(&c->scan, p, c->high_seconds);
        healer_proc hp;
        if (sh < 1 || h->proc_read(c->ctx, p->pid, &hp) != HEALER_OK ||
            hp.start_time != p->start_time || h->proc_allowed(c->ctx, &hp, 0) != HEALER_OK)
            continue;
        cpu_pick_add(&stop, &hp, sh);
        stopped[nstopped++] = hp.pid;
    }

    /* A busy process is not an emergency of the machine's memory: stopping or killing it waits
     * for a person unless the operator said otherwise (issue #10). */
    uint32_t stops = c->auto_stop ? 0u : HEALER_ACTION_STOPS;
    char desc[HEALER_MSG_MAX], nice[16], grace[32], lv[32];
    snprintf(lv, sizeof lv, "%.1f", level);
    int rc = HEALER_OK;
    if (level >= c->renice_percent && ren.n) {
        snprintf(nice, sizeof nice, "%d", c->renice_nice);
        snprintf(desc, sizeof desc, "renice to %d: %s", c->renice_nice, ren.names);
        healer_kv params[] = {{"pids", ren.list}, {"nice", nice}, {"cpu_percent", lv}};
        healer_action a = {.name = "renice", .target = CPU_TARGET, .description = desc,
                           .step = 0, .impact = 0.1, .confidence = 0.3,
                           .flags = HEALER_ACTION_REVERSIBLE, .params = params, .n_params = 3};
        rc = h->plan_add_action(plan, &a);
    }
    if (rc >= 0 && level >= c->stop_percent && stop.n) {
        snprintf(grace, sizeof grace, "%g", c->grace_seconds);
        snprintf(desc, sizeof desc, "stop (SIGTERM, SIGKILL after %g s): %s", c->grace_seconds,
                 stop.names);
        healer_kv params[] = {{"pids", stop.list}, {"grace_seconds", grace}, {"cpu_percent", lv}};
        healer_action a = {.name = "stop_processes", .target = CPU_TARGET, .description = desc,
                           .step = 1, .impact = 0.8, .confidence = 0.7, .flags = stops,
                           .params = params, .n_params = 3};
        rc = h->plan_add_action(plan, &a);
    }
    char gov[64] = "";
    int ngov = level >= c->governor_percent ? cpu_governors(c, cpu_governor_count, gov) : 0;
    if (rc >= 0 && ngov > 0) {
        snprintf(desc, sizeof desc, "switch the cpufreq governor of %d CPU(s) to %s", ngov, gov);
        healer_kv params[] = {{"cpu_percent", lv}};
        healer_action a = {.name = "cpufreq_governor", .target = CPU_TARGET, .description = desc,
                           .step = 2, .impact = 0.1, .confidence = 0.2,
                           .flags = HEALER_ACTION_REVERSIBLE, .params = params, .n_params = 1};
        rc = h->plan_add_action(plan, &a);
    }
    if (rc >= 0 && issue->severity == HEALER_SEV_CRITICAL && emerg.n) {
        const char *mode = c->emergency_kill ? "kill" : "stop";
        snprintf(desc, sizeof desc, "emergency: %s the top hog %s%s", c->emergency_kill ?
                 "kill (SIGKILL)" : "pause (SIGSTOP)", emerg.names,
                 c->emergency_kill ? "" : " until the load clears");
        healer_kv params[] = {{"pids", emerg.list}, {"mode", mode}, {"cpu_percent", lv}};
        healer_action a = {.name = c->emergency_kill ? "emergency_kill" : "emergency_stop",
                           .target = CPU_TARGET, .description = desc, .step = 3,
                           .impact = c->emergency_kill ? 1.0 : 0.7, .confidence = 0.9,
                           .flags = stops | (c->emergency_kill ? 0u : HEALER_ACTION_REVERSIBLE),
                           .params = params, .n_params = 3};
        rc = h->plan_add_action(plan, &a);
    }
    return rc < 0 ? rc : HEALER_OK;
}

/* ---- execute ----------------------------------------------------------------------------- */

typedef struct cpu_tally {
    int done, dry, failed, gone;
    char msg[HEALER_MSG_MAX];
    size_t off;
} cpu_tally;

static void cpu_tally_note(cpu_tally *t, const char *fmt, const char *what)
{
    if (t->off + 2 >= sizeof t->msg)
        return;
    int w = snprintf(t->msg + t->off, sizeof t->msg - t->off, fmt, t->off ? "; " : "", what);
    if (w > 0)
        t->off += (size_t)w;
    if (t->off >= sizeof t->msg)
        t->off = sizeof t->msg - 1;
}

/* One actuator call's rc into the tally, with the host's words for it. */
static void cpu_tally_rc(cpu_plugin *c, cpu_tally *t, int rc)
{
    const char *m = c->host->last_message(c->ctx);
    if (rc == HEALER_DRY_RUN)
        t->dry++;
    else if (rc == HEALER_E_GONE)
        t->gone++;
    else if (rc < 0)
        t->failed++;
    else
        t->done++;
    cpu_tally_note(t, "%s%s", m);
}

static void cpu_tally_result(const cpu_tally *t, healer_result *r, const char *what)
{
    if (t->done)
        r->outcome = HEALER_OUTCOME_DONE;
    else if (t->dry)
        r->outcome = HEALER_OUTCOME_DRY_RUN;
    else if (t->failed)
        r->outcome = HEALER_OUTCOME_FAILED;
    else
        r->outcome = HEALER_OUTCOME_SKIPPED;
    if (t->off)
        snprintf(r->message, sizeof r->message, "%s", t->msg);
    else
        snprintf(r->message, sizeof r->message, "%s: nothing to do (the processes are gone)",
                 what);
    r->measurements[0] = (healer_measurement){"acted", (double)t->done};
    r->measurements[1] = (healer_measurement){"would_act", (double)t->dry};
    r->measurements[2] = (healer_measurement){"failed", (double)t->failed};
    r->measurements[3] = (healer_measurement){"gone", (double)t->gone};
    r->n_measurements = 4;
}

static void cpu_exec_renice(cpu_plugin *c, const healer_issue *issue, const healer_action *a,
                            cpu_tally *t)
{
    const healer_host *h = c->host;
    pid_t pids[CPU_PIDS_MAX];
    uint64_t starts[CPU_PIDS_MAX];
    size_t n = cpu_parse_pids(cpu_param(a, "pids"), pids, starts, CPU_PIDS_MAX);
    const char *nv = cpu_param(a, "nice");
    int nice = nv ? atoi(nv) : c->renice_nice;
    for (size_t i = 0; i < n; i++) {
        healer_proc hp;
        if (h->proc_read(c->ctx, pids[i], &hp) != HEALER_OK || hp.start_time != starts[i]) {
            t->gone++;
            continue;
        }
        if (hp.nice >= nice)
            continue;   /* already as nice (or nicer): nothing to do or undo */
        int rc = h->act_renice(c->ctx, pids[i], starts[i], nice);
        cpu_tally_rc(c, t, rc);
        if (rc == HEALER_OK) {
            cpu_change x = {.issue_id = issue->id, .kind = CPU_CH_RENICE, .pid = pids[i],
                            .start_time = starts[i], .old_nice = hp.nice, .new_nice = nice};
            cpu_record(c, &x);
        }
    }
}

static void cpu_exec_signal(cpu_plugin *c, const healer_issue *issue, const healer_action *a,
                            int sig, double grace, cpu_tally *t)
{
    const healer_host *h = c->host;
    pid_t pids[CPU_PIDS_MAX];
    uint64_t starts[CPU_PIDS_MAX];
    size_t n = cpu_parse_pids(cpu_param(a, "pids"), pids, starts, CPU_PIDS_MAX);
    for (size_t i = 0; i < n; i++) {
        int rc = h->act_signal(c->ctx, pids[i], starts[i], sig, grace);
        cpu_tally_rc(c, t, rc);
        if (rc == HEALER_OK && sig == SIGSTOP) {
            cpu_change x = {.issue_id = issue->id, .kind = CPU_CH_STOP, .pid = pids[i],
                            .start_time = starts[i]};
            cpu_record(c, &x);
        }
    }
}

typedef struct cpu_gov_ctx {
    const healer_issue *issue;
    cpu_tally *t;
} cpu_gov_ctx;

static void cpu_governor_set(cpu_plugin *c, const char *dir, const char *cur, const char *want,
                             void *ud)
{
    cpu_gov_ctx *g = ud;
    char path[1024];
    int w = snprintf(path, sizeof path, "%s/scaling_governor", dir);
    if (w < 0 || (size_t)w >= sizeof path)
        return;
    int rc = c->host->act_write_file(c->ctx, path, want);
    cpu_tally_rc(c, g->t, rc);
    if (rc == HEALER_OK) {
        cpu_change x = {.issue_id = g->issue->id, .kind = CPU_CH_GOVERNOR};
        snprintf(x.path, sizeof x.path, "%s", path);
        snprintf(x.old_value, sizeof x.old_value, "%s", cur);
        cpu_record(c, &x);
    }
}

static int cpu_execute(void *state, const healer_issue *issue, const healer_action *action,
                       healer_result *result)
{
    cpu_plugin *c = state;
    cpu_tally t;
    memset(&t, 0, sizeof t);
    const char *nm = action->name;
    if (strcmp(nm, "renice") == 0) {
        cpu_exec_renice(c, issue, action, &t);
    } else if (strcmp(nm, "stop_processes") == 0) {
        const char *g = cpu_param(action, "grace_seconds");
        double grace = g ? strtod(g, NULL) : c->grace_seconds;
        cpu_exec_signal(c, issue, action, SIGTERM, grace > 0 ? grace : 0, &t);
    } else if (strcmp(nm, "cpufreq_governor") == 0) {
        cpu_gov_ctx g = {issue, &t};
        cpu_governors(c, cpu_governor_set, &g);
    } else if (strcmp(nm, "emergency_stop") == 0) {
        cpu_exec_signal(c, issue, action, SIGSTOP, 0, &t);
    } else if (strcmp(nm, "emergency_kill") == 0) {
        cpu_exec_signal(c, issue, action, SIGKILL, 0, &t);
    } else {
        result->outcome = HEALER_OUTCOME_FAILED;
        snprintf(result->message, sizeof result->message, "unknown action %s", nm);
        return HEALER_E_INVAL;
    }
    cpu_tally_result(&t, result, nm);
    if (result->outcome == HEALER_OUTCOME_DONE) {
        /* measure from now over settle_seconds, by the host's timer: no sleeping here */
        c->vbase_set = c->stat_fd >= 0 && cpu_stat_read(c->stat_fd, &c->vbase) == 0;
        result->verify_after_s = c->settle_seconds > 0 ? c->settle_seconds : 0.1;
    }
    return HEALER_OK;
}

/* ---- verify ------------------------------------------------------------------------------ */

static int cpu_verify(void *state, const healer_issue *issue, const healer_action *action,
                      healer_verdict *verdict)
{
    cpu_plugin *c = state;
    (void)issue;
    if (c->host->dry_run(c->ctx)) {
        /* Nothing changed: waiting would only delay the next planned step's report. */
        verdict->healed = 0;
        snprintf(verdict->message, sizeof verdict->message, "dry-run: %s changed nothing",
                 action->name);
        return HEALER_OK;
    }
    cpu_stat a, b;
    if (!c->vbase_set) {
        /* no sample from the action's end (another plugin's action, a restart): take one now
         * and be asked again after the settle time */
        if (c->stat_fd < 0 || cpu_stat_read(c->stat_fd, &c->vbase) < 0) {
            snprintf(verdict->message, sizeof verdict->message, "cannot read /proc/stat");
            return HEALER_E_IO;
        }
        c->vbase_set = 1;
        verdict->recheck_after_s = c->settle_seconds > 0 ? c->settle_seconds : 0.1;
        return HEALER_OK;
    }
    a = c->vbase;
    c->vbase_set = 0;
    if (cpu_stat_read(c->stat_fd, &b) < 0 || b.total <= a.total || b.busy < a.busy) {
        snprintf(verdict->message, sizeof verdict->message, "cannot measure /proc/stat");
        return HEALER_E_IO;
    }
    double util = 100.0 * (double)(b.busy - a.busy) / (double)(b.total - a.total);
    verdict->healed = util < c->high_percent;
    verdict->measurements[0] = (healer_measurement){"cpu_percent", util};
    verdict->measurements[1] = (healer_measurement){"high_percent", c->high_percent};
    verdict->n_measurements = 2;
    snprintf(verdict->message, sizeof verdict->message,
             "CPU at %.0f%% over %g s after %s (threshold %g%%): %s", util, c->settle_seconds,
             action->name, c->high_percent, verdict->healed ? "healed" : "still high");
    return HEALER_OK;
}

/* ---- restore ----------------------------------------------------------------------------- */

static int cpu_restore(void *state, const healer_issue *issue)
{
    cpu_plugin *c = state;
    const healer_host *h = c->host;
    size_t kept = 0, undone = 0, skipped = 0;
    /* Newest first: the reverse of the order the changes were made in. */
    for (size_t k = c->nch; k-- > 0;) {
        cpu_change *x = &c->ch[k];
        if (x->issue_id != issue->id)
            continue;
        if (!c->restore) {
            skipped++;
        } else if (x->kind == CPU_CH_RENICE) {
            healer_proc hp;
            if (h->proc_read(c->ctx, x->pid, &hp) != HEALER_OK || hp.start_time != x->start_time) {
                skipped++;   /* gone: nothing to give back */
            } else if (hp.nice != x->new_nice) {
                skipped++;   /* someone else changed it since: theirs wins */
                h->log(c->ctx, HEALER_LOG_INFO, "pid %d (%s): nice is %d, not the %d we set: "
                       "left as is", (int)x->pid, hp.name, hp.nice, x->new_nice);
            } else {
                int rc = h->act_renice(c->ctx, x->pid, x->start_time, x->old_nice);
                h->log(c->ctx, rc < 0 ? HEALER_LOG_WARN : HEALER_LOG_INFO, "restore nice %d: %s",
                       x->old_nice, h->last_message(c->ctx));
                rc < 0 ? skipped++ : undone++;
            }
        } else if (x->kind == CPU_CH_STOP) {
            int rc = h->act_signal(c->ctx, x->pid, x->start_time, SIGCONT, 0);
            h->log(c->ctx, rc < 0 ? HEALER_LOG_WARN : HEALER_LOG_INFO, "restore: %s",
                   h->last_message(c->ctx));
            rc < 0 ? skipped++ : undone++;
        } else if (x->kind == CPU_CH_GOVERNOR) {
            int rc = h->act_write_file(c->ctx, x->path, x->old_value);
            h->log(c->ctx, rc < 0 ? HEALER_LOG_WARN : HEALER_LOG_INFO, "restore governor %s: %s",
                   x->old_value, h->last_message(c->ctx));
            rc < 0 ? skipped++ : undone++;
        }
        x->kind = 0;   /* handled */
    }
    for (size_t k = 0; k < c->nch; k++)
        if (c->ch[k].kind)
            c->ch[kept++] = c->ch[k];
    c->nch = kept;
    if (undone || skipped)
        h->log(c->ctx, HEALER_LOG_INFO, "issue #%llu cleared: %zu change(s) undone, %zu "
               "skipped%s", (unsigned long long)issue->id, undone, skipped,
               c->restore ? "" : " (restore = false)");
    return HEALER_OK;
}

static const healer_plugin cpu_descriptor = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "cpu",
    .version = "1.0.0",
    .description = "whole-system CPU utilization: renice, stop hogs, cpufreq governor, "
                   "emergency stop",
    .issue_types = cpu_issue_types,
    .config = cpu_config,
    .interval = 0,
    .init = cpu_init,
    .destroy = cpu_destroy,
    .detect = cpu_detect,
    .plan = cpu_plan,
    .execute = cpu_execute,
    .verify = cpu_verify,
    .restore = cpu_restore,
};

HEALER_PLUGIN(cpu_descriptor)
