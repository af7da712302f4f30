/* test_governor.c — every governor rule on an injected clock: hours and days pass in
 * milliseconds. Sliding hour, cooldown per pair, rollbacks per day, health floor, confirmation,
 * pause, dry-run, check order, no side effects of check, budget, reload, memory bound; the
 * emergency rules, dry-run's own windows, snoozes, confirmation streaks, cooldown end times, and
 * what goes to the store (a fake one here; test_govstore.c has the SQLite one). */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "governor.h"
#include "healer/types.h"

/* Exposed by governor.c for tests (governor.h is fixed). */
size_t governor_debug_cooldown_entries(governor *g);

#define T0 1700000000.0  /* an epoch time: doubles there still hold milliseconds exactly enough */

static agent_limits limits(int heals, int rollbacks, int min_health, double cooldown_min)
{
    return (agent_limits){ heals, rollbacks, min_health, cooldown_min, 60.0, 0, 0, 60.0, 300.0 };
}

static gov_request req(const char *type, const char *target)
{
    return (gov_request){ .issue_type = type, .target = target, .health = 100.0 };
}

static void test_labels(void **state)
{
    (void)state;
    assert_string_equal(gov_verdict_label(GOV_ALLOW), "allow");
    assert_string_equal(gov_verdict_label(GOV_PAUSED), "paused");
    assert_string_equal(gov_verdict_label(GOV_RATE_LIMIT), "rate_limit");
    assert_string_equal(gov_verdict_label(GOV_COOLDOWN), "cooldown");
    assert_string_equal(gov_verdict_label(GOV_ROLLBACK_LIMIT), "rollback_limit");
    assert_string_equal(gov_verdict_label(GOV_LOW_HEALTH), "low_health");
    assert_string_equal(gov_verdict_label(GOV_AWAITING_CONFIRMATION), "awaiting_confirmation");
    assert_string_equal(gov_verdict_label(GOV_DRY_RUN), "dry_run");
    assert_string_equal(gov_verdict_label((gov_verdict)99), "unknown");
}

static void test_sliding_hour(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    assert_non_null(g);
    char tgt[32];
    for (int i = 0; i < 10; i++) {
        snprintf(tgt, sizeof tgt, "t%d", i);
        gov_request r = req("cpu_high", tgt);
        assert_int_equal(governor_check(g, &r, T0 + i), GOV_ALLOW);
        governor_commit(g, &r, T0 + i);
    }
    gov_request r = req("cpu_high", "eleventh");
    assert_int_equal(governor_check(g, &r, T0 + 10), GOV_RATE_LIMIT);
    assert_int_equal(governor_check(g, &r, T0 + 1800), GOV_RATE_LIMIT);
    assert_int_equal(governor_check(g, &r, T0 + 3599.999), GOV_RATE_LIMIT);
    /* the heal at T0 counts until T0+3600 exclusive */
    assert_int_equal(governor_check(g, &r, T0 + 3600), GOV_ALLOW);
    governor_commit(g, &r, T0 + 3600);
    /* heals at T0+1..9 and T0+3600: ten in the hour again */
    gov_request r2 = req("cpu_high", "twelfth");
    assert_int_equal(governor_check(g, &r2, T0 + 3600.5), GOV_RATE_LIMIT);
    assert_int_equal(governor_check(g, &r2, T0 + 3601), GOV_ALLOW);
    /* the window slides: at T0+3609 the heals 1..9 are gone, only T0+3600 counts */
    gov_budget b;
    governor_budget(g, T0 + 3609, &b);
    assert_int_equal(b.heals_last_hour, 1);
    assert_int_equal(b.heals_left, 9);
    governor_free(g);
}

