/* memory.c — the memory healer: detects memory_high (system and per-cgroup limits, leaks by
 * least-squares growth), memory_pressure (PSI trigger, avg10 polling as the fallback) and
 * swap_missing, and heals them through the host's actuators along an escalation ladder. */
#include <healer/healer.h>

#include "memory.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <math.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Messages and paths are cut at their buffers' sizes on purpose (HEALER_MSG_MAX). */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MEMORY_HIGH "memory_high"
#define MEMORY_PRESSURE "memory_pressure"
#define MEMORY_SWAP "swap_missing"

#define MEMORY_MAX_CGROUPS 32
#define MEMORY_MAX_SWAPS 16
#define MEMORY_MAX_REGEX 32
#define MEMORY_LEAK_SAMPLES 256
#define MEMORY_MAX_TRIED 64
#define MEMORY_PROC_SUPER_MAGIC 0x9fa0
#define MEMORY_CAP_SYS_RESOURCE 24

/* One configured cgroup. */
typedef struct memory_cg {
    char conf[HEALER_TARGET_MAX];     /* as written in the config */
    char dir[HEALER_TARGET_MAX];      /* its directory under sys_root/fs/cgroup: the target */
    int v2;                           /* memory.current (v2) or memory.usage_in_bytes (v1) */
    int present;                      /* the directory was readable at the last scan */
    uint64_t usage, limit;            /* limit 0 = none */
    /* Leak detection: a ring of (time, usage) samples over leak_window_s. */
    double t[MEMORY_LEAK_SAMPLES], y[MEMORY_LEAK_SAMPLES];
    size_t n, head;
    double slope, r2;
    int leaking;
    int open_high;                    /* memory_high published and not resolved */
    /* v1 usage thresholds (cgroup.event_control): an eventfd the kernel signals when usage
     * crosses one of our thresholds, so the cgroup is watched without polling. */
    int efd, ufd;
    uint64_t ev_limit;
} memory_cg;

/* A measured level: the whole system, MemAvailable of MemTotal; or a cgroup, limit - usage of limit. */
typedef struct memory_level {
    uint64_t total, avail;
    double used_pct, avail_pct;
    int has_limit;                    /* cgroup without limit: only usage is known */
} memory_level;

typedef struct memory_cand {
    pid_t pid;
    uint64_t start_time;
    char name[16];
    long score;
    uint64_t rss;
} memory_cand;

typedef struct memory {
    const healer_host *h;
    healer_ctx *ctx;
    /* thresholds (percent) */
    double high, critical, kill_pct, emerg_term, emerg_kill, pressure_pct;
    int watch_system, drop_caches, sync_first, restart_leaking, kill_system, emergency;
    int psi_enabled, cg_events;
    double sync_timeout, kill_grace, emerg_grace, kill_settle, verify_settle;
    double leak_window, leak_min_rate, leak_min_r2, restart_timeout;
    long long leak_min_samples, max_kills, swapfile_mb;
    const char *service_plugin;
    regex_t prefer[MEMORY_MAX_REGEX], avoid[MEMORY_MAX_REGEX];
    size_t n_prefer, n_avoid;
    char swapfile[PATH_MAX];
    char swaps[MEMORY_MAX_SWAPS][PATH_MAX];
    int swap_open[MEMORY_MAX_SWAPS];
    size_t n_swaps;
    memory_cg cg[MEMORY_MAX_CGROUPS];
    size_t n_cg;
    /* PSI trigger */
    int psi_fd;
    unsigned psi_window_us, psi_stall_us;
    int psi_cap;
    uint64_t psi_events;
    double psi_last_event;
    int open_sys, open_pressure;
    int watched;                      /* fds watched (at most 16 per plugin) */
} memory;

static const char *const memory_issue_types[] = {MEMORY_HIGH, MEMORY_PRESSURE, MEMORY_SWAP, NULL};

static const healer_config_key memory_config[] = {
    {"high_percent", HEALER_CFG_DOUBLE, "80", 1, 100,
     "memory_high when used (1 - available/total) is at least this"},
    {"critical_percent", HEALER_CFG_DOUBLE, "90", 1, 100, "memory_high is critical from here"},
    {"kill_percent", HEALER_CFG_DOUBLE, "90", 1, 100,
     "kill_low_priority is planned only from this used share"},
    {"emergency_available_percent", HEALER_CFG_DOUBLE, "10", 0, 100,
     "emergency: SIGTERM the top-badness process at or below this available share"},
    {"emergency_kill_percent", HEALER_CFG_DOUBLE, "5", 0, 100,
     "emergency: SIGKILL at or below this available share"},
    {"emergency", HEALER_CFG_BOOL, "true", 0, 0, "enable the emergency OOM prevention path"},
    {"watch_system", HEALER_CFG_BOOL, "true", 0, 0,
     "watch the whole system: meminfo and PSI; false = only the listed cgroups"},
    {"cgroups", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "cgroup directories to watch, relative to sys_root/fs/cgroup (memory/x, unified/y.service)"},
    {"cgroup_events", HEALER_CFG_BOOL, "true", 0, 0,
     "v1 cgroups: usage threshold events through cgroup.event_control"},
    {"psi_trigger", HEALER_CFG_BOOL, "true", 0, 0, "use a PSI trigger on pressure/memory"},
    {"psi_window_ms", HEALER_CFG_INT, "0", 0, 10000,
     "PSI trigger window; 0 = 500 with CAP_SYS_RESOURCE, else 2000 (a multiple of 2 s)"},
    {"psi_stall_ms", HEALER_CFG_INT, "0", 0, 10000, "PSI trigger stall; 0 = 10% of the window"},
    {"pressure_percent", HEALER_CFG_DOUBLE, "10", 0, 100,
     "memory_pressure when PSI some avg10 is at least this (polling fallback)"},
    {"leak_window_s", HEALER_CFG_DOUBLE, "300", 1, 86400, "leak detection window"},
    {"leak_min_samples", HEALER_CFG_INT, "10", 3, MEMORY_LEAK_SAMPLES,
     "samples needed in the window before a leak is judged"},
    {"leak_min_bytes_per_s", HEALER_CFG_DOUBLE, "16384", 0, 1e12,
     "least-squares growth rate that counts as a leak"},
    {"leak_min_r2", HEALER_CFG_DOUBLE, "0.9", 0, 1, "R^2 of the fit that counts as steady"},
    {"drop_caches", HEALER_CFG_BOOL, "true", 0, 0, "plan drop_caches (step 0)"},
    {"sync_first", HEALER_CFG_BOOL, "true", 0, 0, "run sync before drop_caches"},
    {"sync_timeout_s", HEALER_CFG_DOUBLE, "30", 0.1, 3600, "timeout of sync"},
    {"restart_leaking", HEALER_CFG_BOOL, "true", 0, 0,
     "plan restart_service (step 1) for a leaking cgroup"},
    {"service_plugin", HEALER_CFG_STRING, "service", 0, 0, "plugin asked to restart a unit"},
    {"restart_timeout_s", HEALER_CFG_DOUBLE, "60", 0.1, 3600, "timeout of the restart request"},
    {"prefer", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "POSIX extended regexes on the process name: +300 badness (as earlyoom --prefer)"},
    {"avoid", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "POSIX extended regexes on the process name: -300 badness (as earlyoom --avoid)"},
    {"kill_system", HEALER_CFG_BOOL, "false", 0, 0,
     "kills may pick processes with uid < protect.min_uid (flag SYSTEM)"},
    {"kill_grace_s", HEALER_CFG_DOUBLE, "5", 0, 3600,
     "kill_low_priority: SIGTERM, then SIGKILL after this grace"},
    {"emergency_grace_s", HEALER_CFG_DOUBLE, "1", 0, 60,
     "emergency_kill: SIGKILL a SIGTERMed victim still alive after this"},
    {"kill_settle_s", HEALER_CFG_DOUBLE, "0.3", 0, 60, "wait before re-measuring after a kill"},
    {"max_kills", HEALER_CFG_INT, "5", 1, 1000, "at most this many victims per action"},
    {"verify_settle_s", HEALER_CFG_DOUBLE, "1", 0, 600, "wait before verify re-measures"},
    {"swap", HEALER_CFG_STRING_LIST, NULL, 0, 0, "swap devices or files that should be active"},
    {"create_swapfile", HEALER_CFG_STRING, NULL, 0, 0,
     "absolute path of a swap file to create when missing (needs confirmation: ROOTFS)"},
    {"create_swapfile_mb", HEALER_CFG_INT, "1024", 1, 1048576, "size of that swap file"},
    {NULL, 0, NULL, 0, 0, NULL}
};

