/* worker_int.h — a plugin worker's private state, shared by worker.c (the thread of a plugin with
 * thread isolation, start, stop, orphans) and proxy.c (the thread that runs a plugin child). */
#ifndef AGENT_WORKER_INT_H
#define AGENT_WORKER_INT_H

#include <stdatomic.h>
#include "worker.h"

/* Seconds past agent.action_timeout that worker_start waits for a proxy's verdict on init. */
#define PROXY_INIT_MARGIN_S 5.0

struct proxy;

struct worker {
    plughost ph;                  /* thread: the loop; process: the ctx host calls are served in */
    const runtime *rt;
    plugin_rec *p;
    pthread_t thread;
    char endpoint[160];
    char engine_ep[160];
    void *pull, *push;
    int auto_detect;
    struct proxy *px;             /* process isolation (proxy.c); NULL for a thread */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int init_done, init_rc;
    int finished;
    atomic_int stopping;
    int wake_fd;                  /* eventfd worker_stop writes: the loop sleeps untimed on an
                                   * idle host and a dropped STOP must still wake it */

    /* Orphan bookkeeping (worker.h): set by the host thread that gave up before orphaned is
     * stored, read by the worker thread only after it loaded orphaned == 1. */
    atomic_int orphaned;
    double orphaned_at;           /* clock_mono() when the host gave up */
    const char *stuck_in;         /* "init" or "a callback", for the logs */
    worker *next_orphan;          /* the orphan list's, under orph_mu */
};

/* Reads the wake eventfd empty (its loop saw it readable). */
void worker_wake_drain(worker *w);

/* The thread ends: wakes worker_stop and the orphan reaper. Nothing of w is touched after it. */
void worker_finished(worker *w);

/* proxy.c */
struct proxy *proxy_new(worker *w);
void proxy_free(struct proxy *px);
void *proxy_main(void *arg);
/* Why the child's init failed, for the plugin's reason ("init crashed: killed by signal 11"). */
void proxy_init_failure(struct proxy *px, int rc, char *why, size_t len);

#endif
