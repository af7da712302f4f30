/* test_changelog.c — the change log (changelog.c) with a real file: records and undone marks
 * survive a reopen; a torn last line (a crash mid-write) and a damaged line are ignored and the
 * file rewritten without them, so the next record is whole; the age and size bounds drop the
 * oldest records; a symlink in its place is refused. And when.c: the points in time `healctl
 * restore --to` accepts, and the ones it refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "changelog.h"
#include "clock.h"
#include "when.h"

static char dir[128], path[256];
static double fake_now = 1.7e9;
static double fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_changelog_XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/%s", dir, CHANGELOG_FILE);
    fake_now = 1.7e9;
    clock_override(fake_clock, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clock_override(NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static uint64_t add(changelog *l, uint64_t heal, const char *kind)
{
    json_t *r = json_pack("{s:I, s:s, s:b}", "heal_id", (json_int_t)heal, "kind", kind,
                          "undoable", 1);
    uint64_t id = changelog_add(l, r);
    json_decref(r);
    return id;
}

static size_t file_size(void)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (size_t)st.st_size;
}

static void test_reopen_keeps_records_and_marks(void **state)
{
    (void)state;
    char err[256];
    changelog *l = changelog_open(dir, 0, 0, err, sizeof err);
    assert_non_null(l);
    assert_int_equal(add(l, 7, "write"), 1);
    fake_now += 10;
    assert_int_equal(add(l, 7, "renice"), 2);
    assert_int_equal(add(l, 8, "stop"), 3);
    assert_int_equal(changelog_mark_undone(l, 2, 3), 0);
    assert_int_equal(changelog_mark_undone(l, 99, 3), -1);   /* no such change */
    changelog_close(l);

    l = changelog_open(dir, 0, 0, err, sizeof err);
    assert_non_null(l);
    assert_int_equal(changelog_count(l), 3);
    json_t *h7 = changelog_select(l, 7, 0);
    assert_int_equal(json_array_size(h7), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(h7, 1), "undone_by")), 3);
    assert_null(json_object_get(json_array_get(h7, 0), "undone_by"));
    json_decref(h7);
    /* by time: only what was made at or after since */
    json_t *late = changelog_select(l, 0, 1.7e9 + 5);
    assert_int_equal(json_array_size(late), 2);
    json_decref(late);
    /* ids go on after the reopen */
    assert_int_equal(add(l, 9, "freeze"), 4);
    changelog_close(l);
}

static void test_torn_and_damaged_lines(void **state)
{
    (void)state;
    char err[256];
    changelog *l = changelog_open(dir, 0, 0, err, sizeof err);
    assert_non_null(l);
    add(l, 1, "write");
    add(l, 1, "stop");
    changelog_close(l);
    /* damage the first record's JSON (its checksum no longer matches), then a torn line: a
     * crash in the middle of the next write */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 12), 1);
    close(fd);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    const char torn[] = "0badc0de {\"t\":\"c\",\"id\":3,\"heal_id\":1,\"ki";
    assert_int_equal(write(fd, torn, sizeof torn - 1), (ssize_t)(sizeof torn - 1));
    close(fd);

    l = changelog_open(dir, 0, 0, err, sizeof err);
    assert_non_null(l);
    assert_int_equal(changelog_count(l), 1);        /* only the whole, intact record */
    json_t *v = changelog_select(l, 1, 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "kind")), "stop");
    json_decref(v);
    /* rewritten without them: the next record is a line of its own, read back whole */
    assert_int_equal(add(l, 2, "renice"), 3);
    changelog_close(l);
    l = changelog_open(dir, 0, 0, err, sizeof err);
    assert_non_null(l);
    assert_int_equal(changelog_count(l), 2);
    changelog_close(l);
}

