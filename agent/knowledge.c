/* knowledge.c — the knowledge base: schema and migrations of state_dir/knowledge.db, the writer
 * thread and its bounded queue, the durable one-heal path, the in-memory statistics, heal and
 * issue ids that stay unique across restarts and crashes, and the JSON views of the HTTP API. */
#include "knowledge.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "healer/types.h"
#include "log.h"

#define KB_WHO "knowledge"
#define KB_FILE "knowledge.db"
#define KB_SCHEMA_VERSION 2
/* Bounds of the queue: entries and bytes, so a burst of huge messages cannot eat memory
 * either. */
#define KB_QUEUE_MAX_DEFAULT 100000
#define KB_QUEUE_BYTES_MAX ((size_t)256 << 20)
#define KB_BATCH_MAX 1000
#define KB_BATCH_WAIT_NS (50L * 1000 * 1000)
#define KB_BUSY_TIMEOUT_MS 5000
/* Ids are reserved on disk in blocks before they are handed out (an id may reach the audit
 * log before its heal reaches the database); a crash costs at most one block of unused ids,
 * a clean close none. */
#define KB_ID_BLOCK 10000
#define KB_HEALS_LIMIT_DEFAULT 50
#define KB_HEALS_LIMIT_MAX 1000

/* Test hooks (not in knowledge.h: nothing but tests may shrink the queue or stop the writer). */
void knowledge_test_set_queue_max(knowledge *kb, size_t max);
void knowledge_test_pause_writer(knowledge *kb, int paused);

/* One queued heal: the kb_heal, its actions and every string live in this one allocation. */
typedef struct kb_item {
    struct kb_item *next;
    uint64_t seq;
    size_t bytes;
    struct timespec queued; /* CLOCK_MONOTONIC, for the batch window */
    kb_heal heal;
} kb_item;

typedef struct stat_entry {
    struct stat_entry *next;
    uint64_t hash;
    uint64_t attempts, successes;
    size_t type_len;
    char key[]; /* issue_type '\0' action '\0' */
} stat_entry;

typedef struct id_counter {
    _Atomic uint64_t last;     /* the last id handed out */
    _Atomic uint64_t reserved; /* ids up to this one are reserved on disk */
    const char *meta_key;
} id_counter;

struct knowledge {
    char *path;
    sqlite3 *wdb; /* writes: the writer thread, the sync path and id reservations, under db_mtx */
    sqlite3 *rdb; /* reads for the HTTP API, under read_mtx; WAL lets it read while wdb writes */
    pthread_mutex_t db_mtx, read_mtx, stats_mtx, id_mtx;
    sqlite3_stmt *ins_issue, *ins_heal, *ins_action, *upd_stats, *set_meta;
    sqlite3_stmt *sel_heals, *sel_actions, *sel_stats;

    /* The queue. seq numbers every enqueued heal; done_seq is the last one the writer has
     * finished with (committed or given up on); fail_seq the last one it gave up on. */
    pthread_mutex_t q_mtx;
    pthread_cond_t q_cond, done_cond;
    kb_item *head, *tail;
    size_t count, bytes, max_count;
    uint64_t enq_seq, done_seq, fail_seq, fail_reported;
    uint64_t dropped;
    int flush_waiters, stop, paused, writer_running;
    pthread_t writer;

    stat_entry **buckets;
    size_t n_buckets, n_stats;

    id_counter heal_ids, issue_ids;
};

/* ------------------------------------------------------------------ statistics in memory */

