/* test_healctl.c — runs the built healctl ($BUILD/bin/healctl) against the agent's real HTTP
 * server (agent/http.c) started in-process on loopback with a backend of fixed answers, and
 * against a raw socket server that answers with canned bytes (chunked bodies, bad JSON,
 * garbage, silence) to check what the real server never sends. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "healer/types.h"
#include "http.h"
#include "metrics.h"

/* ---- fixture: the backend ------------------------------------------------------------ */

typedef struct recorder {
    pthread_mutex_t lock;
    int ncommands;
    http_command last_cmd;
    uint64_t last_id;
    int last_limit;
    /* the last hold request as the server decoded it (copies) */
    int nholds;
    char hold_target[256], hold_type[128], hold_reason[256], hold_by[128];
    int hold_has_type, hold_has_reason, hold_even_critical, hold_release;
    double hold_duration;
} recorder;

static recorder rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
/* Times relative to the moment of the answer, in the middle of healctl's display buckets
 * ("5m ago" from 5:00 to 5:59), so a slow run (valgrind) cannot change the text. */
static double now_s(void)
{
    return (double)time(NULL);
}
#define OLD_TIME 1700000000.0 /* 2023-11-14: shown as an absolute local time */

/* The last answer the backend gave, to compare with what healctl --json printed. */
static json_t *last_answer;

static json_t *remember(json_t *j)
{
    pthread_mutex_lock(&rec.lock);
    json_decref(last_answer);
    last_answer = json_incref(j);
    pthread_mutex_unlock(&rec.lock);
    return j;
}

static json_t *take_last_answer(void)
{
    pthread_mutex_lock(&rec.lock);
    json_t *j = last_answer;
    last_answer = NULL;
    pthread_mutex_unlock(&rec.lock);
    return j;
}

static json_t *be_status(void *ud)
{
    (void)ud;
    return remember(json_pack("{s:s, s:s, s:s, s:f, s:f, s:b, s:i, s:i, s:{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i},"
                     " s:{s:i,s:i,s:i,s:i}}",
                     "version", "0.1.0", "abi", "1.0", "mode", "dry-run", "health", 87.5,
                     "uptime_seconds", 7384.0, "paused", 0, "open_issues", 2, "pending", 1,
                     "limits", "max_heals_per_hour", 10, "heals_last_hour", 2,
                     "heals_left_this_hour", 8, "max_rollbacks_per_day", 3, "rollbacks_today", 0,
                     "rollbacks_left_today", 3, "min_health_for_auto", 30, "cooldown_minutes", 5,
                     "cooldowns_active", 1,
                     "bus", "sent", 100, "received", 99, "dropped", 1, "malformed", 0));
}

static char long_summary[301];

static json_t *be_issues(void *ud)
{
    (void)ud;
    double t_now = now_s();
    return remember(json_pack(
        "{s:[{s:i, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:i, s:s, s:n, s:i, s:{s:f}, s:[s]},"
        "    {s:i, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:i, s:s, s:s, s:n, s:{}, s:[]}]}",
        "issues",
        "id", 12, "type", "cpu_high", "severity", "high", "target", "cpu",
        "summary", "CPU at 97% for 60 s \x1b[31mred\x1b[0m", "plugin", "cpu",
        "first_seen", t_now - 3600, "last_seen", t_now - 330, "count", 5, "state", "open",
        "reason", "heal_id", 3, "measurements", "cpu_percent", 97.0,
        "components", "pid:123 stress-ng",
        "id", 13, "type", "disk_space_low", "severity", "critical", "target", "/",
        "summary", long_summary, "plugin", "disk",
        "first_seen", OLD_TIME - 60, "last_seen", OLD_TIME, "count", 1,
        "state", "suppressed", "reason", "cooldown", "heal_id", "measurements", "components"));
}

static json_t *be_heals(void *ud, int limit)
{
    (void)ud;
    double t_now = now_s();
    pthread_mutex_lock(&rec.lock);
    rec.last_limit = limit;
    pthread_mutex_unlock(&rec.lock);
    return remember(json_pack(
        "{s:[{s:i, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:b, s:f, s:f, s:f, s:f,"
        "     s:[{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:{s:f}, s:{s:f}}]}]}",
        "heals",
        "id", 5, "issue_id", 12, "issue_type", "cpu_high", "severity", "high", "target", "cpu",
        "plugin", "cpu", "summary", "CPU at 97%", "outcome", "healed", "reason", "dry_run", 0,
        "detected_at", t_now - 151, "started_at", t_now - 150, "finished_at", t_now - 148.5,
        "duration_seconds", 1.5,
        "actions", "plugin", "cpu", "action", "renice", "target", "pid:123", "outcome", "healed",
        "message", "reniced 123 to 10", "started_at", t_now - 150, "duration_seconds", 0.2,
        "before", "cpu_percent", 97.0, "after", "cpu_percent", 40.0));
}

/* Heal 5: two candidates weighed, two steps run, two audit lines (an actuator call and a step). */
#define LONG_PATH "/var/lib/some/very/deep/directory/tree/that/goes/on/and/on/healerd-state/knowledge.db"
static int be_heal(void *ud, uint64_t id, json_t **out)
{
    (void)ud;
    if (id != 5)
        return HEALER_E_NOTFOUND;
    double t = now_s();
    json_t *h = json_pack(
        "{s:i, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:b, s:f, s:f, s:f, s:f}",
        "id", 5, "issue_id", 12, "issue_type", "cpu_high", "severity", "high", "target", "cpu",
        "plugin", "cpu", "summary", "CPU at 97%", "outcome", "healed", "reason", "dry_run", 0,
        "detected_at", t - 151, "started_at", t - 150, "finished_at", t - 148.5,
        "duration_seconds", 1.5);
    json_object_set_new(h, "decision", json_pack(
        "{s:[{s:s, s:s, s:s, s:i, s:f, s:f, s:f, s:i, s:b, s:[]},"
        "    {s:s, s:s, s:s, s:i, s:f, s:f, s:f, s:i, s:b, s:[s]}], s:i, s:s,"
        " s:{s:s, s:s, s:f, s:i, s:i, s:f}}",
        "candidates",
        "plugin", "cpu", "action", "renice", "target", "pid:123", "step", 1, "impact", 0.1,
        "prior", 0.6, "expected", 0.8, "attempts", 4, "explored", 0, "flags",
        "plugin", "cpu", "action", "kill", "target", "pid:123", "step", 2, "impact", 0.9,
        "prior", 0.5, "expected", 0.5, "attempts", 0, "explored", 0, "flags", "stops",
        "candidates_total", 2, "first", "the only candidate of the gentlest step (step 1)",
        "governor", "verdict", "allow", "reason", "within the limits: no step needs a person",
        "at", t - 150, "heals_left_this_hour", 8, "max_heals_per_hour", 10,
        "cooldown_until", t + 250));
    json_object_set_new(h, "actions", json_pack(
        "[{s:s, s:s, s:s, s:s, s:s, s:f, s:f}, {s:s, s:s, s:s, s:s, s:s, s:f, s:f}]",
        "plugin", "cpu", "action", "renice", "target", "pid:123", "outcome", "not_healed",
        "message", "reniced 123 to 10", "started_at", t - 150, "duration_seconds", 0.2,
        "plugin", "cpu", "action", "kill", "target", LONG_PATH, "outcome", "healed",
        "message", "killed 123", "started_at", t - 149, "duration_seconds", 0.3));
    json_object_set_new(h, "audit", json_pack(
        "[{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:b}, {s:s, s:i, s:s, s:s, s:n, s:s, s:s, s:s, s:b}]",
        "time", "2026-01-01T10:00:00.000Z", "heal_id", 5, "plugin", "cpu", "action", "kill",
        "actuator", "signal", "target", "pid:123", "result", "ok", "message", "SIGTERM to 123",
        "dry_run", 0,
        "time", "2026-01-01T10:00:00.100Z", "heal_id", 5, "plugin", "cpu", "action", "kill",
        "actuator", "target", "pid:123", "result", "healed", "message", "killed 123",
        "dry_run", 0));
    json_object_set_new(h, "audit_truncated", json_false());
    *out = remember(h);
    return HEALER_OK;
}

