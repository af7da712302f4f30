/* bench_bus.c — raw bus throughput: one producer thread encoding and sending typical MSG_ISSUE
 * messages over inproc PUSH/PULL, one consumer receiving and decoding them; plus the encode and
 * decode cost alone on one thread. Usage: bench_bus [N] (default 1 000 000). Target: 250 000
 * msgs/s end to end on 2 cores. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "healer/types.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What a detector publishes: a CPU issue with three measurements and two components. */
static const msg_measure measures[] = {
    {"cpu_percent", 97.5}, {"load_1m", 12.4}, {"duration_seconds", 60.0}};
static const char *const components[] = {"pid:4242 stress-ng", "pid:4243 stress-ng"};

static msg typical(uint64_t seq)
{
    msg m;
    memset(&m, 0, sizeof m);
    m.kind = MSG_ISSUE;
    m.seq = seq;
    m.plugin = "cpu";
    m.has_issue = 1;
    m.issue.type = "cpu_high";
    m.issue.severity = HEALER_SEV_HIGH;
    m.issue.target = "/";
    m.issue.summary = "CPU at 97% for 60 s";
    m.issue.plugin = "cpu";
    m.issue.time = 1712345678.25 + (double)seq;
    m.issue.measures = measures;
    m.issue.n_measures = 3;
    m.issue.components = components;
    m.issue.n_components = 2;
    return m;
}

typedef struct run {
    bus *b;
    void *pull;
    uint64_t n;
    uint64_t got;
    uint64_t bad;
    double end;
} run;

static void *consumer(void *arg)
{
    run *r = arg;
    while (r->got < r->n) {
        msg m;
        int rc = bus_recv(r->b, r->pull, &m, 5000);
        if (rc == HEALER_E_TIMEOUT)
            break;
        if (rc != 0)
            continue;
        if (m.seq != r->got + 1 || m.issue.n_measures != 3)
            r->bad++;
        r->got++;
        msg_free(&m);
    }
    r->end = now();
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    if (n == 0)
        n = 1;

    /* encode and decode alone, one thread */
    msg m = typical(1);
    char *buf;
    size_t len;
    if (msg_encode(&m, &buf, &len) != 0)
        return 1;
    size_t one_len = len;
    free(buf);
    uint64_t solo = n < 1000000 ? n : 1000000;
    double t0 = now();
    for (uint64_t i = 0; i < solo; i++) {
        m = typical(i + 1);
        if (msg_encode(&m, &buf, &len) != 0)
            return 1;
        free(buf);
    }
    double enc_ns = (now() - t0) / (double)solo * 1e9;
    m = typical(1);
    msg_encode(&m, &buf, &len);
    t0 = now();
    for (uint64_t i = 0; i < solo; i++) {
        msg d;
        if (msg_decode(buf, len, &d, NULL, 0) != 0)
            return 1;
        msg_free(&d);
    }
    double dec_ns = (now() - t0) / (double)solo * 1e9;
    free(buf);

    /* end to end over the bus */
    bus *b = bus_new(10000);
    if (!b)
        return 1;
    run r = {.b = b, .n = n};
    r.pull = bus_pull(b, "inproc://bench");
    void *push = bus_push(b, "inproc://bench");
    if (!r.pull || !push)
        return 1;
    pthread_t t;
    double start = now();
    pthread_create(&t, NULL, consumer, &r);
    uint64_t retries = 0;
    for (uint64_t i = 1; i <= n; i++) {
        m = typical(i);
        int rc;
        while ((rc = bus_send(b, push, &m)) == HEALER_E_FULL) {
            retries++;
            sched_yield();
        }
        if (rc != 0) {
            fprintf(stderr, "bus_send: %s\n", healer_rc_str(rc));
            return 1;
        }
    }
    pthread_join(t, NULL);
    double secs = r.end - start;
    bus_stats st;
    bus_get_stats(b, &st);

    printf("bench_bus: %llu MSG_ISSUE messages of %zu bytes, hwm 10000, inproc PUSH/PULL\n",
           (unsigned long long)n, one_len);
    printf("  encode            %8.0f ns/msg (one thread)\n", enc_ns);
    printf("  decode            %8.0f ns/msg (one thread)\n", dec_ns);
    printf("  end to end        %8.0f msgs/s (%llu received in %.3f s, %llu wrong)\n",
           (double)r.got / secs, (unsigned long long)r.got, secs, (unsigned long long)r.bad);
    printf("  queue full        %8llu times (producer retried; counted as dropped: %llu)\n",
           (unsigned long long)retries, (unsigned long long)st.dropped);
    printf("  target            %8d msgs/s: %s\n", 250000,
           (double)r.got / secs >= 250000 ? "met" : "NOT met");

    bus_close(push);
    bus_close(r.pull);
    bus_free(b);
    return r.got == n && r.bad == 0 ? 0 : 1;
}
