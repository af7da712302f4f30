/* healer_mock_act.c — the mock host's actuators (act_*), probe_run and action_time_left: each
 * call checked against the rules and recorded as a healer_mock_call, with forced results. */
#include "healer_mock_int.h"

/* ---- actuators ---------------------------------------------------------------------------- */

static const char *const act_names[] = {
    "signal", "renice", "write_file", "run", "remove_old_files", "freeze_cgroup"
};

const char *healer_mock_act_name(healer_mock_act act)
{
    return (unsigned)act < HEALER_MOCK_ACT_COUNT ? act_names[act] : "unknown";
}

void hmock_free_call(void *p)
{
    healer_mock_call *c = p;
    free((char *)c->path);
    free((char *)c->value);
    for (size_t i = 0; c->argv && i < c->argc; i++)
        free((char *)c->argv[i]);
    free((void *)c->argv);
    free((char *)c->opts.pattern);
    free(c);
}

/* Records the call and applies the callback rule. Returns the record (NULL when out of
 * memory) and *rc = HEALER_E_DENIED when the call may not be made from here. */
static healer_mock_call *act_begin(healer_mock *m, healer_mock_act act, int *rc)
{
    healer_mock_call *c = calloc(1, sizeof *c);
    if (!c || hmock_vec_push(&m->calls, c) != HEALER_OK) {
        free(c);
        *rc = HEALER_E_NOMEM;
        return NULL;
    }
    c->act = act;
    c->callback = hmock_cb_names[m->cb];
    *rc = HEALER_OK;
    m->last_message[0] = '\0';
    char fn[32];
    snprintf(fn, sizeof fn, "act_%s", act_names[act]);
    if (!hmock_allowed_fn(m, HEALER_FN_ACTUATOR, fn))
        *rc = HEALER_E_DENIED;
    c->rc = *rc;
    return c;
}

/* The forced rc, when the test set one; else -1000 (none). */
static int act_forced(healer_mock *m, healer_mock_act act)
{
    return m->forced_set[act] ? m->forced_rc[act] : -1000;
}

/* dry: the dry-run line in the agent's own words (dryrun.c); NULL = "would <what>". */
static int act_end_dry(healer_mock *m, healer_mock_call *c, int rc, const char *what,
                       const char *dry)
{
    if (rc == HEALER_OK && m->dry_run)
        rc = HEALER_DRY_RUN;
    if (rc == HEALER_DRY_RUN && dry)
        hmock_set_message(m, "%s", dry);
    else if (rc == HEALER_DRY_RUN)
        hmock_set_message(m, "would %s", what);
    else if (rc == HEALER_OK)
        hmock_set_message(m, "%s", what);
    else if (rc < 0 && (strcmp(m->last_message, "ok") == 0 || !m->last_message[0]))
        hmock_set_message(m, "%s: %s", what, healer_rc_str(rc));
    c->rc = rc;
    return rc;
}

static int act_end(healer_mock *m, healer_mock_call *c, int rc, const char *what)
{
    return act_end_dry(m, c, rc, what, NULL);
}

/* The first line of a fixture file, for "now '...'" (NULL when there is none). */
static const char *fixture_first_line(const char *path, char *buf, size_t len)
{
    FILE *f = path ? fopen(path, "re") : NULL;
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

/* Process actuators: the process must still be the one the plugin saw, and not protected. */
static int act_check_proc(healer_mock *m, pid_t pid, uint64_t start_time)
{
    healer_proc p;
    int rc = hmock_proc_read(m, pid, &p);
    if (rc == HEALER_E_GONE || (rc == HEALER_OK && p.start_time != start_time)) {
        hmock_set_message(m, "pid %d is gone (exited or reused)", (int)pid);
        return HEALER_E_GONE;
    }
    if (rc != HEALER_OK)
        return rc;
    /* SYSTEM counts only when the operator allows it (plugins.<name>.allow_system). */
    healer_rules_policy pol;
    hmock_policy(m, &pol);
    int asked = m->cur_action && (m->cur_action->flags & HEALER_ACTION_SYSTEM);
    return hmock_proc_allowed(m, &p, asked && pol.allow_system, asked && !pol.allow_system);
}

static int h_act_signal(healer_ctx *ctx, pid_t pid, uint64_t start_time, int sig, double grace_s)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_SIGNAL, &rc);
    if (!c || rc < 0)
        return rc;
    c->pid = pid;
    c->start_time = start_time;
    c->sig = sig;
    c->grace_s = grace_s;
    char what[128];
    snprintf(what, sizeof what, "send signal %d to pid %d", sig, (int)pid);
    if (healer_rules_check_signal(pid, sig, grace_s, m->last_message,
                                  sizeof m->last_message) != HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if ((rc = act_forced(m, HEALER_MOCK_ACT_SIGNAL)) != -1000)
        return act_end(m, c, rc, what);
    healer_proc p;
    char dry[HEALER_MSG_MAX];
    rc = act_check_proc(m, pid, start_time);
    healer_dry_signal(dry, sizeof dry, pid,
                      hmock_proc_read(m, pid, &p) == HEALER_OK ? p.name : "?", sig, grace_s);
    return act_end_dry(m, c, rc, what, dry);
}

