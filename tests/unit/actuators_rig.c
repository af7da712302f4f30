/* actuators_rig.c — the actuator tests' shared rig and children (actuators_rig.h). It only
 * ever signals, freezes or removes what the test itself started or made. */
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
#include "clock.h"

char tmp[128];

const char *const protect[3] = { "sshd", "healer-prot", "healer-protected-long" };

/* What a test created, so a failing test (cmocka longjmps out of it) still leaves no child,
 * frozen cgroup or cgroup directory behind. */
pid_t kids[64];
size_t n_kids;
char made_cgroups[8][300];
size_t n_cgroups;

/* ---- helpers -------------------------------------------------------------------------- */

void rm_rf(const char *path)
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

void msleep(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

void put_file(const char *path, const char *content, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    fchmod(fd, mode);
    close(fd);
}

char *get_file(const char *path)
{
    static char buf[8192];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

void mkdirs(const char *path)
{
    char b[1024];
    snprintf(b, sizeof b, "%s", path);
    for (char *p = b + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(b, 0755);
            *p = '/';
        }
    mkdir(b, 0755);
}

/* Cleanups age files by the newest of atime, mtime and ctime, and ctime cannot be set back: a
 * test makes files old by moving the agent's wall clock forward instead (files it does not age
 * are then that old too). */
static double clock_shift_s;

static double shifted_now(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9 + clock_shift_s;
}

void cleanup_clock(double shift_days)
{
    clock_shift_s = shift_days * 86400.0;
    clock_override(shift_days != 0 ? shifted_now : NULL, NULL);
}

void age(const char *path, double days, int nofollow)
{
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec += (time_t)clock_shift_s - (time_t)(days * 86400);
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0), 0);
}

int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* An actuators instance with its own state_dir and audit log, and a count of audit lines
 * seen so far, so each call can be checked to add exactly one. */

act_config base_cfg(void)
{
    act_config c = { 0 };
    c.proc_root = "/proc";
    c.sys_root = "/sys";
    c.protect_names = protect;
    c.n_protect_names = 3;
    c.protect_min_uid = 1000;
    c.protect_max_uid = 60000;
    c.scope_cgroup = "";
    return c;
}

void rig_open(rig *r, const char *name, act_config cfg)
{
    memset(r, 0, sizeof *r);
    snprintf(r->state, sizeof r->state, "%s/%s", tmp, name);
    char err[256];
    r->aud = audit_open(r->state, err, sizeof err);
    assert_non_null(r->aud);
    cfg.state_dir = r->state;
    r->a = actuators_new(&cfg, r->aud);
    assert_non_null(r->a);
}

void rig_close(rig *r)
{
    actuators_free(r->a);
    audit_close(r->aud);
}

/* Asserts the log gained exactly one line, every line is a JSON object, and the new one is
 * for this actuator with this result. Returns the new line (caller decrefs). */
json_t *rig_line(rig *r, const char *actuator, const char *result)
{
    char path[300];
    snprintf(path, sizeof path, "%s/audit.jsonl", r->state);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    json_t *last = NULL;
    while ((len = getline(&line, &cap, f)) > 0) {
        assert_true(line[len - 1] == '\n');
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        if (!j)
            fail_msg("audit line %zu is not JSON (%s): %s", n + 1, e.text, line);
        json_decref(last);
        last = j;
        n++;
    }
    free(line);
    fclose(f);
    if (n != r->seen + 1)
        fail_msg("expected exactly one new audit line for %s, got %zu", actuator, n - r->seen);
    r->seen = n;
    const char *act = json_string_value(json_object_get(last, "actuator"));
    const char *res = json_string_value(json_object_get(last, "result"));
    if (!act || strcmp(act, actuator) || !res || strcmp(res, result))
        fail_msg("audit line: actuator %s result %s, expected %s %s (message: %s)",
                 act ? act : "null", res ? res : "null", actuator, result,
                 json_string_value(json_object_get(last, "message")));
    assert_int_equal(json_object_size(last), 12);
    assert_true(json_is_true(json_object_get(last, "dry_run")) == !strcmp(result, "dry_run"));
    return last;
}


const act_context ctx = { .plugin = "test", .heal_id = 7, .issue_type = "t_issue",
                                 .action = "test_action" };

/* ---- children ------------------------------------------------------------------------- */


void *idle_thread(void *p)
{
    (void)p;
    for (;;)
        pause();
    return NULL;
}

