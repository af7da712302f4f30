/* test_message.c — the bus schema codec: every kind round-trips with every field, and hostile
 * bytes (truncations, flipped bytes, wrong types, lying lengths, oversize) are refused with a
 * reason instead of crashing or allocating without bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "message_int.h"

/* ---- a fully populated message ---------------------------------------------------------- */

static const msg_measure issue_m[] = {
    {"cpu_percent", 97.5}, {"load_1m", 12.25}, {"neg", -1e300}, {"tiny", DBL_MIN},
};
static const char *const comps[] = {"pid:123 stress-ng", "unité ☃", "𝄞 clef", ""};
static const msg_kv params0[] = {{"pid", "123"}, {"nice", "10"}, {"empty", ""}};
static const msg_kv params1[] = {{"unit", "nginx.service"}};
static const msg_action actions[] = {
    {"cpu", "renice", "pid:123", "renice 3 user processes to 10", 0, 0.1, 0.8,
     0x1, params0, 3},
    {"service", "restart", "nginx.service", "restart nginx — ça marche", 4294967295u, 1.0,
     0.0, 0xffffffffu, params1, 1},
    {"x", "no-params", NULL, NULL, 1, 0.5, 0.5, 0, NULL, 0},
};
static const msg_measure top_m[] = {{"after_percent", 12.0}, {"zero", 0.0}};
static const msg_kv args[] = {{"unit", "nginx.service"}, {"mode", "restart"}};

static msg full_msg(msg_kind k)
{
    msg m;
    memset(&m, 0, sizeof m);
    m.kind = k;
    m.seq = UINT64_MAX;
    m.plugin = "cpu";
    m.from = "memory";
    m.has_issue = 1;
    m.issue.id = (uint64_t)1 << 53;
    m.issue.type = "cpu_high";
    m.issue.severity = 3;
    m.issue.target = "/";
    m.issue.summary = "CPU at 97% for 60 s — «élevé» 日本語";
    m.issue.plugin = "cpu";
    m.issue.time = 1712345678.123456;
    m.issue.measures = issue_m;
    m.issue.n_measures = sizeof issue_m / sizeof issue_m[0];
    m.issue.components = comps;
    m.issue.n_components = sizeof comps / sizeof comps[0];
    m.actions = actions;
    m.n_actions = sizeof actions / sizeof actions[0];
    m.code = INT32_MIN;
    m.text = "healed";
    m.measures = top_m;
    m.n_measures = sizeof top_m / sizeof top_m[0];
    m.method = "restart_unit";
    m.args = args;
    m.n_args = sizeof args / sizeof args[0];
    m.duration = 0.000123;
    m.attempt = 42;
    m.heal = ((uint64_t)1 << 40) + 7;
    m.wait = 1.5;
    return m;
}

static int same_str(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static int same_dbl(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void assert_same_measures(const msg_measure *a, size_t na, const msg_measure *b,
                                 size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_true(same_str(a[i].name, b[i].name));
        assert_true(same_dbl(a[i].value, b[i].value));
    }
}

static void assert_same_kvs(const msg_kv *a, size_t na, const msg_kv *b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_true(same_str(a[i].key, b[i].key));
        assert_true(same_str(a[i].value, b[i].value));
    }
}

static void assert_same(const msg *a, const msg *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_true(a->seq == b->seq);
    assert_true(same_str(a->plugin, b->plugin));
    assert_true(same_str(a->from, b->from));
    assert_int_equal(a->has_issue, b->has_issue);
    if (a->has_issue) {
        const msg_issue *x = &a->issue, *y = &b->issue;
        assert_true(x->id == y->id);
        assert_true(same_str(x->type, y->type));
        assert_int_equal(x->severity, y->severity);
        assert_true(same_str(x->target, y->target));
        assert_true(same_str(x->summary, y->summary));
        assert_true(same_str(x->plugin, y->plugin));
        assert_true(same_dbl(x->time, y->time));
        assert_same_measures(x->measures, x->n_measures, y->measures, y->n_measures);
        assert_int_equal(x->n_components, y->n_components);
        for (size_t i = 0; i < x->n_components; i++)
            assert_true(same_str(x->components[i], y->components[i]));
    }
    assert_int_equal(a->n_actions, b->n_actions);
    for (size_t i = 0; i < a->n_actions; i++) {
        const msg_action *x = &a->actions[i], *y = &b->actions[i];
        assert_true(same_str(x->plugin, y->plugin));
        assert_true(same_str(x->name, y->name));
        assert_true(same_str(x->target, y->target));
        assert_true(same_str(x->description, y->description));
        assert_int_equal(x->step, y->step);
        assert_true(same_dbl(x->impact, y->impact));
        assert_true(same_dbl(x->confidence, y->confidence));
        assert_int_equal(x->flags, y->flags);
        assert_same_kvs(x->params, x->n_params, y->params, y->n_params);
    }
    assert_int_equal(a->code, b->code);
    assert_true(same_str(a->text, b->text));
    assert_same_measures(a->measures, a->n_measures, b->measures, b->n_measures);
    assert_true(same_str(a->method, b->method));
    assert_same_kvs(a->args, a->n_args, b->args, b->n_args);
    assert_true(same_dbl(a->duration, b->duration));
    assert_true(a->attempt == b->attempt);
    assert_true(a->heal == b->heal);
    assert_true(same_dbl(a->wait, b->wait));
}

