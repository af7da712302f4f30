/* test_engine_preview.c — a pending plan's preview on a detached engine (engine_harness.c): the
 * steps that wait for a person are sent to their plugins as previews (dry-run forced), one at a
 * time and only to a free plugin; what comes back is served as "preview" in /api/v1/pending and
 * /api/v1/heals/ID; a busy plugin or a silent one makes it "unavailable" with the reason; a real
 * step is never held back by a preview, and a preview's answer never enters a heal's record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine_harness.h"

static const char *const TX[] = { "tx", NULL };
static const hx_plugin PL[] = {
    { "det", NULL, 0, 0, 0 },
    { "pa", TX, 0, 1, 0 },
    { "pb", TX, 0, 1, 0 },
};
/* a gentle automatic step on pb, then two risky ones on pa */
static const hx_act RISKY[] = { { "stop_it", 0, HEALER_ACTION_STOPS, 0.9 },
                                { "kill_it", 1, HEALER_ACTION_STOPS, 0.8 } };

static hx *mk(void)
{
    hx *h = calloc(1, sizeof *h);
    assert_non_null(h);
    hx_init(h, PL, 3, 0);
    h->cfg.limits.cooldown_minutes = 0;
    h->cfg.limits.max_heals_per_hour = 100000;
    governor_set_limits(h->gov, &h->cfg.limits, h->cfg.dry_run);
    hx_start(h);
    return h;
}

static void done(hx *h)
{
    hx_free(h);
    free(h);
}

static uint64_t park(hx *h, const char *target)
{
    size_t mark = h->n_log;
    hx_issue(h, "det", "tx", target, 2);
    const hx_sent *s = hx_last(h, mark, MSG_PLAN_REQ, NULL);
    assert_non_null(s);
    uint64_t id = s->seq;
    hx_plan(h, "pa", id, RISKY, 2);
    hx_plan(h, "pb", id, NULL, 0);
    heal *x = u64map_get(h->e->heals, id);
    assert_non_null(x);
    assert_int_equal(x->phase, H_PENDING);
    return id;
}

/* The pending item of heal id as served (a new reference). */
static json_t *pending_of(hx *h, uint64_t id)
{
    json_t *all = engine_pending_json(h->e);
    json_t *arr = json_object_get(all, "pending"), *v, *found = NULL;
    size_t i;
    json_array_foreach(arr, i, v)
        if ((uint64_t)json_integer_value(json_object_get(v, "id")) == id)
            found = json_incref(v);
    json_decref(all);
    assert_non_null(found);
    return found;
}

static const char *pv_state(hx *h, uint64_t id, char *reason, size_t rlen)
{
    static char st[32];
    json_t *p = pending_of(h, id);
    json_t *pv = json_object_get(p, "preview");
    snprintf(st, sizeof st, "%s", json_string_value(json_object_get(pv, "state")));
    if (reason)
        snprintf(reason, rlen, "%s", json_string_value(json_object_get(pv, "reason")));
    json_decref(p);
    return st;
}

static void answer(hx *h, const hx_sent *s, const msg_touch *t, size_t n, const char *text)
{
    msg m = { .kind = MSG_RESULT, .seq = s->seq, .attempt = s->attempt, .plugin = "pa",
              .code = HEALER_OUTCOME_DRY_RUN, .text = text, .touches = t, .n_touches = n };
    eng_dispatch(h->e, &m);
}

