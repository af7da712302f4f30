/* test_http.c — the HTTP server over real loopback sockets with a raw client: every route and
 * status code, bearer tokens (right, wrong, missing, none configured, rotated), 400/404/405/413,
 * malformed requests, the dashboard's self-containment and CSP, listen-address parsing. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dashboard.h"
#include "http.h"

/* ---- a raw HTTP/1.1 client ------------------------------------------------------------ */

typedef struct resp {
    int status;          /* 0: no response (connection closed first) */
    char *raw;           /* everything read */
    size_t raw_len;
    const char *body;    /* into raw */
    size_t body_len;
    int closed;          /* the server closed the connection (rather than a timeout) */
} resp;

static int connect_to(int family, int port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        a.sin6_addr = in6addr_loopback;
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    assert_int_equal(rc, 0);
    return fd;
}

/* Sends what and reads until the server closes. A send error (the server may close early
 * on a large body) is not fatal: whatever answer arrived is still read. */
static resp raw_request_ex(int port, const char *what, size_t len, int half_close)
{
    int fd = connect_to(AF_INET, port);
    size_t off = 0;
    while (off < len) {
        /* Stop sending once the server has answered (it may refuse a request early and
         * stop reading) or cannot take more. */
        struct pollfd pfd = {fd, POLLOUT | POLLIN, 0};
        if (poll(&pfd, 1, 2000) != 1 || (pfd.revents & ~POLLOUT))
            break;
        ssize_t w = send(fd, what + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (half_close)   /* a truncated request: tell the server nothing more comes */
        shutdown(fd, SHUT_WR);
    resp r = {0};
    size_t cap = 8192;
    r.raw = malloc(cap);
    assert_non_null(r.raw);
    for (;;) {
        if (r.raw_len + 1 >= cap) {
            cap *= 2;
            r.raw = realloc(r.raw, cap);
            assert_non_null(r.raw);
        }
        ssize_t n = recv(fd, r.raw + r.raw_len, cap - r.raw_len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            r.closed = 1;
        if (n <= 0)
            break;
        r.raw_len += (size_t)n;
    }
    r.raw[r.raw_len] = '\0';
    close(fd);
    if (r.raw_len > 12 && strncmp(r.raw, "HTTP/1.", 7) == 0)
        r.status = atoi(r.raw + 9);
    char *sep = strstr(r.raw, "\r\n\r\n");
    if (sep) {
        r.body = sep + 4;
        r.body_len = r.raw_len - (size_t)(r.body - r.raw);
    } else {
        r.body = r.raw + r.raw_len;
    }
    return r;
}

static resp raw_request(int port, const char *what, size_t len)
{
    return raw_request_ex(port, what, len, 0);
}

static resp request(int port, const char *method, const char *path, const char *headers)
{
    char buf[8192];
    int n = snprintf(buf, sizeof buf,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n", method,
                     path, headers ? headers : "");
    assert_true(n > 0 && (size_t)n < sizeof buf);
    return raw_request(port, buf, (size_t)n);
}

static void resp_free(resp *r)
{
    free(r->raw);
    memset(r, 0, sizeof *r);
}

/* The value of header name (case-insensitive), copied into out; NULL when absent. */
static const char *header(const resp *r, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *end = r->body ? r->body : r->raw + r->raw_len;
    for (const char *p = strstr(r->raw, "\r\n"); p && p + 2 < end; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= outlen)
                n = outlen - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
    }
    return NULL;
}

static json_t *body_json(const resp *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);
    if (!j)
        fprintf(stderr, "not JSON (%s): %.*s\n", e.text, (int)r->body_len, r->body);
    assert_non_null(j);
    return j;
}

/* Asserts status and, for errors, the {"error": "..."} shape; returns the message. */
static void expect_error(const resp *r, int status, const char *needle)
{
    if (r->status != status)
        fprintf(stderr, "expected %d, got:\n%.2000s\n", status, r->raw);
    assert_int_equal(r->status, status);
    char ct[128];
    assert_non_null(header(r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "application/json");
    json_t *j = body_json(r);
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_string(e));
    assert_true(strlen(json_string_value(e)) > 0);
    if (needle && !strstr(json_string_value(e), needle)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", json_string_value(e), needle);
        fail();
    }
    json_decref(j);
}

/* ---- a test backend -------------------------------------------------------------------- */

typedef struct backend_state {
    pthread_mutex_t mu;
    int last_limit;
    int last_minutes;
    int commands;
    http_command last_cmd;
    uint64_t last_id;
    int fail_status;        /* status() returns NULL */
} backend_state;

static json_t *b_status(void *ud)
{
    backend_state *b = ud;
    pthread_mutex_lock(&b->mu);
    int fail = b->fail_status;
    pthread_mutex_unlock(&b->mu);
    if (fail)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:f, s:f, s:b, s:i, s:i}", "version", "0.1.0", "abi", "1.0",
                     "mode", "dry-run", "health", 87.5, "uptime_seconds", 12.5, "paused", 0,
                     "open_issues", 1, "pending", 1);
}

