/* test_audit.c — the audit log on a real file: directory and file creation with their modes,
 * one well-formed JSON object per line whatever the strings hold, concurrent writers (threads
 * and two handles on one file) never interleave, reopen appends; a planted link or an unsafe
 * state_dir refused; a write cut short (RLIMIT_FSIZE) leaves no half line and makes the log
 * "failing" until a write fits again; the line is byte for byte what jansson writes for the same
 * record (hostile and random strings, params, measurements); deferred lines wait for a flush and
 * go before the next line, and a batch cut short keeps exactly its whole lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "healer/types.h"
#include "message.h"
#include "sanitize_json.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_audit.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static void rm_rf(const char *path)
{
    /* Only our own mkdtemp tree. */
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", path);
        DIR *dir = opendir(buf);
        if (dir) {
            struct dirent *de;
            while ((de = readdir(dir))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                rm_rf(sub);
            }
            closedir(dir);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(tmpdir);
    return 0;
}

/* Reads every line of the file; returns the count and the parsed objects (caller frees). */
static size_t read_lines(const char *path, json_t ***out)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = 0, cap = 16;
    json_t **v = malloc(cap * sizeof *v);
    char *line = NULL;
    size_t ll = 0;
    ssize_t r;
    while ((r = getline(&line, &ll, f)) > 0) {
        assert_true(line[r - 1] == '\n');  /* every record ends its line */
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        if (!j)
            fail_msg("line %zu is not JSON: %s: %s", n + 1, err.text, line);
        assert_true(json_is_object(j));
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
        }
        v[n++] = j;
    }
    free(line);
    fclose(f);
    *out = v;
    return n;
}

static void free_lines(json_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(v[i]);
    free(v);
}

static void test_creates_dir_and_modes(void **state)
{
    (void)state;
    char dir[512], err[256] = "";
    snprintf(dir, sizeof dir, "%s/a/b/state", tmpdir);
    mode_t old = umask(0);
    audit_log *a = audit_open(dir, err, sizeof err);
    umask(old);
    assert_non_null(a);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700); /* the state_dir: the agent's alone */
    char file[600];
    snprintf(file, sizeof file, "%s/audit.jsonl", dir);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    /* O_APPEND and O_CLOEXEC, seen from the kernel's side. */
    int found = 0;
    for (int fd = 3; fd < 1024 && !found; fd++) {
        char link[64], target[700];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, file) != 0)
            continue;
        int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
        assert_true(fl & O_APPEND);
        assert_true(fdf & FD_CLOEXEC);
        found = 1;
    }
    assert_true(found);
    audit_close(a);
}

