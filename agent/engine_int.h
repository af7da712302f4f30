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
#include "logstorm.h"
#include "planner.h"
#include "table.h"
#include "worker.h"

#define RECENT_MAX 100

#define PLAN_TIMEOUT_MAX 10.0
/* A plugin that plans for every type ("*", the plans plugin) is waited for at most this long
 * once every plugin that names the type has answered: a user's plans.d busy with a slow check
 * must not hold up the heals of every other plugin. */
#define PLAN_ANY_GRACE 0.25
/* The loop's longest sleep with nothing due (a quarter of a shorter systemd watchdog interval):
 * the heartbeat the watchdog thread checks, health and bus counters are that fresh. */
#define ENGINE_IDLE_MAX 2.0

typedef enum issue_state {
    IS_OPEN, IS_HEALING, IS_PENDING, IS_HEALED, IS_FAILED, IS_SUPPRESSED, IS_HELD
} issue_state;

/* is->last_refusal while an operator's hold keeps the engine off (counted once, as a refusal) */
#define ENG_REFUSAL_HOLD 1000

/* A heal's life: PLANNING (plans asked) -> PENDING (a person must confirm) or straight to
 * WAITING (its step's plugin is busy with another step) / EXECUTING (one EXECUTE in flight,
 * attempt = its id) -> VERIFYING (the plugin or the detector re-measures, maybe settling over a
 * window) -> the next step, or the end. Exactly one step of a heal is ever in flight.
 * FLEET: its next step is risky and waits for a fleet-wide slot (fleet.etcd, engine_fleet.c);
 * deadline is when the limiter is asked again. */
typedef enum heal_phase { H_PLANNING, H_PENDING, H_WAITING, H_EXECUTING, H_VERIFYING,
                          H_FLEET } heal_phase;

/* How long a mark of "tried and changed nothing" holds for (type, target, action, severity):
 * the action is not planned again for that state within it, the ladder goes on instead. */
#define FUTILE_TTL 3600.0
/* RESTOREs are sent again until acknowledged: first after this, doubling up to the max. */
#define RESTORE_RETRY_FIRST 5.0
#define RESTORE_RETRY_MAX 300.0

struct heal;

/* A pending plan's preview (engine_preview.c): what each step that would run says it would
 * touch, asked of its plugin with dry-run forced. At most PREVIEW_MAX_STEPS steps. */
#define PREVIEW_MAX_STEPS 8
enum { PV_RUNNING, PV_READY, PV_UNAVAILABLE };
typedef struct eng_preview {
    int state;
    char reason[160];
    json_t *touches;            /* the items, as served ("touches") */
    size_t next, end;           /* the step previewed next; one past the last */
    uint64_t attempt;           /* the preview in flight (0: none) */
    int plugin;
    double deadline;            /* monotonic: the one in flight is given up then */
    double busy_since;          /* monotonic: since when its plugin was busy (0: not waiting) */
} eng_preview;

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
    int exhausted;              /* every proposed action was futile for this state (logged) */
    char **acted;               /* plugins that changed something: they get restore() */
    size_t n_acted;
    struct eissue *prev, *next;
} eissue;

/* engine_explain.c's record of a heal's decision, opaque to the rest. */
typedef struct eng_decision eng_decision;

typedef struct heal {
    uint64_t id;
    eissue *is;
    heal_phase phase;
    int dry_run;
    unsigned plans_waiting;
    unsigned named_waiting;     /* of those, plugins that name the type (not only "*") */
    int named_asked;            /* a plugin that names the type was asked at all */
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
    char loop_reason[96];       /* "loop: N heals in M minutes" when the loop rule parked it */
    uint64_t attempt;           /* the step in flight (EXECUTE/VERIFY); 0 between steps */
    double asked_at;            /* monotonic: when the step in flight was asked of its plugin
                                   (EXECUTE or VERIFY sent; the RESULT or settling VERDICT after
                                   which the plugin verifies by itself) */
    int step_plugin;            /* index of the plugin running (or awaited by) the step */
    int severity;               /* the issue's severity when the heal began */
    int confirmed;              /* 1: by the operator, 2: automatic after enough confirmed
                                   successes (limits.auto_after_confirmations) */
    int committed;              /* the governor counted it and its first step ran: a confirmation
                                   now continues it (a partial plan), it does not start it */
    struct heal *wnext;         /* in its plugin's wait queue (phase H_WAITING) */
    unsigned char *asked;       /* per plugin: 1 = plan requested, 2 = answered */
    eng_decision *decision;     /* why it went so (engine_explain.c); NULL until planned */
    eng_preview *pv;            /* while pending: what its steps would touch; NULL before */
    int fleet;                  /* fleet slot: 0 not asked, 1 asked, 2 granted, 3 proceeding
                                   without one (etcd unreachable, policy "proceed") */
    int fleet_waiting;          /* the fleet_answer it waits with (audited once per reason) */
    double fleet_wait_since;    /* monotonic; 0 when it has not waited */
    unsigned fleet_polls;       /* polls for the answer in flight (their interval doubles) */
} heal;

