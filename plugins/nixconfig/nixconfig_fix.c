/* nixconfig_fix.c — owns reading nix-instantiate's error output, a light Nix lexer (brackets,
 * strings, comments), the candidate edits for the syntax errors this plugin fixes, and the
 * imports scan. Pure functions: no host calls, so they are unit-tested directly; whether a
 * candidate is right is decided by the real parser (the caller validates every one). */
#include "nixconfig.h"
#include "nixconfig_lex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- nix-instantiate's output ------------------------------------------------------------- */

/* Copies src without ANSI colour sequences (ESC [ ... letter). */
static char *nc_strip_ansi(const char *src)
{
    size_t n = strlen(src);
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == 0x1b && src[i + 1] == '[') {
            i += 2;
            while (i < n && !isalpha((unsigned char)src[i]))
                i++;
            continue;
        }
        o[j++] = src[i];
    }
    o[j] = '\0';
    return o;
}

/* Parses "PATH:L:C" (trailing ':' and blanks allowed) from s..end. */
static int nc_parse_loc(const char *s, const char *end, nc_perr *e)
{
    while (end > s && (isspace((unsigned char)end[-1]) || end[-1] == ':'))
        end--;
    const char *p = end;
    while (p > s && isdigit((unsigned char)p[-1]))
        p--;
    if (p == end || p == s || p[-1] != ':')
        return 0;
    int col = atoi(p);
    const char *q = p - 1;
    const char *l = q;
    while (l > s && isdigit((unsigned char)l[-1]))
        l--;
    if (l == q || l == s || l[-1] != ':')
        return 0;
    int line = atoi(l);
    size_t fl = (size_t)(l - 1 - s);
    if (fl == 0 || fl >= sizeof e->file)
        return 0;
    memcpy(e->file, s, fl);
    e->file[fl] = '\0';
    e->line = line;
    e->col = col;
    return 1;
}

int nc_parse_error(const char *out, nc_perr *e)
{
    memset(e, 0, sizeof *e);
    if (!out)
        return 0;
    char *t = nc_strip_ansi(out);
    if (!t)
        return 0;
    char *err = NULL;
    for (char *p = t; (p = strstr(p, "error:")) != NULL; p++) {
        if (p == t || p[-1] == '\n' || p[-1] == ' ') {
            err = p;
            break;
        }
    }
    if (!err) {
        free(t);
        return 0;
    }
    char *m = err + 6;
    while (*m == ' ')
        m++;
    char *eol = strchr(m, '\n');
    if (!eol)
        eol = m + strlen(m);
    /* Older Nix: "error: syntax error, unexpected X, at FILE:L:C" on one line. */
    char *at_same = NULL;
    for (char *p = m; p && p < eol; p++) {
        p = strstr(p, ", at ");
        if (!p || p >= eol)
            break;
        at_same = p;
    }
    const char *mend = at_same ? at_same : eol;
    size_t ml = (size_t)(mend - m);
    if (ml >= sizeof e->msg)
        ml = sizeof e->msg - 1;
    memcpy(e->msg, m, ml);
    e->msg[ml] = '\0';
    if (at_same) {
        nc_parse_loc(at_same + 5, eol, e);
    } else {
        /* Nix 2.4+: a later line "       at FILE:L:C:". */
        for (char *line = *eol ? eol + 1 : eol; *line;) {
            char *le = strchr(line, '\n');
            if (!le)
                le = line + strlen(line);
            char *s = line;
            while (*s == ' ' || *s == '\t')
                s++;
            if (strncmp(s, "at ", 3) == 0 && nc_parse_loc(s + 3, le, e))
                break;
            if (strncmp(s, "error:", 6) == 0)
                break;
            line = *le ? le + 1 : le;
        }
    }
    free(t);
    return 1;
}

size_t nc_offset(const char *src, size_t n, int line, int col)
{
    size_t i = 0;
    for (int l = 1; l < line && i < n; i++)
        if (src[i] == '\n')
            l++;
    if (col > 1)
        i += (size_t)(col - 1);
    return i > n ? n : i;
}