/* ---- small helpers ------------------------------------------------------------------------- */

static void memory_sleep(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static double memory_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long memory_read_proc(memory *s, const char *rel, char *buf, size_t len)
{
    char p[PATH_MAX];
    if (!s->h->proc_path(s->ctx, rel, p, sizeof p))
        return -1;
    return memory_read_file(p, buf, len);
}

/* Effective CAP_SYS_RESOURCE decides the PSI trigger window rule (kernel psi.c: without it
 * the window must be a multiple of 2 s). capget, not /proc/self: proc_root may be a fixture. */
static int memory_has_cap_sys_resource(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0)
        return 0;
    return (data[0].effective >> MEMORY_CAP_SYS_RESOURCE) & 1u;
}

static const char *memory_target_of(const memory_cg *c)
{
    return c ? c->dir : "";
}

static memory_cg *memory_find_cg(memory *s, const char *target)
{
    if (!target || !*target)
        return NULL;
    for (size_t i = 0; i < s->n_cg; i++)
        if (strcmp(s->cg[i].dir, target) == 0)
            return &s->cg[i];
    return NULL;
}

/* ---- measuring ------------------------------------------------------------------------------ */

static int memory_measure_system(memory *s, memory_level *lv, memory_meminfo *mi_out)
{
    char buf[8192];
    memory_meminfo mi;
    memset(lv, 0, sizeof *lv);
    if (memory_read_proc(s, "meminfo", buf, sizeof buf) <= 0 || memory_parse_meminfo(buf, &mi) < 0) {
        s->h->log(s->ctx, HEALER_LOG_DEBUG, "meminfo unreadable or malformed");
        return -1;
    }
    lv->total = mi.total;
    lv->avail = mi.available;
    lv->has_limit = 1;
    lv->avail_pct = 100.0 * (double)mi.available / (double)mi.total;
    lv->used_pct = 100.0 - lv->avail_pct;
    if (mi_out)
        *mi_out = mi;
    return 0;
}

