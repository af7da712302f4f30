/* plughost.h — the plugin host loop: runs every callback of one plugin, one at a time, from bus
 * messages (plan, execute, verify, restore, requests), its watched fds, its detect() timer and its
 * settling verifications. The same code runs in an agent thread (worker.c, inproc ZeroMQ) and in
 * the healerd-plugin child (agent/runner/, a socketpair); only the transport differs. */
#ifndef AGENT_PLUGHOST_H
#define AGENT_PLUGHOST_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include "healer/plugin.h"
#include "message.h"

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

/* Lives in the host for its whole life, so a healer_plan pointer a plugin kept after plan()
 * returned still points at valid memory and is refused (active == 0), never a use after free. */
typedef struct plan_builder {
    msg_action *v;
    size_t n, cap;
    int active;          /* 1 only while plan() runs */
} plan_builder;

/* How messages reach the loop and leave it. Every function returns at once or after timeout_ms. */
typedef struct ph_transport {
    /* Never blocks; HEALER_OK or a negative healer_rc (dropped). */
    int (*send)(void *ud, const msg *m);
    /* HEALER_OK with *m filled; HEALER_E_TIMEOUT (nothing within timeout_ms, 0 = just look);
     * HEALER_E_IO (the other end is gone: stop); another negative rc: a malformed message. */
    int (*recv)(void *ud, msg *m, int timeout_ms);
    /* Waits for the inbox or the fds (POLL* events in, revents out). *inbox = 1 when a message is
     * waiting. The count of ready items, 0 on timeout or EINTR, -1 when the loop must end. */
    int (*poll)(void *ud, struct pollfd *fds, size_t n, int timeout_ms, int *inbox);
    void *ud;
} ph_transport;

typedef struct plughost plughost;
struct plugin_rec;
struct runtime;

/* The plugin's handle on the host (healer_ctx of the SDK). Lives inside its plughost. */
struct healer_ctx {
    plughost *w;
    struct plugin_rec *plugin;      /* in the agent: its record; NULL in the child */
    const struct runtime *rt;       /* in the agent: its generation; NULL in the child */
    void *remote;                   /* in the child: the runner's state (runner.h) */
    pthread_t thread;               /* the host thread: host calls from elsewhere are denied */
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
    int preview;                    /* the step is a pending plan's preview: dry-run forced */
    struct preview_sink *preview_sink; /* in the agent: what its actuator calls would touch */
    struct predict_set *series;     /* the plugin's series (predict.c), made at the first feed */
    char last_msg[HEALER_MSG_MAX];
};

struct ph_fd_watch {
    int fd;
    short events;                   /* POLLIN, POLLPRI, POLLOUT */
    healer_fd_cb cb;
};

/* An unchanged health score is sent again only this often (or every detect, when the interval is
 * longer): a healthy host's plugins then wake the engine for nothing. The engine holds a score
 * fresh for three times the longer of this and the plugin's interval. */
#define HEALER_HEALTH_REFRESH_S 30.0
#define HEALER_HEALTH_STEP 1.0      /* a smaller move than this waits for the refresh */
#define PH_HEALTH_SEEN 64           /* components remembered per plugin; more are always sent */

struct ph_health_seen {
    uint64_t hash;                  /* FNV-1a of the component name (0: free) */
    double score, sent;             /* the last score sent, and when (monotonic) */
};

struct plughost {
    struct healer_ctx ctx;
    const healer_plugin *desc;      /* the plugin's callbacks (a zero-extended copy) */
    const char *name;
    double interval;                /* seconds between detect() calls */
    double action_timeout;          /* a callback's deadline when the message sets none */
    int auto_detect;                /* detect() by its own timer (0: only on MSG_DETECT) */
    ph_transport tr;
    atomic_int *stopping;           /* set by another thread to end the loop (may be NULL) */
    int stop_seen;                  /* a STOP arrived while waiting for a reply */
    /* A restore() returned OK for issue_id: the agent clears that plugin's undo entries. */
    void (*restored)(void *ud, uint64_t issue_id);
    void *restored_ud;
    double next_detect;
    struct ph_fd_watch fds[WORKER_MAX_FDS];
    size_t n_fds;
    msg *deferred;                  /* received while waiting for a reply, handled afterwards */
    size_t n_deferred, cap_deferred;
    struct vtimer *timers;          /* verifications settling, soonest first */
    uint64_t next_request;
    uint64_t next_call;             /* the child's host-call ids */
    void *state;
    plan_builder plan;
    struct ph_health_seen health[PH_HEALTH_SEEN];
    char who[HEALER_NAME_MAX + 8];
};

/* Prepares h (zeroed by the caller) to host desc under name. */
void plughost_setup(plughost *h, const healer_plugin *desc, const char *name, double interval,
                    double action_timeout, int auto_detect, ph_transport tr, atomic_int *stopping);
/* Runs init() (PHASE_INIT) on the calling thread, which becomes the host thread. */
int plughost_init(plughost *h, const healer_host *host);
/* The loop: until a STOP, *stopping, or the transport ends. */
void plughost_run(plughost *h);
/* Every RESTORE still queued runs, then destroy() when inited; frees what the loop kept. */
void plughost_finish(plughost *h, int inited);
/* Keeps m (its arena) to handle after the current wait. */
void plughost_defer(plughost *h, msg *m);

/* report_health in both hosts: 1 when score for component must go to the engine (moved by a
 * point or more, reached 0 or 100, or not sent for HEALER_HEALTH_REFRESH_S), 0 when the engine
 * already holds it within a point. */
int plughost_health_due(plughost *h, const char *component, double score);

/* Used by the host API (hostapi.c and the runner's). */
int worker_publish(struct healer_ctx *ctx, const msg *m);
int worker_request(struct healer_ctx *ctx, const char *plugin, const char *method,
                   const healer_kv *args, size_t n_args, double timeout_s, healer_reply *reply);
int worker_watch_fd(struct healer_ctx *ctx, int fd, short events, healer_fd_cb cb);
int worker_unwatch_fd(struct healer_ctx *ctx, int fd);
/* The current issue's measurements as JSON for actuator audit lines (NULL outside an action). */
const char *worker_before_json(struct healer_ctx *ctx);
/* host->plan_add_action, the same in both hosts. */
int plughost_plan_add_action(healer_plan *plan, const healer_action *a);
/* host->action_time_left after the caller's thread check: seconds to the callback's deadline. */
double plughost_time_left(const struct healer_ctx *ctx);
/* host->series_feed, series_predict, series_forget after the caller's thread check: the same in
 * both hosts (computed locally in a child, never a host call). */
int plughost_series_feed(struct healer_ctx *ctx, const char *name, double t, double value);
int plughost_series_predict(struct healer_ctx *ctx, const char *name, double threshold,
                            healer_prediction *out);
int plughost_series_forget(struct healer_ctx *ctx, const char *name);
/* Frees a plan builder's copies. */
void plan_builder_clear(plan_builder *pb);

#endif