void nc_linecol(const char *src, size_t n, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < n; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static char nc_top(const nc_lex *L)
{
    return L->depth ? L->st[L->depth - 1].ch : 0;
}

static char nc_closer(char open)
{
    return open == '[' ? ']' : open == '(' ? ')' : '}';
}

/* Back from off over blanks and comments: the offset just after the previous token. */
static size_t nc_back_ws(const char *s, size_t n, size_t off)
{
    size_t p = off;
    for (int guard = 0; guard < 64; guard++) {
        while (p > 0 && isspace((unsigned char)s[p - 1]))
            p--;
        nc_lex L;
        nc_lex_run(s, n, p, &L, NULL);
        if (!L.in_comment || L.comment_start >= p)
            break;
        p = L.comment_start;
    }
    return p;
}

static int nc_attr_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '\'' || c == '-' || c == '.';
}

/* Back from off over blanks, an attribute path (a.b."c") and blanks again: where a binding
 * that starts at off's attribute path would need the previous one to end. */
static size_t nc_back_attrpath(const char *s, size_t n, size_t off)
{
    size_t p = nc_back_ws(s, n, off);
    while (p > 0) {
        if (s[p - 1] == '"') {
            size_t q = p - 1;
            while (q > 0 && s[q - 1] != '"')
                q--;
            if (q == 0)
                break;
            p = q - 1;
        } else if (nc_attr_char(s[p - 1])) {
            p--;
        } else {
            break;
        }
    }
    return nc_back_ws(s, n, p);
}

static void nc_cand(nc_edit *out, int *k, size_t off, size_t del, const char *ins,
                    const char *kind)
{
    if (*k >= NC_MAX_CANDIDATES)
        return;
    for (int i = 0; i < *k; i++)
        if (out[i].off == off && out[i].del == del && strcmp(out[i].ins, ins) == 0)
            return;   /* the same edit twice is one candidate */
    nc_edit *e = &out[(*k)++];
    e->off = off;
    e->del = del;
    snprintf(e->ins, sizeof e->ins, "%s", ins);
    e->kind = kind;
}

/* The token the parser complained about: a quoted single character, or 0. */
static char nc_unexpected_char(const char *msg)
{
    const char *u = strstr(msg, "unexpected '");
    if (u && u[12] && u[13] == '\'')
        return u[12];
    return 0;
}

/* Indentation (spaces and tabs) of the line holding off. */
static size_t nc_indent_at(const char *s, size_t off, size_t *line_start)
{
    size_t ls = off;
    while (ls > 0 && s[ls - 1] != '\n')
        ls--;
    size_t i = ls;
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    *line_start = ls;
    return i - ls;
}

/* Unclosed openers at end of file: close the innermost before the first later line that is
 * indented no deeper than the line that opened it (how people indent), or, failing that,
 * close every open one at the end of the file. A line that starts inside a string, an
 * ''indented string'' or a comment is content, not code: its indentation says nothing (an
 * indented string's lines at column 0 are the classic trap), and nothing goes there. */
static void nc_eof_closers(const char *s, size_t n, nc_edit *out, int *k)
{
    nc_lex L;
    unsigned char *cls = malloc(n + 1);
    if (!cls)
        return;
    nc_lex_run(s, n, n, &L, cls);
    if (L.overflow || L.depth == 0 || L.unterminated || L.nul_at >= 0)
        goto out;
    for (int i = 0; i < L.depth; i++)
        if (L.st[i].ch != '{' && L.st[i].ch != '[' && L.st[i].ch != '(')
            goto out;   /* inside a string or an interpolation: not ours */
    const nc_open *top = &L.st[L.depth - 1];
    size_t ls;
    size_t ind = nc_indent_at(s, top->off, &ls);
    size_t i = top->off;
    while (i < n && s[i] != '\n')
        i++;
    while (i < n) {
        size_t start = i + 1;
        if (start >= n)
            break;
        size_t j = start, lind = 0;
        while (j < n && (s[j] == ' ' || s[j] == '\t'))
            j++, lind++;
        size_t le = j;
        while (le < n && s[le] != '\n')
            le++;
        int content = (cls[start] & NC_CL_MASK) != NC_CL_CODE ||
                      (j < n && (cls[j] & NC_CL_MASK) != NC_CL_CODE &&
                       (cls[j] & NC_CL_CONT));
        int blank = j >= n || s[j] == '\n' || (cls[j] & NC_CL_MASK) == NC_CL_COMMENT;
        if (!content && !blank && lind <= ind && !strchr("}])", s[j])) {
            char ins[16];
            if (ind + 3 < sizeof ins) {
                memset(ins, ' ', ind);
                ins[ind] = nc_closer(top->ch);
                ins[ind + 1] = '\n';
                ins[ind + 2] = '\0';
                nc_cand(out, k, start, 0, ins, "unclosed_bracket");
            }
            break;
        }
        i = le;
    }
    char ins[16];
    size_t m = 0;
    if (n > 0 && s[n - 1] != '\n')
        ins[m++] = '\n';
    for (int d = L.depth - 1; d >= 0 && m + 2 < sizeof ins; d--)
        ins[m++] = nc_closer(L.st[d].ch);
    if ((size_t)L.depth + 2 >= sizeof ins)
        goto out;   /* too many to be a typo */
    ins[m++] = '\n';
    ins[m] = '\0';
    nc_cand(out, k, n, 0, ins, "unclosed_bracket");
out:
    free(cls);
}

