/* knowledge.h — the knowledge base: every issue, heal and action result in SQLite (WAL) under
 * state_dir/knowledge.db, and per (issue type, action) statistics. Writes go through a writer
 * thread that batches them into transactions; knowledge_record_heal_sync is the durable path
 * (returns after the commit). A corrupt file is moved aside and a fresh one started. */
#ifndef AGENT_KNOWLEDGE_H
#define AGENT_KNOWLEDGE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct knowledge knowledge;

/* One action of a heal as it ran. */
typedef struct kb_action {
    const char *plugin;
    const char *action;
    const char *target;
    const char *outcome;        /* "healed", "done", "failed", "skipped", "dry_run", "error",
                                   "timeout", "not_healed", "preempted" */
    int success;                /* 1 when this action healed the issue (feeds statistics) */
    const char *message;
    const char *before_json;    /* JSON object of measurements before, or NULL */
    const char *after_json;     /* after, or NULL */
    double started_at;          /* epoch seconds */
    double duration;            /* seconds */
} kb_action;

/* A value the writer thread turns into text when it stores the heal, so the thread that records
 * a heal never formats it (the engine's decision record). Ownership of obj passes to
 * knowledge_record_heal / knowledge_record_heal_sync, which call release(obj) exactly once, on
 * success or failure; render is called at most once, on the thread that writes, and returns
 * malloc'd text or NULL. */
typedef struct kb_deferred {
    void *obj;                  /* NULL: nothing deferred */
    char *(*render)(void *obj);
    void (*release)(void *obj);
    size_t approx_bytes;        /* counted against the queue's byte bound until rendered */
} kb_deferred;

typedef struct kb_heal {
    uint64_t id;                /* from knowledge_next_heal_id */
    uint64_t issue_id;
    const char *issue_type;
    const char *severity;       /* "low".."critical" */
    const char *target;
    const char *plugin;         /* detector */
    const char *summary;
    const char *outcome;        /* "healed", "failed", "dry_run", "rejected", "expired",
                                   "suppressed", "cancelled" */
    const char *reason;         /* suppression/failure reason, or NULL */
    int dry_run;                /* dry-run heals never change statistics */
    double detected_at, started_at, finished_at;
    const kb_action *actions; size_t n_actions;
    /* Why it went so (engine_explain.c): a JSON object of the governor's verdict and the
     * planner's candidates, at most KB_DECISION_MAX bytes; NULL when not known. */
    const char *decision_json;
    /* Or the same rendered later (decision_json must then be NULL); see kb_deferred. */
    kb_deferred decision_later;
} kb_heal;

#define KB_DECISION_MAX 8192

/* Opens (creating) state_dir/knowledge.db. A file that is not a valid database is renamed to
 * knowledge.db.corrupt-<time> with one error line, and a fresh one created. The page-by-page
 * check runs on a small file or after a run that did not close cleanly (knowledge_open.c).
 * 0 or -1 + err. */
int knowledge_open(const char *state_dir, knowledge **out, char *err, size_t errlen);
/* Flushes the queue, stops the writer, closes. */
void knowledge_close(knowledge *kb);

/* Unique across restarts. Thread-safe. */
uint64_t knowledge_next_heal_id(knowledge *kb);
uint64_t knowledge_next_issue_id(knowledge *kb);

/* Queues a heal (copied) for the writer thread, which commits in batches (at most ~50 ms or
 * 1000 heals). Statistics in memory are updated at once, so the planner sees them. Thread-safe.
 * 0, or HEALER_E_FULL when the queue is at its bound (dropped and logged; never unbounded). */
int knowledge_record_heal(knowledge *kb, const kb_heal *heal);
/* Writes one heal in its own transaction and returns after the commit (synchronous=FULL). */
int knowledge_record_heal_sync(knowledge *kb, const kb_heal *heal);
/* Runs fn on the write connection inside one transaction (BEGIN IMMEDIATE .. COMMIT, synchronous
 * FULL) and returns after the commit: the durable path for other modules' tables in
 * knowledge.db (govstore.c). fn returns an SQLite result code; anything but SQLITE_OK rolls back.
 * fn must not call the knowledge base. HEALER_OK or HEALER_E_IO (logged). */