static void test_zero_heals_per_hour(void **state)
{
    (void)state;
    agent_limits l = limits(0, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    gov_request r = req("cpu_high", "cpu");
    r.critical = 1;
    r.confirmed = 1;
    assert_int_equal(governor_check(g, &r, T0), GOV_RATE_LIMIT);
    assert_int_equal(governor_check(g, &r, T0 + 86400 * 365.0), GOV_RATE_LIMIT);
    gov_budget b;
    governor_budget(g, T0, &b);
    assert_int_equal(b.heals_left, 0);
    /* negative is as strict as zero, never looser */
    l.max_heals_per_hour = -5;
    governor_set_limits(g, &l, 0);
    assert_int_equal(governor_check(g, &r, T0), GOV_RATE_LIMIT);
    governor_budget(g, T0, &b);
    assert_int_equal(b.heals_left, 0);
    governor_free(g);
}

static void test_cooldown_per_pair(void **state)
{
    (void)state;
    agent_limits l = limits(100, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    gov_request a = req("cpu_high", "a");
    governor_commit(g, &a, T0);
    assert_int_equal(governor_check(g, &a, T0), GOV_COOLDOWN);
    assert_int_equal(governor_check(g, &a, T0 + 299.999), GOV_COOLDOWN);
    /* other target, other issue type: unaffected */
    gov_request b = req("cpu_high", "b");
    gov_request c = req("mem_high", "a");
    assert_int_equal(governor_check(g, &b, T0 + 1), GOV_ALLOW);
    assert_int_equal(governor_check(g, &c, T0 + 1), GOV_ALLOW);
    /* the key is the pair, not the concatenation */
    gov_request x = req("ab", "c"), y = req("a", "bc");
    governor_commit(g, &x, T0);
    assert_int_equal(governor_check(g, &x, T0 + 1), GOV_COOLDOWN);
    assert_int_equal(governor_check(g, &y, T0 + 1), GOV_ALLOW);
    /* expiry is exact: until t + cooldown*60, exclusive */
    assert_int_equal(governor_check(g, &a, T0 + 300), GOV_ALLOW);
    /* a new commit restarts it */
    governor_commit(g, &a, T0 + 400);
    assert_int_equal(governor_check(g, &a, T0 + 699.99), GOV_COOLDOWN);
    assert_int_equal(governor_check(g, &a, T0 + 700), GOV_ALLOW);
    /* NULL strings are the empty key, not a crash */
    gov_request n = req(NULL, NULL);
    governor_commit(g, &n, T0);
    gov_request e = req("", "");
    assert_int_equal(governor_check(g, &e, T0 + 1), GOV_COOLDOWN);
    governor_free(g);
}

static void test_rollbacks_per_day(void **state)
{
    (void)state;
    agent_limits l = limits(1000, 3, 30, 0);
    governor *g = governor_new(&l, 0);
    gov_request r = req("nix_broken", "system");
    r.flags = HEALER_ACTION_ROLLBACK;
    r.rollbacks = 2;
    assert_int_equal(governor_check(g, &r, T0), GOV_ALLOW);
    governor_commit(g, &r, T0);

    r.rollbacks = 2;  /* 2 + 2 > 3 */
    assert_int_equal(governor_check(g, &r, T0 + 3600), GOV_ROLLBACK_LIMIT);
    r.rollbacks = 1;  /* 2 + 1 = 3: allowed */
    assert_int_equal(governor_check(g, &r, T0 + 3600), GOV_ALLOW);
    governor_commit(g, &r, T0 + 3600);
    assert_int_equal(governor_check(g, &r, T0 + 7200), GOV_ROLLBACK_LIMIT);

    /* a plan without rollbacks is not limited by them */
    gov_request plain = req("nix_broken", "other");
    assert_int_equal(governor_check(g, &plain, T0 + 7200), GOV_ALLOW);

    gov_budget b;
    governor_budget(g, T0 + 7200, &b);
    assert_int_equal(b.rollbacks_today, 3);
    assert_int_equal(b.rollbacks_left, 0);

    /* sliding 24 h: the two at T0 leave at T0+86400 exactly */
    assert_int_equal(governor_check(g, &r, T0 + 86399.999), GOV_ROLLBACK_LIMIT);
    r.rollbacks = 2;
    assert_int_equal(governor_check(g, &r, T0 + 86400), GOV_ALLOW);
    r.rollbacks = 3;
    assert_int_equal(governor_check(g, &r, T0 + 86400), GOV_ROLLBACK_LIMIT);
    governor_budget(g, T0 + 86400, &b);
    assert_int_equal(b.rollbacks_today, 1);
    assert_int_equal(b.rollbacks_left, 2);
    governor_budget(g, T0 + 3600 + 86400, &b);
    assert_int_equal(b.rollbacks_today, 0);

    /* a plan larger than the whole limit never passes */
    r.rollbacks = 4;
    assert_int_equal(governor_check(g, &r, T0 + 10 * 86400.0), GOV_ROLLBACK_LIMIT);
    governor_free(g);
}

static void test_low_health_vs_critical(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    gov_request r = req("mem_high", "m");
    r.health = 29.9;
    assert_int_equal(governor_check(g, &r, T0), GOV_LOW_HEALTH);
    r.critical = 1;
    assert_int_equal(governor_check(g, &r, T0), GOV_ALLOW);
    r.critical = 0;
    r.health = 30.0;  /* the floor itself is allowed */
    assert_int_equal(governor_check(g, &r, T0), GOV_ALLOW);
    r.health = NAN;   /* unknown health is not good health */
    assert_int_equal(governor_check(g, &r, T0), GOV_LOW_HEALTH);
    r.health = 0;
    r.confirmed = 1;  /* confirming does not lift the health floor */
    assert_int_equal(governor_check(g, &r, T0), GOV_LOW_HEALTH);
    governor_free(g);
}

static void test_confirmation(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    const uint32_t risky[] = { HEALER_ACTION_ROOTFS, HEALER_ACTION_CONFIG, HEALER_ACTION_DELETES,
                               HEALER_ACTION_ROOTFS | HEALER_ACTION_REVERSIBLE };
    for (size_t i = 0; i < sizeof risky / sizeof *risky; i++) {
        gov_request r = req("disk_full", "/");
        r.flags = risky[i];
        assert_int_equal(governor_check(g, &r, T0), GOV_AWAITING_CONFIRMATION);
        r.confirmed = 1;
        assert_int_equal(governor_check(g, &r, T0), GOV_ALLOW);
        r.confirmed = 0;
        r.flags |= HEALER_ACTION_AUTO_OK;
        assert_int_equal(governor_check(g, &r, T0), GOV_ALLOW);
    }
    /* not risky: no confirmation */
    gov_request r = req("disk_full", "/");
    r.flags = HEALER_ACTION_REVERSIBLE | HEALER_ACTION_SYSTEM | HEALER_ACTION_ROLLBACK;
    assert_int_equal(governor_check(g, &r, T0), GOV_ALLOW);
    governor_free(g);
}

static void test_pause_resume(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    gov_request r = req("cpu_high", "cpu");
    assert_int_equal(governor_paused(g), 0);
    governor_pause(g, 1);
    assert_int_equal(governor_paused(g), 1);
    assert_int_equal(governor_check(g, &r, T0), GOV_PAUSED);
    r.critical = 1;
    r.confirmed = 1;
    assert_int_equal(governor_check(g, &r, T0), GOV_PAUSED);
    gov_budget b;
    governor_budget(g, T0, &b);
    assert_int_equal(b.paused, 1);
    governor_pause(g, 0);
    assert_int_equal(governor_paused(g), 0);
    assert_int_equal(governor_check(g, &r, T0), GOV_ALLOW);
    governor_budget(g, T0, &b);
    assert_int_equal(b.paused, 0);
    /* a reload does not resume */
    governor_pause(g, 1);
    governor_set_limits(g, &l, 0);
    assert_int_equal(governor_check(g, &r, T0), GOV_PAUSED);
    governor_free(g);
}

static void test_dry_run_precedence(void **state)
{
    (void)state;
    agent_limits l = limits(2, 3, 30, 5);
    governor *g = governor_new(&l, 1);
    gov_request r = req("cpu_high", "a");
    assert_int_equal(governor_check(g, &r, T0), GOV_DRY_RUN);
    /* risky in dry-run: nothing will change, nothing to confirm */
    r.flags = HEALER_ACTION_DELETES;
    assert_int_equal(governor_check(g, &r, T0), GOV_DRY_RUN);
    r.flags = 0;
    /* every other refusal comes first */
    r.health = 1;
    assert_int_equal(governor_check(g, &r, T0), GOV_LOW_HEALTH);
    r.health = 100;
    governor_pause(g, 1);
    assert_int_equal(governor_check(g, &r, T0), GOV_PAUSED);
    governor_pause(g, 0);
    /* commit records in dry-run too: cooldown and rate limit as live would */
    governor_commit(g, &r, T0);
    assert_int_equal(governor_check(g, &r, T0 + 1), GOV_COOLDOWN);
    gov_request b = req("cpu_high", "b");
    governor_commit(g, &b, T0 + 1);
    gov_request c = req("cpu_high", "c");
    assert_int_equal(governor_check(g, &c, T0 + 2), GOV_RATE_LIMIT);
    gov_budget bu;
    governor_budget(g, T0 + 2, &bu);
    assert_int_equal(bu.heals_last_hour, 2);
    assert_int_equal(bu.cooldowns_active, 2);
    /* reload into live mode */
    governor_set_limits(g, &l, 0);
    assert_int_equal(governor_check(g, &c, T0 + 3601), GOV_ALLOW);
    governor_free(g);
}

/* Every condition applies at once; lifting them one by one (through reloads) must reveal
 * the header's order: paused, rate limit, cooldown, rollback limit, low health,
 * confirmation, dry-run. */
static void test_check_order(void **state)
{
    (void)state;
    agent_limits l = limits(1, 1, 50, 5);
    governor *g = governor_new(&l, 1);
    gov_request r = req("nix_broken", "system");
    r.rollbacks = 1;
    r.flags = HEALER_ACTION_ROLLBACK | HEALER_ACTION_CONFIG;
    governor_commit(g, &r, T0);
    r.health = 10;
    governor_pause(g, 1);
    double t = T0 + 60;
    assert_int_equal(governor_check(g, &r, t), GOV_PAUSED);
    governor_pause(g, 0);
    assert_int_equal(governor_check(g, &r, t), GOV_RATE_LIMIT);
    l.max_heals_per_hour = 100;
    governor_set_limits(g, &l, 1);
    assert_int_equal(governor_check(g, &r, t), GOV_COOLDOWN);
    l.cooldown_minutes = 0.5;  /* a shorter cooldown on reload applies to past commits */
    governor_set_limits(g, &l, 1);
    assert_int_equal(governor_check(g, &r, t), GOV_ROLLBACK_LIMIT);
    l.max_rollbacks_per_day = 5;
    governor_set_limits(g, &l, 1);
    assert_int_equal(governor_check(g, &r, t), GOV_LOW_HEALTH);
    l.min_health_for_auto = 0;
    governor_set_limits(g, &l, 1);
    assert_int_equal(governor_check(g, &r, t), GOV_DRY_RUN);  /* risky, but dry-run */
    governor_set_limits(g, &l, 0);
    assert_int_equal(governor_check(g, &r, t), GOV_AWAITING_CONFIRMATION);
    r.confirmed = 1;
    assert_int_equal(governor_check(g, &r, t), GOV_ALLOW);
    /* and a longer cooldown on reload reaches back as well (a live commit: the dry-run one
     * above lives on the simulated windows only) */
    governor_commit(g, &r, T0);
    l.cooldown_minutes = 10;
    governor_set_limits(g, &l, 0);
    assert_int_equal(governor_check(g, &r, T0 + 599), GOV_COOLDOWN);
    assert_int_equal(governor_check(g, &r, T0 + 600), GOV_ALLOW);
    governor_free(g);
}

static void budget_equal(const gov_budget *a, const gov_budget *b)
{
    assert_int_equal(a->heals_last_hour, b->heals_last_hour);
    assert_int_equal(a->heals_left, b->heals_left);
    assert_int_equal(a->rollbacks_today, b->rollbacks_today);
    assert_int_equal(a->rollbacks_left, b->rollbacks_left);
    assert_int_equal(a->cooldowns_active, b->cooldowns_active);
    assert_int_equal(a->paused, b->paused);
}

static void test_check_has_no_side_effect(void **state)
{
    (void)state;
    agent_limits l = limits(2, 1, 30, 5);
    governor *g = governor_new(&l, 0);
    gov_request old = req("cpu_high", "old");
    old.rollbacks = 1;
    governor_commit(g, &old, T0);
    gov_budget before, after;
    governor_budget(g, T0 + 10, &before);
    size_t entries = governor_debug_cooldown_entries(g);
    char tgt[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(tgt, sizeof tgt, "x%d", i % 7);
        gov_request r = req("cpu_high", tgt);
        r.rollbacks = i % 3;
        /* times far ahead (everything expired) and behind */
        double t = (i % 2) ? T0 + 86400.0 * (i % 5) : T0 - i;
        (void)governor_check(g, &r, t);
    }
    governor_budget(g, T0 + 10, &after);
    budget_equal(&before, &after);
    assert_int_equal(governor_debug_cooldown_entries(g), entries);
    /* still exactly one heal of the two allowed, and the old pair still cooling down */
    assert_int_equal(governor_check(g, &old, T0 + 10), GOV_COOLDOWN);
    gov_request n = req("cpu_high", "new");
    assert_int_equal(governor_check(g, &n, T0 + 10), GOV_ALLOW);
    governor_commit(g, &n, T0 + 10);
    gov_request n2 = req("cpu_high", "new2");
    assert_int_equal(governor_check(g, &n2, T0 + 11), GOV_RATE_LIMIT);
    /* and its rollback still counts for the day */
    assert_int_equal(governor_check(g, &old, T0 + 3601), GOV_ROLLBACK_LIMIT);
    governor_free(g);
}

static void test_budget_numbers(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    gov_budget b;
    governor_budget(g, T0, &b);
    assert_int_equal(b.heals_last_hour, 0);
    assert_int_equal(b.heals_left, 10);
    assert_int_equal(b.rollbacks_today, 0);
    assert_int_equal(b.rollbacks_left, 3);
    assert_int_equal(b.cooldowns_active, 0);
    assert_int_equal(b.paused, 0);

    gov_request a = req("cpu_high", "a"), c = req("cpu_high", "c");
    gov_request rb = req("nix_broken", "system");
    rb.rollbacks = 2;
    governor_commit(g, &a, T0);
    governor_commit(g, &rb, T0 + 100);
    governor_commit(g, &c, T0 + 200);
    governor_commit(g, &a, T0 + 250);  /* same pair again: one cooldown, two heals */
    governor_budget(g, T0 + 250, &b);
    assert_int_equal(b.heals_last_hour, 4);
    assert_int_equal(b.heals_left, 6);
    assert_int_equal(b.rollbacks_today, 2);
    assert_int_equal(b.rollbacks_left, 1);
    assert_int_equal(b.cooldowns_active, 3);
    governor_budget(g, T0 + 400, &b);   /* rb (T0+100) expired; c and a remain */
    assert_int_equal(b.cooldowns_active, 2);
    governor_budget(g, T0 + 550, &b);
    assert_int_equal(b.cooldowns_active, 0);
    governor_budget(g, T0 + 3699.9, &b);  /* only T0 left the hour */
    assert_int_equal(b.heals_last_hour, 3);
    governor_budget(g, T0 + 3700, &b);  /* T0 and T0+100 left the hour */
    assert_int_equal(b.heals_last_hour, 2);
    assert_int_equal(b.heals_left, 8);
    assert_int_equal(b.rollbacks_today, 2);
    governor_budget(g, T0 + 100 + 86400, &b);
    assert_int_equal(b.rollbacks_today, 0);
    assert_int_equal(b.rollbacks_left, 3);

    /* commits past the limit (bypassing check) never give a negative budget */
    for (int i = 0; i < 20; i++)
        governor_commit(g, &c, T0 + 200000 + i);
    governor_budget(g, T0 + 200020, &b);
    assert_int_equal(b.heals_last_hour, 20);
    assert_int_equal(b.heals_left, 0);

    /* NULLs are ignored */
    governor_budget(NULL, T0, &b);
    assert_int_equal(b.heals_last_hour, 0);
    governor_budget(g, T0, NULL);
    governor_free(g);
}

static void test_set_limits_reload(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    char tgt[32];
    for (int i = 0; i < 7; i++) {
        snprintf(tgt, sizeof tgt, "t%d", i);
        gov_request r = req("cpu_high", tgt);
        governor_commit(g, &r, T0 + i);
    }
    gov_request r = req("cpu_high", "new");
    assert_int_equal(governor_check(g, &r, T0 + 10), GOV_ALLOW);
    l.max_heals_per_hour = 5;  /* history survives the reload */
    governor_set_limits(g, &l, 0);
    assert_int_equal(governor_check(g, &r, T0 + 10), GOV_RATE_LIMIT);
    gov_budget b;
    governor_budget(g, T0 + 10, &b);
    assert_int_equal(b.heals_last_hour, 7);
    assert_int_equal(b.heals_left, 0);
    /* allowed once the 5th newest (T0+2) is an hour old: 4 left in the hour */
    assert_int_equal(governor_check(g, &r, T0 + 3601.5), GOV_RATE_LIMIT);
    assert_int_equal(governor_check(g, &r, T0 + 3602), GOV_ALLOW);
    l.min_health_for_auto = 90;
    governor_set_limits(g, &l, 0);
    r.health = 80;
    assert_int_equal(governor_check(g, &r, T0 + 3602), GOV_LOW_HEALTH);
    /* NULL limits are ignored */
    governor_set_limits(g, NULL, 1);
    assert_int_equal(governor_check(g, &r, T0 + 3602), GOV_LOW_HEALTH);
    governor_free(g);

    /* NULL limits at creation: the documented defaults (10/h, 3/day, 30, 5 min) */
    g = governor_new(NULL, 0);
    assert_non_null(g);
    governor_budget(g, T0, &b);
    assert_int_equal(b.heals_left, 10);
    assert_int_equal(b.rollbacks_left, 3);
    governor_free(g);
}

/* A million distinct targets: the cooldown table is capped while they are live and shrinks
 * back once they expire. The windows are capped the same way. */
static void test_memory_bound(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    char tgt[32];
    size_t peak = 0;
    for (int i = 0; i < 1000000; i++) {
        snprintf(tgt, sizeof tgt, "target-%d", i);
        gov_request r = req("disk_full", tgt);
        r.rollbacks = 1;
        governor_commit(g, &r, T0 + i * 0.0001);  /* all within one cooldown window */
        size_t n = governor_debug_cooldown_entries(g);
        if (n > peak)
            peak = n;
    }
    assert_true(peak <= 16384);
    assert_true(peak >= 1000);  /* the cap is not absurdly low */
    /* the newest pair survives eviction; the oldest was evicted */
    gov_request newest = req("disk_full", "target-999999");
    gov_request oldest = req("disk_full", "target-0");
    l.max_heals_per_hour = 2000000;
    l.max_rollbacks_per_day = 2000000;
    governor_set_limits(g, &l, 0);
    assert_int_equal(governor_check(g, &newest, T0 + 100), GOV_COOLDOWN);
    assert_int_equal(governor_check(g, &oldest, T0 + 100), GOV_ALLOW);
    gov_budget b;
    governor_budget(g, T0 + 100, &b);
    assert_int_equal(b.cooldowns_active, (int)governor_debug_cooldown_entries(g));
    /* the hour window is capped too (it held the newest 1024 while the limit was 10) */
    assert_true(b.heals_last_hour <= 1024 && b.heals_last_hour >= 10);
    assert_true(b.rollbacks_today <= 1024 && b.rollbacks_today >= 3);
    /* after expiry, one commit prunes everything old */
    governor_budget(g, T0 + 1000, &b);
    assert_int_equal(b.cooldowns_active, 0);
    gov_request late = req("disk_full", "late");
    governor_commit(g, &late, T0 + 1000);
    assert_int_equal(governor_debug_cooldown_entries(g), 1);
    governor_budget(g, T0 + 1000, &b);
    assert_int_equal(b.cooldowns_active, 1);
    governor_free(g);
}

/* The window keeps at least `limit` entries, so a huge limit is honoured exactly. */
static void test_large_limit_exact(void **state)
{
    (void)state;
    agent_limits l = limits(5000, 3, 30, 0);
    governor *g = governor_new(&l, 0);
    gov_request r = req("x", "y");
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(governor_check(g, &r, T0 + i * 0.1), GOV_ALLOW);
        governor_commit(g, &r, T0 + i * 0.1);
    }
    assert_int_equal(governor_check(g, &r, T0 + 500), GOV_RATE_LIMIT);
    assert_int_equal(governor_check(g, &r, T0 + 3600), GOV_ALLOW);
    governor_free(g);
}

static void test_bad_input(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, NAN);
    governor *g = governor_new(&l, 0);
    assert_int_equal(governor_check(NULL, NULL, T0), GOV_PAUSED);
    assert_int_equal(governor_check(g, NULL, T0), GOV_PAUSED);
    governor_commit(NULL, NULL, T0);
    governor_commit(g, NULL, T0);
    governor_pause(NULL, 1);
    assert_int_equal(governor_paused(NULL), 0);
    gov_request r = req("a", "b");
    r.rollbacks = INT32_MAX;
    assert_int_equal(governor_check(g, &r, T0), GOV_ROLLBACK_LIMIT);
    governor_commit(g, &r, T0);
    governor_commit(g, &r, T0);
    gov_budget b;
    governor_budget(g, T0, &b);
    assert_int_equal(b.rollbacks_today, INT32_MAX);  /* saturates, does not wrap */
    assert_int_equal(b.rollbacks_left, 0);
    r.rollbacks = -3;  /* negative: no rollbacks */
    governor_commit(g, &r, NAN);  /* ignored */
    assert_int_equal(governor_check(g, &r, T0 + 1), GOV_ALLOW);  /* NaN cooldown = none */
    governor_free(g);
    governor_free(NULL);
}

