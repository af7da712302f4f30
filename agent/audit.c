/* audit.c — state_dir/audit.jsonl: one JSON object per line for every action executed,
 * refused or dry-run. Owns the file (opened by descriptor, never through a link), the line
 * format (outside strings escaped by jansson, never by hand), the durability policy (whole lines
 * per write(2) under a mutex, cut back on failure, fdatasync at most once a second), the batch of
 * deferred lines, and the "failing" state in which the actuators change nothing. */
#include "audit.h"
#include "jsonbuf.h"
#include "sanitize_json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "healer/types.h"
#include "log.h"
#include "metrics.h"
#include "statedir.h"

/* Room kept allocated past the end of the file (FALLOC_FL_KEEP_SIZE) before any change is made,
 * so the line that records it can be written even if the disk fills meanwhile. */
#define AUDIT_RESERVE 8192
/* Deferred lines are written once this many bytes wait (and at every audit_flush). */
#define AUDIT_BATCH 65536

struct audit_log {
    pthread_mutex_t mu;
    int fd;
    int dfd;               /* the state directory: audit.jsonl is reopened relative to it */
    int failing;           /* the last write or reservation failed: actuators change nothing */
    int err;               /* its errno */
    metrics *m;
    int dirty;             /* lines written since the last fdatasync */
    double last_sync;      /* CLOCK_MONOTONIC seconds of the last fdatasync */
    jsonbuf b;             /* whole lines not yet written (deferred), then the line being made */
    size_t lines;          /* complete lines in buf */
    char path[PATH_MAX];
    char dir[PATH_MAX];
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_failing_locked(audit_log *a, int e)
{
    if (!a->failing)
        log_error("audit", "%s cannot be written: %s; until it can, no action changes anything "
                  "(actuators behave as in dry-run)", a->path, strerror(e));
    a->failing = 1;
    a->err = e;
    if (a->m) {
        metrics_counter_add(a->m, "audit_failures_total",
                            "Audit lines that could not be written or space for them that "
                            "could not be reserved (no change is made while the audit log "
                            "fails)", NULL, 0, 1);
        metrics_gauge_set(a->m, "audit_failing",
                          "1 while the audit log cannot be written (actions change nothing)",
                          NULL, 0, 1);
    }
}

static void set_ok_locked(audit_log *a)
{
    if (a->failing)
        log_info("audit", "%s can be written again: actions resume", a->path);
    a->failing = 0;
    a->err = 0;
    if (a->m)
        metrics_gauge_set(a->m, "audit_failing",
                          "1 while the audit log cannot be written (actions change nothing)",
                          NULL, 0, 0);
}

void audit_set_metrics(audit_log *a, metrics *m)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->m = m;
    if (m)
        metrics_gauge_set(m, "audit_failing",
                          "1 while the audit log cannot be written (actions change nothing)",
                          NULL, 0, a->failing);
    pthread_mutex_unlock(&a->mu);
}

int audit_ready(audit_log *a, char *why, size_t len)
{
    if (!a)
        return 1;
    pthread_mutex_lock(&a->mu);
    int ok;
    struct stat st;
    if (a->fd < 0) {
        set_failing_locked(a, EBADF);
        ok = 0;
    } else if (fstat(a->fd, &st) != 0) {
        set_failing_locked(a, errno);
        ok = 0;
    } else if (fallocate(a->fd, FALLOC_FL_KEEP_SIZE, st.st_size, AUDIT_RESERVE) == 0 ||
               errno == EOPNOTSUPP || errno == ENOSYS) {
        /* Room, or a file system that cannot reserve. Only a line written ends the failing
         * state (the refusals are still written): a reservation proves nothing about EIO. */
        ok = !a->failing;
    } else {
        set_failing_locked(a, errno);
        ok = 0;
    }
    if (!ok && why && len)
        snprintf(why, len, "the audit log %s cannot be written (%s)", a->path,
                 strerror(a->err ? a->err : EIO));
    pthread_mutex_unlock(&a->mu);
    return ok;
}

