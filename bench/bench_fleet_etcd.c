/* bench_fleet_etcd.c — the fleet-wide limits' etcd round trips (fleet_etcd.c) against an etcd
 * named by argv[1] (bench/bench_fleet_etcd.sh starts one on loopback): a slot acquired (scan,
 * lease, txn), refused when full (scan only), kept alive, released (revoke), and a budget key
 * taken. Prints p50/p99/max per operation; passes or fails nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet_etcd.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    printf("%-34s n=%d  p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", what, n, v[n / 2] * 1e3,
           v[(int)(n * 0.99)] * 1e3, v[n - 1] * 1e3);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s http://127.0.0.1:PORT [N]\n", argv[0]);
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 1000;
    if (n < 10)
        n = 10;
    const char *ep[] = { argv[1] };
    char why[256];
    etcd_client *c = etcd_client_new(ep, 1, 2000, why, sizeof why);
    if (!c) {
        fprintf(stderr, "%s\n", why);
        return 1;
    }
    double *acq = calloc((size_t)n, sizeof *acq), *ka = calloc((size_t)n, sizeof *ka),
           *rel = calloc((size_t)n, sizeof *rel), *full = calloc((size_t)n, sizeof *full),
           *bud = calloc((size_t)n, sizeof *bud);
    if (!acq || !ka || !rel || !full || !bud)
        return 1;
    int64_t hold;
    int s;
    /* one slot of group b/full held for the refusals */
    if (etcd_slot_acquire(c, "/bench/full", 1, 60, "bench", &hold, &s) != ETCD_OK) {
        fprintf(stderr, "etcd: %s\n", etcd_client_error(c));
        return 1;
    }
    for (int i = 0; i < n; i++) {
        int64_t l;
        double t0 = now();
        if (etcd_slot_acquire(c, "/bench/g", 2, 60, "bench #1", &l, &s) != ETCD_OK) {
            fprintf(stderr, "acquire failed: %s\n", etcd_client_error(c));
            return 1;
        }
        double t1 = now();
        etcd_lease_keepalive(c, l);
        double t2 = now();
        etcd_lease_revoke(c, l);
        double t3 = now();
        etcd_slot_acquire(c, "/bench/full", 1, 60, "bench", &l, &s);
        double t4 = now();
        char key[64];
        snprintf(key, sizeof key, "/bench/budget-%d", i);
        etcd_budget_take(c, key, 20, "bench #1");
        double t5 = now();
        acq[i] = t1 - t0;
        ka[i] = t2 - t1;
        rel[i] = t3 - t2;
        full[i] = t4 - t3;
        bud[i] = t5 - t4;
    }
    report("slot acquire (scan, lease, txn)", acq, n);
    report("lease keepalive", ka, n);
    report("slot release (revoke)", rel, n);
    report("refused, all slots held (scan)", full, n);
    report("budget key (scan, lease, txn)", bud, n);
    etcd_lease_revoke(c, hold);
    etcd_client_free(c);
    return 0;
}