/* A RESTORE sent and not yet acknowledged: it is sent again until it is. The issue it is about
 * may be closed and freed meanwhile, so the message is kept encoded. */
typedef struct rpend {
    uint64_t attempt;
    char *plugin;
    char *buf;
    size_t len;
    double next_try, backoff;   /* monotonic */
    unsigned tries;
    struct rpend *next;
} rpend;

/* What a plugin's worker is doing for the engine. Steps of different heals may be pipelined to a
 * healthy plugin (its worker runs them in order), at most SLOT_PIPE_MAX at once; a heal never has
 * more than one step in flight. A step the engine gave up on (timed out, or pre-empted) is
 * `abandoned`: until its late result arrives the plugin counts as stuck and no new step is sent
 * to it (heals wait here instead), so nothing queues behind a stuck step only to run after its
 * heal has ended, and no late result is ever taken for another step's. */
#define SLOT_PIPE_MAX 64
typedef struct pslot {
    unsigned inflight;          /* EXECUTEs sent, result not yet in (abandoned ones included) */
    uint64_t *abandoned;        /* attempts given up on, results still to come */
    size_t n_abandoned, cap_abandoned;
    heal *wq_head, *wq_tail;    /* heals waiting for this plugin, critical first, else FIFO */
    uint64_t pv_attempt;        /* a preview in flight here (counted in inflight), or 0 */
    double last_answer;         /* monotonic: when the plugin last answered a message in flight
                                   here (a step's result or verdict, a preview's, a late one, a
                                   RESTORE's ACK); 0: never. See eng_step_extend. */
} pslot;

/* Tests (model-based): every message the engine sends goes here instead of the bus. */
typedef int (*engine_send_hook)(void *ud, int plugin_idx, const msg *m);

typedef struct hcomp {
    double score, at, stale_after;
} hcomp;

typedef struct cmd {
    http_command c;
    uint64_t id;
    int done, rc;
    int refused;                /* confirmed, but the governor refused it now (audited so) */
    char msg[256];
    struct cmd *next;
} cmd;

struct engine {
    runtime *rt;
    plugin_set *set;
    size_t n;                   /* == set->n; per-plugin arrays below */
    worker **workers;
    unsigned char *live;        /* plugin i runs (its worker started, or a test plays it) */
    pslot *slots;               /* per plugin */
    void **push;
    void *pull;
    char endpoint[64];
    int auto_detect;

    strmap *issues;
    eissue *ihead, *itail;
    u64map *heals;
    uint64_t next_local_id;     /* heal and issue ids when there is no knowledge base (tests):
                                   never reused, so a heal id never names two heals */
    strmap *futile;             /* type\0target\0action\0severity -> double *expiry (mono) */
    rpend *restores;            /* RESTOREs awaiting their ACK */
    engine_send_hook send_hook;
    void *hook_ud;
    strmap *health;
    double health_value;
    uint64_t rng;
    double next_sweep;          /* monotonic: when the loop next sweeps (eng_next_due) */
    double idle_max;            /* its longest sleep: ENGINE_IDLE_MAX or a quarter watchdog */
    unsigned acks_waiting;
    unsigned long long issues_dropped;
    logstorm *storm;            /* new issues and their refusals per type: summarised in a flood */
    json_t *recent;             /* finished heals for the --once summary; NULL in the daemon */
    atomic_uint_fast64_t heals_finished;
    bus_stats last_bus;         /* what the bus counters were at the last sweep */
    _Atomic double heartbeat;   /* clock_mono() at the loop's last turn */

    pthread_mutex_t lock;
    pthread_cond_t cmd_cv;
    cmd *cmds;
    struct alert_batch *alerts_head, *alerts_tail;  /* engine_alerts_post's queue */
    size_t alerts_queued;       /* operations in it (bounded: ENGINE_ALERTS_QUEUE_MAX) */
    int efd;
    atomic_int stop;
    /* Set (under lock) when the restores before stop begin: from then on no heal is planned
     * and no step is sent, or a plan reply answered during the wait for the restores' ACKs
     * would undo the restore (a process stopped again after its SIGCONT). */
    int stopping;
    pthread_t thread;
    int running;
    int stopped;                /* engine_stop ran: restores are done */
};

