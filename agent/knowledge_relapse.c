/* knowledge_relapse.c — a heal recorded healed whose issue came back within
 * limits.relapse_window_s is re-recorded as relapsed: outcome "relapsed" in heals (so
 * /api/v1/heals shows it), its succeeding actions no longer successes, and one success fewer in
 * the (type, action) statistics on disk and in memory, so the planner and the ladder learn it. */
#include "knowledge_int.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define RELAPSE_ACTIONS_MAX 16

typedef struct relapse_tx {
    uint64_t heal_id;
    const char *reason;
    char *type;
    char *actions[RELAPSE_ACTIONS_MAX];
    int n_actions;
    int changed;
} relapse_tx;

static int step_prepared(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(db, sql, -1, st, NULL);
}

static int tx_relapse(sqlite3 *db, void *arg)
{
    relapse_tx *r = arg;
    sqlite3_stmt *st = NULL;
    int rc = step_prepared(db, "SELECT issue_type FROM heals WHERE id = ?1 AND outcome = 'healed'"
                               " AND dry_run = 0", &st);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)r->heal_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        r->type = strdup(t ? (const char *)t : "");
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return SQLITE_OK; /* not (or no longer) a healed heal: nothing to take back */
    if (rc != SQLITE_ROW || !r->type)
        return rc == SQLITE_ROW ? SQLITE_NOMEM : rc;
    rc = step_prepared(db, "SELECT action FROM heal_actions WHERE heal_id = ?1 AND success = 1",
                       &st);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)r->heal_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && r->n_actions < RELAPSE_ACTIONS_MAX) {
        const unsigned char *a = sqlite3_column_text(st, 0);
        char *d = strdup(a ? (const char *)a : "");
        if (!d) {
            rc = SQLITE_NOMEM;
            break;
        }
        r->actions[r->n_actions++] = d;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return rc;
    static const char *const upd[] = {
        "UPDATE heals SET outcome = 'relapsed', reason = ?2 WHERE id = ?1",
        "UPDATE heal_actions SET success = 0, outcome = 'relapsed' WHERE heal_id = ?1 AND "
        "success = 1",
    };
    for (size_t i = 0; i < 2; i++) {
        if ((rc = step_prepared(db, upd[i], &st)) != SQLITE_OK)
            return rc;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)r->heal_id);
        if (i == 0)
            sqlite3_bind_text(st, 2, r->reason, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    for (int i = 0; i < r->n_actions; i++) {
        rc = step_prepared(db, "UPDATE stats SET successes = successes - 1 WHERE issue_type = ?1"
                               " AND action = ?2 AND successes > 0", &st);
        if (rc != SQLITE_OK)
            return rc;
        sqlite3_bind_text(st, 1, r->type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->actions[i], -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    r->changed = 1;
    return SQLITE_OK;
}

int knowledge_mark_relapsed(knowledge *kb, uint64_t heal_id, const char *reason)
{
    if (!kb || !heal_id)
        return HEALER_E_INVAL;
    /* the heal may still sit in the writer's queue: it must be on disk before it is changed */
    knowledge_flush(kb);
    relapse_tx r = { .heal_id = heal_id, .reason = reason ? reason : "relapsed" };
    int rc = knowledge_write_sync(kb, tx_relapse, &r);
    if (rc == HEALER_OK && r.changed) {
        pthread_mutex_lock(&kb->stats_mtx);
        for (int i = 0; i < r.n_actions; i++) {
            stat_entry *e = kb_stat_find(kb, r.type, r.actions[i], 0);
            if (e && e->successes)
                e->successes--;
        }
        pthread_mutex_unlock(&kb->stats_mtx);
    }
    for (int i = 0; i < r.n_actions; i++)
        free(r.actions[i]);
    free(r.type);
    if (rc != HEALER_OK)
        return rc;
    return r.changed ? HEALER_OK : HEALER_E_NOTFOUND;
}
