/* nixconfig_attempts.c — the record of syntax fixes applied per (file, broken state) that bounds
 * max_fix_attempts, kept in `fix-attempts` beside state_file so that an agent restart (a crash
 * loop) does not start the count again: lookup, loading (a garbled file is logged and skipped,
 * never trusted blindly, never fatal) and atomic saving (temp file, fsync, rename). */
#include <healer/healer.h>

#include "nixconfig_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A line is at most "attempt " + 16 + count + time + a path escaped three bytes a byte. */
#define NC_ATT_LINE_MAX (PATH_MAX * 3 + 96)
/* The whole record: every slot at its longest, plus the header. Anything bigger is not ours. */
#define NC_ATT_FILE_MAX (NC_MAX_ATTEMPTS * NC_ATT_LINE_MAX + 512)
#define NC_ATT_COUNT_MAX 1000000

nc_attempt *nc_attempt_of(nixconfig *w, const char *file, const char *hash, int create)
{
    nc_attempt *oldest = &w->attempts[0];
    for (size_t i = 0; i < NC_MAX_ATTEMPTS; i++) {
        nc_attempt *t = &w->attempts[i];
        if (t->count && strcmp(t->file, file) == 0 && strcmp(t->hash, hash) == 0)
            return t;
        if (!t->count || (oldest->count && t->first < oldest->first))
            oldest = t;
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof *oldest);
    nc_fmt(oldest->file, sizeof oldest->file, "%s", file);
    nc_fmt(oldest->hash, sizeof oldest->hash, "%s", hash);
    return oldest;
}

/* Control bytes, blanks, DEL and '%' as %XX: one record per line, fields split on blanks. */
static size_t nc_att_escape(const char *s, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && k + 4 < len; p++) {
        if (*p <= 0x20 || *p == 0x7f || *p == '%') {
            out[k++] = '%';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        } else {
            out[k++] = (char)*p;
        }
    }
    out[k] = '\0';
    return k;
}

static int nc_att_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 0, or -1 for a bad escape, an escaped NUL or a path too long. */
static int nc_att_unescape(const char *s, char *out, size_t len)
{
    size_t k = 0;
    for (const char *p = s; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int a = nc_att_hexval((unsigned char)p[1]), b = a < 0 ? -1 : nc_att_hexval((unsigned char)p[2]);
            if (a < 0 || b < 0 || (a == 0 && b == 0))
                return -1;
            c = a * 16 + b;
            p += 2;
        }
        if (k + 1 >= len)
            return -1;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return 0;
}

/* One line "attempt HASH COUNT FIRST PATH" into t. NULL, or what is wrong with it. */
static const char *nc_att_parse_line(char *line, nc_attempt *t)
{
    char *save = NULL;
    char *word = strtok_r(line, " \t", &save), *hash = strtok_r(NULL, " \t", &save),
         *count = strtok_r(NULL, " \t", &save), *first = strtok_r(NULL, " \t", &save),
         *path = strtok_r(NULL, " \t", &save), *extra = strtok_r(NULL, " \t", &save);
    if (!word || strcmp(word, "attempt") != 0)
        return "not an \"attempt\" record";
    if (!path || extra)
        return "not 5 fields (attempt HASH COUNT FIRST PATH)";
    if (strlen(hash) != 16 || strspn(hash, "0123456789abcdef") != 16)
        return "the hash is not 16 hex digits";
    char *end;
    errno = 0;
    long long c = strtoll(count, &end, 10);
    if (errno || *end || end == count || c < 1 || c > NC_ATT_COUNT_MAX)
        return "the count is not a number from 1 to 1000000";
    double f = strtod(first, &end);
    if (*end || end == first || !isfinite(f) || f <= 0)
        return "the time is not a positive number";
    memset(t, 0, sizeof *t);
    if (nc_att_unescape(path, t->file, sizeof t->file) != 0 || t->file[0] != '/')
        return "the path is not an absolute, well-escaped path";
    memcpy(t->hash, hash, 17);
    t->count = (int)c;
    t->first = f;
    return NULL;
}

