/* http_guard.h — the HTTP server's connection bookkeeping against idle and slow clients: a limit
 * per client address and in all, kept by closing the oldest connections that have not sent a
 * whole request yet (so a new client is served rather than refused), and a deadline for the whole
 * request head that no trickled byte extends. Driven from libmicrohttpd's callbacks by http.c. */
#ifndef AGENT_HTTP_GUARD_H
#define AGENT_HTTP_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct http_guard http_guard;
typedef struct http_conn http_conn;

/* total: connections kept in all; per_client: from one address; deadline_s: seconds a connection
 * may take from its start (or its last answer) to the end of its next request's headers. A
 * thread sweeps for late connections until http_guard_free. NULL when out of memory. */
http_guard *http_guard_new(unsigned total, unsigned per_client, double deadline_s);
void http_guard_free(http_guard *g);

/* A connection opened (libmicrohttpd's NOTIFY_CONNECTION STARTED): recorded, and when a limit is
 * exceeded the oldest waiting connection (of that address, or of all) is shut down. NULL when out
 * of memory (the connection is then shut down at once). */
http_conn *http_guard_opened(http_guard *g, int fd, const struct sockaddr *addr);
/* NOTIFY_CONNECTION CLOSED: forgotten before libmicrohttpd closes the descriptor, so the guard
 * never shuts down a descriptor number that was reused. */
void http_guard_closed(http_guard *g, http_conn *c);
/* The request's headers are complete: no deadline while it is served. */
void http_guard_request_started(http_guard *g, http_conn *c);
/* The answer was sent: the deadline for the next request starts now. */
void http_guard_request_done(http_guard *g, http_conn *c);
/* The request line's URI as sent (for http.c's header accounting). */
void http_guard_set_uri_len(http_guard *g, http_conn *c, size_t len);
size_t http_guard_uri_len(http_guard *g, const http_conn *c);

typedef struct http_guard_stats {
    uint64_t evicted;     /* shut down to make room */
    uint64_t late;        /* shut down at the deadline */
    unsigned open;        /* connections counted now */
} http_guard_stats;
void http_guard_get_stats(http_guard *g, http_guard_stats *out);

#endif
