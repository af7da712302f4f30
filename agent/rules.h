/* rules.h — the SDK's rules, written once and compiled into both the agent (healer_core) and the
 * mock host (libhealer_mock), so a plugin meets the same verdicts in its unit tests as in the
 * agent: names, descriptor and schema checks, the phase table, issue/action/argument limits,
 * path rules (declare_path, procfs/sysfs write targets, the hard deny list), the operator's
 * per-plugin policy and the process-protection predicate. Needs only the SDK headers and libc. */
#ifndef HEALER_RULES_H
#define HEALER_RULES_H

#include <stddef.h>
#include <stdint.h>
#include "healer/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The v1.0 descriptor ends with handle_request: anything shorter lacks mandatory fields. */
#define HEALER_RULES_DESC_MIN_SIZE \
    (offsetof(healer_plugin, handle_request) + sizeof(((healer_plugin *)0)->handle_request))
/* Most actions one plan() may add. */
#define HEALER_RULES_MAX_PLAN_ACTIONS 64
/* Most fds one plugin may watch. */
#define HEALER_RULES_MAX_FDS 16

/* ---- names ---------------------------------------------------------------------------- */

/* Plugin, issue type, action, measurement and config key names: [a-z0-9_], 1..63 bytes. */
int healer_rules_valid_name(const char *s);

/* An issue_types entry that claims every type (sdk/docs/abi.md): the engine sends the plugin
 * a PLAN_REQ for every issue. */
#define HEALER_RULES_ANY_TYPE "*"
/* Prometheus metric and label names: [a-zA-Z_:][a-zA-Z0-9_:]*, 1..63 bytes. */
int healer_rules_valid_metric_name(const char *s);

/* ---- the descriptor ------------------------------------------------------------------- */

/* Checks the descriptor a plugin's entry point returned and copies it zero-extended into out
 * (fields a plugin built against an older minor lacks read as zero). HEALER_OK, or
 * HEALER_E_INVAL with the rule and its fix in why. */
int healer_rules_check_descriptor(const healer_plugin *src, healer_plugin *out, char *why,
                                  size_t len);

/* ---- config schema ---------------------------------------------------------------------- */

/* 1 for keys every plugin section has, which a schema may not declare: enabled, interval and
 * the operator's policy keys (write_allow, paths_allow, allow_auto, allow_system). */
int healer_rules_reserved_key(const char *name);

/* A typed value. Strings and list items are malloc'd (healer_rules_value_free). */
typedef struct healer_rules_value {
    int b;
    long long i;
    double d;
    char *s;
    char **items;      /* n_items entries, NULL-terminated */
    size_t n_items;
} healer_rules_value;
void healer_rules_value_free(healer_rules_value *v);

/* 1 when x is within the key's [min, max] (always when min == max). */
int healer_rules_in_range(const healer_config_key *k, double x);
/* Parses a value written as a schema default is ("true", "90", "0.5", bare strings, a
 * comma-separated list whose empty items are skipped). HEALER_OK or HEALER_E_INVAL (why). */
int healer_rules_parse_text(healer_config_type type, const char *text, healer_rules_value *out,
                            char *why, size_t len);
/* Checks a whole schema: names valid, unique, not reserved, types known, every default parses
 * as its type within [min, max]. HEALER_OK, or HEALER_E_INVAL naming the key (why). */
int healer_rules_check_schema(const healer_config_key *schema, char *why, size_t len);
/* The same for key i alone (against the keys before it), for a host that reports every one. */
int healer_rules_check_schema_key(const healer_config_key *schema, size_t i, char *why,
                                  size_t len);

/* ---- the phase table: which host function each callback may call ------------------------ */

typedef enum healer_rules_phase {
    HEALER_PHASE_NONE = 0,  /* outside every callback */
    HEALER_PHASE_INIT,
    HEALER_PHASE_DESTROY,
    HEALER_PHASE_DETECT,
    HEALER_PHASE_PLAN,
    HEALER_PHASE_EXECUTE,
    HEALER_PHASE_VERIFY,
    HEALER_PHASE_RESTORE,
    HEALER_PHASE_REQUEST,   /* handle_request */
    HEALER_PHASE_FD         /* an fd watch callback */
} healer_rules_phase;

