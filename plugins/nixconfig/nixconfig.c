/* nixconfig.c — the nixconfig plugin: validates the NixOS configuration and its imports with
 * nix-instantiate (probe_run), offers validated syntax fixes (backed up, confirmed), detects a
 * failed activation of the system profile and rolls back to a working generation. Owns the
 * descriptor, the config schema, init/destroy and detection (validation, activation); plan,
 * execute and verify are in nixconfig_act.c. */
#include <healer/healer.h>

#include "nixconfig_int.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const nc_issue_types[] = {NC_ISSUE_INVALID, NC_ISSUE_ACTIVATION, NULL};

static const healer_config_key nc_config[] = {
    {"config_file", HEALER_CFG_STRING, "/etc/nixos/configuration.nix", 0, 0,
     "the NixOS configuration to validate (its imports are followed)"},
    {"follow_imports", HEALER_CFG_BOOL, "true", 0, 0,
     "also validate every file listed in imports = [ ... ], recursively"},
    {"max_files", HEALER_CFG_INT, "64", 1, NC_MAX_FILES, "at most this many files are validated"},
    {"nix_instantiate", HEALER_CFG_STRING, "nix-instantiate", 0, 0,
     "nix-instantiate command (absolute, or found on PATH)"},
    {"nix_env", HEALER_CFG_STRING, "nix-env", 0, 0, "nix-env command (absolute, or on PATH)"},
    {"parse_timeout", HEALER_CFG_DOUBLE, "30", 0.1, 3600, "seconds allowed per nix-instantiate --parse"},
    {"eval", HEALER_CFG_BOOL, "true", 0, 0,
     "evaluate the whole system with <nixpkgs/nixos> when nixpkgs is on NIX_PATH"},
    {"eval_timeout", HEALER_CFG_DOUBLE, "300", 1, 86400, "seconds allowed for that evaluation"},
    {"auto_fix", HEALER_CFG_BOOL, "false", 0, 0,
     "apply validated syntax fixes without confirmation"},
    {"max_fix_steps", HEALER_CFG_INT, "4", 1, 10, "at most this many edits in one fix"},
    {"max_fix_attempts", HEALER_CFG_INT, "3", 1, 100,
     "a file broken again the same way after a fix gets that fix offered at most this many "
     "times an hour; then it is only reported, for a human"},
    {"backup_dir", HEALER_CFG_STRING, "/var/lib/healerd/plugins/nixconfig/backups", 0, 0,
     "timestamped copies of a file taken before it is fixed"},
    {"backups_keep", HEALER_CFG_INT, "10", 1, 10000, "backups kept per file (oldest removed)"},
    {"profile", HEALER_CFG_STRING, "/nix/var/nix/profiles/system", 0, 0,
     "the system profile whose generations are rolled back"},
    {"allow_user_profile", HEALER_CFG_BOOL, "false", 0, 0,
     "accept a per-user profile (per-user/..., .nix-profile) as profile"},
    {"rollback", HEALER_CFG_BOOL, "true", 0, 0, "watch activation and offer rollbacks"},
    {"auto_rollback", HEALER_CFG_BOOL, "false", 0, 0,
     "roll back without confirmation (still counted against limits.max_rollbacks_per_day)"},
    {"status_file", HEALER_CFG_STRING, "/var/lib/healerd/plugins/nixconfig/activation-status", 0, 0,
     "\"GEN EXIT\" of the last activation, written by the activation wrapper"},
    {"check_current_system", HEALER_CFG_BOOL, "false", 0, 0,
     "also count the profile's generation as failed when current_system points elsewhere"},
    {"current_system", HEALER_CFG_STRING, "/run/current-system", 0, 0,
     "the link the activation updates"},
    {"state_file", HEALER_CFG_STRING, "/var/lib/healerd/plugins/nixconfig/generations", 0, 0,
     "the plugin's record of generations that activated well or failed"},
    {"switch_timeout", HEALER_CFG_DOUBLE, "600", 1, 86400,
     "seconds allowed for switch-to-configuration"},
    {NULL, 0, NULL, 0, 0, NULL}
};

/* snprintf that truncates quietly: messages and paths here are bounded by their buffers, and
 * a truncated message is better than none (it also keeps -Wformat-truncation quiet). */
void nc_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* ---- small helpers ----------------------------------------------------------------------- */

void nc_dirname(const char *path, char *buf, size_t len)
{
    const char *s = strrchr(path, '/');
    if (!s || s == path)
        nc_fmt(buf, len, "/");
    else
        nc_fmt(buf, len, "%.*s", (int)(s - path), path);
}

