/* test_planner.c — plan ordering against a real knowledge base (SQLite in a temporary
 * state_dir): knowledge beats priors within a step, steps are never reordered, ties are
 * deterministic, and exploration happens at the configured rate with a fixed seed. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fleet_merge.h"
#include "knowledge.h"
#include "planner.h"

#define MAXI 16

static msg_action act(const char *plugin, const char *name, unsigned step, double impact,
                      double confidence)
{
    return (msg_action){ .plugin = plugin, .name = name, .target = "t", .step = step,
                         .impact = impact, .confidence = confidence };
}

static void fill(plan_item *items, const msg_action *acts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        items[i] = (plan_item){ .action = &acts[i], .expected = -1, .attempts = 99,
                                .explored = 7 };
}

/* ---- a real knowledge base in a temporary directory ---- */

typedef struct kbfix {
    char dir[64];
    knowledge *kb;
} kbfix;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static int kb_setup(void **state)
{
    kbfix *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_planner.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    char err[256] = "";
    if (knowledge_open(f->dir, &f->kb, err, sizeof err) != 0) {
        fprintf(stderr, "knowledge_open(%s): %s\n", f->dir, err);
        nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int kb_teardown(void **state)
{
    kbfix *f = *state;
    if (f->kb)
        knowledge_close(f->kb);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Records `attempts` heals of one action for issue_type, `successes` of them successful. */
static void seed(knowledge *kb, const char *issue_type, const char *plugin, const char *action,
                 int attempts, int successes)
{
    for (int i = 0; i < attempts; i++) {
        int ok = i < successes;
        kb_action a = { .plugin = plugin, .action = action, .target = "t",
                        .outcome = ok ? "healed" : "not_healed", .success = ok,
                        .message = "seeded by test_planner", .started_at = 1700000000.0 + i,
                        .duration = 0.1 };
        kb_heal h = { .id = knowledge_next_heal_id(kb), .issue_id = knowledge_next_issue_id(kb),
                      .issue_type = issue_type, .severity = "high", .target = "t",
                      .plugin = plugin, .summary = "seeded", .outcome = ok ? "healed" : "failed",
                      .detected_at = 1700000000.0 + i, .started_at = 1700000000.0 + i,
                      .finished_at = 1700000000.5 + i, .actions = &a, .n_actions = 1 };
        assert_int_equal(knowledge_record_heal(kb, &h), 0);
    }
    assert_int_equal(knowledge_flush(kb), 0);
}

/* ---- tests ---- */

static void test_priors_without_knowledge(void **state)
{
    (void)state;
    msg_action acts[] = {
        act("cpu", "renice", 0, 0.2, 0.3),
        act("cpu", "throttle", 0, 0.5, 0.8),
        act("cpu", "cgroup_limit", 0, 0.1, 0.8),
    };
    plan_item it[3];
    fill(it, acts, 3);
    uint64_t rng = 42;
    assert_int_equal(planner_order(it, 3, "cpu_high", NULL, 0.0, &rng), 0);
    /* equal priors: lower impact first */
    assert_string_equal(it[0].action->name, "cgroup_limit");
    assert_string_equal(it[1].action->name, "throttle");
    assert_string_equal(it[2].action->name, "renice");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(it[i].attempts, 0);
        assert_int_equal(it[i].explored, 0);
        assert_true(fabs(it[i].expected - it[i].action->confidence) < 1e-12);
    }
    assert_int_equal(rng, 42);  /* exploration 0 draws nothing */
}

static void test_priors_with_empty_kb(void **state)
{
    kbfix *f = *state;
    msg_action acts[] = {
        act("cpu", "renice", 0, 0.2, 0.3),
        act("cpu", "throttle", 0, 0.5, 0.8),
    };
    plan_item it[2];
    fill(it, acts, 2);
    uint64_t rng = 1;
    planner_order(it, 2, "cpu_high", f->kb, 0.0, &rng);
    assert_string_equal(it[0].action->name, "throttle");
    assert_true(fabs(it[0].expected - 0.8) < 1e-12);
    assert_true(fabs(it[1].expected - 0.3) < 1e-12);
}

static void test_knowledge_orders_within_step(void **state)
{
    kbfix *f = *state;
    /* throttle looks better on paper (0.9) but has failed 18 of 20 times here; renice has
     * healed 19 of 20. On another issue type the opposite is true and must not matter. */
    seed(f->kb, "cpu_high", "cpu", "renice", 20, 19);
    seed(f->kb, "cpu_high", "cpu", "throttle", 20, 2);
    seed(f->kb, "mem_high", "cpu", "renice", 30, 0);
    seed(f->kb, "mem_high", "cpu", "throttle", 30, 30);

    msg_action acts[] = {
        act("cpu", "throttle", 0, 0.1, 0.9),
        act("cpu", "renice", 0, 0.3, 0.5),
        act("cpu", "unknown_new", 0, 0.2, 0.6),
    };
    plan_item it[3];
    fill(it, acts, 3);
    uint64_t rng = 7;
    assert_int_equal(planner_order(it, 3, "cpu_high", f->kb, 0.0, &rng), 0);
    assert_string_equal(it[0].action->name, "renice");
    assert_string_equal(it[1].action->name, "unknown_new");
    assert_string_equal(it[2].action->name, "throttle");
    assert_int_equal(it[0].attempts, 20);
    assert_int_equal(it[1].attempts, 0);
    assert_int_equal(it[2].attempts, 20);
    assert_true(fabs(it[0].expected - knowledge_confidence(20, 19, 0.5)) < 1e-12);
    assert_true(fabs(it[0].expected - 20.0 / 22.0) < 1e-12);
    assert_true(fabs(it[1].expected - 0.6) < 1e-12);
    assert_true(fabs(it[2].expected - (2 + 2 * 0.9) / 22.0) < 1e-12);

    /* the other issue type sees the opposite order */
    fill(it, acts, 3);
    planner_order(it, 3, "mem_high", f->kb, 0.0, &rng);
    assert_string_equal(it[0].action->name, "throttle");
    assert_string_equal(it[2].action->name, "renice");

    /* what was learnt survives a restart (statistics reloaded from the SQLite file) */
    knowledge_close(f->kb);
    f->kb = NULL;
    char err[256] = "";
    assert_int_equal(knowledge_open(f->dir, &f->kb, err, sizeof err), 0);
    fill(it, acts, 3);
    planner_order(it, 3, "cpu_high", f->kb, 0.0, &rng);
    assert_string_equal(it[0].action->name, "renice");
    assert_string_equal(it[2].action->name, "throttle");
    assert_int_equal(it[0].attempts, 20);
}

/* A host with no history of its own: its peers found throttle good and renice bad, so its
 * first heal takes throttle although the plugin's own prior prefers renice. */
static void test_fleet_first_heal(void **state)
{
    kbfix *f = *state;
    msg_action acts[] = {
        act("cpu", "renice", 0, 0.1, 0.9),
        act("cpu", "throttle", 0, 0.3, 0.5),
    };
    plan_item it[2];
    fill(it, acts, 2);
    uint64_t rng = 7;
    planner_order(it, 2, "cpu_high", f->kb, 0.0, &rng);
    assert_string_equal(it[0].action->name, "renice"); /* alone: the priors decide */

    const char *const peers[] = {"b", "c"};
    assert_int_equal(knowledge_fleet_enable(f->kb, peers, 2, 0.5), 0);
    fleet_row rows[] = {{"cpu_high", "throttle", 12, 11}, {"cpu_high", "renice", 10, 1}};
    fleet_state b = {.node = "b", .rows = rows, .n = 2};
    size_t grew = 0;
    assert_int_equal(knowledge_fleet_merge(f->kb, &b, &grew), 0);
    assert_int_equal(grew, 2);
    fleet_row crow[] = {{"cpu_high", "throttle", 8, 8}};
    fleet_state c = {.node = "c", .rows = crow, .n = 1};
    assert_int_equal(knowledge_fleet_merge(f->kb, &c, &grew), 0);
    assert_int_equal(knowledge_fleet_merge(f->kb, &c, &grew), 0); /* again: nothing grows */
    assert_int_equal(grew, 0);

    fill(it, acts, 2);
    planner_order(it, 2, "cpu_high", f->kb, 0.0, &rng);
    assert_string_equal(it[0].action->name, "throttle");
    assert_int_equal(it[0].attempts, 0); /* local attempts: none yet */
    /* (s + W*S + 2p) / (a + W*A + 2) with S = 11 + 8 of A = 12 + 8, W = 0.5 */
    assert_true(fabs(it[0].expected - (0.5 * 19 + 2 * 0.5) / (0.5 * 20 + 2)) < 1e-12);
    assert_true(fabs(it[1].expected - (0.5 * 1 + 2 * 0.9) / (0.5 * 10 + 2)) < 1e-12);

    /* weight 0: the fleet has no say */
    knowledge_fleet_set_weight(f->kb, 0);
    fill(it, acts, 2);
    planner_order(it, 2, "cpu_high", f->kb, 0.0, &rng);
    assert_string_equal(it[0].action->name, "renice");

    /* kept in knowledge.db across a restart; a peer no longer listed has no say */
    knowledge_close(f->kb);
    f->kb = NULL;
    char err[256] = "";
    assert_int_equal(knowledge_open(f->dir, &f->kb, err, sizeof err), 0);
    assert_int_equal(knowledge_fleet_enable(f->kb, peers, 2, 0.5), 0);
    assert_int_equal(knowledge_fleet_rows(f->kb), 3);
    uint64_t fa, fs;
    double w;
    knowledge_fleet_sums(f->kb, "cpu_high", "throttle", &fa, &fs, &w);
    assert_int_equal(fa, 20);
    assert_int_equal(fs, 19);
    assert_true(w == 0.5);
    /* b's throttle relapsed once: its next state says 12 tries, 10 healed, and a late copy of
     * the one before does not undo that, in memory or on disk */
    fleet_row relapsed[] = {{"cpu_high", "throttle", 12, 10}};
    fleet_state b2 = {.node = "b", .rows = relapsed, .n = 1};
    assert_int_equal(knowledge_fleet_merge(f->kb, &b2, &grew), 0);
    assert_int_equal(grew, 1);
    assert_int_equal(knowledge_fleet_merge(f->kb, &b, &grew), 0);
    assert_int_equal(grew, 0);
    knowledge_fleet_sums(f->kb, "cpu_high", "throttle", &fa, &fs, &w);
    assert_int_equal(fa, 20);
    assert_int_equal(fs, 18);
    knowledge_close(f->kb);
    f->kb = NULL;
    assert_int_equal(knowledge_open(f->dir, &f->kb, err, sizeof err), 0);
    assert_int_equal(knowledge_fleet_enable(f->kb, peers, 2, 0.5), 0);
    knowledge_fleet_sums(f->kb, "cpu_high", "throttle", &fa, &fs, &w);
    assert_int_equal(fa, 20);
    assert_int_equal(fs, 18);
    assert_int_equal(knowledge_fleet_enable(f->kb, peers + 1, 1, 0.5), 0); /* only c */
    knowledge_fleet_sums(f->kb, "cpu_high", "throttle", &fa, &fs, &w);
    assert_int_equal(fa, 8);
    knowledge_fleet_sums(f->kb, "cpu_high", "renice", &fa, &fs, &w);
    assert_int_equal(fa, 0);
}

/* This node's statistics as the rows it sends: the pairs it tried, as counted. */
static void test_local_rows(void **state)
{
    kbfix *f = *state;
    seed(f->kb, "cpu_high", "cpu", "renice", 5, 4);
    seed(f->kb, "disk_space_low", "disk", "vacuum", 2, 0);
    fleet_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(knowledge_local_rows(f->kb, &rows, &n), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].action, "renice") == 0) {
            assert_string_equal(rows[i].type, "cpu_high");
            assert_int_equal(rows[i].attempts, 5);
            assert_int_equal(rows[i].successes, 4);
        } else {
            assert_string_equal(rows[i].type, "disk_space_low");
            assert_string_equal(rows[i].action, "vacuum");
            assert_int_equal(rows[i].attempts, 2);
            assert_int_equal(rows[i].successes, 0);
        }
    }
    free(rows);
}

