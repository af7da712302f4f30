/* knowledge_json.c — the read-side JSON views of the knowledge base for the HTTP API: recent
 * heals with their actions, and the per (type, action) statistics. Reads go through the
 * read-only connection under read_mtx. */
#include "knowledge.h"
#include "sanitize_json.h"

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

#define KB_HEALS_LIMIT_DEFAULT 50
#define KB_HEALS_LIMIT_MAX 1000

/* ------------------------------------------------------------------ JSON views */

static json_t *jstr(const unsigned char *s)
{
    /* Not UTF-8 or with control bytes (a file name, a process name, a command's output):
     * escaped by the sanitizer, never dropped (jansson refuses invalid UTF-8). */
    return sanitize_json_str((const char *)s);
}

static json_t *jreal(double v)
{
    json_t *j = json_real(kb_finite_or_zero(v));
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

/* Column 0 is heal_id; the action's fields start at 1. */
static json_t *action_row(sqlite3_stmt *st)
{
    json_t *a = json_object();
    if (!a)
        return NULL;
    json_object_set_new(a, "plugin", jstr(sqlite3_column_text(st, 1)));
    json_object_set_new(a, "action", jstr(sqlite3_column_text(st, 2)));
    json_object_set_new(a, "target", jstr(sqlite3_column_text(st, 3)));
    json_object_set_new(a, "outcome", jstr(sqlite3_column_text(st, 4)));
    json_object_set_new(a, "message", jstr(sqlite3_column_text(st, 5)));
    json_object_set_new(a, "started_at", jreal(sqlite3_column_double(st, 6)));
    json_object_set_new(a, "duration_seconds", jreal(sqlite3_column_double(st, 7)));
    json_object_set_new(a, "before", jobject_text(sqlite3_column_text(st, 8)));
    json_object_set_new(a, "after", jobject_text(sqlite3_column_text(st, 9)));
    return a;
}

/* The page's heals, newest first, each with an empty "actions" array; ids[i] is heals[i]'s. */
static int read_heals(knowledge *kb, int limit, json_t *heals, sqlite3_int64 *ids)
{
    int rc;
    size_t n = 0;
    sqlite3_bind_int(kb->sel_heals, 1, limit);
    while ((rc = sqlite3_step(kb->sel_heals)) == SQLITE_ROW) {
        json_t *h = heal_row(kb->sel_heals);
        /* The _new calls take their argument's reference even when they fail. */
        if (h && json_object_set_new(h, "actions", json_array()) != 0) {
            json_decref(h);
            h = NULL;
        }
        if (!h || json_array_append_new(heals, h) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        ids[n++] = sqlite3_column_int64(kb->sel_heals, 0);
    }
    sqlite3_reset(kb->sel_heals);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The actions of the page in one range scan, ascending by heal id, matched to the heals
 * (descending) from the end of the page. */
static int read_actions(knowledge *kb, json_t *heals, const sqlite3_int64 *ids)
{
    size_t n = json_array_size(heals);
    if (n == 0)
        return SQLITE_OK;
    sqlite3_bind_int64(kb->sel_actions, 1, ids[n - 1]);
    sqlite3_bind_int64(kb->sel_actions, 2, ids[0]);
    size_t k = n; /* heals[k - 1] is the candidate: the lowest id not passed yet */
    int rc;
    while ((rc = sqlite3_step(kb->sel_actions)) == SQLITE_ROW) {
        sqlite3_int64 hid = sqlite3_column_int64(kb->sel_actions, 0);
        while (k > 0 && ids[k - 1] < hid)
            k--;
        if (k == 0 || ids[k - 1] != hid)
            continue; /* not on the page (cannot happen within one snapshot; harmless) */
        json_t *a = action_row(kb->sel_actions);
        if (!a || json_array_append_new(json_object_get(json_array_get(heals, k - 1), "actions"),
                                        a) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(kb->sel_actions);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
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
    sqlite3_int64 *ids = malloc((size_t)limit * sizeof *ids);
    if (!heals || !ids) {
        json_decref(heals);
        free(ids);
        return NULL;
    }
    pthread_mutex_lock(&kb->read_mtx);
    /* One read transaction: every heal and its actions from the same snapshot (which is also
     * what makes the page's id range hold exactly its heals). */
    int rc = kb_db_exec(kb->rdb, "BEGIN");
    if (rc == SQLITE_OK)
        rc = read_heals(kb, limit, heals, ids);
    if (rc == SQLITE_OK)
        rc = read_actions(kb, heals, ids);
    if (rc != SQLITE_OK) {
        kb_note_rc(kb, rc);
        log_error(KB_WHO, "%s: reading heals: %s", kb->path,
                  rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(kb->rdb));
    }
    if (!sqlite3_get_autocommit(kb->rdb))
        kb_db_exec(kb->rdb, "COMMIT");
    pthread_mutex_unlock(&kb->read_mtx);
    free(ids);
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

/* ------------------------------------------------------------------ one heal, one issue */

#define HEAL_COLUMNS                                                                          \
    "SELECT id, issue_id, issue_type, severity, target, plugin, summary, outcome, reason,"    \
    " dry_run, detected_at, started_at, finished_at, duration, decision FROM heals"

/* A statement of the read connection made for one look-up (these are not on a hot path). */
static int read_one(knowledge *kb, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(kb->rdb, sql, -1, st, NULL);
    if (rc != SQLITE_OK)
        log_error(KB_WHO, "%s: %s", kb->path, sqlite3_errmsg(kb->rdb));
    return rc;
}

static int fill_heal(knowledge *kb, uint64_t id, json_t **out)
{
    sqlite3_stmt *st = NULL, *sa = NULL;
    int rc = read_one(kb, HEAL_COLUMNS " WHERE id = ?1", &st);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? SQLITE_NOTFOUND : rc;
    }
    json_t *h = heal_row(st);
    json_t *acts = json_array();
    if (h) {
        json_object_set_new(h, "decision", jobject_text(sqlite3_column_text(st, 14)));
        json_object_set_new(h, "actions", acts ? json_incref(acts) : json_array());
    }
    sqlite3_finalize(st);
    rc = h ? read_one(kb, "SELECT heal_id, plugin, action, target, outcome, message, started_at,"
                          " duration, before_json, after_json FROM heal_actions"
                          " WHERE heal_id = ?1 ORDER BY seq", &sa)
           : SQLITE_NOMEM;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(sa, 1, (sqlite3_int64)id);
        while ((rc = sqlite3_step(sa)) == SQLITE_ROW)
            json_array_append_new(acts, action_row(sa));
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(sa);
    json_decref(acts);
    if (rc != SQLITE_OK) {
        json_decref(h);
        return rc;
    }
    *out = h;
    return SQLITE_OK;
}

/* Runs fill under read_mtx in one read transaction; maps SQLite's answer to a healer rc. */
static int read_locked(knowledge *kb, int (*fill)(knowledge *, uint64_t, int, json_t **),
                       uint64_t id, int limit, json_t **out, const char *what)
{
    *out = NULL;
    if (!kb)
        return HEALER_E_NOTFOUND;
    knowledge_flush(kb);
    pthread_mutex_lock(&kb->read_mtx);
    int rc = kb_db_exec(kb->rdb, "BEGIN");
    if (rc == SQLITE_OK)
        rc = fill(kb, id, limit, out);
    if (!sqlite3_get_autocommit(kb->rdb))
        kb_db_exec(kb->rdb, "COMMIT");
    if (rc != SQLITE_OK && rc != SQLITE_NOTFOUND) {
        kb_note_rc(kb, rc);
        log_error(KB_WHO, "%s: reading %s %" PRIu64 ": %s", kb->path, what, id,
                  rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(kb->rdb));
    }
    pthread_mutex_unlock(&kb->read_mtx);
    return rc == SQLITE_OK ? HEALER_OK : rc == SQLITE_NOTFOUND ? HEALER_E_NOTFOUND : HEALER_E_IO;
}

static int fill_heal_l(knowledge *kb, uint64_t id, int limit, json_t **out)
{
    (void)limit;
    return fill_heal(kb, id, out);
}

int knowledge_heal_json(knowledge *kb, uint64_t id, json_t **out)
{
    return read_locked(kb, fill_heal_l, id, 0, out, "heal");
}

static int fill_issue(knowledge *kb, uint64_t id, int limit, json_t **out)
{
    sqlite3_stmt *st = NULL;
    int rc = read_one(kb, "SELECT id, type, severity, target, plugin, summary, detected_at, heals"
                          " FROM issues WHERE id = ?1", &st);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? SQLITE_NOTFOUND : rc;
    }
    json_t *o = json_object();
    if (o) {
        json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(o, "type", jstr(sqlite3_column_text(st, 1)));
        json_object_set_new(o, "severity", jstr(sqlite3_column_text(st, 2)));
        json_object_set_new(o, "target", jstr(sqlite3_column_text(st, 3)));
        json_object_set_new(o, "plugin", jstr(sqlite3_column_text(st, 4)));
        json_object_set_new(o, "summary", jstr(sqlite3_column_text(st, 5)));
        json_object_set_new(o, "detected_at", jreal(sqlite3_column_double(st, 6)));
        json_object_set_new(o, "heal_count", json_integer(sqlite3_column_int64(st, 7)));
    }
    sqlite3_finalize(st);
    if (!o)
        return SQLITE_NOMEM;
    json_t *list = json_array();
    rc = read_one(kb, HEAL_COLUMNS " WHERE issue_id = ?1 ORDER BY id DESC LIMIT ?2", &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
        sqlite3_bind_int(st, 2, limit > 0 ? limit : 20);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            json_array_append_new(list, heal_row(st));
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    json_object_set_new(o, "heals", list ? list : json_array());
    if (rc != SQLITE_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return SQLITE_OK;
}

int knowledge_issue_json(knowledge *kb, uint64_t id, int limit, json_t **out)
{
    return read_locked(kb, fill_issue, id, limit, out, "issue");
}
