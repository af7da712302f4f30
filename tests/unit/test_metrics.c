/* test_metrics.c — the Prometheus registry: rendering, escaping, histograms, name and kind
 * checks, thread safety, and the real `promtool check metrics` run on what we render. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"

/* Runs `promtool check metrics` with text on stdin; returns its exit status and puts its
 * combined stdout+stderr in out (malloc'd). -1 when it could not be run at all. */
static int promtool_check(const char *text, size_t len, char **out)
{
    char path[] = "/tmp/test_metrics_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, 0);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        close(fd);
        char *argv[] = {"promtool", "check", "metrics", NULL};
        execvp(argv[0], argv);
        dprintf(2, "exec promtool: %s\n", strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    close(fd);
    unlink(path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t r = read(pfd[0], buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    close(pfd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    *out = buf;
    if (!WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static void assert_promtool_ok(metrics *m)
{
    char *text = NULL;
    size_t len = metrics_render(m, &text);
    assert_non_null(text);
    char *out = NULL;
    int rc = promtool_check(text, len, &out);
    if (rc != 0 || out[0] != '\0') {
        fprintf(stderr, "promtool exit %d, output:\n%s\n--- rendered text (%zu bytes) ---\n%.4000s\n",
                rc, out, len, text);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");   /* no lint complaints either */
    free(out);
    free(text);
}

static char *render(metrics *m)
{
    char *text = NULL;
    size_t len = metrics_render(m, &text);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) {
        fprintf(stderr, "missing: [%s]\n--- in ---\n%.6000s\n", needle, hay);
        fail();
    }
}

static void assert_not_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle)) {
        fprintf(stderr, "unexpected: [%s]\n", needle);
        fail();
    }
}

/* ---------------------------------------------------------------------------------------- */

static void test_families_present_before_samples(void **state)
{
    (void)state;
    metrics *m = metrics_new("luminous_nix");
    assert_non_null(m);
    char *t = render(m);
    static const char *const lines[] = {
        "# TYPE luminous_nix_healing_issues_detected_total counter\n",
        "# TYPE luminous_nix_healing_attempts_total counter\n",
        "# TYPE luminous_nix_healing_successes_total counter\n",
        "# TYPE luminous_nix_healing_duration_seconds histogram\n",
        "# TYPE luminous_nix_healing_confidence gauge\n",
        "# TYPE luminous_nix_healing_suppressed_total counter\n",
        "# TYPE luminous_nix_system_health gauge\n",
        "# TYPE luminous_nix_plugin_info gauge\n",
        "# HELP luminous_nix_system_health ",
        "# HELP luminous_nix_healing_duration_seconds ",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        assert_contains(t, lines[i]);
    /* No samples yet: every line is a comment. */
    for (const char *p = t; *p; p = strchr(p, '\n') + 1)
        assert_int_equal(*p, '#');
    assert_int_equal(metrics_series_count(m), 0);
    free(t);
    assert_promtool_ok(m);
    metrics_free(m);
}

static void test_render_after_updates(void **state)
{
    (void)state;
    metrics *m = metrics_new("luminous_nix");
    metrics_issue_detected(m, "cpu_high", "high");
    metrics_issue_detected(m, "cpu_high", "high");
    metrics_issue_detected(m, "disk_space_low", "critical");
    metrics_attempt(m, "cpu_high", "renice");
    metrics_attempt(m, "cpu_high", "renice");
    metrics_attempt(m, "cpu_high", "renice");
    metrics_success(m, "cpu_high", "renice");
    metrics_confidence(m, "cpu_high", 0.67);
    metrics_suppressed(m, "cpu_high", "cooldown");
    metrics_health(m, 87.5);
    metrics_plugin_info(m, "cpu", "1.0.0");
    metrics_plugin_info(m, "cpu", "1.0.0");
    char *t = render(m);
    assert_contains(t, "\nluminous_nix_healing_issues_detected_total{issue_type=\"cpu_high\",severity=\"high\"} 2\n");
    assert_contains(t, "\nluminous_nix_healing_issues_detected_total{issue_type=\"disk_space_low\",severity=\"critical\"} 1\n");
    assert_contains(t, "\nluminous_nix_healing_attempts_total{issue_type=\"cpu_high\",action=\"renice\"} 3\n");
    assert_contains(t, "\nluminous_nix_healing_successes_total{issue_type=\"cpu_high\",action=\"renice\"} 1\n");
    assert_contains(t, "\nluminous_nix_healing_confidence{issue_type=\"cpu_high\"} 0.67\n");
    assert_contains(t, "\nluminous_nix_healing_suppressed_total{issue_type=\"cpu_high\",reason=\"cooldown\"} 1\n");
    assert_contains(t, "\nluminous_nix_system_health 87.5\n");
    assert_contains(t, "\nluminous_nix_plugin_info{plugin=\"cpu\",version=\"1.0.0\"} 1\n");
    free(t);
    assert_int_equal(metrics_series_count(m), 8);

    /* The cache must notice every change. */
    metrics_health(m, 12);
    metrics_attempt(m, "cpu_high", "renice");
    t = render(m);
    assert_contains(t, "\nluminous_nix_system_health 12\n");
    assert_contains(t, "\nluminous_nix_healing_attempts_total{issue_type=\"cpu_high\",action=\"renice\"} 4\n");
    free(t);
    /* Unchanged: the same text again. */
    char *a = render(m), *b = render(m);
    assert_string_equal(a, b);
    free(a);
    free(b);

    metrics_plugin_info(m, "memory", "0.2.0");
    metrics_plugin_info_clear(m);
    metrics_plugin_info(m, "disk", "2.0.0");
    t = render(m);
    assert_not_contains(t, "plugin=\"cpu\"");
    assert_not_contains(t, "plugin=\"memory\"");
    assert_contains(t, "\nluminous_nix_plugin_info{plugin=\"disk\",version=\"2.0.0\"} 1\n");
    free(t);
    assert_int_equal(metrics_series_count(m), 8);
    assert_promtool_ok(m);
    metrics_free(m);
}

static void test_escaping(void **state)
{
    (void)state;
    metrics *m = metrics_new("t");
    healer_kv l[] = {{"path", "C:\\dir \"quoted\"\nnext"}};
    assert_int_equal(metrics_gauge_set(m, "weird_value", "Help with \\ backslash\nand newline "
                                       "and \"quotes\".", l, 1, 1), HEALER_OK);
    /* Invalid UTF-8 (a lone continuation byte, a truncated sequence) becomes U+FFFD. */
    healer_kv bad[] = {{"path", "a\x80z\xE2\x82"}};
    assert_int_equal(metrics_gauge_set(m, "weird_value", NULL, bad, 1, 2), HEALER_OK);
    healer_kv utf[] = {{"path", "gr\xC3\xBC\xC3\x9F \xE2\x82\xAC"}};
    assert_int_equal(metrics_gauge_set(m, "weird_value", NULL, utf, 1, 3), HEALER_OK);
    metrics_issue_detected(m, "type\"with\\quote", "low\nhigh");
    char *t = render(m);
    assert_contains(t, "# HELP t_weird_value Help with \\\\ backslash\\nand newline and \"quotes\".\n");
    assert_contains(t, "\nt_weird_value{path=\"C:\\\\dir \\\"quoted\\\"\\nnext\"} 1\n");
    assert_contains(t, "\nt_weird_value{path=\"a\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD\"} 2\n");
    assert_contains(t, "\nt_weird_value{path=\"gr\xC3\xBC\xC3\x9F \xE2\x82\xAC\"} 3\n");
    assert_contains(t, "{issue_type=\"type\\\"with\\\\quote\",severity=\"low\\nhigh\"} 1\n");
    free(t);
    assert_promtool_ok(m);
    metrics_free(m);
}

static void test_special_values(void **state)
{
    (void)state;
    metrics *m = metrics_new("t");
    healer_kv l[] = {{"which", "nan"}};
    assert_int_equal(metrics_gauge_set(m, "special", "Special values.", l, 1, NAN), HEALER_OK);
    l[0].value = "pinf";
    assert_int_equal(metrics_gauge_set(m, "special", NULL, l, 1, INFINITY), HEALER_OK);
    l[0].value = "ninf";
    assert_int_equal(metrics_gauge_set(m, "special", NULL, l, 1, -INFINITY), HEALER_OK);
    l[0].value = "tiny";
    assert_int_equal(metrics_gauge_set(m, "special", NULL, l, 1, 1e-300), HEALER_OK);
    l[0].value = "huge";
    assert_int_equal(metrics_gauge_set(m, "special", NULL, l, 1, 1.5e300), HEALER_OK);
    l[0].value = "third";
    assert_int_equal(metrics_gauge_set(m, "special", NULL, l, 1, 1.0 / 3), HEALER_OK);
    l[0].value = "neg";
    assert_int_equal(metrics_gauge_set(m, "special", NULL, l, 1, -42), HEALER_OK);
    char *t = render(m);
    assert_contains(t, "t_special{which=\"nan\"} NaN\n");
    assert_contains(t, "t_special{which=\"pinf\"} +Inf\n");
    assert_contains(t, "t_special{which=\"ninf\"} -Inf\n");
    assert_contains(t, "t_special{which=\"tiny\"} 1e-300\n");
    assert_contains(t, "t_special{which=\"huge\"} 1.5e+300\n");
    assert_contains(t, "t_special{which=\"neg\"} -42\n");
    /* 1/3 is printed so that it reads back exactly. */
    const char *p = strstr(t, "t_special{which=\"third\"} ");
    assert_non_null(p);
    /* A false positive of gcc >= 12 at -O3 (Release): metrics_render is in another unit, so gcc
     * assumes it may have stored &text (render's local) into text itself, and warns that p
     * points into that dead local. metrics_render stores only NULL or a malloc'd buffer
     * (agent/metrics.c), and t is that buffer. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
    assert_true(strtod(strchr(p, ' ') + 1, NULL) == 1.0 / 3);
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic pop
#endif
    free(t);
    assert_promtool_ok(m);
    metrics_free(m);
}

static void test_histogram_cumulative(void **state)
{
    (void)state;
    metrics *m = metrics_new("luminous_nix");
    metrics_duration(m, "cpu_high", 0.003);
    metrics_duration(m, "cpu_high", 0.2);
    metrics_duration(m, "cpu_high", 7);
    metrics_duration(m, "cpu_high", 1000);
    metrics_duration(m, "cpu_high", 0.5);   /* on a bound: le is "less or equal" */
    metrics_duration(m, "cpu_high", NAN);   /* ignored */
    metrics_duration(m, "disk_space_low", 2);
    char *t = render(m);
    static const struct { const char *le; int n; } want[] = {
        {"0.005", 1}, {"0.01", 1}, {"0.05", 1}, {"0.1", 1}, {"0.5", 3}, {"1", 3}, {"5", 3},
        {"10", 4}, {"30", 4}, {"60", 4}, {"120", 4}, {"300", 4}, {"+Inf", 5},
    };
    char line[256];
    const char *prev = t;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        snprintf(line, sizeof line,
                 "\nluminous_nix_healing_duration_seconds_bucket{issue_type=\"cpu_high\",le=\"%s\"} %d\n",
                 want[i].le, want[i].n);
        const char *p = strstr(t, line);
        if (!p)
            fprintf(stderr, "missing %s", line);
        assert_non_null(p);
        assert_true(p >= prev);   /* buckets in increasing order */
        prev = p;
    }
    assert_contains(t, "\nluminous_nix_healing_duration_seconds_sum{issue_type=\"cpu_high\"} 1007.703\n");
    assert_contains(t, "\nluminous_nix_healing_duration_seconds_count{issue_type=\"cpu_high\"} 5\n");
    assert_contains(t, "\nluminous_nix_healing_duration_seconds_bucket{issue_type=\"disk_space_low\",le=\"1\"} 0\n");
    assert_contains(t, "\nluminous_nix_healing_duration_seconds_bucket{issue_type=\"disk_space_low\",le=\"5\"} 1\n");
    free(t);
    assert_promtool_ok(m);
    metrics_free(m);
}

static void test_kind_and_label_mismatch_refused(void **state)
{
    (void)state;
    metrics *m = metrics_new("t");
    healer_kv l1[] = {{"device", "sda"}};
    healer_kv l2[] = {{"disk", "sda"}};
    healer_kv l12[] = {{"device", "sda"}, {"mode", "r"}};
    assert_int_equal(metrics_gauge_set(m, "queue_depth", "Queue depth.", l1, 1, 3), HEALER_OK);
    assert_int_equal(metrics_counter_add(m, "queue_depth", "x", l1, 1, 1), HEALER_E_INVAL);
    assert_int_equal(metrics_gauge_set(m, "queue_depth", NULL, l2, 1, 1), HEALER_E_INVAL);
    assert_int_equal(metrics_gauge_set(m, "queue_depth", NULL, l12, 2, 1), HEALER_E_INVAL);
    assert_int_equal(metrics_gauge_set(m, "queue_depth", NULL, NULL, 0, 1), HEALER_E_INVAL);

    /* A counter given with or without _total is one family. */
    assert_int_equal(metrics_counter_add(m, "reads", "Reads.", l1, 1, 2), HEALER_OK);
    assert_int_equal(metrics_counter_add(m, "reads_total", NULL, l1, 1, 3), HEALER_OK);
    assert_int_equal(metrics_gauge_set(m, "reads", NULL, l1, 1, 3), HEALER_E_INVAL);
    /* Counters never go down. */
    assert_int_equal(metrics_counter_add(m, "reads", NULL, l1, 1, -1), HEALER_E_INVAL);
    assert_int_equal(metrics_counter_add(m, "reads", NULL, l1, 1, NAN), HEALER_E_INVAL);
    assert_int_equal(metrics_counter_add(m, "reads", NULL, l1, 1, INFINITY), HEALER_E_INVAL);
    /* Label order does not matter. */
    healer_kv a[] = {{"x", "1"}, {"y", "2"}};
    healer_kv b[] = {{"y", "2"}, {"x", "1"}};
    assert_int_equal(metrics_counter_add(m, "pairs", "Pairs.", a, 2, 1), HEALER_OK);
    assert_int_equal(metrics_counter_add(m, "pairs", NULL, b, 2, 1), HEALER_OK);
    /* The contract's families belong to the agent. */
    healer_kv it[] = {{"issue_type", "x"}};
    assert_int_equal(metrics_gauge_set(m, "healing_confidence", NULL, it, 1, 1), HEALER_E_INVAL);
    assert_int_equal(metrics_gauge_set(m, "system_health", NULL, NULL, 0, 1), HEALER_E_INVAL);
    assert_int_equal(metrics_counter_add(m, "healing_attempts_total", NULL, NULL, 0, 1),
                     HEALER_E_INVAL);

    char *t = render(m);
    assert_contains(t, "\n# TYPE t_queue_depth gauge\nt_queue_depth{device=\"sda\"} 3\n");
    assert_contains(t, "\n# TYPE t_reads_total counter\nt_reads_total{device=\"sda\"} 5\n");
    assert_contains(t, "\nt_pairs_total{x=\"1\",y=\"2\"} 2\n");
    assert_not_contains(t, "t_system_health 1");
    free(t);
    assert_promtool_ok(m);
    metrics_free(m);
}

static void test_invalid_names_refused(void **state)
{
    (void)state;
    metrics *m = metrics_new("t");
    static const char *const bad_names[] = {
        "", "9lives", "a-b", "a b", "fooBar", "Foo", "a:b", "caf\xC3\xA9", "x_count", "x_sum",
        "x_bucket",
    };
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        assert_int_equal(metrics_gauge_set(m, bad_names[i], "h", NULL, 0, 1), HEALER_E_INVAL);
        assert_int_equal(metrics_counter_add(m, bad_names[i], "h", NULL, 0, 1), HEALER_E_INVAL);
    }
    assert_int_equal(metrics_gauge_set(m, NULL, "h", NULL, 0, 1), HEALER_E_INVAL);
    assert_int_equal(metrics_gauge_set(m, "used_total", "h", NULL, 0, 1), HEALER_E_INVAL);
    assert_int_equal(metrics_counter_add(m, "errors_counter", "h", NULL, 0, 1), HEALER_E_INVAL);
    assert_int_equal(metrics_gauge_set(m, "errors_gauge", "h", NULL, 0, 1), HEALER_E_INVAL);
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(metrics_gauge_set(m, longname, "h", NULL, 0, 1), HEALER_E_INVAL);

    static const char *const bad_labels[] = {"", "__name__", "__x", "le", "quantile", "0a",
                                             "a-b", "camelCase", "a.b"};
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++) {
        healer_kv l[] = {{bad_labels[i], "v"}};
        assert_int_equal(metrics_gauge_set(m, "ok_name", "h", l, 1, 1), HEALER_E_INVAL);
    }
    healer_kv nullkey[] = {{NULL, "v"}};
    healer_kv nullval[] = {{"k", NULL}};
    healer_kv dup[] = {{"k", "1"}, {"k", "2"}};
    assert_int_equal(metrics_gauge_set(m, "ok_name", "h", nullkey, 1, 1), HEALER_E_INVAL);
    assert_int_equal(metrics_gauge_set(m, "ok_name", "h", nullval, 1, 1), HEALER_E_INVAL);
    assert_int_equal(metrics_gauge_set(m, "ok_name", "h", dup, 2, 1), HEALER_E_INVAL);
    assert_int_equal(metrics_gauge_set(m, "ok_name", "h", NULL, 3, 1), HEALER_E_INVAL);
    char bigval[2000];
    memset(bigval, 'v', sizeof bigval - 1);
    bigval[sizeof bigval - 1] = '\0';
    healer_kv big[] = {{"k", bigval}};
    assert_int_equal(metrics_gauge_set(m, "ok_name", "h", big, 1, 1), HEALER_E_INVAL);
    /* Nothing refused was registered; the good name still works. */
    assert_int_equal(metrics_series_count(m), 0);
    healer_kv good[] = {{"k", "v"}};
    assert_int_equal(metrics_gauge_set(m, "ok_name", "h", good, 1, 1), HEALER_OK);
    assert_int_equal(metrics_series_count(m), 1);
    assert_promtool_ok(m);

    assert_null(metrics_new("bad-namespace"));
    assert_null(metrics_new("9x"));
    metrics *none = metrics_new("");
    assert_non_null(none);
    char *t = render(none);
    assert_contains(t, "# TYPE healing_attempts_total counter\n");
    free(t);
    metrics_free(none);
    metrics_free(m);
}

static void test_null_safety(void **state)
{
    (void)state;
    char *out = (char *)1;
    assert_int_equal(metrics_render(NULL, &out), 0);
    assert_null(out);
    assert_int_equal(metrics_series_count(NULL), 0);
    metrics_issue_detected(NULL, "a", "b");
    metrics_attempt(NULL, "a", "b");
    metrics_success(NULL, "a", "b");
    metrics_duration(NULL, "a", 1);
    metrics_confidence(NULL, "a", 1);
    metrics_suppressed(NULL, "a", "b");
    metrics_health(NULL, 1);
    metrics_plugin_info(NULL, "a", "b");
    metrics_plugin_info_clear(NULL);
    metrics_free(NULL);
    assert_int_equal(metrics_gauge_set(NULL, "x", "h", NULL, 0, 1), HEALER_E_INVAL);
    metrics *m = metrics_new(NULL);
    assert_non_null(m);
    /* NULL label values of the contract calls render as empty strings, not a crash. */
    metrics_attempt(m, NULL, NULL);
    metrics_plugin_info(m, NULL, "1");
    assert_int_equal(metrics_render(m, NULL), 0);
    assert_promtool_ok(m);
    metrics_free(m);
}

static void test_thousand_series_pass_promtool(void **state)
{
    (void)state;
    metrics *m = metrics_new("luminous_nix");
    char a[32], b[32];
    for (int i = 0; i < 250; i++) {
        snprintf(a, sizeof a, "issue_%d", i);
        snprintf(b, sizeof b, "action_%d", i % 7);
        metrics_attempt(m, a, b);
        metrics_success(m, a, b);
        metrics_duration(m, a, i * 0.37);
        healer_kv l[] = {{"component", a}, {"kind", b}};
        assert_int_equal(metrics_gauge_set(m, "component_score", "Score per component.", l, 2,
                                           i), HEALER_OK);
    }
    metrics_health(m, 99);
    assert_int_equal(metrics_series_count(m), 1001);
    assert_promtool_ok(m);
    metrics_free(m);
}

/* The harness must be able to fail: promtool rejects a counter without _total and bad text. */
static void test_promtool_catches_bad_text(void **state)
{
    (void)state;
    const char *lint = "# HELP bad_counter A counter without the suffix.\n"
                       "# TYPE bad_counter counter\nbad_counter 1\n";
    char *out = NULL;
    int rc = promtool_check(lint, strlen(lint), &out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "_total"));
    free(out);
    const char *garbage = "# TYPE x gauge\nx{a=\"unterminated} 1\n";
    rc = promtool_check(garbage, strlen(garbage), &out);
    assert_int_not_equal(rc, 0);
    free(out);
}

