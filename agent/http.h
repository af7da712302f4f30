/* http.h — the HTTP server (libmicrohttpd): /metrics, the dashboard, /healthz and the JSON API
 * of CONTRACT.md (shapes in docs/http-api.md). It knows the agent only through a backend of
 * callbacks, called on libmicrohttpd's threads; POSTs need the bearer token from token_file,
 * compared in constant time. */
#ifndef AGENT_HTTP_H
#define AGENT_HTTP_H

#include <stdint.h>
#include <jansson.h>
#include "metrics.h"

typedef enum http_command { HTTP_CMD_CONFIRM, HTTP_CMD_REJECT, HTTP_CMD_PAUSE, HTTP_CMD_RESUME } http_command;

/* A hold request (POST /api/v1/holds, .../holds/release): strings borrowed for the call. */
typedef struct http_hold_req {
    const char *target, *type, *reason, *by;   /* type, reason, by may be NULL */
    double duration;            /* seconds; -1 when not given (the default), 0 = until released */
    int even_critical;
    int release;                /* 1: remove the holds of target (of type, when given) */
} http_hold_req;

/* An undo (POST /api/v1/heals/ID/undo: heal_id) or a restore (POST /api/v1/restore?to=TIME:
 * to, as the client wrote it; when.h). Strings borrowed for the call. */
typedef struct http_undo_req {
    uint64_t heal_id;           /* 0: a restore */
    const char *to;
    int dry_run, force;
} http_undo_req;

typedef struct http_backend {
    /* Each returns a new JSON reference (the server json_decref's it) or NULL on failure. */
    json_t *(*status)(void *ud);
    json_t *(*issues)(void *ud);
    json_t *(*heals)(void *ud, int limit);
    json_t *(*plugins)(void *ud);
    json_t *(*knowledge)(void *ud);
    json_t *(*pending)(void *ud);
    /* HEALER_OK, HEALER_E_NOTFOUND (unknown id: 404), other negative (500). */
    int (*command)(void *ud, http_command cmd, uint64_t id, char *msg, size_t len);
    /* GET /api/v1/holds; NULL when the agent has none */
    json_t *(*holds)(void *ud);
    /* HEALER_OK, HEALER_E_INVAL (400), HEALER_E_NOTFOUND (no such hold to release: 404). */
    int (*hold)(void *ud, const http_hold_req *req, char *msg, size_t len);
    metrics *metrics;            /* rendered for /metrics */
    /* Optional: called before each /metrics render to refresh the gauges that are read, not
     * pushed (pending plans' age, plugin states); may run on several HTTP threads at once. */
    void (*collect)(void *ud);
    void *ud;
    /* GET /api/v1/heals/ID and /api/v1/issues/ID: HEALER_OK with *out (a new reference),
     * HEALER_E_NOTFOUND (404), other negative (500). NULL: 404 for every ID. Last, so the
     * positional initializers of the views above stay valid. */
    int (*heal)(void *ud, uint64_t id, json_t **out);
    int (*issue)(void *ud, uint64_t id, json_t **out);
    /* GET /api/v1/history?minutes=N (1..1440, default 1440); NULL: 404. */
    json_t *(*history)(void *ud, int minutes);
    /* POST /api/v1/heals/ID/undo and /api/v1/restore: HEALER_OK with *out (the list of what was
     * undone and what not, a new reference), HEALER_E_NOTFOUND (no change recorded for the heal:
     * 404), HEALER_E_INVAL (bad time: 400), other negative (503, the reason in msg). NULL: 404. */
    int (*undo)(void *ud, const http_undo_req *rq, json_t **out, char *msg, size_t len);
    /* POST /api/v1/alerts: the body (body_len bytes, not NUL-terminated). HEALER_OK with *out
     * (the summary, a new reference), HEALER_E_INVAL (400, why in msg), HEALER_E_NOTFOUND
     * (fleet.alerts is not configured: 404), other negative (503, why in msg). NULL: 404. */
    int (*alerts)(void *ud, const char *body, size_t body_len, json_t **out, char *msg,
                  size_t len);
} http_backend;

typedef struct http_server http_server;

/* What an operator or a test may change; zero fields take the defaults. */
typedef struct http_options {
    /* Host header names served besides localhost, 127.0.0.1, ::1 and the listen address
     * (http.allowed_hosts); IPv6 addresses without brackets. Copied. */
    const char *const *allowed_hosts;
    size_t n_allowed_hosts;
    unsigned max_connections;       /* in all (256) */
    unsigned max_per_client;        /* from one address (64) */
    double header_deadline_s;       /* from connect (or the last answer) to a whole request
                                       head (10 s); trickling bytes does not extend it */
    const char *alerts_token_file;  /* fleet.alerts.token_file: a token POST /api/v1/alerts
                                       accepts besides the API token; NULL or "" none */
} http_options;

/* listen: "ADDR:PORT" (IPv4, or [IPv6]:PORT). token_file: its first line is the token; a
 * missing or empty file means every POST is refused (403 with a message saying so). Clients
 * that are not on a loopback address need the token for everything but /healthz (config.c
 * allows such a listen address only with http.allow_remote and a token). */
http_server *http_start(const char *listen, const char *token_file, const http_backend *be,
                        char *err, size_t errlen);
/* The same with options (NULL: the defaults). */
http_server *http_start_opts(const char *listen, const char *token_file, const http_options *o,
                             const http_backend *be, char *err, size_t errlen);
/* Replaces the extra Host names (a reload that kept the address). 0, or -1 out of memory (the
 * old names stay). */
int http_set_allowed_hosts(http_server *s, const char *const *hosts, size_t n);
/* Switches to another token file (a reload that kept the address): read now, and re-read
 * when it changes as before. 0, or -1 out of memory (then POSTs are refused). */
int http_set_token_file(http_server *s, const char *token_file);
/* Switches the extra token file of POST /api/v1/alerts (a reload); NULL or "" none. 0, or -1
 * out of memory (then only the API token is accepted). */
int http_set_alerts_token_file(http_server *s, const char *path);
/* The port actually bound (useful with port 0 in tests). */
int http_port(const http_server *s);
void http_stop(http_server *s);

#endif