static int memory_read_u64_at(const char *dir, const char *name, uint64_t *v, int limit)
{
    char p[PATH_MAX + 64], buf[64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (memory_read_file(p, buf, sizeof buf) <= 0)
        return -1;
    if (limit)
        return memory_parse_limit(buf, v);
    char *end;
    errno = 0;
    unsigned long long x = strtoull(buf, &end, 10);
    if (end == buf || errno)
        return -1;
    *v = x;
    return 0;
}

/* Usage and limit of a cgroup. -1 when it cannot be read (gone, not a memory cgroup). */
static int memory_measure_cg(memory *s, memory_cg *c, memory_level *lv)
{
    memset(lv, 0, sizeof *lv);
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/memory.current", c->dir);
    c->v2 = access(p, F_OK) == 0;
    uint64_t usage, limit;
    if (memory_read_u64_at(c->dir, c->v2 ? "memory.current" : "memory.usage_in_bytes", &usage, 0) < 0 ||
        memory_read_u64_at(c->dir, c->v2 ? "memory.max" : "memory.limit_in_bytes", &limit, 1) < 0) {
        if (c->present)
            s->h->log(s->ctx, HEALER_LOG_INFO, "cgroup %s: memory files unreadable (%s); not "
                      "watched until they are", c->dir, strerror(errno));
        c->present = 0;
        return -1;
    }
    if (!c->present)
        s->h->log(s->ctx, HEALER_LOG_INFO, "cgroup %s (%s): usage %llu, limit %s", c->dir,
                  c->v2 ? "v2" : "v1", (unsigned long long)usage, limit ? "set" : "none");
    c->present = 1;
    c->usage = usage;
    c->limit = limit;
    lv->total = limit;
    if (limit) {
        lv->has_limit = 1;
        lv->avail = usage >= limit ? 0 : limit - usage;
        lv->avail_pct = 100.0 * (double)lv->avail / (double)limit;
        lv->used_pct = 100.0 - lv->avail_pct;
    }
    return 0;
}

/* Measures the target of an issue: "" = the system, else a configured cgroup. */
static int memory_measure_target(memory *s, const char *target, memory_level *lv)
{
    memory_cg *c = memory_find_cg(s, target);
    if (c)
        return memory_measure_cg(s, c, lv);
    if (target && *target) {
        memset(lv, 0, sizeof *lv);
        return -1;
    }
    return memory_measure_system(s, lv, NULL);
}

static void memory_leak_sample(memory *s, memory_cg *c, double now)
{
    /* Keep at most MEMORY_LEAK_SAMPLES over the window: skip samples closer than window/N. */
    double spacing = s->leak_window / MEMORY_LEAK_SAMPLES;
    if (c->n) {
        size_t last = (c->head + MEMORY_LEAK_SAMPLES - 1) % MEMORY_LEAK_SAMPLES;
        if (now - c->t[last] < spacing)
            return;
    }
    c->t[c->head] = now;
    c->y[c->head] = (double)c->usage;
    c->head = (c->head + 1) % MEMORY_LEAK_SAMPLES;
    if (c->n < MEMORY_LEAK_SAMPLES)
        c->n++;
    /* The samples inside the window, oldest first. */
    double t[MEMORY_LEAK_SAMPLES], y[MEMORY_LEAK_SAMPLES];
    size_t k = 0;
    size_t start = (c->head + MEMORY_LEAK_SAMPLES - c->n) % MEMORY_LEAK_SAMPLES;
    for (size_t i = 0; i < c->n; i++) {
        size_t j = (start + i) % MEMORY_LEAK_SAMPLES;
        if (now - c->t[j] <= s->leak_window) {
            t[k] = c->t[j];
            y[k] = c->y[j];
            k++;
        }
    }
    c->leaking = 0;
    c->slope = c->r2 = 0;
    if (k < 2)
        return;
    memory_fit(t, y, k, &c->slope, &c->r2);
    /* Steady growth over (most of) the window: enough samples spanning 80 % of it. */
    double span = t[k - 1] - t[0];
    c->leaking = k >= (size_t)s->leak_min_samples && span >= 0.8 * s->leak_window &&
                 c->slope >= s->leak_min_rate && c->slope > 0 && c->r2 >= s->leak_min_r2;
}

static void memory_leak_reset(memory_cg *c)
{
    c->n = c->head = 0;
    c->leaking = 0;
    c->slope = c->r2 = 0;
}

/* ---- publishing ------------------------------------------------------------------------------ */

static double memory_health(memory *s, const memory_level *lv)
{
    if (!lv->has_limit || lv->used_pct < s->high)
        return 100.0;
    double h = 100.0 * (100.0 - lv->used_pct) / (100.0 - s->high + 1e-9);
    return h < 0 ? 0 : h;
}

static int memory_is_emergency(memory *s, const memory_level *lv)
{
    return s->emergency && lv->has_limit && lv->avail_pct <= s->emerg_term;
}

/* Publishes or resolves memory_high for the whole system when c is NULL, else for a cgroup. */
static void memory_judge(memory *s, memory_cg *c, const memory_level *lv, double psi_some)
{
    const healer_host *h = s->h;
    const char *target = memory_target_of(c);
    int leaking = c && c->leaking;
    int high = lv->has_limit && lv->used_pct >= s->high;
    int emerg = memory_is_emergency(s, lv);
    int *open = c ? &c->open_high : &s->open_sys;

    h->report_health(s->ctx, c ? c->dir : "memory", memory_health(s, lv));
    if (lv->has_limit) {
        healer_kv label = {"target", c ? c->dir : "system"};
        h->metric(s->ctx, HEALER_METRIC_GAUGE, "memory_used_percent",
                  "Used memory share watched by the memory plugin (system or cgroup limit)",
                  &label, 1, lv->used_pct);
    }
    if (!high && !emerg && !leaking) {
        if (*open && h->resolve_issue(s->ctx, MEMORY_HIGH, target) == HEALER_OK)
            *open = 0;
        return;
    }
    healer_severity sev = HEALER_SEV_MEDIUM;
    if (high)
        sev = HEALER_SEV_HIGH;
    if (emerg || (lv->has_limit && lv->used_pct >= s->critical))
        sev = HEALER_SEV_CRITICAL;
    char summary[HEALER_MSG_MAX];
    const char *what = c ? c->dir : "system";
    if (emerg)
        snprintf(summary, sizeof summary, "%s: only %.1f%% memory available (emergency at "
                 "%.3g%%)", what, lv->avail_pct, s->emerg_term);
    else if (high)
        snprintf(summary, sizeof summary, "%s: memory %.1f%% used (%.3g%% threshold)%s", what,
                 lv->used_pct, s->high, leaking ? ", growing steadily" : "");
    else
        snprintf(summary, sizeof summary, "%s: memory grows steadily at %.0f bytes/s (R^2 %.2f): "
                 "a leak?", what, c->slope, c->r2);
    healer_measurement ms[10];
    size_t n = 0;
    ms[n++] = (healer_measurement){"memory_used_percent", lv->used_pct};
    ms[n++] = (healer_measurement){"memory_available_percent", lv->avail_pct};
    ms[n++] = (healer_measurement){"memory_available_bytes", (double)lv->avail};
    ms[n++] = (healer_measurement){"memory_total_bytes", (double)lv->total};
    ms[n++] = (healer_measurement){"emergency", emerg ? 1.0 : 0.0};
    if (c) {
        ms[n++] = (healer_measurement){"cgroup_usage_bytes", (double)c->usage};
        ms[n++] = (healer_measurement){"leak_bytes_per_second", c->slope};
        ms[n++] = (healer_measurement){"leak_r2", c->r2};
        ms[n++] = (healer_measurement){"leaking", leaking ? 1.0 : 0.0};
    }
    if (psi_some >= 0)
        ms[n++] = (healer_measurement){"psi_some_avg10_percent", psi_some};
    char unit[HEALER_TARGET_MAX];
    const char *comps[1];
    size_t nc = 0;
    if (c) {
        memory_unit_of(c->dir, unit, sizeof unit);
        comps[nc++] = unit;
    }
    healer_issue is = {
        .type = MEMORY_HIGH, .severity = sev, .target = target, .summary = summary,
        .measurements = ms, .n_measurements = n, .components = comps, .n_components = nc,
    };
    int rc = h->publish_issue(s->ctx, &is);
    if (rc < 0)
        h->log(s->ctx, HEALER_LOG_WARN, "publish memory_high for %s: %s", what, healer_rc_str(rc));
    else
        *open = 1;
}

/* v1 cgroups: ask the kernel to signal an eventfd when usage crosses our thresholds. */
static void memory_on_cg_event(void *state, int fd, short revents);
static void memory_scan(memory *s, int from_event);

static void memory_cg_events(memory *s, memory_cg *c)
{
    if (!s->cg_events || c->v2 || !c->limit || c->ev_limit == c->limit)
        return;
    const healer_host *h = s->h;
    if (c->efd >= 0) {
        h->unwatch_fd(s->ctx, c->efd);
        close(c->efd);
        s->watched--;
        c->efd = -1;
    }
    if (c->ufd >= 0) {
        close(c->ufd);
        c->ufd = -1;
    }
    c->ev_limit = c->limit;   /* tried for this limit, whatever happens below */
    if (s->watched >= 16)
        return;
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/cgroup.event_control", c->dir);
    int ctl = open(p, O_WRONLY | O_CLOEXEC);
    snprintf(p, sizeof p, "%s/memory.usage_in_bytes", c->dir);
    c->ufd = open(p, O_RDONLY | O_CLOEXEC);
    c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ctl < 0 || c->ufd < 0 || c->efd < 0) {
        h->log(s->ctx, HEALER_LOG_DEBUG, "cgroup %s: no usage events (%s): polling", c->dir,
               strerror(errno));
        goto fail;
    }
    double thr[4] = {s->high, s->kill_pct, 100.0 - s->emerg_term, 100.0 - s->emerg_kill};
    for (int i = 0; i < 4; i++) {
        if (thr[i] <= 0 || thr[i] >= 100)
            continue;
        char line[96];
        int n = snprintf(line, sizeof line, "%d %d %llu", c->efd, c->ufd,
                         (unsigned long long)((double)c->limit * thr[i] / 100.0));
        if (write(ctl, line, (size_t)n) != n) {
            h->log(s->ctx, HEALER_LOG_DEBUG, "cgroup %s: event_control: %s: polling", c->dir,
                   strerror(errno));
            goto fail;
        }
    }
    close(ctl);
    if (h->watch_fd(s->ctx, c->efd, POLLIN, memory_on_cg_event) != HEALER_OK)
        goto fail_closed;
    s->watched++;
    h->log(s->ctx, HEALER_LOG_INFO, "cgroup %s: usage threshold events registered", c->dir);
    return;
fail:
    if (ctl >= 0)
        close(ctl);
fail_closed:
    if (c->efd >= 0)
        close(c->efd);
    if (c->ufd >= 0)
        close(c->ufd);
    c->efd = c->ufd = -1;
}

static void memory_judge_pressure(memory *s, const memory_psi *psi, int have_psi,
                                  const memory_level *sys)
{
    const healer_host *h = s->h;
    double now = h->now(s->ctx);
    int recent = s->psi_fd >= 0 && s->psi_events &&
                 now - s->psi_last_event < 2.0 * s->psi_window_us / 1e6;
    int polled = have_psi && psi->some_avg10 >= s->pressure_pct && s->pressure_pct > 0;
    if (have_psi) {
        h->metric(s->ctx, HEALER_METRIC_GAUGE, "memory_psi_some_avg10_percent",
                  "PSI memory some avg10", NULL, 0, psi->some_avg10);
    }
    if (!recent && !polled) {
        if (s->open_pressure && h->resolve_issue(s->ctx, MEMORY_PRESSURE, "") == HEALER_OK)
            s->open_pressure = 0;
        return;
    }
    char summary[HEALER_MSG_MAX];
    snprintf(summary, sizeof summary, "memory pressure: some avg10 %.2f%%, full avg10 %.2f%%%s",
             have_psi ? psi->some_avg10 : 0, have_psi ? psi->full_avg10 : 0,
             recent ? " (PSI trigger fired)" : "");
    healer_measurement ms[] = {
        {"psi_some_avg10_percent", have_psi ? psi->some_avg10 : 0},
        {"psi_full_avg10_percent", have_psi ? psi->full_avg10 : 0},
        {"psi_trigger_events", (double)s->psi_events},
        {"memory_used_percent", sys ? sys->used_pct : 0},
    };
    healer_issue is = {
        .type = MEMORY_PRESSURE,
        .severity = have_psi && psi->full_avg10 >= s->pressure_pct ? HEALER_SEV_CRITICAL
                                                                   : HEALER_SEV_HIGH,
        .target = "", .summary = summary, .measurements = ms, .n_measurements = sys ? 4 : 3,
    };
    if (h->publish_issue(s->ctx, &is) == HEALER_OK)
        s->open_pressure = 1;
}