/* engine.c */
const char *eng_sev_name(int s);
char *eng_sdup(const char *s);
int eng_plugin_index(engine *e, const char *name);
int eng_claims(const plugin_rec *p, const char *type);
/* 2: p names type in its issue_types; 1: only through "*"; 0: not at all. */
int eng_claim_kind(const plugin_rec *p, const char *type);
msg_issue eng_issue_view(const eissue *is);
int eng_send_to(engine *e, int idx, const msg *m);
void eng_close_issue(engine *e, eissue *is);
void eng_free_issue(eissue *is);
void eng_free_heal(heal *h);
/* engine_explain.c: the heal's decision record (candidates, the governor's verdict, the
 * operator's word) and its bounded JSON text for the knowledge base (malloc'd, or NULL). */
void eng_explain_candidates(engine *e, heal *h, int explored);
void eng_explain_verdict(engine *e, heal *h, const char *verdict, const char *reason);
void eng_explain_operator(heal *h, const char *word);
/* Reading it, on any thread that owns it: a new JSON object (null for NULL), or the bounded text
 * (at most KB_DECISION_MAX bytes, candidates dropped first; NULL when none). */
json_t *eng_decision_json(const eng_decision *d);
char *eng_decision_text(const eng_decision *d);
void eng_decision_free(eng_decision *d);
/* Moves the heal's decision into a kb_deferred for the knowledge writer (h->decision is NULL
 * after); an empty one when it has none. */
kb_deferred eng_decision_handoff(heal *h);
json_t *eng_flags_json(uint32_t f);   /* engine_views.c: an action's flags as names */
typedef struct eng_flag_name { uint32_t bit; const char *name; } eng_flag_name;
extern const eng_flag_name eng_flag_names[]; /* ends with { 0, NULL } */
uint64_t eng_next_attempt(void);
void eng_finish_heal(engine *e, heal *h, const char *outcome, const char *reason);
gov_request eng_gov_req(engine *e, const eissue *is, const heal *h, int confirmed);
void eng_start_execution(engine *e, heal *h, gov_verdict v);
void eng_dispatch(engine *e, const msg *m);
void eng_sweep(engine *e);
/* The log storm limiter's kinds and its summary line (logstorm.h). A flood of new issues of one
 * type (1 000 a second from a plugin gone wild, or a real storm) is ENGINE_STORM_BURST lines a
 * window per type and kind, then one "... and N more" line. */
#define ENGINE_STORM_WINDOW 1.0
#define ENGINE_STORM_BURST 10
#define ENGINE_STORM_KEYS 64
enum { STORM_NEW = 0, STORM_NOT_HEALED = 1 };
void eng_storm_say(void *ud, int kind, const char *key, uint64_t n, double span_s);
/* engine_plan.c: 1 when a "not healed: reason" line of this type may be logged now. */
int eng_storm_not_healed(engine *e, const char *type, const char *reason);
double eng_next_due(engine *e);
/* Sends a RESTORE for `is` to plugin idx and keeps it until acknowledged. 0 when sent. */
int eng_send_restore(engine *e, int idx, const eissue *is);
/* Sends again the unacknowledged RESTOREs that are due (all of them when force). */
void eng_retry_restores(engine *e, int force);
size_t eng_restores_outstanding(engine *e);
/* The stop begins (caller holds the lock): no heal is planned and no step sent from now on, and
 * every plugin that acted on a still-open issue gets its RESTORE. Returns the restores
 * outstanding (these and older unacknowledged ones). */
size_t eng_begin_stop(engine *e);
void eng_restore_acked(engine *e, const msg *m);
void eng_free_restores(engine *e);

/* engine.c: a raised issue (new or repeated); ttl > 0: it closes after ttl seconds without a
 * repeat (an alert's stale time) instead of three of its detector's intervals. */
void eng_on_issue(engine *e, const msg *m, double ttl);
/* engine_alerts.c: the alert operations queued by engine_alerts_post, run on the engine thread
 * (or by a test on a detached engine), under e->lock. */
void eng_run_alerts(engine *e);
void eng_free_alerts(engine *e);

/* engine.c: runs the heal's current step (or ends the heal when none is left) */
void eng_execute_next(engine *e, heal *h);

