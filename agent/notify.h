/* notify.h — telling people: events the engine and the plugin proxies post (a plan waiting for
 * confirmation, a heal's end, a plugin crashed or failed, pause/resume) go to webhooks, to
 * Alertmanager and to an exec hook, from the notifier's own thread. Posting never blocks: a
 * bounded queue that drops its oldest event when full (notifications_dropped_total). */
#ifndef AGENT_NOTIFY_H
#define AGENT_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "metrics.h"

typedef enum notify_kind {
    NOTIFY_CONFIRMATION_WAITING, /* a plan waits for a person (healctl confirm/reject) */
    NOTIFY_PLAN_CONFIRMED,       /* the operator confirmed it */
    NOTIFY_PLAN_REJECTED,        /* the operator rejected it */
    NOTIFY_HEAL_EXECUTED,        /* a heal ended healed (or a dry run ran) */
    NOTIFY_HEAL_FAILED,          /* a heal ran out of actions */
    NOTIFY_HEAL_EXPIRED,         /* a pending plan nobody confirmed in time */
    NOTIFY_HEAL_CANCELLED,       /* a heal ended otherwise: cancelled, suppressed, dropped */
    NOTIFY_PLUGIN_CRASHED,       /* a plugin child crashed; it restarts with back-off */
    NOTIFY_PLUGIN_FAILED,        /* a plugin is left failed (until a reload) */
    NOTIFY_PLUGIN_RECOVERED,     /* a new generation runs the plugin again (reload) */
    NOTIFY_PAUSED,
    NOTIFY_RESUMED,
    NOTIFY_ISSUE_CLOSED,         /* (type, target) no longer raised: ends a HealerdHealFailed */
    NOTIFY_KIND_COUNT
} notify_kind;

/* One event. Strings are copied by notify_post; any may be NULL. */
typedef struct notify_event {
    notify_kind kind;
    double time;                 /* wall clock; 0 = now */
    uint64_t heal_id, issue_id;
    const char *issue_type, *target, *severity, *plugin, *action, *outcome, *reason, *summary;
    int dry_run;
} notify_event;

typedef struct notifier notifier;

/* The event's name as configured in notify.events and sent as "event"/HEALERD_EVENT. */
const char *notify_kind_name(notify_kind k);
/* -1 when name is no event. */
int notify_kind_from_name(const char *name);

/* A notifier for cfg's notify section (copied); metrics may be NULL. Starts its thread when any
 * sink is configured. NULL on out of memory. */
notifier *notify_new(const config *cfg, metrics *m);
/* A reload: the new sinks apply to the events after it. */
int notify_reconfigure(notifier *n, const config *cfg);
/* Queues ev (never blocks; the oldest queued event goes when the queue is full). NULL n: no-op. */
void notify_post(notifier *n, const notify_event *ev);
/* Delivers what is queued (at most timeout_s), resolves active alerts, stops the thread. */
void notify_free(notifier *n, double timeout_s);

/* Counters (tests, /metrics). */
unsigned long long notify_dropped(const notifier *n);
size_t notify_queued(notifier *n);

/* ---- shared by notify*.c (and their tests) ---------------------------------------------- */

/* The event as the notifier keeps it (owned strings). */
typedef struct nevent {
    notify_kind kind;
    double time;
    uint64_t heal_id, issue_id;
    char *issue_type, *target, *severity, *plugin, *action, *outcome, *reason, *summary;
    int dry_run;
} nevent;

nevent *notify_event_copy(const notify_event *ev);
void notify_event_free(nevent *e);

/* The bounded queue (notify_queue.c): FIFO, drop-oldest. Not locked: the notifier holds its
 * mutex around it. */
typedef struct nqueue {
    nevent **v;
    size_t cap, head, len;
    unsigned long long dropped;
} nqueue;
int nqueue_init(nqueue *q, size_t cap);
/* Takes e; when full, frees the oldest and counts it. Returns 1 when one was dropped. */
int nqueue_push(nqueue *q, nevent *e);
nevent *nqueue_pop(nqueue *q);
void nqueue_free(nqueue *q);

/* notify_event.c: the webhook's JSON body (instance = host name) and the exec hook's environment
 * ("NAME=value" strings, NULL-terminated, malloc'd; free with notify_env_free). */
json_t *notify_event_json(const nevent *e, const char *instance);
char **notify_event_env(const nevent *e, const char *instance);
void notify_env_free(char **env);
/* ISO 8601 UTC with milliseconds ("2024-05-01T12:00:00.000Z"), as Alertmanager takes. */
void notify_iso8601(double t, char *buf, size_t n);

/* notify_http.c: the wait before retry `attempt` (1 = the first retry): backoff_s doubling,
 * capped at backoff_max_s. */
double notify_backoff_delay(int attempt, double backoff_s, double backoff_max_s);
/* POSTs body (JSON) to url, one attempt of at most timeout_s. 0 on a 2xx answer, else -1 with
 * why. */
/* abort_at (optional): a monotonic time (clock_mono) past which the attempt is abandoned even
 * mid-transfer (the agent is stopping and its grace for the notifier is over); read about once
 * a second by libcurl's progress callback. */
int notify_http_post(const char *url, const char *body, double timeout_s,
                     const _Atomic double *abort_at, char *why, size_t n);

/* notify_exec.c: runs argv with env (no shell), kills it after timeout_s, logs at most
 * NOTIFY_EXEC_OUTPUT_MAX bytes of its output. Returns its exit status (128+signal when killed
 * by one), or -1 when it could not be started. */
#define NOTIFY_EXEC_OUTPUT_MAX 4096
int notify_exec_run(char *const argv[], char *const env[], double timeout_s, char *out,
                    size_t out_len);

/* notify_alert.c: Alertmanager's view. Which alert (if any) an event starts or ends. */
typedef struct nalert {
    char *alertname, *key;       /* key: alertname + its identifying labels */
    json_t *labels, *annotations;
    double starts_at;
    struct nalert *next;
} nalert;
typedef struct nalerts {
    nalert *head;
} nalerts;
/* Applies e: starts an alert (returns it, *ended NULL) or ends alerts (moved to *ended, their
 * endsAt to be sent). instance: the instance label. */
nalert *nalerts_apply(nalerts *a, const nevent *e, const char *instance, nalert **ended);
/* The POST /api/v2/alerts body for list (next-linked): endsAt = ends_at when > 0. */
json_t *nalerts_payload(const nalert *list, double ends_at, int only_first);
void nalert_free_list(nalert *a);
size_t nalerts_count(const nalerts *a);

#endif
