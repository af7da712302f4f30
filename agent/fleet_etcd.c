/* fleet_etcd.c — the etcd v3 JSON gateway client behind the fleet-wide limits (fleet_etcd.h):
 * POSTs of JSON bodies (keys and values base64, 64-bit numbers as strings) through libcurl,
 * loaded at first use (curl_api.c) (an agent without fleet.etcd never maps
 * it), endpoints tried in turn; then the slot and budget keys built from those requests. */
#include "fleet_etcd.h"

#include "curl_api.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct etcd_client {
    char **ep;
    size_t n_ep, cur;           /* cur: the endpoint that answered last, tried first */
    long timeout_ms;
    const curl_api *cu;         /* NULL: libcurl could not be loaded (err says why) */
    CURL *h;                    /* one handle: its connection to etcd is kept between requests */
    struct curl_slist *hdr;
    char err[256];
    char *body;                 /* the last answer */
    size_t len, cap;
};

etcd_client *etcd_client_new(const char *const *endpoints, size_t n, int timeout_ms, char *why,
                             size_t wn)
{
    etcd_client *c = calloc(1, sizeof *c);
    if (!c || n == 0 || !(c->ep = calloc(n, sizeof *c->ep)))
        goto oom;
    for (; c->n_ep < n; c->n_ep++) {
        const char *u = endpoints[c->n_ep];
        size_t l = strlen(u);
        while (l && u[l - 1] == '/')
            l--;
        if (!(c->ep[c->n_ep] = strndup(u, l)))
            goto oom;
    }
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    if (!(c->cu = curl_api_get(c->err, sizeof c->err))) /* every request fails with this
                  reason: the caller's policy for an unreachable etcd applies, not "no limits" */
        return c;
    if (!(c->h = c->cu->easy_init()) ||
        !(c->hdr = c->cu->slist_append(NULL, "Content-Type: application/json")))
        goto oom;
    return c;
oom:
    snprintf(why, wn, n ? "out of memory" : "no etcd endpoint");
    etcd_client_free(c);
    return NULL;
}

void etcd_client_free(etcd_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_ep; i++)
        free(c->ep[i]);
    free(c->ep);
    if (c->hdr)
        c->cu->slist_free_all(c->hdr);
    if (c->h)
        c->cu->cleanup(c->h);
    free(c->body);
    free(c);
}

const char *etcd_client_error(const etcd_client *c)
{
    return c->err;
}

/* Answers are a few hundred bytes; a range of many keys a few KiB. Beyond 1 MiB: refused. */
static size_t fe_collect(char *p, size_t size, size_t n, void *ud)
{
    etcd_client *c = ud;
    size_t add = size * n;
    if (c->len + add + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 1024;
        while (cap < c->len + add + 1)
            cap *= 2;
        char *nb = cap <= (1u << 20) ? realloc(c->body, cap) : NULL;
        if (!nb)
            return 0;
        c->body = nb;
        c->cap = cap;
    }
    memcpy(c->body + c->len, p, add);
    c->len += add;
    c->body[c->len] = 0;
    return add;
}

/* POSTs body to path at each endpoint in turn, from the last one that answered. Returns the
 * parsed answer (caller decrefs) with *status, or NULL (c->err says why) when none answered. */
