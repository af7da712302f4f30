/* jsonbuf.h — JSON text built straight into one growing buffer, byte for byte what jansson's
 * compact dump writes, without a jansson object per value: for the hot writers (audit lines, the
 * heal's decision record). Outside strings still go through the sanitizer and jansson unless they
 * are plain printable ASCII; nothing is escaped by hand. */
#ifndef AGENT_JSONBUF_H
#define AGENT_JSONBUF_H

#include <stddef.h>
#include <jansson.h>

typedef struct jsonbuf {
    char *buf;          /* owned; NUL-terminated only after jb_cstr */
    size_t len, cap;
} jsonbuf;

/* Every call: 0, or -1 when memory ran out (what was appended before stays). */
int jb_reserve(jsonbuf *b, size_t n);                /* room for n more bytes and a NUL */
int jb_put(jsonbuf *b, const char *s, size_t n);
#define JB_LIT(b, lit) jb_put((b), (lit), sizeof(lit) - 1)
int jb_json(jsonbuf *b, const json_t *j);            /* any value, compact, keys in order */
int jb_str(jsonbuf *b, const char *s);               /* an outside string, or null */
int jb_real(jsonbuf *b, double v);                   /* as json_real dumps (finite only) */
int jb_int(jsonbuf *b, long long v);
int jb_bool(jsonbuf *b, int v);
/* 1 when s[0..n) is printable ASCII without '"' or '\\': written between quotes as it is. */
int jb_plain(const char *s, size_t n);
/* The text so far as a C string (NUL added, not counted in len); NULL if memory ran out. */
const char *jb_cstr(jsonbuf *b);
void jb_free(jsonbuf *b);

#endif
