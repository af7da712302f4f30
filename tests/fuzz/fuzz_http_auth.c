/* fuzz_http_auth.c — libFuzzer target for the bearer-token check: the first byte splits the
 * input into a token and an Authorization value (NULs and all), and the constant-time check must
 * agree with a plain reference reading of the same rule: "Bearer" in any case, spaces or tabs, a
 * value equal to the token over its whole length, spaces or tabs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

static int ows(char c) { return c == ' ' || c == '\t'; }

static int reference(const char *v, size_t len, const unsigned char *t, size_t tl, int *given)
{
    *given = 0;
    size_t i = 0;
    while (i < len && ows(v[i]))
        i++;
    if (len - i < 7)
        return 0;
    static const char b[] = "bearer";
    for (size_t k = 0; k < 6; k++) {
        char c = v[i + k];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != b[k])
            return 0;
    }
    i += 6;
    if (!ows(v[i]))
        return 0;
    while (i < len && ows(v[i]))
        i++;
    size_t e = len;
    while (e > i && ows(v[e - 1]))
        e--;
    if (e == i)
        return 0;
    *given = 1;
    return tl > 0 && tl <= HTTP_TOKEN_MAX && e - i == tl && memcmp(v + i, t, tl) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t tl = data[0] % 64;
    if (data[0] >= 250)   /* now and then a token longer than the limit */
        tl = HTTP_TOKEN_MAX + 1;
    if (size - 1 < tl)
        tl = size - 1;
    const unsigned char *tok = data + 1;
    const char *value = (const char *)data + 1 + tl;
    size_t vlen = size - 1 - tl;
    /* Copies: the check must read nothing beyond the lengths it is given (ASan sees it). */
    unsigned char *t = malloc(tl ? tl : 1);
    char *v = malloc(vlen ? vlen : 1);
    if (!t || !v) {
        free(t);
        free(v);
        return 0;
    }
    memcpy(t, tok, tl);
    memcpy(v, value, vlen);
    int g1, g2;
    int got = http_bearer_check(v, vlen, t, tl, &g1);
    int want = reference(v, vlen, t, tl, &g2);
    if (got != want || g1 != g2)
        abort();
    /* The value made from the token itself must match (when the token is usable). */
    if (tl > 0 && tl <= HTTP_TOKEN_MAX && !memchr(t, ' ', tl) && !memchr(t, '\t', tl)) {
        char *ok = malloc(7 + tl);
        if (ok) {
            memcpy(ok, "Bearer ", 7);
            memcpy(ok + 7, t, tl);
            if (http_bearer_check(ok, 7 + tl, t, tl, &g1) != 1)
                abort();
            /* and one more byte (a NUL) must not */
            char *more = malloc(8 + tl);
            if (more) {
                memcpy(more, ok, 7 + tl);
                more[7 + tl] = '\0';
                if (http_bearer_check(more, 8 + tl, t, tl, &g1) != 0)
                    abort();
                free(more);
            }
            free(ok);
        }
    }
    free(t);
    free(v);
    return 0;
}
