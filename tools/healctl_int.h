/* healctl_int.h — what healctl's files share and nobody else sees: the URL, buffer and
 * response types of the HTTP client (healctl_http.c), the request context and call()
 * (healctl.c), and the text helpers and commands (healctl_cmds.c). */
#ifndef TOOLS_HEALCTL_INT_H
#define TOOLS_HEALCTL_INT_H

#include <stddef.h>

#include <jansson.h>

enum { EX_OK = 0, EX_AGENT = 1, EX_UNREACHABLE = 2, EX_USAGE = 2 };

typedef struct url {
    char host[256];     /* without brackets */
    char port[8];
    char prefix[512];   /* path before /api/v1, without trailing slash ("" normally) */
    char hosthdr[300];  /* Host: header value, brackets kept for IPv6 */
    char base[900];     /* for messages: http://host:port/prefix */
} url;

typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

typedef struct response {
    int status;
    char reason[128];
    char content_type[128];
    buf body;
} response;

typedef enum net_rc { NET_OK = 0, NET_UNREACHABLE = 1, NET_BAD_ANSWER = 2 } net_rc;

typedef struct ctx {
    url u;
    const char *url_text;
    const char *token_file;
    int json;
    double timeout;
} ctx;

typedef struct req_info {
    const char *method;
    const char *path;
    const char *id;     /* confirm/reject: the plan ID, for the 404 message */
} req_info;

/* healctl.c */
void healctl_errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int healctl_call(const ctx *c, const req_info *ri, json_t **out);

/* healctl_http.c */
int healctl_url_parse(const char *text, url *u, char *err, size_t errlen);
int healctl_buf_add(buf *b, const void *p, size_t n);
net_rc healctl_http_request(const url *u, double timeout, const char *method, const char *path,
                            const char *token, response *r, char *err, size_t errlen);

/* healctl_cmds.c */
extern int healctl_utf8_term;
char *healctl_clean_text(const char *s);
const char *healctl_jstr(const json_t *o, const char *key, const char *dflt);
/* The array under key, or an error message (naming the agent) and NULL. */
json_t *healctl_want_array(const ctx *c, json_t *root, const char *key);
int healctl_cmd_status(const ctx *c);
int healctl_cmd_issues(const ctx *c);
int healctl_cmd_history(const ctx *c, long limit);
int healctl_cmd_plugins(const ctx *c);
int healctl_cmd_knowledge(const ctx *c);
int healctl_cmd_pending(const ctx *c);
int healctl_cmd_post(const ctx *c, const char *path, const char *id, const char *done);
/* healctl_holds.c: hold TARGET / unhold TARGET (release 1), and the list */
int healctl_cmd_hold(const ctx *c, int release, const char *target, const char *type,
                     const char *dur, const char *reason, int even_critical);
int healctl_cmd_holds(const ctx *c);
/* --for: DIGITS[.DIGITS] with an optional s, m, h or d; 0 = until released; at most
 * HEALCTL_HOLD_MAX_S. 0 and *out in seconds, or -1. */
#define HEALCTL_HOLD_MAX_S (3650.0 * 86400.0)
int healctl_parse_duration(const char *s, double *out);

#endif
