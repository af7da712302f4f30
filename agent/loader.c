/* loader.c — turns the files in plugin_dir into checked plugin records. Rules are applied in the
 * order a broken plugin is most usefully told about them: file safety first (never dlopen a file
 * someone else could have written; loader_fs.c), then symbols, then the descriptor's version and
 * shape, its name against its file's, then its settings. Also: plugin sections naming no plugin. */
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader_fs.h"
#include "isolation.h"
#include "log.h"

/* The built-in plugins (plugins/): a section for one that is not installed is not a typo. */
static const char *const BUILTIN_PLUGINS[] = { "cpu", "thermal", "memory", "disk", "nixconfig",
                                               "service", "network" };
#define N_BUILTIN (sizeof BUILTIN_PLUGINS / sizeof BUILTIN_PLUGINS[0])

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

/* Unmaps the plugin and closes its descriptor. */
static void release_file(plugin_rec *p)
{
    if (p->dl) {
        lfs_dlclose(p->dl);
        p->dl = NULL;
    }
    if (p->fd > 2) {
        close(p->fd);
        p->fd = -1;
    }
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
    release_file(p);
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
    release_file(p);
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

/* A plugin's settings problems, kept for its reason as well as reported (FILE:LINE). */
typedef struct diag_capture {
    diag *outer;
    char text[768];
} diag_capture;

static void capture_emit(void *ud, const char *file, int line, const char *msg)
{
    diag_capture *c = ud;
    if (c->outer && c->outer->emit)
        c->outer->emit(c->outer->ud, file, line, msg);
    size_t n = strlen(c->text);
    if (n + 4 < sizeof c->text)
        snprintf(c->text + n, sizeof c->text - n, "%s%s:%d: %s", n ? "; " : "", file, line, msg);
}

static void check_described(const config *cfg, plugin_set *set, plugin_rec *p,
                            const healer_plugin *src, diag *d);

static void check_plugin(const config *cfg, plugin_set *set, plugin_rec *p, int dirfd,
                         const char *entry_name, diag *d)
{
    struct stat st;
    char why[1024], what[PATH_MAX + 16];

    p->fd = lfs_open_file(dirfd, entry_name);
    if (p->fd < 0) {
        if (errno == ELOOP)
            refuse(p, "is a symbolic link; plugins are never loaded through one; fix: install "
                   "the file itself in the plugin folder");
        else
            refuse(p, "cannot open: %s", strerror(errno));
        return;
    }
    /* From here on only the descriptor is used: whatever is renamed into place later is never
     * looked at. */
    if (fstat(p->fd, &st) != 0) {
        refuse(p, "cannot stat: %s", strerror(errno));
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        refuse(p, "not a regular file");
        return;
    }
    snprintf(what, sizeof what, "the file %s", p->file);
    if (lfs_insecure(&st, cfg->plugin_check_owner, what, why, sizeof why)) {
        refuse(p, "%s", why);
        return;
    }
    if (!config_plugin_enabled(cfg, p->section)) {
        release_file(p);
        p->state = PLUGIN_DISABLED;
        p->reason = strdup("disabled in the config (enabled = false)");
        log_info("loader", "%s: disabled by plugins.%s.enabled", p->file, p->section);
        return;
    }

    p->file_dev = st.st_dev;
    p->file_ino = st.st_ino;
    /* A plugin for a child is read by a child: its constructor never runs in the agent. What
     * the child described goes through the same descriptor rules as a dlopen'ed one. */
    const healer_plugin *src = NULL;
    healer_plugin described_copy;
    if (isolation_in_child(cfg, p->section)) {
        if (describe_in_child(p, why, sizeof why) < 0) {
            refuse(p, "%s", why);
            return;
        }
        described_copy = p->desc;
        src = &described_copy;
        goto check;
    }
    char err[1024];
    p->dl = lfs_dlopen_fd(&p->fd, &st, p->file, err, sizeof err);
    if (!p->dl) {
        refuse(p, "cannot be loaded: %s; fix: install the library it needs or rebuild it", err);
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
    src = entry();
check:
    check_described(cfg, set, p, src, d);
}

/* The rules every plugin's descriptor and settings go through, whether a .so dlopen'ed here,
 * one described by a healerd-plugin child, or a program (exec) that described itself. */
static void check_described(const config *cfg, plugin_set *set, plugin_rec *p,
                            const healer_plugin *src, diag *d)
{
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
    /* Its settings are plugins.<file name without .so>: a descriptor named otherwise would run
     * on defaults while the operator edits the section of the name it shows. */
    if (p->is_exec && strcmp(p->name, p->section) != 0) {
        refuse(p, "its --describe output is named \"%s\" but it runs as plugins.%s.exec, whose "
               "section holds its settings; fix: rename the section to plugins.%s, or make the "
               "program describe itself as \"%s\"", p->name, p->section, p->name, p->section);
        return;
    }
    if (strcmp(p->name, p->section) != 0) {
        refuse(p, "its descriptor is named \"%s\" but its file is %s.so, and its settings are "
               "read from plugins.<file name without .so>; fix: rename %s.so to %s.so, or set "
               ".name = \"%s\" in its descriptor", p->name, p->section, p->section, p->name,
               p->section);
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        plugin_rec *o = &set->v[i];
        if (o != p && o->state == PLUGIN_LOADED && strcmp(o->name, p->name) == 0) {
            refuse(p, "duplicate name \"%s\", already loaded from %s; fix: remove one of them",
                   p->name, o->file);
            return;
        }
    }
    diag_capture cap = { .outer = d, .text = "" };
    diag dc = { .emit = capture_emit, .ud = &cap };
    p->conf = config_plugin_resolve(cfg, p->section, p->desc.config, &dc);
    if (d)
        d->count += dc.count;
    if (!p->conf) {
        refuse(p, "invalid settings in plugins.%s: %s; fix the config", p->section,
               cap.text[0] ? cap.text : "out of memory");
        return;
    }
    if (plugin_policy_build(p) != 0) {
        refuse(p, "out of memory building its policy");
        return;
    }
    double iv = plugin_conf_interval(p->conf);
    p->interval = iv > 0 ? iv : (p->desc.interval > 0 ? p->desc.interval : cfg->interval);
    isolation_apply(p, cfg);
    p->state = PLUGIN_LOADED;
    log_info("loader", "%s: loaded %s %s (ABI %u.%u)", p->file, p->name, p->version,
             p->abi_major, p->abi_minor);
}

/* A plugin that is a program (plugins.<section>.exec): the same file safety as a .so (every
 * directory from / root-owned and not writable by others, the file opened O_NOFOLLOW and only
 * its descriptor used from then on: the agent runs it by fexecve of that descriptor), then it
 * describes itself (`PROGRAM --describe`, in a child) and goes through the descriptor rules. */
static void check_exec(const config *cfg, plugin_set *set, plugin_rec *p, diag *d)
{
    char why[1024], what[PATH_MAX + 16];
    const char *path = p->file;
    const char *slash = strrchr(path, '/');
    if (path[0] != '/' || !slash || !slash[1]) {
        refuse(p, "plugins.%s.exec = \"%s\": must be the absolute path of a program", p->section,
               path);
        return;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int dfd = lfs_open_dir(dir, cfg->plugin_check_owner, why, sizeof why);
    if (dfd < 0) {
        refuse(p, "plugins.%s.exec: cannot open the folder of %s: %s", p->section, path, why);
        return;
    }
    if (why[0]) {
        close(dfd);
        refuse(p, "plugins.%s.exec: %s", p->section, why);
        return;
    }
    p->fd = lfs_open_file(dfd, slash + 1);
    int err = errno;
    close(dfd);
    if (p->fd < 0) {
        if (err == ELOOP)
            refuse(p, "plugins.%s.exec names a symbolic link; plugin programs are never run "
                   "through one; fix: name the file itself", p->section);
        else
            refuse(p, "plugins.%s.exec: cannot open %s: %s", p->section, path, strerror(err));
        return;
    }
    struct stat st;
    if (fstat(p->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        refuse(p, "plugins.%s.exec: %s is not a regular file", p->section, path);
        return;
    }
    snprintf(what, sizeof what, "the program %s", path);
    if (lfs_insecure(&st, cfg->plugin_check_owner, what, why, sizeof why)) {
        refuse(p, "%s", why);
        return;
    }
    if (!(st.st_mode & S_IXUSR)) {
        refuse(p, "plugins.%s.exec: %s is not executable; fix: chmod 0755 %s", p->section, path,
               path);
        return;
    }
    const char *iso = config_plugin_raw_string(cfg, p->section, "isolation");
    if (iso && strcmp(iso, "thread") == 0) {
        refuse(p, "plugins.%s: isolation = \"thread\" cannot hold a program (exec): it always "
               "runs as a process of its own; fix: remove the isolation key", p->section);
        return;
    }
    if (!config_plugin_enabled(cfg, p->section)) {
        release_file(p);
        p->state = PLUGIN_DISABLED;
        p->reason = strdup("disabled in the config (enabled = false)");
        log_info("loader", "%s: disabled by plugins.%s.enabled", path, p->section);
        return;
    }
    p->file_dev = st.st_dev;
    p->file_ino = st.st_ino;
    if (describe_in_child(p, why, sizeof why) < 0) {
        refuse(p, "%s", why);
        return;
    }
    healer_plugin copy = p->desc;
    check_described(cfg, set, p, &copy, d);
}

/* Optimal string alignment distance (Levenshtein plus a swap of neighbours), capped. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t k = 0; k <= lb; k++)
        d[0][k] = k;
    for (size_t i = 1; i <= la; i++) {
        for (size_t k = 1; k <= lb; k++) {
            size_t cost = a[i - 1] != b[k - 1];
            size_t best = d[i - 1][k] + 1;
            if (d[i][k - 1] + 1 < best)
                best = d[i][k - 1] + 1;
            if (d[i - 1][k - 1] + cost < best)
                best = d[i - 1][k - 1] + cost;
            if (i > 1 && k > 1 && a[i - 1] == b[k - 2] && a[i - 2] == b[k - 1] &&
                d[i - 2][k - 2] + 1 < best)
                best = d[i - 2][k - 2] + 1;
            d[i][k] = best;
        }
    }
    return d[la][lb];
}

const char *loader_nearest(const char *name, const char *const *known, size_t n)
{
    const char *best = NULL;
    size_t best_d = 0;
    for (size_t i = 0; i < n; i++) {
        size_t dist = edit_distance(name, known[i]);
        if (!best || dist < best_d) {
            best = known[i];
            best_d = dist;
        }
    }
    /* Within a third of the name (at least 2): "memroy" → "memory", not "zzz" → "cpu". */
    size_t limit = strlen(name) / 3;
    if (limit < 2)
        limit = 2;
    return best && best_d <= limit ? best : NULL;
}

/* Each plugins.<name> section must name a plugin: a file <name>.so in plugin_dir, a built-in
 * (which may be left uninstalled), or a program (exec). Anything else is most likely a
 * misspelling, and the plugin meant runs on its defaults: an error with the nearest name. */
static int check_sections(const config *cfg, char **files, size_t n_files, diag *d)
{
    const char **sections = NULL;
    size_t n_sections = config_plugin_sections(cfg, &sections);
    int errors = 0;
    const char **known = calloc(n_files + N_BUILTIN + 1, sizeof *known);
    if (!known)
        return 0;
    size_t n_known = 0;
    for (size_t i = 0; i < n_files; i++)
        known[n_known++] = files[i];
    for (size_t b = 0; b < N_BUILTIN; b++)
        known[n_known++] = BUILTIN_PLUGINS[b];
    for (size_t i = 0; i < n_sections; i++) {
        const char *s = sections[i];
        int found = 0;
        for (size_t k = 0; k < n_files && !found; k++)
            found = strcmp(files[k], s) == 0;
        if (found || config_plugin_has_key(cfg, s, "exec"))
            continue;
        const char *file = NULL;
        int line = config_plugin_section_line(cfg, s, &file);
        int builtin = 0;
        for (size_t b = 0; b < N_BUILTIN && !builtin; b++)
            builtin = strcmp(BUILTIN_PLUGINS[b], s) == 0;
        if (builtin) {
            log_info("loader", "%s:%d: plugins.%s: no %s.so in %s: the section is not used", file,
                     line, s, s, cfg->plugin_dir);
            continue;
        }
        const char *near = loader_nearest(s, known, n_known);
        errors++;
        if (near)
            diag_report(d, file, line, "unknown plugin section '%s': did you mean '%s'? (no %s.so "
                        "in %s; a plugin's section is its file name without .so)", s, near, s,
                        cfg->plugin_dir);
        else
            diag_report(d, file, line, "unknown plugin section '%s': no %s.so in %s and no "
                        "built-in plugin of that name (a plugin's section is its file name "
                        "without .so)", s, s, cfg->plugin_dir);
    }
    free(known);
    return errors;
}

int loader_scan(const config *cfg, plugin_set *out, diag *d)
{
    out->v = NULL;
    out->n = 0;
    out->unknown_sections = 0;
    char dir_why[1024];
    int dfd = lfs_open_dir(cfg->plugin_dir, cfg->plugin_check_owner, dir_why, sizeof dir_why);
    if (dfd < 0) {
        log_error("loader", "cannot open plugin_dir: %s", dir_why);
        return -1;
    }
    /* The listing comes from the descriptor checked, not from the name again. */
    int lfd = dup(dfd);
    DIR *dir = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!dir) {
        log_error("loader", "%s: cannot read plugin_dir: %s", cfg->plugin_dir, strerror(errno));
        if (lfd >= 0)
            close(lfd);
        close(dfd);
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

    out->v = calloc(n ? n : 1, sizeof *out->v);
    for (size_t i = 0; i < n && out->v; i++) {
        plugin_rec *p = &out->v[out->n++];
        size_t len = strlen(cfg->plugin_dir) + strlen(names[i]) + 2;
        p->fd = -1;
        p->file = malloc(len);
        snprintf(p->file, len, "%s/%s", cfg->plugin_dir, names[i]);
        p->section = strndup(names[i], strlen(names[i]) - 3);
        p->name = strdup(p->section);
        p->interval = cfg->interval;
        if (dir_why[0])
            refuse(p, "%s", dir_why);
        else if (config_plugin_raw_string(cfg, p->section, "exec"))
            refuse(p, "plugins.%s.exec names a program, and %s.so is in %s too; fix: remove "
                   "one of them", p->section, p->section, cfg->plugin_dir);
        else
            check_plugin(cfg, out, p, dfd, names[i], d);
    }
    close(dfd);
    /* Plugins that are programs: one per section with exec, in the sections' order. */
    const char **sections = NULL;
    size_t n_sections = config_plugin_sections(cfg, &sections);
    plugin_rec *grown = out->v ? realloc(out->v, (out->n + n_sections + 1) * sizeof *out->v)
                               : NULL;
    if (grown)
        out->v = grown;
    for (size_t i = 0; i < n_sections && grown; i++) {
        const char *prog = config_plugin_raw_string(cfg, sections[i], "exec");
        if (!prog && config_plugin_has_key(cfg, sections[i], "exec")) {
            const char *file = NULL;
            int line = config_plugin_section_line(cfg, sections[i], &file);
            diag_report(d, file, line, "plugins.%s.exec: must be a string (the absolute path "
                        "of a plugin program)", sections[i]);
            out->unknown_sections++;
        }
        if (!prog)
            continue;
        plugin_rec *p = &out->v[out->n++];
        memset(p, 0, sizeof *p);
        p->fd = -1;
        p->is_exec = 1;
        p->file = strdup(prog);
        p->section = strdup(sections[i]);
        p->name = strdup(sections[i]);
        p->interval = cfg->interval;
        check_exec(cfg, out, p, d);
    }
    /* The sections are checked against the files (stems), loaded or not. */
    for (size_t i = 0; i < n; i++)
        names[i][strlen(names[i]) - 3] = '\0';
    out->unknown_sections = check_sections(cfg, names, n, d);
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
        release_file(p);
        describe_free(p);
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
    set->unknown_sections = 0;
}
