/* changelog.c — the change log's file and its records in memory. One record per line,
 * "CRC32HEX JSON\n" as in the undo journal, so a line torn by a crash is recognised and skipped,
 * never half-read: {"t":"c",...} a change, {"t":"u","id":N,"by":M} change N undone by M. Every
 * line is fdatasync'd before the call returns; pruning (age, size) rewrites the file through a
 * temporary file and a rename, so a crash leaves the old file or the new one. */
#include "changelog.h"
#include "jsonl.h"

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

/* One line, synced (jsonl.c: a failed write is cut back). */
static int append(changelog *l, json_t *o)
{
    if (jsonl_append(l->fd, l->path, WHO, o, &l->file_bytes, NULL) < 0) {
        if (errno == EINVAL)
            log_error(WHO, "%s: cannot encode a record", l->path);
        else
            log_error(WHO, "%s: %s: the change is made but not in the log", l->path,
                      strerror(errno));
        return -1;
    }
    return 0;
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
static int apply_line(void *ud, const char *line, size_t n, const char **why)
{
    changelog *l = ud;
    json_t *o = jsonl_parse(line, n, why);
    if (!o)
        return -1;
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
    return jsonl_load(l->fd, l->path, WHO, READ_MAX, &l->file_bytes, apply_line, l, err, errlen);
}

/* Record i as it is rewritten: a change with its undone mark folded in. */
static json_t *rewrite_record(void *ud, size_t i)
{
    changelog *l = ud;
    json_t *o = json_deep_copy(json_array_get(l->recs, i));
    json_object_set_new(o, "t", json_string("c"));
    return o;
}

/* Rewrites the file with the records in memory (undone marks folded in). */
static int rewrite(changelog *l)
{
    size_t total = 0;
    int fd = jsonl_rewrite(l->dfd, l->dir, CHANGELOG_FILE, WHO, json_array_size(l->recs),
                           rewrite_record, l, &total);
    if (fd < 0)
        return -1;
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
    if (r && json_object_get(r, "undone_by")) {
        rc = 0;   /* the first reversal is the one (a switch back and its activation are two) */
    } else if (r) {
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
