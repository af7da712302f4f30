/* test_knowledge.c — the knowledge base on real SQLite files in a temp dir: both write paths,
 * reopen, statistics (memory, table and a recount from the heals all agree), the JSON views,
 * corrupt files moved aside, ids across restarts, kill -9 of a writer, and the queue bound. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "healer/types.h"
#include "knowledge.h"

/* Test hooks of knowledge.c (deliberately not in knowledge.h). */
void knowledge_test_set_queue_max(knowledge *kb, size_t max);
void knowledge_test_pause_writer(knowledge *kb, int paused);

#define T0 1764280000.0

static const kb_action ACT_RENICE_OK = {
    .plugin = "cpu", .action = "renice", .target = "pid:123", .outcome = "healed", .success = 1,
    .message = "reniced 123 to 10", .before_json = "{\"cpu_percent\": 97.0}",
    .after_json = "{\"cpu_percent\": 40.0}", .started_at = T0 + 1, .duration = 0.2};
static const kb_action ACT_KILL_FAIL = {
    .plugin = "cpu", .action = "kill", .target = "pid:123", .outcome = "failed", .success = 0,
    .message = "still at 97%", .before_json = NULL, .after_json = "not json",
    .started_at = T0 + 1.5, .duration = 0.1};
static const kb_action ACT_FREEZE_SKIPPED = {
    .plugin = "cpu", .action = "freeze", .target = "cg:/x", .outcome = "skipped", .success = 0,
    .message = "not needed", .started_at = T0 + 2, .duration = 0};
static const kb_action ACT_RENICE_DRY = {
    .plugin = "cpu", .action = "renice", .target = "pid:123", .outcome = "dry_run", .success = 0,
    .message = "would renice", .started_at = T0 + 1, .duration = 0};

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
    snprintf(f->dir, sizeof f->dir, "/tmp/test_knowledge.XXXXXX");
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
    assert_non_null(kb);
    return kb;
}

static kb_heal make_heal(uint64_t id, uint64_t issue_id, const char *type, int dry_run,
                         const kb_action *acts, size_t n)
{
    kb_heal h = {.id = id, .issue_id = issue_id, .issue_type = type, .severity = "high",
                 .target = "cpu", .plugin = "cpu", .summary = "CPU at 97% for 60 s",
                 .outcome = dry_run ? "dry_run" : "healed", .reason = NULL, .dry_run = dry_run,
                 .detected_at = T0 + (double)id, .started_at = T0 + (double)id + 1,
                 .finished_at = T0 + (double)id + 2.5, .actions = acts, .n_actions = n};
    return h;
}

/* One integer from a fresh connection of the test's own: what is on disk, not in memory. */
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

/* The stats table must equal a recount from the stored heals, both ways: no drift. */
static void assert_stats_consistent(const char *dir)
{
    static const char recount[] =
        "SELECT h.issue_type, a.action, count(*), sum(a.success) FROM heal_actions a"
        " JOIN heals h ON h.id = a.heal_id WHERE h.dry_run = 0"
        " AND a.outcome NOT IN ('dry_run', 'skipped') GROUP BY 1, 2";
    assert_int_equal(db_int(dir, "SELECT count(*) FROM (%s EXCEPT SELECT issue_type, action,"
                                 " attempts, successes FROM stats)", recount), 0);
    assert_int_equal(db_int(dir, "SELECT count(*) FROM (SELECT issue_type, action, attempts,"
                                 " successes FROM stats WHERE attempts > 0 EXCEPT %s)", recount),
                     0);
}

static void assert_mem_stats(knowledge *kb, const char *type, const char *action, uint64_t att,
                             uint64_t suc)
{
    uint64_t a = 99, s = 99;
    knowledge_stats(kb, type, action, &a, &s);
    assert_int_equal(a, att);
    assert_int_equal(s, suc);
}

static json_t *find_stat(json_t *stats, const char *type, const char *action)
{
    json_t *list = json_object_get(stats, "knowledge");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "issue_type")), type) == 0 &&
            strcmp(json_string_value(json_object_get(e, "action")), action) == 0)
            return e;
    }
    return NULL;
}

/* ------------------------------------------------------------------------------ tests */