static void test_open_fails_cleanly(void **state)
{
    (void)state;
    char file[512], dir[600], err[256] = "";
    snprintf(file, sizeof file, "%s/plainfile", tmpdir);
    FILE *f = fopen(file, "w");
    fputs("x", f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/sub", file);
    assert_null(audit_open(dir, err, sizeof err));
    assert_non_null(strstr(err, "plainfile"));
    assert_null(audit_open("", err, sizeof err));
    assert_null(audit_open(NULL, NULL, 0));
    assert_int_equal(audit_append(NULL, NULL), HEALER_E_INVAL);
}

static void test_record_shape(void **state)
{
    (void)state;
    char err[256];
    audit_log *a = audit_open(tmpdir, err, sizeof err);
    assert_non_null(a);
    json_t *params = json_pack("{s:i, s:s}", "pid", 42, "name", "we\"ird\n\\ \x01 näme");
    audit_rec r = {
        .heal_id = 7,
        .plugin = "cpu",
        .action = "renice_hogs",
        .actuator = "renice",
        .target = "pid:42",
        .params = params,
        .result = "ok",
        .message = "line1\nline2 \"quoted\" \t tab",
        .before_json = "{\"cpu_percent\": 97.5}",
        .after_json = NULL,
        .dry_run = 0,
    };
    assert_int_equal(audit_append(a, &r), 0);
    /* Not UTF-8, unparsable "before", NULL strings: still one valid line. */
    audit_rec r2 = { .plugin = "disk\xff\xfe", .result = "refused", .before_json = "{not json",
                     .dry_run = 1 };
    assert_int_equal(audit_append(a, &r2), 0);
    json_decref(params);
    assert_int_equal(audit_sync(a), 0);
    audit_close(a);

    char file[512];
    snprintf(file, sizeof file, "%s/audit.jsonl", tmpdir);
    json_t **v;
    size_t n = read_lines(file, &v);
    assert_int_equal(n, 2);
    static const char *const keys[] = { "time", "heal_id", "plugin", "action", "actuator",
                                        "target", "params", "result", "message", "before",
                                        "after", "dry_run", NULL };
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; keys[k]; k++)
            if (!json_object_get(v[i], keys[k]))
                fail_msg("line %zu lacks key %s", i + 1, keys[k]);
        assert_int_equal(json_object_size(v[i]), 12);
    }
    regex_t re;
    assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
                             REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal(regexec(&re, json_string_value(json_object_get(v[0], "time")), 0, NULL, 0), 0);
    regfree(&re);
    assert_int_equal(json_integer_value(json_object_get(v[0], "heal_id")), 7);
    assert_string_equal(json_string_value(json_object_get(v[0], "plugin")), "cpu");
    assert_string_equal(json_string_value(json_object_get(v[0], "actuator")), "renice");
    assert_string_equal(json_string_value(json_object_get(v[0], "message")),
                        "line1\nline2 \"quoted\" \t tab");
    json_t *p = json_object_get(v[0], "params");
    assert_string_equal(json_string_value(json_object_get(p, "name")), "we\"ird\n\\ \x01 näme");
    json_t *before = json_object_get(v[0], "before");
    assert_true(json_is_object(before));
    assert_true(json_real_value(json_object_get(before, "cpu_percent")) == 97.5);
    assert_true(json_is_null(json_object_get(v[0], "after")));
    assert_true(json_is_false(json_object_get(v[0], "dry_run")));

    assert_true(json_is_true(json_object_get(v[1], "dry_run")));
    assert_true(json_is_null(json_object_get(v[1], "actuator")));
    assert_true(json_is_null(json_object_get(v[1], "params")));
    assert_string_equal(json_string_value(json_object_get(v[1], "before")), "{not json");
    assert_non_null(json_string_value(json_object_get(v[1], "plugin")));
    free_lines(v, n);
}

typedef struct worker_arg {
    audit_log *a;
    int id;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    char text[600];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    for (int i = 0; i < 300; i++) {
        json_t *params = json_pack("{s:i, s:i}", "thread", w->id, "i", i);
        audit_rec r = { .heal_id = (uint64_t)i, .plugin = "t", .action = "a", .params = params,
                        .result = "ok", .message = text };
        if (audit_append(w->a, &r) != 0)
            abort();
        json_decref(params);
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    (void)state;
    char err[256];
    /* Two handles on the same file (as after a restart overlap) plus threads on each. */
    audit_log *a1 = audit_open(tmpdir, err, sizeof err);
    audit_log *a2 = audit_open(tmpdir, err, sizeof err);
    assert_non_null(a1);
    assert_non_null(a2);
    pthread_t th[8];
    worker_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (worker_arg){ i % 2 ? a2 : a1, i };
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    audit_close(a1);
    audit_close(a2);
    char file[512];
    snprintf(file, sizeof file, "%s/audit.jsonl", tmpdir);
    json_t **v;
    size_t n = read_lines(file, &v);
    assert_int_equal(n, 8 * 300);
    int seen[8][300];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_object_get(v[i], "params");
        int t = (int)json_integer_value(json_object_get(p, "thread"));
        int k = (int)json_integer_value(json_object_get(p, "i"));
        assert_in_range(t, 0, 7);
        assert_in_range(k, 0, 299);
        seen[t][k]++;
    }
    for (int t = 0; t < 8; t++)
        for (int k = 0; k < 300; k++)
            assert_int_equal(seen[t][k], 1);
    free_lines(v, n);
}

