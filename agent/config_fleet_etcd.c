/* config_fleet_etcd.c — the fleet.etcd subsection of healerd.conf: etcd's endpoints, the
 * fleet-wide limits on risky steps (concurrency, hourly budget), what to do when etcd cannot be
 * reached, the request timeout, lease TTL and key prefix. Every problem as FILE:LINE. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

int cfg_fleet_etcd_defaults(config *cfg)
{
    fleet_etcd_conf *c = &cfg->fleet.etcd;
    memset(c, 0, sizeof *c);
    c->max_concurrent_risky = 2;
    c->hourly_budget = 20;
    c->unreachable_risky = FLEET_UNREACHABLE_WAIT;
    c->unreachable_critical = FLEET_UNREACHABLE_PROCEED;
    c->timeout_ms = 500;
    c->lease_ttl_s = 60;
    c->prefix = strdup("/healerd");
    c->endpoints = calloc(1, sizeof *c->endpoints);
    if (c->endpoints && (c->endpoints[0] = strdup("http://127.0.0.1:2379")))
        c->n_endpoints = 1;
    return c->prefix && c->n_endpoints == 1 ? 0 : -1;
}

void cfg_fleet_etcd_free(config *cfg)
{
    fleet_etcd_conf *c = &cfg->fleet.etcd;
    cfg_free_strv(c->endpoints, c->n_endpoints);
    free(c->prefix);
    memset(c, 0, sizeof *c);
}

/* The prefix goes into every key: "/" and then path segments of plain characters, no "..", no
 * trailing "/", so two groups' keys can never overlap and no value forges another path. */
static bool etcd_prefix_ok(const char *v)
{
    size_t n = strlen(v);
    if (n < 2 || n > 128 || v[0] != '/' || v[n - 1] == '/' || strstr(v, "//") ||
        strstr(v, "/../") || strstr(v, "/./"))
        return false;
    if ((n >= 3 && strcmp(v + n - 3, "/..") == 0) || (n >= 2 && strcmp(v + n - 2, "/.") == 0))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_' || c == '/';
        if (!ok)
            return false;
    }
    return true;
}

static void read_policy(rctx *r, const config_setting_t *s, const char *path, int *out)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        cfg_report(r, s, "%s: expected \"wait\" or \"proceed\", got %s", path,
                   cfg_type_name(config_setting_type(s)));
        return;
    }
    const char *v = config_setting_get_string(s);
    if (strcmp(v, "wait") == 0)
        *out = FLEET_UNREACHABLE_WAIT;
    else if (strcmp(v, "proceed") == 0)
        *out = FLEET_UNREACHABLE_PROCEED;
    else
        cfg_report(r, s, "%s: expected \"wait\" or \"proceed\", got \"%s\"", path, v);
}

static void read_unreachable(rctx *r, fleet_etcd_conf *c, const config_setting_t *sec)
{
    if (!cfg_want_group(r, sec, "fleet.etcd.unreachable"))
        return;
    int n = config_setting_length(sec);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *key = config_setting_name(s);
        if (strcmp(key, "risky") == 0) {
            read_policy(r, s, "fleet.etcd.unreachable.risky", &c->unreachable_risky);
        } else if (strcmp(key, "critical") == 0) {
            read_policy(r, s, "fleet.etcd.unreachable.critical", &c->unreachable_critical);
        } else {
            char p[160];
            snprintf(p, sizeof p, "fleet.etcd.unreachable.%s", key);
            cfg_unknown_key(r, s, p, "risky, critical");
        }
    }
}

void cfg_read_fleet_etcd(rctx *r, config *cfg, const config_setting_t *sec)
{
    if (!cfg_want_group(r, sec, "fleet.etcd"))
        return;
    fleet_etcd_conf *c = &cfg->fleet.etcd;
    c->enabled = 1;
    int n = config_setting_length(sec);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *key = config_setting_name(s);
        if (strcmp(key, "endpoints") == 0) {
            if (cfg_read_urls(r, s, "fleet.etcd.endpoints", &c->endpoints, &c->n_endpoints) &&
                c->n_endpoints == 0)
                cfg_report(r, s, "fleet.etcd.endpoints: at least one URL is needed");
        } else if (strcmp(key, "max_concurrent_risky") == 0) {
            cfg_read_int(r, s, "fleet.etcd.max_concurrent_risky", 1, 1000,
                         &c->max_concurrent_risky);
        } else if (strcmp(key, "hourly_budget") == 0) {
            cfg_read_int(r, s, "fleet.etcd.hourly_budget", 0, 10000, &c->hourly_budget);
        } else if (strcmp(key, "unreachable") == 0) {
            read_unreachable(r, c, s);
        } else if (strcmp(key, "timeout_ms") == 0) {
            cfg_read_int(r, s, "fleet.etcd.timeout_ms", 10, 60000, &c->timeout_ms);
        } else if (strcmp(key, "lease_ttl_s") == 0) {
            cfg_read_int(r, s, "fleet.etcd.lease_ttl_s", 5, 3600, &c->lease_ttl_s);
        } else if (strcmp(key, "prefix") == 0) {
            char *v = NULL;
            if (!cfg_read_str(r, s, "fleet.etcd.prefix", &v))
                continue;
            if (!etcd_prefix_ok(v)) {
                cfg_report(r, s, "fleet.etcd.prefix: \"%s\" must start with '/', not end with "
                           "'/', and hold only letters, digits, '.', '-', '_' and '/' (no '..' "
                           "segment, 2 to 128 characters)", v);
                free(v);
                continue;
            }
            free(c->prefix);
            c->prefix = v;
        } else {
            char p[160];
            snprintf(p, sizeof p, "fleet.etcd.%s", key);
            cfg_unknown_key(r, s, p, "endpoints, max_concurrent_risky, hourly_budget, "
                            "unreachable, timeout_ms, lease_ttl_s, prefix");
        }
    }
}
