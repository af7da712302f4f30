/* undo.c — the undo journal's file and its outstanding entries. One record per line:
 * "CRC32HEX JSON\n", the checksum over the JSON text, so a line torn by a crash or damaged on
 * disk is recognised and skipped, never half-read. Records: add (an entry) and clear (ids).
 * Every record is fdatasync'd before the call
 * returns; compaction rewrites the file through a temporary file and a rename. */
#include "undo.h"
#include "jsonl.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "statedir.h"

#define WHO "undo journal"
/* Compaction bound: the file is rewritten when it grows past this and twice what is live. */
#define UNDO_COMPACT_BYTES (64u * 1024u)
#define UNDO_READ_MAX ((size_t)64 << 20)

struct undo_journal {
    pthread_mutex_t mu;
    char *dir, *path;
    int fd;
    int dfd;                /* the state directory: the journal and its compaction by name in it */
    undo_entry *v;          /* outstanding, oldest first */
    size_t n, cap;
    uint64_t next_id;
    size_t file_bytes;      /* what the file holds now */
    size_t live_bytes;      /* what a compacted file would hold (estimate) */
    metrics *m;
};

static const char *const kind_names[] = { NULL, "stop", "freeze", "renice", "write" };

const char *undo_kind_name(undo_kind k)
{
    return k >= UNDO_STOP && k <= UNDO_WRITE ? kind_names[k] : "?";
}

