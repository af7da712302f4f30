/* config.c — reads healerd.conf with libconfig, fills struct config with defaults for what is
 * absent, and reports every unknown section or key, wrong type and out-of-range value as
 * FILE:LINE. Also owns plugin sections: checking them against a plugin's declared schema and
 * resolving them into plugin_conf, a copy that does not depend on libconfig's memory. */
#include "config.h"
#include "config_int.h"
#include "isolation.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "rules.h"

/* A uid of (uid_t)-1 means "no change" to the kernel; it can never name a process owner. */
#define UID_LIMIT 4294967294.0
/* A day: longer detection intervals, timeouts and waits are a typo, not a plan. */
#define INTERVAL_MAX 86400.0
/* 10 ms: a shorter detection interval is a busy loop on the host it is meant to heal. */
#define INTERVAL_MIN 0.01
/* A year, in minutes: the longest cooldown or confirmation wait that still means something. */
#define MINUTES_MAX 525600.0


/* ---- diagnostics ------------------------------------------------------------------------ */

void diag_report(diag *d, const char *file, int line, const char *fmt, ...)
{
    if (!d)
        return;
    d->count++;
    if (!d->emit)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->emit(d->ud, file ? file : "?", line, msg);
}


static const char *setting_file(const rctx *r, const config_setting_t *s)
{
    const char *f = s ? config_setting_source_file(s) : NULL;
    return f ? f : r->path;
}

static int setting_line(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

/* libconfig names an @included file as the directive wrote it; show where it really is. */
static const char *display_file(const rctx *r, const char *file, char *buf, size_t n)
{
    if (file[0] == '/' || !r->include_dir || strcmp(r->include_dir, ".") == 0 ||
        strcmp(file, r->path) == 0)
        return file;
    size_t dl = strlen(r->include_dir);
    int w = snprintf(buf, n, "%s%s%s", r->include_dir, r->include_dir[dl - 1] == '/' ? "" : "/",
                     file);
    return (w > 0 && (size_t)w < n) ? buf : file;
}

__attribute__((format(printf, 3, 4)))
void cfg_report(rctx *r, const config_setting_t *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->errors++;
    char joined[PATH_MAX];
    diag_report(r->d, display_file(r, setting_file(r, s), joined, sizeof joined),
                setting_line(s), "%s", msg);
}

/* "limits.cooldown_minutes", "protect.names[1]". */
static void setting_path(const config_setting_t *s, char *buf, size_t n)
{
    const config_setting_t *chain[32];
    size_t depth = 0;
    for (const config_setting_t *p = s; p && !config_setting_is_root(p) && depth < 32;
         p = config_setting_parent(p))
        chain[depth++] = p;
    size_t len = 0;
    buf[0] = '\0';
    while (depth-- > 0 && len < n) {
        const config_setting_t *p = chain[depth];
        int w;
        if (config_setting_name(p))
            w = snprintf(buf + len, n - len, "%s%s", len ? "." : "", config_setting_name(p));
        else
            w = snprintf(buf + len, n - len, "[%d]", config_setting_index(p));
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (len >= n)
        buf[n - 1] = '\0';
}

const char *cfg_type_name(int type)
{
    switch (type) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a bool";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "nothing";
    }
}


bool cfg_get_number(const rctx *r, const config_setting_t *s, double *out)
{
    long long i;
    if (cfg_get_integer(r, s, &i, NULL)) {
        *out = (double)i;
        return true;
    }
    if (config_setting_type(s) == CONFIG_TYPE_FLOAT) {
        *out = config_setting_get_float(s);
        return true;
    }
    return false;
}

bool cfg_is_list_like(const config_setting_t *s)
{
    return config_setting_is_array(s) || config_setting_is_list(s);
}

static bool match_ident(const char *s, bool lower_only)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!isascii(c))
            return false;
        bool ok = lower_only ? ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
                             : (isalnum(c) || c == '_');
        if (!ok || (!lower_only && p == s && isdigit(c)))
            return false;
    }
    return true;
}

/* ---- strings and lists that we own --------------------------------------------------------- */