static uint64_t stat_hash(const char *type, const char *action)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)type; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL; /* separator: ("ab","c") and ("a","bc") differ */
    for (const unsigned char *p = (const unsigned char *)action; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static stat_entry *stat_find(knowledge *kb, const char *type, const char *action, int create)
{
    uint64_t h = stat_hash(type, action);
    size_t tl = strlen(type);
    for (stat_entry *e = kb->buckets[h % kb->n_buckets]; e; e = e->next)
        if (e->hash == h && e->type_len == tl && memcmp(e->key, type, tl) == 0 &&
            strcmp(e->key + tl + 1, action) == 0)
            return e;
    if (!create)
        return NULL;
    if (kb->n_stats >= kb->n_buckets) {
        size_t nb = kb->n_buckets * 2;
        stat_entry **b = calloc(nb, sizeof *b);
        if (b) {
            for (size_t i = 0; i < kb->n_buckets; i++)
                for (stat_entry *e = kb->buckets[i], *next; e; e = next) {
                    next = e->next;
                    e->next = b[e->hash % nb];
                    b[e->hash % nb] = e;
                }
            free(kb->buckets);
            kb->buckets = b;
            kb->n_buckets = nb;
        } /* else: keep the longer chains; still correct */
    }
    size_t al = strlen(action);
    stat_entry *e = calloc(1, sizeof *e + tl + al + 2);
    if (!e)
        return NULL;
    e->hash = h;
    e->type_len = tl;
    memcpy(e->key, type, tl + 1);
    memcpy(e->key + tl + 1, action, al + 1);
    e->next = kb->buckets[h % kb->n_buckets];
    kb->buckets[h % kb->n_buckets] = e;
    kb->n_stats++;
    return e;
}

/* The one rule of what counts, shared by memory and database so they cannot disagree. */
static int action_is_attempt(const kb_heal *h, const kb_action *a)
{
    if (h->dry_run)
        return 0;
    /* dry runs, steps that never ran, and steps abandoned for an emergency teach nothing */
    return strcmp(a->outcome, "dry_run") != 0 && strcmp(a->outcome, "skipped") != 0 &&
           strcmp(a->outcome, "preempted") != 0;
}

/* sign +1 records a heal, -1 takes back one the writer could not store. */
static void stats_apply(knowledge *kb, const kb_heal *h, int sign)
{
    if (h->dry_run)
        return;
    pthread_mutex_lock(&kb->stats_mtx);
    for (size_t i = 0; i < h->n_actions; i++) {
        const kb_action *a = &h->actions[i];
        if (!action_is_attempt(h, a))
            continue;
        stat_entry *e = stat_find(kb, h->issue_type, a->action, sign > 0);
        if (!e) {
            if (sign > 0)
                log_error(KB_WHO, "out of memory counting %s/%s", h->issue_type, a->action);
            continue;
        }
        if (sign > 0) {
            e->attempts++;
            e->successes += a->success ? 1 : 0;
        } else {
            if (e->attempts)
                e->attempts--;
            if (a->success && e->successes)
                e->successes--;
        }
    }
    pthread_mutex_unlock(&kb->stats_mtx);
}

static void stats_free(knowledge *kb)
{
    if (!kb->buckets)
        return;
    for (size_t i = 0; i < kb->n_buckets; i++)
        for (stat_entry *e = kb->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(kb->buckets);
    kb->buckets = NULL;
}

void knowledge_stats(knowledge *kb, const char *issue_type, const char *action,
                     uint64_t *attempts, uint64_t *successes)
{
    uint64_t a = 0, s = 0;
    if (kb && issue_type && action) {
        pthread_mutex_lock(&kb->stats_mtx);
        stat_entry *e = stat_find(kb, issue_type, action, 0);
        if (e) {
            a = e->attempts;
            s = e->successes;
        }
        pthread_mutex_unlock(&kb->stats_mtx);
    }
    if (attempts)
        *attempts = a;
    if (successes)
        *successes = s;
}

double knowledge_confidence(uint64_t attempts, uint64_t successes, double prior_mean)
{
    double p = prior_mean;
    if (isnan(p))
        p = 0.5;
    if (p < 0.0)
        p = 0.0;
    if (p > 1.0)
        p = 1.0;
    if (successes > attempts) /* impossible from this module; bad input stays within [0,1] */
        successes = attempts;
    const double w = KNOWLEDGE_PRIOR_WEIGHT;
    return ((double)successes + w * p) / ((double)attempts + w);
}

/* ------------------------------------------------------------------ validation and copies */

static int heal_valid(const kb_heal *h)
{
    if (!h)
        return 0;
    const char *why = NULL;
    if (h->id == 0)
        why = "id 0 (take one from knowledge_next_heal_id)";
    else if (!h->issue_type)
        why = "no issue_type";
    else if (!h->outcome)
        why = "no outcome";
    else if (h->n_actions && !h->actions)
        why = "n_actions without actions";
    else
        for (size_t i = 0; i < h->n_actions && !why; i++)
            if (!h->actions[i].action)
                why = "an action without a name";
            else if (!h->actions[i].outcome)
                why = "an action without an outcome";
    if (why) {
        log_warn(KB_WHO, "heal %" PRIu64 " not recorded: %s", h->id, why);
        return 0;
    }
    return 1;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *str_copy(char **cursor, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = *cursor;
    memcpy(d, s, n);
    *cursor += n;
    return d;
}

static kb_item *heal_copy(const kb_heal *h)
{
    size_t bytes = sizeof(kb_item) + h->n_actions * sizeof(kb_action);
    bytes += str_size(h->issue_type) + str_size(h->severity) + str_size(h->target) +
             str_size(h->plugin) + str_size(h->summary) + str_size(h->outcome) +
             str_size(h->reason);
    for (size_t i = 0; i < h->n_actions; i++) {
        const kb_action *a = &h->actions[i];
        bytes += str_size(a->plugin) + str_size(a->action) + str_size(a->target) +
                 str_size(a->outcome) + str_size(a->message) + str_size(a->before_json) +
                 str_size(a->after_json);
    }
    kb_item *it = malloc(bytes);
    if (!it)
        return NULL;
    memset(it, 0, sizeof *it);
    it->bytes = bytes;
    it->heal = *h;
    kb_action *acts = (kb_action *)(it + 1);
    char *cur = (char *)(acts + h->n_actions);
    kb_heal *c = &it->heal;
    c->issue_type = str_copy(&cur, h->issue_type);
    c->severity = str_copy(&cur, h->severity);
    c->target = str_copy(&cur, h->target);
    c->plugin = str_copy(&cur, h->plugin);
    c->summary = str_copy(&cur, h->summary);
    c->outcome = str_copy(&cur, h->outcome);
    c->reason = str_copy(&cur, h->reason);
    for (size_t i = 0; i < h->n_actions; i++) {
        const kb_action *a = &h->actions[i];
        kb_action *d = &acts[i];
        *d = *a;
        d->plugin = str_copy(&cur, a->plugin);
        d->action = str_copy(&cur, a->action);
        d->target = str_copy(&cur, a->target);
        d->outcome = str_copy(&cur, a->outcome);
        d->message = str_copy(&cur, a->message);
        d->before_json = str_copy(&cur, a->before_json);
        d->after_json = str_copy(&cur, a->after_json);
    }
    c->actions = h->n_actions ? acts : NULL;
    return it;
}

/* ------------------------------------------------------------------ database writes */

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static double finite_or_zero(double v)
{
    return isfinite(v) ? v : 0.0;
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static double heal_duration(const kb_heal *h)
{
    /* A heal that never started (suppressed, rejected) took no time. */
    if (h->started_at > 0 && h->finished_at >= h->started_at)
        return finite_or_zero(h->finished_at - h->started_at);
    return 0.0;
}

/* Writes one heal inside the caller's transaction (under db_mtx). */
static int db_write_heal(knowledge *kb, const kb_heal *h)
{
    int rc;
    if (h->issue_id) {
        sqlite3_stmt *st = kb->ins_issue;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)h->issue_id);
        sqlite3_bind_text(st, 2, h->issue_type, -1, SQLITE_STATIC);
        bind_text(st, 3, h->severity);
        bind_text(st, 4, h->target);
        bind_text(st, 5, h->plugin);
        bind_text(st, 6, h->summary);
        sqlite3_bind_double(st, 7, finite_or_zero(h->detected_at));
        sqlite3_bind_int64(st, 8, (sqlite3_int64)h->id);
        if ((rc = step_done(st)) != SQLITE_OK)
            return rc;
    }
    sqlite3_stmt *st = kb->ins_heal;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)h->id);
    if (h->issue_id)
        sqlite3_bind_int64(st, 2, (sqlite3_int64)h->issue_id);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, h->issue_type, -1, SQLITE_STATIC);
    bind_text(st, 4, h->severity);
    bind_text(st, 5, h->target);
    bind_text(st, 6, h->plugin);
    bind_text(st, 7, h->summary);
    sqlite3_bind_text(st, 8, h->outcome, -1, SQLITE_STATIC);
    bind_text(st, 9, h->reason);
    sqlite3_bind_int(st, 10, h->dry_run ? 1 : 0);
    sqlite3_bind_double(st, 11, finite_or_zero(h->detected_at));
    sqlite3_bind_double(st, 12, finite_or_zero(h->started_at));
    sqlite3_bind_double(st, 13, finite_or_zero(h->finished_at));
    sqlite3_bind_double(st, 14, heal_duration(h));
    if ((rc = step_done(st)) != SQLITE_OK)
        return rc;
    for (size_t i = 0; i < h->n_actions; i++) {
        const kb_action *a = &h->actions[i];
        st = kb->ins_action;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)h->id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        bind_text(st, 3, a->plugin);
        sqlite3_bind_text(st, 4, a->action, -1, SQLITE_STATIC);
        bind_text(st, 5, a->target);
        sqlite3_bind_text(st, 6, a->outcome, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 7, a->success ? 1 : 0);
        bind_text(st, 8, a->message);
        bind_text(st, 9, a->before_json);
        bind_text(st, 10, a->after_json);
        sqlite3_bind_double(st, 11, finite_or_zero(a->started_at));
        sqlite3_bind_double(st, 12, finite_or_zero(a->duration));
        if ((rc = step_done(st)) != SQLITE_OK)
            return rc;
        if (!action_is_attempt(h, a))
            continue;
        st = kb->upd_stats;
        sqlite3_bind_text(st, 1, h->issue_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->action, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, a->success ? 1 : 0);
        if ((rc = step_done(st)) != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static int db_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* One heal in its own transaction; rolls back (and logs, when asked) on failure. Under
 * db_mtx. */
static int db_write_one(knowledge *kb, const kb_heal *h, int log_failure)
{
    int rc = db_exec(kb->wdb, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = db_write_heal(kb, h);
    if (rc == SQLITE_OK)
        rc = db_exec(kb->wdb, "COMMIT");
    if (rc != SQLITE_OK) {
        if (log_failure)
            log_error(KB_WHO, "%s: heal %" PRIu64 " not stored: %s (sqlite %d)", kb->path,
                      h->id, sqlite3_errmsg(kb->wdb), rc);
        if (!sqlite3_get_autocommit(kb->wdb))
            db_exec(kb->wdb, "ROLLBACK");
    }
    return rc;
}

static int db_set_meta(knowledge *kb, const char *key, uint64_t value)
{
    sqlite3_bind_text(kb->set_meta, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(kb->set_meta, 2, (sqlite3_int64)value);
    return step_done(kb->set_meta);
}

/* ------------------------------------------------------------------ ids */

/* Moves the on-disk reservation to `value`, durably, in its own transaction. */
static int reserve_ids(knowledge *kb, id_counter *c, uint64_t value)
{
    pthread_mutex_lock(&kb->db_mtx);
    int rc = db_exec(kb->wdb, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = db_set_meta(kb, c->meta_key, value);
    if (rc == SQLITE_OK)
        rc = db_exec(kb->wdb, "COMMIT");
    if (rc != SQLITE_OK) {
        log_error(KB_WHO, "%s: cannot reserve %s up to %" PRIu64 ": %s", kb->path, c->meta_key,
                  value, sqlite3_errmsg(kb->wdb));
        if (!sqlite3_get_autocommit(kb->wdb))
            db_exec(kb->wdb, "ROLLBACK");
    }
    pthread_mutex_unlock(&kb->db_mtx);
    return rc;
}

static uint64_t next_id(knowledge *kb, id_counter *c)
{
    uint64_t id = atomic_fetch_add(&c->last, 1) + 1;
    if (id <= atomic_load(&c->reserved))
        return id;
    pthread_mutex_lock(&kb->id_mtx);
    if (id > atomic_load(&c->reserved)) {
        uint64_t want = id + KB_ID_BLOCK;
        /* On failure (disk full) the id is still unique within this run and beyond every id
         * stored; the error is logged, and the next block tries again. */
        reserve_ids(kb, c, want);
        atomic_store(&c->reserved, want);
    }
    pthread_mutex_unlock(&kb->id_mtx);
    return id;
}

uint64_t knowledge_next_heal_id(knowledge *kb)
{
    return kb ? next_id(kb, &kb->heal_ids) : 0;
}

uint64_t knowledge_next_issue_id(knowledge *kb)
{
    return kb ? next_id(kb, &kb->issue_ids) : 0;
}

/* ------------------------------------------------------------------ the writer */

static void writer_batch(knowledge *kb, kb_item *batch)
{
    pthread_mutex_lock(&kb->db_mtx);
    int rc = db_exec(kb->wdb, "BEGIN IMMEDIATE");
    for (kb_item *it = batch; it && rc == SQLITE_OK; it = it->next)
        rc = db_write_heal(kb, &it->heal);
    if (rc == SQLITE_OK)
        rc = db_exec(kb->wdb, "COMMIT");
    uint64_t failed_seq = 0;
    if (rc != SQLITE_OK) {
        /* One bad heal (a duplicate id) must not lose the other 999: redo them one by one and
         * give up only on those that fail alone. */
        log_warn(KB_WHO, "%s: batch failed (%s); retrying its heals one by one", kb->path,
                 sqlite3_errmsg(kb->wdb));
        if (!sqlite3_get_autocommit(kb->wdb))
            db_exec(kb->wdb, "ROLLBACK");
        size_t failed = 0, total = 0;
        for (kb_item *it = batch; it; it = it->next, total++)
            /* A full disk fails them all: the first failure in detail, then a count. */
            if (db_write_one(kb, &it->heal, failed == 0) != SQLITE_OK) {
                stats_apply(kb, &it->heal, -1); /* memory must not count what the disk lacks */
                failed_seq = it->seq;
                failed++;
            }
        if (failed > 1)
            log_error(KB_WHO, "%s: %zu of %zu heals of the batch not stored", kb->path, failed,
                      total);
    }
    pthread_mutex_unlock(&kb->db_mtx);

    uint64_t last = 0;
    for (kb_item *it = batch, *next; it; it = next) {
        next = it->next;
        last = it->seq;
        free(it);
    }
    pthread_mutex_lock(&kb->q_mtx);
    kb->done_seq = last;
    if (failed_seq)
        kb->fail_seq = failed_seq;
    pthread_cond_broadcast(&kb->done_cond);
    pthread_mutex_unlock(&kb->q_mtx);
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *writer_main(void *arg)
{
    knowledge *kb = arg;
    pthread_mutex_lock(&kb->q_mtx);
    for (;;) {
        while ((!kb->head || kb->paused) && !kb->stop)
            pthread_cond_wait(&kb->q_cond, &kb->q_mtx);
        if (!kb->head)
            break; /* stop, and nothing left */
        /* Gather a batch: one commit (one fsync) for many heals is what makes the rate. */
        struct timespec deadline = kb->head->queued;
        deadline.tv_nsec += KB_BATCH_WAIT_NS;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        for (;;) {
            if (kb->count >= KB_BATCH_MAX || kb->stop || kb->flush_waiters > 0)
                break;
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!ts_before(&now, &deadline))
                break;
            pthread_cond_timedwait(&kb->q_cond, &kb->q_mtx, &deadline);
        }
        kb_item *batch = kb->head, *end = kb->head;
        size_t n = 1;
        kb->bytes -= end->bytes;
        while (end->next && n < KB_BATCH_MAX) {
            end = end->next;
            kb->bytes -= end->bytes;
            n++;
        }
        kb->head = end->next;
        if (!kb->head)
            kb->tail = NULL;
        end->next = NULL;
        kb->count -= n;
        pthread_mutex_unlock(&kb->q_mtx);
        writer_batch(kb, batch);
        pthread_mutex_lock(&kb->q_mtx);
    }
    kb->writer_running = 0;
    pthread_cond_broadcast(&kb->done_cond);
    pthread_mutex_unlock(&kb->q_mtx);
    return NULL;
}

int knowledge_record_heal(knowledge *kb, const kb_heal *heal)
{
    if (!kb || !heal_valid(heal))
        return HEALER_E_INVAL;
    kb_item *it = heal_copy(heal);
    if (!it) {
        log_error(KB_WHO, "out of memory queueing heal %" PRIu64, heal->id);
        return HEALER_E_NOMEM;
    }
    clock_gettime(CLOCK_MONOTONIC, &it->queued);
    pthread_mutex_lock(&kb->q_mtx);
    if (kb->stop) {
        pthread_mutex_unlock(&kb->q_mtx);
        free(it);
        return HEALER_E_DENIED;
    }
    if (kb->count >= kb->max_count || kb->bytes + it->bytes > KB_QUEUE_BYTES_MAX) {
        uint64_t dropped = ++kb->dropped;
        size_t count = kb->count;
        pthread_mutex_unlock(&kb->q_mtx);
        /* A full queue means the disk is far behind; one line per power of ten keeps the log
         * readable while the drops go on. */
        int logit = 0;
        for (uint64_t p = 1; p && p <= dropped; p *= 10)
            if (p == dropped)
                logit = 1;
        if (logit)
            log_error(KB_WHO, "queue full (%zu heals waiting): heal %" PRIu64
                      " dropped (%" PRIu64 " dropped so far)", count, heal->id, dropped);
        free(it);
        return HEALER_E_FULL;
    }
    it->seq = ++kb->enq_seq;
    if (kb->tail)
        kb->tail->next = it;
    else
        kb->head = it;
    kb->tail = it;
    kb->count++;
    kb->bytes += it->bytes;
    /* Stats before the unlock: once this call returns, the planner sees the heal, whether or
     * not the writer has committed it yet. */
    stats_apply(kb, &it->heal, +1);
    if (kb->count == 1 || kb->count >= KB_BATCH_MAX)
        pthread_cond_signal(&kb->q_cond);
    pthread_mutex_unlock(&kb->q_mtx);
    return HEALER_OK;
}

int knowledge_record_heal_sync(knowledge *kb, const kb_heal *heal)
{
    if (!kb || !heal_valid(heal))
        return HEALER_E_INVAL;
    pthread_mutex_lock(&kb->db_mtx);
    int rc = db_write_one(kb, heal, 1);
    pthread_mutex_unlock(&kb->db_mtx);
    if (rc != SQLITE_OK)
        return HEALER_E_IO;
    stats_apply(kb, heal, +1);
    return HEALER_OK;
}

int knowledge_write_sync(knowledge *kb, int (*fn)(sqlite3 *db, void *arg), void *arg)
{
    if (!kb || !fn)
        return HEALER_E_INVAL;
    pthread_mutex_lock(&kb->db_mtx);
    int rc = db_exec(kb->wdb, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = fn(kb->wdb, arg);
    if (rc == SQLITE_OK)
        rc = db_exec(kb->wdb, "COMMIT");
    if (rc != SQLITE_OK) {
        log_error(KB_WHO, "%s: write failed: %s (sqlite %d)", kb->path, sqlite3_errmsg(kb->wdb), rc);
        if (!sqlite3_get_autocommit(kb->wdb))
            db_exec(kb->wdb, "ROLLBACK");
    }
    pthread_mutex_unlock(&kb->db_mtx);
    return rc == SQLITE_OK ? HEALER_OK : HEALER_E_IO;
}

int knowledge_prune(knowledge *kb, double before, uint64_t *removed)
{
    if (removed)
        *removed = 0;
    if (!kb || !isfinite(before))
        return HEALER_E_INVAL;
    pthread_mutex_lock(&kb->db_mtx);
    int rc = HEALER_OK;
    sqlite3_stmt *del = NULL, *orphans = NULL;
    if (db_exec(kb->wdb, "BEGIN IMMEDIATE") != 0) {
        pthread_mutex_unlock(&kb->db_mtx);
        return HEALER_E_IO;
    }
    /* heal_actions go with their heal (ON DELETE CASCADE). */
    if (sqlite3_prepare_v2(kb->wdb, "DELETE FROM heals WHERE finished_at < ?1", -1, &del, NULL) != SQLITE_OK ||
        sqlite3_bind_double(del, 1, before) != SQLITE_OK || step_done(del) != SQLITE_OK) {
        rc = HEALER_E_IO;
    } else if (removed) {
        *removed = (uint64_t)sqlite3_changes(kb->wdb);
    }
    if (rc == HEALER_OK &&
        (sqlite3_prepare_v2(kb->wdb, "DELETE FROM issues WHERE detected_at < ?1 AND id NOT IN "
                            "(SELECT issue_id FROM heals WHERE issue_id IS NOT NULL)", -1,
                            &orphans, NULL) != SQLITE_OK ||
         sqlite3_bind_double(orphans, 1, before) != SQLITE_OK || step_done(orphans) != SQLITE_OK))
        rc = HEALER_E_IO;
    sqlite3_finalize(del);
    sqlite3_finalize(orphans);
    if (db_exec(kb->wdb, rc == HEALER_OK ? "COMMIT" : "ROLLBACK") != 0)
        rc = HEALER_E_IO;
    if (rc != HEALER_OK)
        log_error("knowledge", "%s: pruning old heals failed: %s", kb->path, sqlite3_errmsg(kb->wdb));
    pthread_mutex_unlock(&kb->db_mtx);
    return rc;
}

int knowledge_flush(knowledge *kb)
{
    if (!kb)
        return HEALER_E_INVAL;
    pthread_mutex_lock(&kb->q_mtx);
    uint64_t target = kb->enq_seq;
    kb->flush_waiters++;
    pthread_cond_signal(&kb->q_cond);
    while (kb->done_seq < target && kb->writer_running)
        pthread_cond_wait(&kb->done_cond, &kb->q_mtx);
    kb->flush_waiters--;
    int rc = HEALER_OK;
    if (kb->done_seq < target)
        rc = HEALER_E_IO;
    else if (kb->fail_seq > kb->fail_reported) {
        /* Each failure is reported once, to the first flush that covers it. */
        kb->fail_reported = kb->fail_seq;
        rc = HEALER_E_IO;
    }
    pthread_mutex_unlock(&kb->q_mtx);
    return rc;
}

void knowledge_test_set_queue_max(knowledge *kb, size_t max)
{
    pthread_mutex_lock(&kb->q_mtx);
    kb->max_count = max;
    pthread_mutex_unlock(&kb->q_mtx);
}

void knowledge_test_pause_writer(knowledge *kb, int paused)
{
    pthread_mutex_lock(&kb->q_mtx);
    kb->paused = paused;
    pthread_cond_signal(&kb->q_cond);
    pthread_mutex_unlock(&kb->q_mtx);
}

/* ------------------------------------------------------------------ open, schema, close */

/* Each entry takes the schema from version i to i+1; append, never edit a shipped one. */
static const char *const migrations[KB_SCHEMA_VERSION] = {
    "CREATE TABLE issues ("
    "  id INTEGER PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  severity TEXT, target TEXT, plugin TEXT, summary TEXT,"
    "  detected_at REAL NOT NULL DEFAULT 0,"
    "  last_heal_id INTEGER,"
    "  heals INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE heals ("
    "  id INTEGER PRIMARY KEY,"
    "  issue_id INTEGER REFERENCES issues(id),"
    "  issue_type TEXT NOT NULL,"
    "  severity TEXT, target TEXT, plugin TEXT, summary TEXT,"
    "  outcome TEXT NOT NULL,"
    "  reason TEXT,"
    "  dry_run INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1)),"
    "  detected_at REAL NOT NULL DEFAULT 0,"
    "  started_at REAL NOT NULL DEFAULT 0,"
    "  finished_at REAL NOT NULL DEFAULT 0,"
    "  duration REAL NOT NULL DEFAULT 0);"
    /* Newest first is ORDER BY id DESC, served by the primary key itself (ids are handed out
     * in time order and, unlike wall time, never step back); these serve the by-time and
     * by-issue look-ups. */
    "CREATE INDEX heals_by_finished ON heals(finished_at DESC, id DESC);"
    "CREATE INDEX heals_by_issue ON heals(issue_id, id DESC);"
    "CREATE TABLE heal_actions ("
    "  heal_id INTEGER NOT NULL REFERENCES heals(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  plugin TEXT,"
    "  action TEXT NOT NULL,"
    "  target TEXT,"
    "  outcome TEXT NOT NULL,"
    "  success INTEGER NOT NULL DEFAULT 0 CHECK (success IN (0, 1)),"
    "  message TEXT, before_json TEXT, after_json TEXT,"
    "  started_at REAL NOT NULL DEFAULT 0,"
    "  duration REAL NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (heal_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE stats ("
    "  issue_type TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  successes INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (issue_type, action)) WITHOUT ROWID;"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;",
    /* 2: the governor's state (govstore.c), so limits hold across restarts and crashes. */
    "CREATE TABLE gov_heals ("
    "  id INTEGER PRIMARY KEY,"
    "  t REAL NOT NULL,"
    "  rollbacks INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX gov_heals_by_t ON gov_heals(t);"
    "CREATE TABLE gov_cooldowns ("
    "  issue_type TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  committed_at REAL NOT NULL,"
    "  until REAL NOT NULL,"
    "  severity INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (issue_type, target)) WITHOUT ROWID;"
    "CREATE TABLE gov_snoozes ("
    "  issue_type TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  until REAL NOT NULL,"
    "  PRIMARY KEY (issue_type, target)) WITHOUT ROWID;"
    "CREATE TABLE gov_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE confirm_streaks ("
    "  issue_type TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  confirmed_successes INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (issue_type, action)) WITHOUT ROWID;",
};

static int mkdir_p(const char *dir, char *err, size_t errlen)
{
    char *tmp = strdup(dir);
    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create directory: %s", tmp, strerror(errno));
            free(tmp);
            return -1;
        }
        *p = saved;
        if (!saved)
            break;
    }
    free(tmp);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", dir);
        return -1;
    }
    return 0;
}

static int single_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(out, outlen, "%s", t ? (const char *)t : "");
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            out[0] = '\0';
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int single_int(sqlite3 *db, const char *sql, sqlite3_int64 *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    *out = 0;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* 1: the file is there and is not a sound database; 0: absent or sound; -1: cannot tell. */
static int check_existing(const char *path, char *why, size_t whylen, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return -1;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    char result[256] = "";
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, KB_BUSY_TIMEOUT_MS);
        rc = single_text(db, "PRAGMA quick_check", result, sizeof result);
    }
    int verdict;
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) {
        snprintf(why, whylen, "%s", sqlite3_errstr(rc));
        verdict = 1;
    } else if (rc != SQLITE_OK) {
        /* Locked, unreadable, out of memory: not proof of corruption, so never moved. */
        snprintf(err, errlen, "%s: cannot check: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        verdict = -1;
    } else if (strcmp(result, "ok") != 0) {
        snprintf(why, whylen, "quick_check: %s", result);
        verdict = 1;
    } else {
        verdict = 0;
    }
    sqlite3_close(db);
    return verdict;
}

/* On success *newname is the new name (caller frees). */
static int move_aside(const char *path, char *err, size_t errlen, char **newname)
{
    long now = (long)time(NULL);
    struct stat st;
    char *name = NULL;
    for (int i = 0; i < 1000; i++) {
        free(name);
        int n = i ? asprintf(&name, "%s.corrupt-%ld.%d", path, now, i)
                  : asprintf(&name, "%s.corrupt-%ld", path, now);
        if (n < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (stat(name, &st) != 0)
            break;
    }
    if (rename(path, name) != 0) {
        snprintf(err, errlen, "%s: corrupt, and cannot move it to %s: %s", path, name,
                 strerror(errno));
        free(name);
        return -1;
    }
    /* The journal files belong to the old file: left behind they would be replayed into the
     * fresh one. */
    static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char *from = NULL, *to = NULL;
        if (asprintf(&from, "%s%s", path, suffixes[i]) < 0)
            from = NULL;
        if (asprintf(&to, "%s%s", name, suffixes[i]) < 0)
            to = NULL;
        int bad = !from || !to || (rename(from, to) != 0 && errno != ENOENT);
        if (bad)
            snprintf(err, errlen, "%s: cannot move it aside: %s", from ? from : path,
                     from && to ? strerror(errno) : "out of memory");
        free(from);
        free(to);
        if (bad) {
            free(name);
            return -1;
        }
    }
    *newname = name;
    return 0;
}

static int migrate(knowledge *kb, char *err, size_t errlen)
{
    sqlite3_int64 version = 0;
    int rc = single_int(kb->wdb, "PRAGMA user_version", &version);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", kb->path, sqlite3_errmsg(kb->wdb));
        return -1;
    }
    if (version > KB_SCHEMA_VERSION || version < 0) {
        snprintf(err, errlen, "%s: schema version %lld is newer than this healerd knows (%d)",
                 kb->path, (long long)version, KB_SCHEMA_VERSION);
        return -1;
    }
    for (sqlite3_int64 v = version; v < KB_SCHEMA_VERSION; v++) {
        char setv[64];
        snprintf(setv, sizeof setv, "PRAGMA user_version = %lld", (long long)v + 1);
        rc = db_exec(kb->wdb, "BEGIN IMMEDIATE");
        if (rc == SQLITE_OK)
            rc = db_exec(kb->wdb, migrations[v]);
        if (rc == SQLITE_OK)
            rc = db_exec(kb->wdb, setv);
        if (rc == SQLITE_OK)
            rc = db_exec(kb->wdb, "COMMIT");
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "%s: migration to schema %lld failed: %s", kb->path,
                     (long long)v + 1, sqlite3_errmsg(kb->wdb));
            if (!sqlite3_get_autocommit(kb->wdb))
                db_exec(kb->wdb, "ROLLBACK");
            return -1;
        }
        if (version > 0) /* a fresh file is created, not migrated */
            log_info(KB_WHO, "%s: schema migrated to version %lld", kb->path, (long long)v + 1);
    }
    return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *path, char *err,
                   size_t errlen)
{
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
    return rc;
}