static void test_reopen_appends(void **state)
{
    (void)state;
    char err[256];
    for (int round = 0; round < 3; round++) {
        audit_log *a = audit_open(tmpdir, err, sizeof err);
        assert_non_null(a);
        audit_rec r = { .plugin = "p", .result = "ok", .message = "m" };
        assert_int_equal(audit_append(a, &r), 0);
        audit_close(a);
    }
    char file[512];
    snprintf(file, sizeof file, "%s/audit.jsonl", tmpdir);
    json_t **v;
    size_t n = read_lines(file, &v);
    assert_int_equal(n, 3);
    free_lines(v, n);
}

/* A link planted as audit.jsonl (by whoever could write the folder once) is never followed:
 * root would otherwise append to whatever it points at. */
static void test_symlink_refused(void **state)
{
    (void)state;
    char dir[512], target[600], link[600], err[512] = "";
    snprintf(dir, sizeof dir, "%s/state", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(target, sizeof target, "%s/root-only", tmpdir);
    int fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "secret\n", 7), 7);
    close(fd);
    snprintf(link, sizeof link, "%s/audit.jsonl", dir);
    assert_int_equal(symlink(target, link), 0);
    audit_log *a = audit_open(dir, err, sizeof err);
    assert_null(a);
    assert_non_null(strstr(err, link));
    assert_non_null(strstr(err, "symbolic link"));
    struct stat st;
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_size, 7);
}

/* A state_dir others may write is refused with the command that fixes it; fixed, it opens. */
static void test_unsafe_state_dir(void **state)
{
    (void)state;
    char dir[512], err[512] = "";
    snprintf(dir, sizeof dir, "%s/open", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    assert_null(audit_open(dir, err, sizeof err));
    assert_non_null(strstr(err, dir));
    assert_non_null(strstr(err, "chmod 0700"));
    assert_int_equal(chmod(dir, 0770), 0);
    err[0] = '\0';
    assert_null(audit_open(dir, err, sizeof err));
    assert_non_null(strstr(err, "group"));
    if (geteuid() == 0) {
        assert_int_equal(chmod(dir, 0700), 0);
        assert_int_equal(chown(dir, 65534, 0), 0);
        err[0] = '\0';
        assert_null(audit_open(dir, err, sizeof err));
        assert_non_null(strstr(err, "chown root:root"));
        assert_int_equal(chown(dir, 0, 0), 0);
    }
    assert_int_equal(chmod(dir, 0700), 0);
    audit_log *a = audit_open(dir, err, sizeof err);
    assert_non_null(a);
    audit_close(a);
}

static void append_one(audit_log *a, const char *text, int expect)
{
    audit_rec r = { .heal_id = 1, .plugin = "cpu", .action = "renice", .actuator = "renice",
                    .target = "pid 1", .result = "ok", .message = text };
    assert_int_equal(audit_append(a, &r), expect);
}

/* The file may not grow past a limit (RLIMIT_FSIZE: the kernel cuts the write short, as a full
 * disk does): the line that does not fit leaves nothing behind, the log is failing (no room can
 * be reserved for the next change), and once the limit is lifted both recover. */
static void test_short_write_cut_back(void **state)
{
    (void)state;
    char dir[512], file[600], err[512] = "";
    snprintf(dir, sizeof dir, "%s/full", tmpdir);
    audit_log *a = audit_open(dir, err, sizeof err);
    assert_non_null(a);
    snprintf(file, sizeof file, "%s/audit.jsonl", dir);
    append_one(a, "first", 0);
    assert_int_equal(audit_ready(a, NULL, 0), 1);
    assert_int_equal(audit_failing(a), 0);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    off_t one = st.st_size;

    struct sigaction ign = { .sa_handler = SIG_IGN }, old_sa;
    sigaction(SIGXFSZ, &ign, &old_sa);
    struct rlimit old_rl, rl;
    getrlimit(RLIMIT_FSIZE, &old_rl);
    rl = old_rl;
    rl.rlim_cur = (rlim_t)one + 40; /* room for a part of the next line only */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    append_one(a, big, HEALER_E_IO);
    assert_int_equal(audit_failing(a), 1);
    char why[700] = "";
    assert_int_equal(audit_ready(a, why, sizeof why), 0);
    assert_non_null(strstr(why, file));
    setrlimit(RLIMIT_FSIZE, &old_rl);
    sigaction(SIGXFSZ, &old_sa, NULL);

    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_size, one); /* not a byte of the line that did not fit */
    /* Failing until a line is written (an actuator's refusal line, say); then ready. */
    assert_int_equal(audit_ready(a, NULL, 0), 0);
    append_one(a, "after", 0);
    assert_int_equal(audit_failing(a), 0);
    assert_int_equal(audit_ready(a, NULL, 0), 1);
    audit_close(a);
    json_t **v;
    size_t n = read_lines(file, &v);
    assert_int_equal(n, 2);
    assert_string_equal(json_string_value(json_object_get(v[0], "message")), "first");
    assert_string_equal(json_string_value(json_object_get(v[1], "message")), "after");
    free_lines(v, n);
}

