/* test_engine_loops.c — heal-loop escalation and relapse (issue #11) on a detached engine
 * (engine_harness.c) with simulated clocks, a real governor and a real knowledge base: the plan
 * after limits.loop_heals healed heals in the window waits for a person (critical excepted), a
 * heal whose issue is back within relapse_window_s is recorded relapsed and counts as a failure,
 * the history survives a restart through govstore, and a model-based test over random
 * interleavings (MODEL_SEED=n replays one) checks that automatic non-critical heals of one
 * (type, target) never exceed loop_heals in any window. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine_harness.h"
#include "govstore.h"

static const char *const TX[] = { "tx", NULL };
static const hx_plugin PL[] = {
    { "det", NULL, 1, 0, 0 },
    { "pa", TX, 1, 1, 0 },
};
static const hx_act RESTART[] = { { "restart", 0, 0, 0.8 } };

static hx *mk(int loop_heals, int with_kb)
{
    hx *h = calloc(1, sizeof *h);
    assert_non_null(h);
    hx_init(h, PL, 2, with_kb);
    h->cfg.limits.cooldown_minutes = 0;
    h->cfg.limits.max_heals_per_hour = 100000;
    h->cfg.limits.loop_heals = loop_heals;
    h->cfg.limits.loop_window_minutes = 60;
    h->cfg.limits.relapse_window_s = 300;
    governor_set_limits(h->gov, &h->cfg.limits, h->cfg.dry_run);
    hx_start(h);
    return h;
}

static void done(hx *h)
{
    hx_free(h);
    free(h);
}

/* Raises (or repeats) the issue; the heal id of the plan request it caused, or 0. */
static uint64_t raise_on(hx *h, int sev)
{
    size_t mark = h->n_log;
    hx_issue(h, "det", "tx", "svc", sev);
    const hx_sent *s = hx_last(h, mark, MSG_PLAN_REQ, NULL);
    return s ? s->seq : 0;
}

/* Plans RESTART for id; when it is sent, the plugin reports it healed. 1 if it ran. */
static int plan_and_heal(hx *h, uint64_t id)
{
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, RESTART, 1);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    if (!x)
        return 0;
    hx_result(h, "pa", id, x->attempt, HEALER_OUTCOME_HEALED, 0, "restarted");
    return 1;
}

static const char *kb_outcome(hx *h, uint64_t id)
{
    knowledge_flush(h->kb);
    static char out[32];
    out[0] = '\0';
    json_t *hj = knowledge_heals_json(h->kb, 100);
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(hj, "heals"), i, v)
        if ((uint64_t)json_integer_value(json_object_get(v, "id")) == id)
            snprintf(out, sizeof out, "%s", json_string_value(json_object_get(v, "outcome")));
    json_decref(hj);
    return out;
}

/* Three healed heals that keep coming back: each is marked relapsed (a failure for learning);
 * the fourth plan waits for a person with the loop named; a confirmation runs it; a critical
 * repeat is not held back; once the window slides past the first heals it runs by itself. */
static void test_loop_escalates_and_relapses(void **state)
{
    (void)state;
    hx *h = mk(3, 1);
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = raise_on(h, 1);
        assert_true(ids[i] != 0);
        assert_true(plan_and_heal(h, ids[i]));
        assert_string_equal(kb_outcome(h, ids[i]), "healed");
        hx_advance(h, 60);
    }
    uint64_t att = 0, succ = 0;
    knowledge_stats(h->kb, "tx", "restart", &att, &succ);
    assert_int_equal(att, 3);
    assert_int_equal(succ, 1); /* the first two relapsed when the issue came back */
    assert_string_equal(kb_outcome(h, ids[2]), "healed");
    /* back 60 s after the third healed: it relapsed too */
    uint64_t id4 = raise_on(h, 1);
    assert_true(id4 != 0);
    for (int i = 0; i < 3; i++)
        assert_string_equal(kb_outcome(h, ids[i]), "relapsed");
    knowledge_stats(h->kb, "tx", "restart", &att, &succ);
    assert_int_equal(att, 3);
    assert_int_equal(succ, 0);

    size_t mark = h->n_log;
    hx_plan(h, "pa", id4, RESTART, 1);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    heal *hp = u64map_get(h->e->heals, id4);
    assert_non_null(hp);
    assert_int_equal(hp->phase, H_PENDING);
    json_t *pj = engine_pending_json(h->e);
    json_t *p0 = json_array_get(json_object_get(pj, "pending"), 0);
    assert_string_equal(json_string_value(json_object_get(p0, "reason")),
                        "loop: 3 heals in 60 minutes");
    json_decref(pj);
    eissue *is = hx_open_issue(h, "tx", "svc");
    assert_int_equal(is->state, IS_PENDING);
    assert_string_equal(is->reason, "loop");

    /* a person says yes: it runs */
    mark = h->n_log;
    assert_int_equal(hx_command(h, HTTP_CMD_CONFIRM, id4), HEALER_OK);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(x);
    hx_result(h, "pa", id4, x->attempt, HEALER_OUTCOME_HEALED, 0, "restarted");

    /* critical: the loop rule never holds back an emergency */
    uint64_t id5 = raise_on(h, HEALER_SEV_CRITICAL);
    assert_true(id5 != 0);
    assert_true(plan_and_heal(h, id5));
    assert_string_equal(json_string_value(json_object_get(hx_heal(h, id5), "outcome")), "healed");

    /* an hour after the last of them the window is empty again: automatic */
    hx_advance(h, 3601);
    hx_resolve(h, "det", "tx", "svc");
    uint64_t id6 = raise_on(h, 1);
    assert_true(id6 != 0);
    assert_true(plan_and_heal(h, id6));
    done(h);
}

