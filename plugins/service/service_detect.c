/* plugins/service/service_detect.c — which issues hold for a unit, from systemd's signals and
 * its own facts: service_failed (only once systemd has given up on it), service_flapping (our
 * window, a streak with no stable run, systemd's NRestarts and start-limit-hit; sticky until
 * the operator acts), service_degraded (activating too long) and service_dependency_down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>

#include "service.h"

static int is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static int up(const service_unit *u)
{
    return is(u->active, "active") || is(u->active, "reloading");
}

/* Notes one failure: the flapping window, the streak, and the exits NRestarts will show. */
static void service_count_failure(service *s, service_unit *u, double now)
{
    service_note_failure(u, now, s->flap_window_s);
    u->streak++;
    u->exits_unmatched++;
    service_predict_failure(s, u, now);
}

void service_on_state(service *s, const char *unit, const char *active, const char *sub)
{
    service_on_state_at(s, unit, active, sub, 0, 0);
}

void service_on_state_at(service *s, const char *unit, const char *active, const char *sub,
                         uint64_t inactive_usec, uint64_t exit_usec)
{
    /* A unit a dependent went down with: its recovery is the dependent's news. */
    for (size_t i = 0; i < s->n_tab; i++)
        if (s->tab[i].stopped_by_dep && is(s->tab[i].dep_down, unit))
            s->tab[i].dirty = 1;
    int watched = service_watched(s, unit);
    if (!watched && !service_is_alternative(s, unit))
        return;
    service_unit *u = service_unit_get(s, unit, 1);
    if (!u)
        return;
    int was_failed = is(u->active, "failed");
    int was_ar = is(u->sub, "auto-restart");
    int was_up = up(u);
    int was_inactive = is(u->active, "inactive");
    int had_state = u->active[0] != '\0'; /* not the first sight (the list at connect) */
    if (active && *active)
        service_cpy(u->active, sizeof u->active, active);
    if (sub && *sub)
        service_cpy(u->sub, sizeof u->sub, sub);
    int is_failed = is(u->active, "failed");
    int is_ar = is(u->sub, "auto-restart");
    /* failed -> activating -> failed in one signal (a unit that fails at once): the states look
     * unchanged, but it left inactive after it last entered it, and entered it again. The stop
     * half of a restart of a failed unit re-enters failed without leaving it: not a failure. */
    uint64_t prev_enter = u->inactive_usec;
    if (exit_usec)
        u->exit_usec = exit_usec;
    int refailed = is_failed && was_failed && inactive_usec && prev_enter &&
                   inactive_usec != prev_enter && u->exit_usec > prev_enter;
    if (inactive_usec)
        u->inactive_usec = inactive_usec;
    double now = s->h->now(s->ctx);
    /* One failure per exit: entering failed, or entering auto-restart (systemd restarting it by
     * itself). systemd 252 sends failed and then auto-restart for the same exit of a
     * Restart= unit: the second is not another failure. */
    /* A failure is known by the time it entered failed: the same one signalled again (a
     * daemon-reload re-sends states) is not counted twice. */
    int same = is_failed && inactive_usec && inactive_usec == u->fail_enter_usec;
    if (is_failed && inactive_usec)
        u->fail_enter_usec = inactive_usec;
    if (((is_failed && (!was_failed || refailed)) && !same) || (is_ar && !was_ar && !was_failed)) {
        service_count_failure(s, u, now);
        if (is_failed) {
            u->failed_at = now;
            u->defer_until = 0; /* a new exit: systemd's verdict on it is awaited afresh */
        }
        s->h->log(s->ctx, HEALER_LOG_DEBUG, "%s: %s/%s", unit, u->active, u->sub);
    }
    /* failed -> inactive with no action of ours: an operator's reset-failed. Their answer ends
     * the streak (a fast loop still shows in the window). */
    if (was_failed && is(u->active, "inactive") && !u->v_on &&
        !(s->busy_unit && is(s->busy_unit, u->name)))
        u->streak = 0;
    if (up(u) && !was_up)
        u->active_since = now;
    else if (!up(u))
        u->active_since = 0;
    if (is(u->active, "activating") && !is_ar) {
        if (u->activating_since == 0)
            u->activating_since = service_mono();
    } else {
        u->activating_since = 0;
    }
    if (up(u) || is_failed)
        u->stopped_by_dep = 0;
    /* only a unit that just stopped is looked at for a dependency that took it down: reading
     * dependencies of every inactive unit every cycle would cost a bus round trip each */
    if (is(u->active, "inactive") && !was_inactive && had_state)
        u->went_inactive = 1;
    u->need_info = 1;
    u->dirty = 1;
}