static json_t *fe_post(etcd_client *c, const char *path, json_t *req, long *status)
{
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!c->h) {
        free(body);
        (void)curl_api_get(c->err, sizeof c->err); /* why libcurl could not be loaded */
        return NULL;
    }
    if (!body) {
        snprintf(c->err, sizeof c->err, "out of memory");
        return NULL;
    }
    json_t *ans = NULL;
    for (size_t t = 0; t < c->n_ep && !ans; t++) {
        size_t i = (c->cur + t) % c->n_ep;
        char url[512], cerr[CURL_ERROR_SIZE] = "";
        snprintf(url, sizeof url, "%s%s", c->ep[i], path);
        c->len = 0;
        CURL *h = c->h;
        c->cu->setopt(h, CURLOPT_URL, url);
        c->cu->setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        c->cu->setopt(h, CURLOPT_NOSIGNAL, 1L);
        c->cu->setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
        c->cu->setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
        c->cu->setopt(h, CURLOPT_HTTPHEADER, c->hdr);
        c->cu->setopt(h, CURLOPT_POSTFIELDS, body);
        c->cu->setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        c->cu->setopt(h, CURLOPT_WRITEFUNCTION, fe_collect);
        c->cu->setopt(h, CURLOPT_WRITEDATA, (void *)c);
        c->cu->setopt(h, CURLOPT_ERRORBUFFER, cerr);
        c->cu->setopt(h, CURLOPT_USERAGENT, "healerd/" HEALERD_VERSION);
        CURLcode rc = c->cu->perform(h);
        c->cu->setopt(h, CURLOPT_ERRORBUFFER, NULL);
        if (rc != CURLE_OK) {
            snprintf(c->err, sizeof c->err, "%.120s: %.120s", c->ep[i],
                     cerr[0] ? cerr : c->cu->strerror(rc));
            continue;
        }
        c->cu->getinfo(h, CURLINFO_RESPONSE_CODE, status);
        json_error_t je;
        ans = c->len ? json_loadb(c->body, c->len, 0, &je) : NULL;
        if (!ans || !json_is_object(ans)) {
            json_decref(ans);
            ans = NULL;
            snprintf(c->err, sizeof c->err, "%s: HTTP %ld with an answer that is not a JSON "
                     "object", c->ep[i], *status);
            continue;
        }
        /* an error etcd may not have on another member (no leader here, 5xx): try the next */
        if (*status >= 500) {
            const char *m = json_string_value(json_object_get(ans, "message"));
            snprintf(c->err, sizeof c->err, "%s: HTTP %ld: %s", c->ep[i], *status, m ? m : "?");
            json_decref(ans);
            ans = NULL;
            continue;
        }
        c->cur = i;
    }
    free(body);
    return ans;
}

/* ---- base64 (etcd's bytes fields) ---------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *fe_b64(const char *s, size_t n)
{
    char *o = malloc((n + 2) / 3 * 4 + 1), *p = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < n) v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)s[i + 2];
        *p++ = B64[(v >> 18) & 63];
        *p++ = B64[(v >> 12) & 63];
        *p++ = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        *p++ = i + 2 < n ? B64[v & 63] : '=';
    }
    *p = 0;
    return o;
}

/* Decodes into out (at most n-1 bytes, NUL-terminated); -1 on a character outside base64. */
static int fe_unb64(const char *s, char *out, size_t n)
{
    unsigned v = 0;
    int bits = 0;
    size_t k = 0;
    for (; *s && *s != '='; s++) {
        const char *q = strchr(B64, *s);
        if (!q)
            return -1;
        v = (v << 6) | (unsigned)(q - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (k + 1 >= n)
                return -1;
            out[k++] = (char)((v >> bits) & 0xff);
        }
    }
    out[k] = 0;
    return (int)k;
}

static json_t *fe_b64_json(const char *s)
{
    char *b = fe_b64(s, strlen(s));
    json_t *j = b ? json_string_nocheck(b) : NULL;
    free(b);
    return j;
}

static int64_t fe_get_i64(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    const char *s = json_string_value(v);
    return s ? (int64_t)strtoll(s, NULL, 10) : 0;
}

/* ---- requests ------------------------------------------------------------------------------ */

/* etcd's JSON gateway takes 64-bit numbers as strings (a double would round a lease ID):
 * written into the caller's buffer, so putting one in a request allocates nothing. */
