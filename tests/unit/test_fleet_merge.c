/* test_fleet_merge.c — the fleet's shared knowledge as data (fleet_merge.c): a model of three
 * nodes whose counters grow (and whose successes relapse) while their messages are delivered
 * late, twice, out of order and lost, checked at every step (attempts and failures never shrink)
 * and at the end (every node holds each
 * other node's last state exactly, and the sums agree); and the decoder against hostile bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet_merge.h"

#define NODES 3
#define PAIRS 12
#define MAXQ 4096

static const char *const node_name[NODES] = {"alpha", "bravo", "charlie"};

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static char type_of[PAIRS][16], action_of[PAIRS][16];

typedef struct msg {
    char *bytes;
    size_t len;
} msg;

/* One node: its own counters (the truth it sends) and what it merged from the others. */
typedef struct node {
    uint64_t a[PAIRS], s[PAIRS];
    fleet_table *t;
} node;

static msg snapshot(const node *n, int who)
{
    fleet_row rows[PAIRS];
    size_t k = 0;
    for (int p = 0; p < PAIRS; p++)
        if (n->a[p]) /* a pair never tried is not sent */
            rows[k++] = (fleet_row){type_of[p], action_of[p], n->a[p], n->s[p]};
    msg m;
    assert_int_equal(fleet_state_encode(node_name[who], rows, k, &m.bytes, &m.len), 0);
    return m;
}

static void deliver(node *to, const msg *m)
{
    fleet_state st;
    char why[128];
    assert_int_equal(fleet_state_decode(m->bytes, m->len, &st, why, sizeof why), 0);
    for (size_t i = 0; i < st.n; i++)
        assert_true(fleet_table_merge(to->t, st.node, st.rows[i].type, st.rows[i].action,
                                      st.rows[i].attempts, st.rows[i].successes) >= 0);
    fleet_state_free(&st);
}

/* The table of `to` as numbers, for the monotonicity check. */
static void read_table(const node *to, uint64_t out[NODES][PAIRS][2])
{
    for (int j = 0; j < NODES; j++)
        for (int p = 0; p < PAIRS; p++)
            fleet_table_get(to->t, node_name[j], type_of[p], action_of[p], &out[j][p][0],
                            &out[j][p][1]);
}

static void run_model(uint64_t seed)
{
    rng_state = seed;
    node nodes[NODES] = {0};
    for (int i = 0; i < NODES; i++)
        nodes[i].t = fleet_table_new();
    /* messages in flight per receiver: any may be delivered next, any many times */
    msg *q[NODES];
    size_t nq[NODES] = {0};
    for (int i = 0; i < NODES; i++)
        q[i] = calloc(MAXQ, sizeof(msg));
    uint64_t before[NODES][PAIRS][2], after[NODES][PAIRS][2];

    for (int step = 0; step < 600; step++) {
        int who = (int)(rnd() % NODES);
        unsigned what = (unsigned)(rnd() % 10);
        if (what < 4) { /* the node heals: a pair grows */
            int p = (int)(rnd() % PAIRS);
            nodes[who].a[p]++;
            if (rnd() % 3)
                nodes[who].s[p]++;
        } else if (what == 4) { /* a heal of a pair relapses: one success becomes a failure */
            int p = (int)(rnd() % PAIRS);
            if (nodes[who].s[p])
                nodes[who].s[p]--;
        } else if (what < 6) { /* it sends its state to every other node */
            for (int to = 0; to < NODES; to++)
                if (to != who && nq[to] < MAXQ)
                    q[to][nq[to]++] = snapshot(&nodes[who], who);
        } else if (nq[who]) { /* it receives one message in flight, at random */
            size_t k = (size_t)(rnd() % nq[who]);
            read_table(&nodes[who], before);
            deliver(&nodes[who], &q[who][k]);
            read_table(&nodes[who], after);
            /* attempts and failures never shrink; successes may (a relapse), never past
             * attempts */
            for (int j = 0; j < NODES; j++)
                for (int p = 0; p < PAIRS; p++) {
                    assert_true(after[j][p][0] >= before[j][p][0]);
                    assert_true(after[j][p][0] - after[j][p][1] >=
                                before[j][p][0] - before[j][p][1]);
                    assert_true(after[j][p][1] <= after[j][p][0]);
                }
            if (rnd() % 4) { /* usually consumed; else left to arrive again (duplicate) */
                free(q[who][k].bytes);
                q[who][k] = q[who][--nq[who]];
            }
        }
    }
    /* Everything still in flight arrives, then each node's last state once more. */
    for (int to = 0; to < NODES; to++) {
        while (nq[to]) {
            size_t k = (size_t)(rnd() % nq[to]);
            deliver(&nodes[to], &q[to][k]);
            free(q[to][k].bytes);
            q[to][k] = q[to][--nq[to]];
        }
        for (int from = 0; from < NODES; from++)
            if (from != to) {
                msg m = snapshot(&nodes[from], from);
                deliver(&nodes[to], &m);
                free(m.bytes);
            }
    }
    for (int to = 0; to < NODES; to++) {
        for (int p = 0; p < PAIRS; p++) {
            uint64_t sa = 0, ss = 0, ga, gs;
            for (int from = 0; from < NODES; from++) {
                if (from == to)
                    continue;
                fleet_table_get(nodes[to].t, node_name[from], type_of[p], action_of[p], &ga, &gs);
                assert_int_equal(ga, nodes[from].a[p]);
                assert_int_equal(gs, nodes[from].s[p]);
                sa += ga;
                ss += gs;
            }
            fleet_table_sums(nodes[to].t, type_of[p], action_of[p], &ga, &gs);
            assert_int_equal(ga, sa);
            assert_int_equal(gs, ss);
        }
        assert_int_equal(fleet_table_get(nodes[to].t, node_name[to], type_of[0], action_of[0],
                                         &(uint64_t){0}, &(uint64_t){0}), 0);
        fleet_table_free(nodes[to].t);
        free(q[to]);
    }
}

