/* jsonl.c — the checksummed JSON-lines files of state_dir, shared by the undo journal (undo.c)
 * and the change log (changelog.c): the line format, a synced append that never leaves half a
 * line, and the read back that skips what a crash or a bad disk left. */
#include "jsonl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

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

char *jsonl_line(json_t *o, size_t *len)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
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

int jsonl_write_all(int fd, const char *buf, size_t n)
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

int jsonl_append(int fd, const char *path, const char *who, json_t *o, size_t *file_bytes,
                 size_t *line_bytes)
{
    size_t n = 0;
    char *line = jsonl_line(o, &n);
    if (!line) {
        errno = EINVAL;
        return -1;
    }
    int rc = 0;
    if (jsonl_write_all(fd, line, n) < 0 || fdatasync(fd) < 0) {
        int e = errno;
        if (ftruncate(fd, (off_t)*file_bytes) < 0)
            log_error(who, "%s: cannot cut off a failed write: %s", path, strerror(errno));
        errno = e;
        rc = -1;
    } else {
        *file_bytes += n;
        if (line_bytes)
            *line_bytes = n;
    }
    free(line);
    return rc;
}

json_t *jsonl_parse(const char *line, size_t n, const char **why)
{
    if (n < 11 || line[8] != ' ') {
        *why = "not a checksummed record";
        return NULL;
    }
    char hex[9], *end;
    memcpy(hex, line, 8);
    hex[8] = '\0';
    unsigned long want = strtoul(hex, &end, 16);
    if (*end) {
        *why = "not a checksummed record";
        return NULL;
    }
    if (crc32_of(line + 9, n - 9) != (uint32_t)want) {
        *why = "checksum mismatch";
        return NULL;
    }
    json_t *o = json_loadb(line + 9, n - 9, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        *why = "not a JSON object";
        return NULL;
    }
    return o;
}

int jsonl_load(int fd, const char *path, const char *who, size_t max, size_t *file_bytes,
               jsonl_apply_fn apply, void *ud, char *err, size_t errlen)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max)
                break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = pread(fd, buf + n, cap - n, (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *file_bytes = n;
    int bad = 0;
    size_t lineno = 0, off = 0;
    while (off < n) {
        lineno++;
        char *nl = memchr(buf + off, '\n', n - off);
        if (!nl) {
            log_warn(who, "%s:%zu: torn last line (%zu bytes, no end of line; the agent stopped "
                     "while writing it): ignored", path, lineno, n - off);
            bad++;
            break;
        }
        size_t len = (size_t)(nl - (buf + off));
        const char *why = NULL;
        if (apply(ud, buf + off, len, &why) < 0) {
            log_warn(who, "%s:%zu: %s: line ignored", path, lineno, why ? why : "bad record");
            bad++;
        }
        off += len + 1;
    }
    free(buf);
    return bad;
}

int jsonl_rewrite(int dfd, const char *dir, const char *name, const char *who, size_t n,
                  jsonl_record_fn record, void *ud, size_t *bytes)
{
    char tmp[NAME_MAX + 1];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", name) >= (int)sizeof tmp)
        return -1;
    unlinkat(dfd, tmp, 0); /* a leftover (or a planted symlink) from an earlier attempt */
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error(who, "%s/%s: %s; still appending to the old file", dir, tmp, strerror(errno));
        return -1;
    }
    size_t total = 0;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        json_t *o = record(ud, i);
        size_t len = 0;
        char *line = jsonl_line(o, &len);
        json_decref(o);
        ok = line && jsonl_write_all(fd, line, len) == 0;
        total += len;
        free(line);
    }
    ok = ok && fsync(fd) == 0;
    int e = errno;
    if (ok && renameat(dfd, tmp, dfd, name) < 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        log_error(who, "rewriting %s/%s failed: %s; still appending to the old file", dir, name,
                  strerror(e));
        close(fd);
        unlinkat(dfd, tmp, 0);
        return -1;
    }
    /* The rename is durable only once the directory is. */
    if (fsync(dfd) < 0)
        log_warn(who, "fsync of %s: %s", dir, strerror(errno));
    *bytes = total;
    return fd;
}
