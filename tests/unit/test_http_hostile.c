/* test_http_hostile.c — the HTTP server against hostile clients, over real loopback sockets: a
 * token followed by a NUL and junk, plan ids that are not plain numbers, foreign Host headers
 * (DNS rebinding), idle and slowloris connections, clients from off the host; and the pure
 * checks of http_parse.c on the same inputs. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "http_parse.h"

#define TOKEN "s3cret-token"

/* ---- a backend that counts commands ----------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int commands;
static uint64_t last_id;

static json_t *b_json(void *ud)
{
    (void)ud;
    return json_pack("{s:s}", "status", "fine");
}

static json_t *b_heals(void *ud, int limit)
{
    (void)ud;
    (void)limit;
    return json_pack("{s:[]}", "heals");
}

static int b_command(void *ud, http_command cmd, uint64_t id, char *msg, size_t len)
{
    (void)ud;
    (void)cmd;
    pthread_mutex_lock(&mu);
    commands++;
    last_id = id;
    pthread_mutex_unlock(&mu);
    if (id == 2 || id == 0) {
        snprintf(msg, len, "done");
        return HEALER_OK;
    }
    snprintf(msg, len, "no pending plan %llu", (unsigned long long)id);
    return HEALER_E_NOTFOUND;
}

static int commands_seen(void)
{
    pthread_mutex_lock(&mu);
    int n = commands;
    pthread_mutex_unlock(&mu);
    return n;
}

typedef struct server {
    http_server *s;
    int port;
    char dir[64];
    char token[128];
} server;

static void server_start(server *sv, const char *listen, const http_options *o)
{
    snprintf(sv->dir, sizeof sv->dir, "/tmp/test_http_hostile_XXXXXX");
    assert_non_null(mkdtemp(sv->dir));
    snprintf(sv->token, sizeof sv->token, "%s/token", sv->dir);
    FILE *f = fopen(sv->token, "w");
    assert_non_null(f);
    fputs(TOKEN "\n", f);
    fclose(f);
    chmod(sv->token, 0600);
    http_backend be = {b_json, b_json, b_heals, b_json, b_json, b_json, b_command, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    char err[256];
    sv->s = http_start_opts(listen, sv->token, o, &be, err, sizeof err);
    if (!sv->s)
        fprintf(stderr, "http_start_opts: %s\n", err);
    assert_non_null(sv->s);
    sv->port = http_port(sv->s);
}

static void server_stop(server *sv)
{
    http_stop(sv->s);
    unlink(sv->token);
    rmdir(sv->dir);
}

/* ---- a raw client --------------------------------------------------------------------- */