/* Several threads update while another renders: counts must add up exactly. */
typedef struct worker_arg {
    metrics *m;
    int id;
} worker_arg;

#define N_THREADS 4
#define N_ITER 5000

static void *updater(void *p)
{
    worker_arg *w = p;
    char type[16];
    snprintf(type, sizeof type, "t%d", w->id % 2);
    for (int i = 0; i < N_ITER; i++) {
        metrics_attempt(w->m, type, "act");
        metrics_duration(w->m, type, 0.001 * i);
        healer_kv l[] = {{"thread", type}};
        metrics_counter_add(w->m, "work_done", "Work.", l, 1, 1);
        metrics_health(w->m, i % 100);
    }
    return NULL;
}

static void *renderer(void *p)
{
    metrics *m = p;
    for (int i = 0; i < 200; i++) {
        char *t = NULL;
        metrics_render(m, &t);
        assert_non_null(t);
        free(t);
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    metrics *m = metrics_new("c");
    pthread_t th[N_THREADS], r;
    worker_arg args[N_THREADS];
    assert_int_equal(pthread_create(&r, NULL, renderer, m), 0);
    for (int i = 0; i < N_THREADS; i++) {
        args[i] = (worker_arg){m, i};
        assert_int_equal(pthread_create(&th[i], NULL, updater, &args[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_join(r, NULL);
    char *t = render(m);
    char line[128];
    snprintf(line, sizeof line, "\nc_healing_attempts_total{issue_type=\"t0\",action=\"act\"} %d\n",
             N_ITER * N_THREADS / 2);
    assert_contains(t, line);
    snprintf(line, sizeof line, "\nc_work_done_total{thread=\"t1\"} %d\n", N_ITER * N_THREADS / 2);
    assert_contains(t, line);
    snprintf(line, sizeof line, "\nc_healing_duration_seconds_count{issue_type=\"t1\"} %d\n",
             N_ITER * N_THREADS / 2);
    assert_contains(t, line);
    free(t);
    assert_promtool_ok(m);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families_present_before_samples),
        cmocka_unit_test(test_render_after_updates),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_kind_and_label_mismatch_refused),
        cmocka_unit_test(test_invalid_names_refused),
        cmocka_unit_test(test_null_safety),
        cmocka_unit_test(test_thousand_series_pass_promtool),
        cmocka_unit_test(test_promtool_catches_bad_text),
        cmocka_unit_test(test_concurrent_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