static json_t *b_issues(void *ud)
{
    (void)ud;
    return json_pack("{s:[{s:i, s:s, s:s, s:s}]}", "issues", "id", 12, "type", "cpu_high",
                     "severity", "high", "summary", "CPU at 97% <script>alert(1)</script>");
}

static json_t *b_heals(void *ud, int limit)
{
    backend_state *b = ud;
    pthread_mutex_lock(&b->mu);
    b->last_limit = limit;
    pthread_mutex_unlock(&b->mu);
    return json_pack("{s:[{s:i, s:s}]}", "heals", "id", 5, "outcome", "healed");
}

static json_t *b_history(void *ud, int minutes)
{
    backend_state *b = ud;
    pthread_mutex_lock(&b->mu);
    b->last_minutes = minutes;
    pthread_mutex_unlock(&b->mu);
    return json_pack("{s:i}", "minutes", minutes);
}

static json_t *b_plugins(void *ud)
{
    (void)ud;
    return json_pack("{s:[{s:s, s:s, s:s}]}", "plugins", "name", "cpu", "state", "refused",
                     "reason", "needs ABI 1.5");
}

static json_t *b_knowledge(void *ud)
{
    (void)ud;
    return json_pack("{s:[{s:s, s:s, s:i, s:i, s:f}]}", "knowledge", "issue_type", "cpu_high",
                     "action", "renice", "attempts", 10, "successes", 7, "confidence", 0.67);
}

static json_t *b_pending(void *ud)
{
    (void)ud;
    return json_pack("{s:[{s:i, s:s}]}", "pending", "id", 7, "issue_type", "disk_space_low");
}

static int b_command(void *ud, http_command cmd, uint64_t id, char *msg, size_t len)
{
    backend_state *b = ud;
    pthread_mutex_lock(&b->mu);
    b->commands++;
    b->last_cmd = cmd;
    b->last_id = id;
    pthread_mutex_unlock(&b->mu);
    if (cmd == HTTP_CMD_PAUSE) {
        snprintf(msg, len, "paused");
        return HEALER_OK;
    }
    if (cmd == HTTP_CMD_RESUME) {
        snprintf(msg, len, "resumed");
        return HEALER_OK;
    }
    if (id == 7) {
        snprintf(msg, len, "%s plan 7", cmd == HTTP_CMD_CONFIRM ? "confirmed" : "rejected");
        return HEALER_OK;
    }
    if (id == 500) {
        snprintf(msg, len, "database is locked");
        return HEALER_E_IO;
    }
    if (id == 501) {
        memset(msg, 'x', len);   /* no NUL: the server must not read past the buffer */
        return HEALER_E_NOTFOUND;
    }
    snprintf(msg, len, "no pending plan %llu", (unsigned long long)id);
    return HEALER_E_NOTFOUND;
}

typedef struct fixture {
    backend_state b;
    metrics *m;
    http_server *s;
    int port;
    char dir[64];
    char token_path[128];
} fixture;

static void write_file(const char *path, const char *text)
{
    /* Written aside and renamed so the server never reads half a file. */
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(tmp, 0600), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static http_backend make_backend(fixture *f)
{
    http_backend be = {b_status, b_issues, b_heals, b_plugins, b_knowledge, b_pending,
                       b_command, NULL, NULL, f->m, NULL, &f->b, NULL, NULL, b_history, NULL, NULL};
    return be;
}

static fixture *fixture_new(const char *token_text)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->b.mu, NULL);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_http_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->token_path, sizeof f->token_path, "%s/token", f->dir);
    if (token_text)
        write_file(f->token_path, token_text);
    f->m = metrics_new("t");
    assert_non_null(f->m);
    metrics_health(f->m, 93);
    http_backend be = make_backend(f);
    char err[256];
    f->s = http_start("127.0.0.1:0", f->token_path, &be, err, sizeof err);
    if (!f->s)
        fprintf(stderr, "http_start: %s\n", err);
    assert_non_null(f->s);
    f->port = http_port(f->s);
    assert_true(f->port > 0);
    return f;
}

static void fixture_free(fixture *f)
{
    http_stop(f->s);
    metrics_free(f->m);
    unlink(f->token_path);
    rmdir(f->dir);
    pthread_mutex_destroy(&f->b.mu);
    free(f);
}

static int commands_seen(fixture *f)
{
    pthread_mutex_lock(&f->b.mu);
    int n = f->b.commands;
    pthread_mutex_unlock(&f->b.mu);
    return n;
}

#define TOKEN "s3cret-Token_42"
#define AUTH "Authorization: Bearer " TOKEN "\r\n"

/* ---- tests ---------------------------------------------------------------------------- */

