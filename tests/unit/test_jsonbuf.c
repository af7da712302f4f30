/* test_jsonbuf.c — jsonbuf writes the bytes jansson's compact dump writes (reals, integers,
 * strings that need escaping or are not UTF-8), and the heal's decision record made with it
 * (engine_explain.c, formatted off the engine thread) is the same text a jansson object of the
 * same content dumps, cut to its bound the same way. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine_int.h"
#include "jsonbuf.h"
#include "sanitize_json.h"

static void same_as_jansson(json_t *ref, int (*put)(jsonbuf *, const void *), const void *v)
{
    char *want = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(want);
    jsonbuf b = { 0 };
    assert_int_equal(put(&b, v), 0);
    assert_string_equal(jb_cstr(&b), want);
    jb_free(&b);
    free(want);
    json_decref(ref);
}

static int put_real(jsonbuf *b, const void *v) { return jb_real(b, *(const double *)v); }
static int put_int(jsonbuf *b, const void *v) { return jb_int(b, *(const long long *)v); }
static int put_str(jsonbuf *b, const void *v) { return jb_str(b, v); }

static void test_values(void **state)
{
    (void)state;
    const double reals[] = { 0.0, -0.0, 1.0, 97.5, 1.0 / 3.0, 1e-300, 12345678901234567890.0,
                             1764691234.123456, -2.5e-7, 1e17, 123456789.0, 0.1,
                             /* whole numbers: written without snprintf below 1e15 */
                             2.0, -7.0, 10.0, -10.0, 999999999999999.0, -999999999999999.0,
                             1e15, -1e15, 1e16, 4503599627370496.0, 1764691234.0, 0.5, -0.5 };
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++)
        same_as_jansson(json_real(reals[i]), put_real, &reals[i]);
    const long long ints[] = { 0, -1, 42, INT64_MAX, INT64_MIN };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        same_as_jansson(json_integer(ints[i]), put_int, &ints[i]);
    const char *strs[] = { "", "plain ascii /path", "we\"ird\\", "tab\tnl\n\x01", "n\xc3\xa4me",
                           "bad\xff\xfe utf8", "\xe2\x80\xae bidi", "del\x7f" };
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        same_as_jansson(sanitize_json_str(strs[i]), put_str, strs[i]);
    jsonbuf b = { 0 };
    assert_int_equal(jb_str(&b, NULL), 0);
    assert_string_equal(jb_cstr(&b), "null");
    assert_int_equal(jb_real(&b, 0.0 / 0.0), -1); /* jansson refuses NaN too */
    jb_free(&b);
}

/* jb_real's own digits (whole numbers, and fractions between 1e-4 and 1e15 by exact integer
 * arithmetic) against jansson's snprintf for many values: random bit patterns over the whole
 * range, random values in the fast range, values with few fraction bits (whose 17 digits end
 * in an exact tie, rounded to even), and the neighbours of the powers of ten where the digit
 * count changes. A mismatch prints the value. */
static void expect_real(double v)
{
    json_t *r = json_real(v);
    if (!r)
        return; /* not finite: jb_real refuses it too (test_values) */
    char *want = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
    jsonbuf b = { 0 };
    assert_int_equal(jb_real(&b, v), 0);
    if (strcmp(jb_cstr(&b), want) != 0)
        fail_msg("%.17g (%a): jb_real wrote %s, jansson %s", v, v, b.buf, want);
    jb_free(&b);
    free(want);
    json_decref(r);
}

static void test_reals_like_jansson(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        expect_real(v);                                         /* any double */
        double u = (double)(x >> 11) / 9007199254740992.0;      /* [0, 1) */
        expect_real(u * 1e15 * (x & 1 ? 1 : -1));
        expect_real(u * 1e-3);
        expect_real(ldexp((double)(x >> 11), -(int)(x % 60)));  /* few fraction bits: ties */
        expect_real((double)(x >> 24) + (double)(x & 0xff) / 256.0);
    }
    for (int e = -5; e <= 16; e++) {
        double p = pow(10, e);
        double near[] = { p, nextafter(p, 0), nextafter(p, INFINITY), p * (1 - 1e-17),
                          p - 5e-17 * p, p * 0.99999999999999999 };
        for (size_t i = 0; i < sizeof near / sizeof *near; i++) {
            expect_real(near[i]);
            expect_real(-near[i]);
        }
    }
    const double fixed[] = { 0.1, 0.2, 0.3, 0.9, 1.5, 2.5, 0.0001, 0.00011, 99999999999999.99,
                             123456789012345.625, 12345678901234.5625, 1e14 + 0.25,
                             999999999999999.875, 1764744000.123456, 0.00009999999999999999 };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        expect_real(fixed[i]);
        expect_real(-fixed[i]);
    }
}

