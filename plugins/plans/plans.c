/* plans.c — the plans plugin: checks and healing plans written in the *.conf files of plans.d, no C
 * (README.md). The descriptor, init (read and check the folder, declare the paths the steps
 * need), detect (run the due checks, raise and resolve check_failed), plan (the plans that match
 * an issue, as a ladder of actions), execute (plans_exec.c) and verify (the check passes again). */
#include "plans.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "*": the engine sends every issue (sdk/docs/abi.md), since a plan may match any type. */
static const char *const plans_issue_types[] = {PLANS_ISSUE, "*", NULL};

static const healer_config_key plans_config[] = {
    {"dir", HEALER_CFG_STRING, "${config_dir}/plans.d", 0, 0,
     "folder of the *.conf files with checks and plans; default: plans.d beside healerd.conf"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static void plans_report(void *ud, const char *file, int line, const char *msg)
{
    plans_state *st = ud;
    st->h->log(st->ctx, HEALER_LOG_ERROR, "%s:%d: %s (file refused; the others load)", file, line,
               msg);
}

/* Declares the directories and files the plan's steps change; a plan with one the operator's
 * paths_allow does not cover is refused (logged), the others stay. */
static int plans_declare(plans_state *st, const plans_plan *pl)
{
    for (size_t i = 0; i < pl->n_steps; i++) {
        const plans_step *s = &pl->steps[i];
        const char *p = s->kind == STEP_REMOVE_OLD ? s->dir
                        : s->kind == STEP_WRITE && strncmp(s->write_path, "/proc/", 6) != 0 &&
                                  strncmp(s->write_path, "/sys/", 5) != 0
                            ? s->write_path
                            : NULL;
        if (p && st->h->declare_path(st->ctx, p) < 0) {
            st->h->log(st->ctx, HEALER_LOG_ERROR, "%s:%d: plan %s refused: step %s: %s", pl->file,
                       s->line, pl->name, s->name, st->h->last_message(st->ctx));
            return -1;
        }
    }
    return 0;
}

static int plans_init(const healer_host *h, healer_ctx *ctx, void **state)
{
    plans_state *st = calloc(1, sizeof *st);
    if (!st)
        return HEALER_E_NOMEM;
    st->h = h;
    st->ctx = ctx;
    const char *dir = h->config_string(ctx, "dir");
    /* The operator's policy is the agent's to apply: declare_path and the actuators check it. */
    int problems = plans_load_dir(dir, NULL, plans_report, st, &st->set);
    st->rt = calloc(st->set.n_checks + 1, sizeof *st->rt);
    st->plan_ok = calloc(st->set.n_plans + 1, 1);
    if (!st->rt || !st->plan_ok) {
        plans_set_free(&st->set);
        free(st->rt);
        free(st->plan_ok);
        free(st);
        return HEALER_E_NOMEM;
    }
    size_t ok = 0;
    for (size_t i = 0; i < st->set.n_plans; i++)
        if (plans_declare(st, &st->set.plans[i]) == 0) {
            st->plan_ok[i] = 1;
            ok++;
        }
    if (plans_check_init(st) != 0)
        h->log(ctx, HEALER_LOG_ERROR, "libcurl did not initialise: http checks will fail");
    /* First runs spread over the first second so a big folder does not burst. */
    double now = h->now(ctx);
    for (size_t i = 0; i < st->set.n_checks; i++)
        st->rt[i].next_run = now + (double)i / (double)(st->set.n_checks + 1);
    h->log(ctx, HEALER_LOG_INFO, "%s: %zu file(s) (%zu refused, %d problem(s)), %zu check(s), "
           "%zu of %zu plan(s)", dir, st->set.n_files, st->set.n_files_refused, problems,
           st->set.n_checks, ok, st->set.n_plans);
    *state = st;
    return HEALER_OK;
}

static void plans_destroy(void *state)
{
    plans_state *st = state;
    if (!st)
        return;
    plans_check_cleanup(st);
    plans_set_free(&st->set);
    free(st->rt);
    free(st->plan_ok);
    free(st);
}

static void plans_publish(plans_state *st, const plans_check *c, plans_rt *r)
{
    healer_measurement m[PLANS_MEAS + 1];
    size_t n = 0;
    for (size_t i = 0; i < r->last.n; i++)
        m[n++] = (healer_measurement){r->last.name[i], r->last.value[i]};
    m[n++] = (healer_measurement){"consecutive_failures", (double)r->fails};
    char summary[HEALER_MSG_MAX];
    snprintf(summary, sizeof summary, "check %s failed %d time(s): %s", c->name, r->fails, r->why);
    healer_issue is = {.type = PLANS_ISSUE, .severity = (healer_severity)c->severity,
                       .target = c->name, .summary = summary, .measurements = m,
                       .n_measurements = n};
    if (st->h->publish_issue(st->ctx, &is) == HEALER_OK)
        r->raised = 1;
}

static int plans_detect(void *state)
{
    plans_state *st = state;
    double now = st->h->now(st->ctx);
    for (size_t i = 0; i < st->set.n_checks; i++) {
        const plans_check *c = &st->set.checks[i];
        plans_rt *r = &st->rt[i];
        if (now >= r->next_run) {
            r->next_run = now + c->interval_s;
            if (plans_run_check(st, c, &r->last, r->why, sizeof r->why)) {
                if (r->raised && st->h->resolve_issue(st->ctx, PLANS_ISSUE, c->name) == HEALER_OK)
                    r->raised = 0;
                r->fails = 0;
            } else {
                r->fails++;
                /* fail_count consecutive failures before it is an issue: one slow answer is
                 * not a heal. While it fails, each run refreshes the open issue. */
                if (r->fails >= c->fail_count)
                    plans_publish(st, c, r);
                else
                    st->h->log(st->ctx, HEALER_LOG_DEBUG, "check %s failed (%d of %d): %s",
                               c->name, r->fails, c->fail_count, r->why);
            }
        }
    }
    /* No report_health: a failing check is one service's issue, not the system's health, and a
     * low health would hold back (limits.min_health_for_auto) the very plan that heals it. */
    return HEALER_OK;
}

static double issue_measure(const healer_issue *is, const char *name, int *found)
{
    for (size_t i = 0; i < is->n_measurements; i++)
        if (is->measurements[i].name && strcmp(is->measurements[i].name, name) == 0) {
            *found = 1;
            return is->measurements[i].value;
        }
    *found = 0;
    return 0;
}

static int plans_matches(const plans_plan *pl, const healer_issue *is)
{
    if (fnmatch(pl->match_type, is->type, 0) != 0 ||
        fnmatch(pl->match_target, is->target ? is->target : "", 0) != 0)
        return 0;
    for (size_t i = 0; i < pl->n_when; i++) {
        int found;
        double v = issue_measure(is, pl->when[i].name, &found);
        if (!found || !plans_cond_holds(&pl->when[i], v))
            return 0;
    }
    return 1;
}

static void plans_describe(const plans_step *s, char *buf, size_t len)
{
    switch (s->kind) {
    case STEP_RUN: snprintf(buf, len, "run %s", s->argv[0]); break;
    case STEP_SIGNAL:
        snprintf(buf, len, "signal %d to %s", s->sig, s->process ? s->process : s->pidfile);
        break;
    case STEP_RESTART_UNIT: snprintf(buf, len, "restart %s (service plugin)", s->unit); break;
    case STEP_WRITE: snprintf(buf, len, "write \"%s\" to %s", s->value, s->write_path); break;
    case STEP_REMOVE_OLD:
        snprintf(buf, len, "remove files older than %g day(s) under %s", s->older_than_days,
                 s->dir);
        break;
    }
}

static int plans_plan_cb(void *state, const healer_issue *is, healer_plan *plan)
{
    plans_state *st = state;
    for (size_t i = 0; i < st->set.n_plans; i++) {
        const plans_plan *pl = &st->set.plans[i];
        if (!st->plan_ok[i] || !plans_matches(pl, is))
            continue;
        for (size_t k = 0; k < pl->n_steps; k++) {
            const plans_step *s = &pl->steps[k];
            char what[400], desc[HEALER_MSG_MAX];
            plans_describe(s, what, sizeof what);
            snprintf(desc, sizeof desc, "%s (plan %s, %s:%d)", what, pl->name, pl->file, s->line);
            healer_kv params[] = {{"plan", pl->name}, {"step", s->name}};
            healer_action a = {.name = s->action, .description = desc, .step = (unsigned)k,
                               .impact = s->impact, .confidence = 0.5, .flags = s->flags,
                               .params = params, .n_params = 2};
            int rc = st->h->plan_add_action(plan, &a);
            if (rc < 0)
                st->h->log(st->ctx, HEALER_LOG_WARN, "plan %s step %s not proposed: %s",
                           pl->name, s->name, st->h->last_message(st->ctx));
        }
    }
    return HEALER_OK;
}

static const char *param(const healer_action *a, const char *key)
{
    for (size_t i = 0; i < a->n_params; i++)
        if (a->params[i].key && strcmp(a->params[i].key, key) == 0)
            return a->params[i].value;
    return NULL;
}

/* The plan and step an action names; NULL when plans.d no longer has them. */
static const plans_plan *plans_lookup(plans_state *st, const healer_action *a,
                                      const plans_step **step)
{
    const char *pn = param(a, "plan"), *sn = param(a, "step");
    for (size_t i = 0; pn && sn && i < st->set.n_plans; i++) {
        const plans_plan *pl = &st->set.plans[i];
        if (!st->plan_ok[i] || strcmp(pl->name, pn) != 0)
            continue;
        for (size_t k = 0; k < pl->n_steps; k++)
            if (strcmp(pl->steps[k].name, sn) == 0) {
                *step = &pl->steps[k];
                return pl;
            }
    }
    return NULL;
}

static int plans_execute(void *state, const healer_issue *is, const healer_action *a,
                         healer_result *res)
{
    (void)is;
    plans_state *st = state;
    const plans_step *s = NULL;
    const plans_plan *pl = plans_lookup(st, a, &s);
    if (!pl) {
        res->outcome = HEALER_OUTCOME_FAILED;
        snprintf(res->message, sizeof res->message, "action %s: no such plan step in plans.d",
                 a->name);
        return HEALER_OK;
    }
    plans_exec_step(st, pl, s, res);
    return HEALER_OK;
}

static int plans_verify(void *state, const healer_issue *is, const healer_action *a,
                        healer_verdict *v)
{
    plans_state *st = state;
    const plans_step *s = NULL;
    const plans_plan *pl = plans_lookup(st, a, &s);
    if (!pl) {
        snprintf(v->message, sizeof v->message, "no such plan step in plans.d");
        return HEALER_OK;
    }
    if (pl->verify_argv) {
        char out[256] = "";
        int es = -1;
        int rc = st->h->probe_run(st->ctx, (const char *const *)pl->verify_argv, 30, out,
                                  sizeof out, &es);
        v->healed = rc == HEALER_OK;
        snprintf(v->message, sizeof v->message, "verify_command %s: exit %d", pl->verify_argv[0],
                 es);
        return HEALER_OK;
    }
    const char *name = pl->verify_check ? pl->verify_check : is->target;
    const plans_check *c = plans_find_check(&st->set, name);
    if (!c) {
        snprintf(v->message, sizeof v->message, "no check %s to verify with", name);
        return HEALER_OK;
    }
    size_t idx = (size_t)(c - st->set.checks);
    plans_rt *r = &st->rt[idx];
    plans_meas m;
    char why[256];
    v->healed = plans_run_check(st, c, &m, why, sizeof why);
    for (size_t i = 0; i < m.n && i < HEALER_MAX_MEASUREMENTS; i++)
        v->measurements[v->n_measurements++] = (healer_measurement){m.name[i], m.value[i]};
    if (v->healed) {
        snprintf(v->message, sizeof v->message, "check %s passes again", c->name);
        /* The issue is resolved by detect(), not here (the heal is still being judged): the
         * check runs again at the next detect rather than a whole interval later. */
        r->next_run = st->h->now(st->ctx);
    } else {
        snprintf(v->message, sizeof v->message, "check %s still fails: %s", c->name, why);
    }
    return HEALER_OK;
}

static const healer_plugin plans_descriptor = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "plans",
    .version = "1.0.0",
    .description = "checks and healing plans written in plans.d/*.conf: process, HTTP, TCP, "
                   "file and command checks; ladders of host actions",
    .issue_types = plans_issue_types,
    .config = plans_config,
    .interval = 1.0,
    .init = plans_init,
    .destroy = plans_destroy,
    .detect = plans_detect,
    .plan = plans_plan_cb,
    .execute = plans_execute,
    .verify = plans_verify,
};

HEALER_PLUGIN(plans_descriptor)
