/* test_actuators_files.c — the file, command and cgroup actuators against the real kernel:
 * procfs/sysfs writes, commands run, old files removed from a real tree, v1 freezer and cgroup2
 * freeze. Every call must leave exactly one well-formed audit line (actuators_rig.h). */
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

/* ---- write_file ----------------------------------------------------------------------- */

static void test_write_file(void **state)
{
    (void)state;
    char sys[256], zone[300], policy[350], outside[256], ofile[300], p[512];
    snprintf(sys, sizeof sys, "%s/sys", tmp);
    snprintf(zone, sizeof zone, "%s/class/thermal/thermal_zone0", sys);
    mkdirs(zone);
    snprintf(policy, sizeof policy, "%s/policy", zone);
    put_file(policy, "step_wise\n", 0640);
    snprintf(outside, sizeof outside, "%s/outside", tmp);
    mkdirs(outside);
    snprintf(ofile, sizeof ofile, "%s/file", outside);
    put_file(ofile, "keep\n", 0644);

    act_config cfg = base_cfg();
    cfg.sys_root = sys;
    rig r;
    rig_open(&r, "state-write", cfg);
    char m[1024];
    assert_int_equal(act_write_file(r.a, &ctx, policy, "power_allocator", m, sizeof m), HEALER_OK);
    AUDITED(&r, "write_file", "ok");
    assert_string_equal(get_file(policy), "power_allocator");
    struct stat st;
    assert_int_equal(stat(policy, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    const char *b = strstr(m, "backup ");
    assert_non_null(b);
    char backup[512];
    snprintf(backup, sizeof backup, "%s", b + 7);
    backup[strcspn(backup, ")")] = '\0';
    assert_non_null(strstr(backup, "/backups/"));
    assert_non_null(strstr(backup, "-test-"));
    assert_non_null(strstr(backup, "thermal_zone0_policy"));
    assert_string_equal(get_file(backup), "step_wise\n");

    /* Outside every root; through a symlinked directory; a symlink as the file; "..". */
    assert_int_equal(act_write_file(r.a, &ctx, ofile, "x", m, sizeof m), HEALER_E_SCOPE);
    AUDITED(&r, "write_file", "refused");
    snprintf(p, sizeof p, "%s/escape", sys);
    assert_int_equal(symlink(outside, p), 0);
    snprintf(p, sizeof p, "%s/escape/file", sys);
    assert_int_equal(act_write_file(r.a, &ctx, p, "x", m, sizeof m), HEALER_E_SCOPE);
    AUDITED(&r, "write_file", "refused");
    snprintf(p, sizeof p, "%s/evil", sys);
    assert_int_equal(symlink(ofile, p), 0);
    assert_int_equal(act_write_file(r.a, &ctx, p, "x", m, sizeof m), HEALER_E_SCOPE);
    AUDITED(&r, "write_file", "refused");
    snprintf(p, sizeof p, "%s/class/../../outside/file", sys);
    assert_int_equal(act_write_file(r.a, &ctx, p, "x", m, sizeof m), HEALER_E_SCOPE);
    AUDITED(&r, "write_file", "refused");
    assert_string_equal(get_file(ofile), "keep\n");
    assert_int_equal(act_write_file(r.a, &ctx, "relative/path", "x", m, sizeof m), HEALER_E_INVAL);
    AUDITED(&r, "write_file", "refused");
    snprintf(p, sizeof p, "%s/fs/cgroup/x", sys);
    mkdirs(p);
    snprintf(p, sizeof p, "%s/fs/cgroup/x/cgroup.procs", sys);
    put_file(p, "", 0644);
    assert_int_equal(act_write_file(r.a, &ctx, p, "1", m, sizeof m), HEALER_E_PROTECTED);
    AUDITED(&r, "write_file", "refused");

    /* A declared directory: a new file is created (nothing to back up). */
    char decl[256], conf[300];
    snprintf(decl, sizeof decl, "%s/decl", tmp);
    mkdirs(decl);
    snprintf(conf, sizeof conf, "%s/app.conf", decl);
    const char *paths[] = { decl };
    act_context c = ctx;
    c.declared_paths = paths;
    c.n_declared_paths = 1;
    assert_int_equal(act_write_file(r.a, &ctx, conf, "a=1\n", m, sizeof m), HEALER_E_SCOPE);
    AUDITED(&r, "write_file", "refused");
    assert_int_equal(act_write_file(r.a, &c, conf, "a=1\n", m, sizeof m), HEALER_OK);
    AUDITED(&r, "write_file", "ok");
    assert_string_equal(get_file(conf), "a=1\n");
    /* A path too long for the backup name keeps its tail, the part that tells the files
     * apart, and the name still fits NAME_MAX. */
    char deep[512], deepf[600];
    snprintf(deep, sizeof deep, "%s/%0120d/%060d", decl, 1, 2);
    mkdirs(deep);
    snprintf(deepf, sizeof deepf, "%s/the-tail.conf", deep);
    put_file(deepf, "old\n", 0644);
    assert_int_equal(act_write_file(r.a, &c, deepf, "new\n", m, sizeof m), HEALER_OK);
    AUDITED(&r, "write_file", "ok");
    b = strstr(m, "backup ");
    assert_non_null(b);
    snprintf(backup, sizeof backup, "%s", b + 7);
    backup[strcspn(backup, ")")] = '\0';
    assert_string_equal(get_file(backup), "old\n");
    const char *bname = strrchr(backup, '/') + 1;
    assert_true(strlen(bname) <= NAME_MAX);
    char tail[200];
    /* the name ends in the path's last 159 bytes (flat[160]): 84 of the 120-digit directory */
    snprintf(tail, sizeof tail, "-%084d_%060d_the-tail.conf", 1, 2);
    assert_string_equal(bname + strlen(bname) - strlen(tail), tail);
    rig_close(&r);

    /* Real procfs: a child's oom_score_adj, written once, old value backed up. */
    rig_open(&r, "state-write-proc", base_cfg());
    child_opts o = { .as_user = 1 };
    pid_t pid = spawn(&o);
    snprintf(p, sizeof p, "/proc/%d/oom_score_adj", (int)pid);
    assert_int_equal(act_write_file(r.a, &ctx, p, "500", m, sizeof m), HEALER_OK);
    AUDITED(&r, "write_file", "ok");
    assert_string_equal(get_file(p), "500\n");
    b = strstr(m, "backup ");
    assert_non_null(b);
    snprintf(backup, sizeof backup, "%s", b + 7);
    backup[strcspn(backup, ")")] = '\0';
    assert_string_equal(get_file(backup), "0\n");
    reap(pid);
    rig_close(&r);

    /* Protected procfs files. Dry-run rig: if a rule were broken nothing is written. */
    act_config dcfg = base_cfg();
    dcfg.dry_run = 1;
    rig_open(&r, "state-write-dry", dcfg);
    assert_int_equal(act_write_file(r.a, &ctx, "/proc/1/oom_score_adj", "0", m, sizeof m),
                     HEALER_E_PROTECTED);
    AUDITED(&r, "write_file", "refused");
    assert_int_equal(act_write_file(r.a, &ctx, "/proc/self/oom_score_adj", "0", m, sizeof m),
                     HEALER_E_PROTECTED);
    assert_non_null(strstr(m, "agent itself"));
    AUDITED(&r, "write_file", "refused");
    assert_int_equal(act_write_file(r.a, &ctx, "/proc/sysrq-trigger", "h", m, sizeof m),
                     HEALER_E_PROTECTED);
    AUDITED(&r, "write_file", "refused");
    rig_close(&r);
}

/* ---- run ------------------------------------------------------------------------------ */

/* 1 once the sleep with this pid is gone or a zombie, within 5 s (init or a subreaper reaps it
 * asynchronously; a reused pid is another program). */
static int sleep_gone(pid_t pid)
{
    for (int i = 0; i < 500; i++) {
        char sp[64];
        snprintf(sp, sizeof sp, "/proc/%d/stat", (int)pid);
        char *t = get_file(sp);
        if (!t || strstr(t, ") Z ") || !strstr(t, "(sleep)"))
            return 1;
        msleep(10);
    }
    return 0;
}

static void test_run(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "state-run", base_cfg());
    char out[256], m[512];
    int status = -5;
    const char *echo[] = { "echo", "hello", "world", NULL };
    assert_int_equal(act_run(r.a, &ctx, echo, 10, out, sizeof out, &status, m, sizeof m),
                     HEALER_OK);
    AUDITED(&r, "run", "ok");
    assert_string_equal(out, "hello world\n");
    assert_int_equal(status, 0);

    const char *ex3[] = { "/bin/sh", "-c", "echo err >&2; exit 3", NULL };
    assert_int_equal(act_run(r.a, &ctx, ex3, 10, out, sizeof out, &status, m, sizeof m),
                     HEALER_E_IO);
    AUDITED(&r, "run", "failed");
    assert_int_equal(status, 3);
    assert_string_equal(out, "err\n");
    assert_non_null(strstr(m, "exit status 3"));

    /* Far more output than the buffer: truncated, and the child never blocks. */
    char small[16];
    const char *seq[] = { "seq", "1", "200000", NULL };
    assert_int_equal(act_run(r.a, &ctx, seq, 60, small, sizeof small, &status, m, sizeof m),
                     HEALER_OK);
    AUDITED(&r, "run", "ok");
    assert_int_equal(status, 0);
    assert_string_equal(small, "1\n2\n3\n4\n5\n6\n7\n8");
    assert_non_null(strstr(m, "truncated"));

    /* Timeout: the command and what it started in the background are killed. */
    const char *slow[] = { "/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL };
    assert_int_equal(act_run(r.a, &ctx, slow, 0.5, out, sizeof out, &status, m, sizeof m),
                     HEALER_E_TIMEOUT);
    AUDITED(&r, "run", "failed");
    assert_int_equal(status, 128 + SIGKILL);
    pid_t bg = (pid_t)atoi(out);
    assert_true(bg > 0);
    assert_true(sleep_gone(bg));

    const char *missing[] = { "healer-no-such-command", NULL };
    assert_int_equal(act_run(r.a, &ctx, missing, 5, out, sizeof out, &status, m, sizeof m),
                     HEALER_E_NOTFOUND);
    AUDITED(&r, "run", "failed");
    const char *none[] = { NULL };
    assert_int_equal(act_run(r.a, &ctx, none, 5, out, sizeof out, &status, m, sizeof m),
                     HEALER_E_INVAL);
    AUDITED(&r, "run", "refused");

    /* No inherited fds (a leaked one would be 3+), stdin is /dev/null. */
    int leak = open("/dev/null", O_RDONLY);  /* no O_CLOEXEC on purpose */
    assert_true(leak >= 3);
    const char *fds[] = { "/bin/sh", "-c", "ls /proc/$$/fd; cat", NULL };
    assert_int_equal(act_run(r.a, &ctx, fds, 10, out, sizeof out, &status, m, sizeof m), HEALER_OK);
    AUDITED(&r, "run", "ok");
    char *save = NULL;
    for (char *t = strtok_r(out, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
        if (atoi(t) >= 3)
            fail_msg("the command inherited fd %s", t);
    close(leak);

    /* A blocked signal in the agent is not inherited. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    const char *term[] = { "/bin/sh", "-c", "kill -TERM $$; sleep 10", NULL };
    assert_int_equal(act_run(r.a, &ctx, term, 20, out, sizeof out, &status, m, sizeof m),
                     HEALER_E_IO);
    AUDITED(&r, "run", "failed");
    assert_int_equal(status, 128 + SIGTERM);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    /* The agent's raised priority (nice -5) and OOM immunity are not the command's: it
     * starts at nice 0 and oom_score_adj 0. The test raises its own oom_score_adj (lowering
     * needs CAP_SYS_RESOURCE), so a child that inherited it would say 300. */
    errno = 0;
    int old_nice = getpriority(PRIO_PROCESS, 0);
    assert_int_equal(errno, 0);
    char old_adj[32];
    const char *cur = get_file("/proc/self/oom_score_adj");
    snprintf(old_adj, sizeof old_adj, "%.16s", cur ? cur : "0");
    int adj = open("/proc/self/oom_score_adj", O_WRONLY);
    assert_true(adj >= 0);
    int raised = setpriority(PRIO_PROCESS, 0, -5) == 0 && write(adj, "300", 3) == 3;
    if (raised) {
        const char *pri[] = { "/bin/sh", "-c",
                              "cat /proc/self/oom_score_adj; cut -d' ' -f19 /proc/$$/stat", NULL };
        assert_int_equal(act_run(r.a, &ctx, pri, 10, out, sizeof out, &status, m, sizeof m),
                         HEALER_OK);
        AUDITED(&r, "run", "ok");
        assert_string_equal(out, "0\n0\n");
    } else {
        print_message("cannot raise priority or oom_score_adj here: not checked\n");
    }
    setpriority(PRIO_PROCESS, 0, old_nice);
    assert_true(write(adj, old_adj, strlen(old_adj)) > 0);
    close(adj);

    /* out and exit_status may be NULL. */
    const char *t[] = { "true", NULL };
    assert_int_equal(act_run(r.a, &ctx, t, 10, NULL, 0, NULL, m, sizeof m), HEALER_OK);
    AUDITED(&r, "run", "ok");
    rig_close(&r);
}

/* An agent started with 0, 1 and 2 closed: the pipes land there and must still work. */
static void test_run_without_std_fds(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "state-run-nofd", base_cfg());
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(0);
        close(1);
        close(2);
        char out[64], m[512];
        int status = -1;
        const char *echo[] = { "echo", "still here", NULL };
        int rc = act_run(r.a, &ctx, echo, 10, out, sizeof out, &status, m, sizeof m);
        _exit(rc == HEALER_OK && status == 0 && strcmp(out, "still here\n") == 0 ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    AUDITED(&r, "run", "ok");
    rig_close(&r);
}

/* An agent killed mid-step (kill -9, OOM, a crash): nobody is left to enforce the timeout, so
 * the command and what it started must die with it, not run on past a fleet slot's lease. */
static void test_run_dies_with_agent(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "state-run-death", base_cfg());
    char pidf[300], script[1024];
    snprintf(pidf, sizeof pidf, "%s/bg.pid", tmp);
    snprintf(script, sizeof script, "sleep 60 & echo $! > %s.new && mv %s.new %s; wait", pidf,
             pidf, pidf);
    pid_t pretend = fork();
    assert_true(pretend >= 0);
    if (pretend == 0) {
        char out[64], m[512];
        int status = -1;
        const char *slow[] = { "/bin/sh", "-c", script, NULL };
        act_run(r.a, &ctx, slow, 120, out, sizeof out, &status, m, sizeof m);
        _exit(0);
    }
    char *t = NULL;
    for (int i = 0; i < 1000 && !(t = get_file(pidf)); i++)
        msleep(10);
    assert_non_null(t);
    pid_t bg = (pid_t)atoi(t);
    assert_true(bg > 0);
    assert_int_equal(kill(pretend, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(pretend, &st, 0), pretend);
    int gone = sleep_gone(bg);
    if (!gone)
        kill(bg, SIGKILL);  /* our own sleep: do not leave it behind */
    assert_true(gone);
    rig_close(&r);
}

/* ---- remove_old_files ----------------------------------------------------------------- */

static uint64_t blocks_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_blocks * 512u;
}

static void test_remove_old_files(void **state)
{
    (void)state;
    char root[256], out[256], p[512], q[512];
    snprintf(root, sizeof root, "%s/rm", tmp);
    snprintf(out, sizeof out, "%s/rm-outside", tmp);
    cleanup_clock(1000);   /* every file not aged below is 1000 days old */
    snprintf(p, sizeof p, "%s/sub/deep", root);
    mkdirs(p);
    mkdirs(out);
    char big[8192];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    static const char *const old_logs[] = { "old.log", "sub/old2.log", "sub/deep/old3.log" };
    uint64_t expect_freed = 0;
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", root, old_logs[i]);
        put_file(p, big, 0644);
        age(p, 10, 0);
        expect_freed += blocks_of(p);
    }
    snprintf(p, sizeof p, "%s/new.log", root);
    put_file(p, big, 0644);
    age(p, 0, 0);
    snprintf(p, sizeof p, "%s/old.txt", root);
    put_file(p, big, 0644);
    age(p, 10, 0);
    snprintf(p, sizeof p, "%s/held.log", root);
    put_file(p, big, 0644);
    age(p, 10, 0);
    int held = open(p, O_RDONLY);
    assert_true(held >= 0);
    /* A socket, a fifo, a symlink to an old file outside, a symlinked directory. */
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%.90s/sock.log", root);
    assert_int_equal(bind(sock, (struct sockaddr *)&sa, sizeof sa), 0);
    age(sa.sun_path, 10, 0);
    snprintf(p, sizeof p, "%s/fifo.log", root);
    assert_int_equal(mkfifo(p, 0644), 0);
    age(p, 10, 0);
    snprintf(q, sizeof q, "%s/target.log", out);
    put_file(q, big, 0644);
    age(q, 10, 0);
    snprintf(p, sizeof p, "%s/link.log", root);
    assert_int_equal(symlink(q, p), 0);
    age(p, 10, 1);
    snprintf(q, sizeof q, "%s/inner.log", out);
    put_file(q, big, 0644);
    age(q, 10, 0);
    snprintf(p, sizeof p, "%s/linkdir", root);
    assert_int_equal(symlink(out, p), 0);

    const char *decl[] = { root };
    act_context c = ctx;
    c.declared_paths = decl;
    c.n_declared_paths = 1;
    healer_remove_opts o = { .pattern = "*.log", .recursive = 1 };
    uint64_t freed = 99, count = 99;
    char m[1024];

    act_config dcfg = base_cfg();
    dcfg.dry_run = 1;
    rig d;
    rig_open(&d, "state-rm-dry", dcfg);
    assert_int_equal(act_remove_old_files(d.a, &c, root, 7, &o, &freed, &count, m, sizeof m),
                     HEALER_DRY_RUN);
    assert_int_equal(count, 3);
    assert_true(freed == expect_freed);
    assert_non_null(strstr(m, "would remove 3 files"));
    json_t *l = rig_line(&d, "remove_old_files", "dry_run");
    json_t *files = json_object_get(json_object_get(l, "params"), "files");
    assert_int_equal(json_array_size(files), 3);
    json_decref(l);
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", root, old_logs[i]);
        assert_true(exists(p));
    }
    rig_close(&d);

    rig r;
    rig_open(&r, "state-rm", base_cfg());
    /* Not declared; a symlink into an undeclared place. */
    assert_int_equal(act_remove_old_files(r.a, &ctx, root, 7, &o, &freed, &count, m, sizeof m),
                     HEALER_E_SCOPE);
    AUDITED(&r, "remove_old_files", "refused");
    snprintf(p, sizeof p, "%s/linkdir", root);
    assert_int_equal(act_remove_old_files(r.a, &c, p, 7, &o, &freed, &count, m, sizeof m),
                     HEALER_E_SCOPE);
    AUDITED(&r, "remove_old_files", "refused");

    assert_int_equal(act_remove_old_files(r.a, &c, root, 7, &o, &freed, &count, m, sizeof m),
                     HEALER_OK);
    l = rig_line(&r, "remove_old_files", "ok");
    assert_int_equal(json_array_size(json_object_get(json_object_get(l, "params"), "files")), 3);
    json_decref(l);
    assert_int_equal(count, 3);
    assert_true(freed == expect_freed);
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", root, old_logs[i]);
        assert_false(exists(p));
    }
    static const char *const kept[] = { "new.log", "old.txt", "held.log", "sock.log", "fifo.log",
                                        "link.log", "linkdir", "sub/deep" };
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        snprintf(p, sizeof p, "%s/%s", root, kept[i]);
        if (!exists(p))
            fail_msg("%s was removed", kept[i]);
    }
    snprintf(q, sizeof q, "%s/target.log", out);
    assert_true(exists(q));
    snprintf(q, sizeof q, "%s/inner.log", out);
    assert_true(exists(q));
    struct stat st;
    snprintf(p, sizeof p, "%s/link.log", root);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));

    /* rotated_first with a byte budget: the oldest rotated file goes first. */
    static const struct { const char *name; double days; } rot[] = {
        { "d.log", 30 }, { "a.1", 20 }, { "b.gz", 15 }, { "c-20240101", 12 } };
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", root, rot[i].name);
        put_file(p, big, 0644);
        age(p, rot[i].days, 0);
    }
    healer_remove_opts ro = { .rotated_first = 1, .stop_after_bytes = 1 };
    assert_int_equal(act_remove_old_files(r.a, &c, root, 7, &ro, &freed, &count, m, sizeof m),
                     HEALER_OK);
    AUDITED(&r, "remove_old_files", "ok");
    assert_int_equal(count, 1);
    snprintf(p, sizeof p, "%s/a.1", root);
    assert_false(exists(p));
    snprintf(p, sizeof p, "%s/d.log", root);
    assert_true(exists(p));
    /* Without it, oldest first: d.log. */
    healer_remove_opts oo = { .stop_after_bytes = 1 };
    assert_int_equal(act_remove_old_files(r.a, &c, root, 7, &oo, &freed, &count, m, sizeof m),
                     HEALER_OK);
    AUDITED(&r, "remove_old_files", "ok");
    assert_int_equal(count, 1);
    assert_false(exists(p));
    /* Everything old at the top level (not recursive): b.gz, c-20240101, old.txt; held.log,
     * the socket, fifo and symlink stay. */
    assert_int_equal(act_remove_old_files(r.a, &c, root, 7, NULL, &freed, &count, m, sizeof m),
                     HEALER_OK);
    AUDITED(&r, "remove_old_files", "ok");
    assert_int_equal(count, 3);
    assert_non_null(strstr(m, "1 held open or mapped kept"));
    snprintf(p, sizeof p, "%s/held.log", root);
    assert_true(exists(p));
    assert_int_equal(act_remove_old_files(r.a, &c, root, -1, NULL, &freed, &count, m, sizeof m),
                     HEALER_E_INVAL);
    AUDITED(&r, "remove_old_files", "refused");
    close(held);
    close(sock);
    rig_close(&r);
    cleanup_clock(0);
}

