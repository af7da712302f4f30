/* bench_metrics.c — how long a /metrics scrape takes with 1 000 series: render alone (cached
 * and fresh), and the full request over loopback to the in-process server (p50/p99).
 * With --serve it only runs the server for bench/metrics_wrk.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    printf("%-44s p50 %8.1f us   p99 %8.1f us   max %8.1f us   (n=%d)\n", what, t[n / 2] * 1e6,
           t[(int)(n * 0.99)] * 1e6, t[n - 1] * 1e6, n);
}

/* 1 000 series across the contract's families and a plugin-style gauge. */
static metrics *populate(void)
{
    metrics *m = metrics_new("luminous_nix");
    if (!m)
        return NULL;
    char a[32], b[32];
    for (int i = 0; i < 200; i++) {
        snprintf(a, sizeof a, "issue_type_%d", i);
        snprintf(b, sizeof b, "action_%d", i % 9);
        metrics_attempt(m, a, b);
        metrics_success(m, a, b);
        metrics_duration(m, a, 0.01 * i);
        metrics_confidence(m, a, 0.5 + i / 1000.0);
        healer_kv l[] = {{"component", a}};
        metrics_gauge_set(m, "component_health", "Health of one watched component.", l, 1, i % 100);
    }
    metrics_health(m, 90);
    return m;
}

static int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One GET /metrics on a keep-alive connection; returns the body length or -1. */
static long scrape(int fd, char *buf, size_t cap)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1))
        return -1;
    size_t got = 0;
    char *sep = NULL;
    while (!sep) {
        ssize_t k = recv(fd, buf + got, cap - got - 1, 0);
        if (k <= 0)
            return -1;
        got += (size_t)k;
        buf[got] = '\0';
        sep = strstr(buf, "\r\n\r\n");
    }
    char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (!cl || cl > sep)
        return -1;
    size_t want = strtoul(cl + 17, NULL, 10);
    size_t have = got - (size_t)(sep + 4 - buf);
    while (have < want) {
        ssize_t k = recv(fd, buf, cap, 0);   /* the body itself is not needed */
        if (k <= 0)
            return -1;
        have += (size_t)k;
    }
    return (long)want;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int serve(const char *listen, int churn)
{
    log_set_level(HEALER_LOG_WARN);
    metrics *m = populate();
    http_backend be = {0};
    be.metrics = m;
    char err[256];
    http_server *s = http_start(listen, NULL, &be, err, sizeof err);
    if (!s) {
        fprintf(stderr, "bench_metrics: %s\n", err);
        metrics_free(m);
        return 1;
    }
    printf("port %d\n", http_port(s));
    fflush(stdout);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    /* With churn the registry changes every millisecond, so most scrapes re-render. */
    while (!stop) {
        if (churn)
            metrics_attempt(m, "issue_type_1", "action_1");
        usleep(churn ? 1000 : 100000);
    }
    http_stop(s);
    metrics_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--serve") == 0) {
        int churn = argc >= 3 && strcmp(argv[2], "--churn") == 0;
        return serve(getenv("BENCH_LISTEN") ? getenv("BENCH_LISTEN") : "127.0.0.1:0", churn);
    }
    if (argc >= 2) {
        fprintf(stderr, "usage: bench_metrics [--serve [--churn]]\n");
        return 2;
    }
    log_set_level(HEALER_LOG_WARN);
    metrics *m = populate();
    if (!m)
        return 1;
    size_t nseries = metrics_series_count(m);
    char *text = NULL;
    size_t len = metrics_render(m, &text);
    free(text);
    printf("bench_metrics: %zu series, %zu bytes of text\n", nseries, len);

    enum { N = 5000 };
    static double t[N];
    for (int i = 0; i < N; i++) {
        double t0 = now();
        len = metrics_render(m, &text);
        t[i] = now() - t0;
        free(text);
    }
    report("render, unchanged (cache hit + copy)", t, N);
    for (int i = 0; i < N; i++) {
        metrics_attempt(m, "issue_type_3", "action_3");
        double t0 = now();
        len = metrics_render(m, &text);
        t[i] = now() - t0;
        free(text);
    }
    report("render, changed (full re-render)", t, N);

    http_backend be = {0};
    be.metrics = m;
    char err[256];
    http_server *s = http_start("127.0.0.1:0", NULL, &be, err, sizeof err);
    if (!s) {
        fprintf(stderr, "bench_metrics: %s\n", err);
        metrics_free(m);
        return 1;
    }
    int fd = connect_loopback(http_port(s));
    if (fd < 0) {
        perror("connect");
        return 1;
    }
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    for (int i = 0; i < 200; i++)   /* warm up */
        scrape(fd, buf, cap);
    for (int i = 0; i < N; i++) {
        double t0 = now();
        if (scrape(fd, buf, cap) < 0) {
            fprintf(stderr, "scrape failed\n");
            return 1;
        }
        t[i] = now() - t0;
    }
    report("GET /metrics over loopback, unchanged", t, N);
    for (int i = 0; i < N; i++) {
        metrics_attempt(m, "issue_type_3", "action_3");
        double t0 = now();
        if (scrape(fd, buf, cap) < 0) {
            fprintf(stderr, "scrape failed\n");
            return 1;
        }
        t[i] = now() - t0;
    }
    report("GET /metrics over loopback, changed", t, N);
    close(fd);
    /* A new connection per scrape, as Prometheus does when keep-alive is off. */
    for (int i = 0; i < 2000; i++) {
        double t0 = now();
        int c = connect_loopback(http_port(s));
        if (c < 0 || scrape(c, buf, cap) < 0) {
            fprintf(stderr, "scrape failed\n");
            return 1;
        }
        close(c);
        t[i] = now() - t0;
    }
    report("connect + GET /metrics + close", t, 2000);
    free(buf);
    http_stop(s);
    metrics_free(m);
    printf("target: p99 <= 1000 us per scrape\n");
    return 0;
}