int nc_fix_candidates(const char *s, size_t n, const nc_perr *e, nc_edit *out)
{
    int k = 0;
    if (!s || !e || e->line <= 0)
        return 0;
    size_t off = nc_offset(s, n, e->line, e->col);
    const char *msg = e->msg;
    char tok = nc_unexpected_char(msg);
    int eof = strstr(msg, "unexpected end of file") != NULL;

    /* An unterminated "string" or ''indented string'': reported, never fixed. Closing it
     * anywhere but where its author meant moves the content after it out of the string. */
    if (strstr(msg, "expecting '\"'") || strstr(msg, "IND_STRING_CLOSE"))
        return 0;

    nc_lex L;
    nc_lex_run(s, n, off, &L, NULL);
    if (L.overflow || (!eof && L.in_comment) || nc_top(&L) == 'S' || nc_top(&L) == 'I')
        return 0;   /* the parser stopped inside a string or comment: not a token of ours */

    /* 2. A closer that closes nothing: remove it. */
    if (tok && strchr("}])", tok) && off < n && s[off] == tok) {
        char want = tok == '}' ? '{' : tok == ']' ? '[' : '(';
        char top = nc_top(&L);
        if (!(top == want || (tok == '}' && top == '$')))
            nc_cand(out, &k, off, 1, "", "unbalanced_closer");
    }
    if (L.bad_close >= 0)
        nc_cand(out, &k, (size_t)L.bad_close, 1, "", "unbalanced_closer");

    /* 3. A missing ';' after a binding. */
    if (strstr(msg, "expecting ';'")) {
        size_t p1 = nc_back_ws(s, n, off);
        size_t p2 = nc_back_attrpath(s, n, off);
        int before_attr = tok == '=' || tok == '.';
        if (before_attr && p2 > 0 && s[p2 - 1] != ';')
            nc_cand(out, &k, p2, 0, ";", "missing_semicolon");
        if (p1 > 0 && s[p1 - 1] != ';')
            nc_cand(out, &k, p1, 0, ";", "missing_semicolon");
    }

    /* 4. An unclosed [ or ( before the token the parser stopped at. */
    char top = nc_top(&L);
    if (!eof && (top == '[' || top == '(')) {
        char cl[2] = {nc_closer(top), '\0'};
        if (tok == '=' || tok == '.')
            nc_cand(out, &k, nc_back_attrpath(s, n, off), 0, cl, "unclosed_bracket");
        nc_cand(out, &k, nc_back_ws(s, n, off), 0, cl, "unclosed_bracket");
    }

    /* 5. Unclosed openers at the end of the file. */
    if (eof)
        nc_eof_closers(s, n, out, &k);
    return k;
}

char *nc_apply(const char *s, size_t n, const nc_edit *ed, size_t *out_n)
{
    size_t off = ed->off > n ? n : ed->off;
    size_t del = off + ed->del > n ? n - off : ed->del;
    size_t il = strlen(ed->ins);
    size_t m = n - del + il;
    char *o = malloc(m + 1);
    if (!o)
        return NULL;
    memcpy(o, s, off);
    memcpy(o + off, ed->ins, il);
    memcpy(o + off + il, s + off + del, n - off - del);
    o[m] = '\0';
    *out_n = m;
    return o;
}

