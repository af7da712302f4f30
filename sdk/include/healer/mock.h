/* healer/mock.h — a mock host for unit-testing a plugin without the agent (as collectd's
 * plugin_mock). It implements the whole healer_host table in-process, enforces the SDK's rules
 * as the agent does, records everything the plugin does, and performs no actuator at all.
 * Link with -lhealer_mock (pkg-config healer-mock) and -ldl -lpthread. */
#ifndef HEALER_MOCK_H
#define HEALER_MOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "healer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One mock host driving one plugin. Not thread-safe: drive it from one test thread (the
 * plugin's own calls into the host are checked to come from the thread running the callback,
 * as the agent's worker thread rule says). */
typedef struct healer_mock healer_mock;

/* ---- Life cycle -------------------------------------------------------------------------- */

/* A new mock host. proc_root and sys_root are what proc_path()/sys_path() resolve under and
 * what proc_read() reads (NULL = "/proc" and "/sys"; tests point them at fixture trees).
 * The clock starts at 1700000000.0; dry-run is off; every actuator returns the real host's
 * checks' answer (HEALER_OK when they pass). Returns NULL when out of memory. */
healer_mock *healer_mock_new(const char *proc_root, const char *sys_root);

/* Calls the plugin's destroy() if init() succeeded and it was not called yet, dlclose()s a
 * plugin loaded with healer_mock_load_so(), and frees every record. NULL is fine. */
void healer_mock_free(healer_mock *m);

/* Attaches a plugin by its descriptor (a plugin compiled into the test: pass
 * healer_plugin_entry_v1()). The descriptor is checked with the agent loader's rules and
 * copied zero-extended, as the agent does: struct_size at least HEALER_MOCK_DESC_MIN_SIZE,
 * abi_major == HEALER_ABI_MAJOR, abi_minor <= HEALER_ABI_MINOR, name [a-z0-9_] 1..63 chars,
 * init and destroy set, detect or plan set, execute set when plan is, each issue type valid,
 * the config schema's names valid, unique and not "enabled"/"interval", and its defaults
 * parse as their type within [min, max]. Returns HEALER_OK, or HEALER_E_INVAL with the
 * reason in healer_mock_last_error(). One plugin per mock: a second call is HEALER_E_INVAL. */
int healer_mock_load(healer_mock *m, const healer_plugin *desc);

/* Loads a plugin .so as the agent does: dlopen(path, RTLD_NOW | RTLD_LOCAL), dlsym of
 * HEALER_ENTRY_SYMBOL, then healer_mock_load(). Returns HEALER_E_IO when dlopen fails (e.g.
 * an unresolvable symbol), HEALER_E_NOTFOUND when the entry symbol is missing, HEALER_E_INVAL
 * when the descriptor is refused; the reason is in healer_mock_last_error(). File ownership
 * and mode are not checked (that is the agent's job, on its plugin_dir). */
int healer_mock_load_so(healer_mock *m, const char *path);

/* The descriptor as the mock copied it (zero-extended); NULL before a successful load. */
const healer_plugin *healer_mock_descriptor(const healer_mock *m);

/* Why the last failing healer_mock_* call failed (load, set, a callback wrapper). Never NULL. */
const char *healer_mock_last_error(const healer_mock *m);

/* Smallest descriptor the loader accepts: every field of the 1.0 descriptor. A plugin built
 * against a later minor has a larger struct_size; one that is smaller is refused. */
#define HEALER_MOCK_DESC_MIN_SIZE \
    (offsetof(healer_plugin, handle_request) + sizeof(((healer_plugin *)0)->handle_request))

/* The host table and the context the plugin sees (for a test that calls a host function the
 * way the plugin would; outside a callback such calls are refused as the agent refuses them). */
const healer_host *healer_mock_host(healer_mock *m);
healer_ctx *healer_mock_ctx(healer_mock *m);
/* The plugin's state as init() set it; NULL before init. */
void *healer_mock_state(const healer_mock *m);