const char *nc_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* mkdir -p for the plugin's own directories (backups, state). */
static int nc_mkdirs(const char *dir)
{
    char p[PATH_MAX];
    nc_fmt(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- activation -------------------------------------------------------------------------- */

/* 1 when the current generation's activation failed; the reason in w->act_why. Learns good
 * and bad generations on the way (in memory; written to state_file by execute()). */
static int nc_activation_failed(nixconfig *w, int cur)
{
    int sg, se;
    w->act_exit = 0;
    w->act_why[0] = '\0';
    if (nc_status_read(w->status_file, &sg, &se)) {
        if (sg == -1)
            sg = cur;
        /* 100: switch-to-configuration installed the generation as the boot default but its
         * init needs a reboot: nothing failed, nothing is known yet. */
        if (se == NC_EXIT_REBOOT)
            return 0;
        if (sg > 0 && sg <= NC_MAX_GENS) {
            if (se != 0 && !w->gs.bad[sg] && sg != w->gs.last_gen)
                nc_state_mark(&w->gs, sg, 0);
            else if (se == 0 && !w->gs.good[sg] && sg != w->gs.last_gen)
                nc_state_mark(&w->gs, sg, 1);
        }
        if (sg == cur && se != 0 && w->gs.last_gen != cur) {
            w->act_exit = se;
            nc_fmt(w->act_why, sizeof w->act_why, "%s: generation %d's activation exited %d",
                     w->status_file, cur, se);
            return 1;
        }
    }
    if (w->gs.last_gen == cur && w->gs.last_exit != 0) {
        w->act_exit = w->gs.last_exit;
        nc_fmt(w->act_why, sizeof w->act_why,
                 "healerd's own switch-to-configuration of generation %d exited %d", cur,
                 w->gs.last_exit);
        return 1;
    }
    if (w->check_current_system) {
        char link[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
        nc_gen_link(w->profile, cur, link, sizeof link);
        if (realpath(link, a) && realpath(w->current_system, b)) {
            if (strcmp(a, b) != 0) {
                w->act_exit = -1;
                nc_fmt(w->act_why, sizeof w->act_why,
                         "%s is %.100s, not generation %d (%.100s): activation did not complete",
                         w->current_system, b, cur, a);
                return 1;
            }
            if (!w->gs.good[cur])
                nc_state_mark(&w->gs, cur, 1);
        }
    }
    return 0;
}

/* The failure repeats: our own rollback failed, or the generation before is known bad. */
int nc_emergency(nixconfig *w, int cur)
{
    if (w->gs.last_gen == cur && w->gs.last_exit != 0)
        return 1;
    int gens[NC_MAX_GENS], c;
    int n = nc_gen_list(w->profile, gens, NC_MAX_GENS, &c);
    for (int i = n - 1; i >= 0; i--)
        if (gens[i] < cur)
            return w->gs.bad[gens[i]] ? 1 : 0;
    return 0;
}

/* Where to roll back to: normally the newest older generation not known bad; in emergency
 * mode the newest generation known to have activated well. -1 when there is none. */
int nc_pick(nixconfig *w, int cur, int emergency)
{
    int gens[NC_MAX_GENS], c;
    int n = nc_gen_list(w->profile, gens, NC_MAX_GENS, &c);
    for (int i = n - 1; i >= 0; i--) {
        int g = gens[i];
        if (g == cur)
            continue;
        if (emergency ? w->gs.good[g] : (g < cur && !w->gs.bad[g]))
            return g;
    }
    return -1;
}

static int nc_known_good(const nixconfig *w)
{
    int k = 0;
    for (int g = 1; g <= NC_MAX_GENS; g++)
        k += w->gs.good[g];
    return k;
}

static void nc_detect_activation(nixconfig *w)
{
    const healer_host *h = w->host;
    int cur = nc_gen_current(w->profile);
    int failed = cur > 0 && nc_activation_failed(w, cur);
    if (!failed) {
        h->report_health(w->ctx, "nixos-activation", 100.0);
        if (w->act_published && h->resolve_issue(w->ctx, NC_ISSUE_ACTIVATION, w->profile) >= 0)
            w->act_published = 0;
        return;
    }
    int emergency = nc_emergency(w, cur);
    int to = nc_pick(w, cur, emergency);
    char summary[HEALER_MSG_MAX], to_s[64];
    if (to > 0)
        nc_fmt(to_s, sizeof to_s, "roll back to generation %d", to);
    else
        nc_fmt(to_s, sizeof to_s, "no %sgeneration to roll back to",
                 emergency ? "known-good " : "");
    nc_fmt(summary, sizeof summary, "%s generation %d failed to activate (%s)%s; %s",
             w->profile, cur, w->act_why, emergency ? ", repeated: emergency recovery" : "",
             to_s);
    healer_measurement ms[] = {
        {"current_generation", (double)cur},
        {"exit_status", (double)w->act_exit},
        {"rollback_generation", (double)to},
        {"known_good_generations", (double)nc_known_good(w)},
    };
    char c_prof[PATH_MAX + 16], c_gen[32];
    nc_fmt(c_prof, sizeof c_prof, "profile:%s", w->profile);
    nc_fmt(c_gen, sizeof c_gen, "generation:%d", cur);
    const char *comps[] = {c_prof, c_gen};
    healer_issue is = {
        .type = NC_ISSUE_ACTIVATION,
        .severity = emergency ? HEALER_SEV_CRITICAL : HEALER_SEV_HIGH,
        .target = w->profile,
        .summary = summary,
        .measurements = ms,
        .n_measurements = sizeof ms / sizeof ms[0],
        .components = comps,
        .n_components = 2,
    };
    if (!w->act_published || w->act_failed_gen != cur)
        h->log(w->ctx, HEALER_LOG_WARN, "%s", summary);
    w->act_failed_gen = cur;
    if (h->publish_issue(w->ctx, &is) >= 0)
        w->act_published = 1;
    h->report_health(w->ctx, "nixos-activation", emergency ? 20.0 : 50.0);
}

static int nc_detect(void *state)
{
    nixconfig *w = state;
    nc_detect_config(w);
    if (w->rollback)
        nc_detect_activation(w);
    return HEALER_OK;
}

/* ---- init and destroy -------------------------------------------------------------------- */

static int nc_abs_key(const healer_host *host, healer_ctx *ctx, const char *key, char *dst,
                      int required)
{
    const char *v = host->config_string(ctx, key);
    if (!v || !*v) {
        dst[0] = '\0';
        if (!required)
            return 0;
        host->log(ctx, HEALER_LOG_ERROR, "plugins.nixconfig.%s is empty: set an absolute path",
                  key);
        return -1;
    }
    if (v[0] != '/' || strlen(v) >= PATH_MAX - 64) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.nixconfig.%s = \"%s\": must be an absolute "
                  "path", key, v);
        return -1;
    }
    nc_fmt(dst, PATH_MAX, "%s", v);
    for (size_t n = strlen(dst); n > 1 && dst[n - 1] == '/'; n--)
        dst[n - 1] = '\0';
    return 0;
}

static void nc_rm_scratch(nixconfig *w)
{
    if (!w->scratch[0])
        return;
    DIR *d = opendir(w->scratch);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
    }
    rmdir(w->scratch);
}

