/* healer/host.h — the services the agent offers a plugin: one table of function pointers,
 * handed to init() (as SQLite hands sqlite3_api_routines to an extension). Plugins link
 * against nothing of the agent's; everything they may do to the system goes through here,
 * so dry-run, protection, scope, backups and the audit log hold for every plugin. */
#ifndef HEALER_HOST_H
#define HEALER_HOST_H

#include <stdarg.h>
#include <sys/types.h>
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One plugin's handle on the host. Opaque; valid from init() until destroy() returns.
 * Threading: a ctx belongs to its plugin's worker thread. Every function below that takes a
 * ctx must be called on that thread (from inside a callback or an fd watch), except
 * log() and now(), which any thread may call. */
typedef struct healer_ctx healer_ctx;

/* Opaque plan under construction, valid for the length of one plan() call. */
typedef struct healer_plan healer_plan;

/* What the host knows of a live process, read from proc_root. */
typedef struct healer_proc {
    pid_t pid;
    pid_t ppid;
    uint64_t start_time;         /* field 22 of /proc/PID/stat, clock ticks after boot:
                                    with pid, the process's identity (pids are reused) */
    uid_t uid;                   /* real uid */
    char name[16];               /* comm */
    int nice;
    int oom_score_adj;
    int kernel_thread;           /* 1 for kernel threads (no mm, child of kthreadd) */
    uint64_t rss_bytes;
} healer_proc;

/* Options for remove_old_files. Zero it, then set what you need. */
typedef struct healer_remove_opts {
    const char *pattern;         /* fnmatch(3) pattern on the file name; NULL = every file */
    int recursive;               /* descend into subdirectories (never through symlinks) */
    int rotated_first;           /* remove rotated files (*.1, *.gz, *-YYYYMMDD) first */
    uint64_t stop_after_bytes;   /* stop once this much was freed; 0 = no limit */
} healer_remove_opts;

typedef void (*healer_fd_cb)(void *state, int fd, short revents);

/* Kinds of metric a plugin may register (rendered with the agent's namespace prefix). */
typedef enum healer_metric_kind { HEALER_METRIC_COUNTER = 0, HEALER_METRIC_GAUGE = 1 } healer_metric_kind;

/* ---- Prediction (ABI 1.3): series_feed, series_predict, series_forget ------------------
 * The host keeps, per plugin, up to HEALER_SERIES_MAX named series of the last
 * HEALER_SERIES_POINTS (t, value) points each (a ring: the oldest point goes), and answers
 * "when does this series cross that threshold?" with a robust trend (Theil-Sen: the median of
 * the slopes between every pair of points) and Sen's 95% interval for it. One outlier moves
 * neither the slope nor the level, and a flat noisy series gets an interval that reaches
 * +infinity, so it does not fire. sdk/docs/writing-a-plugin.md shows the use. */
#define HEALER_SERIES_POINTS 256     /* points kept per series */
#define HEALER_SERIES_MAX 128        /* series per plugin */
#define HEALER_SERIES_MIN_POINTS 8   /* fewest points by default (min_points = 0) */

/* The answer of series_predict. Zero it, set the two inputs if you need them, pass it: the host
 * fills the rest. Times are seconds; slopes are the series' units per second. */
typedef struct healer_prediction {
    /* out: seconds from the newest point until the fitted line crosses the threshold (0 when
     * it is at it), and the 95% interval of that time: eta_low_s from the steepest slope of
     * the interval, eta_high_s from the shallowest (+INFINITY when the shallowest slope is flat
     * or points away: the data cannot rule out "never"). eta_low_s <= eta_s <= eta_high_s.
     * +INFINITY all three when the rc is HEALER_E_NOTREND. */
    double eta_s, eta_low_s, eta_high_s;
    double slope;                /* out: Theil-Sen slope (median of the pairwise slopes) */
    double slope_low, slope_high; /* out: Sen's 95% confidence interval of the slope */
    double level;                /* out: the fitted line at the newest point's time */
    double r2;                   /* out: share of the variance the line explains (0..1) */
    double t_last;               /* out: time of the newest point used */
    int n;                       /* out: points used */
    /* in: only points no older than this before the newest one (0 = every point kept) */
    double window_s;
    /* in: fewest points to predict from (0 = HEALER_SERIES_MIN_POINTS; 3..HEALER_SERIES_POINTS) */
    int min_points;
} healer_prediction;

