/* hostapi.c — the healer_host table handed to every plugin. Each function checks that it is
 * called from the plugin's own worker thread and in a callback where it is allowed, then hands
 * off to the module that does the work (config, bus, metrics, actuators). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "worker.h"

#define WHO_LEN (HEALER_NAME_MAX + 8)

static void who_of(healer_ctx *ctx, char *who)
{
    snprintf(who, WHO_LEN, "plugin %s", ctx && ctx->plugin ? ctx->plugin->name : "?");
}

static void set_msg(healer_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(healer_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->last_msg, sizeof ctx->last_msg, fmt, ap);
    va_end(ap);
}

/* Host calls other than log/now belong to the plugin's worker thread. */
static int on_thread(healer_ctx *ctx)
{
    if (!ctx)
        return 0;
    if (!pthread_equal(pthread_self(), ctx->thread)) {
        set_msg(ctx, "host function called outside the plugin's worker thread");
        char who[WHO_LEN];
        who_of(ctx, who);
        log_error(who, "host function called outside its worker thread: denied");
        return 0;
    }
    return 1;
}

static healer_rules_phase rules_phase(worker_phase ph)
{
    switch (ph) {
    case PHASE_INIT: return HEALER_PHASE_INIT;
    case PHASE_DESTROY: return HEALER_PHASE_DESTROY;
    case PHASE_DETECT: return HEALER_PHASE_DETECT;
    case PHASE_PLAN: return HEALER_PHASE_PLAN;
    case PHASE_EXECUTE: return HEALER_PHASE_EXECUTE;
    case PHASE_VERIFY: return HEALER_PHASE_VERIFY;
    case PHASE_RESTORE: return HEALER_PHASE_RESTORE;
    case PHASE_REQUEST: return HEALER_PHASE_REQUEST;
    case PHASE_FD: return HEALER_PHASE_FD;
    case PHASE_IDLE: break;
    }
    return HEALER_PHASE_NONE;
}

/* The thread rule, then the phase table (rules.c, shared with the mock host). */
static int allowed(healer_ctx *ctx, healer_rules_fn fn, const char *fname)
{
    if (!on_thread(ctx))
        return 0;
    if (healer_rules_phase_allows(fn, rules_phase(ctx->phase), fname, ctx->last_msg,
                                  sizeof ctx->last_msg) != HEALER_OK) {
        char who[WHO_LEN];
        who_of(ctx, who);
        log_warn(who, "%s", ctx->last_msg);
        return 0;
    }
    return 1;
}

/* A rules verdict (rc, message in last_msg) logged as the plugin's mistake when it refuses. */
static int verdict(healer_ctx *ctx, int rc)
{
    if (rc < 0) {
        char who[WHO_LEN];
        who_of(ctx, who);
        log_warn(who, "%s", ctx->last_msg);
    }
    return rc;
}

static void host_log(healer_ctx *ctx, healer_log_level level, const char *fmt, ...)
{
    char who[WHO_LEN];
    who_of(ctx, who);
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, who, fmt, ap);
    va_end(ap);
}

static double host_now(healer_ctx *ctx)
{
    (void)ctx;
    return clock_now();
}

static void bad_key(healer_ctx *ctx, const char *key, const char *type)
{
    char who[WHO_LEN];
    who_of(ctx, who);
    log_error(who, "config key \"%s\" is not a %s key of its schema", key ? key : "(null)", type);
}

static int host_config_bool(healer_ctx *ctx, const char *key)
{
    int v = 0;
    if (!allowed(ctx, HEALER_FN_QUERY, "config_bool"))
        return v;
    if (plugin_conf_bool(ctx->plugin->conf, key, &v) < 0)
        bad_key(ctx, key, "bool");
    return v;
}

static long long host_config_int(healer_ctx *ctx, const char *key)
{
    long long v = 0;
    if (!allowed(ctx, HEALER_FN_QUERY, "config_int"))
        return v;
    if (plugin_conf_int(ctx->plugin->conf, key, &v) < 0)
        bad_key(ctx, key, "int");
    return v;
}