/* ---- freeze --------------------------------------------------------------------------- */

static unsigned long read_counter(volatile unsigned long *c)
{
    return *c;
}

static int cg_state(const char *dir, int v2, int frozen)
{
    char f[512];
    snprintf(f, sizeof f, "%s/%s", dir, v2 ? "cgroup.events" : "freezer.state");
    char *s = get_file(f);
    if (!s)
        return 0;
    if (v2)
        return strstr(s, frozen ? "frozen 1" : "frozen 0") != NULL;
    return strncmp(s, frozen ? "FROZEN" : "THAWED", 6) == 0;
}

static void freeze_case(const char *hier, int v2)
{
    char dir[256], sub[300];
    snprintf(dir, sizeof dir, "%s/healer-test-fz-%d", hier, (int)getpid());
    int e = cg_make(dir);
    if (e) {
        print_message("cannot create a cgroup in %s: %s\n", hier, strerror(e));
        skip();
    }
    char probe[300];
    snprintf(probe, sizeof probe, "%s/%s", dir, v2 ? "cgroup.freeze" : "freezer.state");
    if (access(probe, F_OK) != 0) {
        cg_remove(dir);
        print_message("%s missing: this kernel has no %s freezer\n", probe, v2 ? "v2" : "v1");
        skip();
    }
    volatile unsigned long *counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(counter != MAP_FAILED);
    *counter = 0;
    child_opts o = { .as_user = 1, .counter = counter };
    pid_t pid = spawn(&o);
    cg_move(dir, pid);

    rig r;
    rig_open(&r, v2 ? "state-fz2" : "state-fz1", base_cfg());
    char m[1024];
    assert_int_equal(act_freeze_cgroup(r.a, &ctx, dir, 1, m, sizeof m), HEALER_OK);
    AUDITED(&r, "freeze_cgroup", "ok");
    assert_true(cg_state(dir, v2, 1));
    unsigned long c1 = read_counter(counter);
    msleep(100);
    assert_true(read_counter(counter) == c1);  /* frozen: no progress at all */
    assert_int_equal(act_freeze_cgroup(r.a, &ctx, dir, 0, m, sizeof m), HEALER_OK);
    AUDITED(&r, "freeze_cgroup", "ok");
    assert_true(cg_state(dir, v2, 0));
    int moved = 0;
    for (int i = 0; i < 500 && !moved; i++) {
        moved = read_counter(counter) != c1;
        msleep(10);
    }
    assert_true(moved);

    /* A protected (system) process in a cgroup below: refused, nothing frozen. */
    snprintf(sub, sizeof sub, "%s/inner", dir);
    assert_int_equal(cg_make(sub), 0);
    child_opts ro = { .name = "rootchild" };
    pid_t rootchild = spawn(&ro);
    cg_move(sub, rootchild);
    assert_int_equal(act_freeze_cgroup(r.a, &ctx, dir, 1, m, sizeof m), HEALER_E_PROTECTED);
    assert_non_null(strstr(m, "system process"));
    assert_non_null(strstr(m, "inner"));
    AUDITED(&r, "freeze_cgroup", "refused");
    assert_true(cg_state(dir, v2, 0));
    /* Allowed for system processes: then it freezes. */
    act_context sys = ctx;
    sys.allow_system = 1;
    assert_int_equal(act_freeze_cgroup(r.a, &sys, dir, 1, m, sizeof m), HEALER_OK);
    AUDITED(&r, "freeze_cgroup", "ok");
    assert_true(cg_state(dir, v2, 1));
    assert_int_equal(act_freeze_cgroup(r.a, &ctx, dir, 0, m, sizeof m), HEALER_OK);  /* thaw */
    AUDITED(&r, "freeze_cgroup", "ok");
    assert_true(cg_state(dir, v2, 0));

    /* Dry-run changes nothing. */
    actuators_set_dry_run(r.a, 1);
    assert_int_equal(act_freeze_cgroup(r.a, &sys, dir, 1, m, sizeof m), HEALER_DRY_RUN);
    AUDITED(&r, "freeze_cgroup", "dry_run");
    assert_non_null(strstr(m, "would freeze"));
    msleep(20);
    assert_true(cg_state(dir, v2, 0));
    actuators_set_dry_run(r.a, 0);

    /* The hierarchy root and anything outside sys_root/fs/cgroup are refused. */
    assert_int_equal(act_freeze_cgroup(r.a, &sys, "/sys/fs/cgroup", 1, m, sizeof m),
                     HEALER_E_SCOPE);
    AUDITED(&r, "freeze_cgroup", "refused");
    /* A hierarchy's root has no freezer file (and cannot be frozen). */
    assert_int_equal(act_freeze_cgroup(r.a, &sys, hier, 1, m, sizeof m),
                     strcmp(hier, "/sys/fs/cgroup") ? HEALER_E_NOTFOUND : HEALER_E_SCOPE);
    AUDITED(&r, "freeze_cgroup", "failed");
    assert_int_equal(act_freeze_cgroup(r.a, &sys, tmp, 1, m, sizeof m), HEALER_E_SCOPE);
    AUDITED(&r, "freeze_cgroup", "refused");

    reap(pid);
    reap(rootchild);
    cg_remove(sub);
    cg_remove(dir);
    rig_close(&r);
    munmap((void *)counter, 4096);
}