static int be_issue(void *ud, uint64_t id, json_t **out)
{
    (void)ud;
    if (id != 12)
        return HEALER_E_NOTFOUND;
    double t = now_s();
    *out = remember(json_pack(
        "{s:i, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:i, s:s, s:n, s:i, s:f, s:n, s:b,"
        " s:[{s:i, s:s, s:n, s:f, s:f}]}",
        "id", 12, "type", "cpu_high", "severity", "high", "target", "cpu", "summary",
        "CPU at 97%", "plugin", "cpu", "first_seen", t - 300, "last_seen", t - 10, "count", 5,
        "state", "open", "reason", "heal_id", 5, "cooldown_until", t + 250, "snoozed_until",
        "open", 1, "heals", "id", 5, "outcome", "healed", "reason", "started_at", t - 150,
        "duration_seconds", 1.5));
    return HEALER_OK;
}

static json_t *be_plugins(void *ud)
{
    (void)ud;
    double t_now = now_s();
    json_t *o = json_pack(
        "{s:[{s:s, s:s, s:s, s:s, s:n, s:s, s:s, s:[s], s:f, s:[], s:s},"
        "    {s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[], s:f, s:[], s:s},"
        "    {s:s, s:s, s:s, s:s, s:n, s:s, s:s, s:[s], s:f, s:[], s:s},"
        "    {s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:f, s:[], s:s},"
        "    {s:s, s:s, s:s, s:s, s:n, s:s, s:s, s:[s], s:f, s:[], s:s}]}",
        "plugins",
        "name", "cpu", "version", "1.0.0", "file", "/usr/lib/healerd/plugins/cpu.so",
        "state", "loaded", "reason", "abi", "1.0", "description", "CPU load healer",
        "issue_types", "cpu_high", "interval", 5.0, "declared_paths", "isolation", "process",
        "name", "", "version", "", "file", "/usr/lib/healerd/plugins/broken.so", "state", "refused",
        "reason", "built for plugin ABI 2.0, this host has 1.0", "abi", "2.0", "description", "",
        "issue_types", "interval", 0.0, "declared_paths", "isolation", "process",
        "name", "flaky", "version", "0.1.0", "file", "/usr/lib/healerd/plugins/flaky.so",
        "state", "loaded", "reason", "abi", "1.0", "description", "crashes now and then",
        "issue_types", "flaky_thing", "interval", 1.0, "declared_paths", "isolation", "process",
        "name", "dead", "version", "0.1.0", "file", "/usr/lib/healerd/plugins/dead.so",
        "state", "failed", "reason", "5 crashes in 10 minutes: killed by signal 6 (SIGABRT)",
        "abi", "1.0", "description", "", "issue_types", "dead_thing", "interval", 1.0,
        "declared_paths", "isolation", "process",
        "name", "memory", "version", "1.0.0", "file", "/usr/lib/healerd/plugins/memory.so",
        "state", "loaded", "reason", "abi", "1.0", "description", "memory pressure healer",
        "issue_types", "memory_pressure", "interval", 2.0, "declared_paths", "isolation", "thread");
    json_t *arr = json_object_get(o, "plugins");
    json_object_set_new(json_array_get(arr, 0), "process",
                        json_pack("{s:s, s:i, s:i, s:n, s:n, s:n}", "run_state", "running", "pid",
                                  4242, "crashes", 0, "last_crash", "last_crash_time",
                                  "next_start"));
    json_object_set_new(json_array_get(arr, 2), "process",
                        json_pack("{s:s, s:i, s:i, s:s, s:f, s:f}", "run_state", "restarting",
                                  "pid", 0, "crashes", 3, "last_crash",
                                  "killed by signal 11 (SIGSEGV)", "last_crash_time", t_now - 120,
                                  "next_start", t_now + 600));
    json_object_set_new(json_array_get(arr, 3), "process",
                        json_pack("{s:s, s:i, s:i, s:s, s:f, s:n}", "run_state", "failed", "pid",
                                  0, "crashes", 5, "last_crash", "exited with status 3",
                                  "last_crash_time", t_now - 30, "next_start"));
    return remember(o);
}

static json_t *be_knowledge(void *ud)
{
    (void)ud;
    return remember(json_pack("{s:[{s:s, s:s, s:i, s:i, s:f}]}", "knowledge", "issue_type", "cpu_high",
                     "action", "renice", "attempts", 10, "successes", 7, "confidence", 0.67));
}

static json_t *be_pending(void *ud)
{
    (void)ud;
    double t_now = now_s();
    return remember(json_pack("{s:[{s:i, s:i, s:s, s:s, s:s, s:s, s:f, s:f, s:s,"
                     "     s:[{s:s, s:s, s:s, s:s, s:i, s:[s]}]}]}",
                     "pending", "id", 7, "issue_id", 13, "issue_type", "disk_space_low",
                     "target", "/", "severity", "high", "summary", "root at 95%",
                     "created_at", t_now - 90, "expires_at", t_now + 9000, "reason", "deletes files",
                     "actions", "plugin", "disk", "action", "remove_old_logs", "target", "/var/log",
                     "description", "remove logs older than 7 days", "step", 1,
                     "flags", "deletes"));
}

static int be_command(void *ud, http_command cmd, uint64_t id, char *msg, size_t len)
{
    (void)ud;
    pthread_mutex_lock(&rec.lock);
    rec.ncommands++;
    rec.last_cmd = cmd;
    rec.last_id = id;
    pthread_mutex_unlock(&rec.lock);
    if ((cmd == HTTP_CMD_CONFIRM || cmd == HTTP_CMD_REJECT) && id != 7) {
        snprintf(msg, len, "no pending plan %llu", (unsigned long long)id);
        return HEALER_E_NOTFOUND;
    }
    snprintf(msg, len, "%s done", cmd == HTTP_CMD_CONFIRM ? "confirm" : cmd == HTTP_CMD_REJECT ? "reject"
                                   : cmd == HTTP_CMD_PAUSE ? "pause" : "resume");
    return HEALER_OK;
}


/* GET /api/v1/holds: what the test put in holds_answer (NULL: "no holds"). */
static json_t *holds_answer;

static json_t *be_holds(void *ud)
{
    (void)ud;
    pthread_mutex_lock(&rec.lock);
    json_t *j = holds_answer ? json_deep_copy(holds_answer) : json_pack("{s:[]}", "holds");
    pthread_mutex_unlock(&rec.lock);
    return remember(j);
}

