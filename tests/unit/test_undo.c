/* test_undo.c — the undo journal with a real file (append, clear, reopen, a torn last line, a
 * damaged line, a symlink refused, compaction, the gauge) and the actuators' journaling against
 * the real kernel: SIGSTOP, a v1 freezer cgroup, renice and a sys_root write are journaled and
 * cleared by their inverse, and a replay gives back what a "crashed" agent left behind. Only
 * processes and cgroups this test creates are ever touched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "procstate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "actuators.h"
#include "audit.h"
#include "metrics.h"
#include "undo.h"

/* An ordinary user: inside the login range (nobody, 65534, is a system uid). */
#define USER_UID 2000

static char tmp[128];
static pid_t kids[16];
static size_t n_kids;
static char cgroup_dir[256];

/* ---- helpers ------------------------------------------------------------------------------ */

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void put_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static char *get_file(const char *path)
{
    static char buf[65536];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void dir_for(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", tmp, name);
    mkdir(out, 0700);
}

static void journal_path(const char *dir, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", dir, UNDO_FILE);
}

static undo_journal *open_ok(const char *dir)
{
    char err[256] = "";
    undo_journal *j = undo_open(dir, err, sizeof err);
    if (!j)
        fail_msg("undo_open %s: %s", dir, err);
    return j;
}

static uint64_t add_stop(undo_journal *j, pid_t pid, uint64_t start, const char *plugin,
                         uint64_t issue)
{
    undo_entry e = { .kind = UNDO_STOP, .pid = pid, .start_time = start, .name = "victim",
                     .plugin = (char *)plugin, .heal_id = 12, .issue_id = issue };
    uint64_t id = 0;
    char err[256];
    assert_int_equal(undo_add(j, &e, &id, err, sizeof err), 1);
    assert_true(id > 0);
    return id;
}

/* ---- the journal file --------------------------------------------------------------------- */

static void test_append_clear_reopen(void **state)
{
    (void)state;
    char dir[256], path[300], err[256];
    dir_for("basic", dir, sizeof dir);
    journal_path(dir, path, sizeof path);
    undo_journal *j = open_ok(dir);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(undo_outstanding(j), 0);

    uint64_t a = add_stop(j, 4242, 777, "cpu", 5);
    undo_entry fz = { .kind = UNDO_FREEZE, .path = "/sys/fs/cgroup/freezer/x", .plugin = "thermal",
                      .heal_id = 3, .issue_id = 9, .allow_system = 1 };
    uint64_t b = 0, again = 0;
    assert_int_equal(undo_add(j, &fz, &b, err, sizeof err), 1);
    undo_entry wr = { .kind = UNDO_WRITE, .path = "/sys/x/scaling_governor",
                      .prior = "performance\n", .value = "powersave", .plugin = "cpu",
                      .issue_id = 5 };
    uint64_t c = 0;
    assert_int_equal(undo_add(j, &wr, &c, err, sizeof err), 1);
    assert_true(a < b && b < c);
    /* The same change again: the oldest entry holds the state to go back to. */
    undo_entry wr2 = wr;
    wr2.prior = "powersave";
    wr2.value = "conservative";
    assert_int_equal(undo_add(j, &wr2, &again, err, sizeof err), 0);
    assert_int_equal(again, c);
    assert_int_equal(undo_outstanding(j), 3);
    /* Every record is on disk when undo_add returns. */
    assert_non_null(strstr(get_file(path), "scaling_governor"));
    assert_non_null(strstr(get_file(path), "\"prior\":\"performance\\n\""));

    assert_int_equal(undo_clear(j, &a, 1), 1);
    assert_int_equal(undo_clear(j, &a, 1), 0);   /* once only */
    assert_int_equal(undo_outstanding(j), 2);
    undo_close(j);

    j = open_ok(dir);
    undo_entry *v;
    size_t n = undo_snapshot(j, &v);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, b);
    assert_int_equal(v[0].kind, UNDO_FREEZE);
    assert_string_equal(v[0].path, "/sys/fs/cgroup/freezer/x");
    assert_string_equal(v[0].plugin, "thermal");
    assert_int_equal(v[0].heal_id, 3);
    assert_int_equal(v[0].issue_id, 9);
    assert_int_equal(v[0].allow_system, 1);
    assert_int_equal(v[1].id, c);
    assert_string_equal(v[1].prior, "performance\n");
    assert_string_equal(v[1].value, "powersave");
    undo_entries_free(v, n);
    /* New ids continue after the old ones, never reuse a cleared one. */
    uint64_t d = add_stop(j, 4243, 778, "cpu", 5);
    assert_true(d > c);
    undo_close(j);
}

