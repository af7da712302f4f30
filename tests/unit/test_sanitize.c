/* test_sanitize.c — agent/sanitize.c: valid UTF-8 kept, invalid bytes and every control
 * (C0, DEL, C1, separators, bidi) escaped, cuts at whole characters and escapes, and the JSON
 * helper never failing where json_string would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "sanitize.h"
#include "sanitize_json.h"

static void check(const char *in, const char *want, unsigned flags)
{
    char *got = sanitize_dup(in, flags);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(sanitize_is_clean(in, strlen(in), flags), strcmp(in, want) == 0);
    free(got);
}

static void test_kept(void **state)
{
    (void)state;
    check("plain-name_1.service", "plain-name_1.service", 0);
    check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0);
    /* systemd's own escapes read as written */
    check("dev-disk-by\\x2duuid.swap", "dev-disk-by\\x2duuid.swap", 0);
    check("", "", 0);
}

static void test_controls(void **state)
{
    (void)state;
    check("a\x1b[31mb", "a\\x1b[31mb", 0);
    check("bell\x07", "bell\\x07", 0);
    check("del\x7f", "del\\x7f", 0);
    check("nl\nx\ty\r", "nl\\x0ax\\x09y\\x0d", 0);
    check("nl\nx\ty\r", "nl x y ", SANITIZE_SPACE_WS);
    check("csi\xc2\x9b" "1m", "csi\\u009b1m", 0);         /* U+009B, valid UTF-8, still CSI */
    check("x\xc2\x85y", "x\\u0085y", 0);                  /* NEL */
    check("ltr\xe2\x80\xae" "evil", "ltr\\u202eevil", 0);     /* RIGHT-TO-LEFT OVERRIDE */
    check("sep\xe2\x80\xa8", "sep\\u2028", 0);
    check("iso\xe2\x81\xa6x", "iso\\u2066x", 0);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    check("\xff\xfe", "\\xff\\xfe", 0);
    check("raw c1 \x9b", "raw c1 \\x9b", 0);
    check("over\xc0\xaf", "over\\xc0\\xaf", 0);            /* overlong '/' */
    check("sur\xed\xa0\x80", "sur\\xed\\xa0\\x80", 0);      /* surrogate */
    check("cut\xe2\x82", "cut\\xe2\\x82", 0);               /* truncated sequence */
    check("big\xf4\x90\x80\x80", "big\\xf4\\x90\\x80\\x80", 0); /* past U+10FFFF */
    /* the byte after a bad lead is read on its own */
    check("\xc3(", "\\xc3(", 0);
    /* NUL inside a counted buffer */
    char out[16];
    assert_int_equal(sanitize_to("a\0b", 3, out, sizeof out, 0), 6);
    assert_string_equal(out, "a\\x00b");
}

static void test_cut_whole(void **state)
{
    (void)state;
    char out[8];
    /* "ab" + "\x1b" needs 6 bytes + NUL: fits exactly */
    assert_int_equal(sanitize_to("ab\x1b", 3, out, 7, 0), 6);
    assert_string_equal(out, "ab\\x1b");
    /* one byte less: the escape is left out whole */
    assert_int_equal(sanitize_to("ab\x1b", 3, out, 6, 0), 6);
    assert_string_equal(out, "ab");
    /* a multibyte character is never cut */
    assert_int_equal(sanitize_to("a\xe2\x82\xac", 4, out, 3, 0), 4);
    assert_string_equal(out, "a");
    /* nothing written after a piece that did not fit, even when a later one would */
    assert_int_equal(sanitize_to("\x1bz", 2, out, 3, 0), 5);
    assert_string_equal(out, "");
    /* sizing only */
    assert_int_equal(sanitize_to("\xff", 1, NULL, 0, 0), 4);
}

static void test_control_at(void **state)
{
    (void)state;
    size_t l;
    assert_int_equal(sanitize_control_at("\xc2\x9b", 2, &l), 0x9b);
    assert_int_equal(l, 2);
    assert_int_equal(sanitize_control_at("\x7f", 1, &l), 0x7f);
    assert_int_equal(sanitize_control_at("\xc3\xa9", 2, &l), -1);
    assert_int_equal(l, 2);
    assert_int_equal(sanitize_control_at("\xff", 1, &l), -1);
    assert_int_equal(l, 1);
}

/* json_string fails on these; the helper never does, and dumps clean ASCII-safe text. */
static void test_json(void **state)
{
    (void)state;
    const char *bad = "plug\xff\xfein\x1b\xc2\x9b\x7f";
    assert_null(json_string(bad));
    json_t *j = sanitize_json_str(bad);
    assert_true(json_is_string(j));
    /* C0 kept for jansson to escape; what jansson would write raw is escaped as text */
    assert_string_equal(json_string_value(j), "plug\\xff\\xfein\x1b\\u009b\\x7f");
    char *text = json_dumps(j, JSON_ENCODE_ANY);
    assert_string_equal(text, "\"plug\\\\xff\\\\xfein\\u001B\\\\u009b\\\\x7f\"");
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
    free(text);
    json_decref(j);
    j = sanitize_json_str(NULL);
    assert_true(json_is_null(j));
    json_decref(j);
    j = sanitize_json_str("ok");
    assert_string_equal(json_string_value(j), "ok");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept),         cmocka_unit_test(test_controls),
        cmocka_unit_test(test_invalid_utf8), cmocka_unit_test(test_cut_whole),
        cmocka_unit_test(test_control_at),   cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
