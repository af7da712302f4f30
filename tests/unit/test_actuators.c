/* test_actuators.c — the process actuators (read, signal, renice, protection, scope) and dry-run against the real kernel: processes this test forks (some
 * as uid 2000, an ordinary user; nobody and DynamicUser for protection), real cgroups it creates (v1 freezer and cgroup2), real procfs writes, real
 * commands, a real file tree. Every call must leave exactly one well-formed audit line.
 * Runs as root; it only ever signals, renices or freezes processes it started itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "actuators.h"
#include "audit.h"
#include "procinfo.h"
#include "dryrun.h"


#include "actuators_rig.h"
#include "dryrun.h"
#include "procinfo.h"

/* ---- /proc parsing -------------------------------------------------------------------- */

static void test_parse_stat(void **state)
{
    (void)state;
    procinfo pi;
    char m[256];
    const char *good = "4242 (x) (y) z) S 17 4242 4242 0 -1 2097152 1 0 0 0 5 6 0 0 20 -5 1 0 "
                       "123456 1000 7 18446744073709551615";
    assert_int_equal(procinfo_parse_stat(good, strlen(good), &pi, m, sizeof m), HEALER_OK);
    assert_int_equal(pi.p.pid, 4242);
    assert_string_equal(pi.p.name, "x) (y) z");
    assert_int_equal(pi.state, 'S');
    assert_int_equal(pi.p.ppid, 17);
    assert_int_equal(pi.p.nice, -5);
    assert_int_equal(pi.p.start_time, 123456);
    assert_int_equal(pi.p.kernel_thread, 1);
    assert_true(pi.p.rss_bytes == 7ull * (uint64_t)sysconf(_SC_PAGESIZE));

    static const char *const bad[] = {
        "", "4242", "4242 (x", "4242 x) S 1", "4242 (x) S 1 2 3", "abc (x) S 1 1 1 0 -1 0 0 0 0 0 "
        "0 0 0 0 20 0 1 0 5 1 1", "4242 (x) S -1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 1 1",
        "4242 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 99 1 0 5 1 1",
        "4242 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 1 1",
        "4242 (x) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 1 1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        m[0] = '\0';
        assert_int_equal(procinfo_parse_stat(bad[i], strlen(bad[i]), &pi, m, sizeof m),
                         HEALER_E_INVAL);
        assert_true(m[0] != '\0');
    }
    char huge[3000];
    memset(huge, '1', sizeof huge);
    assert_int_equal(procinfo_parse_stat(huge, sizeof huge, &pi, m, sizeof m), HEALER_E_INVAL);
}

static void test_proc_read_fixture(void **state)
{
    (void)state;
    /* A procfs tree with broken files: errors with a message, never a crash. */
    char root[256], d[300], f[400];
    snprintf(root, sizeof root, "%s/fakeproc", tmp);
    act_config cfg = base_cfg();
    cfg.proc_root = root;
    snprintf(d, sizeof d, "%s/4242", root);
    mkdirs(d);
    rig r;
    rig_open(&r, "state-fixture", cfg);
    healer_proc p;
    snprintf(f, sizeof f, "%s/stat", d);
    put_file(f, "4242 (a b) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 3 1 0 99 1 2\n", 0644);
    assert_int_equal(act_proc_read(r.a, 4242, &p), HEALER_E_GONE);  /* no status: gone */
    snprintf(f, sizeof f, "%s/status", d);
    put_file(f, "Name:\ta b\nTgid:\t4242\nUid:\t1234\t1234\t1234\t1234\n", 0644);
    snprintf(f, sizeof f, "%s/oom_score_adj", d);
    put_file(f, "200\n", 0644);
    assert_int_equal(act_proc_read(r.a, 4242, &p), HEALER_OK);
    assert_string_equal(p.name, "a b");
    assert_int_equal(p.uid, 1234);
    assert_int_equal(p.nice, 3);
    assert_int_equal(p.oom_score_adj, 200);
    assert_int_equal(p.start_time, 99);
    put_file(f, "garbage\n", 0644);
    assert_int_equal(act_proc_read(r.a, 4242, &p), HEALER_E_INVAL);
    put_file(f, "200\n", 0644);
    snprintf(f, sizeof f, "%s/status", d);
    put_file(f, "Name:\ta b\nTgid:\t4000\nUid:\t1234\t1234\t1234\t1234\n", 0644);
    assert_int_equal(act_proc_read(r.a, 4242, &p), HEALER_E_NOTFOUND);  /* a thread */
    put_file(f, "Name:\ta b\n", 0644);
    assert_int_equal(act_proc_read(r.a, 4242, &p), HEALER_E_INVAL);
    snprintf(f, sizeof f, "%s/stat", d);
    put_file(f, "4242 (a b", 0644);
    assert_int_equal(act_proc_read(r.a, 4242, &p), HEALER_E_INVAL);
    assert_int_equal(act_proc_read(r.a, 4243, &p), HEALER_E_GONE);
    assert_int_equal(act_proc_read(r.a, -1, &p), HEALER_E_INVAL);
    rig_close(&r);
}

