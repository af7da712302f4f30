/* audit.c — state_dir/audit.jsonl: one JSON object per line for every action executed,
 * refused or dry-run. Owns the file, the line format (built with jansson, never by hand) and
 * the durability policy (one write(2) per line under a mutex, fdatasync at most once a second). */
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

struct audit_log {
    pthread_mutex_t mu;
    int fd;
    int dirty;             /* lines written since the last fdatasync */
    double last_sync;      /* CLOCK_MONOTONIC seconds of the last fdatasync */
    char path[PATH_MAX];
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* mkdir -p with the given mode for every missing component. */
static int mkdir_p(const char *dir, mode_t mode, char *err, size_t errlen)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) {
        snprintf(err, errlen, "audit: state_dir '%s': empty or too long", dir);
        return -1;
    }
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, mode) < 0 && errno != EEXIST) {
                snprintf(err, errlen, "audit: mkdir %s: %s", buf, strerror(errno));
                return -1;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "audit: state_dir %s is not a directory", dir);
        return -1;
    }
    return 0;
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
    if (mkdir_p(state_dir, 0750, err, errlen) < 0)
        return NULL;
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
    /* O_APPEND: every write lands at the end even with another writer on the file, so a line
     * is never interleaved with another. */
    a->fd = open(a->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (a->fd < 0) {
        snprintf(err, errlen, "audit: open %s: %s", a->path, strerror(errno));
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
    int fd = open(a->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return HEALER_E_IO;
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
    /* One write(2) for the whole line; the loop only finishes a short write (disk full,
     * signal), still under the mutex so our own lines never interleave. */
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(a->fd, line + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = HEALER_E_IO;
            break;
        }
        off += (size_t)w;
    }
    a->dirty = 1;
    if (mono_now() - a->last_sync >= 1.0)
        sync_locked(a);
    pthread_mutex_unlock(&a->mu);
    free(line);
    return rc;
}
