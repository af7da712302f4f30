/* test_knowledge_growth.c — the knowledge base's costs that grow with the file, on real SQLite
 * files: the full check at open only after an unclean stop (or damage met at open), the batched
 * prune and what it keeps, the heals page's actions in one range scan, and the query plans. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "healer/types.h"
#include "knowledge.h"

/* Test hooks of knowledge.c and knowledge_open.c (deliberately not in knowledge.h). */
void knowledge_test_set_check_always_bytes(long long bytes);
unsigned knowledge_test_full_checks(void);
const char *knowledge_test_sql(knowledge *kb, int which);

#define T0 1764280000.0

static const kb_action ACTS[3] = {
    {.plugin = "cpu", .action = "renice", .target = "pid:1", .outcome = "not_healed",
     .message = "a", .before_json = "{\"v\": 1}", .after_json = "{\"v\": 2}", .duration = 0.1},
    {.plugin = "cpu", .action = "stop", .target = "pid:1", .outcome = "healed", .success = 1,
     .message = "b", .duration = 0.2},
    {.plugin = "cpu", .action = "kill", .target = "pid:1", .outcome = "failed", .message = "c"},
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    char *dir = strdup("/tmp/test_knowledge_growth.XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        free(dir);
        return -1;
    }
    /* Every file counts as big: the size rule must not hide which path ran. */
    knowledge_test_set_check_always_bytes(0);
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    knowledge_test_set_check_always_bytes(-1);
    nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(*state);
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

/* Heal i: issue i/2 + 1 (pairs share an issue; every 7th has none), i % 4 actions, finished
 * at T0 + i. */
static void record(knowledge *kb, int i, int sync)
{
    uint64_t id = knowledge_next_heal_id(kb);
    kb_heal h = {.id = id, .issue_id = i % 7 == 6 ? 0 : (uint64_t)(i / 2 + 1),
                 .issue_type = "cpu_high", .severity = "high", .target = "cpu",
                 .plugin = "cpu", .summary = "s", .outcome = "healed",
                 .detected_at = T0 + i - 0.5, .started_at = T0 + i - 0.2, .finished_at = T0 + i,
                 .actions = ACTS, .n_actions = (size_t)(i % 4 == 3 ? 0 : i % 4 + 1)};
    if (sync)
        assert_int_equal(knowledge_record_heal_sync(kb, &h), HEALER_OK);
    else
        assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK);
}

static sqlite3_int64 db_int(const char *dir, const char *fmt, ...)
{
    char path[256];
    snprintf(path, sizeof path, "%s/knowledge.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    assert_int_equal(rc, SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_free(sql);
    sqlite3_close(db);
    return v;
}

static int count_corrupt(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, "knowledge.db.corrupt-", 21) == 0 &&
            !strchr(de->d_name + 21, 'w') && !strchr(de->d_name + 21, 's'))
            n++;
    closedir(d);
    return n;
}

/* Overwrites pages of the main file from page `first` on, every `every`th. */
static void smash(const char *dir, int first, int every)
{
    char path[256];
    snprintf(path, sizeof path, "%s/knowledge.db", dir);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(st.st_size > 8 * 4096);
    char junk[4096];
    memset(junk, 0xA5, sizeof junk);
    for (off_t off = (off_t)(first - 1) * 4096; off + 4096 <= st.st_size; off += every * 4096)
        assert_int_equal(pwrite(fd, junk, sizeof junk, off), 4096);
    close(fd);
}

/* A run that ends without knowledge_close (a crash): a child opens, writes one heal, exits. */
static void crash_run(const char *dir)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        knowledge *kb = NULL;
        char err[256];
        if (knowledge_open(dir, &kb, err, sizeof err) != 0)
            _exit(2);
        record(kb, 100000, 1);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void fill(const char *dir, int n)
{
    knowledge *kb = open_kb(dir);
    for (int i = 0; i < n; i++)
        record(kb, i, 0);
    assert_int_equal(knowledge_flush(kb), HEALER_OK);
    knowledge_close(kb);
}

static void test_clean_close_skips_check(void **state)
{
    const char *dir = *state;
    fill(dir, 300);
    assert_int_equal(db_int(dir, "SELECT value FROM meta WHERE key = 'clean_close'"), 1);
    unsigned before = knowledge_test_full_checks();
    knowledge *kb = open_kb(dir);
    assert_int_equal(knowledge_test_full_checks(), before);
    /* In use: the mark is gone from the file until the next clean close. */
    assert_int_equal(db_int(dir, "SELECT count(*) FROM meta WHERE key = 'clean_close'"), 0);
    assert_int_equal(db_int(dir, "SELECT count(*) FROM heals"), 300);
    knowledge_close(kb);
    assert_int_equal(db_int(dir, "SELECT value FROM meta WHERE key = 'clean_close'"), 1);
    assert_int_equal(count_corrupt(dir), 0);
}

