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
 * (loader_fail) and NULL returned. */
worker *worker_start(const runtime *rt, plugin_rec *p, int auto_detect, const char *engine_ep);
/* The endpoint its PULL socket is bound to ("inproc://worker.NAME.GEN"). */
const char *worker_endpoint(const worker *w);
/* Sends MSG_STOP (through the caller's PUSH, by the engine) is not needed: worker_stop asks the
 * thread to finish, waits at most timeout_s, then destroy() has run. Returns 0, or -1 when the
 * plugin is stuck in a callback: the thread is left running and the plugin must not be
 * dlclose'd (the record's dl is leaked on purpose). */
int worker_stop(worker *w, double timeout_s);
void worker_free(worker *w);

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
