/* http_api_undo.c — POST /api/v1/heals/ID/undo and POST /api/v1/restore?to=TIME: the query
 * arguments (to, dry_run, force) read and checked here, the backend (agent_http.c) reverts the
 * changes; http.c routes and authorizes (bearer token, as every POST) and sends the answer. */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

#include "healer/types.h"

static const char *arg(struct MHD_Connection *c, const char *key)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

static int flag(struct MHD_Connection *c, const char *key)
{
    const char *v = arg(c, key);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

static json_t *error(const char *msg)
{
    json_t *o = json_object();
    json_t *m = json_string(msg);
    json_object_set_new(o, "error", m ? m : json_string("bad request (the message was not UTF-8)"));
    return o;
}

unsigned http_undo_post(struct MHD_Connection *c, const http_backend *be, uint64_t heal_id,
                        json_t **out)
{
    *out = NULL;
    if (!be->undo) {
        *out = error("undo and restore are not available");
        return MHD_HTTP_NOT_FOUND;
    }
    http_undo_req rq = { .heal_id = heal_id, .to = arg(c, "to"), .dry_run = flag(c, "dry_run"),
                         .force = flag(c, "force") };
    if (!heal_id && (!rq.to || !rq.to[0])) {
        *out = error("a restore needs ?to=TIME: ISO 8601 (2026-12-02T16:00:00Z), relative "
                     "(-1h, -30m) or seconds since the epoch");
        return MHD_HTTP_BAD_REQUEST;
    }
    char msg[512] = "";
    json_t *o = NULL;
    int rc = be->undo(be->ud, &rq, &o, msg, sizeof msg);
    if (rc == HEALER_E_INVAL) {
        json_decref(o);
        *out = error(msg[0] ? msg : "bad request");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (rc == HEALER_E_NOTFOUND) {
        json_decref(o);
        *out = error(msg[0] ? msg : "no change is recorded for that heal");
        return MHD_HTTP_NOT_FOUND;
    }
    if (rc < 0 || !o) {
        json_decref(o);
        *out = error(msg[0] ? msg : "the undo failed");
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    *out = o;
    return MHD_HTTP_OK;
}