static void test_proc_read_real(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "state-read", base_cfg());
    healer_proc p;
    assert_int_equal(act_proc_read(r.a, getpid(), &p), HEALER_OK);
    char comm[32];
    snprintf(comm, sizeof comm, "%.31s", get_file("/proc/self/comm"));
    comm[strcspn(comm, "\n")] = '\0';
    assert_string_equal(p.name, comm);
    assert_int_equal(p.ppid, getppid());
    assert_int_equal(p.uid, getuid());
    assert_true(p.start_time > 0);
    assert_true(p.rss_bytes > 0);
    assert_int_equal(p.kernel_thread, 0);

    child_opts o = { .as_user = 1, .name = "a) (b c)" };
    pid_t pid = spawn(&o);
    assert_int_equal(act_proc_read(r.a, pid, &p), HEALER_OK);
    assert_string_equal(p.name, "a) (b c)");
    assert_int_equal(p.ppid, getpid());
    assert_int_equal(p.uid, USER_UID);
    reap(pid);
    assert_int_equal(act_proc_read(r.a, pid, &p), HEALER_E_GONE);

    /* A zombie (exited, not yet reaped) is gone for proc_read, as for act_signal: waitid with
     * WNOWAIT returns once it has exited and leaves it unreaped. */
    pid_t z = fork();
    assert_true(z >= 0);
    if (z == 0)
        _exit(0);
    siginfo_t si;
    assert_int_equal(waitid(P_PID, (id_t)z, &si, WEXITED | WNOWAIT), 0);
    assert_int_equal(act_proc_read(r.a, z, &p), HEALER_E_GONE);
    procinfo zi;
    char zm[256];
    assert_int_equal(procinfo_read("/proc", z, &zi, zm, sizeof zm), HEALER_OK);
    assert_int_equal(zi.state, 'Z');
    assert_int_equal(act_signal(r.a, &ctx, z, zi.p.start_time, SIGTERM, 0, zm, sizeof zm),
                     HEALER_E_GONE);
    AUDITED(&r, "signal", "failed");
    int zst;
    assert_int_equal(waitpid(z, &zst, 0), z);

    /* A kernel thread, if this kernel shows any (not in every container). */
    DIR *d = opendir("/proc");
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d))) {
        char *end;
        long k = strtol(de->d_name, &end, 10);
        if (*end || k <= 2)
            continue;
        if (act_proc_read(r.a, (pid_t)k, &p) == HEALER_OK && p.kernel_thread) {
            char m[256];
            assert_int_equal(act_proc_allowed(r.a, &p, 1, m, sizeof m), HEALER_E_PROTECTED);
            assert_non_null(strstr(m, "kernel thread"));
            assert_int_equal(act_signal(r.a, &ctx, p.pid, p.start_time, 0, 0, m, sizeof m),
                             HEALER_E_PROTECTED);
            AUDITED(&r, "signal", "refused");
            found = 1;
        }
    }
    closedir(d);
    if (!found)
        print_message("no kernel thread visible in /proc: kernel-thread rule not exercised\n");
    rig_close(&r);
}

/* ---- signals -------------------------------------------------------------------------- */

static void test_signal_escalates_to_kill(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "state-sig", base_cfg());
    child_opts o = { .as_user = 1, .ignore_term = 1, .name = "stubborn" };
    pid_t pid = spawn(&o);
    char m[512];
    int rc = act_signal(r.a, &ctx, pid, start_of(r.a, pid), SIGTERM, 0.2, m, sizeof m);
    assert_int_equal(rc, HEALER_OK);
    assert_non_null(strstr(m, "SIGKILL"));
    json_t *l = rig_line(&r, "signal", "ok");
    assert_string_equal(json_string_value(json_object_get(l, "plugin")), "test");
    assert_int_equal(json_integer_value(json_object_get(l, "heal_id")), 7);
    assert_true(json_is_true(json_object_get(json_object_get(l, "params"), "killed")));
    json_decref(l);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);

    /* An obedient process exits on SIGTERM: no SIGKILL. */
    child_opts o2 = { .as_user = 1 };
    pid = spawn(&o2);
    rc = act_signal(r.a, &ctx, pid, start_of(r.a, pid), SIGTERM, 30, m, sizeof m);
    assert_int_equal(rc, HEALER_OK);
    assert_non_null(strstr(m, "exited within"));
    AUDITED(&r, "signal", "ok");
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);

    /* Bad arguments are refused and audited. */
    assert_int_equal(act_signal(r.a, &ctx, getpid(), 1, 999, 0, m, sizeof m), HEALER_E_INVAL);
    AUDITED(&r, "signal", "refused");
    rig_close(&r);
}

