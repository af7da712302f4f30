/* config.c — reads healerd.conf with libconfig, fills struct config with defaults for what is
 * absent, and reports every unknown section or key, wrong type and out-of-range value as
 * FILE:LINE. Also owns plugin sections: checking them against a plugin's declared schema and
 * resolving them into plugin_conf, a copy that does not depend on libconfig's memory. */
#include "config.h"
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
/* A day: longer detection intervals are a typo, not a plan. */
#define INTERVAL_MAX 86400.0

struct config_impl {
    config_t lc;                  /* kept for config_plugin_resolve */
    bool lc_live;                 /* config_init was called */
    char *include_dir;            /* libconfig may keep only the pointer */
    char **plugin_names;
    size_t n_plugins;
};

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

/* One reading of a file or one plugin section: counts its own problems, because the caller's
 * diag may be NULL or may already hold problems from earlier reads. */
typedef struct rctx {
    diag *d;
    const char *path;   /* fallback file name for settings libconfig did not tag */
    const char *include_dir; /* libconfig names an @included file as written: relative to it */
    int errors;
} rctx;

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
static void report(rctx *r, const config_setting_t *s, const char *fmt, ...)
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

static const char *type_name(int type)
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

static bool get_integer(const config_setting_t *s, long long *out)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: *out = config_setting_get_int(s); return true;
    case CONFIG_TYPE_INT64: *out = config_setting_get_int64(s); return true;
    default: return false;
    }
}

static bool get_number(const config_setting_t *s, double *out)
{
    long long i;
    if (get_integer(s, &i)) {
        *out = (double)i;
        return true;
    }
    if (config_setting_type(s) == CONFIG_TYPE_FLOAT) {
        *out = config_setting_get_float(s);
        return true;
    }
    return false;
}

static bool is_list_like(const config_setting_t *s)
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

static void free_strv(char **v, size_t n)
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
static bool read_string_list(rctx *r, const config_setting_t *s, const char *path, bool nonempty,
                             char ***out, size_t *n_out)
{
    if (!is_list_like(s)) {
        report(r, s, "%s: expected a list of strings [\"a\", \"b\"], got %s", path,
               type_name(config_setting_type(s)));
        return false;
    }
    int n = config_setting_length(s);
    bool ok = true;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            report(r, e, "%s[%d]: expected a string, got %s", path, i,
                   type_name(config_setting_type(e)));
            ok = false;
        } else if (nonempty && !*config_setting_get_string(e)) {
            report(r, e, "%s[%d]: must not be empty", path, i);
            ok = false;
        }
    }
    if (!ok)
        return false;
    char **v = calloc((size_t)n + 1, sizeof *v);
    if (!v) {
        report(r, s, "%s: out of memory", path);
        return false;
    }
    for (int i = 0; i < n; i++) {
        v[i] = strdup(config_setting_get_string_elem(s, i));
        if (!v[i]) {
            free_strv(v, (size_t)i);
            report(r, s, "%s: out of memory", path);
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
    K_LISTEN,    /* ADDR:PORT, [v6]:PORT or "" */
    K_NAMESPACE, /* a Prometheus metric name prefix */
    K_STRLIST,   /* protect.names */
    K_UIDLIST    /* scope.uids */
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
    {"agent", "interval", K_DOUBLE, F(interval), 0, INTERVAL_MAX, true},
    {"agent", "plugin_dir", K_ABSPATH, F(plugin_dir), 0, 0, false},
    {"agent", "state_dir", K_ABSPATH, F(state_dir), 0, 0, false},
    {"agent", "proc_root", K_ABSPATH, F(proc_root), 0, 0, false},
    {"agent", "sys_root", K_ABSPATH, F(sys_root), 0, 0, false},
    {"agent", "log_level", K_LOGLEVEL, F(log_level), 0, 0, false},
    {"agent", "plugin_check_owner", K_BOOL, F(plugin_check_owner), 0, 0, false},
    {"agent", "queue_limit", K_INT, F(bus_hwm), 10, 1000000, false},
    {"agent", "action_timeout", K_DOUBLE, F(action_timeout), 0, INFINITY, true},
    {"agent", "max_open_issues", K_INT, F(max_open_issues), 1, 10000000, false},
    {"agent", "history_days", K_DOUBLE, F(history_days), 0, 36500, false},
    {"limits", "max_heals_per_hour", K_INT, F(limits.max_heals_per_hour), 0, 100000, false},
    {"limits", "max_rollbacks_per_day", K_INT, F(limits.max_rollbacks_per_day), 0, 1000, false},
    {"limits", "min_health_for_auto", K_INT, F(limits.min_health_for_auto), 0, 100, false},
    {"limits", "cooldown_minutes", K_DOUBLE, F(limits.cooldown_minutes), 0, INFINITY, false},
    {"limits", "confirm_timeout_minutes", K_DOUBLE, F(limits.confirm_timeout_minutes), 0,
     INFINITY, true},
    {"limits", "auto_after_confirmations", K_INT, F(limits.auto_after_confirmations), 0, 1000,
     false},
    {"http", "listen", K_LISTEN, F(http_listen), 0, 0, false},
    {"http", "token_file", K_STRING, F(token_file), 0, 0, false},
    {"metrics", "namespace", K_NAMESPACE, F(metrics_namespace), 0, 0, false},
    {"protect", "names", K_STRLIST, F(protect_names), 0, 0, false},
    {"protect", "min_uid", K_UINT, F(protect_min_uid), 0, UID_LIMIT, false},
    {"scope", "cgroup", K_CGROUP, F(scope_cgroup), 0, 0, false},
    {"scope", "uids", K_UIDLIST, F(scope_uids), 0, UID_LIMIT, false},
    {"planner", "exploration", K_DOUBLE, F(exploration), 0, 1, false},
};
#undef F
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

static const char *const SECTIONS[] = {"agent", "limits", "http", "metrics", "protect",
                                       "scope", "planner", "plugins"};
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
    if (isnan(v))
        return false;
    if (lo_excl ? !(v > lo) : !(v >= lo))
        return false;
    return v <= hi;
}