static void test_steps_never_reordered(void **state)
{
    kbfix *f = *state;
    /* the harsh step always works here, the gentle one never does: still gentle first */
    seed(f->kb, "disk_full", "disk", "clean_tmp", 50, 0);
    seed(f->kb, "disk_full", "disk", "gc_nix", 50, 50);
    msg_action acts[] = {
        act("disk", "gc_nix", 2, 0.0, 1.0),
        act("disk", "rotate_logs", 1, 0.1, 0.4),
        act("disk", "clean_tmp", 0, 0.9, 0.0),
        act("disk", "clean_cache", 1, 0.1, 0.5),
        act("zz", "delete_old", 3, 0.0, 1.0),
        act("disk", "vacuum_journal", 1, 0.2, 0.45),
    };
    size_t n = sizeof acts / sizeof *acts;
    plan_item it[MAXI];
    uint64_t rng = 12345;
    /* every exploration setting, many random input permutations */
    for (int round = 0; round < 2000; round++) {
        fill(it, acts, n);
        for (size_t i = n - 1; i > 0; i--) {  /* shuffle with the test's own generator */
            size_t j = (size_t)(rand() % (int)(i + 1));
            plan_item tmp = it[i]; it[i] = it[j]; it[j] = tmp;
        }
        double expl = (round % 3) / 2.0;  /* 0, 0.5, 1 */
        int explored = planner_order(it, n, "disk_full", f->kb, expl, &rng);
        for (size_t i = 1; i < n; i++)
            assert_true(it[i - 1].action->step <= it[i].action->step);
        assert_string_equal(it[0].action->name, "clean_tmp");
        assert_string_equal(it[n - 2].action->name, "gc_nix");
        assert_string_equal(it[n - 1].action->name, "delete_old");
        int marks = 0;
        for (size_t i = 0; i < n; i++)
            marks += it[i].explored;
        assert_int_equal(marks, explored);
        if (!explored) {
            assert_string_equal(it[1].action->name, "clean_cache");
            assert_string_equal(it[2].action->name, "vacuum_journal");
            assert_string_equal(it[3].action->name, "rotate_logs");
        } else {
            /* the first contested step is step 1; all its candidates are untried, so the
             * best ranked of the others (vacuum_journal) goes first */
            assert_string_equal(it[1].action->name, "vacuum_journal");
            assert_int_equal(it[1].explored, 1);
            assert_string_equal(it[2].action->name, "clean_cache");
            assert_string_equal(it[3].action->name, "rotate_logs");
        }
        if (expl == 0)
            assert_int_equal(explored, 0);
        if (expl == 1)
            assert_int_equal(explored, 1);
    }
}