static void test_preview_lists_each_step(void **state)
{
    (void)state;
    hx *h = mk();
    size_t mark = h->n_log;
    uint64_t id = park(h, "victim");
    /* nothing real is sent; one preview of step 1, to pa */
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    assert_int_equal(hx_count(h, mark, HX_PREVIEW, NULL), 1);
    const hx_sent *p1 = hx_last(h, mark, HX_PREVIEW, "pa");
    assert_non_null(p1);
    assert_string_equal(p1->action, "stop_it");
    assert_string_equal(pv_state(h, id, NULL, 0), "running");

    msg_touch t = { .action = "signal", .kind = "process", .text = "would stop pid 123",
                    .name = "stress-ng\x1b[31m", .pid = 123, .uid = 1000, .size = -1,
                    .count = -1 };
    size_t m2 = h->n_log;
    hx_sent s1 = *p1;
    answer(h, &s1, &t, 1, "dry-run");
    /* step 2 is previewed next (pa is free again) */
    const hx_sent *p2 = hx_last(h, m2, HX_PREVIEW, "pa");
    assert_non_null(p2);
    assert_string_equal(p2->action, "kill_it");
    assert_int_not_equal(p2->attempt, s1.attempt);
    hx_sent s2 = *p2;
    answer(h, &s2, NULL, 0, "nothing to kill");
    assert_string_equal(pv_state(h, id, NULL, 0), "ready");

    json_t *p = pending_of(h, id);
    json_t *touches = json_object_get(json_object_get(p, "preview"), "touches");
    assert_int_equal(json_array_size(touches), 2);
    json_t *a = json_array_get(touches, 0);
    assert_string_equal(json_string_value(json_object_get(a, "plugin")), "pa");
    assert_string_equal(json_string_value(json_object_get(a, "kind")), "process");
    assert_int_equal(json_integer_value(json_object_get(a, "pid")), 123);
    assert_int_equal(json_integer_value(json_object_get(a, "uid")), 1000);
    assert_int_equal(json_integer_value(json_object_get(a, "step")), 1);
    /* through the sanitizer and jansson: the text served carries no raw escape byte */
    char *txt = json_dumps(p, 0);
    assert_non_null(strstr(txt, "stress-ng"));
    assert_null(strchr(txt, '\x1b'));
    free(txt);
    assert_null(json_object_get(a, "size"));     /* absent when unknown */
    assert_null(json_object_get(a, "path"));
    json_t *b = json_array_get(touches, 1);
    assert_string_equal(json_string_value(json_object_get(b, "kind")), "other");
    assert_non_null(strstr(json_string_value(json_object_get(b, "text")), "nothing to kill"));
    json_decref(p);

    /* the same on /api/v1/heals/ID */
    json_t *hj = engine_heal_json(h->e, id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(hj, "preview"),
                                                          "state")), "ready");
    json_decref(hj);

    /* confirmed: the real step goes; nothing of the preview is in the record */
    size_t m3 = h->n_log;
    assert_int_equal(hx_command(h, HTTP_CMD_CONFIRM, id), HEALER_OK);
    const hx_sent *x = hx_last(h, m3, MSG_EXECUTE, "pa");
    assert_non_null(x);
    hx_sent xs = *x;
    hx_result(h, "pa", id, xs.attempt, HEALER_OUTCOME_HEALED, 0, "stopped");
    json_t *rec = hx_heal(h, id);
    assert_non_null(rec);
    char *dump = json_dumps(rec, 0);
    assert_null(strstr(dump, "would stop pid 123"));
    assert_null(strstr(dump, "nothing to kill"));
    free(dump);
    done(h);
}

static void test_preview_never_holds_a_real_step(void **state)
{
    (void)state;
    hx *h = mk();
    size_t mark = h->n_log;
    uint64_t id = park(h, "victim");
    const hx_sent *p = hx_last(h, mark, HX_PREVIEW, "pa");
    assert_non_null(p);
    hx_sent ps = *p;
    /* confirmed while the preview is in flight: the real step is sent at once */
    size_t m2 = h->n_log;
    assert_int_equal(hx_command(h, HTTP_CMD_CONFIRM, id), HEALER_OK);
    const hx_sent *x = hx_last(h, m2, MSG_EXECUTE, "pa");
    assert_non_null(x);
    hx_sent xs = *x;
    /* the preview's late answer is taken as a preview's, not as the step's */
    answer(h, &ps, NULL, 0, "late preview");
    heal *hh = u64map_get(h->e->heals, id);
    assert_non_null(hh);
    assert_int_equal(hh->phase, H_EXECUTING);
    hx_result(h, "pa", id, xs.attempt, HEALER_OUTCOME_HEALED, 0, "stopped");
    char *dump = json_dumps(hx_heal(h, id), 0);
    assert_null(strstr(dump, "late preview"));
    free(dump);
    assert_int_equal(h->e->slots[hx_pidx(h, "pa")].inflight, 0);
    done(h);
}

static void test_busy_plugin_and_timeout(void **state)
{
    (void)state;
    hx *h = mk();
    size_t mark = h->n_log;
    /* heal A: its preview is in flight on pa and never answered */
    uint64_t a = park(h, "one");
    const hx_sent *pa = hx_last(h, mark, HX_PREVIEW, "pa");
    assert_non_null(pa);
    /* heal B parks meanwhile: pa is busy with A's preview, B's waits */
    size_t m2 = h->n_log;
    uint64_t b = park(h, "two");
    assert_int_equal(hx_count(h, m2, HX_PREVIEW, NULL), 0);
    assert_string_equal(pv_state(h, b, NULL, 0), "running");
    /* after one action timeout: A's timed out, B's says the plugin is busy */
    hx_advance(h, h->cfg.action_timeout + 1);
    hx_sweep(h);
    hx_advance(h, 1);
    hx_sweep(h);
    char why[160];
    assert_string_equal(pv_state(h, a, why, sizeof why), "unavailable");
    assert_non_null(strstr(why, "timed out"));
    assert_string_equal(pv_state(h, b, why, sizeof why), "unavailable");
    assert_non_null(strstr(why, "plugin pa busy"));
    assert_int_equal(hx_count(h, m2, HX_PREVIEW, NULL), 0);
    /* A's late answer is discarded and frees the plugin */
    hx_sent late = *hx_last(h, mark, HX_PREVIEW, "pa");
    answer(h, &late, NULL, 0, "late");
    assert_string_equal(pv_state(h, a, NULL, 0), "unavailable");
    assert_int_equal(h->e->slots[hx_pidx(h, "pa")].inflight, 0);
    assert_int_equal(h->e->slots[hx_pidx(h, "pa")].pv_attempt, 0);
    done(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preview_lists_each_step),
        cmocka_unit_test(test_preview_never_holds_a_real_step),
        cmocka_unit_test(test_busy_plugin_and_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
