/* loader.h — finding, checking and dlopen'ing plugins. Scans plugin_dir, applies every ABI and
 * file-safety rule (sdk/docs/abi.md) and records each plugin as loaded, disabled or refused with
 * a reason. A refused plugin is logged in one line (file, rule, fix) and never stops the agent.
 * A plugin section that names no plugin is a config error (FILE:LINE, the nearest name). */
#ifndef AGENT_LOADER_H
#define AGENT_LOADER_H

#include <stddef.h>
#include <sys/types.h>
#include "config.h"
#include "healer/plugin.h"
#include "rules.h"

typedef enum plugin_state {
    PLUGIN_LOADED = 0,   /* dlopen'ed and checked; init runs on its worker */
    PLUGIN_DISABLED,     /* plugins.<name>.enabled = false */
    PLUGIN_REFUSED,      /* broke a rule; reason says which */
    PLUGIN_FAILED        /* init() failed */
} plugin_state;

const char *plugin_state_name(plugin_state s);

typedef struct plugin_rec {
    char *file;                 /* absolute path of the .so */
    char *section;              /* config section: the file name without .so */
    char *name;                 /* the descriptor's name (section when refused before reading it) */
    char *version;
    char *description;
    unsigned abi_major, abi_minor;
    plugin_state state;
    char *reason;               /* why refused/failed, NULL when loaded */
    void *dl;                   /* dlopen handle while loaded */
    int fd;                     /* the checked file, O_RDONLY|O_CLOEXEC, open while loaded (what
                                   dl maps; a runner process can dlopen /proc/self/fd/N of it);
                                   -1 when none. Closed by loader_fail and loader_free. */
    healer_plugin desc;         /* zero-extended copy of the plugin's descriptor */
    plugin_conf *conf;          /* resolved config section */
    double interval;            /* seconds between detect() calls */
    char **declared_paths;      /* filled during init (host->declare_path) */
    size_t n_declared_paths;
    dev_t file_dev;             /* the file dlopen'ed (fstat of fd) */
    ino_t file_ino;
    /* How it runs (isolation.h): plugins.<name>.isolation and the child's limits. */
    int isolation;              /* PLUGIN_ISOLATION_* */
    long long memory_max_mb;    /* 0 = no limit */
    double cpu_max_percent;     /* of one CPU; 0 = no limit */
    int max_crashes;            /* within BACKOFF_WINDOW_S, then failed until a reload */
    int confine;                /* the child confines itself (runner/confine.c) */
    int inspect_processes;      /* ... keeping CAP_SYS_PTRACE for other processes' /proc */
    int local_sockets;          /* ... with socket(AF_UNIX) allowed */
    int mode_dry_run;           /* plugins.<name>.mode = "dry-run": its changes only report,
                                   even in a live agent (a dry-run agent wins over "live") */
    void *described;            /* read by a healerd-plugin child, not dlopen'ed (describe.c) */
    int is_exec;                /* a program (plugins.<name>.exec), not a .so: file is its path,
                                   fd the checked program, always run as a process of its own */
    /* The operator's policy for it (plugin_policy.c): its lists point into conf and
     * policy_paths, read-only once loaded, so any thread may read it. */
    healer_rules_policy policy;
    char **policy_paths;        /* paths_allow as it holds (a built-in's path keys added) */
    size_t n_policy_paths;
} plugin_rec;

enum { PLUGIN_ISOLATION_THREAD = 0, PLUGIN_ISOLATION_PROCESS = 1 };

typedef struct plugin_set {
    plugin_rec *v;
    size_t n;
    int unknown_sections;       /* plugins.<name> sections naming no plugin file (each to d) */
} plugin_set;

/* Scans cfg->plugin_dir in name order. Config problems in plugin sections go to d (FILE:LINE)
 * and refuse that plugin; a section that names no plugin file (a misspelling would silently
 * leave the real plugin on its defaults) goes to d with the nearest known name and is counted
 * in out->unknown_sections. Returns 0, or -1 when the directory cannot be read at all (then
 * out is empty and the reason logged). */
int loader_scan(const config *cfg, plugin_set *out, diag *d);

/* What --check-config and a reload both ask before anything runs: loader_scan with cfg, then
 * every problem counted. Config problems in plugin sections go to d (FILE:LINE); an unreadable
 * plugin_dir and each refused plugin go to problem(ud, file, why). out holds the scanned set
 * either way (loader_free it; with 0 problems it is ready to run). Returns the number of
 * problems: 0 means the set is exactly what --check-config accepts. */
typedef void (*loader_problem_fn)(void *ud, const char *file, const char *why);
int loader_check(const config *cfg, plugin_set *out, diag *d, loader_problem_fn problem,
                 void *ud);

/* Marks a loaded plugin failed (init failed): dlclose, reason kept. */
void loader_fail(plugin_rec *p, const char *reason);

/* dlclose every loaded plugin and free the set. */
void loader_free(plugin_set *set);

/* The name in known[0..n) nearest to name (edit distance, a swap of two letters counting one),
 * or NULL when none is close enough to be a likely misspelling. */
const char *loader_nearest(const char *name, const char *const *known, size_t n);
/* plugin_policy.c: fills p->policy from p->conf (plugins.<section>.write_allow, paths_allow,
 * allow_auto, allow_system; a built-in's defaults when unset). 0, or -1 out of memory. */
int plugin_policy_build(plugin_rec *p);
void plugin_policy_free(plugin_rec *p);

/* 1 when name is a valid plugin or issue-type name: [a-z0-9_], 1..63 characters. */
int loader_valid_name(const char *name);

#endif