static int connect_from(const char *src, const char *dst, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (src) {
        struct sockaddr_in a = {.sin_family = AF_INET};
        inet_pton(AF_INET, src, &a.sin_addr);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, dst, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends len bytes (NULs included) and reads the answer's status (0: closed without one). */
static int status_of_raw(const char *dst, int port, const char *req, size_t len, char *body,
                         size_t blen)
{
    int fd = connect_from(NULL, dst, port);
    assert_true(fd >= 0);
    assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    char buf[4096];
    size_t got = 0;
    ssize_t k;
    while (got + 1 < sizeof buf && (k = recv(fd, buf + got, sizeof buf - got - 1, 0)) > 0)
        got += (size_t)k;
    buf[got] = '\0';
    close(fd);
    if (body) {
        const char *b = strstr(buf, "\r\n\r\n");
        snprintf(body, blen, "%s", b ? b + 4 : "");
    }
    return strncmp(buf, "HTTP/1.", 7) == 0 ? atoi(buf + 9) : 0;
}

static int status_of(int port, const char *method, const char *path, const char *host,
                     const char *headers)
{
    char req[2048];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\n%s%s%sConnection: close\r\n%s\r\n",
                     method, path, host ? "Host: " : "", host ? host : "", host ? "\r\n" : "",
                     headers ? headers : "");
    return status_of_raw("127.0.0.1", port, req, (size_t)n, NULL, 0);
}

/* ---- 1. the token over its full length ---------------------------------------------------- */

static void test_token_full_length(void **state)
{
    (void)state;
    server sv;
    server_start(&sv, "127.0.0.1:0", NULL);
    int before = commands_seen();
    assert_int_equal(status_of(sv.port, "POST", "/api/v1/pause", "127.0.0.1",
                               "Authorization: Bearer " TOKEN "\r\n"), 200);
    assert_int_equal(commands_seen(), before + 1);

    /* The token, a NUL, junk: libmicrohttpd shows us "Bearer TOKEN"; the bytes it hid are
     * still counted and the request is refused. */
    static const char nul[] = "POST /api/v1/pause HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Authorization: Bearer " TOKEN "\0junk\r\nConnection: close\r\n\r\n";
    char body[1024];
    int st = status_of_raw("127.0.0.1", sv.port, nul, sizeof nul - 1, body, sizeof body);
    assert_int_equal(st, 400);
    assert_non_null(strstr(body, "belong to no header"));
    /* A NUL in another header hides bytes too: the token is not trusted then either. */
    static const char nul2[] = "POST /api/v1/pause HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "X-Other: a\0b\r\nAuthorization: Bearer " TOKEN
                               "\r\nConnection: close\r\n\r\n";
    assert_int_equal(status_of_raw("127.0.0.1", sv.port, nul2, sizeof nul2 - 1, NULL, 0), 400);
    /* A NUL right after "Bearer": no token at all. */
    static const char nul3[] = "POST /api/v1/pause HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Authorization: Bearer\0 " TOKEN "\r\nConnection: close\r\n\r\n";
    st = status_of_raw("127.0.0.1", sv.port, nul3, sizeof nul3 - 1, NULL, 0);
    assert_true(st == 400 || st == 401);
    assert_int_equal(commands_seen(), before + 1);
    server_stop(&sv);
}

static void test_bearer_check_pure(void **state)
{
    (void)state;
    const unsigned char *t = (const unsigned char *)TOKEN;
    size_t tl = strlen(TOKEN);
    int given;
    static const char ok[] = "Bearer " TOKEN;
    assert_int_equal(http_bearer_check(ok, sizeof ok - 1, t, tl, &given), 1);
    static const char ok2[] = " bEaReR \t" TOKEN " \t";
    assert_int_equal(http_bearer_check(ok2, sizeof ok2 - 1, t, tl, &given), 1);
    static const char nul[] = "Bearer " TOKEN "\0junk";
    assert_int_equal(http_bearer_check(nul, sizeof nul - 1, t, tl, &given), 0);
    assert_int_equal(given, 1);
    static const char nul0[] = "Bearer " TOKEN "\0";
    assert_int_equal(http_bearer_check(nul0, sizeof nul0 - 1, t, tl, &given), 0);
    static const char prefix[] = "Bearer s3cret";
    assert_int_equal(http_bearer_check(prefix, sizeof prefix - 1, t, tl, &given), 0);
    static const char basic[] = "Basic " TOKEN;
    assert_int_equal(http_bearer_check(basic, sizeof basic - 1, t, tl, &given), 0);
    assert_int_equal(given, 0);
    static const char glued[] = "Bearer" TOKEN;
    assert_int_equal(http_bearer_check(glued, sizeof glued - 1, t, tl, &given), 0);
    static const char empty[] = "Bearer   ";
    assert_int_equal(http_bearer_check(empty, sizeof empty - 1, t, tl, &given), 0);
    assert_int_equal(given, 0);
    /* No token configured: nothing matches, not even an empty one. */
    assert_int_equal(http_bearer_check(ok, sizeof ok - 1, NULL, 0, &given), 0);
    char longv[600];
    memset(longv, 'a', sizeof longv);
    memcpy(longv, "Bearer ", 7);
    unsigned char longt[HTTP_TOKEN_MAX + 10];
    memset(longt, 'a', sizeof longt);
    assert_int_equal(http_bearer_check(longv, 7 + HTTP_TOKEN_MAX, longt, HTTP_TOKEN_MAX, &given), 1);
    assert_int_equal(http_bearer_check(longv, 8 + HTTP_TOKEN_MAX, longt, HTTP_TOKEN_MAX + 1, &given), 0);
}

/* ---- 2. strict ids -------------------------------------------------------------------------- */

static void test_strict_ids(void **state)
{
    (void)state;
    server sv;
    server_start(&sv, "127.0.0.1:0", NULL);
    const char *auth = "Authorization: Bearer " TOKEN "\r\n";
    int before = commands_seen();
    char path[256];
    snprintf(path, sizeof path, "/api/v1/pending/%047d2junk/confirm", 0);
    assert_int_equal(status_of(sv.port, "POST", path, "127.0.0.1", auth), 400);
    snprintf(path, sizeof path, "/api/v1/pending/%047d2/confirm", 0);
    assert_int_equal(status_of(sv.port, "POST", path, "127.0.0.1", auth), 400);
    static const char *const bad[] = {
        "/api/v1/pending/%20 1/confirm", "/api/v1/pending/%201/confirm",
        "/api/v1/pending/ 1/confirm", "/api/v1/pending/+2/reject", "/api/v1/pending/-2/reject",
        "/api/v1/pending/02/reject", "/api/v1/pending/0/reject", "/api/v1/pending//reject",
        "/api/v1/pending/2%00/confirm", "/api/v1/pending/18446744073709551616/confirm",
        "/api/v1/pending/123456789012345678901/confirm", "/api/v1/pending/0x2/confirm",
        "/api/v1/pending/2.0/confirm", "/api/v1/pending/%32/confirm",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = status_of(sv.port, "POST", bad[i], "127.0.0.1", auth);
        if (i == sizeof bad / sizeof bad[0] - 1) {
            /* %32 is "2" once decoded: the path is /api/v1/pending/2/confirm, a good id. */
            assert_int_equal(st, 200);
            continue;
        }
        if (st != 400)
            fprintf(stderr, "%s: %d\n", bad[i], st);
        assert_int_equal(st, 400);
    }
    assert_int_equal(commands_seen(), before + 1);
    /* The largest id is a number like any other (the backend knows no such plan: 404). */
    assert_int_equal(status_of(sv.port, "POST", "/api/v1/pending/18446744073709551615/confirm",
                               "127.0.0.1", auth), 404);
    pthread_mutex_lock(&mu);
    assert_true(last_id == UINT64_MAX);
    pthread_mutex_unlock(&mu);
    assert_int_equal(status_of(sv.port, "POST", "/api/v1/pending/2/confirm", "127.0.0.1", auth),
                     200);
    /* A NUL in the path does not cut it short. */
    assert_int_equal(status_of(sv.port, "GET", "/api/v1/status%00junk", "127.0.0.1", NULL), 404);
    assert_int_equal(status_of(sv.port, "GET", "/api/v1/status", "127.0.0.1", NULL), 200);
    server_stop(&sv);
}

static void test_route_pure(void **state)
{
    (void)state;
    http_route r;
    assert_int_equal(http_route_match("/healthz", 8, &r), HTTP_RT_HEALTHZ);
    assert_int_equal(r.post, 0);
    assert_int_equal(http_route_match("/healthz\0x", 10, &r), HTTP_RT_NONE);
    assert_int_equal(http_route_match("/healthz/", 9, &r), HTTP_RT_NONE);
    assert_int_equal(http_route_match("/api/v1/pending/42/reject", 25, &r), HTTP_RT_REJECT);
    assert_true(r.plan_id == 42 && r.post == 1);
    assert_int_equal(http_route_match("/api/v1/pending/42/rejects", 26, &r), HTTP_RT_NONE);
    assert_int_equal(http_route_match("/api/v1/pending/4 2/reject", 26, &r), HTTP_RT_BAD_ID);
    assert_int_equal(http_route_match("/api/v1/heals/5", 15, &r), HTTP_RT_HEAL);
    assert_true(r.plan_id == 5 && !r.post);
    assert_int_equal(http_route_match("/api/v1/issues/12", 17, &r), HTTP_RT_ISSUE);
    assert_true(r.plan_id == 12);
    assert_int_equal(http_route_match("/api/v1/heals/05", 16, &r), HTTP_RT_BAD_ID);
    assert_int_equal(http_route_match("/api/v1/heals/5/x", 17, &r), HTTP_RT_BAD_ID);
    /* an undo: the ID between the prefix and /undo, strictly; a POST */
    assert_int_equal(http_route_match("/api/v1/heals/5/undo", 20, &r), HTTP_RT_HEAL_UNDO);
    assert_true(r.plan_id == 5 && r.post == 1);
    assert_int_equal(http_route_match("/api/v1/heals/05/undo", 21, &r), HTTP_RT_BAD_ID);
    assert_int_equal(http_route_match("/api/v1/heals//undo", 19, &r), HTTP_RT_BAD_ID);
    assert_int_equal(http_route_match("/api/v1/heals/5/undo/", 21, &r), HTTP_RT_BAD_ID);
    assert_int_equal(http_route_match("/api/v1/heals/undo", 18, &r), HTTP_RT_BAD_ID);
    assert_int_equal(http_route_match("/api/v1/restore", 15, &r), HTTP_RT_RESTORE);
    assert_true(r.post == 1);
    assert_int_equal(http_route_match("/api/v1/restore/", 16, &r), HTTP_RT_NONE);
    assert_int_equal(http_route_match("/api/v1/issues/", 15, &r), HTTP_RT_NONE);
    assert_true(r.plan_id == 0);
    uint64_t v;
    assert_int_equal(http_parse_id("18446744073709551615", 20, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(http_parse_id("18446744073709551616", 20, &v), -1);
    assert_int_equal(http_parse_id("99999999999999999999", 20, &v), -1);
    assert_int_equal(http_parse_id("1\0", 2, &v), -1);
    assert_int_equal(http_parse_id("", 0, &v), -1);
    char s[] = "/a%20b%00c%2f%zz%4";
    size_t n = http_unescape(s);
    assert_int_equal(n, strlen("/a b%00c/%zz%4"));
    assert_string_equal(s, "/a b%00c/%zz%4");
}

/* ---- 3. Host -------------------------------------------------------------------------------- */

static void test_host_allow_list(void **state)
{
    (void)state;
    static const char *const extra[] = {"healer.example", "[fd00::5]"};
    http_options o = {.allowed_hosts = extra, .n_allowed_hosts = 2};
    server sv;
    server_start(&sv, "127.0.0.1:0", &o);
    static const char *const good[] = {"localhost", "localhost:9191", "LocalHost", "127.0.0.1",
                                       "127.0.0.1:1", "[::1]", "[::1]:9191", "healer.example",
                                       "HEALER.example:80", "[fd00::5]:1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int st = status_of(sv.port, "GET", "/api/v1/status", good[i], NULL);
        if (st != 200)
            fprintf(stderr, "Host %s: %d\n", good[i], st);
        assert_int_equal(st, 200);
    }
    static const char *const bad[] = {"evil.example", "1.2.3.4", "1.2.3.4:9191",
                                      "localhost.evil.example", "127.0.0.1.nip.io", "localhost.",
                                      "[::2]", "::1", "localhost:", "localhost:99999x",
                                      "localhost:1:2", "", "[::1", "healer.example@evil"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = status_of(sv.port, "GET", "/api/v1/status", bad[i], NULL);
        if (st != 421)
            fprintf(stderr, "Host \"%s\": %d\n", bad[i], st);
        assert_int_equal(st, 421);
    }
    /* POSTs too, and before the token is even looked at. */
    int before = commands_seen();
    assert_int_equal(status_of(sv.port, "POST", "/api/v1/pause", "evil.example",
                               "Authorization: Bearer " TOKEN "\r\n"), 421);
    assert_int_equal(commands_seen(), before);
    /* No Host: HTTP/1.0 had none (no browser sends that); HTTP/1.1 requires one. */
    static const char h10[] = "GET /api/v1/status HTTP/1.0\r\n\r\n";
    assert_int_equal(status_of_raw("127.0.0.1", sv.port, h10, sizeof h10 - 1, NULL, 0), 200);
    assert_int_equal(status_of(sv.port, "GET", "/api/v1/status", NULL, NULL), 400);
    assert_int_equal(status_of(sv.port, "GET", "/api/v1/status", "localhost",
                               "Host: evil.example\r\n"), 400);
    /* A reload replaces the extra names. */
    static const char *const other[] = {"other.example"};
    assert_int_equal(http_set_allowed_hosts(sv.s, other, 1), 0);
    assert_int_equal(status_of(sv.port, "GET", "/healthz", "healer.example", NULL), 421);
    assert_int_equal(status_of(sv.port, "GET", "/healthz", "other.example", NULL), 200);
    assert_int_equal(status_of(sv.port, "GET", "/healthz", "localhost", NULL), 200);
    server_stop(&sv);

    /* The listen address is a name of the server. */
    server_start(&sv, "127.0.0.2:0", NULL);
    char req[256];
    int n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.2:%d\r\n"
                     "Connection: close\r\n\r\n", sv.port);
    assert_int_equal(status_of_raw("127.0.0.2", sv.port, req, (size_t)n, NULL, 0), 200);
    n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.3\r\n"
                 "Connection: close\r\n\r\n");
    assert_int_equal(status_of_raw("127.0.0.2", sv.port, req, (size_t)n, NULL, 0), 421);
    server_stop(&sv);
}

/* ---- 4. idle and slow connections ------------------------------------------------------------- */

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A slowloris connection sends a header byte every 100 ms: the deadline (1 s here) counts from
 * the connection's start, so the server closes it although bytes keep coming. The bound (15 s of
 * trickling) only makes the test end if it does not. */
