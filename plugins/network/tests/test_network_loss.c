/* test_network_loss.c — the network plugin's loss windows (network_loss.c, issue #11: a lossy
 * link is connectivity_degraded, never healed like a dead one): the ring against a plain array,
 * random probe sequences through the decision with its invariants checked after every round,
 * and a real TCP target on loopback that refuses 2 rounds of 5, through the mock host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <healer/mock.h>
#include "network.h"

const healer_plugin *healer_plugin_entry_v1(void);

static healer_mock *new_mock(void)
{
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_non_null(m);
    assert_int_equal(healer_mock_load(m, healer_plugin_entry_v1()), HEALER_OK);
    /* Nothing of this machine's caches, service manager or link managers decides a test. */
    const char *none[] = {"none"};
    healer_mock_set_list(m, "dns_caches", none, 1);
    healer_mock_set_string(m, "network_service", "");
    healer_mock_set_string(m, "networkd_links_dir", "");
    healer_mock_set_string(m, "nm_devices_dir", "");
    return m;
}

/* A free loopback port: bound by the kernel's choice, then closed (the test listens on it
 * only in the rounds that must pass). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    return ntohs(a.sin_port);
}

/* The ring against a plain array of the same rounds, for random windows and sequences. */
static void test_loss_window(void **state)
{
    (void)state;
    srand(11);
    static unsigned char hist[5000];
    unsigned sizes[] = {2, 3, 20, 63, 64, 65, 129, NETWORK_LOSS_MAX};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        unsigned win = sizes[si];
        network_loss w;
        network_loss_reset(&w);
        size_t len = 0;
        int pfail = rand() % 101;
        for (int r = 0; r < 3000; r++) {
            int f = rand() % 100 < pfail;
            network_loss_push(&w, win, f);
            hist[len++] = (unsigned char)f;
            unsigned exp_filled = len < win ? (unsigned)len : win, exp_failed = 0;
            for (size_t i = len - exp_filled; i < len; i++)
                exp_failed += hist[i];
            assert_int_equal(w.filled, exp_filled);
            assert_int_equal(w.failed, exp_failed);
            assert_true(w.failed <= w.filled && w.filled <= win);
            if (r == 1500) {   /* a reset in the middle starts a fresh measurement */
                network_loss_reset(&w);
                len = 0;
            }
        }
    }
}

/* A shadow of one target's rounds since the last reset, newest last. */
typedef struct shadow {
    unsigned char r[4096];
    size_t len;
} shadow;

static unsigned shadow_failed(const shadow *s, unsigned win)
{
    unsigned f = 0;
    size_t from = s->len > win ? s->len - win : 0;
    for (size_t i = from; i < s->len; i++)
        f += s->r[i];
    return f;
}

/* Random probe sequences through the decision; its invariants checked against an independent
 * count of the rounds after every round. */
