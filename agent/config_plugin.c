/* config_plugin.c — a plugin's section of healerd.conf checked against the schema the plugin
 * declares (plus the implicit keys every plugin has), and resolved into plugin_conf: typed
 * values with defaults filled in, a copy that does not depend on libconfig's memory. */
#include "config_int.h"
#include "isolation.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

#define PLUGIN_INTERVAL_MIN 0.01
#define PLUGIN_INTERVAL_MAX 86400.0

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
        cfg_free_strv(pc->e[i].items, pc->e[i].n_items);
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

/* A string default starting with "${config_dir}" (sdk/docs/abi.md): that prefix becomes the
 * directory of the agent's config file, so a plugin can default to a folder beside it (the plans
 * plugin's plans.d) without knowing where the agent was started from. */
#define CONFIG_DIR_VAR "${config_dir}"

static int expand_config_dir(char **s, const char *cfg_path)
{
    size_t vl = strlen(CONFIG_DIR_VAR);
    if (strncmp(*s, CONFIG_DIR_VAR, vl) != 0)
        return 0;
    const char *slash = cfg_path ? strrchr(cfg_path, '/') : NULL;
    int dl = slash ? (int)(slash - cfg_path) : 1;
    const char *dir = slash ? cfg_path : ".";
    if (slash == cfg_path)
        dl = 0;   /* "/healerd.conf": the root, so "/plans.d" */
    size_t n = (size_t)dl + strlen(*s + vl) + 1;
    char *v = malloc(n);
    if (!v)
        return -1;
    snprintf(v, n, "%.*s%s", dl, dir, *s + vl);
    free(*s);
    *s = v;
    return 0;
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

/* Without a declared range a number still has to be finite (1e400 reads as infinity). */
static bool entry_in_range(const pc_entry *e, double v)
{
    return isfinite(v) && (!has_range(e) || (v >= e->min && v <= e->max));
}

/* Sets e from the file's value s; reports and returns false when s does not fit. */
static bool read_value(rctx *r, pc_entry *e, const config_setting_t *s, const char *path)
{
    int type = config_setting_type(s);
    switch (e->type) {
    case HEALER_CFG_BOOL:
        if (type != CONFIG_TYPE_BOOL) {
            cfg_report(r, s, "%s: expected a bool (true or false), got %s", path, cfg_type_name(type));
            return false;
        }
        e->b = config_setting_get_bool(s);
        return true;
    case HEALER_CFG_INT: {
        long long v;
        bool huge;
        if (!cfg_get_integer(r, s, &v, &huge)) {
            cfg_report(r, s, "%s: expected an integer, got %s", path, cfg_type_name(type));
            return false;
        }
        if (huge) {
            cfg_report(r, s, "%s: the number does not fit in 64 bits", path);
            return false;
        }
        if (!entry_in_range(e, (double)v)) {
            cfg_report(r, s, "%s: must be between %.15g and %.15g, got %lld", path, e->min, e->max, v);
            return false;
        }
        e->i = v;
        return true;
    }
    case HEALER_CFG_DOUBLE: {
        double v;
        if (!cfg_get_number(r, s, &v)) {
            cfg_report(r, s, "%s: expected a number, got %s", path, cfg_type_name(type));
            return false;
        }
        if (!entry_in_range(e, v)) {
            if (has_range(e))
                cfg_report(r, s, "%s: must be between %.15g and %.15g, got %.15g", path, e->min,
                           e->max, v);
            else
                cfg_report(r, s, "%s: must be a finite number, got %.15g", path, v);
            return false;
        }
        e->d = v;
        return true;
    }
    case HEALER_CFG_STRING: {
        if (type != CONFIG_TYPE_STRING) {
            cfg_report(r, s, "%s: expected a string, got %s", path, cfg_type_name(type));
            return false;
        }
        char *copy = strdup(config_setting_get_string(s));
        if (!copy) {
            cfg_report(r, s, "%s: out of memory", path);
            return false;
        }
        free(e->s);
        e->s = copy;
        return true;
    }
    case HEALER_CFG_STRING_LIST: {
        char **v = NULL;
        size_t n = 0;
        if (!cfg_read_string_list(r, s, path, false, &v, &n))
            return false;
        cfg_free_strv(e->items, e->n_items);
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
    rctx r = {.d = d, .path = file, .errors = 0, .impl = cfg ? cfg->impl : NULL,
              .include_dir = cfg && cfg->impl ? cfg->impl->include_dir : NULL};
    const char *pname = name ? name : "?";
    const config_setting_t *sec = cfg_plugin_section(cfg, name);

    size_t n_schema = 0;
    while (schema && schema[n_schema].name)
        n_schema++;

    plugin_conf *pc = calloc(1, sizeof *pc);
    if (pc)
        pc->e = calloc(n_schema + N_IMPLICIT + ISOLATION_N_KEYS, sizeof *pc->e);
    if (!pc || !pc->e) {
        plugin_conf_free(pc);
        cfg_report(&r, sec, "plugins.%s: out of memory", pname);
        return NULL;
    }

    /* The schema is the plugin author's; its mistakes are reported (naming plugin and key)
     * like the operator's, at the section's line when there is one. The rules are the ones the
     * mock host applies (rules.c). */
    for (size_t i = 0; i < n_schema; i++) {
        const healer_config_key *k = &schema[i];
        char why[512];
        if (healer_rules_check_schema_key(schema, i, why, sizeof why) != HEALER_OK) {
            cfg_report(&r, sec, "plugins.%s: plugin %s's schema: %s", pname, pname, why);
            continue;
        }
        pc_entry *e = &pc->e[pc->n];
        e->type = k->type;
        e->min = k->min;
        e->max = k->max;
        if (!(e->name = strdup(k->name)) || !parse_default(e, k->default_value)) {
            cfg_report(&r, sec, "plugins.%s: out of memory", pname);
            continue;
        }
        if (e->type == HEALER_CFG_STRING && e->s && expand_config_dir(&e->s, file) != 0) {
            cfg_report(&r, sec, "plugins.%s: out of memory", pname);
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
            cfg_report(&r, s, "%s: unknown key for plugin %s (known: %s)", path, pname, known);
            continue;
        }
        if (!read_value(&r, e, s, path))
            continue;
        e->set = true;
        if (strcmp(key, "write_allow") == 0 || strcmp(key, "paths_allow") == 0) {
            for (size_t j = 0; j < e->n_items; j++) {
                char why[512];
                if (healer_rules_check_policy_item(key, e->items[j], why, sizeof why) != HEALER_OK)
                    cfg_report(&r, s, "%s: %s", path, why);
            }
        }
        if (strcmp(key, "interval") == 0) {
            double v = e->type == HEALER_CFG_INT ? (double)e->i : e->d;
            /* As agent.interval: at least 10 ms (shorter is a busy loop), at most a day. */
            if (!(v >= PLUGIN_INTERVAL_MIN && v <= PLUGIN_INTERVAL_MAX)) {
                cfg_report(&r, s, "%s: must be between %g and %g seconds, got %.15g", path,
                           PLUGIN_INTERVAL_MIN, PLUGIN_INTERVAL_MAX, v);
                continue;
            }
            pc->interval = v;
        }
        if (strcmp(key, "isolation") == 0 && e->type == HEALER_CFG_STRING && isolation_check(e->s))
            cfg_report(&r, s, "%s: %s", path, isolation_check(e->s));
        if (strcmp(key, "mode") == 0 && e->type == HEALER_CFG_STRING &&
            isolation_mode_check(e->s))
            cfg_report(&r, s, "%s: %s, got \"%s\"", path, isolation_mode_check(e->s), e->s);
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