static void memory_judge_swap(memory *s)
{
    if (!s->n_swaps)
        return;
    const healer_host *h = s->h;
    char buf[16384];
    if (memory_read_proc(s, "swaps", buf, sizeof buf) < 0) {
        h->log(s->ctx, HEALER_LOG_DEBUG, "swaps unreadable: %s", strerror(errno));
        return;
    }
    for (size_t i = 0; i < s->n_swaps; i++) {
        char real[PATH_MAX];
        const char *r = realpath(s->swaps[i], real) ? real : NULL;
        if (memory_swap_active(buf, s->swaps[i], r)) {
            if (s->swap_open[i] && h->resolve_issue(s->ctx, MEMORY_SWAP, s->swaps[i]) == HEALER_OK)
                s->swap_open[i] = 0;
            continue;
        }
        struct stat st;
        int exists = stat(s->swaps[i], &st) == 0;
        char summary[HEALER_MSG_MAX];
        snprintf(summary, sizeof summary, "swap %s is not active%s", s->swaps[i],
                 exists ? "" : " (it does not exist)");
        healer_measurement ms[] = {{"swap_exists", exists ? 1.0 : 0.0}};
        healer_issue is = {
            .type = MEMORY_SWAP, .severity = HEALER_SEV_MEDIUM, .target = s->swaps[i],
            .summary = summary, .measurements = ms, .n_measurements = 1,
        };
        if (h->publish_issue(s->ctx, &is) == HEALER_OK)
            s->swap_open[i] = 1;
    }
}

/* One measurement of everything: from detect() (from_event 0) or at once from a PSI trigger or
 * cgroup usage event (1), so an emergency is on the bus without waiting for the interval. */
static void memory_scan(memory *s, int from_event)
{
    char buf[1024];
    memory_psi psi;
    int have_psi = memory_read_proc(s, "pressure/memory", buf, sizeof buf) > 0 &&
                   memory_parse_psi(buf, &psi) == 0;
    double now = s->h->now(s->ctx);
    memory_level sys;
    int have_sys = 0;
    if (s->watch_system) {
        have_sys = memory_measure_system(s, &sys, NULL) == 0;
        if (have_sys)
            memory_judge(s, NULL, &sys, have_psi ? psi.some_avg10 : -1);
        memory_judge_pressure(s, &psi, have_psi, have_sys ? &sys : NULL);
    }
    for (size_t i = 0; i < s->n_cg; i++) {
        memory_cg *c = &s->cg[i];
        memory_level lv;
        if (memory_measure_cg(s, c, &lv) < 0) {
            if (c->open_high && s->h->resolve_issue(s->ctx, MEMORY_HIGH, c->dir) == HEALER_OK)
                c->open_high = 0;
            memory_leak_reset(c);
            continue;
        }
        memory_cg_events(s, c);
        if (!from_event)
            memory_leak_sample(s, c, now);
        memory_judge(s, c, &lv, -1);
    }
    if (!from_event)
        memory_judge_swap(s);
}

static void memory_on_cg_event(void *state, int fd, short revents)
{
    memory *s = state;
    uint64_t v;
    (void)revents;
    if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
        s->h->log(s->ctx, HEALER_LOG_DEBUG, "cgroup event read: %s", strerror(errno));
    memory_scan(s, 1);
}

static void memory_on_psi(void *state, int fd, short revents)
{
    memory *s = state;
    if (revents & (POLLERR | POLLNVAL | POLLHUP)) {
        s->h->log(s->ctx, HEALER_LOG_WARN, "PSI trigger failed (revents 0x%x): polling avg10 "
                  "from now on", (unsigned)revents);
        s->h->unwatch_fd(s->ctx, fd);
        close(fd);
        s->psi_fd = -1;
        s->watched--;
        return;
    }
    if (revents & POLLPRI) {
        s->psi_events++;
        s->psi_last_event = s->h->now(s->ctx);
        s->h->metric(s->ctx, HEALER_METRIC_COUNTER, "memory_psi_trigger_events_total",
                     "PSI memory trigger events seen by the memory plugin", NULL, 0, 1);
        memory_scan(s, 1);
    }
}

static void memory_psi_setup(memory *s, long long window_ms, long long stall_ms)
{
    const healer_host *h = s->h;
    s->psi_cap = memory_has_cap_sys_resource();
    unsigned win = window_ms > 0 ? (unsigned)window_ms * 1000u : (s->psi_cap ? 500000u : 2000000u);
    if (win < 500000u)
        win = 500000u;
    if (!s->psi_cap && win % 2000000u) {
        unsigned up = (win / 2000000u + 1) * 2000000u;
        if (up > 10000000u)
            up = 10000000u;
        h->log(s->ctx, HEALER_LOG_INFO, "PSI window %u ms rounded up to %u ms: without "
               "CAP_SYS_RESOURCE the kernel wants a multiple of 2 s", win / 1000, up / 1000);
        win = up;
    }
    unsigned stall = stall_ms > 0 ? (unsigned)stall_ms * 1000u : win / 10;
    if (stall > win)
        stall = win;
    s->psi_window_us = win;
    s->psi_stall_us = stall;
    if (!s->psi_enabled)
        return;
    char p[PATH_MAX];
    if (!h->proc_path(s->ctx, "pressure/memory", p, sizeof p))
        return;
    int fd = open(p, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        h->log(s->ctx, HEALER_LOG_INFO, "no PSI trigger (%s: %s): polling avg10", p,
               strerror(errno));
        return;
    }
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0 || sf.f_type != MEMORY_PROC_SUPER_MAGIC) {
        /* A fixture file: a trigger write would only overwrite it. */
        h->log(s->ctx, HEALER_LOG_INFO, "no PSI trigger (%s is not procfs): polling avg10", p);
        close(fd);
        return;
    }
    char line[64];
    int n = snprintf(line, sizeof line, "some %u %u", stall, win);
    if (write(fd, line, (size_t)n + 1) < 0) {
        h->log(s->ctx, HEALER_LOG_INFO, "no PSI trigger ('%s' refused: %s): polling avg10",
               line, strerror(errno));
        close(fd);
        return;
    }
    if (h->watch_fd(s->ctx, fd, POLLPRI, memory_on_psi) != HEALER_OK) {
        h->log(s->ctx, HEALER_LOG_INFO, "no PSI trigger (watch_fd: %s): polling avg10",
               h->last_message(s->ctx));
        close(fd);
        return;
    }
    s->watched++;
    s->psi_fd = fd;
    h->log(s->ctx, HEALER_LOG_INFO, "PSI trigger 'some %u %u' on %s (CAP_SYS_RESOURCE %s)",
           stall, win, p, s->psi_cap ? "yes: sub-second windows allowed" : "no: 2 s multiples");
}

/* ---- candidates ------------------------------------------------------------------------------ */

static int memory_match(const regex_t *r, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (regexec(&r[i], name, 0, NULL, 0) == 0)
            return 1;
    return 0;
}

static int memory_tried(const pid_t *tried, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (tried[i] == pid)
            return 1;
    return 0;
}

static void memory_consider(memory *s, pid_t pid, const pid_t *tried, size_t ntried,
                            memory_cand *best, int *found)
{
    const healer_host *h = s->h;
    if (memory_tried(tried, ntried, pid))
        return;
    healer_proc p;
    if (h->proc_read(s->ctx, pid, &p) != HEALER_OK || p.kernel_thread || p.rss_bytes == 0)
        return;
    if (h->proc_allowed(s->ctx, &p, s->kill_system) != HEALER_OK)
        return;
    char rel[64], buf[64];
    snprintf(rel, sizeof rel, "%d/oom_score", (int)pid);
    long score;
    if (memory_read_proc(s, rel, buf, sizeof buf) > 0)
        score = strtol(buf, NULL, 10);
    else
        score = (long)(p.rss_bytes >> 20);   /* no oom_score: size in MiB orders them alike */
    if (memory_match(s->prefer, s->n_prefer, p.name))
        score += 300;
    if (memory_match(s->avoid, s->n_avoid, p.name))
        score -= 300;
    if (!*found || score > best->score || (score == best->score && p.rss_bytes > best->rss)) {
        best->pid = pid;
        best->start_time = p.start_time;
        best->score = score;
        best->rss = p.rss_bytes;
        snprintf(best->name, sizeof best->name, "%s", p.name);
        *found = 1;
    }
}

