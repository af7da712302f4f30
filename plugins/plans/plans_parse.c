/* plans_parse.c — reads the *.conf files of plans.d (libconfig) into checks and plans (plans_parse.h): every
 * key known and typed, numbers in range, unknown keys refused with the nearest known name, steps
 * checked against the rules the actuators will apply, problems as FILE:LINE. Shared by the plans
 * plugin (init) and the agent (--check-config), so both refuse the same files. */
#include "plans_parse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libconfig.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "healer/types.h"

#define FILE_MAX_BYTES (1 << 20)

typedef struct pctx {
    const char *file;
    plans_report_fn report;
    void *ud;
    int errors;
    const healer_rules_policy *pol;
} pctx;

static void say(pctx *p, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(pctx *p, const config_setting_t *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->errors++;
    if (p->report)
        p->report(p->ud, p->file, s ? (int)config_setting_source_line(s) : 0, msg);
}

/* Optimal string alignment distance, capped: how far a misspelt key is from a known one. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    int d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* Every key of group g must be in known; the unknown ones are reported with the nearest. */
static void check_keys(pctx *p, const config_setting_t *g, const char *where,
                       const char *const *known)
{
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(s);
        if (!k)
            continue;
        int found = 0, best = 99;
        const char *near = NULL;
        for (const char *const *kk = known; *kk; kk++) {
            if (strcmp(*kk, k) == 0) {
                found = 1;
                break;
            }
            int dd = distance(k, *kk);
            if (dd < best) {
                best = dd;
                near = *kk;
            }
        }
        if (found)
            continue;
        if (near && best <= 3)
            say(p, s, "%s: unknown key \"%s\" (did you mean \"%s\"?)", where, k, near);
        else
            say(p, s, "%s: unknown key \"%s\"", where, k);
    }
}

static int valid_name(const char *s)
{
    return s && *s && strlen(s) < PLANS_NAME_MAX && healer_rules_valid_name(s);
}

/* A string key: NULL when absent (or reported when of another type). */
static const char *get_str(pctx *p, const config_setting_t *g, const char *where, const char *k)
{
    const config_setting_t *s = config_setting_get_member(g, k);
    if (!s)
        return NULL;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        say(p, s, "%s.%s: expected a string", where, k);
        return NULL;
    }
    const char *v = config_setting_get_string(s);
    if (strlen(v) >= 4096) {
        say(p, s, "%s.%s: longer than 4095 bytes", where, k);
        return NULL;
    }
    return v;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A number key within [min, max]; def when absent. An int is fine for a number. */
static double get_num(pctx *p, const config_setting_t *g, const char *where, const char *k,
                      double def, double min, double max)
{
    const config_setting_t *s = config_setting_get_member(g, k);
    if (!s)
        return def;
    double v;
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: v = config_setting_get_int(s); break;
    case CONFIG_TYPE_INT64: v = (double)config_setting_get_int64(s); break;
    case CONFIG_TYPE_FLOAT: v = config_setting_get_float(s); break;
    default:
        say(p, s, "%s.%s: expected a number", where, k);
        return def;
    }
    if (!isfinite(v) || v < min || v > max) {
        say(p, s, "%s.%s: must be between %g and %g, got %g", where, k, min, max, v);
        return def;
    }
    return v;
}

static int get_bool(pctx *p, const config_setting_t *g, const char *where, const char *k, int def)
{
    const config_setting_t *s = config_setting_get_member(g, k);
    if (!s)
        return def;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        say(p, s, "%s.%s: expected true or false", where, k);
        return def;
    }
    return config_setting_get_bool(s);
}

/* An argv: a non-empty array of strings, the first absolute (no PATH lookup surprises). */
static char **get_argv(pctx *p, const config_setting_t *g, const char *where, const char *k)
{
    const config_setting_t *s = config_setting_get_member(g, k);
    if (!s)
        return NULL;
    int t = config_setting_type(s);
    int n = (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) ? config_setting_length(s) : -1;
    if (n < 1 || n > PLANS_MAX_ARGV) {
        say(p, s, "%s.%s: expected an array of 1 to %d strings, the program first", where, k,
            PLANS_MAX_ARGV);
        return NULL;
    }
    char **v = calloc((size_t)n + 1, sizeof *v);
    if (!v) {
        say(p, s, "%s.%s: out of memory", where, k);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            say(p, e, "%s.%s[%d]: expected a string", where, k, i);
            goto bad;
        }
        v[i] = strdup(config_setting_get_string(e));
    }
    if (!v[0] || v[0][0] != '/') {
        say(p, s, "%s.%s: the program \"%s\" must be an absolute path", where, k,
            v[0] ? v[0] : "");
        goto bad;
    }
    return v;
