/* bus.h — the ZeroMQ side of the bus: one context, PUSH/PULL inproc sockets with bounded
 * queues. Sending never blocks: a full queue drops the message and counts it. Receiving
 * decodes; a malformed message is dropped and counted, never a crash. */
#ifndef AGENT_BUS_H
#define AGENT_BUS_H

#include <stdint.h>
#include "message.h"

typedef struct bus bus;

typedef struct bus_stats {
    uint64_t sent;
    uint64_t received;
    uint64_t dropped;      /* queue full (high-water mark reached) */
    uint64_t malformed;    /* could not be decoded */
} bus_stats;

/* hwm: the high-water mark of every socket (messages). */
bus *bus_new(int hwm);
void bus_free(bus *b);            /* after every socket is closed */
void *bus_zmq_context(bus *b);

/* Endpoints: "inproc://engine" (engine PULL, bound), "inproc://worker.NAME" (a worker's PULL,
 * bound by the worker). Sockets belong to the thread that uses them. */
void *bus_pull(bus *b, const char *endpoint);      /* bind a PULL */
void *bus_push(bus *b, const char *endpoint);      /* connect a PUSH */
void bus_close(void *sock);

/* 0 sent; HEALER_E_FULL dropped (counted); HEALER_E_IO another failure. Thread-safe stats. */
int bus_send(bus *b, void *sock, const msg *m);
/* Receives one message into out. timeout_ms: -1 wait, 0 poll. 0 = got one (msg_free it);
 * HEALER_E_TIMEOUT = none; HEALER_E_INVAL = malformed (dropped, counted, logged with the
 * reason); HEALER_E_IO = socket closed or context terminated. */
int bus_recv(bus *b, void *sock, msg *out, int timeout_ms);

void bus_get_stats(bus *b, bus_stats *out);

#endif