struct race {
    governor *g;
    int stop;
};

static void *budget_reader(void *p)
{
    struct race *rc = p;
    gov_budget b;
    long n = 0;
    while (!__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE)) {
        governor_budget(rc->g, T0 + 50, &b);
        assert_true(b.heals_left >= 0);
        n++;
        sched_yield();  /* let the engine side take the lock too */
    }
    return (void *)n;
}

/* The HTTP thread reads the budget while the engine commits. */
static void test_threads(void **state)
{
    (void)state;
    agent_limits l = limits(10000, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    struct race rc = { g, 0 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, budget_reader, &rc), 0);
    char tgt[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(tgt, sizeof tgt, "t%d", i % 500);
        gov_request r = req("cpu_high", tgt);
        (void)governor_check(g, &r, T0 + i * 0.001);
        governor_commit(g, &r, T0 + i * 0.001);
        if (i % 1000 == 0)
            governor_pause(g, (i / 1000) % 2);
    }
    __atomic_store_n(&rc.stop, 1, __ATOMIC_RELEASE);
    void *ret;
    pthread_join(th, &ret);
    gov_budget b;
    governor_budget(g, T0 + 50, &b);
    assert_int_equal(b.heals_last_hour, 5000);
    assert_int_equal(b.cooldowns_active, 500);
    governor_free(g);
}


