/* http_int.h — what http.c shares with its API handlers in other files (http_api.c,
 * http_api_holds.c): the answer helpers and the handlers' entry points. */
#ifndef AGENT_HTTP_INT_H
#define AGENT_HTTP_INT_H

#include <microhttpd.h>
#include <jansson.h>
#include "holds.h"
#include "http.h"

#define CT_JSON "application/json"

/* http.c's answers, shared with the handlers in http_api*.c. send_json steals obj. */
enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *obj,
                          const char *const *extra);
enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *const *extra,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The client's address as text (for the log), "?" when unknown. */
const char *client_addr(struct MHD_Connection *c, char *buf, size_t len);

/* http_api.c: a backend view fn(ud) as 200 JSON (500 naming what when it has none);
 * /api/v1/heals?limit=N; a command (id: the plan, 0 for pause and resume), already
 * authorized. */
enum MHD_Result http_serve_backend(struct MHD_Connection *c, const char *what,
                                   json_t *(*fn)(void *), void *ud);
enum MHD_Result http_serve_heals(const http_backend *be, struct MHD_Connection *c);
enum MHD_Result http_serve_history(const http_backend *be, struct MHD_Connection *c);
/* One heal or issue by ID (what: "heal" or "issue"): 200, 404 unknown, 500. */
enum MHD_Result http_serve_one(struct MHD_Connection *c, const char *what,
                               int (*fn)(void *, uint64_t, json_t **), void *ud, uint64_t id);
enum MHD_Result http_serve_command(const http_backend *be, struct MHD_Connection *c,
                                   http_command cmd, uint64_t id);

/* "90", "90s", "15m", "2h", "1d" -> seconds (>= 0). 0, or -1 when s is no duration. */
int http_parse_duration(const char *s, double *out);

/* POST /api/v1/holds (release 0) or /api/v1/holds/release (1), already authorized: the HTTP
 * status, and *out the JSON answer (a new reference). */
unsigned http_holds_post(struct MHD_Connection *c, const http_backend *be, int release,
                         json_t **out);

/* POST /api/v1/heals/ID/undo (heal_id > 0) or /api/v1/restore (0), already authorized: the
 * HTTP status, and *out the JSON answer (a new reference). */
unsigned http_undo_post(struct MHD_Connection *c, const http_backend *be, uint64_t heal_id,
                        json_t **out);

/* POST /api/v1/alerts (http_api_alerts.c), already authorized, its body read (at most
 * ALERTS_BODY_MAX bytes): the HTTP status, and *out the JSON answer (a new reference). */
unsigned http_alerts_post(const http_backend *be, const char *body, size_t len, json_t **out);

/* Carries out a hold request on hs at now (the backend's half, agent.c): HEALER_OK, _E_INVAL,
 * _E_NOTFOUND, with what happened in msg. Without --for a hold lasts HOLD_DEFAULT_S. */
int http_hold_apply(hold_table *hs, const http_hold_req *rq, double now, char *msg, size_t len);

/* The hold request and what came of it (rc, msg from http_hold_apply) as an audit.jsonl line:
 * decision "hold" or "unhold", params type, for_s, reason, by, even_critical. */
struct audit_log;
void http_hold_audit(struct audit_log *a, const http_hold_req *rq, int rc, const char *msg);

#endif
