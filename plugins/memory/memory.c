/* memory.c — the memory healer's descriptor, config schema and life cycle (init, destroy,
 * detect). It detects memory_high (system and per-cgroup limits, leaks by least-squares growth),
 * memory_pressure (PSI) and swap_missing and heals them through the host's actuators along an
 * escalation ladder; the work is in memory_sense.c, memory_cgroup.c, memory_sample.c,
 * memory_plan.c and memory_kill.c. */
#include "memory_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const memory_issue_types[] = {MEMORY_HIGH, MEMORY_PRESSURE, MEMORY_SWAP,
                                                  MEMORY_PREDICTED, NULL};

static const healer_config_key memory_config[] = {
    {"high_percent", HEALER_CFG_DOUBLE, "80", 1, 100,
     "memory_high when used (1 - available/total) is at least this"},
    {"critical_percent", HEALER_CFG_DOUBLE, "90", 1, 100, "memory_high is critical from here"},
    {"kill_percent", HEALER_CFG_DOUBLE, "90", 1, 100,
     "kill_low_priority is planned only from this used share"},
    {"emergency_available_percent", HEALER_CFG_DOUBLE, "10", 0, 100,
     "emergency: SIGTERM the top-badness process at or below this available share"},
    {"emergency_kill_percent", HEALER_CFG_DOUBLE, "5", 0, 100,
     "emergency: SIGKILL at or below this available share"},
    {"emergency", HEALER_CFG_BOOL, "true", 0, 0, "enable the emergency OOM prevention path"},
    {"watch_system", HEALER_CFG_BOOL, "true", 0, 0,
     "watch the whole system: meminfo and PSI; false = only the listed cgroups"},
    {"cgroups", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "cgroup directories to watch, relative to sys_root/fs/cgroup (memory/x, unified/y.service), "
     "or globs of them (memory/app/*); at most 2048 after expansion"},
    {"cgroup_rescan_s", HEALER_CFG_DOUBLE, "30", 0, 86400,
     "re-expand the globs in cgroups this often (new and removed cgroups); 0 = only at start"},
    {"cgroup_events", HEALER_CFG_BOOL, "true", 0, 0,
     "v1 cgroups: usage threshold events through cgroup.event_control"},
    {"psi_trigger", HEALER_CFG_BOOL, "true", 0, 0, "use a PSI trigger on pressure/memory"},
    {"psi_window_ms", HEALER_CFG_INT, "0", 0, 10000,
     "PSI trigger window; 0 = 500 with CAP_SYS_RESOURCE, else 2000 (a multiple of 2 s)"},
    {"psi_stall_ms", HEALER_CFG_INT, "0", 0, 10000, "PSI trigger stall; 0 = 10% of the window"},
    {"pressure_percent", HEALER_CFG_DOUBLE, "10", 0, 100,
     "memory_pressure when PSI some avg10 is at least this (polling fallback)"},
    {"predict", HEALER_CFG_BOOL, "true", 0, 0,
     "raise memory_exhaustion_predicted when use trends to high_percent within the horizon"},
    {"predict_horizon_s", HEALER_CFG_DOUBLE, "600", 1, 86400,
     "memory_exhaustion_predicted when the whole 95% interval of the time to high_percent is "
     "within this many seconds"},
    {"predict_sample_s", HEALER_CFG_DOUBLE, "5", 0.1, 3600,
     "seconds between the samples fed to the prediction (256 are kept: 21 min at 5 s)"},
    {"predict_window_s", HEALER_CFG_DOUBLE, "0", 0, 86400,
     "only samples this recent are fitted (0 = all 256 kept)"},
    {"leak_window_s", HEALER_CFG_DOUBLE, "300", 1, 86400, "leak detection window"},
    {"leak_min_samples", HEALER_CFG_INT, "10", 3, MEMORY_LEAK_SAMPLES,
     "samples needed in the window before a leak is judged"},
    {"leak_min_bytes_per_s", HEALER_CFG_DOUBLE, "16384", 0, 1e12,
     "least-squares growth rate that counts as a leak"},
    {"leak_min_r2", HEALER_CFG_DOUBLE, "0.9", 0, 1, "R^2 of the fit that counts as steady"},
    {"leak_quiet_backoff", HEALER_CFG_INT, "4", 1, 16,
     "a quiet cgroup whose usage stays flat is read up to this many leak sample periods apart "
     "(doubling); 1 = every period"},
    {"drop_caches", HEALER_CFG_BOOL, "true", 0, 0,
     "plan drop_caches (step 0) for the system; never for a cgroup (the drop is global)"},
    {"drop_caches_min_gain_percent", HEALER_CFG_DOUBLE, "1", 0, 100,
     "a drop_caches that raised MemAvailable by less than this share of RAM was futile"},
    {"drop_caches_futile_s", HEALER_CFG_DOUBLE, "600", 0, 86400,
     "a futile drop_caches is not planned again for this long"},
    {"drop_caches_min_eta_s", HEALER_CFG_DOUBLE, "10", 0, 3600,
     "no drop_caches when memory falls so fast the emergency level is nearer than this"},
    {"sync_first", HEALER_CFG_BOOL, "true", 0, 0, "run sync before drop_caches"},
    {"sync_timeout_s", HEALER_CFG_DOUBLE, "30", 0.1, 3600, "timeout of sync"},
    {"restart_leaking", HEALER_CFG_BOOL, "true", 0, 0,
     "plan restart_service (step 1) for a leaking cgroup"},
    {"service_plugin", HEALER_CFG_STRING, "service", 0, 0, "plugin asked to restart a unit"},
    {"restart_timeout_s", HEALER_CFG_DOUBLE, "60", 0.1, 3600, "timeout of the restart request"},
    {"prefer", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "POSIX extended regexes on the process name: +300 badness (as earlyoom --prefer)"},
    {"avoid", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "POSIX extended regexes on the process name: -300 badness (as earlyoom --avoid)"},
    {"kill_system", HEALER_CFG_BOOL, "false", 0, 0,
     "kills may pick system processes: a uid outside the login range, nobody, DynamicUser, "
     "init.scope, system.slice (flag SYSTEM)"},
    {"kill_grace_s", HEALER_CFG_DOUBLE, "5", 0, 3600,
     "kill_low_priority: SIGTERM, then SIGKILL after this grace"},
    {"emergency_grace_s", HEALER_CFG_DOUBLE, "1", 0, 60,
     "emergency_kill: SIGKILL a SIGTERMed victim still alive after this"},
    {"kill_settle_s", HEALER_CFG_DOUBLE, "0.3", 0, 60, "wait before re-measuring after a kill"},
    {"max_kills", HEALER_CFG_INT, "5", 1, 1000, "at most this many victims per action"},
    {"verify_settle_s", HEALER_CFG_DOUBLE, "1", 0, 600,
     "verify re-measures this long after drop_caches or restart_service (a timer, not a sleep)"},
    {"sample_min_ms", HEALER_CFG_DOUBLE, "5", 1, 1000,
     "emergency sampler: the shortest period between meminfo reads near the emergency level"},
    {"fill_rate_mb_s", HEALER_CFG_DOUBLE, "4096", 1, 1048576,
     "emergency sampler: the fill rate (MiB/s) it plans for; faster when one is observed"},
    {"swap", HEALER_CFG_STRING_LIST, NULL, 0, 0, "swap devices or files that should be active"},
    {"create_swapfile", HEALER_CFG_STRING, NULL, 0, 0,
     "absolute path of a swap file to create when missing (needs confirmation: ROOTFS)"},
    {"create_swapfile_mb", HEALER_CFG_INT, "1024", 1, 1048576, "size of that swap file"},
    {NULL, 0, NULL, 0, 0, NULL}
};