static void memory_walk_cg(memory *s, const char *dir, int depth, const pid_t *tried,
                           size_t ntried, memory_cand *best, int *found)
{
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/cgroup.procs", dir);
    FILE *f = fopen(p, "re");
    if (f) {
        long pid;
        while (fscanf(f, "%ld", &pid) == 1)
            if (pid > 0 && pid <= INT_MAX)
                memory_consider(s, (pid_t)pid, tried, ntried, best, found);
        fclose(f);
    }
    if (depth >= 8)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name) >= (int)sizeof sub)
            continue;
        memory_walk_cg(s, sub, depth + 1, tried, ntried, best, found);
    }
    closedir(d);
}

/* The process with the highest badness (oom_score, +300 prefer, -300 avoid) that the agent may
 * act on: in the cgroup when c is set, else anywhere. 0 when there is none. */
static int memory_pick(memory *s, memory_cg *c, const pid_t *tried, size_t ntried,
                       memory_cand *best)
{
    int found = 0;
    memset(best, 0, sizeof *best);
    if (c) {
        memory_walk_cg(s, c->dir, 0, tried, ntried, best, &found);
        return found;
    }
    char p[PATH_MAX];
    if (!s->h->proc_path(s->ctx, "", p, sizeof p))
        return 0;
    DIR *d = opendir(p);
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        long pid = strtol(de->d_name, NULL, 10);
        if (pid > 0 && pid <= INT_MAX)
            memory_consider(s, (pid_t)pid, tried, ntried, best, &found);
    }
    closedir(d);
    return found;
}

/* 1 while (pid, start_time) is alive and not a zombie. */
static int memory_alive(memory *s, pid_t pid, uint64_t start_time)
{
    char rel[64], buf[1024];
    snprintf(rel, sizeof rel, "%d/stat", (int)pid);
    if (memory_read_proc(s, rel, buf, sizeof buf) <= 0)
        return 0;
    const char *cp = strrchr(buf, ')');
    if (!cp || !cp[1] || !cp[2])
        return 0;
    char st = cp[2];
    if (st == 'Z' || st == 'X' || st == 'x')
        return 0;
    /* field 22 (starttime) is the 20th after the ')' */
    const char *q = cp + 2;
    for (int i = 0; i < 19 && q; i++) {
        q = strchr(q, ' ');
        if (q)
            q++;
    }
    return !q || strtoull(q, NULL, 10) == start_time;
}

/* ---- plan -------------------------------------------------------------------------------------- */

static void memory_add(memory *s, healer_plan *plan, const char *name, const char *target,
                       unsigned step, double impact, double conf, uint32_t flags,
                       const char *desc, const healer_kv *params, size_t np)
{
    healer_action a = {
        .name = name, .target = target, .description = desc, .step = step, .impact = impact,
        .confidence = conf, .flags = flags, .params = params, .n_params = np,
    };
    int rc = s->h->plan_add_action(plan, &a);
    if (rc < 0)
        s->h->log(s->ctx, HEALER_LOG_WARN, "plan %s: %s", name, healer_rc_str(rc));
}

static void memory_plan_memory(memory *s, const healer_issue *issue, healer_plan *plan,
                               memory_cg *c, int pressure)
{
    memory_level lv;
    if (memory_measure_target(s, memory_target_of(c), &lv) < 0) {
        /* Not measurable now: go by what the issue says. */
        double v;
        memset(&lv, 0, sizeof lv);
        for (size_t i = 0; i < issue->n_measurements; i++) {
            v = issue->measurements[i].value;
            if (strcmp(issue->measurements[i].name, "memory_used_percent") == 0)
                lv.used_pct = v, lv.has_limit = 1;
            else if (strcmp(issue->measurements[i].name, "memory_available_percent") == 0)
                lv.avail_pct = v;
        }
    }
    const char *where = c ? c->dir : "the system";
    healer_kv kp[] = {{"scope", memory_target_of(c)}};
    char desc[HEALER_MSG_MAX];
    uint32_t kflags = s->kill_system ? HEALER_ACTION_SYSTEM : 0u;
    if (memory_is_emergency(s, &lv)) {
        /* No time for gentle steps: sync and cache drops take seconds under pressure, and the
         * kernel's OOM killer would pick its own victim meanwhile. */
        snprintf(desc, sizeof desc, "emergency: %.1f%% available in %s: SIGTERM the top-badness "
                 "process (SIGKILL at %.3g%%), one at a time", lv.avail_pct, where, s->emerg_kill);
        memory_add(s, plan, "emergency_kill", NULL, 0, 0.9, 0.9, kflags, desc, kp, 1);
        return;
    }
    if (s->drop_caches && (pressure || lv.used_pct >= s->high)) {
        snprintf(desc, sizeof desc, "%sdrop the page cache, dentries and inodes "
                 "(drop_caches = 3)", s->sync_first ? "sync, then " : "");
        memory_add(s, plan, "drop_caches", NULL, 0, 0.1, 0.3, 0, desc, kp, 1);
    }
    if (c && c->leaking && s->restart_leaking) {
        char unit[HEALER_TARGET_MAX];
        memory_unit_of(c->dir, unit, sizeof unit);
        snprintf(desc, sizeof desc, "restart %s: %s grows at %.0f bytes/s (R^2 %.2f)", unit,
                 c->dir, c->slope, c->r2);
        healer_kv rp[] = {{"unit", unit}, {"scope", c->dir}};
        memory_add(s, plan, "restart_service", unit, 1, 0.5, 0.7, 0, desc, rp, 2);
    }
    if (lv.has_limit && lv.used_pct >= s->kill_pct) {
        snprintf(desc, sizeof desc, "kill the top-badness process in %s (SIGTERM, SIGKILL after "
                 "%.3g s), one at a time until under %.3g%% used", where, s->kill_grace, s->high);
        memory_add(s, plan, "kill_low_priority", NULL, 2, 0.8, 0.8, kflags, desc, kp, 1);
    }
}

static int memory_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    memory *s = state;
    const char *target = issue->target ? issue->target : "";
    if (strcmp(issue->type, MEMORY_HIGH) == 0) {
        memory_cg *c = memory_find_cg(s, target);
        if (*target && !c)
            return HEALER_OK;   /* a cgroup this plugin does not watch */
        memory_plan_memory(s, issue, plan, c, 0);
    } else if (strcmp(issue->type, MEMORY_PRESSURE) == 0) {
        if (*target)
            return HEALER_OK;
        memory_plan_memory(s, issue, plan, NULL, 1);
    } else if (strcmp(issue->type, MEMORY_SWAP) == 0) {
        if (!*target || target[0] != '/')
            return HEALER_OK;
        char desc[HEALER_MSG_MAX];
        healer_kv p[] = {{"path", target}};
        struct stat st;
        if (stat(target, &st) == 0) {
            snprintf(desc, sizeof desc, "swapon %s", target);
            memory_add(s, plan, "swapon", NULL, 0, 0.05, 0.8, 0, desc, p, 1);
        } else if (s->swapfile[0] && strcmp(target, s->swapfile) == 0) {
            snprintf(desc, sizeof desc, "create a %lld MiB swap file %s (fallocate, chmod 600, "
                     "mkswap) and swapon it", s->swapfile_mb, target);
            char mb[32];
            snprintf(mb, sizeof mb, "%lld", s->swapfile_mb);
            healer_kv cp[] = {{"path", target}, {"size_mb", mb}};
            memory_add(s, plan, "create_swapfile", NULL, 1, 0.2, 0.7, HEALER_ACTION_ROOTFS, desc,
                       cp, 2);
        }
    }
    return HEALER_OK;
}

