/* isolation.c — the implicit per-plugin keys that say how a plugin runs (isolation.h): their
 * schema (config.c resolves them with the plugin's own keys) and their copy into the record. */
#include "isolation.h"

#include <string.h>

#include "config.h"
#include "loader.h"

/* Defaults measured (README "Plugin children"): each built-in's child peaked at 2.1-3.3 MiB of RSS
 * and under 2 % of one CPU in its tests, so 64 MiB leaves room for bursts and still stops a
 * runaway, and 50 % keeps a spinning plugin from taking a core. */
const healer_config_key isolation_keys[] = {
    { "isolation", HEALER_CFG_STRING, ISOLATION_DEFAULT, 0, 0,
      "\"process\": run in a healerd-plugin child (crash-contained); \"thread\": in the agent "
      "(the built-in memory plugin's default)" },
    { "memory_max_mb", HEALER_CFG_INT, "64", 0, 1048576,
      "memory limit of the plugin's child in MiB (cgroup, else RLIMIT_DATA); 0 = none" },
    { "cpu_max_percent", HEALER_CFG_DOUBLE, "50", 0, 6400,
      "CPU limit of the plugin's child, percent of one CPU (cgroup cpu quota); 0 = none" },
    { "confine", HEALER_CFG_BOOL, "true", 0, 0,
      "confine the child (runner/confine.c): writes only under state_dir/plugins/<name>, no "
      "signals, renice or tracing of other processes, no capabilities but dac_read_search" },
    { "inspect_processes", HEALER_CFG_BOOL, "false", 0, 0,
      "the child keeps CAP_SYS_PTRACE to read other processes' /proc/PID/{fd,root,environ} (it "
      "then runs as a dedicated uid in a read-only mount namespace instead of a Landlock domain; "
      "ptrace(2) and process_vm_* stay refused)" },
    { "local_sockets", HEALER_CFG_BOOL, "false", 0, 0,
      "the child may create unix sockets (socket(AF_UNIX)) and so talk to local daemons "
      "(D-Bus...): what such a daemon lets its client do, the plugin can do" },
    { "max_crashes", HEALER_CFG_INT, "5", 1, 1000,
      "crashes within 10 minutes after which the child is left failed until a reload" },
    { "mode", HEALER_CFG_STRING, "", 0, 0,
      "\"live\" or \"dry-run\"; not set: the agent's mode. A dry-run agent keeps every plugin "
      "in dry-run, whatever this says" },
    { "exec", HEALER_CFG_STRING, "", 0, 0,
      "absolute path of a plugin program (any language) speaking sdk/docs/child-protocol.md" },
    { NULL, 0, NULL, 0, 0, NULL },
};

const char *isolation_check(const char *value)
{
    if (value && (strcmp(value, "process") == 0 || strcmp(value, "thread") == 0))
        return NULL;
    return "must be \"process\" or \"thread\"";
}

const char *isolation_mode_check(const char *value)
{
    if (value && (strcmp(value, "live") == 0 || strcmp(value, "dry-run") == 0))
        return NULL;
    return "must be \"live\" or \"dry-run\" (or left out: the agent's mode)";
}

const char *isolation_default(const char *section)
{
    /* Measured with bench/memory_emergency.sh (MemAvailable below 10 % to SIGTERM in the hog):
     * in a child the extra hops (proxy, socket, the child's own scheduling and CPU quota) cost
     * 60-100 ms at the median and several hundred at the tail on a loaded machine, which is when
     * emergencies happen; in a thread it stays near earlyoom's 100 ms. */
    if (section && strcmp(section, "memory") == 0)
        return "thread";
    return ISOLATION_DEFAULT;
}

void isolation_apply(plugin_rec *p, const config *cfg)
{
    const char *iso = cfg ? config_plugin_raw_string(cfg, p->section, "isolation") : NULL;
    long long v = 0;
    double d = 0;
    if (!iso)
        iso = isolation_default(p->section);
    /* A program has no thread to run in: it is always a process of its own. */
    p->isolation = p->is_exec || (iso && strcmp(iso, "process") == 0) ? PLUGIN_ISOLATION_PROCESS
                                                                      : PLUGIN_ISOLATION_THREAD;
    p->memory_max_mb = plugin_conf_int(p->conf, "memory_max_mb", &v) == 0 ? v : 64;
    p->cpu_max_percent = plugin_conf_double(p->conf, "cpu_max_percent", &d) == 0 ? d : 50;
    p->max_crashes = plugin_conf_int(p->conf, "max_crashes", &v) == 0 ? (int)v : 5;
    int b = 1;
    p->confine = plugin_conf_bool(p->conf, "confine", &b) == 0 ? b : 1;
    b = 0;
    p->inspect_processes = plugin_conf_bool(p->conf, "inspect_processes", &b) == 0 && b;
    b = 0;
    p->local_sockets = plugin_conf_bool(p->conf, "local_sockets", &b) == 0 && b;
    const char *mode = NULL;
    p->mode_dry_run = plugin_conf_string(p->conf, "mode", &mode) == 0 && mode &&
                      strcmp(mode, "dry-run") == 0;
}

static int all_in_child;

void isolation_all_in_child(int on)
{
    all_in_child = on;
}

int isolation_in_child(const config *cfg, const char *section)
{
    if (all_in_child)
        return 1;
    const char *v = config_plugin_raw_string(cfg, section, "isolation");
    if (!v)
        v = isolation_default(section);
    return strcmp(v, "process") == 0;
}

_Static_assert(sizeof isolation_keys / sizeof isolation_keys[0] == ISOLATION_N_KEYS + 1,
               "ISOLATION_N_KEYS sizes the config's key table: keep it the count of keys");
