/* actuators_run.c — commands without a shell: act_run (an action: dry-run, audit) and act_probe
 * (a read-only measurement), with a timeout that kills the whole process group, and a guard
 * process that kills that group if the agent dies first. */
#include "actuators_int.h"
#include "dryrun.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---------------------------------------------------------------------------------------
 * Commands */

/* The executable for argv[0], resolved in the parent: execvp's PATH search is not
 * async-signal-safe after fork in a threaded process. */
static int resolve_exe(const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    const char *p = path;
    while (*p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0 && n + strlen(name) + 2 <= len) {
            snprintf(out, len, "%.*s/%s", (int)n, p, name);
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
                return 0;
        }
        p += n;
        if (*p == ':')
            p++;
    }
    errno = ENOENT;
    return -1;
}

/* Moves fd to 3 or above (close-on-exec): when the agent runs with 0, 1 or 2 closed, a pipe
 * may land there and the child's dup2 onto 0..2 would clobber it. */
static int fd_above2(int fd)
{
    if (fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

/* ---------------------------------------------------------------------------------------
 * The guard: the agent's direct child, leader of the command's process group. The agent
 * enforces a command's timeout; if the agent dies (kill -9, OOM, a crash) nobody would, and a
 * risky step could run on unbounded, overlapping the next holder of a fleet slot once the dead
 * agent's lease expires. The kernel tells the guard of its parent's death (PR_SET_PDEATHSIG,
 * as SIGTERM) and the guard kills the whole group, itself included. Otherwise it only waits and
 * exits with the command's status (a signal as 128 + N, which is how the agent reports it).
 * It runs between fork and exec of a threaded process: async-signal-safe calls only. */

/* The group named by the guard's own pid, never "my group" (kill(0)): had setpgid failed, that
 * would be the agent's group, and the agent's shell or supervisor with it. */
static void guard_kill_group(void)
{
    kill(-getpid(), SIGKILL);
}

static void guard_on_parent_death(int sig)
{
    (void)sig;
    guard_kill_group();
}

__attribute__((noreturn)) static void guard_run(pid_t cmd, pid_t agent)
{
    /* Its copies of the output pipe and the exec-error pipe go: the agent must see EOF when
     * the command closes them, and the exec error only from the command. */
    close(0);
    close(1);
    close(2);
    close(3);
    /* In ps and top it is the step's guard, not a second agent. */
    prctl(PR_SET_NAME, "healerd-guard", 0, 0, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = guard_on_parent_death;
    sigaction(SIGTERM, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != agent)  /* the agent died before the line above took effect */
        guard_kill_group();
    int st = 0;
    while (waitpid(cmd, &st, 0) < 0)
        if (errno != EINTR)
            _exit(127);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 127);
}

/* actuator is "run" (an action: honours dry-run, audited) or "probe" (a read-only measurement:
 * runs in dry-run too, not audited). */
static int run_command(actuators *a, const act_context *c, const char *actuator,
                       const char *const argv[], double timeout_s, char *out, size_t out_len,
                       int *exit_status, char *msg, size_t len)
{
    if (out && out_len)
        out[0] = '\0';
    if (exit_status)
        *exit_status = -1;
    if (!a) {
        setmsg(msg, len, "run: no actuators");
        return HEALER_E_INVAL;
    }
    if (!c)
        c = &no_context;
    char m[HEALER_MSG_MAX], cmdline[256];
    json_t *params = json_object();
    json_t *jargv = json_array();
    cmdline[0] = '\0';
    size_t argc = 0;
    for (; argv && argv[argc] && argc < 4096; argc++) {
        json_array_append_new(jargv, jstr(argv[argc]));
        size_t cl = strlen(cmdline);
        if (cl + 2 < sizeof cmdline)
            snprintf(cmdline + cl, sizeof cmdline - cl, "%s%s", cl ? " " : "", argv[argc]);
    }
    json_object_set_new(params, "argv", jargv);
    json_object_set_new(params, "timeout_s", json_real(isfinite(timeout_s) ? timeout_s : 0));
    const char *target = argv && argv[0] ? argv[0] : "";
    if (healer_rules_check_run(argv, timeout_s, m, sizeof m) != HEALER_OK || argv[argc]) {
        if (argv && argv[argc])
            setmsg(m, sizeof m, "run: more than 4096 arguments");
        return finish(a, c, actuator, target, params, HEALER_E_INVAL, m, msg, len);
    }
    /* A rollback counts against limits.max_rollbacks_per_day only through its flag: a command
     * the rules recognise as one is refused from an unflagged action, and always from a probe
     * (probes run in dry-run and are not audited). */
    int probe = strcmp(actuator, "probe") == 0;
    if (healer_rules_argv_is_rollback(argv) &&
        (probe || (c->policy && !(c->action_flags & HEALER_ACTION_ROLLBACK)))) {
        setmsg(m, sizeof m, "%s: '%s' rolls the system back: %s", actuator, cmdline,
               probe ? "never from probe_run; use act_run in an action flagged "
                       "HEALER_ACTION_ROLLBACK"
                     : "only an action flagged HEALER_ACTION_ROLLBACK may (it counts against "
                       "limits.max_rollbacks_per_day)");
        return finish(a, c, actuator, target, params, HEALER_E_DENIED, m, msg, len);
    }
    if (!probe)
        changes_run_before(argv, params);
    if (strcmp(actuator, "probe") != 0 && is_dry(a, c)) {
        healer_dry_run(m, sizeof m, cmdline, timeout_s);
        return finish(a, c, actuator, target, params, HEALER_DRY_RUN, m, msg, len);
    }
    char exe[PATH_MAX];
    if (resolve_exe(argv[0], exe, sizeof exe) < 0) {
        setmsg(m, sizeof m, "cannot run '%s': %s", argv[0],
               strchr(argv[0], '/') ? strerror(errno) : "not found on PATH");
        return finish(a, c, actuator, target, params, HEALER_E_NOTFOUND, m, msg, len);
    }
    /* Everything the child needs is prepared here: after fork in a threaded process only
     * async-signal-safe calls are allowed. */
    struct rlimit rl;
    int maxfd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                rl.rlim_cur < 1048576 ? (int)rl.rlim_cur : 65536;
    int outp[2], errp[2];
    if (pipe2(outp, O_CLOEXEC) < 0) {
        setmsg(m, sizeof m, "run %s: pipe: %s", argv[0], strerror(errno));
        return finish(a, c, actuator, target, params, HEALER_E_IO, m, msg, len);
    }
    if (pipe2(errp, O_CLOEXEC) < 0) {
        setmsg(m, sizeof m, "run %s: pipe: %s", argv[0], strerror(errno));
        close(outp[0]);
        close(outp[1]);
        return finish(a, c, actuator, target, params, HEALER_E_IO, m, msg, len);
    }
    outp[0] = fd_above2(outp[0]);
    outp[1] = fd_above2(outp[1]);
    errp[0] = fd_above2(errp[0]);
    errp[1] = fd_above2(errp[1]);
    if (outp[0] < 0 || outp[1] < 0 || errp[0] < 0 || errp[1] < 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (outp[i] >= 0)
                close(outp[i]);
            if (errp[i] >= 0)
                close(errp[i]);
        }
        setmsg(m, sizeof m, "run %s: fcntl: %s", argv[0], strerror(e));
        return finish(a, c, actuator, target, params, HEALER_E_IO, m, msg, len);
    }
    double start = mono_now(), deadline = start + timeout_s;
    pid_t agent = getpid();
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(outp[0]); close(outp[1]); close(errp[0]); close(errp[1]);
        setmsg(m, sizeof m, "run %s: fork: %s", argv[0], strerror(e));
        return finish(a, c, actuator, target, params, HEALER_E_IO, m, msg, len);
    }
    if (child == 0) {
        /* Own process group: a timeout kills the command and whatever it started. */
        setpgid(0, 0);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++)
            if (s != SIGKILL && s != SIGSTOP)
                sigaction(s, &dfl, NULL);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(outp[1], 1) < 0 || dup2(outp[1], 2) < 0)
            goto child_fail;
        /* errp[1] is O_CLOEXEC: it closes itself on a successful exec. */
        if (errp[1] != 3) {
            if (dup3(errp[1], 3, O_CLOEXEC) < 0)
                goto child_fail;
        }
