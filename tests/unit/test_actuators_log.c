/* test_actuators_log.c — the log line every actuator call leaves (actuators.c finish_log): a
 * notice naming the target (pid with process name and uid, path, command line) for a change,
 * "would" for a dry-run, warn for a failure, nothing at info for a refusal; hostile process
 * names escaped; the same line as a JSON object with log_format json. Real children (uid 2000)
 * and files, through the shared rig. Runs as root; signals only processes it started. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actuators_rig.h"
#include "log.h"

/* ---- stderr into a pipe ------------------------------------------------------------------ */

static int g_saved = -1, g_rd = -1;
static char g_out[65536];

/* Children the rig forks inherit fd 2, so the pipe never reaches EOF while they live: the
 * output is read without blocking once the calls are made (it is far below the pipe's size). */
static void cap_start(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    fflush(stderr);
    g_saved = dup(STDERR_FILENO);
    assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
    close(p[1]);
    g_rd = p[0];
}

static const char *cap_stop(void)
{
    assert_int_equal(dup2(g_saved, STDERR_FILENO), STDERR_FILENO);
    close(g_saved);
    g_saved = -1;
    fcntl(g_rd, F_SETFL, O_NONBLOCK);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(g_rd, g_out + n, sizeof g_out - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(g_rd);
    g_rd = -1;
    g_out[n] = '\0';
    return g_out;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int log_cleanup(void **state)
{
    if (g_saved >= 0)
        cap_stop();
    log_set_journal(0);
    log_set_format(LOG_FORMAT_TEXT);
    log_set_level(HEALER_LOG_INFO);
    return cleanup(state);
}

/* ---- tests ------------------------------------------------------------------------------- */

/* renice and signal of a user's process whose name carries an escape sequence: one notice each
 * (priority 5 on the journal), naming pid, escaped name and uid; a refusal says nothing at info;
 * a failing command is a warning. */
static void test_notice_names_the_target(void **state)
{
    (void)state;
    log_set_level(HEALER_LOG_INFO);
    log_set_journal(1);   /* no timestamps: the lines compare as they are */
    rig r;
    rig_open(&r, "state-log", base_cfg());
    child_opts o = { .as_user = 1, .name = "ev\x1b[31mil" };
    pid_t pid = spawn(&o);
    uint64_t s = start_of(r.a, pid);
    char m[512];
    cap_start();
    /* (the audit check after each call: the rig wants one new line at a time) */
    assert_int_equal(act_renice(r.a, &ctx, pid, s, 10, m, sizeof m), HEALER_OK);
    AUDITED(&r, "renice", "ok");
    assert_int_equal(act_renice(r.a, &ctx, pid, s, 25, m, sizeof m), HEALER_E_INVAL);
    AUDITED(&r, "renice", "refused");
    assert_int_equal(act_signal(r.a, &ctx, pid, s, SIGKILL, 0, m, sizeof m), HEALER_OK);
    AUDITED(&r, "signal", "ok");
    const char *fail[] = { "/bin/sh", "-c", "exit 3", NULL };
    int status;
    assert_int_equal(act_run(r.a, &ctx, fail, 10, NULL, 0, &status, m, sizeof m), HEALER_E_IO);
    AUDITED(&r, "run", "failed");
    const char *out = cap_stop();
    assert_int_equal(count_lines(out), 3);
    char want[512];
    snprintf(want, sizeof want,
             "<5>notice actuators: test heal #7: renice pid:%d (ev\\x1b[31mil, uid %d): reniced "
             "pid %d (ev\\x1b[31mil) from 0 to 10 (1 thread)\n", (int)pid, USER_UID, (int)pid);
    assert_true(strncmp(out, want, strlen(want)) == 0);
    const char *l2 = strchr(out, '\n') + 1;
    snprintf(want, sizeof want,
             "<5>notice actuators: test heal #7: signal pid:%d (ev\\x1b[31mil, uid %d): sent "
             "SIGKILL to pid %d (ev\\x1b[31mil)\n", (int)pid, USER_UID, (int)pid);
    assert_true(strncmp(l2, want, strlen(want)) == 0);
    const char *l3 = strchr(l2, '\n') + 1;
    assert_true(strncmp(l3, "<4>warn actuators: test heal #7: run /bin/sh failed: ran /bin/sh -c "
                            "exit 3: exit status 3", 70) == 0);
    for (const unsigned char *p = (const unsigned char *)out; *p; p++)
        assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
    reap(pid);

    /* at debug the refusal is said too */
    log_set_level(HEALER_LOG_DEBUG);
    pid = spawn(&o);
    s = start_of(r.a, pid);
    cap_start();
    assert_int_equal(act_renice(r.a, &ctx, pid, s, 25, m, sizeof m), HEALER_E_INVAL);
    out = cap_stop();
    AUDITED(&r, "renice", "refused");
    snprintf(want, sizeof want, "<7>debug actuators: test heal #7: renice pid:%d refused: ",
             (int)pid);
    assert_true(strncmp(out, want, strlen(want)) == 0);
    /* at warn, a change made is not shown (notice is below warn) */
    log_set_level(HEALER_LOG_WARN);
    cap_start();
    assert_int_equal(act_renice(r.a, &ctx, pid, s, 5, m, sizeof m), HEALER_OK);
    out = cap_stop();
    AUDITED(&r, "renice", "ok");
    assert_string_equal(out, "");
    reap(pid);
    rig_close(&r);
}

/* dry-run: the line says "would" and names the path or the process; nothing changes. */
static void test_dry_run_says_would(void **state)
{
    (void)state;
    log_set_level(HEALER_LOG_INFO);
    log_set_journal(1);
    char f[300];
    snprintf(f, sizeof f, "%s/dlog", tmp);
    mkdirs(f);
    act_config cfg = base_cfg();
    cfg.sys_root = f;
    cfg.dry_run = 1;
    snprintf(f + strlen(f), sizeof f - strlen(f), "/value");
    put_file(f, "old\n", 0644);
    rig r;
    rig_open(&r, "state-log-dry", cfg);
    child_opts o = { .as_user = 1, .name = "sleepy" };
    pid_t pid = spawn(&o);
    uint64_t s = start_of(r.a, pid);
    char m[1024];
    cap_start();
    assert_int_equal(act_signal(r.a, &ctx, pid, s, SIGTERM, 0, m, sizeof m), HEALER_DRY_RUN);
    AUDITED(&r, "signal", "dry_run");
    assert_int_equal(act_write_file(r.a, &ctx, f, "new", m, sizeof m), HEALER_DRY_RUN);
    AUDITED(&r, "write_file", "dry_run");
    const char *echo[] = { "systemctl", "restart", "foo.service", NULL };
    assert_int_equal(act_run(r.a, &ctx, echo, 10, NULL, 0, NULL, m, sizeof m), HEALER_DRY_RUN);
    AUDITED(&r, "run", "dry_run");
    const char *out = cap_stop();
    assert_int_equal(count_lines(out), 3);
    char want[1024];
    snprintf(want, sizeof want, "<5>notice actuators: test heal #7: would signal pid:%d (sleepy, "
             "uid %d) (dry-run): would send SIGTERM to pid %d (sleepy)\n", (int)pid, USER_UID,
             (int)pid);
    assert_true(strncmp(out, want, strlen(want)) == 0);
    const char *l2 = strchr(out, '\n') + 1;
    snprintf(want, sizeof want, "<5>notice actuators: test heal #7: would write_file %s "
             "(dry-run): would write 'new' to %s", f, f);
    assert_true(strncmp(l2, want, strlen(want)) == 0);
    const char *l3 = strchr(l2, '\n') + 1;
    assert_non_null(strstr(l3, "would run systemctl (dry-run): would run: systemctl restart "
                               "foo.service"));
    assert_true(alive(pid));
    assert_string_equal(get_file(f), "old\n");
    reap(pid);
    rig_close(&r);
}

/* log_format json: the same notice as one JSON object. */
static void test_notice_json(void **state)
{
    (void)state;
    log_set_level(HEALER_LOG_INFO);
    log_set_format(LOG_FORMAT_JSON);
    rig r;
    rig_open(&r, "state-log-json", base_cfg());
    child_opts o = { .as_user = 1, .name = "q\"uote" };
    pid_t pid = spawn(&o);
    uint64_t s = start_of(r.a, pid);
    char m[512];
    cap_start();
    assert_int_equal(act_renice(r.a, &ctx, pid, s, 3, m, sizeof m), HEALER_OK);
    const char *out = cap_stop();
    AUDITED(&r, "renice", "ok");
    assert_int_equal(count_lines(out), 1);
    json_error_t err;
    json_t *l = json_loads(out, JSON_DISABLE_EOF_CHECK, &err);
    if (!l)
        fail_msg("not JSON: %s: %s", err.text, out);
    assert_string_equal(json_string_value(json_object_get(l, "level")), "notice");
    assert_string_equal(json_string_value(json_object_get(l, "component")), "actuators");
    char want[256];
    snprintf(want, sizeof want, "test heal #7: renice pid:%d (q\"uote, uid %d): reniced", (int)pid,
             USER_UID);
    const char *msg = json_string_value(json_object_get(l, "message"));
    assert_true(strncmp(msg, want, strlen(want)) == 0);
    json_decref(l);
    reap(pid);
    rig_close(&r);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_actuators_log needs root (setuid children)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_notice_names_the_target, log_cleanup),
        cmocka_unit_test_teardown(test_dry_run_says_would, log_cleanup),
        cmocka_unit_test_teardown(test_notice_json, log_cleanup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
