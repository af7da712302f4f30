/* http.c — the HTTP server on libmicrohttpd: /metrics, /healthz, the dashboard, the JSON API
 * of docs/http-api.md, the bearer token (token file re-read when it changes), the Host
 * allow-list, body limits and the error answers. Decisions on bytes are in http_parse.c, the
 * connection limits and request-head deadline in http_guard.c. */
#include "http.h"
#include "metrics_process.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dashboard.h"
#include "http_guard.h"
#include "http_int.h"
#include "http_parse.h"
#include "log.h"

/* A fixed pool rather than a thread per connection: the handlers never block for long (the
 * metrics text is cached, the backend answers from memory or one SQLite read), so a few
 * threads serve many keep-alive scrapers, and idle or slow clients cannot make the agent
 * spawn threads without bound. */
#define POOL_THREADS 4
/* Connections: http_guard keeps at most MAX_CONNECTIONS (MAX_PER_CLIENT from one address) by
 * shutting down the oldest that have not sent a request head; libmicrohttpd's own limit is
 * higher so that a new client is accepted while shut-down ones are still being reaped. */
#define MAX_CONNECTIONS 256
#define MAX_PER_CLIENT 64
#define MHD_SLACK 128
#define HEADER_DEADLINE_S 10.0
#define CONNECTION_TIMEOUT_S 15    /* idle while a body or an answer is in flight */
#define CONNECTION_MEMORY 65536    /* per-connection buffer: request line and headers */
#define MAX_BODY 16384             /* no endpoint but the alerts one reads a body */
/* POST /api/v1/alerts reads its body (an Alertmanager group: 10 000 alerts with a few labels
 * and a summary are ~3.3 MB);
 * all alert bodies being read at once share ALERTS_BODY_TOTAL, beyond it a sender gets 503 and
 * retries (Alertmanager does) rather than the agent growing with the number of senders. */
#define ALERTS_BODY_MAX (4 * 1024 * 1024)
#define ALERTS_BODY_TOTAL (16 * 1024 * 1024)
#define MAX_DISCARD (1024 * 1024)  /* past this a chunked body is cut off, not read */
#define TOKEN_MAX HTTP_TOKEN_MAX


#define CT_TEXT "text/plain; charset=utf-8"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CT_HTML "text/html; charset=utf-8"

struct http_server {
    struct MHD_Daemon *d;
    http_backend be;
    int port;
    char listen[128];
    char *token_file;
    pthread_mutex_t tok_mu;
    /* The token, zero-padded to TOKEN_MAX so the comparison reads the same bytes whatever
     * its length. */
    unsigned char token[TOKEN_MAX];
    size_t token_len;
    int have_token;
    char token_problem[256];      /* why there is no token: for the 403 answer */
    int tok_exists;
    struct stat tok_st;           /* what the file looked like when last read */
    pthread_mutex_t err_mu;       /* own lock: libmicrohttpd may log while tok_mu is held */
    char last_error[256];         /* libmicrohttpd's last message, for http_start's err */
    http_guard *guard;
    char *alerts_token_file;      /* fleet.alerts.token_file (under tok_mu); NULL none */
    atomic_size_t alert_bytes;    /* alert bodies buffered now, all connections */
    pthread_mutex_t hosts_mu;
    char **hosts;                 /* Host names served: loopback, the listen address, extras */
    size_t n_hosts;
};

typedef struct request {
    size_t body;
    int too_large;
    int refused;       /* answered on the first call (Host, head): the rest is not served */
    size_t limit;      /* the body this route takes: MAX_BODY, or ALERTS_BODY_MAX */
    int keep;          /* the route reads its body: kept in buf */
    int busy;          /* ALERTS_BODY_TOTAL reached: answered 503, the body dropped */
    char *buf;
    size_t cap;        /* counted in alert_bytes */
} request;

/* ---- token --------------------------------------------------------------------------- */

