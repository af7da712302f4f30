/* plugins/service/service_verify.c — "stays healed": after an action the unit must come up
 * within verify_timeout_s and then stay active for verify_window_s with the same
 * ActiveEnterTimestamp, the same NRestarts and no failure seen, then pass its health check.
 * Judged by host timers (recheck_after_s), never by sleeping; mask_unit by LoadState. */
#include <stdio.h>
#include <string.h>

#include "service.h"

void service_verify_begin(service *s, const char *target, uint64_t since_usec, int dry)
{
    service_unit *u = service_unit_get(s, target, 1);
    if (!u)
        return;
    u->v_on = !dry;
    u->v_dry = dry;
    u->v_phase = 0;
    u->v_started = service_mono();
    u->v_active_at = 0;
    u->v_since_usec = since_usec;
    /* Past this the engine has given up on the step: the issue is judged by state again. */
    u->v_until = u->v_started + s->verify_timeout_s * 2 + s->verify_window_s + 10;
}

static double service_min(double a, double b)
{
    return a < b ? a : b;
}

/* Final verdict: the issue is judged by state again (kick: after the verdict is out). */
static int service_verdict(service *s, service_unit *u, healer_verdict *v, int healed,
                           double stable)
{
    v->healed = healed;
    v->recheck_after_s = 0;
    v->measurements[0] = (healer_measurement){"healed", healed};
    v->measurements[1] = (healer_measurement){"stable_seconds", stable};
    v->measurements[2] = (healer_measurement){"verify_window_seconds", s->verify_window_s};
    v->n_measurements = 3;
    if (u)
        u->v_on = 0;
    service_kick(s);
    return HEALER_OK;
}

static int service_verify_mask(service *s, service_unit *u, const char *unit, healer_verdict *v)
{
    service_info i;
    double waited = service_mono() - (u ? u->v_started : 0);
    if (service_bus_info(s, unit, &i) != HEALER_OK) {
        snprintf(v->message, sizeof v->message, "cannot read %s from systemd", unit);
        return service_verdict(s, u, v, 0, 0);
    }
    /* Masked and not running: a later StartUnit can no longer bring it back. A unit left
     * failed is not running either (its start limit, if hit, is not reset by us). */
    int masked = strcmp(i.load, "masked") == 0;
    int stopped = strcmp(i.active, "inactive") == 0 || strcmp(i.active, "failed") == 0;
    snprintf(v->message, sizeof v->message, "%s: LoadState %s, %s/%s%s%s", unit, i.load,
             i.active, i.sub, masked ? "" : "; its file ",
             masked ? "" : (i.fragment[0] ? i.fragment : "(none)"));
    if (masked && stopped)
        return service_verdict(s, u, v, 1, 0);
    if (waited < s->verify_timeout_s) {
        v->recheck_after_s = 0.2;
        return HEALER_OK;
    }
    if (!masked && strncmp(i.fragment, "/etc/", 5) == 0) {
        size_t l = strlen(v->message);
        snprintf(v->message + l, sizeof v->message - l,
                 " in /etc outranks a runtime mask: not masked (systemctl mask needs that file "
                 "moved)");
    }
    return service_verdict(s, u, v, 0, 0);
}

int service_verify(void *state, const healer_issue *is, const healer_action *a, healer_verdict *v)
{
    service *s = state;
    const char *unit = is->target;
    const char *target = a->target ? a->target : unit;
    if (strcmp(a->name, "mask_unit") == 0)
        target = unit;
    service_unit *u = service_unit_get(s, target, 0);
    if (s->h->dry_run(s->ctx) || !u || u->v_dry) {
        snprintf(v->message, sizeof v->message, "%s",
                 u ? "dry-run: nothing changed" : "no record of the action: not judged healed");
        return service_verdict(s, u, v, 0, 0);
    }
    service_bus_drain(s); /* the exits systemd reported meanwhile count */
    if (strcmp(a->name, "mask_unit") == 0)
        return service_verify_mask(s, u, unit, v);
    double mono = service_mono();
    double waited = mono - u->v_started;
    double stable = u->v_active_at > 0 ? mono - u->v_active_at : 0;
    service_info i;
    if (service_bus_info(s, target, &i) != HEALER_OK) {
        snprintf(v->message, sizeof v->message, "cannot read the state of %s", target);
        return service_verdict(s, u, v, 0, stable);
    }
    int active = strcmp(i.active, "active") == 0 || strcmp(i.active, "reloading") == 0;
    /* Relapses are judged on systemd's own facts (state, ActiveEnterTimestamp, NRestarts), not
     * on the signals we counted: a daemon-reload re-sends states that are no new failure. */
    if (u->v_phase == 0) {
        if (active) {
            u->v_phase = 1;
            u->v_active_at = mono;
            u->v_active_enter = i.active_enter_usec;
            u->v_nrestarts = i.nrestarts;
            snprintf(v->message, sizeof v->message, "%s is %s/%s (settling)", target, i.active,
                     i.sub);
            v->recheck_after_s = service_min(s->verify_window_s, 1.0);
            if (v->recheck_after_s < 0.05)
                v->recheck_after_s = 0.05;
            return HEALER_OK;
        }
        /* A "failed" left from before the action is not the answer: the state must have
         * changed since (or the unit had time enough to leave it). */
        int fresh = i.state_change_usec != u->v_since_usec || waited > 2.0;
        snprintf(v->message, sizeof v->message, "%s is %s/%s", target, i.active, i.sub);
        if ((strcmp(i.active, "failed") == 0 && fresh) || strcmp(i.sub, "auto-restart") == 0) {
            size_t l = strlen(v->message);
            snprintf(v->message + l, sizeof v->message - l,
                     ": failed again %.1f s after the action, not healed", waited);
            return service_verdict(s, u, v, 0, 0);
        }
        if (waited >= s->verify_timeout_s) {
            size_t l = strlen(v->message);
            snprintf(v->message + l, sizeof v->message - l, " after %.1f s: did not come up",
                     waited);
            return service_verdict(s, u, v, 0, 0);
        }
        v->recheck_after_s = 0.1;
        return HEALER_OK;
    }
    /* Phase 1: it came up; it must stay up, the same run, with no restart by systemd. */
    if (!active || i.active_enter_usec != u->v_active_enter || i.nrestarts != u->v_nrestarts) {
        snprintf(v->message, sizeof v->message,
                 "%s relapsed %.1f s after coming up (%s/%s, NRestarts %u -> %u): not healed",
                 target, stable, i.active, i.sub, u->v_nrestarts, i.nrestarts);
        return service_verdict(s, u, v, 0, stable);
    }
    if (stable < s->verify_window_s) {
        snprintf(v->message, sizeof v->message, "%s active for %.1f of %.1f s", target, stable,
                 s->verify_window_s);
        v->recheck_after_s = service_min(s->verify_window_s - stable, 1.0);
        if (v->recheck_after_s < 0.02)
            v->recheck_after_s = 0.02;
        return HEALER_OK;
    }
    char why[HEALER_MSG_MAX];
    if (service_health_ok(s, target, why, sizeof why)) {
        snprintf(v->message, sizeof v->message, "%s stayed %s/%s for %.1f s (NRestarts %u)",
                 target, i.active, i.sub, stable, i.nrestarts);
        return service_verdict(s, u, v, 1, stable);
    }
    if (stable < s->verify_window_s + s->verify_timeout_s) {
        service_cpy(v->message, sizeof v->message, why);
        v->recheck_after_s = 0.5;
        return HEALER_OK;
    }
    service_cpy(v->message, sizeof v->message, why);
    return service_verdict(s, u, v, 0, stable);
}
