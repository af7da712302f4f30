/* transport.c — the child's end of the socketpair: messages queued and sent several per
 * SOCK_SEQPACKET datagram (flushed before the child waits for anything), datagrams taken apart
 * one message at a time, and host calls that wait for their reply while deferring everything
 * else. */
#include "runner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dgram.h"
#include "log.h"

static char rbuf[DGRAM_MAX];
static dgram_in in = { .buf = rbuf };
/* The agent always reads batches (child protocol 2, which --describe announces). */
static dgram_out out = { .batch = DGRAM_BATCH_BYTES };

int runner_flush(runner *r)
{
    return dgram_flush(&out, r->sock, 0);
}

/* Queued: what the plugin publishes in one detect() leaves in a few datagrams. */
static int runner_queue(runner *r, const msg *m)
{
    int rc = dgram_queue(&out, m);
    if (rc < 0)
        return rc;
    if (dgram_pending(&out) >= DGRAM_BATCH_BYTES)
        return runner_flush(r);
    return HEALER_OK;
}

int runner_send(runner *r, const msg *m)
{
    int rc = dgram_queue(&out, m);
    if (rc < 0)
        return rc;
    return runner_flush(r);
}

void runner_transport_free(void)
{
    dgram_out_free(&out);
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
    char err[160];
    if (!dgram_in_pending(&in)) {
        if (timeout_ms != 0) {
            /* Nothing is answered while what the plugin said still sits here. */
            if (runner_flush(r) == HEALER_E_IO)
                return HEALER_E_IO;
        }
        if (timeout_ms > 0) {
            int n = wait_readable(r->sock, timeout_ms);
            if (n == 0)
                return HEALER_E_TIMEOUT;
            if (n < 0)
                return HEALER_E_IO;
        }
        /* No deadline (a host call waiting for its reply): the blocking recv is the wait. */
        long len = dgram_recv(&in, r->sock, timeout_ms < 0 ? 0 : MSG_DONTWAIT);
        if (len < 0)
            return errno == EAGAIN || errno == EINTR ? HEALER_E_TIMEOUT : HEALER_E_IO;
        if (len == 0)
            return HEALER_E_IO; /* the agent closed its end */
    }
    int rc = dgram_next(&in, m, err, sizeof err);
    if (rc == HEALER_E_INVAL)
        log_warn(r->ph.who, "malformed message from the agent dropped: %s", err);
    return rc == HEALER_E_TIMEOUT ? HEALER_E_INVAL : rc;
}

static int t_send(void *ud, const msg *m)
{
    return runner_queue(ud, m);
}

static int t_poll(void *ud, struct pollfd *fds, size_t n, int timeout_ms, int *inbox)
{
    runner *r = ud;
    if (runner_flush(r) == HEALER_E_IO) {
        *inbox = 1; /* the next recv sees the agent gone */
        return 1;
    }
    /* Messages left of the last datagram are the inbox too: look at the fds, do not wait. */
    int queued = dgram_in_pending(&in);
    if (queued)
        timeout_ms = 0;
    struct pollfd p[1 + WORKER_MAX_FDS];
    p[0] = (struct pollfd){ .fd = r->sock, .events = POLLIN };
    for (size_t i = 0; i < n; i++)
        p[1 + i] = fds[i];
    int k = poll(p, 1 + n, timeout_ms);
    if (k < 0)
        return errno == EINTR ? 0 : -1;
    *inbox = queued || (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    for (size_t i = 0; i < n; i++)
        fds[i].revents = p[1 + i].revents;
    return k + queued;
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