static double host_config_double(healer_ctx *ctx, const char *key)
{
    double v = 0;
    if (!allowed(ctx, HEALER_FN_QUERY, "config_double"))
        return v;
    if (plugin_conf_double(ctx->plugin->conf, key, &v) < 0)
        bad_key(ctx, key, "double");
    return v;
}

static const char *host_config_string(healer_ctx *ctx, const char *key)
{
    const char *v = NULL;
    if (!allowed(ctx, HEALER_FN_QUERY, "config_string"))
        return NULL;
    if (plugin_conf_string(ctx->plugin->conf, key, &v) < 0) {
        bad_key(ctx, key, "string");
        return NULL;
    }
    return v;
}

static size_t host_config_list_len(healer_ctx *ctx, const char *key)
{
    const char *const *items = NULL;
    size_t n = 0;
    if (!allowed(ctx, HEALER_FN_QUERY, "config_list_len"))
        return 0;
    if (plugin_conf_list(ctx->plugin->conf, key, &items, &n) < 0) {
        bad_key(ctx, key, "string list");
        return 0;
    }
    return n;
}

static const char *host_config_list_item(healer_ctx *ctx, const char *key, size_t i)
{
    const char *const *items = NULL;
    size_t n = 0;
    if (!allowed(ctx, HEALER_FN_QUERY, "config_list_item"))
        return NULL;
    if (plugin_conf_list(ctx->plugin->conf, key, &items, &n) < 0) {
        bad_key(ctx, key, "string list");
        return NULL;
    }
    return i < n ? items[i] : NULL;
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
    if (!allowed(ctx, HEALER_FN_QUERY, "proc_path"))
        return NULL;
    return ctx ? join_path(ctx->rt->cfg->proc_root, rel, buf, len) : NULL;
}

static const char *host_sys_path(healer_ctx *ctx, const char *rel, char *buf, size_t len)
{
    if (!allowed(ctx, HEALER_FN_QUERY, "sys_path"))
        return NULL;
    return ctx ? join_path(ctx->rt->cfg->sys_root, rel, buf, len) : NULL;
}

static int host_dry_run(healer_ctx *ctx)
{
    if (!allowed(ctx, HEALER_FN_QUERY, "dry_run"))
        return ctx ? ctx->rt->cfg->dry_run : 1;
    return ctx->rt->cfg->dry_run || ctx->plugin->mode_dry_run || ctx->preview;
}

static int host_proc_read(healer_ctx *ctx, pid_t pid, healer_proc *out)
{
    if (!allowed(ctx, HEALER_FN_QUERY, "proc_read"))
        return HEALER_E_DENIED;
    if (!out)
        return HEALER_E_INVAL;
    int rc = act_proc_read(ctx->rt->act, pid, out);
    if (rc < 0)
        set_msg(ctx, "pid %d: %s", (int)pid, healer_rc_str(rc));
    return rc;
}

static int host_proc_allowed(healer_ctx *ctx, const healer_proc *proc, int allow_system)
{
    if (!allowed(ctx, HEALER_FN_QUERY, "proc_allowed"))
        return HEALER_E_DENIED;
    if (!proc)
        return HEALER_E_INVAL;
    return act_proc_allowed(ctx->rt->act, proc, allow_system, ctx->last_msg, sizeof ctx->last_msg);
}

static int host_declare_path(healer_ctx *ctx, const char *path)
{
    if (!allowed(ctx, HEALER_FN_DECLARE_PATH, "declare_path"))
        return HEALER_E_DENIED;
    plugin_rec *p = ctx->plugin;
    int rc = healer_rules_check_declare(path, &p->policy, ctx->last_msg, sizeof ctx->last_msg);
    if (rc != HEALER_OK)
        return verdict(ctx, rc);
    char **nv = realloc(p->declared_paths, (p->n_declared_paths + 1) * sizeof *nv);
    if (!nv)
        return HEALER_E_NOMEM;
    p->declared_paths = nv;
    char *c = strdup(path);
    if (!c)
        return HEALER_E_NOMEM;
    p->declared_paths[p->n_declared_paths++] = c;
    return HEALER_OK;
}

