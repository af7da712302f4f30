/* config.h — reading and validating healerd.conf (libconfig). Every problem is reported as
 * FILE:LINE: message through a diag sink; a plugin's section is checked against the schema the
 * plugin declares, and resolved into typed values (defaults filled in) that the host API serves. */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stddef.h>
#include <sys/types.h>
#include "healer/plugin.h"

/* Where problems go. emit may be NULL (then problems are only counted). */
typedef struct diag {
    void (*emit)(void *ud, const char *file, int line, const char *msg);
    void *ud;
    int count;
} diag;
void diag_report(diag *d, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef struct agent_limits {
    int max_heals_per_hour;        /* 10 */
    int max_rollbacks_per_day;     /* 3 */
    int min_health_for_auto;       /* 30 */
    double cooldown_minutes;       /* 5 */
    double confirm_timeout_minutes;/* 60: a pending plan expires after this */
    int auto_after_confirmations;  /* 0 = never: confirmed successes in a row before automatic */
    int loop_heals;                /* 3: healed heals of one (type, target) in the window that
                                      make the next plan wait for a person; 0 = off */
    double loop_window_minutes;    /* 60 */
    double relapse_window_s;       /* 300: back within this after "healed" = relapsed; 0 = off */
} agent_limits;

/* notify = { ... } (config_notify.c; docs/notifications.md): who is told about what. */
typedef struct notify_conf {
    char **webhooks; size_t n_webhooks;          /* notify.webhook.urls */
    char **alertmanagers; size_t n_alertmanagers;/* notify.alertmanager.urls (base URLs) */
    char **exec_argv; size_t n_exec_argv;        /* notify.exec.argv: [0] an absolute path */
    unsigned events;             /* bit per notify_kind: notify.events (default: all) */
    char *instance;              /* notify.instance; "" = the host name */
    int queue_limit;             /* 256 */
    double timeout_s;            /* 5: one HTTP attempt */
    int retries;                 /* 5: HTTP attempts after the first */
    double backoff_s;            /* 1: the first retry's wait, doubled each time */
    double backoff_max_s;        /* 60 */
    double resend_s;             /* 60: active alerts are posted again this often */
    double exec_timeout_s;       /* 10: then SIGKILL */
} notify_conf;

/* fleet = { ... } (config_fleet.c; docs/fleet.md): optional coordination with other agents.
 * Every part is off until configured, and none of it is needed for local healing. */
/* fleet.alerts (config_fleet_alerts.c): Alertmanager webhooks become issues. */
typedef struct fleet_alert_map {
    char *alertname;             /* the alert's alertname label, unique in the list */
    char *type;                  /* the issue type raised ([a-z0-9_]) */
    char *target_label;          /* the label whose value is the issue's target ("instance") */
    char **measurements;         /* labels or annotations read as numbers into measurements */
    size_t n_measurements;
    int severity;                /* healer_severity; -1: from the alert's severity label */
} fleet_alert_map;

typedef struct fleet_alerts_conf {
    int enabled;                 /* fleet.alerts is present: POST /api/v1/alerts is served */
    char *token_file;            /* fleet.alerts.token_file: a token for this route only; "" none */
    fleet_alert_map *map;
    size_t n_map;
    double stale_seconds;        /* an alert not re-sent for this long is taken as gone, 43200 */
} fleet_alerts_conf;
/* fleet.peers = { ... } (config_fleet_peers.c): shared knowledge over ZeroMQ CURVE. */
typedef struct fleet_peer_conf {
    char *name;                  /* peer.name: the node name it sends as (plain, unique) */
    char *endpoint;              /* peer.endpoint: "tcp://HOST:PORT" its listen is reached at */
    char public_key[41];         /* read from peer.public_key_file: 40 Z85 characters */
} fleet_peer_conf;

typedef struct fleet_peers_conf {
    int enabled;                 /* the subsection is present: the hd-fleet thread runs */
    char *listen;                /* listen: "tcp://0.0.0.0:9477" */
    char secret_key[41];         /* read from secret_key_file (Z85) */
    char public_key[41];         /* derived from the secret (checked against public_key_file) */
    double knowledge_weight;     /* knowledge_weight: a fleet attempt counts this much, 0.5 */
    double interval_s;           /* interval_seconds: full state re-sent this often, 10 */
    fleet_peer_conf *peer;       /* peer = ( { name; endpoint; public_key_file; }, ... ) */
    size_t n_peer;
} fleet_peers_conf;
/* fleet.etcd = { ... } (config_fleet_etcd.c): fleet-wide limits on risky steps through etcd
 * leases. enabled = 0 (no section): no client, no thread, no change in the engine. */
enum { FLEET_UNREACHABLE_WAIT = 0, FLEET_UNREACHABLE_PROCEED = 1 };
typedef struct fleet_etcd_conf {
    int enabled;                 /* the section is present */
    char **endpoints;            /* endpoints: http(s) URLs of etcd's v3 gateway */
    size_t n_endpoints;
    int max_concurrent_risky;    /* 2: risky steps at once in the group, fleet-wide */
    int hourly_budget;           /* 20: heals with a risky step per sliding hour; 0 = no budget */
    int unreachable_risky;       /* unreachable.risky: "wait" (default) or "proceed" */
    int unreachable_critical;    /* unreachable.critical: "proceed" (default) or "wait" */
    int timeout_ms;              /* 500: one request to etcd */
    int lease_ttl_s;             /* 60: a slot outlives its holder's death by at most this */
    char *prefix;                /* "/healerd": keys are <prefix>/<group>/slot/<i>, .../budget/<i> */
} fleet_etcd_conf;

typedef struct fleet_conf {
    char *node;                  /* fleet.node: this agent's name among its peers; "" = host name */
    char *group;                 /* fleet.group: the group fleet-wide limits count in, "default" */
    fleet_alerts_conf alerts;    /* fleet.alerts */
    fleet_peers_conf peers;      /* fleet.peers (config_fleet_peers.c) */
    fleet_etcd_conf etcd;        /* fleet.etcd */
} fleet_conf;

typedef struct config {
    char *path;                    /* the file it was read from */
    /* agent */
    int dry_run;                   /* mode = "dry-run" (or --dry-run) */
    double interval;               /* 5.0 */
    char *plugin_dir;
    char *state_dir;
    char *proc_root;
    char *sys_root;
    int log_level;                 /* healer_log_level */
    int log_format;                /* agent.log_format: log_format (LOG_FORMAT_TEXT) */
    int plugin_check_owner;        /* agent.plugin_check_owner (true): refuse plugins not owned by
                                      root; false relaxes ownership (development), never mode */
    int bus_hwm;                   /* agent.queue_limit: messages per queue, 1000 */
    double action_timeout;         /* agent.action_timeout: seconds a plugin callback may take, 60 */
    int max_open_issues;           /* agent.max_open_issues: beyond it new issues are dropped, 100000 */
    int backup_deletions_max_mb;   /* agent.backup_deletions_max_mb: copies of removed files, 0 */
    double history_days;           /* agent.history_days: heals kept in knowledge.db, 90; 0 = all */
    agent_limits limits;
    /* http */
    char *http_listen;             /* "127.0.0.1:9191"; "" disables HTTP */
    char *token_file;
    char **http_allowed_hosts;     /* http.allowed_hosts: Host names served besides loopback and
                                      the listen address */
    size_t n_http_allowed_hosts;
    int http_allow_remote;         /* http.allow_remote: a non-loopback listen is allowed (with a
                                      token) */
    /* metrics */
    char *metrics_namespace;       /* "luminous_nix" */
    /* protect */
    char **protect_names; size_t n_protect_names; /* the built-in names (sshd, systemd,
                                      healerd) plus protect.names, or protect.names alone when
                                      protect.replace_default_names = true */
    int protect_replace_default_names;
    unsigned protect_min_uid;      /* the login range: protect.min_uid when set, else UID_MIN of */
    unsigned protect_max_uid;      /* /etc/login.defs (1000); UID_MAX (60000). rules.h */
    /* scope: which processes the agent may act on (empty = all) */
    char *scope_cgroup;            /* a cgroup path ("/user.slice"), "" = any */
    uid_t *scope_uids; size_t n_scope_uids;
    /* planner */
    double exploration;            /* planner.exploration, 0.1 */
    notify_conf notify;
    fleet_conf fleet;
    /* plugins = { name = {...}; } kept for config_plugin_resolve */
    struct config_impl *impl;
} config;

/* Reads and validates path. Returns 0 and *out, or the number of problems (each emitted
 * through d as FILE:LINE: message) and *out = NULL. */
int config_load(const char *path, config **out, diag *d);
/* The login.defs(5) config_load reads for the login range (tests point it at a fixture); NULL
 * restores /etc/login.defs. */
void config_set_login_defs(const char *path);
void config_free(config *cfg);

/* Names of the plugin sections present in the file (borrowed from cfg). */
size_t config_plugin_sections(const config *cfg, const char ***names);
/* Where plugins.<name> begins: its line (0 when absent) and file (*file, borrowed). */
int config_plugin_section_line(const config *cfg, const char *name, const char **file);
/* 1 when plugins.<name> sets key. */
int config_plugin_has_key(const config *cfg, const char *name, const char *key);
/* 1 when plugins.<name>.enabled is true or the section or key is absent, 0 when false. */
int config_plugin_enabled(const config *cfg, const char *name);
/* plugins.<name>.<key> as written when it is a string (NULL otherwise): read before the plugin's
 * schema is known (its isolation decides how the schema is read). */
const char *config_plugin_raw_string(const config *cfg, const char *name, const char *key);

/* A plugin's section resolved against its schema. Owned by the host until the plugin is
 * unloaded; read-only afterwards, so any thread may read it. */
typedef struct plugin_conf plugin_conf;
/* Checks plugins.<name> against schema (NULL = no keys besides enabled and interval) and
 * resolves every key. Problems go to d as FILE:LINE; returns NULL when there were any. */
plugin_conf *config_plugin_resolve(const config *cfg, const char *name,
                                   const healer_config_key *schema, diag *d);
void plugin_conf_free(plugin_conf *pc);
/* 1 when the file sets key in the section (0: the default holds). */
int plugin_conf_is_set(const plugin_conf *pc, const char *key);
/* 0 when the section does not set it. */
double plugin_conf_interval(const plugin_conf *pc);
/* Getters: HEALER_E_NOTFOUND (and 0/NULL) for a key not in the schema or of another type. */
int plugin_conf_bool(const plugin_conf *pc, const char *key, int *out);
int plugin_conf_int(const plugin_conf *pc, const char *key, long long *out);
int plugin_conf_double(const plugin_conf *pc, const char *key, double *out);
int plugin_conf_string(const plugin_conf *pc, const char *key, const char **out);
int plugin_conf_list(const plugin_conf *pc, const char *key, const char *const **items, size_t *n);

#endif