/* ---- the line against jansson ------------------------------------------------------------ */

/* The line as audit.c wrote it before it had its own formatter: one jansson object, dumped. */
static char *reference_line(const audit_rec *r, const char *when)
{
    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "heal_id", json_integer((json_int_t)r->heal_id));
    json_object_set_new(o, "plugin", sanitize_json_str(r->plugin));
    json_object_set_new(o, "action", sanitize_json_str(r->action));
    json_object_set_new(o, "actuator", sanitize_json_str(r->actuator));
    json_object_set_new(o, "target", sanitize_json_str(r->target));
    if (r->params) {
        json_object_set(o, "params", r->params);
    } else if (r->kv_params) {
        json_t *p = json_object();
        for (size_t i = 0; i < r->n_kv; i++) {
            /* keys are escaped as values are (jansson would drop one that is not UTF-8) */
            json_t *kj = sanitize_json_str(r->kv[i].key);
            json_object_set_new(p, json_string_value(kj), sanitize_json_str(r->kv[i].value));
            json_decref(kj);
        }
        json_object_set_new(o, "params", p);
    } else {
        json_object_set_new(o, "params", json_null());
    }
    json_object_set_new(o, "result", sanitize_json_str(r->result));
    json_object_set_new(o, "message", sanitize_json_str(r->message));
    const char *m[2] = { r->before_json, r->after_json };
    const char *k[2] = { "before", "after" };
    for (int i = 0; i < 2; i++) {
        json_error_t jerr;
        json_t *j = m[i] ? json_loads(m[i], JSON_DECODE_ANY, &jerr) : json_null();
        json_object_set_new(o, k[i], j ? j : sanitize_json_str(m[i]));
    }
    json_object_set_new(o, "dry_run", json_boolean(r->dry_run));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    size_t n = strlen(text);
    text = realloc(text, n + 2);
    text[n] = '\n';
    text[n + 1] = '\0';
    return text;
}

static void check_same(const audit_rec *r)
{
    size_t len = 0;
    char *line = audit_format(r, &len);
    assert_non_null(line);
    assert_int_equal(strlen(line), len);
    /* {"time":"2024-05-01T12:00:00.123Z", */
    assert_true(len > 33 && strncmp(line, "{\"time\":\"", 9) == 0 && line[33] == '"');
    char when[32];
    memcpy(when, line + 9, 24);
    when[24] = '\0';
    char *ref = reference_line(r, when);
    if (strcmp(line, ref) != 0)
        fail_msg("audit line differs from jansson's:\n  ours: %s  ref:  %s", line, ref);
    free(ref);
    free(line);
}

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* Mostly printable ASCII with quotes, backslashes, controls, DEL, UTF-8 and stray high bytes. */
static void random_string(char *out, size_t cap)
{
    static const char *const pieces[] = { "\"", "\\", "\n", "\t", "\x01", "\x1b", "\x7f", "/",
                                          "ä", "€", "\xf0\x9f\x98\x80", "\xff", "\xc3", "\xed\xa0\x80",
                                          "\xe2\x80\xa8", "\\u0000", "'", "<", "%s" };
    size_t len = 0, want = rnd(40);
    while (len < want) {
        const char *p;
        char one[2] = { (char)(0x20 + rnd(0x5f)), 0 };
        p = rnd(4) ? one : pieces[rnd(sizeof pieces / sizeof *pieces)];
        size_t pl = strlen(p);
        if (len + pl >= cap)
            break;
        memcpy(out + len, p, pl);
        len += pl;
    }
    out[len] = '\0';
}

