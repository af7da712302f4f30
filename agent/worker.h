/* worker.h — one thread per plugin. The worker owns the plugin's state and calls every one of its
 * callbacks, so a slow or stuck plugin stalls only itself. It talks to the engine over the bus
 * (a PULL socket of its own, a PUSH to the engine) and polls the plugin's watched fds. */
#ifndef AGENT_WORKER_H
#define AGENT_WORKER_H

#include <pthread.h>
#include "loader.h"
#include "message.h"
#include "runtime.h"

typedef enum worker_phase {
    PHASE_IDLE = 0,
    PHASE_INIT,
    PHASE_DETECT,
    PHASE_PLAN,
    PHASE_EXECUTE,
    PHASE_VERIFY,
    PHASE_RESTORE,
    PHASE_REQUEST,
    PHASE_FD,
    PHASE_DESTROY
} worker_phase;

#define WORKER_MAX_FDS 16

/* Lives in the worker for its whole life, so a healer_plan pointer a plugin kept after plan()
 * returned still points at valid memory and is refused (active == 0), never a use after free. */
typedef struct plan_builder {
    msg_action *v;
    size_t n, cap;
    int active;          /* 1 only while plan() runs */
} plan_builder;

typedef struct worker worker;

/* The plugin's handle on the host (healer_ctx of the SDK). Lives inside its worker. */
struct healer_ctx {
    worker *w;
    plugin_rec *plugin;
    const runtime *rt;
    pthread_t thread;               /* the worker thread: host calls from elsewhere are denied */
    worker_phase phase;
    /* the action being executed, for the actuators' checks and audit lines */
    uint64_t heal_id;
    const char *issue_type;
    const char *action;
    uint32_t action_flags;
    const msg_issue *issue;         /* the issue being acted on, borrowed for the callback */
    char *before_json;              /* its measurements as JSON, built on first actuator use */
    uint64_t attempt;               /* the step (or restore) being run; 0 outside one */
    double deadline_mono;           /* when the engine gives up on this callback (0: none) */
    char last_msg[HEALER_MSG_MAX];
};

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

/* Used by the host API (hostapi.c). */
int worker_publish(struct healer_ctx *ctx, const msg *m);
int worker_request(struct healer_ctx *ctx, const char *plugin, const char *method,
                   const healer_kv *args, size_t n_args, double timeout_s, healer_reply *reply);
int worker_watch_fd(struct healer_ctx *ctx, int fd, short events, healer_fd_cb cb);
int worker_unwatch_fd(struct healer_ctx *ctx, int fd);

/* The current issue's measurements as JSON for actuator audit lines (NULL outside an action). */
const char *worker_before_json(struct healer_ctx *ctx);

/* The host API table (hostapi.c); one static instance for every plugin. */
const healer_host *hostapi_table(void);
/* Frees a plan builder's copies. */
void plan_builder_clear(plan_builder *pb);

#endif
