/* config_lex.c — a small scanner over healerd.conf and its @includes, used twice. Before
 * libconfig parses: it refuses what would make libconfig's flex scanner exit() the process (a NUL
 * byte, an @include of "" or of anything that is not a regular file). After: libconfig 1.5 stores
 * an integer beyond 32 bits without an L suffix wrapped (4294967296 reads as 0), so the scanner
 * lists every integer literal in order and pairs them with the parsed tree's integer settings,
 * which come in the same order. Newer libconfig (64-bit on its own) pairs the same way. */
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEX_MAX_DEPTH 10          /* libconfig's own include depth */
#define LEX_MAX_FILE (16u << 20)  /* a configuration file, not a disk image */

typedef struct lit {
    long long v;
    bool huge;      /* beyond 64 bits: v is saturated */
    bool wrapped;   /* a libconfig 1.5 would store it wrapped (no L, beyond 32 bits) */
    int line;
    const char *file;
} lit;

typedef struct lexer {
    lit *v;
    size_t n, cap;
    const char *include_dir;
    char **files;   /* names kept for lit.file */
    size_t n_files;
    bool failed;    /* unreadable include, too deep, out of memory: no pairing */
    diag *vet;      /* set before parsing: report what libconfig must not see */
    int problems;   /* reported to vet */
} lexer;

/* The whole of a regular file, NUL-terminated; NULL with errno set otherwise. O_NONBLOCK: a FIFO
 * named by an @include must not hang the loader (it is refused as not regular anyway). */
static char *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        close(fd);
        errno = e;
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 4096) {
            if (cap >= LEX_MAX_FILE)
                break;
            char *b = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!b) {
                free(buf);
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            buf = b;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void vet_report(lexer *lx, const char *file, int line, const char *msg)
{
    if (!lx->vet)
        return;
    lx->problems++;
    diag_report(lx->vet, file, line, "%s", msg);
}

static void push(lexer *lx, long long v, bool huge, bool wrapped, int line, const char *file)
{
    if (lx->n == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 64;
        lit *nv = realloc(lx->v, cap * sizeof *nv);
        if (!nv) {
            lx->failed = true;
            return;
        }
        lx->v = nv;
        lx->cap = cap;
    }
    lx->v[lx->n++] = (lit){v, huge, wrapped, line, file};
}

static void lex_file(lexer *lx, const char *path, int depth, const char *from, int from_line);

/* A number at s (sign included); returns its end. Floats are skipped, integers listed. */
static const char *lex_number(lexer *lx, const char *s, int line, const char *file)
{
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && isxdigit((unsigned char)p[2])) {
        const char *h = p + 2, *e = h;
        while (isxdigit((unsigned char)*e))
            e++;
        errno = 0;
        unsigned long long u = strtoull(h, NULL, 16);
        bool huge = errno == ERANGE || u > (unsigned long long)LLONG_MAX;
        bool l = *e == 'L';
        if (l)
            e += e[1] == 'L' ? 2 : 1;
        long long v = huge ? LLONG_MAX : (long long)u;
        push(lx, neg ? -v : v, huge, !l && u > (unsigned long long)INT_MAX, line, file);
        return e;
    }
    const char *d = p;
    while (isdigit((unsigned char)*p))
        p++;
    bool digits = p > d;
    /* a float: digits '.' digits [exp], '.' digits, or digits exp */
    if (*p == '.' || ((*p == 'e' || *p == 'E') && digits)) {
        if (*p == '.')
            for (p++; isdigit((unsigned char)*p);)
                p++;
        if (*p == 'e' || *p == 'E') {
            const char *q = p + 1;
            if (*q == '-' || *q == '+')
                q++;
            if (isdigit((unsigned char)*q)) {
                while (isdigit((unsigned char)*q))
                    q++;
                p = q;
            }
        }
        return p;
    }
    if (!digits)
        return s + 1; /* a lone sign: libconfig refuses the file anyway */
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    bool huge = errno == ERANGE;
    bool l = *p == 'L';
    if (l)
        p += p[1] == 'L' ? 2 : 1;
    push(lx, v, huge, !l && (huge || v < INT_MIN || v > INT_MAX), line, file);
    return p;
}

static const char *skip_string(const char *p, int *line)
{
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;
        if (*p == '\n')
            (*line)++;
    }
    return *p ? p + 1 : p;
}

static void lex_text(lexer *lx, const char *s, const char *file, int depth)
{
    int line = 1;
    bool bol = true; /* only blanks since the line began: where @include is recognised */
    const char *p = s;
    while (*p && !lx->failed) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n') {
            line++;
            bol = true;
            p++;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            p++;
            continue;
        }
        if (bol && strncmp(p, "@include", 8) == 0 && (p[8] == ' ' || p[8] == '\t')) {
            const char *q = p + 8;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q == '"') {
                const char *e = strchr(q + 1, '"');
                if (!e) {
                    lx->failed = true;
                    return;
                }
                if (e == q + 1) {
                    /* libconfig opens the include directory itself, and its scanner exits */
                    vet_report(lx, file, line, "@include \"\": no file named");
                    p = e + 1;
                    bol = false;
                    continue;
                }
                char *name = strndup(q + 1, (size_t)(e - q - 1));
                char *full = NULL;
                if (name && name[0] != '/' && lx->include_dir &&
                    asprintf(&full, "%s/%s", lx->include_dir, name) < 0)
                    full = NULL;
                if (!name || (name[0] != '/' && lx->include_dir && !full))
                    lx->failed = true;
                else
                    lex_file(lx, full ? full : name, depth + 1, file, line);
                free(full);
                free(name);
                p = e + 1;
                bol = false;
                continue;
            }
        }
        bol = false;
        if (c == '#' || (c == '/' && p[1] == '/')) {
            while (*p && *p != '\n')
                p++;
        } else if (c == '/' && p[1] == '*') {
            for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
                if (*p == '\n')
                    line++;
            p += *p ? 2 : 0;
        } else if (c == '"') {
            p = skip_string(p, &line);
        } else if (isalpha(c) || c == '*') {
            while (isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '*')
                p++;
        } else if (isdigit(c) || ((c == '-' || c == '+' || c == '.') &&
                                  (isdigit((unsigned char)p[1]) || p[1] == '.'))) {
            p = lex_number(lx, p, line, file);
        } else {
            p++;
        }
    }
}