void cfg_free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int set_string(char **dst, const char *src)
{
    char *copy = strdup(src ? src : "");
    if (!copy)
        return HEALER_E_NOMEM;
    free(*dst);
    *dst = copy;
    return HEALER_OK;
}

/* Reads an array or list of non-empty strings; returns false (and reports) on any bad
 * element, leaving *out untouched. */
bool cfg_read_string_list(rctx *r, const config_setting_t *s, const char *path, bool nonempty,
                             char ***out, size_t *n_out)
{
    if (!cfg_is_list_like(s)) {
        cfg_report(r, s, "%s: expected a list of strings [\"a\", \"b\"], got %s", path,
               cfg_type_name(config_setting_type(s)));
        return false;
    }
    int n = config_setting_length(s);
    bool ok = true;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            cfg_report(r, e, "%s[%d]: expected a string, got %s", path, i,
                   cfg_type_name(config_setting_type(e)));
            ok = false;
        } else if (nonempty && !*config_setting_get_string(e)) {
            cfg_report(r, e, "%s[%d]: must not be empty", path, i);
            ok = false;
        }
    }
    if (!ok)
        return false;
    char **v = calloc((size_t)n + 1, sizeof *v);
    if (!v) {
        cfg_report(r, s, "%s: out of memory", path);
        return false;
    }
    for (int i = 0; i < n; i++) {
        v[i] = strdup(config_setting_get_string_elem(s, i));
        if (!v[i]) {
            cfg_free_strv(v, (size_t)i);
            cfg_report(r, s, "%s: out of memory", path);
            return false;
        }
    }
    *out = v;
    *n_out = (size_t)n;
    return true;
}

/* ---- the agent's own sections -------------------------------------------------------------- */

typedef enum kind {
    K_BOOL,      /* int 0/1 */
    K_INT,       /* int, [min, max] */
    K_UINT,      /* unsigned, [min, max] */
    K_DOUBLE,    /* double, int accepted; see lo_excl */
    K_STRING,    /* any string */
    K_ABSPATH,   /* an absolute path */
    K_CGROUP,    /* "" or an absolute cgroup path */
    K_MODE,      /* "live" | "dry-run" -> dry_run */
    K_LOGLEVEL,  /* error|warn|info|debug */
    K_LOGFORMAT, /* text|json */
    K_LISTEN,    /* ADDR:PORT, [v6]:PORT or "" */
    K_NAMESPACE, /* a Prometheus metric name prefix */
    K_STRLIST,   /* protect.names */
    K_UIDLIST,   /* scope.uids */
    K_HOSTLIST   /* http.allowed_hosts */
} kind;

typedef struct key_spec {
    const char *section;
    const char *key;
    kind kind;
    size_t off;
    double lo, hi;   /* numbers: the range; hi = INFINITY for none */
    bool lo_excl;    /* lo itself is out of range (> instead of >=) */
} key_spec;