static undo_kind kind_parse(const char *s)
{
    for (int k = UNDO_STOP; s && k <= UNDO_WRITE; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return (undo_kind)k;
    return 0;
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

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void entry_release(undo_entry *e)
{
    free(e->plugin);
    free(e->name);
    free(e->path);
    free(e->prior);
    free(e->value);
    memset(e, 0, sizeof *e);
}

static int entry_copy(undo_entry *dst, const undo_entry *src)
{
    *dst = *src;
    dst->plugin = strdup(src->plugin ? src->plugin : "agent");
    dst->name = dup_or_null(src->name);
    dst->path = dup_or_null(src->path);
    dst->prior = dup_or_null(src->prior);
    dst->value = dup_or_null(src->value);
    if (!dst->plugin || (src->name && !dst->name) || (src->path && !dst->path) ||
        (src->prior && !dst->prior) || (src->value && !dst->value)) {
        entry_release(dst);
        return -1;
    }
    return 0;
}

void undo_entries_free(undo_entry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        entry_release(&v[i]);
    free(v);
}

/* ---- records ------------------------------------------------------------------------------- */

/* jansson refuses a string that is not UTF-8: then the entry cannot be written faithfully. */
static int set_str(json_t *o, const char *key, const char *s)
{
    if (!s)
        return 0;
    json_t *v = json_string(s);
    if (!v)
        return -1;
    json_object_set_new(o, key, v);
    return 0;
}

static json_t *add_record(const undo_entry *e)
{
    json_t *o = json_pack("{s:i, s:s, s:I, s:s, s:s, s:I, s:I, s:f, s:b}", "v", 1, "op", "add",
                          "id", (json_int_t)e->id, "kind", undo_kind_name(e->kind), "plugin",
                          e->plugin ? e->plugin : "agent", "heal", (json_int_t)e->heal_id,
                          "issue", (json_int_t)e->issue_id, "time", e->time, "allow_system",
                          e->allow_system != 0);
    if (!o)
        return NULL;
    if (e->pid > 0) {
        json_object_set_new(o, "pid", json_integer(e->pid));
        json_object_set_new(o, "start", json_integer((json_int_t)e->start_time));
    }
    if (e->kind == UNDO_RENICE) {
        json_object_set_new(o, "nice_before", json_integer(e->nice_before));
        json_object_set_new(o, "nice_after", json_integer(e->nice_after));
    }
    if (set_str(o, "name", e->name) < 0 || set_str(o, "path", e->path) < 0 ||
        set_str(o, "prior", e->prior) < 0 || set_str(o, "value", e->value) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static char *dup_json_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

/* A decoded add record, or -1 with the reason when it lacks what its kind needs. */
static int parse_add(json_t *o, undo_entry *e, const char **why)
{
    memset(e, 0, sizeof *e);
    json_t *id = json_object_get(o, "id");
    e->kind = kind_parse(json_string_value(json_object_get(o, "kind")));
    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
        *why = "no id";
        return -1;
    }
    if (!e->kind) {
        *why = "unknown kind";
        return -1;
    }
    e->id = (uint64_t)json_integer_value(id);
    e->plugin = dup_json_str(o, "plugin");
    e->heal_id = (uint64_t)json_integer_value(json_object_get(o, "heal"));
    e->issue_id = (uint64_t)json_integer_value(json_object_get(o, "issue"));
    e->time = json_number_value(json_object_get(o, "time"));
    e->allow_system = json_is_true(json_object_get(o, "allow_system"));
    e->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
    e->start_time = (uint64_t)json_integer_value(json_object_get(o, "start"));
    e->nice_before = (int)json_integer_value(json_object_get(o, "nice_before"));
    e->nice_after = (int)json_integer_value(json_object_get(o, "nice_after"));
    e->name = dup_json_str(o, "name");
    e->path = dup_json_str(o, "path");
    e->prior = dup_json_str(o, "prior");
    e->value = dup_json_str(o, "value");
    const char *missing = NULL;
    if (!e->plugin)
        missing = "no plugin";
    else if ((e->kind == UNDO_STOP || e->kind == UNDO_RENICE) && (e->pid <= 0 || !e->start_time))
        missing = "no pid and start time";
    else if ((e->kind == UNDO_FREEZE || e->kind == UNDO_WRITE) && (!e->path || e->path[0] != '/'))
        missing = "no absolute path";
    else if (e->kind == UNDO_WRITE && (!e->prior || !e->value))
        missing = "no prior content or value";
    if (missing) {
        *why = missing;
        entry_release(e);
        return -1;
    }
    return 0;
}

/* Appends one record and syncs it (jsonl.c: a failed write is cut off again). Takes o. */
static int append(undo_journal *j, json_t *o, size_t *bytes, char *err, size_t errlen)
{
    int rc = jsonl_append(j->fd, j->path, WHO, o, &j->file_bytes, bytes);
    int e = errno;
    json_decref(o);
    if (rc < 0 && e == EINVAL)
        seterr(err, errlen, "%s: cannot encode the record (out of memory or not UTF-8)", j->path);
    else if (rc < 0)
        seterr(err, errlen, "%s: %s", j->path, strerror(e));
    return rc;
}

/* The bytes e takes in a compacted file. */
static size_t record_bytes(const undo_entry *e)
{
    json_t *o = add_record(e);
    size_t n = 0;
    char *line = jsonl_line(o, &n);
    json_decref(o);
    free(line);
    return n;
}

static void update_gauge(undo_journal *j)
{
    if (j->m)
        metrics_gauge_set(j->m, "undo_journal_entries",
                          "Changes the agent made and has not given back yet (undo journal "
                          "entries outstanding)", NULL, 0, (double)j->n);
}

static ssize_t find_id(undo_journal *j, uint64_t id)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->v[i].id == id)
            return (ssize_t)i;
    return -1;
}

static int push(undo_journal *j, undo_entry *e)
{
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 16;
        undo_entry *nv = realloc(j->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        j->v = nv;
        j->cap = cap;
    }
    j->v[j->n++] = *e;
    return 0;
}

static void remove_at(undo_journal *j, size_t i)
{
    entry_release(&j->v[i]);
    memmove(j->v + i, j->v + i + 1, (j->n - i - 1) * sizeof *j->v);
    j->n--;
}

/* ---- reading ------------------------------------------------------------------------------- */

/* Applies one line; 0, or -1 with the reason (the line is then ignored). */
static int apply_line(void *ud, const char *line, size_t n, const char **why)
{
    undo_journal *j = ud;
    json_t *o = jsonl_parse(line, n, why);
    if (!o)
        return -1;
    const char *op = json_string_value(json_object_get(o, "op"));
    int rc = 0;
    if (json_integer_value(json_object_get(o, "v")) != 1) {
        *why = "unknown record version";
        rc = -1;
    } else if (op && strcmp(op, "add") == 0) {
        undo_entry e;
        if (parse_add(o, &e, why) < 0) {
            rc = -1;
        } else if (find_id(j, e.id) >= 0) {
            entry_release(&e);   /* a compaction that crashed after the rename: same entry */
        } else {
            if (e.id >= j->next_id)
                j->next_id = e.id + 1;
            if (push(j, &e) < 0) {
                entry_release(&e);
                *why = "out of memory";
                rc = -1;
            } else {
                j->live_bytes += n + 1;
            }
        }
    } else if (op && strcmp(op, "clear") == 0) {
        size_t i;
        json_t *id;
        json_array_foreach(json_object_get(o, "ids"), i, id) {
            ssize_t k = find_id(j, (uint64_t)json_integer_value(id));
            if (k >= 0) {
                size_t b = record_bytes(&j->v[k]);
                j->live_bytes = j->live_bytes > b ? j->live_bytes - b : 0;
                remove_at(j, (size_t)k);
            }
            uint64_t v = (uint64_t)json_integer_value(id);
            if (v >= j->next_id)
                j->next_id = v + 1;
        }
    } else {
        *why = "unknown record";
        rc = -1;
    }
    json_decref(o);
    return rc;
}

/* Reads the whole file; returns how many lines were ignored, or -1 on a read error. */
static int load(undo_journal *j, char *err, size_t errlen)
{
    return jsonl_load(j->fd, j->path, WHO, UNDO_READ_MAX, &j->file_bytes, apply_line, j, err,
                      errlen);
}

undo_journal *undo_open(const char *state_dir, char *err, size_t errlen)
{
    if (!state_dir || !*state_dir) {
        seterr(err, errlen, "no state_dir for the undo journal");
        return NULL;
    }
    undo_journal *j = calloc(1, sizeof *j);
    if (!j) {
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&j->mu, NULL);
    j->fd = -1;
    j->dfd = -1;
    j->next_id = 1;
    j->dir = strdup(state_dir);
    size_t pl = strlen(state_dir) + sizeof UNDO_FILE + 2;
    j->path = malloc(pl);
    if (!j->dir || !j->path) {
        seterr(err, errlen, "out of memory");
        undo_close(j);
        return NULL;
    }
    snprintf(j->path, pl, "%s/%s", state_dir, UNDO_FILE);
    /* Never through a symlink: whoever could plant one could point the agent's writes (and
     * what it later replays) at another file. */
    char why[PATH_MAX + 300];
    j->dfd = statedir_open(state_dir, why, sizeof why);
    if (j->dfd >= 0)
        j->fd = statedir_openat(j->dfd, state_dir, UNDO_FILE, O_RDWR | O_CREAT | O_APPEND, 0600,
                                why, sizeof why);
    if (j->fd < 0) {
        seterr(err, errlen, "%s", why);
        undo_close(j);
        return NULL;
    }
    struct stat st;
    if (fstat(j->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        seterr(err, errlen, "%s: not a regular file", j->path);
        undo_close(j);
        return NULL;
    }
    if ((st.st_mode & 077) && fchmod(j->fd, 0600) < 0)
        log_warn(WHO, "%s: mode %o, cannot make it 0600: %s", j->path,
                 (unsigned)(st.st_mode & 07777), strerror(errno));
    int bad = load(j, err, errlen);
    if (bad < 0) {
        undo_close(j);
        return NULL;
    }
    /* Appending after a torn line would glue the next record onto it: rewrite first. */
    if (bad > 0 && undo_compact(j) < 0)
        log_error(WHO, "%s: cannot rewrite it without the ignored line(s); later records may be "
                  "lost at the next start", j->path);
    return j;
}

void undo_close(undo_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    if (j->dfd >= 0)
        close(j->dfd);
    undo_entries_free(j->v, j->n);
    free(j->dir);
    free(j->path);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

void undo_set_metrics(undo_journal *j, metrics *m)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    j->m = m;
    update_gauge(j);
    pthread_mutex_unlock(&j->mu);
}

size_t undo_outstanding(undo_journal *j)
{
    if (!j)
        return 0;
    pthread_mutex_lock(&j->mu);
    size_t n = j->n;
    pthread_mutex_unlock(&j->mu);
    return n;
}

const char *undo_path(const undo_journal *j)
{
    return j ? j->path : "";
}

size_t undo_file_bytes(undo_journal *j)
{
    pthread_mutex_lock(&j->mu);
    size_t n = j->file_bytes;
    pthread_mutex_unlock(&j->mu);
    return n;
}

/* ---- compaction ---------------------------------------------------------------------------- */

static json_t *compact_record(void *ud, size_t i)
{
    undo_journal *j = ud;
    return add_record(&j->v[i]);
}

static int compact_locked(undo_journal *j)
{
    size_t total = 0;
    int fd = jsonl_rewrite(j->dfd, j->dir, UNDO_FILE, WHO, j->n, compact_record, j, &total);
    if (fd < 0)
        return -1;
    close(j->fd);
    j->fd = fd;
    j->file_bytes = total;
    j->live_bytes = total;
    return 0;
}

int undo_compact(undo_journal *j)
{
    if (!j)
        return -1;
    pthread_mutex_lock(&j->mu);
    int rc = compact_locked(j);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

static void maybe_compact(undo_journal *j)
{
    if ((j->n == 0 && j->file_bytes > 0) ||
        (j->file_bytes > UNDO_COMPACT_BYTES && j->file_bytes > 2 * j->live_bytes))
        compact_locked(j);
}

/* ---- changes ------------------------------------------------------------------------------- */

static int covers(const undo_entry *a, const undo_entry *b)
{
    if (a->kind != b->kind)
        return 0;
    if (a->kind == UNDO_STOP || a->kind == UNDO_RENICE)
        return a->pid == b->pid && a->start_time == b->start_time;
    return a->path && b->path && strcmp(a->path, b->path) == 0;
}

int undo_add(undo_journal *j, const undo_entry *e, uint64_t *id, char *err, size_t errlen)
{
    if (!j || !e || !e->kind) {
        seterr(err, errlen, "undo journal: no journal or no entry");
        return -1;
    }
    pthread_mutex_lock(&j->mu);
    for (size_t i = 0; i < j->n; i++)
        if (covers(&j->v[i], e)) {
            if (id)
                *id = j->v[i].id;
            pthread_mutex_unlock(&j->mu);
            return 0;
        }
    undo_entry c;
    if (entry_copy(&c, e) < 0) {
        pthread_mutex_unlock(&j->mu);
        seterr(err, errlen, "undo journal: out of memory");
        return -1;
    }
    c.id = j->next_id++;
    if (c.time <= 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        c.time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    }
    size_t bytes = 0;
    if (append(j, add_record(&c), &bytes, err, errlen) < 0 || push(j, &c) < 0) {
        entry_release(&c);
        pthread_mutex_unlock(&j->mu);
        return -1;
    }
    j->live_bytes += bytes;
    if (id)
        *id = c.id;
    update_gauge(j);
    maybe_compact(j);
    pthread_mutex_unlock(&j->mu);
    return 1;
}

size_t undo_clear(undo_journal *j, const uint64_t *ids, size_t n)
{
    if (!j || !ids || !n)
        return 0;
    pthread_mutex_lock(&j->mu);
    json_t *arr = json_array();
    size_t cleared = 0;
    for (size_t i = 0; i < n; i++) {
        ssize_t k = find_id(j, ids[i]);
        if (k < 0)
            continue;
        size_t b = record_bytes(&j->v[k]);
        j->live_bytes = j->live_bytes > b ? j->live_bytes - b : 0;
        remove_at(j, (size_t)k);
        json_array_append_new(arr, json_integer((json_int_t)ids[i]));
        cleared++;
    }
    if (!cleared) {
        json_decref(arr);
        pthread_mutex_unlock(&j->mu);
        return 0;
    }
    char err[256];
    if (append(j, json_pack("{s:i, s:s, s:o}", "v", 1, "op", "clear", "ids", arr), NULL, err,
               sizeof err) < 0)
        /* The change was given back; at worst the next start gives it back again, which its
         * checks (same process, our value still there) turn into nothing. */
        log_error(WHO, "%s", err);
    update_gauge(j);
    maybe_compact(j);
    pthread_mutex_unlock(&j->mu);
    return cleared;
}

size_t undo_snapshot(undo_journal *j, undo_entry **out)
{
    *out = NULL;
    if (!j)
        return 0;
    pthread_mutex_lock(&j->mu);
    undo_entry *v = j->n ? calloc(j->n, sizeof *v) : NULL;
    size_t k = 0;
    for (size_t i = 0; v && i < j->n; i++)
        if (entry_copy(&v[k], &j->v[i]) == 0)
            k++;
    pthread_mutex_unlock(&j->mu);
    *out = v;
    return k;
}

int undo_reset(undo_journal *j)
{
    if (!j)
        return -1;
    pthread_mutex_lock(&j->mu);
    for (size_t i = 0; i < j->n; i++)
        entry_release(&j->v[i]);
    j->n = 0;
    int rc = compact_locked(j);
    if (rc < 0 && ftruncate(j->fd, 0) == 0 && fdatasync(j->fd) == 0) {
        j->file_bytes = 0;
        rc = 0;
    }
    update_gauge(j);
    pthread_mutex_unlock(&j->mu);
    return rc;
}