/* ---- execute ----------------------------------------------------------------------------------- */

static const char *memory_param(const healer_action *a, const char *key)
{
    for (size_t i = 0; i < a->n_params; i++)
        if (a->params[i].key && strcmp(a->params[i].key, key) == 0)
            return a->params[i].value;
    return NULL;
}

static void memory_result_level(healer_result *r, const memory_level *lv)
{
    r->measurements[r->n_measurements++] = (healer_measurement){"memory_used_percent", lv->used_pct};
    r->measurements[r->n_measurements++] =
        (healer_measurement){"memory_available_bytes", (double)lv->avail};
}

static int memory_exec_drop(memory *s, healer_result *r)
{
    const healer_host *h = s->h;
    int dry = 0;
    char syncmsg[200] = "";
    if (s->sync_first) {
        const char *argv[] = {"sync", NULL};
        int status = 0;
        char out[256];
        int rc = h->act_run(s->ctx, argv, s->sync_timeout, out, sizeof out, &status);
        if (rc == HEALER_DRY_RUN)
            dry = 1;
        else if (rc < 0 || status != 0)
            snprintf(syncmsg, sizeof syncmsg, " (sync: %s)", h->last_message(s->ctx));
    }
    char p[PATH_MAX];
    char buf[8192];
    memory_meminfo before, after;
    int hb = memory_read_proc(s, "meminfo", buf, sizeof buf) > 0 &&
             memory_parse_meminfo(buf, &before) == 0;
    if (!h->proc_path(s->ctx, "sys/vm/drop_caches", p, sizeof p)) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "drop_caches: path too long");
        return HEALER_OK;
    }
    int rc = h->act_write_file(s->ctx, p, "3");
    if (rc == HEALER_DRY_RUN || dry) {
        r->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(r->message, sizeof r->message, "would sync and drop caches: %s",
                 h->last_message(s->ctx));
        return HEALER_OK;
    }
    if (rc < 0) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "drop_caches: %s%s", h->last_message(s->ctx),
                 syncmsg);
        return HEALER_OK;
    }
    int ha = memory_read_proc(s, "meminfo", buf, sizeof buf) > 0 &&
             memory_parse_meminfo(buf, &after) == 0;
    if (hb && ha) {
        r->measurements[r->n_measurements++] = (healer_measurement){"cached_before_bytes",
                                                                    (double)before.cached};
        r->measurements[r->n_measurements++] = (healer_measurement){"cached_after_bytes",
                                                                    (double)after.cached};
    }
    r->outcome = HEALER_OUTCOME_DONE;
    snprintf(r->message, sizeof r->message, "dropped caches (Cached %llu -> %llu MiB)%s",
             hb ? (unsigned long long)(before.cached >> 20) : 0ULL,
             ha ? (unsigned long long)(after.cached >> 20) : 0ULL, syncmsg);
    return HEALER_OK;
}

static int memory_exec_restart(memory *s, const healer_action *a, healer_result *r)
{
    const healer_host *h = s->h;
    const char *unit = memory_param(a, "unit");
    const char *scope = memory_param(a, "scope");
    if (!unit || !*unit) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "restart_service: no unit");
        return HEALER_OK;
    }
    healer_kv args[] = {{"unit", unit}};
    healer_reply reply;
    memset(&reply, 0, sizeof reply);
    int rc = h->request(s->ctx, s->service_plugin, "restart", args, 1, s->restart_timeout, &reply);
    if (rc == HEALER_E_NOTFOUND) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "cannot restart %s: the %s plugin is not "
                 "loaded (%s)", unit, s->service_plugin, reply.message[0] ? reply.message :
                 h->last_message(s->ctx));
        return HEALER_OK;
    }
    if (rc < 0 || reply.status < 0) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "restart %s via %s: %s: %s", unit,
                 s->service_plugin, healer_rc_str(rc < 0 ? rc : reply.status), reply.message);
        return HEALER_OK;
    }
    if (rc == HEALER_DRY_RUN || reply.status == HEALER_DRY_RUN || h->dry_run(s->ctx)) {
        r->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(r->message, sizeof r->message, "would restart %s: %s", unit, reply.message);
        return HEALER_OK;
    }
    memory_cg *c = memory_find_cg(s, scope);
    if (c)
        memory_leak_reset(c);   /* a new process: judge its growth afresh */
    r->outcome = HEALER_OUTCOME_DONE;
    snprintf(r->message, sizeof r->message, "restarted %s via %s: %s", unit, s->service_plugin,
             reply.message);
    return HEALER_OK;
}

/* kill_low_priority (emerg 0) and emergency_kill (emerg 1): one victim at a time, re-measuring
 * between kills, until the target is under its goal or no candidate is left. */
static int memory_exec_kill(memory *s, const healer_action *a, healer_result *r, int emerg)
{
    const healer_host *h = s->h;
    const char *scope = memory_param(a, "scope");
    memory_cg *c = memory_find_cg(s, scope);
    if (scope && *scope && !c) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "%s is not a watched cgroup", scope);
        return HEALER_OK;
    }
    pid_t tried[MEMORY_MAX_TRIED];
    size_t ntried = 0;
    int killed = 0;
    char log[HEALER_MSG_MAX] = "";
    size_t ll = 0;
    memory_level lv;
    int have = 0;
    for (long long k = 0; k < s->max_kills; k++) {
        have = memory_measure_target(s, memory_target_of(c), &lv) == 0;
        if (have) {
            int done = emerg ? lv.avail_pct > s->emerg_term : lv.used_pct < s->high;
            if (done)
                break;
        }
        memory_cand v;
        if (!memory_pick(s, c, tried, ntried, &v))
            break;
        if (ntried < MEMORY_MAX_TRIED)
            tried[ntried++] = v.pid;
        int sig = SIGTERM;
        double grace = s->kill_grace;
        if (emerg) {
            sig = have && lv.avail_pct <= s->emerg_kill ? SIGKILL : SIGTERM;
            grace = 0;   /* we watch it ourselves below, and escalate as memory falls */
        }
        int rc = h->act_signal(s->ctx, v.pid, v.start_time, sig, grace);
        const char *msg = h->last_message(s->ctx);
        if (rc == HEALER_DRY_RUN) {
            r->outcome = HEALER_OUTCOME_DRY_RUN;
            snprintf(r->message, sizeof r->message, "would kill pid %d (%s, badness %ld, rss %llu "
                     "MiB): %s", (int)v.pid, v.name, v.score, (unsigned long long)(v.rss >> 20),
                     msg);
            return HEALER_OK;
        }
        if (rc < 0) {
            h->log(s->ctx, HEALER_LOG_INFO, "kill pid %d (%s): %s", (int)v.pid, v.name, msg);
            continue;
        }
        if (emerg) {
            double end = memory_mono() + s->emerg_grace;
            while (memory_alive(s, v.pid, v.start_time)) {
                memory_level now;
                int late = memory_mono() >= end;
                int low = memory_measure_target(s, memory_target_of(c), &now) == 0 &&
                          now.avail_pct <= s->emerg_kill;
                if (sig == SIGTERM && (late || low)) {
                    h->act_signal(s->ctx, v.pid, v.start_time, SIGKILL, 0);
                    sig = SIGKILL;
                } else if (sig == SIGKILL && late) {
                    break;
                }
                memory_sleep(0.02);
            }
        }
        killed++;
        if (ll < sizeof log - 1)
            ll += (size_t)snprintf(log + ll, sizeof log - ll, "%s%s %d (%s, badness %ld, %llu MiB)",
                                   killed > 1 ? ", " : "", sig == SIGKILL ? "SIGKILL" : "SIGTERM",
                                   (int)v.pid, v.name, v.score, (unsigned long long)(v.rss >> 20));
        if (ll >= sizeof log)
            ll = sizeof log - 1;
        h->log(s->ctx, HEALER_LOG_INFO, "%s: killed pid %d (%s): %s", a->name, (int)v.pid, v.name,
               msg);
        if (!emerg)
            memory_sleep(s->kill_settle);
    }
    if (memory_measure_target(s, memory_target_of(c), &lv) == 0)
        memory_result_level(r, &lv);
    r->measurements[r->n_measurements++] = (healer_measurement){"processes_killed", killed};
    if (!killed) {
        r->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(r->message, sizeof r->message, "no process to kill in %s%s",
                 c ? c->dir : "the system", have ? "" : " (or already healed)");
        return HEALER_OK;
    }
    r->outcome = HEALER_OUTCOME_DONE;
    snprintf(r->message, sizeof r->message, "killed %d: %s", killed, log);
    return HEALER_OK;
}