static void copy_or_empty(char *dst, size_t len, const char *src, int *has)
{
    snprintf(dst, len, "%s", src ? src : "");
    if (has)
        *has = src != NULL;
}

/* POST /api/v1/holds[/release]: records what arrived; "nothing-held" has no hold to release. */
static int be_hold(void *ud, const http_hold_req *rq, char *msg, size_t len)
{
    (void)ud;
    pthread_mutex_lock(&rec.lock);
    rec.nholds++;
    copy_or_empty(rec.hold_target, sizeof rec.hold_target, rq->target, NULL);
    copy_or_empty(rec.hold_type, sizeof rec.hold_type, rq->type, &rec.hold_has_type);
    copy_or_empty(rec.hold_reason, sizeof rec.hold_reason, rq->reason, &rec.hold_has_reason);
    copy_or_empty(rec.hold_by, sizeof rec.hold_by, rq->by, NULL);
    rec.hold_duration = rq->duration;
    rec.hold_even_critical = rq->even_critical;
    rec.hold_release = rq->release;
    pthread_mutex_unlock(&rec.lock);
    if (rq->release && strcmp(rq->target, "nothing-held") == 0) {
        snprintf(msg, len, "no hold on nothing-held");
        return HEALER_E_NOTFOUND;
    }
    snprintf(msg, len, "%s %s", rq->release ? "released" : "held", rq->target);
    return HEALER_OK;
}

typedef struct fixture {
    char dir[64];
    char token[128], wrong_token[128], empty_token[128], no_token[128];
    metrics *m;
    http_backend be;
    http_server *srv, *srv_notoken;
    char url[64], url_notoken[64];
} fixture;

static fixture fx;
static char healctl[4096];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int group_setup(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    snprintf(healctl, sizeof healctl, "%s/bin/healctl", build ? build : ".");
    if (access(healctl, X_OK) != 0) {
        fprintf(stderr, "test_healctl: %s: %s (BUILD must point at the build tree)\n", healctl,
                strerror(errno));
        return -1;
    }
    memset(long_summary, 'x', sizeof long_summary - 1);
    memcpy(long_summary, "START", 5);
    memcpy(long_summary + sizeof long_summary - 4, "END", 3);

    snprintf(fx.dir, sizeof fx.dir, "/tmp/test_healctl.XXXXXX");
    if (!mkdtemp(fx.dir))
        return -1;
    snprintf(fx.token, sizeof fx.token, "%s/token", fx.dir);
    snprintf(fx.wrong_token, sizeof fx.wrong_token, "%s/wrong", fx.dir);
    snprintf(fx.empty_token, sizeof fx.empty_token, "%s/empty", fx.dir);
    snprintf(fx.no_token, sizeof fx.no_token, "%s/absent", fx.dir);
    write_file(fx.token, "s3cret-token\nsecond line is ignored\n");
    write_file(fx.wrong_token, "not-the-token\n");
    write_file(fx.empty_token, "");

    fx.m = metrics_new("luminous_nix");
    fx.be = (http_backend){be_status, be_issues, be_heals, be_plugins, be_knowledge, be_pending,
                           be_command, be_holds, be_hold, fx.m, NULL, NULL, be_heal, be_issue, NULL, NULL, NULL};
    char err[256];
    fx.srv = http_start("127.0.0.1:0", fx.token, &fx.be, err, sizeof err);
    if (!fx.srv) {
        fprintf(stderr, "http_start: %s\n", err);
        return -1;
    }
    snprintf(fx.url, sizeof fx.url, "http://127.0.0.1:%d", http_port(fx.srv));
    /* An agent with no token configured: every POST must be refused with 403. */
    fx.srv_notoken = http_start("127.0.0.1:0", fx.no_token, &fx.be, err, sizeof err);
    if (!fx.srv_notoken) {
        fprintf(stderr, "http_start: %s\n", err);
        return -1;
    }
    snprintf(fx.url_notoken, sizeof fx.url_notoken, "http://127.0.0.1:%d", http_port(fx.srv_notoken));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    http_stop(fx.srv);
    http_stop(fx.srv_notoken);
    metrics_free(fx.m);
    json_decref(take_last_answer());
    json_decref(holds_answer);
    unlink(fx.token);
    unlink(fx.wrong_token);
    unlink(fx.empty_token);
    rmdir(fx.dir);
    return 0;
}

/* ---- running healctl ------------------------------------------------------------------ */

typedef struct run {
    int code;            /* exit status; 128+N when killed by signal N */
    char out[65536];
    char err[8192];
} run;

static void drain(int fd, char *b, size_t cap, size_t *len, int *open_)
{
    ssize_t n = read(fd, b + *len, cap - 1 - *len);
    if (n > 0) {
        *len += (size_t)n;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        *open_ = 0;
    }
    if (*len == cap - 1) {
        /* Full: discard the rest so the child never blocks on a full pipe. */
        char sink[4096];
        while (read(fd, sink, sizeof sink) > 0)
            ;
        *open_ = 0;
    }
    b[*len] = '\0';
}

/* Set for one run by a test (NAME=VALUE), put in the child's environment after the rest. */
static char *child_env[2];