#define F(field) offsetof(config, field)
static const key_spec KEYS[] = {
    {"agent", "mode", K_MODE, F(dry_run), 0, 0, false},
    {"agent", "interval", K_DOUBLE, F(interval), INTERVAL_MIN, INTERVAL_MAX, false},
    {"agent", "plugin_dir", K_ABSPATH, F(plugin_dir), 0, 0, false},
    {"agent", "state_dir", K_ABSPATH, F(state_dir), 0, 0, false},
    {"agent", "proc_root", K_ABSPATH, F(proc_root), 0, 0, false},
    {"agent", "sys_root", K_ABSPATH, F(sys_root), 0, 0, false},
    {"agent", "log_level", K_LOGLEVEL, F(log_level), 0, 0, false},
    {"agent", "log_format", K_LOGFORMAT, F(log_format), 0, 0, false},
    {"agent", "plugin_check_owner", K_BOOL, F(plugin_check_owner), 0, 0, false},
    {"agent", "queue_limit", K_INT, F(bus_hwm), 10, 1000000, false},
    {"agent", "action_timeout", K_DOUBLE, F(action_timeout), 0.001, INTERVAL_MAX, false},
    {"agent", "max_open_issues", K_INT, F(max_open_issues), 1, 10000000, false},
    {"agent", "history_days", K_DOUBLE, F(history_days), 0, 36500, false},
    {"agent", "backup_deletions_max_mb", K_INT, F(backup_deletions_max_mb), 0, 1048576, false},
    {"limits", "max_heals_per_hour", K_INT, F(limits.max_heals_per_hour), 0, 100000, false},
    {"limits", "max_rollbacks_per_day", K_INT, F(limits.max_rollbacks_per_day), 0, 1000, false},
    {"limits", "min_health_for_auto", K_INT, F(limits.min_health_for_auto), 0, 100, false},
    {"limits", "cooldown_minutes", K_DOUBLE, F(limits.cooldown_minutes), 0, MINUTES_MAX, false},
    {"limits", "confirm_timeout_minutes", K_DOUBLE, F(limits.confirm_timeout_minutes), 0,
     MINUTES_MAX, true},
    {"limits", "auto_after_confirmations", K_INT, F(limits.auto_after_confirmations), 0, 1000,
     false},
    {"limits", "loop_heals", K_INT, F(limits.loop_heals), 0, 1000, false},
    {"limits", "loop_window_minutes", K_DOUBLE, F(limits.loop_window_minutes), 0, MINUTES_MAX,
     false},
    {"limits", "relapse_window_s", K_DOUBLE, F(limits.relapse_window_s), 0, 86400 * 7.0, false},
    {"http", "listen", K_LISTEN, F(http_listen), 0, 0, false},
    {"http", "token_file", K_STRING, F(token_file), 0, 0, false},
    {"http", "allowed_hosts", K_HOSTLIST, F(http_allowed_hosts), 0, 0, false},
    {"http", "allow_remote", K_BOOL, F(http_allow_remote), 0, 0, false},
    {"metrics", "namespace", K_NAMESPACE, F(metrics_namespace), 0, 0, false},
    {"protect", "names", K_STRLIST, F(protect_names), 0, 0, false},
    {"protect", "replace_default_names", K_BOOL, F(protect_replace_default_names), 0, 0, false},
    {"protect", "min_uid", K_UINT, F(protect_min_uid), 0, UID_LIMIT, false},
    {"scope", "cgroup", K_CGROUP, F(scope_cgroup), 0, 0, false},
    {"scope", "uids", K_UIDLIST, F(scope_uids), 0, UID_LIMIT, false},
    {"planner", "exploration", K_DOUBLE, F(exploration), 0, 1, false},
};
#undef F
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

static const char *const SECTIONS[] = {"agent", "limits", "http", "metrics", "protect",
                                       "scope", "planner", "plugins", "notify",
                                       "fleet"};
#define N_SECTIONS (sizeof SECTIONS / sizeof SECTIONS[0])

/* "must be > 0 and <= 86400" and the like. */
static void range_text(double lo, bool lo_excl, double hi, char *buf, size_t n)
{
    if (isinf(hi))
        snprintf(buf, n, "must be %s %.15g", lo_excl ? ">" : ">=", lo);
    else if (!lo_excl)
        snprintf(buf, n, "must be between %.15g and %.15g", lo, hi);
    else
        snprintf(buf, n, "must be > %.15g and <= %.15g", lo, hi);
}

static bool in_range(double v, double lo, bool lo_excl, double hi)
{
    if (!isfinite(v)) /* 1e400 reads as infinity */
        return false;
    if (lo_excl ? !(v > lo) : !(v >= lo))
        return false;
    return v <= hi;
}

