/* http_api.c — the JSON API's handlers behind http.c's routing and authorization: the
 * backend views (status, issues, plugins, knowledge, pending, holds), /api/v1/heals and its
 * limit argument, /api/v1/history and its minutes, one heal or issue by ID, and the operator's commands (confirm, reject, pause, resume). */
#include "http_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "healer/types.h"
#include "history.h"
#include "log.h"

#define HEALS_DEFAULT 50
#define HEALS_MAX 1000

enum MHD_Result http_serve_backend(struct MHD_Connection *c, const char *what,
                                   json_t *(*fn)(void *), void *ud)
{
    json_t *o = fn ? fn(ud) : NULL;
    if (!o)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "%s are not available", what);
    return send_json(c, MHD_HTTP_OK, o, NULL);
}

typedef struct arg_scan {
    const char *name;
    int count;
    const char *value;
} arg_scan;

static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    arg_scan *a = cls;
    if (key && strcmp(key, a->name) == 0) {
        if (a->count++ == 0)
            a->value = value;
    }
    return MHD_YES;
}

/* A whole-number query argument from 1 to max (given at most once): 0 with *out set (def when
 * absent), or -1 when the request has been answered 400 (*ret). */
static int int_arg(struct MHD_Connection *c, const char *name, int def, int max, int *out,
                   enum MHD_Result *ret)
{
    arg_scan a = {name, 0, NULL};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, scan_arg, &a);
    *out = def;
    if (a.count > 1) {
        *ret = send_error(c, MHD_HTTP_BAD_REQUEST, NULL, "%s given %d times; give it once",
                          name, a.count);
        return -1;
    }
    if (a.count == 1) {
        const char *v = a.value ? a.value : "";
        long n = 0;
        size_t i = 0;
        for (; v[i] && i < 5 && isdigit((unsigned char)v[i]); i++)
            n = n * 10 + (v[i] - '0');
        if (i == 0 || v[i] || n < 1 || n > max) {
            *ret = send_error(c, MHD_HTTP_BAD_REQUEST, NULL,
                              "%s must be an integer from 1 to %d, not \"%.40s\"", name, max, v);
            return -1;
        }
        *out = (int)n;
    }
    return 0;
}

enum MHD_Result http_serve_heals(const http_backend *be, struct MHD_Connection *c)
{
    int limit;
    enum MHD_Result ret;
    if (int_arg(c, "limit", HEALS_DEFAULT, HEALS_MAX, &limit, &ret) < 0)
        return ret;
    json_t *o = be->heals ? be->heals(be->ud, limit) : NULL;
    if (!o)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "heals are not available");
    return send_json(c, MHD_HTTP_OK, o, NULL);
}

enum MHD_Result http_serve_history(const http_backend *be, struct MHD_Connection *c)
{
    int minutes;
    enum MHD_Result ret;
    if (!be->history)
        return send_error(c, MHD_HTTP_NOT_FOUND, NULL, "this agent keeps no history");
    if (int_arg(c, "minutes", HISTORY_SLOTS, HISTORY_SLOTS, &minutes, &ret) < 0)
        return ret;
    json_t *o = be->history(be->ud, minutes);
    if (!o)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "history is not available");
    return send_json(c, MHD_HTTP_OK, o, NULL);
}

enum MHD_Result http_serve_one(struct MHD_Connection *c, const char *what,
                               int (*fn)(void *, uint64_t, json_t **), void *ud, uint64_t id)
{
    json_t *o = NULL;
    int rc = fn ? fn(ud, id, &o) : HEALER_E_NOTFOUND;
    if (rc == HEALER_E_NOTFOUND || (rc == HEALER_OK && !o))
        return send_error(c, MHD_HTTP_NOT_FOUND, NULL, "no %s with ID %llu", what,
                          (unsigned long long)id);
    if (rc < 0) {
        json_decref(o);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "%s %llu: %s", what,
                          (unsigned long long)id, healer_rc_str(rc));
    }
    return send_json(c, MHD_HTTP_OK, o, NULL);
}

static const char *cmd_name(http_command cmd)
{
    switch (cmd) {
    case HTTP_CMD_CONFIRM: return "confirm";
    case HTTP_CMD_REJECT: return "reject";
    case HTTP_CMD_PAUSE: return "pause";
    default: return "resume";
    }
}

/* id: the plan (0 for pause and resume, which take none); already authorized. */
enum MHD_Result http_serve_command(const http_backend *be, struct MHD_Connection *c,
                                   http_command cmd, uint64_t id)
{
    char what[96];
    if (id)
        snprintf(what, sizeof what, "%s of pending plan %llu", cmd_name(cmd),
                 (unsigned long long)id);
    else
        snprintf(what, sizeof what, "%s", cmd_name(cmd));
    if (!be->command)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "commands are not available");
    char msg[512] = "";
    int rc = be->command(be->ud, cmd, id, msg, sizeof msg);
    msg[sizeof msg - 1] = '\0';
    char addr[INET6_ADDRSTRLEN + 1];
    log_info("http", "%s from %s: %s%s%s", what, client_addr(c, addr, sizeof addr),
             healer_rc_str(rc), msg[0] ? ": " : "", msg);
    if (rc == HEALER_E_NOTFOUND)
        return send_error(c, MHD_HTTP_NOT_FOUND, NULL, "%s",
                          msg[0] ? msg : "no pending plan with this ID");
    if (rc < 0)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "%s failed: %s", what,
                          msg[0] ? msg : healer_rc_str(rc));
    json_t *o = json_object();
    json_t *m = json_string(msg[0] ? msg : "done");
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "message", m ? m : json_string("done"));
    return send_json(c, MHD_HTTP_OK, o, NULL);
}