static int h_act_renice(healer_ctx *ctx, pid_t pid, uint64_t start_time, int nice)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_RENICE, &rc);
    if (!c || rc < 0)
        return rc;
    c->pid = pid;
    c->start_time = start_time;
    c->nice = nice;
    char what[128];
    snprintf(what, sizeof what, "renice pid %d to %d", (int)pid, nice);
    if (healer_rules_check_renice(pid, nice, m->last_message, sizeof m->last_message) != HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if ((rc = act_forced(m, HEALER_MOCK_ACT_RENICE)) != -1000)
        return act_end(m, c, rc, what);
    healer_proc p;
    char dry[HEALER_MSG_MAX];
    rc = act_check_proc(m, pid, start_time);
    int known = hmock_proc_read(m, pid, &p) == HEALER_OK;
    healer_dry_renice(dry, sizeof dry, pid, known ? p.name : "?", known ? p.nice : 0, nice);
    return act_end_dry(m, c, rc, what, dry);
}

static const char *write_dry(const char *path, const char *value, char *dry, size_t len)
{
    char old[256];
    healer_dry_write(dry, len, path, value, fixture_first_line(path, old, sizeof old));
    return dry;
}

static int h_act_write_file(healer_ctx *ctx, const char *path, const char *value)
{
    char dry[HEALER_MSG_MAX];
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_WRITE_FILE, &rc);
    if (!c || rc < 0)
        return rc;
    c->path = path ? strdup(path) : NULL;
    c->value = value ? strdup(value) : NULL;
    char what[HEALER_MSG_MAX];
    snprintf(what, sizeof what, "write \"%.64s\" to %.300s", value ? value : "",
             path ? path : "(null)");
    if (healer_rules_check_write_args(path, value, m->last_message,
                                      sizeof m->last_message) != HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if ((rc = act_forced(m, HEALER_MOCK_ACT_WRITE_FILE)) != -1000)
        return act_end(m, c, rc, what);
    char norm[4096];
    if (healer_rules_normalize(path, norm, sizeof norm) != 0) {
        hmock_set_message(m, "act_write_file: %s has a \"..\" component", path);
        return act_end(m, c, HEALER_E_SCOPE, what);
    }
    /* As the agent: under proc_root or sys_root the deny list and write_allow decide (on the
     * path as given: the mock does not resolve symlinks in a fixture tree); else a declared
     * path must hold it. */
    const char *root = hmock_path_under(norm, m->proc_root) ? m->proc_root
                     : hmock_path_under(norm, m->sys_root) ? m->sys_root : NULL;
    if (root) {
        healer_rules_policy pol;
        hmock_policy(m, &pol);
        const char *rel = norm + strlen(root);
        rc = healer_rules_check_write(root == m->proc_root ? 'p' : 's', rel, &pol,
                                      m->last_message, sizeof m->last_message);
        return act_end_dry(m, c, rc, what, write_dry(norm, value, dry, sizeof dry));
    }
    if (!hmock_path_declared(m, norm)) {
        hmock_set_message(m, "act_write_file %s: real path %s is not under proc_root, sys_root or "
                          "a declared path", path, norm);
        return act_end(m, c, HEALER_E_SCOPE, what);
    }
    return act_end_dry(m, c, HEALER_OK, what, write_dry(norm, value, dry, sizeof dry));
}