static void test_record_reopen(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    const kb_action healed[] = {ACT_KILL_FAIL, ACT_RENICE_OK};
    const kb_action skipped[] = {ACT_FREEZE_SKIPPED, ACT_RENICE_OK};
    const kb_action dry[] = {ACT_RENICE_DRY};
    const kb_action live_dry_action[] = {ACT_RENICE_DRY};
    uint64_t ids[8];
    for (int i = 0; i < 8; i++)
        ids[i] = knowledge_next_heal_id(kb);

    kb_heal h;
    h = make_heal(ids[0], 11, "cpu_high", 0, healed, 2);
    assert_int_equal(knowledge_record_heal_sync(kb, &h), HEALER_OK);
    h = make_heal(ids[1], 11, "cpu_high", 0, skipped, 2);
    assert_int_equal(knowledge_record_heal_sync(kb, &h), HEALER_OK);
    h = make_heal(ids[2], 12, "cpu_high", 1, dry, 1); /* dry-run heal: stored, never counted */
    assert_int_equal(knowledge_record_heal_sync(kb, &h), HEALER_OK);
    h = make_heal(ids[3], 13, "cpu_high", 0, healed, 2);
    assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK);
    h = make_heal(ids[4], 13, "cpu_high", 1, healed, 2); /* dry-run flag wins over outcomes */
    assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK);
    h = make_heal(ids[5], 14, "mem_low", 0, live_dry_action, 1); /* a dry_run action */
    assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK);
    h = make_heal(ids[6], 0, "mem_low", 0, healed, 2); /* no issue */
    assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK);
    h = make_heal(ids[7], 15, "disk_full", 0, NULL, 0); /* no actions at all */
    h.outcome = "suppressed";
    h.reason = "cooldown";
    h.started_at = 0;
    assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK);

    /* Memory sees the queued heals at once, before any commit. */
    assert_mem_stats(kb, "cpu_high", "renice", 3, 3);
    assert_mem_stats(kb, "cpu_high", "kill", 2, 0);
    assert_mem_stats(kb, "cpu_high", "freeze", 0, 0);
    assert_mem_stats(kb, "mem_low", "renice", 1, 1);
    assert_mem_stats(kb, "mem_low", "kill", 1, 0);
    assert_int_equal(knowledge_flush(kb), HEALER_OK);
    knowledge_close(kb);

    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM heals"), 8);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM heal_actions"), 12);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM heals WHERE dry_run = 1"), 2);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM issues"), 5);
    assert_int_equal(db_int(f->dir, "SELECT heals FROM issues WHERE id = 13"), 2);
    assert_int_equal(db_int(f->dir, "SELECT last_heal_id FROM issues WHERE id = 13"),
                     (sqlite3_int64)ids[4]);
    assert_int_equal(db_int(f->dir, "SELECT issue_id IS NULL FROM heals WHERE id = %lld",
                            (long long)ids[6]), 1);
    assert_int_equal(db_int(f->dir, "SELECT attempts FROM stats WHERE issue_type = 'cpu_high'"
                                    " AND action = 'renice'"), 3);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM stats WHERE action = 'freeze'"), 0);
    assert_int_equal(db_int(f->dir, "PRAGMA user_version"), 3);
    assert_stats_consistent(f->dir);

    kb = open_kb(f->dir);
    assert_mem_stats(kb, "cpu_high", "renice", 3, 3);
    assert_mem_stats(kb, "cpu_high", "kill", 2, 0);
    assert_mem_stats(kb, "mem_low", "renice", 1, 1);
    assert_mem_stats(kb, "mem_low", "kill", 1, 0);
    assert_mem_stats(kb, "nope", "renice", 0, 0);

    json_t *j = knowledge_heals_json(kb, 100);
    assert_non_null(j);
    json_t *heals = json_object_get(j, "heals");
    assert_int_equal(json_array_size(heals), 8);
    json_t *sup = json_array_get(heals, 0); /* newest first: the suppressed one */
    assert_int_equal(json_integer_value(json_object_get(sup, "id")), ids[7]);
    assert_string_equal(json_string_value(json_object_get(sup, "outcome")), "suppressed");
    assert_string_equal(json_string_value(json_object_get(sup, "reason")), "cooldown");
    assert_true(json_is_array(json_object_get(sup, "actions")));
    assert_int_equal(json_array_size(json_object_get(sup, "actions")), 0);
    assert_true(json_real_value(json_object_get(sup, "duration_seconds")) == 0.0);
    json_t *noissue = json_array_get(heals, 1);
    assert_true(json_is_null(json_object_get(noissue, "issue_id")));
    json_t *first = json_array_get(heals, 7);
    assert_int_equal(json_integer_value(json_object_get(first, "id")), ids[0]);
    assert_int_equal(json_integer_value(json_object_get(first, "issue_id")), 11);
    json_t *dryh = json_array_get(heals, 5);
    assert_true(json_is_true(json_object_get(dryh, "dry_run")));
    assert_true(json_is_false(json_object_get(first, "dry_run")));
    json_decref(j);
    knowledge_close(kb);
}

