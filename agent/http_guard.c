/* http_guard.c — limits on HTTP connections that idle or trickle: per-address and total counts
 * kept by shutting down the oldest connection still waiting for its request head, and a sweeper
 * thread that shuts down connections whose request head is not complete within the deadline
 * (it sleeps until the earliest such deadline, and untimed while no connection waits). */
#include "http_guard.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>


struct http_conn {
    http_conn *prev, *next;   /* oldest first */
    int fd;
    unsigned char addr[16];   /* IPv4 (4 bytes) or IPv6 (16) */
    size_t addr_len;
    double since;             /* start, or the last answer */
    int busy;                 /* headers complete, being served */
    int shut;                 /* shut down by the guard; no longer counted */
    size_t uri_len;
};

struct http_guard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t sweeper;
    int stop;
    unsigned total, per_client;
    double deadline;
    http_conn *head, *tail;
    unsigned open;            /* not shut */
    uint64_t evicted, late;
};

/* The real monotonic clock, not clock_mono(): tests drive that one for the engine, and a
 * simulated clock must not close real sockets. */
static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void addr_key(const struct sockaddr *sa, unsigned char out[16], size_t *len)
{
    memset(out, 0, 16);
    *len = 0;
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        *len = 4;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {   /* one client, whichever socket family it came by */
            memcpy(out, a->s6_addr + 12, 4);
            *len = 4;
        } else {
            memcpy(out, a, 16);
            *len = 16;
        }
    }
}

/* Called with mu held. shutdown(), not close(): libmicrohttpd owns the descriptor and sees
 * the connection end on its next poll; the entry stays until its CLOSED notice. */
static void shut(http_guard *g, http_conn *c)
{
    shutdown(c->fd, SHUT_RDWR);
    c->shut = 1;
    g->open--;
}

/* The oldest connection waiting for a request head, of addr when addr_len > 0. */
static http_conn *oldest_waiting(http_guard *g, const unsigned char *addr, size_t addr_len)
{
    for (http_conn *c = g->head; c; c = c->next)
        if (!c->shut && !c->busy &&
            (addr_len == 0 || (c->addr_len == addr_len && memcmp(c->addr, addr, addr_len) == 0)))
            return c;
    return NULL;
}

/* Sleeps until the earliest waiting connection's deadline, or without a timeout while none
 * waits (an idle agent's HTTP costs no wake-ups); opened and request_done wake it. */
static void *sweep(void *arg)
{
    http_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        double now = now_mono(), next = -1;
        for (http_conn *c = g->head; c; c = c->next) {
            if (c->shut || c->busy)
                continue;
            if (now - c->since > g->deadline) {
                shut(g, c);
                g->late++;
            } else if (next < 0 || c->since + g->deadline < next) {
                next = c->since + g->deadline;
            }
        }
        if (next < 0) {
            pthread_cond_wait(&g->cv, &g->mu);
            continue;
        }
        /* just past the deadline: the check above is strict */
        next += 0.001;
        struct timespec ts = { .tv_sec = (time_t)next,
                               .tv_nsec = (long)((next - (double)(time_t)next) * 1e9) };
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

http_guard *http_guard_new(unsigned total, unsigned per_client, double deadline_s)
{
    http_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->total = total ? total : 1;
    g->per_client = per_client ? per_client : 1;
    g->deadline = deadline_s > 0 ? deadline_s : 1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int ok = pthread_mutex_init(&g->mu, NULL) == 0;
    if (ok && pthread_cond_init(&g->cv, &ca) != 0) {
        pthread_mutex_destroy(&g->mu);
        ok = 0;
    }
    pthread_condattr_destroy(&ca);
    if (!ok) {
        free(g);
        return NULL;
    }
    if (pthread_create(&g->sweeper, NULL, sweep, g) != 0) {
        pthread_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        free(g);
        return NULL;
    }
    return g;
}

void http_guard_free(http_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->sweeper, NULL);
    /* libmicrohttpd has stopped and reported every CLOSED by now; free what is left anyway. */
    for (http_conn *c = g->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

http_conn *http_guard_opened(http_guard *g, int fd, const struct sockaddr *addr)
{
    http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        shutdown(fd, SHUT_RDWR);
        return NULL;
    }
    c->fd = fd;
    addr_key(addr, c->addr, &c->addr_len);
    c->since = now_mono();
    pthread_mutex_lock(&g->mu);
    c->prev = g->tail;
    if (g->tail)
        g->tail->next = c;
    else
        g->head = c;
    g->tail = c;
    g->open++;
    unsigned same = 0;
    for (http_conn *o = g->head; o; o = o->next)
        if (!o->shut && o->addr_len == c->addr_len && memcmp(o->addr, c->addr, c->addr_len) == 0)
            same++;
    /* The newest connection is last in the list, so it goes only when every older one of its
     * client (or of all) is in the middle of a request. */
    if (same > g->per_client) {
        http_conn *v = oldest_waiting(g, c->addr, c->addr_len);
        if (v) {
            shut(g, v);
            g->evicted++;
        }
    }
    while (g->open > g->total) {
        http_conn *v = oldest_waiting(g, NULL, 0);
        if (!v)
            break;
        shut(g, v);
        g->evicted++;
    }
    pthread_cond_signal(&g->cv);   /* the sweeper may be asleep with nothing to watch */
    pthread_mutex_unlock(&g->mu);
    return c;
}

void http_guard_closed(http_guard *g, http_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->mu);
    if (!c->shut)
        g->open--;
    if (c->prev)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        g->tail = c->prev;
    pthread_mutex_unlock(&g->mu);
    free(c);
}

void http_guard_request_started(http_guard *g, http_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->mu);
    c->busy = 1;
    pthread_mutex_unlock(&g->mu);
}

void http_guard_request_done(http_guard *g, http_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->mu);
    c->busy = 0;
    c->since = now_mono();
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void http_guard_set_uri_len(http_guard *g, http_conn *c, size_t len)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->mu);
    c->uri_len = len;
    pthread_mutex_unlock(&g->mu);
}

size_t http_guard_uri_len(http_guard *g, const http_conn *c)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&g->mu);
    size_t n = c->uri_len;
    pthread_mutex_unlock(&g->mu);
    return n;
}

void http_guard_get_stats(http_guard *g, http_guard_stats *out)
{
    pthread_mutex_lock(&g->mu);
    out->evicted = g->evicted;
    out->late = g->late;
    out->open = g->open;
    pthread_mutex_unlock(&g->mu);
}