typedef struct seen_t {
    int n;
    char type[64], target[64];
    double until;
    int severity;
} seen_t;

/* Keeps the first entry listed. */
static int collect(void *ud, const gov_entry *e)
{
    seen_t *s = ud;
    if (s->n++ == 0) {
        snprintf(s->type, sizeof s->type, "%s", e->issue_type);
        snprintf(s->target, sizeof s->target, "%s", e->target);
        s->until = e->until;
        s->severity = e->severity;
    }
    return 0;
}

static gov_request sev_req(const char *type, const char *target, int severity)
{
    gov_request r = req(type, target);
    r.severity = severity;
    return r;
}

/* A memory emergency must not be refused because a gentle heal just ran on the same target. */
static void test_emergency_cooldown(void **state)
{
    (void)state;
    agent_limits l = limits(100, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    gov_request low = sev_req("memory_high", "host", HEALER_SEV_LOW);
    gov_request med = sev_req("memory_high", "host", HEALER_SEV_MEDIUM);
    gov_request high = sev_req("memory_high", "host", HEALER_SEV_HIGH);
    gov_request crit = sev_req("memory_high", "host", HEALER_SEV_CRITICAL);
    assert_int_equal(governor_commit(g, &low, T0), 0);
    assert_int_equal(governor_check(g, &low, T0 + 1), GOV_COOLDOWN);
    assert_int_equal(governor_check(g, &med, T0 + 1), GOV_ALLOW);    /* higher than recorded */
    assert_int_equal(governor_check(g, &crit, T0 + 1), GOV_ALLOW);
    governor_commit(g, &high, T0 + 2);                               /* records "high" */
    assert_int_equal(governor_check(g, &med, T0 + 3), GOV_COOLDOWN);
    assert_int_equal(governor_check(g, &high, T0 + 3), GOV_COOLDOWN);
    assert_int_equal(governor_check(g, &crit, T0 + 3), GOV_ALLOW);
    governor_commit(g, &crit, T0 + 4);
    assert_int_equal(governor_check(g, &crit, T0 + 5), GOV_ALLOW);   /* critical: never */
    gov_request legacy = req("memory_high", "host");
    legacy.critical = 1;                                             /* the old flag still counts */
    assert_int_equal(governor_check(g, &legacy, T0 + 5), GOV_ALLOW);
    assert_int_equal(governor_check(g, &high, T0 + 5), GOV_COOLDOWN);
    governor_free(g);
}

static void test_emergency_rate_health_pause(void **state)
{
    (void)state;
    agent_limits l = limits(2, 1, 50, 0);
    governor *g = governor_new(&l, 0);
    gov_request a = req("cpu_high", "a"), b = req("cpu_high", "b");
    governor_commit(g, &a, T0);
    governor_commit(g, &b, T0 + 1);
    gov_request n = sev_req("cpu_high", "n", HEALER_SEV_HIGH);
    gov_request c = sev_req("memory_high", "m", HEALER_SEV_CRITICAL);
    assert_int_equal(governor_check(g, &n, T0 + 2), GOV_RATE_LIMIT);
    assert_int_equal(governor_check(g, &c, T0 + 2), GOV_ALLOW);
    governor_commit(g, &c, T0 + 2);                 /* still counted in the window */
    gov_budget bu;
    governor_budget(g, T0 + 3, &bu);
    assert_int_equal(bu.heals_last_hour, 3);
    assert_int_equal(bu.heals_left, 0);
    /* the health floor */
    c.health = 1;
    n.health = 1;
    assert_int_equal(governor_check(g, &c, T0 + 3), GOV_ALLOW);
    /* the rollback limit and confirmation hold for critical requests */
    c.rollbacks = 2;
    assert_int_equal(governor_check(g, &c, T0 + 3), GOV_ROLLBACK_LIMIT);
    c.rollbacks = 0;
    c.flags = HEALER_ACTION_DELETES;
    assert_int_equal(governor_check(g, &c, T0 + 3), GOV_AWAITING_CONFIRMATION);
    c.flags = 0;
    /* pause refuses everything */
    governor_pause(g, 1);
    assert_int_equal(governor_check(g, &c, T0 + 3), GOV_PAUSED);
    governor_pause(g, 0);
    /* max 0 is a configured "never" */
    l.max_heals_per_hour = 0;
    governor_set_limits(g, &l, 0);
    assert_int_equal(governor_check(g, &c, T0 + 3), GOV_RATE_LIMIT);
    governor_free(g);
}

static void test_dry_run_windows_separate(void **state)
{
    (void)state;
    agent_limits l = limits(2, 1, 30, 5);
    governor *g = governor_new(&l, 0);
    gov_request d = req("cpu_high", "a");
    d.dry_run = 1;
    gov_request live = req("cpu_high", "a");
    assert_int_equal(governor_check(g, &d, T0), GOV_DRY_RUN);       /* where live would allow */
    governor_commit(g, &d, T0);
    assert_int_equal(governor_check(g, &d, T0 + 1), GOV_COOLDOWN);  /* the simulated cooldown */
    assert_int_equal(governor_check(g, &live, T0 + 1), GOV_ALLOW);  /* live untouched */
    assert_true(governor_cooldown_until(g, "cpu_high", "a", 1, T0 + 1) == T0 + 300);
    assert_true(governor_cooldown_until(g, "cpu_high", "a", 0, T0 + 1) == 0);
    gov_request d2 = req("cpu_high", "b");
    d2.dry_run = 1;
    d2.rollbacks = 1;
    governor_commit(g, &d2, T0 + 2);
    gov_request d3 = req("cpu_high", "c");
    d3.dry_run = 1;
    assert_int_equal(governor_check(g, &d3, T0 + 3), GOV_RATE_LIMIT);
    gov_request l3 = req("cpu_high", "c");
    l3.rollbacks = 1;
    assert_int_equal(governor_check(g, &l3, T0 + 3), GOV_ALLOW);    /* live hour and day free */
    gov_budget bu;
    governor_budget(g, T0 + 3, &bu);                                 /* a live governor: live */
    assert_int_equal(bu.heals_last_hour, 0);
    assert_int_equal(bu.cooldowns_active, 0);
    governor_commit(g, &live, T0 + 4);
    assert_int_equal(governor_check(g, &live, T0 + 5), GOV_COOLDOWN);
    governor_free(g);

    /* An agent in dry-run, reloaded into live, heals at once. */
    g = governor_new(&l, 1);
    gov_request r = req("memory_high", "host");
    assert_int_equal(governor_check(g, &r, T0), GOV_DRY_RUN);
    governor_commit(g, &r, T0);
    governor_budget(g, T0, &bu);                                     /* dry-run shows its own */
    assert_int_equal(bu.heals_last_hour, 1);
    assert_int_equal(governor_check(g, &r, T0 + 1), GOV_COOLDOWN);
    governor_set_limits(g, &l, 0);
    assert_int_equal(governor_check(g, &r, T0 + 1), GOV_ALLOW);
    governor_budget(g, T0 + 1, &bu);
    assert_int_equal(bu.heals_last_hour, 0);
    governor_free(g);
}

static void test_snooze(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    assert_true(governor_snoozed_until(g, "disk_full", "/", HEALER_SEV_LOW, T0) == 0);
    governor_snooze(g, "disk_full", "/", T0 + 300);
    assert_true(governor_snoozed_until(g, "disk_full", "/", HEALER_SEV_HIGH, T0 + 10) == T0 + 300);
    assert_true(governor_snoozed_until(g, "disk_full", "/var", HEALER_SEV_LOW, T0 + 10) == 0);
    assert_true(governor_snoozed_until(g, "disk_full", "/", HEALER_SEV_CRITICAL, T0 + 10) == 0);
    assert_true(governor_snoozed_until(g, "disk_full", "/", HEALER_SEV_LOW, T0 + 299.9) == T0 + 300);
    assert_true(governor_snoozed_until(g, "disk_full", "/", HEALER_SEV_LOW, T0 + 300) == 0);
    seen_t seen = { 0 };
    governor_each_snooze(g, T0 + 10, collect, &seen);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.type, "disk_full");
    assert_string_equal(seen.target, "/");
    assert_true(seen.until == T0 + 300);
    memset(&seen, 0, sizeof seen);
    governor_each_snooze(g, T0 + 300, collect, &seen);
    assert_int_equal(seen.n, 0);
    /* a snooze does not refuse in check(): the engine asks before planning */
    gov_request r = req("disk_full", "/");
    assert_int_equal(governor_check(g, &r, T0 + 10), GOV_ALLOW);
    governor_free(g);
}

