/* changelog.h — the change log, state_dir/changes.jsonl: every change an actuator made, with what
 * undoes it (prior nice, backup path and the written content's hash, SIGCONT for a SIGSTOP, thaw
 * for a freeze) or why nothing can (a killed process, a command), tied to its heal. History, not
 * crash recovery: the undo journal (undo.h) forgets an entry once it is given back; this keeps
 * it for `healctl undo` / `restore --to` (pitr.c). Bounded by age and size; thread-safe. */
#ifndef AGENT_CHANGELOG_H
#define AGENT_CHANGELOG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define CHANGELOG_FILE "changes.jsonl"
#define CHANGELOG_MAX_BYTES ((size_t)4 << 20)      /* the file's bound: 4 MiB */
#define CHANGELOG_MAX_AGE_S (30.0 * 86400)         /* records older than 30 days go */

typedef struct changelog changelog;

/* Opens (creates 0600, never through a symlink) state_dir/changes.jsonl and reads it. A torn or
 * damaged line (checksum) is logged with FILE:LINE and ignored; the file is then rewritten
 * without it. Records past max_age_s or beyond max_bytes (oldest first) are dropped. NULL with
 * the reason in err. */
changelog *changelog_open(const char *state_dir, size_t max_bytes, double max_age_s, char *err,
                          size_t errlen);
void changelog_close(changelog *l);

/* Appends rec (borrowed; "id" and "time" are set here) and syncs it before returning. The new
 * id (> 0), or 0 when it could not be written (logged). */
uint64_t changelog_add(changelog *l, json_t *rec);
/* Marks change id undone by change by (the reversal's own record), synced; a change marked
 * already keeps its first mark. 0 or -1. */
int changelog_mark_undone(changelog *l, uint64_t id, uint64_t by);
/* The records of heal_id (when > 0), else those made at or after since: deep copies, oldest
 * first, each with "undone_by" once undone. A new array. */
json_t *changelog_select(changelog *l, uint64_t heal_id, double since);
size_t changelog_count(changelog *l);
size_t changelog_file_bytes(changelog *l);
const char *changelog_path(const changelog *l);

#endif