static void test_signal_identity(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "state-ident", base_cfg());
    child_opts o = { .as_user = 1 };
    pid_t pid = spawn(&o);
    uint64_t st0 = start_of(r.a, pid);
    char m[512];
    assert_int_equal(act_signal(r.a, &ctx, pid, st0 + 1, SIGKILL, 0, m, sizeof m), HEALER_E_GONE);
    assert_non_null(strstr(m, "reused"));
    AUDITED(&r, "signal", "failed");
    assert_int_equal(act_renice(r.a, &ctx, pid, st0 - 1, 5, m, sizeof m), HEALER_E_GONE);
    AUDITED(&r, "renice", "failed");
    assert_int_equal(act_signal(r.a, &ctx, pid, 0, SIGKILL, 0, m, sizeof m), HEALER_E_INVAL);
    AUDITED(&r, "signal", "refused");
    assert_true(alive(pid));
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)pid), 0);
    /* A zombie is gone. */
    kill(pid, SIGKILL);
    for (int i = 0; i < 500; i++) {
        char s[1024];
        snprintf(s, sizeof s, "/proc/%d/stat", (int)pid);
        char *t = get_file(s);
        if (t && strstr(t, ") Z "))
            break;
        msleep(10);
    }
    assert_int_equal(act_signal(r.a, &ctx, pid, st0, SIGTERM, 0, m, sizeof m), HEALER_E_GONE);
    assert_non_null(strstr(m, "zombie"));
    AUDITED(&r, "signal", "failed");
    reap(pid);
    rig_close(&r);
}

static void expect_protected(rig *r, pid_t pid, int allow_system, const char *why)
{
    char m[512];
    act_context c = ctx;
    c.allow_system = allow_system;
    healer_proc p;
    assert_int_equal(act_proc_read(r->a, pid, &p), HEALER_OK);
    assert_int_equal(act_proc_allowed(r->a, &p, allow_system, m, sizeof m), HEALER_E_PROTECTED);
    if (!strstr(m, why))
        fail_msg("message '%s' lacks '%s'", m, why);
    /* Signal 0 delivers nothing: harmless even if the rule were broken for PID 1 or us. */
    int sig = pid == 1 || pid == getpid() || pid == getppid() ? 0 : SIGKILL;
    assert_int_equal(act_signal(r->a, &c, pid, p.start_time, sig, 0, m, sizeof m),
                     HEALER_E_PROTECTED);
    if (!strstr(m, why))
        fail_msg("message '%s' lacks '%s'", m, why);
    AUDITED(r, "signal", "refused");
    assert_int_equal(act_renice(r->a, &c, pid, p.start_time, p.nice, m, sizeof m),
                     HEALER_E_PROTECTED);
    AUDITED(r, "renice", "refused");
}