static void test_line_matches_jansson(void **state)
{
    (void)state;
    /* The fixed cases first: every kind of value audit_rec can hold. */
    json_t *params = json_pack("{s:i, s:s, s:f, s:n}", "pid", 42, "name", "we\"ird\n\\ \x01 näme",
                               "share", 0.25, "none");
    audit_kv kv[] = { { "path", "/var/log/x\xff" }, { "mode", "0644" }, { "q\"k", "v" } };
    audit_kv dup[] = { { "a", "1" }, { "b", "2" }, { "a", "3" } };
    msg_measure ms[] = { { .name = "cpu_percent", .value = 97.5 },
                         { .name = "tiny", .value = 1e-300 },
                         { .name = "third", .value = 1.0 / 3.0 },
                         { .name = "big", .value = 12345678901234567890.0 },
                         { .name = "neg", .value = -0.0 },
                         { .name = "nan", .value = 0.0 / 0.0 } };
    char *mj = msg_measures_json(ms, sizeof ms / sizeof *ms);
    char *mj1 = msg_measures_json(ms, 1);
    assert_non_null(mj);
    audit_rec fixed[] = {
        { .heal_id = 7, .plugin = "cpu", .action = "renice_hogs", .actuator = "renice",
          .target = "pid:42", .params = params, .result = "ok",
          .message = "line1\nline2 \"quoted\" \t tab", .before_json = "{\"cpu_percent\": 97.5}" },
        { .plugin = "disk\xff\xfe", .result = "refused", .before_json = "{not json", .dry_run = 1 },
        { .heal_id = UINT64_MAX, .plugin = "p", .action = "a", .target = "t", .kv_params = 1,
          .kv = kv, .n_kv = 3, .result = "dry_run", .message = "", .before_json = mj,
          .after_json = mj1, .measures_verbatim = 1, .dry_run = 1 },
        { .heal_id = 1, .plugin = "p", .kv_params = 1, .kv = dup, .n_kv = 3, .result = "ok" },
        { .heal_id = 2, .plugin = "p", .kv_params = 1, .n_kv = 0, .result = "ok",
          .before_json = "[1, 2,\n3]", .after_json = "42", .measures_verbatim = 0 },
        { .heal_id = 3, .plugin = "p", .result = "ok", .before_json = "",
          .after_json = "\"s\"" },
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        check_same(&fixed[i]);
    free(mj);
    free(mj1);
    json_decref(params);

    /* Then random strings in every string field, params and measurement names. */
    for (int round = 0; round < 3000; round++) {
        char s[8][160];
        for (int i = 0; i < 8; i++)
            random_string(s[i], sizeof s[i]);
        audit_kv rkv[2] = { { s[5], s[6] }, { "k", s[7] } };
        msg_measure rm[2] = { { .name = "m", .value = (double)rnd(100000) / 7.0 },
                              { .name = "n", .value = -(double)rnd(1000) } };
        char *before = msg_measures_json(rm, 2);
        char *after = msg_measures_json(rm + 1, 1);
        audit_rec r = { .heal_id = rnd(1000000), .plugin = s[0], .action = s[1],
                        .actuator = round % 3 ? NULL : s[2], .target = s[3],
                        .kv_params = 1, .kv = rkv, .n_kv = strcmp(s[5], "k") ? 2 : 1,
                        .result = "ok", .message = s[4], .before_json = before,
                        .after_json = after, .measures_verbatim = 1, .dry_run = round & 1 };
        check_same(&r);
        /* the same strings as text that is not the agent's own JSON */
        r.before_json = s[6];
        r.after_json = s[7];
        r.measures_verbatim = 0;
        check_same(&r);
        free(before);
        free(after);
    }
}

/* ---- deferred lines ---------------------------------------------------------------------- */

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void defer_one(audit_log *a, const char *text, int expect)
{
    audit_rec r = { .heal_id = 9, .plugin = "noop", .action = "noop_fix", .target = "t1",
                    .kv_params = 1, .result = "dry_run", .message = text, .dry_run = 1 };
    assert_int_equal(audit_defer(a, &r), expect);
}

/* Deferred lines are not in the file until a flush, the next direct line (before it, in order)
 * or the close writes them. */
static void test_deferred_lines(void **state)
{
    (void)state;
    char err[256], file[600];
    audit_log *a = audit_open(tmpdir, err, sizeof err);
    assert_non_null(a);
    snprintf(file, sizeof file, "%s/audit.jsonl", tmpdir);
    defer_one(a, "d1", 0);
    defer_one(a, "d2", 0);
    assert_int_equal(file_size(file), 0);
    append_one(a, "direct", 0);
    off_t three = file_size(file);
    assert_true(three > 0);
    defer_one(a, "d3", 0);
    assert_int_equal(file_size(file), three);
    assert_int_equal(audit_flush(a), 0);
    assert_true(file_size(file) > three);
    assert_int_equal(audit_flush(a), 0); /* nothing waiting: nothing written */
    defer_one(a, "d4", 0);
    audit_close(a);                      /* writes d4 */

    json_t **v;
    size_t n = read_lines(file, &v);
    assert_int_equal(n, 5);
    static const char *const want[] = { "d1", "d2", "direct", "d3", "d4" };
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_object_get(v[i], "message")), want[i]);
    assert_true(json_is_object(json_object_get(v[0], "params")));
    assert_int_equal(json_object_size(json_object_get(v[0], "params")), 0);
    free_lines(v, n);
}

