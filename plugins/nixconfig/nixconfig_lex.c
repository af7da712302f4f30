/* nixconfig_lex.c — owns the nixconfig plugin's Nix lexer (the token rules of Nix's own
 * lexer.l: strings with ${} nesting, ''indented strings'' and their ''' ''$ ''\ escapes,
 * comments, paths, URIs, longest match) and the byte-level proof every syntax fix must pass
 * before it is offered or applied. Pure functions, fuzzed by the unit test. */
#include "nixconfig_lex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int path_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' || c == '+';
}

static int id_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static int id_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '\'' || c == '-';
}

static int uri_char(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("%/?:@&=+$,-_.!~*'", c));
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ---- longest-match candidates at a token start (lexer.l's rules) ------------------------- */

static size_t m_id(const char *s, size_t n, size_t i)
{
    if (!id_start(s[i]))
        return 0;
    size_t j = i + 1;
    while (j < n && id_char(s[j]))
        j++;
    return j - i;
}

static size_t m_num(const char *s, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && isdigit((unsigned char)s[j]))
        j++;
    size_t ints = j - i;
    if (j < n && s[j] == '.' && (ints > 0 || (j + 1 < n && isdigit((unsigned char)s[j + 1])))) {
        size_t k = j + 1;
        while (k < n && isdigit((unsigned char)s[k]))
            k++;
        if (k > j + 1 || ints > 0)
            j = k;
        if (j < n && (s[j] == 'e' || s[j] == 'E')) {
            size_t e = j + 1;
            if (e < n && (s[e] == '+' || s[e] == '-'))
                e++;
            if (e < n && isdigit((unsigned char)s[e])) {
                while (e < n && isdigit((unsigned char)s[e]))
                    e++;
                j = e;
            }
        }
    }
    return j - i;
}

/* PATH {PATH_CHAR}*(/{PATH_CHAR}+)+/? and PATH_SEG ({PATH_CHAR}* then a slash) before ${
 * (interp = 1);
 * HPATH the same after '~'. */
static size_t m_path(const char *s, size_t n, size_t i, int *interp)
{
    size_t j = i;
    int home = s[i] == '~';
    if (home)
        j++;
    else
        while (j < n && path_char(s[j]))
            j++;
    int segs = 0;
    while (j + 1 < n && s[j] == '/' && path_char(s[j + 1])) {
        j++;
        while (j < n && path_char(s[j]))
            j++;
        segs++;
    }
    if (j + 2 < n && s[j] == '/' && s[j + 1] == '$' && s[j + 2] == '{') {
        *interp = 1;
        return j + 1 - i;
    }
    if (segs == 0)
        return 0;
    if (j < n && s[j] == '/')
        j++;   /* a trailing slash is part of the token (Nix then refuses it) */
    return j - i;
}

/* SPATH <{PATH_CHAR}+(/{PATH_CHAR}+)*> */
static size_t m_spath(const char *s, size_t n, size_t i)
{
    if (s[i] != '<')
        return 0;
    size_t j = i + 1;
    for (;;) {
        size_t k = j;
        while (k < n && path_char(s[k]))
            k++;
        if (k == j)
            return 0;
        j = k;
        if (j < n && s[j] == '>')
            return j + 1 - i;
        if (j < n && s[j] == '/')
            j++;
        else
            return 0;
    }
}

/* URI [a-zA-Z][a-zA-Z0-9+-.]*:[URI chars]+ */
static size_t m_uri(const char *s, size_t n, size_t i)
{
    if (!isalpha((unsigned char)s[i]))
        return 0;
    size_t j = i + 1;
    while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '+' || s[j] == '-' || s[j] == '.'))
        j++;
    if (j >= n || s[j] != ':')
        return 0;
    size_t k = j + 1;
    while (k < n && uri_char(s[k]))
        k++;
    return k > j + 1 ? k - i : 0;
}

static size_t m_op(const char *s, size_t n, size_t i)
{
    static const char *const ops[] = {"...", "==", "!=", "<=", ">=", "&&", "||", "->", "//",
                                      "++", NULL};
    for (int k = 0; ops[k]; k++) {
        size_t l = strlen(ops[k]);
        if (i + l <= n && memcmp(s + i, ops[k], l) == 0)
            return l;
    }
    return 0;
}

/* ---- the lexer --------------------------------------------------------------------------- */

