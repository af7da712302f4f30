/* hostapi_child.c — the healer_host table inside healerd-plugin. What only reads runs here
 * (settings from MSG_INIT, paths, proc_read, fds, plans); what changes or is shared (actuators,
 * declare_path, proc_allowed, metrics, probe_run) is a host call the agent serves and checks;
 * issues, health and requests are bus messages as in the agent. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rules.h"
#include "log.h"
#include "procinfo.h"
#include "runner.h"

#define NUM_LEN 32

static runner *R(healer_ctx *ctx) { return ctx ? ctx->remote : NULL; }

static int on_thread(healer_ctx *ctx)
{
    if (!ctx)
        return 0;
    if (!pthread_equal(pthread_self(), ctx->thread)) {
        snprintf(ctx->last_msg, sizeof ctx->last_msg,
                 "host function called outside the plugin's worker thread");
        log_error(ctx->w->who, "host function called outside its worker thread: denied");
        return 0;
    }
    return 1;
}

static void host_log(healer_ctx *ctx, healer_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, ctx ? ctx->w->who : "plugin ?", fmt, ap);
    va_end(ap);
}

static double host_now(healer_ctx *ctx)
{
    (void)ctx;
    return clock_now();
}

static json_t *setting(healer_ctx *ctx, const char *key, const char *type)
{
    runner *r = R(ctx);
    json_t *v = r && key ? json_object_get(r->settings, key) : NULL;
    int ok = v && ((strcmp(type, "bool") == 0 && json_is_boolean(v)) ||
                   (strcmp(type, "int") == 0 && json_is_integer(v)) ||
                   (strcmp(type, "double") == 0 && json_is_real(v)) ||
                   (strcmp(type, "string") == 0 && json_is_string(v)) ||
                   (strcmp(type, "string list") == 0 && json_is_array(v)));
    if (!ok) {
        log_error(ctx ? ctx->w->who : "plugin ?", "config key \"%s\" is not a %s key of its schema",
                  key ? key : "(null)", type);
        return NULL;
    }
    return v;
}

static int host_config_bool(healer_ctx *ctx, const char *key)
{
    json_t *v = setting(ctx, key, "bool");
    return v ? json_is_true(v) : 0;
}

static long long host_config_int(healer_ctx *ctx, const char *key)
{
    json_t *v = setting(ctx, key, "int");
    return v ? json_integer_value(v) : 0;
}

static double host_config_double(healer_ctx *ctx, const char *key)
{
    json_t *v = setting(ctx, key, "double");
    return v ? json_real_value(v) : 0;
}

static const char *host_config_string(healer_ctx *ctx, const char *key)
{
    json_t *v = setting(ctx, key, "string");
    return v ? json_string_value(v) : NULL;
}

static size_t host_config_list_len(healer_ctx *ctx, const char *key)
{
    json_t *v = setting(ctx, key, "string list");
    return v ? json_array_size(v) : 0;
}

static const char *host_config_list_item(healer_ctx *ctx, const char *key, size_t i)
{
    json_t *v = setting(ctx, key, "string list");
    return v ? json_string_value(json_array_get(v, i)) : NULL;
}

static const char *join_path(const char *root, const char *rel, char *buf, size_t len)
{
    if (!root || !rel || !buf)
        return NULL;
    while (*rel == '/')
        rel++;
    int n = snprintf(buf, len, "%s/%s", root, rel);
    return (n < 0 || (size_t)n >= len) ? NULL : buf;
}

static const char *host_proc_path(healer_ctx *ctx, const char *rel, char *buf, size_t len)
{
    return ctx ? join_path(R(ctx)->proc_root, rel, buf, len) : NULL;
}

static const char *host_sys_path(healer_ctx *ctx, const char *rel, char *buf, size_t len)
{
    return ctx ? join_path(R(ctx)->sys_root, rel, buf, len) : NULL;
}

static int host_dry_run(healer_ctx *ctx)
{
    return ctx ? R(ctx)->dry_run || ctx->preview : 1;
}

static int host_proc_read(healer_ctx *ctx, pid_t pid, healer_proc *out)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    if (!out)
        return HEALER_E_INVAL;
    procinfo pi;
    char m[256];
    int rc = procinfo_read(R(ctx)->proc_root, pid, &pi, m, sizeof m);
    if (rc == HEALER_OK)
        *out = pi.p;
    else
        snprintf(ctx->last_msg, sizeof ctx->last_msg, "pid %d: %s", (int)pid, healer_rc_str(rc));
    return rc;
}

/* A call whose only answer is its code (and last_message). */
static int call0(healer_ctx *ctx, const char *method, const msg_kv *kv, size_t n)
{
    return runner_call(R(ctx), method, kv, n, NULL);
}

