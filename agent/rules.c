/* rules.c — the SDK rules the agent and the mock host share (rules.h): names, the descriptor,
 * config schemas and their defaults, the phase table, and the limits on what a plugin hands the
 * host (issues, actions, requests, metrics, actuator arguments). Pure functions: no state. */
#include "rules.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int say(char *why, size_t len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *why, size_t len, int rc, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

#define NUL(s) ((s) ? (s) : "(null)")

/* ---- names ---------------------------------------------------------------------------- */

int healer_rules_valid_name(const char *s)
{
    if (!s || !*s || strlen(s) >= HEALER_NAME_MAX)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

int healer_rules_valid_metric_name(const char *s)
{
    if (!s || !*s || strlen(s) >= HEALER_NAME_MAX)
        return 0;
    for (const char *p = s; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':';
        if (!alpha && !(p != s && *p >= '0' && *p <= '9'))
            return 0;
    }
    return 1;
}

/* ---- the descriptor ------------------------------------------------------------------- */

int healer_rules_check_descriptor(const healer_plugin *src, healer_plugin *out, char *why,
                                  size_t len)
{
    if (!src)
        return say(why, len, HEALER_E_INVAL, "%s returned NULL", HEALER_ENTRY_SYMBOL);
    if (src->struct_size < HEALER_RULES_DESC_MIN_SIZE)
        return say(why, len, HEALER_E_INVAL, "descriptor too small (%u bytes, ABI %d.0 needs at "
                   "least %zu); fix: set .struct_size = sizeof(healer_plugin) and rebuild",
                   src->struct_size, HEALER_ABI_MAJOR, (size_t)HEALER_RULES_DESC_MIN_SIZE);
    if (src->abi_major != HEALER_ABI_MAJOR)
        return say(why, len, HEALER_E_INVAL, "descriptor says ABI major %u, this agent speaks %d; "
                   "fix: rebuild it against healer-sdk %d.x", src->abi_major, HEALER_ABI_MAJOR,
                   HEALER_ABI_MAJOR);
    if (src->abi_minor > HEALER_ABI_MINOR)
        return say(why, len, HEALER_E_INVAL, "needs ABI %u.%u, this agent has %d.%d; fix: upgrade "
                   "healerd", src->abi_major, src->abi_minor, HEALER_ABI_MAJOR, HEALER_ABI_MINOR);
    healer_plugin d;
    memset(&d, 0, sizeof d);
    memcpy(&d, src, src->struct_size < sizeof d ? src->struct_size : sizeof d);
    d.struct_size = sizeof d;
    if (!healer_rules_valid_name(d.name))
        return say(why, len, HEALER_E_INVAL, "invalid name \"%s\"; fix: use 1-63 characters of "
                   "[a-z0-9_]", NUL(d.name));
    if (!d.init || !d.destroy)
        return say(why, len, HEALER_E_INVAL, "required callback %s is missing; fix: set it in "
                   "the descriptor", !d.init ? "init" : "destroy");
    if (!d.detect && !d.plan)
        return say(why, len, HEALER_E_INVAL, "neither detect nor plan is set, the plugin could do "
                   "nothing; fix: set one");
    if (d.plan && !d.execute)
        return say(why, len, HEALER_E_INVAL, "plan is set but execute is missing; fix: set "
                   "execute");
    for (const char *const *t = d.issue_types; t && *t; t++)
        if (strcmp(*t, HEALER_RULES_ANY_TYPE) != 0 && !healer_rules_valid_name(*t))
            return say(why, len, HEALER_E_INVAL, "claims invalid issue type \"%s\"; fix: use "
                       "[a-z0-9_]", *t);
    if (!(d.interval >= 0) || !isfinite(d.interval))
        return say(why, len, HEALER_E_INVAL, "interval %g must be >= 0 (0 = agent.interval)",
                   d.interval);
    if (out)
        *out = d;
    return HEALER_OK;
}

/* ---- config schema ---------------------------------------------------------------------- */

int healer_rules_reserved_key(const char *name)
{
    static const char *const reserved[] = { "enabled", "interval", "write_allow", "paths_allow",
                                            "allow_auto", "allow_system", "isolation",
                                            "memory_max_mb", "cpu_max_percent", "max_crashes",
                                            "mode", "exec", NULL };
    for (size_t i = 0; name && reserved[i]; i++)
        if (strcmp(name, reserved[i]) == 0)
            return 1;
    return 0;
}

void healer_rules_value_free(healer_rules_value *v)
{
    if (!v)
        return;
    free(v->s);
    for (size_t i = 0; i < v->n_items; i++)
        free(v->items[i]);
    free(v->items);
    memset(v, 0, sizeof *v);
}

int healer_rules_in_range(const healer_config_key *k, double x)
{
    if (k->min == k->max)
        return 1;
    return x >= k->min && x <= k->max;
}

static int blank_tail(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    return *s == '\0';
}

static const char *type_word(healer_config_type t)
{
    switch (t) {
    case HEALER_CFG_BOOL: return "bool";
    case HEALER_CFG_INT: return "int";
    case HEALER_CFG_DOUBLE: return "double";
    case HEALER_CFG_STRING: return "string";
    case HEALER_CFG_STRING_LIST: return "string list";
    }
    return "unknown";
}

static int parse_list(const char *text, healer_rules_value *out)
{
    size_t cap = 2;
    for (const char *p = text ? text : ""; *p; p++)
        cap += *p == ',';
    out->items = calloc(cap, sizeof *out->items);
    if (!out->items)
        return HEALER_E_NOMEM;
    const char *p = text ? text : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *b = p;
        while (n && (*b == ' ' || *b == '\t')) {
            b++;
            n--;
        }
        while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
            n--;
        if (n) { /* "a,,b" and a trailing comma are forgiven */
            out->items[out->n_items] = strndup(b, n);
            if (!out->items[out->n_items])
                return HEALER_E_NOMEM;
            out->n_items++;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return HEALER_OK;
}

int healer_rules_parse_text(healer_config_type type, const char *text, healer_rules_value *out,
                            char *why, size_t len)
{
    memset(out, 0, sizeof *out);
    char *end = NULL;
    switch (type) {
    case HEALER_CFG_BOOL:
        if (!text || strcasecmp(text, "false") == 0)
            out->b = 0;
        else if (strcasecmp(text, "true") == 0)
            out->b = 1;
        else
            return say(why, len, HEALER_E_INVAL, "\"%s\" is not true or false", text);
        return HEALER_OK;
    case HEALER_CFG_INT:
        if (!text)
            return HEALER_OK;
        errno = 0;
        out->i = strtoll(text, &end, 10);
        if (errno || end == text || !blank_tail(end))
            return say(why, len, HEALER_E_INVAL, "\"%s\" is not an integer", text);
        return HEALER_OK;
    case HEALER_CFG_DOUBLE:
        if (!text)
            return HEALER_OK;
        errno = 0;
        out->d = strtod(text, &end);
        if (errno || end == text || !blank_tail(end) || !isfinite(out->d))
            return say(why, len, HEALER_E_INVAL, "\"%s\" is not a number", text);
        return HEALER_OK;
    case HEALER_CFG_STRING:
        out->s = strdup(text ? text : "");
        return out->s ? HEALER_OK : say(why, len, HEALER_E_NOMEM, "out of memory");
    case HEALER_CFG_STRING_LIST:
        if (parse_list(text, out) != HEALER_OK) {
            healer_rules_value_free(out);
            return say(why, len, HEALER_E_NOMEM, "out of memory");
        }
        return HEALER_OK;
    }
    return say(why, len, HEALER_E_INVAL, "unknown type %d", (int)type);
}

int healer_rules_check_schema_key(const healer_config_key *schema, size_t i, char *why,
                                  size_t len)
{
    const healer_config_key *k = &schema[i];
    if (!healer_rules_valid_name(k->name))
        return say(why, len, HEALER_E_INVAL, "key \"%s\" is not a name ([a-z0-9_], 1..63 "
                   "characters)", NUL(k->name));
    if (healer_rules_reserved_key(k->name))
        return say(why, len, HEALER_E_INVAL, "key \"%s\" is reserved: implicit in every plugin "
                   "section (enabled, interval, write_allow, paths_allow, allow_auto, "
                   "allow_system, isolation, memory_max_mb, cpu_max_percent, max_crashes, mode, "
                   "exec)", k->name);
    for (size_t j = 0; j < i; j++)
        if (schema[j].name && strcmp(schema[j].name, k->name) == 0)
            return say(why, len, HEALER_E_INVAL, "declares key \"%s\" twice", k->name);
    if (k->type < HEALER_CFG_BOOL || k->type > HEALER_CFG_STRING_LIST)
        return say(why, len, HEALER_E_INVAL, "key \"%s\" has an unknown type (%d)", k->name,
                   (int)k->type);
    int ranged = k->type == HEALER_CFG_INT || k->type == HEALER_CFG_DOUBLE;
    if (ranged && (!isfinite(k->min) || !isfinite(k->max) || k->min > k->max))
        return say(why, len, HEALER_E_INVAL, "key \"%s\": [%g, %g] is not a range", k->name,
                   k->min, k->max);
    healer_rules_value v;
    char w[256];
    int rc = healer_rules_parse_text(k->type, k->default_value, &v, w, sizeof w);
    if (rc != HEALER_OK)
        return say(why, len, rc, "key \"%s\": bad default_value \"%s\" for a %s key",
                   k->name, NUL(k->default_value), type_word(k->type));
    double x = k->type == HEALER_CFG_INT ? (double)v.i : v.d;
    healer_rules_value_free(&v);
    if (ranged && k->default_value && !healer_rules_in_range(k, x))
        return say(why, len, HEALER_E_INVAL, "key \"%s\": default_value %s is outside [%g, %g]",
                   k->name, k->default_value, k->min, k->max);
    return HEALER_OK;
}

int healer_rules_check_schema(const healer_config_key *schema, char *why, size_t len)
{
    for (size_t i = 0; schema && schema[i].name; i++) {
        int rc = healer_rules_check_schema_key(schema, i, why, len);
        if (rc != HEALER_OK)
            return rc;
    }
    return HEALER_OK;
}

/* ---- the phase table ---------------------------------------------------------------------- */

const char *healer_rules_phase_name(healer_rules_phase ph)
{
    static const char *const names[] = { "none", "init", "destroy", "detect", "plan", "execute",
                                         "verify", "restore", "handle_request", "fd watch" };
    return (unsigned)ph <= HEALER_PHASE_FD ? names[ph] : "?";
}

/* Rows: host functions; columns: phases NONE..FD. Why each cell is what it is: destroy() is a
 * plugin going away (it may only let go: unwatch, read its config, log), actuators change the
 * system only inside an action, request() waits for another plugin, so never from
 * handle_request (a chain could wait on itself). */
static const unsigned char phase_table[][HEALER_PHASE_FD + 1] = {
    /*                       none init dest det plan exe ver rest req fd */
    [HEALER_FN_QUERY]        = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    [HEALER_FN_DECLARE_PATH] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
    [HEALER_FN_PUBLISH]      = {0, 1, 0, 1, 1, 1, 1, 1, 1, 1},
    [HEALER_FN_WATCH_FD]     = {0, 1, 0, 1, 1, 1, 1, 1, 1, 1},
    [HEALER_FN_REQUEST]      = {0, 0, 0, 0, 0, 1, 0, 1, 0, 0},
    [HEALER_FN_PLAN_ADD]     = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0},
    [HEALER_FN_ACTUATOR]     = {0, 0, 0, 0, 0, 1, 0, 1, 1, 0},
};

static const char *const where_allowed[] = {
    [HEALER_FN_QUERY] = "it is allowed in every callback",
    [HEALER_FN_DECLARE_PATH] = "it is allowed only in init()",
    [HEALER_FN_PUBLISH] = "it is allowed in every callback but destroy()",
    [HEALER_FN_WATCH_FD] = "it is allowed in every callback but destroy()",
    [HEALER_FN_REQUEST] = "it is allowed only in execute() and restore()",
    [HEALER_FN_PLAN_ADD] = "it is allowed only in plan(), on the plan it was given",
    [HEALER_FN_ACTUATOR] = "actuators are allowed only in execute(), restore() and "
                           "handle_request()",
};

int healer_rules_phase_allows(healer_rules_fn fn, healer_rules_phase ph, const char *fname,
                              char *why, size_t len)
{
    if ((unsigned)fn > HEALER_FN_ACTUATOR || (unsigned)ph > HEALER_PHASE_FD)
        return say(why, len, HEALER_E_DENIED, "%s(): unknown function or phase", NUL(fname));
    if (phase_table[fn][ph])
        return HEALER_OK;
    if (ph == HEALER_PHASE_NONE)
        return say(why, len, HEALER_E_DENIED, "%s() called outside any callback; the host serves "
                   "a plugin only from its callbacks and fd watches", NUL(fname));
    return say(why, len, HEALER_E_DENIED, "%s() called from %s(); %s", NUL(fname),
               healer_rules_phase_name(ph), where_allowed[fn]);
}

/* ---- what a plugin hands the host ------------------------------------------------------- */

int healer_rules_check_issue(const healer_issue *is, char *why, size_t len)
{
    if (!is || !healer_rules_valid_name(is->type))
        return say(why, len, HEALER_E_INVAL, "publish_issue: issue type \"%s\" is not [a-z0-9_], "
                   "1..%d characters", is ? NUL(is->type) : "(null)", HEALER_NAME_MAX - 1);
    if ((unsigned)is->severity > HEALER_SEV_CRITICAL)
        return say(why, len, HEALER_E_INVAL, "publish_issue(%s): invalid severity %d", is->type,
                   (int)is->severity);
    if (is->n_measurements > HEALER_MAX_MEASUREMENTS || (is->n_measurements && !is->measurements))
        return say(why, len, HEALER_E_INVAL, "publish_issue(%s): %zu measurements (at most %d, "
                   "and the array set)", is->type, is->n_measurements, HEALER_MAX_MEASUREMENTS);
    if (is->n_components > HEALER_MAX_COMPONENTS || (is->n_components && !is->components))
        return say(why, len, HEALER_E_INVAL, "publish_issue(%s): %zu components (at most %d, and "
                   "the array set)", is->type, is->n_components, HEALER_MAX_COMPONENTS);
    for (size_t i = 0; i < is->n_measurements; i++)
        if (!healer_rules_valid_name(is->measurements[i].name) ||
            !isfinite(is->measurements[i].value))
            return say(why, len, HEALER_E_INVAL, "publish_issue(%s): measurement %zu (\"%s\") has "
                       "a name that is not [a-z0-9_] or a value that is not finite", is->type, i,
                       NUL(is->measurements[i].name));
    for (size_t i = 0; i < is->n_components; i++)
        if (!is->components[i])
            return say(why, len, HEALER_E_INVAL, "publish_issue(%s): component %zu is NULL",
                       is->type, i);
    return HEALER_OK;
}

int healer_rules_check_resolve(const char *type, char *why, size_t len)
{
    if (!healer_rules_valid_name(type))
        return say(why, len, HEALER_E_INVAL, "resolve_issue: issue type \"%s\" is not [a-z0-9_]",
                   NUL(type));
    return HEALER_OK;
}

static int kvs_valid(const healer_kv *kv, size_t n)
{
    if (n && !kv)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!kv[i].key || !kv[i].value)
            return 0;
    return 1;
}