bad:
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return NULL;
}

static void free_argv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static int parse_severity(const char *s)
{
    static const char *const names[] = {"low", "medium", "high", "critical"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int plans_parse_cond(const char *text, plans_cond *c, char *why, size_t len)
{
    static const struct { const char *s; plans_op op; } ops[] = {
        {">=", OP_GE}, {"<=", OP_LE}, {"==", OP_EQ}, {"!=", OP_NE}, {">", OP_GT}, {"<", OP_LT}};
    memset(c, 0, sizeof *c);
    const char *q = text;
    while (*q == ' ')
        q++;
    size_t n = 0;
    while ((q[n] >= 'a' && q[n] <= 'z') || (q[n] >= '0' && q[n] <= '9') || q[n] == '_')
        n++;
    if (n == 0 || n >= sizeof c->name) {
        snprintf(why, len, "\"%s\": expected \"MEASUREMENT OP NUMBER\" (e.g. \"status_code >= "
                 "500\")", text);
        return -1;
    }
    memcpy(c->name, q, n);
    q += n;
    while (*q == ' ')
        q++;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strncmp(q, ops[i].s, strlen(ops[i].s)) == 0) {
            c->op = ops[i].op;
            q += strlen(ops[i].s);
            break;
        }
    if (!c->op) {
        snprintf(why, len, "\"%s\": the operator must be one of > >= < <= == !=", text);
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(q, &end);
    while (end && *end == ' ')
        end++;
    if (end == q || !end || *end || errno || !isfinite(v)) {
        snprintf(why, len, "\"%s\": expected a finite number after the operator", text);
        return -1;
    }
    c->value = v;
    return 0;
}

int plans_cond_holds(const plans_cond *c, double v)
{
    switch (c->op) {
    case OP_GT: return v > c->value;
    case OP_GE: return v >= c->value;
    case OP_LT: return v < c->value;
    case OP_LE: return v <= c->value;
    case OP_EQ: return v == c->value;
    case OP_NE: return v != c->value;
    }
    return 0;
}

/* ---- checks ---------------------------------------------------------------------------- */

static const char *const check_common[] = {"name", "type", "interval_s", "timeout_s",
                                           "fail_count", "severity", NULL};

static void free_check(plans_check *c)
{
    free(c->file);
    free(c->process);
    free(c->pidfile);
    free(c->url);
    free(c->host);
    free(c->path);
    free_argv(c->argv);
    memset(c, 0, sizeof *c);
}

/* The start every entry of a list shares: its place (where = "LIST[IDX]", then "KIND NAME"), that
 * it is a group (shape: what one looks like), its name. The name, or NULL (said). */
static const char *entry_start(pctx *p, const config_setting_t *g, const char *list, int idx,
                               const char *kind, const char *shape, char *where, size_t wlen)
{
    snprintf(where, wlen, "%s[%d]", list, idx);
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        say(p, g, "%s: expected a group %s", where, shape);
        return NULL;
    }
    const char *name = get_str(p, g, where, "name");
    if (!name) {
        say(p, g, "%s: missing key \"name\"", where);
        return NULL;
    }
    if (!valid_name(name)) {
        say(p, config_setting_get_member(g, "name"), "%s.name: \"%s\" must be [a-z0-9_], 1 to "
            "%d characters", where, name, PLANS_NAME_MAX - 1);
        return NULL;
    }
    snprintf(where, wlen, "%s %s", kind, name);
    return name;
}

static void parse_check(pctx *p, const config_setting_t *g, int idx, plans_check *c)
{
    char where[96];
    c->line = (int)config_setting_source_line(g);
    c->file = strdup(p->file);
    const char *name = entry_start(p, g, "checks", idx, "check", "{ name = ...; type = ...; }",
                                   where, sizeof where);
    if (!name)
        return;
    snprintf(c->name, sizeof c->name, "%s", name);
    const char *type = get_str(p, g, where, "type");
    static const char *const kinds[] = {"process", "http", "tcp", "file", "command"};
    static const char *const process_keys[] = {"process", "pidfile", NULL};
    static const char *const http_keys[] = {"url", "status", "tls_verify", NULL};
    static const char *const tcp_keys[] = {"host", "port", NULL};
    static const char *const file_keys[] = {"path", "max_age_s", "max_size_mb", NULL};
    static const char *const command_keys[] = {"argv", NULL};
    static const char *const *const kind_keys[] = {process_keys, http_keys, tcp_keys, file_keys,
                                                   command_keys};
    int kind = -1;
    for (int i = 0; type && i < 5; i++)
        if (strcmp(type, kinds[i]) == 0)
            kind = i;
    if (kind < 0) {
        say(p, config_setting_get_member(g, "type") ? config_setting_get_member(g, "type") : g,
            "%s.type: must be one of process, http, tcp, file, command%s%s%s", where,
            type ? " (got \"" : "", type ? type : "", type ? "\")" : "");
        return;
    }
    c->kind = (plans_check_kind)(kind + 1);
    const char *known[32];
    size_t nk = 0;
    for (const char *const *k = check_common; *k; k++)
        known[nk++] = *k;
    for (const char *const *k = kind_keys[kind]; *k; k++)
        known[nk++] = *k;
    known[nk] = NULL;
    check_keys(p, g, where, known);

    c->interval_s = get_num(p, g, where, "interval_s", 30, 0.1, 86400);
    c->timeout_s = get_num(p, g, where, "timeout_s", 5, 0.01, 300);
    c->fail_count = (int)get_num(p, g, where, "fail_count", 1, 1, 1000);
    const char *sev = get_str(p, g, where, "severity");
    c->severity = HEALER_SEV_MEDIUM;
    if (sev && (c->severity = parse_severity(sev)) < 0)
        say(p, config_setting_get_member(g, "severity"), "%s.severity: must be low, medium, "
            "high or critical, got \"%s\"", where, sev);

    switch (c->kind) {
    case CHK_PROCESS:
        c->process = dup_or_null(get_str(p, g, where, "process"));
        c->pidfile = dup_or_null(get_str(p, g, where, "pidfile"));
        if (!!c->process == !!c->pidfile)
            say(p, g, "%s: a process check needs exactly one of \"process\" (a name) or "
                "\"pidfile\"", where);
        if (c->process && (!*c->process || strlen(c->process) > 15))
            say(p, config_setting_get_member(g, "process"), "%s.process: \"%s\" must be 1 to 15 "
                "characters (the kernel's comm)", where, c->process);
        if (c->pidfile && c->pidfile[0] != '/')
            say(p, config_setting_get_member(g, "pidfile"), "%s.pidfile: must be an absolute "
                "path", where);
        break;
    case CHK_HTTP:
        c->url = dup_or_null(get_str(p, g, where, "url"));
        if (!c->url || (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0))
            say(p, config_setting_get_member(g, "url") ? config_setting_get_member(g, "url") : g,
                "%s.url: an http:// or https:// URL is required", where);
        c->status = (long)get_num(p, g, where, "status", 0, 0, 599);
        c->tls_verify = get_bool(p, g, where, "tls_verify", 1);
        break;
    case CHK_TCP:
        c->host = dup_or_null(get_str(p, g, where, "host"));
        if (!c->host || !*c->host)
            say(p, g, "%s: missing key \"host\" (an address or name)", where);
        c->port = (long)get_num(p, g, where, "port", 0, 1, 65535);
        if (!config_setting_get_member(g, "port"))
            say(p, g, "%s: missing key \"port\"", where);
        break;
    case CHK_FILE:
        c->path = dup_or_null(get_str(p, g, where, "path"));
        if (!c->path || c->path[0] != '/')
            say(p, config_setting_get_member(g, "path") ? config_setting_get_member(g, "path") : g,
                "%s.path: an absolute path is required", where);
        c->max_age_s = get_num(p, g, where, "max_age_s", 0, 0, 365.0 * 86400);
        c->max_size_bytes = get_num(p, g, where, "max_size_mb", 0, 0, 1e9) * 1048576.0;
        if (c->max_age_s <= 0 && c->max_size_bytes <= 0)
            say(p, g, "%s: a file check needs \"max_age_s\" or \"max_size_mb\"", where);
        break;
    case CHK_COMMAND:
        c->argv = get_argv(p, g, where, "argv");
        if (!c->argv && !config_setting_get_member(g, "argv"))
            say(p, g, "%s: missing key \"argv\"", where);
        break;
    }
}

/* ---- plans ------------------------------------------------------------------------------ */

static void free_step(plans_step *s)
{
    free_argv(s->argv);
    free(s->process);
    free(s->pidfile);
    free(s->unit);
    free(s->write_path);
    free(s->value);
    free(s->dir);
    free(s->pattern);
}

static void free_plan(plans_plan *pl)
{
    free(pl->file);
    free(pl->match_type);
    free(pl->match_target);
    free(pl->verify_check);
    free_argv(pl->verify_argv);
    for (size_t i = 0; i < pl->n_steps; i++)
        free_step(&pl->steps[i]);
    memset(pl, 0, sizeof *pl);
}

static int parse_signal(const char *s)
{
    static const struct { const char *n; int sig; } sigs[] = {
        {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"HUP", SIGHUP}, {"INT", SIGINT},
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"QUIT", SIGQUIT}};
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (strcmp(s, sigs[i].n) == 0)
            return sigs[i].sig;
    return -1;
}