static void test_cooldown_until_and_list(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, 5);
    governor *g = governor_new(&l, 0);
    assert_true(governor_cooldown_until(g, "cpu_high", "a", 0, T0) == 0);
    gov_request a = sev_req("cpu_high", "a", HEALER_SEV_HIGH), b = req("cpu_high", "b");
    governor_commit(g, &b, T0);
    governor_commit(g, &a, T0 + 100);
    assert_true(governor_cooldown_until(g, "cpu_high", "a", 0, T0 + 101) == T0 + 400);
    assert_true(governor_cooldown_until(g, "cpu_high", "a", 0, T0 + 400) == 0);
    seen_t seen = { 0 };
    governor_each_cooldown(g, 0, T0 + 200, collect, &seen);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.type, "cpu_high");
    assert_string_equal(seen.target, "a");       /* newest first: "a" came last */
    assert_int_equal(seen.severity, HEALER_SEV_HIGH);
    memset(&seen, 0, sizeof seen);
    governor_each_cooldown(g, 0, T0 + 350, collect, &seen);
    assert_int_equal(seen.n, 1);                 /* "b" ended at T0+300 */
    assert_string_equal(seen.target, "a");
    memset(&seen, 0, sizeof seen);
    governor_each_cooldown(g, 1, T0 + 10, collect, &seen);  /* the simulated ones: none */
    assert_int_equal(seen.n, 0);
    governor_free(g);
}

