/* test_pitr.c — point-in-time recovery (actuators_pitr.c) against the real kernel with the
 * real actuators and change log: a SIGSTOP undone by SIGCONT, dry-run changing nothing, a second
 * undo finding it done, an exited process reported gone, a reused pid (start time) and a
 * protected process (the agent itself) refused untouched. Only processes this test starts are
 * signalled. A generation switch of a profile (links as nix-env makes them, switched by a
 * stand-in nix-env script) recorded with the generation before, switched back and activated,
 * refused by the governor's word or when the profile moved since, gone once deleted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

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
#include "changelog.h"
#include "pitr.h"
#include "procstate.h"

#define USER_UID 2000   /* inside the login range: not a system process */

static char dir[128];
static pid_t kid;
static audit_log *aud;
static changelog *cl;
static actuators *act;

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    snprintf(dir, sizeof dir, "/tmp/test_pitr_XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0700), 0);
    char err[256];
    aud = audit_open(dir, err, sizeof err);
    assert_non_null(aud);
    cl = changelog_open(dir, 0, 0, err, sizeof err);
    assert_non_null(cl);
    act_config c = { .proc_root = "/proc", .sys_root = "/sys", .state_dir = dir,
                     .protect_min_uid = 1000, .scope_cgroup = "", .changes = cl };
    act = actuators_new(&c, aud);
    assert_non_null(act);
    int p[2];
    assert_int_equal(pipe(p), 0);
    kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        close(p[0]);
        if (setgroups(0, NULL) < 0 || setgid(USER_UID) < 0 || setuid(USER_UID) < 0)
            _exit(91);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char ok = 1;
        if (write(p[1], &ok, 1) != 1)
            _exit(94);
        for (;;)
            pause();
    }
    close(p[1]);
    char b;
    assert_int_equal(read(p[0], &b, 1), 1);
    close(p[0]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (kid > 0) {
        kill(kid, SIGKILL);
        waitpid(kid, NULL, 0);
        kid = 0;
    }
    actuators_free(act);
    changelog_close(cl);
    audit_close(aud);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static act_context heal_ctx(uint64_t heal)
{
    act_context c = { .plugin = "fixture", .heal_id = heal, .issue_type = "t", .action = "a",
                      .issue_id = 1 };
    return c;
}

static json_t *item0(json_t *o)
{
    return json_array_get(json_object_get(o, "items"), 0);
}

static const char *result0(json_t *o)
{
    return json_string_value(json_object_get(item0(o), "result"));
}

static void stop_kid(uint64_t heal)
{
    healer_proc p;
    assert_int_equal(act_proc_read(act, kid, &p), HEALER_OK);
    act_context c = heal_ctx(heal);
    char m[512];
    assert_int_equal(act_signal(act, &c, kid, p.start_time, SIGSTOP, 0, m, sizeof m), HEALER_OK);
    assert_true(wait_state(kid, 1));
}

static void test_stop_undone_dry_run_first(void **state)
{
    (void)state;
    stop_kid(7);
    json_t *o;
    pitr_req dry = { .heal_id = 7, .dry_run = 1 };
    assert_int_equal(act_pitr(act, cl, &dry, &o), HEALER_OK);
    assert_string_equal(result0(o), "would");
    json_decref(o);
    assert_true(wait_state(kid, 1));   /* still stopped */
    pitr_req rq = { .heal_id = 7 };
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "undone");
    assert_int_equal(json_integer_value(json_object_get(o, "undone")), 1);
    json_decref(o);
    assert_true(wait_state(kid, 0));
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "already_undone");
    json_decref(o);
    /* no change for another heal */
    pitr_req none = { .heal_id = 8 };
    assert_int_equal(act_pitr(act, cl, &none, &o), HEALER_E_NOTFOUND);
    json_decref(o);
}

static void test_exited_process_gone(void **state)
{
    (void)state;
    stop_kid(9);
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    kid = 0;
    json_t *o;
    pitr_req rq = { .heal_id = 9 };
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "gone");
    assert_non_null(strstr(json_string_value(json_object_get(item0(o), "message")), "exited"));
    assert_int_equal(json_integer_value(json_object_get(o, "not_undone")), 1);
    json_decref(o);
}

