/* test_backoff.c — the restart schedule of a crashing plugin child: 1 s doubling to 5 min, back
 * to 1 s after 10 min without a crash, failed at the max_crashes-th crash within 10 min. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "backoff.h"

static void test_doubles_to_the_cap(void **state)
{
    (void)state;
    backoff b;
    backoff_init(&b, 1000);
    double now = 1000, expect = 1;
    /* Crashes 11 minutes apart never reach max_crashes, but run only seconds: no reset. */
    for (int i = 0; i < 12; i++) {
        double started = now - 2;
        assert_float_equal(backoff_crash(&b, now, started), expect, 1e-9);
        expect = expect * 2 > 300 ? 300 : expect * 2;
        now += 660;
    }
    assert_float_equal(backoff_crash(&b, now, now - 2), 300, 1e-9);
}

static void test_resets_after_ten_healthy_minutes(void **state)
{
    (void)state;
    backoff b;
    backoff_init(&b, 100);
    assert_float_equal(backoff_crash(&b, 10, 9), 1, 1e-9);
    assert_float_equal(backoff_crash(&b, 12, 11), 2, 1e-9);
    assert_float_equal(backoff_crash(&b, 20, 14), 4, 1e-9);
    /* ran 600 s without a crash: starts over */
    assert_float_equal(backoff_crash(&b, 700, 100), 1, 1e-9);
    assert_float_equal(backoff_crash(&b, 702, 701), 2, 1e-9);
}

static void test_fails_after_max_crashes_in_window(void **state)
{
    (void)state;
    backoff b;
    backoff_init(&b, 3);
    assert_true(backoff_crash(&b, 0, -1) > 0);
    assert_true(backoff_crash(&b, 100, 99) > 0);
    assert_float_equal(backoff_crash(&b, 200, 199), -1, 1e-9);
    /* The same count spread over more than the window is not a failure. */
    backoff_init(&b, 3);
    assert_true(backoff_crash(&b, 0, -1) > 0);
    assert_true(backoff_crash(&b, 400, 399) > 0);
    assert_true(backoff_crash(&b, 700, 699) > 0); /* the first left the window */
    assert_float_equal(backoff_crash(&b, 800, 799), -1, 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_to_the_cap),
        cmocka_unit_test(test_resets_after_ten_healthy_minutes),
        cmocka_unit_test(test_fails_after_max_crashes_in_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