static void test_ties_deterministic(void **state)
{
    (void)state;
    msg_action acts[] = {
        act("net", "restart_link", 0, 0.3, 0.5),
        act("alpha", "restart_link", 0, 0.3, 0.5),
        act("net", "flush_dns", 0, 0.3, 0.5),
        act("net", "flush_dns", 0, 0.2, 0.5),  /* lower impact wins the tie */
        act("alpha", "renew_dhcp", 0, 0.3, 0.5),
    };
    const char *want[][2] = { { "net", "flush_dns" }, { "alpha", "renew_dhcp" },
                              { "alpha", "restart_link" }, { "net", "flush_dns" },
                              { "net", "restart_link" } };
    size_t n = 5;
    plan_item it[5];
    for (int round = 0; round < 200; round++) {
        fill(it, acts, n);
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(rand() % (int)(i + 1));
            plan_item tmp = it[i]; it[i] = it[j]; it[j] = tmp;
        }
        uint64_t rng = 9;
        planner_order(it, n, "link_down", NULL, 0.0, &rng);
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(it[i].action->plugin, want[i][0]);
            assert_string_equal(it[i].action->name, want[i][1]);
        }
        assert_true(it[0].action->impact == 0.2);
    }
}

static void test_exploration_frequency(void **state)
{
    kbfix *f = *state;
    seed(f->kb, "svc_failed", "service", "restart", 40, 36);
    seed(f->kb, "svc_failed", "service", "reset_failed", 10, 5);
    seed(f->kb, "svc_failed", "service", "reload", 3, 1);
    msg_action acts[] = {
        act("service", "restart", 0, 0.3, 0.7),
        act("service", "reset_failed", 0, 0.1, 0.5),
        act("service", "reload", 0, 0.1, 0.5),
        act("service", "isolate", 1, 0.9, 0.5),
    };
    size_t n = 4;
    plan_item it[4];
    uint64_t rng = 0x1234567890abcdefULL;
    int explored = 0;
    for (int i = 0; i < 10000; i++) {
        fill(it, acts, n);
        int e = planner_order(it, n, "svc_failed", f->kb, 0.1, &rng);
        if (e) {
            explored++;
            /* least tried of step 0 (reload, 3 attempts) goes first */
            assert_string_equal(it[0].action->name, "reload");
            assert_int_equal(it[0].explored, 1);
            assert_string_equal(it[1].action->name, "restart");
            assert_string_equal(it[2].action->name, "reset_failed");
        } else {
            assert_string_equal(it[0].action->name, "restart");
            assert_int_equal(it[0].explored, 0);
        }
        assert_string_equal(it[3].action->name, "isolate");
    }
    print_message("explored %d of 10000 at exploration 0.1\n", explored);
    assert_in_range(explored, 700, 1300);

    /* 0 never explores */
    for (int i = 0; i < 10000; i++) {
        fill(it, acts, n);
        assert_int_equal(planner_order(it, n, "svc_failed", f->kb, 0.0, &rng), 0);
        assert_string_equal(it[0].action->name, "restart");
        for (size_t k = 0; k < n; k++)
            assert_int_equal(it[k].explored, 0);
    }
    /* 0.5 explores about half the time */
    explored = 0;
    for (int i = 0; i < 10000; i++) {
        fill(it, acts, n);
        explored += planner_order(it, n, "svc_failed", f->kb, 0.5, &rng);
    }
    assert_in_range(explored, 4500, 5500);
}

