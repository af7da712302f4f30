/* audit_read.c — the read side of audit.jsonl for GET /api/v1/heals/ID: the lines of one heal
 * (its actions' and its actuator calls'), found in the file's last AUDIT_SCAN_MAX bytes, at
 * most `max` of them (the newest). Bounded in time and memory whatever the file's size; the
 * writer (audit.c) is never blocked: this reads through its own descriptor. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statedir.h"

/* A line holds `"heal_id":ID` followed by , or } (never a longer number's prefix). */
static int line_of(const char *l, size_t n, const char *needle, size_t nl)
{
    for (const char *p = l; (size_t)(p - l) + nl < n;) {
        const char *hit = memmem(p, n - (size_t)(p - l), needle, nl);
        if (!hit || (size_t)(hit - l) + nl >= n)
            return 0;
        char c = hit[nl];
        if (c == ',' || c == '}')
            return 1;
        p = hit + 1;
    }
    return 0;
}

json_t *audit_heal_lines(const char *state_dir, uint64_t heal_id, size_t max, size_t scan_max,
                         int *truncated, char *why, size_t whylen)
{
    *truncated = 0;
    int dfd = statedir_open(state_dir, why, whylen);
    if (dfd < 0)
        return NULL;
    int fd = statedir_openat(dfd, state_dir, "audit.jsonl", O_RDONLY, 0, why, whylen);
    close(dfd);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    json_t *out = NULL;
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "%s/audit.jsonl: %s", state_dir, strerror(errno));
        goto done;
    }
    off_t from = st.st_size > (off_t)scan_max ? st.st_size - (off_t)scan_max : 0;
    size_t len = (size_t)(st.st_size - from);
    buf = malloc(len + 1);
    if (!buf) {
        snprintf(why, whylen, "out of memory");
        goto done;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, from + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    char needle[48];
    int nl = snprintf(needle, sizeof needle, "\"heal_id\":%" PRIu64, heal_id);
    out = json_array();
    size_t i = 0;
    if (from > 0) {
        /* started mid-line: that line is not whole */
        *truncated = 1;
        const char *e = memchr(buf, '\n', got);
        i = e ? (size_t)(e - buf) + 1 : got;
    }
    while (out && i < got) {
        const char *l = buf + i, *e = memchr(l, '\n', got - i);
        size_t n = e ? (size_t)(e - l) : got - i;
        i += n + 1;
        if (!line_of(l, n, needle, (size_t)nl))
            continue;
        json_t *j = json_loadb(l, n, 0, NULL);
        if (!j)
            continue;
        json_array_append_new(out, j);
        if (json_array_size(out) > max) {
            json_array_remove(out, 0); /* keep the newest */
            *truncated = 1;
        }
    }
done:
    free(buf);
    close(fd);
    return out;
}