static void encode_ok(const msg *m, char **buf, size_t *len)
{
    assert_int_equal(msg_encode(m, buf, len), 0);
    assert_non_null(*buf);
    assert_true(*len > 0);
}

/* decode must succeed; err is shown when it does not */
static void decode_ok(const void *buf, size_t len, msg *out)
{
    char err[256];
    int rc = msg_decode(buf, len, out, err, sizeof err);
    if (rc != 0)
        fail_msg("decode failed: %s", err);
}

/* decode must fail and err must contain want */
static void decode_fails(const void *buf, size_t len, const char *want)
{
    char err[256] = "untouched";
    msg m;
    int rc = msg_decode(buf, len, &m, err, sizeof err);
    if (rc == 0) {
        msg_free(&m);
        fail_msg("decoded, expected an error containing \"%s\"", want);
    }
    assert_true(err[0] != '\0');
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
    assert_null(m.arena);
}

/* ---- round trips ---------------------------------------------------------------------- */

static void test_roundtrip_every_kind(void **state)
{
    (void)state;
    for (int k = MSG_ISSUE; k <= MSG_KIND_MAX; k++) {
        msg m = full_msg((msg_kind)k);
        char *buf, *buf2;
        size_t len, len2;
        encode_ok(&m, &buf, &len);
        msg d;
        decode_ok(buf, len, &d);
        assert_non_null(d.arena);
        assert_same(&m, &d);
        /* re-encoding the decoded message gives the same bytes */
        encode_ok(&d, &buf2, &len2);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, buf2, len);
        msg_free(&d);
        assert_null(d.arena);
        free(buf);
        free(buf2);
    }
}

static void test_roundtrip_minimal(void **state)
{
    (void)state;
    msg m;
    memset(&m, 0, sizeof m);
    m.kind = MSG_STOP;
    char *buf;
    size_t len;
    encode_ok(&m, &buf, &len);
    /* {"v":1,"k":14}: unset fields cost nothing on the wire */
    const unsigned char want[] = {0x82, 0xa1, 'v', 0x01, 0xa1, 'k', 0x0e};
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, len);
    msg d;
    decode_ok(buf, len, &d);
    assert_int_equal(d.kind, MSG_STOP);
    assert_null(d.arena); /* nothing to own: no allocation at all */
    assert_same(&m, &d);
    msg_free(&d);
    free(buf);
}

/* The step's attempt id and the settle time travel whole (ABI 1.1 dispatch). */
static void test_roundtrip_attempt_and_wait(void **state)
{
    (void)state;
    msg m;
    memset(&m, 0, sizeof m);
    m.kind = MSG_VERDICT;
    m.seq = 7;
    m.attempt = UINT64_MAX - 1;
    m.wait = 2.5;
    m.code = 2;
    char *buf;
    size_t len;
    encode_ok(&m, &buf, &len);
    msg d;
    decode_ok(buf, len, &d);
    assert_int_equal(d.kind, MSG_VERDICT);
    assert_true(d.seq == 7);
    assert_true(d.attempt == UINT64_MAX - 1);
    assert_true(d.wait == 2.5);
    assert_int_equal(d.code, 2);
    msg_free(&d);
    free(buf);
    m.kind = MSG_CANCEL;
    m.wait = 0;
    encode_ok(&m, &buf, &len);
    decode_ok(buf, len, &d);
    assert_int_equal(d.kind, MSG_CANCEL);
    assert_true(d.attempt == UINT64_MAX - 1);
    assert_true(d.wait == 0);
    msg_free(&d);
    free(buf);
}

static void test_roundtrip_empty_arrays_and_strings(void **state)
{
    (void)state;
    msg m;
    memset(&m, 0, sizeof m);
    m.kind = MSG_ISSUE;
    m.has_issue = 1; /* an issue with nothing set is still an issue */
    m.actions = actions;
    m.n_actions = 0;
    m.measures = top_m;
    m.n_measures = 0;
    m.text = "";
    m.plugin = "";
    char *buf;
    size_t len;
    encode_ok(&m, &buf, &len);
    msg d;
    decode_ok(buf, len, &d);
    assert_int_equal(d.has_issue, 1);
    assert_int_equal(d.n_actions, 0);
    assert_null(d.actions);
    assert_int_equal(d.n_measures, 0);
    assert_string_equal(d.text, "");
    assert_string_equal(d.plugin, "");
    assert_null(d.from);
    msg_free(&d);
    free(buf);
}

/* ---- hand-made wire messages ---------------------------------------------------------- */

typedef struct wire {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} wire;

static void w_init(wire *w)
{
    msgpack_sbuffer_init(&w->sb);
    msgpack_packer_init(&w->pk, &w->sb, msgpack_sbuffer_write);
}
static void w_free(wire *w) { msgpack_sbuffer_destroy(&w->sb); }
static void w_str(wire *w, const char *s) { msgpack_pack_str_with_body(&w->pk, s, strlen(s)); }
static void w_head(wire *w, size_t n, unsigned kind)
{
    msgpack_pack_map(&w->pk, n + 2);
    w_str(w, "v");
    msgpack_pack_uint8(&w->pk, 1);
    w_str(w, "k");
    msgpack_pack_unsigned_int(&w->pk, kind);
}

