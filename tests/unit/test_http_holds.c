/* test_http_holds.c — the hold routes of the real HTTP server (issue #11) over a real socket,
 * with a backend that applies requests to a real hold table through http_hold_apply (as
 * agent.c does): token rules, bad input answered 400 with the value named, release of no hold
 * 404, the hold's fields as given. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "healer/types.h"
#include "http_int.h"

#define TOKEN "hold-token-0123456789"
#define AUTH "Authorization: Bearer " TOKEN "\r\n"
#define NOW 1700000000.0

typedef struct rig {
    hold_table *hs;
    http_server *s;
    int port, calls;
    char dir[64], tok[128];
} rig;

static int be_hold(void *ud, const http_hold_req *rq, char *msg, size_t len)
{
    rig *r = ud;
    r->calls++;
    return http_hold_apply(r->hs, rq, NOW, msg, len);
}

static json_t *be_holds(void *ud)
{
    rig *r = ud;
    return holds_json(r->hs, NOW);
}

static rig *rig_new(void)
{
    rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->hs = holds_new();
    snprintf(r->dir, sizeof r->dir, "/tmp/test_http_holds_XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->tok, sizeof r->tok, "%s/token", r->dir);
    FILE *f = fopen(r->tok, "w");
    assert_non_null(f);
    fputs(TOKEN "\n", f);
    fclose(f);
    assert_int_equal(chmod(r->tok, 0600), 0);
    http_backend be = { .holds = be_holds, .hold = be_hold, .ud = r };
    char err[256];
    r->s = http_start("127.0.0.1:0", r->tok, &be, err, sizeof err);
    assert_non_null(r->s);
    r->port = http_port(r->s);
    return r;
}

static void rig_free(rig *r)
{
    http_stop(r->s);
    holds_free(r->hs);
    unlink(r->tok);
    rmdir(r->dir);
    free(r);
}

typedef struct answer {
    int status;
    json_t *body;
} answer;

static answer call(rig *r, const char *method, const char *path, const char *headers)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[2048];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "%s\r\n", method, path, headers ? headers : "");
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    static char buf[16384];
    size_t len = 0;
    ssize_t k;
    while ((k = recv(fd, buf + len, sizeof buf - 1 - len, 0)) > 0 || (k < 0 && errno == EINTR))
        if (k > 0)
            len += (size_t)k;
    close(fd);
    buf[len] = '\0';
    answer ans = {0};
    if (len > 12)
        ans.status = atoi(buf + 9);
    char *body = strstr(buf, "\r\n\r\n");
    ans.body = body ? json_loads(body + 4, 0, NULL) : NULL;
    return ans;
}

static const char *err_of(const answer *a)
{
    return json_string_value(json_object_get(a->body, "error"));
}

static void test_hold_token_rules(void **state)
{
    (void)state;
    rig *r = rig_new();
    answer a = call(r, "POST", "/api/v1/holds?target=nginx.service", "");
    assert_int_equal(a.status, 401);
    json_decref(a.body);
    a = call(r, "POST", "/api/v1/holds?target=nginx.service", "Authorization: Bearer nope\r\n");
    assert_int_equal(a.status, 401);
    json_decref(a.body);
    a = call(r, "POST", "/api/v1/holds/release?target=nginx.service", "");
    assert_int_equal(a.status, 401);
    json_decref(a.body);
    assert_int_equal(r->calls, 0); /* the backend never heard of them */
    a = call(r, "GET", "/api/v1/holds", ""); /* reading is open on loopback, as other views */
    assert_int_equal(a.status, 200);
    assert_int_equal(json_array_size(json_object_get(a.body, "holds")), 0);
    json_decref(a.body);
    rig_free(r);
}

