/* audit.h — state_dir/audit.jsonl: one JSON object per line for every action executed or
 * dry-run. Lines are written with one O_APPEND write each (a crash never leaves half a line
 * from another writer) and fdatasync'd at least once a second. Thread-safe. */
#ifndef AGENT_AUDIT_H
#define AGENT_AUDIT_H

#include <stdint.h>
#include <jansson.h>

typedef struct audit_log audit_log;

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
} audit_rec;

audit_log *audit_open(const char *state_dir, char *err, size_t errlen);
void audit_close(audit_log *a);
/* Adds "time" (RFC 3339 with ms, UTC) and writes one line. 0 or HEALER_E_IO. */
int audit_append(audit_log *a, const audit_rec *r);
int audit_sync(audit_log *a);
/* Closes and reopens audit.jsonl by name (after logrotate moved it; SIGHUP does this). The old
 * file is synced first; if the new one cannot be opened the old stays in use. */
int audit_reopen(audit_log *a);

#endif