#define KNOWN_FLAGS 0xffu

int healer_rules_check_action(const healer_action *a, char *why, size_t len)
{
    if (!a || !healer_rules_valid_name(a->name))
        return say(why, len, HEALER_E_INVAL, "plan_add_action: action name \"%s\" is not "
                   "[a-z0-9_], 1..63 characters", a ? NUL(a->name) : "(null)");
    if (!(a->impact >= 0 && a->impact <= 1) || !(a->confidence >= 0 && a->confidence <= 1))
        return say(why, len, HEALER_E_INVAL, "plan_add_action(%s): impact %g and confidence %g "
                   "must be within 0..1", a->name, a->impact, a->confidence);
    if (a->n_params > HEALER_MAX_PARAMS || !kvs_valid(a->params, a->n_params))
        return say(why, len, HEALER_E_INVAL, "plan_add_action(%s): %zu params (at most %d, each "
                   "with key and value)", a->name, a->n_params, HEALER_MAX_PARAMS);
    if (a->flags & ~KNOWN_FLAGS)
        return say(why, len, HEALER_E_INVAL, "plan_add_action(%s): unknown flags 0x%x (only "
                   "HEALER_ACTION_*)", a->name, (unsigned)(a->flags & ~KNOWN_FLAGS));
    return HEALER_OK;
}