static void test_torn_and_damaged_lines(void **state)
{
    (void)state;
    char dir[256], path[300];
    dir_for("torn", dir, sizeof dir);
    journal_path(dir, path, sizeof path);
    undo_journal *j = open_ok(dir);
    add_stop(j, 100, 1000, "cpu", 1);
    add_stop(j, 101, 1001, "cpu", 1);
    add_stop(j, 102, 1002, "cpu", 1);
    undo_close(j);

    /* Damage the second line's JSON (same length: only the checksum can tell), and leave a
     * torn record at the end as a crash mid-write would. */
    char *text = strdup(get_file(path));
    char *second = strchr(text, '\n') + 1;
    char *digit = strstr(second, "\"pid\":101");
    assert_non_null(digit);
    digit[8] = '7';   /* pid 107: valid JSON, wrong checksum */
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fputs("0badc0de {\"v\":1,\"op\":\"add\",\"id\":9,\"kind\":\"stop\",\"pid\":55", f);
    fclose(f);
    free(text);

    j = open_ok(dir);
    undo_entry *v;
    size_t n = undo_snapshot(j, &v);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].pid, 100);
    assert_int_equal(v[1].pid, 102);   /* never 107, never the torn pid 55 */
    undo_entries_free(v, n);
    /* Rewritten without them: the next record does not glue onto the torn one. */
    char *now = get_file(path);
    assert_true(now[strlen(now) - 1] == '\n');
    assert_null(strstr(now, "\"pid\":55"));
    add_stop(j, 103, 1003, "cpu", 1);
    undo_close(j);
    j = open_ok(dir);
    assert_int_equal(undo_outstanding(j), 3);
    undo_close(j);
}

static void test_symlink_refused(void **state)
{
    (void)state;
    char dir[256], path[300], target[300], err[256] = "";
    dir_for("link", dir, sizeof dir);
    journal_path(dir, path, sizeof path);
    snprintf(target, sizeof target, "%s/elsewhere", tmp);
    assert_int_equal(symlink(target, path), 0);
    assert_null(undo_open(dir, err, sizeof err));
    assert_non_null(strstr(err, "symbolic link"));
    assert_non_null(strstr(err, path));
    assert_int_equal(access(target, F_OK), -1);   /* nothing created through it */
    /* Not a regular file either. */
    char dir2[256], p2[300];
    dir_for("notreg", dir2, sizeof dir2);
    journal_path(dir2, p2, sizeof p2);
    assert_int_equal(mkfifo(p2, 0600), 0);
    int fd = open(p2, O_RDWR | O_NONBLOCK);   /* so opening it in the journal cannot block */
    assert_null(undo_open(dir2, err, sizeof err));
    assert_non_null(strstr(err, "not a regular file"));
    close(fd);
}

static void test_compaction(void **state)
{
    (void)state;
    char dir[256], path[300];
    dir_for("compact", dir, sizeof dir);
    journal_path(dir, path, sizeof path);
    undo_journal *j = open_ok(dir);
    uint64_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = add_stop(j, 200 + i, 2000 + (uint64_t)i, "cpu", 2);
    assert_true(file_size(path) > 0);
    assert_int_equal(undo_clear(j, ids, 3), 3);
    /* Only cleared entries left: rewritten empty. */
    assert_int_equal(file_size(path), 0);
    assert_int_equal(undo_file_bytes(j), 0);

    /* One entry stays outstanding while thousands come and go: the file stays bounded and the
     * outstanding one survives every rewrite. */
    uint64_t keep = add_stop(j, 999, 9999, "thermal", 3);
    for (int i = 0; i < 1200; i++) {
        uint64_t id = add_stop(j, 300 + i, 3000 + (uint64_t)i, "cpu", 4);
        assert_int_equal(undo_clear(j, &id, 1), 1);
    }
    assert_true(file_size(path) < 3 * 64 * 1024);
    assert_int_equal((size_t)file_size(path), undo_file_bytes(j));
    assert_int_equal(access(path, F_OK), 0);
    char tmpf[320];
    snprintf(tmpf, sizeof tmpf, "%s.tmp", path);
    assert_int_equal(access(tmpf, F_OK), -1);
    undo_close(j);
    j = open_ok(dir);
    undo_entry *v;
    size_t n = undo_snapshot(j, &v);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, keep);
    assert_int_equal(v[0].pid, 999);
    undo_entries_free(v, n);
    uint64_t next = add_stop(j, 5, 6, "cpu", 1);
    assert_true(next > keep + 1200);
    assert_int_equal(undo_reset(j), 0);
    assert_int_equal(undo_outstanding(j), 0);
    assert_int_equal(file_size(path), 0);
    undo_close(j);
}

