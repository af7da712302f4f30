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

/* u's decimal digits written backwards ending at end; returns where they start. */
static char *digits_back(char *end, unsigned long long u)
{
    do
        *--end = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    return end;
}

/* What jansson writes for a fraction v with 1e-4 <= |v| < 1e15: "%.17g" exactly as glibc
 * prints it (the digits correctly rounded, ties to even); into t, its length, or 0 when it
 * cannot say (snprintf's path then). v is
 * m * 2^-k exactly (m < 2^53, k <= 66 here), so its 17 significant digits are
 * round(m * 10^p / 2^k) for the p that makes them 17: with p <= 20, m * 10^p < 2^120 and
 * 128-bit integers hold the exact quotient and remainder. */
static int real17(double v, char t[40])
{
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15))
        return 0;
    int e2;
    double fr = frexp(a, &e2);                       /* a = fr * 2^e2, 0.5 <= fr < 1 */
    unsigned long long m = (unsigned long long)ldexp(fr, 53);
    int k = 53 - e2;                                 /* a = m / 2^k */
    if (k <= 0 || k > 120)
        return 0;
    /* X, the decimal exponent of the first digit: 10^X <= a < 10^(X+1) */
    int x = (int)floor(log10(a));
    static const double p10[] = { 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6,
                                  1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16 };
    if (x < -5 || x > 15)
        return 0;
    if (a < p10[x + 5]) /* log10 rounded up across a power of ten */
        x--;
    else if (x + 6 < (int)(sizeof p10 / sizeof *p10) && a >= p10[x + 6])
        x++;
    if (x < -4 || x > 14)
        return 0;
    int p = 16 - x; /* 2..20 */
    unsigned __int128 pw = 1;
    for (int i = 0; i < p; i++)
        pw *= 10;
    unsigned __int128 num = (unsigned __int128)m * pw;
    unsigned __int128 q = num >> k, r = num - (q << k), half = (unsigned __int128)1 << (k - 1);
    if (r > half || (r == half && (q & 1)))
        q++;
    /* not 17 digits (x off, or rounded up to the next power of ten): snprintf's path */
    if (q < 10000000000000000ULL || q >= 100000000000000000ULL)
        return 0;
    char d[24];
    char *ds = digits_back(d + sizeof d, (unsigned long long)q);
    /* %g: fixed notation (x < 17), 16 - x decimals, trailing zeros and a bare point dropped */
    int nd = 17;
    while (nd > 1 && ds[nd - 1] == '0' && nd - 1 > x)
        nd--;
    /* A fraction's 17 digits always show it (its ulp is more than half the 17th digit);
     * whole-looking digits would need jansson's ".0": leave any such case to snprintf. */
    if (x >= 0 && nd == x + 1)
        return 0;
    char *o = t;
    if (v < 0)
        *o++ = '-';
    if (x >= 0) {
        memcpy(o, ds, (size_t)x + 1);
        o += x + 1;
        *o++ = '.';
        memcpy(o, ds + x + 1, (size_t)(nd - x - 1));
        o += nd - x - 1;
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = -1; i > x; i--)
            *o++ = '0';
        memcpy(o, ds, (size_t)nd);
        o += nd;
    }
    return (int)(o - t);
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
    if (v > -1e15 && v < 1e15 && v == (double)(long long)v && !(v == 0 && signbit(v)))
        return jb_int(b, (long long)v) || JB_LIT(b, ".0") ? -1 : 0;
    /* jansson: "%.17g", and ".0" when that reads as an integer */
    int n = real17(v, t);
    if (n > 0)
        return jb_put(b, t, (size_t)n);
    n = snprintf(t, sizeof t, "%.17g", v);
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
    char t[24], *end = t + sizeof t;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    char *d = digits_back(end, u);
    if (v < 0)
        *--d = '-';
    return jb_put(b, d, (size_t)(end - d));
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