int audit_failing(audit_log *a)
{
    if (!a)
        return 0;
    pthread_mutex_lock(&a->mu);
    int f = a->failing;
    pthread_mutex_unlock(&a->mu);
    return f;
}

audit_log *audit_open(const char *state_dir, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!state_dir || !*state_dir) {
        snprintf(err, errlen, "audit: no state_dir");
        return NULL;
    }
    audit_log *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "audit: out of memory");
        return NULL;
    }
    int n = snprintf(a->path, sizeof a->path, "%s/audit.jsonl", state_dir);
    if (n < 0 || (size_t)n >= sizeof a->path) {
        snprintf(err, errlen, "audit: path %s/audit.jsonl too long", state_dir);
        free(a);
        return NULL;
    }
    snprintf(a->dir, sizeof a->dir, "%s", state_dir);
    char why[600];
    a->dfd = statedir_open(state_dir, why, sizeof why);
    if (a->dfd < 0) {
        snprintf(err, errlen, "audit: %s", why);
        free(a);
        return NULL;
    }
    /* O_APPEND: every write lands at the end even with another writer on the file, so a line
     * is never interleaved with another. */
    a->fd = statedir_openat(a->dfd, a->dir, "audit.jsonl", O_WRONLY | O_CREAT | O_APPEND, 0640,
                            why, sizeof why);
    if (a->fd < 0) {
        snprintf(err, errlen, "audit: %s", why);
        close(a->dfd);
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->mu, NULL);
    a->last_sync = mono_now();
    return a;
}

static int flush_locked(audit_log *a);

static void sync_locked(audit_log *a)
{
    if (a->dirty) {
        fdatasync(a->fd);
        a->dirty = 0;
    }
    a->last_sync = mono_now();
}

int audit_sync(audit_log *a)
{
    if (!a)
        return HEALER_E_INVAL;
    pthread_mutex_lock(&a->mu);
    int rc = flush_locked(a);
    if (a->dirty && fdatasync(a->fd) < 0)
        rc = HEALER_E_IO;
    a->dirty = 0;
    a->last_sync = mono_now();
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int audit_reopen(audit_log *a)
{
    if (!a)
        return HEALER_E_INVAL;
    /* Open the new file before letting go of the old one: if it fails, lines keep going to the
     * old (possibly rotated) file rather than nowhere. */
    char why[600];
    int fd = statedir_openat(a->dfd, a->dir, "audit.jsonl", O_WRONLY | O_CREAT | O_APPEND, 0640,
                             why, sizeof why);
    if (fd < 0) {
        log_error("audit", "cannot reopen: %s", why);
        return HEALER_E_IO;
    }
    pthread_mutex_lock(&a->mu);
    flush_locked(a); /* the lines made before the rotation go to the old file */
    sync_locked(a);
    int old = a->fd;
    a->fd = fd;
    pthread_mutex_unlock(&a->mu);
    close(old);
    return HEALER_OK;
}

void audit_close(audit_log *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    flush_locked(a);
    sync_locked(a);
    close(a->fd);
    a->fd = -1;
    close(a->dfd);
    a->dfd = -1;
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_destroy(&a->mu);
    free(a->b.buf);
    free(a);
}

/* ---- the line ---------------------------------------------------------------------------- */

/* RFC 3339, UTC, milliseconds: 2024-05-01T12:00:00.123Z. The seconds part is formatted once per
 * second per thread (gmtime_r and strftime showed in the profile at tens of thousands of lines
 * a second). */
static void rfc3339_now(char *buf, size_t len)
{
    static __thread time_t last_sec = (time_t)-1;
    static __thread char base[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != last_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
        last_sec = ts.tv_sec;
    }
    /* "%.24s.%03dZ" by hand: snprintf here and for the heal id was a third of a line's cost */
    size_t bl = strnlen(base, 24);
    if (len < bl + 6) {
        if (len)
            buf[0] = '\0';
        return;
    }
    int ms = (int)((ts.tv_nsec / 1000000L) % 1000);
    memcpy(buf, base, bl);
    buf[bl] = '.';
    buf[bl + 1] = (char)('0' + ms / 100);
    buf[bl + 2] = (char)('0' + ms / 10 % 10);
    buf[bl + 3] = (char)('0' + ms % 10);
    buf[bl + 4] = 'Z';
    buf[bl + 5] = '\0';
}

/* The measurements are JSON text. The agent's own (measures_verbatim: msg_measures_json, compact
 * jansson output) is written as it is: parsing and re-writing it gives the same bytes. Any other
 * is parsed, and a caller that hands us something unparsable still gets it recorded, as a string,
 * rather than losing it. A line break would split the line: never written as it is. */
static int put_measures(audit_log *a, const char *text, int verbatim)
{
    if (!text)
        return JB_LIT(&a->b, "null");
    size_t n = strlen(text);
    if (verbatim && n && !memchr(text, '\n', n) && !memchr(text, '\r', n))
        return jb_put(&a->b, text, n);
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j)
        return jb_str(&a->b, text);
    int rc = jb_json(&a->b, j);
    json_decref(j);
    return rc;
}