static void test_heals_json_shape_and_order(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    const kb_action acts[] = {ACT_KILL_FAIL, ACT_RENICE_OK};
    uint64_t last = 0;
    for (int i = 0; i < 20; i++) {
        kb_heal h = make_heal(knowledge_next_heal_id(kb), knowledge_next_issue_id(kb),
                              "cpu_high", 0, acts, 2);
        last = h.id;
        assert_int_equal(i % 2 ? knowledge_record_heal(kb, &h) : knowledge_record_heal_sync(kb, &h),
                         HEALER_OK);
    }
    assert_int_equal(knowledge_flush(kb), HEALER_OK);

    json_t *j = knowledge_heals_json(kb, 5);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 1);
    json_t *heals = json_object_get(j, "heals");
    assert_int_equal(json_array_size(heals), 5);
    json_int_t prev = INT64_MAX;
    size_t i;
    json_t *h;
    json_array_foreach(heals, i, h) {
        json_int_t id = json_integer_value(json_object_get(h, "id"));
        assert_true(id < prev);
        prev = id;
    }
    h = json_array_get(heals, 0);
    assert_int_equal(json_integer_value(json_object_get(h, "id")), last);
    static const char *const heal_keys[] = {
        "id", "issue_id", "issue_type", "severity", "target", "plugin", "summary", "outcome",
        "reason", "dry_run", "detected_at", "started_at", "finished_at", "duration_seconds",
        "actions"};
    assert_int_equal(json_object_size(h), sizeof heal_keys / sizeof heal_keys[0]);
    for (size_t k = 0; k < sizeof heal_keys / sizeof heal_keys[0]; k++)
        assert_non_null(json_object_get(h, heal_keys[k]));
    assert_string_equal(json_string_value(json_object_get(h, "issue_type")), "cpu_high");
    assert_string_equal(json_string_value(json_object_get(h, "severity")), "high");
    assert_string_equal(json_string_value(json_object_get(h, "summary")), "CPU at 97% for 60 s");
    assert_true(json_is_null(json_object_get(h, "reason")));
    assert_true(json_is_false(json_object_get(h, "dry_run")));
    assert_true(fabs(json_real_value(json_object_get(h, "detected_at")) - (T0 + (double)last)) < 1e-6);
    assert_true(fabs(json_real_value(json_object_get(h, "duration_seconds")) - 1.5) < 1e-9);

    json_t *acts_j = json_object_get(h, "actions");
    assert_int_equal(json_array_size(acts_j), 2);
    json_t *kill = json_array_get(acts_j, 0), *renice = json_array_get(acts_j, 1);
    static const char *const action_keys[] = {"plugin", "action", "target", "outcome", "message",
                                              "started_at", "duration_seconds", "before", "after"};
    assert_int_equal(json_object_size(renice), sizeof action_keys / sizeof action_keys[0]);
    for (size_t k = 0; k < sizeof action_keys / sizeof action_keys[0]; k++)
        assert_non_null(json_object_get(renice, action_keys[k]));
    assert_string_equal(json_string_value(json_object_get(kill, "action")), "kill");
    assert_string_equal(json_string_value(json_object_get(renice, "action")), "renice");
    assert_string_equal(json_string_value(json_object_get(renice, "outcome")), "healed");
    assert_string_equal(json_string_value(json_object_get(renice, "message")), "reniced 123 to 10");
    assert_true(fabs(json_real_value(json_object_get(renice, "duration_seconds")) - 0.2) < 1e-9);
    json_t *before = json_object_get(renice, "before"), *after = json_object_get(renice, "after");
    assert_true(json_is_object(before));
    assert_true(json_real_value(json_object_get(before, "cpu_percent")) == 97.0);
    assert_true(json_real_value(json_object_get(after, "cpu_percent")) == 40.0);
    assert_true(json_is_null(json_object_get(kill, "before")));  /* NULL stored */
    assert_true(json_is_null(json_object_get(kill, "after")));   /* "not json" stored */
    /* The whole answer must serialise (valid UTF-8, finite numbers). */
    char *text = json_dumps(j, 0);
    assert_non_null(text);
    free(text);
    json_decref(j);

    /* Limits: <=0 means the API's default 50, beyond 1000 is capped. */
    j = knowledge_heals_json(kb, 0);
    assert_int_equal(json_array_size(json_object_get(j, "heals")), 20);
    json_decref(j);
    j = knowledge_heals_json(kb, 1);
    assert_int_equal(json_array_size(json_object_get(j, "heals")), 1);
    json_decref(j);
    knowledge_close(kb);
}

/* One heal by id keeps its decision (the planner's candidates, the governor's verdict) and its
 * actions in order; its issue lists it; an unknown id is NOTFOUND; queued heals are found. */
static void test_one_heal_and_issue(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    kb_action acts[] = {ACT_KILL_FAIL, ACT_FREEZE_SKIPPED};
    uint64_t id = knowledge_next_heal_id(kb);
    kb_heal h = make_heal(id, 77, "cpu_high", 0, acts, 2);
    h.decision_json = "{\"governor\":{\"verdict\":\"allow\"},\"candidates\":[{\"action\":\"kill\"},"
                      "{\"action\":\"freeze\"}]}";
    assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK); /* queued, not yet committed */
    kb_heal h2 = make_heal(knowledge_next_heal_id(kb), 77, "cpu_high", 0, NULL, 0);
    assert_int_equal(knowledge_record_heal(kb, &h2), HEALER_OK);
    json_t *o = NULL;
    assert_int_equal(knowledge_heal_json(kb, id, &o), HEALER_OK);
    assert_non_null(o);
    json_t *d = json_object_get(o, "decision");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "governor"), "verdict")),
                        "allow");
    assert_int_equal(json_array_size(json_object_get(d, "candidates")), 2);
    json_t *a = json_object_get(o, "actions");
    assert_int_equal(json_array_size(a), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "action")), "kill");
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "action")), "freeze");
    json_decref(o);
    /* no decision recorded: null, not an error */
    assert_int_equal(knowledge_heal_json(kb, h2.id, &o), HEALER_OK);
    assert_true(json_is_null(json_object_get(o, "decision")));
    json_decref(o);
    assert_int_equal(knowledge_heal_json(kb, 999999, &o), HEALER_E_NOTFOUND);
    assert_null(o);
    assert_int_equal(knowledge_issue_json(kb, 77, 20, &o), HEALER_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "heal_count")), 2);
    json_t *hs = json_object_get(o, "heals");
    assert_int_equal(json_array_size(hs), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(hs, 0), "id")), (json_int_t)h2.id);
    json_decref(o);
    assert_int_equal(knowledge_issue_json(kb, 78, 20, &o), HEALER_E_NOTFOUND);
    knowledge_close(kb);
}