int healer_rules_check_health(const char *component, double score, char *why, size_t len)
{
    if (!component || !*component || !(score >= 0 && score <= 100))
        return say(why, len, HEALER_E_INVAL, "report_health(\"%s\", %g): the score must be within "
                   "0..100 and the component named", NUL(component), score);
    return HEALER_OK;
}

int healer_rules_check_metric(int kind, const char *name, const healer_kv *labels,
                              size_t n_labels, double value, char *why, size_t len)
{
    if (!healer_rules_valid_metric_name(name) ||
        (kind != HEALER_METRIC_COUNTER && kind != HEALER_METRIC_GAUGE) ||
        !kvs_valid(labels, n_labels) || isnan(value))
        return say(why, len, HEALER_E_INVAL, "metric(\"%s\"): bad name, kind, labels or value",
                   NUL(name));
    for (size_t i = 0; i < n_labels; i++)
        if (!healer_rules_valid_metric_name(labels[i].key) || strchr(labels[i].key, ':'))
            return say(why, len, HEALER_E_INVAL, "metric(\"%s\"): bad label name \"%s\"", name,
                       labels[i].key);
    if (kind == HEALER_METRIC_COUNTER && value < 0)
        return say(why, len, HEALER_E_INVAL, "metric(\"%s\"): a counter only goes up (value %g)",
                   name, value);
    return HEALER_OK;
}