typedef enum healer_rules_fn {
    HEALER_FN_QUERY = 0,    /* config getters, proc/sys_path, dry_run, proc_read, proc_allowed,
                               metric, probe_run, action_time_left, unwatch_fd */
    HEALER_FN_DECLARE_PATH,
    HEALER_FN_PUBLISH,      /* publish_issue, resolve_issue, report_health */
    HEALER_FN_WATCH_FD,
    HEALER_FN_REQUEST,
    HEALER_FN_PLAN_ADD,
    HEALER_FN_ACTUATOR      /* every act_* */
} healer_rules_fn;

const char *healer_rules_phase_name(healer_rules_phase ph);
/* HEALER_OK, or HEALER_E_DENIED with "<fname>() is not allowed in <phase>(): ..." in why. */
int healer_rules_phase_allows(healer_rules_fn fn, healer_rules_phase ph, const char *fname,
                              char *why, size_t len);

/* ---- what a plugin hands the host ------------------------------------------------------- */

/* Each returns HEALER_OK or HEALER_E_INVAL with the reason in why. */
int healer_rules_check_issue(const healer_issue *is, char *why, size_t len);
int healer_rules_check_resolve(const char *type, char *why, size_t len);
int healer_rules_check_action(const healer_action *a, char *why, size_t len);
int healer_rules_check_health(const char *component, double score, char *why, size_t len);
int healer_rules_check_metric(int kind, const char *name, const healer_kv *labels,
                              size_t n_labels, double value, char *why, size_t len);
int healer_rules_check_request(const char *plugin, const char *method, const healer_kv *args,
                               size_t n_args, double timeout_s, char *why, size_t len);
int healer_rules_check_watch(int fd, short events, int has_cb, char *why, size_t len);
int healer_rules_check_signal(pid_t pid, int sig, double grace_s, char *why, size_t len);
int healer_rules_check_renice(pid_t pid, int nice, char *why, size_t len);
int healer_rules_check_write_args(const char *path, const char *value, char *why, size_t len);
int healer_rules_check_run(const char *const argv[], double timeout_s, char *why, size_t len);
int healer_rules_check_remove(const char *dir, double older_than_days, char *why, size_t len);
int healer_rules_check_freeze(const char *cgroup_dir, int freeze, char *why, size_t len);

/* 1 when argv rolls the system back (nix-env --rollback/--switch-generation, nixos-rebuild
 * --rollback, snapper rollback): such a command must come from an action flagged
 * HEALER_ACTION_ROLLBACK, so it counts against limits.max_rollbacks_per_day. */
int healer_rules_argv_is_rollback(const char *const argv[]);

/* ---- paths ------------------------------------------------------------------------------ */

/* Normalises an absolute path: "//" and "/./" collapsed, trailing "/" dropped. -1 when it is
 * not absolute, has a ".." component, or does not fit. */
int healer_rules_normalize(const char *path, char *out, size_t len);
/* path is base or below it, component-wise (both normalised). */
int healer_rules_path_under(const char *path, const char *base);

/* ---- operator policy --------------------------------------------------------------------- */

/* What the operator lets one plugin do (plugins.<name>.write_allow, paths_allow, allow_auto,
 * allow_system). Borrowed strings. */
typedef struct healer_rules_policy {
    const char *plugin;                     /* the section's name, for messages */
    const char *const *write_allow; size_t n_write_allow;
    const char *const *paths_allow; size_t n_paths_allow;
    int allow_auto;
    int allow_system;
} healer_rules_policy;

/* The defaults a built-in plugin ships (its README lists them); NULL for any other name. */
typedef struct healer_rules_builtin {
    const char *name;
    const char *write_allow;   /* comma-separated, as a schema default */
    const char *paths_allow;
    int allow_auto, allow_system;
    /* The plugin's own keys that name directories it declares (a "dir:" prefix takes the
     * directory of a file key), allowed when paths_allow is not set. NULL-terminated. */
    const char *const *path_keys;
    /* Defaults of plugins.<name>.inspect_processes and local_sockets (isolation.c): what its
     * child needs beyond reading files (its README says why). */
    int inspect_processes, local_sockets;
} healer_rules_builtin;
const healer_rules_builtin *healer_rules_builtin_policy(const char *name);

/* Checks one item of write_allow or paths_allow as the operator wrote it. HEALER_OK or
 * HEALER_E_INVAL (why). */
int healer_rules_check_policy_item(const char *key, const char *item, char *why, size_t len);

/* The flags of an action as the agent honours them: AUTO_OK only with allow_auto, SYSTEM only
 * with allow_system. pol NULL: nothing is honoured. */