static void test_confirm_streak(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, 5);
    l.auto_after_confirmations = 3;
    governor *g = governor_new(&l, 0);
    const char *t = "disk_full", *act = "remove_old_files";
    assert_int_equal(governor_auto_approved(g, t, act), 0);
    governor_record_confirmed(g, t, act, 1);
    governor_record_confirmed(g, t, act, 1);
    assert_int_equal(governor_confirmed_successes(g, t, act), 2);
    assert_int_equal(governor_auto_approved(g, t, act), 0);
    governor_record_confirmed(g, t, act, 1);
    assert_int_equal(governor_auto_approved(g, t, act), 1);
    assert_int_equal(governor_auto_approved(g, t, "other"), 0);
    assert_int_equal(governor_auto_approved(g, "other", act), 0);
    governor_record_confirmed(g, t, act, 1);                 /* automatic successes extend it */
    assert_int_equal(governor_confirmed_successes(g, t, act), 4);
    governor_record_confirmed(g, t, act, 0);                 /* one failure: back to asking */
    assert_int_equal(governor_confirmed_successes(g, t, act), 0);
    assert_int_equal(governor_auto_approved(g, t, act), 0);
    for (int i = 0; i < 3; i++)
        governor_record_confirmed(g, t, act, 1);
    assert_int_equal(governor_auto_approved(g, t, act), 1);
    l.auto_after_confirmations = 0;                          /* 0 = never */
    governor_set_limits(g, &l, 0);
    assert_int_equal(governor_auto_approved(g, t, act), 0);
    l.auto_after_confirmations = 4;
    governor_set_limits(g, &l, 0);
    assert_int_equal(governor_auto_approved(g, t, act), 0);
    governor_record_confirmed(g, t, act, 1);
    assert_int_equal(governor_auto_approved(g, t, act), 1);
    governor_free(g);
}