static int same_file_state(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Reads the first line of the token file, trimmed. Called with tok_mu held. */
static void token_load(http_server *s)
{
    memset(s->token, 0, sizeof s->token);
    s->token_len = 0;
    s->have_token = 0;
    s->tok_exists = 0;
    if (!s->token_file || !*s->token_file) {
        snprintf(s->token_problem, sizeof s->token_problem, "http.token_file is not set");
        return;
    }
    int fd = open(s->token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(s->token_problem, sizeof s->token_problem, "cannot read %s: %s", s->token_file,
                 strerror(errno));
        if (stat(s->token_file, &s->tok_st) == 0)
            s->tok_exists = 1;
        log_warn("http", "%s: POST requests are refused until the token file is readable",
                 s->token_problem);
        return;
    }
    if (fstat(fd, &s->tok_st) == 0)
        s->tok_exists = 1;
    if (s->tok_exists && (s->tok_st.st_mode & 077))
        log_warn("http", "%s: readable by group or others (mode %03o); chmod 600 it",
                 s->token_file, (unsigned)(s->tok_st.st_mode & 0777));
    char buf[TOKEN_MAX + 64];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int err = errno;
    close(fd);
    if (n < 0) {
        snprintf(s->token_problem, sizeof s->token_problem, "cannot read %s: %s", s->token_file,
                 strerror(err));
        log_warn("http", "%s", s->token_problem);
        return;
    }
    buf[n] = '\0';
    char *nl = strpbrk(buf, "\r\n");
    if (nl)
        *nl = '\0';
    else if ((size_t)n == sizeof buf - 1) {
        snprintf(s->token_problem, sizeof s->token_problem,
                 "%s: the token is longer than %d bytes", s->token_file, TOKEN_MAX);
        log_error("http", "%s", s->token_problem);
        return;
    }
    char *p = buf;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len == 0) {
        snprintf(s->token_problem, sizeof s->token_problem, "%s: the first line is empty",
                 s->token_file);
        log_warn("http", "%s: POST requests are refused", s->token_problem);
        return;
    }
    if (len > TOKEN_MAX) {
        snprintf(s->token_problem, sizeof s->token_problem,
                 "%s: the token is longer than %d bytes", s->token_file, TOKEN_MAX);
        log_error("http", "%s", s->token_problem);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        /* It must fit in an Authorization header as it is. */
        unsigned char c = (unsigned char)p[i];
        if (c < 0x21 || c > 0x7e) {
            snprintf(s->token_problem, sizeof s->token_problem,
                     "%s: the token has a character (byte %zu) that is not printable ASCII",
                     s->token_file, i + 1);
            log_error("http", "%s", s->token_problem);
            return;
        }
    }
    memcpy(s->token, p, len);
    s->token_len = len;
    s->have_token = 1;
    s->token_problem[0] = '\0';
    memset(buf, 0, sizeof buf);
}

/* Re-reads the token file when it appeared, vanished or changed since the last read. */
static void token_refresh(http_server *s)
{
    if (!s->token_file || !*s->token_file)
        return;
    struct stat st;
    int exists = stat(s->token_file, &st) == 0;
    if (exists == s->tok_exists && (!exists || same_file_state(&st, &s->tok_st)))
        return;
    token_load(s);
    log_info("http", "token file %s %s", s->token_file,
             s->have_token ? "read again: new token in use" : "changed: no usable token");
}

/* ---- responses ----------------------------------------------------------------------- */

static void common_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *type,
                                void *buf, size_t len, enum MHD_ResponseMemoryMode mode,
                                const char *const *extra)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(buf);
        return MHD_NO;
    }
    common_headers(r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    for (size_t i = 0; extra && extra[i]; i += 2)
        MHD_add_response_header(r, extra[i], extra[i + 1]);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends obj (stolen) as JSON. */
enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *obj,
                                 const char *const *extra)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text) {
        static const char oops[] = "{\"error\":\"cannot encode the answer as JSON\"}\n";
        return send_buf(c, MHD_HTTP_INTERNAL_SERVER_ERROR, CT_JSON, (void *)oops,
                        sizeof oops - 1, MHD_RESPMEM_PERSISTENT, NULL);
    }
    size_t len = strlen(text);
    char *withnl = realloc(text, len + 2);
    if (withnl) {
        text = withnl;
        text[len++] = '\n';
        text[len] = '\0';
    }
    return send_buf(c, status, CT_JSON, text, len, MHD_RESPMEM_MUST_FREE, extra);
}

enum MHD_Result send_error(struct MHD_Connection *c, unsigned status,
                                  const char *const *extra, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    json_t *m = json_string(msg);
    if (!m)   /* not UTF-8 (it can quote a path): say so rather than fail */
        m = json_string("request refused (the message was not valid UTF-8)");
    json_object_set_new(o, "error", m);
    return send_json(c, status, o, extra);
}

/* ---- handlers ------------------------------------------------------------------------ */

static enum MHD_Result serve_metrics(http_server *s, struct MHD_Connection *c)
{
    char *text = NULL;
    if (s->be.metrics && s->be.collect)
        s->be.collect(s->be.ud);
    size_t len = s->be.metrics ? metrics_render(s->be.metrics, &text) : 0;
    /* The agent's own process_* families: read now, never cached. Out of memory leaves them out. */
    if (text)
        (void)metrics_process_append(&text, &len);
    if (!text) {
        if (s->be.metrics)
            return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
                              "cannot render the metrics (out of memory)");
        static const char none[] = "";
        return send_buf(c, MHD_HTTP_OK, CT_METRICS, (void *)none, 0, MHD_RESPMEM_PERSISTENT,
                        NULL);
    }
    return send_buf(c, MHD_HTTP_OK, CT_METRICS, text, len, MHD_RESPMEM_MUST_FREE, NULL);
}