static const char *host_last_message(healer_ctx *ctx)
{
    return ctx ? ctx->last_msg : "";
}

static int host_publish_issue(healer_ctx *ctx, const healer_issue *is)
{
    if (!allowed(ctx, HEALER_FN_PUBLISH, "publish_issue"))
        return HEALER_E_DENIED;
    int vr = healer_rules_check_issue(is, ctx->last_msg, sizeof ctx->last_msg);
    if (vr != HEALER_OK)
        return verdict(ctx, vr);
    msg_measure mm[HEALER_MAX_MEASUREMENTS];
    size_t k = 0;
    for (size_t i = 0; i < is->n_measurements; i++)
        mm[k++] = (msg_measure){ is->measurements[i].name, is->measurements[i].value };
    size_t nc = is->n_components;
    msg m = { .kind = MSG_ISSUE, .plugin = ctx->plugin->name, .has_issue = 1 };
    m.issue = (msg_issue){
        .type = is->type,
        .severity = (int)is->severity,
        .target = is->target ? is->target : "",
        .summary = is->summary ? is->summary : "",
        .plugin = ctx->plugin->name,
        .time = clock_now(),
        .measures = mm,
        .n_measures = k,
        .components = is->components,
        .n_components = nc,
    };
    int rc = worker_publish(ctx, &m);
    if (rc < 0)
        set_msg(ctx, "publish_issue: %s", healer_rc_str(rc));
    return rc;
}

static int host_resolve_issue(healer_ctx *ctx, const char *type, const char *target)
{
    if (!allowed(ctx, HEALER_FN_PUBLISH, "resolve_issue"))
        return HEALER_E_DENIED;
    int vr = healer_rules_check_resolve(type, ctx->last_msg, sizeof ctx->last_msg);
    if (vr != HEALER_OK)
        return verdict(ctx, vr);
    msg m = { .kind = MSG_RESOLVE, .plugin = ctx->plugin->name, .has_issue = 1 };
    m.issue.type = type;
    m.issue.target = target ? target : "";
    m.issue.plugin = ctx->plugin->name;
    return worker_publish(ctx, &m);
}

static int host_request(healer_ctx *ctx, const char *plugin, const char *method,
                        const healer_kv *args, size_t n_args, double timeout_s, healer_reply *reply)
{
    healer_reply dummy;
    if (!reply)
        reply = &dummy;
    if (!allowed(ctx, HEALER_FN_REQUEST, "request"))
        return HEALER_E_DENIED;
    int vr = healer_rules_check_request(plugin, method, args, n_args, timeout_s, ctx->last_msg,
                                        sizeof ctx->last_msg);
    if (vr != HEALER_OK)
        return verdict(ctx, vr);
    int rc = worker_request(ctx, plugin, method, args, n_args, timeout_s, reply);
    set_msg(ctx, "%s", reply->message);
    return rc;
}

static int host_watch_fd(healer_ctx *ctx, int fd, short events, healer_fd_cb cb)
{
    if (!allowed(ctx, HEALER_FN_WATCH_FD, "watch_fd"))
        return HEALER_E_DENIED;
    int vr = healer_rules_check_watch(fd, events, cb != NULL, ctx->last_msg, sizeof ctx->last_msg);
    if (vr != HEALER_OK)
        return verdict(ctx, vr);
    return worker_watch_fd(ctx, fd, events, cb);
}

static int host_unwatch_fd(healer_ctx *ctx, int fd)
{
    if (!allowed(ctx, HEALER_FN_QUERY, "unwatch_fd"))
        return HEALER_E_DENIED;
    return worker_unwatch_fd(ctx, fd);
}