static void test_get_routes(void **state)
{
    (void)state;
    fixture *f = fixture_new(TOKEN "\n");
    char h[1024];

    resp r = request(f->port, "GET", "/healthz", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    resp_free(&r);

    r = request(f->port, "GET", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "Content-Type", h, sizeof h));
    assert_string_equal(h, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(r.body, "# TYPE t_system_health gauge\nt_system_health 93\n"));
    assert_non_null(strstr(r.body, "# TYPE t_healing_duration_seconds histogram\n"));
    resp_free(&r);

    /* Changes show on the next scrape (the cache is invalidated). */
    metrics_health(f->m, 41);
    r = request(f->port, "GET", "/metrics", NULL);
    assert_non_null(strstr(r.body, "\nt_system_health 41\n"));
    resp_free(&r);

    r = request(f->port, "HEAD", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    resp_free(&r);

    static const struct { const char *path, *key; } api[] = {
        {"/api/v1/status", "version"}, {"/api/v1/issues", "issues"},
        {"/api/v1/heals", "heals"}, {"/api/v1/plugins", "plugins"},
        {"/api/v1/knowledge", "knowledge"}, {"/api/v1/pending", "pending"},
    };
    for (size_t i = 0; i < sizeof api / sizeof api[0]; i++) {
        r = request(f->port, "GET", api[i].path, NULL);
        assert_int_equal(r.status, 200);
        assert_non_null(header(&r, "Content-Type", h, sizeof h));
        assert_string_equal(h, "application/json");
        assert_non_null(header(&r, "X-Content-Type-Options", h, sizeof h));
        assert_string_equal(h, "nosniff");
        json_t *j = body_json(&r);
        assert_non_null(json_object_get(j, api[i].key));
        json_decref(j);
        resp_free(&r);
    }
    r = request(f->port, "GET", "/api/v1/status", NULL);
    json_t *j = body_json(&r);
    assert_true(json_real_value(json_object_get(j, "health")) == 87.5);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "dry-run");
    json_decref(j);
    resp_free(&r);
    /* Data passes through as JSON text, escaped by the encoder, never as markup. */
    r = request(f->port, "GET", "/api/v1/issues", NULL);
    j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j,
                        "issues"), 0), "summary")), "CPU at 97% <script>alert(1)</script>");
    json_decref(j);
    resp_free(&r);
    fixture_free(f);
}