/* The engine's measurements text: the fast path and jansson's agree on every shape. */
static void test_measures(void **state)
{
    (void)state;
    const msg_measure sets[][4] = {
        { { .name = "cpu_percent", .value = 97.5 }, { .name = "tiny", .value = 1e-300 },
          { .name = "third", .value = 1.0 / 3.0 }, { .name = "nan", .value = 0.0 / 0.0 } },
        { { .name = "a", .value = 1 }, { .name = "b", .value = 2 }, { .name = "a", .value = 3 },
          { .name = NULL, .value = 4 } },
        { { .name = "n\xc3\xa4me", .value = 1 }, { .name = "q\"k", .value = 2 },
          { .name = "bad\xff", .value = 3 }, { .name = "ok", .value = -0.0 } },
    };
    for (size_t k = 0; k < sizeof sets / sizeof *sets; k++)
        for (size_t n = 0; n <= 4; n++) {
            json_t *o = msg_measures_object(sets[k], n);
            char *want = json_dumps(o, JSON_COMPACT);
            char *got = msg_measures_json(sets[k], n);
            assert_non_null(got);
            assert_string_equal(got, want);
            free(got);
            free(want);
            json_decref(o);
        }
}

/* A heal with candidates as eng_decide leaves it, and the jansson object it must read as. */
typedef struct fake {
    eissue is;
    heal h;
    msg_action acts[20];
    plan_item order[20];
} fake;

static void fake_init(fake *f, size_t n, const char *weird)
{
    memset(f, 0, sizeof *f);
    f->is.type = "cpu_high";
    f->is.target = "host";
    f->h.is = &f->is;
    for (size_t i = 0; i < n; i++) {
        f->acts[i] = (msg_action){ .plugin = "cpu", .name = i == 1 ? weird : "renice_hogs",
                                   .target = i == 2 ? NULL : "pid:42", .step = (unsigned)i / 2,
                                   .impact = 0.25 * (double)i, .confidence = 0.7,
                                   .flags = i ? HEALER_ACTION_REVERSIBLE | HEALER_ACTION_STOPS : 0 };
        f->order[i] = (plan_item){ .action = &f->acts[i], .expected = 0.9 - 0.1 * (double)i,
                                   .attempts = 3 * i, .explored = i == 0 };
    }
    f->h.order = f->order;
    f->h.n_order = n;
}

static json_t *reference(const fake *f, size_t shown)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < shown; i++) {
        const msg_action *a = f->order[i].action;
        json_t *o = json_pack("{s:o, s:o, s:o, s:i, s:f, s:f, s:f, s:I, s:b}", "plugin",
                              sanitize_json_str(a->plugin), "action", sanitize_json_str(a->name),
                              "target", sanitize_json_str(a->target ? a->target : "host"),
                              "step", (int)a->step, "impact", a->impact, "prior", a->confidence,
                              "expected", f->order[i].expected, "attempts",
                              (json_int_t)f->order[i].attempts, "explored",
                              f->order[i].explored);
        json_object_set_new(o, "flags", eng_flags_json(a->flags));
        json_array_append_new(arr, o);
    }
    return json_pack("{s:o, s:I}", "candidates", arr, "candidates_total",
                     (json_int_t)f->h.n_order);
}

static void test_decision_matches_jansson(void **state)
{
    (void)state;
    fake f;
    fake_init(&f, 20, "st\"op\n\xff");
    eng_explain_candidates(NULL, &f.h, 1);
    eng_explain_operator(&f.h, "confirmed");
    char *text = eng_decision_text(f.h.decision);
    assert_non_null(text);
    json_t *got = json_loads(text, 0, NULL);
    assert_non_null(got);
    /* Everything but the times and the sentence, compared as jansson writes it. */
    json_t *ref = reference(&f, 16);
    json_object_set(ref, "first", json_object_get(got, "first"));
    json_t *op = json_pack("{s:s, s:O}", "decision", "confirmed", "at",
                           json_object_get(json_object_get(got, "operator"), "at"));
    json_object_set_new(ref, "operator", op);
    char *want = json_dumps(ref, JSON_COMPACT);
    assert_string_equal(text, want);
    assert_non_null(strstr(json_string_value(json_object_get(got, "first")), "explored"));
    free(want);
    free(text);
    json_decref(ref);
    json_decref(got);
    /* The view is the same record. */
    json_t *view = eng_decision_json(f.h.decision);
    assert_int_equal(json_array_size(json_object_get(view, "candidates")), 16);
    json_decref(view);
    eng_decision_free(f.h.decision);
}

static void test_decision_cut_to_bound(void **state)
{
    (void)state;
    static char longname[3000];
    memset(longname, 'x', sizeof longname - 1);
    fake f;
    fake_init(&f, 5, longname);
    f.acts[3].name = longname;
    f.acts[4].name = longname;
    eng_explain_candidates(NULL, &f.h, 0);
    char *text = eng_decision_text(f.h.decision);
    assert_non_null(text);
    assert_true(strlen(text) <= KB_DECISION_MAX);
    json_t *got = json_loads(text, 0, NULL);
    assert_non_null(got);
    assert_null(json_object_get(got, "candidates"));
    assert_true(json_is_true(json_object_get(got, "truncated")));
    assert_int_equal(json_integer_value(json_object_get(got, "candidates_total")), 5);
    json_decref(got);
    free(text);
    eng_decision_free(f.h.decision);
    assert_null(eng_decision_text(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_reals_like_jansson),
        cmocka_unit_test(test_measures),
        cmocka_unit_test(test_decision_matches_jansson),
        cmocka_unit_test(test_decision_cut_to_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