#ifdef SYS_close_range
        if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
#endif
            for (int fd = 4; fd < maxfd; fd++)
                close(fd);
        pid_t cmd = fork();
        if (cmd < 0)
            goto child_fail;
        if (cmd > 0)
            guard_run(cmd, agent);  /* does not return */
        /* The agent runs at nice -5 and oom_score_adj -900 (healerd.service) so that it outlives
         * the hogs it stops; a command it runs (nix-collect-garbage, nixos-rebuild, sync) is
         * just another process and must not inherit that, least of all when memory is short.
         * Both only ever go up here, which needs no privilege. The guard keeps the agent's: it
         * is small, and an OOM kill of it would leave the command unguarded. */
        setpriority(PRIO_PROCESS, 0, 0);
        int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (adj >= 0) {
            ssize_t aw = write(adj, "0", 1);
            (void)aw;
            close(adj);
        }
        execve(exe, (char *const *)argv, environ);
    child_fail:;
        int e = errno;
        ssize_t w = write(3, &e, sizeof e);
        (void)w;
        _exit(127);
    }
    setpgid(child, child);
    close(outp[1]);
    close(errp[1]);
    int exec_errno = 0;
    ssize_t er;
    do
        er = read(errp[0], &exec_errno, sizeof exec_errno);
    while (er < 0 && errno == EINTR);
    close(errp[0]);
    if (er == (ssize_t)sizeof exec_errno) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            ;
        close(outp[0]);
        setmsg(m, sizeof m, "cannot run '%s': %s", exe, strerror(exec_errno));
        return finish(a, c, actuator, target, params,
                      exec_errno == ENOENT ? HEALER_E_NOTFOUND : HEALER_E_IO, m, msg, len);
    }

    int pidfd = pidfd_open_(child);
    size_t got = 0, total = 0;
    int out_open = 1, exited = 0, timed_out = 0, status = 0;
    char scratch[4096];
    while (out_open || !exited) {
        if (!exited) {
            pid_t w = waitpid(child, &status, WNOHANG);
            if (w == child)
                exited = 1;
        }
        if (exited && out_open) {
            /* The command exited; a background child may hold the pipe open: take what is
             * already there and stop. */
            fcntl(outp[0], F_SETFL, O_NONBLOCK);
        }
        if (exited && !out_open)
            break;
        double left = deadline - mono_now();
        if (left <= 0 && !exited) {
            timed_out = 1;
            break;
        }
        struct pollfd pf[2];
        int np = 0;
        if (out_open)
            pf[np++] = (struct pollfd){ .fd = outp[0], .events = POLLIN };
        if (!exited && pidfd >= 0)
            pf[np++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
        int ms = exited ? 0 : (int)(left * 1000) + 1;
        if (pidfd < 0 && !exited && ms > 10)
            ms = 10;
        int pr = np ? poll(pf, (nfds_t)np, ms) : (sleep_ms(ms), 0);
        if (pr < 0 && errno != EINTR)
            break;
        if (out_open && (exited || (pr > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))))) {
            for (;;) {
                char *dst = scratch;
                size_t room = sizeof scratch;
                if (out && out_len > 1 && got < out_len - 1) {
                    dst = out + got;
                    room = out_len - 1 - got;
                }
                ssize_t r = read(outp[0], dst, room);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0) {
                    if (r == 0 || exited || (errno != EAGAIN && errno != EWOULDBLOCK))
                        out_open = 0;
                    break;
                }
                if (dst != scratch)
                    got += (size_t)r;
                total += (size_t)r;
                if (!exited)
                    break;  /* back to poll: keeps the deadline checked */
            }
        }
    }
    if (timed_out) {
        kill(-child, SIGKILL);
        kill(child, SIGKILL);
    }
    if (!exited)
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            ;
    if (pidfd >= 0)
        close(pidfd);
    close(outp[0]);
    if (out && out_len)
        out[got < out_len ? got : out_len - 1] = '\0';
    int code = WIFEXITED(status) ? WEXITSTATUS(status)
             : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
    if (exit_status)
        *exit_status = code;
    double took = mono_now() - start;
    int truncated = out && out_len ? total > got : total > 0;
    json_object_set_new(params, "exit_status", json_integer(code));
    if (!probe)
        changes_run_after(params);
    json_object_set_new(params, "output_bytes", json_integer((json_int_t)total));
    json_object_set_new(params, "seconds", json_real(took));
    if (out && got) {
        char head[257];
        size_t hn = got < 256 ? got : 256;
        memcpy(head, out, hn);
        head[hn] = '\0';
        json_object_set_new(params, "output_head", jstr(head));
    }
    int rc;
    if (timed_out) {
        setmsg(m, sizeof m, "%s: timed out after %.3g s: killed its process group",
               cmdline, timeout_s);
        rc = HEALER_E_TIMEOUT;
    } else if (code == 0) {
        setmsg(m, sizeof m, "ran %s: exit 0, %zu bytes of output%s (%.3f s)", cmdline, total,
               truncated ? ", truncated" : "", took);
        rc = HEALER_OK;
    } else {
        setmsg(m, sizeof m, "ran %s: exit status %d, %zu bytes of output%s (%.3f s)", cmdline,
               code, total, truncated ? ", truncated" : "", took);
        rc = HEALER_E_IO;
    }
    return finish(a, c, actuator, target, params, rc, m, msg, len);
}

int act_run(actuators *a, const act_context *c, const char *const argv[], double timeout_s,
            char *out, size_t out_len, int *exit_status, char *msg, size_t len)
{
    return run_command(a, c, "run", argv, timeout_s, out, out_len, exit_status, msg, len);
}

int act_probe(actuators *a, const act_context *c, const char *const argv[], double timeout_s,
              char *out, size_t out_len, int *exit_status, char *msg, size_t len)
{
    return run_command(a, c, "probe", argv, timeout_s, out, out_len, exit_status, msg, len);
}