static void test_header_deadline(void **state)
{
    (void)state;
    http_options o = {.header_deadline_s = 1};
    server sv;
    server_start(&sv, "127.0.0.1:0", &o);
    int fd = connect_from(NULL, "127.0.0.1", sv.port);
    assert_true(fd >= 0);
    const char head[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    assert_int_equal(send(fd, head, sizeof head - 1, MSG_NOSIGNAL), (ssize_t)(sizeof head - 1));
    int closed = 0;
    double start = mono();
    while (!closed && mono() - start < 15) {
        if (send(fd, "X", 1, MSG_NOSIGNAL) != 1) {
            closed = 1;
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) == 1) {
            char b[256];
            ssize_t k = recv(fd, b, sizeof b, MSG_DONTWAIT);
            if (k == 0 || (k < 0 && errno != EAGAIN))
                closed = 1;
        }
    }
    close(fd);
    assert_true(closed);
    /* A client that sends its request at once is served, and a keep-alive connection that then
     * sits idle is closed at the deadline too. */
    fd = connect_from(NULL, "127.0.0.1", sv.port);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    char b[1024];
    ssize_t k = recv(fd, b, sizeof b - 1, 0);
    assert_true(k > 12);
    assert_int_equal(strncmp(b, "HTTP/1.1 200", 12), 0);
    k = recv(fd, b, sizeof b, 0);   /* SO_RCVTIMEO is 10 s: 0 means the server closed it */
    assert_int_equal(k, 0);
    close(fd);
    server_stop(&sv);
}

