/* notify_exec.c — the exec hook: argv run directly (posix_spawn, never a shell, so nothing in an
 * event is ever parsed as shell syntax), the event in its environment only, stdin /dev/null,
 * stdout+stderr captured up to a bound for the log, killed with SIGKILL at its timeout. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "notify.h"

int notify_exec_run(char *const argv[], char *const env[], double timeout_s, char *out,
                    size_t out_len)
{
    if (out_len)
        out[0] = '\0';
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    /* the agent blocks signals it waits for with sigtimedwait: the hook must get defaults */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0); /* its own group: the timeout kills its children too */
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        snprintf(out, out_len, "cannot run %s: %s", argv[0], strerror(rc));
        return -1;
    }
    size_t got = 0;
    int killed = 0;
    double deadline = clock_mono() + timeout_s;
    for (;;) {
        double left = deadline - clock_mono();
        if (left <= 0) {
            kill(-pid, SIGKILL);
            killed = 1;
            break;
        }
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int r = poll(&pf, 1, (int)(left * 1000.0) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char buf[1024];
        ssize_t k = read(p[0], buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break; /* every writer closed: it exited (or closed its output) */
        /* keep reading past the bound so a chatty hook never blocks on a full pipe */
        if (out_len && got < out_len - 1) {
            size_t take = (size_t)k < out_len - 1 - got ? (size_t)k : out_len - 1 - got;
            memcpy(out + got, buf, take);
            got += take;
            out[got] = '\0';
        }
    }
    close(p[0]);
    int st = 0;
    if (!killed) {
        /* output closed; it should exit now, but a hook that closed stdout and lingers is still
         * held to its deadline */
        for (;;) {
            pid_t w = waitpid(pid, &st, WNOHANG);
            if (w == pid)
                break;
            if (w < 0 && errno != EINTR)
                return -1;
            if (clock_mono() >= deadline) {
                kill(-pid, SIGKILL);
                killed = 1;
                break;
            }
            usleep(10000);
        }
    }
    if (killed) {
        kill(-pid, SIGKILL); /* the group: a child of the hook holding on */
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}