/* A key escaped as a value is (jansson would refuse one that is not UTF-8: the entry lost). */
static void set_sanitized(json_t *o, const char *key, json_t *v)
{
    if (sanitize_is_clean(key, strlen(key), SANITIZE_KEEP_C0)) {
        json_object_set_new(o, key, v);
        return;
    }
    char *k = sanitize_dup(key, SANITIZE_KEEP_C0);
    if (k)
        json_object_set_new(o, k, v);
    else
        json_decref(v);
    free(k);
}

/* The params given as pairs: an object of strings, keys and values escaped alike. A key given
 * twice keeps its first place and its last value, as a jansson object would; that rare case is
 * left to jansson. */
static int put_kv(audit_log *a, const audit_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (kv[i].key && kv[k].key && strcmp(kv[i].key, kv[k].key) == 0) {
                json_t *o = json_object();
                for (size_t m = 0; o && m < n; m++)
                    if (kv[m].key)
                        set_sanitized(o, kv[m].key, sanitize_json_str(kv[m].value));
                int rc = o ? jb_json(&a->b, o) : -1;
                json_decref(o);
                return rc;
            }
    if (JB_LIT(&a->b, "{"))
        return -1;
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key)
            continue;
        if ((!first && JB_LIT(&a->b, ",")) || jb_str(&a->b, kv[i].key) || JB_LIT(&a->b, ":") ||
            jb_str(&a->b, kv[i].value))
            return -1;
        first = 0;
    }
    return JB_LIT(&a->b, "}");
}

/* One whole line (with its '\n') at the end of a->b.buf; on failure nothing of it stays. */
static int format_locked(audit_log *a, const audit_rec *r)
{
    char when[48];
    rfc3339_now(when, sizeof when);
    size_t start = a->b.len;
    /* the heal id as jansson writes its (signed) integer: the text readers have always seen */
    int bad = JB_LIT(&a->b, "{\"time\":\"") || jb_put(&a->b, when, strlen(when)) ||
              JB_LIT(&a->b, "\",\"heal_id\":") || jb_int(&a->b, (json_int_t)r->heal_id) ||
              JB_LIT(&a->b, ",\"plugin\":") || jb_str(&a->b, r->plugin) ||
              JB_LIT(&a->b, ",\"action\":") || jb_str(&a->b, r->action) ||
              JB_LIT(&a->b, ",\"actuator\":") || jb_str(&a->b, r->actuator) ||
              JB_LIT(&a->b, ",\"target\":") || jb_str(&a->b, r->target) ||
              JB_LIT(&a->b, ",\"params\":");
    if (!bad) {
        if (r->params)
            bad = jb_json(&a->b, r->params);
        else if (r->kv_params)
            bad = put_kv(a, r->kv, r->n_kv);
        else
            bad = JB_LIT(&a->b, "null");
    }
    bad = bad || JB_LIT(&a->b, ",\"result\":") || jb_str(&a->b, r->result) ||
          JB_LIT(&a->b, ",\"message\":") || jb_str(&a->b, r->message) ||
          JB_LIT(&a->b, ",\"before\":") || put_measures(a, r->before_json, r->measures_verbatim) ||
          JB_LIT(&a->b, ",\"after\":") || put_measures(a, r->after_json, r->measures_verbatim) ||
          (r->dry_run ? JB_LIT(&a->b, ",\"dry_run\":true}\n") : JB_LIT(&a->b, ",\"dry_run\":false}\n"));
    if (bad) {
        a->b.len = start;
        return HEALER_E_NOMEM;
    }
    a->lines++;
    return 0;
}

