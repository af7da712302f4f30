/* govstore.c — the governor's state in knowledge.db: every live commit (hour and day windows,
 * the cooldown with its end and severity), pause, snoozes and confirmation streaks, written
 * synchronously through knowledge_write_sync; and the load at start. The governor stays pure
 * logic; this is its only tie to SQLite. */
#include "govstore.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "healer/types.h"
#include "log.h"

#define DAY 86400.0

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Prepares sql, binds with `bind`, steps once, finalizes. */
typedef void (*binder)(sqlite3_stmt *st, const void *arg);

static int run1(sqlite3 *db, const char *sql, binder bind, const void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        if (bind)
            bind(st, arg);
        rc = step_done(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static void bind_now(sqlite3_stmt *st, const void *arg)
{
    sqlite3_bind_double(st, 1, *(const double *)arg);
}

/* Expired rows go in the same transaction as each commit: the tables stay as small as the
 * state they hold. */
static int prune(sqlite3 *db, double now)
{
    double day_ago = now - DAY;
    int rc = run1(db, "DELETE FROM gov_heals WHERE t < ?1", bind_now, &day_ago);
    if (rc == SQLITE_OK)
        rc = run1(db, "DELETE FROM gov_cooldowns WHERE until <= ?1", bind_now, &now);
    if (rc == SQLITE_OK)
        rc = run1(db, "DELETE FROM gov_snoozes WHERE until <= ?1", bind_now, &now);
    return rc;
}

static void bind_heal(sqlite3_stmt *st, const void *arg)
{
    const gov_commit *c = arg;
    sqlite3_bind_double(st, 1, c->t);
    sqlite3_bind_int(st, 2, c->rollbacks);
}

static void bind_cooldown(sqlite3_stmt *st, const void *arg)
{
    const gov_commit *c = arg;
    sqlite3_bind_text(st, 1, c->issue_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->target, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, c->t);
    sqlite3_bind_double(st, 4, c->cooldown_until);
    sqlite3_bind_int(st, 5, c->severity);
}

static int tx_commit(sqlite3 *db, void *arg)
{
    const gov_commit *c = arg;
    int rc = run1(db, "INSERT INTO gov_heals (t, rollbacks) VALUES (?1, ?2)", bind_heal, c);
    if (rc == SQLITE_OK && c->cooldown_until > c->t)
        rc = run1(db,
                  "INSERT INTO gov_cooldowns (issue_type, target, committed_at, until, severity)"
                  " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (issue_type, target) DO UPDATE SET"
                  " committed_at = excluded.committed_at, until = excluded.until,"
                  " severity = excluded.severity",
                  bind_cooldown, c);
    if (rc == SQLITE_OK)
        rc = prune(db, c->t);
    return rc;
}

static int st_commit(void *ctx, const gov_commit *c)
{
    return knowledge_write_sync(ctx, tx_commit, (void *)c) == HEALER_OK ? 0 : -1;
}

static void bind_paused(sqlite3_stmt *st, const void *arg)
{
    sqlite3_bind_int(st, 1, *(const int *)arg);
}

static int tx_pause(sqlite3 *db, void *arg)
{
    return run1(db, "INSERT INTO gov_state (key, value) VALUES ('paused', ?1)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                bind_paused, arg);
}

static int st_pause(void *ctx, int paused)
{
    return knowledge_write_sync(ctx, tx_pause, &paused) == HEALER_OK ? 0 : -1;
}

typedef struct kv2 {
    const char *a, *b;
    double d;
    int i;
} kv2;

static void bind_kv2(sqlite3_stmt *st, const void *arg)
{
    const kv2 *k = arg;
    sqlite3_bind_text(st, 1, k->a, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->b, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, k->d);
    sqlite3_bind_int(st, 4, k->i);
}

static int tx_snooze(sqlite3 *db, void *arg)
{
    return run1(db, "INSERT INTO gov_snoozes (issue_type, target, until) VALUES (?1, ?2, ?3)"
                    " ON CONFLICT (issue_type, target) DO UPDATE SET until = excluded.until",
                bind_kv2, arg);
}

static int st_snooze(void *ctx, const char *type, const char *target, double until)
{
    kv2 k = { type, target, until, 0 };
    return knowledge_write_sync(ctx, tx_snooze, &k) == HEALER_OK ? 0 : -1;
}

static int tx_streak(sqlite3 *db, void *arg)
{
    const kv2 *k = arg;
    if (k->i <= 0)
        return run1(db, "DELETE FROM confirm_streaks WHERE issue_type = ?1 AND action = ?2",
                    bind_kv2, arg);
    return run1(db, "INSERT INTO confirm_streaks (issue_type, action, confirmed_successes)"
                    " VALUES (?1, ?2, ?4) ON CONFLICT (issue_type, action) DO UPDATE SET"
                    " confirmed_successes = excluded.confirmed_successes",
                bind_kv2, arg);
}

static int st_streak(void *ctx, const char *type, const char *action, int successes)
{
    kv2 k = { type, action, 0, successes };
    return knowledge_write_sync(ctx, tx_streak, &k) == HEALER_OK ? 0 : -1;
}

/* Holds (issue #11) live in their own table, made on first use: a database of schema 2 from
 * before them needs no migration. */
#define HOLDS_TABLE "CREATE TABLE IF NOT EXISTS gov_holds (target TEXT NOT NULL, issue_type " \
                    "TEXT NOT NULL, reason TEXT, by TEXT, since REAL, until REAL, even_critical " \
                    "INTEGER, PRIMARY KEY (target, issue_type))"

static void bind_hold(sqlite3_stmt *st, const void *arg)
{
    const hold *h = arg;
    sqlite3_bind_text(st, 1, h->target, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, h->type ? h->type : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, h->reason ? h->reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, h->by ? h->by : "", -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 5, h->since);
    sqlite3_bind_double(st, 6, h->until);
    sqlite3_bind_int(st, 7, h->even_critical != 0);
}

static int tx_hold_put(sqlite3 *db, void *arg)
{
    int rc = run1(db, HOLDS_TABLE, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = run1(db, "INSERT OR REPLACE INTO gov_holds (target, issue_type, reason, by, since,"
                      " until, even_critical) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", bind_hold, arg);
    return rc;
}

static int st_hold_put(void *ctx, const hold *h)
{
    return knowledge_write_sync(ctx, tx_hold_put, (void *)h) == HEALER_OK ? 0 : -1;
}

static int tx_hold_del(sqlite3 *db, void *arg)
{
    int rc = run1(db, HOLDS_TABLE, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = run1(db, "DELETE FROM gov_holds WHERE target = ?1 AND issue_type = ?2", bind_kv2, arg);
    return rc;
}

static int st_hold_del(void *ctx, const char *target, const char *type)
{
    kv2 k = { target, type ? type : "", 0, 0 };
    return knowledge_write_sync(ctx, tx_hold_del, &k) == HEALER_OK ? 0 : -1;
}

/* Healed heals for loop escalation and relapse (heal_loops.h), also a table made on first use. */
#define LOOPS_TABLE "CREATE TABLE IF NOT EXISTS gov_loops (heal_id INTEGER PRIMARY KEY, " \
                    "issue_type TEXT NOT NULL, target TEXT NOT NULL, started_at REAL NOT NULL, " \
                    "healed_at REAL NOT NULL, relapsed INTEGER NOT NULL DEFAULT 0)"

static void bind_loop(sqlite3_stmt *st, const void *arg)
{
    const loop_heal *l = arg;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)l->heal_id);
    sqlite3_bind_text(st, 2, l->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, l->target, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, l->started_at);
    sqlite3_bind_double(st, 5, l->healed_at);
    sqlite3_bind_int(st, 6, l->relapsed != 0);
}

static int tx_loop_put(sqlite3 *db, void *arg)
{
    int rc = run1(db, LOOPS_TABLE, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = run1(db, "INSERT OR REPLACE INTO gov_loops (heal_id, issue_type, target, started_at,"
                      " healed_at, relapsed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", bind_loop, arg);
    return rc;
}

static int st_loop_put(void *ctx, const loop_heal *l)
{
    return knowledge_write_sync(ctx, tx_loop_put, (void *)l) == HEALER_OK ? 0 : -1;
}

static int tx_loop_prune(sqlite3 *db, void *arg)
{
    int rc = run1(db, LOOPS_TABLE, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = run1(db, "DELETE FROM gov_loops WHERE healed_at < ?1 AND started_at < ?1", bind_now,
                  arg);
    return rc;
}

static int st_loop_prune(void *ctx, double before)
{
    return knowledge_write_sync(ctx, tx_loop_prune, &before) == HEALER_OK ? 0 : -1;
}

gov_store govstore_ops(knowledge *kb)
{
    return (gov_store){ .ctx = kb, .commit = st_commit, .pause = st_pause, .snooze = st_snooze,
                        .streak = st_streak, .hold_put = st_hold_put, .hold_del = st_hold_del,
                        .loop_put = st_loop_put, .loop_prune = st_loop_prune };
}

/* ---- load ---------------------------------------------------------------------------------- */

typedef struct load_ctx {
    governor *g;
    double now;
    int heals, cooldowns, snoozes, streaks, paused, holds, loops;
} load_ctx;

static const char *col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static int each_row(sqlite3 *db, const char *sql, double now, load_ctx *lc,
                    void (*row)(load_ctx *lc, sqlite3_stmt *st))
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        if (sqlite3_bind_parameter_count(st) >= 1)
            sqlite3_bind_double(st, 1, now);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            row(lc, st);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static void row_heal(load_ctx *lc, sqlite3_stmt *st)
{
    governor_restore_heal(lc->g, sqlite3_column_double(st, 0), sqlite3_column_int(st, 1), lc->now);
    lc->heals++;
}

static void row_cooldown(load_ctx *lc, sqlite3_stmt *st)
{
    governor_restore_cooldown(lc->g, col(st, 0), col(st, 1), sqlite3_column_double(st, 2),
                              sqlite3_column_int(st, 3), lc->now);
    lc->cooldowns++;
}

static void row_snooze(load_ctx *lc, sqlite3_stmt *st)
{
    governor_restore_snooze(lc->g, col(st, 0), col(st, 1), sqlite3_column_double(st, 2), lc->now);
    lc->snoozes++;
}

static void row_streak(load_ctx *lc, sqlite3_stmt *st)
{
    sqlite3_int64 n = sqlite3_column_int64(st, 2);
    governor_restore_streak(lc->g, col(st, 0), col(st, 1), n > INT32_MAX ? INT32_MAX : (int)n);
    lc->streaks++;
}

static void row_paused(load_ctx *lc, sqlite3_stmt *st)
{
    lc->paused = sqlite3_column_int(st, 0) != 0;
    governor_restore_paused(lc->g, lc->paused);
}

static void row_hold(load_ctx *lc, sqlite3_stmt *st)
{
    hold h = { col(st, 0), col(st, 1), col(st, 2), col(st, 3), sqlite3_column_double(st, 4),
               sqlite3_column_double(st, 5), sqlite3_column_int(st, 6) };
    if (h.until > 0 && lc->now >= h.until)
        return;
    holds_restore(governor_holds(lc->g), &h, lc->now);
    lc->holds++;
}

static void row_loop(load_ctx *lc, sqlite3_stmt *st)
{
    loop_heal l = { col(st, 1), col(st, 2), (uint64_t)sqlite3_column_int64(st, 0),
                    sqlite3_column_double(st, 3), sqlite3_column_double(st, 4),
                    sqlite3_column_int(st, 5) };
    loops_restore(governor_loops(lc->g), &l);
    lc->loops++;
}

static int tx_load(sqlite3 *db, void *arg)
{
    load_ctx *lc = arg;
    int rc = prune(db, lc->now);
    /* Oldest first: the windows are kept in commit order. */
    if (rc == SQLITE_OK)
        rc = each_row(db, "SELECT t, rollbacks FROM gov_heals ORDER BY t, id", lc->now, lc, row_heal);
    if (rc == SQLITE_OK)
        rc = each_row(db, "SELECT issue_type, target, committed_at, severity FROM gov_cooldowns"
                          " ORDER BY committed_at", lc->now, lc, row_cooldown);
    if (rc == SQLITE_OK)
        rc = each_row(db, "SELECT issue_type, target, until FROM gov_snoozes", lc->now, lc,
                      row_snooze);
    if (rc == SQLITE_OK)
        rc = each_row(db, "SELECT issue_type, action, confirmed_successes FROM confirm_streaks",
                      lc->now, lc, row_streak);
    if (rc == SQLITE_OK)
        rc = each_row(db, "SELECT value FROM gov_state WHERE key = 'paused'", lc->now, lc,
                      row_paused);
    if (rc == SQLITE_OK)
        rc = run1(db, HOLDS_TABLE, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = run1(db, "DELETE FROM gov_holds WHERE until > 0 AND until <= ?1", bind_now, &lc->now);
    if (rc == SQLITE_OK)
        rc = each_row(db, "SELECT target, issue_type, reason, by, since, until, even_critical"
                          " FROM gov_holds", lc->now, lc, row_hold);
    if (rc == SQLITE_OK)
        rc = run1(db, LOOPS_TABLE, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = each_row(db, "SELECT heal_id, issue_type, target, started_at, healed_at, relapsed"
                          " FROM gov_loops ORDER BY healed_at", lc->now, lc, row_loop);
    return rc;
}

int govstore_load(knowledge *kb, governor *g, double now)
{
    load_ctx lc = { .g = g, .now = now };
    if (knowledge_write_sync(kb, tx_load, &lc) != HEALER_OK) {
        log_error("governor", "cannot load the governor's state from knowledge.db: starting with "
                  "empty windows");
        return -1;
    }
    if (lc.heals || lc.cooldowns || lc.snoozes || lc.streaks || lc.paused || lc.holds || lc.loops)
        log_info("governor", "restored: %d heal(s) of the last day, %d cooldown(s), %d snooze(s), "
                 "%d confirmation streak(s), %d hold(s), %d healed heal(s) for the loop rule%s",
                 lc.heals, lc.cooldowns, lc.snoozes, lc.streaks, lc.holds, lc.loops,
                 lc.paused ? "; healing is PAUSED (healctl resume)" : "");
    return 0;
}