/* Equal attempts among the non-favourites: the better ranked one is explored. The current
 * favourite is never the one "explored", even when it is the least tried. */
static void test_exploration_pick(void **state)
{
    kbfix *f = *state;
    seed(f->kb, "temp_high", "thermal", "fan_max", 4, 3);
    seed(f->kb, "temp_high", "thermal", "lower_freq", 4, 1);
    msg_action acts[] = {
        act("thermal", "lower_freq", 0, 0.3, 0.5),
        act("thermal", "fan_max", 0, 0.1, 0.5),
        act("thermal", "brand_new", 0, 0.1, 0.95),  /* untried, but the favourite */
    };
    plan_item it[3];
    fill(it, acts, 3);
    uint64_t rng = 5;
    assert_int_equal(planner_order(it, 3, "temp_high", f->kb, 1.0, &rng), 1);
    assert_string_equal(it[0].action->name, "fan_max");
    assert_int_equal(it[0].explored, 1);
    assert_string_equal(it[1].action->name, "brand_new");
    assert_string_equal(it[2].action->name, "lower_freq");

    /* a single candidate per step: nothing to explore */
    msg_action solo[] = { act("a", "x", 0, 0, 0.5), act("a", "y", 1, 0, 0.5) };
    plan_item s[2];
    fill(s, solo, 2);
    assert_int_equal(planner_order(s, 2, "temp_high", f->kb, 1.0, &rng), 0);
    assert_string_equal(s[0].action->name, "x");
}