/* Unit names as the service plugin takes them: [A-Za-z0-9:_.@-], a type suffix, no leading -. */
static int valid_unit(const char *u)
{
    if (!u || !*u || u[0] == '-' || strlen(u) > 255 || !strchr(u, '.'))
        return 0;
    for (const char *q = u; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              strchr(":_.@-", *q)))
            return 0;
    return 1;
}

static void parse_step(pctx *p, const config_setting_t *g, const char *plan, int idx,
                       plans_step *st)
{
    char where[160];
    snprintf(where, sizeof where, "plan %s: steps[%d]", plan, idx);
    st->line = (int)config_setting_source_line(g);
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        say(p, g, "%s: expected a group { name = ...; run = [...]; }", where);
        return;
    }
    const char *name = get_str(p, g, where, "name");
    if (!name || !valid_name(name)) {
        say(p, g, "%s: \"name\" is required, [a-z0-9_]", where);
        return;
    }
    snprintf(st->name, sizeof st->name, "%s", name);
    if (strlen(plan) + 1 + strlen(name) >= HEALER_NAME_MAX) {
        say(p, g, "%s: the action name \"%s_%s\" would be longer than %d characters", where, plan,
            name, HEALER_NAME_MAX - 1);
        return;
    }
    size_t pl_len = strlen(plan), nm_len = strlen(name);
    memcpy(st->action, plan, pl_len);
    st->action[pl_len] = '_';
    memcpy(st->action + pl_len + 1, name, nm_len + 1);
    snprintf(where, sizeof where, "plan %s: step %s", plan, name);
    static const char *const known[] = {
        "name", "timeout_s", "settle_s", "risky", "auto", "system", "reversible", "impact",
        "run", "signal", "process", "pidfile", "grace_s", "restart_unit", "write", "value",
        "remove_old", "older_than_days", "pattern", "recursive", NULL};
    check_keys(p, g, where, known);
    int kinds = 0;
    const char *kname[] = {"run", "signal", "restart_unit", "write", "remove_old"};
    for (int i = 0; i < 5; i++)
        if (config_setting_get_member(g, kname[i])) {
            kinds++;
            st->kind = (plans_step_kind)(i + 1);
        }
    if (kinds != 1) {
        say(p, g, "%s: exactly one of run, signal, restart_unit, write, remove_old is required "
            "(got %d)", where, kinds);
        return;
    }
    st->timeout_s = get_num(p, g, where, "timeout_s", 30, 0.1, 3600);
    st->settle_s = get_num(p, g, where, "settle_s", 2, 0, HEALER_VERIFY_MAX_S);
    st->impact = get_num(p, g, where, "impact", 0.3, 0, 1);
    uint32_t f = 0;
    if (get_bool(p, g, where, "reversible", 0))
        f |= HEALER_ACTION_REVERSIBLE;
    if (get_bool(p, g, where, "system", 0))
        f |= HEALER_ACTION_SYSTEM;
    if (get_bool(p, g, where, "auto", 0))
        f |= HEALER_ACTION_AUTO_OK;
    if (get_bool(p, g, where, "risky", 0))
        f |= HEALER_ACTION_CONFIG;
    char why[1024];
    switch (st->kind) {
    case STEP_RUN:
        st->argv = get_argv(p, g, where, "run");
        break;
    case STEP_SIGNAL: {
        const char *sig = get_str(p, g, where, "signal");
        if (!sig || (st->sig = parse_signal(sig)) < 0) {
            say(p, config_setting_get_member(g, "signal"), "%s.signal: must be TERM, KILL, HUP, "
                "INT, QUIT, USR1 or USR2", where);
            break;
        }
        st->process = dup_or_null(get_str(p, g, where, "process"));
        st->pidfile = dup_or_null(get_str(p, g, where, "pidfile"));
        if (!!st->process == !!st->pidfile)
            say(p, g, "%s: a signal step needs exactly one of \"process\" (a name) or "
                "\"pidfile\"", where);
        if (st->process && (!*st->process || strlen(st->process) > 15))
            say(p, g, "%s.process: \"%s\" must be 1 to 15 characters (the kernel's comm)", where,
                st->process);
        if (st->pidfile && st->pidfile[0] != '/')
            say(p, g, "%s.pidfile: must be an absolute path", where);
        st->grace_s = get_num(p, g, where, "grace_s", 5, 0, 600);
        /* Ending a process stops someone's work: the governor asks first (README). */
        if (st->sig == SIGTERM || st->sig == SIGKILL || st->sig == SIGINT || st->sig == SIGQUIT)
            f |= HEALER_ACTION_STOPS;
        break;
    }
    case STEP_RESTART_UNIT:
        st->unit = dup_or_null(get_str(p, g, where, "restart_unit"));
        if (!valid_unit(st->unit))
            say(p, config_setting_get_member(g, "restart_unit"), "%s.restart_unit: \"%s\" is not "
                "a unit name (e.g. \"nginx.service\")", where, st->unit ? st->unit : "");
        break;
    case STEP_WRITE: {
        st->write_path = dup_or_null(get_str(p, g, where, "write"));
        st->value = dup_or_null(get_str(p, g, where, "value"));
        if (!st->value)
            say(p, g, "%s: a write step needs \"value\"", where);
        const char *wp = st->write_path;
        if (!wp || wp[0] != '/') {
            say(p, config_setting_get_member(g, "write"), "%s.write: an absolute path is "
                "required", where);
            break;
        }
        /* The actuator's own rules, so the file is refused now and not at 3 a.m. */
        int rc = HEALER_OK;
        if (strncmp(wp, "/proc/", 6) == 0)
            rc = healer_rules_check_write('p', wp + 6, p->pol, why, sizeof why);
        else if (strncmp(wp, "/sys/", 5) == 0)
            rc = healer_rules_check_write('s', wp + 5, p->pol, why, sizeof why);
        else if (p->pol)
            rc = healer_rules_check_declare(wp, p->pol, why, sizeof why);
        if (rc == HEALER_E_PROTECTED || (p->pol && rc != HEALER_OK))
            say(p, config_setting_get_member(g, "write"), "%s.write: %s", where, why);
        f |= HEALER_ACTION_CONFIG;
        break;
    }
    case STEP_REMOVE_OLD:
        st->dir = dup_or_null(get_str(p, g, where, "remove_old"));
        if (!st->dir || st->dir[0] != '/') {
            say(p, config_setting_get_member(g, "remove_old"), "%s.remove_old: an absolute "
                "directory is required", where);
            break;
        }
        if (p->pol && healer_rules_check_declare(st->dir, p->pol, why, sizeof why) != HEALER_OK)
            say(p, config_setting_get_member(g, "remove_old"), "%s.remove_old: %s", where, why);
        st->older_than_days = get_num(p, g, where, "older_than_days", -1, 0, 36500);
        if (st->older_than_days < 0)
            say(p, g, "%s: a remove_old step needs \"older_than_days\"", where);
        st->pattern = dup_or_null(get_str(p, g, where, "pattern"));
        st->recursive = get_bool(p, g, where, "recursive", 0);
        f |= HEALER_ACTION_DELETES;
        break;
    }
    st->flags = f;
}