static void test_stats_json_and_confidence(void **state)
{
    fixture *f = *state;
    const double w = KNOWLEDGE_PRIOR_WEIGHT;
    /* No data: the prior. One success is not certainty. */
    assert_true(fabs(knowledge_confidence(0, 0, 0.5) - 0.5) < 1e-12);
    assert_true(fabs(knowledge_confidence(1, 1, 0.5) - (1 + w * 0.5) / (1 + w)) < 1e-12);
    assert_true(knowledge_confidence(1, 1, 0.5) < 0.7);
    assert_true(fabs(knowledge_confidence(1, 0, 0.5) - (w * 0.5) / (1 + w)) < 1e-12);
    assert_true(fabs(knowledge_confidence(10, 7, 0.5) - 8.0 / 12.0) < 1e-12);
    assert_true(fabs(knowledge_confidence(1000, 1000, 0.5) - 1001.0 / 1002.0) < 1e-12);
    /* The prior is clamped to [0,1]; a NaN prior is the neutral one. */
    assert_true(knowledge_confidence(0, 0, 7.0) == 1.0);
    assert_true(knowledge_confidence(0, 0, -3.0) == 0.0);
    assert_true(fabs(knowledge_confidence(0, 0, NAN) - 0.5) < 1e-12);
    assert_true(knowledge_confidence(2, 5, 0.5) <= 1.0); /* nonsense input stays a probability */

    knowledge *kb = open_kb(f->dir);
    const kb_action ok[] = {ACT_RENICE_OK};
    const kb_action failed[] = {{.plugin = "cpu", .action = "renice", .outcome = "failed"}};
    const kb_action bad[] = {ACT_KILL_FAIL};
    for (int i = 0; i < 10; i++) {
        kb_heal h = make_heal(knowledge_next_heal_id(kb), 1, "cpu_high", 0, i < 7 ? ok : failed, 1);
        assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK);
    }
    kb_heal hk = make_heal(knowledge_next_heal_id(kb), 2, "cpu_high", 0, bad, 1);
    assert_int_equal(knowledge_record_heal_sync(kb, &hk), HEALER_OK);
    assert_int_equal(knowledge_flush(kb), HEALER_OK);

    json_t *j = knowledge_stats_json(kb);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 1);
    assert_int_equal(json_array_size(json_object_get(j, "knowledge")), 2);
    json_t *e = find_stat(j, "cpu_high", "renice");
    assert_non_null(e);
    assert_int_equal(json_object_size(e), 5);
    assert_int_equal(json_integer_value(json_object_get(e, "attempts")), 10);
    assert_int_equal(json_integer_value(json_object_get(e, "successes")), 7);
    assert_true(fabs(json_real_value(json_object_get(e, "confidence")) - 8.0 / 12.0) < 1e-9);
    e = find_stat(j, "cpu_high", "kill");
    assert_non_null(e);
    assert_int_equal(json_integer_value(json_object_get(e, "attempts")), 1);
    assert_int_equal(json_integer_value(json_object_get(e, "successes")), 0);
    assert_true(fabs(json_real_value(json_object_get(e, "confidence")) - 1.0 / 3.0) < 1e-9);
    json_decref(j);
    knowledge_close(kb);
    assert_stats_consistent(f->dir);
}

/* Runs fn with stderr sent to a file, and returns what was logged (caller frees). */
static char *capture_stderr(void (*fn)(void *), void *arg, const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn(arg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)len + 1);
    assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
    close(fd);
    unlink(path);
    fputs(buf, stderr); /* still shown to whoever reads the test output */
    return buf;
}

typedef struct open_call {
    const char *dir;
    knowledge *kb;
} open_call;

static void do_open(void *arg)
{
    open_call *c = arg;
    c->kb = open_kb(c->dir);
}

static int count_corrupt(const char *dir, char *name, size_t namelen)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, "knowledge.db.corrupt-", 21) == 0 && !strchr(de->d_name + 21, 'w') &&
            !strchr(de->d_name + 21, 's')) {
            n++;
            snprintf(name, namelen, "%s", de->d_name);
        }
    closedir(d);
    return n;
}

static void fresh_db_works(knowledge *kb, const char *dir)
{
    const kb_action acts[] = {ACT_RENICE_OK};
    kb_heal h = make_heal(knowledge_next_heal_id(kb), 1, "cpu_high", 0, acts, 1);
    assert_int_equal(knowledge_record_heal_sync(kb, &h), HEALER_OK);
    assert_mem_stats(kb, "cpu_high", "renice", 1, 1);
    json_t *j = knowledge_heals_json(kb, 10);
    assert_int_equal(json_array_size(json_object_get(j, "heals")), 1);
    json_decref(j);
    knowledge_close(kb);
    assert_int_equal(db_int(dir, "SELECT count(*) FROM heals"), 1);
}

static void test_corrupt_garbage(void **state)
{
    fixture *f = *state;
    char path[256];
    snprintf(path, sizeof path, "%s/knowledge.db", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 20000; i++)
        fputc((i * 7919) & 0xff, fp);
    fclose(fp);

    open_call c = {f->dir, NULL};
    char *log = capture_stderr(do_open, &c, f->dir);
    char name[256] = "";
    assert_int_equal(count_corrupt(f->dir, name, sizeof name), 1);
    /* One error line, naming the new file. */
    char *line = strstr(log, "error knowledge:");
    assert_non_null(line);
    assert_null(strstr(line + 1, "error knowledge:"));
    assert_non_null(strstr(log, name));
    free(log);
    /* The garbage is kept, byte for byte, for whoever wants to look at it. */
    char moved[512];
    snprintf(moved, sizeof moved, "%s/%s", f->dir, name);
    struct stat st;
    assert_int_equal(stat(moved, &st), 0);
    assert_int_equal(st.st_size, 20000);
    fresh_db_works(c.kb, f->dir);
}