int healer_rules_check_request(const char *plugin, const char *method, const healer_kv *args,
                               size_t n_args, double timeout_s, char *why, size_t len)
{
    if (!healer_rules_valid_name(plugin) || !method || !*method || !kvs_valid(args, n_args) ||
        n_args > HEALER_MAX_PARAMS || !(timeout_s > 0) || !isfinite(timeout_s))
        return say(why, len, HEALER_E_INVAL, "request(\"%s\", \"%s\"): bad argument (plugin name, "
                   "method, at most %d args with key and value, timeout %g > 0)", NUL(plugin),
                   NUL(method), HEALER_MAX_PARAMS, timeout_s);
    return HEALER_OK;
}

int healer_rules_check_watch(int fd, short events, int has_cb, char *why, size_t len)
{
    if (fd < 0 || !events || !has_cb)
        return say(why, len, HEALER_E_INVAL, "watch_fd: bad fd %d, events 0x%x or no callback", fd,
                   (unsigned)(unsigned short)events);
    return HEALER_OK;
}

int healer_rules_check_signal(pid_t pid, int sig, double grace_s, char *why, size_t len)
{
    if (pid <= 0 || sig < 0 || sig >= 65 || !(grace_s >= 0 && grace_s <= 3600))
        return say(why, len, HEALER_E_INVAL, "act_signal: bad pid %d, signal %d (0..64) or grace "
                   "%g s (0..3600)", (int)pid, sig, grace_s);
    return HEALER_OK;
}