static int h_act_run(healer_ctx *ctx, const char *const argv[], double timeout_s, char *out,
                     size_t out_len, int *exit_status)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_RUN, &rc);
    if (out && out_len)
        out[0] = '\0';
    if (!c || rc < 0)
        return rc;
    size_t argc = 0;
    while (argv && argv[argc] && argc < 4096)
        argc++;
    const char **copy = calloc(argc + 1, sizeof *copy);
    if (copy) {
        for (size_t i = 0; i < argc; i++)
            copy[i] = hmock_xstrdup(argv[i]);
        c->argv = copy;
        c->argc = argc;
    }
    c->timeout_s = timeout_s;
    char what[HEALER_MSG_MAX];
    snprintf(what, sizeof what, "run %.200s (timeout %g s)",
             argc ? argv[0] : "(null)", timeout_s);
    if (healer_rules_check_run(argv, timeout_s, m->last_message, sizeof m->last_message) !=
        HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if (healer_rules_argv_is_rollback(argv) &&
        !(m->cur_action && (m->cur_action->flags & HEALER_ACTION_ROLLBACK))) {
        hmock_set_message(m, "run: '%s' rolls the system back: only an action flagged "
                          "HEALER_ACTION_ROLLBACK may (it counts against "
                          "limits.max_rollbacks_per_day)",
                          argv[0]);
        return act_end(m, c, HEALER_E_DENIED, what);
    }
    if ((rc = act_forced(m, HEALER_MOCK_ACT_RUN)) == -1000)
        rc = HEALER_OK;
    char cmdline[256] = "", dry[HEALER_MSG_MAX];
    for (size_t i = 0; i < argc; i++) { /* as the agent joins it */
        size_t cl = strlen(cmdline);
        if (cl + 2 < sizeof cmdline)
            snprintf(cmdline + cl, sizeof cmdline - cl, "%s%s", cl ? " " : "", argv[i]);
    }
    healer_dry_run(dry, sizeof dry, cmdline, timeout_s);
    rc = act_end_dry(m, c, rc, what, dry);
    if (rc == HEALER_OK) {
        if (out && out_len)
            snprintf(out, out_len, "%s", m->run_output ? m->run_output : "");
        if (exit_status)
            *exit_status = m->run_exit;
    }
    return rc;
}

static int h_act_remove_old_files(healer_ctx *ctx, const char *dir, double older_than_days,
                                  const healer_remove_opts *opts, uint64_t *freed, uint64_t *count)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (freed)
        *freed = 0;
    if (count)
        *count = 0;
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_REMOVE_OLD_FILES, &rc);
    if (!c || rc < 0)
        return rc;
    c->path = dir ? strdup(dir) : NULL;
    c->older_than_days = older_than_days;
    if (opts) {
        c->opts = *opts;
        c->opts.pattern = opts->pattern ? strdup(opts->pattern) : NULL;
        c->has_opts = 1;
    }
    char what[HEALER_MSG_MAX];
    snprintf(what, sizeof what, "remove files older than %g days under %.300s", older_than_days,
             dir ? dir : "(null)");
    if (healer_rules_check_remove(dir, older_than_days, m->last_message,
                                  sizeof m->last_message) != HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if ((rc = act_forced(m, HEALER_MOCK_ACT_REMOVE_OLD_FILES)) == -1000) {
        rc = HEALER_OK;
        if (hmock_has_dotdot(dir) || !hmock_path_declared(m, dir)) {
            hmock_set_message(m, "act_remove_old_files: %s was not declared with declare_path() in "
                              "init()", dir);
            rc = HEALER_E_SCOPE;
        }
    }
    char dry[HEALER_MSG_MAX];
    healer_dry_remove(dry, sizeof dry, dir, (unsigned long long)m->remove_count,
                      (unsigned long long)m->remove_freed,
                      m->remove_count ? "(files not listed by the mock)" : "",
                      "0 held open kept, 0 special files skipped");
    rc = act_end_dry(m, c, rc, what, dry);
    if (rc >= 0) {
        if (freed)
            *freed = m->remove_freed;
        if (count)
            *count = m->remove_count;
    }
    return rc;
}