static int host_proc_allowed(healer_ctx *ctx, const healer_proc *proc, int allow_system)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    if (!proc)
        return HEALER_E_INVAL;
    /* The agent reads the process itself: the child's copy is only its identity. */
    char pid[NUM_LEN], st[NUM_LEN];
    snprintf(pid, sizeof pid, "%d", (int)proc->pid);
    snprintf(st, sizeof st, "%" PRIu64, proc->start_time);
    msg_kv kv[] = { { "pid", pid }, { "start_time", st },
                    { "allow_system", allow_system ? "1" : "0" } };
    return call0(ctx, "proc_allowed", kv, 3);
}

static int host_declare_path(healer_ctx *ctx, const char *path)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    msg_kv kv[] = { { "path", path ? path : "" } };
    return call0(ctx, "declare_path", kv, 1);
}

static const char *host_last_message(healer_ctx *ctx)
{
    return ctx ? ctx->last_msg : "";
}

static int host_publish_issue(healer_ctx *ctx, const healer_issue *is)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    if (!is || !healer_rules_valid_name(is->type)) {
        snprintf(ctx->last_msg, sizeof ctx->last_msg, "publish_issue: invalid issue type \"%s\"",
                 is && is->type ? is->type : "(null)");
        return HEALER_E_INVAL;
    }
    if ((unsigned)is->severity > HEALER_SEV_CRITICAL) {
        snprintf(ctx->last_msg, sizeof ctx->last_msg, "publish_issue: invalid severity %d",
                 (int)is->severity);
        return HEALER_E_INVAL;
    }
    msg_measure mm[HEALER_MAX_MEASUREMENTS];
    size_t n = is->n_measurements < HEALER_MAX_MEASUREMENTS ? is->n_measurements
                                                            : HEALER_MAX_MEASUREMENTS;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (is->measurements && is->measurements[i].name)
            mm[k++] = (msg_measure){ is->measurements[i].name, is->measurements[i].value };
    size_t nc = is->n_components < HEALER_MAX_COMPONENTS ? is->n_components : HEALER_MAX_COMPONENTS;
    if (!is->components)
        nc = 0;
    const char *me = R(ctx)->name;
    msg m = { .kind = MSG_ISSUE, .plugin = me, .has_issue = 1 };
    m.issue = (msg_issue){ .type = is->type, .severity = (int)is->severity,
                           .target = is->target ? is->target : "",
                           .summary = is->summary ? is->summary : "", .plugin = me,
                           .time = clock_now(), .measures = mm, .n_measures = k,
                           .components = is->components, .n_components = nc };
    return worker_publish(ctx, &m);
}

static int host_resolve_issue(healer_ctx *ctx, const char *type, const char *target)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    if (!healer_rules_valid_name(type))
        return HEALER_E_INVAL;
    const char *me = R(ctx)->name;
    msg m = { .kind = MSG_RESOLVE, .plugin = me, .has_issue = 1 };
    m.issue.type = type;
    m.issue.target = target ? target : "";
    m.issue.plugin = me;
    return worker_publish(ctx, &m);
}

static int host_request(healer_ctx *ctx, const char *plugin, const char *method,
                        const healer_kv *args, size_t n_args, double timeout_s, healer_reply *reply)
{
    healer_reply dummy;
    if (!reply)
        reply = &dummy;
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    if (!plugin || !method || (n_args && !args))
        return HEALER_E_INVAL;
    if (ctx->phase != PHASE_EXECUTE && ctx->phase != PHASE_RESTORE) {
        snprintf(ctx->last_msg, sizeof ctx->last_msg,
                 "request is only allowed in execute() and restore()");
        return HEALER_E_DENIED;
    }
    int rc = worker_request(ctx, plugin, method, args, n_args, timeout_s, reply);
    snprintf(ctx->last_msg, sizeof ctx->last_msg, "%s", reply->message);
    return rc;
}

static int host_watch_fd(healer_ctx *ctx, int fd, short events, healer_fd_cb cb)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    return worker_watch_fd(ctx, fd, events, cb);
}

static int host_unwatch_fd(healer_ctx *ctx, int fd)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    return worker_unwatch_fd(ctx, fd);
}