static void test_gauge(void **state)
{
    (void)state;
    char dir[256];
    dir_for("gauge", dir, sizeof dir);
    metrics *m = metrics_new("tns");
    undo_journal *j = open_ok(dir);
    undo_set_metrics(j, m);
    add_stop(j, 1, 2, "cpu", 1);
    uint64_t b = add_stop(j, 3, 4, "cpu", 1);
    char *text = NULL;
    metrics_render(m, &text);
    assert_non_null(strstr(text, "# TYPE tns_undo_journal_entries gauge"));
    assert_non_null(strstr(text, "\ntns_undo_journal_entries 2\n"));
    free(text);
    undo_clear(j, &b, 1);
    metrics_render(m, &text);
    assert_non_null(strstr(text, "\ntns_undo_journal_entries 1\n"));
    free(text);
    undo_close(j);
    metrics_free(m);
}

/* ---- the actuators' journaling (root) ----------------------------------------------------- */

static pid_t spawn_user(void)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (setgroups(0, NULL) < 0 || setgid(USER_UID) < 0 || setuid(USER_UID) < 0)
            _exit(91);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char ok = 1;
        if (write(p[1], &ok, 1) != 1)
            _exit(94);
        close(p[1]);
        for (;;)
            pause();
    }
    close(p[1]);
    char b;
    assert_int_equal(read(p[0], &b, 1), 1);
    close(p[0]);
    kids[n_kids++] = pid;
    return pid;
}

static int have_freezer(void)
{
    return access("/sys/fs/cgroup/freezer/cgroup.procs", F_OK) == 0;
}

static void cg_write(const char *file, const char *v)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", cgroup_dir, file);
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, v, strlen(v)), (ssize_t)strlen(v));
    close(fd);
}

static const char *cg_state(void)
{
    char p[400];
    snprintf(p, sizeof p, "%s/freezer.state", cgroup_dir);
    char *s = get_file(p);
    if (s)
        s[strcspn(s, "\n")] = '\0';
    return s ? s : "?";
}

static void make_cgroup(pid_t member)
{
    snprintf(cgroup_dir, sizeof cgroup_dir, "/sys/fs/cgroup/freezer/test_undo.%d", (int)getpid());
    assert_int_equal(mkdir(cgroup_dir, 0755), 0);
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)member);
    cg_write("cgroup.procs", pid);
}

typedef struct rig {
    char state[256];
    audit_log *aud;
    undo_journal *undo;
    actuators *a;
} rig;

static void rig_open(rig *r, const char *name, const char *sys_root)
{
    memset(r, 0, sizeof *r);
    dir_for(name, r->state, sizeof r->state);
    char err[256];
    r->aud = audit_open(r->state, err, sizeof err);
    assert_non_null(r->aud);
    r->undo = open_ok(r->state);
    act_config c = { .proc_root = "/proc", .sys_root = sys_root, .state_dir = r->state,
                     .protect_min_uid = 1000, .scope_cgroup = "", .undo = r->undo };
    r->a = actuators_new(&c, r->aud);
    assert_non_null(r->a);
}

/* The agent "dies": nothing is given back, the journal is just closed. */
static void rig_crash(rig *r)
{
    actuators_free(r->a);
    undo_close(r->undo);
    audit_close(r->aud);
}

static const act_context ctx = { .plugin = "stopper", .heal_id = 12, .issue_type = "t_issue",
                                 .action = "stop_it", .issue_id = 4 };

static size_t journaled(rig *r, undo_kind k)
{
    undo_entry *v;
    size_t n = undo_snapshot(r->undo, &v), c = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].kind == k) {
            c++;
            assert_string_equal(v[i].plugin, "stopper");
            assert_int_equal(v[i].heal_id, 12);
            assert_int_equal(v[i].issue_id, 4);
        }
    undo_entries_free(v, n);
    return c;
}

static uint64_t start_of(actuators *a, pid_t pid)
{
    healer_proc p;
    assert_int_equal(act_proc_read(a, pid, &p), HEALER_OK);
    return p.start_time;
}

