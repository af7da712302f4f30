/* http_parse.c — pure decisions on request bytes for http.c: routes and strict plan ids, percent
 * decoding that keeps %00, the constant-time bearer check over the full header value, the Host
 * allow-list and loopback addresses. Nothing here allocates, locks or touches a socket. */
#include "http_parse.h"

#include <netinet/in.h>
#include <string.h>

static const struct {
    const char *path;
    http_route_id id;
    int post;
} ROUTES[] = {
    {"/", HTTP_RT_DASHBOARD, 0},
    {"/metrics", HTTP_RT_METRICS, 0},
    {"/healthz", HTTP_RT_HEALTHZ, 0},
    {"/api/v1/status", HTTP_RT_STATUS, 0},
    {"/api/v1/issues", HTTP_RT_ISSUES, 0},
    {"/api/v1/heals", HTTP_RT_HEALS, 0},
    {"/api/v1/plugins", HTTP_RT_PLUGINS, 0},
    {"/api/v1/knowledge", HTTP_RT_KNOWLEDGE, 0},
    {"/api/v1/pending", HTTP_RT_PENDING, 0},
    {"/api/v1/history", HTTP_RT_HISTORY, 0},
    {"/api/v1/pause", HTTP_RT_PAUSE, 1},
    {"/api/v1/resume", HTTP_RT_RESUME, 1},
    {"/api/v1/holds", HTTP_RT_HOLDS, 0},
    {"/api/v1/holds/release", HTTP_RT_HOLD_RELEASE, 1},
    {"/api/v1/restore", HTTP_RT_RESTORE, 1},
    {"/api/v1/alerts", HTTP_RT_ALERTS, 1},
};

#define PENDING_PREFIX "/api/v1/pending/"

static int equal_n(const char *a, size_t alen, const char *lit)
{
    size_t l = strlen(lit);
    return alen == l && memcmp(a, lit, l) == 0;
}

int http_parse_id(const char *text, size_t len, uint64_t *out)
{
    if (!text || len == 0 || len > HTTP_ID_MAX_DIGITS)
        return -1;
    /* "0" is no plan and "007" is not how the agent writes ids: one spelling per id. */
    if (text[0] == '0')
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < '0' || c > '9')
            return -1;
        unsigned d = (unsigned)(c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (out)
        *out = v;
    return 0;
}

