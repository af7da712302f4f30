/* transport.c — the child's end of the socketpair: one msgpack message per SOCK_SEQPACKET
 * datagram, and host calls that wait for their reply while deferring everything else. */
#include "runner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

/* One datagram: the schema's largest message (1 MiB) and a byte to tell one that is larger. */
#define DGRAM_MAX ((1u << 20) + 1)
static char rbuf[DGRAM_MAX];

int runner_send(runner *r, const msg *m)
{
    char *buf;
    size_t len;
    if (msg_encode(m, &buf, &len) != 0)
        return HEALER_E_NOMEM;
    ssize_t n;
    do {
        n = send(r->sock, buf, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    free(buf);
    if (n < 0)
        return errno == EAGAIN ? HEALER_E_FULL : HEALER_E_IO;
    return HEALER_OK;
}

static int wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int n;
    do {
        n = poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n;
}

static int t_recv(void *ud, msg *m, int timeout_ms)
{
    runner *r = ud;
    memset(m, 0, sizeof *m);
    if (timeout_ms != 0) {
        int n = wait_readable(r->sock, timeout_ms);
        if (n == 0)
            return HEALER_E_TIMEOUT;
        if (n < 0)
            return HEALER_E_IO;
    }
    ssize_t len = recv(r->sock, rbuf, sizeof rbuf, MSG_DONTWAIT);
    if (len < 0)
        return errno == EAGAIN || errno == EINTR ? HEALER_E_TIMEOUT : HEALER_E_IO;
    if (len == 0)
        return HEALER_E_IO; /* the agent closed its end */
    char err[160];
    if (msg_decode(rbuf, (size_t)len, m, err, sizeof err) != 0) {
        log_warn(r->ph.who, "malformed message from the agent dropped: %s", err);
        return HEALER_E_INVAL;
    }
    return HEALER_OK;
}

static int t_send(void *ud, const msg *m)
{
    return runner_send(ud, m);
}

static int t_poll(void *ud, struct pollfd *fds, size_t n, int timeout_ms, int *inbox)
{
    runner *r = ud;
    struct pollfd p[1 + WORKER_MAX_FDS];
    p[0] = (struct pollfd){ .fd = r->sock, .events = POLLIN };
    for (size_t i = 0; i < n; i++)
        p[1 + i] = fds[i];
    int k = poll(p, 1 + n, timeout_ms);
    if (k < 0)
        return errno == EINTR ? 0 : -1;
    *inbox = (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    for (size_t i = 0; i < n; i++)
        fds[i].revents = p[1 + i].revents;
    return k;
}

ph_transport runner_transport(runner *r)
{
    return (ph_transport){ t_send, t_recv, t_poll, r };
}

int runner_call(runner *r, const char *method, const msg_kv *args, size_t n, msg *reply)
{
    struct healer_ctx *c = &r->ph.ctx;
    uint64_t id = ++r->ph.next_call;
    msg q = { .kind = MSG_HOSTCALL, .seq = id, .method = method, .args = args, .n_args = n,
              .code = (int)c->phase, .attempt = c->attempt };
    int rc = runner_send(r, &q);
    if (rc < 0) {
        snprintf(c->last_msg, sizeof c->last_msg, "%s: the agent cannot be reached", method);
        return rc;
    }
    /* No deadline of its own: the agent answers every call; if it never does, its heartbeat
     * ends this child. */
    for (;;) {
        msg m;
        int k = t_recv(r, &m, -1);
        if (k == HEALER_E_IO) {
            snprintf(c->last_msg, sizeof c->last_msg, "%s: the agent is gone", method);
            return HEALER_E_IO;
        }
        if (k < 0)
            continue;
        if (m.kind == MSG_HOSTREPLY && m.seq == id) {
            snprintf(c->last_msg, sizeof c->last_msg, "%s", m.text ? m.text : "");
            int code = m.code;
            if (reply)
                *reply = m;
            else
                msg_free(&m);
            return code;
        }
        if (m.kind == MSG_PING) {
            msg pong = { .kind = MSG_PONG, .seq = m.seq };
            runner_send(r, &pong);
            msg_free(&m);
            continue;
        }
        if (m.kind == MSG_HOSTREPLY) { /* a reply to nobody */
            msg_free(&m);
            continue;
        }
        if (m.kind == MSG_STOP)
            r->ph.stop_seen = 1;
        plughost_defer(&r->ph, &m);
    }
}

const char *runner_reply_arg(const msg *reply, const char *key)
{
    for (size_t i = 0; i < reply->n_args; i++)
        if (reply->args[i].key && strcmp(reply->args[i].key, key) == 0)
            return reply->args[i].value;
    return NULL;
}
