/* test_logstorm.c — agent/logstorm.c (burst then count per window, summaries when a window
 * ends, bounded keys with an overflow slot, no count lost) and the engine's use of it: a flood
 * of 1 000 new issues of one type, all refused, leaves a few lines and summaries whose counts
 * add up to the flood (detached engine, stderr into a file). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_harness.h"
#include "log.h"
#include "logstorm.h"

typedef struct said {
    int kind;
    char key[64];
    uint64_t n;
    double span;
} said;

typedef struct ear {
    said v[256];
    size_t n;
} ear;

static void hear(void *ud, int kind, const char *key, uint64_t n, double span)
{
    ear *e = ud;
    assert_true(e->n < 256);
    said *s = &e->v[e->n++];
    s->kind = kind;
    snprintf(s->key, sizeof s->key, "%s", key);
    s->n = n;
    s->span = span;
}

static uint64_t heard_total(const ear *e)
{
    uint64_t t = 0;
    for (size_t i = 0; i < e->n; i++)
        t += e->v[i].n;
    return t;
}

/* 1 000 lines within one window: 10 pass, 990 are one summary when the window ends. */
static void test_burst_then_summary(void **state)
{
    (void)state;
    ear e = { .n = 0 };
    logstorm *s = logstorm_new(1.0, 10, 8, hear, &e);
    assert_non_null(s);
    assert_true(isinf(logstorm_next_due(s)));
    int passed = 0;
    for (int i = 0; i < 1000; i++)
        passed += logstorm_admit(s, 0, "cpu_high", 100.0 + i * 0.0009);
    assert_int_equal(passed, 10);
    assert_true(logstorm_next_due(s) == 101.0);
    logstorm_flush(s, 100.95, 0);   /* the window has not ended */
    assert_int_equal(e.n, 0);
    logstorm_flush(s, 101.0, 0);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.v[0].kind, 0);
    assert_string_equal(e.v[0].key, "cpu_high");
    assert_int_equal(e.v[0].n, 990);
    assert_true(e.v[0].span == 1.0);
    assert_true(isinf(logstorm_next_due(s)));
    /* a new window: a new burst */
    assert_int_equal(logstorm_admit(s, 0, "cpu_high", 101.5), 1);
    /* another kind with the same key has its own count */
    for (int i = 0; i < 10; i++)
        assert_int_equal(logstorm_admit(s, 1, "cpu_high", 101.5), 1);
    assert_int_equal(logstorm_admit(s, 1, "cpu_high", 101.5), 0);
    /* a window ended with nothing flushed: the next line summarises it first, then passes */
    assert_int_equal(logstorm_admit(s, 1, "cpu_high", 105.0), 1);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.v[1].kind, 1);
    assert_int_equal(e.v[1].n, 1);
    assert_true(e.v[1].span == 1.0);   /* at most the window, however late it is said */
    uint64_t p, h;
    logstorm_totals(s, &p, &h);
    assert_int_equal(p, 10 + 1 + 10 + 1);
    assert_int_equal(h, 990 + 1);
    logstorm_free(s);
}

/* More storming keys than slots: the overflow slot counts the rest; after a forced flush every
 * held line is in a summary. Idle slots are reused, so a later key needs no overflow. */
static void test_bounded_keys_no_count_lost(void **state)
{
    (void)state;
    ear e = { .n = 0 };
    logstorm *s = logstorm_new(1.0, 2, 4, hear, &e);
    uint64_t admitted = 0, passed = 0;
    char key[16];
    for (int round = 0; round < 50; round++)
        for (int k = 0; k < 10; k++) {
            snprintf(key, sizeof key, "type%d", k);
            passed += (uint64_t)logstorm_admit(s, 0, key, 10.0 + round * 0.01);
            admitted++;
        }
    /* four keys had slots (2 each pass); six shared the overflow slot (2 pass in all) */
    assert_int_equal(passed, 4 * 2 + 2);
    logstorm_flush(s, 10.5, 1);
    assert_int_equal(heard_total(&e), admitted - passed);
    int other = 0;
    for (size_t i = 0; i < e.n; i++)
        other += strcmp(e.v[i].key, LOGSTORM_OTHER) == 0;
    assert_int_equal(other, 1);
    assert_int_equal(e.n, 5);
    /* later, the slots idle: a new key gets one of them */
    e.n = 0;
    for (int i = 0; i < 3; i++)
        logstorm_admit(s, 0, "fresh", 20.0);
    logstorm_flush(s, 21.0, 0);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.v[0].key, "fresh");
    assert_int_equal(e.v[0].n, 1);
    /* what is held at free is said */
    e.n = 0;
    for (int i = 0; i < 5; i++)
        logstorm_admit(s, 2, "late", 30.0);
    logstorm_free(s);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.v[0].n, 3);
}