static int raise_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur >= want)
        return 1;
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    setrlimit(RLIMIT_NOFILE, &rl);
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= want;
}

/* 600 idle connections from the client's own address (127.0.0.1, as a local user would open
 * them) and 100 that trickle from 127.0.0.3: a new request from 127.0.0.1 is still answered,
 * because each new connection pushes out the oldest one still waiting for a request. */
static void test_idle_flood(void **state)
{
    (void)state;
    if (!raise_nofile(2048)) {
        fprintf(stderr, "skipped: RLIMIT_NOFILE below 2048\n");
        skip();
    }
    server sv;
    server_start(&sv, "127.0.0.1:0", NULL);
    enum { IDLE = 600, SLOW = 100 };
    int *fds = calloc(IDLE + SLOW, sizeof *fds);
    assert_non_null(fds);
    int opened = 0;
    for (int i = 0; i < IDLE + SLOW; i++) {
        fds[i] = connect_from(i < IDLE ? NULL : "127.0.0.3", "127.0.0.1", sv.port);
        if (fds[i] >= 0)
            opened++;
        if (i >= IDLE && fds[i] >= 0)
            send(fds[i], "GET / HTTP/1.1\r\nX: ", 19, MSG_NOSIGNAL);
    }
    assert_true(opened > 500);
    for (int round = 0; round < 3; round++) {
        for (int i = IDLE; i < IDLE + SLOW; i++)
            if (fds[i] >= 0)
                send(fds[i], "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        assert_int_equal(status_of(sv.port, "GET", "/healthz", "127.0.0.1", NULL), 200);
    }
    for (int i = 0; i < IDLE + SLOW; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    server_stop(&sv);
}

/* ---- 5. clients from off the host -------------------------------------------------------------- */

/* An address of this host that is not loopback: a connection to it comes "from the network". */
static int local_address(char *out, size_t len)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0)
        return 0;
    int found = 0;
    for (struct ifaddrs *i = ifa; i && !found; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET) {
            struct in_addr a = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
            if ((ntohl(a.s_addr) >> 24) != 127) {
                inet_ntop(AF_INET, &a, out, (socklen_t)len);
                found = 1;
            }
        }
    freeifaddrs(ifa);
    return found;
}

