/* plans_exec.c — one step of a plan, only through the host: act_run (argv, timeout), act_signal
 * on the processes a name or pidfile matches (protection is the host's), a restart request to
 * the service plugin, act_write_file, act_remove_old_files. Dry-run, scope, the operator's
 * write_allow/paths_allow and the audit line are the host's business, as for every plugin. */
#include "plans.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void outcome(plans_state *st, healer_result *res, int rc, const char *what)
{
    if (rc == HEALER_DRY_RUN) {
        res->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(res->message, sizeof res->message, "would %s", what);
    } else if (rc == HEALER_OK) {
        res->outcome = HEALER_OUTCOME_DONE;
        snprintf(res->message, sizeof res->message, "%s", what);
    } else {
        res->outcome = HEALER_OUTCOME_FAILED;
        snprintf(res->message, sizeof res->message, "%s: %s (%s)", what, healer_rc_str(rc),
                 st->h->last_message(st->ctx));
    }
}

/* The time a step may take: its own timeout, within what the engine still gives (minus a
 * margin to report). */
static double budget(plans_state *st, double want)
{
    double left = st->h->action_time_left(st->ctx) - 0.5;
    if (left < 0.1)
        left = 0.1;
    return want < left ? want : left;
}

static void run_step(plans_state *st, const plans_step *s, healer_result *res)
{
    char out[512] = "";
    int es = -1;
    int rc = st->h->act_run(st->ctx, (const char *const *)s->argv, budget(st, s->timeout_s), out,
                            sizeof out, &es);
    char what[300];
    snprintf(what, sizeof what, "ran %s", s->argv[0]);
    if (rc == HEALER_OK && es != 0) {
        res->outcome = HEALER_OUTCOME_FAILED;
        char *nl = strchr(out, '\n');
        if (nl)
            *nl = '\0';
        snprintf(res->message, sizeof res->message, "%s: exit %d%s%.200s", what, es,
                 out[0] ? ": " : "", out);
        return;
    }
    outcome(st, res, rc, what);
}

static void signal_step(plans_state *st, const plans_step *s, healer_result *res)
{
    healer_proc p[32];
    size_t n = plans_find_procs(st, s->process, s->pidfile, p, 32);
    const char *who = s->process ? s->process : s->pidfile;
    if (n == 0) {
        res->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(res->message, sizeof res->message, "no process of %s to signal", who);
        return;
    }
    size_t done = 0, dry = 0;
    int last_rc = HEALER_OK;
    for (size_t i = 0; i < n; i++) {
        /* The grace (TERM, then KILL) only for TERM, as act_signal defines it. */
        int rc = st->h->act_signal(st->ctx, p[i].pid, p[i].start_time, s->sig,
                                   s->sig == SIGTERM ? s->grace_s : 0);
        if (rc == HEALER_OK)
            done++;
        else if (rc == HEALER_DRY_RUN)
            dry++;
        else
            last_rc = rc;
    }
    if (done) {
        res->outcome = HEALER_OUTCOME_DONE;
        snprintf(res->message, sizeof res->message, "signal %d sent to %zu of %zu process(es) of "
                 "%s", s->sig, done, n, who);
    } else if (dry) {
        res->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(res->message, sizeof res->message, "would send signal %d to %zu process(es) of "
                 "%s", s->sig, dry, who);
    } else {
        char what[300];
        snprintf(what, sizeof what, "signal %d to %s", s->sig, who);
        outcome(st, res, last_rc, what);
    }
}

static void restart_step(plans_state *st, const plans_step *s, healer_result *res)
{
    healer_kv args[] = {{"unit", s->unit}};
    healer_reply reply = {0};
    int rc = st->h->request(st->ctx, "service", "restart", args, 1, budget(st, s->timeout_s),
                            &reply);
    if (rc == HEALER_OK)
        rc = reply.status;
    if (rc == HEALER_DRY_RUN) {
        res->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(res->message, sizeof res->message, "would restart %s (service plugin)", s->unit);
    } else if (rc == HEALER_OK) {
        res->outcome = HEALER_OUTCOME_DONE;
        snprintf(res->message, sizeof res->message, "%s restarted by the service plugin: %.300s",
                 s->unit, reply.message);
    } else {
        res->outcome = HEALER_OUTCOME_FAILED;
        snprintf(res->message, sizeof res->message, "restart of %s: %s: %.300s", s->unit,
                 healer_rc_str(rc), reply.message[0] ? reply.message
                                                     : st->h->last_message(st->ctx));
    }
}

void plans_exec_step(plans_state *st, const plans_plan *pl, const plans_step *s,
                     healer_result *res)
{
    (void)pl;
    char what[600];
    res->verify_after_s = s->settle_s;
    switch (s->kind) {
    case STEP_RUN:
        run_step(st, s, res);
        return;
    case STEP_SIGNAL:
        signal_step(st, s, res);
        return;
    case STEP_RESTART_UNIT:
        restart_step(st, s, res);
        return;
    case STEP_WRITE: {
        int rc = st->h->act_write_file(st->ctx, s->write_path, s->value);
        snprintf(what, sizeof what, "wrote \"%.64s\" to %.400s", s->value, s->write_path);
        outcome(st, res, rc, what);
        return;
    }
    case STEP_REMOVE_OLD: {
        healer_remove_opts o = {.pattern = s->pattern, .recursive = s->recursive};
        uint64_t freed = 0, count = 0;
        int rc = st->h->act_remove_old_files(st->ctx, s->dir, s->older_than_days, &o, &freed,
                                             &count);
        snprintf(what, sizeof what, "removed %llu file(s), %llu bytes, older than %g day(s) "
                 "under %.400s", (unsigned long long)count, (unsigned long long)freed,
                 s->older_than_days, s->dir);
        outcome(st, res, rc, what);
        if (rc >= 0 && count == 0 && res->outcome == HEALER_OUTCOME_DONE) {
            res->outcome = HEALER_OUTCOME_SKIPPED;
            snprintf(res->message, sizeof res->message, "nothing older than %g day(s) under %.400s",
                     s->older_than_days, s->dir);
        }
        return;
    }
    }
    res->outcome = HEALER_OUTCOME_FAILED;
    snprintf(res->message, sizeof res->message, "unknown step kind");
}