/* engine_plan.c */
void eng_maybe_heal(engine *e, eissue *is);
void eng_on_plan(engine *e, const msg *m);
void eng_decide(engine *e, heal *h);
/* Drops a heal that never ran a step (no plan, refused, cleared while planning). */
void eng_drop_heal(engine *e, heal *h);
/* 1 when action a of h must wait for a person (risky, not automatic, not confirmed). */
int eng_step_needs_confirmation(engine *e, const heal *h, const msg_action *a);
/* Puts h in the pending queue, waiting for a person to confirm its step h->cur. */
void eng_park(engine *e, heal *h);
/* 1 when an operator's hold keeps the engine off is now (marked held, counted once). */
int eng_held(engine *e, eissue *is);
/* engine_loops.c: heal-loop escalation and relapse (limits.loop_heals, loop_window_minutes,
 * relapse_window_s). */
void eng_loop_healed(engine *e, const heal *h);
void eng_loop_reopened(engine *e, eissue *is);
int eng_loop_check(engine *e, heal *h);

/* engine_loop.c — for tests: an engine whose plugins are played by the test through hook
 * (no worker threads); messages go in with eng_dispatch, time passes with eng_sweep. */
engine *engine_new_detached(runtime *rt, plugin_set *set, engine_send_hook hook, void *ud);
/* Runs an HTTP command (confirm, reject, pause, resume) at once on the calling thread, as the
 * engine thread does with a queued one: for detached engines, which have no thread. */
int eng_command_now(engine *e, http_command c, uint64_t id, char *msgbuf, size_t len);

/* engine_record.c */
/* Tells the notifier about h (its issue, its current step's action): never blocks. */
void eng_notify(engine *e, const heal *h, int kind, const char *outcome, const char *reason);
char *eng_issue_key(const char *type, const char *target, size_t *klen);
void eng_set_measures(eissue *is, const msg_issue *mi);
void eng_note_acted(eissue *is, const char *plugin);
void eng_copy_action(msg_action *d, const msg_action *s, const char *plugin);
const char *eng_outcome_name(int o);
kb_action *eng_add_act(heal *h, const msg_action *a);
void eng_set_act_message(kb_action *k, const char *text);
void eng_audit_action(engine *e, heal *h, const msg_action *a, const kb_action *k);

/* engine_preview.c: a pending plan's preview (dry-run forced EXECUTEs, one at a time, only to a
 * free plugin). start: when the heal parks. result: 1 when m answered a preview (taken). sweep:
 * retries previews waiting for a busy plugin, times out the overdue. json: its "preview". */
void eng_preview_start(engine *e, heal *h);
int eng_preview_result(engine *e, const msg *m, int idx);
void eng_preview_sweep(engine *e);
json_t *eng_preview_json(const heal *h);
void eng_preview_free(eng_preview *pv);

/* engine_fleet.c: fleet-wide limits on risky steps (fleet.etcd). gate: 1 when h must wait for
 * a slot before action a (h is then in H_FLEET, asked again at h->deadline); 0 to go on.
 * release: the heal ends; its slot goes back. */
int eng_fleet_gate(engine *e, heal *h, const msg_action *a);
void eng_fleet_release(engine *e, heal *h);

/* engine_steps.c */
void eng_futile_mark(engine *e, const eissue *is, const char *action, int sev, int futile);
double eng_futile_age(engine *e, const eissue *is, const char *action, int sev);
void eng_futile_prune(engine *e);
void eng_wq_push(engine *e, int idx, heal *h);
void eng_wq_remove(engine *e, heal *h);
int eng_slot_open(const pslot *s);
void eng_slot_abandon(engine *e, int idx, uint64_t attempt);
int eng_slot_take_abandoned(engine *e, int idx, uint64_t attempt);
void eng_slot_kick(engine *e, int idx);
/* Plugin idx answered a message the engine had in flight there (taken before the answer is
 * acted on, so nothing the answer sends counts as queued behind it). */
void eng_slot_answered(engine *e, int idx);
/* h's step or verification is past its deadline at mono: 1 when its plugin was busy with
 * earlier messages rather than stuck, and the deadline moved (one action timeout from the
 * plugin's last answer); 0 when it times out. */
int eng_step_extend(engine *e, heal *h, double mono);
/* engine.c: sends the current step of h to its plugin, which is free */
void eng_send_step(engine *e, heal *h);

/* engine_views.c */
extern const char *const ENG_ISSUE_STATE[];
void eng_recompute_health(engine *e);
void eng_on_health(engine *e, const msg *m);
void eng_history_health(engine *e, double mono);

#endif