static void test_empty_arrays_on_wire(void **state)
{
    (void)state;
    wire w;
    w_init(&w);
    w_head(&w, 4, MSG_PLAN);
    w_str(&w, "actions");
    msgpack_pack_array(&w.pk, 0);
    w_str(&w, "m");
    msgpack_pack_map(&w.pk, 0);
    w_str(&w, "args");
    msgpack_pack_map(&w.pk, 0);
    w_str(&w, "issue");
    msgpack_pack_map(&w.pk, 1);
    w_str(&w, "comp");
    msgpack_pack_array(&w.pk, 0);
    msg d;
    decode_ok(w.sb.data, w.sb.size, &d);
    assert_int_equal(d.kind, MSG_PLAN);
    assert_int_equal(d.n_actions, 0);
    assert_int_equal(d.n_measures, 0);
    assert_int_equal(d.n_args, 0);
    assert_int_equal(d.has_issue, 1);
    assert_int_equal(d.issue.n_components, 0);
    msg_free(&d);
    w_free(&w);
}

static void test_unknown_keys_ignored(void **state)
{
    (void)state;
    wire w;
    w_init(&w);
    w_head(&w, 4, MSG_ISSUE);
    w_str(&w, "future");
    msgpack_pack_array(&w.pk, 2); /* any value, nested */
    msgpack_pack_map(&w.pk, 1);
    msgpack_pack_int(&w.pk, 7); /* even a non-string key inside an unknown value */
    msgpack_pack_bin_with_body(&w.pk, "\0\1", 2);
    msgpack_pack_true(&w.pk);
    w_str(&w, "seq");
    msgpack_pack_uint64(&w.pk, 42);
    w_str(&w, "issue");
    msgpack_pack_map(&w.pk, 2);
    w_str(&w, "type");
    w_str(&w, "disk_full");
    w_str(&w, "colour");
    w_str(&w, "red");
    w_str(&w, "actions");
    msgpack_pack_array(&w.pk, 1);
    msgpack_pack_map(&w.pk, 2);
    w_str(&w, "name");
    w_str(&w, "clean");
    w_str(&w, "cost");
    msgpack_pack_double(&w.pk, 3.0);
    msg d;
    decode_ok(w.sb.data, w.sb.size, &d);
    assert_int_equal(d.kind, MSG_ISSUE);
    assert_true(d.seq == 42);
    assert_string_equal(d.issue.type, "disk_full");
    assert_int_equal(d.n_actions, 1);
    assert_string_equal(d.actions[0].name, "clean");
    msg_free(&d);
    w_free(&w);
}

static void test_nil_is_absent_and_ints_are_floats(void **state)
{
    (void)state;
    wire w;
    w_init(&w);
    w_head(&w, 4, MSG_RESULT);
    w_str(&w, "text");
    msgpack_pack_nil(&w.pk);
    w_str(&w, "dur");
    msgpack_pack_int(&w.pk, 2);
    w_str(&w, "m");
    msgpack_pack_map(&w.pk, 2);
    w_str(&w, "a");
    msgpack_pack_int(&w.pk, -3);
    w_str(&w, "b");
    msgpack_pack_float(&w.pk, 0.5f);
    w_str(&w, "code");
    msgpack_pack_int(&w.pk, -5);
    msg d;
    decode_ok(w.sb.data, w.sb.size, &d);
    assert_null(d.text);
    assert_true(d.duration == 2.0);
    assert_true(d.measures[0].value == -3.0);
    assert_true(d.measures[1].value == 0.5);
    assert_int_equal(d.code, -5);
    msg_free(&d);
    w_free(&w);
}