/* Runs healctl with the NULL-terminated arguments; argv[0] is added. */
static void run_healctl(run *r, const char *arg, ...)
{
    const char *argv[32];
    int argc = 0;
    argv[argc++] = healctl;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    int po[2], pe[2];
    assert_int_equal(pipe2(po, O_CLOEXEC), 0);
    assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(po[1], STDOUT_FILENO);
        dup2(pe[1], STDERR_FILENO);
        /* Stable output: no terminal width, the C locale ("..." as the truncation mark). */
        unsetenv("COLUMNS");
        unsetenv("HEALCTL_URL");
        setenv("LC_ALL", "C", 1);
        for (size_t k = 0; k < sizeof child_env / sizeof *child_env; k++)
            if (child_env[k])
                putenv(child_env[k]);
        execv(healctl, (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    size_t lo = 0, le = 0;
    int oo = 1, eo = 1;
    r->out[0] = r->err[0] = '\0';
    while (oo || eo) {
        struct pollfd p[2] = {{oo ? po[0] : -1, POLLIN, 0}, {eo ? pe[0] : -1, POLLIN, 0}};
        if (poll(p, 2, 60000) <= 0) {
            kill(pid, SIGKILL); /* our own child, hung */
            break;
        }
        if (p[0].revents)
            drain(po[0], r->out, sizeof r->out, &lo, &oo);
        if (p[1].revents)
            drain(pe[0], r->err, sizeof r->err, &le, &eo);
    }
    close(po[0]);
    close(pe[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define assert_contains(hay, needle)                                                     \
    do {                                                                                 \
        if (!strstr((hay), (needle)))                                                    \
            fail_msg("expected \"%s\" in:\n%s", (needle), (hay));                        \
    } while (0)
#define assert_not_contains(hay, needle)                                                 \
    do {                                                                                 \
        if (strstr((hay), (needle)))                                                     \
            fail_msg("did not expect \"%s\" in:\n%s", (needle), (hay));                  \
    } while (0)
#define assert_exit(r, want)                                                             \
    do {                                                                                 \
        if ((r)->code != (want))                                                         \
            fail_msg("exit %d, wanted %d\nstdout:\n%s\nstderr:\n%s", (r)->code, (want),  \
                     (r)->out, (r)->err);                                                \
    } while (0)

static run R; /* large: not on the stack */

static int command_count(void)
{
    pthread_mutex_lock(&rec.lock);
    int n = rec.ncommands;
    pthread_mutex_unlock(&rec.lock);
    return n;
}

/* --json prints the same JSON the backend produced. */
static void check_json(const char *cmd)
{
    run_healctl(&R, "--url", fx.url, "--json", cmd, NULL);
    assert_exit(&R, 0);
    json_error_t je;
    json_t *got = json_loads(R.out, 0, &je);
    if (!got)
        fail_msg("%s --json: not JSON (%s):\n%s", cmd, je.text, R.out);
    json_t *want = take_last_answer();
    assert_non_null(want);
    if (!json_equal(got, want))
        fail_msg("%s --json differs from the backend's answer:\n%s", cmd, R.out);
    /* Pretty: one member per line. */
    assert_contains(R.out, "\n  \"");
    json_decref(got);
    json_decref(want);
}

/* ---- against the real server ------------------------------------------------------------ */

static void status_table(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "status", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "healerd 0.1.0 (plugin ABI 1.0)");
    assert_contains(R.out, "dry-run");
    assert_contains(R.out, "87.5");
    assert_contains(R.out, "2h 3m");
    assert_contains(R.out, "2 in the last hour, 8 left (max 10)");
    assert_contains(R.out, "0 today, 3 left (max 3)");
    assert_contains(R.out, "100 sent, 99 received, 1 dropped, 0 malformed");
    assert_string_equal(R.err, "");
    check_json("status");
}

/* Finds the line of out containing needle (copied into line). */
static void line_with(const char *out, const char *needle, char *line, size_t len)
{
    const char *p = strstr(out, needle);
    if (!p)
        fail_msg("no line with \"%s\" in:\n%s", needle, out);
    while (p > out && p[-1] != '\n')
        p--;
    size_t n = strcspn(p, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(line, p, n);
    line[n] = '\0';
}

static void issues_table(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "issues", NULL);
    assert_exit(&R, 0);
    char head[512], l1[512];
    line_with(R.out, "SEVERITY", head, sizeof head);
    line_with(R.out, "cpu_high", l1, sizeof l1);
    /* Aligned: each column starts where its header does. */
    const char *cols[] = {"SEVERITY", "STATE", "TYPE", "TARGET", "LAST SEEN", "SUMMARY"};
    const char *vals[] = {"high", "open", "cpu_high", "cpu", "5m ago", "CPU at 97%"};
    for (size_t i = 0; i < 6; i++) {
        size_t hc = (size_t)(strstr(head, cols[i]) - head);
        if (strncmp(l1 + hc, vals[i], strlen(vals[i])) != 0)
            fail_msg("column %s: \"%s\" not at %zu in\n%s\n%s", cols[i], vals[i], hc, head, l1);
    }
    assert_contains(R.out, "suppressed (cooldown)");
    assert_not_contains(R.out, "\x1b"); /* no terminal escapes from a plugin's text */
    /* Older than a day: an absolute local time, YYYY-MM-DD HH:MM:SS. */
    char l2[512], when[32];
    line_with(R.out, "disk_space_low", l2, sizeof l2);
    time_t t2 = (time_t)OLD_TIME;
    struct tm tm;
    localtime_r(&t2, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    assert_contains(l2, when);
    /* The 300-character summary is cut, with a mark. */
    assert_contains(l2, "START");
    assert_contains(l2, "...");
    assert_not_contains(l2, "END");
    check_json("issues");
}

static void history_table(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "history", "-n", "3", NULL);
    assert_exit(&R, 0);
    assert_int_equal(rec.last_limit, 3);
    assert_contains(R.out, "OUTCOME");
    assert_contains(R.out, "healed");
    assert_contains(R.out, "renice pid:123 healed");
    assert_contains(R.out, "1.5s");
    assert_contains(R.out, "2m ago");
    run_healctl(&R, "--url", fx.url, "history", "-n7", NULL);
    assert_exit(&R, 0);
    assert_int_equal(rec.last_limit, 7);
    run_healctl(&R, "--url", fx.url, "history", NULL);
    assert_exit(&R, 0);
    assert_int_equal(rec.last_limit, 50); /* the API's default */
    run_healctl(&R, "--url", fx.url, "--json", "history", "-n", "1", NULL);
    assert_exit(&R, 0);
    json_t *got = json_loads(R.out, 0, NULL), *want = take_last_answer();
    assert_non_null(want);
    assert_non_null(got);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
}

static void plugins_table(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "plugins", NULL);
    assert_exit(&R, 0);
    char l[512];
    line_with(R.out, "cpu ", l, sizeof l);
    assert_contains(l, "1.0.0");
    assert_contains(l, "loaded");
    assert_contains(l, "5s");
    assert_contains(l, "CPU load healer");
    assert_contains(l, "process");
    assert_contains(l, "running");
    assert_contains(l, "4242");
    line_with(R.out, "broken.so", l, sizeof l);
    assert_contains(l, "refused");
    assert_contains(l, "built for plugin ABI 2.0");
    /* A child waiting out its back-off: when it restarts, how often it crashed, and why. */
    line_with(R.out, "flaky ", l, sizeof l);
    assert_contains(l, "restarting at ");
    assert_contains(l, "(in 9m)");
    assert_contains(l, " 3 ");
    assert_contains(l, "killed by signal 11 (SIGSEGV) (2m ago)");
    line_with(R.out, "dead ", l, sizeof l);
    assert_contains(l, "failed");
    assert_contains(l, " 5 ");
    assert_contains(l, "exited with status 3 (");
    assert_contains(l, "5 crashes in 10 minutes");
    /* A plugin in a thread has no child: dashes, not zeros. */
    line_with(R.out, "memory ", l, sizeof l);
    assert_contains(l, "thread");
    assert_not_contains(l, "running");
    check_json("plugins");
}

static void knowledge_table(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "knowledge", NULL);
    assert_exit(&R, 0);
    char l[512];
    line_with(R.out, "renice", l, sizeof l);
    assert_contains(l, "cpu_high");
    assert_contains(l, "10");
    assert_contains(l, "70%");
    assert_contains(l, "0.67");
    check_json("knowledge");
}

static void pending_table(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "pending", NULL);
    assert_exit(&R, 0);
    char l[512];
    line_with(R.out, "disk_space_low", l, sizeof l);
    assert_contains(l, "remove_old_logs");
    assert_contains(l, "deletes files");
    assert_contains(l, "1m ago");
    assert_contains(l, "in 2h ");
    assert_contains(R.out, "healctl confirm ID");
    check_json("pending");
}

static void commands_with_token(void **state)
{
    (void)state;
    int n = command_count();
    run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "confirm", "7", NULL);
    assert_exit(&R, 0);
    assert_int_equal(command_count(), n + 1);
    assert_int_equal(rec.last_cmd, HTTP_CMD_CONFIRM);
    assert_int_equal(rec.last_id, 7);

    run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "reject", "7", NULL);
    assert_exit(&R, 0);
    assert_int_equal(rec.last_cmd, HTTP_CMD_REJECT);

    run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "pause", NULL);
    assert_exit(&R, 0);
    assert_int_equal(rec.last_cmd, HTTP_CMD_PAUSE);
    assert_true(strlen(R.out) > 0);

    run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "--json", "resume", NULL);
    assert_exit(&R, 0);
    assert_int_equal(rec.last_cmd, HTTP_CMD_RESUME);
    json_t *j = json_loads(R.out, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    assert_int_equal(command_count(), n + 4);
}

