/* knowledge_fleet.c — the knowledge base's share of the fleet: the listed peers' counters in
 * knowledge.db's fleet_stats (node, issue type, action, attempts, successes), merged by maximum
 * of attempts and of failures in memory (fleet_merge.c) and on disk, their sums and weight for
 * the planner, and this node's own statistics as rows to send. Never touches the local
 * statistics. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_merge.h"
#include "healer/types.h"
#include "knowledge_int.h"
#include "log.h"

struct kb_fleet {
    pthread_mutex_t mtx;
    fleet_table *t;
    double weight;
};

static const char FLEET_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS fleet_stats ("
    "  node TEXT NOT NULL, issue_type TEXT NOT NULL, action TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0, successes INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (node, issue_type, action)) WITHOUT ROWID";

void kb_fleet_free(knowledge *kb)
{
    struct kb_fleet *f = atomic_load(&kb->fleet);
    if (!f)
        return;
    fleet_table_free(f->t);
    pthread_mutex_destroy(&f->mtx);
    free(f);
    atomic_store(&kb->fleet, NULL);
}

static int create_table(sqlite3 *db, void *arg)
{
    (void)arg;
    return sqlite3_exec(db, FLEET_SCHEMA, NULL, NULL, NULL);
}

static int listed(const char *node, const char *const *peers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(node, peers[i]) == 0)
            return 1;
    return 0;
}

/* The listed peers' rows of fleet_stats into a fresh table (on the write connection). */
static int load_rows(knowledge *kb, fleet_table *t, const char *const *peers, size_t n_peers)
{
    kb_db_lock(kb);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(kb->wdb,
                                "SELECT node, issue_type, action, attempts, successes "
                                "FROM fleet_stats", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *node = (const char *)sqlite3_column_text(st, 0);
            const char *type = (const char *)sqlite3_column_text(st, 1);
            const char *action = (const char *)sqlite3_column_text(st, 2);
            sqlite3_int64 a = sqlite3_column_int64(st, 3), s = sqlite3_column_int64(st, 4);
            if (!node || !type || !action || !listed(node, peers, n_peers))
                continue; /* a peer no longer listed has no say */
            if (fleet_table_merge(t, node, type, action, a > 0 ? (uint64_t)a : 0,
                                  s > 0 && s <= a ? (uint64_t)s : 0) < 0) {
                rc = SQLITE_NOMEM;
                break;
            }
        }
    }
    if (rc != SQLITE_DONE)
        log_error(KB_WHO, "%s: loading fleet_stats: %s", kb->path, sqlite3_errmsg(kb->wdb));
    sqlite3_finalize(st);
    pthread_mutex_unlock(&kb->db_mtx);
    return rc == SQLITE_DONE ? HEALER_OK : HEALER_E_IO;
}

int knowledge_fleet_enable(knowledge *kb, const char *const *peers, size_t n_peers,
                           double weight)
{
    if (!kb)
        return HEALER_E_INVAL;
    if (knowledge_write_sync(kb, create_table, NULL) != HEALER_OK)
        return HEALER_E_IO;
    fleet_table *t = fleet_table_new();
    if (!t)
        return HEALER_E_NOMEM;
    int rc = load_rows(kb, t, peers, n_peers);
    if (rc != HEALER_OK) {
        fleet_table_free(t);
        return rc;
    }
    struct kb_fleet *f = atomic_load(&kb->fleet);
    if (f) { /* again (a reload): the listed peers' rows replace what was there */
        pthread_mutex_lock(&f->mtx);
        fleet_table_free(f->t);
        f->t = t;
        f->weight = weight;
        pthread_mutex_unlock(&f->mtx);
        return HEALER_OK;
    }
    f = calloc(1, sizeof *f);
    if (!f) {
        fleet_table_free(t);
        return HEALER_E_NOMEM;
    }
    pthread_mutex_init(&f->mtx, NULL);
    f->t = t;
    f->weight = weight;
    atomic_store(&kb->fleet, f);
    return HEALER_OK;
}

void knowledge_fleet_set_weight(knowledge *kb, double weight)
{
    struct kb_fleet *f = kb ? atomic_load(&kb->fleet) : NULL;
    if (!f)
        return;
    pthread_mutex_lock(&f->mtx);
    f->weight = weight;
    pthread_mutex_unlock(&f->mtx);
}

typedef struct upsert_arg {
    const fleet_state *st;
    const unsigned char *grew; /* per row of st */
} upsert_arg;