/* One wrong message per rule, with the reason it must give. */
static void test_wrong_types_and_values(void **state)
{
    (void)state;
    wire w;

#define CASE(want, body)                                                                     \
    do {                                                                                     \
        w_init(&w);                                                                          \
        body;                                                                                \
        decode_fails(w.sb.data, w.sb.size, want);                                            \
        w_free(&w);                                                                          \
    } while (0)

    CASE("key 'seq': expected unsigned int, got string",
         (w_head(&w, 1, MSG_ISSUE), w_str(&w, "seq"), w_str(&w, "12")));
    CASE("key 'seq': expected unsigned int, got negative int",
         (w_head(&w, 1, MSG_ISSUE), w_str(&w, "seq"), msgpack_pack_int(&w.pk, -1)));
    CASE("key 'v': unsupported schema version 2",
         (msgpack_pack_map(&w.pk, 2), w_str(&w, "v"), msgpack_pack_int(&w.pk, 2),
          w_str(&w, "k"), msgpack_pack_int(&w.pk, 1)));
    CASE("key 'v': expected unsigned int, got string",
         (msgpack_pack_map(&w.pk, 2), w_str(&w, "v"), w_str(&w, "1"), w_str(&w, "k"),
          msgpack_pack_int(&w.pk, 1)));
    CASE("key 'v' (schema version) is missing",
         (msgpack_pack_map(&w.pk, 1), w_str(&w, "k"), msgpack_pack_int(&w.pk, 1)));
    CASE("key 'k' (kind) is missing",
         (msgpack_pack_map(&w.pk, 1), w_str(&w, "v"), msgpack_pack_int(&w.pk, 1)));
    CASE("key 'k': kind 23 out of range 1..22", w_head(&w, 0, 23));
    CASE("key 'k': kind 0 out of range", w_head(&w, 0, 0));
    CASE("message: expected map, got array", msgpack_pack_array(&w.pk, 0));
    CASE("message: expected map, got unsigned int", msgpack_pack_int(&w.pk, 1));
    CASE("map key of type unsigned int",
         (w_head(&w, 1, MSG_ISSUE), msgpack_pack_int(&w.pk, 3), msgpack_pack_int(&w.pk, 3)));
    CASE("key 'code': 4294967296 does not fit a 32-bit int",
         (w_head(&w, 1, MSG_RESULT), w_str(&w, "code"), msgpack_pack_uint64(&w.pk, 1ull << 32)));
    CASE("key 'code': expected int, got float64",
         (w_head(&w, 1, MSG_RESULT), w_str(&w, "code"), msgpack_pack_double(&w.pk, 1)));
    CASE("key 'dur': expected float, got string",
         (w_head(&w, 1, MSG_RESULT), w_str(&w, "dur"), w_str(&w, "1s")));
    CASE("key 'text': expected string, got binary",
         (w_head(&w, 1, MSG_RESULT), w_str(&w, "text"),
          msgpack_pack_bin_with_body(&w.pk, "ab", 2)));
    CASE("key 'seq': duplicate key",
         (w_head(&w, 2, MSG_ISSUE), w_str(&w, "seq"), msgpack_pack_int(&w.pk, 1),
          w_str(&w, "seq"), msgpack_pack_int(&w.pk, 2)));
    CASE("key 'issue': expected map, got array",
         (w_head(&w, 1, MSG_ISSUE), w_str(&w, "issue"), msgpack_pack_array(&w.pk, 0)));
    CASE("key 'issue.sev': expected int, got string",
         (w_head(&w, 1, MSG_ISSUE), w_str(&w, "issue"), msgpack_pack_map(&w.pk, 1),
          w_str(&w, "sev"), w_str(&w, "high")));
    CASE("key 'issue.m': measure 'cpu': expected float, got string",
         (w_head(&w, 1, MSG_ISSUE), w_str(&w, "issue"), msgpack_pack_map(&w.pk, 1),
          w_str(&w, "m"), msgpack_pack_map(&w.pk, 1), w_str(&w, "cpu"), w_str(&w, "97")));
    CASE("key 'issue.m': measure name: expected string, got unsigned int",
         (w_head(&w, 1, MSG_ISSUE), w_str(&w, "issue"), msgpack_pack_map(&w.pk, 1),
          w_str(&w, "m"), msgpack_pack_map(&w.pk, 1), msgpack_pack_int(&w.pk, 1),
          msgpack_pack_double(&w.pk, 1)));
    CASE("key 'issue.comp[1]': expected string, got unsigned int",
         (w_head(&w, 1, MSG_ISSUE), w_str(&w, "issue"), msgpack_pack_map(&w.pk, 1),
          w_str(&w, "comp"), msgpack_pack_array(&w.pk, 2), w_str(&w, "a"),
          msgpack_pack_int(&w.pk, 5)));
    CASE("key 'actions[1]': expected map, got string",
         (w_head(&w, 1, MSG_PLAN), w_str(&w, "actions"), msgpack_pack_array(&w.pk, 2),
          msgpack_pack_map(&w.pk, 0), w_str(&w, "x")));
    CASE("key 'actions[0].step': expected unsigned int, got negative int",
         (w_head(&w, 1, MSG_PLAN), w_str(&w, "actions"), msgpack_pack_array(&w.pk, 1),
          msgpack_pack_map(&w.pk, 1), w_str(&w, "step"), msgpack_pack_int(&w.pk, -1)));
    CASE("key 'actions[0].flags': 4294967296 is above the maximum 4294967295",
         (w_head(&w, 1, MSG_PLAN), w_str(&w, "actions"), msgpack_pack_array(&w.pk, 1),
          msgpack_pack_map(&w.pk, 1), w_str(&w, "flags"), msgpack_pack_uint64(&w.pk, 1ull << 32)));
    CASE("key 'actions[0].params': value of 'pid': expected string, got unsigned int",
         (w_head(&w, 1, MSG_PLAN), w_str(&w, "actions"), msgpack_pack_array(&w.pk, 1),
          msgpack_pack_map(&w.pk, 1), w_str(&w, "params"), msgpack_pack_map(&w.pk, 1),
          w_str(&w, "pid"), msgpack_pack_int(&w.pk, 123)));
    CASE("key 'args': expected map, got array",
         (w_head(&w, 1, MSG_REQUEST), w_str(&w, "args"), msgpack_pack_array(&w.pk, 0)));
    CASE("key 'text': invalid UTF-8 at byte 1",
         (w_head(&w, 1, MSG_RESULT), w_str(&w, "text"), w_str(&w, "a\xff")));
    CASE("key 'text': invalid UTF-8 at byte 0", /* overlong '/' */
         (w_head(&w, 1, MSG_RESULT), w_str(&w, "text"), w_str(&w, "\xc0\xaf")));
    CASE("key 'text': invalid UTF-8 at byte 0", /* a UTF-16 surrogate */
         (w_head(&w, 1, MSG_RESULT), w_str(&w, "text"), w_str(&w, "\xed\xa0\x80")));
    CASE("key 'text': NUL character at byte 2",
         (w_head(&w, 1, MSG_RESULT), w_str(&w, "text"),
          msgpack_pack_str_with_body(&w.pk, "ab\0c", 4)));
    /* past the first 8 bytes, where ASCII is checked a word at a time */
    CASE("key 'text': NUL character at byte 10",
         (w_head(&w, 1, MSG_RESULT), w_str(&w, "text"),
          msgpack_pack_str_with_body(&w.pk, "0123456789\0abcdefgh", 19)));
    CASE("key 'text': invalid UTF-8 at byte 17",
         (w_head(&w, 1, MSG_RESULT), w_str(&w, "text"), w_str(&w, "0123456789abcdefg\x80xyz")));
    CASE("key 'text': invalid UTF-8 at byte 10",
         (w_head(&w, 1, MSG_RESULT), w_str(&w, "text"), w_str(&w, "é23456789\xfe")));
    CASE("trailing bytes", (w_head(&w, 0, MSG_STOP), msgpack_pack_nil(&w.pk)));
#undef CASE
}

