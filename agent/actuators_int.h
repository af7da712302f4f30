/* actuators_int.h — what the actuators_*.c files share and nobody else sees: the actuators'
 * state, the small path and message helpers, the protection check and finish(), where every
 * call ends with its audit line. */
#ifndef AGENT_ACTUATORS_INT_H
#define AGENT_ACTUATORS_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "actuators.h"

struct actuators {
    char *proc_root, *sys_root, *state_dir, *scope_cgroup;
    char **protect_names;
    size_t n_protect_names;
    unsigned protect_min_uid, protect_max_uid;   /* the login range */
    uid_t *scope_uids;
    size_t n_scope_uids;
    pid_t self;
    pid_t *ancestors;      /* the agent's parent chain up to PID 1, computed once */
    size_t n_ancestors;
    int dry_run;           /* read and written with __atomic: set from the reload thread */
    audit_log *audit;
    undo_journal *undo;    /* borrowed; NULL: nothing is journaled */
    struct changelog *changes; /* borrowed; NULL: no change log */
    uint64_t deletions_max_bytes; /* agent.backup_deletions_max_mb in bytes; 0: no copies */
};

extern const act_context no_context;

double mono_now(void);
void sleep_ms(int ms);
void setmsg(char *m, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A string for a JSON value: jansson refuses invalid UTF-8, a file name may be anything. */
json_t *jstr(const char *s);
/* A value for a message: at most 60 bytes, non-printables as '?'. */
void printable(const char *s, char *out, size_t len);
int is_under(const char *path, const char *root);
int pidfd_open_(pid_t pid);
/* Opens dir (following symlinks in its path: the result is checked by its real path) and
 * returns the fd and its real path. */
int open_dir_real(const char *dir, int *fd_out, char *real, size_t len);
int real_of(const char *path, char *out, size_t len);
/* Reads a whole file relative to dirfd into a malloc'd, NUL-terminated buffer (at most cap
 * bytes). NULL with errno on failure. */
char *slurp_at(int dirfd, const char *name, size_t cap, size_t *len_out);
/* The configured mode (dry-run or live), what a reload sets. */
int is_dry_config(actuators *a);
/* Whether this change must only be reported: the configured dry-run, the plugin's own mode
 * (c->dry_run; c may be NULL), or an audit log that
 * cannot take the line that would record it (audit_ready). Call it right before the change. */
int is_dry(actuators *a, const act_context *c);
/* The same for a change that only gives something back (SIGCONT, a thaw, a renice towards more
 * priority): only the configured dry-run (the agent's or the plugin's mode) holds it. A failing
 * audit log stops new changes, never the release of a process the agent stopped (its line is
 * still attempted; a failure is logged). */
int is_dry_release(actuators *a, const act_context *c);
/* Every actuator call ends here: the message goes to the caller and one line to the audit
 * log, whatever the outcome. Takes params. */
int finish(actuators *a, const act_context *c, const char *actuator, const char *target,
           json_t *params, int rc, const char *m, char *msg, size_t len);
/* HEALER_OK, or the refusal (protected, out of scope) with the reason in m. system_denied:
 * the action asked for SYSTEM and plugins.<plugin>.allow_system said no (named in m). */
int check_allowed(actuators *a, const healer_proc *p, int allow_system, int system_denied,
                  const char *plugin, char *m, size_t ml);

/* The undo journal's side of each actuator (actuators_undo.c). undo_before journals e (plugin,
 * heal and issue from c) right before the change and notes the outcome in params; a failure
 * to journal is logged and never blocks the change (it may be an emergency). undo_failed:
 * the change was not made, so the entry it created goes. undo_inverse: the change described by
 * inv (SIGCONT of pid+start, thaw of path, renice to nice_before, write of prior to path) was
 * made: the entries it gives back are cleared. */
typedef struct undo_tok {
    uint64_t id;
    int created;
} undo_tok;
void undo_before(actuators *a, const act_context *c, undo_entry *e, undo_tok *t, json_t *params);
void undo_failed(actuators *a, undo_tok *t);
void undo_inverse(actuators *a, const undo_entry *inv);
/* The change log's side (actuators_changes.c): a change that was made (rc HEALER_OK, not a
 * preview, not a probe) is recorded from its audit params, with what undoes it or why nothing
 * can; the record's id goes into params as "change". A reversal (c->reverses) marks the change
 * it reverses undone. Called by finish() before the audit line. */
void changes_note(actuators *a, const act_context *c, const char *actuator, const char *target,
                  json_t *params, int rc);
/* A written value's fingerprint for "changed since?": FNV-1a 64 of the text without trailing
 * white space, as 16 hex digits. */
void changes_hash(const char *s, size_t n, char out[17]);
/* A Nix profile's generation (PROFILE -> PROFILE-N-link, one readlink), -1 when not one. */
int changes_profile_gen(const char *profile);
/* Before and after a command runs: a nix-env generation switch of a named profile gets
 * "profile" and "generation_before" (and after it "generation_after") in its params, so its
 * change record knows the generation to switch back to. */
void changes_run_before(const char *const argv[], json_t *params);
void changes_run_after(json_t *params);

/* 1 when the content of a file shows the same value (trailing white space ignored). */
int undo_same_value(const char *x, const char *y);

#endif