static void test_corrupt_pages(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    const kb_action acts[] = {ACT_RENICE_OK, ACT_KILL_FAIL};
    for (int i = 0; i < 500; i++) {
        kb_heal h = make_heal(knowledge_next_heal_id(kb), (uint64_t)i + 1, "cpu_high", 0, acts, 2);
        assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK);
    }
    knowledge_close(kb); /* checkpoints: everything in the main file */

    /* A sound header over smashed b-tree pages: only quick_check can tell. */
    char path[256];
    snprintf(path, sizeof path, "%s/knowledge.db", f->dir);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(st.st_size > 8192);
    char junk[4096];
    memset(junk, 0xA5, sizeof junk);
    for (off_t off = 4096; off + (off_t)sizeof junk <= st.st_size; off += 3 * 4096)
        assert_int_equal(pwrite(fd, junk, sizeof junk, off), (ssize_t)sizeof junk);
    close(fd);

    open_call c = {f->dir, NULL};
    char *log = capture_stderr(do_open, &c, f->dir);
    char name[256] = "";
    assert_int_equal(count_corrupt(f->dir, name, sizeof name), 1);
    assert_non_null(strstr(log, name));
    free(log);
    assert_mem_stats(c.kb, "cpu_high", "renice", 0, 0);
    fresh_db_works(c.kb, f->dir);
}

