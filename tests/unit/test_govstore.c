/* test_govstore.c — the governor's state on a real knowledge.db in a temp dir: a round trip
 * through close and reopen (hour and day windows, cooldowns with severity, snoozes, pause,
 * confirmation streaks), expiry on load, dry runs never stored, the migration of a schema-1
 * file, and a commit that survives kill -9 of the process right after it returned. */
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "governor.h"
#include "govstore.h"
#include "healer/types.h"
#include "knowledge.h"

#define T0 1764280000.0

typedef struct fixture {
    char dir[64];
} fixture;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_govstore.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static knowledge *open_kb(const char *dir)
{
    knowledge *kb = NULL;
    char err[512] = "";
    int rc = knowledge_open(dir, &kb, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "knowledge_open: %s\n", err);
    assert_int_equal(rc, 0);
    return kb;
}

static agent_limits limits3(void)
{
    /* 3 heals per hour, 2 rollbacks per day, health floor 30, 5 min cooldown, auto after 2 */
    return (agent_limits){ 3, 2, 30, 5.0, 60.0, 2, 0, 60.0, 300.0 };
}

/* A governor with its state loaded from dir's knowledge.db and the store attached, as the agent
 * starts one. */
static governor *start(knowledge *kb, double now)
{
    agent_limits l = limits3();
    governor *g = governor_new(&l, 0);
    assert_non_null(g);
    assert_int_equal(govstore_load(kb, g, now), 0);
    gov_store st = govstore_ops(kb);
    governor_set_store(g, &st);
    return g;
}

static void stop(governor *g, knowledge *kb)
{
    governor_set_store(g, NULL);
    governor_free(g);
    knowledge_close(kb);
}

/* One integer through a connection of the test's own: what is on disk. */
static sqlite3_int64 db_int(const char *dir, const char *fmt, ...)
{
    char sql[512], path[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/knowledge.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void db_exec(const char *dir, const char *sql)
{
    char path[128];
    snprintf(path, sizeof path, "%s/knowledge.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    sqlite3_close(db);
    assert_int_equal(rc, SQLITE_OK);
}

static gov_request req(const char *type, const char *target, int severity)
{
    return (gov_request){ .issue_type = type, .target = target, .severity = severity,
                          .health = 100.0 };
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    governor *g = start(kb, T0);
    gov_request a = req("cpu_high", "a", HEALER_SEV_LOW);
    gov_request b = req("nixos_activation_failed", "system", HEALER_SEV_HIGH);
    b.rollbacks = 1;
    gov_request c = req("cpu_high", "c", HEALER_SEV_LOW);
    assert_int_equal(governor_commit(g, &a, T0), 0);
    assert_int_equal(governor_commit(g, &b, T0 + 10), 0);
    assert_int_equal(governor_commit(g, &c, T0 + 20), 0);
    governor_snooze(g, "disk_full", "/", T0 + 600);
    governor_record_confirmed(g, "disk_full", "remove_old_files", 1);
    governor_record_confirmed(g, "disk_full", "remove_old_files", 1);
    governor_record_confirmed(g, "disk_full", "gc", 1);
    governor_pause(g, 1);
    /* on disk right away, before any close */
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM gov_heals"), 3);
    assert_int_equal(db_int(f->dir, "SELECT sum(rollbacks) FROM gov_heals"), 1);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM gov_cooldowns"), 3);
    assert_int_equal(db_int(f->dir, "SELECT severity FROM gov_cooldowns WHERE target = 'system'"),
                     HEALER_SEV_HIGH);
    assert_int_equal(db_int(f->dir, "SELECT value FROM gov_state WHERE key = 'paused'"), 1);
    stop(g, kb);

    /* a new process: everything is back */
    kb = open_kb(f->dir);
    g = start(kb, T0 + 30);
    assert_int_equal(governor_paused(g), 1);
    gov_request n = req("cpu_high", "new", HEALER_SEV_LOW);
    assert_int_equal(governor_check(g, &n, T0 + 30), GOV_PAUSED);
    governor_pause(g, 0);
    assert_int_equal(governor_check(g, &n, T0 + 30), GOV_RATE_LIMIT);
    gov_budget bu;
    governor_budget(g, T0 + 30, &bu);
    assert_int_equal(bu.heals_last_hour, 3);
    assert_int_equal(bu.rollbacks_today, 1);
    assert_int_equal(bu.cooldowns_active, 3);
    assert_true(governor_cooldown_until(g, "cpu_high", "a", 0, T0 + 30) == T0 + 300);
    /* the cooldown kept its severity: high is held back, critical not */
    gov_request sys = req("nixos_activation_failed", "system", HEALER_SEV_HIGH);
    assert_true(governor_cooldown_until(g, sys.issue_type, sys.target, 0, T0 + 30) == T0 + 310);
    assert_true(governor_snoozed_until(g, "disk_full", "/", HEALER_SEV_LOW, T0 + 30) == T0 + 600);
    assert_int_equal(governor_confirmed_successes(g, "disk_full", "remove_old_files"), 2);
    assert_int_equal(governor_auto_approved(g, "disk_full", "remove_old_files"), 1);
    assert_int_equal(governor_auto_approved(g, "disk_full", "gc"), 0);
    /* a failure resets the stored streak */
    governor_record_confirmed(g, "disk_full", "remove_old_files", 0);
    stop(g, kb);

    kb = open_kb(f->dir);
    g = start(kb, T0 + 3600.5);  /* T0's heal left the hour; T0+10 and T0+20 still in */
    assert_int_equal(governor_paused(g), 0);
    assert_int_equal(governor_confirmed_successes(g, "disk_full", "remove_old_files"), 0);
    assert_int_equal(governor_confirmed_successes(g, "disk_full", "gc"), 1);
    governor_budget(g, T0 + 3600.5, &bu);
    assert_int_equal(bu.heals_last_hour, 2);
    assert_int_equal(bu.rollbacks_today, 1);
    assert_int_equal(bu.cooldowns_active, 0);
    assert_int_equal(governor_check(g, &n, T0 + 3600.5), GOV_ALLOW);
    /* expired cooldowns and snoozes were dropped from the file on load */
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM gov_cooldowns"), 0);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM gov_snoozes"), 0);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM gov_heals"), 3);
    stop(g, kb);

    /* a day later the rollback is gone, and so are the rows */
    kb = open_kb(f->dir);
    g = start(kb, T0 + 86400 + 30);
    governor_budget(g, T0 + 86400 + 30, &bu);
    assert_int_equal(bu.heals_last_hour, 0);
    assert_int_equal(bu.rollbacks_today, 0);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM gov_heals"), 0);
    stop(g, kb);
}

static void test_dry_run_not_stored(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    governor *g = start(kb, T0);
    gov_request d = req("cpu_high", "a", HEALER_SEV_LOW);
    d.dry_run = 1;
    for (int i = 0; i < 5; i++)
        governor_commit(g, &d, T0 + i);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM gov_heals"), 0);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM gov_cooldowns"), 0);
    /* the same through a governor made in dry-run mode */
    governor_set_store(g, NULL);
    governor_free(g);
    agent_limits l = limits3();
    g = governor_new(&l, 1);
    gov_store st = govstore_ops(kb);
    governor_set_store(g, &st);
    gov_request r = req("cpu_high", "b", HEALER_SEV_LOW);
    governor_commit(g, &r, T0 + 10);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM gov_heals"), 0);
    stop(g, kb);
}

