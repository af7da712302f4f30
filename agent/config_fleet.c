/* config_fleet.c — the `fleet` section of healerd.conf: this node's name and group, and the
 * hand-over of each fleet part's subsection (alert mappings, peers and CURVE keys, etcd) to its
 * reader. Every problem as FILE:LINE; an absent section leaves every fleet part off. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

int cfg_fleet_defaults(config *cfg)
{
    fleet_conf *f = &cfg->fleet;
    f->node = strdup("");
    f->group = strdup("default");
    return f->node && f->group && cfg_fleet_alerts_defaults(cfg) == 0 &&
                   cfg_fleet_etcd_defaults(cfg) == 0
               ? 0
               : -1;
}

void cfg_fleet_free(config *cfg)
{
    fleet_conf *f = &cfg->fleet;
    cfg_fleet_alerts_free(cfg);
    cfg_fleet_etcd_free(cfg);
    free(f->node);
    free(f->group);
    cfg_fleet_peers_free(&f->peers);
    memset(f, 0, sizeof *f);
}

/* Names travel in messages to peers and in etcd keys: letters, digits, '.', '-' and '_' only,
 * so no name can forge a key path or a label. */
bool cfg_fleet_name_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

static void read_name(rctx *r, const config_setting_t *s, const char *path, char **out)
{
    char *v = NULL;
    if (!cfg_read_str(r, s, path, &v))
        return;
    if (!cfg_fleet_name_ok(v)) {
        cfg_report(r, s, "%s: \"%s\" must be 1 to 64 letters, digits, '.', '-' or '_'", path, v);
        free(v);
        return;
    }
    free(*out);
    *out = v;
}

void cfg_read_fleet(rctx *r, config *cfg, const config_setting_t *sec)
{
    int n = config_setting_length(sec);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *key = config_setting_name(s);
        fleet_conf *f = &cfg->fleet;
        if (strcmp(key, "node") == 0) {
            read_name(r, s, "fleet.node", &f->node);
        } else if (strcmp(key, "group") == 0) {
            read_name(r, s, "fleet.group", &f->group);
        } else if (strcmp(key, "alerts") == 0) {
            cfg_read_fleet_alerts(r, cfg, s);
        } else if (strcmp(key, "peers") == 0) {
            cfg_read_fleet_peers(r, &f->peers, s);
        } else if (strcmp(key, "etcd") == 0) {
            cfg_read_fleet_etcd(r, cfg, s);
        } else {
            char p[128];
            snprintf(p, sizeof p, "fleet.%s", key);
            cfg_unknown_key(r, s, p, "node, group, alerts, peers, etcd");
        }
    }
}