static void apply_key(rctx *r, config *cfg, const key_spec *k, const config_setting_t *s)
{
    char path[256];
    setting_path(s, path, sizeof path);
    char *base = (char *)cfg + k->off;
    int type = config_setting_type(s);
    char range[128];

    switch (k->kind) {
    case K_BOOL:
        if (type != CONFIG_TYPE_BOOL) {
            cfg_report(r, s, "%s: expected a bool (true or false), got %s", path, cfg_type_name(type));
            return;
        }
        *(int *)base = config_setting_get_bool(s);
        return;

    case K_INT:
    case K_UINT: {
        long long v;
        bool huge;
        if (!cfg_get_integer(r, s, &v, &huge)) {
            cfg_report(r, s, "%s: expected an integer, got %s", path, cfg_type_name(type));
            return;
        }
        if (huge || (double)v < k->lo || (double)v > k->hi) {
            range_text(k->lo, false, k->hi, range, sizeof range);
            if (huge)
                cfg_report(r, s, "%s: %s, got a number beyond 64 bits", path, range);
            else
                cfg_report(r, s, "%s: %s, got %lld", path, range, v);
            return;
        }
        if (k->kind == K_INT)
            *(int *)base = (int)v;
        else
            *(unsigned *)base = (unsigned)v;
        return;
    }

    case K_DOUBLE: {
        double v;
        if (!cfg_get_number(r, s, &v)) {
            cfg_report(r, s, "%s: expected a number, got %s", path, cfg_type_name(type));
            return;
        }
        if (!in_range(v, k->lo, k->lo_excl, k->hi)) {
            range_text(k->lo, k->lo_excl, k->hi, range, sizeof range);
            cfg_report(r, s, "%s: %s, got %.15g", path, range, v);
            return;
        }
        *(double *)base = v;
        return;
    }

    case K_STRLIST: {
        char **v = NULL;
        size_t n = 0;
        if (!cfg_read_string_list(r, s, path, true, &v, &n))
            return;
        /* Kept apart: whether it adds to the built-in names or replaces them depends on
         * protect.replace_default_names, which may come later in the section. */
        cfg_free_strv(cfg->impl->protect_extra, cfg->impl->n_protect_extra);
        cfg->impl->protect_extra = v;
        cfg->impl->n_protect_extra = n;
        return;
    }

    case K_UIDLIST: {
        if (!cfg_is_list_like(s)) {
            cfg_report(r, s, "%s: expected a list of uids [0, 1000], got %s", path, cfg_type_name(type));
            return;
        }
        int n = config_setting_length(s);
        uid_t *uids = calloc((size_t)n + 1, sizeof *uids);
        if (!uids) {
            cfg_report(r, s, "%s: out of memory", path);
            return;
        }
        bool ok = true;
        for (int i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            long long v;
            bool huge;
            if (!cfg_get_integer(r, e, &v, &huge)) {
                cfg_report(r, e, "%s[%d]: expected an integer uid, got %s", path, i,
                       cfg_type_name(config_setting_type(e)));
                ok = false;
            } else if (huge || v < 0 || (double)v > k->hi) {
                cfg_report(r, e, "%s[%d]: must be between 0 and %.0f, got %lld", path, i, k->hi, v);
                ok = false;
            } else {
                uids[i] = (uid_t)v;
            }
        }
        if (!ok) {
            free(uids);
            return;
        }
        free(cfg->scope_uids);
        cfg->scope_uids = uids;
        cfg->n_scope_uids = (size_t)n;
        return;
    }

    case K_HOSTLIST: {
        char **v = NULL;
        size_t n = 0;
        if (!cfg_read_string_list(r, s, path, true, &v, &n))
            return;
        bool ok = true;
        for (size_t i = 0; i < n; i++) {
            char why[160];
            if (!cfg_check_host_name(v[i], why, sizeof why)) {
                cfg_report(r, config_setting_get_elem(s, (unsigned)i), "%s[%zu]: %s", path, i, why);
                ok = false;
            }
        }
        if (!ok) {
            cfg_free_strv(v, n);
            return;
        }
        cfg_free_strv(cfg->http_allowed_hosts, cfg->n_http_allowed_hosts);
        cfg->http_allowed_hosts = v;
        cfg->n_http_allowed_hosts = n;
        return;
    }

    default:
        break;
    }

    /* The rest are strings. */
    if (type != CONFIG_TYPE_STRING) {
        cfg_report(r, s, "%s: expected a string, got %s", path, cfg_type_name(type));
        return;
    }
    const char *v = config_setting_get_string(s);
    char why[256];
    switch (k->kind) {
    case K_MODE:
        if (strcmp(v, "live") == 0)
            cfg->dry_run = 0;
        else if (strcmp(v, "dry-run") == 0)
            cfg->dry_run = 1;
        else
            cfg_report(r, s, "%s: must be \"live\" or \"dry-run\", got \"%s\"", path, v);
        return;
    case K_LOGLEVEL: {
        int lvl = log_level_parse(v);
        if (lvl < 0)
            cfg_report(r, s, "%s: must be one of error, warn, notice, info, debug, got \"%s\"", path, v);
        else
            cfg->log_level = lvl;
        return;
    }
    case K_LOGFORMAT:
        if (log_format_parse(v) < 0)
            cfg_report(r, s, "%s: must be \"text\" or \"json\", got \"%s\"", path, v);
        else
            cfg->log_format = log_format_parse(v);
        return;
    case K_ABSPATH:
        if (v[0] != '/') {
            cfg_report(r, s, "%s: must be an absolute path, got \"%s\"", path, v);
            return;
        }
        break;
    case K_CGROUP:
        if (v[0] && v[0] != '/') {
            cfg_report(r, s, "%s: must be a cgroup path starting with / (or \"\" for any), got \"%s\"",
                   path, v);
            return;
        }
        break;
    case K_LISTEN:
        if (!cfg_check_listen(v, why, sizeof why)) {
            cfg_report(r, s, "%s: %s", path, why);
            return;
        }
        break;
    case K_NAMESPACE:
        if (!match_ident(v, false)) {
            cfg_report(r, s, "%s: must match [a-zA-Z_][a-zA-Z0-9_]*, got \"%s\"", path, v);
            return;
        }
        break;
    default:
        break;
    }
    if (set_string((char **)base, v) != HEALER_OK)
        cfg_report(r, s, "%s: out of memory", path);
}