char *audit_format(const audit_rec *r, size_t *len)
{
    audit_log tmp;
    memset(&tmp, 0, sizeof tmp);
    if (!r || format_locked(&tmp, r) != 0) {
        free(tmp.b.buf);
        return NULL;
    }
    tmp.b.buf[tmp.b.len] = '\0'; /* put always leaves a byte spare */
    if (len)
        *len = tmp.b.len;
    return tmp.b.buf;
}

/* ---- writing ------------------------------------------------------------------------------- */

/* Writes every whole line waiting, in one write(2). A short or failed one (disk full) is cut
 * back to the end of the last line that was written whole, so no half line is left for the next
 * one to be glued to; the lines that did not make it are lost (counted, logged) and the log is
 * failing. */
static int flush_locked(audit_log *a)
{
    if (a->b.len == 0)
        return 0;
    size_t n = a->b.len, lines = a->lines;
    a->b.len = 0;
    a->lines = 0;
    int rc = 0;
    ssize_t w;
    do
        w = write(a->fd, a->b.buf, n);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)n) {
        int e = w < 0 ? errno : ENOSPC;
        size_t keep = 0, kept_lines = 0;
        for (size_t i = 0; w > 0 && i < (size_t)w; i++)
            if (a->b.buf[i] == '\n') {
                keep = i + 1;
                kept_lines++;
            }
        if (w > 0 && keep < (size_t)w) {
            /* O_APPEND: the w bytes just written end the file. Its size is read only now, on
             * this rare path, so the usual line costs no fstat. */
            struct stat st;
            if (fstat(a->fd, &st) != 0 || st.st_size < (off_t)w ||
                ftruncate(a->fd, st.st_size - (off_t)w + (off_t)keep) != 0)
                log_error("audit", "%s: cannot cut off a partly written line: %s", a->path,
                          strerror(errno));
        }
        log_error("audit", "%s: %zu of %zu line(s) not written: %s", a->path,
                  lines - kept_lines, lines, strerror(e));
        set_failing_locked(a, e);
        rc = HEALER_E_IO;
    } else if (a->failing) {
        set_ok_locked(a);
    }
    a->dirty = 1;
    if (mono_now() - a->last_sync >= 1.0)
        sync_locked(a);
    return rc;
}

int audit_append(audit_log *a, const audit_rec *r)
{
    if (!a || !r)
        return HEALER_E_INVAL;
    pthread_mutex_lock(&a->mu);
    /* Deferred lines (records already made) go in the same write, before this one. */
    int rc = format_locked(a, r);
    if (rc == 0)
        rc = flush_locked(a);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int audit_defer(audit_log *a, const audit_rec *r)
{
    if (!a || !r)
        return HEALER_E_INVAL;
    pthread_mutex_lock(&a->mu);
    int rc = format_locked(a, r);
    if (rc == 0 && a->b.len >= AUDIT_BATCH)
        rc = flush_locked(a);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int audit_flush(audit_log *a)
{
    if (!a)
        return HEALER_E_INVAL;
    pthread_mutex_lock(&a->mu);
    int rc = a->b.len ? flush_locked(a) : 0;
    pthread_mutex_unlock(&a->mu);
    return rc;
}