static int host_metric(healer_ctx *ctx, healer_metric_kind kind, const char *name, const char *help,
                       const healer_kv *labels, size_t n_labels, double value)
{
    if (!ctx || !name || (n_labels && !labels))
        return HEALER_E_INVAL;
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    msg_kv kv[64];
    char k[NUM_LEN], v[NUM_LEN];
    snprintf(k, sizeof k, "%d", (int)kind);
    snprintf(v, sizeof v, "%.17g", value);
    size_t n = 0;
    kv[n++] = (msg_kv){ "kind", k };
    kv[n++] = (msg_kv){ "name", name };
    kv[n++] = (msg_kv){ "help", help ? help : "" };
    kv[n++] = (msg_kv){ "value", v };
    /* Labels follow as "=key" -> value: no argument name starts with '='. */
    char lk[16][HEALER_NAME_MAX + 2];
    for (size_t i = 0; i < n_labels && i < 16; i++) {
        snprintf(lk[i], sizeof lk[i], "=%s", labels[i].key ? labels[i].key : "");
        kv[n++] = (msg_kv){ lk[i], labels[i].value ? labels[i].value : "" };
    }
    return call0(ctx, "metric", kv, n);
}

static int host_report_health(healer_ctx *ctx, const char *component, double score)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    if (!component || score != score)
        return HEALER_E_INVAL;
    if (score < 0) score = 0;
    if (score > 100) score = 100;
    if (!plughost_health_due(ctx->w, component, score))
        return HEALER_OK;
    msg_measure mm = { component, score };
    msg m = { .kind = MSG_HEALTH, .plugin = R(ctx)->name, .measures = &mm, .n_measures = 1 };
    return worker_publish(ctx, &m);
}

static int host_act_signal(healer_ctx *ctx, pid_t pid, uint64_t start_time, int sig, double grace_s)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    char p[NUM_LEN], st[NUM_LEN], s[NUM_LEN], g[NUM_LEN];
    snprintf(p, sizeof p, "%d", (int)pid);
    snprintf(st, sizeof st, "%" PRIu64, start_time);
    snprintf(s, sizeof s, "%d", sig);
    snprintf(g, sizeof g, "%.17g", grace_s);
    msg_kv kv[] = { { "pid", p }, { "start_time", st }, { "sig", s }, { "grace_s", g } };
    return call0(ctx, "act_signal", kv, 4);
}

static int host_act_renice(healer_ctx *ctx, pid_t pid, uint64_t start_time, int nice)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    char p[NUM_LEN], st[NUM_LEN], n[NUM_LEN];
    snprintf(p, sizeof p, "%d", (int)pid);
    snprintf(st, sizeof st, "%" PRIu64, start_time);
    snprintf(n, sizeof n, "%d", nice);
    msg_kv kv[] = { { "pid", p }, { "start_time", st }, { "nice", n } };
    return call0(ctx, "act_renice", kv, 3);
}

static int host_act_write_file(healer_ctx *ctx, const char *path, const char *value)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    if (!path || !value)
        return HEALER_E_INVAL;
    msg_kv kv[] = { { "path", path }, { "value", value } };
    return call0(ctx, "act_write_file", kv, 2);
}

/* act_run and probe_run: argv as "0", "1", ...; the output and exit status come back. */
static int run_call(healer_ctx *ctx, const char *method, const char *const argv[], double timeout_s,
                    char *out, size_t out_len, int *exit_status)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    if (!argv || !argv[0])
        return HEALER_E_INVAL;
    msg_kv kv[64];
    char idx[60][8], t[NUM_LEN], ol[NUM_LEN];
    size_t n = 0;
    snprintf(t, sizeof t, "%.17g", timeout_s);
    snprintf(ol, sizeof ol, "%zu", out ? out_len : 0);
    kv[n++] = (msg_kv){ "timeout_s", t };
    kv[n++] = (msg_kv){ "out_len", ol };
    for (size_t i = 0; argv[i]; i++) {
        if (i >= 60) {
            snprintf(ctx->last_msg, sizeof ctx->last_msg, "%s: more than 60 arguments", method);
            return HEALER_E_INVAL;
        }
        snprintf(idx[i], sizeof idx[i], "%zu", i);
        kv[n++] = (msg_kv){ idx[i], argv[i] };
    }
    /* The agent's own HEALER_E_IO (a probe that exited non-zero) still carries the output and
     * the exit status: only a call that got no reply at all returns early. */
    msg reply;
    memset(&reply, 0, sizeof reply);
    int rc = runner_call(R(ctx), method, kv, n, &reply);
    if (reply.kind != MSG_HOSTREPLY)
        return rc;
    const char *o = runner_reply_arg(&reply, "out");
    const char *es = runner_reply_arg(&reply, "exit_status");
    if (out && out_len)
        snprintf(out, out_len, "%s", o ? o : "");
    if (exit_status)
        *exit_status = es ? atoi(es) : -1;
    msg_free(&reply);
    return rc;
}