static void read_section(rctx *r, config *cfg, const config_setting_t *sec)
{
    const char *sname = config_setting_name(sec);
    int n = config_setting_length(sec);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *key = config_setting_name(s);
        const key_spec *k = NULL;
        for (size_t j = 0; j < N_KEYS; j++)
            if (strcmp(KEYS[j].section, sname) == 0 && strcmp(KEYS[j].key, key) == 0)
                k = &KEYS[j];
        if (!k) {
            char known[512] = "";
            size_t len = 0;
            for (size_t j = 0; j < N_KEYS && len < sizeof known; j++)
                if (strcmp(KEYS[j].section, sname) == 0) {
                    int w = snprintf(known + len, sizeof known - len, "%s%s", len ? ", " : "",
                                     KEYS[j].key);
                    if (w > 0)
                        len += (size_t)w;
                }
            cfg_report(r, s, "%s.%s: unknown key (known: %s)", sname, key, known);
            continue;
        }
        apply_key(r, cfg, k, s);
    }
}

static void read_plugins(rctx *r, config *cfg, const config_setting_t *sec)
{
    struct config_impl *impl = cfg->impl;
    int n = config_setting_length(sec);
    impl->plugin_names = calloc((size_t)n + 1, sizeof *impl->plugin_names);
    if (!impl->plugin_names) {
        cfg_report(r, sec, "plugins: out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *name = config_setting_name(s);
        if (!config_setting_is_group(s)) {
            cfg_report(r, s, "plugins.%s: expected a group { ... }, got %s", name,
                   cfg_type_name(config_setting_type(s)));
            continue;
        }
        if (!match_ident(name, true)) {
            cfg_report(r, s, "plugins.%s: a plugin section's name must match [a-z0-9_]+", name);
            continue;
        }
        /* enabled is checked here, not only at resolve time: a disabled plugin is never
         * resolved, and config_plugin_enabled must have a bool to answer with. */
        const config_setting_t *en = config_setting_get_member(s, "enabled");
        if (en && config_setting_type(en) != CONFIG_TYPE_BOOL) {
            cfg_report(r, en, "plugins.%s.enabled: expected a bool (true or false), got %s", name,
                   cfg_type_name(config_setting_type(en)));
            continue;
        }
        char *copy = strdup(name);
        if (!copy) {
            cfg_report(r, s, "plugins: out of memory");
            return;
        }
        impl->plugin_names[impl->n_plugins++] = copy;
    }
}

static int set_defaults(config *cfg)
{
    static const char *const default_names[] = {"sshd", "systemd", "healerd"};
    cfg->dry_run = 0;
    cfg->interval = 5.0;
    cfg->log_level = HEALER_LOG_INFO;
    cfg->plugin_check_owner = 1;
    cfg->bus_hwm = 1000;
    cfg->action_timeout = 60.0;
    cfg->max_open_issues = 100000;
    cfg->history_days = 90.0;
    cfg->limits.max_heals_per_hour = 10;
    cfg->limits.max_rollbacks_per_day = 3;
    cfg->limits.min_health_for_auto = 30;
    cfg->limits.cooldown_minutes = 5.0;
    cfg->limits.confirm_timeout_minutes = 60.0;
    cfg->limits.auto_after_confirmations = 0;
    cfg->limits.loop_heals = 3;
    cfg->limits.loop_window_minutes = 60.0;
    cfg->limits.relapse_window_s = 300.0;
    cfg->protect_min_uid = HEALER_RULES_LOGIN_UID_MIN;
    cfg->protect_max_uid = HEALER_RULES_LOGIN_UID_MAX;
    cfg->exploration = 0.1;
    cfg_notify_defaults(cfg);
    if (!cfg->notify.instance || cfg_fleet_defaults(cfg) != 0)
        return HEALER_E_NOMEM;
    if (set_string(&cfg->plugin_dir, HEALERD_PLUGIN_DIR) ||
        set_string(&cfg->state_dir, "/var/lib/healerd") ||
        set_string(&cfg->proc_root, "/proc") || set_string(&cfg->sys_root, "/sys") ||
        set_string(&cfg->http_listen, "127.0.0.1:9191") ||
        set_string(&cfg->token_file, "/etc/healerd/token") ||
        set_string(&cfg->metrics_namespace, "luminous_nix") ||
        set_string(&cfg->scope_cgroup, ""))
        return HEALER_E_NOMEM;
    size_t n = sizeof default_names / sizeof default_names[0];
    cfg->protect_names = calloc(n + 1, sizeof *cfg->protect_names);
    if (!cfg->protect_names)
        return HEALER_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        cfg->protect_names[i] = strdup(default_names[i]);
        if (!cfg->protect_names[i])
            return HEALER_E_NOMEM;
        cfg->n_protect_names = i + 1;
    }
    return HEALER_OK;
}