static void nc_destroy(void *state)
{
    nixconfig *w = state;
    if (!w)
        return;
    nc_rm_scratch(w);
    free(w->out);
    free(w);
}

static int nc_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    if (offsetof(healer_host, probe_run) >= host->struct_size) {
        host->log(ctx, HEALER_LOG_ERROR, "this agent has no probe_run: nixconfig needs a newer "
                  "healerd");
        return HEALER_E_INVAL;
    }
    nixconfig *w = calloc(1, sizeof *w);
    if (!w)
        return HEALER_E_NOMEM;
    w->host = host;
    w->ctx = ctx;
    int rc = HEALER_E_INVAL;
    if (nc_abs_key(host, ctx, "config_file", w->config_file, 1) < 0 ||
        nc_abs_key(host, ctx, "backup_dir", w->backup_dir, 1) < 0 ||
        nc_abs_key(host, ctx, "state_file", w->state_file, 1) < 0 ||
        nc_abs_key(host, ctx, "profile", w->profile, 1) < 0 ||
        nc_abs_key(host, ctx, "status_file", w->status_file, 0) < 0 ||
        nc_abs_key(host, ctx, "current_system", w->current_system, 0) < 0)
        goto fail;
    nc_dirname(w->config_file, w->config_dir, sizeof w->config_dir);
    w->nix_instantiate = host->config_string(ctx, "nix_instantiate");
    w->nix_env = host->config_string(ctx, "nix_env");
    w->follow_imports = host->config_bool(ctx, "follow_imports");
    w->eval = host->config_bool(ctx, "eval");
    w->auto_fix = host->config_bool(ctx, "auto_fix");
    w->auto_rollback = host->config_bool(ctx, "auto_rollback");
    w->rollback = host->config_bool(ctx, "rollback");
    w->check_current_system = host->config_bool(ctx, "check_current_system");
    w->max_files = host->config_int(ctx, "max_files");
    w->backups_keep = host->config_int(ctx, "backups_keep");
    w->max_fix_steps = host->config_int(ctx, "max_fix_steps");
    w->max_fix_attempts = host->config_int(ctx, "max_fix_attempts");
    w->parse_timeout = host->config_double(ctx, "parse_timeout");
    w->eval_timeout = host->config_double(ctx, "eval_timeout");
    w->switch_timeout = host->config_double(ctx, "switch_timeout");
    if (!w->nix_instantiate || !*w->nix_instantiate || !w->nix_env || !*w->nix_env) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.nixconfig.nix_instantiate and nix_env must "
                  "name commands");
        goto fail;
    }
    if (w->rollback && !host->config_bool(ctx, "allow_user_profile") &&
        nc_user_profile(w->profile)) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.nixconfig.profile = \"%s\" is a per-user "
                  "profile, not the system profile: refusing to roll it back (set "
                  "allow_user_profile = true if that is really meant)", w->profile);
        goto fail;
    }
    char state_dir[PATH_MAX];
    nc_dirname(w->state_file, state_dir, sizeof state_dir);
    /* The plugin's own directories are made on a live start; a dry run creates nothing. In a
     * confined child (the default) only state_dir/plugins/nixconfig is writable: the defaults
     * lie there; a directory elsewhere must exist already. */
    const char *mk[][2] = {{"backup_dir", w->backup_dir}, {"state_file", state_dir}};
    for (size_t i = 0; i < 2 && !host->dry_run(ctx); i++) {
        if (nc_mkdirs(mk[i][1]) != 0) {
            int e = errno;
            host->log(ctx, HEALER_LOG_ERROR, "plugins.nixconfig.%s: cannot create %s: %s%s",
                      mk[i][0], mk[i][1], strerror(e),
                      e == EACCES || e == EPERM || e == EROFS
                          ? " (a confined plugin child writes only under "
                            "state_dir/plugins/nixconfig: create the directory, or keep the "
                            "default)"
                          : "");
            goto fail;
        }
    }
    const char *tmp = getenv("TMPDIR");
    nc_fmt(w->scratch, sizeof w->scratch, "%s/healerd-nixconfig.XXXXXX",
             tmp && *tmp == '/' ? tmp : "/tmp");
    if (!mkdtemp(w->scratch)) {
        host->log(ctx, HEALER_LOG_ERROR, "mkdtemp %s: %s", w->scratch, strerror(errno));
        w->scratch[0] = '\0';
        goto fail;
    }
    w->out = malloc(NC_OUT_LEN);
    if (!w->out) {
        rc = HEALER_E_NOMEM;
        goto fail;
    }
    nc_fmt(w->attempts_file, sizeof w->attempts_file, "%s/fix-attempts", state_dir);
    nc_attempts_load(w);
    if (nc_state_load(&w->gs, w->state_file) != 0)
        host->log(ctx, HEALER_LOG_WARN, "state %s: %s (starting empty)", w->state_file,
                  strerror(errno));
    const char *decl[] = {w->config_dir, w->backup_dir, state_dir};
    for (size_t i = 0; i < 3; i++) {
        rc = host->declare_path(ctx, decl[i]);
        if (rc < 0) {
            host->log(ctx, HEALER_LOG_ERROR, "declare %s: %s", decl[i], host->last_message(ctx));
            goto fail;
        }
    }
    host->log(ctx, HEALER_LOG_INFO, "validating %s%s; fixes %s; profile %s%s", w->config_file,
              w->follow_imports ? " and its imports" : "",
              w->auto_fix ? "automatic" : "after confirmation", w->profile,
              w->rollback ? (w->auto_rollback ? ", automatic rollback" : ", rollback after "
                             "confirmation") : ", rollback off");
    *state = w;
    return HEALER_OK;
fail:
    nc_destroy(w);
    return rc;
}

static const healer_plugin nc_descriptor = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "nixconfig",
    .version = "1.0.0",
    .description = "validates the NixOS configuration, fixes common syntax errors, rolls back "
                   "a failed activation",
    .issue_types = nc_issue_types,
    .config = nc_config,
    .interval = 0,
    .init = nc_init,
    .destroy = nc_destroy,
    .detect = nc_detect,
    .plan = nc_plan,
    .execute = nc_execute,
    .verify = nc_verify,
};

HEALER_PLUGIN(nc_descriptor)