/* from/from_line: the @include that named path (NULL for the top file). */
static void lex_file(lexer *lx, const char *path, int depth, const char *from, int from_line)
{
    if (depth > LEX_MAX_DEPTH) {
        lx->failed = true;
        return;
    }
    size_t len;
    char *text = read_all(path, &len);
    if (!text && from && lx->vet) {
        char msg[PATH_MAX + 128];
        snprintf(msg, sizeof msg, "@include \"%s\": %s", path,
                 errno == EINVAL ? "not a regular file" : strerror(errno));
        vet_report(lx, from, from_line, msg);
    }
    if (text && strlen(text) != len) {
        int line = 1;
        for (const char *c = text; *c; c++)
            line += *c == '\n';
        vet_report(lx, path, line, "a NUL byte: a configuration file is text");
        if (lx->vet) {
            free(text);
            return;
        }
    }
    char **files = realloc(lx->files, (lx->n_files + 1) * sizeof *files);
    char *name = strdup(path);
    if (!text || !files || !name) {
        free(text);
        free(name);
        if (files)
            lx->files = files;
        lx->failed = true;
        return;
    }
    lx->files = files;
    lx->files[lx->n_files++] = name;
    lex_text(lx, text, name, depth);
    free(text);
}

/* The parsed tree's integer settings, in source order. */
static void collect(const config_setting_t *s, const config_setting_t ***v, size_t *n, size_t *cap,
                    bool *oom)
{
    int t = config_setting_type(s);
    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            const config_setting_t **nv = realloc(*v, nc * sizeof *nv);
            if (!nv) {
                *oom = true;
                return;
            }
            *v = nv;
            *cap = nc;
        }
        (*v)[(*n)++] = s;
        return;
    }
    if (t == CONFIG_TYPE_GROUP || t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY) {
        int len = config_setting_length(s);
        for (int i = 0; i < len && !*oom; i++)
            collect(config_setting_get_elem(s, (unsigned)i), v, n, cap, oom);
    }
}

static int by_setting(const void *a, const void *b)
{
    const cfg_exact *x = a, *y = b;
    return (x->s > y->s) - (x->s < y->s);
}

void cfg_exact_integers(rctx *r, struct config_impl *impl, const char *path)
{
    lexer lx = {.include_dir = impl->include_dir};
    lex_file(&lx, path, 0, NULL, 0);
    const config_setting_t **set = NULL;
    size_t n = 0, cap = 0;
    bool oom = false;
    collect(config_root_setting(&impl->lc), &set, &n, &cap, &oom);
    if (!lx.failed && !oom && n == lx.n) {
        impl->exact = calloc(n ? n : 1, sizeof *impl->exact);
        if (impl->exact) {
            for (size_t i = 0; i < n; i++)
                impl->exact[i] = (cfg_exact){set[i], lx.v[i].v, lx.v[i].huge};
            impl->n_exact = n;
            qsort(impl->exact, n, sizeof *impl->exact, by_setting);
        }
    }
    if (!impl->exact) {
        /* Cannot tell which setting a literal is: refuse the ones libconfig may have wrapped
         * rather than act on a value the file does not say. */
        for (size_t i = 0; i < lx.n; i++)
            if (lx.v[i].wrapped) {
                r->errors++;
                diag_report(r->d, lx.v[i].file, lx.v[i].line,
                            "the integer %lld does not fit in 32 bits: write it with an L suffix "
                            "(%lldL)", lx.v[i].v, lx.v[i].v);
            }
    }
    free(set);
    free(lx.v);
    for (size_t i = 0; i < lx.n_files; i++)
        free(lx.files[i]);
    free(lx.files);
}

bool cfg_get_integer(const rctx *r, const config_setting_t *s, long long *out, bool *huge)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return false;
    *out = t == CONFIG_TYPE_INT ? config_setting_get_int(s) : config_setting_get_int64(s);
    if (huge)
        *huge = false;
    const struct config_impl *impl = r ? r->impl : NULL;
    if (impl && impl->exact) {
        cfg_exact key = {.s = s};
        const cfg_exact *e = bsearch(&key, impl->exact, impl->n_exact, sizeof key, by_setting);
        if (e) {
            *out = e->v;
            if (huge)
                *huge = e->huge;
        }
    }
    return true;
}

int cfg_vet_files(diag *d, const char *path, const char *include_dir)
{
    lexer lx = {.include_dir = include_dir, .vet = d};
    lex_file(&lx, path, 0, NULL, 0);
    free(lx.v);
    for (size_t i = 0; i < lx.n_files; i++)
        free(lx.files[i]);
    free(lx.files);
    return lx.problems;
}
