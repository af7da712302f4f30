/* memory_parse.c — the memory plugin's parsers (meminfo, PSI, swaps, cgroup limits), the
 * least-squares fit behind leak detection and the cgroup-to-unit mapping. No host calls here:
 * odd input gives an error return, never a crash. */
#include "memory.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long memory_read_file(const char *path, char *buf, size_t len)
{
    if (!len)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (long)got;
}

/* "Key:   123 kB" -> bytes, for the key at the start of a line. */
static int memory_meminfo_field(const char *text, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, key, kl) != 0 || l[kl] != ':')
            continue;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(l + kl + 1, &end, 10);
        if (end == l + kl + 1 || errno)
            return -1;
        while (*end == ' ')
            end++;
        *out = strncmp(end, "kB", 2) == 0 ? (uint64_t)v * 1024u : (uint64_t)v;
        return 0;
    }
    return -1;
}

int memory_parse_meminfo(const char *text, memory_meminfo *out)
{
    memset(out, 0, sizeof *out);
    if (!text || memory_meminfo_field(text, "MemTotal", &out->total) < 0 || out->total == 0)
        return -1;
    memory_meminfo_field(text, "MemFree", &out->free);
    memory_meminfo_field(text, "Cached", &out->cached);
    memory_meminfo_field(text, "SwapTotal", &out->swap_total);
    memory_meminfo_field(text, "SwapFree", &out->swap_free);
    if (memory_meminfo_field(text, "MemAvailable", &out->available) == 0) {
        out->has_available = 1;
    } else {
        /* Kernels before 3.14: free plus page cache is the usual estimate. */
        out->available = out->free + out->cached;
    }
    if (out->available > out->total)
        out->available = out->total;
    return 0;
}

/* "avg10=1.23 avg60=... total=456" after the "some"/"full" word. */
static int memory_psi_line(const char *l, double *avg10, uint64_t *total)
{
    const char *a = strstr(l, "avg10=");
    const char *t = strstr(l, "total=");
    const char *nl = strchr(l, '\n');
    if (!a || !t || (nl && (a > nl || t > nl)))
        return -1;
    char *end;
    *avg10 = strtod(a + 6, &end);
    if (end == a + 6 || !isfinite(*avg10))
        return -1;
    *total = strtoull(t + 6, &end, 10);
    return end == t + 6 ? -1 : 0;
}

int memory_parse_psi(const char *text, memory_psi *out)
{
    memset(out, 0, sizeof *out);
    if (!text)
        return -1;
    int some = -1;
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, "some ", 5) == 0)
            some = memory_psi_line(l, &out->some_avg10, &out->some_total_us);
        else if (strncmp(l, "full ", 5) == 0)
            out->has_full = memory_psi_line(l, &out->full_avg10, &out->full_total_us) == 0;
    }
    return some;
}

int memory_swap_active(const char *swaps_text, const char *path, const char *real)
{
    if (!swaps_text || !path)
        return 0;
    const char *l = strchr(swaps_text, '\n');   /* the header line */
    while (l && *l) {
        l++;
        const char *e = l;
        while (*e && *e != ' ' && *e != '\t' && *e != '\n')
            e++;
        size_t n = (size_t)(e - l);
        /* The kernel escapes spaces in names as \040; configured names are compared raw. */
        if (n && ((strlen(path) == n && strncmp(l, path, n) == 0) ||
                  (real && strlen(real) == n && strncmp(l, real, n) == 0)))
            return 1;
        l = strchr(l, '\n');
    }
    return 0;
}

int memory_parse_limit(const char *text, uint64_t *out)
{
    *out = 0;
    if (!text)
        return -1;
    while (*text == ' ')
        text++;
    if (strncmp(text, "max", 3) == 0)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno)
        return -1;
    /* v1 says "no limit" with PAGE_COUNTER_MAX rounded to pages (9223372036854771712). */
    *out = v >= (1ULL << 62) ? 0 : (uint64_t)v;
    return 0;
}

void memory_fit(const double *t, const double *y, size_t n, double *slope, double *r2)
{
    *slope = 0;
    *r2 = 0;
    if (n < 2)
        return;
    /* Centred sums: times since the epoch squared would lose every digit that matters. */
    double mt = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        mt += t[i];
        my += y[i];
    }
    mt /= (double)n;
    my /= (double)n;
    double stt = 0, sty = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double dt = t[i] - mt, dy = y[i] - my;
        stt += dt * dt;
        sty += dt * dy;
        syy += dy * dy;
    }
    if (stt <= 0)
        return;
    *slope = sty / stt;
    if (syy <= 0) {
        *r2 = 1;
        return;
    }
    double r = (sty * sty) / (stt * syy);
    *r2 = r > 1 ? 1 : r;
}

void memory_unit_of(const char *cgroup_path, char *buf, size_t len)
{
    if (!len)
        return;
    buf[0] = '\0';
    if (!cgroup_path)
        return;
    const char *best = NULL, *last = NULL;
    size_t best_n = 0, last_n = 0;
    const char *p = cgroup_path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        last = p;
        last_n = n;
        if (n > 8 && strncmp(p + n - 8, ".service", 8) == 0) {
            best = p;
            best_n = n;
        }
        p += n;
    }
    if (best) {
        snprintf(buf, len, "%.*s", (int)best_n, best);
    } else if (last) {
        int dot = memchr(last, '.', last_n) != NULL;
        snprintf(buf, len, "%.*s%s", (int)last_n, last, dot ? "" : ".service");
    }
}