static void test_protection(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "state-prot", base_cfg());
    char m[512], want[128];

    expect_protected(&r, 1, 1, "PID 1");
    expect_protected(&r, getpid(), 1, "the agent itself");
    expect_protected(&r, getppid(), 1, "ancestor of the agent");

    child_opts o = { .as_user = 1, .name = "healer-prot" };
    pid_t pid = spawn(&o);
    snprintf(want, sizeof want, "pid %d (healer-prot): protected by name", (int)pid);
    expect_protected(&r, pid, 0, want);
    assert_true(alive(pid));
    reap(pid);

    child_opts o2 = { .as_user = 1, .name = "healer-protected-long" };  /* comm cut at 15 */
    pid = spawn(&o2);
    expect_protected(&r, pid, 0, "protected by name");
    assert_true(alive(pid));
    reap(pid);

    /* The rule itself, on a process as a plugin would hand it over... */
    healer_proc forged = { .pid = 999999, .uid = 5000, .oom_score_adj = -1000 };
    snprintf(forged.name, sizeof forged.name, "oomless");
    assert_int_equal(act_proc_allowed(r.a, &forged, 0, m, sizeof m), HEALER_E_PROTECTED);
    assert_non_null(strstr(m, "pid 999999 (oomless): protected: oom_score_adj -1000"));
    /* ...and on a real one, when we may set -1000 (needs CAP_SYS_RESOURCE). */
    child_opts o3 = { .as_user = 1, .oom_never = 1 };
    pid = spawn(&o3);
    if (pid > 0) {
        expect_protected(&r, pid, 0, "oom_score_adj -1000");
        assert_true(alive(pid));
        reap(pid);
    } else {
        print_message("no CAP_SYS_RESOURCE here: cannot give a real child oom_score_adj -1000; "
                      "the rule was checked on a process record only\n");
    }

    /* uid 0 < min_uid: a system process, unless the action says it may touch those. */
    child_opts o4 = { .name = "rootchild" };
    pid = spawn(&o4);
    expect_protected(&r, pid, 0, "system process (uid 0 is outside the login range 1000-");
    assert_true(alive(pid));
    healer_proc p;
    assert_int_equal(act_proc_read(r.a, pid, &p), HEALER_OK);
    assert_int_equal(act_proc_allowed(r.a, &p, 1, m, sizeof m), HEALER_OK);
    act_context sys = ctx;
    sys.allow_system = 1;
    assert_int_equal(act_signal(r.a, &sys, pid, p.start_time, SIGKILL, 0, m, sizeof m), HEALER_OK);
    AUDITED(&r, "signal", "ok");
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* The executable's name counts even when comm was changed. */
    const char *names[] = { "sleep" };
    act_config cfg = base_cfg();
    cfg.protect_names = names;
    cfg.n_protect_names = 1;
    rig r2;
    rig_open(&r2, "state-prot2", cfg);
    /* comm comes from the name exec was given (a symlink's), exe from the real file. */
    char alias[256];
    snprintf(alias, sizeof alias, "%s/innocent", tmp);
    assert_int_equal(symlink("/bin/sleep", alias), 0);
    child_opts o5 = { .as_user = 1, .exec = alias };
    pid = spawn(&o5);
    expect_protected(&r2, pid, 0, "(innocent): protected by name (executable sleep)");
    assert_true(alive(pid));
    reap(pid);
    rig_close(&r2);
    rig_close(&r);
}

static void test_scope_uid(void **state)
{
    (void)state;
    child_opts o = { .as_user = 1 };
    pid_t pid = spawn(&o);
    uid_t other[] = { 65533 }, mine[] = { 1000, USER_UID };
    act_config cfg = base_cfg();
    cfg.scope_uids = other;
    cfg.n_scope_uids = 1;
    rig r;
    rig_open(&r, "state-scope-uid", cfg);
    char m[512];
    assert_int_equal(act_signal(r.a, &ctx, pid, start_of(r.a, pid), SIGKILL, 0, m, sizeof m),
                     HEALER_E_SCOPE);
    assert_non_null(strstr(m, "uid 2000 is not in scope.uids"));
    AUDITED(&r, "signal", "refused");
    assert_true(alive(pid));
    rig_close(&r);
    cfg.scope_uids = mine;
    cfg.n_scope_uids = 2;
    rig_open(&r, "state-scope-uid2", cfg);
    healer_proc p;
    assert_int_equal(act_proc_read(r.a, pid, &p), HEALER_OK);
    assert_int_equal(act_proc_allowed(r.a, &p, 0, m, sizeof m), HEALER_OK);
    rig_close(&r);
    reap(pid);
}

/* Issue #10: system is more than uid < 1000. nobody and a DynamicUser uid are system processes
 * (real children), and so is a process whose cgroup is in system.slice or init.scope (a
 * fixture's /proc/PID/cgroup: this host runs no systemd); a SYSTEM action the operator allows,
 * and a scope naming them, reach them. */