static int load_state(knowledge *kb, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(kb->wdb, "SELECT issue_type, action, attempts, successes FROM stats", &st,
                     kb->path, err, errlen);
    if (rc != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 0);
        const char *action = (const char *)sqlite3_column_text(st, 1);
        if (!type || !action)
            continue;
        stat_entry *e = stat_find(kb, type, action, 1);
        if (e) {
            sqlite3_int64 a = sqlite3_column_int64(st, 2), s = sqlite3_column_int64(st, 3);
            e->attempts = a > 0 ? (uint64_t)a : 0;
            e->successes = s > 0 ? (uint64_t)s : 0;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s: loading statistics: %s", kb->path, sqlite3_errmsg(kb->wdb));
        return -1;
    }
    static const struct {
        const char *key, *max_sql;
    } ids[2] = {
        {"heal_id_reserved", "SELECT max(coalesce((SELECT max(id) FROM heals), 0),"
                             " coalesce((SELECT value FROM meta WHERE key = 'heal_id_reserved'), 0))"},
        {"issue_id_reserved",
         "SELECT max(coalesce((SELECT max(id) FROM issues), 0),"
         " coalesce((SELECT max(issue_id) FROM heals), 0),"
         " coalesce((SELECT value FROM meta WHERE key = 'issue_id_reserved'), 0))"},
    };
    id_counter *counters[2] = {&kb->heal_ids, &kb->issue_ids};
    for (int i = 0; i < 2; i++) {
        sqlite3_int64 last = 0;
        if (single_int(kb->wdb, ids[i].max_sql, &last) != SQLITE_OK) {
            snprintf(err, errlen, "%s: loading ids: %s", kb->path, sqlite3_errmsg(kb->wdb));
            return -1;
        }
        id_counter *c = counters[i];
        c->meta_key = ids[i].key;
        atomic_store(&c->last, last > 0 ? (uint64_t)last : 0);
        uint64_t want = atomic_load(&c->last) + KB_ID_BLOCK;
        if (reserve_ids(kb, c, want) != SQLITE_OK) {
            snprintf(err, errlen, "%s: reserving ids: %s", kb->path, sqlite3_errmsg(kb->wdb));
            return -1;
        }
        atomic_store(&c->reserved, want);
    }
    return 0;
}

