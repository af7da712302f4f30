/* loader.c — turns the files in plugin_dir into checked plugin records. Rules are applied in the
 * order a broken plugin is most usefully told about them: file safety first (never dlopen a file
 * someone else could have written), then symbols, then the descriptor's version and shape. */
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

const char *plugin_state_name(plugin_state s)
{
    switch (s) {
    case PLUGIN_LOADED: return "loaded";
    case PLUGIN_DISABLED: return "disabled";
    case PLUGIN_REFUSED: return "refused";
    case PLUGIN_FAILED: return "failed";
    }
    return "unknown";
}

int loader_valid_name(const char *name)
{
    return healer_rules_valid_name(name);
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Records the refusal with one log line naming the file, the rule and the fix. */
static void refuse(plugin_rec *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(plugin_rec *p, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    p->state = PLUGIN_REFUSED;
    free(p->reason);
    p->reason = strdup(buf);
    if (p->dl) {
        dlclose(p->dl);
        p->dl = NULL;
    }
    log_warn("loader", "%s: refused: %s", p->file, buf);
}

void loader_fail(plugin_rec *p, const char *reason)
{
    p->state = PLUGIN_FAILED;
    free(p->reason);
    p->reason = strdup(reason ? reason : "init failed");
    plugin_policy_free(p);
    plugin_conf_free(p->conf);
    p->conf = NULL;
    if (p->dl) {
        dlclose(p->dl);
        p->dl = NULL;
    }
}

/* A file or folder that anyone but root could write is a way to run code as root. */
static int insecure(const struct stat *st, int check_owner, char *why, size_t len,
                    const char *what)
{
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, len, "%s is writable by %s (mode %04o); fix: chmod go-w", what,
                 (st->st_mode & S_IWOTH) ? "others" : "group", (unsigned)(st->st_mode & 07777));
        return 1;
    }
    if (check_owner && st->st_uid != 0) {
        snprintf(why, len, "%s is owned by uid %u, not root; fix: chown root, or set "
                 "agent.plugin_check_owner = false for development", what, (unsigned)st->st_uid);
        return 1;
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Looks for the entry point of another major, to say "built for ABI N" rather than
 * "not a plugin". */
static int other_major(void *dl)
{
    char sym[64];
    for (int major = 0; major <= 16; major++) {
        if (major == HEALER_ABI_MAJOR)
            continue;
        snprintf(sym, sizeof sym, "healer_plugin_entry_v%d", major);
        if (dlsym(dl, sym))
            return major;
    }
    return -1;
}

static void check_plugin(const config *cfg, plugin_set *set, plugin_rec *p, diag *d)
{
    struct stat st;
    char why[512];

    if (stat(p->file, &st) != 0) {
        refuse(p, "cannot stat: %s", strerror(errno));
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        refuse(p, "not a regular file");
        return;
    }
    if (insecure(&st, cfg->plugin_check_owner, why, sizeof why, "the file")) {
        refuse(p, "%s", why);
        return;
    }
    if (!config_plugin_enabled(cfg, p->section)) {
        p->state = PLUGIN_DISABLED;
        p->reason = strdup("disabled in the config (enabled = false)");
        log_info("loader", "%s: disabled by plugins.%s.enabled", p->file, p->section);
        return;
    }

    p->file_dev = st.st_dev;
    p->file_ino = st.st_ino;
    dlerror();
    p->dl = dlopen(p->file, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) {
        const char *e = dlerror();
        refuse(p, "cannot be loaded: %s; fix: install the library it needs or rebuild it",
               e ? e : "unknown dlopen error");
        return;
    }
    healer_plugin_entry_fn entry;
    *(void **)&entry = dlsym(p->dl, HEALER_ENTRY_SYMBOL);
    if (!entry) {
        int major = other_major(p->dl);
        if (major >= 0)
            refuse(p, "built for plugin ABI major %d, this agent speaks %d; fix: rebuild it "
                   "against healer-sdk %d.x", major, HEALER_ABI_MAJOR, HEALER_ABI_MAJOR);
        else
            refuse(p, "not a healerd plugin: no %s symbol; fix: use HEALER_PLUGIN(descriptor)",
                   HEALER_ENTRY_SYMBOL);
        return;
    }
    const healer_plugin *src = entry();
    p->abi_major = src ? src->abi_major : 0;
    p->abi_minor = src ? src->abi_minor : 0;
    /* The descriptor rules are the mock host's too (rules.c): one copy, one verdict. */
    char dwhy[512];
    if (healer_rules_check_descriptor(src, &p->desc, dwhy, sizeof dwhy) != HEALER_OK) {
        refuse(p, "%s", dwhy);
        return;
    }
    free(p->name);
    p->name = strdup(p->desc.name);
    p->version = xstrdup(p->desc.version ? p->desc.version : "0");
    p->description = xstrdup(p->desc.description ? p->desc.description : "");
    for (size_t i = 0; i < set->n; i++) {
        plugin_rec *o = &set->v[i];
        if (o != p && o->state == PLUGIN_LOADED && strcmp(o->name, p->name) == 0) {
            refuse(p, "duplicate name \"%s\", already loaded from %s; fix: remove one of them",
                   p->name, o->file);
            return;
        }
    }
    p->conf = config_plugin_resolve(cfg, p->section, p->desc.config, d);
    if (!p->conf) {
        refuse(p, "invalid settings in plugins.%s (see the errors above); fix the config",
               p->section);
        return;
    }
    if (plugin_policy_build(p) != 0) {
        refuse(p, "out of memory building its policy");
        return;
    }
    double iv = plugin_conf_interval(p->conf);
    p->interval = iv > 0 ? iv : (p->desc.interval > 0 ? p->desc.interval : cfg->interval);
    p->state = PLUGIN_LOADED;
    log_info("loader", "%s: loaded %s %s (ABI %u.%u)", p->file, p->name, p->version,
             p->abi_major, p->abi_minor);
}

int loader_scan(const config *cfg, plugin_set *out, diag *d)
{
    out->v = NULL;
    out->n = 0;
    DIR *dir = opendir(cfg->plugin_dir);
    if (!dir) {
        log_error("loader", "%s: cannot open plugin_dir: %s", cfg->plugin_dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.' || !ends_with(de->d_name, ".so"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(dir);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);

    struct stat dst;
    char dir_why[512] = "";
    if (stat(cfg->plugin_dir, &dst) == 0)
        insecure(&dst, cfg->plugin_check_owner, dir_why, sizeof dir_why, "the plugin folder");

    out->v = calloc(n ? n : 1, sizeof *out->v);
    for (size_t i = 0; i < n && out->v; i++) {
        plugin_rec *p = &out->v[out->n++];
        size_t len = strlen(cfg->plugin_dir) + strlen(names[i]) + 2;
        p->file = malloc(len);
        snprintf(p->file, len, "%s/%s", cfg->plugin_dir, names[i]);
        p->section = strndup(names[i], strlen(names[i]) - 3);
        p->name = strdup(p->section);
        p->interval = cfg->interval;
        if (dir_why[0])
            refuse(p, "%s", dir_why);
        else
            check_plugin(cfg, out, p, d);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return 0;
}

int loader_check(const config *cfg, plugin_set *out, diag *d, loader_problem_fn problem,
                 void *ud)
{
    int before = d ? d->count : 0;
    int problems = 0;
    if (loader_scan(cfg, out, d) < 0) {
        char why[PATH_MAX + 64];
        snprintf(why, sizeof why, "cannot read plugin_dir %s", cfg->plugin_dir);
        if (problem)
            problem(ud, cfg->path ? cfg->path : "(config)", why);
        problems++;
    }
    for (size_t i = 0; i < out->n; i++) {
        const plugin_rec *p = &out->v[i];
        if (p->state != PLUGIN_REFUSED)
            continue;
        char why[1200];
        snprintf(why, sizeof why, "refused: %s", p->reason ? p->reason : "?");
        if (problem)
            problem(ud, p->file, why);
        problems++;
    }
    return problems + (d ? d->count - before : 0);
}

void loader_free(plugin_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        plugin_rec *p = &set->v[i];
        if (p->dl)
            dlclose(p->dl);
        plugin_policy_free(p);
        plugin_conf_free(p->conf);
        for (size_t j = 0; j < p->n_declared_paths; j++)
            free(p->declared_paths[j]);
        free(p->declared_paths);
        free(p->file);
        free(p->section);
        free(p->name);
        free(p->version);
        free(p->description);
        free(p->reason);
    }
    free(set->v);
    set->v = NULL;
    set->n = 0;
}