static void test_actuators_journal_and_inverse(void **state)
{
    (void)state;
    char sys[256], gov[320], m[1024];
    dir_for("sysroot", sys, sizeof sys);
    snprintf(gov, sizeof gov, "%s/scaling_governor", sys);
    put_file(gov, "performance\n");
    rig r;
    rig_open(&r, "act", sys);
    pid_t pid = spawn_user();
    uint64_t st = start_of(r.a, pid);

    /* SIGSTOP: journaled, and the entry is on disk by the time the process is stopped. */
    assert_int_equal(act_signal(r.a, &ctx, pid, st, SIGSTOP, 0, m, sizeof m), HEALER_OK);
    assert_true(wait_state(pid, 1));
    assert_int_equal(journaled(&r, UNDO_STOP), 1);
    char jp[300];
    journal_path(r.state, jp, sizeof jp);
    char needle[64];
    snprintf(needle, sizeof needle, "\"pid\":%d", (int)pid);
    assert_non_null(strstr(get_file(jp), needle));
    /* Stopping it again changes nothing: no second entry. */
    assert_int_equal(act_signal(r.a, &ctx, pid, st, SIGSTOP, 0, m, sizeof m), HEALER_OK);
    assert_int_equal(undo_outstanding(r.undo), 1);
    /* A SIGCONT with the wrong start time is refused and clears nothing. */
    assert_int_equal(act_signal(r.a, &ctx, pid, st + 1, SIGCONT, 0, m, sizeof m), HEALER_E_GONE);
    assert_int_equal(undo_outstanding(r.undo), 1);
    assert_int_equal(act_signal(r.a, &ctx, pid, st, SIGCONT, 0, m, sizeof m), HEALER_OK);
    assert_true(wait_state(pid, 0));
    assert_int_equal(undo_outstanding(r.undo), 0);

    /* renice: the prior value is journaled; renicing back to it clears. */
    assert_int_equal(act_renice(r.a, &ctx, pid, st, 10, m, sizeof m), HEALER_OK);
    assert_int_equal(journaled(&r, UNDO_RENICE), 1);
    assert_int_equal(act_renice(r.a, &ctx, pid, st, 15, m, sizeof m), HEALER_OK);
    undo_entry *v;
    size_t n = undo_snapshot(r.undo, &v);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].nice_before, 0);   /* the oldest: where to go back to */
    undo_entries_free(v, n);
    assert_int_equal(act_renice(r.a, &ctx, pid, st, 0, m, sizeof m), HEALER_OK);
    assert_int_equal(undo_outstanding(r.undo), 0);

    /* A sys_root write journals the prior content; writing it back clears. */
    assert_int_equal(act_write_file(r.a, &ctx, gov, "powersave", m, sizeof m), HEALER_OK);
    assert_int_equal(journaled(&r, UNDO_WRITE), 1);
    n = undo_snapshot(r.undo, &v);
    assert_string_equal(v[0].prior, "performance\n");
    assert_string_equal(v[0].value, "powersave");
    undo_entries_free(v, n);
    assert_int_equal(act_write_file(r.a, &ctx, gov, "performance", m, sizeof m), HEALER_OK);
    assert_int_equal(undo_outstanding(r.undo), 0);
    /* A declared path is a persistent edit (backed up), not journaled. */
    char decl[256], conf[320];
    dir_for("declared", decl, sizeof decl);
    snprintf(conf, sizeof conf, "%s/fixed.conf", decl);
    put_file(conf, "broken\n");
    const char *paths[] = { decl };
    act_context dc = ctx;
    dc.declared_paths = paths;
    dc.n_declared_paths = 1;
    assert_int_equal(act_write_file(r.a, &dc, conf, "fixed\n", m, sizeof m), HEALER_OK);
    assert_int_equal(undo_outstanding(r.undo), 0);

    /* Dry-run changes nothing, so journals nothing. */
    actuators_set_dry_run(r.a, 1);
    assert_int_equal(act_signal(r.a, &ctx, pid, st, SIGSTOP, 0, m, sizeof m), HEALER_DRY_RUN);
    assert_int_equal(act_renice(r.a, &ctx, pid, st, 5, m, sizeof m), HEALER_DRY_RUN);
    assert_int_equal(act_write_file(r.a, &ctx, gov, "powersave", m, sizeof m), HEALER_DRY_RUN);
    assert_int_equal(undo_outstanding(r.undo), 0);
    actuators_set_dry_run(r.a, 0);

    /* A change that was not made leaves no entry: the process is gone before the SIGSTOP. */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    n_kids = 0;
    assert_true(act_signal(r.a, &ctx, pid, st, SIGSTOP, 0, m, sizeof m) < 0);
    assert_int_equal(undo_outstanding(r.undo), 0);
    rig_crash(&r);
}

