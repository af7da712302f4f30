/* knowledge.c — the knowledge base: the writer thread and its bounded queue, the durable
 * one-heal path, the in-memory statistics, heal and issue ids that stay unique across restarts
 * and crashes, and the batched prune (open/schema in knowledge_open.c, JSON in knowledge_json.c). */
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
#include "knowledge_int.h"

#define KB_BATCH_MAX 1000
#define KB_BATCH_WAIT_NS (50L * 1000 * 1000)
/* Heals deleted per prune transaction: a few tens of ms of holding the write lock. */
#define KB_PRUNE_BATCH 1000

/* Test hooks (not in knowledge.h: nothing but tests may shrink the queue or stop the writer). */
void knowledge_test_set_queue_max(knowledge *kb, size_t max);
void knowledge_test_pause_writer(knowledge *kb, int paused);
const char *knowledge_test_sql(knowledge *kb, int which);

static const char PRUNE_HEALS_SQL[] =
    "DELETE FROM heals WHERE id IN (SELECT id FROM heals WHERE finished_at < ?1"
    " ORDER BY finished_at LIMIT ?2) RETURNING issue_id";
static const char PRUNE_ISSUE_SQL[] =
    "DELETE FROM issues WHERE id = ?1 AND detected_at < ?2 AND NOT EXISTS"
    " (SELECT 1 FROM heals WHERE issue_id = ?1)";

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

stat_entry *kb_stat_find(knowledge *kb, const char *type, const char *action, int create)
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
        stat_entry *e = kb_stat_find(kb, h->issue_type, a->action, sign > 0);
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

void kb_stats_free(knowledge *kb)
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
        stat_entry *e = kb_stat_find(kb, issue_type, action, 0);
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

static void deferred_release(kb_deferred *d)
{
    if (d->obj && d->release)
        d->release(d->obj);
    d->obj = NULL;
}

void kb_item_free(kb_item *it)
{
    deferred_release(&it->heal.decision_later);
    free(it->decision_text);
    free(it);
}

/* On the writer thread, before its transaction: the deferred decision becomes text. */
static void item_render(kb_item *it)
{
    kb_deferred *d = &it->heal.decision_later;
    if (d->obj && d->render && !it->decision_text) {
        it->decision_text = d->render(d->obj);
        it->heal.decision_json = it->decision_text;
    }
    deferred_release(d);
}