static int memory_exec_swap(memory *s, const healer_action *a, healer_result *r, int create)
{
    const healer_host *h = s->h;
    const char *path = memory_param(a, "path");
    if (!path || path[0] != '/') {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "%s: no path", a->name);
        return HEALER_OK;
    }
    char out[512], size[48];
    int status = 0, rc = HEALER_OK;
    if (create) {
        const char *mb = memory_param(a, "size_mb");
        snprintf(size, sizeof size, "%sM", mb ? mb : "1024");
        const char *fa[] = {"fallocate", "-l", size, path, NULL};
        const char *ch[] = {"chmod", "600", path, NULL};
        const char *mk[] = {"mkswap", path, NULL};
        const char *const *steps[] = {fa, ch, mk};
        for (int i = 0; i < 3; i++) {
            rc = h->act_run(s->ctx, steps[i], 120, out, sizeof out, &status);
            if (rc == HEALER_DRY_RUN)
                continue;
            if (rc < 0 || status != 0) {
                r->outcome = HEALER_OUTCOME_FAILED;
                snprintf(r->message, sizeof r->message, "%s %s: %s %s", steps[i][0], path,
                         h->last_message(s->ctx), out);
                return HEALER_OK;
            }
        }
    }
    const char *sw[] = {"swapon", path, NULL};
    rc = h->act_run(s->ctx, sw, 60, out, sizeof out, &status);
    if (rc == HEALER_DRY_RUN) {
        r->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(r->message, sizeof r->message, "would %sswapon %s",
                 create ? "create and " : "", path);
        return HEALER_OK;
    }
    if (rc < 0 || status != 0) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "swapon %s: %s %s", path, h->last_message(s->ctx),
                 out);
        return HEALER_OK;
    }
    r->outcome = HEALER_OUTCOME_DONE;
    snprintf(r->message, sizeof r->message, "%sswapon %s", create ? "created, " : "", path);
    return HEALER_OK;
}

static int memory_execute(void *state, const healer_issue *issue, const healer_action *action,
                          healer_result *result)
{
    memory *s = state;
    (void)issue;
    if (strcmp(action->name, "drop_caches") == 0)
        return memory_exec_drop(s, result);
    if (strcmp(action->name, "restart_service") == 0)
        return memory_exec_restart(s, action, result);
    if (strcmp(action->name, "kill_low_priority") == 0)
        return memory_exec_kill(s, action, result, 0);
    if (strcmp(action->name, "emergency_kill") == 0)
        return memory_exec_kill(s, action, result, 1);
    if (strcmp(action->name, "swapon") == 0)
        return memory_exec_swap(s, action, result, 0);
    if (strcmp(action->name, "create_swapfile") == 0)
        return memory_exec_swap(s, action, result, 1);
    result->outcome = HEALER_OUTCOME_FAILED;
    snprintf(result->message, sizeof result->message, "unknown action %s", action->name);
    return HEALER_E_INVAL;
}

/* ---- verify ------------------------------------------------------------------------------------ */

static int memory_verify(void *state, const healer_issue *issue, const healer_action *action,
                         healer_verdict *v)
{
    memory *s = state;
    const healer_host *h = s->h;
    const char *target = issue->target ? issue->target : "";
    if (strcmp(issue->type, MEMORY_SWAP) == 0) {
        char buf[16384], real[PATH_MAX];
        if (memory_read_proc(s, "swaps", buf, sizeof buf) < 0) {
            snprintf(v->message, sizeof v->message, "swaps unreadable");
            return HEALER_E_IO;
        }
        v->healed = memory_swap_active(buf, target, realpath(target, real) ? real : NULL);
        snprintf(v->message, sizeof v->message, "swap %s %s", target,
                 v->healed ? "active" : "still not active");
        return HEALER_OK;
    }
    /* PSI: the stall share over the settle time, from the "total" counters (avg10 lags). */
    char buf[1024];
    memory_psi p0, p1;
    int hp0 = memory_read_proc(s, "pressure/memory", buf, sizeof buf) > 0 &&
              memory_parse_psi(buf, &p0) == 0;
    double t0 = memory_mono();
    /* The kill loops re-measured already; other actions need the kernel to settle. */
    if (strcmp(action->name, "emergency_kill") != 0)
        memory_sleep(s->verify_settle);
    int hp1 = memory_read_proc(s, "pressure/memory", buf, sizeof buf) > 0 &&
              memory_parse_psi(buf, &p1) == 0;
    double dt = memory_mono() - t0;
    double stall = -1;
    if (hp0 && hp1 && dt > 0.05 && p1.some_total_us >= p0.some_total_us)
        stall = 100.0 * (double)(p1.some_total_us - p0.some_total_us) / (dt * 1e6);
    memory_level lv;
    if (memory_measure_target(s, strcmp(issue->type, MEMORY_PRESSURE) == 0 ? "" : target, &lv) < 0) {
        snprintf(v->message, sizeof v->message, "cannot measure %s", *target ? target : "memory");
        return HEALER_E_IO;
    }
    size_t n = 0;
    v->measurements[n++] = (healer_measurement){"memory_used_percent", lv.used_pct};
    v->measurements[n++] = (healer_measurement){"memory_available_bytes", (double)lv.avail};
    if (stall >= 0)
        v->measurements[n++] = (healer_measurement){"psi_some_stall_percent", stall};
    v->n_measurements = n;
    if (strcmp(issue->type, MEMORY_PRESSURE) == 0) {
        v->healed = stall >= 0 ? stall < s->pressure_pct : lv.used_pct < s->high;
    } else {
        memory_cg *c = memory_find_cg(s, target);
        int leak_only = c && c->leaking && (!lv.has_limit || lv.used_pct < s->high);
        v->healed = leak_only ? strcmp(action->name, "restart_service") == 0
                              : lv.has_limit && lv.used_pct < s->high;
    }
    char st[48] = "";
    if (stall >= 0)
        snprintf(st, sizeof st, ", PSI some stall %.1f%%", stall);
    snprintf(v->message, sizeof v->message, "%s: %.1f%% used (%.1f MiB available)%s: %s",
             *target ? target : "system", lv.used_pct, (double)lv.avail / 1048576.0, st,
             v->healed ? "healed" : "still high");
    (void)h;
    return HEALER_OK;
}

/* ---- init / destroy ------------------------------------------------------------------------------ */

static void memory_destroy(void *state)
{
    memory *s = state;
    if (!s)
        return;
    if (s->psi_fd >= 0) {
        s->h->unwatch_fd(s->ctx, s->psi_fd);
        close(s->psi_fd);
    }
    for (size_t i = 0; i < s->n_cg; i++) {
        if (s->cg[i].efd >= 0) {
            s->h->unwatch_fd(s->ctx, s->cg[i].efd);
            close(s->cg[i].efd);
        }
        if (s->cg[i].ufd >= 0)
            close(s->cg[i].ufd);
    }
    for (size_t i = 0; i < s->n_prefer; i++)
        regfree(&s->prefer[i]);
    for (size_t i = 0; i < s->n_avoid; i++)
        regfree(&s->avoid[i]);
    free(s);
}

