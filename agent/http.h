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
    metrics *metrics;            /* rendered for /metrics */
    void *ud;
} http_backend;

typedef struct http_server http_server;

/* listen: "ADDR:PORT" (IPv4, or [IPv6]:PORT). token_file: its first line is the token; a
 * missing or empty file means every POST is refused (403 with a message saying so). */
http_server *http_start(const char *listen, const char *token_file, const http_backend *be,
                        char *err, size_t errlen);
/* Switches to another token file (a reload that kept the address): read now, and re-read
 * when it changes as before. 0, or -1 out of memory (then POSTs are refused). */
int http_set_token_file(http_server *s, const char *token_file);
/* The port actually bound (useful with port 0 in tests). */
int http_port(const http_server *s);
void http_stop(http_server *s);

#endif
