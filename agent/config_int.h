/* config_int.h — what config.c (the file and the agent's sections) and config_plugin.c (plugin
 * sections against a schema) share: the parsed file, one reading's context, and the checks both
 * apply to a setting. */
#ifndef AGENT_CONFIG_INT_H
#define AGENT_CONFIG_INT_H

#include <libconfig.h>
#include <stdbool.h>

#include "config.h"

/* One integer setting's value as the file wrote it (config_lex.c). */
typedef struct cfg_exact {
    const config_setting_t *s;
    long long v;
    bool huge;                    /* beyond 64 bits: v saturated */
} cfg_exact;

struct config_impl {
    config_t lc;                  /* kept for config_plugin_resolve */
    bool lc_live;                 /* config_init was called */
    char *include_dir;            /* libconfig may keep only the pointer */
    char **plugin_names;
    size_t n_plugins;
    char **protect_extra;         /* protect.names as written, merged at the end of the load */
    size_t n_protect_extra;
    cfg_exact *exact;             /* sorted by setting; NULL when the scan could not pair */
    size_t n_exact;
};

/* One reading of a file or one plugin section: counts its own problems, because the caller's
 * diag may be NULL or may already hold problems from earlier reads. */
typedef struct rctx {
    diag *d;
    const char *path;   /* fallback file name for settings libconfig did not tag */
    const char *include_dir; /* libconfig names an @included file as written: relative to it */
    const struct config_impl *impl; /* for the exact integers; may be NULL */
    int errors;
} rctx;

__attribute__((format(printf, 3, 4)))
void cfg_report(rctx *r, const config_setting_t *s, const char *fmt, ...);
const char *cfg_type_name(int type);
/* config_listen.c: true when text is a listen address http_start accepts, else false and why
 * not in why; the same for one http.allowed_hosts name; and the loopback-or-token rule for
 * http.listen, reported through r. */
bool cfg_check_listen(const char *text, char *why, size_t n);
bool cfg_check_host_name(const char *h, char *why, size_t n);
void cfg_check_remote(rctx *r, const config *cfg);

/* Before libconfig reads path: reports (to d, with file and line) each NUL byte and each
 * @include of "" or of a non-regular file, which make libconfig 1.5's scanner exit() the
 * process. Returns the number reported; the file must not be handed to libconfig unless 0. */
int cfg_vet_files(diag *d, const char *path, const char *include_dir);

/* Scans path (and its @includes) for integer literals and pairs them with the parsed tree's
 * integer settings (impl->exact); when it cannot, reports every literal libconfig 1.5 would
 * have wrapped. */
void cfg_exact_integers(rctx *r, struct config_impl *impl, const char *path);
/* The setting's integer exactly as written: false when it is not an integer; *huge (may be
 * NULL) true when it does not fit 64 bits (*out is then saturated). */
bool cfg_get_integer(const rctx *r, const config_setting_t *s, long long *out, bool *huge);
/* An integer or a float; false for anything else. */
bool cfg_get_number(const rctx *r, const config_setting_t *s, double *out);
bool cfg_is_list_like(const config_setting_t *s);
bool cfg_read_string_list(rctx *r, const config_setting_t *s, const char *path, bool nonempty,
                          char ***out, size_t *n_out);
void cfg_free_strv(char **v, size_t n);
const config_setting_t *cfg_plugin_section(const config *cfg, const char *name);

/* config_values.c: typed readers shared by the sections that parse themselves. Each reports
 * problems as FILE:LINE naming path and returns false; *out is left alone then. */
bool cfg_read_double(rctx *r, const config_setting_t *s, const char *path, double lo, double hi,
                     double *out);
bool cfg_read_int(rctx *r, const config_setting_t *s, const char *path, long long lo,
                  long long hi, int *out);
/* A non-empty list of http:// or https:// URLs with a host; replaces *out. */
bool cfg_read_urls(rctx *r, const config_setting_t *s, const char *path, char ***out,
                   size_t *n_out);
/* A string, copied into *out (the old value freed). */
bool cfg_read_str(rctx *r, const config_setting_t *s, const char *path, char **out);
void cfg_unknown_key(rctx *r, const config_setting_t *s, const char *path, const char *known);
bool cfg_want_group(rctx *r, const config_setting_t *s, const char *path);

/* config_fleet.c: the fleet section. */
int cfg_fleet_defaults(config *cfg);
void cfg_read_fleet(rctx *r, config *cfg, const config_setting_t *sec);
void cfg_fleet_free(config *cfg);
/* config_fleet_alerts.c: fleet.alerts. */
int cfg_fleet_alerts_defaults(config *cfg);
void cfg_read_fleet_alerts(rctx *r, config *cfg, const config_setting_t *sec);
void cfg_fleet_alerts_free(config *cfg);
/* A name that may travel to peers and into keys: 1 to 64 letters, digits, '.', '-', '_'. */
bool cfg_fleet_name_ok(const char *v);
/* config_fleet_peers.c: fleet.peers (shared knowledge over CURVE). */
void cfg_read_fleet_peers(rctx *r, fleet_peers_conf *p, const config_setting_t *sec);
void cfg_fleet_peers_free(fleet_peers_conf *p);
/* config_fleet_etcd.c: fleet.etcd. */
int cfg_fleet_etcd_defaults(config *cfg);
void cfg_read_fleet_etcd(rctx *r, config *cfg, const config_setting_t *s);
void cfg_fleet_etcd_free(config *cfg);

/* config_notify.c: the notify section. */
void cfg_notify_defaults(config *cfg);
void cfg_read_notify(rctx *r, config *cfg, const config_setting_t *sec);
void cfg_notify_free(config *cfg);

#endif
