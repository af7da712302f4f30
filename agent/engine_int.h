/* engine_int.h — the engine's private state, shared by engine.c (the flow), engine_loop.c (the
 * loop, commands, life cycle) and engine_views.c (health and the HTTP views). Nothing outside
 * those three files includes it. Everything here belongs to the engine thread; HTTP threads
 * read it only under e->lock. */
#ifndef AGENT_ENGINE_INT_H
#define AGENT_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "engine.h"
#include "planner.h"
#include "table.h"
#include "worker.h"

#define RECENT_MAX 100

#define PLAN_TIMEOUT_MAX 10.0
#define SWEEP_INTERVAL 0.25

typedef enum issue_state {
    IS_OPEN, IS_HEALING, IS_PENDING, IS_HEALED, IS_FAILED, IS_SUPPRESSED
} issue_state;

typedef enum heal_phase { H_PLANNING, H_PENDING, H_EXECUTING, H_VERIFYING } heal_phase;

struct heal;

typedef struct eissue {
    uint64_t id;
    char *key;
    size_t klen;
    char *type, *target, *summary, *plugin;
    int severity;
    double first_seen, last_seen, last_seen_mono, ttl;
    unsigned long count;
    msg_measure *measures;
    size_t n_measures;
    char **components;
    size_t n_components;
    issue_state state;
    const char *reason;         /* static label */
    uint64_t heal_id;           /* latest heal */
    struct heal *active;        /* heal in flight or pending */
    double retry_at_mono;       /* after no plan or an expired one: not before (a rejection
                                   is a snooze in the governor) */
    int closing;                /* resolved while a heal was in flight */
    int last_refusal;           /* gov_verdict last counted, so repeats don't recount */
    char **acted;               /* plugins that changed something: they get restore() */
    size_t n_acted;
    struct eissue *prev, *next;
} eissue;

typedef struct heal {
    uint64_t id;
    eissue *is;
    heal_phase phase;
    int dry_run;
    unsigned plans_waiting;
    msg_action *cands;
    size_t n_cands, cap_cands;
    plan_item *order;
    size_t n_order, cur;
    kb_action *acts;
    size_t n_acts;
    double deadline;            /* monotonic */
    double detected_at, started_at, act_started;
    uint32_t flags;
    int rollbacks;
    double pending_created, pending_expires;
    const char *pending_reason;
    int confirmed;              /* 1: by the operator, 2: automatic after enough confirmed
                                   successes (limits.auto_after_confirmations) */
} heal;

typedef struct hcomp {
    double score, at, stale_after;
} hcomp;

typedef struct cmd {
    http_command c;
    uint64_t id;
    int done, rc;
    char msg[256];
    struct cmd *next;
} cmd;

struct engine {
    runtime *rt;
    plugin_set *set;
    size_t n;                   /* == set->n; per-plugin arrays below */
    worker **workers;
    void **push;
    void *pull;
    char endpoint[64];
    int auto_detect;

    strmap *issues;
    eissue *ihead, *itail;
    u64map *heals;
    strmap *health;
    double health_value;
    uint64_t rng;
    double next_sweep;
    unsigned acks_waiting;
    unsigned restores_waiting;  /* restore ACKs still expected while shutting down */
    unsigned long long issues_dropped;
    json_t *recent;             /* finished heals for the --once summary; NULL in the daemon */
    atomic_uint_fast64_t heals_finished;
    bus_stats last_bus;         /* what the bus counters were at the last sweep */
    _Atomic double heartbeat;   /* clock_mono() at the loop's last turn */

    pthread_mutex_t lock;
    pthread_cond_t cmd_cv;
    cmd *cmds;
    int efd;
    atomic_int stop;
    pthread_t thread;
    int running;
    int stopped;                /* engine_stop ran: restores are done */
};

/* engine.c */
const char *eng_sev_name(int s);
char *eng_sdup(const char *s);
int eng_plugin_index(engine *e, const char *name);
int eng_claims(const plugin_rec *p, const char *type);
msg_issue eng_issue_view(const eissue *is);
int eng_send_to(engine *e, int idx, const msg *m);
void eng_close_issue(engine *e, eissue *is);
void eng_free_issue(eissue *is);
void eng_free_heal(heal *h);
void eng_finish_heal(engine *e, heal *h, const char *outcome, const char *reason);
gov_request eng_gov_req(engine *e, const eissue *is, const heal *h, int confirmed);
void eng_start_execution(engine *e, heal *h, gov_verdict v);
void eng_dispatch(engine *e, const msg *m);
void eng_sweep(engine *e);

/* engine_views.c */
extern const char *const ENG_ISSUE_STATE[];
void eng_recompute_health(engine *e);
void eng_on_health(engine *e, const msg *m);

#endif