static int upsert(sqlite3 *db, void *arg)
{
    const upsert_arg *u = arg;
    sqlite3_stmt *ins = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO fleet_stats VALUES (?1, ?2, ?3, ?4, ?5) "
                                "ON CONFLICT (node, issue_type, action) DO UPDATE SET "
                                "attempts = max(attempts, excluded.attempts), "
                                /* the failures' maximum, as fleet_merge.c: a relapse lowers
                                 * successes (both sides read the row as it was) */
                                "successes = max(attempts, excluded.attempts) - "
                                "max(attempts - successes, excluded.attempts - excluded.successes)",
                                -1, &ins, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < u->st->n; i++) {
        if (!u->grew[i])
            continue;
        const fleet_row *r = &u->st->rows[i];
        sqlite3_bind_text(ins, 1, u->st->node, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, r->type, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, r->action, -1, SQLITE_STATIC);
        /* SQLite's integers are signed: a counter past 2^63 is stored as its largest */
        sqlite3_bind_int64(ins, 4, r->attempts > INT64_MAX ? INT64_MAX : (sqlite3_int64)r->attempts);
        sqlite3_bind_int64(ins, 5,
                           r->successes > INT64_MAX ? INT64_MAX : (sqlite3_int64)r->successes);
        rc = sqlite3_step(ins);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    return rc;
}

int knowledge_fleet_merge(knowledge *kb, const fleet_state *st, size_t *grew)
{
    struct kb_fleet *f = kb ? atomic_load(&kb->fleet) : NULL;
    *grew = 0;
    if (!f)
        return HEALER_E_INVAL;
    unsigned char *g = calloc(st->n ? st->n : 1, 1);
    if (!g)
        return HEALER_E_NOMEM;
    int rc = HEALER_OK;
    pthread_mutex_lock(&f->mtx);
    for (size_t i = 0; i < st->n; i++) {
        int r = fleet_table_merge(f->t, st->node, st->rows[i].type, st->rows[i].action,
                                  st->rows[i].attempts, st->rows[i].successes);
        if (r < 0) {
            rc = HEALER_E_NOMEM; /* or the table's bound: the rest waits for the next state */
            break;
        }
        g[i] = (unsigned char)r;
        *grew += (size_t)r;
    }
    pthread_mutex_unlock(&f->mtx);
    /* Memory first, disk after: both only grow, so a failed write is made good by the peer's
     * next state (it re-sends everything every interval). */
    if (*grew) {
        upsert_arg u = {st, g};
        int w = knowledge_write_sync(kb, upsert, &u);
        if (rc == HEALER_OK)
            rc = w;
    }
    free(g);
    return rc;
}

void knowledge_fleet_sums(knowledge *kb, const char *issue_type, const char *action,
                          uint64_t *attempts, uint64_t *successes, double *weight)
{
    struct kb_fleet *f = kb ? atomic_load(&kb->fleet) : NULL;
    *attempts = *successes = 0;
    *weight = 0;
    if (!f || !issue_type || !action)
        return;
    pthread_mutex_lock(&f->mtx);
    fleet_table_sums(f->t, issue_type, action, attempts, successes);
    *weight = f->weight;
    pthread_mutex_unlock(&f->mtx);
}

size_t knowledge_fleet_rows(knowledge *kb)
{
    struct kb_fleet *f = kb ? atomic_load(&kb->fleet) : NULL;
    if (!f)
        return 0;
    pthread_mutex_lock(&f->mtx);
    size_t n = fleet_table_rows(f->t);
    pthread_mutex_unlock(&f->mtx);
    return n;
}

int knowledge_local_rows(knowledge *kb, fleet_row **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    pthread_mutex_lock(&kb->stats_mtx);
    size_t count = 0, bytes = 0;
    for (size_t i = 0; i < kb->n_buckets; i++)
        for (stat_entry *e = kb->buckets[i]; e; e = e->next) {
            size_t al = strlen(e->key + e->type_len + 1);
            if (!e->attempts || e->type_len > FLEET_NAME_MAX || al > FLEET_NAME_MAX)
                continue; /* never tried, or a name a peer would refuse */
            count++;
            bytes += e->type_len + al + 2;
        }
    char *mem = malloc(count * sizeof(fleet_row) + bytes + 1);
    if (!mem) {
        pthread_mutex_unlock(&kb->stats_mtx);
        return HEALER_E_NOMEM;
    }
    fleet_row *r = (fleet_row *)mem;
    char *s = mem + count * sizeof(fleet_row);
    size_t k = 0;
    for (size_t i = 0; i < kb->n_buckets; i++)
        for (stat_entry *e = kb->buckets[i]; e; e = e->next) {
            const char *action = e->key + e->type_len + 1;
            size_t al = strlen(action);
            if (!e->attempts || e->type_len > FLEET_NAME_MAX || al > FLEET_NAME_MAX)
                continue;
            memcpy(s, e->key, e->type_len + 1);
            r[k].type = s;
            s += e->type_len + 1;
            memcpy(s, action, al + 1);
            r[k].action = s;
            s += al + 1;
            r[k].attempts = e->attempts;
            r[k].successes = e->successes <= e->attempts ? e->successes : e->attempts;
            k++;
        }
    pthread_mutex_unlock(&kb->stats_mtx);
    *rows = r;
    *n = k;
    return HEALER_OK;
}