static void test_limits(void **state)
{
    (void)state;
    wire w;
    char *big = malloc(70000);
    assert_non_null(big);
    memset(big, 'a', 70000);

    w_init(&w);
    w_head(&w, 1, MSG_RESULT);
    w_str(&w, "text");
    msgpack_pack_str_with_body(&w.pk, big, 65537);
    decode_fails(w.sb.data, w.sb.size, "key 'text': string of 65537 bytes exceeds the limit");
    w_free(&w);

    w_init(&w); /* exactly at the limit is fine */
    w_head(&w, 1, MSG_RESULT);
    w_str(&w, "text");
    msgpack_pack_str_with_body(&w.pk, big, 65536);
    msg d;
    decode_ok(w.sb.data, w.sb.size, &d);
    assert_int_equal(strlen(d.text), 65536);
    msg_free(&d);
    w_free(&w);

    w_init(&w);
    w_head(&w, 1, MSG_PLAN);
    w_str(&w, "actions");
    msgpack_pack_array(&w.pk, 65);
    for (int i = 0; i < 65; i++)
        msgpack_pack_map(&w.pk, 0);
    decode_fails(w.sb.data, w.sb.size, "key 'actions': 65 entries exceed the limit of 64");
    w_free(&w);

    w_init(&w);
    w_head(&w, 1, MSG_ISSUE);
    w_str(&w, "issue");
    msgpack_pack_map(&w.pk, 1);
    w_str(&w, "comp");
    msgpack_pack_array(&w.pk, 17);
    for (int i = 0; i < 17; i++)
        w_str(&w, "c");
    decode_fails(w.sb.data, w.sb.size, "key 'issue.comp': 17 entries exceed the limit of 16");
    w_free(&w);

    w_init(&w);
    w_head(&w, 1, MSG_HEALTH);
    w_str(&w, "m");
    msgpack_pack_map(&w.pk, 65);
    for (int i = 0; i < 65; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        w_str(&w, name);
        msgpack_pack_double(&w.pk, i);
    }
    decode_fails(w.sb.data, w.sb.size, "key 'm': 65 entries exceed the limit of 64");
    w_free(&w);

    /* 1 MiB + 1 */
    size_t n = (1u << 20) + 1;
    char *huge = calloc(1, n);
    assert_non_null(huge);
    decode_fails(huge, n, "exceeds the limit of 1048576");
    free(huge);

    /* deep nesting inside an unknown key */
    w_init(&w);
    w_head(&w, 1, MSG_STOP);
    w_str(&w, "deep");
    for (int i = 0; i < 40; i++)
        msgpack_pack_array(&w.pk, 1);
    msgpack_pack_nil(&w.pk);
    decode_fails(w.sb.data, w.sb.size, "nested deeper than 16");
    w_free(&w);
    free(big);
}

/* Headers that declare far more than the buffer holds: refused before anything is allocated
 * for them (under ASan an attempt to allocate 4G * 24 bytes would abort the test). */