/* protect.names adds to the built-in names (a list naming "postgres" must not silently take
 * sshd's protection away); protect.replace_default_names = true makes it the whole list. */
static int merge_protect_names(config *cfg)
{
    struct config_impl *impl = cfg->impl;
    if (cfg->protect_replace_default_names) {
        cfg_free_strv(cfg->protect_names, cfg->n_protect_names);
        cfg->protect_names = impl->protect_extra ? impl->protect_extra : calloc(1, sizeof(char *));
        cfg->n_protect_names = impl->n_protect_extra;
        impl->protect_extra = NULL;
        impl->n_protect_extra = 0;
        return cfg->protect_names ? HEALER_OK : HEALER_E_NOMEM;
    }
    size_t n = cfg->n_protect_names;
    char **v = realloc(cfg->protect_names, (n + impl->n_protect_extra + 1) * sizeof *v);
    if (!v)
        return HEALER_E_NOMEM;
    cfg->protect_names = v;
    for (size_t i = 0; i < impl->n_protect_extra; i++) {
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = strcmp(v[j], impl->protect_extra[i]) == 0;
        if (dup)
            continue;
        v[n++] = impl->protect_extra[i];
        impl->protect_extra[i] = NULL;
    }
    v[n] = NULL;
    cfg->n_protect_names = n;
    return HEALER_OK;
}