static void unknown_id_is_404(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "confirm", "99", NULL);
    assert_exit(&R, 1);
    assert_contains(R.err, "no pending plan with ID 99");
    assert_int_equal(rec.last_id, 99);
    run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "reject", "12345", NULL);
    assert_exit(&R, 1);
    assert_contains(R.err, "12345");
}

static void wrong_or_missing_token_is_401(void **state)
{
    (void)state;
    int n = command_count();
    run_healctl(&R, "--url", fx.url, "--token-file", fx.wrong_token, "pause", NULL);
    assert_exit(&R, 1);
    assert_contains(R.err, "401");
    assert_contains(R.err, "wrong");
    assert_contains(R.err, fx.wrong_token);

    run_healctl(&R, "--url", fx.url, "--token-file", fx.no_token, "confirm", "7", NULL);
    assert_exit(&R, 1);
    assert_contains(R.err, "401");
    assert_contains(R.err, fx.no_token);
    assert_contains(R.err, "No such file or directory");

    run_healctl(&R, "--url", fx.url, "--token-file", fx.empty_token, "resume", NULL);
    assert_exit(&R, 1);
    assert_contains(R.err, "401");
    assert_contains(R.err, fx.empty_token);
    assert_int_equal(command_count(), n); /* nothing reached the backend */
}

static void no_token_on_agent_is_403(void **state)
{
    (void)state;
    int n = command_count();
    run_healctl(&R, "--url", fx.url_notoken, "--token-file", fx.token, "pause", NULL);
    assert_exit(&R, 1);
    assert_contains(R.err, "403");
    assert_contains(R.err, "no token is configured");
    assert_int_equal(command_count(), n);
    /* GETs need no token. */
    run_healctl(&R, "--url", fx.url_notoken, "status", NULL);
    assert_exit(&R, 0);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void unreachable_is_2(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", free_port());
    run_healctl(&R, "--url", url, "status", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, url);
    assert_contains(R.err, "Connection refused");
    run_healctl(&R, "--url", "http://no-such-host.invalid:9191", "issues", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, "no-such-host.invalid");
}

static void usage_errors_are_2(void **state)
{
    (void)state;
    run_healctl(&R, NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, "Usage");
    run_healctl(&R, "frobnicate", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, "unknown command 'frobnicate'");
    run_healctl(&R, "--bogus", "status", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, "--bogus");
    run_healctl(&R, "confirm", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "confirm", "abc", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "confirm", "0", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "status", "extra", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "history", "-n", "0", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "history", "-n", "abc", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "history", "-n", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "status", "-n", "3", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "--url", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "--timeout", "-1", "status", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "--url", "https://127.0.0.1:9191", "status", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, "https");
    run_healctl(&R, "--url", "http://::1:9191", "status", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, "brackets");
    run_healctl(&R, "--url", "http://127.0.0.1:99999", "status", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "--url", "ftp://x", "status", NULL);
    assert_exit(&R, 2);

    run_healctl(&R, "--help", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "Usage: healctl");
    run_healctl(&R, "-h", NULL);
    assert_exit(&R, 0);
    run_healctl(&R, "--version", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "healctl " HEALERD_VERSION);
}

/* Options after the command, "--url=" form, and a URL without a scheme. */
static void option_forms(void **state)
{
    (void)state;
    char opt[96];
    snprintf(opt, sizeof opt, "--url=%s", fx.url);
    run_healctl(&R, "status", opt, "--json", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "\"version\"");
    run_healctl(&R, "--url", fx.url + strlen("http://"), "knowledge", NULL);
    assert_exit(&R, 0);
    snprintf(opt, sizeof opt, "%s/", fx.url);
    run_healctl(&R, "--url", opt, "status", NULL);
    assert_exit(&R, 0);
}

static void ipv6_loopback(void **state)
{
    (void)state;
    char err[256];
    http_server *s6 = http_start("[::1]:0", fx.token, &fx.be, err, sizeof err);
    if (!s6) {
        fprintf(stderr, "skipping IPv6: %s\n", err);
        skip();
    }
    char url[64];
    snprintf(url, sizeof url, "http://[::1]:%d", http_port(s6));
    run_healctl(&R, "--url", url, "--token-file", fx.token, "pause", NULL);
    http_stop(s6);
    assert_exit(&R, 0);
    assert_int_equal(rec.last_cmd, HTTP_CMD_PAUSE);
}


/* ---- holds (issue #11) ----------------------------------------------------------------- */

static int hold_count(void)
{
    pthread_mutex_lock(&rec.lock);
    int n = rec.nholds;
    pthread_mutex_unlock(&rec.lock);
    return n;
}

/* "healctl:USER", as healctl names the operator. */
static const char *me(void)
{
    static char by[96];
    const struct passwd *pw = getpwuid(getuid());
    snprintf(by, sizeof by, "healctl:%s", pw && pw->pw_name ? pw->pw_name : "?");
    return by;
}

/* What the agent's server decoded from healctl's request, every argument. */
static void hold_request_decoded(void **state)
{
    (void)state;
    int n = hold_count();
    run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "hold", "nginx.service", "--for",
                "30m", "--type", "service_failed", "--reason", "deploy: a&b=c 100%",
                "--even-critical", NULL);
    assert_exit(&R, 0);
    assert_int_equal(hold_count(), n + 1);
    assert_contains(R.out, "held nginx.service");
    assert_string_equal(rec.hold_target, "nginx.service");
    assert_true(rec.hold_has_type);
    assert_string_equal(rec.hold_type, "service_failed");
    assert_string_equal(rec.hold_reason, "deploy: a&b=c 100%"); /* percent-encoded, back whole */
    assert_string_equal(rec.hold_by, me());
    assert_true(rec.hold_duration == 1800.0);
    assert_int_equal(rec.hold_even_critical, 1);
    assert_int_equal(rec.hold_release, 0);

    /* Each unit, the bare number, a fraction, 0 = until released; --for=VALUE too. */
    static const struct {
        const char *arg;
        double secs;
    } durs[] = {{"2h", 7200}, {"90", 90}, {"45s", 45}, {"1d", 86400}, {"1.5h", 5400},
                {"0", 0}, {"0m", 0}, {"3650d", 3650.0 * 86400}};
    for (size_t i = 0; i < sizeof durs / sizeof *durs; i++) {
        char opt[64];
        snprintf(opt, sizeof opt, "--for=%s", durs[i].arg);
        run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "hold", "web-*.service",
                    i % 2 ? opt : "--for", i % 2 ? NULL : durs[i].arg, NULL);
        assert_exit(&R, 0);
        if (rec.hold_duration != durs[i].secs)
            fail_msg("--for %s: the agent got %g s, wanted %g", durs[i].arg, rec.hold_duration,
                     durs[i].secs);
        assert_string_equal(rec.hold_target, "web-*.service");
        assert_int_equal(rec.hold_even_critical, 0);
        assert_false(rec.hold_has_type);
        assert_false(rec.hold_has_reason);
    }
    /* No --for: nothing sent, the agent's default (1 h) applies. */
    run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "hold", "eth0", NULL);
    assert_exit(&R, 0);
    assert_true(rec.hold_duration == -1.0);
    assert_int_equal(hold_count(), n + 2 + (int)(sizeof durs / sizeof *durs));
}