static void test_freeze_v1(void **state)
{
    (void)state;
    if (access("/sys/fs/cgroup/freezer/cgroup.procs", F_OK) != 0) {
        print_message("no v1 freezer hierarchy at /sys/fs/cgroup/freezer\n");
        skip();
    }
    freeze_case("/sys/fs/cgroup/freezer", 0);
}

static void test_freeze_v2(void **state)
{
    (void)state;
    const char *hier = access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0
                           ? "/sys/fs/cgroup/unified"
                           : access("/sys/fs/cgroup/cgroup.freeze", F_OK) == 0 ||
                                     access("/sys/fs/cgroup/cgroup.subtree_control", F_OK) == 0
                                 ? "/sys/fs/cgroup" : NULL;
    if (!hier) {
        print_message("no cgroup2 hierarchy mounted\n");
        skip();
    }
    freeze_case(hier, 1);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_actuators_files needs root (setuid children, cgroups)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_write_file, cleanup),
        cmocka_unit_test_teardown(test_run, cleanup),
        cmocka_unit_test_teardown(test_run_without_std_fds, cleanup),
        cmocka_unit_test_teardown(test_run_dies_with_agent, cleanup),
        cmocka_unit_test_teardown(test_remove_old_files, cleanup),
        cmocka_unit_test_teardown(test_freeze_v1, cleanup),
        cmocka_unit_test_teardown(test_freeze_v2, cleanup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