/* A batch cut short (RLIMIT_FSIZE, as a full disk) keeps exactly the lines that were written
 * whole: not a byte of the one cut, none after it; the log is failing until a line fits. */
static void test_batch_cut_to_whole_lines(void **state)
{
    (void)state;
    char dir[512], file[600], err[512] = "";
    snprintf(dir, sizeof dir, "%s/batch", tmpdir);
    audit_log *a = audit_open(dir, err, sizeof err);
    assert_non_null(a);
    snprintf(file, sizeof file, "%s/audit.jsonl", dir);
    defer_one(a, "first", 0);
    assert_int_equal(audit_flush(a), 0);
    off_t one = file_size(file);
    assert_true(one > 0);

    struct sigaction ign = { .sa_handler = SIG_IGN }, old_sa;
    sigaction(SIGXFSZ, &ign, &old_sa);
    struct rlimit old_rl, rl;
    getrlimit(RLIMIT_FSIZE, &old_rl);
    rl = old_rl;
    rl.rlim_cur = (rlim_t)(3 * one + one / 2); /* two more whole lines and half of a third */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    defer_one(a, "first", 0); /* the same length as the first */
    defer_one(a, "first", 0);
    defer_one(a, "cut", 0);
    defer_one(a, "lost", 0);
    assert_int_equal(audit_flush(a), HEALER_E_IO);
    assert_int_equal(audit_failing(a), 1);
    setrlimit(RLIMIT_FSIZE, &old_rl);
    sigaction(SIGXFSZ, &old_sa, NULL);
    assert_int_equal(file_size(file), 3 * one);

    defer_one(a, "after", 0);
    assert_int_equal(audit_failing(a), 1); /* deferred: not written yet */
    assert_int_equal(audit_flush(a), 0);
    assert_int_equal(audit_failing(a), 0);
    audit_close(a);
    json_t **v;
    size_t n = read_lines(file, &v);
    assert_int_equal(n, 4);
    assert_string_equal(json_string_value(json_object_get(v[3], "message")), "after");
    free_lines(v, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_creates_dir_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_state_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_write_cut_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_matches_jansson, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_cut_to_whole_lines, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
