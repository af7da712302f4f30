/* http_parse.h — the HTTP server's decisions on request bytes, as pure functions (libc only, no
 * socket, no libmicrohttpd): routing and strict plan ids, the bearer-token check over the whole
 * header value, the Host allow-list, loopback addresses. http.c calls them; tests/fuzz fuzzes them. */
#ifndef AGENT_HTTP_PARSE_H
#define AGENT_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef enum http_route_id {
    HTTP_RT_NONE,      /* no such resource: 404 */
    HTTP_RT_BAD_ID,    /* /api/v1/pending/ID/(confirm|reject), /api/v1/heals/ID[/undo] or
                          /api/v1/issues/ID with an ID that is no number: 400 */
    HTTP_RT_DASHBOARD, HTTP_RT_METRICS, HTTP_RT_HEALTHZ, HTTP_RT_STATUS, HTTP_RT_ISSUES,
    HTTP_RT_HEALS, HTTP_RT_PLUGINS, HTTP_RT_KNOWLEDGE, HTTP_RT_PENDING, HTTP_RT_PAUSE,
    HTTP_RT_RESUME, HTTP_RT_CONFIRM, HTTP_RT_REJECT,
    HTTP_RT_HOLDS,        /* GET: the list; POST: a new hold (http.c tells them apart) */
    HTTP_RT_HOLD_RELEASE,
    HTTP_RT_HEAL,         /* GET /api/v1/heals/ID: one heal, why it went so, its audit lines */
    HTTP_RT_ISSUE,        /* GET /api/v1/issues/ID: one issue and its heals */
    HTTP_RT_HISTORY,      /* GET /api/v1/history: the last 24 h by minute (history.c) */
    HTTP_RT_HEAL_UNDO,    /* POST /api/v1/heals/ID/undo: revert one heal's changes */
    HTTP_RT_RESTORE,      /* POST /api/v1/restore?to=TIME: revert every change since TIME */
    HTTP_RT_ALERTS        /* POST /api/v1/alerts: an Alertmanager webhook payload (alerts.c) */
} http_route_id;

typedef struct http_route {
    http_route_id id;
    int post;          /* the route takes POST (else GET and HEAD) */
    uint64_t plan_id;  /* the ID: HTTP_RT_CONFIRM, HTTP_RT_REJECT (a plan), HTTP_RT_HEAL and
                          HTTP_RT_HEAL_UNDO (a heal),
                          HTTP_RT_ISSUE (an issue) */
} http_route;

/* The longest plan id accepted: 20 digits hold any uint64_t. */
#define HTTP_ID_MAX_DIGITS 20

/* url[0..len) is the decoded path (no query). A byte of it that is NUL matches nothing. */
http_route_id http_route_match(const char *url, size_t len, http_route *out);

/* A plan id: 1 to 20 decimal digits, no sign, no space, no leading zero, at most UINT64_MAX.
 * 0 and *out, or -1. */
int http_parse_id(const char *text, size_t len, uint64_t *out);

/* Percent-decodes s in place (libmicrohttpd's unescape callback) and returns the new length,
 * except that %00 stays as it is: a decoded NUL would cut the path short where C strings are
 * used, so "/api/v1/status%00x" must stay a path that matches nothing. */
size_t http_unescape(char *s);

/* The Authorization header's value, all len bytes of it (a NUL inside counts as a byte), checked
 * against token[0..token_len): "Bearer" (any case), one or more spaces or tabs, the token, spaces
 * or tabs. The comparison takes time independent of the token's bytes and length (up to
 * HTTP_TOKEN_MAX). 1 on a match, 0 otherwise; *given is set when a bearer credential was sent
 * at all (a 401 says "wrong" rather than "missing"). */
#define HTTP_TOKEN_MAX 256
int http_bearer_check(const char *value, size_t len, const unsigned char *token, size_t token_len,
                      int *given);

/* The host part of a Host header value ("name", "name:port", "[v6]", "[v6]:port") is one of
 * names[0..n) (case-insensitive; IPv6 names are written without brackets). 1 allowed, 0 not
 * (malformed values included). */
int http_host_allowed(const char *value, size_t len, const char *const *names, size_t n);

/* 1 when the address is loopback: 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104. */
int http_addr_is_loopback(const struct sockaddr *sa);

#endif
