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
    const char *what;   /* show/explain: "heal" or "issue", with what_id, for the 404 message */
    const char *what_id;
} req_info;

/* healctl.c */
void healctl_errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int healctl_call(const ctx *c, const req_info *ri, json_t **out);

/* healctl_http.c */
int healctl_url_parse(const char *text, url *u, char *err, size_t errlen);
int healctl_buf_add(buf *b, const void *p, size_t n);
net_rc healctl_http_request(const url *u, double timeout, const char *method, const char *path,
                            const char *token, response *r, char *err, size_t errlen);

/* healctl_cmds.c: tables sized to the terminal (the last column takes what is left) */
/* COL_MID: left-aligned, cut in the middle when too wide, so a path keeps its end */
enum { COL_LEFT = 0, COL_RIGHT = 1, COL_MID = 2 };

typedef struct column {
    const char *head;
    int align;
    size_t max;         /* cap in columns (0 = none) */
} column;

typedef struct table {
    const column *cols;
    size_t ncols;
    char **cells;       /* row-major, owned */
    size_t ncells, cap;
    int oom;
} table;

void healctl_table_cell(table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int healctl_table_print(table *t);
void healctl_table_free(table *t);
/* printf through the sanitizer, line by line (text that quotes the agent's answers) */
void healctl_cprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* a finite number under key: 1 and *out, else 0 */
int healctl_jnum(const json_t *o, const char *key, double *out);
/* "5m ago" / "in 5m" within a day, else local time; "-" when absent */
void healctl_fmt_time(char *b, size_t n, const json_t *o, const char *key);
/* "until 14:05:03 (4m left)"; "" when absent or past */
void healctl_fmt_until(char *b, size_t n, const json_t *o, const char *key);
/* a duration that may be short ("0.2s"); "-" when absent */
void healctl_fmt_duration(char *b, size_t n, const json_t *o, const char *key);
extern int healctl_utf8_term;
extern int healctl_no_legend;   /* --no-legend: tables without their header line */
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
/* healctl_show.c: show heal ID, show issue ID, explain ID */
int healctl_cmd_show_heal(const ctx *c, const char *id);
int healctl_cmd_show_issue(const ctx *c, const char *id);
int healctl_cmd_explain(const ctx *c, const char *id);
/* healctl_holds.c: hold TARGET / unhold TARGET (release 1), and the list */
int healctl_cmd_hold(const ctx *c, int release, const char *target, const char *type,
                     const char *dur, const char *reason, int even_critical);
int healctl_cmd_holds(const ctx *c);
/* healctl_undo.c: undo HEAL_ID (heal_id) or restore --to TIME (heal_id NULL) */
int healctl_cmd_undo(const ctx *c, const char *heal_id, const char *to, int dry_run, int force);
/* --for: DIGITS[.DIGITS] with an optional s, m, h or d; 0 = until released; at most
 * HEALCTL_HOLD_MAX_S. 0 and *out in seconds, or -1. */
#define HEALCTL_HOLD_MAX_S (3650.0 * 86400.0)
int healctl_parse_duration(const char *s, double *out);

#endif