static const char *fe_i64(char buf[static 24], int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

/* Every request: its body built by json_pack from fmt (an "o" value is stolen, also when the
 * build fails; a NULL one, a failed allocation, fails it) and POSTed to path as fe_post does.
 * NULL with c->err set when the body could not be built or no endpoint answered. */
static json_t *fe_request(etcd_client *c, const char *path, long *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_error_t je;
    json_t *q = json_vpack_ex(&je, 0, fmt, ap);
    va_end(ap);
    *status = 0;
    if (!q) {
        snprintf(c->err, sizeof c->err, "%s: the request could not be built: %.100s", path,
                 je.text);
        return NULL;
    }
    return fe_post(c, path, q, status);
}

int etcd_lease_grant(etcd_client *c, int ttl_s, int64_t *id)
{
    long st;
    json_t *a = fe_request(c, "/v3/lease/grant", &st, "{s:i}", "TTL", ttl_s);
    if (!a)
        return ETCD_DOWN;
    *id = fe_get_i64(a, "ID");
    int ok = st == 200 && *id != 0;
    if (!ok) {
        const char *m = json_string_value(json_object_get(a, "message"));
        snprintf(c->err, sizeof c->err, "lease grant: HTTP %ld: %s", st, m ? m : "no lease");
    }
    json_decref(a);
    return ok ? ETCD_OK : ETCD_DOWN;
}

/* keepalive and revoke: a body of the lease's ID alone */
static json_t *fe_lease_request(etcd_client *c, const char *path, int64_t id, long *status)
{
    char ids[24];
    return fe_request(c, path, status, "{s:s}", "ID", fe_i64(ids, id));
}

int etcd_lease_keepalive(etcd_client *c, int64_t id)
{
    long st;
    json_t *a = fe_lease_request(c, "/v3/lease/keepalive", id, &st);
    if (!a)
        return ETCD_DOWN;
    /* a lease that is gone answers without a TTL (or with 0) */
    int64_t ttl = fe_get_i64(json_object_get(a, "result"), "TTL");
    int rc = st != 200 ? ETCD_DOWN : ttl > 0 ? ETCD_OK : ETCD_NO;
    if (rc == ETCD_DOWN)
        snprintf(c->err, sizeof c->err, "lease keepalive: HTTP %ld", st);
    json_decref(a);
    return rc;
}

int etcd_lease_revoke(etcd_client *c, int64_t id)
{
    long st;
    json_t *a = fe_lease_request(c, "/v3/lease/revoke", id, &st);
    if (!a)
        return ETCD_DOWN;
    int code = (int)fe_get_i64(a, "code");
    json_decref(a);
    if (st == 200)
        return ETCD_OK;
    if (code == 5 || st == 404) /* NOT_FOUND: expired or revoked already */
        return ETCD_NO;
    snprintf(c->err, sizeof c->err, "lease revoke: HTTP %ld", st);
    return ETCD_DOWN;
}

int etcd_put_absent(etcd_client *c, const char *key, const char *value, int64_t lease)
{
    /* put only if the key was never created; "s*" leaves "lease" out for 0 (no lease). The
     * lease is a stack string, so an allocation failing can never drop it silently. */
    char ls[24];
    long st;
    json_t *a = fe_request(c, "/v3/kv/txn", &st,
                           "{s:[{s:o, s:s, s:s, s:s}], s:[{s:{s:o, s:o, s:s*}}]}",
                           "compare", "key", fe_b64_json(key), "result", "EQUAL",
                           "target", "CREATE", "create_revision", "0",
                           "success", "request_put", "key", fe_b64_json(key),
                           "value", fe_b64_json(value), "lease", lease ? fe_i64(ls, lease) : NULL);
    if (!a)
        return ETCD_DOWN;
    int rc = ETCD_DOWN;
    if (st == 200) /* proto3 JSON leaves a false "succeeded" out */
        rc = json_is_true(json_object_get(a, "succeeded")) ? ETCD_OK : ETCD_NO;
    else {
        const char *m = json_string_value(json_object_get(a, "message"));
        snprintf(c->err, sizeof c->err, "txn: HTTP %ld: %s", st, m ? m : "?");
    }
    json_decref(a);
    return rc;
}

int etcd_scan(etcd_client *c, const char *prefix, size_t *count, unsigned char *used,
              size_t n_used)
{
    size_t pl = strlen(prefix);
    char *end = strdup(prefix);
    if (!end || pl == 0) {
        free(end);
        snprintf(c->err, sizeof c->err, "out of memory");
        return ETCD_DOWN;
    }
    end[pl - 1]++; /* the prefix's range: [prefix, prefix with its last byte + 1) */
    long st;
    json_t *a = fe_request(c, "/v3/kv/range", &st, "{s:o, s:o, s:b}", "key",
                           fe_b64_json(prefix), "range_end", fe_b64_json(end), "keys_only", 1);
    free(end);
    if (!a)
        return ETCD_DOWN;
    if (st != 200) {
        snprintf(c->err, sizeof c->err, "range: HTTP %ld", st);
        json_decref(a);
        return ETCD_DOWN;
    }
    *count = (size_t)fe_get_i64(a, "count");
    if (used) {
        memset(used, 0, n_used);
        json_t *kvs = json_object_get(a, "kvs"), *kv;
        size_t i;
        json_array_foreach(kvs, i, kv) {
            char k[512];
            const char *b = json_string_value(json_object_get(kv, "key"));
            if (!b || fe_unb64(b, k, sizeof k) < 0 || strncmp(k, prefix, pl) != 0)
                continue;
            char *e;
            unsigned long v = strtoul(k + pl, &e, 10);
            if (e != k + pl && !*e && v < n_used)
                used[v] = 1;
        }
    }
    json_decref(a);
    return ETCD_OK;
}

/* ---- slots and budget ---------------------------------------------------------------------- */

int etcd_slot_acquire(etcd_client *c, const char *base, int k, int ttl_s, const char *value,
                      int64_t *lease, int *slot)
{
    char pre[400], key[420];
    snprintf(pre, sizeof pre, "%s/slot/", base);
    unsigned char *used = calloc((size_t)k, 1);
    if (!used)
        return ETCD_DOWN;
    size_t count = 0;
    int rc = etcd_scan(c, pre, &count, used, (size_t)k);
    int free_slots = 0;
    for (int i = 0; rc == ETCD_OK && i < k; i++)
        free_slots += !used[i];
    if (rc != ETCD_OK || free_slots == 0) {
        free(used);
        return rc == ETCD_OK ? ETCD_NO : rc;
    }
    /* A slot looked free: lease first (a key put without one would outlive a dead holder). */
    rc = etcd_lease_grant(c, ttl_s, lease);
    if (rc != ETCD_OK) {
        free(used);
        return rc;
    }
    int got = ETCD_NO;
    for (int i = 0; i < k && got == ETCD_NO; i++) {
        if (used[i])
            continue;
        snprintf(key, sizeof key, "%s%d", pre, i);
        got = etcd_put_absent(c, key, value, *lease);
        if (got == ETCD_OK)
            *slot = i;
    }
    free(used);
    if (got != ETCD_OK) /* another node took the free ones first */
        etcd_lease_revoke(c, *lease);
    return got;
}

int etcd_budget_take(etcd_client *c, const char *base, int budget, const char *value)
{
    char pre[400], key[420];
    snprintf(pre, sizeof pre, "%s/budget/", base);
    unsigned char *used = calloc((size_t)budget, 1);
    if (!used)
        return ETCD_DOWN;
    size_t count = 0;
    int rc = etcd_scan(c, pre, &count, used, (size_t)budget);
    if (rc != ETCD_OK || count >= (size_t)budget) {
        free(used);
        return rc == ETCD_OK ? ETCD_NO : rc;
    }
    int64_t lease = 0;
    rc = etcd_lease_grant(c, ETCD_BUDGET_TTL, &lease);
    int got = rc == ETCD_OK ? ETCD_NO : rc;
    for (int i = 0; rc == ETCD_OK && i < budget && got == ETCD_NO; i++) {
        if (used[i])
            continue;
        snprintf(key, sizeof key, "%s%d", pre, i);
        got = etcd_put_absent(c, key, value, lease);
    }
    free(used);
    if (rc == ETCD_OK && got != ETCD_OK)
        etcd_lease_revoke(c, lease);
    return got;
}