/* A knowledge.db of schema 1 (before the governor's tables) is migrated in place. */
static void test_migration_from_v1(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    knowledge_close(kb);
    db_exec(f->dir, "DROP TABLE gov_heals; DROP TABLE gov_cooldowns; DROP TABLE gov_snoozes;"
                    " DROP TABLE gov_state; DROP TABLE confirm_streaks;"
                    " ALTER TABLE heals DROP COLUMN decision; PRAGMA user_version = 1;");
    assert_int_equal(db_int(f->dir, "PRAGMA user_version"), 1);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'gov_%%'"), 0);
    kb = open_kb(f->dir);
    assert_int_equal(db_int(f->dir, "PRAGMA user_version"), 3);
    governor *g = start(kb, T0);
    gov_request a = req("cpu_high", "a", HEALER_SEV_LOW);
    assert_int_equal(governor_commit(g, &a, T0), 0);
    stop(g, kb);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM gov_heals"), 1);
}

/* The commit is durable when governor_commit returns: the process dies by SIGKILL right after,
 * and the next one still sees the heal in its hour. */
static void test_commit_survives_kill9(void **state)
{
    fixture *f = *state;
    double now = (double)time(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        knowledge *kb = NULL;
        char err[256];
        if (knowledge_open(f->dir, &kb, err, sizeof err) != 0)
            _exit(2);
        agent_limits l = limits3();
        governor *g = governor_new(&l, 0);
        gov_store st = govstore_ops(kb);
        governor_set_store(g, &st);
        for (int i = 0; i < 3; i++) {
            char tgt[16];
            snprintf(tgt, sizeof tgt, "t%d", i);
            gov_request r = req("cpu_high", tgt, HEALER_SEV_LOW);
            if (governor_commit(g, &r, now + i) != 0)
                _exit(3);
        }
        raise(SIGKILL);
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    knowledge *kb = open_kb(f->dir);
    governor *g = start(kb, now + 5);
    gov_budget bu;
    governor_budget(g, now + 5, &bu);
    assert_int_equal(bu.heals_last_hour, 3);
    gov_request r = req("cpu_high", "fourth", HEALER_SEV_LOW);
    assert_int_equal(governor_check(g, &r, now + 5), GOV_RATE_LIMIT);
    stop(g, kb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_not_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_survives_kill9, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