static enum MHD_Result serve_dashboard(struct MHD_Connection *c)
{
    size_t len;
    const char *page = dashboard_html(&len);
    const char *extra[] = {
        "Content-Security-Policy", dashboard_csp(),
        "X-Frame-Options", "DENY",
        "Referrer-Policy", "no-referrer",
        NULL,
    };
    return send_buf(c, MHD_HTTP_OK, CT_HTML, (void *)page, len, MHD_RESPMEM_PERSISTENT, extra);
}

const char *client_addr(struct MHD_Connection *c, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, len, "?");
    if (!ci || !ci->client_addr)
        return buf;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)len);
    return buf;
}

static http_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    (void)key;
    (void)value;
    *(size_t *)cls += key_size + 2 + value_size + 2;   /* "Key: value\r\n" */
    return MHD_YES;
}

/* libmicrohttpd hands out header values as C strings: "Bearer TOKEN<NUL>junk" reaches us as
 * "Bearer TOKEN". It does count every byte of the request head, though, so the bytes a NUL hid
 * show as a head longer than the request line and headers we were given, written plainly. Extra
 * spaces around a value count too (no client of the agent sends them). */
static long hidden_head_bytes(http_server *s, struct MHD_Connection *c, const char *method,
                              const char *version)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    http_conn *hc = conn_of(c);
    if (!ci || !hc || !method || !version)
        return 1;   /* cannot tell: do not trust the header */
    size_t seen = strlen(method) + 1 + http_guard_uri_len(s->guard, hc) + 1 + strlen(version) + 2;
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, sum_header, &seen);
    seen += 2;
    return (long)ci->header_size - (long)seen;
}

/* 1 when the request carries the token of fleet.alerts.token_file (read at each request:
 * Alertmanager posts seldom, and a rotated file needs no reload). */
static int alerts_token_ok(http_server *s, struct MHD_Connection *c, const char *method,
                           const char *version)
{
    pthread_mutex_lock(&s->tok_mu);
    char *path = s->alerts_token_file ? strdup(s->alerts_token_file) : NULL;
    pthread_mutex_unlock(&s->tok_mu);
    if (!path)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    char buf[TOKEN_MAX + 2];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd < 0 || n < 0)
        log_warn("http", "fleet.alerts.token_file %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(path);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    char *p = buf + strspn(buf, " \t");
    size_t len = strlen(p);
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (!len || len > TOKEN_MAX)
        return 0;
    unsigned char tok[TOKEN_MAX];
    memset(tok, 0, sizeof tok);
    memcpy(tok, p, len);
    const char *h = NULL;
    size_t hlen = 0;
    int given = 0;
    int ok = MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
                                           strlen(MHD_HTTP_HEADER_AUTHORIZATION), &h,
                                           &hlen) == MHD_YES &&
             hidden_head_bytes(s, c, method, version) <= 0 &&
             http_bearer_check(h, hlen, tok, len, &given);
    memset(tok, 0, sizeof tok);
    memset(buf, 0, sizeof buf);
    return ok;
}

/* 0 when the request carries the right bearer token; otherwise it has been answered (400, 401
 * or 403) and *ret holds what to return to libmicrohttpd. */