static void test_dashboard(void **state)
{
    (void)state;
    fixture *f = fixture_new(TOKEN "\n");
    resp r = request(f->port, "GET", "/", NULL);
    assert_int_equal(r.status, 200);
    char h[1024];
    assert_non_null(header(&r, "Content-Type", h, sizeof h));
    assert_string_equal(h, "text/html; charset=utf-8");
    assert_non_null(header(&r, "X-Content-Type-Options", h, sizeof h));
    assert_string_equal(h, "nosniff");
    assert_non_null(header(&r, "X-Frame-Options", h, sizeof h));
    char csp[1024];
    assert_non_null(header(&r, "Content-Security-Policy", csp, sizeof csp));
    assert_non_null(strstr(csp, "default-src 'none'"));
    assert_non_null(strstr(csp, "connect-src 'self'"));
    assert_null(strstr(csp, "unsafe-inline"));
    assert_null(strstr(csp, "unsafe-eval"));

    const char *body = r.body;
    assert_non_null(strstr(body, "<!doctype html>"));
    /* Self-contained: no reference to another host, no external script or sheet. The one
     * http:// allowed is the SVG namespace's name (createElementNS), once; it is never fetched. */
    const char *ns = strstr(body, "http://");
    assert_non_null(ns);
    assert_memory_equal(ns, "http://www.w3.org/2000/svg\"", 27);
    assert_null(strstr(ns + 1, "http://"));
    assert_null(strstr(body, "https://"));
    assert_null(strstr(body, "//cdn"));
    assert_null(strstr(body, "<script src"));
    assert_null(strstr(body, "<link rel=\"stylesheet\""));
    assert_null(strstr(body, "@import"));
    /* Data goes into the page as text only. */
    assert_null(strstr(body, "innerHTML"));
    assert_null(strstr(body, "outerHTML"));
    assert_null(strstr(body, "insertAdjacentHTML"));
    assert_null(strstr(body, "document.write"));
    assert_null(strstr(body, "eval("));
    assert_non_null(strstr(body, "textContent"));
    assert_non_null(strstr(body, "sessionStorage"));
    assert_non_null(strstr(body, "/api/v1/pending/"));
    assert_non_null(strstr(body, "Confirm"));
    assert_non_null(strstr(body, "Reject"));
    /* Inline event handler attributes would be blocked by the CSP. */
    assert_null(strstr(body, " onclick="));
    assert_null(strstr(body, " style=\""));

    /* The policy pins exactly the page's one inline script and one inline style. */
    const char *so = strstr(body, "<script>"), *sc = strstr(body, "</script>");
    const char *to = strstr(body, "<style>"), *tc = strstr(body, "</style>");
    assert_true(so && sc && sc > so && to && tc && tc > to);
    assert_null(strstr(so + 1, "<script"));
    assert_null(strstr(to + 1, "<style"));
    char hash[45], want[80];
    dashboard_sha256_base64(so + 8, (size_t)(sc - so - 8), hash);
    snprintf(want, sizeof want, "script-src 'sha256-%s'", hash);
    assert_non_null(strstr(csp, want));
    dashboard_sha256_base64(to + 7, (size_t)(tc - to - 7), hash);
    snprintf(want, sizeof want, "style-src 'sha256-%s'", hash);
    assert_non_null(strstr(csp, want));
    resp_free(&r);

    /* The hash itself, against FIPS 180-2's test vectors. */
    dashboard_sha256_base64("abc", 3, hash);
    assert_string_equal(hash, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    dashboard_sha256_base64("", 0, hash);
    assert_string_equal(hash, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    dashboard_sha256_base64(two, strlen(two), hash);
    assert_string_equal(hash, "JI1qYdIGOLjlwCaTDD5gOaM85Flk/yFn9uzt1BnbBsE=");
    fixture_free(f);
}

static void test_heals_limit(void **state)
{
    (void)state;
    fixture *f = fixture_new(TOKEN "\n");
    resp r = request(f->port, "GET", "/api/v1/heals", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(f->b.last_limit, 50);
    resp_free(&r);
    r = request(f->port, "GET", "/api/v1/heals?limit=7", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(f->b.last_limit, 7);
    resp_free(&r);
    r = request(f->port, "GET", "/api/v1/heals?limit=1000", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(f->b.last_limit, 1000);
    resp_free(&r);
    r = request(f->port, "GET", "/api/v1/heals?limit=1", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(f->b.last_limit, 1);
    resp_free(&r);
    static const char *const bad[] = {
        "0", "1001", "-1", "abc", "1e3", "", "7x", " 7", "99999999999999999999", "3.5",
        "%00", "7&limit=8",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/v1/heals?limit=%s", bad[i]);
        r = request(f->port, "GET", path, NULL);
        expect_error(&r, 400, "limit");
        resp_free(&r);
    }
    r = request(f->port, "GET", "/api/v1/heals?limit", NULL);
    expect_error(&r, 400, "limit");
    resp_free(&r);
    assert_int_equal(f->b.last_limit, 1);   /* the backend never saw a bad one */
    fixture_free(f);
}

static void test_history_minutes(void **state)
{
    (void)state;
    fixture *f = fixture_new(TOKEN "\n");
    resp r = request(f->port, "GET", "/api/v1/history", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(f->b.last_minutes, 1440);     /* the whole day by default */
    resp_free(&r);
    r = request(f->port, "GET", "/api/v1/history?minutes=60", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(f->b.last_minutes, 60);
    resp_free(&r);
    static const char *const bad[] = {"0", "1441", "-5", "x", "", "60&minutes=61"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/v1/history?minutes=%s", bad[i]);
        r = request(f->port, "GET", path, NULL);
        expect_error(&r, 400, "minutes");
        resp_free(&r);
    }
    assert_int_equal(f->b.last_minutes, 60);
    r = request(f->port, "POST", "/api/v1/history", NULL);
    assert_int_equal(r.status, 405);
    resp_free(&r);
    fixture_free(f);
}

static void test_not_found_and_method(void **state)
{
    (void)state;
    fixture *f = fixture_new(TOKEN "\n");
    char h[128];
    static const char *const missing[] = {
        "/nope", "/api/v1/status/", "/api/v1", "/api/v2/status", "/METRICS", "/index.html",
        "/api/v1/pending/7/explode", "/api/v1/pending/7", "/api/v1/pending/7/confirm/x",
        "/api/v1/pending/", "/%ff%fe",
    };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        resp r = request(f->port, "GET", missing[i], NULL);
        expect_error(&r, 404, NULL);
        resp_free(&r);
    }
    static const struct { const char *method, *path, *allow; } wrong[] = {
        {"POST", "/metrics", "GET, HEAD"}, {"POST", "/", "GET, HEAD"},
        {"PUT", "/api/v1/status", "GET, HEAD"}, {"DELETE", "/api/v1/pending", "GET, HEAD"},
        {"POST", "/healthz", "GET, HEAD"},
        {"GET", "/api/v1/pause", "POST"}, {"GET", "/api/v1/resume", "POST"},
        {"GET", "/api/v1/pending/7/confirm", "POST"}, {"PUT", "/api/v1/pending/7/reject", "POST"},
        {"OPTIONS", "/api/v1/pause", "POST"},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        resp r = request(f->port, wrong[i].method, wrong[i].path,
                         strcmp(wrong[i].method, "GET") ? AUTH "Content-Length: 0\r\n" : AUTH);
        expect_error(&r, 405, NULL);
        assert_non_null(header(&r, "Allow", h, sizeof h));
        assert_string_equal(h, wrong[i].allow);
        resp_free(&r);
    }
    assert_int_equal(commands_seen(f), 0);
    fixture_free(f);
}

static void expect_ok(const resp *r, const char *message)
{
    if (r->status != 200)
        fprintf(stderr, "expected 200, got:\n%.2000s\n", r->raw);
    assert_int_equal(r->status, 200);
    json_t *j = body_json(r);
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_string_equal(json_string_value(json_object_get(j, "message")), message);
    json_decref(j);
}

static void test_tokens(void **state)
{
    (void)state;
    /* The first line counts, trimmed; the rest of the file is ignored. */
    fixture *f = fixture_new("  " TOKEN "  \r\nsecond line\n");
    char h[256];
    resp r = request(f->port, "POST", "/api/v1/pending/7/confirm", AUTH "Content-Length: 0\r\n");
    expect_ok(&r, "confirmed plan 7");
    resp_free(&r);
    assert_int_equal(f->b.last_cmd, HTTP_CMD_CONFIRM);
    assert_int_equal(f->b.last_id, 7);
    r = request(f->port, "POST", "/api/v1/pending/7/reject", "authorization: bearer " TOKEN "\r\n");
    expect_ok(&r, "rejected plan 7");
    resp_free(&r);
    assert_int_equal(f->b.last_cmd, HTTP_CMD_REJECT);
    r = request(f->port, "POST", "/api/v1/pause", AUTH);
    expect_ok(&r, "paused");
    resp_free(&r);
    assert_int_equal(f->b.last_cmd, HTTP_CMD_PAUSE);
    r = request(f->port, "POST", "/api/v1/resume", AUTH);
    expect_ok(&r, "resumed");
    resp_free(&r);
    assert_int_equal(f->b.last_cmd, HTTP_CMD_RESUME);
    int seen = commands_seen(f);
    assert_int_equal(seen, 4);

    /* Missing, wrong, almost right: 401 with a Bearer challenge; the backend never hears. */
    static const char *const bad[] = {
        "",
        "Authorization: Bearer wrong\r\n",
        "Authorization: Bearer " TOKEN "x\r\n",
        "Authorization: Bearer s3cret-Token_4\r\n",
        "Authorization: Bearer S3CRET-TOKEN_42\r\n",
        "Authorization: Basic czNjcmV0LVRva2VuXzQy\r\n",
        "Authorization: " TOKEN "\r\n",
        "Authorization: Bearer\r\n",
        "Authorization: Bearer \r\n",
        "Authorization: Bearer" TOKEN "\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *paths[] = {"/api/v1/pending/7/confirm", "/api/v1/pause"};
        for (size_t k = 0; k < 2; k++) {
            r = request(f->port, "POST", paths[k], bad[i]);
            expect_error(&r, 401, NULL);
            assert_non_null(header(&r, "WWW-Authenticate", h, sizeof h));
            assert_int_equal(strncmp(h, "Bearer", 6), 0);
            resp_free(&r);
        }
    }
    char longtok[2048] = "Authorization: Bearer ";
    memset(longtok + strlen(longtok), 'a', 1500);
    strcat(longtok, "\r\n");
    r = request(f->port, "POST", "/api/v1/pause", longtok);
    expect_error(&r, 401, NULL);
    resp_free(&r);
    assert_int_equal(commands_seen(f), seen);

    /* Authorized, but unknown or malformed IDs and backend failures. */
    r = request(f->port, "POST", "/api/v1/pending/99/confirm", AUTH);
    expect_error(&r, 404, "no pending plan 99");
    resp_free(&r);
    r = request(f->port, "POST", "/api/v1/pending/501/reject", AUTH);
    expect_error(&r, 404, NULL);
    resp_free(&r);
    r = request(f->port, "POST", "/api/v1/pending/500/confirm", AUTH);
    expect_error(&r, 500, "database is locked");
    resp_free(&r);
    static const char *const bad_ids[] = {"abc", "-1", "+7", "7a", "0x10", "18446744073709551616",
                                          "99999999999999999999999999999999999999999999999999",
                                          "%20", "1.5"};
    int before = commands_seen(f);
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1/pending/%s/confirm", bad_ids[i]);
        r = request(f->port, "POST", path, AUTH);
        expect_error(&r, 400, "ID");
        resp_free(&r);
    }
    r = request(f->port, "POST", "/api/v1/pending//confirm", AUTH);
    expect_error(&r, 400, "ID");
    resp_free(&r);
    assert_int_equal(commands_seen(f), before);
    /* The largest ID is a number, not an overflow. */
    r = request(f->port, "POST", "/api/v1/pending/18446744073709551615/confirm", AUTH);
    expect_error(&r, 404, NULL);
    resp_free(&r);
    assert_true(f->b.last_id == UINT64_MAX);

    /* A new token in the file takes effect without a restart; the old one stops working. */
    write_file(f->token_path, "rotated-token\n");
    r = request(f->port, "POST", "/api/v1/pause", AUTH);
    expect_error(&r, 401, NULL);
    resp_free(&r);
    r = request(f->port, "POST", "/api/v1/pause", "Authorization: Bearer rotated-token\r\n");
    expect_ok(&r, "paused");
    resp_free(&r);

    /* The file gone: nothing is accepted, and the answer says why. */
    assert_int_equal(unlink(f->token_path), 0);
    r = request(f->port, "POST", "/api/v1/pause", "Authorization: Bearer rotated-token\r\n");
    expect_error(&r, 403, "no API token");
    resp_free(&r);
    fixture_free(f);
}

/* A reload that keeps the address switches the token file in place (http_set_token_file): the
 * old token stops working at once, the new one works, and no file means POSTs are refused. */
static void test_switch_token_file(void **state)
{
    (void)state;
    fixture *f = fixture_new(TOKEN "\n");
    char other[160];
    snprintf(other, sizeof other, "%s/other-token", f->dir);
    write_file(other, "another-secret\n");
    resp r = request(f->port, "POST", "/api/v1/pause", AUTH);
    expect_ok(&r, "paused");
    resp_free(&r);
    assert_int_equal(http_set_token_file(f->s, other), 0);
    r = request(f->port, "POST", "/api/v1/pause", AUTH);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    r = request(f->port, "POST", "/api/v1/resume", "Authorization: Bearer another-secret\r\n");
    expect_ok(&r, "resumed");
    resp_free(&r);
    assert_int_equal(http_set_token_file(f->s, ""), 0);
    r = request(f->port, "POST", "/api/v1/resume", "Authorization: Bearer another-secret\r\n");
    assert_int_equal(r.status, 403);
    resp_free(&r);
    assert_int_equal(commands_seen(f), 2);
    unlink(other);
    fixture_free(f);
}

static void test_no_token(void **state)
{
    (void)state;
    /* No file at the configured path. */
    fixture *f = fixture_new(NULL);
    resp r = request(f->port, "POST", "/api/v1/pause", AUTH);
    expect_error(&r, 403, "no API token");
    resp_free(&r);
    r = request(f->port, "POST", "/api/v1/pending/7/confirm", NULL);
    expect_error(&r, 403, "no API token");
    resp_free(&r);
    /* An empty first line is no token either: an empty bearer must never match. */
    write_file(f->token_path, "\nsecond\n");
    r = request(f->port, "POST", "/api/v1/pause", "Authorization: Bearer \r\n");
    expect_error(&r, 403, "no API token");
    resp_free(&r);
    write_file(f->token_path, "   \n");
    r = request(f->port, "POST", "/api/v1/pause", "Authorization: Bearer second\r\n");
    expect_error(&r, 403, NULL);
    resp_free(&r);
    /* A token with a control character in it cannot be sent in a header: refused. */
    write_file(f->token_path, "abc\001def\n");
    r = request(f->port, "POST", "/api/v1/pause", "Authorization: Bearer abc\r\n");
    expect_error(&r, 403, NULL);
    resp_free(&r);
    /* The file appears later: POSTs start working. */
    write_file(f->token_path, "late-token");
    r = request(f->port, "POST", "/api/v1/pause", "Authorization: Bearer late-token\r\n");
    expect_ok(&r, "paused");
    resp_free(&r);
    assert_int_equal(commands_seen(f), 1);
    /* GETs never need a token. */
    r = request(f->port, "GET", "/api/v1/status", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    fixture_free(f);

    /* No token file configured at all. */
    backend_state b = {0};
    pthread_mutex_init(&b.mu, NULL);
    http_backend be = {b_status, b_issues, b_heals, b_plugins, b_knowledge, b_pending,
                       b_command, NULL, NULL, NULL, NULL, &b, NULL, NULL, NULL, NULL, NULL};
    char err[256];
    http_server *s = http_start("127.0.0.1:0", NULL, &be, err, sizeof err);
    assert_non_null(s);
    r = request(http_port(s), "POST", "/api/v1/resume", AUTH);
    expect_error(&r, 403, "token_file");
    resp_free(&r);
    /* No metrics registry: /metrics is empty, not an error. */
    r = request(http_port(s), "GET", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    resp_free(&r);
    http_stop(s);
    s = http_start("127.0.0.1:0", "", &be, err, sizeof err);
    assert_non_null(s);
    r = request(http_port(s), "POST", "/api/v1/resume", AUTH);
    expect_error(&r, 403, NULL);
    resp_free(&r);
    http_stop(s);
    assert_int_equal(b.commands, 0);
    pthread_mutex_destroy(&b.mu);
}

static void test_bodies(void **state)
{
    (void)state;
    fixture *f = fixture_new(TOKEN "\n");
    /* A small body is read and ignored. */
    const char small[] = "POST /api/v1/pause HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" AUTH
                         "Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"why\": 1}\n";
    resp r = raw_request(f->port, small, sizeof small - 1);
    expect_ok(&r, "paused");
    resp_free(&r);
    /* A declared huge body is refused before it is read. */
    const char huge[] = "POST /api/v1/pause HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" AUTH
                        "Content-Length: 100000000000\r\n\r\nxxxx";
    r = raw_request(f->port, huge, sizeof huge - 1);
    expect_error(&r, 413, "too large");
    resp_free(&r);
    /* A real 40 KB body with its true length. */
    size_t n = 40000;
    char *big = malloc(n + 512);
    assert_non_null(big);
    int hl = snprintf(big, 512, "POST /api/v1/pending/7/confirm HTTP/1.1\r\nHost: localhost\r\n"
                      "Connection: close\r\n" AUTH "Content-Length: %zu\r\n\r\n", n);
    memset(big + hl, 'b', n);
    r = raw_request(f->port, big, (size_t)hl + n);
    expect_error(&r, 413, NULL);
    resp_free(&r);
    /* A chunked body without a length: counted as it comes, refused at the end. */
    size_t pos = (size_t)snprintf(big, 512, "POST /api/v1/pause HTTP/1.1\r\nHost: localhost\r\n"
                                  "Connection: close\r\n" AUTH "Transfer-Encoding: chunked\r\n\r\n");
    size_t cap = n + 512;
    for (int i = 0; i < 20; i++) {
        if (pos + 2048 > cap) {
            cap *= 2;
            big = realloc(big, cap);
            assert_non_null(big);
        }
        pos += (size_t)sprintf(big + pos, "400\r\n");
        memset(big + pos, 'c', 0x400);
        pos += 0x400;
        pos += (size_t)sprintf(big + pos, "\r\n");
    }
    pos += (size_t)sprintf(big + pos, "0\r\n\r\n");
    r = raw_request(f->port, big, pos);
    expect_error(&r, 413, NULL);
    resp_free(&r);
    free(big);
    /* A bodied GET is fine as long as it is small. */
    const char getb[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                        "Content-Length: 3\r\n\r\nabc";
    r = raw_request(f->port, getb, sizeof getb - 1);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(commands_seen(f), 1);
    fixture_free(f);
}

static void test_malformed_requests(void **state)
{
    (void)state;
    fixture *f = fixture_new(TOKEN "\n");
    static const char *const junk[] = {
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET /healthz\r\n\r\n",
        "GET /healthz HTTP/9.9\r\nHost: localhost\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nNoColonHeader\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: -5\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
        "\x01\x02\x03\xff\xfe\r\n\r\n",
        "GET /\x7f\x80 HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "POST /api/v1/pause HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nab",
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        resp r = raw_request_ex(f->port, junk[i], strlen(junk[i]), 1);
        /* Either an HTTP error or a closed connection; never a success, never a crash. */
        if (r.status && !(r.status >= 400 && r.status <= 505))
            fprintf(stderr, "junk %zu answered:\n%.500s\n", i, r.raw);
        if (r.status)
            assert_true(r.status >= 400 && r.status <= 505);
        /* and the connection is closed, not left open until a timeout */
        assert_true(r.closed);
        resp_free(&r);
    }
    /* An enormous URL and an enormous header exceed the per-connection memory. */
    size_t n = 200000;
    char *big = malloc(n + 256);
    assert_non_null(big);
    strcpy(big, "GET /");
    memset(big + 5, 'a', n);
    strcpy(big + 5 + n, " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    resp r = raw_request(f->port, big, strlen(big));
    if (r.status)
        assert_true(r.status >= 400 && r.status < 500);
    resp_free(&r);
    int hl = sprintf(big, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ");
    memset(big + hl, 'h', n);
    strcpy(big + hl + n, "\r\n\r\n");
    r = raw_request(f->port, big, strlen(big));
    if (r.status)
        assert_true(r.status >= 400 && r.status < 500);
    resp_free(&r);
    free(big);
    /* A client that connects and says nothing, and one that hangs up mid-request. */
    int idle = connect_to(AF_INET, f->port);
    int cut = connect_to(AF_INET, f->port);
    assert_true(send(cut, "GET /metr", 9, MSG_NOSIGNAL) == 9);
    close(cut);
    /* Still serving. */
    r = request(f->port, "GET", "/healthz", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    close(idle);
    assert_int_equal(commands_seen(f), 0);
    fixture_free(f);
}

/* Several requests on one keep-alive connection, reading each by its Content-Length. */
static void test_keep_alive(void **state)
{
    (void)state;
    fixture *f = fixture_new(TOKEN "\n");
    int fd = connect_to(AF_INET, f->port);
    for (int i = 0; i < 5; i++) {
        const char req[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
        assert_int_equal(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
        char buf[65536];
        size_t got = 0;
        char *sep = NULL;
        while (!sep) {
            ssize_t k = recv(fd, buf + got, sizeof buf - got - 1, 0);
            assert_true(k > 0);
            got += (size_t)k;
            buf[got] = '\0';
            sep = strstr(buf, "\r\n\r\n");
        }
        assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        assert_true(cl && cl < sep);
        size_t want = (size_t)strtoul(cl + 17, NULL, 10);
        size_t have = got - (size_t)(sep + 4 - buf);
        while (have < want) {
            ssize_t k = recv(fd, buf + got, sizeof buf - got - 1, 0);
            assert_true(k > 0);
            got += (size_t)k;
            have += (size_t)k;
        }
        assert_int_equal(have, want);
    }
    close(fd);
    fixture_free(f);
}

static void test_backend_failures(void **state)
{
    (void)state;
    fixture *f = fixture_new(TOKEN "\n");
    pthread_mutex_lock(&f->b.mu);
    f->b.fail_status = 1;
    pthread_mutex_unlock(&f->b.mu);
    resp r = request(f->port, "GET", "/api/v1/status", NULL);
    expect_error(&r, 500, NULL);
    resp_free(&r);
    fixture_free(f);

    backend_state b = {0};
    pthread_mutex_init(&b.mu, NULL);
    http_backend be = {0};
    be.ud = &b;
    char err[256];
    http_server *s = http_start("127.0.0.1:0", NULL, &be, err, sizeof err);
    assert_non_null(s);
    static const char *const paths[] = {"/api/v1/status", "/api/v1/issues", "/api/v1/heals",
                                        "/api/v1/plugins", "/api/v1/knowledge",
                                        "/api/v1/pending"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        r = request(http_port(s), "GET", paths[i], NULL);
        expect_error(&r, 500, NULL);
        resp_free(&r);
    }
    http_stop(s);
    pthread_mutex_destroy(&b.mu);
    assert_null(http_start("127.0.0.1:0", NULL, NULL, err, sizeof err));
}

static void test_listen_addresses(void **state)
{
    (void)state;
    http_backend be = {0};
    char err[256];
    static const char *const bad[] = {
        "", "nonsense", "127.0.0.1", "127.0.0.1:", ":9191", "127.0.0.1:99999", "127.0.0.1:-1",
        "127.0.0.1:abc", "127.0.0.1:80x", "localhost:9191", "1.2.3.4.5:80", "::1:9191", "[::1",
        "[::1]9191", "[::1]:", "[]:80", "[nothing]:80", "[127.0.0.1]:80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        http_server *s = http_start(bad[i], NULL, &be, err, sizeof err);
        if (s)
            fprintf(stderr, "accepted \"%s\"\n", bad[i]);
        assert_null(s);
        assert_true(strlen(err) > 0);
    }
    assert_null(http_start(NULL, NULL, &be, err, sizeof err));
    /* A port already taken is reported with the reason and the port. */
    http_server *a = http_start("127.0.0.1:0", NULL, &be, err, sizeof err);
    assert_non_null(a);
    char addr[64], port_text[16];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", http_port(a));
    snprintf(port_text, sizeof port_text, "%d", http_port(a));
    err[0] = '\0';
    assert_null(http_start(addr, NULL, &be, err, sizeof err));
    if (!strstr(err, "in use") || !strstr(err, port_text))
        fprintf(stderr, "bind error: %s\n", err);
    assert_non_null(strstr(err, "in use"));
    assert_non_null(strstr(err, port_text));
    http_stop(a);
    assert_int_equal(http_port(NULL), -1);
    http_stop(NULL);

    /* IPv6 loopback, where the machine has it. */
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    sa.sin6_addr = in6addr_loopback;
    int have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (probe >= 0)
        close(probe);
    if (!have_v6) {
        fprintf(stderr, "no IPv6 loopback here: skipping the [::1] case\n");
        return;
    }
    http_server *s = http_start("[::1]:0", NULL, &be, err, sizeof err);
    if (!s)
        fprintf(stderr, "http_start [::1]:0: %s\n", err);
    assert_non_null(s);
    int port = http_port(s);
    assert_true(port > 0);
    int fd = connect_to(AF_INET6, port);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: [::1]:0\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    char buf[1024];
    size_t got = 0;
    ssize_t k;
    while ((k = recv(fd, buf + got, sizeof buf - got - 1, 0)) > 0)
        got += (size_t)k;
    buf[got] = '\0';
    close(fd);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
    assert_non_null(strstr(buf, "\r\n\r\nok\n"));
    http_stop(s);
}

/* Scrapes and API calls from several threads while metrics change. */
typedef struct client_arg {
    int port;
    int ok;
} client_arg;

static void *client_thread(void *p)
{
    client_arg *a = p;
    for (int i = 0; i < 40; i++) {
        resp r = request(a->port, "GET", i % 2 ? "/metrics" : "/api/v1/status", NULL);
        if (r.status == 200)
            a->ok++;
        resp_free(&r);
    }
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    (void)state;
    fixture *f = fixture_new(TOKEN "\n");
    pthread_t th[8];
    client_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (client_arg){f->port, 0};
        assert_int_equal(pthread_create(&th[i], NULL, client_thread, &args[i]), 0);
    }
    for (int i = 0; i < 2000; i++)
        metrics_attempt(f->m, i % 3 ? "cpu_high" : "memory_low", "renice");
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 40);
    }
    resp r = request(f->port, "GET", "/metrics", NULL);
    assert_non_null(strstr(r.body, "t_healing_attempts_total{issue_type=\"memory_low\",action=\"renice\"} 667\n"));
    resp_free(&r);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_routes),
        cmocka_unit_test(test_dashboard),
        cmocka_unit_test(test_history_minutes),
        cmocka_unit_test(test_heals_limit),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_no_token),
        cmocka_unit_test(test_switch_token_file),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_malformed_requests),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_backend_failures),
        cmocka_unit_test(test_listen_addresses),
        cmocka_unit_test(test_concurrent_clients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
