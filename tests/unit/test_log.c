/* test_log.c — agent/log.c through a real pipe on fd 2 (line format, level filtering, one
 * whole line per write under concurrent threads), and agent/clock.c (override, monotonic). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sys/stat.h>

#include "clock.h"
#include "log.h"

/* ---- capturing stderr ------------------------------------------------------------------- */

typedef struct capture {
    int saved_fd;
    int rd;
    pthread_t reader;
    char *buf;
    size_t len, cap;
} capture;

/* Drains the pipe while the test writes, so writers never block on a full pipe. */
static void *drain(void *arg)
{
    capture *c = arg;
    char chunk[8192];
    for (;;) {
        ssize_t n = read(c->rd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (c->len + (size_t)n + 1 > c->cap) {
            size_t cap = (c->cap ? c->cap * 2 : 65536) + (size_t)n;
            char *b = realloc(c->buf, cap);
            if (!b)
                abort();
            c->buf = b;
            c->cap = cap;
        }
        memcpy(c->buf + c->len, chunk, (size_t)n);
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    }
    return NULL;
}

/* A failed assertion longjmps out of the test with fd 2 still on the pipe; teardown puts
 * it back so cmocka's report is seen. */
static capture *g_active;

static void capture_start(capture *c)
{
    memset(c, 0, sizeof *c);
    g_active = c;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    fflush(stderr);
    c->saved_fd = dup(STDERR_FILENO);
    assert_true(c->saved_fd >= 0);
    assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
    close(p[1]);
    c->rd = p[0];
    assert_int_equal(pthread_create(&c->reader, NULL, drain, c), 0);
}

/* Restores stderr and returns everything written (owned by c; free with capture_free). */
static const char *capture_stop(capture *c)
{
    g_active = NULL;
    assert_int_equal(dup2(c->saved_fd, STDERR_FILENO), STDERR_FILENO);   /* closes the write end */
    close(c->saved_fd);
    pthread_join(c->reader, NULL);
    close(c->rd);
    return c->buf ? c->buf : "";
}

static void capture_free(capture *c)
{
    free(c->buf);
    c->buf = NULL;
}

/* Text lines start with "YYYY-MM-DDTHH:MM:SS.mmmZ ": checks that on every line of c's output
 * and removes it, so the tests below compare the rest byte for byte. */
static const char *strip_times(capture *c)
{
    if (!c->buf)
        return "";
    char *w = c->buf;
    const char *r = c->buf;
    while (*r) {
        static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
        for (size_t i = 0; i < sizeof shape - 1; i++) {
            if (shape[i] == 'd')
                assert_true(r[i] >= '0' && r[i] <= '9');
            else
                assert_int_equal(r[i], shape[i]);
        }
        r += sizeof shape - 1;
        const char *nl = strchr(r, '\n');
        assert_non_null(nl);
        size_t n = (size_t)(nl - r) + 1;
        memmove(w, r, n);
        w += n;
        r = nl + 1;
    }
    *w = '\0';
    c->len = (size_t)(w - c->buf);
    return c->buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int teardown(void **state)
{
    (void)state;
    if (g_active) {
        capture_stop(g_active);
        capture_free(g_active);
    }
    log_set_level(HEALER_LOG_INFO);
    log_set_format(LOG_FORMAT_TEXT);
    log_set_journal(0);
    clock_override(NULL, NULL);
    unsetenv("JOURNAL_STREAM");
    return 0;
}

/* ---- log ---------------------------------------------------------------------------------- */

static void test_line_format(void **state)
{
    (void)state;
    log_set_level(HEALER_LOG_DEBUG);
    capture c;
    capture_start(&c);
    log_error("engine", "plan %d failed: %s", 7, "boom");
    log_warn("loader", "/x/a.so: refused: %s", "ABI major 2");
    log_info("plugin cpu", "hello");
    log_debug("bus", "queue %s", "deep");
    log_write(HEALER_LOG_INFO, NULL, "no who");
    capture_stop(&c);
    const char *out = strip_times(&c);
    assert_string_equal(out,
                        "error engine: plan 7 failed: boom\n"
                        "warn loader: /x/a.so: refused: ABI major 2\n"
                        "info plugin cpu: hello\n"
                        "debug bus: queue deep\n"
                        "info healerd: no who\n");
    capture_free(&c);
}

static void test_level_filtering(void **state)
{
    (void)state;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int lvl = HEALER_LOG_ERROR; lvl <= HEALER_LOG_DEBUG; lvl++) {
        log_set_level((healer_log_level)lvl);
        assert_int_equal(log_get_level(), lvl);
        capture c;
        capture_start(&c);
        for (int m = HEALER_LOG_ERROR; m <= HEALER_LOG_DEBUG; m++)
            log_write((healer_log_level)m, "t", "message at %d", m);
        capture_stop(&c);
    const char *out = strip_times(&c);
        assert_int_equal(count_lines(out), lvl + 1);
        for (int m = HEALER_LOG_ERROR; m <= HEALER_LOG_DEBUG; m++) {
            char want[64];
            snprintf(want, sizeof want, "%s t: message at %d\n", names[m], m);
            assert_int_equal(strstr(out, want) != NULL, m <= lvl);
            assert_int_equal(log_enabled((healer_log_level)m), m <= lvl);
        }
        capture_free(&c);
    }
    /* notice: errors, warnings and notices; no info, no debug; it reads back as notice */
    log_set_level(LOG_LEVEL_NOTICE);
    assert_int_equal(log_get_level(), LOG_LEVEL_NOTICE);
    assert_int_equal(log_level_parse("notice"), (int)LOG_LEVEL_NOTICE);
    assert_string_equal(log_level_name(LOG_LEVEL_NOTICE), "notice");
    capture c;
    capture_start(&c);
    log_write(HEALER_LOG_WARN, "t", "a warning");
    log_notice("t", "a change");
    log_write(HEALER_LOG_INFO, "t", "some info");
    capture_stop(&c);
    const char *out = strip_times(&c);
    assert_non_null(strstr(out, "warn t: a warning\n"));
    assert_non_null(strstr(out, "notice t: a change\n"));
    assert_null(strstr(out, "some info"));
    capture_free(&c);
    /* and warn hides the notices, info shows them */
    log_set_level(HEALER_LOG_WARN);
    capture_start(&c);
    log_notice("t", "hidden change");
    capture_stop(&c);
    assert_null(strstr(strip_times(&c), "hidden change"));
    capture_free(&c);
    log_set_level(HEALER_LOG_INFO);
    capture_start(&c);
    log_notice("t", "shown change");
    capture_stop(&c);
    assert_non_null(strstr(strip_times(&c), "notice t: shown change"));
    capture_free(&c);
    /* Out-of-range levels are clamped, not stored. */
    log_set_level((healer_log_level)17);
    assert_int_equal(log_get_level(), HEALER_LOG_DEBUG);
    log_set_level((healer_log_level)-3);
    assert_int_equal(log_get_level(), HEALER_LOG_ERROR);
}

static void test_level_names(void **state)
{
    (void)state;
    assert_int_equal(log_level_parse("error"), HEALER_LOG_ERROR);
    assert_int_equal(log_level_parse("warn"), HEALER_LOG_WARN);
    assert_int_equal(log_level_parse("info"), HEALER_LOG_INFO);
    assert_int_equal(log_level_parse("debug"), HEALER_LOG_DEBUG);
    assert_int_equal(log_level_parse("DEBUG"), HEALER_LOG_DEBUG);
    assert_int_equal(log_level_parse("warning"), -1);
    assert_int_equal(log_level_parse(""), -1);
    assert_int_equal(log_level_parse(NULL), -1);
    for (int l = HEALER_LOG_ERROR; l <= HEALER_LOG_DEBUG; l++)
        assert_int_equal(log_level_parse(log_level_name((healer_log_level)l)), l);
    assert_string_equal(log_level_name((healer_log_level)9), "unknown");
}

static void test_one_event_one_line(void **state)
{
    (void)state;
    log_set_level(HEALER_LOG_INFO);
    capture c;
    capture_start(&c);
    log_info("service", "output:\nline two\r\nline three\n");
    char big[10000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_info("big", "%s", big);
    capture_stop(&c);
    const char *out = strip_times(&c);
    assert_int_equal(count_lines(out), 2);
    const char *want = "info service: output: line two  line three\n";
    assert_true(strncmp(out, want, strlen(want)) == 0);
    const char *second = strchr(out, '\n') + 1;
    size_t len2 = strlen(second);
    assert_true(len2 <= 4096);
    assert_true(len2 > 4000);
    assert_true(strncmp(second, "info big: xxxx", 14) == 0);
    assert_string_equal(second + len2 - 4, "...\n");
    capture_free(&c);
}

/* A process name with ESC, BEL, a C1 CSI and bytes that are not UTF-8 reaches the log escaped:
 * no raw control byte, every byte of the line valid UTF-8, the escapes readable. */
static void test_control_bytes_escaped(void **state)
{
    (void)state;
    log_set_level(HEALER_LOG_INFO);
    capture c;
    capture_start(&c);
    log_info("cpu", "renice of pid 42 (%s)", "evil\x1b]0;pwned\x07\xc2\x9b" "31m\xff\x7f");
    /* a cut in the middle of an escape never leaves half of it */
    char big[5000];
    memset(big, '\x1b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_info("big", "%s", big);
    capture_stop(&c);
    const char *out = strip_times(&c);
    assert_int_equal(count_lines(out), 2);
    const char *want = "info cpu: renice of pid 42 (evil\\x1b]0;pwned\\x07\\u009b31m\\xff\\x7f)\n";
    assert_true(strncmp(out, want, strlen(want)) == 0);
    for (const unsigned char *p = (const unsigned char *)out; *p; p++)
        assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
    const char *second = strchr(out, '\n') + 1;
    size_t len2 = strlen(second);
    assert_true(len2 <= 4096);
    assert_string_equal(second + len2 - 4, "...\n");
    /* whole escapes only: the text before "..." is a run of "\x1b" */
    const char *body = second + strlen("info big: ");
    size_t blen = len2 - strlen("info big: ") - 4;
    assert_int_equal(blen % 4, 0);
    for (size_t i = 0; i < blen; i += 4)
        assert_memory_equal(body + i, "\\x1b", 4);
    capture_free(&c);
}

static void test_errno_preserved(void **state)
{
    (void)state;
    capture c;
    capture_start(&c);
    errno = ENOSPC;
    log_error("disk", "write failed: %s", strerror(errno));
    assert_int_equal(errno, ENOSPC);
    capture_stop(&c);
    capture_free(&c);
}

#define N_THREADS 8
#define N_LINES 400

typedef struct writer_arg {
    int id;
} writer_arg;

static void *writer(void *arg)
{
    const writer_arg *w = arg;
    char who[16];
    snprintf(who, sizeof who, "w%d", w->id);
    /* Long enough that a torn line would show, under PIPE_BUF so the kernel keeps it whole
     * even without the lock; the lock is what keeps longer lines whole. */
    char pad[600];
    memset(pad, 'a' + w->id, sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < N_LINES; i++)
        log_info(who, "%d %s end", i, pad);
    return NULL;
}

static void test_threads_never_interleave(void **state)
{
    (void)state;
    log_set_level(HEALER_LOG_INFO);
    capture c;
    capture_start(&c);
    pthread_t t[N_THREADS];
    writer_arg args[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        args[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, writer, &args[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    capture_stop(&c);
    const char *out = strip_times(&c);
    assert_int_equal(count_lines(out), N_THREADS * N_LINES);

    /* Every line whole, and each thread's lines in its own order. */
    int next[N_THREADS] = {0};
    const char *p = out;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        int id = -1, seq = -1, used = 0;
        assert_int_equal(sscanf(p, "info w%d: %d %n", &id, &seq, &used), 2);
        assert_true(id >= 0 && id < N_THREADS);
        assert_int_equal(seq, next[id]);
        next[id]++;
        const char *pad = p + used;
        for (int k = 0; k < 599; k++)
            assert_int_equal(pad[k], 'a' + id);
        assert_true(strncmp(pad + 599, " end\n", 5) == 0);
        assert_ptr_equal(pad + 599 + 4, nl);
        p = nl + 1;
    }
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(next[i], N_LINES);
    capture_free(&c);
}


/* ---- where the lines go: journal prefixes, timestamps, JSON -------------------------------- */

static double fixed_time(void *ud)
{
    return *(double *)ud;
}

static void test_journal_stream_parse(void **state)
{
    (void)state;
    assert_true(log_journal_matches("8:1234", 8, 1234));
    assert_false(log_journal_matches("8:1234", 8, 1235));
    assert_false(log_journal_matches("9:1234", 8, 1234));
    assert_false(log_journal_matches(NULL, 8, 1234));
    assert_false(log_journal_matches("", 8, 1234));
    assert_false(log_journal_matches("8", 8, 1234));
    assert_false(log_journal_matches("8:", 8, 1234));
    assert_false(log_journal_matches(":1234", 8, 1234));
    assert_false(log_journal_matches("8:1234x", 8, 1234));
    assert_false(log_journal_matches("8:1234:5", 8, 1234));
    assert_false(log_journal_matches("x:1234", 8, 1234));
    assert_true(log_journal_matches("18446744073709551615:1", (dev_t)-1, 1));
}

/* JOURNAL_STREAM naming the pipe on fd 2 (as systemd names the journal's socket): "<N>" with
 * the sd-daemon priority of each level, no time. Another stream's device:inode: timestamps. */
static void test_journal_prefix(void **state)
{
    (void)state;
    log_set_level(HEALER_LOG_DEBUG);
    capture c;
    capture_start(&c);
    struct stat st;
    assert_int_equal(fstat(STDERR_FILENO, &st), 0);
    char js[64];
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    assert_int_equal(log_detect_journal(), 1);
    log_error("engine", "e");
    log_warn("loader", "w");
    log_notice("actuators", "n %d", 5);
    log_info("agent", "i");
    log_debug("bus", "d");
    const char *out = capture_stop(&c);
    assert_string_equal(out, "<3>error engine: e\n<4>warn loader: w\n<5>notice actuators: n 5\n"
                             "<6>info agent: i\n<7>debug bus: d\n");
    capture_free(&c);

    /* the same JOURNAL_STREAM, inherited, while fd 2 is another pipe: not the journal */
    capture_start(&c);
    assert_int_equal(log_detect_journal(), 0);
    double t = 1700000000.25;   /* 2023-11-14T22:13:20.250Z */
    clock_override(fixed_time, &t);
    log_warn("loader", "w");
    out = capture_stop(&c);
    assert_string_equal(out, "2023-11-14T22:13:20.250Z warn loader: w\n");
    capture_free(&c);

    /* no JOURNAL_STREAM at all */
    unsetenv("JOURNAL_STREAM");
    capture_start(&c);
    assert_int_equal(log_detect_journal(), 0);
    capture_stop(&c);
    capture_free(&c);
}

/* json: one object per line, built by jansson; hostile bytes in the message and component come
 * out as the sanitizer shows them (no raw control byte), quotes and backslashes escaped. */
static void test_json_format(void **state)
{
    (void)state;
    log_set_level(HEALER_LOG_DEBUG);
    assert_int_equal(log_format_parse("json"), LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("text"), LOG_FORMAT_TEXT);
    assert_int_equal(log_format_parse("JSON"), -1);
    assert_int_equal(log_format_parse(NULL), -1);
    log_set_format(LOG_FORMAT_JSON);
    double t = 1700000000.999;
    clock_override(fixed_time, &t);
    capture c;
    capture_start(&c);
    log_warn("plugin cpu", "renice of pid 42 (%s) \"quoted\" back\\slash", "evil\x1b]0;x\x07\nsecond");
    log_notice("actuators", "cpu: renice pid:42 (firefox, uid 1000): done");
    log_info(NULL, "%s", "");
    const char *out = capture_stop(&c);
    assert_int_equal(count_lines(out), 3);
    for (const unsigned char *p = (const unsigned char *)out; *p; p++)
        assert_true(*p == '\n' || *p >= 0x20);
    static const char *const want_level[] = {"warn", "notice", "info"};
    static const char *const want_comp[] = {"plugin cpu", "actuators", "healerd"};
    static const char *const want_msg[] = {
        "renice of pid 42 (evil\\x1b]0;x\\x07 second) \"quoted\" back\\slash",
        "cpu: renice pid:42 (firefox, uid 1000): done", ""};
    const char *p = out;
    for (int i = 0; i < 3; i++) {
        const char *nl = strchr(p, '\n');
        json_error_t err;
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, &err);
        if (!o)
            fail_msg("line %d is not JSON: %s: %.*s", i, err.text, (int)(nl - p), p);
        assert_int_equal(json_object_size(o), 4);
        assert_string_equal(json_string_value(json_object_get(o, "time")),
                            "2023-11-14T22:13:20.999Z");
        assert_string_equal(json_string_value(json_object_get(o, "level")), want_level[i]);
        assert_string_equal(json_string_value(json_object_get(o, "component")), want_comp[i]);
        assert_string_equal(json_string_value(json_object_get(o, "message")), want_msg[i]);
        json_decref(o);
        p = nl + 1;
    }
    capture_free(&c);

    /* json on the journal: the priority prefix, then the object */
    capture_start(&c);
    log_set_journal(1);
    log_error("engine", "x");
    out = capture_stop(&c);
    assert_true(strncmp(out, "<3>{", 4) == 0);
    json_t *o = json_loads(out + 3, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "error");
    json_decref(o);
    capture_free(&c);

    /* a message cut at the line limit is still one valid object */
    char big[9000];
    memset(big, '"', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_set_journal(0);
    capture_start(&c);
    log_info("big", "%s", big);
    out = capture_stop(&c);
    assert_int_equal(count_lines(out), 1);
    o = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(o);
    const char *m = json_string_value(json_object_get(o, "message"));
    assert_true(strlen(m) > 4000 && strlen(m) < 4096);
    assert_string_equal(m + strlen(m) - 3, "...");
    json_decref(o);
    capture_free(&c);
}

/* notice sits between warn and info: shown at info and debug, not at warn or error. */
static void test_notice_level(void **state)
{
    (void)state;
    for (int lvl = HEALER_LOG_ERROR; lvl <= HEALER_LOG_DEBUG; lvl++) {
        log_set_level((healer_log_level)lvl);
        capture c;
        capture_start(&c);
        log_notice("actuators", "changed");
        capture_stop(&c);
        const char *out = strip_times(&c);
        if (lvl >= HEALER_LOG_INFO)
            assert_string_equal(out, "notice actuators: changed\n");
        else
            assert_string_equal(out, "");
        capture_free(&c);
    }
}

/* ---- clock -------------------------------------------------------------------------------- */

static double fake_time(void *ud)
{
    return *(double *)ud;
}

static void test_clock_real(void **state)
{
    (void)state;
    clock_override(NULL, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = clock_now();
    /* Same clock: within a minute of what the kernel says (no timing assertion beyond that). */
    assert_true(now > (double)ts.tv_sec - 60 && now < (double)ts.tv_sec + 60);
    double m1 = clock_mono();
    double m2 = clock_mono();
    assert_true(m1 > 0);
    assert_true(m2 >= m1);
}

static void test_clock_override(void **state)
{
    (void)state;
    double t = 1000.0;
    double mono_before = clock_mono();
    clock_override(fake_time, &t);
    assert_true(clock_now() == 1000.0);
    t += 3600 * 24;   /* a day passes in no time */
    assert_true(clock_now() == 1000.0 + 86400);
    /* Monotonic time is never overridden. */
    assert_true(clock_mono() >= mono_before);
    clock_override(NULL, NULL);
    assert_true(clock_now() > 1.5e9);   /* back to the real clock: after 2017 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_line_format, teardown),
        cmocka_unit_test_teardown(test_level_filtering, teardown),
        cmocka_unit_test_teardown(test_control_bytes_escaped, teardown),
        cmocka_unit_test_teardown(test_level_names, teardown),
        cmocka_unit_test_teardown(test_one_event_one_line, teardown),
        cmocka_unit_test_teardown(test_errno_preserved, teardown),
        cmocka_unit_test_teardown(test_threads_never_interleave, teardown),
        cmocka_unit_test_teardown(test_journal_stream_parse, teardown),
        cmocka_unit_test_teardown(test_journal_prefix, teardown),
        cmocka_unit_test_teardown(test_json_format, teardown),
        cmocka_unit_test_teardown(test_notice_level, teardown),
        cmocka_unit_test_teardown(test_clock_real, teardown),
        cmocka_unit_test_teardown(test_clock_override, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
