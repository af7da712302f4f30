/* sanitize.c — escapes what must not reach a terminal, a log or a JSON encoder raw: invalid
 * UTF-8 bytes as \xNN, C0/DEL as \xNN, and the code points a terminal or text view acts on
 * (C1 controls, U+2028/9, bidi embeddings and isolates) as \uNNNN. Backslash itself is kept:
 * systemd unit names carry \x2d escapes of their own and must read as written. */
#include "sanitize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t sanitize_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xc2)
        return 0;
    if (c < 0xe0)
        return (n >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
    if (c < 0xf0) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
            return 0;
        return 3;
    }
    if (c < 0xf5) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

static uint32_t decode(const unsigned char *s, size_t l)
{
    switch (l) {
    case 1: return s[0];
    case 2: return ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
    case 3: return ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
               ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
    }
}

/* Code points that move the cursor, switch terminal modes or reorder what is shown. */
static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
           cp == 0x200f || cp == 0x061c;
}

/* What the character at s (length l; 0 = one invalid byte) becomes: its escape in esc
 * (returned length), or 0 when it is kept as it is. */
static size_t escape_of(const unsigned char *s, size_t l, unsigned flags, char esc[8])
{
    static const char hex[] = "0123456789abcdef";
    if (l == 0) {
        esc[0] = '\\', esc[1] = 'x', esc[2] = hex[s[0] >> 4], esc[3] = hex[s[0] & 15];
        return 4;
    }
    uint32_t cp = decode(s, l);
    if (!is_control(cp))
        return 0;
    if ((flags & SANITIZE_SPACE_WS) && (cp == '\n' || cp == '\r' || cp == '\t')) {
        esc[0] = ' ';
        return 1;
    }
    if ((flags & SANITIZE_KEEP_C0) && cp > 0 && cp < 0x20)
        return 0; /* NUL never: it would cut the C string */
    if (cp < 0x80) {
        esc[0] = '\\', esc[1] = 'x', esc[2] = hex[cp >> 4], esc[3] = hex[cp & 15];
        return 4;
    }
    esc[0] = '\\', esc[1] = 'u';
    for (int i = 0; i < 4; i++)
        esc[2 + i] = hex[(cp >> (12 - 4 * i)) & 15];
    return 6;
}

int sanitize_is_clean(const char *str, size_t n, unsigned flags)
{
    const unsigned char *s = (const unsigned char *)str;
    char esc[8];
    for (size_t i = 0; i < n;) {
        if (s[i] >= 0x20 && s[i] < 0x7f) {
            i++;
            continue;
        }
        size_t l = sanitize_utf8_seq(s + i, n - i);
        if (l == 0 || escape_of(s + i, l, flags, esc))
            return 0;
        i += l;
    }
    return 1;
}

size_t sanitize_to(const char *str, size_t n, char *out, size_t outlen, unsigned flags)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t need = 0, written = 0;
    int full = !out || outlen == 0; /* once a piece did not fit, nothing after it is written */
    for (size_t i = 0; i < n;) {
        char esc[8];
        size_t l = (s[i] >= 0x20 && s[i] < 0x7f) ? 1 : sanitize_utf8_seq(s + i, n - i);
        size_t el = escape_of(s + i, l, flags, esc);
        const char *piece = el ? esc : (const char *)s + i;
        size_t pl = el ? el : l;
        if (!full && written + pl < outlen) {
            memcpy(out + written, piece, pl);
            written += pl;
        } else {
            full = 1;
        }
        need += pl;
        i += l ? l : 1;
    }
    if (out && outlen > 0)
        out[written] = '\0';
    return need;
}

char *sanitize_dup(const char *s, unsigned flags)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    size_t need = sanitize_to(s, n, NULL, 0, flags);
    char *out = malloc(need + 1);
    if (out)
        sanitize_to(s, n, out, need + 1, flags);
    return out;
}

long sanitize_control_at(const char *str, size_t n, size_t *len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t l = n ? sanitize_utf8_seq(s, n) : 0;
    if (len)
        *len = l ? l : 1;
    if (!l)
        return -1;
    uint32_t cp = decode(s, l);
    return is_control(cp) ? (long)cp : -1;
}