/* Back after the relapse window: the heal stays healed. loop_heals 0: no escalation. */
static void test_no_relapse_after_window(void **state)
{
    (void)state;
    hx *h = mk(0, 1);
    uint64_t a = raise_on(h, 1);
    assert_true(plan_and_heal(h, a));
    hx_advance(h, 301);
    uint64_t b = raise_on(h, 1);
    assert_true(b != 0);
    assert_string_equal(kb_outcome(h, a), "healed");
    for (int i = 0; i < 5; i++) { /* loop_heals = 0: never escalated */
        assert_true(plan_and_heal(h, b));
        hx_advance(h, 1);
        b = raise_on(h, 1);
    }
    done(h);
}

/* The history behind the rule is in knowledge.db (gov_loops): a new governor loaded from it
 * counts the same heals and knows which relapsed. */
static void test_loops_durable(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_loops.XXXXXX";
    assert_non_null(mkdtemp(dir));
    knowledge *kb = NULL;
    char err[256];
    assert_int_equal(knowledge_open(dir, &kb, err, sizeof err), 0);
    agent_limits lim = { 10, 3, 30, 0, 60, 0, 3, 60, 300 };
    governor *g = governor_new(&lim, 0);
    gov_store st = govstore_ops(kb);
    governor_set_store(g, &st);
    double t = HX_T0;
    for (int i = 0; i < 3; i++) {
        loop_heal l = { "tx", "svc", (uint64_t)(100 + i), t + i * 60, t + i * 60 + 5, 0 };
        assert_int_equal(loops_note_healed(governor_loops(g), &l), 0);
    }
    assert_int_equal(loops_relapse(governor_loops(g), "tx", "svc", t + 200, 300), 102);
    governor_free(g);
    g = governor_new(&lim, 0);
    assert_int_equal(govstore_load(kb, g, t + 300), 0);
    assert_int_equal(loops_count(governor_loops(g), "tx", "svc", t + 300, 3600), 3);
    assert_int_equal(loops_count(governor_loops(g), "tx", "other", t + 300, 3600), 0);
    /* 102 relapsed already; the newest not relapsed within the window is 101 */
    assert_int_equal(loops_relapse(governor_loops(g), "tx", "svc", t + 300, 300), 101);
    /* pruned past the longer window */
    loop_heal late = { "tx", "svc", 200, t + 7300, t + 7301, 0 };
    assert_int_equal(loops_note_healed(governor_loops(g), &late), 0);
    assert_int_equal(loops_size(governor_loops(g)), 1);
    governor_free(g);
    knowledge_close(kb);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    assert_int_equal(system(rm), 0);
}

/* Every issue on a new target (the soak's "fresh" pattern) within a long window: the table
 * stops at LOOPS_CAP, the oldest heals giving way, and the newest still count and relapse. */
static void test_loops_capped(void **state)
{
    (void)state;
    loop_table *lt = loops_new();
    assert_non_null(lt);
    loops_set_keep(lt, 7 * 86400.0);
    double t = HX_T0;
    char target[32];
    const int n = LOOPS_CAP + 100;
    for (int i = 0; i < n; i++) {
        snprintf(target, sizeof target, "t-%06d", i);
        loop_heal l = { "soak", target, (uint64_t)(i + 1), t + i, t + i + 1, 0 };
        assert_int_equal(loops_note_healed(lt, &l), 0);
    }
    assert_int_equal(loops_size(lt), LOOPS_CAP);
    snprintf(target, sizeof target, "t-%06d", n - 1);
    assert_int_equal(loops_count(lt, "soak", target, t + n + 1, 7 * 86400.0), 1);
    assert_int_equal(loops_relapse(lt, "soak", target, t + n + 1, 300), (uint64_t)n);
    /* the first 100 were forgotten, the 101st is the oldest kept */
    assert_int_equal(loops_count(lt, "soak", "t-000099", t + n + 1, 7 * 86400.0), 0);
    assert_int_equal(loops_count(lt, "soak", "t-000100", t + n + 1, 7 * 86400.0), 1);
    loops_free(lt);
}