/* Reads what systemd itself says of the unit: load state, Result, Restart=, a queued job, and
 * NRestarts, whose growth beyond the exits we saw (signals merged by systemd) is counted too. */
static void service_refresh(service *s, service_unit *u, double now)
{
    service_info i;
    if (service_bus_info(s, u->name, &i) != HEALER_OK)
        return;
    u->need_info = 0;
    if (strcmp(u->active, i.active) != 0 || strcmp(u->sub, i.sub) != 0) {
        /* A transition whose signal we did not get (systemd merges them): the state read now
         * is the truth; an exit it hid is counted through NRestarts below. */
        s->h->log(s->ctx, HEALER_LOG_DEBUG, "%s: signalled %s/%s, reads %s/%s", u->name,
                  u->active, u->sub, i.active, i.sub);
        /* A stop whose inactive signal was merged away (deactivating was the last one seen) is
         * still a stop: look for the Requires=/BindsTo= unit that took it down, as the signal
         * would have (service_loop once saw loop-bound never restarted for want of this). */
        int was_inactive = is(u->active, "inactive");
        service_cpy(u->active, sizeof u->active, i.active);
        service_cpy(u->sub, sizeof u->sub, i.sub);
        if (is(u->active, "inactive") && !was_inactive)
            u->went_inactive = 1;
    }
    if (!u->inactive_usec)
        u->inactive_usec = i.inactive_enter_usec;
    if (!u->exit_usec)
        u->exit_usec = i.inactive_exit_usec;
    if (!u->fail_enter_usec && strcmp(i.active, "failed") == 0)
        u->fail_enter_usec = i.inactive_enter_usec;
    service_cpy(u->load, sizeof u->load, i.load);
    service_cpy(u->result, sizeof u->result, i.result);
    service_cpy(u->restart, sizeof u->restart, i.restart);
    u->job = i.job;
    if (i.has_start_limit) {
        u->limit_interval_s = (double)i.start_limit_usec / 1e6;
        u->limit_burst = i.start_limit_burst;
        u->limit_known = 1;
    }
    if (!i.has_service)
        return;
    if (u->nr_known && i.nrestarts > u->nrestarts) {
        unsigned d = i.nrestarts - u->nrestarts;
        if (d > u->exits_unmatched) {
            for (unsigned k = 0; k < d - u->exits_unmatched && k < SERVICE_FAILS_MAX; k++)
                service_count_failure(s, u, now);
            s->h->log(s->ctx, HEALER_LOG_DEBUG, "%s: NRestarts %u -> %u: %u exit(s) not signalled",
                      u->name, u->nrestarts, i.nrestarts, d - u->exits_unmatched);
        }
        u->exits_unmatched = d >= u->exits_unmatched ? 0 : u->exits_unmatched - d;
    }
    if (!u->restart[0] || is(u->restart, "no"))
        u->exits_unmatched = 0; /* NRestarts never grows for it */
    u->nrestarts = i.nrestarts; /* a manual start resets it: rebase */
    u->nr_known = 1;
}

/* The covering alternative of a failed unit runs: the service it provides is there. */
static int service_covered(service *s, const service_unit *u)
{
    const service_pair *p = service_pair_find(s->alts, s->n_alts, u->name);
    if (!p)
        return 0;
    service_unit *a = service_unit_get(s, p->value, 0);
    return a && is(a->active, "active");
}

/* systemd restarts it after a failure by itself (Restart=always or on-failure). */
static int service_systemd_restarts(const service_unit *u)
{
    return is(u->restart, "always") || is(u->restart, "on-failure");
}

static int service_flap_now(service *s, service_unit *u, double now, unsigned recent)
{
    if (is(u->load, "masked"))
        return 0; /* the operator's answer (or the confirmed mask): nothing runs to flap */
    if (u->limit_hit || recent >= (unsigned)s->flap_failures || u->streak >= (unsigned)s->flap_failures)
        return 1;
    if (!u->flapping_open)
        return 0;
    /* Sticky: the escalation does not expire with the window or a pending request. It ends when
     * the operator resets or stops the unit (inactive), or when it has run without a failure. */
    if (is(u->active, "inactive"))
        return 0;
    (void)now;
    return !(up(u) && u->streak == 0 && recent < (unsigned)s->flap_failures);
}

int service_is_flapping(service *s, const char *unit)
{
    service_unit *u = service_unit_get(s, unit, 0);
    if (!u)
        return 0;
    double now = s->h->now(s->ctx);
    return service_flap_now(s, u, now, service_recent_failures(u, now, s->flap_window_s));
}