static void test_open_errors(void **state)
{
    fixture *f = *state;
    knowledge *kb = (knowledge *)0x1;
    char err[512] = "";
    assert_int_equal(knowledge_open(NULL, &kb, err, sizeof err), -1);
    assert_null(kb);
    assert_true(err[0] != '\0');
    assert_int_equal(knowledge_open(f->dir, NULL, err, sizeof err), -1);

    /* state_dir is a file: no database, a message naming it. */
    char file[256];
    snprintf(file, sizeof file, "%s/plain", f->dir);
    FILE *fp = fopen(file, "w");
    fclose(fp);
    err[0] = '\0';
    assert_int_equal(knowledge_open(file, &kb, err, sizeof err), -1);
    assert_non_null(strstr(err, file));

    /* Nested directories are created. */
    char nested[256];
    snprintf(nested, sizeof nested, "%s/a/b/c", f->dir);
    kb = open_kb(nested);
    knowledge_close(kb);

    /* A database from a newer healerd is moved aside, not rewritten, and a fresh one starts
     * (refusing would only restart the agent into the same file for ever). */
    char path[300];
    snprintf(path, sizeof path, "%s/knowledge.db", nested);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    err[0] = '\0';
    kb = open_kb(nested);
    char name[256];
    assert_int_equal(count_corrupt(nested, name, sizeof name), 1);
    char moved[600];
    snprintf(moved, sizeof moved, "%s/%s", nested, name);
    assert_int_equal(sqlite3_open(moved, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 99);
    sqlite3_finalize(st);
    sqlite3_close(db);
    fresh_db_works(kb, nested);
}

/* Not ours: every case is moved aside with a line naming where, and a fresh database starts. */
static void expect_moved(const char *dir, const char *setup_sql, const char *said)
{
    char path[300];
    snprintf(path, sizeof path, "%s/knowledge.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, setup_sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    open_call c = {dir, NULL};
    char *log = capture_stderr(do_open, &c, dir);
    char name[256];
    assert_int_equal(count_corrupt(dir, name, sizeof name), 1);
    assert_non_null(strstr(log, name));
    if (!strstr(log, said))
        fail_msg("expected '%s' in: %s", said, log);
    free(log);
    fresh_db_works(c.kb, dir);
}

static void test_foreign_schema_moved(void **state)
{
    fixture *f = *state;
    char d1[300], d2[300];
    snprintf(d1, sizeof d1, "%s/foreign", f->dir);
    snprintf(d2, sizeof d2, "%s/missing", f->dir);
    assert_int_equal(mkdir(d1, 0700), 0);
    assert_int_equal(mkdir(d2, 0700), 0);
    /* Another application's database: no schema version of ours, tables of its own. */
    expect_moved(d1, "CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('a');",
                 "another application");
    /* Our version number, but a table of that version missing. */
    expect_moved(d2, "CREATE TABLE issues (id INTEGER); PRAGMA user_version = 2;",
                 "without its table heals");
}

/* A link planted as knowledge.db pointing at another SQLite database: refused by name, and the
 * target is neither migrated nor moved. */
static void test_symlink_refused(void **state)
{
    fixture *f = *state;
    char other[300], link[300];
    snprintf(other, sizeof other, "%s/other.db", f->dir);
    snprintf(link, sizeof link, "%s/knowledge.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE app (v INTEGER); INSERT INTO app VALUES (7);",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct stat before, after;
    assert_int_equal(stat(other, &before), 0);
    assert_int_equal(symlink(other, link), 0);
    knowledge *kb = (knowledge *)0x1;
    char err[512] = "";
    assert_int_equal(knowledge_open(f->dir, &kb, err, sizeof err), -1);
    assert_null(kb);
    assert_non_null(strstr(err, link));
    assert_non_null(strstr(err, "symbolic link"));
    assert_int_equal(stat(other, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(after.st_mtime, before.st_mtime);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM sqlite_master"), 1); /* through the link */
    char name[256];
    assert_int_equal(count_corrupt(f->dir, name, sizeof name), 0);
}

/* A state_dir others may write: refused with how to fix it. */
static void test_unsafe_state_dir(void **state)
{
    fixture *f = *state;
    assert_int_equal(chmod(f->dir, 0757), 0);
    knowledge *kb = (knowledge *)0x1;
    char err[512] = "";
    assert_int_equal(knowledge_open(f->dir, &kb, err, sizeof err), -1);
    assert_null(kb);
    assert_non_null(strstr(err, "chmod 0700"));
    assert_int_equal(chmod(f->dir, 0700), 0);
}

static void test_bad_input(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    const kb_action acts[] = {ACT_RENICE_OK};
    kb_heal h = make_heal(knowledge_next_heal_id(kb), 1, "cpu_high", 0, acts, 1);

    assert_int_equal(knowledge_record_heal(NULL, &h), HEALER_E_INVAL);
    assert_int_equal(knowledge_record_heal(kb, NULL), HEALER_E_INVAL);
    assert_int_equal(knowledge_record_heal_sync(kb, NULL), HEALER_E_INVAL);
    kb_heal bad = h;
    bad.id = 0;
    assert_int_equal(knowledge_record_heal(kb, &bad), HEALER_E_INVAL);
    bad = h;
    bad.issue_type = NULL;
    assert_int_equal(knowledge_record_heal_sync(kb, &bad), HEALER_E_INVAL);
    bad = h;
    bad.outcome = NULL;
    assert_int_equal(knowledge_record_heal(kb, &bad), HEALER_E_INVAL);
    bad = h;
    bad.actions = NULL;
    assert_int_equal(knowledge_record_heal(kb, &bad), HEALER_E_INVAL);
    kb_action noname = ACT_RENICE_OK;
    noname.action = NULL;
    bad = h;
    bad.actions = &noname;
    assert_int_equal(knowledge_record_heal(kb, &bad), HEALER_E_INVAL);
    noname = ACT_RENICE_OK;
    noname.outcome = NULL;
    assert_int_equal(knowledge_record_heal_sync(kb, &bad), HEALER_E_INVAL);

    /* Odd but legal: NULL strings, non-finite times, bytes that are not UTF-8. */
    kb_action odd = {.action = "renice", .outcome = "healed", .success = 1,
                     .message = "\xff\xfe name", .before_json = "[1,2]",
                     .started_at = NAN, .duration = INFINITY};
    kb_heal oddh = {.id = knowledge_next_heal_id(kb), .issue_type = "cpu_high",
                    .outcome = "healed", .detected_at = -INFINITY, .actions = &odd, .n_actions = 1};
    assert_int_equal(knowledge_record_heal_sync(kb, &oddh), HEALER_OK);
    assert_int_equal(knowledge_flush(kb), HEALER_OK);
    json_t *j = knowledge_heals_json(kb, 10);
    assert_non_null(j);
    char *text = json_dumps(j, 0);
    assert_non_null(text);
    free(text);
    json_t *a = json_array_get(json_object_get(json_array_get(json_object_get(j, "heals"), 0),
                                               "actions"), 0);
    assert_true(json_is_null(json_object_get(a, "before"))); /* an array is not an object */
    assert_true(json_is_null(json_object_get(a, "plugin")));
    json_decref(j);

    uint64_t at = 5, su = 5;
    knowledge_stats(kb, NULL, "renice", &at, &su);
    assert_int_equal(at, 0);
    knowledge_stats(NULL, "cpu_high", "renice", &at, &su);
    assert_int_equal(su, 0);
    knowledge_stats(kb, "cpu_high", "renice", NULL, NULL);
    assert_null(knowledge_heals_json(NULL, 5));
    assert_null(knowledge_stats_json(NULL));
    assert_int_equal(knowledge_next_heal_id(NULL), 0);
    assert_int_equal(knowledge_flush(NULL), HEALER_E_INVAL);
    knowledge_close(NULL);
    knowledge_close(kb);
    assert_stats_consistent(f->dir);
}

/* A heal the writer cannot store (its id is taken) is given back by memory too. */
static void test_failed_write_no_drift(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    const kb_action acts[] = {ACT_RENICE_OK};
    kb_heal h = make_heal(knowledge_next_heal_id(kb), 1, "cpu_high", 0, acts, 1);
    assert_int_equal(knowledge_record_heal_sync(kb, &h), HEALER_OK);
    assert_int_equal(knowledge_record_heal_sync(kb, &h), HEALER_E_IO);
    assert_mem_stats(kb, "cpu_high", "renice", 1, 1);

    kb_heal ok1 = make_heal(knowledge_next_heal_id(kb), 1, "cpu_high", 0, acts, 1);
    kb_heal ok2 = make_heal(knowledge_next_heal_id(kb), 1, "cpu_high", 0, acts, 1);
    assert_int_equal(knowledge_record_heal(kb, &ok1), HEALER_OK);
    assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK); /* queued; fails on write */
    assert_int_equal(knowledge_record_heal(kb, &ok2), HEALER_OK);
    assert_int_equal(knowledge_flush(kb), HEALER_E_IO);
    assert_int_equal(knowledge_flush(kb), HEALER_OK); /* reported once */
    assert_mem_stats(kb, "cpu_high", "renice", 3, 3);
    knowledge_close(kb);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM heals"), 3);
    assert_int_equal(db_int(f->dir, "SELECT attempts FROM stats"), 3);
    assert_stats_consistent(f->dir);
}

static void test_ids_unique_across_reopen(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    uint64_t maxh = 0, maxi = 0;
    for (int i = 0; i < 5; i++) {
        uint64_t h = knowledge_next_heal_id(kb), is = knowledge_next_issue_id(kb);
        assert_true(h > maxh);
        assert_true(is > maxi);
        maxh = h;
        maxi = is;
    }
    const kb_action acts[] = {ACT_RENICE_OK};
    kb_heal h = make_heal(maxh - 2, maxi - 1, "cpu_high", 0, acts, 1);
    assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK);
    knowledge_close(kb);

    /* Ids handed out but never stored are not handed out again either; after a clean close
     * the sequence simply goes on. */
    kb = open_kb(f->dir);
    assert_int_equal(knowledge_next_heal_id(kb), maxh + 1);
    assert_int_equal(knowledge_next_issue_id(kb), maxi + 1);
    knowledge_close(kb);

    /* A crash (kill -9) between handing out ids and storing anything. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        knowledge *ckb = NULL;
        char err[256];
        if (knowledge_open(f->dir, &ckb, err, sizeof err) != 0)
            _exit(2);
        for (int i = 0; i < 20; i++) {
            uint64_t ids[2] = {knowledge_next_heal_id(ckb), knowledge_next_issue_id(ckb)};
            if (write(p[1], ids, sizeof ids) != (ssize_t)sizeof ids)
                _exit(3);
        }
        pause();
        _exit(0);
    }
    close(p[1]);
    uint64_t seen_h = 0, seen_i = 0;
    for (int i = 0; i < 20; i++) {
        uint64_t ids[2];
        assert_int_equal(read(p[0], ids, sizeof ids), (ssize_t)sizeof ids);
        seen_h = ids[0] > seen_h ? ids[0] : seen_h;
        seen_i = ids[1] > seen_i ? ids[1] : seen_i;
    }
    close(p[0]);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_true(seen_h > maxh);

    kb = open_kb(f->dir);
    assert_true(knowledge_next_heal_id(kb) > seen_h);
    assert_true(knowledge_next_issue_id(kb) > seen_i);
    knowledge_close(kb);
}

/* Once half a block of ids is handed out, the writer reserves the next block with its next
 * batch, so the caller makes no commit of its own when the first block ends (that one would
 * say id + block on disk, not twice the block). With nothing for the writer to write, the
 * caller still reserves when it runs out. Either way no id is beyond what is on disk. */
static void test_ids_reserved_ahead_by_writer(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    const char *q = "SELECT value FROM meta WHERE key = '%s'";
    uint64_t block = (uint64_t)db_int(f->dir, q, "heal_id_reserved"); /* fresh: 0 + a block */
    assert_true(block >= 4);
    uint64_t id = 0;
    while (id < block / 2 + 1)
        id = knowledge_next_heal_id(kb);
    assert_int_equal(db_int(f->dir, q, "heal_id_reserved"), (sqlite3_int64)block);
    const kb_action acts[] = {ACT_RENICE_OK};
    kb_heal h = make_heal(id, 1, "cpu_high", 0, acts, 1);
    assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK);
    assert_int_equal(knowledge_flush(kb), HEALER_OK);
    assert_int_equal(db_int(f->dir, q, "heal_id_reserved"), (sqlite3_int64)(2 * block));
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM heals WHERE id = %llu",
                            (unsigned long long)id), 1);
    while (id < block + 10)
        id = knowledge_next_heal_id(kb);
    assert_int_equal(db_int(f->dir, q, "heal_id_reserved"), (sqlite3_int64)(2 * block));

    uint64_t is = 0;
    while (is < block + 10)
        is = knowledge_next_issue_id(kb);
    assert_true((uint64_t)db_int(f->dir, q, "issue_id_reserved") >= is);
    knowledge_close(kb);

    kb = open_kb(f->dir);
    assert_int_equal(knowledge_next_heal_id(kb), id + 1);
    assert_int_equal(knowledge_next_issue_id(kb), is + 1);
    knowledge_close(kb);
}

/* Parent side of the kill -9 tests: read n acknowledged ids, kill, reopen, check them all. */
static void kill9_check(const char *dir, pid_t pid, int fd, int n)
{
    uint64_t *ids = calloc((size_t)n, sizeof *ids);
    int got = 0;
    while (got < n) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, 60000); /* a dead or stuck child fails the test, never hangs it */
        assert_true(pr > 0);
        ssize_t r = read(fd, ids + got, sizeof *ids);
        assert_int_equal(r, (ssize_t)sizeof *ids);
        got++;
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(fd);

    knowledge *kb = open_kb(dir); /* recovers the WAL the child left behind */
    for (int i = 0; i < n; i++) {
        assert_int_equal(db_int(dir, "SELECT count(*) FROM heals WHERE id = %lld",
                                (long long)ids[i]), 1);
        assert_int_equal(db_int(dir, "SELECT count(*) FROM heal_actions WHERE heal_id = %lld",
                                (long long)ids[i]), 2);
    }
    assert_stats_consistent(dir);
    /* Memory after the restart agrees with the disk. */
    uint64_t att = 0, suc = 0;
    knowledge_stats(kb, "cpu_high", "renice", &att, &suc);
    assert_int_equal(att, db_int(dir, "SELECT attempts FROM stats WHERE issue_type = 'cpu_high'"
                                      " AND action = 'renice'"));
    assert_true(att >= (uint64_t)n);
    assert_true(knowledge_next_heal_id(kb) > ids[n - 1]);
    knowledge_close(kb);
    free(ids);
}