static void test_lying_lengths(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        const char *want;
    } cases[] = {
        {"\xdd\xff\xff\xff\xff", 5, "declares 4294967295 elements but only 0 bytes remain"},
        {"\xdf\xff\xff\xff\xff\x01\x02", 7, "declares 8589934590 elements"},
        {"\x82\xa1v\x01\xa1k\xdc\xff\xff", 9, "declares 65535 elements"},
        {"\xdb\xff\xff\xff\xff" "abc", 8, "needs 4294967295 bytes, 3 remain"},
        {"\xc6\x7f\xff\xff\xff", 5, "needs 2147483647 bytes"},
        {"\xc9\x00\x00\x00\x10\x01", 6, "needs 17 bytes"},
        {"\xde\x00", 2, "length field at offset 0 cut short"},
        {"\xc1", 1, "byte 0xc1 at offset 0 is not a msgpack type"},
        {"", 0, "empty message"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        decode_fails(cases[i].bytes, cases[i].len, cases[i].want);

    /* many small containers: more than 65536 elements in all is refused */
    wire w;
    w_init(&w);
    w_head(&w, 1, MSG_STOP);
    w_str(&w, "x");
    msgpack_pack_array(&w.pk, 70000);
    for (int i = 0; i < 70000; i++)
        msgpack_pack_nil(&w.pk);
    decode_fails(w.sb.data, w.sb.size, "more than 65536 array/map elements");
    w_free(&w);
}

static void test_truncated_at_every_length(void **state)
{
    (void)state;
    msg m = full_msg(MSG_PLAN);
    char *buf;
    size_t len;
    encode_ok(&m, &buf, &len);
    for (size_t n = 0; n < len; n++) {
        /* a copy of exactly n bytes, so ASan sees any read past the end */
        char *cut = malloc(n ? n : 1);
        memcpy(cut, buf, n);
        char err[256] = "";
        msg d;
        assert_int_equal(msg_decode(cut, n, &d, err, sizeof err), -1);
        assert_true(err[0] != '\0');
        assert_null(d.arena);
        free(cut);
    }
    free(buf);
}

/* Every byte flipped a few ways: decoding either fails cleanly or yields a message that
 * re-encodes and decodes to the same thing. */
static void test_flipped_bytes(void **state)
{
    (void)state;
    static const unsigned char masks[] = {0x01, 0x02, 0x10, 0x80, 0xff, 0x7f, 0x20};
    size_t ok = 0, bad = 0;
    for (int k = MSG_ISSUE; k <= MSG_KIND_MAX; k += 7) {
        msg m = full_msg((msg_kind)k);
        char *buf;
        size_t len;
        encode_ok(&m, &buf, &len);
        char *copy = malloc(len);
        for (size_t i = 0; i < len; i++)
            for (size_t j = 0; j < sizeof masks; j++) {
                memcpy(copy, buf, len);
                copy[i] ^= (char)masks[j];
                msg d;
                char err[256];
                if (msg_decode(copy, len, &d, err, sizeof err) != 0) {
                    assert_true(err[0] != '\0');
                    bad++;
                    continue;
                }
                ok++;
                char *re;
                size_t relen;
                encode_ok(&d, &re, &relen);
                msg d2;
                decode_ok(re, relen, &d2);
                assert_same(&d, &d2);
                msg_free(&d2);
                msg_free(&d);
                free(re);
            }
        free(copy);
        free(buf);
    }
    /* both outcomes occur: flipping inside a string keeps a valid message */
    assert_true(ok > 0);
    assert_true(bad > 0);
}

static void test_random_garbage(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    unsigned char buf[512];
    for (int round = 0; round < 20000; round++) {
        size_t len = 1 + (size_t)(x % sizeof buf);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (unsigned char)x;
        }
        /* a valid-looking start half the time, to get past the first checks */
        if (round & 1 && len > 7)
            memcpy(buf, "\x83\xa1v\x01\xa1k\x01", 7);
        msg d;
        char err[128];
        if (msg_decode(buf, len, &d, err, sizeof err) == 0)
            msg_free(&d);
    }
}

/* ---- the encoder's side of the limits ----------------------------------------------------- */

/* A path is bytes: a host call's argument that is not UTF-8 arrives byte for byte (a bin on the
 * wire), never as U+FFFD, which would name another file. A bin with a NUL is refused. */
static void test_kv_bytes_exact(void **state)
{
    (void)state;
    msg m;
    memset(&m, 0, sizeof m);
    m.kind = MSG_HOSTCALL;
    m.method = "declare_path";
    msg_kv kv[] = { { "path", "/srv/w\x1b]0;x\x07\xff\xfe" }, { "plain", "ok \xc3\xa9" } };
    m.args = kv;
    m.n_args = 2;
    char *buf;
    size_t len;
    encode_ok(&m, &buf, &len);
    msg d;
    decode_ok(buf, len, &d);
    assert_int_equal(d.n_args, 2);
    assert_string_equal(d.args[0].value, kv[0].value);
    assert_string_equal(d.args[1].value, kv[1].value);
    msg_free(&d);
    /* The same message with a NUL planted inside the bin. */
    char *at = memmem(buf, len, "\xff\xfe", 2);
    assert_non_null(at);
    at[0] = '\0';
    decode_fails(buf, len, "NUL");
    free(buf);
}