static void parse_plan(pctx *p, const config_setting_t *g, int idx, plans_plan *pl)
{
    char where[96];
    pl->line = (int)config_setting_source_line(g);
    pl->file = strdup(p->file);
    const char *name = entry_start(p, g, "plans", idx, "plan",
                                   "{ name = ...; match = {...}; steps = (...); }", where,
                                   sizeof where);
    if (!name)
        return;
    snprintf(pl->name, sizeof pl->name, "%s", name);
    static const char *const known[] = {"name", "match", "steps", "verify_check",
                                        "verify_command", NULL};
    check_keys(p, g, where, known);

    const config_setting_t *m = config_setting_get_member(g, "match");
    if (!m || config_setting_type(m) != CONFIG_TYPE_GROUP) {
        say(p, m ? m : g, "%s: \"match\" = { type = \"...\"; } is required", where);
    } else {
        char mw[128];
        snprintf(mw, sizeof mw, "%s: match", where);
        static const char *const mk[] = {"type", "target", "when", NULL};
        check_keys(p, m, mw, mk);
        pl->match_type = dup_or_null(get_str(p, m, mw, "type"));
        if (!pl->match_type || !*pl->match_type)
            say(p, m, "%s.type: required (an issue type such as \"check_failed\", or a pattern)",
                mw);
        const char *t = get_str(p, m, mw, "target");
        pl->match_target = strdup(t ? t : "*");
        const config_setting_t *w = config_setting_get_member(m, "when");
        if (w) {
            int n = config_setting_is_aggregate(w) ? config_setting_length(w) : -1;
            if (n < 0 || n > PLANS_MAX_WHEN)
                say(p, w, "%s.when: expected up to %d strings like \"status_code >= 500\"", mw,
                    PLANS_MAX_WHEN);
            for (int i = 0; i < n && i < PLANS_MAX_WHEN; i++) {
                const config_setting_t *e = config_setting_get_elem(w, (unsigned)i);
                char why[256];
                if (config_setting_type(e) != CONFIG_TYPE_STRING)
                    say(p, e, "%s.when[%d]: expected a string", mw, i);
                else if (plans_parse_cond(config_setting_get_string(e), &pl->when[pl->n_when],
                                          why, sizeof why) != 0)
                    say(p, e, "%s.when[%d]: %s", mw, i, why);
                else
                    pl->n_when++;
            }
        }
    }

    const config_setting_t *steps = config_setting_get_member(g, "steps");
    int n = steps && config_setting_type(steps) == CONFIG_TYPE_LIST ? config_setting_length(steps)
                                                                    : -1;
    if (n < 1 || n > PLANS_MAX_STEPS) {
        say(p, steps ? steps : g, "%s: \"steps\" = ( {...}, ... ) with 1 to %d steps is required",
            where, PLANS_MAX_STEPS);
    } else {
        for (int i = 0; i < n; i++) {
            parse_step(p, config_setting_get_elem(steps, (unsigned)i), pl->name, i,
                       &pl->steps[pl->n_steps]);
            for (size_t j = 0; j < pl->n_steps; j++)
                if (pl->steps[pl->n_steps].name[0] &&
                    strcmp(pl->steps[j].name, pl->steps[pl->n_steps].name) == 0)
                    say(p, config_setting_get_elem(steps, (unsigned)i), "%s: two steps named "
                        "\"%s\"", where, pl->steps[j].name);
            pl->n_steps++;
        }
    }
    pl->verify_check = dup_or_null(get_str(p, g, where, "verify_check"));
    pl->verify_argv = get_argv(p, g, where, "verify_command");
    if (pl->match_type && strcmp(pl->match_type, "check_failed") != 0 && !pl->verify_check &&
        !pl->verify_argv)
        say(p, g, "%s: a plan for \"%s\" issues needs \"verify_check\" (a check that must pass "
            "again) or \"verify_command\" (a read-only command that must exit 0)", where,
            pl->match_type);
}