static int authorize(http_server *s, struct MHD_Connection *c, const char *what,
                     const char *method, const char *version, enum MHD_Result *ret)
{
    char addr[INET6_ADDRSTRLEN + 1];
    pthread_mutex_lock(&s->tok_mu);
    token_refresh(s);
    if (!s->have_token) {
        char why[sizeof s->token_problem];
        memcpy(why, s->token_problem, sizeof why);
        pthread_mutex_unlock(&s->tok_mu);
        *ret = send_error(c, MHD_HTTP_FORBIDDEN, NULL,
                          "POST requests are disabled: no API token is configured (%s); put "
                          "a token in the first line of http.token_file", why);
        return -1;
    }
    const char *h = NULL;
    size_t hlen = 0;
    int have = MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
                                             strlen(MHD_HTTP_HEADER_AUTHORIZATION), &h,
                                             &hlen) == MHD_YES;
    long hidden = have ? hidden_head_bytes(s, c, method, version) : 0;
    int given = 0;
    int ok = have && hidden <= 0 && http_bearer_check(h, hlen, s->token, s->token_len, &given);
    pthread_mutex_unlock(&s->tok_mu);
    if (ok)
        return 0;
    if (have && hidden > 0) {
        log_warn("http", "%s from %s refused: %ld byte(s) of the request head belong to no "
                 "header", what, client_addr(c, addr, sizeof addr), hidden);
        *ret = send_error(c, MHD_HTTP_BAD_REQUEST, NULL,
                          "%ld byte(s) of the request head belong to no header (a NUL byte "
                          "inside a header, or spaces around a value); the Authorization "
                          "header is not trusted", hidden);
        return -1;
    }
    if (!given) {
        const char *extra[] = {"WWW-Authenticate", "Bearer realm=\"healerd\"", NULL};
        *ret = send_error(c, MHD_HTTP_UNAUTHORIZED, extra,
                          "a bearer token is required: send Authorization: Bearer TOKEN "
                          "(the token is the first line of http.token_file)");
        return -1;
    }
    log_warn("http", "%s from %s refused: wrong bearer token", what,
             client_addr(c, addr, sizeof addr));
    const char *extra[] = {"WWW-Authenticate",
                           "Bearer realm=\"healerd\", error=\"invalid_token\"", NULL};
    *ret = send_error(c, MHD_HTTP_UNAUTHORIZED, extra, "the bearer token is wrong");
    return -1;
}

/* ---- routing ------------------------------------------------------------------------- */

static enum MHD_Result dispatch(http_server *s, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const request *rq)
{
    http_route r;
    http_route_match(url, strlen(url), &r);
    if (r.id == HTTP_RT_NONE)
        return send_error(c, MHD_HTTP_NOT_FOUND, NULL, "no such resource: %.200s", url);
    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                 strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (r.id == HTTP_RT_HOLDS && is_post)
        r.post = 1; /* POST /api/v1/holds makes one; GET lists them */
    if (r.post ? !is_post : !is_get) {
        const char *allow = r.post ? "POST" : "GET, HEAD";
        const char *extra[] = {MHD_HTTP_HEADER_ALLOW, allow, NULL};
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, extra,
                          "method %.20s is not allowed on %.200s; use %s", method, url, allow);
    }
    if (r.id == HTTP_RT_BAD_ID)
        return send_error(c, MHD_HTTP_BAD_REQUEST, NULL,
                          "the ID must be a decimal number from 1 to %llu without leading "
                          "zeros, in %.200s", (unsigned long long)UINT64_MAX, url);
    /* POSTs always need the token; so does everything but /healthz from a client that is not
     * on this host (http.allow_remote): what the API shows is for the operator only. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    int remote = !ci || !http_addr_is_loopback(ci->client_addr);
    if (r.post || (remote && r.id != HTTP_RT_HEALTHZ)) {
        char what[96];
        if (r.id == HTTP_RT_CONFIRM || r.id == HTTP_RT_REJECT)
            snprintf(what, sizeof what, "%s of pending plan %llu",
                     r.id == HTTP_RT_CONFIRM ? "confirm" : "reject",
                     (unsigned long long)r.plan_id);
        else
            snprintf(what, sizeof what, "%s %.60s", method, url);
        enum MHD_Result ret;
        if (!(r.id == HTTP_RT_ALERTS && alerts_token_ok(s, c, method, version)) &&
            authorize(s, c, what, method, version, &ret) < 0)
            return ret;
    }
    void *ud = s->be.ud;
    switch (r.id) {
    case HTTP_RT_DASHBOARD: return serve_dashboard(c);
    case HTTP_RT_METRICS: return serve_metrics(s, c);
    case HTTP_RT_HEALTHZ: {
        static const char ok[] = "ok\n";
        return send_buf(c, MHD_HTTP_OK, CT_TEXT, (void *)ok, sizeof ok - 1,
                        MHD_RESPMEM_PERSISTENT, NULL);
    }
    case HTTP_RT_STATUS: return http_serve_backend(c, "status", s->be.status, ud);
    case HTTP_RT_ISSUES: return http_serve_backend(c, "issues", s->be.issues, ud);
    case HTTP_RT_HEALS: return http_serve_heals(&s->be, c);
    case HTTP_RT_HISTORY: return http_serve_history(&s->be, c);
    case HTTP_RT_HEAL: return http_serve_one(c, "heal", s->be.heal, ud, r.plan_id);
    case HTTP_RT_ISSUE: return http_serve_one(c, "issue", s->be.issue, ud, r.plan_id);
    case HTTP_RT_PLUGINS: return http_serve_backend(c, "plugins", s->be.plugins, ud);
    case HTTP_RT_KNOWLEDGE: return http_serve_backend(c, "knowledge", s->be.knowledge, ud);
    case HTTP_RT_PENDING: return http_serve_backend(c, "pending plans", s->be.pending, ud);
    case HTTP_RT_PAUSE: return http_serve_command(&s->be, c, HTTP_CMD_PAUSE, 0);
    case HTTP_RT_RESUME: return http_serve_command(&s->be, c, HTTP_CMD_RESUME, 0);
    case HTTP_RT_CONFIRM: return http_serve_command(&s->be, c, HTTP_CMD_CONFIRM, r.plan_id);
    case HTTP_RT_REJECT: return http_serve_command(&s->be, c, HTTP_CMD_REJECT, r.plan_id);
    case HTTP_RT_HOLDS:
        if (!r.post)
            return http_serve_backend(c, "holds", s->be.holds, ud);
        /* fall through */
    case HTTP_RT_HOLD_RELEASE: {
        json_t *o;
        unsigned st = http_holds_post(c, &s->be, r.id == HTTP_RT_HOLD_RELEASE, &o);
        char addr[INET6_ADDRSTRLEN + 1];
        log_info("http", "%s from %s: %u", r.id == HTTP_RT_HOLDS ? "hold" : "hold release",
                 client_addr(c, addr, sizeof addr), st);
        return send_json(c, st, o, NULL);
    }
    case HTTP_RT_HEAL_UNDO:
    case HTTP_RT_RESTORE: {
        json_t *o;
        uint64_t id = r.id == HTTP_RT_HEAL_UNDO ? r.plan_id : 0;
        unsigned st = http_undo_post(c, &s->be, id, &o);
        char addr[INET6_ADDRSTRLEN + 1];
        log_info("http", "%s from %s: %u", id ? "undo" : "restore",
                 client_addr(c, addr, sizeof addr), st);
        return send_json(c, st, o, NULL);
    }
    case HTTP_RT_ALERTS: {
        json_t *o;
        unsigned st = http_alerts_post(&s->be, rq->buf ? rq->buf : "", rq->body, &o);
        char addr[INET6_ADDRSTRLEN + 1];
        log_debug("http", "alerts from %s: %u", client_addr(c, addr, sizeof addr), st);
        return send_json(c, st, o, NULL);
    }
    default: return send_error(c, MHD_HTTP_NOT_FOUND, NULL, "no such resource");
    }
}