/* ---- model-based: random interleavings, one invariant ----------------------------------- */

typedef struct model {
    double starts[4096];        /* automatic, non-critical heal starts (simulated epoch) */
    uint64_t ids[4096];
    size_t n;
    hx *h;
} model;

static void observe(void *ud, const hx_sent *s)
{
    model *m = ud;
    if (s->kind != MSG_EXECUTE || !m->h->e)
        return;
    heal *hp = u64map_get(m->h->e->heals, s->seq);
    if (hp && hp->confirmed != 1 && hp->severity != HEALER_SEV_CRITICAL && hp->cur == 0 &&
        m->n < sizeof m->starts / sizeof m->starts[0])
    {
        m->ids[m->n] = s->seq;
        m->starts[m->n++] = m->h->now;
    }
}

static size_t loop_parks; /* schedules must reach the rule, or the invariant proves nothing */

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static void run_model(unsigned seed)
{
    hx *h = mk(3, 0);
    model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->h = h;
    h->observe = observe;
    h->observe_ud = m;
    unsigned s = seed;
    for (int step = 0; step < 400; step++) {
        unsigned r = rnd(&s) % 100;
        eissue *is = hx_open_issue(h, "tx", "svc");
        heal *act = is ? is->active : NULL;
        if (act && act->phase == H_PLANNING) {
            hx_plan(h, "pa", act->id, RESTART, 1);
        } else if (act && (act->phase == H_EXECUTING || act->phase == H_VERIFYING)) {
            const hx_sent *x = hx_last(h, 0, MSG_EXECUTE, "pa");
            if (x && x->seq == act->id)
                hx_result(h, "pa", act->id, x->attempt,
                          r < 70 ? HEALER_OUTCOME_HEALED : HEALER_OUTCOME_FAILED, 0, "r");
        } else if (act && act->phase == H_PENDING && r < 20) {
            if (act->loop_reason[0])
                loop_parks++;
            (void)hx_command(h, r < 10 ? HTTP_CMD_CONFIRM : HTTP_CMD_REJECT, act->id);
        } else if (r < 60) {
            (void)raise_on(h, rnd(&s) % 10 == 0 ? HEALER_SEV_CRITICAL : 1 + (int)(rnd(&s) % 2));
        } else if (r < 70) {
            hx_resolve(h, "det", "tx", "svc");
        } else {
            hx_advance(h, (double)(rnd(&s) % 1200));
            hx_sweep(h);
        }
    }
    /* The invariant: in any window of loop_window_minutes, at most loop_heals automatic
     * non-critical heals that healed (the rule counts healed heals: failed ones are bounded
     * by the hourly limit and the ladder). */
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++) {
        json_t *rec = hx_heal(h, m->ids[i]);
        const char *o = rec ? json_string_value(json_object_get(rec, "outcome")) : NULL;
        if (o && strcmp(o, "healed") == 0)
            m->starts[n++] = m->starts[i];
    }
    m->n = n;
    double w = h->cfg.limits.loop_window_minutes * 60.0;
    for (size_t i = 0; i < m->n; i++) {
        size_t k = 0;
        for (size_t j = i; j < m->n && m->starts[j] < m->starts[i] + w; j++)
            k++;
        if (k > (size_t)h->cfg.limits.loop_heals)
            fail_msg("seed %u: %zu automatic heals within %.0f s from %.0f", seed, k, w,
                     m->starts[i] - HX_T0);
    }
    h->observe = NULL;
    free(m);
    done(h);
}

static void test_loop_model(void **state)
{
    (void)state;
    const char *env = getenv("MODEL_SEED");
    if (env) {
        run_model((unsigned)strtoul(env, NULL, 10));
        return;
    }
    loop_parks = 0;
    for (unsigned seed = 1; seed <= 60; seed++)
        run_model(seed);
    printf("# loop escalations met in 60 schedules: %zu\n", loop_parks);
    assert_true(loop_parks > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_escalates_and_relapses),
        cmocka_unit_test(test_no_relapse_after_window),
        cmocka_unit_test(test_loops_durable),
        cmocka_unit_test(test_loops_capped),
        cmocka_unit_test(test_loop_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