/* ---- files ------------------------------------------------------------------------------- */

/* libconfig 1.5's scanner exit()s on a NUL byte and follows @include anywhere: refused first. */
static int prescan(pctx *p, const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        say(p, NULL, "cannot read (%s)", fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (st.st_size > FILE_MAX_BYTES) {
        close(fd);
        say(p, NULL, "larger than %d bytes", FILE_MAX_BYTES);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (got < 0) {
        free(buf);
        say(p, NULL, "cannot read");
        return -1;
    }
    int line = 1, rc = 0, bol = 1;
    for (ssize_t i = 0; i < got && rc == 0; i++) {
        if (buf[i] == '\0') {
            p->errors++;
            if (p->report)
                p->report(p->ud, p->file, line, "a NUL byte");
            rc = -1;
        } else if (bol && buf[i] != ' ' && buf[i] != '\t') {
            if (strncmp(buf + i, "@include", 8) == 0 && (size_t)(got - i) >= 8) {
                p->errors++;
                if (p->report)
                    p->report(p->ud, p->file, line, "@include is not supported in plans.d (put "
                              "each file in the folder)");
                rc = -1;
            }
            bol = 0;
        }
        if (buf[i] == '\n') {
            line++;
            bol = 1;
        }
    }
    free(buf);
    return rc;
}

const plans_check *plans_find_check(const plans_set *s, const char *name)
{
    for (size_t i = 0; s && name && i < s->n_checks; i++)
        if (strcmp(s->checks[i].name, name) == 0)
            return &s->checks[i];
    return NULL;
}

static const plans_plan *find_plan(const plans_set *s, const char *name)
{
    for (size_t i = 0; i < s->n_plans; i++)
        if (strcmp(s->plans[i].name, name) == 0)
            return &s->plans[i];
    return NULL;
}

int plans_load_file(const char *path, const healer_rules_policy *pol, plans_report_fn report,
                    void *ud, plans_set *set)
{
    pctx p = {.file = path, .report = report, .ud = ud, .pol = pol};
    if (prescan(&p, path) != 0)
        return p.errors;
    config_t cf;
    config_init(&cf);
    if (!config_read_file(&cf, path)) {
        p.errors++;
        if (report)
            report(ud, path, config_error_line(&cf), config_error_text(&cf));
        config_destroy(&cf);
        return p.errors;
    }
    const config_setting_t *root = config_root_setting(&cf);
    static const char *const top[] = {"checks", "plans", NULL};
    check_keys(&p, root, "top level", top);
    const config_setting_t *cs = config_setting_get_member(root, "checks");
    const config_setting_t *ps = config_setting_get_member(root, "plans");
    int nc = 0, np = 0;
    if (cs && config_setting_type(cs) != CONFIG_TYPE_LIST)
        say(&p, cs, "checks: expected a list ( {...}, {...} )");
    else if (cs)
        nc = config_setting_length(cs);
    if (ps && config_setting_type(ps) != CONFIG_TYPE_LIST)
        say(&p, ps, "plans: expected a list ( {...}, {...} )");
    else if (ps)
        np = config_setting_length(ps);
    if (set->n_checks + (size_t)nc > PLANS_MAX_CHECKS || set->n_plans + (size_t)np > PLANS_MAX_PLANS) {
        say(&p, cs ? cs : ps, "more than %d checks or %d plans in plans.d", PLANS_MAX_CHECKS,
            PLANS_MAX_PLANS);
        nc = np = 0;
    }
    plans_check *c = calloc((size_t)nc + 1, sizeof *c);
    plans_plan *pl = calloc((size_t)np + 1, sizeof *pl);
    if (!c || !pl) {
        say(&p, NULL, "out of memory");
        nc = np = 0;
    }
    for (int i = 0; i < nc; i++) {
        const config_setting_t *g = config_setting_get_elem(cs, (unsigned)i);
        parse_check(&p, g, i, &c[i]);
        if (c[i].name[0] && plans_find_check(set, c[i].name))
            say(&p, g, "check %s: already defined in %s:%d", c[i].name,
                plans_find_check(set, c[i].name)->file, plans_find_check(set, c[i].name)->line);
        for (int j = 0; j < i; j++)
            if (c[i].name[0] && strcmp(c[j].name, c[i].name) == 0)
                say(&p, g, "check %s: defined twice in this file", c[i].name);
    }
    for (int i = 0; i < np; i++) {
        const config_setting_t *g = config_setting_get_elem(ps, (unsigned)i);
        parse_plan(&p, g, i, &pl[i]);
        const plans_plan *dup = pl[i].name[0] ? find_plan(set, pl[i].name) : NULL;
        if (dup)
            say(&p, g, "plan %s: already defined in %s:%d", pl[i].name, dup->file, dup->line);
        for (int j = 0; j < i; j++)
            if (pl[i].name[0] && strcmp(pl[j].name, pl[i].name) == 0)
                say(&p, g, "plan %s: defined twice in this file", pl[i].name);
    }
    /* verify_check must name a check of plans.d (this file or an earlier one). */
    for (int i = 0; i < np; i++) {
        const char *vc = pl[i].verify_check;
        int found = vc && plans_find_check(set, vc);
        for (int j = 0; vc && j < nc && !found; j++)
            found = strcmp(c[j].name, vc) == 0;
        if (vc && !found)
            say(&p, config_setting_get_member(config_setting_get_elem(ps, (unsigned)i),
                                              "verify_check"),
                "plan %s: verify_check \"%s\" names no check", pl[i].name, vc);
    }
    config_destroy(&cf);
    if (p.errors) {
        for (int i = 0; i < nc; i++)
            free_check(&c[i]);
        for (int i = 0; i < np; i++)
            free_plan(&pl[i]);
        free(c);
        free(pl);
        return p.errors;
    }
    plans_check *nc2 = realloc(set->checks, (set->n_checks + (size_t)nc + 1) * sizeof *nc2);
    if (nc2)
        set->checks = nc2;
    plans_plan *np2 = realloc(set->plans, (set->n_plans + (size_t)np + 1) * sizeof *np2);
    if (np2)
        set->plans = np2;
    if (!nc2 || !np2) {
        for (int i = 0; i < nc; i++)
            free_check(&c[i]);
        for (int i = 0; i < np; i++)
            free_plan(&pl[i]);
        free(c);
        free(pl);
        p.errors++;
        if (report)
            report(ud, path, 0, "out of memory");
        return p.errors;
    }
    memcpy(set->checks + set->n_checks, c, (size_t)nc * sizeof *c);
    set->n_checks += (size_t)nc;
    memcpy(set->plans + set->n_plans, pl, (size_t)np * sizeof *pl);
    set->n_plans += (size_t)np;
    free(c);
    free(pl);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int plans_load_dir(const char *dir, const healer_rules_policy *pol, plans_report_fn report,
                   void *ud, plans_set *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        if (report) {
            char msg[512];
            snprintf(msg, sizeof msg, "cannot open the plans folder: %s", strerror(errno));
            report(ud, dir, 0, msg);
        }
        return 1;
    }
    char *names[PLANS_MAX_FILES];
    size_t n = 0;
    int problems = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".conf") != 0)
            continue;
        if (n == PLANS_MAX_FILES) {
            if (report)
                report(ud, dir, 0, "more than 256 *.conf files: the rest are ignored");
            problems++;
            break;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i] ? names[i] : "");
        free(names[i]);
        out->n_files++;
        int e = plans_load_file(path, pol, report, ud, out);
        if (e) {
            problems += e;
            out->n_files_refused++;
        }
    }
    return problems;
}

void plans_set_free(plans_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_checks; i++)
        free_check(&s->checks[i]);
    for (size_t i = 0; i < s->n_plans; i++)
        free_plan(&s->plans[i]);
    free(s->checks);
    free(s->plans);
    memset(s, 0, sizeof *s);
}
