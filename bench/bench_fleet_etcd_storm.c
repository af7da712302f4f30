/* bench_fleet_etcd_storm.c — the fleet-wide limit under a group-wide incident: W clients (one
 * etcd_client and one thread each, as every agent's hd-fleet-etcd) all want one of K slots of
 * the same group at once. As fleet_limit.c does, each asks (etcd_slot_acquire: a scan, plus a
 * lease grant and a txn when a slot looks free), holds a granted slot for HOLD_MS (its heal)
 * and revokes it, or asks again a second later. Prints requests per second, the ask latency
 * (p50/p99) under the herd and the grants; bench/fleet_etcd_storm.sh adds etcd's CPU.
 * Usage: bench_fleet_etcd_storm URL [W] [K] [HOLD_MS] [SECONDS] [TIMEOUT_MS]
 * (TIMEOUT_MS as fleet.etcd.timeout_ms, default 500: a slower answer counts as unreachable) */
#include <pthread.h>
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

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&t, NULL);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct worker {
    pthread_t th;
    int id;
    double *lat; /* ask latencies */
    size_t n, cap;
    unsigned long granted, refused, down, requests;
} worker;

static const char *url;
static int slots, hold_ms, timeout_ms;
static double t_end;

static void *run(void *arg)
{
    worker *w = arg;
    const char *ep[] = {url};
    char why[256], val[64];
    etcd_client *c = etcd_client_new(ep, 1, timeout_ms, why, sizeof why);
    if (!c)
        return NULL;
    snprintf(val, sizeof val, "node-%04d #1", w->id);
    sleep_s((double)(w->id % 1000) / 1000.0); /* the herd within one second, as agents tick */
    while (now() < t_end) {
        int64_t lease;
        int slot;
        double t0 = now();
        int rc = etcd_slot_acquire(c, "/storm/web", slots, 60, val, &lease, &slot);
        double dt = now() - t0;
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 64;
            w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
            if (!w->lat)
                break;
        }
        w->lat[w->n++] = dt;
        if (rc == ETCD_OK) {
            w->granted++;
            w->requests += 3; /* range, lease grant, txn */
            sleep_s(hold_ms / 1000.0);
            etcd_lease_revoke(c, lease);
            w->requests++;
        } else {
            rc == ETCD_NO ? w->refused++ : w->down++;
            w->requests++; /* the range that found every slot held */
            sleep_s(1.0);
        }
    }
    etcd_client_free(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [W] [K] [HOLD_MS] [SECONDS]\n", argv[0]);
        return 2;
    }
    url = argv[1];
    int nw = argc > 2 ? atoi(argv[2]) : 1000;
    slots = argc > 3 ? atoi(argv[3]) : 2;
    hold_ms = argc > 4 ? atoi(argv[4]) : 5000;
    double secs = argc > 5 ? atof(argv[5]) : 30;
    timeout_ms = argc > 6 ? atoi(argv[6]) : 500;
    if (nw < 1 || slots < 1 || hold_ms < 0 || secs <= 0 || timeout_ms < 1)
        return 2;
    worker *w = calloc((size_t)nw, sizeof *w);
    if (!w)
        return 1;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);
    double t0 = now();
    t_end = t0 + secs;
    int started = 0;
    for (int i = 0; i < nw; i++) {
        w[i].id = i;
        if (pthread_create(&w[i].th, &at, run, &w[i]) != 0)
            break;
        started++;
    }
    unsigned long g = 0, r = 0, d = 0, q = 0;
    size_t n = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(w[i].th, NULL);
        g += w[i].granted;
        r += w[i].refused;
        d += w[i].down;
        q += w[i].requests;
        n += w[i].n;
    }
    double el = now() - t0;
    double *all = malloc((n ? n : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < started && all; i++) {
        memcpy(all + k, w[i].lat, w[i].n * sizeof *all);
        k += w[i].n;
        free(w[i].lat);
    }
    printf("%d clients (%d started), %d slot(s), heals hold a slot %d ms, timeout %d ms, %.1f s\n",
           nw, started, slots, hold_ms, timeout_ms, el);
    printf("asks %zu (%.0f/s): granted %lu, refused %lu, unreachable %lu; etcd requests %lu "
           "(%.0f/s)\n", n, (double)n / el, g, r, d, q, (double)q / el);
    if (n && all) {
        qsort(all, n, sizeof *all, cmp);
        printf("ask latency under the herd: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
               all[n / 2] * 1e3, all[(size_t)((double)n * 0.99)] * 1e3, all[n - 1] * 1e3);
    }
    free(all);
    free(w);
    return 0;
}