/* ---- Configuration (the plugin's section plugins.<name>) -----------------------------------
 * Values are checked against the loaded plugin's schema as the agent checks the config file:
 * HEALER_E_NOTFOUND for a key not in the schema, HEALER_E_INVAL for the wrong type or a
 * number outside [min, max] (when min != max). Unset keys read as the schema's default.
 * Call after healer_mock_load(); values set after init() are seen by later getter calls
 * (strings handed out earlier stay valid until healer_mock_free()). "interval" and "enabled"
 * are the implicit keys every plugin has. */
int healer_mock_set_bool(healer_mock *m, const char *key, int value);
int healer_mock_set_int(healer_mock *m, const char *key, long long value);
int healer_mock_set_double(healer_mock *m, const char *key, double value);
int healer_mock_set_string(healer_mock *m, const char *key, const char *value);
int healer_mock_set_list(healer_mock *m, const char *key, const char *const *items, size_t n);
/* Back to the schema's default. */
int healer_mock_unset(healer_mock *m, const char *key);

/* ---- Environment ------------------------------------------------------------------------- */

/* Dry-run as agent.mode = "dry-run": host->dry_run() returns 1 and actuators return
 * HEALER_DRY_RUN (unless a rc is forced with healer_mock_set_actuator_rc). */
void healer_mock_set_dry_run(healer_mock *m, int on);

/* The clock host->now() returns. */
void healer_mock_set_time(healer_mock *m, double now);
void healer_mock_advance(healer_mock *m, double seconds);
double healer_mock_time(const healer_mock *m);

/* Names that proc_allowed() treats as protected (as protect.names), and protect.min_uid
 * (default 1000), the lower end of the login range (its upper end is 60000). PID 1 and kernel
 * threads are always protected; nobody, DynamicUser uids and a process whose fixture
 * proc_root/PID/cgroup puts it in init.scope or system.slice are system processes, as in the
 * agent. */
int healer_mock_protect_name(healer_mock *m, const char *name);
void healer_mock_set_min_uid(healer_mock *m, uid_t min_uid);

/* Echo every plugin log line to stderr as it is recorded (default: off, or on when the
 * environment has HEALER_MOCK_VERBOSE=1). */
void healer_mock_set_echo(healer_mock *m, int on);

/* ---- Actuators: recorded, never performed ------------------------------------------------- */

typedef enum healer_mock_act {
    HEALER_MOCK_ACT_SIGNAL = 0,
    HEALER_MOCK_ACT_RENICE,
    HEALER_MOCK_ACT_WRITE_FILE,
    HEALER_MOCK_ACT_RUN,
    HEALER_MOCK_ACT_REMOVE_OLD_FILES,
    HEALER_MOCK_ACT_FREEZE_CGROUP,
    HEALER_MOCK_ACT_COUNT
} healer_mock_act;

/* Forces what an actuator returns (any healer_rc, including HEALER_OK, HEALER_DRY_RUN or a
 * failure). The order of checks per call is: the callback rule (HEALER_E_DENIED outside
 * execute/restore/handle_request) and argument checks (HEALER_E_INVAL) always; then the forced
 * rc if one is set; otherwise the real host's checks (process alive: HEALER_E_GONE, protected:
 * HEALER_E_PROTECTED, path declared or under proc_root/sys_root: HEALER_E_SCOPE), then
 * HEALER_DRY_RUN in dry-run mode, else HEALER_OK. which = HEALER_MOCK_ACT_COUNT sets all. */
void healer_mock_set_actuator_rc(healer_mock *m, healer_mock_act which, int rc);
/* Undoes healer_mock_set_actuator_rc. which = HEALER_MOCK_ACT_COUNT clears all. */
void healer_mock_clear_actuator_rc(healer_mock *m, healer_mock_act which);

/* What act_remove_old_files reports in *freed and *count when it does not fail (default 0, 0). */
void healer_mock_set_remove_result(healer_mock *m, uint64_t freed, uint64_t count);
/* What act_run writes into out and *exit_status when it does not fail (default "", 0). */
int healer_mock_set_run_result(healer_mock *m, const char *output, int exit_status);

