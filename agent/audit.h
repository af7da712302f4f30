/* audit.h — state_dir/audit.jsonl: one JSON object per line for every action executed or
 * dry-run. Lines are written whole or not at all (O_APPEND writes of whole lines, cut back to the
 * last whole line when one fails) and fdatasync'd at least once a second. Thread-safe. */
#ifndef AGENT_AUDIT_H
#define AGENT_AUDIT_H

#include <stdint.h>
#include <jansson.h>

typedef struct audit_log audit_log;
struct metrics;

typedef struct audit_kv { const char *key; const char *value; } audit_kv;

typedef struct audit_rec {
    uint64_t heal_id;          /* 0 when not part of a heal */
    const char *plugin;
    const char *action;        /* the plan's action, or the actuator ("signal", "renice") */
    const char *actuator;      /* NULL for a whole action's line */
    const char *target;
    json_t *params;            /* borrowed; object or NULL */
    const char *result;        /* "ok", "dry_run", "refused", "failed", "healed", ... */
    const char *message;
    const char *before_json;   /* JSON text of measurements before, or NULL */
    const char *after_json;    /* after, or NULL */
    int dry_run;
    /* before_json and after_json are the agent's own compact JSON (msg_measures_json): written
     * as they are rather than parsed and written again (same bytes, a fifth of the cost). */
    int measures_verbatim;
    /* With params NULL: the params are the n_kv pairs of kv, an object of strings ({} when n_kv
     * is 0), written without building a jansson object. */
    int kv_params;
    const audit_kv *kv;
    size_t n_kv;
} audit_rec;

/* Opens (creating it 0700 if absent) and checks the state directory (statedir.h), then
 * audit.jsonl in it without following a link. NULL with err when either is refused. */
audit_log *audit_open(const char *state_dir, char *err, size_t errlen);
/* Before a change: 1 when room for its line is reserved (or the file system cannot reserve and
 * the last write succeeded); 0 (why says so) while the log cannot be written — the caller then
 * changes nothing. Only a line written ends the failing state (the refusals' lines are). */
int audit_ready(audit_log *a, char *why, size_t len);
/* 1 while the last write or reservation failed (for /api/v1/status). */
int audit_failing(audit_log *a);
/* Counts failures in audit_failures_total and the state in the audit_failing gauge. */
void audit_set_metrics(audit_log *a, struct metrics *m);
void audit_close(audit_log *a);
/* Adds "time" (RFC 3339 with ms, UTC) and writes one line, whole or not at all, now (with the
 * deferred lines before it, in the same write). 0 or HEALER_E_IO (the log is then failing until a
 * write succeeds). An actuator's line before or about a change is always written this way. */
int audit_append(audit_log *a, const audit_rec *r);
/* Makes the line now (its time is now) and keeps it to be written with the next line, at
 * audit_flush, audit_sync, audit_reopen or audit_close, or once 64 KiB wait. Only for records of
 * what is already over (the engine's line per action, written when its result is known): the
 * caller flushes before it waits for anything. 0, or an error of the write it caused. */
int audit_defer(audit_log *a, const audit_rec *r);
/* Writes the deferred lines in one write(2), whole lines or none of a line (cut back when short). */
int audit_flush(audit_log *a);
/* The line audit_append would write for r (with its '\n'), malloc'd; for tests. */
char *audit_format(const audit_rec *r, size_t *len);
int audit_sync(audit_log *a);
/* Closes and reopens audit.jsonl by name (after logrotate moved it; SIGHUP does this). The old
 * file is synced first; if the new one cannot be opened the old stays in use. */
int audit_reopen(audit_log *a);

/* audit_read.c: the lines of heal_id in state_dir/audit.jsonl, oldest first, searched in the
 * file's last scan_max bytes and at most max of them (the newest); *truncated set when either
 * bound cut something off. A new JSON array, or NULL with why (no file, not readable). */
json_t *audit_heal_lines(const char *state_dir, uint64_t heal_id, size_t max, size_t scan_max,
                         int *truncated, char *why, size_t whylen);

#endif