static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    if (key && strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        (*(int *)cls)++;
    return MHD_YES;
}

/* The Host header names this server: a page from another site that a DNS name was pointed at
 * 127.0.0.1 (DNS rebinding) sends its own name and gets 421. A request without Host can only
 * come from a program written for it, never a browser: allowed for HTTP/1.0, which had none;
 * HTTP/1.1 requires one (400). 0 to go on, else answered. */
static int check_host(http_server *s, struct MHD_Connection *c, const char *version,
                      enum MHD_Result *ret)
{
    int n = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_host, &n);
    const char *h = NULL;
    size_t hlen = 0;
    if (n == 0) {
        if (version && strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
            return 0;
        *ret = send_error(c, MHD_HTTP_BAD_REQUEST, NULL, "an HTTP/1.1 request needs a Host header");
        return -1;
    }
    if (n > 1) {
        *ret = send_error(c, MHD_HTTP_BAD_REQUEST, NULL, "%d Host headers; send one", n);
        return -1;
    }
    MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST,
                                  strlen(MHD_HTTP_HEADER_HOST), &h, &hlen);
    pthread_mutex_lock(&s->hosts_mu);
    int ok = h && http_host_allowed(h, hlen, (const char *const *)s->hosts, s->n_hosts);
    pthread_mutex_unlock(&s->hosts_mu);
    if (ok)
        return 0;
    char addr[INET6_ADDRSTRLEN + 1];
    char shown[80];
    size_t k = 0;
    for (size_t i = 0; h && i < hlen && k + 1 < sizeof shown; i++)   /* printable only */
        shown[k++] = (h[i] >= 0x20 && h[i] < 0x7f && h[i] != '"' && h[i] != '\\') ? h[i] : '?';
    shown[k] = '\0';
    log_info("http", "request from %s for Host \"%s\" refused (421): not a name of this server",
             client_addr(c, addr, sizeof addr), shown);
    *ret = send_error(c, MHD_HTTP_MISDIRECTED_REQUEST, NULL,
                      "Host \"%s\" is not a name of this server (localhost, 127.0.0.1, [::1], "
                      "the listen address and http.allowed_hosts are)", shown);
    return -1;
}

/* Appends got bytes to rq's body, within ALERTS_BODY_TOTAL over all connections. -1 past it
 * (or out of memory). */
