/* jsonbuf.c — JSON text into one growing buffer, the same bytes as jansson's compact dump
 * (test_jsonbuf holds them to it). Used where a jansson object per value cost more than the
 * work around it: audit lines and the heal's decision record. */
#include "jsonbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sanitize_json.h"

int jb_reserve(jsonbuf *b, size_t n)
{
    if (b->cap - b->len >= n + 1)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len < n + 1)
        cap *= 2;
    char *nb = realloc(b->buf, cap);
    if (!nb)
        return -1;
    b->buf = nb;
    b->cap = cap;
    return 0;
}

int jb_put(jsonbuf *b, const char *s, size_t n)
{
    if (jb_reserve(b, n) < 0)
        return -1;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    return 0;
}

int jb_json(jsonbuf *b, const json_t *j)
{
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY;
    for (int tries = 0; tries < 2; tries++) {
        size_t room = b->cap - b->len;
        size_t n = json_dumpb(j, room ? b->buf + b->len : NULL, room, flags);
        if (n == 0)
            return -1;
        if (n < room) {
            b->len += n;
            return 0;
        }
        /* did not fit (its text was cut; nothing counted): make room, write it again */
        if (jb_reserve(b, n + 1) < 0)
            return -1;
    }
    return -1;
}

/* Bytes that JSON carries as themselves: printable ASCII except the quote and the backslash.
 * A string of only these is written between quotes as it is — exactly what jansson writes for
 * it (it escapes nothing else in that range; '/' only with JSON_ESCAPE_SLASH, never used here)
 * and what the sanitizer leaves alone. Every other string goes through sanitize_json_str and
 * jansson. */
int jb_plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

int jb_str(jsonbuf *b, const char *s)
{
    if (!s)
        return JB_LIT(b, "null");
    size_t n = strlen(s);
    if (jb_plain(s, n))
        return JB_LIT(b, "\"") || jb_put(b, s, n) || JB_LIT(b, "\"") ? -1 : 0;
    json_t *j = sanitize_json_str(s);
    int rc = jb_json(b, j);
    json_decref(j);
    return rc;
}

int jb_real(jsonbuf *b, double v)
{
    if (!isfinite(v))
        return -1; /* json_real refuses it too */
    char t[40];
    /* A whole number below 1e15 (counts, seconds, most measurements) is what "%.17g" prints
     * for it, its digits, plus ".0": written without snprintf, whose floating-point path was
     * a tenth of the knowledge writer's time. -0.0 prints as "-0" there, so it goes the long
     * way. */
    if (v > -1e15 && v < 1e15 && v == (double)(long long)v && !(v == 0 && signbit(v))) {
        long long i = (long long)v;
        unsigned long long u = i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;
        char *end = t + sizeof t, *d = end;
        *--d = '0';
        *--d = '.';
        do
            *--d = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (i < 0)
            *--d = '-';
        return jb_put(b, d, (size_t)(end - d));
    }
    /* jansson: "%.17g", and ".0" when that reads as an integer */
    int n = snprintf(t, sizeof t, "%.17g", v);
    if (n <= 0 || (size_t)n >= sizeof t - 2)
        return -1;
    if (strpbrk(t, "eE")) {
        /* jansson also trims the exponent ("1e+20" -> "1e20"): rare here, leave it to jansson */
        json_t *r = json_real(v);
        int rc = r ? jb_json(b, r) : -1;
        json_decref(r);
        return rc;
    }
    if (!strchr(t, '.')) {
        memcpy(t + n, ".0", 3);
        n += 2;
    }
    return jb_put(b, t, (size_t)n);
}

int jb_int(jsonbuf *b, long long v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%lld", v);
    return jb_put(b, t, (size_t)n);
}

int jb_bool(jsonbuf *b, int v)
{
    return v ? JB_LIT(b, "true") : JB_LIT(b, "false");
}

const char *jb_cstr(jsonbuf *b)
{
    if (jb_reserve(b, 0) < 0)
        return NULL;
    b->buf[b->len] = '\0';
    return b->buf;
}

void jb_free(jsonbuf *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}