static int memory_compile(memory *s, const char *key, regex_t *out, size_t *n)
{
    const healer_host *h = s->h;
    size_t len = h->config_list_len(s->ctx, key);
    for (size_t i = 0; i < len; i++) {
        const char *re = h->config_list_item(s->ctx, key, i);
        if (!re || !*re)
            continue;
        if (*n >= MEMORY_MAX_REGEX) {
            h->log(s->ctx, HEALER_LOG_ERROR, "plugins.memory.%s: at most %d patterns", key,
                   MEMORY_MAX_REGEX);
            return HEALER_E_INVAL;
        }
        int rc = regcomp(&out[*n], re, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char err[128];
            regerror(rc, &out[*n], err, sizeof err);
            h->log(s->ctx, HEALER_LOG_ERROR, "plugins.memory.%s: bad regex \"%s\": %s", key, re,
                   err);
            return HEALER_E_INVAL;
        }
        (*n)++;
    }
    return HEALER_OK;
}

static int memory_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    memory *s = calloc(1, sizeof *s);
    if (!s)
        return HEALER_E_NOMEM;
    s->h = host;
    s->ctx = ctx;
    s->psi_fd = -1;
    s->high = host->config_double(ctx, "high_percent");
    s->critical = host->config_double(ctx, "critical_percent");
    s->kill_pct = host->config_double(ctx, "kill_percent");
    s->emerg_term = host->config_double(ctx, "emergency_available_percent");
    s->emerg_kill = host->config_double(ctx, "emergency_kill_percent");
    s->emergency = host->config_bool(ctx, "emergency");
    s->pressure_pct = host->config_double(ctx, "pressure_percent");
    s->watch_system = host->config_bool(ctx, "watch_system");
    s->cg_events = host->config_bool(ctx, "cgroup_events");
    s->psi_enabled = host->config_bool(ctx, "psi_trigger");
    s->leak_window = host->config_double(ctx, "leak_window_s");
    s->leak_min_samples = host->config_int(ctx, "leak_min_samples");
    s->leak_min_rate = host->config_double(ctx, "leak_min_bytes_per_s");
    s->leak_min_r2 = host->config_double(ctx, "leak_min_r2");
    s->drop_caches = host->config_bool(ctx, "drop_caches");
    s->sync_first = host->config_bool(ctx, "sync_first");
    s->sync_timeout = host->config_double(ctx, "sync_timeout_s");
    s->restart_leaking = host->config_bool(ctx, "restart_leaking");
    s->service_plugin = host->config_string(ctx, "service_plugin");
    s->restart_timeout = host->config_double(ctx, "restart_timeout_s");
    s->kill_system = host->config_bool(ctx, "kill_system");
    s->kill_grace = host->config_double(ctx, "kill_grace_s");
    s->emerg_grace = host->config_double(ctx, "emergency_grace_s");
    s->kill_settle = host->config_double(ctx, "kill_settle_s");
    s->max_kills = host->config_int(ctx, "max_kills");
    s->verify_settle = host->config_double(ctx, "verify_settle_s");
    s->swapfile_mb = host->config_int(ctx, "create_swapfile_mb");
    if (!s->service_plugin || !*s->service_plugin)
        s->service_plugin = "service";

    if (s->emerg_kill > s->emerg_term || s->high > s->critical) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.memory: need emergency_kill_percent <= "
                  "emergency_available_percent and high_percent <= critical_percent");
        goto fail;
    }
    if (memory_compile(s, "prefer", s->prefer, &s->n_prefer) < 0 ||
        memory_compile(s, "avoid", s->avoid, &s->n_avoid) < 0)
        goto fail;

    char base[PATH_MAX];
    if (!host->sys_path(ctx, "fs/cgroup", base, sizeof base))
        goto fail;
    size_t bl = strlen(base);
    size_t ncg = host->config_list_len(ctx, "cgroups");
    for (size_t i = 0; i < ncg; i++) {
        const char *e = host->config_list_item(ctx, "cgroups", i);
        if (!e || !*e)
            continue;
        if (s->n_cg >= MEMORY_MAX_CGROUPS || strlen(e) >= HEALER_TARGET_MAX - bl - 2 ||
            strstr(e, "..")) {
            host->log(ctx, HEALER_LOG_ERROR, "plugins.memory.cgroups: \"%s\": too many, too long "
                      "or holds '..' (at most %d)", e, MEMORY_MAX_CGROUPS);
            goto fail;
        }
        memory_cg *c = &s->cg[s->n_cg++];
        c->efd = c->ufd = -1;
        snprintf(c->conf, sizeof c->conf, "%s", e);
        /* "memory/x", "/memory/x" and "<sys_root>/fs/cgroup/memory/x" name the same cgroup. */
        if (strncmp(e, base, bl) == 0 && (e[bl] == '/' || !e[bl]))
            e += bl;
        while (*e == '/')
            e++;
        snprintf(c->dir, sizeof c->dir, "%s/%s", base, e);
        for (size_t n = strlen(c->dir); n > 1 && c->dir[n - 1] == '/'; n--)
            c->dir[n - 1] = '\0';
    }
    size_t nsw = host->config_list_len(ctx, "swap");
    for (size_t i = 0; i < nsw && s->n_swaps < MEMORY_MAX_SWAPS; i++) {
        const char *e = host->config_list_item(ctx, "swap", i);
        if (!e || e[0] != '/' || strlen(e) >= HEALER_TARGET_MAX) {
            host->log(ctx, HEALER_LOG_ERROR, "plugins.memory.swap: \"%s\" must be an absolute "
                      "path", e ? e : "");
            goto fail;
        }
        snprintf(s->swaps[s->n_swaps++], PATH_MAX, "%s", e);
    }
    const char *sf = host->config_string(ctx, "create_swapfile");
    if (sf && *sf) {
        if (sf[0] != '/' || strlen(sf) >= HEALER_TARGET_MAX) {
            host->log(ctx, HEALER_LOG_ERROR, "plugins.memory.create_swapfile: \"%s\" must be "
                      "an absolute path", sf);
            goto fail;
        }
        snprintf(s->swapfile, sizeof s->swapfile, "%s", sf);
        int listed = 0;
        for (size_t i = 0; i < s->n_swaps; i++)
            listed |= strcmp(s->swaps[i], sf) == 0;
        if (!listed && s->n_swaps < MEMORY_MAX_SWAPS)
            snprintf(s->swaps[s->n_swaps++], PATH_MAX, "%s", sf);
    }

    memory_psi_setup(s, host->config_int(ctx, "psi_window_ms"),
                     host->config_int(ctx, "psi_stall_ms"));
    host->log(ctx, HEALER_LOG_INFO, "memory: high %.3g%%, critical %.3g%%, emergency at %.3g%%/"
              "%.3g%% available; %s, %zu cgroup(s), %zu swap(s)", s->high, s->critical,
              s->emerg_term, s->emerg_kill, s->watch_system ? "system watched" : "system not "
              "watched", s->n_cg, s->n_swaps);
    *state = s;
    return HEALER_OK;
fail:
    memory_destroy(s);
    return HEALER_E_INVAL;
}

static int memory_detect(void *state)
{
    memory_scan(state, 0);
    return HEALER_OK;
}

static const healer_plugin memory_descriptor = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "memory",
    .version = "1.0.0",
    .description = "memory high, pressure (PSI) and swap: drop caches, restart leaks, kill by "
                   "badness, emergency OOM prevention, swapon",
    .issue_types = memory_issue_types,
    .config = memory_config,
    .interval = 1.0,
    .init = memory_init,
    .destroy = memory_destroy,
    .detect = memory_detect,
    .plan = memory_plan,
    .execute = memory_execute,
    .verify = memory_verify,
};

HEALER_PLUGIN(memory_descriptor)