static void test_reused_pid_refused(void **state)
{
    (void)state;
    healer_proc p;
    assert_int_equal(act_proc_read(act, kid, &p), HEALER_OK);
    kill(kid, SIGSTOP);   /* stopped by the test itself: a wrong SIGCONT would show */
    assert_true(wait_state(kid, 1));
    /* a record of a process that had this pid before: another start time */
    json_t *r = json_pack("{s:I, s:s, s:s, s:b, s:i, s:I, s:s, s:s}", "heal_id", (json_int_t)11,
                          "plugin", "fixture", "kind", "stop", "undoable", 1, "pid", (int)kid,
                          "start_time", (json_int_t)(p.start_time - 1), "name", "older",
                          "target", "pid");
    assert_true(changelog_add(cl, r) > 0);
    json_decref(r);
    json_t *o;
    pitr_req rq = { .heal_id = 11 };
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "refused");
    assert_non_null(strstr(json_string_value(json_object_get(item0(o), "message")),
                           "the pid now names"));
    json_decref(o);
    assert_true(wait_state(kid, 1));   /* untouched */
}

static void test_protected_refused(void **state)
{
    (void)state;
    /* the agent itself (here: this test) is protected; a renice record of it is refused and
     * its nice value stays */
    healer_proc me;
    assert_int_equal(act_proc_read(act, getpid(), &me), HEALER_OK);
    json_t *r = json_pack("{s:I, s:s, s:s, s:b, s:i, s:I, s:s, s:i, s:i, s:s}", "heal_id",
                          (json_int_t)13, "plugin", "fixture", "kind", "renice", "undoable", 1,
                          "pid", (int)getpid(), "start_time", (json_int_t)me.start_time, "name",
                          me.name, "nice_before", me.nice + 1, "nice_after", me.nice, "target",
                          "pid");
    assert_true(changelog_add(cl, r) > 0);
    json_decref(r);
    json_t *o;
    pitr_req rq = { .heal_id = 13 };
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "refused");
    assert_non_null(strstr(json_string_value(json_object_get(item0(o), "message")), "protected"));
    json_decref(o);
    healer_proc after;
    assert_int_equal(act_proc_read(act, getpid(), &after), HEALER_OK);
    assert_int_equal(after.nice, me.nice);
}

static void test_kill_not_undoable(void **state)
{
    (void)state;
    healer_proc p;
    assert_int_equal(act_proc_read(act, kid, &p), HEALER_OK);
    act_context c = heal_ctx(15);
    char m[512];
    assert_int_equal(act_signal(act, &c, kid, p.start_time, SIGKILL, 0, m, sizeof m), HEALER_OK);
    waitpid(kid, NULL, 0);
    kid = 0;
    json_t *o;
    pitr_req rq = { .heal_id = 15 };
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "not_undoable");
    assert_string_equal(json_string_value(json_object_get(item0(o), "kind")), "kill");
    assert_non_null(strstr(json_string_value(json_object_get(item0(o), "message")),
                           "cannot be brought back"));
    json_decref(o);
}

/* ---- a profile's generation switch (no Nix needed: the links are what nix-env makes) ---- */

static char prof[200], swlog[200], nixenv[200];
static int rb_ok = 1, rb_done;

static int rollback_ok(void *ud, char *why, size_t wl)
{
    (void)ud;
    if (!rb_ok)
        snprintf(why, wl, "limits.max_rollbacks_per_day is used up (3 today)");
    return rb_ok;
}

static void rollback_done(void *ud, const char *profile)
{
    (void)ud;
    assert_string_equal(profile, prof);
    rb_done++;
}

static void write_exe(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}

/* Generations 1 and 2 (each a directory with bin/switch-to-configuration that logs "genN ARG"),
 * the profile at 2, and nix-env: `nix-env -p P --switch-generation N` relinks P. */
static void make_profile(void)
{
    char p[300], t[600];
    snprintf(prof, sizeof prof, "%s/sys", dir);
    snprintf(swlog, sizeof swlog, "%s/switch.log", dir);
    snprintf(nixenv, sizeof nixenv, "%s/nix-env", dir);
    for (int g = 1; g <= 2; g++) {
        snprintf(p, sizeof p, "%s/store-g%d/bin", dir, g);
        char cmd[400];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
        assert_int_equal(system(cmd), 0);
        snprintf(p, sizeof p, "%s/store-g%d/bin/switch-to-configuration", dir, g);
        snprintf(t, sizeof t, "#!/bin/sh\necho \"gen%d $*\" >>'%s'\n", g, swlog);
        write_exe(p, t);
        snprintf(p, sizeof p, "%s-%d-link", prof, g);
        snprintf(t, sizeof t, "%s/store-g%d", dir, g);
        assert_int_equal(symlink(t, p), 0);
    }
    assert_int_equal(symlink("sys-2-link", prof), 0);
    write_exe(nixenv, "#!/bin/sh\n# nix-env -p PROFILE --switch-generation N\n"
                      "[ \"$1\" = -p ] && [ \"$3\" = --switch-generation ] || exit 2\n"
                      "[ -e \"$2-$4-link\" ] || exit 1\n"
                      "ln -sfn \"$(basename \"$2\")-$4-link\" \"$2.tmp\" && mv -T \"$2.tmp\" \"$2\"\n");
}