static int host_metric(healer_ctx *ctx, healer_metric_kind kind, const char *name, const char *help,
                       const healer_kv *labels, size_t n_labels, double value)
{
    if (!allowed(ctx, HEALER_FN_QUERY, "metric"))
        return HEALER_E_DENIED;
    int vr = healer_rules_check_metric((int)kind, name, labels, n_labels, value, ctx->last_msg,
                                       sizeof ctx->last_msg);
    if (vr != HEALER_OK)
        return verdict(ctx, vr);
    /* A plugin's metrics carry its name, so no plugin can write into another's or the core's. */
    char full[256];
    const char *pn = ctx->plugin->name;
    size_t pl = strlen(pn);
    if (strncmp(name, pn, pl) == 0 && name[pl] == '_')
        snprintf(full, sizeof full, "%s", name);
    else
        snprintf(full, sizeof full, "%s_%s", pn, name);
    if (kind == HEALER_METRIC_COUNTER)
        return metrics_counter_add(ctx->rt->metrics, full, help ? help : full, labels, n_labels, value);
    if (kind == HEALER_METRIC_GAUGE)
        return metrics_gauge_set(ctx->rt->metrics, full, help ? help : full, labels, n_labels, value);
    return HEALER_E_INVAL;
}

static int host_report_health(healer_ctx *ctx, const char *component, double score)
{
    if (!allowed(ctx, HEALER_FN_PUBLISH, "report_health"))
        return HEALER_E_DENIED;
    int vr = healer_rules_check_health(component, score, ctx->last_msg, sizeof ctx->last_msg);
    if (vr != HEALER_OK)
        return verdict(ctx, vr);
    if (!plughost_health_due(ctx->w, component, score))
        return HEALER_OK;
    msg_measure mm = { component, score };
    msg m = { .kind = MSG_HEALTH, .plugin = ctx->plugin->name, .measures = &mm, .n_measures = 1 };
    return worker_publish(ctx, &m);
}

/* Actuators: allowed while executing, restoring or serving a request (the phase table). */
static int act_allowed(healer_ctx *ctx, const char *what)
{
    return allowed(ctx, HEALER_FN_ACTUATOR, what);
}

static act_context make_act_ctx(healer_ctx *ctx)
{
    return (act_context){
        .plugin = ctx->plugin->name,
        .heal_id = ctx->heal_id,
        .issue_type = ctx->issue_type,
        .action = ctx->action,
        .before_json = worker_before_json(ctx),
        /* SYSTEM counts only when the operator allows it for this plugin (allow_system). */
        .allow_system = (healer_rules_effective_flags(ctx->action_flags, &ctx->plugin->policy) &
                         HEALER_ACTION_SYSTEM) != 0,
        .system_denied = (ctx->action_flags & HEALER_ACTION_SYSTEM) &&
                         !ctx->plugin->policy.allow_system,
        .action_flags = ctx->action_flags,
        .policy = &ctx->plugin->policy,
        .declared_paths = (const char *const *)ctx->plugin->declared_paths,
        .n_declared_paths = ctx->plugin->n_declared_paths,
        .issue_id = ctx->issue ? ctx->issue->id : 0,
        .dry_run = ctx->plugin->mode_dry_run || ctx->preview,
        .preview = ctx->preview ? ctx->preview_sink : NULL,
    };
}

static int host_act_signal(healer_ctx *ctx, pid_t pid, uint64_t start_time, int sig, double grace_s)
{
    if (!act_allowed(ctx, "act_signal"))
        return HEALER_E_DENIED;
    act_context c = make_act_ctx(ctx);
    return act_signal(ctx->rt->act, &c, pid, start_time, sig, grace_s, ctx->last_msg, sizeof ctx->last_msg);
}

static int host_act_renice(healer_ctx *ctx, pid_t pid, uint64_t start_time, int nice)
{
    if (!act_allowed(ctx, "act_renice"))
        return HEALER_E_DENIED;
    act_context c = make_act_ctx(ctx);
    return act_renice(ctx->rt->act, &c, pid, start_time, nice, ctx->last_msg, sizeof ctx->last_msg);
}