static void test_remote_needs_token(void **state)
{
    (void)state;
    char ip[INET_ADDRSTRLEN];
    if (!local_address(ip, sizeof ip)) {
        fprintf(stderr, "skipped: no non-loopback IPv4 address\n");
        skip();
    }
    char listen[64];
    snprintf(listen, sizeof listen, "%s:0", ip);
    server sv;
    server_start(&sv, listen, NULL);
    char req[512];
    int n = snprintf(req, sizeof req, "GET /api/v1/status HTTP/1.1\r\nHost: %s\r\n"
                     "Connection: close\r\n\r\n", ip);
    assert_int_equal(status_of_raw(ip, sv.port, req, (size_t)n, NULL, 0), 401);
    n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: %s\r\n"
                 "Connection: close\r\n\r\n", ip);
    assert_int_equal(status_of_raw(ip, sv.port, req, (size_t)n, NULL, 0), 200);
    n = snprintf(req, sizeof req, "GET /api/v1/status HTTP/1.1\r\nHost: %s\r\n"
                 "Authorization: Bearer " TOKEN "\r\nConnection: close\r\n\r\n", ip);
    assert_int_equal(status_of_raw(ip, sv.port, req, (size_t)n, NULL, 0), 200);
    n = snprintf(req, sizeof req, "GET /metrics HTTP/1.1\r\nHost: %s\r\n"
                 "Authorization: Bearer wrong\r\nConnection: close\r\n\r\n", ip);
    assert_int_equal(status_of_raw(ip, sv.port, req, (size_t)n, NULL, 0), 401);
    server_stop(&sv);
}

