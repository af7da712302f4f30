/* memory_sense.c — the memory plugin's senses: meminfo, PSI (a trigger, avg10 as the
 * fallback), leak samples; and what it publishes from them (memory_high, memory_pressure,
 * swap_missing, health, gauges). The cgroups' files and events are memory_cgroup.c's. */
#include "memory_int.h"

#include <errno.h>
#include <stddef.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------------------------- */

void memory_sleep(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

double memory_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double memory_time_left(memory *s)
{
    const healer_host *h = s->h;
    if (offsetof(healer_host, action_time_left) >= h->struct_size || !h->action_time_left)
        return INFINITY;
    /* Half a second to measure, write the result and let the host record it. */
    double left = h->action_time_left(s->ctx) - 0.5;
    return left > 0 ? left : 0;
}

long memory_read_proc(memory *s, const char *rel, char *buf, size_t len)
{
    char p[PATH_MAX];
    if (!s->h->proc_path(s->ctx, rel, p, sizeof p))
        return -1;
    return memory_read_file(p, buf, len);
}

/* Effective CAP_SYS_RESOURCE decides the PSI trigger window rule (kernel psi.c: without it
 * the window must be a multiple of 2 s). capget, not /proc/self: proc_root may be a fixture. */
int memory_has_cap_sys_resource(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0)
        return 0;
    return (data[0].effective >> MEMORY_CAP_SYS_RESOURCE) & 1u;
}

const char *memory_target_of(const memory_cg *c)
{
    return c ? c->dir : "";
}

/* ---- measuring ------------------------------------------------------------------------------ */

/* meminfo through the fd the sampler keeps open (pread from 0 regenerates a proc file): one
 * system call per sample, however fast the sampler runs. */
static long memory_read_meminfo(memory *s, char *buf, size_t len)
{
    if (s->mfd >= 0) {
        ssize_t n = pread(s->mfd, buf, len - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            return (long)n;
        }
    }
    return memory_read_proc(s, "meminfo", buf, len);
}

int memory_measure_system(memory *s, memory_level *lv, memory_meminfo *mi_out)
{
    char buf[8192];
    memory_meminfo mi;
    memset(lv, 0, sizeof *lv);
    if (memory_read_meminfo(s, buf, sizeof buf) <= 0 || memory_parse_meminfo(buf, &mi) < 0) {
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

/* Measures the target of an issue: "" = the system, else a configured cgroup. */
int memory_measure_target(memory *s, const char *target, memory_level *lv)
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

void memory_leak_sample(memory *s, memory_cg *c, double now)
{
    /* Keep at most leak_ring samples over the window: skip samples closer than window/ring. */
    size_t R = s->leak_ring;
    if (!c->t || !R)
        return;
    if (c->n) {
        size_t last = (c->head + R - 1) % R;
        if (now - c->t[last] < s->quiet_s * 0.999)
            return;
    }
    c->t[c->head] = now;
    c->y[c->head] = (double)c->usage;
    c->head = (c->head + 1) % R;
    if (c->n < R)
        c->n++;
    /* The samples inside the window, oldest first. */
    double t[MEMORY_LEAK_SAMPLES], y[MEMORY_LEAK_SAMPLES];
    size_t k = 0;
    size_t start = (c->head + R - c->n) % R;
    for (size_t i = 0; i < c->n; i++) {
        size_t j = (start + i) % R;
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

void memory_leak_reset(memory_cg *c)
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

int memory_is_emergency(memory *s, const memory_level *lv)
{
    return s->emergency && lv->has_limit && lv->avail_pct <= s->emerg_term;
}

/* Publishes or resolves memory_high for the whole system when c is NULL, else for a cgroup. */
void memory_judge(memory *s, memory_cg *c, const memory_level *lv, double psi_some)
{
    const healer_host *h = s->h;
    const char *target = memory_target_of(c);
    int leaking = c && c->leaking;
    int high = lv->has_limit && lv->used_pct >= s->high;
    int emerg = memory_is_emergency(s, lv);
    int *open = c ? &c->open_high : &s->open_sys;

    double health = memory_health(s, lv);
    /* A cgroup's health is a component only while it is below 100 (and once more when it is
     * back): a thousand healthy cgroups would otherwise be a thousand bus messages per read. */
    if (!c || health < 100 || c->health_low) {
        h->report_health(s->ctx, c ? c->dir : "memory", health);
        if (c)
            c->health_low = health < 100;
    }
    if (lv->has_limit) {
        healer_kv label = {"target", c ? c->dir : "system"};
        h->metric(s->ctx, HEALER_METRIC_GAUGE, "memory_used_percent",
                  "Used memory share watched by the memory plugin (system or cgroup limit)",
                  &label, 1, lv->used_pct);
    }
    if (!high && !emerg && !leaking) {
        if (*open && h->resolve_issue(s->ctx, MEMORY_HIGH, target) == HEALER_OK)
            *open = 0;
        if (!c)
            s->sys_emerg = 0;
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
    if (rc < 0) {
        h->log(s->ctx, HEALER_LOG_WARN, "publish memory_high for %s: %s", what, healer_rc_str(rc));
        return;
    }
    *open = 1;
    if (!c)
        s->sys_emerg = emerg;
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

/* One measurement: from detect() (from_event 0) everything, the cgroups that are due included;
 * at once from a PSI trigger (1) the system and the cgroups polled every interval, so an
 * emergency is on the bus without waiting for the interval. A cgroup usage event re-reads its
 * own bucket (memory_cgroup.c). */
void memory_scan(memory *s, int from_event)
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
        if (have_sys) {
            memory_judge(s, NULL, &sys, have_psi ? psi.some_avg10 : -1);
            memory_sampler_note(s, &sys);
            if (!from_event)
                memory_predict_system(s, &sys, now);
        }
        memory_judge_pressure(s, &psi, have_psi, have_sys ? &sys : NULL);
    }
    memory_cgroups_scan(s, now, from_event);
    if (!from_event)
        memory_judge_swap(s);
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

void memory_psi_setup(memory *s, long long window_ms, long long stall_ms)
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


void memory_psi_snapshot(memory *s)
{
    char buf[1024];
    memory_psi p;
    s->psi_snap_ok = memory_read_proc(s, "pressure/memory", buf, sizeof buf) > 0 &&
                     memory_parse_psi(buf, &p) == 0;
    s->psi_snap_t = memory_mono();
    s->psi_snap_total = s->psi_snap_ok ? p.some_total_us : 0;
}