int healer_rules_check_renice(pid_t pid, int nice, char *why, size_t len)
{
    if (pid <= 0 || nice < -20 || nice > 19)
        return say(why, len, HEALER_E_INVAL, "act_renice: bad pid %d or nice %d (-20..19)",
                   (int)pid, nice);
    return HEALER_OK;
}

int healer_rules_check_write_args(const char *path, const char *value, char *why, size_t len)
{
    if (!path || path[0] != '/' || !value || strlen(path) >= 4000)
        return say(why, len, HEALER_E_INVAL, "act_write_file: the path must be absolute and the "
                   "value set (path \"%s\")", NUL(path));
    const char *base = strrchr(path, '/') + 1;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return say(why, len, HEALER_E_INVAL, "act_write_file: \"%s\" does not name a file", path);
    return HEALER_OK;
}

int healer_rules_check_run(const char *const argv[], double timeout_s, char *why, size_t len)
{
    if (!argv || !argv[0] || !argv[0][0] || !(timeout_s > 0) || !(timeout_s <= 86400))
        return say(why, len, HEALER_E_INVAL, "act_run: argv[0] must be set and the timeout in "
                   "(0, 86400] s (got %g)", timeout_s);
    return HEALER_OK;
}

int healer_rules_check_remove(const char *dir, double older_than_days, char *why, size_t len)
{
    if (!dir || dir[0] != '/' || !(older_than_days >= 0) || !isfinite(older_than_days))
        return say(why, len, HEALER_E_INVAL, "act_remove_old_files: the directory must be "
                   "absolute and the age >= 0");
    return HEALER_OK;
}

int healer_rules_check_freeze(const char *cgroup_dir, int freeze, char *why, size_t len)
{
    if (!cgroup_dir || !*cgroup_dir || (freeze != 0 && freeze != 1))
        return say(why, len, HEALER_E_INVAL, "act_freeze_cgroup: the cgroup must be named and "
                   "freeze 0 or 1");
    return HEALER_OK;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int healer_rules_argv_is_rollback(const char *const argv[])
{
    if (!argv || !argv[0])
        return 0;
    const char *prog = base_name(argv[0]);
    int nixenv = strcmp(prog, "nix-env") == 0, rebuild = strcmp(prog, "nixos-rebuild") == 0;
    int snapper = strcmp(prog, "snapper") == 0;
    for (size_t i = 1; argv[i]; i++) {
        const char *a = argv[i];
        if ((nixenv || rebuild) && strcmp(a, "--rollback") == 0)
            return 1;
        if (nixenv && (strcmp(a, "--switch-generation") == 0 || strcmp(a, "-G") == 0))
            return 1;
        if (snapper && strcmp(a, "rollback") == 0)
            return 1;
    }
    return 0;
}
