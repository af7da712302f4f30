/* plugin_policy.c — a loaded plugin's operator policy (rules.h) from its resolved section:
 * plugins.<name>.write_allow, paths_allow, allow_auto, allow_system. A built-in's defaults come
 * with the implicit keys (config.c); here a built-in whose paths_allow is not set also gets the
 * directories its own path keys name (disk's log_dirs, nixconfig's backup_dir...), which the
 * same operator wrote in the same file. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

static int add_path(plugin_rec *p, const char *path, size_t *cap)
{
    if (!path || path[0] != '/')
        return 0;
    if (p->n_policy_paths == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        char **nv = realloc(p->policy_paths, nc * sizeof *nv);
        if (!nv)
            return -1;
        p->policy_paths = nv;
        *cap = nc;
    }
    char *c = strdup(path);
    if (!c)
        return -1;
    p->policy_paths[p->n_policy_paths++] = c;
    return 0;
}

/* A path key's values: "key" is a string or a list of directories, "dir:key" the directory of
 * a file key. */
static int add_key_paths(plugin_rec *p, const char *spec, size_t *cap)
{
    int dir = strncmp(spec, "dir:", 4) == 0;
    const char *key = dir ? spec + 4 : spec;
    const char *const *items = NULL;
    size_t n = 0;
    const char *one = NULL;
    if (plugin_conf_list(p->conf, key, &items, &n) != HEALER_OK) {
        if (plugin_conf_string(p->conf, key, &one) != HEALER_OK || !one)
            return 0;
        items = &one;
        n = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!dir) {
            if (add_path(p, items[i], cap) < 0)
                return -1;
            continue;
        }
        char buf[PATH_MAX];
        snprintf(buf, sizeof buf, "%s", items[i]);
        if (add_path(p, dirname(buf), cap) < 0)
            return -1;
    }
    return 0;
}

int plugin_policy_build(plugin_rec *p)
{
    plugin_policy_free(p);
    healer_rules_policy *pol = &p->policy;
    pol->plugin = p->section;
    const char *const *items = NULL;
    size_t n = 0;
    if (plugin_conf_list(p->conf, "write_allow", &items, &n) == HEALER_OK) {
        pol->write_allow = items;
        pol->n_write_allow = n;
    }
    size_t cap = 0;
    if (plugin_conf_list(p->conf, "paths_allow", &items, &n) == HEALER_OK)
        for (size_t i = 0; i < n; i++)
            if (add_path(p, items[i], &cap) < 0)
                return -1;
    /* Only a file and descriptor that both carry a built-in's name get its defaults. */
    const healer_rules_builtin *bi = healer_rules_builtin_policy(p->section);
    if (bi && p->name && strcmp(p->name, p->section) == 0 &&
        !plugin_conf_is_set(p->conf, "paths_allow"))
        for (size_t i = 0; bi->path_keys && bi->path_keys[i]; i++)
            if (add_key_paths(p, bi->path_keys[i], &cap) < 0)
                return -1;
    pol->paths_allow = (const char *const *)p->policy_paths;
    pol->n_paths_allow = p->n_policy_paths;
    int b = 0;
    pol->allow_auto = plugin_conf_bool(p->conf, "allow_auto", &b) == HEALER_OK && b;
    b = 0;
    pol->allow_system = plugin_conf_bool(p->conf, "allow_system", &b) == HEALER_OK && b;
    return 0;
}

void plugin_policy_free(plugin_rec *p)
{
    for (size_t i = 0; i < p->n_policy_paths; i++)
        free(p->policy_paths[i]);
    free(p->policy_paths);
    p->policy_paths = NULL;
    p->n_policy_paths = 0;
    memset(&p->policy, 0, sizeof p->policy);
    p->policy.plugin = p->section;
}