static int host_act_write_file(healer_ctx *ctx, const char *path, const char *value)
{
    if (!act_allowed(ctx, "act_write_file"))
        return HEALER_E_DENIED;
    if (!path || !value)
        return HEALER_E_INVAL;
    act_context c = make_act_ctx(ctx);
    return act_write_file(ctx->rt->act, &c, path, value, ctx->last_msg, sizeof ctx->last_msg);
}

static int host_act_run(healer_ctx *ctx, const char *const argv[], double timeout_s, char *out,
                        size_t out_len, int *exit_status)
{
    if (!act_allowed(ctx, "act_run"))
        return HEALER_E_DENIED;
    if (!argv || !argv[0])
        return HEALER_E_INVAL;
    act_context c = make_act_ctx(ctx);
    return act_run(ctx->rt->act, &c, argv, timeout_s, out, out_len, exit_status, ctx->last_msg,
                   sizeof ctx->last_msg);
}

static int host_act_remove_old_files(healer_ctx *ctx, const char *dir, double older_than_days,
                                     const healer_remove_opts *opts, uint64_t *freed, uint64_t *count)
{
    if (!act_allowed(ctx, "act_remove_old_files"))
        return HEALER_E_DENIED;
    if (!dir)
        return HEALER_E_INVAL;
    healer_remove_opts none;
    memset(&none, 0, sizeof none);
    uint64_t f = 0, k = 0;
    act_context c = make_act_ctx(ctx);
    int rc = act_remove_old_files(ctx->rt->act, &c, dir, older_than_days, opts ? opts : &none, &f,
                                  &k, ctx->last_msg, sizeof ctx->last_msg);
    if (freed) *freed = f;
    if (count) *count = k;
    return rc;
}

static int host_act_freeze_cgroup(healer_ctx *ctx, const char *cgroup_dir, int freeze)
{
    if (!act_allowed(ctx, "act_freeze_cgroup"))
        return HEALER_E_DENIED;
    if (!cgroup_dir)
        return HEALER_E_INVAL;
    act_context c = make_act_ctx(ctx);
    return act_freeze_cgroup(ctx->rt->act, &c, cgroup_dir, freeze, ctx->last_msg, sizeof ctx->last_msg);
}

static int host_probe_run(healer_ctx *ctx, const char *const argv[], double timeout_s, char *out,
                          size_t out_len, int *exit_status)
{
    if (!allowed(ctx, HEALER_FN_QUERY, "probe_run"))
        return HEALER_E_DENIED;
    if (!argv || !argv[0])
        return HEALER_E_INVAL;
    act_context c = { .plugin = ctx->plugin->name, .issue_type = ctx->issue_type };
    int rc = act_probe(ctx->rt->act, &c, argv, timeout_s, out, out_len, exit_status,
                       ctx->last_msg, sizeof ctx->last_msg);
    char who[WHO_LEN];
    who_of(ctx, who);
    log_debug(who, "probe: %s", ctx->last_msg);
    return rc;
}

static double host_action_time_left(healer_ctx *ctx)
{
    return on_thread(ctx) ? plughost_time_left(ctx) : INFINITY;
}

static int host_series_feed(healer_ctx *ctx, const char *name, double t, double value)
{
    if (!allowed(ctx, HEALER_FN_QUERY, "series_feed"))
        return HEALER_E_DENIED;
    return plughost_series_feed(ctx, name, t, value);
}

static int host_series_predict(healer_ctx *ctx, const char *name, double threshold,
                               healer_prediction *out)
{
    if (!allowed(ctx, HEALER_FN_QUERY, "series_predict"))
        return HEALER_E_DENIED;
    return plughost_series_predict(ctx, name, threshold, out);
}

static int host_series_forget(healer_ctx *ctx, const char *name)
{
    if (!allowed(ctx, HEALER_FN_QUERY, "series_forget"))
        return HEALER_E_DENIED;
    return plughost_series_forget(ctx, name);
}

static const healer_host host_table = {
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

const healer_host *hostapi_table(void)
{
    return &host_table;
}