static void mark(unsigned char *cls, size_t from, size_t to, int c, int first_cont)
{
    if (!cls)
        return;
    for (size_t k = from; k < to; k++)
        cls[k] = (unsigned char)(c | (k > from || first_cont ? NC_CL_CONT : 0));
}

static void push(nc_lex *L, char ch, size_t off)
{
    if (L->depth < NC_LEX_DEPTH)
        L->st[L->depth++] = (nc_open){ch, off};
    else
        L->overflow = 1;
}

static char top(const nc_lex *L)
{
    return L->depth ? L->st[L->depth - 1].ch : 0;
}

/* After the } that closes a path's ${, the path goes on: more path characters, another ${. */
static size_t path_tail(const char *s, size_t n, size_t i, nc_lex *L, unsigned char *cls)
{
    size_t j = i;
    while (j < n && (path_char(s[j]) || s[j] == '/') &&
           !(s[j] == '/' && j + 1 < n && (s[j + 1] == '*' || s[j + 1] == '/')))
        j++;
    mark(cls, i, j, NC_CL_PATH, 1);
    if (j + 1 < n && s[j] == '$' && s[j + 1] == '{') {
        mark(cls, j, j + 2, NC_CL_CODE, 1);
        push(L, 'P', j);
        j += 2;
    }
    return j;
}