/* One recorded actuator call. Strings and argv are copies owned by the mock. */
typedef struct healer_mock_call {
    healer_mock_act act;
    const char *callback;        /* the callback it came from: "execute", "detect", ... */
    int rc;                      /* what the actuator returned */
    pid_t pid;                   /* signal, renice */
    uint64_t start_time;         /* signal, renice */
    int sig;                     /* signal */
    double grace_s;              /* signal */
    int nice;                    /* renice */
    const char *path;            /* write_file: path; remove_old_files: dir; freeze: cgroup_dir */
    const char *value;           /* write_file */
    const char *const *argv;     /* run: NULL-terminated */
    size_t argc;                 /* run */
    double timeout_s;            /* run */
    double older_than_days;      /* remove_old_files */
    healer_remove_opts opts;     /* remove_old_files (pattern copied; zeroed if opts was NULL) */
    int has_opts;                /* remove_old_files: 1 when opts was not NULL */
    int freeze;                  /* freeze_cgroup */
} healer_mock_call;

size_t healer_mock_call_count(const healer_mock *m);
const healer_mock_call *healer_mock_call_at(const healer_mock *m, size_t i);
/* The last call of that kind, or NULL. */
const healer_mock_call *healer_mock_last_call(const healer_mock *m, healer_mock_act act);
const char *healer_mock_act_name(healer_mock_act act);

/* ---- Requests to other plugins ------------------------------------------------------------ */

/* Answers host->request(). The callback gets the destination plugin, method and args
 * (borrowed), fills reply (zeroed) and returns the rc request() returns. Without a handler
 * request() returns HEALER_E_NOTFOUND ("no such plugin"). */
typedef int (*healer_mock_request_fn)(void *ud, const char *plugin, const char *method,
                                      const healer_kv *args, size_t n_args, double timeout_s,
                                      healer_reply *reply);
void healer_mock_set_request_handler(healer_mock *m, healer_mock_request_fn fn, void *ud);

/* One recorded request (copies). */
typedef struct healer_mock_request {
    const char *plugin;
    const char *method;
    const healer_kv *args;
    size_t n_args;
    double timeout_s;
    int rc;
} healer_mock_request;
size_t healer_mock_request_count(const healer_mock *m);
const healer_mock_request *healer_mock_request_at(const healer_mock *m, size_t i);

/* ---- Driving the plugin --------------------------------------------------------------------
 * Each wrapper runs the callback the way the agent's worker thread does (on the calling
 * thread, one at a time) and returns the callback's rc. HEALER_E_INVAL (with a reason in
 * healer_mock_last_error()) when the call is out of order: no plugin loaded, init not run or
 * failed, destroy already called, plan for an issue type the plugin does not claim, or a
 * callback the descriptor does not have (HEALER_E_NOTFOUND). */

/* init(). On failure the plugin counts as refused: later wrappers return HEALER_E_INVAL and
 * destroy() is not called, as the agent does. */
int healer_mock_init(healer_mock *m);
/* destroy(); afterwards only the records can be read. */
void healer_mock_destroy(healer_mock *m);
int healer_mock_detect(healer_mock *m);
/* plan() for issue; the actions added are appended to the action records. */
int healer_mock_plan(healer_mock *m, const healer_issue *issue);
/* execute(); result is zeroed and its outcome pre-filled HEALER_OUTCOME_UNSET, as the host does:
 * a plugin that returns without setting it is a rule violation. */
int healer_mock_execute(healer_mock *m, const healer_issue *issue, const healer_action *action,
                        healer_result *result);
/* verify(); verdict is zeroed first. As the agent does by a timer, the mock first waits the last
 * execute()'s verify_after_s, then calls verify() again after every recheck_after_s the plugin
 * asks for (sleeping here), and returns the final verdict. */
int healer_mock_verify(healer_mock *m, const healer_issue *issue, const healer_action *action,
                       healer_verdict *verdict);
int healer_mock_restore(healer_mock *m, const healer_issue *issue);
/* handle_request(); reply is zeroed first. */
int healer_mock_handle_request(healer_mock *m, const char *method, const healer_kv *args,
                               size_t n_args, healer_reply *reply);
