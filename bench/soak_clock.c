/* soak_clock.c — an LD_PRELOAD for bench/soak.sh: the wall clock (CLOCK_REALTIME and its
 * coarse twin, gettimeofday, time) runs SOAK_CLOCK_SPEED times as fast from SOAK_CLOCK_T0 (real
 * epoch seconds, the same for the agent and its plugin child); monotonic time, sleeps and every
 * timeout stay real. So the governor's hour and the loop and relapse windows pass as in a week
 * while the engine's deadlines keep their real meaning. libfaketime does the same but also
 * wraps pthread_cond_timedwait, and the agent's monotonic condition variables then hang. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

typedef int (*cg_fn)(clockid_t, struct timespec *);

static cg_fn real_cg;
static double speed = 1.0, t0;

__attribute__((constructor)) static void soak_clock_init(void)
{
    real_cg = (cg_fn)dlsym(RTLD_NEXT, "clock_gettime");
    const char *s = getenv("SOAK_CLOCK_SPEED"), *t = getenv("SOAK_CLOCK_T0");
    if (s && atof(s) > 0)
        speed = atof(s);
    if (t)
        t0 = atof(t);
}

static void soak_clock_scale(struct timespec *ts)
{
    double real = (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
    double fake = t0 > 0 ? t0 + (real - t0) * speed : real;
    ts->tv_sec = (time_t)fake;
    ts->tv_nsec = (long)((fake - (double)ts->tv_sec) * 1e9);
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    if (!real_cg)
        real_cg = (cg_fn)dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real_cg(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        soak_clock_scale(ts);
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    tv->tv_sec = ts.tv_sec; /* glibc declares tv nonnull */
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