static void service_publish(service *s, service_unit *u, const char *type, healer_severity sev,
                            const char *summary, const healer_measurement *ms, size_t n_ms)
{
    char comp[SERVICE_UNIT_MAX + 8];
    snprintf(comp, sizeof comp, "unit:%s", u->name);
    const char *comps[] = {comp};
    healer_issue iss = {
        .type = type,
        .severity = sev,
        .target = u->name,
        .summary = summary,
        .measurements = ms,
        .n_measurements = n_ms,
        .components = comps,
        .n_components = 1,
    };
    int rc = s->h->publish_issue(s->ctx, &iss);
    if (rc < 0)
        s->h->log(s->ctx, HEALER_LOG_WARN, "publishing %s for %s: %s", type, u->name,
                  healer_rc_str(rc));
}

static void service_publish_main(service *s, service_unit *u, int flapping, unsigned recent,
                                 double now)
{
    char summary[HEALER_MSG_MAX];
    int limit = u->limit_hit;
    if (flapping && limit)
        snprintf(summary, sizeof summary,
                 "%s: systemd gave up restarting it (Restart=%s, %s/%s, result %s, NRestarts "
                 "%u: its start limit): waiting for an operator", u->name, u->restart, u->active,
                 u->sub, u->result, u->nrestarts);
    else if (flapping)
        snprintf(summary, sizeof summary,
                 "%s is flapping: %u failures in %.0f s, %u since it last ran %.0f s (%s/%s); "
                 "not restarted until an operator acts", u->name, recent, s->flap_window_s,
                 u->streak, s->verify_window_s, u->active, u->sub);
    else
        snprintf(summary, sizeof summary, "%s failed (%s/%s, result %s, %u failure(s) in %.0f s)",
                 u->name, u->active, u->sub, u->result[0] ? u->result : "?", recent,
                 s->flap_window_s);
    healer_measurement ms[] = {
        {"failures_in_window", (double)recent},
        {"flap_window_seconds", s->flap_window_s},
        {"failed_for_seconds", u->failed_at > 0 ? now - u->failed_at : 0},
        {"failures_since_stable", (double)u->streak},
        {"systemd_nrestarts", (double)u->nrestarts},
        {"start_limit_hit", limit ? 1.0 : 0.0},
    };
    service_publish(s, u, flapping ? "service_flapping" : "service_failed", HEALER_SEV_HIGH,
                    summary, ms, 6);
}

/* activating (not systemd's auto-restart wait) for longer than activating_timeout_s: a slow
 * start is not a dead unit; raised at lower severity, and no restart is planned for it. */
static void service_degraded(service *s, service_unit *u, double mono)
{
    double for_s = u->activating_since > 0 ? mono - u->activating_since : 0;
    if (for_s > s->activating_timeout_s) {
        char summary[HEALER_MSG_MAX];
        snprintf(summary, sizeof summary, "%s has been activating for %.0f s (%s; job %u)",
                 u->name, for_s, u->sub, u->job);
        healer_measurement ms[] = {{"activating_seconds", for_s},
                                   {"activating_timeout_seconds", s->activating_timeout_s}};
        service_publish(s, u, "service_degraded", HEALER_SEV_MEDIUM, summary, ms, 2);
        u->degraded_open = 1;
    } else if (u->degraded_open) {
        s->h->resolve_issue(s->ctx, "service_degraded", u->name);
        u->degraded_open = 0;
    }
}

/* A unit systemd stopped because a Requires=/BindsTo= unit went down is not stopped on purpose:
 * once that unit runs again and the dependent is still inactive, it is raised to be started. */
static void service_dependency(service *s, service_unit *u)
{
    if (u->went_inactive && is(u->active, "inactive") && !u->stopped_by_dep && !u->dep_open &&
        s->bus) {
        u->went_inactive = 0;
        char down[1][SERVICE_UNIT_MAX];
        if (service_bus_down_deps(s, u->name, down, 1) == 1) {
            u->stopped_by_dep = 1;
            service_cpy(u->dep_down, sizeof u->dep_down, down[0]);
            s->h->log(s->ctx, HEALER_LOG_INFO, "%s went down with %s", u->name, u->dep_down);
        }
    }
    int raise = 0;
    if (u->stopped_by_dep && is(u->active, "inactive")) {
        char a[32] = "", sb[32] = "";
        raise = service_bus_state(s, u->dep_down, a, sizeof a, sb, sizeof sb, NULL) == HEALER_OK &&
                is(a, "active");
    }
    if (raise) {
        char summary[HEALER_MSG_MAX];
        snprintf(summary, sizeof summary, "%.150s was stopped with %.150s, which runs again; it is %s/%s",
                 u->name, u->dep_down, u->active, u->sub);
        healer_measurement ms[] = {{"dependency_active", 1}};
        service_publish(s, u, "service_dependency_down", HEALER_SEV_HIGH, summary, ms, 1);
        u->dep_open = 1;
    } else if (u->dep_open && (up(u) || !u->stopped_by_dep) && !u->v_on) {
        s->h->resolve_issue(s->ctx, "service_dependency_down", u->name);
        u->dep_open = 0;
    }
}

