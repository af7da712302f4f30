/* knowledge_open.c — opening state_dir/knowledge.db: the schema and its migrations, the full
 * check only after an unclean stop (the clean-close mark), a corrupt or foreign file moved aside,
 * the prepared statements, statistics and ids loaded, the writer started; and the clean close. */
#include "knowledge.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "statedir.h"
#include "knowledge_int.h"

#define KB_FILE "knowledge.db"
#define KB_SCHEMA_VERSION 3
#define KB_BUSY_TIMEOUT_MS 5000
/* A file up to this size gets the full quick_check at every open, clean or not: it costs well
 * under a second even on a loaded machine. Above it, only after a run that did not close
 * cleanly (see check_existing). */
#define KB_CHECK_ALWAYS_BYTES ((off_t)8 << 20)

static off_t check_always_bytes = KB_CHECK_ALWAYS_BYTES;
static _Atomic unsigned full_checks;

/* Test hooks (not in knowledge.h). */
void knowledge_test_set_check_always_bytes(long long bytes);
unsigned knowledge_test_full_checks(void);

void knowledge_test_set_check_always_bytes(long long bytes)
{
    check_always_bytes = bytes < 0 ? KB_CHECK_ALWAYS_BYTES : (off_t)bytes;
}

unsigned knowledge_test_full_checks(void)
{
    return atomic_load(&full_checks);
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
    /* 3: why a heal went as it did (engine_explain.c): the planner's candidates and the
     * governor's verdict, one bounded JSON object per heal (healctl explain). */
    "ALTER TABLE heals ADD COLUMN decision TEXT;",
};

/* The tables each schema version has: a file claiming a version without them is not ours. */
static const char *const tables_of[KB_SCHEMA_VERSION][6] = {
    {"issues", "heals", "heal_actions", "stats", "meta", NULL},
    {"gov_heals", "gov_cooldowns", "gov_snoozes", "gov_state", "confirm_streaks", NULL},
    {NULL}, /* 3 adds a column */
};

/* SQLite refuses a path with a symbolic link anywhere in it under SQLITE_OPEN_NOFOLLOW. */
#define KB_OPEN_FLAGS (SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX)

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

/* Why a sound SQLite file is still not a knowledge base this healerd can use (a newer schema,
 * another application's tables, its own tables missing); "" when it is one. */
static int schema_verdict(sqlite3 *db, char *why, size_t whylen)
{
    sqlite3_int64 version = 0, count = 0;
    int rc = single_int(db, "PRAGMA user_version", &version);
    if (rc == SQLITE_OK)
        rc = single_int(db, "SELECT count(*) FROM sqlite_master", &count);
    if (rc != SQLITE_OK)
        return rc;
    if (version > KB_SCHEMA_VERSION || version < 0) {
        snprintf(why, whylen, "schema version %lld is newer than this healerd knows (%d)",
                 (long long)version, KB_SCHEMA_VERSION);
        return SQLITE_OK;
    }
    if (version == 0 && count > 0) {
        /* Migrating it would write our tables into another application's database. */
        snprintf(why, whylen, "a database without healerd's schema version (%lld object(s) of "
                 "another application)", (long long)count);
        return SQLITE_OK;
    }
    for (sqlite3_int64 v = 0; v < version; v++)
        for (const char *const *t = tables_of[v]; *t; t++) {
            sqlite3_stmt *st = NULL;
            rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                        "name = ?1", -1, &st, NULL);
            if (rc != SQLITE_OK)
                return rc;
            sqlite3_bind_text(st, 1, *t, -1, SQLITE_STATIC);
            rc = sqlite3_step(st);
            sqlite3_finalize(st);
            if (rc == SQLITE_DONE) {
                snprintf(why, whylen, "schema version %lld without its table %s",
                         (long long)version, *t);
                return SQLITE_OK;
            }
            if (rc != SQLITE_ROW)
                return rc;
        }
    return SQLITE_OK;
}