static void test_freeze_journal(void **state)
{
    (void)state;
    if (!have_freezer()) {
        print_message("no v1 freezer hierarchy at /sys/fs/cgroup/freezer\n");
        skip();
    }
    rig r;
    rig_open(&r, "freeze", "/sys");
    pid_t pid = spawn_user();
    make_cgroup(pid);
    char m[1024];
    assert_int_equal(act_freeze_cgroup(r.a, &ctx, cgroup_dir, 1, m, sizeof m), HEALER_OK);
    assert_string_equal(cg_state(), "FROZEN");
    assert_int_equal(journaled(&r, UNDO_FREEZE), 1);
    assert_int_equal(act_freeze_cgroup(r.a, &ctx, cgroup_dir, 0, m, sizeof m), HEALER_OK);
    assert_string_equal(cg_state(), "THAWED");
    assert_int_equal(undo_outstanding(r.undo), 0);
    /* Frozen by someone else first: not ours to thaw, not journaled. */
    cg_write("freezer.state", "FROZEN");
    for (int i = 0; i < 200 && strcmp(cg_state(), "FROZEN"); i++)
        sleep_ms(10);
    assert_int_equal(act_freeze_cgroup(r.a, &ctx, cgroup_dir, 1, m, sizeof m), HEALER_OK);
    assert_int_equal(undo_outstanding(r.undo), 0);
    cg_write("freezer.state", "THAWED");
    rig_crash(&r);
}

