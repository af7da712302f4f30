/* proxy_int.h — the proxy of one plugin child, shared by proxy.c (its thread: the bridge between
 * the engine and the child, heartbeat, crash containment, restarts), proxy_spawn.c (fork, exec,
 * limits, MSG_INIT) and proxy_calls.c (the host calls it serves for the child). */
#ifndef AGENT_PROXY_INT_H
#define AGENT_PROXY_INT_H

#include <sys/types.h>

#include "backoff.h"
#include "dgram.h"
#include "proxy.h"
#include "worker_int.h"

/* A child that says nothing for action_timeout + this long is killed: it is stuck. */
#define PROXY_HEARTBEAT_MARGIN_S 5.0
/* Pinged when it has said nothing for a quarter of that limit, within these bounds. */
#define PROXY_PING_S 1.0
#define PROXY_PING_MAX_S 10.0
/* The proxy's longest sleep with nothing due (worker_stop wakes it through the wake fd). */
#define PROXY_IDLE_MAX_S 60.0
/* Bytes queued for a child that does not read, past which the engine's messages are answered for
 * it ("not delivered") instead of queued; the heartbeat ends a child that stays stuck. */
#define PROXY_QUEUE_MAX (8u << 20)
/* At stop, the child gets this long to run its restores and destroy(). */
#define PROXY_STOP_GRACE_S 4.0

typedef enum px_state { PX_STARTING, PX_RUNNING, PX_RESTARTING, PX_FAILED, PX_STOPPED } px_state;

/* A message of the engine the child has not answered yet (its whole decoded copy). */
typedef struct inflight {
    msg m;
    int verifying;                /* an EXECUTE whose verdict comes by the child's timer */
    struct preview_sink *preview; /* a previewed EXECUTE: what its host calls would touch */
    struct inflight *next;
} inflight;

typedef struct proxy {
    worker *w;
    px_state state;
    int first_start;              /* the initial start: its init verdict goes to worker_start */
    pid_t pid;
    int pidfd, sock;
    char cgroup[2][512];          /* memory, cpu: this child's cgroup dirs ("" = none) */
    char limits[160];             /* how its limits are enforced, for the status */
    char privileges[320];         /* how the child confined itself (its MSG_READY) */
    double started;               /* clock_mono() of the last start */
    double last_heard;            /* of anything from the child */
    double restart_at;            /* PX_RESTARTING: when */
    double stop_deadline;         /* stopping: when the child is killed */
    int stopping;
    uint64_t ping_seq;
    double last_ping;             /* clock_mono() of the last PING sent: one per period, not one
                                   * per turn while its PONG is on the way */
    inflight *fl;                 /* oldest first: answers come mostly in order */
    inflight *fl_last;            /* its last: appending walked the list (a burst of 1 000) */
    backoff bo;
    char init_why[256];
    dgram_in in;                  /* the child's last datagram (DGRAM_MAX bytes) */
    dgram_out out;                /* to the child: sent before the proxy waits */
} proxy;

/* proxy_spawn.c: starts the child (state PX_STARTING) and sends MSG_INIT. 0 or -1 (why). */
int proxy_spawn(proxy *px, char *why, size_t len);
/* The child's private memory in bytes from /proc/PID/smaps_rollup (0 when unknown). */
unsigned long long proxy_child_private(pid_t pid);
/* Removes the child's cgroups (after it was reaped). */
void proxy_cgroup_remove(proxy *px);
/* Appends "out of memory ..." to how when the child's memory cgroup OOM-killed it. */
void proxy_cgroup_oom(proxy *px, char *how, size_t len);
/* proxy_calls.c: serves one MSG_HOSTCALL and answers it. */
void proxy_serve_call(proxy *px, const msg *m);
/* proxy.c */
inflight *proxy_find(proxy *px, msg_kind kind, uint64_t attempt);
/* Queues m for the child (sent, batched, before this thread next waits). HEALER_OK, HEALER_E_IO
 * (no child), HEALER_E_FULL (it has not read PROXY_QUEUE_MAX bytes), or an encoding error. */
int proxy_send_child(proxy *px, const msg *m);
void proxy_status_update(proxy *px, const char *last_crash);

#endif
