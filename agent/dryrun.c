/* dryrun.c — the dry-run texts of the actuators (dryrun.h), compiled into the agent and the mock
 * host: one copy, so the two can never say different things for the same call. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sigabbrev_np */
#endif
#include "dryrun.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

const char *healer_dry_signame(int sig, char *buf, size_t len)
{
    const char *ab = sigabbrev_np(sig);
    if (ab)
        snprintf(buf, len, "SIG%s", ab);
    else
        snprintf(buf, len, "signal %d", sig);
    return buf;
}

void healer_dry_signal(char *buf, size_t len, pid_t pid, const char *name, int sig,
                       double grace_s)
{
    char sn[32];
    healer_dry_signame(sig, sn, sizeof sn);
    if (sig == SIGTERM && grace_s > 0)
        snprintf(buf, len, "would send %s to pid %d (%s), then SIGKILL if it outlives %.3g s", sn,
                 (int)pid, name ? name : "?", grace_s);
    else
        snprintf(buf, len, "would send %s to pid %d (%s)", sn, (int)pid, name ? name : "?");
}

void healer_dry_renice(char *buf, size_t len, pid_t pid, const char *name, int old_nice, int nice)
{
    snprintf(buf, len, "would renice pid %d (%s) from %d to %d", (int)pid, name ? name : "?",
             old_nice, nice);
}

void healer_dry_write(char *buf, size_t len, const char *path, const char *value, const char *old)
{
    snprintf(buf, len, "would write '%s' to %s (now '%s')", value ? value : "", path ? path : "?",
             old ? old : "no file");
}

void healer_dry_freeze(char *buf, size_t len, const char *dir, int freeze, const char *file,
                       const char *was, size_t nprocs)
{
    int n = snprintf(buf, len, "would %s cgroup %s (%s now %s)", freeze ? "freeze" : "thaw",
                     dir ? dir : "?", file ? file : "?", was ? was : "?");
    if (freeze && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "; %zu processes", nprocs);
}

void healer_dry_remove(char *buf, size_t len, const char *dir, unsigned long long count,
                       unsigned long long bytes, const char *list, const char *extra)
{
    snprintf(buf, len, "would remove %llu file%s (%llu bytes) under %s: %s (%s)", count,
             count == 1 ? "" : "s", bytes, dir ? dir : "?", list && *list ? list : "none",
             extra ? extra : "");
}

void healer_dry_run(char *buf, size_t len, const char *cmdline, double timeout_s)
{
    snprintf(buf, len, "would run: %s (timeout %.3g s)", cmdline ? cmdline : "", timeout_s);
}