static void test_encoder_sanitizes(void **state)
{
    (void)state;
    msg m;
    memset(&m, 0, sizeof m);
    m.kind = MSG_RESULT;
    m.text = "bad \xff byte, cut \xe2\x82"; /* invalid byte; truncated 3-byte sequence */
    char *buf;
    size_t len;
    encode_ok(&m, &buf, &len);
    msg d;
    decode_ok(buf, len, &d);
    assert_string_equal(d.text, "bad \xef\xbf\xbd byte, cut \xef\xbf\xbd\xef\xbf\xbd");
    msg_free(&d);
    free(buf);

    /* a 100 000-byte string of 3-byte characters is cut at a character boundary */
    size_t n = 100002;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i += 3)
        memcpy(s + i, "\xe2\x98\x83", 3);
    s[n] = '\0';
    m.text = s;
    encode_ok(&m, &buf, &len);
    decode_ok(buf, len, &d);
    assert_int_equal(strlen(d.text), 65535);
    msg_free(&d);
    free(buf);

    /* over-long arrays are cut to the schema's limits */
    msg_measure ms[100];
    for (int i = 0; i < 100; i++) {
        ms[i].name = "x";
        ms[i].value = i;
    }
    memset(&m, 0, sizeof m);
    m.kind = MSG_HEALTH;
    m.measures = ms;
    m.n_measures = 100;
    encode_ok(&m, &buf, &len);
    decode_ok(buf, len, &d);
    assert_int_equal(d.n_measures, 64);
    assert_true(d.measures[63].value == 63.0);
    msg_free(&d);
    free(buf);

    /* NULL strings inside arrays travel as "" */
    const char *nulls[] = {NULL, "a"};
    msg_kv kv = {NULL, NULL};
    memset(&m, 0, sizeof m);
    m.kind = MSG_ISSUE;
    m.has_issue = 1;
    m.issue.components = nulls;
    m.issue.n_components = 2;
    m.args = &kv;
    m.n_args = 1;
    encode_ok(&m, &buf, &len);
    decode_ok(buf, len, &d);
    assert_string_equal(d.issue.components[0], "");
    assert_string_equal(d.args[0].key, "");
    assert_string_equal(d.args[0].value, "");
    msg_free(&d);
    free(buf);

    /* too big for the schema: EMSGSIZE, nothing allocated */
    msg_kv big[64];
    for (int i = 0; i < 64; i++) {
        big[i].key = "k";
        big[i].value = s; /* 64 KiB each: 4 MiB in all */
    }
    memset(&m, 0, sizeof m);
    m.kind = MSG_REQUEST;
    m.args = big;
    m.n_args = 64;
    buf = (char *)1;
    errno = 0;
    assert_int_equal(msg_encode(&m, &buf, &len), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_null(buf);
    free(s);

    /* a kind the schema does not have */
    memset(&m, 0, sizeof m);
    m.kind = (msg_kind)23;
    assert_int_equal(msg_encode(&m, &buf, &len), -1);
    assert_int_equal(errno, EINVAL);
    m.kind = (msg_kind)0;
    assert_int_equal(msg_encode(&m, &buf, &len), -1);
}


/* The child protocol's kinds (child-protocol.md) carry what a host call needs: the call id, the
 * method, its arguments, the phase in code and the step in att; the reply its code, text and
 * out-values; MSG_INIT its JSON document in text. */
static void test_child_protocol_kinds(void **state)
{
    (void)state;
    msg_kv cargs[] = { { "pid", "4242" }, { "start_time", "123456789012" }, { "sig", "19" } };
    msg q = { .kind = MSG_HOSTCALL, .seq = 7, .method = "act_signal", .args = cargs, .n_args = 3,
              .code = 4, .attempt = 99 };
    char *buf;
    size_t len;
    assert_int_equal(msg_encode(&q, &buf, &len), 0);
    msg d;
    char err[128];
    assert_int_equal(msg_decode(buf, len, &d, err, sizeof err), 0);
    free(buf);
    assert_int_equal(d.kind, MSG_HOSTCALL);
    assert_int_equal(d.seq, 7);
    assert_int_equal(d.code, 4);
    assert_int_equal(d.attempt, 99);
    assert_string_equal(d.method, "act_signal");
    assert_int_equal(d.n_args, 3);
    assert_string_equal(d.args[1].key, "start_time");
    assert_string_equal(d.args[1].value, "123456789012");
    msg_free(&d);

    msg_kv out[] = { { "exit_status", "0" }, { "out", "hello\n" } };
    msg r = { .kind = MSG_HOSTREPLY, .seq = 7, .code = -3, .text = "refused: protected",
              .args = out, .n_args = 2 };
    assert_int_equal(msg_encode(&r, &buf, &len), 0);
    assert_int_equal(msg_decode(buf, len, &d, err, sizeof err), 0);
    free(buf);
    assert_int_equal(d.kind, MSG_HOSTREPLY);
    assert_int_equal(d.code, -3);
    assert_string_equal(d.text, "refused: protected");
    assert_string_equal(d.args[1].value, "hello\n");
    msg_free(&d);

    msg i = { .kind = MSG_INIT, .plugin = "cpu", .text = "{\"settings\":{\"x\":1}}" };
    assert_int_equal(msg_encode(&i, &buf, &len), 0);
    assert_int_equal(msg_decode(buf, len, &d, err, sizeof err), 0);
    free(buf);
    assert_int_equal(d.kind, MSG_INIT);
    assert_string_equal(d.text, "{\"settings\":{\"x\":1}}");
    msg_free(&d);

    for (int k = MSG_READY; k <= MSG_PONG; k++) {
        msg p = { .kind = (msg_kind)k, .seq = 3 };
        assert_int_equal(msg_encode(&p, &buf, &len), 0);
        assert_int_equal(msg_decode(buf, len, &d, err, sizeof err), 0);
        free(buf);
        assert_int_equal(d.kind, k);
        assert_int_equal(d.seq, 3);
        msg_free(&d);
    }
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(msg_kind_name(MSG_ISSUE), "issue");
    assert_string_equal(msg_kind_name(MSG_PLAN_REQ), "plan_req");
    assert_string_equal(msg_kind_name(MSG_ACK), "ack");
    assert_string_equal(msg_kind_name((msg_kind)0), "unknown");
    assert_string_equal(msg_kind_name(MSG_INIT), "init");
    assert_string_equal(msg_kind_name(MSG_HOSTCALL), "hostcall");
    assert_string_equal(msg_kind_name(MSG_PONG), "pong");
    assert_string_equal(msg_kind_name((msg_kind)23), "unknown");
    assert_string_equal(msg_kind_name((msg_kind)-3), "unknown");
    for (int k = MSG_ISSUE; k <= MSG_KIND_MAX; k++)
        assert_string_not_equal(msg_kind_name((msg_kind)k), "unknown");
}