/* A fake store: what the governor writes, and when. */
typedef struct fake_store {
    int commits, pauses, snoozes, streaks;
    gov_commit last;
    char last_type[64], last_target[64];
    int last_paused, last_streak;
    double last_until;
} fake_store;

static int fs_commit(void *ctx, const gov_commit *c)
{
    fake_store *f = ctx;
    f->commits++;
    f->last = *c;
    snprintf(f->last_type, sizeof f->last_type, "%s", c->issue_type);
    snprintf(f->last_target, sizeof f->last_target, "%s", c->target);
    return 0;
}
static int fs_pause(void *ctx, int p) { ((fake_store *)ctx)->pauses++; ((fake_store *)ctx)->last_paused = p; return 0; }
static int fs_snooze(void *ctx, const char *type, const char *target, double until)
{
    fake_store *f = ctx;
    (void)type;
    (void)target;
    f->snoozes++;
    f->last_until = until;
    return 0;
}
static int fs_streak(void *ctx, const char *type, const char *action, int n)
{
    fake_store *f = ctx;
    (void)type;
    (void)action;
    f->streaks++;
    f->last_streak = n;
    return -1;  /* a failing store: the governor carries on */
}

static void test_store_calls(void **state)
{
    (void)state;
    agent_limits l = limits(10, 3, 30, 5);
    l.auto_after_confirmations = 2;
    governor *g = governor_new(&l, 0);
    fake_store f = { 0 };
    /* restoring writes nothing back */
    governor_restore_heal(g, T0 - 10, 1, T0);
    governor_restore_cooldown(g, "x", "y", T0 - 10, HEALER_SEV_HIGH, T0);
    governor_restore_snooze(g, "x", "z", T0 + 100, T0);
    governor_restore_streak(g, "x", "act", 5);
    governor_restore_paused(g, 1);
    gov_store st = { &f, fs_commit, fs_pause, fs_snooze, fs_streak, NULL, NULL, NULL, NULL };
    governor_set_store(g, &st);
    assert_int_equal(f.commits + f.pauses + f.snoozes + f.streaks, 0);
    assert_int_equal(governor_paused(g), 1);
    gov_budget bu;
    governor_budget(g, T0, &bu);
    assert_int_equal(bu.heals_last_hour, 1);
    assert_int_equal(bu.rollbacks_today, 1);
    gov_request y = sev_req("x", "y", HEALER_SEV_MEDIUM);
    governor_pause(g, 0);
    assert_int_equal(governor_check(g, &y, T0), GOV_COOLDOWN);      /* restored "high" */
    assert_true(governor_snoozed_until(g, "x", "z", 0, T0) == T0 + 100);
    assert_int_equal(governor_auto_approved(g, "x", "act"), 1);
    /* expired on restore: ignored */
    governor_restore_cooldown(g, "x", "old", T0 - 301, HEALER_SEV_LOW, T0);
    assert_true(governor_cooldown_until(g, "x", "old", 0, T0) == 0);
    governor_restore_heal(g, T0 - 3601, 0, T0);
    governor_budget(g, T0, &bu);
    assert_int_equal(bu.heals_last_hour, 1);

    assert_int_equal(f.pauses, 1);
    assert_int_equal(f.last_paused, 0);
    gov_request c = sev_req("memory_high", "host", HEALER_SEV_CRITICAL);
    c.rollbacks = 2;
    assert_int_equal(governor_commit(g, &c, T0 + 1), 0);
    assert_int_equal(f.commits, 1);
    assert_string_equal(f.last_type, "memory_high");
    assert_string_equal(f.last_target, "host");
    assert_int_equal(f.last.severity, HEALER_SEV_CRITICAL);
    assert_int_equal(f.last.rollbacks, 2);
    assert_true(f.last.t == T0 + 1);
    assert_true(f.last.cooldown_until == T0 + 301);
    /* dry runs never reach the store */
    c.dry_run = 1;
    governor_commit(g, &c, T0 + 2);
    assert_int_equal(f.commits, 1);
    governor_snooze(g, "a", "b", T0 + 50);
    assert_int_equal(f.snoozes, 1);
    assert_true(f.last_until == T0 + 50);
    governor_record_confirmed(g, "x", "act", 0);             /* 5 -> 0 */
    assert_int_equal(f.streaks, 1);
    assert_int_equal(f.last_streak, 0);
    governor_record_confirmed(g, "x", "act", 0);             /* 0 -> 0: nothing to write */
    assert_int_equal(f.streaks, 1);
    governor_set_store(g, NULL);
    governor_commit(g, &y, T0 + 3);
    assert_int_equal(f.commits, 1);
    governor_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_sliding_hour),
        cmocka_unit_test(test_zero_heals_per_hour),
        cmocka_unit_test(test_cooldown_per_pair),
        cmocka_unit_test(test_rollbacks_per_day),
        cmocka_unit_test(test_low_health_vs_critical),
        cmocka_unit_test(test_confirmation),
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_dry_run_precedence),
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_check_has_no_side_effect),
        cmocka_unit_test(test_budget_numbers),
        cmocka_unit_test(test_set_limits_reload),
        cmocka_unit_test(test_memory_bound),
        cmocka_unit_test(test_large_limit_exact),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_emergency_cooldown),
        cmocka_unit_test(test_emergency_rate_health_pause),
        cmocka_unit_test(test_dry_run_windows_separate),
        cmocka_unit_test(test_snooze),
        cmocka_unit_test(test_cooldown_until_and_list),
        cmocka_unit_test(test_confirm_streak),
        cmocka_unit_test(test_store_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