static void test_loss_decision_random(void **state)
{
    (void)state;
    srand(1111);
    unsigned long opened = 0, lost = 0, closed = 0;
    for (int seq = 0; seq < 300; seq++) {
        network *n = calloc(1, sizeof *n);
        assert_non_null(n);
        n->n_targets = 1 + (size_t)(rand() % 4);
        n->tcp_probed = 1;
        n->tcp_min_failed = rand() % ((int)n->n_targets + 1);   /* 0 = all */
        n->loss_window = 2 + (unsigned)(rand() % 40);
        n->loss_degraded_pct = 2 + (unsigned)(rand() % 98);
        n->loss_clear_pct = 1 + (unsigned)(rand() % (int)(n->loss_degraded_pct - 1));
        n->loss_lost_rounds = 1 + (unsigned)(rand() % 5);
        int pf[NETWORK_MAX_TARGETS];
        for (size_t t = 0; t < n->n_targets; t++)   /* per target: its own failure rate */
            pf[t] = rand() % 4 == 0 ? 0 : rand() % 101;
        static shadow sh[NETWORK_MAX_TARGETS];
        memset(sh, 0, sizeof sh);
        unsigned run = 0;
        int prev = 0;
        unsigned W = n->loss_window;
        for (int r = 0; r < 400; r++) {
            if (r % 100 == 0 && rand() % 2)   /* the path changes: better, worse, dead, fine */
                for (size_t t = 0; t < n->n_targets; t++)
                    pf[t] = rand() % 3 == 0 ? (rand() % 2) * 100 : rand() % 101;
            int fails = 0;
            for (size_t t = 0; t < n->n_targets; t++) {
                n->tcp_target_ok[t] = (unsigned char)!(rand() % 100 < pf[t]);
                fails += !n->tcp_target_ok[t];
            }
            n->tcp_failed = fails;
            n->tcp_ok = (int)n->n_targets - fails;
            int lower = rand() % 20 == 0;
            long long need_t = n->tcp_min_failed ? n->tcp_min_failed : (long long)n->n_targets;
            int round_lost = fails >= need_t;
            unsigned need = network_loss_lost_needed(n);
            network_loss before[NETWORK_MAX_TARGETS];
            memcpy(before, n->loss, sizeof before);
            assert_true(need >= n->loss_lost_rounds);
            if (prev != 1)   /* the longer run is asked only of a path known lossy */
                assert_int_equal(need, n->loss_lost_rounds);
            else
                assert_true(need <= (n->loss_lost_rounds > W ? n->loss_lost_rounds : W));

            int st = network_loss_round(n, lower);
            run = round_lost ? run + 1 : 0;
            assert_true(st >= 0 && st <= 2);
            /* lost exactly when the run reaches what was needed */
            assert_int_equal(st == 2, run >= need);
            if (st == 2) {
                lost++;
                assert_true(run >= n->loss_lost_rounds);
                assert_int_equal(n->lossy_open, 0);   /* never both */
                for (size_t t = 0; t < NETWORK_MAX_TARGETS; t++) {
                    assert_int_equal(n->loss[t].filled, 0);
                    sh[t].len = 0;
                }
                prev = 2;
                continue;
            }
            assert_int_equal(n->lossy_open, st);
            if (lower) {   /* an outage below is not loss of the path: nothing recorded */
                assert_memory_equal(before, n->loss, sizeof before);
                assert_int_equal(st, prev == 1);
                continue;
            }
            int any_deg = 0, any_clear = 0;
            for (size_t t = 0; t < n->n_targets; t++) {
                sh[t].r[sh[t].len++] = !n->tcp_target_ok[t];
                unsigned f = shadow_failed(&sh[t], W);
                assert_int_equal(n->loss[t].failed, f);
                assert_int_equal(n->loss[t].filled, sh[t].len < W ? sh[t].len : W);
                if (sh[t].len >= W) {
                    any_deg |= f * 100 >= n->loss_degraded_pct * W;
                    any_clear |= f * 100 >= n->loss_clear_pct * W;
                }
            }
            if (st == 1) {
                assert_true(any_clear);   /* open only at or above the closing threshold */
                if (prev != 1) {           /* newly: at or above loss_degraded_percent... */
                    opened++;
                    assert_true(any_deg);
                    assert_false(round_lost);   /* ...on a round some target answered */
                }
            } else {
                /* not degraded although a target is at the threshold: only on a lost round */
                if (prev != 1)
                    assert_true(!any_deg || round_lost);
                else {
                    closed++;
                    assert_false(any_clear);   /* hysteresis: below loss_clear_percent */
                }
            }
            prev = st;
            if (sh[0].len > 4000)
                for (size_t t = 0; t < n->n_targets; t++) {   /* keep the shadow bounded */
                    memmove(sh[t].r, sh[t].r + sh[t].len - W, W);
                    sh[t].len = W;
                }
        }
        free(n);
    }
    /* the random sequences did reach every transition */
    assert_true(opened > 50 && lost > 50 && closed > 20);
    printf("loss decision: %lu opened, %lu closed, %lu rounds lost\n", opened, closed, lost);
}

/* On a path known to lose 40 % of its rounds, 3 failures in a row happen by chance (6 %):
 * lost then needs a run that loss explains less than once in 1000 (8 rounds). */
static void test_loss_lost_needed(void **state)
{
    (void)state;
    network *n = calloc(1, sizeof *n);
    assert_non_null(n);
    n->loss_window = 20;
    n->loss_lost_rounds = 3;
    for (int i = 0; i < 20; i++)
        network_loss_push(&n->loss_rounds, 20, i % 5 < 2);
    assert_int_equal(network_loss_lost_needed(n), 3);   /* not known lossy */
    n->lossy_open = 1;
    assert_int_equal(network_loss_lost_needed(n), 8);   /* 0.4^8 < 1e-3 < 0.4^7 */
    network_loss_reset(&n->loss_rounds);
    for (int i = 0; i < 20; i++)
        network_loss_push(&n->loss_rounds, 20, i % 20 == 0);   /* 5 %: 3 already suffice */
    assert_int_equal(network_loss_lost_needed(n), 3);
    network_loss_reset(&n->loss_rounds);
    for (int i = 0; i < 20; i++)
        network_loss_push(&n->loss_rounds, 20, i != 0);   /* 95 %: capped at the window */
    assert_int_equal(network_loss_lost_needed(n), 20);
    /* The run going on is not part of the estimate: 8 of 20 lost, the last 3 being the run,
     * is 5 of 17 (29 %: 0.29^6 < 1e-3 < 0.29^5). */
    network_loss_reset(&n->loss_rounds);
    for (int i = 0; i < 20; i++)
        network_loss_push(&n->loss_rounds, 20, i < 5 || i >= 17);
    n->lost_run = 3;
    assert_int_equal(network_loss_lost_needed(n), 6);
    free(n);
}

static int listen_on(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 64), 0);
    return s;
}

static void drain_accepts(int s)
{
    int c;
    while ((c = accept(s, NULL, NULL)) >= 0)
        close(c);
}

/* A real target on loopback that refuses 2 rounds of every 5 (40 %): connectivity_degraded with
 * its measurements, a plan without any action, connectivity_lost never; answering always again,
 * it closes once the loss is below loss_clear_percent; dead, connectivity_lost replaces it. */