static void test_age_bound(void **state)
{
    (void)state;
    char err[256];
    changelog *l = changelog_open(dir, 0, 3600, err, sizeof err);
    assert_non_null(l);
    add(l, 1, "write");
    fake_now += 1800;
    add(l, 2, "write");
    changelog_close(l);
    fake_now += 2400;   /* the first is 70 min old now, the second 40 */
    l = changelog_open(dir, 0, 3600, err, sizeof err);
    assert_non_null(l);
    assert_int_equal(changelog_count(l), 1);
    json_t *v = changelog_select(l, 0, 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "heal_id")), 2);
    json_decref(v);
    changelog_close(l);
}

static void test_size_bound(void **state)
{
    (void)state;
    char err[256];
    const size_t max = 8192;
    changelog *l = changelog_open(dir, max, 0, err, sizeof err);
    assert_non_null(l);
    uint64_t last = 0;
    for (int i = 1; i <= 500; i++) {
        last = add(l, (uint64_t)i, "write");
        assert_true(last > 0);
        assert_true(changelog_file_bytes(l) <= max);
        assert_int_equal(changelog_file_bytes(l), file_size());
    }
    assert_int_equal(last, 500);
    size_t n = changelog_count(l);
    assert_true(n > 10 && n < 500);
    /* the newest are kept, the oldest went */
    json_t *v = changelog_select(l, 500, 0);
    assert_int_equal(json_array_size(v), 1);
    json_decref(v);
    v = changelog_select(l, 1, 0);
    assert_int_equal(json_array_size(v), 0);
    json_decref(v);
    changelog_close(l);
    l = changelog_open(dir, max, 0, err, sizeof err);
    assert_non_null(l);
    assert_int_equal(changelog_count(l), n);
    assert_int_equal(add(l, 501, "stop"), 501);
    changelog_close(l);
}

static void test_symlink_refused(void **state)
{
    (void)state;
    char target[300], err[512];
    snprintf(target, sizeof target, "%s/elsewhere", dir);
    FILE *f = fopen(target, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(symlink(target, path), 0);
    assert_null(changelog_open(dir, 0, 0, err, sizeof err));
    assert_non_null(strstr(err, CHANGELOG_FILE));
    assert_int_equal(file_size(), 0);   /* stat follows the link: the target is untouched */
}

static void test_when(void **state)
{
    (void)state;
    double t, now = 1764691200;   /* 2025-12-02T16:00:00Z */
    char err[400];
    assert_int_equal(when_parse("-1h", now, &t, err, sizeof err), 0);
    assert_true(t == now - 3600);
    assert_int_equal(when_parse("-30m", now, &t, err, sizeof err), 0);
    assert_true(t == now - 1800);
    assert_int_equal(when_parse("-90s", now, &t, err, sizeof err), 0);
    assert_true(t == now - 90);
    assert_int_equal(when_parse("-2d", now, &t, err, sizeof err), 0);
    assert_true(t == now - 172800);
    assert_int_equal(when_parse("2025-12-02T16:00:00Z", now, &t, err, sizeof err), 0);
    assert_true(t == now);
    assert_int_equal(when_parse("2025-12-02T17:30:00+01:30", now, &t, err, sizeof err), 0);
    assert_true(t == now);
    assert_int_equal(when_parse("2025-12-02T16:00Z", now, &t, err, sizeof err), 0);
    assert_true(t == now);
    assert_int_equal(when_parse("1764691200.25", now, &t, err, sizeof err), 0);
    assert_true(t == now + 0.25);
    const char *bad[] = { "", "-", "-1y", "-h", "yesterday", "2025-13-02T00:00:00Z",
                          "2025-12-02T16:00:00+1", "2025-12-02X", "1h", "--1h", "-1h ", NULL };
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        assert_int_equal(when_parse(bad[i], now, &t, err, sizeof err), -1);
        assert_non_null(strstr(err, "is no point in time"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reopen_keeps_records_and_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_and_damaged_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_age_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
        cmocka_unit_test(test_when),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