pid_t spawn(const child_opts *o)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (o->oom_never) {
            int fd = open("/proc/self/oom_score_adj", O_WRONLY);
            if (fd < 0 || write(fd, "-1000", 5) != 5)
                _exit(90);
            close(fd);
        }
        if (o->ignore_term)
            signal(SIGTERM, SIG_IGN);
        if (o->as_user || o->uid) {
            uid_t u = o->uid ? (uid_t)o->uid : USER_UID;
            if (setgroups(0, NULL) < 0 || setgid(u) < 0 || setuid(u) < 0)
                _exit(91);
        }
        /* After setuid: a credential change clears the parent-death signal. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(92);
        if (o->name)
            prctl(PR_SET_NAME, o->name);
        for (int i = 0; i < o->threads; i++) {
            pthread_t t;
            pthread_create(&t, NULL, idle_thread, NULL);
        }
        if (o->exec) {
            close(p[1]);
            execl(o->exec, o->exec, "60", (char *)NULL);
            _exit(93);
        }
        char ok = 1;
        if (write(p[1], &ok, 1) != 1)
            _exit(94);
        close(p[1]);
        if (o->counter)
            for (;;)
                (*o->counter)++;
        for (;;)
            pause();
    }
    close(p[1]);
    if (n_kids < sizeof kids / sizeof *kids)
        kids[n_kids++] = pid;
    char b;
    if (!o->exec && read(p[0], &b, 1) != 1) {
        int st;
        waitpid(pid, &st, 0);
        close(p[0]);
        if (o->oom_never && WIFEXITED(st) && WEXITSTATUS(st) == 90)
            return -1;  /* no CAP_SYS_RESOURCE: the caller says so */
        fail_msg("child %d failed to start (status 0x%x)", (int)pid, st);
    }
    close(p[0]);
    if (o->exec) {
        /* Wait until the exec has happened. */
        char path[64], exe[256];
        snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
        for (int i = 0; i < 500; i++) {
            ssize_t n = readlink(path, exe, sizeof exe - 1);
            if (n > 0) {
                exe[n] = '\0';
                if (strcmp(exe, o->exec) == 0 || strstr(exe, "sleep"))
                    break;
            }
            msleep(10);
        }
    }
    return pid;
}

int alive(pid_t pid)
{
    int st;
    return waitpid(pid, &st, WNOHANG) == 0;
}

void reap(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, WNOHANG) != 0)  /* reaped already: not ours to signal any more */
        return;
    kill(pid, SIGKILL);   /* our own, unreaped child */
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
}

uint64_t start_of(actuators *a, pid_t pid)
{
    healer_proc p;
    assert_int_equal(act_proc_read(a, pid, &p), HEALER_OK);
    return p.start_time;
}

/* ---- setup ---------------------------------------------------------------------------- */

int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/test_actuators.XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    chmod(tmp, 0755);
    return 0;
}


/* After each test: thaw what we made, kill our children still alive, remove our cgroups. */
int cleanup(void **state)
{
    (void)state;
    for (size_t i = n_cgroups; i-- > 0;) {
        char f[400];
        snprintf(f, sizeof f, "%s/freezer.state", made_cgroups[i]);
        int fd = open(f, O_WRONLY);
        if (fd >= 0) {
            if (write(fd, "THAWED", 6) < 0) {}
            close(fd);
        }
        snprintf(f, sizeof f, "%s/cgroup.freeze", made_cgroups[i]);
        fd = open(f, O_WRONLY);
        if (fd >= 0) {
            if (write(fd, "0", 1) < 0) {}
            close(fd);
        }
    }
    for (size_t i = 0; i < n_kids; i++) {
        int st;
        /* 0: still our unreaped child; ECHILD: reaped already (its pid may be reused by a
         * process that is not ours, so it is never signalled). */
        if (waitpid(kids[i], &st, WNOHANG) == 0) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], &st, 0);
        }
    }
    n_kids = 0;
    for (size_t i = n_cgroups; i-- > 0;)
        cg_remove(made_cgroups[i]);
    n_cgroups = 0;
    return 0;
}

int teardown(void **state)
{
    cleanup(state);
    rm_rf(tmp);
    return 0;
}

/* Creates a cgroup directory; 0, or errno. */
int cg_make(const char *dir)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return errno;
    if (n_cgroups < sizeof made_cgroups / sizeof *made_cgroups)
        snprintf(made_cgroups[n_cgroups++], sizeof made_cgroups[0], "%s", dir);
    return 0;
}

void cg_move(const char *dir, pid_t pid)
{
    char f[512], v[32];
    snprintf(f, sizeof f, "%s/cgroup.procs", dir);
    snprintf(v, sizeof v, "%d", (int)pid);
    int fd = open(f, O_WRONLY);
    assert_true(fd >= 0);
    if (write(fd, v, strlen(v)) != (ssize_t)strlen(v))
        fail_msg("moving %d into %s: %s", (int)pid, dir, strerror(errno));
    close(fd);
}

void cg_remove(const char *dir)
{
    for (int i = 0; i < 200; i++) {  /* the kernel frees a cgroup shortly after its last task */
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY)
            break;
        msleep(10);
    }
    print_message("could not remove cgroup %s: %s\n", dir, strerror(errno));
}