void nc_attempts_load(nixconfig *w)
{
    const healer_host *h = w->host;
    memset(w->attempts, 0, sizeof w->attempts);
    int fd = open(w->attempts_file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            h->log(w->ctx, HEALER_LOG_ERROR, "%s: %s: fix attempts start at 0 (max_fix_attempts "
                   "counts again from here)", w->attempts_file, strerror(errno));
        return;
    }
    struct stat st;
    char *text = NULL;
    ssize_t n = -1;
    const char *bad = fstat(fd, &st) != 0 ? strerror(errno)
                      : !S_ISREG(st.st_mode) ? "not a regular file"
                      : st.st_size > NC_ATT_FILE_MAX ? "larger than any record the plugin writes"
                      : NULL;
    if (bad) {
        h->log(w->ctx, HEALER_LOG_ERROR, "%s: %s: not used; fix attempts start at 0",
               w->attempts_file, bad);
        close(fd);
        return;
    }
    text = malloc((size_t)st.st_size + 1);
    if (text)
        n = read(fd, text, (size_t)st.st_size);
    close(fd);
    if (!text || n < 0) {
        h->log(w->ctx, HEALER_LOG_ERROR, "%s: cannot read it (%s): fix attempts start at 0",
               w->attempts_file, text ? strerror(errno) : "out of memory");
        free(text);
        return;
    }
    text[n] = '\0';
    size_t used = 0;
    int lineno = 0;
    for (char *p = text; p < text + n;) {
        char *nl = memchr(p, '\n', (size_t)(text + n - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(text + n - p);
        lineno++;
        char *line = p;
        p += l + 1;
        const char *why = NULL;
        if (memchr(line, '\0', l))
            why = "a NUL byte";
        else if (!nl)
            why = "cut short (no newline at the end)";
        line[l] = '\0';
        if (!why && (l == 0 || line[0] == '#'))
            continue;
        nc_attempt t;
        if (!why)
            why = nc_att_parse_line(line, &t);
        if (!why && used == NC_MAX_ATTEMPTS)
            why = "more records than the plugin keeps";
        if (why) {
            h->log(w->ctx, HEALER_LOG_ERROR, "%s:%d: %s: the line is ignored", w->attempts_file,
                   lineno, why);
            continue;
        }
        nc_attempt *dup = nc_attempt_of(w, t.file, t.hash, 0);
        if (dup) {   /* never written so; the larger count is the safe side */
            if (t.count > dup->count)
                *dup = t;
            continue;
        }
        w->attempts[used++] = t;
    }
    free(text);
}

static int nc_att_write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Into the plugin's own directory: temp file, fsync, rename, fsync of the directory. 0, or -1
 * with errno (nothing replaced). */
static int nc_att_write_direct(const char *path, const char *text, size_t n)
{
    char dir[PATH_MAX], tmp[64];
    nc_dirname(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    nc_fmt(tmp, sizeof tmp, ".fix-attempts.%ld.tmp", (long)getpid());
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST && unlinkat(dfd, tmp, 0) == 0)   /* left by a crash */
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        close(dfd);
        errno = e;
        return -1;
    }
    int ok = nc_att_write_all(fd, text, n) == 0 && fsync(fd) == 0;
    int e = errno;
    ok = close(fd) == 0 && ok;
    if (ok && renameat(dfd, tmp, dfd, nc_basename(path)) != 0) {
        e = errno;
        ok = 0;
    }
    if (!ok)
        unlinkat(dfd, tmp, 0);
    else
        fsync(dfd);
    close(dfd);
    errno = e;
    return ok ? 0 : -1;
}

int nc_attempts_save(nixconfig *w)
{
    const healer_host *h = w->host;
    size_t cap = NC_ATT_FILE_MAX, n = 0;
    char *text = malloc(cap);
    char *esc = malloc(NC_ATT_LINE_MAX);
    if (!text || !esc) {
        free(text);
        free(esc);
        h->log(w->ctx, HEALER_LOG_ERROR, "%s: out of memory: fix attempts not saved",
               w->attempts_file);
        return -1;
    }
    n += (size_t)snprintf(text, cap, "# healerd nixconfig: syntax fixes applied per file and "
                          "broken state (max_fix_attempts)\n# attempt HASH COUNT FIRST PATH\n");
    for (size_t i = 0; i < NC_MAX_ATTEMPTS; i++) {
        const nc_attempt *t = &w->attempts[i];
        if (!t->count)
            continue;
        nc_att_escape(t->file, esc, NC_ATT_LINE_MAX);
        int k = snprintf(text + n, cap - n, "attempt %s %d %.3f %s\n", t->hash, t->count,
                         t->first, esc);
        if (k > 0 && (size_t)k < cap - n)
            n += (size_t)k;
    }
    free(esc);
    int rc = nc_att_write_direct(w->attempts_file, text, n);
    if (rc != 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
        /* A confined child and a state directory it may not write: the agent writes it (an
         * atomic replace too, audited). */
        rc = h->act_write_file(w->ctx, w->attempts_file, text) < 0 ? -1 : 0;
        if (rc != 0)
            h->log(w->ctx, HEALER_LOG_ERROR, "%s: fix attempts not saved (%s): a restart would "
                   "count them again from 0", w->attempts_file, h->last_message(w->ctx));
    } else if (rc != 0) {
        h->log(w->ctx, HEALER_LOG_ERROR, "%s: fix attempts not saved (%s): a restart would "
               "count them again from 0", w->attempts_file, strerror(errno));
    }
    free(text);
    return rc;
}
