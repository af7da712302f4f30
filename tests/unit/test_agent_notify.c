/* test_agent_notify.c — the real healerd speaks systemd's notify protocol: READY=1 once it serves,
 * WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM,
 * exit 0. The socket is the test's own datagram socket; no systemd is involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
/* The daemon under test: killed by the teardown if an assertion ends the test early, so it
 * never outlives the test (0 once reaped, so a reused pid is never signalled). */
static pid_t agent_pid;

static int stop_agent(void **state)
{
    (void)state;
    if (agent_pid > 0) {
        kill(agent_pid, SIGKILL);
        waitpid(agent_pid, NULL, 0);
        agent_pid = 0;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}
static int sock = -1;

/* Waits for a datagram containing want; returns 1 when seen within secs. */
static int expect(const char *want, int secs)
{
    char buf[512];
    for (int waited = 0; waited < secs * 10; waited++) {
        struct pollfd p = { .fd = sock, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(sock, buf, sizeof buf - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        if (strstr(buf, want))
            return 1;
    }
    return 0;
}

static void test_notify_lifecycle(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    if (!build)
        skip();
    snprintf(dir, sizeof dir, "/tmp/healerd-notify.XXXXXX");
    assert_non_null(mkdtemp(dir));
    chmod(dir, 0755);
    char path[100], conf[160], pdir[160], exe[512];
    snprintf(path, sizeof path, "%s/notify.sock", dir);
    snprintf(conf, sizeof conf, "%s/healerd.conf", dir);
    snprintf(pdir, sizeof pdir, "%s/plugins", dir);
    snprintf(exe, sizeof exe, "%s/bin/healerd", build);
    assert_int_equal(mkdir(pdir, 0755), 0);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "agent = { mode = \"dry-run\"; plugin_dir = \"%s\"; state_dir = \"%s/state\"; };\n"
               "http = { listen = \"127.0.0.1:0\"; };\n", pdir, dir);
    fclose(f);

    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(sock >= 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    assert_int_equal(bind(sock, (struct sockaddr *)&sa, sizeof sa), 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0)
        agent_pid = pid;
    if (pid == 0) {
        setenv("NOTIFY_SOCKET", path, 1);
        setenv("WATCHDOG_USEC", "400000", 1);
        unsetenv("WATCHDOG_PID");
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        execl(exe, exe, "-c", conf, (char *)NULL);
        _exit(127);
    }
    assert_true(expect("READY=1", 15));
    assert_true(expect("WATCHDOG=1", 3));
    kill(pid, SIGHUP);
    assert_true(expect("RELOADING=1", 10));
    assert_true(expect("READY=1", 10));
    assert_true(expect("WATCHDOG=1", 3));
    kill(pid, SIGTERM);
    assert_true(expect("STOPPING=1", 10));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    agent_pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(sock);
    if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test_teardown(test_notify_lifecycle, stop_agent) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