void nc_lex_run(const char *s, size_t n, size_t upto, nc_lex *L, unsigned char *cls)
{
    memset(L, 0, sizeof *L);
    L->bad_close = -1;
    const char *z = n ? memchr(s, '\0', n) : NULL;
    L->nul_at = z ? (long)(z - s) : -1;
    int fresh = 0;   /* the next string byte starts a new piece (after a quote or a }) */
    size_t i = 0;
    while (i < n && !L->overflow) {
        if (i >= upto)
            return;
        char c = s[i], t = top(L);
        char nx = i + 1 < n ? s[i + 1] : '\0';
        if (t == 'S') {
            size_t l = 1;
            if (c == '"') {
                mark(cls, i, i + 1, NC_CL_STR, !fresh);
                L->depth--;
                i++;
                fresh = 0;
                continue;
            }
            if (c == '$' && nx == '{') {
                mark(cls, i, i + 2, NC_CL_CODE, 0);
                push(L, '$', i);
                i += 2;
                continue;
            }
            if (c == '\\' && i + 1 < n)
                l = 2;                                   /* \x, newline included */
            else if (c == '$' && i + 1 < n && nx != '"' && nx != '\\')
                l = 2;                                   /* $$ and $x: the second $ is plain */
            mark(cls, i, i + l, NC_CL_STR, !fresh);
            fresh = 0;
            i += l;
            continue;
        }
        if (t == 'I') {
            size_t l = 1;
            if (c == '\'' && nx == '\'') {
                char n2 = i + 2 < n ? s[i + 2] : '\0';
                if (n2 == '\'' || n2 == '$')
                    l = 3;                               /* ''' and ''$ */
                else if (n2 == '\\' && i + 3 < n)
                    l = 4;                               /* ''\x */
                else {
                    mark(cls, i, i + 2, NC_CL_IND, !fresh);
                    L->depth--;
                    i += 2;
                    fresh = 0;
                    continue;
                }
            } else if (c == '$' && nx == '{') {
                mark(cls, i, i + 2, NC_CL_CODE, 0);
                push(L, '$', i);
                i += 2;
                continue;
            } else if (c == '$' && i + 1 < n && nx != '\'') {
                l = 2;
            }
            if (i + l > n)
                l = n - i;
            mark(cls, i, i + l, NC_CL_IND, !fresh);
            fresh = 0;
            i += l;
            continue;
        }
        /* Code. */
        if (blank(c)) {
            mark(cls, i, i + 1, NC_CL_CODE, 0);
            i++;
            continue;
        }
        if (c == '#' || (c == '/' && nx == '*')) {
            size_t st = i, e;
            int in;
            if (c == '#') {
                e = i;
                while (e < n && s[e] != '\n')
                    e++;
                in = upto > st && upto <= e;
            } else {
                e = i + 2;
                while (e + 1 < n && !(s[e] == '*' && s[e + 1] == '/'))
                    e++;
                if (e + 1 >= n) {
                    e = n;
                    if (upto >= n) {
                        L->unterminated = 1;
                        L->unterminated_kind = '*';
                        L->unterminated_off = st;
                    }
                } else {
                    e += 2;
                }
                in = upto > st && upto < e;
            }
            mark(cls, st, e, NC_CL_COMMENT, 0);
            if (in) {
                L->in_comment = 1;
                L->comment_start = st;
                return;
            }
            i = e;
            continue;
        }
        if (c == '"') {
            mark(cls, i, i + 1, NC_CL_STR, 0);
            push(L, 'S', i);
            fresh = 0;
            i++;
            continue;
        }
        if (c == '\'' && nx == '\'') {
            mark(cls, i, i + 2, NC_CL_IND, 0);
            push(L, 'I', i);
            fresh = 0;
            i += 2;
            continue;
        }
        if (c == '$' && nx == '{') {
            mark(cls, i, i + 2, NC_CL_CODE, 0);
            push(L, '$', i);
            i += 2;
            continue;
        }
        if (c == '{' || c == '[' || c == '(') {
            mark(cls, i, i + 1, NC_CL_CODE, 0);
            push(L, c, i);
            i++;
            continue;
        }
        if (c == '}' || c == ']' || c == ')') {
            mark(cls, i, i + 1, NC_CL_CODE, 0);
            char want = c == '}' ? '{' : c == ']' ? '[' : '(';
            i++;
            if (t == want || (c == '}' && (t == '$' || t == 'P'))) {
                L->depth--;
                char now = top(L);
                if (now == 'S' || now == 'I')
                    fresh = 1;                            /* back in the string: a new piece */
                else if (t == 'P')
                    i = path_tail(s, n, i, L, cls);
            } else if (L->bad_close < 0) {
                L->bad_close = (long)(i - 1);
            }
            continue;
        }
        /* A word: the longest of the rules (ties to the rule lexer.l lists first). */
        int interp = 0, pi = 0;
        size_t best = m_id(s, n, i), cl = NC_CL_WORD, l;
        if ((l = m_num(s, n, i)) > best)
            best = l, cl = NC_CL_WORD;
        if ((l = m_path(s, n, i, &pi)) > best)
            best = l, cl = NC_CL_PATH, interp = pi;
        if ((l = m_spath(s, n, i)) > best)
            best = l, cl = NC_CL_PATH, interp = 0;
        if ((l = m_uri(s, n, i)) > best)
            best = l, cl = NC_CL_URI, interp = 0;
        if ((l = m_op(s, n, i)) > best)
            best = l, cl = NC_CL_WORD, interp = 0;
        if (best == 0) {
            mark(cls, i, i + 1, NC_CL_CODE, 0);   /* ; = : . , ? @ ! < > + - * / and strays */
            i++;
            continue;
        }
        mark(cls, i, i + best, (int)cl, 0);
        i += best;
        if (interp) {
            mark(cls, i, i + 2, NC_CL_CODE, 1);
            push(L, 'P', i);
            i += 2;
        }
    }
    if (upto < n)
        return;
    for (int d = 0; d < L->depth; d++) {
        if (L->st[d].ch == 'S' || L->st[d].ch == 'I') {
            L->unterminated = 1;
            L->unterminated_kind = L->st[d].ch;
            L->unterminated_off = L->st[d].off;
            break;
        }
    }
}

/* ---- the proof of a fix ------------------------------------------------------------------ */

static void where(const char *s, size_t n, size_t off, int *line, int *col)
{
    nc_linecol(s, n, off, line, col);
}