static void test_kill9_sync(void **state)
{
    fixture *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        knowledge *kb = NULL;
        char err[256];
        if (knowledge_open(f->dir, &kb, err, sizeof err) != 0)
            _exit(2);
        const kb_action acts[] = {ACT_KILL_FAIL, ACT_RENICE_OK};
        for (int i = 0; i < 100000; i++) {
            kb_heal h = make_heal(knowledge_next_heal_id(kb), 1 + (uint64_t)i % 7, "cpu_high", 0,
                                  acts, 2);
            if (knowledge_record_heal_sync(kb, &h) != HEALER_OK)
                _exit(3);
            if (write(p[1], &h.id, sizeof h.id) != (ssize_t)sizeof h.id)
                _exit(4);
        }
        pause();
        _exit(0);
    }
    close(p[1]);
    kill9_check(f->dir, pid, p[0], 300);
}

static void test_kill9_batched(void **state)
{
    fixture *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        knowledge *kb = NULL;
        char err[256];
        if (knowledge_open(f->dir, &kb, err, sizeof err) != 0)
            _exit(2);
        const kb_action acts[] = {ACT_RENICE_OK, ACT_KILL_FAIL};
        uint64_t ids[50];
        for (int round = 0; round < 10000; round++) {
            for (int i = 0; i < 50; i++) {
                kb_heal h = make_heal(knowledge_next_heal_id(kb), 1 + (uint64_t)i % 5, "cpu_high",
                                      0, acts, 2);
                ids[i] = h.id;
                if (knowledge_record_heal(kb, &h) != HEALER_OK)
                    _exit(3);
            }
            /* Acknowledged only once flushed: that is the promise under test. */
            if (knowledge_flush(kb) != HEALER_OK)
                _exit(4);
            if (write(p[1], ids, sizeof ids) != (ssize_t)sizeof ids)
                _exit(5);
        }
        pause();
        _exit(0);
    }
    close(p[1]);
    kill9_check(f->dir, pid, p[0], 400);
}