static void test_system_processes(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "state-system", base_cfg());
    child_opts on = { .uid = NOBODY }, od = { .uid = 61200 }, ou = { .as_user = 1 };
    pid_t nob = spawn(&on), dyn = spawn(&od), usr = spawn(&ou);
    expect_protected(&r, nob, 0, "system process (uid 65534 is nobody)");
    expect_protected(&r, dyn, 0, "system process (uid 61200 is in systemd's DynamicUser range");
    assert_true(alive(nob) && alive(dyn));
    char m[512];
    healer_proc p;
    assert_int_equal(act_proc_read(r.a, usr, &p), HEALER_OK);
    assert_int_equal(act_proc_allowed(r.a, &p, 0, m, sizeof m), HEALER_OK);
    /* The refusal of a SYSTEM action the operator did not allow names the key. */
    act_context denied = ctx;
    denied.system_denied = 1;
    assert_int_equal(act_proc_read(r.a, nob, &p), HEALER_OK);
    assert_int_equal(act_signal(r.a, &denied, nob, p.start_time, SIGKILL, 0, m, sizeof m),
                     HEALER_E_PROTECTED);
    assert_non_null(strstr(m, "plugins.test.allow_system"));
    AUDITED(&r, "signal", "refused");
    assert_true(alive(nob));
    /* Allowed (memory's kill_system in an out-of-memory emergency): nobody can be killed. */
    act_context sys = ctx;
    sys.allow_system = 1;
    assert_int_equal(act_signal(r.a, &sys, nob, p.start_time, SIGKILL, 0, m, sizeof m), HEALER_OK);
    AUDITED(&r, "signal", "ok");
    int st;
    assert_int_equal(waitpid(nob, &st, 0), nob);
    rig_close(&r);

    /* protect.min_uid moves the lower end of the login range; nobody stays system. */
    act_config cfg = base_cfg();
    cfg.protect_min_uid = 3000;
    rig_open(&r, "state-system-min", cfg);
    expect_protected(&r, usr, 0, "uid 2000 is outside the login range 3000-60000");
    rig_close(&r);
    /* A scope that names a uid reaches it. */
    uid_t named[] = { 61200 };
    cfg = base_cfg();
    cfg.scope_uids = named;
    cfg.n_scope_uids = 1;
    rig_open(&r, "state-system-scope", cfg);
    assert_int_equal(act_proc_read(r.a, dyn, &p), HEALER_OK);
    assert_int_equal(act_proc_allowed(r.a, &p, 0, m, sizeof m), HEALER_OK);
    rig_close(&r);
    reap(dyn);
    reap(usr);

    /* Cgroups, from a fixture procfs: uid 2000 everywhere, only the cgroup differs. */
    char root[256], d[300], f[400];
    snprintf(root, sizeof root, "%s/cgproc", tmp);
    static const struct { int pid; const char *cg; int system; } fx[] = {
        {5001, "0::/system.slice/nginx.service\n", 1},
        {5002, "0::/init.scope\n", 1},
        {5003, "0::/user.slice/user-2000.slice/session-1.scope\n", 0},
        {5004, "0::/system.slicex/a\n", 0},
        /* v1 hybrid: the name=systemd line when there is no unified one */
        {5005, "9:name=systemd:/system.slice/cron.service\n8:pids:/\n", 1},
        {5006, "1:name=systemd:/system.slice/x.service\n0::/user.slice\n", 0},
    };
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
        snprintf(d, sizeof d, "%s/%d", root, fx[i].pid);
        mkdirs(d);
        snprintf(f, sizeof f, "%s/stat", d);
        char stat[128];
        snprintf(stat, sizeof stat, "%d (svc) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 1 2\n",
                 fx[i].pid);
        put_file(f, stat, 0644);
        snprintf(f, sizeof f, "%s/status", d);
        char status[128];
        snprintf(status, sizeof status, "Name:\tsvc\nTgid:\t%d\nUid:\t2000\t2000\t2000\t2000\n",
                 fx[i].pid);
        put_file(f, status, 0644);
        snprintf(f, sizeof f, "%s/oom_score_adj", d);
        put_file(f, "0\n", 0644);
        snprintf(f, sizeof f, "%s/cgroup", d);
        put_file(f, fx[i].cg, 0644);
    }
    cfg = base_cfg();
    cfg.proc_root = root;
    rig_open(&r, "state-system-cg", cfg);
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
        assert_int_equal(act_proc_read(r.a, fx[i].pid, &p), HEALER_OK);
        int rc = act_proc_allowed(r.a, &p, 0, m, sizeof m);
        if (rc != (fx[i].system ? HEALER_E_PROTECTED : HEALER_OK))
            fail_msg("pid %d (%s): %s", fx[i].pid, fx[i].cg, m);
        if (fx[i].system)
            assert_non_null(strstr(m, "system process (cgroup /"));
        assert_int_equal(act_proc_allowed(r.a, &p, 1, m, sizeof m), HEALER_OK);
    }
    rig_close(&r);
    /* A scope.cgroup inside system.slice names what is under it, and nothing else there. */
    cfg.scope_cgroup = "/system.slice/nginx.service";
    rig_open(&r, "state-system-cg2", cfg);
    assert_int_equal(act_proc_read(r.a, 5001, &p), HEALER_OK);
    assert_int_equal(act_proc_allowed(r.a, &p, 0, m, sizeof m), HEALER_OK);
    assert_int_equal(act_proc_read(r.a, 5005, &p), HEALER_OK);
    assert_int_not_equal(act_proc_allowed(r.a, &p, 0, m, sizeof m), HEALER_OK);
    rig_close(&r);
}