/* *clean = 1 when the previous run closed the file cleanly (meta clean_close = 1). A file
 * without the meta table (foreign, empty, old) is simply not clean; NOTADB/CORRUPT are
 * returned for the caller's verdict. */
static int read_clean_mark(sqlite3 *db, int *clean)
{
    *clean = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'clean_close'", -1, &st,
                                NULL);
    if (rc == SQLITE_ERROR) /* no such table */
        return SQLITE_OK;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *clean = sqlite3_column_int64(st, 0) == 1;
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* 1: the file is there and is not a sound database of ours; 0: absent or sound; -1: cannot
 * tell, or refused (a link). force: the full check even on a big file closed cleanly. */
static int check_existing(int dfd, const char *path, int force, char *why, size_t whylen,
                          char *err, size_t errlen)
{
    struct stat st;
    if (fstatat(dfd, KB_FILE, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        /* Whatever it points at (another application's database) is not ours to migrate. */
        snprintf(err, errlen, "%s: is a symbolic link: refusing to follow it (remove it; the "
                 "agent creates the file itself)", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return -1;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | KB_OPEN_FLAGS, NULL);
    char result[256] = "";
    int clean = 0;
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, KB_BUSY_TIMEOUT_MS);
        rc = read_clean_mark(db, &clean);
    }
    if (rc == SQLITE_OK && clean && !force && st.st_size > check_always_bytes) {
        /* quick_check reads every page: 21 s at a million heals. A file the last run closed
         * cleanly (mark committed after its last write, cleared at open) is taken as sound;
         * corruption met while running clears the mark, so the next start checks. */
        snprintf(result, sizeof result, "ok");
    } else if (rc == SQLITE_OK) {
        if (st.st_size > check_always_bytes)
            log_info(KB_WHO, "%s: the last run did not close it cleanly: checking all %.0f MiB "
                     "of it before use", path, (double)st.st_size / 1048576.0);
        atomic_fetch_add(&full_checks, 1);
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
    } else if ((rc = schema_verdict(db, why, whylen)) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot read its schema: %s", path, sqlite3_errmsg(db));
        verdict = -1;
    } else {
        verdict = why[0] ? 1 : 0;
    }
    sqlite3_close(db);
    return verdict;
}

/* Renames knowledge.db and its journal files to knowledge.db.corrupt-TIME (by name in the state
 * directory: never through a link). On success *newname is the new path (caller frees). */
static int move_aside(int dfd, const char *dir, char *err, size_t errlen, char **newname)
{
    long now = (long)time(NULL);
    struct stat st;
    char name[NAME_MAX + 1];
    for (int i = 0; i < 1000; i++) {
        if (i)
            snprintf(name, sizeof name, "%s.corrupt-%ld.%d", KB_FILE, now, i);
        else
            snprintf(name, sizeof name, "%s.corrupt-%ld", KB_FILE, now);
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            break;
    }
    if (renameat(dfd, KB_FILE, dfd, name) != 0) {
        snprintf(err, errlen, "%s/%s: unusable, and cannot move it to %s: %s", dir, KB_FILE, name,
                 strerror(errno));
        return -1;
    }
    /* The journal files belong to the old file: left behind they would be replayed into the
     * fresh one. */
    static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char from[NAME_MAX + 1], to[NAME_MAX + 16];
        snprintf(from, sizeof from, "%s%s", KB_FILE, suffixes[i]);
        snprintf(to, sizeof to, "%s%s", name, suffixes[i]);
        if (renameat(dfd, from, dfd, to) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "%s/%s: cannot move it aside: %s", dir, from, strerror(errno));
            return -1;
        }
    }
    if (asprintf(newname, "%s/%s", dir, name) < 0) {
        *newname = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* A link planted as a journal file would have SQLite write the WAL through it: removed (the link
 * only; its target is not touched). */
static int drop_linked_companions(int dfd, const char *dir, char *err, size_t errlen)
{
    static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char name[NAME_MAX + 1];
        snprintf(name, sizeof name, "%s%s", KB_FILE, suffixes[i]);
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISREG(st.st_mode))
            continue;
        if (unlinkat(dfd, name, 0) != 0) {
            snprintf(err, errlen, "%s/%s is not a regular file and cannot be removed: %s", dir,
                     name, strerror(errno));
            return -1;
        }
        log_warn(KB_WHO, "%s/%s was not a regular file (a symbolic link?): removed it", dir, name);
    }
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
        rc = kb_db_exec(kb->wdb, "BEGIN IMMEDIATE");
        if (rc == SQLITE_OK)
            rc = kb_db_exec(kb->wdb, migrations[v]);
        if (rc == SQLITE_OK)
            rc = kb_db_exec(kb->wdb, setv);
        if (rc == SQLITE_OK)
            rc = kb_db_exec(kb->wdb, "COMMIT");
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "%s: migration to schema %lld failed: %s", kb->path,
                     (long long)v + 1, sqlite3_errmsg(kb->wdb));
            if (!sqlite3_get_autocommit(kb->wdb))
                kb_db_exec(kb->wdb, "ROLLBACK");
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
        stat_entry *e = kb_stat_find(kb, type, action, 1);
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
        if (kb_reserve_ids(kb, c, want) != SQLITE_OK) {
            snprintf(err, errlen, "%s: reserving ids: %s", kb->path, sqlite3_errmsg(kb->wdb));
            return -1;
        }
        atomic_store(&c->reserved, want);
        atomic_store(&c->ahead, 0);
    }
    return 0;
}