static int body_keep(http_server *s, request *rq, const char *data, size_t got)
{
    if (rq->body + got > rq->cap) {
        size_t nc = rq->cap ? rq->cap : 16384;
        while (nc < rq->body + got)
            nc *= 2;
        if (nc > rq->limit)
            nc = rq->limit;
        size_t grow = nc - rq->cap;
        if (atomic_fetch_add(&s->alert_bytes, grow) + grow > ALERTS_BODY_TOTAL) {
            atomic_fetch_sub(&s->alert_bytes, grow);
            return -1;
        }
        char *b = realloc(rq->buf, nc);
        if (!b) {
            atomic_fetch_sub(&s->alert_bytes, grow);
            return -1;
        }
        rq->buf = b;
        rq->cap = nc;
    }
    memcpy(rq->buf + rq->body, data, got);
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)upload_data;
    http_server *s = cls;
    request *rq = *con_cls;
    if (!rq) {
        /* First call: only the headers are here. A declared body that is too large is
         * refused before any of it is read (libmicrohttpd then closes the connection). */
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        rq->limit = MAX_BODY;
        if (url && method && strcmp(method, MHD_HTTP_METHOD_POST) == 0 &&
            http_route_match(url, strlen(url), NULL) == HTTP_RT_ALERTS) {
            rq->limit = ALERTS_BODY_MAX;
            rq->keep = 1;
        }
        http_guard_request_started(s->guard, conn_of(c));
        enum MHD_Result ret;
        if (check_host(s, c, version, &ret) < 0) {
            rq->refused = 1;
            return ret;
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || end == cl || n > rq->limit) {
                rq->too_large = 1;
                return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                                  "request body too large (at most %zu bytes)", rq->limit);
            }
        }
        /* The token before the body: a client without it must not make the agent keep
         * megabytes (dispatch checks again, as for every POST). */
        if (rq->keep && !alerts_token_ok(s, c, method, version) &&
            authorize(s, c, "POST /api/v1/alerts", method, version, &ret) < 0) {
            rq->refused = 1;
            return ret;
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t got = *upload_data_size;
        if (rq->keep && !rq->refused && !rq->too_large && !rq->busy &&
            rq->body + got <= rq->limit && body_keep(s, rq, upload_data, got) < 0)
            rq->busy = 1;
        /* Every other endpoint: count and drop it. */
        rq->body += got;
        *upload_data_size = 0;
        if (rq->body > rq->limit)
            rq->too_large = 1;
        if (rq->body > MAX_DISCARD && rq->body > rq->limit)
            return MHD_NO;   /* stop reading a body this large: close the connection */
        return MHD_YES;
    }
    if (rq->refused)
        return MHD_YES;   /* answered already; the body is being read and dropped */
    if (rq->too_large)
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                          "request body too large (at most %zu bytes)", rq->limit);
    if (rq->busy) {
        const char *extra[] = {"Retry-After", "5", NULL};
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, extra,
                          "too many alert payloads are being read at once (%d MiB); retry",
                          ALERTS_BODY_TOTAL / (1024 * 1024));
    }
    if (!url || !method)
        return send_error(c, MHD_HTTP_BAD_REQUEST, NULL, "malformed request");
    return dispatch(s, c, url, method, version, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    (void)toe;
    http_guard_request_done(s->guard, conn_of(c));
    request *rq = *con_cls;
    if (rq && rq->buf) {
        atomic_fetch_sub(&s->alert_bytes, rq->cap);
        free(rq->buf);
    }
    free(rq);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_context = fd ? http_guard_opened(s->guard, fd->connect_fd,
                                                 ad ? ad->client_addr : NULL)
                             : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_guard_closed(s->guard, *socket_context);
        *socket_context = NULL;
    }
}

/* Called with the request line's URI as sent, before it is decoded: its length is part of the
 * head that hidden_head_bytes accounts for. NULL: *con_cls stays NULL for on_request. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    http_server *s = cls;
    http_guard_set_uri_len(s->guard, conn_of(c), uri ? strlen(uri) : 0);
    return NULL;
}

static size_t on_unescape(void *cls, struct MHD_Connection *c, char *text)
{
    (void)cls;
    (void)c;
    return http_unescape(text);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server *s = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    pthread_mutex_lock(&s->err_mu);
    snprintf(s->last_error, sizeof s->last_error, "%s", msg);
    pthread_mutex_unlock(&s->err_mu);
    /* Debug only: every malformed request from a scanner would otherwise be a warning. A
     * failure to start reaches the caller through http_start's err. */
    log_debug("http", "libmicrohttpd: %s", msg);
}

/* ---- start and stop ------------------------------------------------------------------ */