static void test_scope_cgroup(void **state)
{
    (void)state;
    const char *base = access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0
                           ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup/freezer";
    char in[256], sib[256], scope[128], sub[160];
    snprintf(in, sizeof in, "%s/healer-test-%d", base, (int)getpid());
    snprintf(sib, sizeof sib, "%s/healer-test-%d-x", base, (int)getpid());
    int e = cg_make(in);
    if (e) {
        print_message("cannot create a cgroup under %s: %s\n", base, strerror(e));
        skip();
    }
    assert_int_equal(cg_make(sib), 0);
    child_opts o = { .as_user = 1 };
    pid_t a = spawn(&o), b = spawn(&o);
    cg_move(in, a);
    cg_move(sib, b);

    snprintf(scope, sizeof scope, "/healer-test-%d", (int)getpid());
    act_config cfg = base_cfg();
    cfg.scope_cgroup = scope;
    rig r;
    rig_open(&r, "state-scope-cg", cfg);
    char m[512];
    healer_proc p;
    assert_int_equal(act_proc_read(r.a, a, &p), HEALER_OK);
    assert_int_equal(act_proc_allowed(r.a, &p, 0, m, sizeof m), HEALER_OK);
    /* "/x-sibling" is not below "/x". */
    assert_int_equal(act_signal(r.a, &ctx, b, start_of(r.a, b), SIGKILL, 0, m, sizeof m),
                     HEALER_E_SCOPE);
    assert_non_null(strstr(m, "scope.cgroup"));
    AUDITED(&r, "signal", "refused");
    assert_true(alive(b));
    assert_int_equal(act_signal(r.a, &ctx, a, start_of(r.a, a), SIGKILL, 0, m, sizeof m),
                     HEALER_OK);
    AUDITED(&r, "signal", "ok");
    int st;
    assert_int_equal(waitpid(a, &st, 0), a);
    rig_close(&r);

    /* A scope below the process's cgroup does not contain it. */
    snprintf(sub, sizeof sub, "/healer-test-%d/deeper/", (int)getpid());
    cfg.scope_cgroup = sub;
    rig_open(&r, "state-scope-cg2", cfg);
    a = spawn(&o);
    cg_move(in, a);
    assert_int_equal(act_proc_read(r.a, a, &p), HEALER_OK);
    assert_int_equal(act_proc_allowed(r.a, &p, 0, m, sizeof m), HEALER_E_SCOPE);
    rig_close(&r);
    reap(a);
    reap(b);
    cg_remove(in);
    cg_remove(sib);
}

/* ---- renice --------------------------------------------------------------------------- */

static void test_renice(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "state-renice", base_cfg());
    child_opts o = { .as_user = 1, .threads = 2 };
    pid_t pid = spawn(&o);
    msleep(50);  /* let the threads start; the count below is checked, not assumed */
    char m[512];
    uint64_t s = start_of(r.a, pid);
    assert_int_equal(act_renice(r.a, &ctx, pid, s, 10, m, sizeof m), HEALER_OK);
    assert_non_null(strstr(m, "from 0 to 10"));
    json_t *l = rig_line(&r, "renice", "ok");
    json_t *params = json_object_get(l, "params");
    assert_int_equal(json_integer_value(json_object_get(params, "old_nice")), 0);
    assert_int_equal(json_integer_value(json_object_get(params, "nice")), 10);
    json_decref(l);
    /* Every thread, not just the leader. */
    char taskdir[64];
    snprintf(taskdir, sizeof taskdir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(taskdir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        int tid = atoi(de->d_name);
        errno = 0;
        assert_int_equal(getpriority(PRIO_PROCESS, (id_t)tid), 10);
        n++;
    }
    closedir(d);
    assert_int_equal(n, 3);
    /* And back, as a plugin's restore() would. */
    assert_int_equal(act_renice(r.a, &ctx, pid, s, 0, m, sizeof m), HEALER_OK);
    assert_non_null(strstr(m, "from 10 to 0"));
    AUDITED(&r, "renice", "ok");
    assert_int_equal(act_renice(r.a, &ctx, pid, s, 25, m, sizeof m), HEALER_E_INVAL);
    AUDITED(&r, "renice", "refused");
    reap(pid);
    rig_close(&r);
}

/* ---- dry-run: nothing changes ----------------------------------------------------------- */