uint32_t healer_rules_effective_flags(uint32_t flags, const healer_rules_policy *pol);

/* declare_path: absolute, shorter than HEALER_TARGET_MAX, no "..", never "/" (also not through
 * a symlink), and within plugins.<name>.paths_allow (also by its real path). HEALER_OK,
 * HEALER_E_INVAL, or HEALER_E_SCOPE naming the key that would allow it. */
int healer_rules_check_declare(const char *path, const healer_rules_policy *pol, char *why,
                               size_t len);

/* A write under proc_root (root 'p') or sys_root ('s'); rel is the real path relative to that
 * root, without a leading "/". HEALER_OK; HEALER_E_PROTECTED for the hard deny list (no setting
 * opens it); HEALER_E_SCOPE when it is not in plugins.<name>.write_allow (why names the key and
 * the item to add). */
int healer_rules_check_write(char root, const char *rel, const healer_rules_policy *pol,
                             char *why, size_t len);
/* The hard deny list as patterns ("proc/sys/kernel/core_pattern", "sys/module/x/parameters/"
 * ...), for the docs and tests: i-th entry or NULL past the end; *reason gets why. */
const char *healer_rules_denied_pattern(size_t i, const char **reason);

/* ---- process protection (rules_proc.c) ----------------------------------------------------- */

/* Outside the login range a uid is a system uid. These two are system whatever the range says:
 * nobody, and the uids systemd hands out to DynamicUser= services. */
#define HEALER_RULES_UID_NOBODY 65534u
#define HEALER_RULES_DYNAMIC_UID_MIN 61184u
#define HEALER_RULES_DYNAMIC_UID_MAX 65519u
/* The login range when /etc/login.defs does not say (shadow's own defaults). */
#define HEALER_RULES_LOGIN_UID_MIN 1000u
#define HEALER_RULES_LOGIN_UID_MAX 60000u

typedef struct healer_rules_protect {
    const char *const *names; size_t n_names;   /* protect.names */
    unsigned min_uid;                           /* the login range: protect.min_uid, else */
    unsigned max_uid;                           /* UID_MIN..UID_MAX of /etc/login.defs */
    /* The operator's scope (agent only; the mock has none): a uid listed in scope.uids, and a
     * process under a scope.cgroup that itself lies in a system cgroup, are named, so no longer
     * system by that criterion. */
    const char *scope_cgroup;                   /* NULL or "" = none */
    const uid_t *scope_uids; size_t n_scope_uids;
} healer_rules_protect;

/* Reads UID_MIN and UID_MAX from the text of a login.defs(5) file into *uid_min and *uid_max,
 * leaving either untouched when the file does not set it (or sets it to something that is not
 * a uid). Returns how many of the two it found. */
int healer_rules_login_defs(const char *text, unsigned *uid_min, unsigned *uid_max);

/* The cgroup path of a process from the text of /proc/PID/cgroup: the unified ("0::") line,
 * else the "name=systemd" one, else the first. 0 and out filled; -1 when there is none. */
int healer_rules_cgroup_of(const char *text, char *out, size_t len);

/* 1 when a cgroup path is the system's own: /init.scope, or /system.slice and below. */
int healer_rules_cgroup_is_system(const char *cgroup);

/* Why a process is a system process, as a phrase ("uid 65534 is nobody", "cgroup
 * /system.slice/x.service"), or NULL when it is not. why is the buffer for it. cgroup: the
 * process's cgroup (healer_rules_cgroup_of), NULL when unknown (then only its uid counts). */
const char *healer_rules_system_reason(const healer_proc *p, const char *cgroup,
                                       const healer_rules_protect *pr, char *why, size_t len);

/* HEALER_OK or HEALER_E_PROTECTED (HEALER_E_INVAL for pid <= 0): PID 1, kernel threads,
 * protect.names (comm, which the kernel cuts at 15 bytes), oom_score_adj -1000, and a system
 * process (healer_rules_system_reason) unless allow_system. system_denied: the action asked for
 * SYSTEM but the operator did not allow it (the message then names plugins.<plugin>.allow_system).
 * The agent adds its own pid, its ancestors, the executable's name and scope after this. */
int healer_rules_proc_protected(const healer_proc *p, const char *cgroup,
                                const healer_rules_protect *pr, int allow_system,
                                int system_denied, const char *plugin, char *why, size_t len);

#ifdef __cplusplus
}
#endif
#endif
