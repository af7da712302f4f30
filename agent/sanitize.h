/* sanitize.h — the one way an outside string (a process or unit name, a path, a plugin's
 * message) is shown: valid UTF-8 kept, every byte that is not escaped as \xNN, and control
 * characters (C0, DEL, C1, line/paragraph separators, bidi overrides) escaped so that no
 * terminal, log reader or JSON encoder sees them raw. libc only: linked by healctl too. */
#ifndef AGENT_SANITIZE_H
#define AGENT_SANITIZE_H

#include <stddef.h>

/* \n, \r and \t become a space instead of \x0a etc.: a log line stays one readable line. */
#define SANITIZE_SPACE_WS 1u
/* C0 controls (U+0001..U+001F) kept: for a JSON encoder, which writes them as \n, \u001b. DEL,
 * C1 and the rest are still escaped as text: jansson writes those raw. */
#define SANITIZE_KEEP_C0 2u

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, not
 * past U+10FFFF; n > 0), 0 when the bytes there are not one. NUL counts as one byte. */
size_t sanitize_utf8_seq(const unsigned char *s, size_t n);

/* 1 when s[0..n) needs no escaping at all (sanitizing it would return it unchanged). */
int sanitize_is_clean(const char *s, size_t n, unsigned flags);

/* Writes the sanitized s[0..n) into out (always NUL-terminated when outlen > 0), never cutting
 * a character or an escape in half. Returns the length the whole result needs (without the
 * NUL): a result >= outlen means it was cut. */
size_t sanitize_to(const char *s, size_t n, char *out, size_t outlen, unsigned flags);

/* The sanitized copy of s (malloc'd; NULL only when s is NULL or memory ran out). */
char *sanitize_dup(const char *s, unsigned flags);

/* The code point of the character at s[0..n) when it is a control the sanitizer escapes (for
 * a JSON printer, which writes it as \uNNNN), else -1; *len: the character's length (1 for an
 * invalid byte). */
long sanitize_control_at(const char *s, size_t n, size_t *len);

#endif
