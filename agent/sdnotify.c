/* sdnotify.c — sd_notify(3) without libsystemd: one AF_UNIX datagram per state change to
 * $NOTIFY_SOCKET, and the watchdog interval from the environment. Linking libsystemd for
 * four messages would add a dependency that non-systemd hosts (and tests) do not need. */
#include "sdnotify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "healer/types.h"

/* Fills addr from NOTIFY_SOCKET. Returns the address length, 0 when unset, -1 when unusable. */
static socklen_t notify_addr(struct sockaddr_un *addr)
{
    const char *env = getenv("NOTIFY_SOCKET");
    if (!env || !*env)
        return 0;
    size_t len = strlen(env);
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (env[0] == '@') {
        /* Abstract namespace: a leading NUL, and the length counts exactly the name bytes
         * (no terminator), or the kernel would look up a different name. */
        if (len < 2 || len > sizeof addr->sun_path)
            return (socklen_t)-1;
        addr->sun_path[0] = '\0';
        memcpy(addr->sun_path + 1, env + 1, len - 1);
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    }
    /* systemd only ever hands out absolute paths; anything else (vsock:, relative) is a
     * transport we do not speak, and must not be resolved against our working directory. */
    if (env[0] != '/' || len >= sizeof addr->sun_path)
        return (socklen_t)-1;
    memcpy(addr->sun_path, env, len);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

int sdnotify_send(const char *state)
{
    if (!state || !*state)
        return HEALER_E_INVAL;
    struct sockaddr_un addr;
    socklen_t alen = notify_addr(&addr);
    if (alen == 0)
        return HEALER_OK;
    if (alen == (socklen_t)-1)
        return HEALER_E_INVAL;

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return HEALER_E_IO;
    size_t len = strlen(state);
    /* MSG_NOSIGNAL: a vanished manager must not kill the agent with SIGPIPE. */
    ssize_t n = sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&addr, alen);
    int saved = errno;
    close(fd);
    if (n < 0 || (size_t)n != len) {
        errno = n < 0 ? saved : EMSGSIZE;
        return HEALER_E_IO;
    }
    return HEALER_OK;
}

int sdnotify_sendf(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return HEALER_E_INVAL;
    /* A STATUS= line cut short is still useful; a truncated datagram is not an error. */
    return sdnotify_send(buf);
}

int sdnotify_reloading(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return HEALER_E_IO;
    uint64_t usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    char buf[64];
    snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, usec);
    return sdnotify_send(buf);
}

/* Strict decimal parse: the whole string, no sign, no overflow. */
static int parse_u64(const char *s, unsigned long long *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

double sdnotify_watchdog_interval(void)
{
    unsigned long long usec, pid;
    if (parse_u64(getenv("WATCHDOG_USEC"), &usec) != 0 || usec == 0)
        return 0;
    const char *p = getenv("WATCHDOG_PID");
    if (p && *p) {
        /* Set but meant for another process (we inherited it): not ours to ping. */
        if (parse_u64(p, &pid) != 0 || pid != (unsigned long long)getpid())
            return 0;
    }
    return (double)usec / 1e6;
}