void config_free(config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->plugin_dir);
    free(cfg->state_dir);
    free(cfg->proc_root);
    free(cfg->sys_root);
    free(cfg->http_listen);
    free(cfg->token_file);
    cfg_free_strv(cfg->http_allowed_hosts, cfg->n_http_allowed_hosts);
    free(cfg->metrics_namespace);
    cfg_free_strv(cfg->protect_names, cfg->n_protect_names);
    free(cfg->scope_cgroup);
    free(cfg->scope_uids);
    cfg_notify_free(cfg);
    cfg_fleet_free(cfg);
    if (cfg->impl) {
        if (cfg->impl->lc_live)
            config_destroy(&cfg->impl->lc);
        free(cfg->impl->include_dir);
        free(cfg->impl->exact);
        cfg_free_strv(cfg->impl->protect_extra, cfg->impl->n_protect_extra);
        cfg_free_strv(cfg->impl->plugin_names, cfg->impl->n_plugins);
        free(cfg->impl);
    }
    free(cfg);
}

static const char *login_defs_path = "/etc/login.defs";

void config_set_login_defs(const char *path)
{
    login_defs_path = path ? path : "/etc/login.defs";
}

/* The login range: UID_MIN..UID_MAX of login.defs, the same as useradd's; protect.min_uid, when
 * the file sets it, moves the lower end (an operator whose users start at 500 says so there),
 * never the upper one: nobody and DynamicUser stay system whatever it says (rules.h). */
