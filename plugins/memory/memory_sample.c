/* memory_sample.c — the system-wide emergency sampler: meminfo every interval while there is
 * headroom, faster as MemAvailable nears emergency_available_percent (a one-shot timerfd whose
 * period is the time the fastest plausible fill needs to eat half the headroom left), and the
 * critical memory_high published from the timer callback the moment the level is crossed. */
#include "memory_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* A falling rate older than this many intervals says nothing about now. */
#define MEMORY_RATE_STALE_INTERVALS 2.0
/* Rate references closer than this are noise (meminfo moves in per-CPU batches). */
#define MEMORY_RATE_MIN_DT 0.05

static double memory_interval(memory *s)
{
    return s->interval > 0 ? s->interval : 1.0;
}

/* Bytes of headroom above the emergency level; 0 at or below it. */
static double memory_headroom(memory *s, const memory_level *lv)
{
    double floor = (double)lv->total * s->emerg_term / 100.0;
    double h = (double)lv->avail - floor;
    return h > 0 ? h : 0;
}

static double memory_rate_now(memory *s)
{
    double stale = MEMORY_RATE_STALE_INTERVALS * memory_interval(s);
    if (s->fall_rate <= 0 || memory_mono() - s->fall_rate_t > stale)
        return 0;
    return s->fall_rate;
}

double memory_eta_emergency(memory *s, const memory_level *lv)
{
    double rate = memory_rate_now(s);
    if (rate <= 0)
        return INFINITY;
    return memory_headroom(s, lv) / rate;
}

/* The next sample comes when the faster of the assumed and the observed fill could have eaten
 * half the headroom: periods shrink geometrically towards the level, and the crossing is seen
 * at most min_period late. Outside that band (period >= interval) detect() alone samples. */
static double memory_next_period(memory *s, const memory_level *lv)
{
    double iv = memory_interval(s);
    if (memory_is_emergency(s, lv))
        return 0;   /* on the bus already; detect() follows it every interval */
    double rate = memory_rate_now(s);
    if (rate < s->fill_rate)
        rate = s->fill_rate;
    double p = memory_headroom(s, lv) / (2.0 * rate);
    if (p < s->min_period)
        p = s->min_period;
    return p >= iv ? 0 : p;
}

static void memory_arm(memory *s, double period)
{
    if (s->tfd < 0 || (period <= 0 && s->period <= 0))
        return;   /* disarmed already: not a system call a second on a healthy host */
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (period > 0) {
        its.it_value.tv_sec = (time_t)period;
        its.it_value.tv_nsec = (long)((period - (double)(time_t)period) * 1e9);
        if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
            its.it_value.tv_nsec = 1;
    }
    if (timerfd_settime(s->tfd, 0, &its, NULL) != 0)
        s->h->log(s->ctx, HEALER_LOG_WARN, "sampler timer: %s", strerror(errno));
    if ((period > 0) != (s->period > 0))
        s->h->log(s->ctx, HEALER_LOG_DEBUG, "sampler %s", period > 0 ? "fast" : "back to the interval");
    s->period = period;
}

void memory_sampler_note(memory *s, const memory_level *lv)
{
    double now = memory_mono();
    if (s->ref_t <= 0) {
        s->ref_t = now;
        s->ref_avail = lv->avail;
    } else if (now - s->ref_t >= MEMORY_RATE_MIN_DT) {
        s->fall_rate = ((double)s->ref_avail - (double)lv->avail) / (now - s->ref_t);
        s->fall_rate_t = now;
        s->ref_t = now;
        s->ref_avail = lv->avail;
    }
    if (s->tfd >= 0)
        memory_arm(s, memory_next_period(s, lv));
}

static void memory_on_sample(void *state, int fd, short revents)
{
    memory *s = state;
    uint64_t expirations;
    (void)revents;
    if (read(fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        s->h->log(s->ctx, HEALER_LOG_DEBUG, "sampler timer read: %s", strerror(errno));
    memory_level lv;
    double was = s->period;
    s->period = 0;   /* one-shot: disarmed until memory_sampler_note re-arms it */
    if (memory_measure_system(s, &lv, NULL) < 0)
        return;
    s->fast_samples++;
    /* Only the crossing is news: the rest (health, gauges, repeats) waits for detect(), so the
     * fast path costs one pread and no bus traffic. */
    if (memory_is_emergency(s, &lv) && !s->sys_emerg) {
        s->h->log(s->ctx, HEALER_LOG_INFO, "emergency: %.1f%% available (fast sampler, period "
                  "%.1f ms)", lv.avail_pct, was * 1000);
        memory_judge(s, NULL, &lv, -1);
    }
    memory_sampler_note(s, &lv);
}

int memory_sampler_setup(memory *s)
{
    const healer_host *h = s->h;
    char p[PATH_MAX];
    if (h->proc_path(s->ctx, "meminfo", p, sizeof p))
        s->mfd = open(p, O_RDONLY | O_CLOEXEC);
    if (!s->watch_system || !s->emergency || s->emerg_term <= 0)
        return HEALER_OK;
    if (s->watched >= 16) {
        h->log(s->ctx, HEALER_LOG_WARN, "no fast emergency sampler: 16 fds watched already");
        return HEALER_OK;
    }
    s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->tfd < 0) {
        h->log(s->ctx, HEALER_LOG_WARN, "no fast emergency sampler (timerfd: %s): meminfo every "
               "interval only", strerror(errno));
        return HEALER_OK;
    }
    if (h->watch_fd(s->ctx, s->tfd, POLLIN, memory_on_sample) != HEALER_OK) {
        h->log(s->ctx, HEALER_LOG_WARN, "no fast emergency sampler (watch_fd: %s)",
               h->last_message(s->ctx));
        close(s->tfd);
        s->tfd = -1;
        return HEALER_OK;
    }
    s->watched++;
    h->log(s->ctx, HEALER_LOG_INFO, "emergency sampler: meminfo every interval, faster within "
           "the headroom a %.0f MiB/s fill eats in two intervals, down to every %.0f ms",
           s->fill_rate / 1048576.0, s->min_period * 1000);
    return HEALER_OK;
}

void memory_sampler_close(memory *s)
{
    if (s->tfd >= 0) {
        s->h->unwatch_fd(s->ctx, s->tfd);
        close(s->tfd);
        s->tfd = -1;
    }
    if (s->mfd >= 0) {
        close(s->mfd);
        s->mfd = -1;
    }
}
