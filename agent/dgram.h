/* dgram.h — the plugin child's socket (SOCK_SEQPACKET) as a message channel, shared by the agent's
 * proxy and healerd-plugin: outgoing messages encoded back to back and sent several per datagram
 * (child protocol 2), incoming datagrams split into their messages. */
#ifndef AGENT_DGRAM_H
#define AGENT_DGRAM_H

#include <stddef.h>
#include "message.h"

/* The child protocol this build speaks (sdk/docs/child-protocol.md): 1 = one message per
 * datagram; 2 = a datagram carries one or more messages back to back. A child announces its
 * version in its --describe JSON ("protocol"; absent = 1); the agent reads batches from any
 * child and sends them only to one that announced 2. */
#define CHILD_PROTOCOL 2

/* The largest datagram either side sends or reads: the schema's largest message (1 MiB) and a
 * byte to tell one that is larger. A batch never exceeds DGRAM_BATCH_BYTES unless it is a single
 * message. */
#define DGRAM_MAX ((1u << 20) + 1)
/* Bytes of messages per datagram when the peer reads batches: large enough that a burst costs a
 * few system calls, small enough to fit the socket's buffer many times over. */
#define DGRAM_BATCH_BYTES (64u * 1024)

/* Messages queued for the socket, in order. */
typedef struct dgram_out {
    char *buf;                    /* encoded messages back to back */
    size_t len, cap;
    size_t sent;                  /* bytes of buf already on the socket */
    size_t *ends;                 /* end offset in buf of each queued message */
    size_t n_ends, cap_ends, next_end; /* next_end: the first message not yet sent */
    size_t batch;                 /* bytes per datagram; 0 = one message per datagram (v1 peer) */
    unsigned long dropped;        /* messages the socket refused as too large (EMSGSIZE) */
} dgram_out;

/* Queues m (encoded now). HEALER_OK, HEALER_E_NOMEM, or HEALER_E_INVAL (the schema cannot carry
 * it: kind out of range or over 1 MiB). */
int dgram_queue(dgram_out *o, const msg *m);
/* Sends what is queued, as few datagrams as the batch size allows. dontwait: a full socket
 * leaves the rest queued (HEALER_E_FULL); else it blocks. HEALER_OK when nothing is left,
 * HEALER_E_IO when the socket failed (the rest is dropped). A datagram the socket refuses as too
 * large is skipped and counted in dropped. */
int dgram_flush(dgram_out *o, int fd, int dontwait);
/* Bytes queued and not sent yet. */
size_t dgram_pending(const dgram_out *o);
/* Drops whatever is queued (the peer is gone); keeps the buffers. */
void dgram_out_reset(dgram_out *o);
void dgram_out_free(dgram_out *o);

/* One received datagram being taken apart. */
typedef struct dgram_in {
    char *buf;                    /* DGRAM_MAX bytes, the caller's */
    size_t len, pos;
} dgram_in;

/* Reads one datagram (recv flags): its length (> 0), 0 when the peer closed its end, -1 with
 * errno. Any message left of the previous datagram is dropped. */
long dgram_recv(dgram_in *in, int fd, int flags);
/* Whether messages of the last datagram are still to be taken. */
int dgram_in_pending(const dgram_in *in);
/* The next message of the current datagram: HEALER_OK (msg_free it), HEALER_E_TIMEOUT (none
 * left), HEALER_E_INVAL (malformed: err says why; the rest of the datagram cannot be framed and
 * is dropped). */
int dgram_next(dgram_in *in, msg *m, char *err, size_t errlen);

#endif