static void test_host_pure(void **state)
{
    (void)state;
    const char *const names[] = {"localhost", "::1"};
    assert_int_equal(http_host_allowed("localhost", 9, names, 2), 1);
    assert_int_equal(http_host_allowed("localhost\0", 10, names, 2), 0);
    assert_int_equal(http_host_allowed("[::1]:80", 8, names, 2), 1);
    assert_int_equal(http_host_allowed("[::1]x", 6, names, 2), 0);
    assert_int_equal(http_host_allowed("[]", 2, names, 2), 0);
    assert_int_equal(http_host_allowed(":80", 3, names, 2), 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.9.9.9", &a.sin_addr);
    assert_int_equal(http_addr_is_loopback((struct sockaddr *)&a), 1);
    inet_pton(AF_INET, "10.0.0.1", &a.sin_addr);
    assert_int_equal(http_addr_is_loopback((struct sockaddr *)&a), 0);
    struct sockaddr_in6 b = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &b.sin6_addr);
    assert_int_equal(http_addr_is_loopback((struct sockaddr *)&b), 1);
    inet_pton(AF_INET6, "::ffff:10.0.0.1", &b.sin6_addr);
    assert_int_equal(http_addr_is_loopback((struct sockaddr *)&b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_check_pure),
        cmocka_unit_test(test_route_pure),
        cmocka_unit_test(test_host_pure),
        cmocka_unit_test(test_token_full_length),
        cmocka_unit_test(test_strict_ids),
        cmocka_unit_test(test_host_allow_list),
        cmocka_unit_test(test_header_deadline),
        cmocka_unit_test(test_idle_flood),
        cmocka_unit_test(test_remote_needs_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