/* host_out (INET6_ADDRSTRLEN + 2 bytes, may be NULL): the address as written, no brackets. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, int *v6, int *any,
                        char *host_out, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *port_text;
    memset(ss, 0, sizeof *ss);
    if (host_out)
        host_out[0] = '\0';
    *v6 = *any = 0;
    if (!listen || !*listen) {
        snprintf(err, errlen, "http.listen is empty (expected ADDR:PORT, e.g. 127.0.0.1:9191)");
        return -1;
    }
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "http.listen \"%.100s\": expected [IPv6]:PORT", listen);
            return -1;
        }
        size_t n = (size_t)(close - listen - 1);
        if (n == 0 || n >= sizeof host) {
            snprintf(err, errlen, "http.listen \"%.100s\": bad IPv6 address", listen);
            return -1;
        }
        memcpy(host, listen + 1, n);
        host[n] = '\0';
        port_text = close + 2;
        *v6 = 1;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || colon == listen || strchr(listen, ':') != colon) {
            snprintf(err, errlen, "http.listen \"%.100s\": expected ADDR:PORT (IPv6 as "
                     "[ADDR]:PORT)", listen);
            return -1;
        }
        size_t n = (size_t)(colon - listen);
        if (n >= sizeof host) {
            snprintf(err, errlen, "http.listen \"%.100s\": bad address", listen);
            return -1;
        }
        memcpy(host, listen, n);
        host[n] = '\0';
        port_text = colon + 1;
    }
    long port = 0;
    size_t i = 0;
    for (; port_text[i] && i < 6 && isdigit((unsigned char)port_text[i]); i++)
        port = port * 10 + (port_text[i] - '0');
    if (i == 0 || port_text[i] || port > 65535) {
        snprintf(err, errlen, "http.listen \"%.100s\": the port must be a number from 0 to "
                 "65535", listen);
        return -1;
    }
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
            snprintf(err, errlen, "http.listen \"%.100s\": \"%s\" is not an IPv6 address",
                     listen, host);
            return -1;
        }
        *any = IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
            snprintf(err, errlen, "http.listen \"%.100s\": \"%s\" is not an IPv4 address "
                     "(names are not resolved)", listen, host);
            return -1;
        }
        *any = a->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    if (host_out)
        memcpy(host_out, host, strlen(host) + 1);
    return 0;
}

static void free_strv_n(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* The Host names: loopback, the listen address unless it is a wildcard, then extra. NULL when
 * out of memory. IPv6 names are kept without brackets, as http_host_allowed compares them. */
static char **host_list(const char *listen_host, const char *const *extra, size_t n_extra,
                        size_t *n_out)
{
    static const char *const loopback[] = {"localhost", "127.0.0.1", "::1"};
    size_t cap = 3 + 1 + n_extra, n = 0;
    char **v = calloc(cap + 1, sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < 3; i++)
        if (!(v[n++] = strdup(loopback[i])))
            goto oom;
    if (listen_host && *listen_host && strcmp(listen_host, "0.0.0.0") != 0 &&
        strcmp(listen_host, "::") != 0 && !(v[n++] = strdup(listen_host)))
        goto oom;
    for (size_t i = 0; i < n_extra; i++) {
        const char *h = extra[i];
        if (!h)
            continue;
        size_t l = strlen(h);
        if (l >= 2 && h[0] == '[' && h[l - 1] == ']')
            v[n] = strndup(h + 1, l - 2);
        else
            v[n] = strdup(h);
        if (!v[n++])
            goto oom;
    }
    *n_out = n;
    return v;
oom:
    free_strv_n(v, n);
    return NULL;
}

static void server_free(http_server *s)
{
    http_guard_free(s->guard);
    free_strv_n(s->hosts, s->n_hosts);
    memset(s->token, 0, sizeof s->token);
    free(s->token_file);
    free(s->alerts_token_file);
    pthread_mutex_destroy(&s->tok_mu);
    pthread_mutex_destroy(&s->err_mu);
    pthread_mutex_destroy(&s->hosts_mu);
    free(s);
}

http_server *http_start(const char *listen, const char *token_file, const http_backend *be,
                        char *err, size_t errlen)
{
    return http_start_opts(listen, token_file, NULL, be, err, errlen);
}

