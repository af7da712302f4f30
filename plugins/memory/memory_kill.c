/* memory_kill.c — the memory plugin's victims: candidates by badness (oom_score, prefer,
 * avoid) in the issue's cgroup or system-wide, and the kill loops (kill_low_priority,
 * emergency_kill) that take one victim at a time until the target is healthy. */
#include "memory_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
int memory_pick(memory *s, memory_cg *c, const pid_t *tried, size_t ntried,
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
int memory_alive(memory *s, pid_t pid, uint64_t start_time)
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

/* How often a kill loop looks whether its victim is gone, and how long it waits for the kernel
 * to reap one after SIGKILL (as the agent's own signal actuator does) before moving on. */
#define MEMORY_POLL_S 0.01
#define MEMORY_REAP_WAIT_S 2.0

/* A victim signalled but not seen dead: its memory is counted as freed when the loop decides
 * whether another must die, since it will be once the kernel reaps it. */
typedef struct memory_victim {
    pid_t pid;
    uint64_t start_time;
    uint64_t rss;
} memory_victim;

/* Waits in short steps for the victim to die: SIGTERM first; SIGKILL when the grace is over
 * or the target falls to emergency_kill_percent meanwhile; then at most MEMORY_REAP_WAIT_S for
 * the kernel to reap it. Every wait is cut to what is left of the action. 1 when it died. */
static int memory_wait_victim(memory *s, const char *target, const memory_cand *v, int *sig,
                              double grace)
{
    const healer_host *h = s->h;
    double now = memory_mono(), left = memory_time_left(s);
    double term_end = now + (grace < left ? grace : left), kill_end = 0;
    for (;;) {
        if (!memory_alive(s, v->pid, v->start_time))
            return 1;
        now = memory_mono();
        if (*sig == SIGTERM) {
            memory_level lv;
            int low = s->emergency && memory_measure_target(s, target, &lv) == 0 &&
                      lv.has_limit && lv.avail_pct <= s->emerg_kill;
            if (now >= term_end || low) {
                int rc = h->act_signal(s->ctx, v->pid, v->start_time, SIGKILL, 0);
                if (rc == HEALER_E_GONE)
                    return 1;
                h->log(s->ctx, HEALER_LOG_INFO, "pid %d (%s) %s: SIGKILL: %s", (int)v->pid,
                       v->name, low ? "memory at the SIGKILL level" : "outlived the grace",
                       h->last_message(s->ctx));
                *sig = SIGKILL;
                left = memory_time_left(s);
                kill_end = now + (MEMORY_REAP_WAIT_S < left ? MEMORY_REAP_WAIT_S : left);
            }
        } else if (now >= kill_end) {
            return 0;
        }
        memory_sleep(MEMORY_POLL_S);
    }
}

/* kill_low_priority (emerg 0) and emergency_kill (emerg 1): one victim at a time; wait for it
 * to die, settle, re-measure the issue's own target (the cgroup for a cgroup issue), and stop
 * as soon as it is under high_percent used: never fewer victims than that takes, never more.
 * The emergency variant signals its first victim at once, SIGKILLs at emergency_kill_percent
 * and skips the settle while the target is still in emergency. */
int memory_exec_kill(memory *s, const healer_issue *issue, const healer_action *a,
                     healer_result *r, int emerg)
{
    const healer_host *h = s->h;
    const char *scope = memory_param(a, "scope");
    const char *target = strcmp(issue->type, MEMORY_PRESSURE) == 0 ? ""
                         : issue->target ? issue->target : "";
    if (scope && strcmp(scope, target) != 0) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "%s was planned for '%s', the issue is about '%s'",
                 a->name, scope, target);
        return HEALER_OK;
    }
    memory_cg *c = memory_find_cg(s, target);
    if (*target && !c) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "%s is not a watched cgroup", target);
        return HEALER_OK;
    }
    const char *where = c ? c->dir : "the system";
    pid_t tried[MEMORY_MAX_TRIED];
    memory_victim pending[MEMORY_MAX_TRIED];
    size_t ntried = 0, npending = 0;
    int killed = 0;
    char log[HEALER_MSG_MAX] = "";
    size_t ll = 0;
    const char *stop = "no candidate left";
    memory_level lv;
    double proj_used = -1;
    for (;;) {
        if (memory_measure_target(s, target, &lv) < 0 || !lv.has_limit) {
            stop = "the target cannot be measured";
            break;
        }
        /* Victims still dying count as freed. */
        uint64_t dying = 0;
        size_t k = 0;
        for (size_t i = 0; i < npending; i++)
            if (memory_alive(s, pending[i].pid, pending[i].start_time)) {
                dying += pending[i].rss;
                pending[k++] = pending[i];
            }
        npending = k;
        double avail = (double)lv.avail + (double)dying;
        if (avail > (double)lv.total)
            avail = (double)lv.total;
        proj_used = 100.0 - 100.0 * avail / (double)lv.total;
        if (proj_used < s->high) {
            stop = "under high_percent";
            break;
        }
        if (killed >= s->max_kills) {
            stop = "max_kills reached";
            break;
        }
        if (ntried >= MEMORY_MAX_TRIED) {
            stop = "too many candidates tried";
            break;
        }
        if (killed && memory_time_left(s) <= 0) {
            stop = "the action's time is up";
            break;
        }
        memory_cand v;
        if (!memory_pick(s, c, tried, ntried, &v))
            break;
        tried[ntried++] = v.pid;
        int sig = emerg && lv.avail_pct <= s->emerg_kill ? SIGKILL : SIGTERM;
        /* grace 0: this loop watches the victim itself, in short bounded steps. */
        int rc = h->act_signal(s->ctx, v.pid, v.start_time, sig, 0);
        const char *msg = h->last_message(s->ctx);
        if (rc == HEALER_DRY_RUN) {
            r->outcome = HEALER_OUTCOME_DRY_RUN;
            snprintf(r->message, sizeof r->message, "would kill pid %d (%s, badness %ld, rss %llu "
                     "MiB) in %s: %s", (int)v.pid, v.name, v.score,
                     (unsigned long long)(v.rss >> 20), where, msg);
            return HEALER_OK;
        }
        if (rc < 0) {
            h->log(s->ctx, HEALER_LOG_INFO, "kill pid %d (%s): %s", (int)v.pid, v.name, msg);
            continue;
        }
        killed++;
        h->log(s->ctx, HEALER_LOG_INFO, "%s on %s: pid %d (%s, badness %ld, %llu MiB) at %.1f%% "
               "used: %s", a->name, where, (int)v.pid, v.name, v.score,
               (unsigned long long)(v.rss >> 20), lv.used_pct, msg);
        int dead = memory_wait_victim(s, target, &v, &sig, emerg ? s->emerg_grace : s->kill_grace);
        if (!dead && npending < MEMORY_MAX_TRIED)
            pending[npending++] = (memory_victim){v.pid, v.start_time, v.rss};
        if (ll < sizeof log - 1)
            ll += (size_t)snprintf(log + ll, sizeof log - ll, "%s%s %d (%s, badness %ld, %llu MiB%s)",
                                   killed > 1 ? ", " : "", sig == SIGKILL ? "SIGKILL" : "SIGTERM",
                                   (int)v.pid, v.name, v.score, (unsigned long long)(v.rss >> 20),
                                   dead ? "" : ", not yet reaped");
        if (ll >= sizeof log)
            ll = sizeof log - 1;
        /* Settle before judging again (the kernel finishes uncharging), but not while the
         * target is still in emergency: there the next victim cannot wait. */
        memory_level now;
        int still_emerg = emerg && memory_measure_target(s, target, &now) == 0 &&
                          memory_is_emergency(s, &now);
        if (!still_emerg) {
            double settle = s->kill_settle, left = memory_time_left(s);
            memory_sleep(settle < left ? settle : left);
        }
    }
    if (memory_measure_target(s, target, &lv) == 0)
        memory_result_level(r, &lv);
    r->measurements[r->n_measurements++] = (healer_measurement){"processes_killed", killed};
    r->verify_after_s = 0;   /* the loop re-measured already */
    if (!killed) {
        r->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(r->message, sizeof r->message, "no process killed in %s: %s", where, stop);
        return HEALER_OK;
    }
    h->log(s->ctx, HEALER_LOG_INFO, "%s on %s: %d killed, stopped: %s (%.1f%% used)", a->name,
           where, killed, stop, proj_used);
    r->outcome = HEALER_OUTCOME_DONE;
    snprintf(r->message, sizeof r->message, "killed %d in %s (stopped: %s): %s", killed, where,
             stop, log);
    return HEALER_OK;
}