static void test_unclean_stop_checks(void **state)
{
    const char *dir = *state;
    fill(dir, 300);
    crash_run(dir);
    assert_int_equal(db_int(dir, "SELECT count(*) FROM meta WHERE key = 'clean_close'"), 0);
    unsigned before = knowledge_test_full_checks();
    knowledge *kb = open_kb(dir);
    assert_int_equal(knowledge_test_full_checks(), before + 1);
    knowledge_close(kb);
    /* Sound: kept, with the crashed run's committed heal. */
    assert_int_equal(count_corrupt(dir), 0);
    assert_int_equal(db_int(dir, "SELECT count(*) FROM heals"), 301);
}

static void test_unclean_corrupt_moved(void **state)
{
    const char *dir = *state;
    fill(dir, 600);
    crash_run(dir);
    smash(dir, 2, 3);
    unsigned before = knowledge_test_full_checks();
    knowledge *kb = open_kb(dir);
    assert_int_equal(knowledge_test_full_checks(), before + 1);
    assert_int_equal(count_corrupt(dir), 1);
    record(kb, 1, 1);
    knowledge_close(kb);
    assert_int_equal(db_int(dir, "SELECT count(*) FROM heals"), 1);
}

/* Damage at rest in a file closed cleanly: the check was skipped, but opening meets it, so the
 * second pass checks and moves it aside; the agent starts either way. */
static void test_clean_but_damaged_moved(void **state)
{
    const char *dir = *state;
    fill(dir, 600);
    /* The stats table's page only: the clean mark (meta) still reads, load_state does not. */
    sqlite3_int64 root = db_int(dir, "SELECT rootpage FROM sqlite_master WHERE name = 'stats'");
    assert_true(root > 1 &&
                root != db_int(dir, "SELECT rootpage FROM sqlite_master WHERE name = 'meta'"));
    char path[256];
    snprintf(path, sizeof path, "%s/knowledge.db", dir);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 0xA5, sizeof junk);
    assert_int_equal(pwrite(fd, junk, sizeof junk, (off_t)(root - 1) * 4096), 4096);
    close(fd);
    unsigned before = knowledge_test_full_checks();
    knowledge *kb = open_kb(dir);
    assert_int_equal(knowledge_test_full_checks(), before + 1);
    assert_int_equal(count_corrupt(dir), 1);
    record(kb, 1, 1);
    json_t *j = knowledge_heals_json(kb, 10);
    assert_int_equal(json_array_size(json_object_get(j, "heals")), 1);
    json_decref(j);
    knowledge_close(kb);
}

static void test_prune_batches(void **state)
{
    const char *dir = *state;
    const int n = 3200, cut = 2101; /* 2101 heals before the cut: three batches */
    knowledge *kb = open_kb(dir);
    for (int i = 0; i < n; i++)
        record(kb, i, 0);
    assert_int_equal(knowledge_flush(kb), HEALER_OK);
    uint64_t att = 0, suc = 0;
    knowledge_stats(kb, "cpu_high", "stop", &att, &suc);
    sqlite3_int64 stats_before = db_int(dir, "SELECT sum(attempts) FROM stats");
    sqlite3_int64 acts_kept = db_int(dir, "SELECT count(*) FROM heal_actions a JOIN heals h ON"
                                          " h.id = a.heal_id WHERE h.finished_at >= %.17g",
                                     T0 + cut);

    uint64_t removed = 0;
    assert_int_equal(knowledge_prune(kb, T0 + cut, &removed), HEALER_OK);
    assert_int_equal(removed, cut);
    assert_int_equal(db_int(dir, "SELECT count(*) FROM heals"), n - cut);
    assert_int_equal(db_int(dir, "SELECT min(finished_at) FROM heals"), (sqlite3_int64)(T0 + cut));
    assert_int_equal(db_int(dir, "SELECT count(*) FROM heal_actions"), acts_kept);
    /* Heals 2100 (before) and 2101 (after) share issue 1051: it stays; 1050 goes. */
    assert_int_equal(db_int(dir, "SELECT count(*) FROM issues WHERE id = 1051"), 1);
    assert_int_equal(db_int(dir, "SELECT count(*) FROM issues WHERE id = 1050"), 0);
    assert_int_equal(db_int(dir, "SELECT count(*) FROM issues i WHERE NOT EXISTS"
                                 " (SELECT 1 FROM heals WHERE issue_id = i.id)"), 0);
    assert_int_equal(db_int(dir, "SELECT count(*) FROM heals h WHERE issue_id IS NOT NULL AND"
                                 " NOT EXISTS (SELECT 1 FROM issues WHERE id = h.issue_id)"), 0);
    /* What was learned stays. */
    assert_int_equal(db_int(dir, "SELECT sum(attempts) FROM stats"), stats_before);
    uint64_t att2 = 0, suc2 = 0;
    knowledge_stats(kb, "cpu_high", "stop", &att2, &suc2);
    assert_int_equal(att2, att);

    assert_int_equal(knowledge_prune(kb, T0 + cut, &removed), HEALER_OK);
    assert_int_equal(removed, 0);
    /* Exactly one batch's worth: the loop's last batch is empty, nothing left behind. */
    assert_int_equal(knowledge_prune(kb, T0 + cut + 1000, &removed), HEALER_OK);
    assert_int_equal(removed, 1000);
    assert_int_equal(db_int(dir, "SELECT count(*) FROM heals"), n - cut - 1000);
    assert_int_equal(knowledge_prune(kb, NAN, &removed), HEALER_E_INVAL);
    knowledge_close(kb);
}