static kb_item *heal_copy(const kb_heal *h)
{
    size_t bytes = sizeof(kb_item) + h->n_actions * sizeof(kb_action);
    bytes += str_size(h->issue_type) + str_size(h->severity) + str_size(h->target) +
             str_size(h->plugin) + str_size(h->summary) + str_size(h->outcome) +
             str_size(h->reason) + str_size(h->decision_json);
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
    it->bytes = bytes + h->decision_later.approx_bytes;
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
    c->decision_json = str_copy(&cur, h->decision_json);
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

double kb_finite_or_zero(double v)
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
        return kb_finite_or_zero(h->finished_at - h->started_at);
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
        sqlite3_bind_double(st, 7, kb_finite_or_zero(h->detected_at));
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
    sqlite3_bind_double(st, 11, kb_finite_or_zero(h->detected_at));
    sqlite3_bind_double(st, 12, kb_finite_or_zero(h->started_at));
    sqlite3_bind_double(st, 13, kb_finite_or_zero(h->finished_at));
    sqlite3_bind_double(st, 14, heal_duration(h));
    bind_text(st, 15, h->decision_json);
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
        sqlite3_bind_double(st, 11, kb_finite_or_zero(a->started_at));
        sqlite3_bind_double(st, 12, kb_finite_or_zero(a->duration));
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

int kb_db_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

void kb_db_lock(knowledge *kb)
{
    atomic_fetch_add(&kb->db_waiters, 1);
    pthread_mutex_lock(&kb->db_mtx);
    atomic_fetch_sub(&kb->db_waiters, 1);
}

int kb_note_rc(knowledge *kb, int rc)
{
    if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
        atomic_store(&kb->saw_corrupt, 1);
    return rc;
}

/* One heal in its own transaction; rolls back (and logs, when asked) on failure. Under
 * db_mtx. */
static int db_write_one(knowledge *kb, const kb_heal *h, int log_failure)
{
    int rc = kb_db_exec(kb->wdb, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = db_write_heal(kb, h);
    if (rc == SQLITE_OK)
        rc = kb_db_exec(kb->wdb, "COMMIT");
    if (rc != SQLITE_OK) {
        kb_note_rc(kb, rc);
        if (log_failure)
            log_error(KB_WHO, "%s: heal %" PRIu64 " not stored: %s (sqlite %d)", kb->path,
                      h->id, sqlite3_errmsg(kb->wdb), rc);
        if (!sqlite3_get_autocommit(kb->wdb))
            kb_db_exec(kb->wdb, "ROLLBACK");
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
int kb_reserve_ids(knowledge *kb, id_counter *c, uint64_t value)
{
    kb_db_lock(kb);
    int rc = kb_db_exec(kb->wdb, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = db_set_meta(kb, c->meta_key, value);
    if (rc == SQLITE_OK)
        rc = kb_db_exec(kb->wdb, "COMMIT");
    if (rc != SQLITE_OK) {
        log_error(KB_WHO, "%s: cannot reserve %s up to %" PRIu64 ": %s", kb->path, c->meta_key,
                  value, sqlite3_errmsg(kb->wdb));
        if (!sqlite3_get_autocommit(kb->wdb))
            kb_db_exec(kb->wdb, "ROLLBACK");
    }
    pthread_mutex_unlock(&kb->db_mtx);
    return rc;
}

/* reserved only grows: the writer's reservation ahead and the synchronous one may cross. */
static void raise_reserved(id_counter *c, uint64_t value)
{
    uint64_t cur = atomic_load(&c->reserved);
    while (cur < value && !atomic_compare_exchange_weak(&c->reserved, &cur, value))
        ;
}

static uint64_t next_id(knowledge *kb, id_counter *c)
{
    uint64_t id = atomic_fetch_add(&c->last, 1) + 1;
    uint64_t reserved = atomic_load(&c->reserved);
    if (id <= reserved) {
        /* Half the block used: the writer reserves the next one with its next batch. Until
         * that commit, ids still come only from what is on disk. */
        uint64_t ahead = atomic_load(&c->ahead);
        if (reserved - id < KB_ID_BLOCK / 2 && ahead <= reserved)
            atomic_compare_exchange_strong(&c->ahead, &ahead, reserved + KB_ID_BLOCK);
        return id;
    }
    /* Ran out first (the writer idle, or its batch failed): reserve here, as before. */
    pthread_mutex_lock(&kb->id_mtx);
    if (id > atomic_load(&c->reserved)) {
        uint64_t want = id + KB_ID_BLOCK;
        /* On failure (disk full) the id is still unique within this run and beyond every id
         * stored; the error is logged, and the next block tries again. */
        kb_reserve_ids(kb, c, want);
        raise_reserved(c, want);
    }
    pthread_mutex_unlock(&kb->id_mtx);
    return id;
}

/* In the writer's batch transaction: the reservations asked ahead, written with the heals.
 * took[i] is what to raise `reserved` to once the commit is durable (0: nothing). */
static int writer_reserve_ahead(knowledge *kb, uint64_t took[2])
{
    id_counter *cs[2] = {&kb->heal_ids, &kb->issue_ids};
    int rc = SQLITE_OK;
    for (int i = 0; i < 2; i++) {
        took[i] = 0;
        uint64_t want = atomic_load(&cs[i]->ahead);
        if (!want || want <= atomic_load(&cs[i]->reserved) || rc != SQLITE_OK)
            continue;
        /* never lower than what is on disk: a synchronous reservation may be beyond it */
        char sql[200];
        snprintf(sql, sizeof sql,
                 "INSERT INTO meta (key, value) VALUES ('%s', %" PRIu64 ")"
                 " ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                 cs[i]->meta_key, want);
        rc = kb_db_exec(kb->wdb, sql);
        if (rc == SQLITE_OK)
            took[i] = want;
    }
    return rc;
}

static void writer_reserved(knowledge *kb, const uint64_t took[2])
{
    id_counter *cs[2] = {&kb->heal_ids, &kb->issue_ids};
    for (int i = 0; i < 2; i++)
        if (took[i]) {
            raise_reserved(cs[i], took[i]);
            /* answered: next_id may ask for the block after it */
            uint64_t asked = took[i];
            atomic_compare_exchange_strong(&cs[i]->ahead, &asked, 0);
        }
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
    for (kb_item *it = batch; it; it = it->next)
        item_render(it);
    kb_db_lock(kb);
    uint64_t took[2] = {0, 0};
    int rc = kb_db_exec(kb->wdb, "BEGIN IMMEDIATE");
    for (kb_item *it = batch; it && rc == SQLITE_OK; it = it->next)
        rc = db_write_heal(kb, &it->heal);
    if (rc == SQLITE_OK)
        rc = writer_reserve_ahead(kb, took);
    if (rc == SQLITE_OK)
        rc = kb_db_exec(kb->wdb, "COMMIT");
    if (rc == SQLITE_OK)
        writer_reserved(kb, took);
    uint64_t failed_seq = 0;
    if (rc != SQLITE_OK) {
        kb_note_rc(kb, rc);
        /* One bad heal (a duplicate id) must not lose the other 999: redo them one by one and
         * give up only on those that fail alone. */
        log_warn(KB_WHO, "%s: batch failed (%s); retrying its heals one by one", kb->path,
                 sqlite3_errmsg(kb->wdb));
        if (!sqlite3_get_autocommit(kb->wdb))
            kb_db_exec(kb->wdb, "ROLLBACK");
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
        kb_item_free(it);
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

void *kb_writer_main(void *arg)
{
    knowledge *kb = arg;
    pthread_setname_np(pthread_self(), "hd-kb-writer"); /* as top -H and perf show it */
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

/* The caller's deferred decision is ours from the call on, whatever happens. */
static void heal_release(const kb_heal *heal)
{
    if (heal) {
        kb_deferred d = heal->decision_later;
        deferred_release(&d);
    }
}

int knowledge_record_heal(knowledge *kb, const kb_heal *heal)
{
    if (!kb || !heal_valid(heal)) {
        heal_release(heal);
        return HEALER_E_INVAL;
    }
    kb_item *it = heal_copy(heal);
    if (!it) {
        log_error(KB_WHO, "out of memory queueing heal %" PRIu64, heal->id);
        heal_release(heal);
        return HEALER_E_NOMEM;
    }
    clock_gettime(CLOCK_MONOTONIC, &it->queued);
    pthread_mutex_lock(&kb->q_mtx);
    if (kb->stop) {
        pthread_mutex_unlock(&kb->q_mtx);
        kb_item_free(it);
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
        kb_item_free(it);
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
    if (!kb || !heal_valid(heal)) {
        heal_release(heal);
        return HEALER_E_INVAL;
    }
    kb_heal h = *heal;
    char *text = NULL;
    if (h.decision_later.obj && h.decision_later.render)
        h.decision_json = text = h.decision_later.render(h.decision_later.obj);
    deferred_release(&h.decision_later);
    kb_db_lock(kb);
    int rc = db_write_one(kb, &h, 1);
    pthread_mutex_unlock(&kb->db_mtx);
    free(text);
    if (rc != SQLITE_OK)
        return HEALER_E_IO;
    stats_apply(kb, heal, +1);
    return HEALER_OK;
}

int knowledge_write_sync(knowledge *kb, int (*fn)(sqlite3 *db, void *arg), void *arg)
{
    if (!kb || !fn)
        return HEALER_E_INVAL;
    kb_db_lock(kb);
    int rc = kb_db_exec(kb->wdb, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = fn(kb->wdb, arg);
    if (rc == SQLITE_OK)
        rc = kb_db_exec(kb->wdb, "COMMIT");
    if (rc != SQLITE_OK) {
        kb_note_rc(kb, rc);
        log_error(KB_WHO, "%s: write failed: %s (sqlite %d)", kb->path, sqlite3_errmsg(kb->wdb), rc);
        if (!sqlite3_get_autocommit(kb->wdb))
            kb_db_exec(kb->wdb, "ROLLBACK");
    }
    pthread_mutex_unlock(&kb->db_mtx);
    return rc == SQLITE_OK ? HEALER_OK : HEALER_E_IO;
}

/* One batch of the prune, in its own transaction (under db_mtx): up to KB_PRUNE_BATCH of the
 * oldest heals before `before` (heals_by_finished), their actions by cascade, then those of
 * their issues no heal refers to any more (heals_by_issue): the cost is what is removed, never
 * the size of the table. *n gets the heals deleted. */
static int prune_batch(knowledge *kb, double before, uint64_t *n)
{
    sqlite3_int64 issues[KB_PRUNE_BATCH];
    size_t n_issues = 0;
    *n = 0;
    sqlite3_stmt *del = NULL, *orphan = NULL;
    int rc = kb_db_exec(kb->wdb, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(kb->wdb, PRUNE_HEALS_SQL, -1, &del, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_double(del, 1, before);
        sqlite3_bind_int(del, 2, KB_PRUNE_BATCH);
        while ((rc = sqlite3_step(del)) == SQLITE_ROW) {
            (*n)++;
            if (sqlite3_column_type(del, 0) != SQLITE_NULL && n_issues < KB_PRUNE_BATCH)
                issues[n_issues++] = sqlite3_column_int64(del, 0);
        }
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc == SQLITE_OK && n_issues)
        rc = sqlite3_prepare_v2(kb->wdb, PRUNE_ISSUE_SQL, -1, &orphan, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n_issues; i++) {
        /* Repeats (several heals of one issue) find nothing the second time. */
        sqlite3_bind_int64(orphan, 1, issues[i]);
        sqlite3_bind_double(orphan, 2, before);
        rc = step_done(orphan);
    }
    sqlite3_finalize(del);
    sqlite3_finalize(orphan);
    if (rc == SQLITE_OK)
        rc = kb_db_exec(kb->wdb, "COMMIT");
    if (rc != SQLITE_OK) {
        kb_note_rc(kb, rc);
        log_error(KB_WHO, "%s: pruning old heals failed: %s", kb->path, sqlite3_errmsg(kb->wdb));
        if (!sqlite3_get_autocommit(kb->wdb))
            kb_db_exec(kb->wdb, "ROLLBACK");
        *n = 0;
    }
    return rc;
}

int knowledge_prune(knowledge *kb, double before, uint64_t *removed)
{
    if (removed)
        *removed = 0;
    if (!kb || !isfinite(before))
        return HEALER_E_INVAL;
    uint64_t total = 0, n;
    int rc;
    do {
        pthread_mutex_lock(&kb->db_mtx);
        rc = prune_batch(kb, before, &n);
        pthread_mutex_unlock(&kb->db_mtx);
        total += n;
        /* A mutex is not fair: unlocking and locking again at once could starve the writer
         * and the durable path for the whole prune. Whoever queued on the lock meanwhile
         * goes first (bounded: a stuck holder never stops the prune). */
        for (int i = 0; i < 200 && n == KB_PRUNE_BATCH && atomic_load(&kb->db_waiters) > 0; i++)
            usleep(500);
    } while (rc == SQLITE_OK && n == KB_PRUNE_BATCH);
    if (removed)
        *removed = total; /* the batches committed before a failure stay removed */
    return rc == SQLITE_OK ? HEALER_OK : HEALER_E_IO;
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

/* The statements whose query plans the tests check: 0 the heals page, 1 its actions, 2 and 3
 * the prune's deletes. */
const char *knowledge_test_sql(knowledge *kb, int which)
{
    switch (which) {
    case 0: return sqlite3_sql(kb->sel_heals);
    case 1: return sqlite3_sql(kb->sel_actions);
    case 2: return PRUNE_HEALS_SQL;
    case 3: return PRUNE_ISSUE_SQL;
    default: return NULL;
    }
}