/* ---- the engine under a flood ---------------------------------------------------------- */

static const char *const TX[] = { "tx", NULL };
static const hx_plugin PL[] = {
    { "det", NULL, 1, 0, 0 },
    { "pa", TX, 1, 1, 0 },
};

static char *slurp_fd(int fd)
{
    off_t end = lseek(fd, 0, SEEK_END);
    char *b = calloc(1, (size_t)end + 1);
    assert_non_null(b);
    assert_int_equal(pread(fd, b, (size_t)end, 0), end);
    return b;
}

/* Sums "... and N more <what>" over the lines and counts the lines matching prefix. */
static unsigned long long sum_more(const char *out, const char *what, int *lines,
                                   const char *prefix)
{
    unsigned long long t = 0;
    *lines = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        const char *m = strstr(p, "... and ");
        unsigned long long n;
        int used = 0;
        if (m && m < nl && sscanf(m, "... and %llu more %n", &n, &used) == 1 &&
            strncmp(m + used, what, strlen(what)) == 0)
            t += n;
        const char *q = strstr(p, prefix);
        if (q && q < nl)
            (*lines)++;
        p = nl + 1;
    }
    return t;
}

static void test_engine_flood(void **state)
{
    (void)state;
    hx *h = calloc(1, sizeof *h);
    assert_non_null(h);
    hx_init(h, PL, 2, 0);
    h->cfg.max_open_issues = 5000;
    h->cfg.limits.max_heals_per_hour = 0;   /* every new issue refused: its own line too */
    governor_set_limits(h->gov, &h->cfg.limits, h->cfg.dry_run);
    hx_start(h);
    log_set_level(HEALER_LOG_INFO);
    char path[] = "/tmp/test_logstorm.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    /* 1 000 new tx issues within 0.5 s, and 30 of another type nobody plans for */
    char target[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(target, sizeof target, "t%d", i);
        hx_issue(h, "det", "tx", target, 1);
        if (i % 2 == 1)
            hx_advance(h, 0.001);
    }
    for (int i = 0; i < 30; i++) {
        snprintf(target, sizeof target, "u%d", i);
        hx_issue(h, "det", "ty", target, 1);
    }
    /* the summaries are due within the window: the engine's loop sweeps when they are due */
    for (int k = 0; k < 2; k++) {   /* tx's window, then ty's (it began 0.5 s later) */
        double due = eng_next_due(h->e) - h->mono;
        assert_true(due > 0 && due <= 1.0);
        hx_advance(h, due);
        hx_sweep(h);
    }
    assert_true(isinf(logstorm_next_due(h->e->storm)));
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *out = slurp_fd(fd);
    if (getenv("SHOW")) fputs(out, stderr);
    close(fd);
    int n_new = 0, n_refused = 0, n_noplan = 0, dummy = 0;
    unsigned long long more_new = sum_more(out, "new tx issues", &n_new, " from det: ");
    unsigned long long more_ref = sum_more(out, "tx issues not healed: ", &n_refused,
                                           ": not healed: ");
    unsigned long long more_ty_new = sum_more(out, "new ty issues", &dummy, "@@");
    unsigned long long more_noplan = sum_more(out, "ty issues not healed: no loaded plugin",
                                              &n_noplan, "no loaded plugin plans for it\n");
    /* 10 lines each for tx (new) and ty (new); 10 refusals for tx; 10 "no plans" for ty */
    assert_int_equal(n_new, 20);
    assert_int_equal(n_refused, 10);
    assert_int_equal(n_noplan, 10);
    assert_int_equal(more_new, 990);
    assert_int_equal(more_ref, 990);
    assert_int_equal(more_ty_new, 20);
    assert_int_equal(more_noplan, 20);
    /* and that is all: a few dozen lines, not two thousand */
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 20 + 10 + 10 + 4);
    free(out);
    hx_free(h);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_summary),
        cmocka_unit_test(test_bounded_keys_no_count_lost),
        cmocka_unit_test(test_engine_flood),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