http_server *http_start_opts(const char *listen, const char *token_file, const http_options *o,
                             const http_backend *be, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!be) {
        snprintf(err, errlen, "http_start: no backend");
        return NULL;
    }
    http_options opt = o ? *o : (http_options){0};
    if (!opt.max_connections)
        opt.max_connections = MAX_CONNECTIONS;
    if (!opt.max_per_client)
        opt.max_per_client = MAX_PER_CLIENT;
    if (!(opt.header_deadline_s > 0))
        opt.header_deadline_s = HEADER_DEADLINE_S;
    struct sockaddr_storage ss;
    int v6, any;
    char lhost[INET6_ADDRSTRLEN + 2];
    if (parse_listen(listen, &ss, &v6, &any, lhost, err, errlen) < 0)
        return NULL;
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->be = *be;
    snprintf(s->listen, sizeof s->listen, "%s", listen);
    if (pthread_mutex_init(&s->tok_mu, NULL) != 0 || pthread_mutex_init(&s->err_mu, NULL) != 0 ||
        pthread_mutex_init(&s->hosts_mu, NULL) != 0) {
        /* glibc's default mutexes do not fail to initialise; destroying one never used is
         * harmless there. */
        server_free(s);
        snprintf(err, errlen, "pthread_mutex_init failed");
        return NULL;
    }
    if ((token_file && *token_file && !(s->token_file = strdup(token_file))) ||
        !(s->hosts = host_list(lhost, opt.allowed_hosts, opt.n_allowed_hosts, &s->n_hosts)) ||
        !(s->guard = http_guard_new(opt.max_connections, opt.max_per_client,
                                    opt.header_deadline_s))) {
        server_free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    token_load(s);
    if (opt.alerts_token_file && *opt.alerts_token_file &&
        !(s->alerts_token_file = strdup(opt.alerts_token_file))) {
        server_free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    dashboard_html(NULL);   /* build the page now, not on the first request */

    /* poll(), not epoll: with libmicrohttpd 0.9.75's edge-triggered epoll a client that
     * sends its request and half-closes at once is sometimes not noticed until the
     * connection timeout (tests/unit/test_http.c, malformed requests, shows it). A few hundred
     * sockets per pool thread cost poll() nothing measurable. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    /* The port argument only appears in libmicrohttpd's messages (the address is given
     * with MHD_OPTION_SOCK_ADDR); pass the real one so a bind error names it. */
    uint16_t port = v6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_THREADS,
        MHD_OPTION_CONNECTION_LIMIT, opt.max_connections + (unsigned)MHD_SLACK,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, s,
        MHD_OPTION_END);
    if (!d) {
        /* The caller says "cannot listen on ADDR"; err says why. */
        snprintf(err, errlen, "%s",
                 s->last_error[0] ? s->last_error : "libmicrohttpd could not start");
        server_free(s);
        return NULL;
    }
    s->d = d;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    log_info("http", "listening on %s (port %d)%s", listen, s->port,
             s->have_token ? "" : "; POST requests are refused: no API token");
    return s;
}

int http_set_allowed_hosts(http_server *s, const char *const *hosts, size_t n)
{
    char lhost[INET6_ADDRSTRLEN + 2];
    struct sockaddr_storage ss;
    int v6, any;
    char err[8];
    if (parse_listen(s->listen, &ss, &v6, &any, lhost, err, sizeof err) < 0)
        lhost[0] = '\0';
    size_t nn = 0;
    char **v = host_list(lhost, hosts, n, &nn);
    if (!v)
        return -1;
    pthread_mutex_lock(&s->hosts_mu);
    char **old = s->hosts;
    size_t n_old = s->n_hosts;
    s->hosts = v;
    s->n_hosts = nn;
    pthread_mutex_unlock(&s->hosts_mu);
    free_strv_n(old, n_old);
    return 0;
}

int http_set_token_file(http_server *s, const char *token_file)
{
    char *dup = NULL;
    if (token_file && *token_file && !(dup = strdup(token_file)))
        return -1;
    pthread_mutex_lock(&s->tok_mu);
    free(s->token_file);
    s->token_file = dup;
    token_load(s);
    pthread_mutex_unlock(&s->tok_mu);
    return 0;
}

int http_set_alerts_token_file(http_server *s, const char *path)
{
    char *dup = NULL;
    if (path && *path && !(dup = strdup(path)))
        return -1;
    pthread_mutex_lock(&s->tok_mu);
    free(s->alerts_token_file);
    s->alerts_token_file = dup;
    pthread_mutex_unlock(&s->tok_mu);
    return 0;
}

int http_port(const http_server *s)
{
    return s ? s->port : -1;
}

void http_stop(http_server *s)
{
    if (!s)
        return;
    if (s->d) {
        http_guard_stats st;
        http_guard_get_stats(s->guard, &st);
        MHD_stop_daemon(s->d);
        if (st.evicted || st.late)
            log_info("http", "connections shut down: %llu to make room for new clients, %llu "
                     "that sent no whole request within the deadline",
                     (unsigned long long)st.evicted, (unsigned long long)st.late);
    }
    server_free(s);
}
