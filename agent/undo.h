/* undo.h — the undo journal, state_dir/undo.journal: what the agent changed and must give back
 * (a stopped process, a frozen cgroup, a nice value, a procfs/sysfs value), written and synced
 * before the change, so a crash, a watchdog abort or kill -9 cannot leave it changed for good.
 * This module owns the file and the list of outstanding entries; what is journaled, cleared and
 * replayed is the actuators' policy (actuators_undo.c). Thread-safe. */
#ifndef AGENT_UNDO_H
#define AGENT_UNDO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "metrics.h"

#define UNDO_FILE "undo.journal"

typedef enum undo_kind {
    UNDO_STOP = 1,      /* SIGSTOP of (pid, start): undone by SIGCONT of that same process */
    UNDO_FREEZE,        /* cgroup frozen (path): undone by thawing it */
    UNDO_RENICE,        /* (pid, start) reniced nice_before -> nice_after: undone by renicing back */
    UNDO_WRITE          /* path held prior before we wrote value: write prior back */
} undo_kind;

typedef struct undo_entry {
    uint64_t id;                 /* > 0, increasing; set by undo_add */
    undo_kind kind;
    char *plugin;                /* who made the change */
    uint64_t heal_id, issue_id;  /* 0 outside a heal / an issue */
    double time;                 /* when, seconds since the epoch */
    int allow_system;            /* the change was allowed on system processes */
    pid_t pid;                   /* STOP, RENICE; WRITE under proc_root/PID (else 0) */
    uint64_t start_time;
    char *name;                  /* the process's name, for messages */
    int nice_before, nice_after; /* RENICE */
    char *path;                  /* FREEZE: the cgroup's real path; WRITE: the file's */
    char *prior;                 /* WRITE: the content before */
    char *value;                 /* WRITE: what was written */
} undo_entry;

typedef struct undo_journal undo_journal;

/* Opens state_dir/undo.journal (created 0600; never through a symlink: O_NOFOLLOW) and reads
 * the outstanding entries. A torn last line (a crash mid-write) or a line whose checksum does
 * not match is logged and ignored, never parsed; then the file is rewritten without it. NULL
 * with the reason in err when the file cannot be opened or is not a regular file. */
undo_journal *undo_open(const char *state_dir, char *err, size_t errlen);
void undo_close(undo_journal *j);
/* Keeps NS_undo_journal_entries up to date from now on (m may be NULL). */
void undo_set_metrics(undo_journal *j, metrics *m);
size_t undo_outstanding(undo_journal *j);
const char *undo_path(const undo_journal *j);

/* Journals e (copied; e->id is ignored) and syncs it to disk before returning. Returns 1 and
 * the new id in *id; 0 when an outstanding entry already covers the same change (same kind and
 * process, or same path): the oldest one holds the state to go back to, and its id is in *id;
 * -1 when it could not be written (reason in err; nothing is journaled). */
int undo_add(undo_journal *j, const undo_entry *e, uint64_t *id, char *err, size_t errlen);
/* Clears these entries (unknown ids are skipped) with one synced line; compacts the file when
 * nothing is outstanding any more or it has grown past its bound. Returns how many it cleared. */
size_t undo_clear(undo_journal *j, const uint64_t *ids, size_t n);
/* The outstanding entries, oldest first: a deep copy the caller frees with undo_entries_free. */
size_t undo_snapshot(undo_journal *j, undo_entry **out);
void undo_entries_free(undo_entry *v, size_t n);
/* Clears everything and truncates the file (after a replay). 0 or -1. */
int undo_reset(undo_journal *j);
/* Rewrites the file with only the outstanding entries: a temporary file, fsync, rename, fsync
 * of the directory. On failure the old file stays in use and nothing is lost. 0 or -1. */
int undo_compact(undo_journal *j);
/* Bytes in the file now (for tests and the compaction bound). */
size_t undo_file_bytes(undo_journal *j);

const char *undo_kind_name(undo_kind k);

#endif