static void unhold_request_decoded(void **state)
{
    (void)state;
    int n = hold_count();
    run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "unhold", "nginx.service",
                "--type", "service_failed", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "released nginx.service");
    assert_int_equal(rec.hold_release, 1);
    assert_string_equal(rec.hold_target, "nginx.service");
    assert_string_equal(rec.hold_type, "service_failed");
    assert_false(rec.hold_has_reason); /* a release carries no reason, duration or by */
    assert_true(rec.hold_duration == -1.0);
    /* Nothing to release: the agent's 404 and its message, exit 1. */
    run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "unhold", "nothing-held", NULL);
    assert_exit(&R, 1);
    assert_contains(R.err, "no hold on nothing-held");
    assert_int_equal(hold_count(), n + 2);
    /* A hold is a command: the token is needed. */
    run_healctl(&R, "--url", fx.url, "--token-file", fx.wrong_token, "hold", "x", NULL);
    assert_exit(&R, 1);
    assert_contains(R.err, "401");
    assert_int_equal(hold_count(), n + 2);
}

/* Refused by healctl itself, naming the value: the agent never hears of it. */
static void hold_usage_refused(void **state)
{
    (void)state;
    int n = hold_count();
    static const char *const bad[] = {"abc", "-5", "10x", "", "1e3", "inf", "nan", "0x10",
                                      "5 m", " 5", "1.", ".5", "5mm", "3651d", "99999999999999999999d",
                                      "2H", "1w"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        run_healctl(&R, "--url", fx.url, "--token-file", fx.token, "hold", "nginx.service",
                    "--for", bad[i], NULL);
        if (R.code != 2)
            fail_msg("--for '%s': exit %d, wanted 2\nstderr:\n%s", bad[i], R.code, R.err);
        char want[160];
        snprintf(want, sizeof want, "--for: '%s' is not a duration", bad[i]);
        assert_contains(R.err, want);
        assert_contains(R.err, "0 = until released");
    }
    run_healctl(&R, "--url", fx.url, "hold", "--for", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, "--for needs a value");
    run_healctl(&R, "--url", fx.url, "hold", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, "hold needs exactly one TARGET");
    run_healctl(&R, "--url", fx.url, "hold", "", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "--url", fx.url, "hold", "a", "b", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "--url", fx.url, "unhold", "a", "--for", "1h", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, "only apply to 'hold'");
    run_healctl(&R, "--url", fx.url, "unhold", "a", "--even-critical", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "--url", fx.url, "holds", "--reason", "x", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "--url", fx.url, "holds", "--type", "x", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, "--type only applies");
    run_healctl(&R, "--url", fx.url, "holds", "extra", NULL);
    assert_exit(&R, 2);
    assert_int_equal(hold_count(), n);
}

static void holds_table(void **state)
{
    (void)state;
    time_t until = (time_t)now_s() + 7200;
    char when[64];
    struct tm tm;
    localtime_r(&until, &tm);
    strftime(when, sizeof when, "until %Y-%m-%d %H:%M:%S", &tm);
    json_t *h = json_pack(
        "{s:[{s:s, s:s, s:s, s:s, s:f, s:f, s:b},"
        "    {s:s, s:n, s:s, s:s, s:f, s:n, s:b},"
        "    {s:s, s:n, s:s, s:s, s:f, s:f, s:b}]}",
        "holds",
        "target", "nginx.service", "type", "service_failed", "reason", "deploy",
        "by", "healctl:alice", "since", now_s() - 60, "until", (double)until, "even_critical", 0,
        "target", "eth*", "type", "reason", "", "by", "api", "since", now_s() - 60, "until",
        "even_critical", 1,
        "target", "/srv", "type", "reason", "evil \x1b[31mred\x1b[0m", "by", "healctl:bob",
        "since", now_s(), "until", 1e300, "even_critical", 0);
    pthread_mutex_lock(&rec.lock);
    json_decref(holds_answer);
    holds_answer = h;
    pthread_mutex_unlock(&rec.lock);

    run_healctl(&R, "--url", fx.url, "holds", NULL);
    assert_exit(&R, 0);
    char l[512];
    line_with(R.out, "nginx.service", l, sizeof l);
    char want[256];
    snprintf(want, sizeof want, "nginx.service  (service_failed)  %s  by healctl:alice: deploy",
             when);
    assert_string_equal(l, want);
    line_with(R.out, "eth*", l, sizeof l);
    assert_string_equal(l, "eth*  (any type)  until released, critical included  by api");
    /* Outside text is cleaned (no terminal escape); an absurd time is not handed to
     * localtime, and not shown as "until released" either. */
    line_with(R.out, "/srv", l, sizeof l);
    assert_not_contains(l, "\x1b");
    assert_contains(l, "until 1e+300 (not a time)");
    assert_contains(l, "by healctl:bob: evil ");
    check_json("holds");

    pthread_mutex_lock(&rec.lock);
    json_decref(holds_answer);
    holds_answer = NULL;
    pthread_mutex_unlock(&rec.lock);
    run_healctl(&R, "--url", fx.url, "holds", NULL);
    assert_exit(&R, 0);
    assert_string_equal(R.out, "no holds\n");
}

/* ---- against a canned server ------------------------------------------------------------- */

typedef struct canned {
    int lfd;
    int port;
    const char *answer;        /* bytes to send; NULL = close without answering */
    size_t answer_len;
    int silent;                /* accept and say nothing until the client gives up */
    char request[8192];        /* what the client sent */
    pthread_t th;
} canned;