static void test_model(void **state)
{
    (void)state;
    for (int p = 0; p < PAIRS; p++) {
        snprintf(type_of[p], sizeof type_of[p], "type_%d", p % 3);
        snprintf(action_of[p], sizeof action_of[p], "act_%d", p);
    }
    for (uint64_t seed = 1; seed <= 200; seed++)
        run_model(seed * 0x9e3779b97f4a7c15ULL);
}

static void test_merge_is_max(void **state)
{
    (void)state;
    fleet_table *t = fleet_table_new();
    assert_int_equal(fleet_table_merge(t, "b", "cpu_high", "renice", 5, 3), 1);
    assert_int_equal(fleet_table_merge(t, "b", "cpu_high", "renice", 5, 3), 0); /* duplicate */
    assert_int_equal(fleet_table_merge(t, "b", "cpu_high", "renice", 4, 2), 0); /* older */
    assert_int_equal(fleet_table_merge(t, "c", "cpu_high", "renice", 2, 2), 1);
    uint64_t a, s;
    fleet_table_sums(t, "cpu_high", "renice", &a, &s);
    assert_int_equal(a, 7);
    assert_int_equal(s, 5);
    assert_int_equal(fleet_table_merge(t, "b", "cpu_high", "renice", 6, 3), 1);
    fleet_table_sums(t, "cpu_high", "renice", &a, &s);
    assert_int_equal(a, 8);
    assert_int_equal(s, 5);
    assert_int_equal(fleet_table_rows(t), 2);
    fleet_table_free(t);
}

/* A relapse on b (a success taken back) reaches its peers, whatever order b's states arrive in:
 * successes are attempts minus the failures' maximum. */
static void test_relapse_travels(void **state)
{
    (void)state;
    fleet_table *t = fleet_table_new();
    assert_int_equal(fleet_table_merge(t, "b", "cpu_high", "renice", 10, 8), 1);
    assert_int_equal(fleet_table_merge(t, "c", "cpu_high", "renice", 4, 4), 1);
    assert_int_equal(fleet_table_merge(t, "b", "cpu_high", "renice", 10, 7), 1); /* relapse */
    uint64_t a, s;
    fleet_table_get(t, "b", "cpu_high", "renice", &a, &s);
    assert_int_equal(a, 10);
    assert_int_equal(s, 7);
    assert_int_equal(fleet_table_merge(t, "b", "cpu_high", "renice", 10, 8), 0); /* late copy */
    assert_int_equal(fleet_table_merge(t, "b", "cpu_high", "renice", 9, 8), 0);  /* older */
    fleet_table_sums(t, "cpu_high", "renice", &a, &s);
    assert_int_equal(a, 14);
    assert_int_equal(s, 11);
    /* a newer state with one more success after the relapse: 11 tries, 8 healed, 3 failed */
    assert_int_equal(fleet_table_merge(t, "b", "cpu_high", "renice", 11, 8), 1);
    fleet_table_get(t, "b", "cpu_high", "renice", &a, &s);
    assert_int_equal(a, 11);
    assert_int_equal(s, 8);
    fleet_table_free(t);
}

static int decode(const void *b, size_t n, char *why)
{
    fleet_state st;
    int rc = fleet_state_decode(b, n, &st, why, 128);
    fleet_state_free(&st);
    return rc;
}

/* Rows whose names only differ in where one part ends ("a"+"bc" against "ab"+"c") are distinct
 * rows with distinct sums; fleet_table_each hands each row back once, split into its parts. */
typedef struct seen {
    int n, ab_c, a_bc, a_b_c;
} seen;