int nc_fix_proven(const char *orig, size_t n, const nc_edit *eds, size_t ne, char **out,
                  size_t *out_n, char *why, size_t why_len)
{
    *out = NULL;
    *out_n = 0;
    size_t ins_total = 0;
    for (size_t e = 0; e < ne; e++)
        ins_total += strlen(eds[e].ins);
    size_t cap = n + ins_total + 1;
    unsigned char *c0 = malloc(n + 1), *c1 = malloc(cap), *del = calloc(n + 1, 1);
    char *b = malloc(cap), *recon = malloc(n + 1);
    long *org = malloc(cap * sizeof *org);
    int ok = 0;
    if (!c0 || !c1 || !del || !b || !recon || !org) {
        ok = -1;
        snprintf(why, why_len, "out of memory");
        goto done;
    }
    nc_lex L0, L1;
    int line, col;
    nc_lex_run(orig, n, n, &L0, c0);
    if (L0.nul_at >= 0) {
        where(orig, n, (size_t)L0.nul_at, &line, &col);
        snprintf(why, why_len, "a NUL byte at %d:%d: a file holding NULs is reported, never "
                 "rewritten", line, col);
        goto done;
    }
    if (L0.unterminated) {
        where(orig, n, L0.unterminated_off, &line, &col);
        snprintf(why, why_len, "unterminated %s at %d:%d: reported, never fixed by moving "
                 "content", L0.unterminated_kind == 'S' ? "string" : L0.unterminated_kind == 'I'
                 ? "indented string" : "comment", line, col);
        goto done;
    }
    if (L0.overflow) {
        snprintf(why, why_len, "nested deeper than %d: not fixed", NC_LEX_DEPTH);
        goto done;
    }
    /* Apply the edits, each byte of the result remembering its origin (-1: inserted). */
    memcpy(b, orig, n);
    for (size_t k = 0; k < n; k++)
        org[k] = (long)k;
    size_t m = n;
    for (size_t e = 0; e < ne; e++) {
        size_t off = eds[e].off, dl = eds[e].del, il = strlen(eds[e].ins);
        if (off > m || dl > m - off) {
            snprintf(why, why_len, "edit %zu (%zu:%zu) lies beyond the end", e + 1, off, dl);
            goto done;
        }
        for (size_t k = off; k < off + dl; k++) {
            if (org[k] < 0)
                continue;
            size_t x = (size_t)org[k];
            if (!strchr("}])", orig[x]) || (c0[x] & NC_CL_MASK) != NC_CL_CODE) {
                where(orig, n, x, &line, &col);
                snprintf(why, why_len, "edit %zu would delete '%c' at %d:%d, not a closer in "
                         "code", e + 1, orig[x], line, col);
                goto done;
            }
            del[x] = 1;
        }
        memmove(b + off + il, b + off + dl, m - off - dl);
        memmove(org + off + il, org + off + dl, (m - off - dl) * sizeof *org);
        for (size_t k = 0; k < il; k++) {
            b[off + k] = eds[e].ins[k];
            org[off + k] = -1;
        }
        m = m - dl + il;
    }
    b[m] = '\0';
    /* Byte level: the inserted bytes removed and the deleted ones put back give orig. */
    size_t r = 0, j = 0;
    for (size_t x = 0; x < n; x++) {
        if (del[x]) {
            recon[r++] = orig[x];
            continue;
        }
        while (j < m && org[j] < 0)
            j++;
        if (j >= m || org[j] != (long)x)
            break;
        recon[r++] = b[j++];
    }
    while (j < m && org[j] < 0)
        j++;
    if (r != n || j != m || memcmp(recon, orig, n) != 0) {
        snprintf(why, why_len, "the fixed text minus the inserted tokens is not the original");
        goto done;
    }
    nc_lex_run(b, m, m, &L1, c1);
    if (L1.unterminated || L1.overflow) {
        snprintf(why, why_len, "the fixed text leaves a string or comment open");
        goto done;
    }
    for (size_t k = 0; k < m; k++) {
        if (org[k] < 0) {
            char ch = b[k];
            int bl = ch == ' ' || ch == '\n' || ch == '\t';
            if ((!bl && !strchr(";}])", ch)) || (c1[k] & NC_CL_MASK) != NC_CL_CODE ||
                (!bl && (c1[k] & NC_CL_CONT))) {
                where(b, m, k, &line, &col);
                snprintf(why, why_len, "the inserted '%c' at %d:%d would not be a token of its "
                         "own in code", bl ? ' ' : ch, line, col);
                goto done;
            }
        } else if (c1[k] != c0[org[k]]) {
            where(orig, n, (size_t)org[k], &line, &col);
            snprintf(why, why_len, "the byte at %d:%d would change meaning (%s)", line, col,
                     (c0[org[k]] & NC_CL_MASK) == NC_CL_STR ||
                     (c0[org[k]] & NC_CL_MASK) == NC_CL_IND ? "string content" :
                     (c0[org[k]] & NC_CL_MASK) == NC_CL_COMMENT ? "comment" : "token");
            goto done;
        }
    }
    *out = b;
    *out_n = m;
    b = NULL;
    ok = 1;
done:
    free(c0);
    free(c1);
    free(del);
    free(b);
    free(recon);
    free(org);
    return ok;
}