static void *canned_main(void *arg)
{
    canned *c = arg;
    int fd = accept(c->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    size_t len = 0;
    while (len < sizeof c->request - 1 && !strstr(c->request, "\r\n\r\n")) {
        ssize_t n = read(fd, c->request + len, sizeof c->request - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        c->request[len] = '\0';
    }
    if (c->silent) {
        char b[64];
        while (read(fd, b, sizeof b) > 0) /* until the client hangs up */
            ;
    } else if (c->answer) {
        /* In small pieces, so the client's parser sees partial headers and chunks. */
        for (size_t off = 0; off < c->answer_len; off += 7) {
            size_t n = c->answer_len - off < 7 ? c->answer_len - off : 7;
            if (write(fd, c->answer + off, n) < 0)
                break;
        }
    }
    close(fd);
    return NULL;
}

static void canned_start(canned *c, const char *answer)
{
    memset(c, 0, sizeof *c);
    c->answer = answer;
    c->answer_len = answer ? strlen(answer) : 0;
    c->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(c->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(c->lfd, 4), 0);
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(c->lfd, (struct sockaddr *)&a, &l), 0);
    c->port = ntohs(a.sin_port);
}

static void canned_run(canned *c, const char *token_file, const char *json, const char *cmd,
                       const char *arg)
{
    assert_int_equal(pthread_create(&c->th, NULL, canned_main, c), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", c->port);
    run_healctl(&R, "--url", url, "--timeout", "1", "--token-file", token_file ? token_file : "/nonexistent",
                json ? json : cmd, json ? cmd : arg, json ? arg : NULL, NULL);
    pthread_join(c->th, NULL);
    close(c->lfd);
}

static canned C;

static void chunked_answer(void **state)
{
    (void)state;
    canned_start(&C, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"
                     "b\r\n{\"knowledge\r\n"
                     "1F;ext=1\r\n\": [{\"issue_type\": \"mem_high\", \r\n"
                     "39\r\n\"action\": \"drop_caches\", \"attempts\": 4, \"successes\": 1}]}\r\n"
                     "0\r\nX-Trailer: yes\r\n\r\n");
    canned_run(&C, NULL, NULL, "knowledge", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "mem_high");
    assert_contains(R.out, "drop_caches");
    assert_contains(R.out, "25%");
    /* What healctl sent: HTTP/1.1 with a Host header, and no token on a GET. */
    char want[96];
    snprintf(want, sizeof want, "Host: 127.0.0.1:%d\r\n", C.port);
    assert_contains(C.request, "GET /api/v1/knowledge HTTP/1.1\r\n");
    assert_contains(C.request, want);
    assert_not_contains(C.request, "Authorization");
}

static void token_sent_on_post(void **state)
{
    (void)state;
    canned_start(&C, "HTTP/1.1 200 OK\r\nContent-Length: 38\r\n\r\n"
                     "{\"ok\": true, \"message\": \"paused now\"}\n");
    canned_run(&C, fx.token, NULL, "pause", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "paused now");
    assert_contains(C.request, "POST /api/v1/pause HTTP/1.1\r\n");
    assert_contains(C.request, "Authorization: Bearer s3cret-token\r\n");
    assert_contains(C.request, "Content-Length: 0\r\n");
}

static void json_mode_keeps_numbers(void **state)
{
    (void)state;
    /* Pretty-printed from the agent's own text: 0.67 must not become 0.67000000000000004. */
    canned_start(&C, "HTTP/1.1 200 OK\r\nContent-Length: 79\r\n\r\n"
                     "{\"knowledge\":[{\"issue_type\":\"a\",\"action\":\"b\",\"confidence\":0.67,\"x\":{},\"y\":[]}]}");
    canned_run(&C, NULL, "--json", "knowledge", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "\"confidence\": 0.67,");
    assert_contains(R.out, "\"x\": {},");
    assert_contains(R.out, "\"y\": []");
    json_t *j = json_loads(R.out, 0, NULL);
    assert_non_null(j);
    json_decref(j);
}


/* The bytes on the wire: the query, percent-encoded, the token, an empty body. */
static void hold_bytes_sent(void **state)
{
    (void)state;
    canned_start(&C, "HTTP/1.1 200 OK\r\nContent-Length: 36\r\n\r\n"
                     "{\"ok\": true, \"message\": \"held now\"}\n");
    assert_int_equal(pthread_create(&C.th, NULL, canned_main, &C), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", C.port);
    run_healctl(&R, "--url", url, "--token-file", fx.token, "hold", "web-*.service", "--for",
                "2h", "--reason", "a b/c", "--even-critical", NULL);
    pthread_join(C.th, NULL);
    close(C.lfd);
    assert_exit(&R, 0);
    assert_contains(R.out, "held now");
    const char *by = me(); /* "healctl:USER": ':' is encoded */
    char want[512];
    snprintf(want, sizeof want, "POST /api/v1/holds?target=web-%%2A.service&for=2h"
             "&reason=a%%20b%%2Fc&by=healctl%%3A%s&even_critical=1 HTTP/1.1\r\n",
             by + strlen("healctl:"));
    if (strncmp(C.request, want, strlen(want)) != 0)
        fail_msg("request line:\n%s\nwanted:\n%s", C.request, want);
    assert_contains(C.request, "Authorization: Bearer s3cret-token\r\n");
    assert_contains(C.request, "Content-Length: 0\r\n");

    canned_start(&C, "HTTP/1.1 200 OK\r\nContent-Length: 36\r\n\r\n"
                     "{\"ok\": true, \"message\": \"released\"}\n");
    canned_run(&C, fx.token, NULL, "unhold", "eth0");
    assert_exit(&R, 0);
    assert_contains(C.request, "POST /api/v1/holds/release?target=eth0 HTTP/1.1\r\n");
}

static void bad_answers_are_1(void **state)
{
    (void)state;
    static const struct {
        const char *answer;
        const char *cmd;
        const char *needle;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"issues\": [1,", "issues", "not valid JSON"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "status", "not valid JSON"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]", "status", "not a JSON object"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"issues\": 5}", "issues", "no \"issues\" array"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "holds", "no \"holds\" array"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "plugins", "empty"},
        {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "status", "not an HTTP"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":1}", "status", "closed after"},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "status", "Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "status", "chunk"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "status", "Transfer-Encoding"},
        {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 21\r\n\r\ndatabase is locked\n..",
         "history", "database is locked"},
        {"HTTP/1.1 400 Bad Request\r\nContent-Length: 35\r\n\r\n{\"error\": \"limit must be 1..1000\"}\n",
         "history", "limit must be 1..1000"},
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "status", "404"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 49\r\n\r\n{\"ok\": false, \"message\": \"plan refused by agent\"}",
         "resume", "plan refused by agent"},
        {"", "status", "without an answer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        canned_start(&C, cases[i].answer);
        canned_run(&C, NULL, NULL, cases[i].cmd, NULL);
        if (R.code != 1)
            fail_msg("case %zu: exit %d, wanted 1\nstdout:\n%s\nstderr:\n%s", i, R.code, R.out,
                     R.err);
        if (!strstr(R.err, cases[i].needle))
            fail_msg("case %zu: expected \"%s\" in stderr:\n%s", i, cases[i].needle, R.err);
    }
}

static void silent_agent_times_out(void **state)
{
    (void)state;
    canned_start(&C, NULL);
    C.silent = 1;
    canned_run(&C, NULL, NULL, "status", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, "no answer");
}

/* ---- show, explain (issue #13) ---------------------------------------------------------- */

static void show_heal_output(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "show", "heal", "5", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "heal 5: cpu_high on cpu (high)");
    assert_contains(R.out, "outcome     healed");
    assert_contains(R.out, "governor    allow: within the limits: no step needs a person");
    assert_contains(R.out, "cooldown    until ");
    assert_contains(R.out, "first       the only candidate of the gentlest step (step 1)");
    char l[1024];
    line_with(R.out, "  renice ", l, sizeof l);   /* the candidates table: renice first, 80 % */
    assert_contains(l, "80%");
    assert_contains(l, "60%");
    line_with(R.out, "kill", l, sizeof l);
    assert_contains(l, "50%");
    assert_contains(l, "stops");
    assert_contains(R.out, "not_healed");
    assert_contains(R.out, "killed 123");
    assert_contains(R.out, "signal (for kill)");
    assert_contains(R.out, "SIGTERM to 123");
    assert_contains(R.out, "step kill");
}

static void explain_sentences(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "explain", "5", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "Heal 5 was for cpu_high on cpu (high severity), issue 12: \"CPU at 97%\"");
    assert_contains(R.out, "The planner weighed 2 candidates:");
    assert_contains(R.out, "1. cpu renice on pid:123 (step 1): expected success 80% (tried 4 times before, prior 60%)");
    assert_contains(R.out, "2. cpu kill on pid:123 (step 2): expected success 50% (never tried");
    assert_contains(R.out, "renice went first: the only candidate of the gentlest step (step 1).");
    assert_contains(R.out, "The governor decided \"allow\": within the limits: no step needs a person (8 of 10 heals were left this hour).");
    assert_contains(R.out, "Its cooldown holds a new heal of this issue type and target until ");
    assert_contains(R.out, "Step 1: cpu ran renice on pid:123: not_healed, \"reniced 123 to 10\" (took 0.2s).");
    assert_contains(R.out, "Step 2: cpu ran kill on " LONG_PATH ": healed, \"killed 123\" (took 0.3s).");
    assert_contains(R.out, "Actuator call: cpu signal on pid:123: ok, SIGTERM to 123.");
    assert_contains(R.out, "The audit log has 2 lines for this heal, 1 of them actuator calls.");
    assert_contains(R.out, "Outcome: healed.");
    run_healctl(&R, "--url", fx.url, "--json", "explain", "5", NULL);
    assert_exit(&R, 0);
    json_t *got = json_loads(R.out, 0, NULL), *want = take_last_answer();
    assert_non_null(got);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
}