/* Heals committed out of id order, with 0 to 3 actions: each page's heals carry exactly their
 * own actions, in order. */
static void test_heals_page_actions(void **state)
{
    const char *dir = *state;
    knowledge *kb = open_kb(dir);
    uint64_t ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = knowledge_next_heal_id(kb);
    for (int k = 0; k < 40; k++) {
        int i = (k * 17) % 40; /* a permutation */
        kb_heal h = {.id = ids[i], .issue_id = (uint64_t)i + 1, .issue_type = "t",
                     .outcome = "healed", .finished_at = T0 + i, .actions = ACTS,
                     .n_actions = (size_t)(i % 4 == 3 ? 0 : i % 4 + 1)};
        assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK);
    }
    assert_int_equal(knowledge_flush(kb), HEALER_OK);
    static const int limits[] = {1, 7, 40, 1000};
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        json_t *j = knowledge_heals_json(kb, limits[l]);
        json_t *heals = json_object_get(j, "heals");
        size_t want = limits[l] < 40 ? (size_t)limits[l] : 40;
        assert_int_equal(json_array_size(heals), want);
        for (size_t k = 0; k < want; k++) {
            int i = 39 - (int)k; /* newest id first */
            json_t *h = json_array_get(heals, k);
            assert_int_equal(json_integer_value(json_object_get(h, "id")), ids[i]);
            json_t *acts = json_object_get(h, "actions");
            size_t na = (size_t)(i % 4 == 3 ? 0 : i % 4 + 1);
            assert_int_equal(json_array_size(acts), na);
            for (size_t a = 0; a < na; a++)
                assert_string_equal(json_string_value(json_object_get(json_array_get(acts, a),
                                                                      "action")),
                                    ACTS[a].action);
        }
        json_decref(j);
    }
    knowledge_close(kb);
}

/* Each statement that must not grow with the table reads through an index or the primary key:
 * no full scan, no sort of the whole table. */
static void test_query_plans(void **state)
{
    const char *dir = *state;
    fill(dir, 50);
    knowledge *kb = open_kb(dir);
    char path[256];
    snprintf(path, sizeof path, "%s/knowledge.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    for (int which = 0; which < 4; which++) {
        const char *sql = knowledge_test_sql(kb, which);
        assert_non_null(sql);
        char *eqp = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, eqp, -1, &st, NULL), SQLITE_OK);
        char plan[2048] = "";
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(st, 3);
            strncat(plan, d ? d : "", sizeof plan - strlen(plan) - 2);
            strcat(plan, ";");
        }
        fprintf(stderr, "plan %d: %s\n", which, plan);
        /* "SCAN heals" alone is a full scan; "SCAN heals USING INDEX ..." (and the primary key
         * in reverse for ORDER BY id DESC LIMIT) is ordered and stopped by the LIMIT. */
        for (char *p = plan; (p = strstr(p, "SCAN ")); p++) {
            char *end = strchr(p, ';');
            assert_non_null(end);
            int indexed = (strstr(p, "USING") && strstr(p, "USING") < end) || which == 0;
            assert_true(indexed);
        }
        assert_null(strstr(plan, "TEMP B-TREE"));
        sqlite3_finalize(st);
        sqlite3_free(eqp);
    }
    sqlite3_close(db);
    knowledge_close(kb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_close_skips_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unclean_stop_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unclean_corrupt_moved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_but_damaged_moved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heals_page_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_plans, setup, teardown),
    };
    return cmocka_run_group_tests_name("knowledge_growth", tests, NULL, NULL);
}
