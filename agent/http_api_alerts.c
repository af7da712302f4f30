/* http_api_alerts.c — POST /api/v1/alerts, Alertmanager's webhook_config receiver: the body
 * http.c read (bounded) handed to the backend (agent_http.c: alerts.c parses and maps it, the
 * engine raises the issues), the answer's status and JSON. http.c routes and authorizes it (the
 * API token, or fleet.alerts.token_file). */
#include "http_int.h"

#include <stdio.h>

#include "healer/types.h"

static json_t *error(const char *msg)
{
    json_t *o = json_object();
    json_t *m = json_string(msg);
    json_object_set_new(o, "error", m ? m : json_string("bad request (the message was not UTF-8)"));
    return o;
}

unsigned http_alerts_post(const http_backend *be, const char *body, size_t len, json_t **out)
{
    *out = NULL;
    if (!be->alerts) {
        *out = error("alerts are not received: fleet.alerts is not configured");
        return MHD_HTTP_NOT_FOUND;
    }
    char msg[512] = "";
    json_t *o = NULL;
    int rc = be->alerts(be->ud, body, len, &o, msg, sizeof msg);
    if (rc == HEALER_OK && o) {
        *out = o;
        return MHD_HTTP_OK;
    }
    json_decref(o);
    if (rc == HEALER_E_INVAL) {
        *out = error(msg[0] ? msg : "not an Alertmanager webhook payload");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (rc == HEALER_E_NOTFOUND) {
        *out = error(msg[0] ? msg : "alerts are not received: fleet.alerts is not configured");
        return MHD_HTTP_NOT_FOUND;
    }
    *out = error(msg[0] ? msg : "the alerts could not be taken now");
    return MHD_HTTP_SERVICE_UNAVAILABLE;
}