/* ---- init / destroy ------------------------------------------------------------------------------ */

static void memory_destroy(void *state)
{
    memory *s = state;
    if (!s)
        return;
    if (s->psi_fd >= 0) {
        s->h->unwatch_fd(s->ctx, s->psi_fd);
        close(s->psi_fd);
    }
    memory_sampler_close(s);
    memory_cgroups_free(s);
    for (size_t i = 0; i < s->n_prefer; i++)
        regfree(&s->prefer[i]);
    for (size_t i = 0; i < s->n_avoid; i++)
        regfree(&s->avoid[i]);
    free(s);
}

static int memory_compile(memory *s, const char *key, regex_t *out, size_t *n)
{
    const healer_host *h = s->h;
    size_t len = h->config_list_len(s->ctx, key);
    for (size_t i = 0; i < len; i++) {
        const char *re = h->config_list_item(s->ctx, key, i);
        if (!re || !*re)
            continue;
        if (*n >= MEMORY_MAX_REGEX) {
            h->log(s->ctx, HEALER_LOG_ERROR, "plugins.memory.%s: at most %d patterns", key,
                   MEMORY_MAX_REGEX);
            return HEALER_E_INVAL;
        }
        int rc = regcomp(&out[*n], re, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char err[128];
            regerror(rc, &out[*n], err, sizeof err);
            h->log(s->ctx, HEALER_LOG_ERROR, "plugins.memory.%s: bad regex \"%s\": %s", key, re,
                   err);
            return HEALER_E_INVAL;
        }
        (*n)++;
    }
    return HEALER_OK;
}