static void run_sequence(uint64_t seed0, int *out, size_t n_out)
{
    msg_action acts[] = {
        act("p", "a", 0, 0.1, 0.5), act("p", "b", 0, 0.2, 0.5), act("p", "c", 1, 0.2, 0.5),
    };
    plan_item it[3];
    uint64_t rng = seed0;
    for (size_t i = 0; i < n_out; i++) {
        fill(it, acts, 3);
        out[i] = planner_order(it, 3, "x", NULL, 0.3, &rng);
        assert_string_equal(it[0].action->name, out[i] ? "b" : "a");
    }
}

static void test_deterministic_seed(void **state)
{
    (void)state;
    enum { N = 2000 };
    static int a[N], b[N], c[N];
    run_sequence(0xdeadbeefULL, a, N);
    run_sequence(0xdeadbeefULL, b, N);
    run_sequence(0xfeedfaceULL, c, N);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
}

static void test_bad_input(void **state)
{
    (void)state;
    uint64_t rng = 0;  /* a zero state must not stick at zero */
    assert_int_equal(planner_order(NULL, 3, "x", NULL, 1.0, &rng), 0);
    msg_action acts[] = {
        act(NULL, NULL, 0, NAN, NAN),
        act("p", "ok", 0, 0.5, 0.5),
        act("p", "huge", 0, 0.5, 7.0),
        act("p", "neg", 0, 0.5, -3.0),
    };
    plan_item it[5];
    fill(it, acts, 4);
    it[4] = (plan_item){ .action = NULL };
    planner_order(it, 5, NULL, NULL, 0.0, &rng);
    assert_string_equal(it[0].action->name, "huge");
    assert_true(it[0].expected == 1.0);
    assert_string_equal(it[1].action->name, "ok");
    assert_null(it[4].action);  /* items without an action go last */
    for (int i = 0; i < 5; i++)
        assert_true(it[i].expected >= 0 && it[i].expected <= 1);
    int hits = 0;
    for (int i = 0; i < 100; i++) {
        fill(it, acts, 4);
        hits += planner_order(it, 4, "x", NULL, 0.5, &rng);
    }
    assert_true(rng != 0);
    assert_in_range(hits, 1, 99);
    /* NULL rng: ordering only */
    fill(it, acts, 4);
    assert_int_equal(planner_order(it, 4, "x", NULL, 1.0, NULL), 0);
    /* NaN exploration never explores */
    fill(it, acts, 4);
    assert_int_equal(planner_order(it, 4, "x", NULL, NAN, &rng), 0);
}

int main(void)
{
    srand(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priors_without_knowledge),
        cmocka_unit_test_setup_teardown(test_priors_with_empty_kb, kb_setup, kb_teardown),
        cmocka_unit_test_setup_teardown(test_knowledge_orders_within_step, kb_setup, kb_teardown),
        cmocka_unit_test_setup_teardown(test_steps_never_reordered, kb_setup, kb_teardown),
        cmocka_unit_test_setup_teardown(test_fleet_first_heal, kb_setup, kb_teardown),
        cmocka_unit_test_setup_teardown(test_local_rows, kb_setup, kb_teardown),
        cmocka_unit_test(test_ties_deterministic),
        cmocka_unit_test_setup_teardown(test_exploration_frequency, kb_setup, kb_teardown),
        cmocka_unit_test_setup_teardown(test_exploration_pick, kb_setup, kb_teardown),
        cmocka_unit_test(test_deterministic_seed),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
