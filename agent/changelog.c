/* changelog.c — the change log's file and its records in memory. One record per line,
 * "CRC32HEX JSON\n" as in the undo journal, so a line torn by a crash is recognised and skipped,
 * never half-read: {"t":"c",...} a change, {"t":"u","id":N,"by":M} change N undone by M. Every
 * line is fdatasync'd before the call returns; pruning (age, size) rewrites the file through a
 * temporary file and a rename, so a crash leaves the old file or the new one. */
#include "changelog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "statedir.h"

#define WHO "change log"
#define READ_MAX ((size_t)256 << 20)

struct changelog {
    pthread_mutex_t mu;
    char *dir, *path;
    int fd, dfd;
    json_t *recs;           /* change records, oldest first */
    uint64_t next_id;
    size_t file_bytes, max_bytes;
    double max_age_s;
};

static uint32_t crc32_of(const char *s, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= (unsigned char)s[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
    if (!err || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* "CRC32HEX JSON\n", malloc'd. */
static char *line_of(json_t *o, size_t *len)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *line = malloc(n + 11);
    if (line) {
        snprintf(line, 10, "%08x ", crc32_of(s, n));
        memcpy(line + 9, s, n);
        line[9 + n] = '\n';
        line[10 + n] = '\0';
        *len = n + 10;
    }
    free(s);
    return line;
}

static int write_all(int fd, const char *buf, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, buf + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* One line, synced; a failed write is cut back so the next line never lands on half a line. */
static int append(changelog *l, json_t *o)
{
    size_t n = 0;
    char *line = line_of(o, &n);
    if (!line) {
        log_error(WHO, "%s: cannot encode a record", l->path);
        return -1;
    }
    int rc = 0;
    if (write_all(l->fd, line, n) < 0 || fdatasync(l->fd) < 0) {
        log_error(WHO, "%s: %s: the change is made but not in the log", l->path, strerror(errno));
        if (ftruncate(l->fd, (off_t)l->file_bytes) < 0)
            log_error(WHO, "%s: cannot cut off a failed write: %s", l->path, strerror(errno));
        rc = -1;
    } else {
        l->file_bytes += n;
    }
    free(line);
    return rc;
}

static json_t *find(changelog *l, uint64_t id)
{
    /* ids increase with the index: a binary search */
    size_t lo = 0, hi = json_array_size(l->recs);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        json_t *r = json_array_get(l->recs, mid);
        uint64_t v = (uint64_t)json_integer_value(json_object_get(r, "id"));
        if (v == id)
            return r;
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* One line of the file applied to memory; -1 with why when it is not a record. */
static int apply_line(changelog *l, const char *line, size_t n, const char **why)
{
    char *end;
    if (n < 10 || line[8] != ' ') {
        *why = "not a checksummed record";
        return -1;
    }
    char hex[9];
    memcpy(hex, line, 8);
    hex[8] = '\0';
    unsigned long want = strtoul(hex, &end, 16);
    if (*end || crc32_of(line + 9, n - 9) != (uint32_t)want) {
        *why = "checksum mismatch";
        return -1;
    }
    json_error_t je;
    json_t *o = json_loadb(line + 9, n - 9, 0, &je);
    const char *t = json_string_value(json_object_get(o, "t"));
    json_int_t id = json_integer_value(json_object_get(o, "id"));
    if (!o || !t || id <= 0) {
        json_decref(o);
        *why = "not a change record";
        return -1;
    }
    int rc = 0;
    if (strcmp(t, "c") == 0) {
        if ((uint64_t)id < l->next_id) {
            *why = "id out of order";
            rc = -1;
        } else {
            json_object_del(o, "t");
            json_array_append(l->recs, o);
            l->next_id = (uint64_t)id + 1;
        }
    } else if (strcmp(t, "u") == 0) {
        json_t *r = find(l, (uint64_t)id);
        if (r) {   /* a mark for a pruned record is no error */
            json_object_set(r, "undone_by", json_object_get(o, "by"));
            json_object_set(r, "undone_at", json_object_get(o, "time"));
        }
    } else {
        *why = "unknown record";
        rc = -1;
    }
    json_decref(o);
    return rc;
}

static int load(changelog *l, char *err, size_t errlen)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        seterr(err, errlen, "%s: out of memory", l->path);
        return -1;
    }
    for (;;) {
        if (n == cap) {
            char *nb = cap >= READ_MAX ? NULL : realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = pread(l->fd, buf + n, cap - n, (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            seterr(err, errlen, "%s: %s", l->path, strerror(errno));
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    l->file_bytes = n;
    int bad = 0;
    size_t lineno = 0, off = 0;
    while (off < n) {
        lineno++;
        char *nl = memchr(buf + off, '\n', n - off);
        if (!nl) {
            log_warn(WHO, "%s:%zu: torn last line (%zu bytes, no end of line; the agent stopped "
                     "while writing it): ignored", l->path, lineno, n - off);
            bad++;
            break;
        }
        size_t len = (size_t)(nl - (buf + off));
        const char *why = NULL;
        if (apply_line(l, buf + off, len, &why) < 0) {
            log_warn(WHO, "%s:%zu: %s: line ignored", l->path, lineno, why ? why : "bad record");
            bad++;
        }
        off += len + 1;
    }
    free(buf);
    return bad;
}

/* Rewrites the file with the records in memory (undone marks folded in). */
static int rewrite(changelog *l)
{
    static const char tmp[] = CHANGELOG_FILE ".tmp";
    unlinkat(l->dfd, tmp, 0);
    int fd = openat(l->dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
                    0600);
    if (fd < 0) {
        log_error(WHO, "%s/%s: %s; still appending to the old file", l->dir, tmp, strerror(errno));
        return -1;
    }
    size_t total = 0, i;
    int ok = 1;
    json_t *r;
    json_array_foreach(l->recs, i, r) {
        json_t *o = json_deep_copy(r);
        json_object_set_new(o, "t", json_string("c"));
        size_t n = 0;
        char *line = o ? line_of(o, &n) : NULL;
        json_decref(o);
        ok = line && write_all(fd, line, n) == 0;
        free(line);
        if (!ok)
            break;
        total += n;
    }
    ok = ok && fsync(fd) == 0;
    int e = errno;
    if (ok && renameat(l->dfd, tmp, l->dfd, CHANGELOG_FILE) < 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        log_error(WHO, "rewriting %s failed: %s; still appending to the old file", l->path,
                  strerror(e));
        close(fd);
        unlinkat(l->dfd, tmp, 0);
        return -1;
    }
    if (fsync(l->dfd) < 0)
        log_warn(WHO, "fsync of %s: %s", l->dir, strerror(errno));
    close(l->fd);
    l->fd = fd;
    l->file_bytes = total;
    return 0;
}

static size_t record_bytes(json_t *r)
{
    char *s = json_dumps(r, JSON_COMPACT);
    size_t n = s ? strlen(s) + 20 : 0;
    free(s);
    return n;
}

/* Drops records past the age bound, then the oldest until what is left takes at most half the
 * size bound (so the next rewrite is far off), and rewrites the file. Returns how many went. */
static size_t prune(changelog *l, double now)
{
    size_t n = json_array_size(l->recs), drop = 0;
    while (drop < n) {
        double t = json_number_value(json_object_get(json_array_get(l->recs, drop), "time"));
        if (now - t <= l->max_age_s)
            break;
        drop++;
    }
    size_t live = 0, keep_from = n;
    for (size_t i = n; i-- > drop;) {
        size_t b = record_bytes(json_array_get(l->recs, i));
        if (live + b > l->max_bytes / 2)
            break;
        live += b;
        keep_from = i;
    }
    if (keep_from > drop)
        drop = keep_from;
    for (size_t i = 0; i < drop; i++)
        json_array_remove(l->recs, 0);
    if (drop)
        log_info(WHO, "%s: %zu record(s) dropped (older than %.0f days or beyond %zu bytes)",
                 l->path, drop, l->max_age_s / 86400, l->max_bytes);
    rewrite(l);
    return drop;
}

changelog *changelog_open(const char *state_dir, size_t max_bytes, double max_age_s, char *err,
                          size_t errlen)
{
    if (!state_dir || !*state_dir) {
        seterr(err, errlen, "no state_dir for the change log");
        return NULL;
    }
    changelog *l = calloc(1, sizeof *l);
    if (!l) {
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->fd = l->dfd = -1;
    l->next_id = 1;
    l->max_bytes = max_bytes ? max_bytes : CHANGELOG_MAX_BYTES;
    l->max_age_s = max_age_s > 0 ? max_age_s : CHANGELOG_MAX_AGE_S;
    l->recs = json_array();
    l->dir = strdup(state_dir);
    size_t pl = strlen(state_dir) + sizeof CHANGELOG_FILE + 2;
    l->path = malloc(pl);
    if (!l->recs || !l->dir || !l->path) {
        seterr(err, errlen, "out of memory");
        changelog_close(l);
        return NULL;
    }
    snprintf(l->path, pl, "%s/%s", state_dir, CHANGELOG_FILE);
    char why[PATH_MAX + 300];
    l->dfd = statedir_open(state_dir, why, sizeof why);
    if (l->dfd >= 0)
        l->fd = statedir_openat(l->dfd, state_dir, CHANGELOG_FILE, O_RDWR | O_CREAT | O_APPEND,
                                0600, why, sizeof why);
    if (l->fd < 0) {
        seterr(err, errlen, "%s", why);
        changelog_close(l);
        return NULL;
    }
    int bad = load(l, err, errlen);
    if (bad < 0) {
        changelog_close(l);
        return NULL;
    }
    double now = clock_now();
    json_t *first = json_array_get(l->recs, 0);
    /* After a torn line the next record must not be glued onto it: rewrite first. */
    if (bad > 0 || l->file_bytes > l->max_bytes ||
        (first && now - json_number_value(json_object_get(first, "time")) > l->max_age_s))
        prune(l, now);
    return l;
}

void changelog_close(changelog *l)
{
    if (!l)
        return;
    if (l->fd >= 0)
        close(l->fd);
    if (l->dfd >= 0)
        close(l->dfd);
    json_decref(l->recs);
    free(l->dir);
    free(l->path);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

uint64_t changelog_add(changelog *l, json_t *rec)
{
    if (!l || !rec)
        return 0;
    pthread_mutex_lock(&l->mu);
    double now = clock_now();
    uint64_t id = l->next_id;
    json_t *o = json_deep_copy(rec);
    json_object_set_new(o, "id", json_integer((json_int_t)id));
    json_object_set_new(o, "time", json_real(now));
    json_object_set_new(o, "t", json_string("c"));
    int rc = o ? append(l, o) : -1;
    if (rc == 0) {
        json_object_del(o, "t");
        json_array_append(l->recs, o);
        l->next_id++;
        if (l->file_bytes > l->max_bytes)
            prune(l, now);
    }
    json_decref(o);
    pthread_mutex_unlock(&l->mu);
    return rc == 0 ? id : 0;
}

int changelog_mark_undone(changelog *l, uint64_t id, uint64_t by)
{
    if (!l || !id)
        return -1;
    pthread_mutex_lock(&l->mu);
    json_t *r = find(l, id);
    int rc = -1;
    if (r) {
        double now = clock_now();
        json_t *o = json_pack("{s:s, s:I, s:I, s:f}", "t", "u", "id", (json_int_t)id, "by",
                              (json_int_t)by, "time", now);
        rc = o ? append(l, o) : -1;
        json_decref(o);
        if (rc == 0) {
            json_object_set_new(r, "undone_by", json_integer((json_int_t)by));
            json_object_set_new(r, "undone_at", json_real(now));
        }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

json_t *changelog_select(changelog *l, uint64_t heal_id, double since)
{
    json_t *out = json_array();
    if (!l || !out)
        return out;
    pthread_mutex_lock(&l->mu);
    size_t i;
    json_t *r;
    json_array_foreach(l->recs, i, r) {
        if (heal_id ? (uint64_t)json_integer_value(json_object_get(r, "heal_id")) != heal_id
                    : json_number_value(json_object_get(r, "time")) < since)
            continue;
        json_array_append_new(out, json_deep_copy(r));
    }
    pthread_mutex_unlock(&l->mu);
    return out;
}

size_t changelog_count(changelog *l)
{
    if (!l)
        return 0;
    pthread_mutex_lock(&l->mu);
    size_t n = json_array_size(l->recs);
    pthread_mutex_unlock(&l->mu);
    return n;
}

size_t changelog_file_bytes(changelog *l)
{
    if (!l)
        return 0;
    pthread_mutex_lock(&l->mu);
    size_t n = l->file_bytes;
    pthread_mutex_unlock(&l->mu);
    return n;
}

const char *changelog_path(const changelog *l) { return l ? l->path : ""; }