static void test_hold_bad_input(void **state)
{
    (void)state;
    rig *r = rig_new();
    answer a = call(r, "POST", "/api/v1/holds?target=nginx.service&for=abc", AUTH);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(err_of(&a), "for=abc"));
    json_decref(a.body);
    a = call(r, "POST", "/api/v1/holds?target=nginx.service&for=-5m", AUTH);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(err_of(&a), "for=-5m"));
    json_decref(a.body);
    /* Past ten years, or so large that it is +inf once in seconds: refused, not kept forever. */
    static const char *const huge[] = {"3651d", "1e300d", "1e400", "nan", "inf"};
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
        char path[128], want[32];
        snprintf(path, sizeof path, "/api/v1/holds?target=nginx.service&for=%s", huge[i]);
        snprintf(want, sizeof want, "for=%s", huge[i]);
        a = call(r, "POST", path, AUTH);
        assert_int_equal(a.status, 400);
        assert_non_null(strstr(err_of(&a), want));
        json_decref(a.body);
    }
    a = call(r, "POST", "/api/v1/holds?target=nginx.service&for=3650d", AUTH);
    assert_int_equal(a.status, 200);
    json_decref(a.body);
    a = call(r, "POST", "/api/v1/holds?target=", AUTH);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(err_of(&a), "target"));
    json_decref(a.body);
    a = call(r, "POST", "/api/v1/holds", AUTH);
    assert_int_equal(a.status, 400);
    json_decref(a.body);
    a = call(r, "POST", "/api/v1/holds/release?target=nothing.service", AUTH);
    assert_int_equal(a.status, 404);
    assert_non_null(strstr(err_of(&a), "nothing.service"));
    json_decref(a.body);
    a = call(r, "GET", "/api/v1/holds/release?target=x", AUTH);
    assert_int_equal(a.status, 405);
    json_decref(a.body);
    rig_free(r);
}

static void test_hold_set_list_release(void **state)
{
    (void)state;
    rig *r = rig_new();
    answer a = call(r, "POST", "/api/v1/holds?target=nginx.service&type=service_failed&for=15m"
                    "&reason=deploy&by=alice&even_critical=1", AUTH);
    assert_int_equal(a.status, 200);
    assert_true(json_is_true(json_object_get(a.body, "ok")));
    json_decref(a.body);
    a = call(r, "POST", "/api/v1/holds?target=db*", AUTH); /* default: one hour */
    assert_int_equal(a.status, 200);
    json_decref(a.body);
    a = call(r, "GET", "/api/v1/holds", "");
    assert_int_equal(a.status, 200);
    json_t *hs = json_object_get(a.body, "holds");
    assert_int_equal(json_array_size(hs), 2);
    int seen = 0;
    json_t *v;
    size_t i;
    json_array_foreach(hs, i, v) {
        const char *t = json_string_value(json_object_get(v, "target"));
        double until = json_number_value(json_object_get(v, "until"));
        if (strcmp(t, "nginx.service") == 0) {
            seen++;
            assert_string_equal(json_string_value(json_object_get(v, "type")), "service_failed");
            assert_string_equal(json_string_value(json_object_get(v, "reason")), "deploy");
            assert_string_equal(json_string_value(json_object_get(v, "by")), "alice");
            assert_true(json_is_true(json_object_get(v, "even_critical")));
            assert_true(until == NOW + 900);
        } else {
            seen++;
            assert_string_equal(t, "db*");
            assert_true(until == NOW + HOLD_DEFAULT_S);
        }
    }
    assert_int_equal(seen, 2);
    json_decref(a.body);
    assert_true(holds_match(r->hs, "service_failed", "nginx.service", 1, NOW + 10));
    assert_false(holds_match(r->hs, "service_flapping", "nginx.service", 0, NOW + 10));
    assert_true(holds_match(r->hs, "disk_space_low", "db1", 0, NOW + 10));
    a = call(r, "POST", "/api/v1/holds/release?target=nginx.service", AUTH);
    assert_int_equal(a.status, 200);
    json_decref(a.body);
    assert_false(holds_match(r->hs, "service_failed", "nginx.service", 1, NOW + 10));
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hold_token_rules),
        cmocka_unit_test(test_hold_bad_input),
        cmocka_unit_test(test_hold_set_list_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