struct sqlite3;
int knowledge_write_sync(knowledge *kb, int (*fn)(struct sqlite3 *db, void *arg), void *arg);
/* Blocks until every queued heal is committed. */
int knowledge_flush(knowledge *kb);
/* A heal recorded healed whose issue came back within limits.relapse_window_s
 * (knowledge_relapse.c): outcome "relapsed" with reason, its successful actions no longer
 * successes, one success fewer for each in the (type, action) statistics (disk and memory).
 * Flushes the queue first. HEALER_OK, _E_NOTFOUND (not a healed live heal), _E_IO. */
int knowledge_mark_relapsed(knowledge *kb, uint64_t heal_id, const char *reason);

/* Deletes the heals (and their actions) that finished before `before` (epoch seconds), and the
 * issues no remaining heal refers to, in transactions of 1 000 heals that let other writers in
 * between (the cost is what is removed, not the table's size); on failure the batches already
 * committed stay removed and *removed counts them. The per (issue type, action) statistics are aggregates
 * and stay: what was learned outlives the history. Thread-safe; runs on the caller's thread
 * (the agent's main thread, never the engine's). *removed gets the heals deleted. */
int knowledge_prune(knowledge *kb, double before, uint64_t *removed);

/* Statistics of (issue_type, action): from memory, thread-safe. Zeros when unknown. */
void knowledge_stats(knowledge *kb, const char *issue_type, const char *action,
                     uint64_t *attempts, uint64_t *successes);
/* Posterior mean of a Beta prior centred on prior_mean with strength KNOWLEDGE_PRIOR_WEIGHT:
 * (successes + w*p) / (attempts + w). Honest with few samples. */
#define KNOWLEDGE_PRIOR_WEIGHT 2.0
double knowledge_confidence(uint64_t attempts, uint64_t successes, double prior_mean);

/* Shared knowledge (knowledge_fleet.c, docs/fleet.md): the peers' counters per (node, type,
 * action) in knowledge.db's fleet_stats, merged by maximum, and their sums for the planner.
 * enable: creates the table, loads the rows of the listed peers, sets the weight a peer's
 * attempt has against a local one; again later: only the peers and the weight change (0 turns
 * the fleet's say off). HEALER_OK or HEALER_E_IO / _E_NOMEM (logged). */
struct fleet_state;
struct fleet_row;
int knowledge_fleet_enable(knowledge *kb, const char *const *peers, size_t n_peers,
                           double weight);
void knowledge_fleet_set_weight(knowledge *kb, double weight);
/* Merges one peer's state (memory, then the rows that grew in one transaction); *grew gets
 * how many rows grew. HEALER_OK, _E_IO, _E_NOMEM, _E_INVAL (fleet not enabled). */
int knowledge_fleet_merge(knowledge *kb, const struct fleet_state *st, size_t *grew);
/* The sums over the peers for (type, action) and the weight; zeros when disabled. */
void knowledge_fleet_sums(knowledge *kb, const char *issue_type, const char *action,
                          uint64_t *attempts, uint64_t *successes, double *weight);
size_t knowledge_fleet_rows(knowledge *kb);
/* This node's statistics as rows to send (pairs never tried left out): *rows and the strings
 * they point to in one malloc'd block (free(*rows)). HEALER_OK or _E_NOMEM. */
int knowledge_local_rows(knowledge *kb, struct fleet_row **rows, size_t *n);

/* For the HTTP API (each returns a new reference; caller json_decref's). Read from the
 * database through a separate read connection: never on the metrics path. */
json_t *knowledge_heals_json(knowledge *kb, int limit);   /* {"heals":[...]} newest first */
json_t *knowledge_stats_json(knowledge *kb);              /* {"knowledge":[...]} */
/* One heal as in knowledge_heals_json plus its "decision" (null when not recorded): HEALER_OK
 * and *out, HEALER_E_NOTFOUND, or HEALER_E_IO (logged). Flushes the queue first, so a heal
 * that just finished is found. */
int knowledge_heal_json(knowledge *kb, uint64_t id, json_t **out);
/* The issue as last recorded ({id, type, severity, target, plugin, summary, detected_at,
 * heal_count}) with its newest heals (at most limit, newest first, without actions) in "heals":
 * HEALER_OK and *out, HEALER_E_NOTFOUND, HEALER_E_IO. */
int knowledge_issue_json(knowledge *kb, uint64_t id, int limit, json_t **out);

#endif