static void test_dry_run_changes_nothing(void **state)
{
    (void)state;
    char sys[256], f[300], decl[256], touched[300];
    snprintf(sys, sizeof sys, "%s/dsys", tmp);
    mkdirs(sys);
    snprintf(f, sizeof f, "%s/value", sys);
    put_file(f, "old\n", 0644);
    snprintf(decl, sizeof decl, "%s/ddecl", tmp);
    mkdirs(decl);
    char oldf[300];
    snprintf(oldf, sizeof oldf, "%s/ancient.log", decl);
    put_file(oldf, "x", 0644);
    age(oldf, 100, 0);
    snprintf(touched, sizeof touched, "%s/touched", tmp);

    act_config cfg = base_cfg();
    cfg.sys_root = sys;
    cfg.dry_run = 1;
    rig r;
    rig_open(&r, "state-dry", cfg);
    char m[1024];
    child_opts o = { .as_user = 1 };
    pid_t pid = spawn(&o);
    uint64_t s = start_of(r.a, pid);

    /* The text is dryrun.c's, the mock's too: same words for the same call. */
    char want[1024], pname[64];
    procinfo hp;
    char perr[256];
    assert_int_equal(procinfo_read("/proc", pid, &hp, perr, sizeof perr), HEALER_OK);
    snprintf(pname, sizeof pname, "%s", hp.p.name);
    assert_int_equal(act_signal(r.a, &ctx, pid, s, SIGKILL, 0, m, sizeof m), HEALER_DRY_RUN);
    healer_dry_signal(want, sizeof want, pid, pname, SIGKILL, 0);
    assert_string_equal(m, want);
    assert_non_null(strstr(m, "would send SIGKILL"));
    AUDITED(&r, "signal", "dry_run");
    assert_int_equal(act_signal(r.a, &ctx, pid, s, SIGTERM, 1, m, sizeof m), HEALER_DRY_RUN);
    healer_dry_signal(want, sizeof want, pid, pname, SIGTERM, 1);
    assert_string_equal(m, want);
    AUDITED(&r, "signal", "dry_run");
    assert_true(alive(pid));

    assert_int_equal(act_renice(r.a, &ctx, pid, s, 15, m, sizeof m), HEALER_DRY_RUN);
    healer_dry_renice(want, sizeof want, pid, pname, 0, 15);
    assert_string_equal(m, want);
    assert_non_null(strstr(m, "would renice"));
    assert_non_null(strstr(m, "from 0 to 15"));
    AUDITED(&r, "renice", "dry_run");
    errno = 0;
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)pid), 0);

    assert_int_equal(act_write_file(r.a, &ctx, f, "new", m, sizeof m), HEALER_DRY_RUN);
    assert_non_null(strstr(m, "would write"));
    AUDITED(&r, "write_file", "dry_run");
    assert_string_equal(get_file(f), "old\n");
    char backups[300];
    snprintf(backups, sizeof backups, "%s/backups", r.state);
    assert_false(exists(backups));

    const char *touch[] = { "touch", touched, NULL };
    char out[64];
    int status = 42;
    assert_int_equal(act_run(r.a, &ctx, touch, 5, out, sizeof out, &status, m, sizeof m),
                     HEALER_DRY_RUN);
    assert_non_null(strstr(m, "would run: touch"));
    AUDITED(&r, "run", "dry_run");
    assert_false(exists(touched));

    const char *paths[] = { decl };
    act_context c = ctx;
    c.declared_paths = paths;
    c.n_declared_paths = 1;
    uint64_t freed, count;
    cleanup_clock(1000);   /* its ctime is now: the clock moves past it */
    assert_int_equal(act_remove_old_files(r.a, &c, decl, 1, NULL, &freed, &count, m, sizeof m),
                     HEALER_DRY_RUN);
    cleanup_clock(0);
    AUDITED(&r, "remove_old_files", "dry_run");
    assert_int_equal(count, 1);
    assert_true(exists(oldf));

    /* Refusals stay refusals in dry-run (and are audited as such). */
    assert_int_equal(act_signal(r.a, &ctx, 1, start_of(r.a, 1), 0, 0, m, sizeof m),
                     HEALER_E_PROTECTED);
    AUDITED(&r, "signal", "refused");

    /* A live agent, a plugin in dry-run (plugins.<name>.mode): its calls only report, the same
     * words; another plugin's calls act. */
    actuators_set_dry_run(r.a, 0);
    act_context pd = ctx;
    pd.dry_run = 1;
    assert_int_equal(act_renice(r.a, &pd, pid, s, 15, m, sizeof m), HEALER_DRY_RUN);
    assert_string_equal(m, want);
    AUDITED(&r, "renice", "dry_run");
    assert_int_equal(act_signal(r.a, &pd, pid, s, SIGKILL, 0, m, sizeof m), HEALER_DRY_RUN);
    AUDITED(&r, "signal", "dry_run");
    assert_int_equal(act_run(r.a, &pd, touch, 5, out, sizeof out, &status, m, sizeof m),
                     HEALER_DRY_RUN);
    AUDITED(&r, "run", "dry_run");
    assert_false(exists(touched));
    assert_true(alive(pid));
    errno = 0;
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)pid), 0);

    /* Switching live again acts. */
    assert_int_equal(act_renice(r.a, &ctx, pid, s, 15, m, sizeof m), HEALER_OK);
    AUDITED(&r, "renice", "ok");
    errno = 0;
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)pid), 15);
    reap(pid);
    rig_close(&r);
}

