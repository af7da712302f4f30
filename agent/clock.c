/* clock.c — wall and monotonic time for the agent. Owns the test override of wall time,
 * so the governor's hours and days can pass in milliseconds under test. */
#include "clock.h"

#include <stddef.h>
#include <time.h>

typedef double (*clock_fn)(void *ud);

/* No lock: clock_now() is on every hot path, and an override is set before the threads
 * that read it start (clock.h says so). The atomics keep the reads well-defined anyway. */
static clock_fn g_fn;
static void *g_ud;
static clock_fn g_mono_fn;
static void *g_mono_ud;

static double ts_seconds(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double clock_now(void)
{
    clock_fn fn = __atomic_load_n(&g_fn, __ATOMIC_ACQUIRE);
    if (fn)
        return fn(__atomic_load_n(&g_ud, __ATOMIC_ACQUIRE));
    return ts_seconds(CLOCK_REALTIME);
}

double clock_mono(void)
{
    clock_fn fn = __atomic_load_n(&g_mono_fn, __ATOMIC_ACQUIRE);
    if (fn)
        return fn(__atomic_load_n(&g_mono_ud, __ATOMIC_ACQUIRE));
    return ts_seconds(CLOCK_MONOTONIC);
}

void clock_override_mono(double (*fn)(void *ud), void *ud)
{
    __atomic_store_n(&g_mono_ud, ud, __ATOMIC_RELEASE);
    __atomic_store_n(&g_mono_fn, fn, __ATOMIC_RELEASE);
}

void clock_override(double (*fn)(void *ud), void *ud)
{
    /* ud first: a reader that sees the new fn must see its ud. */
    __atomic_store_n(&g_ud, ud, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn, fn, __ATOMIC_RELEASE);
}
