/* nixconfig_lex.h — the nixconfig plugin's Nix lexer (nixconfig_lex.c): what every byte of a
 * file is (code, "string", ''indented string'', comment, path, URI) and what is open at an
 * offset, and the proof a syntax fix must pass: the fixed text is the original plus the
 * inserted tokens (minus the deleted closers), byte for byte, and no byte changed meaning. */
#ifndef NIXCONFIG_LEX_H
#define NIXCONFIG_LEX_H

#include "nixconfig.h"

#include <stddef.h>

/* Byte classes (low bits) and the flag of a byte that continues the previous byte's token. */
enum {
    NC_CL_CODE = 0,      /* code between tokens: blanks, punctuation, ${ and the } closing it */
    NC_CL_WORD = 1,      /* identifier, number, multi-character operator */
    NC_CL_STR = 2,       /* a "string" piece, quotes and escapes included */
    NC_CL_IND = 3,       /* an ''indented string'' piece, quotes and escapes included */
    NC_CL_COMMENT = 4,   /* # to the end of the line, or slash-star to star-slash */
    NC_CL_PATH = 5,      /* ./a/b, /a, a/b, ~/a, <nixpkgs/x> */
    NC_CL_URI = 6,       /* scheme:rest */
};
#define NC_CL_MASK 0x0f
#define NC_CL_CONT 0x10

#define NC_LEX_DEPTH 256

typedef struct nc_open {
    char ch;      /* '{' '[' '(' code; '$' an interpolation ${ (closed by '}'); 'P' one inside a
                     path; 'S' "string"; 'I' ''indented string'' */
    size_t off;
} nc_open;

typedef struct nc_lex {
    nc_open st[NC_LEX_DEPTH];
    int depth;
    int overflow;
    int in_comment;          /* upto lies inside a comment (a # comment: up to its newline) */
    size_t comment_start;
    long bad_close;          /* offset of the first closer that matches nothing open; -1 */
    int unterminated;        /* a full run ended inside a string or a comment */
    char unterminated_kind;  /* 'S', 'I' or '*' */
    size_t unterminated_off; /* where that string or comment starts */
    long nul_at;             /* offset of the first NUL byte; -1 */
} nc_lex;

/* Lexes s[0, n) and stops at the first token that starts at or after upto (upto >= n: the
 * whole text). cls, when given (n bytes), receives each byte's class; give it only with
 * upto >= n. */
void nc_lex_run(const char *s, size_t n, size_t upto, nc_lex *L, unsigned char *cls);

/* The proof of a fix. Applies eds (in order, each on the result of the one before) to orig,
 * tracking where every byte of the result came from, and accepts only when:
 *  - orig holds no NUL and no unterminated string or comment, and neither does the result;
 *  - removing the inserted bytes from the result and putting back the deleted ones yields orig,
 *    byte for byte;
 *  - every inserted byte is one of ";}])", a blank or a newline, in code (a token of its own),
 *    every deleted byte a closer that was a token of its own in code;
 *  - every kept byte has the same class and token boundary in the result as in orig (a string,
 *    indented string or comment is byte-identical and still one).
 * Returns 1 with the result in *out (malloc'd, NUL-terminated, *out_n bytes), or 0 with the
 * reason in why (-1: out of memory). */
int nc_fix_proven(const char *orig, size_t n, const nc_edit *eds, size_t ne, char **out,
                  size_t *out_n, char *why, size_t why_len);

#endif