static int current(void)
{
    char t[300];
    ssize_t n = readlink(prof, t, sizeof t - 1);
    if (n <= 0)
        return -1;
    t[n] = '\0';
    return atoi(t + 4);
}

/* The heal's rollback 2 -> 1 through act_run, as nixconfig runs it. */
static void heal_switch(uint64_t heal)
{
    act_context c = heal_ctx(heal);
    c.action_flags = HEALER_ACTION_ROLLBACK;
    const char *argv[] = { nixenv, "-p", prof, "--switch-generation", "1", NULL };
    char out[256], m[512];
    int st = -1;
    assert_int_equal(act_run(act, &c, argv, 10, out, sizeof out, &st, m, sizeof m), HEALER_OK);
    assert_int_equal(current(), 1);
}

static size_t log_lines(void)
{
    FILE *f = fopen(swlog, "r");
    size_t n = 0;
    int ch;
    while (f && (ch = fgetc(f)) != EOF)
        n += ch == '\n';
    if (f)
        fclose(f);
    return n;
}

static void test_generation_switched_back(void **state)
{
    (void)state;
    make_profile();
    heal_switch(21);
    json_t *recs = changelog_select(cl, 21, 0);
    json_t *r = json_array_get(recs, 0);
    assert_string_equal(json_string_value(json_object_get(r, "kind")), "switch_generation");
    assert_int_equal(json_integer_value(json_object_get(r, "generation_before")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "generation_after")), 1);
    assert_string_equal(json_string_value(json_object_get(r, "target")), prof);
    json_decref(recs);

    rb_ok = 1;
    rb_done = 0;
    json_t *o;
    pitr_req rq = { .heal_id = 21, .dry_run = 1, .rollback_ok = rollback_ok,
                    .rollback_done = rollback_done };
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "would");
    json_decref(o);
    assert_int_equal(current(), 1);
    assert_int_equal(log_lines(), 0);
    assert_int_equal(rb_done, 0);

    rb_ok = 0;   /* the day's rollbacks are used up */
    rq.dry_run = 0;
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "refused");
    assert_non_null(strstr(json_string_value(json_object_get(item0(o), "message")),
                           "max_rollbacks_per_day"));
    json_decref(o);
    assert_int_equal(current(), 1);

    rb_ok = 1;
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "undone");
    json_decref(o);
    assert_int_equal(current(), 2);
    assert_int_equal(log_lines(), 1);   /* generation 2's switch-to-configuration switch */
    assert_int_equal(rb_done, 1);
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "already_undone");
    json_decref(o);
}

static void test_generation_moved_or_gone(void **state)
{
    (void)state;
    make_profile();
    heal_switch(22);
    /* someone switched it since (to 2 by hand, then a third link): not ours to move */
    char g3[300], t[300];
    snprintf(g3, sizeof g3, "%s-3-link", prof);
    snprintf(t, sizeof t, "%s/store-g1", dir);
    assert_int_equal(symlink(t, g3), 0);
    assert_int_equal(unlink(prof), 0);
    assert_int_equal(symlink("sys-3-link", prof), 0);
    json_t *o;
    pitr_req rq = { .heal_id = 22 };
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "refused");
    assert_non_null(strstr(json_string_value(json_object_get(item0(o), "message")),
                           "is at generation 3 now, not the 1"));
    json_decref(o);
    assert_int_equal(current(), 3);
    /* back at 1, generation 2 deleted: nothing to switch back to */
    assert_int_equal(unlink(prof), 0);
    assert_int_equal(symlink("sys-1-link", prof), 0);
    char g2[300];
    snprintf(g2, sizeof g2, "%s-2-link", prof);
    assert_int_equal(unlink(g2), 0);
    assert_int_equal(act_pitr(act, cl, &rq, &o), HEALER_OK);
    assert_string_equal(result0(o), "gone");
    assert_non_null(strstr(json_string_value(json_object_get(item0(o), "message")),
                           "generation 2 of"));
    json_decref(o);
    assert_int_equal(current(), 1);
    assert_int_equal(log_lines(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stop_undone_dry_run_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exited_process_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reused_pid_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protected_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_not_undoable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_switched_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_moved_or_gone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
