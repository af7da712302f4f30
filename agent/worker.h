/* worker.h — one thread per plugin. The worker owns the plugin's state and calls every one of its
 * callbacks, so a slow or stuck plugin stalls only itself. It talks to the engine over the bus
 * (a PULL socket of its own, a PUSH to the engine) and polls the plugin's watched fds. */
#ifndef AGENT_WORKER_H
#define AGENT_WORKER_H

#include <pthread.h>
#include "loader.h"
#include "message.h"
#include "plughost.h"
#include "runtime.h"

typedef struct worker worker;

/* Starts the plugin's worker thread and runs init() on it; waits for init (at most
 * cfg->action_timeout). auto_detect: call detect() every plugin interval by itself (the
 * daemon); 0 = only on MSG_DETECT (--once, tests). On failure the plugin is marked failed
 * and NULL returned. When init did not return in time the worker becomes an orphan (below):
 * the plugin is marked failed but its record keeps its .so and settings. */
worker *worker_start(const runtime *rt, plugin_rec *p, int auto_detect, const char *engine_ep);
/* The endpoint its PULL socket is bound to ("inproc://worker.NAME.GEN"). */
const char *worker_endpoint(const worker *w);
/* Sends MSG_STOP (through the caller's PUSH, by the engine) is not needed: worker_stop asks the
 * thread to finish, waits at most timeout_s, then destroy() has run: 0, and the caller
 * worker_free's it. -1 when the plugin is stuck in a callback: the worker became an orphan
 * (below) and the caller must neither free it nor what it borrowed. */
int worker_stop(worker *w, double timeout_s);
void worker_free(worker *w);

/* ---- orphans ----------------------------------------------------------------------------
 * A worker the host stopped waiting for (init() past action_timeout in worker_start, or any
 * other callback past worker_stop's timeout) becomes an orphan. Both cases share this one
 * mechanism. Its thread runs on inside the plugin, so everything it can reach stays valid
 * until it returns:
 *   - the worker itself (struct, mutex, its two bus sockets) is owned by the orphan list;
 *   - what it borrowed from its caller (the plugin record, its .so mapping and settings, the
 *     runtime its rt points at with that generation's config and actuators) is kept by a
 *     worker_hold the caller registers after stopping its workers: worker_orphans_hold.
 * When the callback finally returns, the thread cleans up after itself: destroy() if init
 * succeeded, closes its own sockets, logs that it ended, and marks itself finished. Nothing
 * else of it runs later. worker_orphans_reap (the agent's main thread) then joins it, frees
 * it, and runs the release of every hold that no unfinished orphan needs any more.
 * Shutdown never waits on an orphan for longer than worker_orphans_drain's bound: whatever is
 * still stuck then is left to the process exit, with everything it reaches still allocated
 * (and reachable from the orphan list, so leak checkers agree). The bus context must then not
 * be terminated: zmq_ctx_term would wait for the orphan's sockets for ever. */
typedef struct worker_hold {
    const runtime *rt;               /* the orphans that point at this runtime need it */
    void (*release)(void *arg);      /* frees what they borrowed; runs on the reaping thread */
    void *arg;
    struct worker_hold *next;        /* the orphan list's */
} worker_hold;

/* Call after the workers of rt were stopped (engine_stop). 1: some orphan still uses rt; the
 * list took h (caller-owned storage that must live until release runs) and will call
 * h->release(h->arg). 0: no orphan uses rt; nothing taken, the caller frees now. */
int worker_orphans_hold(worker_hold *h);
/* Joins and frees every orphan whose thread has finished, then releases the holds nobody
 * needs any more. Returns the number of orphans still running. Main thread. */
size_t worker_orphans_reap(void);
/* Waits at most timeout_s for every orphan to finish, reaping as they do. Logs each one still
 * stuck by plugin name and where (init or a callback). Returns how many are still running. */
size_t worker_orphans_drain(double timeout_s);

/* The host API table (hostapi.c); one static instance for every plugin. */
const healer_host *hostapi_table(void);

#endif