static void test_restored_and_replay(void **state)
{
    (void)state;
    char sys[256], gov[320], m[1024];
    dir_for("sysroot2", sys, sizeof sys);
    snprintf(gov, sizeof gov, "%s/scaling_max_freq", sys);
    put_file(gov, "3000000\n");
    /* sys_root is a fixture for the write; its fs/cgroup leads to the real hierarchy. */
    char fs[300], cg[320];
    snprintf(fs, sizeof fs, "%s/fs", sys);
    mkdir(fs, 0755);
    snprintf(cg, sizeof cg, "%s/cgroup", fs);
    assert_int_equal(symlink("/sys/fs/cgroup", cg), 0);
    int freezer = have_freezer();
    rig r;
    rig_open(&r, "replay", sys);
    pid_t stopped = spawn_user(), niced = spawn_user(), frozen = spawn_user();
    pid_t other = spawn_user();
    kill(other, SIGSTOP);   /* stopped by the test, not by the agent */
    assert_true(wait_state(other, 1));
    uint64_t s1 = start_of(r.a, stopped), s2 = start_of(r.a, niced);

    /* restore() for the issue returned OK: entries go, except a process still stopped. */
    assert_int_equal(act_signal(r.a, &ctx, stopped, s1, SIGSTOP, 0, m, sizeof m), HEALER_OK);
    assert_int_equal(act_renice(r.a, &ctx, niced, s2, 7, m, sizeof m), HEALER_OK);
    assert_true(wait_state(stopped, 1));
    act_undo_restored(r.a, "other_plugin", 4);
    assert_int_equal(undo_outstanding(r.undo), 2);
    act_undo_restored(r.a, "stopper", 99);
    assert_int_equal(undo_outstanding(r.undo), 2);
    act_undo_restored(r.a, "stopper", 4);
    assert_int_equal(undo_outstanding(r.undo), 1);   /* the renice went, the stop stays */
    assert_int_equal(journaled(&r, UNDO_STOP), 1);

    /* Now everything a crash can leave behind. */
    assert_int_equal(act_renice(r.a, &ctx, niced, s2, 12, m, sizeof m), HEALER_OK);
    assert_int_equal(act_write_file(r.a, &ctx, gov, "1200000", m, sizeof m), HEALER_OK);
    assert_int_equal(act_write_file(r.a, &ctx, gov, "800000", m, sizeof m), HEALER_OK);
    if (freezer) {
        make_cgroup(frozen);
        assert_int_equal(act_freeze_cgroup(r.a, &ctx, cgroup_dir, 1, m, sizeof m), HEALER_OK);
    }
    /* A stale entry for a pid that now names another process must never be signalled. */
    undo_entry stale = { .kind = UNDO_STOP, .pid = other, .start_time = 12345, .name = "old",
                         .plugin = "stopper" };
    uint64_t sid;
    char err[256];
    assert_int_equal(undo_add(r.undo, &stale, &sid, err, sizeof err), 1);
    size_t before = undo_outstanding(r.undo);
    assert_int_equal(before, freezer ? 5 : 4);
    rig_crash(&r);

    /* The next start, in dry-run even: everything the dead agent left is given back. */
    rig r2;
    memset(&r2, 0, sizeof r2);
    snprintf(r2.state, sizeof r2.state, "%s", r.state);
    r2.aud = audit_open(r2.state, err, sizeof err);
    r2.undo = open_ok(r2.state);
    assert_int_equal(undo_outstanding(r2.undo), before);
    act_config c = { .proc_root = "/proc", .sys_root = sys, .state_dir = r2.state,
                     .protect_min_uid = 1000, .scope_cgroup = "", .undo = r2.undo, .dry_run = 1 };
    r2.a = actuators_new(&c, r2.aud);
    assert_int_equal(act_undo_replay(r2.a), freezer ? 4 : 3);
    assert_true(wait_state(stopped, 0));
    errno = 0;   /* back to 7: the value before the still outstanding change */
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)niced), 7);
    assert_string_equal(get_file(gov), "3000000\n");
    if (freezer)
        assert_string_equal(cg_state(), "THAWED");
    assert_true(proc_state(frozen) != 'T');
    assert_int_equal(proc_state(other), 'T');   /* same pid, other start time: never touched */
    assert_int_equal(undo_outstanding(r2.undo), 0);
    char jp[300];
    journal_path(r2.state, jp, sizeof jp);
    assert_int_equal(file_size(jp), 0);
    /* Each undo is audited as action "undo_journal". */
    audit_sync(r2.aud);
    char ap[300];
    snprintf(ap, sizeof ap, "%s/audit.jsonl", r2.state);
    FILE *f = fopen(ap, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0, undo_lines = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        const char *act = json_string_value(json_object_get(o, "action"));
        if (act && strcmp(act, "undo_journal") == 0) {
            undo_lines++;
            assert_string_equal(json_string_value(json_object_get(o, "result")), "ok");
            assert_string_equal(json_string_value(json_object_get(o, "plugin")), "stopper");
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    assert_int_equal(undo_lines, freezer ? 4 : 3);
    /* Still dry-run afterwards. */
    assert_int_equal(act_signal(r2.a, &ctx, stopped, s1, SIGSTOP, 0, m, sizeof m), HEALER_DRY_RUN);
    rig_crash(&r2);
}

/* ---- setup -------------------------------------------------------------------------------- */

static int cleanup(void **state)
{
    (void)state;
    if (cgroup_dir[0]) {
        char p[400];
        snprintf(p, sizeof p, "%s/freezer.state", cgroup_dir);
        int fd = open(p, O_WRONLY);
        if (fd >= 0) {
            if (write(fd, "THAWED", 6) < 0) {}
            close(fd);
        }
    }
    for (size_t i = 0; i < n_kids; i++) {
        int st;
        if (waitpid(kids[i], &st, WNOHANG) == 0) {   /* still our unreaped child */
            kill(kids[i], SIGKILL);
            waitpid(kids[i], &st, 0);
        }
    }
    n_kids = 0;
    if (cgroup_dir[0]) {
        for (int i = 0; i < 100 && rmdir(cgroup_dir) < 0 && errno == EBUSY; i++)
            sleep_ms(10);
        cgroup_dir[0] = '\0';
    }
    return 0;
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/test_undo.XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    cleanup(state);
    rm_rf(tmp);
    return 0;
}

int main(void)
{
    const struct CMUnitTest file_tests[] = {
        cmocka_unit_test(test_append_clear_reopen),
        cmocka_unit_test(test_torn_and_damaged_lines),
        cmocka_unit_test(test_symlink_refused),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_gauge),
    };
    const struct CMUnitTest root_tests[] = {
        cmocka_unit_test_teardown(test_actuators_journal_and_inverse, cleanup),
        cmocka_unit_test_teardown(test_freeze_journal, cleanup),
        cmocka_unit_test_teardown(test_restored_and_replay, cleanup),
    };
    int rc = cmocka_run_group_tests(file_tests, setup, teardown);
    if (geteuid() != 0) {
        fprintf(stderr, "test_undo: the actuator tests need root (setuid children, cgroups)\n");
        return rc;
    }
    return rc | cmocka_run_group_tests(root_tests, setup, teardown);
}
