/* fuzz_http_route.c — libFuzzer target for the HTTP server's request-path decisions: percent
 * decoding (never longer, never a new NUL), routing and plan ids (a command route is exactly
 * /api/v1/pending/<canonical decimal>/(confirm|reject); a heal or an issue is exactly
 * /api/v1/heals/<canonical decimal> or /api/v1/issues/<canonical decimal>; an undo exactly
 * /api/v1/heals/<canonical decimal>/undo), and the Host allow-list (an allowed
 * value names a listed host, with at most a numeric port). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_parse.h"

static void check_route(const char *url, size_t len)
{
    http_route r;
    http_route_id id = http_route_match(url, len, &r);
    if (id != r.id)
        abort();
    if (id == HTTP_RT_CONFIRM || id == HTTP_RT_REJECT) {
        char want[64];
        int n = snprintf(want, sizeof want, "/api/v1/pending/%" PRIu64 "/%s", r.plan_id,
                         id == HTTP_RT_CONFIRM ? "confirm" : "reject");
        if (r.plan_id == 0 || !r.post || (size_t)n != len || memcmp(want, url, len) != 0)
            abort();
    } else if (id == HTTP_RT_HEAL || id == HTTP_RT_ISSUE) {
        char want[64];
        int n = snprintf(want, sizeof want, "/api/v1/%s/%" PRIu64,
                         id == HTTP_RT_HEAL ? "heals" : "issues", r.plan_id);
        if (r.plan_id == 0 || r.post || (size_t)n != len || memcmp(want, url, len) != 0)
            abort();
    } else if (id == HTTP_RT_HEAL_UNDO) {
        char want[64];
        int n = snprintf(want, sizeof want, "/api/v1/heals/%" PRIu64 "/undo", r.plan_id);
        if (r.plan_id == 0 || !r.post || (size_t)n != len || memcmp(want, url, len) != 0)
            abort();
    } else if (id == HTTP_RT_BAD_ID) {
        if (r.plan_id != 0 ||
            !((len > 16 && memcmp(url, "/api/v1/pending/", 16) == 0) ||
              (len > 14 && memcmp(url, "/api/v1/heals/", 14) == 0) ||
              (len > 15 && memcmp(url, "/api/v1/issues/", 15) == 0)))
            abort();
    } else if (id != HTTP_RT_NONE) {
        /* every other route is one of the documented paths, byte for byte (docs/http-api.md;
         * written out here rather than taken from http_parse.c so a route added there by
         * mistake, or matched loosely, is a finding) */
        static const char *const known[] = {
            "/", "/metrics", "/healthz", "/api/v1/status", "/api/v1/issues", "/api/v1/heals",
            "/api/v1/plugins", "/api/v1/knowledge", "/api/v1/pending", "/api/v1/pause",
            "/api/v1/resume", "/api/v1/holds", "/api/v1/holds/release", "/api/v1/history",
            "/api/v1/restore", "/api/v1/alerts"};
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (strlen(known[k]) == len && memcmp(known[k], url, len) == 0)
                ok = 1;
        if (!ok)
            abort();
    }
}

static void check_id(const char *s, size_t len)
{
    uint64_t v;
    if (http_parse_id(s, len, &v) == 0) {
        char back[32];
        int n = snprintf(back, sizeof back, "%" PRIu64, v);
        if ((size_t)n != len || memcmp(back, s, len) != 0)
            abort();
    }
}

static void check_host(const char *s, size_t len)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "::1", "healer.example"};
    if (!http_host_allowed(s, len, names, 4))
        return;
    if (memchr(s, '\0', len))
        abort();
    /* host part, then nothing or ":" and 1-5 digits */
    size_t i = 0, hl;
    if (s[0] == '[') {
        const char *c = memchr(s, ']', len);
        if (!c)
            abort();
        hl = (size_t)(c - s - 1);
        if (hl != 3 || strncasecmp(s + 1, "::1", 3) != 0)
            abort();
        i = (size_t)(c - s) + 1;
    } else {
        const char *c = memchr(s, ':', len);
        hl = c ? (size_t)(c - s) : len;
        int found = 0;
        for (size_t k = 0; k < 4; k++)
            found |= strlen(names[k]) == hl && strncasecmp(names[k], s, hl) == 0;
        if (!found)
            abort();
        i = hl;
    }
    if (i < len) {
        if (s[i] != ':' || len - i < 2 || len - i > 6)
            abort();
        for (size_t k = i + 1; k < len; k++)
            if (s[k] < '0' || s[k] > '9')
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_route(s, size);
    check_id(s, size);
    check_host(s, size);
    /* What libmicrohttpd hands the unescaper: a C string. */
    char *z = malloc(size + 1);
    if (!z)
        return 0;
    memcpy(z, data, size);
    z[size] = '\0';
    size_t before = strlen(z);
    size_t after = http_unescape(z);
    if (after > before || strlen(z) != after)
        abort();
    check_route(z, after);
    free(z);
    return 0;
}
