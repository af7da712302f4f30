/* test_fleet_etcd.c — the etcd client of the fleet-wide limits against a REAL etcd on loopback:
 * K slots and the K+1th refused, a release frees one, a holder that is killed loses its slot when
 * its lease expires, the hourly budget counts, an unreachable etcd says so, endpoints fail over.
 * Skips (77) when etcd is not installed. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "etcdrig.h"
#include "fleet_etcd.h"

static etcdrig rig;
static pid_t holder; /* test_killed_holder's child: killed by the teardown if a check failed */

static int setup(void **state)
{
    (void)state;
    return etcdrig_start(&rig, 0);
}

static int teardown(void **state)
{
    (void)state;
    if (holder > 0) {
        kill(holder, SIGKILL);
        waitpid(holder, NULL, 0);
    }
    etcdrig_stop(&rig);
    return 0;
}

static etcd_client *client(void)
{
    const char *ep[] = { rig.url };
    char why[256] = "";
    etcd_client *c = etcd_client_new(ep, 1, 2000, why, sizeof why);
    if (!c)
        fail_msg("client: %s", why);
    return c;
}

static void sleep_s(double s)
{
    struct timespec t = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    nanosleep(&t, NULL);
}

static void test_slots(void **state)
{
    (void)state;
    etcd_client *c = client();
    int64_t l[4] = {0};
    int slot[4] = {-1, -1, -1, -1};
    assert_int_equal(etcd_slot_acquire(c, "/t/g1", 3, 60, "n1 #1", &l[0], &slot[0]), ETCD_OK);
    assert_int_equal(etcd_slot_acquire(c, "/t/g1", 3, 60, "n1 #2", &l[1], &slot[1]), ETCD_OK);
    assert_int_equal(etcd_slot_acquire(c, "/t/g1", 3, 60, "n2 #1", &l[2], &slot[2]), ETCD_OK);
    assert_true(slot[0] != slot[1] && slot[1] != slot[2] && slot[0] != slot[2]);
    /* the K+1th is refused, and no lease is left behind for it */
    assert_int_equal(etcd_slot_acquire(c, "/t/g1", 3, 60, "n2 #2", &l[3], &slot[3]), ETCD_NO);
    /* another group counts on its own */
    int64_t lo;
    int so;
    assert_int_equal(etcd_slot_acquire(c, "/t/g2", 3, 60, "n3 #1", &lo, &so), ETCD_OK);
    /* a release frees exactly one */
    assert_int_equal(etcd_lease_revoke(c, l[1]), ETCD_OK);
    assert_int_equal(etcd_lease_revoke(c, l[1]), ETCD_NO);
    assert_int_equal(etcd_slot_acquire(c, "/t/g1", 3, 60, "n2 #2", &l[3], &slot[3]), ETCD_OK);
    assert_int_equal(slot[3], slot[1]);
    int64_t lx;
    int sx;
    assert_int_equal(etcd_slot_acquire(c, "/t/g1", 3, 60, "n2 #3", &lx, &sx), ETCD_NO);
    size_t n = 0;
    assert_int_equal(etcd_scan(c, "/t/g1/slot/", &n, NULL, 0), ETCD_OK);
    assert_int_equal((int)n, 3);
    /* keepalive keeps a live lease and says when one is gone */
    assert_int_equal(etcd_lease_keepalive(c, l[0]), ETCD_OK);
    assert_int_equal(etcd_lease_keepalive(c, l[1]), ETCD_NO);
    etcd_client_free(c);
}

/* A holder that dies without a word (SIGKILL) frees its slot when its lease expires. */
static void test_killed_holder(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = holder = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        etcd_client *c = client();
        int64_t l;
        int s;
        char ok = etcd_slot_acquire(c, "/t/k", 1, 2, "dead #1", &l, &s) == ETCD_OK ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        for (;;) { /* keeps it alive until killed */
            etcd_lease_keepalive(c, l);
            sleep_s(0.3);
        }
    }
    close(p[1]);
    char ok = 0;
    assert_int_equal(read(p[0], &ok, 1), 1);
    close(p[0]);
    assert_int_equal(ok, 'y');
    etcd_client *c = client();
    int64_t l;
    int s;
    sleep_s(2.5); /* past its TTL: held because it was kept alive */
    assert_int_equal(etcd_slot_acquire(c, "/t/k", 1, 2, "n2 #1", &l, &s), ETCD_NO);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    holder = 0;
    int rc = ETCD_NO;
    for (int i = 0; i < 100 && rc == ETCD_NO; i++) { /* TTL 2 s (etcd may raise a tiny one) */
        sleep_s(0.2);
        rc = etcd_slot_acquire(c, "/t/k", 1, 2, "n2 #1", &l, &s);
    }
    assert_int_equal(rc, ETCD_OK);
    assert_int_equal(s, 0);
    etcd_client_free(c);
}

static void test_budget(void **state)
{
    (void)state;
    etcd_client *c = client();
    for (int i = 0; i < 4; i++)
        assert_int_equal(etcd_budget_take(c, "/t/b", 4, "n1 #x"), ETCD_OK);
    assert_int_equal(etcd_budget_take(c, "/t/b", 4, "n1 #y"), ETCD_NO);
    size_t n = 0;
    unsigned char used[8];
    assert_int_equal(etcd_scan(c, "/t/b/budget/", &n, used, 8), ETCD_OK);
    assert_int_equal((int)n, 4);
    assert_memory_equal(used, "\1\1\1\1\0\0\0\0", 8);
    /* a larger budget (the operator raised it) has room again */
    assert_int_equal(etcd_budget_take(c, "/t/b", 5, "n1 #z"), ETCD_OK);
    assert_int_equal(etcd_budget_take(c, "/t/b", 5, "n1 #w"), ETCD_NO);
    etcd_client_free(c);
}

static void test_down_and_failover(void **state)
{
    (void)state;
    char dead[64], why[256];
    /* the peer port is bound by etcd but speaks no HTTP gateway; a closed port refuses */
    snprintf(dead, sizeof dead, "http://127.0.0.1:1");
    const char *one[] = { dead };
    etcd_client *c = etcd_client_new(one, 1, 300, why, sizeof why);
    assert_non_null(c);
    int64_t l;
    int s;
    assert_int_equal(etcd_slot_acquire(c, "/t/d", 1, 60, "x", &l, &s), ETCD_DOWN);
    assert_non_null(strstr(etcd_client_error(c), "127.0.0.1:1"));
    assert_int_equal(etcd_budget_take(c, "/t/d", 1, "x"), ETCD_DOWN);
    etcd_client_free(c);
    const char *two[] = { dead, rig.url };
    c = etcd_client_new(two, 2, 300, why, sizeof why);
    assert_non_null(c);
    assert_int_equal(etcd_slot_acquire(c, "/t/d", 1, 60, "x", &l, &s), ETCD_OK);
    assert_int_equal(etcd_lease_revoke(c, l), ETCD_OK);
    etcd_client_free(c);
}

int main(void)
{
    if (!etcdrig_available()) {
        printf("SKIP: etcd is not installed\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_killed_holder),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_down_and_failover),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