static void test_loss_lossy_target(void **state)
{
    (void)state;
    int port = free_port();
    char t1[32];
    snprintf(t1, sizeof t1, "127.0.0.1:%d", port);
    const char *targets[] = {t1};
    healer_mock *m = new_mock();
    healer_mock_set_list(m, "tcp_targets", targets, 1);
    healer_mock_set_bool(m, "tcp_refused_is_reachable", 0);
    healer_mock_set_double(m, "tcp_timeout", 1.0);
    healer_mock_set_int(m, "loss_window", 10);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    network *n = healer_mock_state(m);
    int lsn = -1;
    for (int r = 0; r < 30; r++) {
        int up = r % 5 >= 2;
        if (up && lsn < 0)
            lsn = listen_on(port);
        if (!up && lsn >= 0) {
            close(lsn);
            lsn = -1;
        }
        assert_int_equal(healer_mock_detect(m), HEALER_OK);
        if (lsn >= 0)
            drain_accepts(lsn);
        assert_null(healer_mock_last_issue(m, "connectivity_lost"));
        if (r < 9)   /* the window is not full yet */
            assert_null(healer_mock_last_issue(m, "connectivity_degraded"));
    }
    const healer_issue *is = healer_mock_last_issue(m, "connectivity_degraded");
    assert_non_null(is);
    assert_int_equal(is->severity, HEALER_SEV_MEDIUM);
    assert_string_equal(is->target, "connectivity");
    assert_int_equal(is->n_components, 1);
    assert_string_equal(is->components[0], t1);
    assert_non_null(strstr(is->summary, "No automatic action"));
    double v;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "loss_percent", &v));
    assert_true(v == 40);
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements,
                                        "loss_failed_rounds", &v));
    assert_true(v == 4);
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements,
                                        "loss_window_rounds", &v));
    assert_true(v == 10);
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements,
                                        "target0_loss_percent", &v));
    assert_true(v == 40);
    /* Health is the window's share, not 0/100 by round. */
    assert_true(healer_mock_last_health(m, "connectivity") == 60);
    healer_issue copy = {.type = "connectivity_degraded", .severity = HEALER_SEV_MEDIUM,
                         .target = "connectivity", .summary = "x"};
    assert_int_equal(healer_mock_plan(m, &copy), HEALER_OK);
    assert_int_equal(healer_mock_action_count(m), 0);
    assert_int_equal(healer_mock_call_count(m), 0);

    /* Answers always: still open while the loss is at or above loss_clear_percent (10 %). */
    if (lsn < 0)
        lsn = listen_on(port);
    healer_mock_clear(m);
    int rounds = 0;
    while (n->lossy_open && rounds < 20) {
        assert_int_equal(healer_mock_detect(m), HEALER_OK);
        drain_accepts(lsn);
        rounds++;
        if (n->lossy_open)
            assert_true(n->loss[0].failed * 100 >= 10 * 10);
    }
    assert_false(n->lossy_open);
    assert_int_equal(n->loss[0].failed, 0);   /* 10 % of 10 rounds is 1: it closes at 0 */
    assert_int_equal(healer_mock_resolved_count(m), 1);
    assert_string_equal(healer_mock_resolved_at(m, 0)->type, "connectivity_degraded");

    /* Lossy again, then dead: connectivity_lost, and degraded resolved for it. */
    healer_mock_clear(m);
    for (int r = 0; r < 10; r++) {
        int up = r % 5 >= 2;
        if (up && lsn < 0)
            lsn = listen_on(port);
        if (!up && lsn >= 0) {
            close(lsn);
            lsn = -1;
        }
        assert_int_equal(healer_mock_detect(m), HEALER_OK);
        if (lsn >= 0)
            drain_accepts(lsn);
    }
    assert_true(n->lossy_open);
    if (lsn >= 0)
        close(lsn);
    int lost_at = 0;
    for (int r = 1; r <= 20 && !healer_mock_last_issue(m, "connectivity_lost"); r++) {
        assert_int_equal(healer_mock_detect(m), HEALER_OK);
        lost_at = r;
    }
    assert_non_null(healer_mock_last_issue(m, "connectivity_lost"));
    /* known lossy (the window before the run: 40 %): more than loss_lost_rounds, as many as a
     * 40 % path explains less than once in 1000 (8), within the window (10) */
    assert_true(lost_at >= 6 && lost_at <= 10);
    assert_false(n->lossy_open);
    int resolved_lossy = 0;
    for (size_t i = 0; i < healer_mock_resolved_count(m); i++)
        resolved_lossy += strcmp(healer_mock_resolved_at(m, i)->type, "connectivity_degraded") == 0;
    assert_int_equal(resolved_lossy, 1);
    printf("dead after a 40 %% lossy window: connectivity_lost after %d rounds\n", lost_at);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_window),
        cmocka_unit_test(test_loss_decision_random),
        cmocka_unit_test(test_loss_lost_needed),
        cmocka_unit_test(test_loss_lossy_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