int nc_edits_format(const nc_edit *eds, size_t n, char *buf, size_t len)
{
    size_t used = 0;
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char hex[2 * sizeof eds[i].ins + 1];
        size_t h = 0;
        for (const char *c = eds[i].ins; *c; c++)
            h += (size_t)snprintf(hex + h, sizeof hex - h, "%02x", (unsigned char)*c);
        hex[h] = '\0';
        int w = snprintf(buf + used, len - used, "%s%zu:%zu:%s", i ? " " : "", eds[i].off,
                         eds[i].del, h ? hex : "-");
        if (w < 0 || (size_t)w >= len - used)
            return -1;
        used += (size_t)w;
    }
    return 0;
}

int nc_edits_parse(const char *s, nc_edit *eds, size_t max, size_t *n)
{
    *n = 0;
    while (s && *s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        if (*n >= max)
            return -1;
        nc_edit *e = &eds[*n];
        memset(e, 0, sizeof *e);
        char *end;
        e->off = strtoull(s, &end, 10);
        if (*end != ':')
            return -1;
        e->del = strtoull(end + 1, &end, 10);
        if (*end != ':')
            return -1;
        s = end + 1;
        size_t i = 0;
        if (*s == '-') {
            s++;
        } else {
            while (isxdigit((unsigned char)s[0]) && isxdigit((unsigned char)s[1])) {
                if (i + 1 >= sizeof e->ins)
                    return -1;
                char h[3] = {s[0], s[1], '\0'};
                e->ins[i++] = (char)strtoul(h, NULL, 16);
                s += 2;
            }
        }
        e->ins[i] = '\0';
        e->kind = "edit";
        if (*s && *s != ' ')
            return -1;
        (*n)++;
    }
    return 0;
}

void nc_hash(const char *s, size_t n, char out[17])
{
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    snprintf(out, 17, "%016llx", h);
}

/* ---- imports ------------------------------------------------------------------------------ */

static int nc_path_end(char c)
{
    return c == '\0' || isspace((unsigned char)c) || c == ')' || c == ']' || c == ';' ||
           c == '(' || c == '[';
}

void nc_scan_imports(const char *text, int parsed, const char *dir,
                     void (*add)(void *ud, const char *path), void *ud)
{
    for (const char *p = text; (p = strstr(p, "imports")) != NULL; p += 7) {
        if (p > text && nc_attr_char(p[-1]))
            continue;
        const char *q = p + 7;
        while (isspace((unsigned char)*q))
            q++;
        if (*q != '=')
            continue;
        q++;
        while (isspace((unsigned char)*q))
            q++;
        if (*q != '[')
            continue;
        int depth = 0;
        for (; *q; q++) {
            char c = *q;
            if (c == '[') {
                depth++;
                continue;
            }
            if (c == ']') {
                if (--depth == 0)
                    break;
                continue;
            }
            if (!parsed && c == '#') {
                while (*q && *q != '\n')
                    q++;
                if (!*q)
                    break;
                continue;
            }
            if (c == '"') {   /* strings are not paths: skip them */
                for (q++; *q && *q != '"'; q++)
                    if (*q == '\\' && q[1])
                        q++;
                if (!*q)
                    break;
                continue;
            }
            int starts = q == text || isspace((unsigned char)q[-1]) || q[-1] == '[' ||
                         q[-1] == '(';
            if (!starts)
                continue;
            int abs = c == '/';
            int rel = !parsed && (strncmp(q, "./", 2) == 0 || strncmp(q, "../", 3) == 0);
            if (!abs && !rel)
                continue;
            const char *e = q;
            while (!nc_path_end(*e))
                e++;
            char path[PATH_MAX];
            size_t l = (size_t)(e - q);
            int w = abs ? snprintf(path, sizeof path, "%.*s", (int)l, q)
                        : snprintf(path, sizeof path, "%s/%.*s", dir, (int)l, q);
            if (w > 0 && (size_t)w < sizeof path)
                add(ud, path);
            q = e - 1;
        }
    }
}