static void test_queue_bound_small(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    knowledge_test_set_queue_max(kb, 10);
    knowledge_test_pause_writer(kb, 1);
    const kb_action acts[] = {ACT_RENICE_OK};
    int ok = 0, full = 0;
    for (int i = 0; i < 25; i++) {
        kb_heal h = make_heal(knowledge_next_heal_id(kb), 1, "cpu_high", 0, acts, 1);
        int rc = knowledge_record_heal(kb, &h);
        assert_true(rc == HEALER_OK || rc == HEALER_E_FULL);
        if (rc == HEALER_OK)
            ok++;
        else
            full++;
    }
    assert_int_equal(ok, 10);
    assert_int_equal(full, 15);
    assert_mem_stats(kb, "cpu_high", "renice", 10, 10); /* a dropped heal is not counted */
    /* The durable path does not go through the queue. */
    kb_heal hs = make_heal(knowledge_next_heal_id(kb), 1, "cpu_high", 0, acts, 1);
    assert_int_equal(knowledge_record_heal_sync(kb, &hs), HEALER_OK);
    knowledge_test_pause_writer(kb, 0);
    assert_int_equal(knowledge_flush(kb), HEALER_OK);
    kb_heal h = make_heal(knowledge_next_heal_id(kb), 1, "cpu_high", 0, acts, 1);
    assert_int_equal(knowledge_record_heal(kb, &h), HEALER_OK); /* room again */
    knowledge_close(kb);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM heals"), 12);
    assert_stats_consistent(f->dir);
}

/* The real bound, with the writer held: 100 000 queue, the next one is refused. */
static void test_queue_bound_default(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    knowledge_test_pause_writer(kb, 1);
    int ok = 0, full = 0;
    for (int i = 0; i < 100050; i++) {
        kb_heal h = make_heal(knowledge_next_heal_id(kb), 0, "cpu_high", 0, NULL, 0);
        int rc = knowledge_record_heal(kb, &h);
        if (rc == HEALER_OK)
            ok++;
        else if (rc == HEALER_E_FULL)
            full++;
        else
            fail_msg("unexpected rc %d", rc);
    }
    assert_int_equal(ok, 100000);
    assert_int_equal(full, 50);
    knowledge_test_pause_writer(kb, 0);
    assert_int_equal(knowledge_flush(kb), HEALER_OK);
    knowledge_close(kb);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM heals"), 100000);
}

typedef struct worker_arg {
    knowledge *kb;
    int n, sync_every;
    int failures;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    const kb_action acts[] = {ACT_KILL_FAIL, ACT_RENICE_OK, ACT_FREEZE_SKIPPED};
    for (int i = 0; i < w->n; i++) {
        kb_heal h = make_heal(knowledge_next_heal_id(w->kb), knowledge_next_issue_id(w->kb),
                              i % 3 ? "cpu_high" : "mem_low", i % 11 == 0, acts, 3);
        int rc = (w->sync_every && i % w->sync_every == 0) ? knowledge_record_heal_sync(w->kb, &h)
                                                          : knowledge_record_heal(w->kb, &h);
        if (rc != HEALER_OK)
            w->failures++;
    }
    return NULL;
}

static void *reader(void *p)
{
    worker_arg *w = p;
    for (int i = 0; i < w->n; i++) {
        json_t *j = knowledge_heals_json(w->kb, 50);
        json_t *s = knowledge_stats_json(w->kb);
        if (!j || !s)
            w->failures++;
        json_decref(j);
        json_decref(s);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    fixture *f = *state;
    knowledge *kb = open_kb(f->dir);
    pthread_t th[5];
    worker_arg args[5];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){kb, 3000, i == 0 ? 50 : 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    args[4] = (worker_arg){kb, 100, 0, 0};
    assert_int_equal(pthread_create(&th[4], NULL, reader, &args[4]), 0);
    for (int i = 0; i < 5; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    assert_int_equal(knowledge_flush(kb), HEALER_OK);
    uint64_t att = 0, suc = 0;
    knowledge_stats(kb, "cpu_high", "renice", &att, &suc);
    knowledge_close(kb);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM heals"), 12000);
    assert_int_equal(db_int(f->dir, "SELECT count(DISTINCT id) FROM heals"), 12000);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM heal_actions"), 36000);
    assert_int_equal(att, db_int(f->dir, "SELECT attempts FROM stats WHERE issue_type ="
                                         " 'cpu_high' AND action = 'renice'"));
    assert_int_equal(suc, att);
    assert_stats_consistent(f->dir);
    assert_int_equal(db_int(f->dir, "SELECT count(*) FROM pragma_journal_mode"
                                    " WHERE journal_mode = 'wal'"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_schema_moved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_state_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heals_json_shape_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_heal_and_issue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_json_and_confidence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_no_drift, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_unique_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_reserved_ahead_by_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_batched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests_name("knowledge", tests, NULL, NULL);
}