static int host_act_run(healer_ctx *ctx, const char *const argv[], double timeout_s, char *out,
                        size_t out_len, int *exit_status)
{
    return run_call(ctx, "act_run", argv, timeout_s, out, out_len, exit_status);
}

static int host_probe_run(healer_ctx *ctx, const char *const argv[], double timeout_s, char *out,
                          size_t out_len, int *exit_status)
{
    return run_call(ctx, "probe_run", argv, timeout_s, out, out_len, exit_status);
}

static int host_act_remove_old_files(healer_ctx *ctx, const char *dir, double older_than_days,
                                     const healer_remove_opts *opts, uint64_t *freed, uint64_t *count)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    if (!dir)
        return HEALER_E_INVAL;
    char d[NUM_LEN], rec[4], rot[4], stop[NUM_LEN];
    snprintf(d, sizeof d, "%.17g", older_than_days);
    snprintf(rec, sizeof rec, "%d", opts && opts->recursive ? 1 : 0);
    snprintf(rot, sizeof rot, "%d", opts && opts->rotated_first ? 1 : 0);
    snprintf(stop, sizeof stop, "%" PRIu64, opts ? opts->stop_after_bytes : 0);
    msg_kv kv[6] = { { "dir", dir }, { "older_than_days", d }, { "recursive", rec },
                     { "rotated_first", rot }, { "stop_after_bytes", stop } };
    size_t n = 5;
    if (opts && opts->pattern)
        kv[n++] = (msg_kv){ "pattern", opts->pattern };
    msg reply;
    memset(&reply, 0, sizeof reply);
    int rc = runner_call(R(ctx), "act_remove_old_files", kv, n, &reply);
    if (reply.kind != MSG_HOSTREPLY)
        return rc;
    const char *f = runner_reply_arg(&reply, "freed"), *c = runner_reply_arg(&reply, "count");
    if (freed)
        *freed = f ? strtoull(f, NULL, 10) : 0;
    if (count)
        *count = c ? strtoull(c, NULL, 10) : 0;
    msg_free(&reply);
    return rc;
}

static int host_act_freeze_cgroup(healer_ctx *ctx, const char *cgroup_dir, int freeze)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    if (!cgroup_dir)
        return HEALER_E_INVAL;
    msg_kv kv[] = { { "dir", cgroup_dir }, { "freeze", freeze ? "1" : "0" } };
    return call0(ctx, "act_freeze_cgroup", kv, 2);
}

static double host_action_time_left(healer_ctx *ctx)
{
    return on_thread(ctx) ? plughost_time_left(ctx) : INFINITY;
}

static int host_series_feed(healer_ctx *ctx, const char *name, double t, double value)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    return plughost_series_feed(ctx, name, t, value);
}

static int host_series_predict(healer_ctx *ctx, const char *name, double threshold,
                               healer_prediction *out)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    return plughost_series_predict(ctx, name, threshold, out);
}

static int host_series_forget(healer_ctx *ctx, const char *name)
{
    if (!on_thread(ctx))
        return HEALER_E_DENIED;
    return plughost_series_forget(ctx, name);
}

static const healer_host child_table = {
    .struct_size = sizeof(healer_host),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .log = host_log,
    .now = host_now,
    .config_bool = host_config_bool,
    .config_int = host_config_int,
    .config_double = host_config_double,
    .config_string = host_config_string,
    .config_list_len = host_config_list_len,
    .config_list_item = host_config_list_item,
    .proc_path = host_proc_path,
    .sys_path = host_sys_path,
    .dry_run = host_dry_run,
    .proc_read = host_proc_read,
    .proc_allowed = host_proc_allowed,
    .declare_path = host_declare_path,
    .last_message = host_last_message,
    .publish_issue = host_publish_issue,
    .resolve_issue = host_resolve_issue,
    .request = host_request,
    .watch_fd = host_watch_fd,
    .unwatch_fd = host_unwatch_fd,
    .metric = host_metric,
    .report_health = host_report_health,
    .plan_add_action = plughost_plan_add_action,
    .act_signal = host_act_signal,
    .act_renice = host_act_renice,
    .act_write_file = host_act_write_file,
    .act_run = host_act_run,
    .act_remove_old_files = host_act_remove_old_files,
    .act_freeze_cgroup = host_act_freeze_cgroup,
    .probe_run = host_probe_run,
    .action_time_left = host_action_time_left,
    .series_feed = host_series_feed,
    .series_predict = host_series_predict,
    .series_forget = host_series_forget,
};

const healer_host *runner_host_table(void)
{
    return &child_table;
}
