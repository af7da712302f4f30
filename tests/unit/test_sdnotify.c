/* test_sdnotify.c — sdnotify against real AF_UNIX datagram sockets (a path in a temp dir and
 * an abstract name), received the way systemd receives them: SO_PASSCRED, so the sender's
 * credentials are checked too, and the watchdog environment parsing. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "healer/types.h"
#include "sdnotify.h"

typedef struct receiver {
    int fd;
    char dir[64];
    char path[128];
} receiver;

static int open_receiver(const struct sockaddr_un *addr, socklen_t alen)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
    assert_int_equal(bind(fd, (const struct sockaddr *)addr, alen), 0);
    struct timeval tv = {5, 0}; /* a lost datagram fails the test instead of hanging it */
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    return fd;
}

static int setup_path(void **state)
{
    receiver *r = calloc(1, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/test_sdnotify.XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    snprintf(r->path, sizeof r->path, "%s/notify", r->dir);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    assert_true(strlen(r->path) < sizeof a.sun_path);
    memcpy(a.sun_path, r->path, strlen(r->path) + 1);
    r->fd = open_receiver(&a, sizeof a);
    setenv("NOTIFY_SOCKET", r->path, 1);
    *state = r;
    return 0;
}

static int setup_abstract(void **state)
{
    receiver *r = calloc(1, sizeof *r);
    /* Unique per process so parallel runs do not collide in the shared abstract namespace. */
    char name[64];
    int n = snprintf(name, sizeof name, "healerd-test-sdnotify-%ld", (long)getpid());
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path + 1, name, (size_t)n);
    r->fd = open_receiver(&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n));
    snprintf(r->path, sizeof r->path, "@%s", name);
    setenv("NOTIFY_SOCKET", r->path, 1);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    receiver *r = *state;
    close(r->fd);
    if (r->dir[0]) {
        unlink(r->path);
        rmdir(r->dir);
    }
    free(r);
    unsetenv("NOTIFY_SOCKET");
    return 0;
}

/* Receives one datagram; checks that the kernel-attached credentials are ours. */
static void recv_msg(int fd, char *buf, size_t len)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    struct iovec iov = {buf, len - 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
                        .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(fd, &mh, 0);
    if (n < 0)
        fail_msg("recvmsg: %s", strerror(errno));
    buf[n] = '\0';
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    assert_non_null(c);
    assert_int_equal(c->cmsg_type, SCM_CREDENTIALS);
    struct ucred uc;
    memcpy(&uc, CMSG_DATA(c), sizeof uc);
    assert_int_equal(uc.pid, getpid());
}

static void sends_states(void **state)
{
    receiver *r = *state;
    char buf[512];
    const char *states[] = {"READY=1", "STATUS=3 issues open, 1 pending", "WATCHDOG=1",
                            "STOPPING=1"};
    for (size_t i = 0; i < sizeof states / sizeof *states; i++) {
        assert_int_equal(sdnotify_send(states[i]), HEALER_OK);
        recv_msg(r->fd, buf, sizeof buf);
        assert_string_equal(buf, states[i]);
    }
    assert_int_equal(sdnotify_sendf("STATUS=health %.1f", 87.5), HEALER_OK);
    recv_msg(r->fd, buf, sizeof buf);
    assert_string_equal(buf, "STATUS=health 87.5");
}

static void reloading_carries_monotonic(void **state)
{
    receiver *r = *state;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t before = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    assert_int_equal(sdnotify_reloading(), HEALER_OK);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t after = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;

    char buf[512];
    recv_msg(r->fd, buf, sizeof buf);
    const char *prefix = "RELOADING=1\nMONOTONIC_USEC=";
    assert_memory_equal(buf, prefix, strlen(prefix));
    char *end;
    uint64_t usec = strtoull(buf + strlen(prefix), &end, 10);
    assert_int_equal(*end, '\0');
    assert_true(usec >= before && usec <= after);
}

static void no_socket_is_fine(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sdnotify_send("READY=1"), HEALER_OK);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(sdnotify_send("READY=1"), HEALER_OK);
    unsetenv("NOTIFY_SOCKET");
}

static void bad_input(void **state)
{
    (void)state;
    setenv("NOTIFY_SOCKET", "/tmp/x", 1);
    assert_int_equal(sdnotify_send(NULL), HEALER_E_INVAL);
    assert_int_equal(sdnotify_send(""), HEALER_E_INVAL);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(sdnotify_send("READY=1"), HEALER_E_INVAL);
    setenv("NOTIFY_SOCKET", "@", 1);
    assert_int_equal(sdnotify_send("READY=1"), HEALER_E_INVAL);
    char longpath[300];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    setenv("NOTIFY_SOCKET", longpath, 1);
    assert_int_equal(sdnotify_send("READY=1"), HEALER_E_INVAL);

    /* A path nobody listens on: a real send failure. */
    char dir[] = "/tmp/test_sdnotify.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/none", dir);
    setenv("NOTIFY_SOCKET", path, 1);
    errno = 0;
    assert_int_equal(sdnotify_send("READY=1"), HEALER_E_IO);
    assert_int_equal(errno, ENOENT);
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
}

static void watchdog_interval(void **state)
{
    (void)state;
    char pid[32];
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    assert_true(sdnotify_watchdog_interval() == 0);

    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_true(sdnotify_watchdog_interval() == 30.0);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_true(sdnotify_watchdog_interval() == 30.0);
    setenv("WATCHDOG_USEC", "1500000", 1);
    assert_true(sdnotify_watchdog_interval() == 1.5);

    /* Inherited from a parent: another pid. */
    snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_true(sdnotify_watchdog_interval() == 0);
    setenv("WATCHDOG_PID", "abc", 1);
    assert_true(sdnotify_watchdog_interval() == 0);
    unsetenv("WATCHDOG_PID");

    const char *bad[] = {"", "0", "-5", "12x", "x", "99999999999999999999999", " 5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("WATCHDOG_USEC", bad[i], 1);
        if (sdnotify_watchdog_interval() != 0)
            fail_msg("WATCHDOG_USEC=\"%s\" accepted", bad[i]);
    }
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sends_states, setup_path, teardown),
        cmocka_unit_test_setup_teardown(reloading_carries_monotonic, setup_path, teardown),
        cmocka_unit_test_setup_teardown(sends_states, setup_abstract, teardown),
        cmocka_unit_test_setup_teardown(reloading_carries_monotonic, setup_abstract, teardown),
        cmocka_unit_test(no_socket_is_fine),
        cmocka_unit_test(bad_input),
        cmocka_unit_test(watchdog_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