static void kb_free(knowledge *kb)
{
    sqlite3_stmt **stmts[] = {&kb->ins_issue, &kb->ins_heal, &kb->ins_action, &kb->upd_stats,
                              &kb->set_meta, &kb->sel_heals, &kb->sel_actions, &kb->sel_stats};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        sqlite3_finalize(*stmts[i]);
        *stmts[i] = NULL;
    }
    if (kb->rdb)
        sqlite3_close(kb->rdb);
    if (kb->wdb)
        sqlite3_close(kb->wdb);
    for (kb_item *it = kb->head, *next; it; it = next) {
        next = it->next;
        free(it);
    }
    stats_free(kb);
    pthread_mutex_destroy(&kb->db_mtx);
    pthread_mutex_destroy(&kb->read_mtx);
    pthread_mutex_destroy(&kb->stats_mtx);
    pthread_mutex_destroy(&kb->id_mtx);
    pthread_mutex_destroy(&kb->q_mtx);
    pthread_cond_destroy(&kb->q_cond);
    pthread_cond_destroy(&kb->done_cond);
    free(kb->path);
    free(kb);
}

static int open_databases(knowledge *kb, char *err, size_t errlen)
{
    int rc = sqlite3_open_v2(kb->path, &kb->wdb,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open: %s", kb->path,
                 kb->wdb ? sqlite3_errmsg(kb->wdb) : sqlite3_errstr(rc));
        return -1;
    }
    sqlite3_busy_timeout(kb->wdb, KB_BUSY_TIMEOUT_MS);
    char mode[32];
    if (single_text(kb->wdb, "PRAGMA journal_mode = WAL", mode, sizeof mode) != SQLITE_OK ||
        strcmp(mode, "wal") != 0) {
        snprintf(err, errlen, "%s: cannot switch to WAL: %s", kb->path, sqlite3_errmsg(kb->wdb));
        return -1;
    }
    /* FULL: in WAL mode every commit syncs the WAL, so a committed heal survives power loss,
     * not only a crash of the process. */
    if (db_exec(kb->wdb, "PRAGMA synchronous = FULL") != SQLITE_OK ||
        db_exec(kb->wdb, "PRAGMA foreign_keys = ON") != SQLITE_OK ||
        db_exec(kb->wdb, "PRAGMA journal_size_limit = 67108864") != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", kb->path, sqlite3_errmsg(kb->wdb));
        return -1;
    }
    if (migrate(kb, err, errlen) != 0)
        return -1;
    if (prepare(kb->wdb,
                "INSERT INTO issues (id, type, severity, target, plugin, summary, detected_at,"
                " last_heal_id, heals) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)"
                " ON CONFLICT (id) DO UPDATE SET last_heal_id = max(last_heal_id, excluded.last_heal_id),"
                " heals = heals + 1",
                &kb->ins_issue, kb->path, err, errlen) ||
        prepare(kb->wdb,
                "INSERT INTO heals (id, issue_id, issue_type, severity, target, plugin, summary,"
                " outcome, reason, dry_run, detected_at, started_at, finished_at, duration)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                &kb->ins_heal, kb->path, err, errlen) ||
        prepare(kb->wdb,
                "INSERT INTO heal_actions (heal_id, seq, plugin, action, target, outcome, success,"
                " message, before_json, after_json, started_at, duration)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                &kb->ins_action, kb->path, err, errlen) ||
        prepare(kb->wdb,
                "INSERT INTO stats (issue_type, action, attempts, successes) VALUES (?1, ?2, 1, ?3)"
                " ON CONFLICT (issue_type, action) DO UPDATE SET attempts = attempts + 1,"
                " successes = successes + excluded.successes",
                &kb->upd_stats, kb->path, err, errlen) ||
        prepare(kb->wdb,
                "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &kb->set_meta, kb->path, err, errlen))
        return -1;
    if (load_state(kb, err, errlen) != 0)
        return -1;

    rc = sqlite3_open_v2(kb->path, &kb->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open for reading: %s", kb->path,
                 kb->rdb ? sqlite3_errmsg(kb->rdb) : sqlite3_errstr(rc));
        return -1;
    }
    sqlite3_busy_timeout(kb->rdb, KB_BUSY_TIMEOUT_MS);
    if (prepare(kb->rdb,
                "SELECT id, issue_id, issue_type, severity, target, plugin, summary, outcome,"
                " reason, dry_run, detected_at, started_at, finished_at, duration"
                " FROM heals ORDER BY id DESC LIMIT ?1",
                &kb->sel_heals, kb->path, err, errlen) ||
        prepare(kb->rdb,
                "SELECT plugin, action, target, outcome, message, started_at, duration,"
                " before_json, after_json FROM heal_actions WHERE heal_id = ?1 ORDER BY seq",
                &kb->sel_actions, kb->path, err, errlen) ||
        prepare(kb->rdb,
                "SELECT issue_type, action, attempts, successes FROM stats"
                " ORDER BY issue_type, action",
                &kb->sel_stats, kb->path, err, errlen))
        return -1;
    return 0;
}

int knowledge_open(const char *state_dir, knowledge **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (out)
        *out = NULL;
    if (!state_dir || !*state_dir || !out) {
        snprintf(err, errlen, "knowledge_open: %s", !out ? "no result pointer" : "no state_dir");
        return -1;
    }
    if (mkdir_p(state_dir, err, errlen) != 0)
        return -1;
    knowledge *kb = calloc(1, sizeof *kb);
    size_t plen = strlen(state_dir) + sizeof "/" KB_FILE;
    if (kb)
        kb->path = malloc(plen);
    if (!kb || !kb->path) {
        free(kb);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(kb->path, plen, "%s/%s", state_dir, KB_FILE);
    pthread_mutex_init(&kb->db_mtx, NULL);
    pthread_mutex_init(&kb->read_mtx, NULL);
    pthread_mutex_init(&kb->stats_mtx, NULL);
    pthread_mutex_init(&kb->id_mtx, NULL);
    pthread_mutex_init(&kb->q_mtx, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the batch window must not jump with NTP */
    pthread_cond_init(&kb->q_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&kb->done_cond, NULL);
    kb->max_count = KB_QUEUE_MAX_DEFAULT;
    kb->n_buckets = 64;
    kb->buckets = calloc(kb->n_buckets, sizeof *kb->buckets);
    if (!kb->buckets) {
        snprintf(err, errlen, "out of memory");
        kb_free(kb);
        return -1;
    }

    char why[300] = "";
    int bad = check_existing(kb->path, why, sizeof why, err, errlen);
    if (bad < 0) {
        kb_free(kb);
        return -1;
    }
    if (bad) {
        char *newname = NULL;
        if (move_aside(kb->path, err, errlen, &newname) != 0) {
            kb_free(kb);
            return -1;
        }
        log_error(KB_WHO, "%s: not a sound database (%s); moved it to %s and started a fresh one",
                  kb->path, why, newname);
        free(newname);
    }
    if (open_databases(kb, err, errlen) != 0) {
        kb_free(kb);
        return -1;
    }
    kb->writer_running = 1;
    int prc = pthread_create(&kb->writer, NULL, writer_main, kb);
    if (prc != 0) {
        snprintf(err, errlen, "%s: cannot start the writer thread: %s", kb->path, strerror(prc));
        kb->writer_running = 0;
        kb_free(kb);
        return -1;
    }
    *out = kb;
    return 0;
}

void knowledge_close(knowledge *kb)
{
    if (!kb)
        return;
    pthread_mutex_lock(&kb->q_mtx);
    kb->stop = 1;
    kb->paused = 0;
    pthread_cond_broadcast(&kb->q_cond);
    pthread_mutex_unlock(&kb->q_mtx);
    pthread_join(kb->writer, NULL); /* the writer drains the queue before it leaves */
    /* After a clean stop the next run continues right after the last id handed out. */
    reserve_ids(kb, &kb->heal_ids, atomic_load(&kb->heal_ids.last));
    reserve_ids(kb, &kb->issue_ids, atomic_load(&kb->issue_ids.last));
    kb_free(kb);
}

/* ------------------------------------------------------------------ JSON views */

static json_t *jstr(const unsigned char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string((const char *)s);
    if (j)
        return j;
    /* Not UTF-8 (a process name, a path): show it with the odd bytes replaced rather than
     * fail the whole answer. */
    char *copy = strdup((const char *)s);
    if (!copy)
        return json_null();
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j ? j : json_null();
}

static json_t *jreal(double v)
{
    json_t *j = json_real(finite_or_zero(v));
    return j ? j : json_null();
}

static json_t *jobject_text(const unsigned char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_loads((const char *)s, JSON_DECODE_ANY, NULL);
    if (!j)
        return json_null();
    if (!json_is_object(j)) {
        json_decref(j);
        return json_null();
    }
    return j;
}

static json_t *heal_row(sqlite3_stmt *st)
{
    json_t *h = json_object();
    if (!h)
        return NULL;
    sqlite3_int64 issue_id = sqlite3_column_int64(st, 1);
    json_object_set_new(h, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(h, "issue_id", sqlite3_column_type(st, 1) == SQLITE_NULL
                                           ? json_null()
                                           : json_integer(issue_id));
    json_object_set_new(h, "issue_type", jstr(sqlite3_column_text(st, 2)));
    json_object_set_new(h, "severity", jstr(sqlite3_column_text(st, 3)));
    json_object_set_new(h, "target", jstr(sqlite3_column_text(st, 4)));
    json_object_set_new(h, "plugin", jstr(sqlite3_column_text(st, 5)));
    json_object_set_new(h, "summary", jstr(sqlite3_column_text(st, 6)));
    json_object_set_new(h, "outcome", jstr(sqlite3_column_text(st, 7)));
    json_object_set_new(h, "reason", jstr(sqlite3_column_text(st, 8)));
    json_object_set_new(h, "dry_run", json_boolean(sqlite3_column_int(st, 9) != 0));
    json_object_set_new(h, "detected_at", jreal(sqlite3_column_double(st, 10)));
    json_object_set_new(h, "started_at", jreal(sqlite3_column_double(st, 11)));
    json_object_set_new(h, "finished_at", jreal(sqlite3_column_double(st, 12)));
    json_object_set_new(h, "duration_seconds", jreal(sqlite3_column_double(st, 13)));
    return h;
}

static json_t *action_row(sqlite3_stmt *st)
{
    json_t *a = json_object();
    if (!a)
        return NULL;
    json_object_set_new(a, "plugin", jstr(sqlite3_column_text(st, 0)));
    json_object_set_new(a, "action", jstr(sqlite3_column_text(st, 1)));
    json_object_set_new(a, "target", jstr(sqlite3_column_text(st, 2)));
    json_object_set_new(a, "outcome", jstr(sqlite3_column_text(st, 3)));
    json_object_set_new(a, "message", jstr(sqlite3_column_text(st, 4)));
    json_object_set_new(a, "started_at", jreal(sqlite3_column_double(st, 5)));
    json_object_set_new(a, "duration_seconds", jreal(sqlite3_column_double(st, 6)));
    json_object_set_new(a, "before", jobject_text(sqlite3_column_text(st, 7)));
    json_object_set_new(a, "after", jobject_text(sqlite3_column_text(st, 8)));
    return a;
}

json_t *knowledge_heals_json(knowledge *kb, int limit)
{
    if (!kb)
        return NULL;
    if (limit <= 0)
        limit = KB_HEALS_LIMIT_DEFAULT;
    if (limit > KB_HEALS_LIMIT_MAX)
        limit = KB_HEALS_LIMIT_MAX;
    json_t *heals = json_array();
    if (!heals)
        return NULL;
    pthread_mutex_lock(&kb->read_mtx);
    /* One read transaction: every heal and its actions from the same snapshot. */
    int rc = db_exec(kb->rdb, "BEGIN");
    sqlite3_bind_int(kb->sel_heals, 1, limit);
    while (rc == SQLITE_OK && (rc = sqlite3_step(kb->sel_heals)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        json_t *h = heal_row(kb->sel_heals);
        json_t *acts = json_array();
        if (!h || !acts) {
            json_decref(h);
            json_decref(acts);
            rc = SQLITE_NOMEM;
            break;
        }
        sqlite3_bind_int64(kb->sel_actions, 1, sqlite3_column_int64(kb->sel_heals, 0));
        int arc;
        while ((arc = sqlite3_step(kb->sel_actions)) == SQLITE_ROW)
            json_array_append_new(acts, action_row(kb->sel_actions));
        sqlite3_reset(kb->sel_actions);
        if (arc != SQLITE_DONE)
            rc = arc;
        json_object_set_new(h, "actions", acts);
        json_array_append_new(heals, h);
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    if (rc != SQLITE_OK)
        log_error(KB_WHO, "%s: reading heals: %s", kb->path, sqlite3_errmsg(kb->rdb));
    sqlite3_reset(kb->sel_heals);
    if (!sqlite3_get_autocommit(kb->rdb))
        db_exec(kb->rdb, "COMMIT");
    pthread_mutex_unlock(&kb->read_mtx);
    if (rc != SQLITE_OK) {
        json_decref(heals);
        return NULL;
    }
    json_t *out = json_object();
    if (!out || json_object_set_new(out, "heals", heals) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *knowledge_stats_json(knowledge *kb)
{
    if (!kb)
        return NULL;
    json_t *list = json_array();
    if (!list)
        return NULL;
    pthread_mutex_lock(&kb->read_mtx);
    int rc;
    while ((rc = sqlite3_step(kb->sel_stats)) == SQLITE_ROW) {
        sqlite3_int64 a = sqlite3_column_int64(kb->sel_stats, 2);
        sqlite3_int64 s = sqlite3_column_int64(kb->sel_stats, 3);
        uint64_t att = a > 0 ? (uint64_t)a : 0, suc = s > 0 ? (uint64_t)s : 0;
        json_t *e = json_object();
        if (!e)
            continue;
        json_object_set_new(e, "issue_type", jstr(sqlite3_column_text(kb->sel_stats, 0)));
        json_object_set_new(e, "action", jstr(sqlite3_column_text(kb->sel_stats, 1)));
        json_object_set_new(e, "attempts", json_integer((json_int_t)att));
        json_object_set_new(e, "successes", json_integer((json_int_t)suc));
        json_object_set_new(e, "confidence", jreal(knowledge_confidence(att, suc, 0.5)));
        json_array_append_new(list, e);
    }
    if (rc != SQLITE_DONE)
        log_error(KB_WHO, "%s: reading statistics: %s", kb->path, sqlite3_errmsg(kb->rdb));
    sqlite3_reset(kb->sel_stats);
    pthread_mutex_unlock(&kb->read_mtx);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        return NULL;
    }
    json_t *out = json_object();
    if (!out || json_object_set_new(out, "knowledge", list) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}