/* While the audit log cannot be written, no new change is made, but what the agent stopped or
 * deprioritised is still given back: a process left stopped is the harm. */
static char proc_state(pid_t pid)
{
    char f[64];
    snprintf(f, sizeof f, "/proc/%d/stat", (int)pid);
    char *t = get_file(f);
    char *r = t ? strrchr(t, ')') : NULL;
    return r && r[1] == ' ' ? r[2] : '?';
}

static void test_audit_failing_releases(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "state-auditfail", base_cfg());
    child_opts o = { .as_user = 1 };
    pid_t pid = spawn(&o);
    uint64_t st0 = start_of(r.a, pid);
    char m[512];
    assert_int_equal(act_renice(r.a, &ctx, pid, st0, 5, m, sizeof m), HEALER_OK);
    AUDITED(&r, "renice", "ok");
    kill(pid, SIGSTOP); /* our own child, as if the agent had stopped it */
    for (int i = 0; i < 500 && proc_state(pid) != 'T'; i++)
        msleep(10);
    assert_int_equal(proc_state(pid), 'T');

    /* No byte more fits in the audit log. */
    char f[400];
    snprintf(f, sizeof f, "%s/audit.jsonl", r.state);
    struct stat sb;
    assert_int_equal(stat(f, &sb), 0);
    struct sigaction ign = { .sa_handler = SIG_IGN }, old_sa;
    sigaction(SIGXFSZ, &ign, &old_sa);
    struct rlimit old_rl, rl;
    getrlimit(RLIMIT_FSIZE, &old_rl);
    rl = old_rl;
    rl.rlim_cur = (rlim_t)sb.st_size;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    /* A new change: refused or, if the space check let it through, its line failed; either
     * way the log is failing from here on and the next change is refused. */
    act_renice(r.a, &ctx, pid, st0, 10, m, sizeof m);
    assert_int_equal(audit_failing(r.aud), 1);
    int nice_now = getpriority(PRIO_PROCESS, (id_t)pid);
    assert_int_not_equal(act_renice(r.a, &ctx, pid, st0, 15, m, sizeof m), HEALER_OK);
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)pid), nice_now);
    assert_int_not_equal(act_signal(r.a, &ctx, pid, st0, SIGTERM, 0, m, sizeof m), HEALER_OK);
    assert_true(alive(pid));
    /* Giving back goes through. */
    assert_int_equal(act_signal(r.a, &ctx, pid, st0, SIGCONT, 0, m, sizeof m), HEALER_OK);
    for (int i = 0; i < 500 && proc_state(pid) == 'T'; i++)
        msleep(10);
    assert_int_not_equal(proc_state(pid), 'T');
    assert_int_equal(act_renice(r.a, &ctx, pid, st0, 0, m, sizeof m), HEALER_OK);
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)pid), 0);
    setrlimit(RLIMIT_FSIZE, &old_rl);
    sigaction(SIGXFSZ, &old_sa, NULL);
    reap(pid);
    rig_close(&r);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_actuators needs root (setuid children, cgroups)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_parse_stat, cleanup),
        cmocka_unit_test_teardown(test_proc_read_fixture, cleanup),
        cmocka_unit_test_teardown(test_proc_read_real, cleanup),
        cmocka_unit_test_teardown(test_signal_escalates_to_kill, cleanup),
        cmocka_unit_test_teardown(test_signal_identity, cleanup),
        cmocka_unit_test_teardown(test_protection, cleanup),
        cmocka_unit_test_teardown(test_scope_uid, cleanup),
        cmocka_unit_test_teardown(test_system_processes, cleanup),
        cmocka_unit_test_teardown(test_scope_cgroup, cleanup),
        cmocka_unit_test_teardown(test_renice, cleanup),
        cmocka_unit_test_teardown(test_audit_failing_releases, cleanup),
        cmocka_unit_test_teardown(test_dry_run_changes_nothing, cleanup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