/* Decides, from the unit's current state and recent failures, which issues hold. */
static void service_evaluate(service *s, service_unit *u, double now)
{
    u->dirty = 0;
    if (!u->watched)
        return;
    double mono = service_mono();
    if (u->need_info && s->bus)
        service_refresh(s, u, now);
    if (u->v_on && mono > u->v_until)
        u->v_on = 0; /* the engine gave up on that verification */
    /* It stayed up for the window: earlier failures are history, not a streak. */
    if (u->active_since > 0 && now - u->active_since >= s->verify_window_s && !u->v_on)
        u->streak = 0;
    unsigned recent = service_recent_failures(u, now, s->flap_window_s);
    int failed = is(u->active, "failed");
    /* Restart= set and systemd has not given up: its own restart is on the way (252 sends
     * failed just before auto-restart). Its verdict is awaited for restart_grace_s. */
    int deferred = 0;
    if (failed && service_systemd_restarts(u) && !is(u->result, "start-limit-hit")) {
        if (u->defer_until == 0) {
            u->defer_until = mono + s->restart_grace_s;
            service_arm_timer(s);
        }
        deferred = mono < u->defer_until;
    }
    /* Still failed after that: systemd gave up, which for Restart=always/on-failure is its start
     * limit (252 keeps the Result of the last exit, exit-code, not start-limit-hit). Not ours
     * to reset or restart. */
    u->limit_hit = failed && (is(u->result, "start-limit-hit") ||
                              (service_systemd_restarts(u) && !deferred));
    int flapping = service_flap_now(s, u, now, recent);
    if (flapping) {
        service_publish_main(s, u, 1, recent, now);
        u->flapping_open = 1;
    } else if (u->flapping_open) {
        s->h->resolve_issue(s->ctx, "service_flapping", u->name);
        u->flapping_open = 0;
    }
    service_predict_evaluate(s, u, now, flapping);
    service_degraded(s, u, mono);
    service_dependency(s, u);
    if (failed && u->job)
        deferred = 1; /* a job is queued for it: systemd (or an operator) is on it */
    int covered = failed && service_covered(s, u);
    if (failed && !flapping && !covered && !deferred) {
        service_publish_main(s, u, 0, recent, now);
        u->failed_open = 1;
        return;
    }
    if (!u->failed_open)
        return;
    /* A unit we are acting on or verifying is judged by the verdict, not by a passing state. */
    int busy = (s->busy_unit && is(s->busy_unit, u->name)) || u->v_on;
    if (flapping || covered || (!busy && !failed)) {
        s->h->resolve_issue(s->ctx, "service_failed", u->name);
        u->failed_open = 0;
    }
}

void service_after_drain(service *s)
{
    double now = s->h->now(s->ctx);
    for (size_t i = 0; i < s->n_tab; i++)
        if (s->tab[i].dirty)
            service_evaluate(s, &s->tab[i], now);
}

size_t service_evaluate_all(service *s)
{
    double now = s->h->now(s->ctx);
    size_t open = 0;
    for (size_t i = 0; i < s->n_tab; i++) {
        service_evaluate(s, &s->tab[i], now);
        service_unit *u = &s->tab[i];
        if (u->failed_open || u->flapping_open || u->dep_open)
            open++;
    }
    return open;
}

void service_arm_timer(service *s)
{
    if (s->timer_fd < 0)
        return;
    double next = 0;
    for (size_t i = 0; i < s->n_tab; i++) {
        double d = s->tab[i].defer_until;
        if (d > 0 && (next == 0 || d < next) && d > service_mono() - 1)
            next = d;
    }
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (next > 0) {
        double in = next - service_mono();
        if (in < 0.001)
            in = 0.001;
        its.it_value.tv_sec = (time_t)in;
        its.it_value.tv_nsec = (long)((in - (double)(time_t)in) * 1e9) + 1;
    }
    timerfd_settime(s->timer_fd, 0, &its, NULL);
}