http_route_id http_route_match(const char *url, size_t len, http_route *out)
{
    http_route r = {HTTP_RT_NONE, 0, 0};
    if (out)
        *out = r;
    if (!url || memchr(url, '\0', len))
        return HTTP_RT_NONE;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
        if (equal_n(url, len, ROUTES[i].path)) {
            r.id = ROUTES[i].id;
            r.post = ROUTES[i].post;
            if (out)
                *out = r;
            return r.id;
        }
    /* /api/v1/heals/ID and /api/v1/issues/ID: the rest of the path is the ID, all of it */
    static const struct { const char *prefix; http_route_id id; } ONE[] = {
        {"/api/v1/heals/", HTTP_RT_HEAL}, {"/api/v1/issues/", HTTP_RT_ISSUE}};
    for (size_t i = 0; i < sizeof ONE / sizeof ONE[0]; i++) {
        size_t ol = strlen(ONE[i].prefix);
        if (len <= ol || memcmp(url, ONE[i].prefix, ol) != 0)
            continue;
        r.id = ONE[i].id;
        size_t idl = len - ol;
        /* /api/v1/heals/ID/undo: the ID is everything between the prefix and "/undo" */
        if (ONE[i].id == HTTP_RT_HEAL && idl > 5 && memcmp(url + len - 5, "/undo", 5) == 0) {
            r.id = HTTP_RT_HEAL_UNDO;
            r.post = 1;
            idl -= 5;
        }
        if (http_parse_id(url + ol, idl, &r.plan_id) < 0) {
            r.id = HTTP_RT_BAD_ID;
            r.plan_id = 0;
        }
        if (out)
            *out = r;
        return r.id;
    }
    size_t pl = sizeof PENDING_PREFIX - 1;
    if (len <= pl || memcmp(url, PENDING_PREFIX, pl) != 0)
        return HTTP_RT_NONE;
    const char *seg = url + pl;
    size_t rest = len - pl;
    const char *slash = memchr(seg, '/', rest);
    if (!slash)
        return HTTP_RT_NONE;
    size_t idlen = (size_t)(slash - seg);
    const char *verb = slash + 1;
    size_t vlen = rest - idlen - 1;
    if (equal_n(verb, vlen, "confirm"))
        r.id = HTTP_RT_CONFIRM;
    else if (equal_n(verb, vlen, "reject"))
        r.id = HTTP_RT_REJECT;
    else
        return HTTP_RT_NONE;
    r.post = 1;
    /* The whole segment is the id, however long: never cut to a buffer's size. */
    if (http_parse_id(seg, idlen, &r.plan_id) < 0) {
        r.id = HTTP_RT_BAD_ID;
        r.plan_id = 0;
    }
    if (out)
        *out = r;
    return r.id;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t http_unescape(char *s)
{
    if (!s)
        return 0;
    char *w = s;
    for (const char *p = s; *p;) {
        if (p[0] == '%') {
            int hi = hexval((unsigned char)p[1]);
            int lo = hi >= 0 ? hexval((unsigned char)p[2]) : -1;
            if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
                *w++ = (char)(hi * 16 + lo);
                p += 3;
                continue;
            }
        }
        *w++ = *p++;
    }
    *w = '\0';
    return (size_t)(w - s);
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int http_bearer_check(const char *value, size_t len, const unsigned char *token, size_t token_len,
                      int *given)
{
    if (given)
        *given = 0;
    if (!value)
        return 0;
    size_t i = 0;
    while (i < len && is_ows(value[i]))
        i++;
    static const char scheme[] = "bearer";
    if (len - i < sizeof scheme)   /* the scheme and at least one separator */
        return 0;
    for (size_t k = 0; k < sizeof scheme - 1; k++) {
        char c = value[i + k];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != scheme[k])
            return 0;
    }
    i += sizeof scheme - 1;
    if (!is_ows(value[i]))
        return 0;
    while (i < len && is_ows(value[i]))
        i++;
    size_t end = len;
    while (end > i && is_ows(value[end - 1]))
        end--;
    size_t glen = end - i;
    if (glen == 0)
        return 0;
    if (given)
        *given = 1;
    const char *g = value + i;
    /* Every byte up to HTTP_TOKEN_MAX is read from both sides whatever the lengths (missing
     * ones as 0), and the lengths are part of the difference: a token followed by a NUL and
     * more bytes differs in its length even where C strings would see the token alone. */
    volatile unsigned diff = (unsigned)(glen > HTTP_TOKEN_MAX) | (unsigned)(token_len > HTTP_TOKEN_MAX);
    diff |= (unsigned)((glen ^ token_len) & 0xffff) | (unsigned)((glen ^ token_len) >> 16 != 0);
    if (!token || token_len == 0)
        diff |= 1;
    for (size_t k = 0; k < HTTP_TOKEN_MAX; k++) {
        unsigned char a = k < glen ? (unsigned char)g[k] : 0;
        unsigned char b = token && k < token_len ? token[k] : 0;
        diff |= (unsigned)(a ^ b);
    }
    return diff == 0;
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int http_host_allowed(const char *value, size_t len, const char *const *names, size_t n)
{
    if (!value || len == 0 || memchr(value, '\0', len))
        return 0;
    const char *host = value;
    size_t hlen;
    const char *port;
    if (value[0] == '[') {
        const char *close = memchr(value, ']', len);
        if (!close || close == value + 1)
            return 0;
        host = value + 1;
        hlen = (size_t)(close - host);
        /* Brackets hold an IPv6 literal (RFC 3986), never a name or an IPv4 address. */
        if (!memchr(host, ':', hlen))
            return 0;
        port = close + 1;
    } else {
        const char *colon = memchr(value, ':', len);
        hlen = colon ? (size_t)(colon - value) : len;
        port = value + hlen;
    }
    size_t plen = len - (size_t)(port - value);
    if (plen > 0) {
        /* ":" then 1 to 5 digits; an empty port (RFC 3986 allows it) is refused too: no
         * client of the agent sends one. */
        if (port[0] != ':' || plen < 2 || plen > 6)
            return 0;
        for (size_t i = 1; i < plen; i++)
            if (port[i] < '0' || port[i] > '9')
                return 0;
    }
    if (hlen == 0)
        return 0;
    for (size_t k = 0; k < n; k++) {
        const char *name = names[k];
        if (!name)
            continue;
        size_t nl = strlen(name);
        if (nl != hlen)
            continue;
        size_t i = 0;
        while (i < hlen && ascii_lower((unsigned char)host[i]) == ascii_lower((unsigned char)name[i]))
            i++;
        if (i == hlen)
            return 1;
    }
    return 0;
}

int http_addr_is_loopback(const struct sockaddr *sa)
{
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
    }
    return 0;
}