static int count_row(void *ud, const char *who, const fleet_row *r)
{
    seen *s = ud;
    s->n++;
    if (!strcmp(who, "ab") && !strcmp(r->type, "c") && !strcmp(r->action, "x"))
        s->ab_c += r->attempts == 3 && r->successes == 1;
    else if (!strcmp(who, "a") && !strcmp(r->type, "bc") && !strcmp(r->action, "x"))
        s->a_bc += r->attempts == 5 && r->successes == 2;
    else if (!strcmp(who, "a") && !strcmp(r->type, "b") && !strcmp(r->action, "cx"))
        s->a_b_c += r->attempts == 7 && r->successes == 7;
    return 0;
}

static int stop_at_first(void *ud, const char *who, const fleet_row *r)
{
    (void)who;
    (void)r;
    ++*(int *)ud;
    return 42;
}

static void test_key_parts(void **state)
{
    (void)state;
    fleet_table *t = fleet_table_new();
    assert_non_null(t);
    assert_int_equal(fleet_table_merge(t, "ab", "c", "x", 3, 1), 1);
    assert_int_equal(fleet_table_merge(t, "a", "bc", "x", 5, 2), 1);
    assert_int_equal(fleet_table_merge(t, "a", "b", "cx", 7, 7), 1);
    assert_int_equal(fleet_table_rows(t), 3);
    uint64_t a, s;
    fleet_table_sums(t, "c", "x", &a, &s);
    assert_true(a == 3 && s == 1);
    fleet_table_sums(t, "bc", "x", &a, &s);
    assert_true(a == 5 && s == 2);
    fleet_table_sums(t, "b", "cx", &a, &s);
    assert_true(a == 7 && s == 7);
    assert_int_equal(fleet_table_get(t, "ab", "c", "x", &a, &s), 1);
    assert_true(a == 3 && s == 1);
    assert_int_equal(fleet_table_get(t, "a", "bcx", "", &a, &s), 0);
    seen sn = {0};
    assert_int_equal(fleet_table_each(t, count_row, &sn), 0);
    assert_int_equal(sn.n, 3);
    assert_true(sn.ab_c == 1 && sn.a_bc == 1 && sn.a_b_c == 1);
    int calls = 0;
    assert_int_equal(fleet_table_each(t, stop_at_first, &calls), 42);
    assert_int_equal(calls, 1);
    fleet_table_free(t);
}

static void test_hostile(void **state)
{
    (void)state;
    char why[128];
    /* a map claiming 4 billion keys; an array claiming 4 billion rows in a short message */
    static const unsigned char huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(decode(huge_map, sizeof huge_map, why), -1);
    static const unsigned char huge_rows[] = {0x82, 0xa4, 'n', 'o', 'd', 'e', 0xa1, 'b',
                                              0xa8, 'c', 'o', 'u', 'n', 't', 'e', 'r', 's',
                                              0xdd, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(decode(huge_rows, sizeof huge_rows, why), -1);
    assert_non_null(strstr(why, "at most 65536 rows"));
    /* wrong types: a row with a negative count, a number as the node */
    static const unsigned char neg[] = {0x82, 0xa4, 'n', 'o', 'd', 'e', 0xa1, 'b', 0xa8, 'c',
                                        'o', 'u', 'n', 't', 'e', 'r', 's', 0x91, 0x94, 0xa1,
                                        't', 0xa1, 'a', 0xff, 0x00};
    assert_int_equal(decode(neg, sizeof neg, why), -1);
    assert_non_null(strstr(why, "counters[0]"));
    static const unsigned char num_node[] = {0x81, 0xa4, 'n', 'o', 'd', 'e', 0x07};
    assert_int_equal(decode(num_node, sizeof num_node, why), -1);
    /* more successes than attempts */
    char *b;
    size_t n;
    fleet_row r = {"t", "a", 1, 2};
    assert_int_equal(fleet_state_encode("b", &r, 1, &b, &n), 0);
    assert_int_equal(decode(b, n, why), -1);
    assert_non_null(strstr(why, "more successes"));
    free(b);
    /* a good message, then every truncation and a trailing byte are refused */
    r.successes = 1;
    assert_int_equal(fleet_state_encode("b", &r, 1, &b, &n), 0);
    assert_int_equal(decode(b, n, why), 0);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(decode(b, cut, why), -1);
    char *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    assert_int_equal(decode(longer, n + 1, why), -1);
    free(longer);
    /* random corruption never crashes, and what decodes keeps the bounds */
    rng_state = 42;
    for (int i = 0; i < 20000; i++) {
        char m[64];
        memcpy(m, b, n);
        m[rnd() % n] = (char)rnd();
        fleet_state st;
        if (fleet_state_decode(m, n, &st, why, sizeof why) == 0) {
            for (size_t k = 0; k < st.n; k++)
                assert_true(st.rows[k].successes <= st.rows[k].attempts);
            fleet_state_free(&st);
        }
    }
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_is_max),
        cmocka_unit_test(test_relapse_travels),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_key_parts),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
