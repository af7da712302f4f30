/* dgram.c — the plugin child's socket as a message channel (dgram.h): the send queue and its
 * batching into datagrams, and the framing of received datagrams into messages. A batch is
 * whole msgpack maps back to back, so a reader splits it with the codec alone. */
#include "dgram.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "healer/plugin.h"

int dgram_queue(dgram_out *o, const msg *m)
{
    /* Reclaim what was sent, so a peer that reads slowly does not grow the buffer forever. */
    if (o->sent && o->sent >= o->len / 2) {
        memmove(o->buf, o->buf + o->sent, o->len - o->sent);
        size_t k = 0;
        for (size_t i = o->next_end; i < o->n_ends; i++)
            o->ends[k++] = o->ends[i] - o->sent;
        o->len -= o->sent;
        o->n_ends = k;
        o->next_end = 0;
        o->sent = 0;
    }
    if (o->n_ends == o->cap_ends) {
        size_t cap = o->cap_ends ? o->cap_ends * 2 : 64;
        size_t *ne = realloc(o->ends, cap * sizeof *ne);
        if (!ne)
            return HEALER_E_NOMEM;
        o->ends = ne;
        o->cap_ends = cap;
    }
    if (msg_encode_append(m, &o->buf, &o->len, &o->cap) != 0)
        return errno == ENOMEM ? HEALER_E_NOMEM : HEALER_E_INVAL;
    o->ends[o->n_ends++] = o->len;
    return HEALER_OK;
}

int dgram_flush(dgram_out *o, int fd, int dontwait)
{
    while (o->next_end < o->n_ends) {
        /* As many whole messages as fit the batch; a single one always goes. */
        size_t k = o->next_end + 1;
        while (k < o->n_ends && o->ends[k] - o->sent <= o->batch)
            k++;
        size_t end = o->ends[k - 1];
        ssize_t n;
        do {
            n = send(fd, o->buf + o->sent, end - o->sent,
                     MSG_NOSIGNAL | (dontwait ? MSG_DONTWAIT : 0));
        } while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EMSGSIZE) {
            /* One message larger than the socket's buffer can ever hold: it alone is lost (the
             * caller counts it); what follows still goes. */
            o->dropped += k - o->next_end;
            n = 0;
        } else if (n < 0) {
            if (errno == EAGAIN)
                return HEALER_E_FULL;
            dgram_out_reset(o);
            return HEALER_E_IO;
        }
        o->sent = end;
        o->next_end = k;
    }
    o->len = o->sent = o->n_ends = o->next_end = 0;
    return HEALER_OK;
}

size_t dgram_pending(const dgram_out *o)
{
    return o->len - o->sent;
}

void dgram_out_reset(dgram_out *o)
{
    o->len = o->sent = o->n_ends = o->next_end = 0;
}

void dgram_out_free(dgram_out *o)
{
    free(o->buf);
    free(o->ends);
    memset(o, 0, sizeof *o);
}

long dgram_recv(dgram_in *in, int fd, int flags)
{
    in->len = in->pos = 0;
    ssize_t n;
    do {
        n = recv(fd, in->buf, DGRAM_MAX, flags);
    } while (n < 0 && errno == EINTR && !(flags & MSG_DONTWAIT));
    if (n > 0)
        in->len = (size_t)n;
    return (long)n;
}

int dgram_in_pending(const dgram_in *in)
{
    return in->pos < in->len;
}

int dgram_next(dgram_in *in, msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (in->pos >= in->len)
        return HEALER_E_TIMEOUT;
    size_t used = 0;
    if (msg_decode_next(in->buf + in->pos, in->len - in->pos, &used, m, err, errlen) != 0) {
        in->pos = in->len;
        return HEALER_E_INVAL;
    }
    in->pos += used;
    return HEALER_OK;
}