/* 1 when a prediction should raise an issue: series_predict returned HEALER_OK and the whole
 * interval is within horizon_s, so the slowest trend the data allows still crosses in time. */
static inline int healer_prediction_fires(int rc, const healer_prediction *p, double horizon_s)
{
    return rc == 0 && p && p->eta_high_s <= horizon_s;
}

typedef struct healer_host {
    /* sizeof(healer_host) as the agent was built. A plugin built for a later minor must check
     * `offsetof(healer_host, fn) < host->struct_size` before calling a function it added. */
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* ---- Logging and time --------------------------------------------------------- */

    /* One line on the agent's log, prefixed with the level and the plugin's name. Any
     * thread. The format is printf's; no trailing newline. */
    void (*log)(healer_ctx *ctx, healer_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;

    /* The agent's clock in seconds since the epoch (tests may drive it). Any thread. */
    double (*now)(healer_ctx *ctx);

    /* ---- Configuration: the plugin's own section, checked against its schema ----------- */

    /* Each getter returns the configured value, or the schema's default when the key is not
     * set. A key absent from the schema is a programming error: 0/NULL and a logged error.
     * Strings are owned by the host and stay valid until destroy(). */
    int (*config_bool)(healer_ctx *ctx, const char *key);
    long long (*config_int)(healer_ctx *ctx, const char *key);
    double (*config_double)(healer_ctx *ctx, const char *key);
    const char *(*config_string)(healer_ctx *ctx, const char *key);
    size_t (*config_list_len)(healer_ctx *ctx, const char *key);
    const char *(*config_list_item)(healer_ctx *ctx, const char *key, size_t i);

    /* ---- Where the system is ----------------------------------------------------------- */

    /* Writes proc_root + "/" + rel into buf (e.g. rel "pressure/memory"). Returns buf, or
     * NULL when it does not fit. Tests point proc_root and sys_root at fixture trees. */
    const char *(*proc_path)(healer_ctx *ctx, const char *rel, char *buf, size_t len);
    const char *(*sys_path)(healer_ctx *ctx, const char *rel, char *buf, size_t len);

    /* 1 when the agent is in dry-run: actuators will only report. Plugins need not check it;
     * it is here so a plugin can say "would" in its messages. */
    int (*dry_run)(healer_ctx *ctx);

    /* Reads /proc/PID of the live process into out. HEALER_E_GONE when it exited, a zombie
     * (exited, not yet reaped by its parent) included, as act_signal and proc_allowed say. */
    int (*proc_read)(healer_ctx *ctx, pid_t pid, healer_proc *out);

    /* HEALER_OK when the agent may act on the process, HEALER_E_PROTECTED or HEALER_E_SCOPE
     * otherwise, with the reason in last_message(). allow_system: the action is declared for
     * system processes (a uid outside the login range, nobody, DynamicUser, init.scope or
     * system.slice: healerd.conf(5)). Use it to pick candidates in plan(). */
    int (*proc_allowed)(healer_ctx *ctx, const healer_proc *proc, int allow_system);

    /* Declares a directory or file the plugin may change (remove_old_files, write_file
     * outside proc_root/sys_root). Only from init(). Shown in /api/v1/plugins. */
    int (*declare_path)(healer_ctx *ctx, const char *path);

    /* The message of the last failing (or dry-run) host call on this ctx. Owned by the host,
     * valid until the next host call on the same ctx. Never NULL. */
    const char *(*last_message)(healer_ctx *ctx);

    /* ---- The bus -------------------------------------------------------------------- */

    /* Publishes an issue. The host copies it. Repeats of an open issue (same type and
     * target) are merged by the engine. HEALER_E_FULL when the bus is saturated. */
    int (*publish_issue)(healer_ctx *ctx, const healer_issue *issue);

    /* Says the condition behind an open issue (type, target) has cleared. The engine closes
     * it and calls restore() on every plugin that acted on it. */
    int (*resolve_issue)(healer_ctx *ctx, const char *type, const char *target);

    /* Asks another plugin to do something (its handle_request) and waits for the answer,
     * at most timeout_s seconds. HEALER_E_NOTFOUND when no such plugin is loaded; the reply
     * says why. Callable from execute() and restore(). */
    int (*request)(healer_ctx *ctx, const char *plugin, const char *method,
                   const healer_kv *args, size_t n_args, double timeout_s, healer_reply *reply);

    /* Event sources: the worker thread polls fd alongside the bus and calls cb(state, fd,
     * revents) when poll(2) reports one of events (POLLIN, POLLPRI…). The fd stays the
     * plugin's: close it after unwatch_fd(). At most 16 per plugin. */
    int (*watch_fd)(healer_ctx *ctx, int fd, short events, healer_fd_cb cb);
    int (*unwatch_fd)(healer_ctx *ctx, int fd);

    /* ---- Metrics and health ----------------------------------------------------------- */

    /* Adds to a counter or sets a gauge named NAMESPACE_<name>. labels: n_labels pairs, or
     * NULL. The first call fixes the help text and kind. */
    int (*metric)(healer_ctx *ctx, healer_metric_kind kind, const char *name, const char *help,
                  const healer_kv *labels, size_t n_labels, double value);

    /* Reports the health (0..100, 100 = fine) of one component this plugin watches
     * ("cpu", "/var"). The system health is derived from these (docs/architecture.md). */
    int (*report_health)(healer_ctx *ctx, const char *component, double score);

    /* ---- Planning ----------------------------------------------------------------------- */

    /* Adds a candidate action to the plan being built; the host copies it. Only in plan(). */
    int (*plan_add_action)(healer_plan *plan, const healer_action *action);

    /* ---- Actuators: the only way a plugin changes the system ---------------------------
     * Callable only from execute() and restore() (HEALER_E_DENIED elsewhere). Each call is
     * checked (protection, scope, declared paths), honours dry-run (returns HEALER_DRY_RUN
     * and changes nothing), and appends one line to audit.jsonl. The outcome in words is in
     * last_message(). */

    /* Sends sig to the process if it still is (pid, start_time). With sig SIGTERM and grace_s
     * > 0, sends SIGKILL when it outlives the grace period. */
    int (*act_signal)(healer_ctx *ctx, pid_t pid, uint64_t start_time, int sig, double grace_s);

    /* Sets the nice value of the process (pid, start_time). */
    int (*act_renice)(healer_ctx *ctx, pid_t pid, uint64_t start_time, int nice);

    /* Writes value to a file under proc_root or sys_root, or under a path declared at init.
     * The old content is copied to state_dir/backups first (path in last_message()). */
    int (*act_write_file)(healer_ctx *ctx, const char *path, const char *value);

    /* Runs argv[0] (an absolute path, or found on PATH) without a shell, with a timeout.
     * Output (stdout and stderr) is captured into out (NUL-terminated, truncated at
     * out_len); *exit_status gets the exit code, or 128+signal. Either may be NULL.
     * The command runs in its own process group with stdin /dev/null, no inherited
     * descriptors, default signal handling, nice 0 and oom_score_adj 0 (not the agent's
     * raised priority and OOM protection). If the agent dies while it runs (kill -9, a
     * crash), the command's process group is killed with it: no step outlives the agent
     * that enforces its timeout. */
    int (*act_run)(healer_ctx *ctx, const char *const argv[], double timeout_s,
                   char *out, size_t out_len, int *exit_status);

    /* Removes regular files older than older_than_days under dir, which must be declared. A
     * file's age is that of the newest of its atime, mtime and ctime (as systemd-tmpfiles).
     * dir is opened from / one component at a time, never through a symlink, and refused when
     * a directory on the way is owned by another user or writable by others without being
     * sticky and root's. Never enters another mount (bind mounts of the same filesystem
     * included), never removes sockets, fifos, devices, login records (wtmp, btmp, utmp,
     * lastlog, faillog and their rotations) or a file some process holds open or maps.
     * *freed gets the bytes freed (or that would be: the blocks of files whose last link goes;
     * a hard-linked file is removed but counts 0), *count the files. */
    int (*act_remove_old_files)(healer_ctx *ctx, const char *dir, double older_than_days,
                                const healer_remove_opts *opts, uint64_t *freed, uint64_t *count);

    /* Freezes (freeze=1) or thaws (0) a cgroup: v1 freezer.state or v2 cgroup.freeze. path is
     * the cgroup's directory under sys_root/fs/cgroup. Refused when it holds a protected
     * process. */
    int (*act_freeze_cgroup)(healer_ctx *ctx, const char *cgroup_dir, int freeze);

    /* ---- Probes ------------------------------------------------------------------------
     * Appended after act_freeze_cgroup (check struct_size before calling if you support hosts
     * that may predate it). */

    /* Runs a READ-ONLY command to measure something (nix-instantiate --parse, a health-check
     * command): argv without a shell, a timeout, output captured as in act_run. Unlike act_run
     * it is allowed in every callback (detect, verify, plan...) and runs in dry-run too, so it
     * must never change the system: changes go through act_run. Not audited; logged at debug.
     * HEALER_OK on exit 0, HEALER_E_IO on another exit status (still in *exit_status),
     * HEALER_E_TIMEOUT, HEALER_E_NOTFOUND when the program is missing. */
    int (*probe_run)(healer_ctx *ctx, const char *const argv[], double timeout_s, char *out,
                     size_t out_len, int *exit_status);

    /* ---- ABI 1.1 -----------------------------------------------------------------------
     * Check `offsetof(healer_host, action_time_left) < host->struct_size` before calling when
     * the plugin also supports 1.0 hosts (built with abi_minor 0). */

    /* Seconds left before the engine gives up on the callback running now (execute, verify,
     * restore, handle_request: agent.action_timeout from when it was sent). An action that
     * waits for something (a unit to restart, a sync) must finish inside it: work that would
     * outlast it is recorded as timed out, and the engine moves on without it. Outside such a
     * callback: +infinity. Plugin's worker thread only. */
    double (*action_time_left)(healer_ctx *ctx);

    /* ---- ABI 1.3: prediction -------------------------------------------------------------
     * Check `offsetof(healer_host, series_feed) < host->struct_size` before calling when the
     * plugin also supports older hosts (abi_minor below 3).
     * Each plugin's series are its own (kept per ctx, freed after destroy()). The plugin's worker
     * thread only, from any callback. Pure computation on the plugin's own points: nothing is
     * changed, nothing audited, and a process plugin's child computes it locally (no round trip
     * to the agent). The names are borrowed for the call (copied when kept). */

    /* Appends (t, value) to the series name (1..HEALER_TARGET_MAX-1 bytes), made on first use.
     * t is the plugin's clock (use now()); it must not go backwards within a series. The ring
     * keeps the last HEALER_SERIES_POINTS points. HEALER_E_INVAL for a bad name, a non-finite t
     * or value, or t before the series' newest point; HEALER_E_FULL when HEALER_SERIES_MAX
     * series exist already (series_forget one). The reason is in last_message(). */
    int (*series_feed)(healer_ctx *ctx, const char *name, double t, double value);

    /* Fits the series name (its points within out->window_s of the newest) and says when the
     * line crosses threshold, in out (see healer_prediction). HEALER_OK with a finite eta_s;
     * HEALER_E_NOTREND (slope, level, r2, n still filled) when it is flat or moving away;
     * HEALER_E_NODATA when fewer than min_points points (or no time between them);
     * HEALER_E_NOTFOUND for a series never fed; HEALER_E_INVAL for bad arguments. */
    int (*series_predict)(healer_ctx *ctx, const char *name, double threshold,
                          healer_prediction *out);

    /* Drops the series name and its points (a watched thing that went away). HEALER_OK, or
     * HEALER_E_NOTFOUND. */
    int (*series_forget)(healer_ctx *ctx, const char *name);
} healer_host;

#ifdef __cplusplus
}
#endif
#endif