/* Calls the callback registered with watch_fd for fd as if poll(2) reported revents.
 * HEALER_E_NOTFOUND when fd is not watched. */
int healer_mock_fire_fd(healer_mock *m, int fd, short revents);
/* Number of fds the plugin watches now. */
size_t healer_mock_watched_fds(const healer_mock *m);

/* ---- What the plugin did ------------------------------------------------------------------
 * Records accumulate until healer_mock_clear(). Pointers returned stay valid until
 * healer_mock_clear() or healer_mock_free(). Index past the end: NULL. */

/* Issues as published (deep copies; id numbered from 1, plugin = the plugin's name). */
size_t healer_mock_issue_count(const healer_mock *m);
const healer_issue *healer_mock_issue(const healer_mock *m, size_t i);
/* The last published issue of that type (any type when NULL), or NULL. */
const healer_issue *healer_mock_last_issue(const healer_mock *m, const char *type);

/* resolve_issue() calls. */
typedef struct healer_mock_resolved {
    const char *type;
    const char *target;
} healer_mock_resolved;
size_t healer_mock_resolved_count(const healer_mock *m);
const healer_mock_resolved *healer_mock_resolved_at(const healer_mock *m, size_t i);

/* Actions added with plan_add_action (copies; target filled with the issue's target when the
 * plugin left it NULL, as the host does). Pass them to healer_mock_execute(). */
size_t healer_mock_action_count(const healer_mock *m);
const healer_action *healer_mock_action(const healer_mock *m, size_t i);
/* The value of an action's param, or NULL. */
const char *healer_mock_action_param(const healer_action *action, const char *key);

/* report_health() calls. */
typedef struct healer_mock_health {
    const char *component;
    double score;
} healer_mock_health;
size_t healer_mock_health_count(const healer_mock *m);
const healer_mock_health *healer_mock_health_at(const healer_mock *m, size_t i);
/* The last score reported for component; -1 when none was. */
double healer_mock_last_health(const healer_mock *m, const char *component);

/* metric() calls. */
typedef struct healer_mock_metric {
    healer_metric_kind kind;
    const char *name;
    const char *help;
    const healer_kv *labels;
    size_t n_labels;
    double value;
} healer_mock_metric;
size_t healer_mock_metric_count(const healer_mock *m);
const healer_mock_metric *healer_mock_metric_at(const healer_mock *m, size_t i);

/* log() lines, formatted. */
typedef struct healer_mock_log {
    healer_log_level level;
    const char *text;
} healer_mock_log;
size_t healer_mock_log_count(const healer_mock *m);
const healer_mock_log *healer_mock_log_at(const healer_mock *m, size_t i);
/* Index of the first line at level <= max_level containing needle; -1 when none. */
long healer_mock_log_find(const healer_mock *m, healer_log_level max_level, const char *needle);

/* declare_path() calls that were accepted (not cleared by healer_mock_clear: they are part
 * of the plugin's set-up, as in the agent). */
size_t healer_mock_declared_count(const healer_mock *m);
const char *healer_mock_declared(const healer_mock *m, size_t i);

/* Rule violations: host calls the agent would refuse (an actuator outside execute/restore/
 * handle_request, declare_path outside init, plan_add_action outside plan, a ctx call from
 * another thread or outside any callback, a config key not in the schema or of another type,
 * a malformed issue, action, metric or health score). Each is also logged at error level with
 * "mock: " first. A well-behaved plugin's tests assert this is 0. */
size_t healer_mock_violations(const healer_mock *m);

/* Finds a measurement by name in an array (issue, result or verdict). Returns 1 and *value,
 * or 0 when absent. */
int healer_mock_measurement(const healer_measurement *ms, size_t n, const char *name,
                            double *value);

/* Forgets every record above (issues, resolved, actions, health, metrics, logs, calls,
 * requests, violations); keeps the plugin, its state, config and declared paths. */
void healer_mock_clear(healer_mock *m);

#ifdef __cplusplus
}
#endif
#endif
