/* actuators.h — every change the agent makes to the system goes through here: signals,
 * renice, procfs/sysfs writes, commands, removing old files, freezing cgroups. Each call checks
 * protection and scope, honours dry-run, backs up files before changing them, journals what it
 * must give back (undo.h) and appends one audit line. The host API's act_* functions are thin wrappers over these. Thread-safe: plugin
 * workers call it concurrently. */
#ifndef AGENT_ACTUATORS_H
#define AGENT_ACTUATORS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "healer/host.h"
#include "audit.h"
#include "undo.h"
#include "rules.h"

typedef struct act_config {
    int dry_run;
    const char *proc_root;                 /* "/proc" */
    const char *sys_root;                  /* "/sys" */
    const char *state_dir;                 /* backups go to state_dir/backups */
    const char *const *protect_names; size_t n_protect_names;
    unsigned protect_min_uid;              /* the login range, resolved by config.c: */
    unsigned protect_max_uid;              /* outside it a uid is a system uid (rules.h) */
    const char *scope_cgroup;              /* "" = any */
    const uid_t *scope_uids; size_t n_scope_uids;   /* 0 = any */
    undo_journal *undo;                    /* borrowed, outlives the actuators; NULL: none */
    struct changelog *changes;             /* borrowed: the change log (changelog.h); NULL: none */
    uint64_t deletions_max_bytes;          /* copies of removed files kept, at most (0: none) */
} act_config;

/* Who is acting, for checks and the audit line. Borrowed for the call. */
typedef struct act_context {
    const char *plugin;
    uint64_t heal_id;                      /* 0 outside a heal (restore, request) */
    const char *issue_type;
    const char *action;
    const char *before_json;               /* measurements that raised the issue, or NULL */
    int allow_system;                      /* action flagged HEALER_ACTION_SYSTEM, and the
                                              operator allows it (plugins.<name>.allow_system) */
    int system_denied;                     /* flagged SYSTEM, not allowed: refusals name the key */
    uint32_t action_flags;                 /* the action's HEALER_ACTION_* as the plugin set them */
    const healer_rules_policy *policy;     /* the plugin's operator policy; NULL: the agent's own
                                              call (undo replay), bound by the deny list only */
    const char *const *declared_paths; size_t n_declared_paths;
    uint64_t issue_id;                     /* the issue acted on (undo journal), or 0 */
    int dry_run;                           /* the plugin is in dry-run (plugins.<name>.mode) in a
                                              live agent: its changes only report */
    struct preview_sink *preview;          /* a pending plan's preview (dry_run is set too):
                                              each call adds what it would touch; its audit
                                              line says "preview": true in params */
    uint64_t reverses;                     /* an operator's undo (pitr.c): the change log id of
                                              the change this call reverses; once it succeeds
                                              that change is marked undone */
} act_context;

typedef struct actuators actuators;

/* Copies cfg. The agent's own pid and its ancestors are protected from here on. */
actuators *actuators_new(const act_config *cfg, audit_log *audit);
void actuators_free(actuators *a);
void actuators_set_dry_run(actuators *a, int dry_run);

/* Every function returns a healer_rc and writes a human message (what was done, what would be
 * done, or why not) into msg. */
int act_proc_read(actuators *a, pid_t pid, healer_proc *out);
/* HEALER_OK, HEALER_E_PROTECTED or HEALER_E_SCOPE (reason in msg). Protected: PID 1, kernel
 * threads, the agent and its ancestors, protect.names, oom_score_adj -1000, and system processes
 * (a uid outside the login range, nobody, DynamicUser, init.scope or system.slice: rules.h)
 * unless allow_system. Scope: outside scope.cgroup / scope.uids. */
int act_proc_allowed(actuators *a, const healer_proc *p, int allow_system, char *msg, size_t len);

int act_signal(actuators *a, const act_context *c, pid_t pid, uint64_t start_time, int sig,
               double grace_s, char *msg, size_t len);
int act_renice(actuators *a, const act_context *c, pid_t pid, uint64_t start_time, int nice,
               char *msg, size_t len);
int act_write_file(actuators *a, const act_context *c, const char *path, const char *value,
                   char *msg, size_t len);
int act_run(actuators *a, const act_context *c, const char *const argv[], double timeout_s,
            char *out, size_t out_len, int *exit_status, char *msg, size_t len);
/* A read-only command for measuring (host->probe_run): as act_run, but it runs in dry-run too
 * and writes no audit line. */
int act_probe(actuators *a, const act_context *c, const char *const argv[], double timeout_s,
              char *out, size_t out_len, int *exit_status, char *msg, size_t len);
int act_remove_old_files(actuators *a, const act_context *c, const char *dir,
                         double older_than_days, const healer_remove_opts *opts,
                         uint64_t *freed, uint64_t *count, char *msg, size_t len);
int act_freeze_cgroup(actuators *a, const act_context *c, const char *cgroup_dir, int freeze,
                      char *msg, size_t len);

/* The undo journal (actuators_undo.c). Reversible changes are journaled before they are made
 * (SIGSTOP, freeze, renice, procfs/sysfs writes) and cleared by their inverse through these
 * actuators. act_undo_restored: plugin's restore() for issue_id returned OK; clears its
 * entries for that issue, except a process still stopped or a cgroup still frozen (kept, so
 * a crash cannot leave them so). act_undo_replay: at start, before any plugin runs: undoes
 * every outstanding entry (logged at warn, audited as action "undo_journal"), even in dry-run
 * (these are changes a live run made), then truncates the journal. Returns how many it
 * undid. */
void act_undo_restored(actuators *a, const char *plugin, uint64_t issue_id);
size_t act_undo_replay(actuators *a);
/* The same for one plugin's entries only, when its child crashed (proxy.c): the rest of the
 * agent runs on, so only what that plugin changed is given back and cleared. */
size_t act_undo_replay_plugin(actuators *a, const char *plugin);

#endif
