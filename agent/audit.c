/* audit.c — state_dir/audit.jsonl: one JSON object per line for every action executed,
 * refused or dry-run. Owns the file (opened by descriptor, never through a link), the line
 * format (built with jansson, never by hand), the durability policy (one write(2) per line under
 * a mutex, cut back on failure, fdatasync at most once a second) and the "failing" state in
 * which the actuators change nothing. */
#include "audit.h"
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

struct audit_log {
    pthread_mutex_t mu;
    int fd;
    int dfd;               /* the state directory: audit.jsonl is reopened relative to it */
    int failing;           /* the last write or reservation failed: actuators change nothing */
    int err;               /* its errno */
    metrics *m;
    int dirty;             /* lines written since the last fdatasync */
    double last_sync;      /* CLOCK_MONOTONIC seconds of the last fdatasync */
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
    int rc = 0;
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
    sync_locked(a);
    close(a->fd);
    a->fd = -1;
    close(a->dfd);
    a->dfd = -1;
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* RFC 3339, UTC, milliseconds: 2024-05-01T12:00:00.123Z */
static void rfc3339_now(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%.24s.%03dZ", base, (int)((ts.tv_nsec / 1000000L) % 1000));
}

static json_t *str_or_null(const char *s)
{
    /* Not UTF-8 or with control bytes (a file name, a process name, a command's output):
     * escaped by the sanitizer, never dropped (jansson refuses invalid UTF-8). */
    return sanitize_json_str((const char *)s);
}

/* The measurements are JSON text; a caller that hands us something unparsable still gets
 * it recorded, as a string, rather than losing it. */
static json_t *parse_or_string(const char *text)
{
    if (!text)
        return json_null();
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    return j ? j : str_or_null(text);
}

int audit_append(audit_log *a, const audit_rec *r)
{
    if (!a || !r)
        return HEALER_E_INVAL;
    char when[48];
    rfc3339_now(when, sizeof when);

    json_t *o = json_object();
    if (!o)
        return HEALER_E_NOMEM;
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "heal_id", json_integer((json_int_t)r->heal_id));
    json_object_set_new(o, "plugin", str_or_null(r->plugin));
    json_object_set_new(o, "action", str_or_null(r->action));
    json_object_set_new(o, "actuator", str_or_null(r->actuator));
    json_object_set_new(o, "target", str_or_null(r->target));
    json_object_set(o, "params", r->params ? r->params : json_null());
    json_object_set_new(o, "result", str_or_null(r->result));
    json_object_set_new(o, "message", str_or_null(r->message));
    json_object_set_new(o, "before", parse_or_string(r->before_json));
    json_object_set_new(o, "after", parse_or_string(r->after_json));
    json_object_set_new(o, "dry_run", json_boolean(r->dry_run));

    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        return HEALER_E_NOMEM;
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return HEALER_E_NOMEM;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    n++;

    int rc = 0;
    pthread_mutex_lock(&a->mu);
    /* One write(2) for the whole line. A short or failed one (disk full) is cut back to where
     * the file ended, so no half line is left for the next one to be glued to. */
    struct stat st;
    off_t before = fstat(a->fd, &st) == 0 ? st.st_size : -1;
    ssize_t w;
    do
        w = write(a->fd, line, n);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)n) {
        int e = w < 0 ? errno : ENOSPC;
        if (w > 0 && (before < 0 || ftruncate(a->fd, before) != 0))
            log_error("audit", "%s: cannot cut off a partly written line: %s", a->path,
                      before < 0 ? "its length is unknown" : strerror(errno));
        set_failing_locked(a, e);
        rc = HEALER_E_IO;
    } else if (a->failing) {
        set_ok_locked(a);
    }
    a->dirty = 1;
    if (mono_now() - a->last_sync >= 1.0)
        sync_locked(a);
    pthread_mutex_unlock(&a->mu);
    free(line);
    return rc;
}