static void close_databases(knowledge *kb)
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
    kb->rdb = kb->wdb = NULL;
}

static void kb_free(knowledge *kb)
{
    close_databases(kb);
    for (kb_item *it = kb->head, *next; it; it = next) {
        next = it->next;
        kb_item_free(it);
    }
    kb_stats_free(kb);
    kb_fleet_free(kb);
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
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | KB_OPEN_FLAGS, NULL);
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
    if (kb_db_exec(kb->wdb, "PRAGMA synchronous = FULL") != SQLITE_OK ||
        kb_db_exec(kb->wdb, "PRAGMA foreign_keys = ON") != SQLITE_OK ||
        kb_db_exec(kb->wdb, "PRAGMA journal_size_limit = 67108864") != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", kb->path, sqlite3_errmsg(kb->wdb));
        return -1;
    }
    if (migrate(kb, err, errlen) != 0)
        return -1;
    /* From here until knowledge_close the file is in use: a crash leaves it unmarked. */
    if (kb_db_exec(kb->wdb, "DELETE FROM meta WHERE key = 'clean_close'") != SQLITE_OK) {
        snprintf(err, errlen, "%s: clearing the clean-close mark: %s", kb->path,
                 sqlite3_errmsg(kb->wdb));
        return -1;
    }
    if (prepare(kb->wdb,
                "INSERT INTO issues (id, type, severity, target, plugin, summary, detected_at,"
                " last_heal_id, heals) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)"
                " ON CONFLICT (id) DO UPDATE SET last_heal_id = max(last_heal_id, excluded.last_heal_id),"
                " heals = heals + 1",
                &kb->ins_issue, kb->path, err, errlen) ||
        prepare(kb->wdb,
                "INSERT INTO heals (id, issue_id, issue_type, severity, target, plugin, summary,"
                " outcome, reason, dry_run, detected_at, started_at, finished_at, duration,"
                " decision)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
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

    rc = sqlite3_open_v2(kb->path, &kb->rdb, SQLITE_OPEN_READONLY | KB_OPEN_FLAGS, NULL);
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
                /* The page is the newest heals by id, so every heal with an id between its
                 * lowest and highest is on it: their actions are one range of the primary
                 * key, read in one pass (no statement per heal). */
                "SELECT heal_id, plugin, action, target, outcome, message, started_at, duration,"
                " before_json, after_json FROM heal_actions WHERE heal_id BETWEEN ?1 AND ?2"
                " ORDER BY heal_id, seq",
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
    char why[PATH_MAX + 300] = "";
    int dfd = statedir_open(state_dir, why, sizeof why);
    if (dfd < 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    /* SQLite opens by path: the one without links that reaches the directory just checked. */
    char real[PATH_MAX];
    struct stat a, b;
    if (!realpath(state_dir, real) || stat(real, &a) != 0 || fstat(dfd, &b) != 0 ||
        a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        snprintf(err, errlen, "%s: changed while it was being opened", state_dir);
        close(dfd);
        return -1;
    }
    knowledge *kb = calloc(1, sizeof *kb);
    size_t plen = strlen(real) + sizeof "/" KB_FILE;
    if (kb)
        kb->path = malloc(plen);
    if (!kb || !kb->path) {
        free(kb);
        close(dfd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(kb->path, plen, "%s/%s", real, KB_FILE);
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

    /* The full check is skipped on a big file closed cleanly; if opening it still meets
     * corruption (damage at rest), the second pass checks it all and moves it aside. */
    for (int force = 0;; force++) {
        why[0] = '\0';
        int bad = check_existing(dfd, kb->path, force, why, sizeof why, err, errlen);
        if (bad < 0) {
            close(dfd);
            kb_free(kb);
            return -1;
        }
        if (bad) {
            /* Refusing to start would only restart the agent into the same file for ever. */
            char *newname = NULL;
            if (move_aside(dfd, real, err, errlen, &newname) != 0) {
                close(dfd);
                kb_free(kb);
                return -1;
            }
            log_error(KB_WHO, "%s: not a usable knowledge base (%s); moved it to %s and started "
                      "a fresh one", kb->path, why, newname);
            free(newname);
        }
        if (drop_linked_companions(dfd, real, err, errlen) != 0) {
            close(dfd);
            kb_free(kb);
            return -1;
        }
        if (open_databases(kb, err, errlen) == 0)
            break;
        int code = kb->wdb ? sqlite3_errcode(kb->wdb) : SQLITE_OK;
        int rcode = kb->rdb ? sqlite3_errcode(kb->rdb) : SQLITE_OK;
        int damaged = (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB ||
                      (rcode & 0xff) == SQLITE_CORRUPT || (rcode & 0xff) == SQLITE_NOTADB;
        if (force || bad || !damaged) {
            close(dfd);
            kb_free(kb);
            return -1;
        }
        log_warn(KB_WHO, "%s: checking the whole file", err);
        err[0] = '\0';
        close_databases(kb);
        /* load_state may have counted part of the statistics of the damaged file. */
        kb_stats_free(kb);
        kb->n_stats = 0;
        kb->buckets = calloc(kb->n_buckets, sizeof *kb->buckets);
        if (!kb->buckets) {
            snprintf(err, errlen, "out of memory");
            close(dfd);
            kb_free(kb);
            return -1;
        }
    }
    close(dfd);
    kb->writer_running = 1;
    int prc = pthread_create(&kb->writer, NULL, kb_writer_main, kb);
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
    kb_reserve_ids(kb, &kb->heal_ids, atomic_load(&kb->heal_ids.last));
    kb_reserve_ids(kb, &kb->issue_ids, atomic_load(&kb->issue_ids.last));
    /* The mark lets the next start skip the full check; never after corruption was seen. */
    if (atomic_load(&kb->saw_corrupt))
        log_warn(KB_WHO, "%s: corruption was met while running: the next start checks it all",
                 kb->path);
    else if (kb_db_exec(kb->wdb, "INSERT INTO meta (key, value) VALUES ('clean_close', 1)"
                                 " ON CONFLICT (key) DO UPDATE SET value = 1") != SQLITE_OK)
        log_warn(KB_WHO, "%s: cannot mark it closed cleanly (%s): the next start checks it all",
                 kb->path, sqlite3_errmsg(kb->wdb));
    kb_free(kb);
}