static void show_issue_output(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "show", "issue", "12", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "issue 12: cpu_high on cpu (high)");
    assert_contains(R.out, "seen        5 times");
    assert_contains(R.out, "cooldown    no new heal until ");
    assert_contains(R.out, "latest heal 5 (healctl explain 5)");
    char l[512];
    line_with(R.out, "healed", l, sizeof l);
    assert_contains(l, "1.5s");
}

static void show_unknown_is_404(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "show", "heal", "99", NULL);
    assert_exit(&R, 1);
    assert_contains(R.err, "no heal with ID 99 (404");
    assert_contains(R.err, "healctl history");
    run_healctl(&R, "--url", fx.url, "explain", "98", NULL);
    assert_exit(&R, 1);
    assert_contains(R.err, "no heal with ID 98");
    run_healctl(&R, "--url", fx.url, "show", "issue", "99", NULL);
    assert_exit(&R, 1);
    assert_contains(R.err, "no issue with ID 99 (404");
    run_healctl(&R, "--url", fx.url, "show", "heal", "x1", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "--url", fx.url, "show", "plan", "1", NULL);
    assert_exit(&R, 2);
    run_healctl(&R, "--url", fx.url, "explain", NULL);
    assert_exit(&R, 2);
}

/* At 80 columns the path is cut in the middle (its end kept) and the message column keeps room. */
static void narrow_table_keeps_path_end(void **state)
{
    (void)state;
    child_env[0] = "COLUMNS=80";
    run_healctl(&R, "--url", fx.url, "show", "heal", "5", NULL);
    child_env[0] = NULL;
    assert_exit(&R, 0);
    char l[1024];
    line_with(R.out, "killed 123", l, sizeof l);
    assert_contains(l, "knowledge.db");
    assert_contains(l, "...");
    assert_not_contains(l, LONG_PATH);
    /* every table line fits */
    for (const char *p = R.out; *p;) {
        size_t n = strcspn(p, "\n");
        if (n > 80 && !strstr(p, "Heal") && strncmp(p, "  ", 2) != 0 && strncmp(p, "heal ", 5) != 0)
            fail_msg("line of %zu columns at 80:\n%.*s", n, (int)n, p);
        p += n + (p[n] == '\n');
    }
    run_healctl(&R, "--url", fx.url, "show", "heal", "5", NULL);
    line_with(R.out, "killed 123", l, sizeof l);
    assert_true(strlen(l) > 80); /* not a terminal: only the columns' own caps */
    assert_contains(l, "knowledge.db");
}

static void no_legend_drops_headers(void **state)
{
    (void)state;
    run_healctl(&R, "--url", fx.url, "issues", NULL);
    assert_contains(R.out, "SEVERITY");
    run_healctl(&R, "--url", fx.url, "--no-legend", "issues", NULL);
    assert_exit(&R, 0);
    assert_not_contains(R.out, "SEVERITY");
    assert_contains(R.out, "cpu_high");
}

static void healctl_url_env(void **state)
{
    (void)state;
    static char env[300];
    snprintf(env, sizeof env, "HEALCTL_URL=%s", fx.url);
    child_env[0] = env;
    run_healctl(&R, "status", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "healerd 0.1.0");
    /* --url wins over the environment */
    run_healctl(&R, "--url", "http://127.0.0.1:1", "status", NULL);
    assert_exit(&R, 2);
    child_env[0] = "HEALCTL_URL=ftp://x";
    run_healctl(&R, "status", NULL);
    child_env[0] = NULL;
    assert_exit(&R, 2);
    assert_contains(R.err, "HEALCTL_URL");
    /* http.listen from -c FILE */
    char cfg[] = "/tmp/healctl-cfg-XXXXXX";
    int fd = mkstemp(cfg);
    assert_true(fd >= 0);
    dprintf(fd, "http = { listen = \"%s\"; };\n", fx.url + strlen("http://"));
    close(fd);
    run_healctl(&R, "-c", cfg, "status", NULL);
    assert_exit(&R, 0);
    assert_contains(R.out, "healerd 0.1.0");
    fd = open(cfg, O_WRONLY | O_TRUNC);
    dprintf(fd, "http = { listen = 9; ;\n");
    close(fd);
    run_healctl(&R, "-c", cfg, "status", NULL);
    assert_exit(&R, 2);
    assert_contains(R.err, cfg);
    unlink(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_table),
        cmocka_unit_test(issues_table),
        cmocka_unit_test(history_table),
        cmocka_unit_test(plugins_table),
        cmocka_unit_test(knowledge_table),
        cmocka_unit_test(pending_table),
        cmocka_unit_test(commands_with_token),
        cmocka_unit_test(unknown_id_is_404),
        cmocka_unit_test(wrong_or_missing_token_is_401),
        cmocka_unit_test(no_token_on_agent_is_403),
        cmocka_unit_test(unreachable_is_2),
        cmocka_unit_test(usage_errors_are_2),
        cmocka_unit_test(option_forms),
        cmocka_unit_test(ipv6_loopback),
        cmocka_unit_test(hold_request_decoded),
        cmocka_unit_test(unhold_request_decoded),
        cmocka_unit_test(hold_usage_refused),
        cmocka_unit_test(holds_table),
        cmocka_unit_test(chunked_answer),
        cmocka_unit_test(token_sent_on_post),
        cmocka_unit_test(json_mode_keeps_numbers),
        cmocka_unit_test(hold_bytes_sent),
        cmocka_unit_test(bad_answers_are_1),
        cmocka_unit_test(silent_agent_times_out),
        cmocka_unit_test(show_heal_output),
        cmocka_unit_test(explain_sentences),
        cmocka_unit_test(show_issue_output),
        cmocka_unit_test(show_unknown_is_404),
        cmocka_unit_test(narrow_table_keeps_path_end),
        cmocka_unit_test(no_legend_drops_headers),
        cmocka_unit_test(healctl_url_env),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
