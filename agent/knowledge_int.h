/* knowledge_int.h — private to knowledge.c, knowledge_open.c and knowledge_json.c: the
 * struct knowledge, its queue items, statistics entries and id counters, and the helpers
 * the three files share. */
#ifndef HEALER_KNOWLEDGE_INT_H
#define HEALER_KNOWLEDGE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "knowledge.h"

#define KB_WHO "knowledge"
/* Bounds of the queue: entries and bytes, so a burst of huge messages cannot eat memory
 * either. */
#define KB_QUEUE_MAX_DEFAULT 100000
#define KB_QUEUE_BYTES_MAX ((size_t)256 << 20)
/* Ids are reserved on disk in blocks before they are handed out (an id may reach the audit
 * log before its heal reaches the database); a crash costs at most one block of unused ids,
 * a clean close none. */
#define KB_ID_BLOCK 10000

/* One queued heal: the kb_heal, its actions and every string live in this one allocation. */
typedef struct kb_item {
    struct kb_item *next;
    uint64_t seq;
    size_t bytes;
    struct timespec queued; /* CLOCK_MONOTONIC, for the batch window */
    char *decision_text;    /* heal.decision_later rendered by the writer (malloc'd) */
    kb_heal heal;
} kb_item;

/* Frees a queued heal with what it owns (a deferred decision not yet rendered). */
void kb_item_free(kb_item *it);

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
    /* The next reservation, asked of the writer once half the block is used (0: none): it
     * goes into the writer's next batch transaction, so the engine thread does not wait for
     * a commit of its own (and for the writer's batch before it) every KB_ID_BLOCK ids. */
    _Atomic uint64_t ahead;
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
    /* Set when any statement met SQLITE_CORRUPT/NOTADB: close then leaves the file unmarked,
     * so the next open runs the full check. */
    _Atomic int saw_corrupt;
    _Atomic int db_waiters; /* threads waiting for db_mtx (kb_db_lock): the prune yields to them */
    /* The peers' counters (knowledge_fleet.c); NULL until the fleet is enabled, then kept to
     * the close. */
    struct kb_fleet *_Atomic fleet;
};

stat_entry *kb_stat_find(knowledge *kb, const char *type, const char *action, int create);
void kb_stats_free(knowledge *kb);
void kb_fleet_free(knowledge *kb); /* knowledge_fleet.c */
int kb_db_exec(sqlite3 *db, const char *sql);
double kb_finite_or_zero(double v);
int kb_reserve_ids(knowledge *kb, id_counter *c, uint64_t value);
void *kb_writer_main(void *arg);
/* Notes rc in kb->saw_corrupt when it says the file is damaged; returns rc. */
int kb_note_rc(knowledge *kb, int rc);
/* Locks db_mtx, counted in db_waiters while waiting. */
void kb_db_lock(knowledge *kb);

#endif