/* true when text is a listen address http_start accepts; else false and why not in why. */
static bool check_listen(const char *text, char *why, size_t n)
{
    if (!*text)
        return true;
    char host[128];
    const char *port;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':') {
            snprintf(why, n, "expected [IPV6]:PORT, got \"%s\"", text);
            return false;
        }
        size_t hl = (size_t)(close - text - 1);
        if (hl >= sizeof host) {
            snprintf(why, n, "address too long in \"%s\"", text);
            return false;
        }
        memcpy(host, text + 1, hl);
        host[hl] = '\0';
        port = close + 2;
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            snprintf(why, n, "\"%s\" is not an IPv6 address (in \"%s\")", host, text);
            return false;
        }
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon) {
            snprintf(why, n, "expected ADDR:PORT (or [IPV6]:PORT, or \"\" to disable), got \"%s\"",
                     text);
            return false;
        }
        size_t hl = (size_t)(colon - text);
        if (hl >= sizeof host) {
            snprintf(why, n, "address too long in \"%s\"", text);
            return false;
        }
        memcpy(host, text, hl);
        host[hl] = '\0';
        port = colon + 1;
        if (strchr(host, ':')) {
            snprintf(why, n, "an IPv6 address goes in brackets, [ADDR]:PORT, got \"%s\"", text);
            return false;
        }
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) != 1) {
            snprintf(why, n, "\"%s\" is not an IPv4 address (in \"%s\")", host, text);
            return false;
        }
    }
    size_t pl = strlen(port);
    bool digits = pl > 0 && pl <= 5;
    for (size_t i = 0; digits && i < pl; i++)
        digits = isdigit((unsigned char)port[i]) != 0;
    if (!digits || atol(port) > 65535) {
        snprintf(why, n, "port \"%s\" must be a number 0..65535 (in \"%s\")", port, text);
        return false;
    }
    return true;
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
            report(r, s, "%s: expected a bool (true or false), got %s", path, type_name(type));
            return;
        }
        *(int *)base = config_setting_get_bool(s);
        return;

    case K_INT:
    case K_UINT: {
        long long v;
        if (!get_integer(s, &v)) {
            report(r, s, "%s: expected an integer, got %s", path, type_name(type));
            return;
        }
        if ((double)v < k->lo || (double)v > k->hi) {
            range_text(k->lo, false, k->hi, range, sizeof range);
            report(r, s, "%s: %s, got %lld", path, range, v);
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
        if (!get_number(s, &v)) {
            report(r, s, "%s: expected a number, got %s", path, type_name(type));
            return;
        }
        if (!in_range(v, k->lo, k->lo_excl, k->hi)) {
            range_text(k->lo, k->lo_excl, k->hi, range, sizeof range);
            report(r, s, "%s: %s, got %.15g", path, range, v);
            return;
        }
        *(double *)base = v;
        return;
    }

    case K_STRLIST: {
        char **v = NULL;
        size_t n = 0;
        if (!read_string_list(r, s, path, true, &v, &n))
            return;
        free_strv(cfg->protect_names, cfg->n_protect_names);
        cfg->protect_names = v;
        cfg->n_protect_names = n;
        return;
    }

    case K_UIDLIST: {
        if (!is_list_like(s)) {
            report(r, s, "%s: expected a list of uids [0, 1000], got %s", path, type_name(type));
            return;
        }
        int n = config_setting_length(s);
        uid_t *uids = calloc((size_t)n + 1, sizeof *uids);
        if (!uids) {
            report(r, s, "%s: out of memory", path);
            return;
        }
        bool ok = true;
        for (int i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            long long v;
            if (!get_integer(e, &v)) {
                report(r, e, "%s[%d]: expected an integer uid, got %s", path, i,
                       type_name(config_setting_type(e)));
                ok = false;
            } else if (v < 0 || (double)v > k->hi) {
                report(r, e, "%s[%d]: must be between 0 and %.0f, got %lld", path, i, k->hi, v);
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

    default:
        break;
    }

    /* The rest are strings. */
    if (type != CONFIG_TYPE_STRING) {
        report(r, s, "%s: expected a string, got %s", path, type_name(type));
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
            report(r, s, "%s: must be \"live\" or \"dry-run\", got \"%s\"", path, v);
        return;
    case K_LOGLEVEL: {
        int lvl = log_level_parse(v);
        if (lvl < 0)
            report(r, s, "%s: must be one of error, warn, info, debug, got \"%s\"", path, v);
        else
            cfg->log_level = lvl;
        return;
    }
    case K_ABSPATH:
        if (v[0] != '/') {
            report(r, s, "%s: must be an absolute path, got \"%s\"", path, v);
            return;
        }
        break;
    case K_CGROUP:
        if (v[0] && v[0] != '/') {
            report(r, s, "%s: must be a cgroup path starting with / (or \"\" for any), got \"%s\"",
                   path, v);
            return;
        }
        break;
    case K_LISTEN:
        if (!check_listen(v, why, sizeof why)) {
            report(r, s, "%s: %s", path, why);
            return;
        }
        break;
    case K_NAMESPACE:
        if (!match_ident(v, false)) {
            report(r, s, "%s: must match [a-zA-Z_][a-zA-Z0-9_]*, got \"%s\"", path, v);
            return;
        }
        break;
    default:
        break;
    }
    if (set_string((char **)base, v) != HEALER_OK)
        report(r, s, "%s: out of memory", path);
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
            report(r, s, "%s.%s: unknown key (known: %s)", sname, key, known);
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
        report(r, sec, "plugins: out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *name = config_setting_name(s);
        if (!config_setting_is_group(s)) {
            report(r, s, "plugins.%s: expected a group { ... }, got %s", name,
                   type_name(config_setting_type(s)));
            continue;
        }
        if (!match_ident(name, true)) {
            report(r, s, "plugins.%s: a plugin section's name must match [a-z0-9_]+", name);
            continue;
        }
        /* enabled is checked here, not only at resolve time: a disabled plugin is never
         * resolved, and config_plugin_enabled must have a bool to answer with. */
        const config_setting_t *en = config_setting_get_member(s, "enabled");
        if (en && config_setting_type(en) != CONFIG_TYPE_BOOL) {
            report(r, en, "plugins.%s.enabled: expected a bool (true or false), got %s", name,
                   type_name(config_setting_type(en)));
            continue;
        }
        char *copy = strdup(name);
        if (!copy) {
            report(r, s, "plugins: out of memory");
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
    cfg->protect_min_uid = HEALER_RULES_LOGIN_UID_MIN;
    cfg->protect_max_uid = HEALER_RULES_LOGIN_UID_MAX;
    cfg->exploration = 0.1;
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
    free(cfg->metrics_namespace);
    free_strv(cfg->protect_names, cfg->n_protect_names);
    free(cfg->scope_cgroup);
    free(cfg->scope_uids);
    if (cfg->impl) {
        if (cfg->impl->lc_live)
            config_destroy(&cfg->impl->lc);
        free(cfg->impl->include_dir);
        free_strv(cfg->impl->plugin_names, cfg->impl->n_plugins);
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

    const config_setting_t *root = config_root_setting(&cfg->impl->lc);
    int n = config_setting_length(root);
    for (int i = 0; i < n; i++) {
        const config_setting_t *sec = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(sec);
        bool known = false;
        for (size_t j = 0; j < N_SECTIONS; j++)
            known = known || strcmp(SECTIONS[j], name) == 0;
        if (!known) {
            report(&r, sec,
                   "%s: unknown section (known: agent, limits, http, metrics, protect, scope, "
                   "planner, plugins)", name);
            continue;
        }
        if (!config_setting_is_group(sec)) {
            report(&r, sec, "%s: expected a group { ... }, got %s", name,
                   type_name(config_setting_type(sec)));
            continue;
        }
        if (strcmp(name, "plugins") == 0)
            read_plugins(&r, cfg, sec);
        else
            read_section(&r, cfg, sec);
    }

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

static const config_setting_t *plugin_section(const config *cfg, const char *name)
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
    const config_setting_t *s = plugin_section(cfg, name);
    const char *f = s ? config_setting_source_file(s) : NULL;
    if (file)
        *file = f ? f : (cfg && cfg->path ? cfg->path : "(config)");
    return s ? (int)config_setting_source_line(s) : 0;
}

int config_plugin_has_key(const config *cfg, const char *name, const char *key)
{
    const config_setting_t *s = plugin_section(cfg, name);
    return s && config_setting_get_member(s, key) != NULL;
}

const char *config_plugin_raw_string(const config *cfg, const char *name, const char *key)
{
    const config_setting_t *s = plugin_section(cfg, name);
    const config_setting_t *v = s ? config_setting_get_member(s, key) : NULL;
    return v && config_setting_type(v) == CONFIG_TYPE_STRING ? config_setting_get_string(v) : NULL;
}

int config_plugin_enabled(const config *cfg, const char *name)
{
    const config_setting_t *s = plugin_section(cfg, name);
    const config_setting_t *en = s ? config_setting_get_member(s, "enabled") : NULL;
    if (!en || config_setting_type(en) != CONFIG_TYPE_BOOL)
        return 1;
    return config_setting_get_bool(en) ? 1 : 0;
}

/* ---- plugin sections resolved against a schema ---------------------------------------------- */

typedef struct pc_entry {
    char *name;
    healer_config_type type;
    double min, max;
    int b;
    long long i;
    double d;
    char *s;
    char **items;     /* NULL-terminated */
    size_t n_items;
    bool set;         /* the file sets it (else the default holds) */
} pc_entry;

struct plugin_conf {
    double interval;  /* 0 = not set in the section */
    pc_entry *e;
    size_t n;
};

void plugin_conf_free(plugin_conf *pc)
{
    if (!pc)
        return;
    for (size_t i = 0; i < pc->n; i++) {
        free(pc->e[i].name);
        free(pc->e[i].s);
        free_strv(pc->e[i].items, pc->e[i].n_items);
    }
    free(pc->e);
    free(pc);
}

static pc_entry *pc_find(const plugin_conf *pc, const char *key)
{
    if (!pc || !key)
        return NULL;
    for (size_t i = 0; i < pc->n; i++)
        if (strcmp(pc->e[i].name, key) == 0)
            return &pc->e[i];
    return NULL;
}

static bool has_range(const pc_entry *e)
{
    return (e->type == HEALER_CFG_INT || e->type == HEALER_CFG_DOUBLE) && e->min != e->max;
}

/* Sets e from a default's text (the schema's, or a built-in policy's), parsed as the mock host
 * parses it (rules.c). false when it does not parse as e's type or memory ran out. */
static bool parse_default(pc_entry *e, const char *text)
{
    healer_rules_value v;
    if (healer_rules_parse_text(e->type, text, &v, NULL, 0) != HEALER_OK)
        return false;
    e->b = v.b;
    e->i = v.i;
    e->d = v.d;
    e->s = v.s;
    e->items = v.items;
    e->n_items = v.n_items;
    if (e->type == HEALER_CFG_STRING_LIST && !e->items)
        e->items = calloc(1, sizeof *e->items);
    return e->type != HEALER_CFG_STRING_LIST || e->items != NULL;
}

#define N_IMPLICIT 6

/* enabled, interval, and the operator's policy keys with a built-in's defaults (rules.h). */
static void add_implicit_keys(plugin_conf *pc, const char *name)
{
    const healer_rules_builtin *bi = healer_rules_builtin_policy(name);
    const struct {
        const char *key;
        healer_config_type type;
        const char *def;
    } keys[N_IMPLICIT] = {
        {"enabled", HEALER_CFG_BOOL, "true"},
        {"interval", HEALER_CFG_DOUBLE, NULL},
        {"write_allow", HEALER_CFG_STRING_LIST, bi ? bi->write_allow : NULL},
        {"paths_allow", HEALER_CFG_STRING_LIST, bi ? bi->paths_allow : NULL},
        {"allow_auto", HEALER_CFG_BOOL, bi && bi->allow_auto ? "true" : "false"},
        {"allow_system", HEALER_CFG_BOOL, bi && bi->allow_system ? "true" : "false"},
    };
    for (size_t i = 0; i < N_IMPLICIT; i++) {
        pc_entry *e = &pc->e[pc->n];
        e->type = keys[i].type;
        if (!(e->name = strdup(keys[i].key)))
            continue;
        if (!parse_default(e, keys[i].def)) {
            free(e->name);
            e->name = NULL;
            continue;
        }
        pc->n++;
    }
}

static bool entry_in_range(const pc_entry *e, double v)
{
    return !has_range(e) || (v >= e->min && v <= e->max);
}

/* Sets e from the file's value s; reports and returns false when s does not fit. */
static bool read_value(rctx *r, pc_entry *e, const config_setting_t *s, const char *path)
{
    int type = config_setting_type(s);
    switch (e->type) {
    case HEALER_CFG_BOOL:
        if (type != CONFIG_TYPE_BOOL) {
            report(r, s, "%s: expected a bool (true or false), got %s", path, type_name(type));
            return false;
        }
        e->b = config_setting_get_bool(s);
        return true;
    case HEALER_CFG_INT: {
        long long v;
        if (!get_integer(s, &v)) {
            report(r, s, "%s: expected an integer, got %s", path, type_name(type));
            return false;
        }
        if (!entry_in_range(e, (double)v)) {
            report(r, s, "%s: must be between %.15g and %.15g, got %lld", path, e->min, e->max, v);
            return false;
        }
        e->i = v;
        return true;
    }
    case HEALER_CFG_DOUBLE: {
        double v;
        if (!get_number(s, &v)) {
            report(r, s, "%s: expected a number, got %s", path, type_name(type));
            return false;
        }
        if (!entry_in_range(e, v)) {
            report(r, s, "%s: must be between %.15g and %.15g, got %.15g", path, e->min, e->max, v);
            return false;
        }
        e->d = v;
        return true;
    }
    case HEALER_CFG_STRING: {
        if (type != CONFIG_TYPE_STRING) {
            report(r, s, "%s: expected a string, got %s", path, type_name(type));
            return false;
        }
        char *copy = strdup(config_setting_get_string(s));
        if (!copy) {
            report(r, s, "%s: out of memory", path);
            return false;
        }
        free(e->s);
        e->s = copy;
        return true;
    }
    case HEALER_CFG_STRING_LIST: {
        char **v = NULL;
        size_t n = 0;
        if (!read_string_list(r, s, path, false, &v, &n))
            return false;
        free_strv(e->items, e->n_items);
        e->items = v;
        e->n_items = n;
        return true;
    }
    }
    return false;
}

plugin_conf *config_plugin_resolve(const config *cfg, const char *name,
                                   const healer_config_key *schema, diag *d)
{
    const char *file = cfg && cfg->path ? cfg->path : "(no config)";
    rctx r = {.d = d, .path = file, .errors = 0,
              .include_dir = cfg && cfg->impl ? cfg->impl->include_dir : NULL};
    const char *pname = name ? name : "?";
    const config_setting_t *sec = plugin_section(cfg, name);

    size_t n_schema = 0;
    while (schema && schema[n_schema].name)
        n_schema++;

    plugin_conf *pc = calloc(1, sizeof *pc);
    if (pc)
        pc->e = calloc(n_schema + N_IMPLICIT + ISOLATION_N_KEYS, sizeof *pc->e);
    if (!pc || !pc->e) {
        plugin_conf_free(pc);
        report(&r, sec, "plugins.%s: out of memory", pname);
        return NULL;
    }

    /* The schema is the plugin author's; its mistakes are reported (naming plugin and key)
     * like the operator's, at the section's line when there is one. The rules are the ones the
     * mock host applies (rules.c). */
    for (size_t i = 0; i < n_schema; i++) {
        const healer_config_key *k = &schema[i];
        char why[512];
        if (healer_rules_check_schema_key(schema, i, why, sizeof why) != HEALER_OK) {
            report(&r, sec, "plugins.%s: plugin %s's schema: %s", pname, pname, why);
            continue;
        }
        pc_entry *e = &pc->e[pc->n];
        e->type = k->type;
        e->min = k->min;
        e->max = k->max;
        if (!(e->name = strdup(k->name)) || !parse_default(e, k->default_value)) {
            report(&r, sec, "plugins.%s: out of memory", pname);
            continue;
        }
        pc->n++;
    }
    /* The implicit keys: enabled, interval and the operator's policy (rules.h), whose defaults
     * are a built-in's own needs and nothing for any other plugin. */
    add_implicit_keys(pc, name);

    /* How it runs (isolation.h), unless the schema has a key of that name; a built-in's child
     * needs (rules.h) are its defaults. */
    const healer_rules_builtin *bi = healer_rules_builtin_policy(name);
    for (const healer_config_key *k = isolation_keys; k->name; k++) {
        if (pc_find(pc, k->name))
            continue;
        pc_entry *e = &pc->e[pc->n];
        e->type = k->type;
        e->min = k->min;
        e->max = k->max;
        const char *def = k->default_value;
        if (bi && strcmp(k->name, "inspect_processes") == 0 && bi->inspect_processes)
            def = "true";
        if (bi && strcmp(k->name, "local_sockets") == 0 && bi->local_sockets)
            def = "true";
        if ((e->name = strdup(k->name)) && parse_default(e, def))
            pc->n++;
        else
            free(e->name);
    }

    int n = sec ? config_setting_length(sec) : 0;
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *key = config_setting_name(s);
        char path[256];
        snprintf(path, sizeof path, "plugins.%s.%s", pname, key);
        pc_entry *e = pc_find(pc, key);
        if (!e) {
            char known[512] = "";
            size_t len = 0;
            for (size_t j = 0; j < pc->n && len < sizeof known; j++) {
                int w = snprintf(known + len, sizeof known - len, "%s%s", j ? ", " : "",
                                 pc->e[j].name);
                if (w > 0)
                    len += (size_t)w;
            }
            report(&r, s, "%s: unknown key for plugin %s (known: %s)", path, pname, known);
            continue;
        }
        if (!read_value(&r, e, s, path))
            continue;
        e->set = true;
        if (strcmp(key, "write_allow") == 0 || strcmp(key, "paths_allow") == 0) {
            for (size_t j = 0; j < e->n_items; j++) {
                char why[512];
                if (healer_rules_check_policy_item(key, e->items[j], why, sizeof why) != HEALER_OK)
                    report(&r, s, "%s: %s", path, why);
            }
        }
        if (strcmp(key, "interval") == 0) {
            double v = e->type == HEALER_CFG_INT ? (double)e->i : e->d;
            if (!(v > 0)) {
                report(&r, s, "%s: must be > 0, got %.15g", path, v);
                continue;
            }
            pc->interval = v;
        }
        if (strcmp(key, "isolation") == 0 && e->type == HEALER_CFG_STRING && isolation_check(e->s))
            report(&r, s, "%s: %s", path, isolation_check(e->s));
        if (strcmp(key, "mode") == 0 && e->type == HEALER_CFG_STRING &&
            isolation_mode_check(e->s))
            report(&r, s, "%s: %s, got \"%s\"", path, isolation_mode_check(e->s), e->s);
    }

    if (r.errors > 0) {
        plugin_conf_free(pc);
        return NULL;
    }
    return pc;
}

int plugin_conf_is_set(const plugin_conf *pc, const char *key)
{
    const pc_entry *e = pc_find(pc, key);
    return e && e->set;
}

double plugin_conf_interval(const plugin_conf *pc)
{
    return pc ? pc->interval : 0;
}

static const pc_entry *pc_get(const plugin_conf *pc, const char *key, healer_config_type type)
{
    const pc_entry *e = pc_find(pc, key);
    return e && e->type == type ? e : NULL;
}

int plugin_conf_bool(const plugin_conf *pc, const char *key, int *out)
{
    const pc_entry *e = pc_get(pc, key, HEALER_CFG_BOOL);
    if (out)
        *out = e ? e->b : 0;
    return e ? HEALER_OK : HEALER_E_NOTFOUND;
}

int plugin_conf_int(const plugin_conf *pc, const char *key, long long *out)
{
    const pc_entry *e = pc_get(pc, key, HEALER_CFG_INT);
    if (out)
        *out = e ? e->i : 0;
    return e ? HEALER_OK : HEALER_E_NOTFOUND;
}

int plugin_conf_double(const plugin_conf *pc, const char *key, double *out)
{
    const pc_entry *e = pc_get(pc, key, HEALER_CFG_DOUBLE);
    if (out)
        *out = e ? e->d : 0;
    return e ? HEALER_OK : HEALER_E_NOTFOUND;
}

int plugin_conf_string(const plugin_conf *pc, const char *key, const char **out)
{
    const pc_entry *e = pc_get(pc, key, HEALER_CFG_STRING);
    if (out)
        *out = e ? e->s : NULL;
    return e ? HEALER_OK : HEALER_E_NOTFOUND;
}

int plugin_conf_list(const plugin_conf *pc, const char *key, const char *const **items, size_t *n)
{
    const pc_entry *e = pc_get(pc, key, HEALER_CFG_STRING_LIST);
    if (items)
        *items = e ? (const char *const *)e->items : NULL;
    if (n)
        *n = e ? e->n_items : 0;
    return e ? HEALER_OK : HEALER_E_NOTFOUND;
}