static void login_range(config *cfg)
{
    unsigned lo = HEALER_RULES_LOGIN_UID_MIN, hi = HEALER_RULES_LOGIN_UID_MAX;
    int fd = open(login_defs_path, O_RDONLY | O_CLOEXEC);
    char *buf = fd >= 0 ? malloc(65536) : NULL;
    if (buf) {
        size_t n = 0;
        ssize_t k;
        while (n < 65535 && (k = read(fd, buf + n, 65535 - n)) > 0)
            n += (size_t)k;
        buf[n] = '\0';
        healer_rules_login_defs(buf, &lo, &hi);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    if (!config_lookup(&cfg->impl->lc, "protect.min_uid"))
        cfg->protect_min_uid = lo;
    cfg->protect_max_uid = hi;
}

int config_load(const char *path, config **out, diag *d)
{
    if (out)
        *out = NULL;
    if (!path || !out) {
        diag_report(d, path ? path : "?", 0, "config_load: no file or no result pointer");
        return 1;
    }
    rctx r = {.d = d, .path = path, .errors = 0};

    /* libconfig says only "file I/O error"; the operator needs errno's reason. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int e = 0;
    if (fd < 0 || fstat(fd, &st) != 0)
        e = errno;
    else if (S_ISDIR(st.st_mode))
        e = EISDIR;
    if (fd >= 0)
        close(fd);
    if (e) {
        diag_report(d, path, 0, "cannot read: %s", strerror(e));
        return 1;
    }

    config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->impl = calloc(1, sizeof *cfg->impl)) || !(cfg->path = strdup(path))) {
        config_free(cfg);
        diag_report(d, path, 0, "out of memory");
        return 1;
    }
    config_init(&cfg->impl->lc);
    cfg->impl->lc_live = true;
    /* Types are checked here, with our own messages; libconfig must not coerce them. */
    config_set_auto_convert(&cfg->impl->lc, 0);
    /* @include "x.conf" is relative to the including file, not to the daemon's cwd. */
    char *slash = strrchr(cfg->path, '/');
    cfg->impl->include_dir = !slash ? strdup(".")
                             : slash == cfg->path ? strdup("/")
                             : strndup(cfg->path, (size_t)(slash - cfg->path));
    if (cfg->impl->include_dir)
        config_set_include_dir(&cfg->impl->lc, cfg->impl->include_dir);
    r.include_dir = cfg->impl->include_dir;
    if (set_defaults(cfg) != HEALER_OK) {
        config_free(cfg);
        diag_report(d, path, 0, "out of memory");
        return 1;
    }

    int vetted = cfg_vet_files(d, path, cfg->impl->include_dir);
    if (vetted) {
        config_free(cfg);
        return vetted;
    }
    if (config_read_file(&cfg->impl->lc, path) != CONFIG_TRUE) {
        const config_t *lc = &cfg->impl->lc;
        char joined[PATH_MAX];
        const char *file = display_file(&r, config_error_file(lc) ? config_error_file(lc) : path,
                                        joined, sizeof joined);
        const char *text = config_error_text(lc) ? config_error_text(lc) : "unknown error";
        if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
            diag_report(d, file, config_error_line(lc), "cannot read: %s", text);
        else
            diag_report(d, file, config_error_line(lc), "cannot parse: %s", text);
        config_free(cfg);
        return 1;
    }

    /* libconfig 1.5 wraps integers beyond 32 bits (4294967296 reads as 0): every integer is
     * read again from the text, exactly (config_lex.c). */
    r.impl = cfg->impl;
    cfg_exact_integers(&r, cfg->impl, path);

    const config_setting_t *root = config_root_setting(&cfg->impl->lc);
    int n = config_setting_length(root);
    for (int i = 0; i < n; i++) {
        const config_setting_t *sec = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(sec);
        bool known = false;
        for (size_t j = 0; j < N_SECTIONS; j++)
            known = known || strcmp(SECTIONS[j], name) == 0;
        if (!known) {
            cfg_report(&r, sec,
                   "%s: unknown section (known: agent, limits, http, metrics, protect, scope, "
                   "planner, plugins, notify, fleet)", name);
            continue;
        }
        if (!config_setting_is_group(sec)) {
            cfg_report(&r, sec, "%s: expected a group { ... }, got %s", name,
                   cfg_type_name(config_setting_type(sec)));
            continue;
        }
        if (strcmp(name, "plugins") == 0)
            read_plugins(&r, cfg, sec);
        else if (strcmp(name, "notify") == 0)
            cfg_read_notify(&r, cfg, sec);
        else if (strcmp(name, "fleet") == 0)
            cfg_read_fleet(&r, cfg, sec);
        else
            read_section(&r, cfg, sec);
    }

    if (r.errors == 0)
        cfg_check_remote(&r, cfg);
    if (r.errors == 0 && merge_protect_names(cfg) != HEALER_OK)
        cfg_report(&r, NULL, "protect.names: out of memory");
    if (r.errors > 0) {
        config_free(cfg);
        return r.errors;
    }
    login_range(cfg);
    *out = cfg;
    return 0;
}

size_t config_plugin_sections(const config *cfg, const char ***names)
{
    if (!cfg || !cfg->impl || !cfg->impl->plugin_names) {
        if (names)
            *names = NULL;
        return 0;
    }
    if (names)
        *names = (const char **)cfg->impl->plugin_names;
    return cfg->impl->n_plugins;
}

const config_setting_t *cfg_plugin_section(const config *cfg, const char *name)
{
    if (!cfg || !cfg->impl || !name)
        return NULL;
    const config_setting_t *plugins = config_lookup(&cfg->impl->lc, "plugins");
    if (!plugins || !config_setting_is_group(plugins))
        return NULL;
    const config_setting_t *s = config_setting_get_member(plugins, name);
    return (s && config_setting_is_group(s)) ? s : NULL;
}

int config_plugin_section_line(const config *cfg, const char *name, const char **file)
{
    const config_setting_t *s = cfg_plugin_section(cfg, name);
    const char *f = s ? config_setting_source_file(s) : NULL;
    if (file)
        *file = f ? f : (cfg && cfg->path ? cfg->path : "(config)");
    return s ? (int)config_setting_source_line(s) : 0;
}

int config_plugin_has_key(const config *cfg, const char *name, const char *key)
{
    const config_setting_t *s = cfg_plugin_section(cfg, name);
    return s && config_setting_get_member(s, key) != NULL;
}

const char *config_plugin_raw_string(const config *cfg, const char *name, const char *key)
{
    const config_setting_t *s = cfg_plugin_section(cfg, name);
    const config_setting_t *v = s ? config_setting_get_member(s, key) : NULL;
    return v && config_setting_type(v) == CONFIG_TYPE_STRING ? config_setting_get_string(v) : NULL;
}

int config_plugin_enabled(const config *cfg, const char *name)
{
    const config_setting_t *s = cfg_plugin_section(cfg, name);
    const config_setting_t *en = s ? config_setting_get_member(s, "enabled") : NULL;
    if (!en || config_setting_type(en) != CONFIG_TYPE_BOOL)
        return 1;
    return config_setting_get_bool(en) ? 1 : 0;
}