static int memory_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    memory *s = calloc(1, sizeof *s);
    if (!s)
        return HEALER_E_NOMEM;
    s->h = host;
    s->ctx = ctx;
    s->psi_fd = -1;
    s->mfd = s->tfd = -1;
    s->epfd = -1;
    for (int b = 0; b < MEMORY_EVENT_BUCKETS; b++)
        s->bucket_fd[b] = -1;
    s->high = host->config_double(ctx, "high_percent");
    s->critical = host->config_double(ctx, "critical_percent");
    s->kill_pct = host->config_double(ctx, "kill_percent");
    s->emerg_term = host->config_double(ctx, "emergency_available_percent");
    s->emerg_kill = host->config_double(ctx, "emergency_kill_percent");
    s->emergency = host->config_bool(ctx, "emergency");
    s->pressure_pct = host->config_double(ctx, "pressure_percent");
    s->watch_system = host->config_bool(ctx, "watch_system");
    s->cg_events = host->config_bool(ctx, "cgroup_events");
    s->psi_enabled = host->config_bool(ctx, "psi_trigger");
    s->leak_window = host->config_double(ctx, "leak_window_s");
    s->leak_min_samples = host->config_int(ctx, "leak_min_samples");
    s->leak_min_rate = host->config_double(ctx, "leak_min_bytes_per_s");
    s->leak_min_r2 = host->config_double(ctx, "leak_min_r2");
    s->quiet_backoff = (int)host->config_int(ctx, "leak_quiet_backoff");
    s->drop_caches = host->config_bool(ctx, "drop_caches");
    s->sync_first = host->config_bool(ctx, "sync_first");
    s->sync_timeout = host->config_double(ctx, "sync_timeout_s");
    s->restart_leaking = host->config_bool(ctx, "restart_leaking");
    memory_predict_config(s);
    s->service_plugin = host->config_string(ctx, "service_plugin");
    s->restart_timeout = host->config_double(ctx, "restart_timeout_s");
    s->kill_system = host->config_bool(ctx, "kill_system");
    s->kill_grace = host->config_double(ctx, "kill_grace_s");
    s->emerg_grace = host->config_double(ctx, "emergency_grace_s");
    s->kill_settle = host->config_double(ctx, "kill_settle_s");
    s->max_kills = host->config_int(ctx, "max_kills");
    s->verify_settle = host->config_double(ctx, "verify_settle_s");
    s->swapfile_mb = host->config_int(ctx, "create_swapfile_mb");
    s->drop_min_gain = host->config_double(ctx, "drop_caches_min_gain_percent");
    s->drop_futile_s = host->config_double(ctx, "drop_caches_futile_s");
    s->drop_min_eta = host->config_double(ctx, "drop_caches_min_eta_s");
    s->min_period = host->config_double(ctx, "sample_min_ms") / 1000.0;
    s->fill_rate = host->config_double(ctx, "fill_rate_mb_s") * 1048576.0;
    s->interval = host->config_double(ctx, "interval");
    if (!(s->interval > 0))
        s->interval = MEMORY_INTERVAL;
    if (!s->service_plugin || !*s->service_plugin)
        s->service_plugin = "service";

    if (s->emerg_kill > s->emerg_term || s->high > s->critical) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.memory: need emergency_kill_percent <= "
                  "emergency_available_percent and high_percent <= critical_percent");
        goto fail;
    }
    if (memory_compile(s, "prefer", s->prefer, &s->n_prefer) < 0 ||
        memory_compile(s, "avoid", s->avoid, &s->n_avoid) < 0)
        goto fail;

    if (memory_cgroups_init(s) != HEALER_OK)
        goto fail;
    size_t nsw = host->config_list_len(ctx, "swap");
    for (size_t i = 0; i < nsw && s->n_swaps < MEMORY_MAX_SWAPS; i++) {
        const char *e = host->config_list_item(ctx, "swap", i);
        if (!e || e[0] != '/' || strlen(e) >= HEALER_TARGET_MAX) {
            host->log(ctx, HEALER_LOG_ERROR, "plugins.memory.swap: \"%s\" must be an absolute "
                      "path", e ? e : "");
            goto fail;
        }
        snprintf(s->swaps[s->n_swaps++], PATH_MAX, "%s", e);
    }
    const char *sf = host->config_string(ctx, "create_swapfile");
    if (sf && *sf) {
        if (sf[0] != '/' || strlen(sf) >= HEALER_TARGET_MAX) {
            host->log(ctx, HEALER_LOG_ERROR, "plugins.memory.create_swapfile: \"%s\" must be "
                      "an absolute path", sf);
            goto fail;
        }
        snprintf(s->swapfile, sizeof s->swapfile, "%s", sf);
        int listed = 0;
        for (size_t i = 0; i < s->n_swaps; i++)
            listed |= strcmp(s->swaps[i], sf) == 0;
        if (!listed && s->n_swaps < MEMORY_MAX_SWAPS)
            snprintf(s->swaps[s->n_swaps++], PATH_MAX, "%s", sf);
    }

    memory_psi_setup(s, host->config_int(ctx, "psi_window_ms"),
                     host->config_int(ctx, "psi_stall_ms"));
    memory_sampler_setup(s);
    host->log(ctx, HEALER_LOG_INFO, "memory: high %.3g%%, critical %.3g%%, emergency at %.3g%%/"
              "%.3g%% available; %s, %zu cgroup(s), %zu swap(s)", s->high, s->critical,
              s->emerg_term, s->emerg_kill, s->watch_system ? "system watched" : "system not "
              "watched", s->n_cg, s->n_swaps);
    *state = s;
    return HEALER_OK;
fail:
    memory_destroy(s);
    return HEALER_E_INVAL;
}

static int memory_detect(void *state)
{
    memory_scan(state, 0);
    return HEALER_OK;
}

static const healer_plugin memory_descriptor = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "memory",
    .version = "1.1.0",
    .description = "memory high, pressure (PSI) and swap: drop caches, restart leaks, kill by "
                   "badness, emergency OOM prevention, swapon",
    .issue_types = memory_issue_types,
    .config = memory_config,
    .interval = MEMORY_INTERVAL,
    .init = memory_init,
    .destroy = memory_destroy,
    .detect = memory_detect,
    .plan = memory_plan,
    .execute = memory_execute,
    .verify = memory_verify,
};

HEALER_PLUGIN(memory_descriptor)
