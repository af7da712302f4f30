/* http_api_holds.c — POST /api/v1/holds and POST /api/v1/holds/release: the request's query
 * arguments (target, type, for, reason, by, even_critical) read and checked here, then handed to
 * the backend; http.c routes, authorizes (bearer token, as confirm/reject) and sends the answer. */
#include "http_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_operator.h"
#include "healer/types.h"
#include "log.h"

static const char *arg(struct MHD_Connection *c, const char *key)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

static json_t *error(const char *msg)
{
    json_t *o = json_object();
    json_t *m = json_string(msg);
    json_object_set_new(o, "error", m ? m : json_string("bad request (the message was not UTF-8)"));
    return o;
}

int http_parse_duration(const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return -1;
    double mul = 1;
    if (*end == 's') mul = 1, end++;
    else if (*end == 'm') mul = 60, end++;
    else if (*end == 'h') mul = 3600, end++;
    else if (*end == 'd') mul = 86400, end++;
    if (*end || !(v * mul <= HOLD_MAX_S))
        return -1;
    *out = v * mul;
    return 0;
}

unsigned http_holds_post(struct MHD_Connection *c, const http_backend *be, int release,
                         json_t **out)
{
    *out = NULL;
    if (!be->hold) {
        *out = error("holds are not available");
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    http_hold_req rq = { .target = arg(c, "target"), .type = arg(c, "type"),
                         .reason = arg(c, "reason"), .by = arg(c, "by"), .release = release,
                         .duration = -1 };
    if (!rq.target || !rq.target[0]) {
        *out = error("a hold needs ?target=NAME (a unit, interface, mount point... or a shell "
                     "pattern)");
        return MHD_HTTP_BAD_REQUEST;
    }
    const char *f = arg(c, "for");
    if (!release && f && http_parse_duration(f, &rq.duration) < 0) {
        char m[160];
        snprintf(m, sizeof m, "for=%.60s is no duration: a number of seconds, or with s, m, h or d "
                 "(0 = until released), at most 3650d", f);
        *out = error(m);
        return MHD_HTTP_BAD_REQUEST;
    }
    const char *ec = arg(c, "even_critical");
    rq.even_critical = ec && (strcmp(ec, "1") == 0 || strcmp(ec, "true") == 0);
    char msg[512] = "";
    int rc = be->hold(be->ud, &rq, msg, sizeof msg);
    if (rc == HEALER_E_NOTFOUND) {
        *out = error(msg[0] ? msg : "no such hold");
        return MHD_HTTP_NOT_FOUND;
    }
    if (rc == HEALER_E_INVAL) {
        *out = error(msg[0] ? msg : "bad hold");
        return MHD_HTTP_BAD_REQUEST;
    }
    if (rc < 0) {
        *out = error(msg[0] ? msg : "the hold failed");
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    json_t *o = json_object();
    json_t *m = json_string(msg[0] ? msg : "done");
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "message", m ? m : json_string("done"));
    *out = o;
    return MHD_HTTP_OK;
}

int http_hold_apply(hold_table *hs, const http_hold_req *rq, double now, char *msg, size_t len)
{
    if (!hs) {
        snprintf(msg, len, "holds are not available");
        return HEALER_E_NOTFOUND;
    }
    if (rq->release) {
        int n = holds_release(hs, rq->target, rq->type);
        if (!n) {
            snprintf(msg, len, "no hold on %.200s%s%.60s", rq->target, rq->type ? " of type " : "",
                     rq->type ? rq->type : "");
            return HEALER_E_NOTFOUND;
        }
        snprintf(msg, len, "%d hold(s) on %.200s released", n, rq->target);
        log_info("holds", "%s", msg);
        return HEALER_OK;
    }
    double d = rq->duration < 0 ? HOLD_DEFAULT_S : rq->duration;
    hold h = { rq->target, rq->type ? rq->type : "", rq->reason ? rq->reason : "",
               rq->by && rq->by[0] ? rq->by : "api", now, d > 0 ? now + d : 0,
               rq->even_critical };
    char err[200] = "";
    int rc = holds_put(hs, &h, err, sizeof err);
    if (rc == -1) {
        snprintf(msg, len, "%s", err);
        return HEALER_E_INVAL;
    }
    char until[64];
    if (d > 0)
        snprintf(until, sizeof until, "for %.0f s", d);
    else
        snprintf(until, sizeof until, "until released");
    snprintf(msg, len, "held: %.200s%s%.60s%s %s%s%s", rq->target, h.type[0] ? " (type " : "",
             h.type, h.type[0] ? ")" : "", until,
             h.even_critical ? ", critical issues included" : "", rc == -2 ? "; " : "");
    if (rc == -2) {
        size_t k = strlen(msg);
        snprintf(msg + k, len - k, "%s", err);
    }
    log_info("holds", "%s (by %s%s%s)", msg, h.by, h.reason[0] ? ": " : "", h.reason);
    return HEALER_OK;
}

void http_hold_audit(struct audit_log *a, const http_hold_req *rq, int rc, const char *msg)
{
    json_t *p = json_object();
    if (rq->type && rq->type[0])
        json_object_set_new(p, "type", json_string(rq->type));
    if (!rq->release) {
        double d = rq->duration < 0 ? HOLD_DEFAULT_S : rq->duration;
        json_object_set_new(p, "for_s", json_real(d));
        json_object_set_new(p, "even_critical", json_boolean(rq->even_critical));
        json_t *r = json_string(rq->reason ? rq->reason : "");
        json_object_set_new(p, "reason", r ? r : json_string("(not UTF-8)"));
    }
    json_t *b = json_string(rq->by && rq->by[0] ? rq->by : "api");
    json_object_set_new(p, "by", b ? b : json_string("(not UTF-8)"));
    const char *res = rc == HEALER_OK ? "ok" : rc == HEALER_E_NOTFOUND ? "not_found"
                    : rc == HEALER_E_INVAL ? "invalid" : "failed";
    audit_operator(a, rq->release ? "unhold" : "hold", 0, rq->target, p, res, msg);
    json_decref(p);
}