static void test_decode_null_args(void **state)
{
    (void)state;
    msg d;
    assert_int_equal(msg_decode(NULL, 10, &d, NULL, 0), -1);
    assert_int_equal(msg_decode("\x80", 1, NULL, NULL, 0), -1);
    char err[4]; /* a short err buffer is cut, not overrun */
    assert_int_equal(msg_decode("\x80", 1, &d, err, sizeof err), -1);
    assert_int_equal(strlen(err), 3);
    msg_free(NULL);
}

/* A preview's EXECUTE flag and its RESULT's touches survive the codec, every key of an item
 * (a key packed with its full length), unknown numbers stay absent (-1), and the count is
 * bounded. */
static void test_roundtrip_preview_touches(void **state)
{
    (void)state;
    msg_touch t[2] = {
        { .action = "signal", .kind = "process", .text = "would send SIGTERM to pid 7",
          .name = "cpuhog", .pid = 7, .uid = 2000, .size = -1, .count = -1 },
        { .action = "remove_old_files", .kind = "file", .text = "would remove /var/tmp/x",
          .path = "/var/tmp/x", .unit = "nginx.service", .cgroup = "/sys/fs/cgroup/a",
          .pid = -1, .uid = -1, .size = 4096, .count = 3 },
    };
    msg m = { .kind = MSG_RESULT, .seq = 4, .attempt = 9, .plugin = "cpu", .touches = t,
              .n_touches = 2 };
    char *buf;
    size_t len;
    assert_int_equal(msg_encode(&m, &buf, &len), 0);
    msg d;
    char err[256];
    assert_int_equal(msg_decode(buf, len, &d, err, sizeof err), 0);
    free(buf);
    assert_int_equal(d.n_touches, 2);
    assert_string_equal(d.touches[0].action, "signal");
    assert_string_equal(d.touches[0].kind, "process");
    assert_string_equal(d.touches[0].name, "cpuhog");
    assert_string_equal(d.touches[0].text, "would send SIGTERM to pid 7");
    assert_int_equal(d.touches[0].pid, 7);
    assert_int_equal(d.touches[0].uid, 2000);
    assert_int_equal(d.touches[0].size, -1);
    assert_null(d.touches[0].path);
    assert_string_equal(d.touches[1].path, "/var/tmp/x");
    assert_string_equal(d.touches[1].unit, "nginx.service");
    assert_string_equal(d.touches[1].cgroup, "/sys/fs/cgroup/a");
    assert_int_equal(d.touches[1].size, 4096);
    assert_int_equal(d.touches[1].count, 3);
    assert_int_equal(d.touches[1].pid, -1);
    msg_free(&d);

    msg x = { .kind = MSG_EXECUTE, .seq = 4, .attempt = 10, .preview = 1 };
    assert_int_equal(msg_encode(&x, &buf, &len), 0);
    assert_int_equal(msg_decode(buf, len, &d, err, sizeof err), 0);
    free(buf);
    assert_int_equal(d.preview, 1);
    msg_free(&d);

    /* more items than the schema allows are cut by the encoder */
    msg_touch many[MSG_MAX_TOUCHES + 5];
    for (size_t i = 0; i < MSG_MAX_TOUCHES + 5; i++)
        many[i] = (msg_touch){ .kind = "other", .pid = -1, .uid = -1, .size = -1, .count = -1 };
    msg y = { .kind = MSG_RESULT, .attempt = 1, .touches = many, .n_touches = MSG_MAX_TOUCHES + 5 };
    assert_int_equal(msg_encode(&y, &buf, &len), 0);
    assert_int_equal(msg_decode(buf, len, &d, err, sizeof err), 0);
    free(buf);
    assert_int_equal(d.n_touches, MSG_MAX_TOUCHES);
    msg_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_kind),
        cmocka_unit_test(test_roundtrip_preview_touches),
        cmocka_unit_test(test_roundtrip_minimal),
        cmocka_unit_test(test_roundtrip_attempt_and_wait),
        cmocka_unit_test(test_roundtrip_empty_arrays_and_strings),
        cmocka_unit_test(test_empty_arrays_on_wire),
        cmocka_unit_test(test_unknown_keys_ignored),
        cmocka_unit_test(test_nil_is_absent_and_ints_are_floats),
        cmocka_unit_test(test_wrong_types_and_values),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_lying_lengths),
        cmocka_unit_test(test_truncated_at_every_length),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_encoder_sanitizes),
        cmocka_unit_test(test_kv_bytes_exact),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_child_protocol_kinds),
        cmocka_unit_test(test_decode_null_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