static int h_act_freeze_cgroup(healer_ctx *ctx, const char *cgroup_dir, int freeze)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_FREEZE_CGROUP, &rc);
    if (!c || rc < 0)
        return rc;
    c->path = cgroup_dir ? strdup(cgroup_dir) : NULL;
    c->freeze = freeze;
    char what[HEALER_MSG_MAX];
    snprintf(what, sizeof what, "%s cgroup %.300s", freeze ? "freeze" : "thaw",
             cgroup_dir ? cgroup_dir : "(null)");
    if (healer_rules_check_freeze(cgroup_dir, freeze, m->last_message,
                                  sizeof m->last_message) != HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if ((rc = act_forced(m, HEALER_MOCK_ACT_FREEZE_CGROUP)) == -1000) {
        rc = HEALER_OK;
        char base[4096];
        snprintf(base, sizeof base, "%s/fs/cgroup", m->sys_root);
        if (hmock_has_dotdot(cgroup_dir) ||
            (cgroup_dir[0] == '/' && !hmock_path_under(cgroup_dir, base))) {
            hmock_set_message(m, "act_freeze_cgroup: %s is not under %s", cgroup_dir, base);
            rc = HEALER_E_SCOPE;
        }
    }
    /* As the agent: cgroup v2's cgroup.freeze when the fixture has one, else v1's freezer. */
    char file_path[4200], was[64], dry[HEALER_MSG_MAX];
    snprintf(file_path, sizeof file_path, "%s/cgroup.freeze", cgroup_dir);
    const char *file = "cgroup.freeze";
    const char *now = fixture_first_line(file_path, was, sizeof was);
    if (!now) {
        snprintf(file_path, sizeof file_path, "%s/freezer.state", cgroup_dir);
        file = "freezer.state";
        now = fixture_first_line(file_path, was, sizeof was);
    }
    size_t nprocs = 0;
    snprintf(file_path, sizeof file_path, "%s/cgroup.procs", cgroup_dir);
    FILE *pf = fopen(file_path, "re");
    for (int ch, line = 0; pf && (ch = fgetc(pf)) != EOF;) {
        if (ch != '\n' && !line)
            nprocs++;
        line = ch != '\n';
    }
    if (pf)
        fclose(pf);
    healer_dry_freeze(dry, sizeof dry, cgroup_dir, freeze, file, now ? now : "?", nprocs);
    return act_end_dry(m, c, rc, what, dry);
}

void hmock_sleep(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The mock has no engine timing the callback: inside execute/verify/restore/handle_request it
 * answers the agent's default agent.action_timeout (60 s), elsewhere +infinity, as the agent
 * does outside an action. */
static double h_action_time_left(healer_ctx *ctx)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m || !hmock_on_worker(m, "action_time_left"))
        return INFINITY;
    return (m->cb == CB_EXECUTE || m->cb == CB_VERIFY || m->cb == CB_RESTORE ||
            m->cb == CB_REQUEST) ? 60.0 : INFINITY;
}

/* Probes are read-only by contract, so the mock really runs them (a plugin's tests can use the
 * real nix-instantiate, systemctl...). argv without a shell, output captured, timeout kills. */
static int h_probe_run(healer_ctx *ctx, const char *const argv[], double timeout_s, char *out,
                       size_t out_len, int *exit_status)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (out && out_len)
        out[0] = '\0';
    if (exit_status)
        *exit_status = -1;
    if (!m || !hmock_on_worker(m, "probe_run"))
        return HEALER_E_DENIED;
    if (healer_rules_check_run(argv, timeout_s, m->last_message, sizeof m->last_message) !=
        HEALER_OK)
        return HEALER_E_INVAL;
    if (healer_rules_argv_is_rollback(argv)) {
        hmock_set_message(m, "probe: '%s' rolls the system back: never from probe_run; use act_run "
                          "in an action flagged HEALER_ACTION_ROLLBACK", argv[0]);
        return HEALER_E_DENIED;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return HEALER_E_IO;
    pid_t child = fork();
    if (child < 0) {
        close(p[0]);
        close(p[1]);
        return HEALER_E_IO;
    }
    if (child == 0) {
        setpgid(0, 0);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    char scratch[4096];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int timed_out = 0;
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        double left = timeout_s - ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9);
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pf = { .fd = p[0], .events = POLLIN };
        if (poll(&pf, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        char *dst = scratch;
        size_t room = sizeof scratch;
        if (out && out_len > 1 && got < out_len - 1) {
            dst = out + got;
            room = out_len - 1 - got;
        }
        ssize_t r = read(p[0], dst, room);
        if (r <= 0)
            break;
        if (dst != scratch)
            got += (size_t)r;
    }
    close(p[0]);
    if (timed_out)
        kill(-child, SIGKILL);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (out && out_len)
        out[got < out_len ? got : out_len - 1] = '\0';
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (exit_status)
        *exit_status = code;
    if (timed_out)
        return HEALER_E_TIMEOUT;
    if (code == 127)
        return HEALER_E_NOTFOUND;
    return code == 0 ? HEALER_OK : HEALER_E_IO;
}


/* The host table entries this file implements. */
void hmock_act_fill(healer_host *h)
{
    h->act_signal = h_act_signal;
    h->act_renice = h_act_renice;
    h->act_write_file = h_act_write_file;
    h->act_run = h_act_run;
    h->act_remove_old_files = h_act_remove_old_files;
    h->act_freeze_cgroup = h_act_freeze_cgroup;
    h->probe_run = h_probe_run;
    h->action_time_left = h_action_time_left;
}
