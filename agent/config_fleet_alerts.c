/* config_fleet_alerts.c — the `fleet.alerts` subsection of healerd.conf: which Alertmanager
 * alerts become which issues (alertname -> issue type, the target label, numeric measurements,
 * severity), the route's own token file and how long an alert lives without a re-send. Every
 * problem as FILE:LINE; without the subsection POST /api/v1/alerts is not served. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "rules.h"

/* Alertmanager re-sends a firing alert every repeat_interval (4 h by default): three missed
 * re-sends mean it is gone even if its "resolved" never arrived. */
#define ALERTS_STALE_DEFAULT 43200.0
#define ALERTS_MAP_MAX 256
#define ALERTS_MEASURES_MAX 16

int cfg_fleet_alerts_defaults(config *cfg)
{
    fleet_alerts_conf *a = &cfg->fleet.alerts;
    memset(a, 0, sizeof *a);
    a->stale_seconds = ALERTS_STALE_DEFAULT;
    a->token_file = strdup("");
    return a->token_file ? 0 : -1;
}

static void map_free(fleet_alert_map *m)
{
    free(m->alertname);
    free(m->type);
    free(m->target_label);
    cfg_free_strv(m->measurements, m->n_measurements);
    memset(m, 0, sizeof *m);
}

void cfg_fleet_alerts_free(config *cfg)
{
    fleet_alerts_conf *a = &cfg->fleet.alerts;
    for (size_t i = 0; i < a->n_map; i++)
        map_free(&a->map[i]);
    free(a->map);
    free(a->token_file);
    memset(a, 0, sizeof *a);
}

/* Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*, here at most 63 bytes. */
static bool label_name_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static int severity_of(const char *v)
{
    static const char *const names[] = {"low", "medium", "high", "critical"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    return -1;
}

/* One { alertname; type; target_label; measurements?; severity? } of fleet.alerts.map. */
static bool read_entry(rctx *r, const config_setting_t *g, size_t idx, fleet_alert_map *m)
{
    char path[96];
    snprintf(path, sizeof path, "fleet.alerts.map[%zu]", idx);
    if (!cfg_want_group(r, g, path))
        return false;
    m->severity = -1;
    int before = r->errors;
    bool seen[3] = {false, false, false};   /* alertname, type, target_label written at all */
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *key = config_setting_name(s);
        char p[160];
        snprintf(p, sizeof p, "%s.%s", path, key);
        if (strcmp(key, "alertname") == 0) {
            seen[0] = true;
            if (cfg_read_str(r, s, p, &m->alertname) &&
                (!m->alertname[0] || strlen(m->alertname) > 255))
                cfg_report(r, s, "%s: must be 1 to 255 bytes", p);
        } else if (strcmp(key, "type") == 0) {
            seen[1] = true;
            if (cfg_read_str(r, s, p, &m->type) && !healer_rules_valid_name(m->type))
                cfg_report(r, s, "%s: \"%s\" is not an issue type name ([a-z0-9_], 1 to 63 "
                           "bytes)", p, m->type);
        } else if (strcmp(key, "target_label") == 0) {
            seen[2] = true;
            if (cfg_read_str(r, s, p, &m->target_label) && !label_name_ok(m->target_label))
                cfg_report(r, s, "%s: \"%s\" is not a Prometheus label name", p, m->target_label);
        } else if (strcmp(key, "measurements") == 0) {
            char **v = NULL;
            size_t nv = 0;
            if (!cfg_read_string_list(r, s, p, false, &v, &nv))
                continue;
            if (nv > ALERTS_MEASURES_MAX)
                cfg_report(r, s, "%s: at most %d names, got %zu", p, ALERTS_MEASURES_MAX, nv);
            for (size_t k = 0; k < nv; k++)
                if (!healer_rules_valid_name(v[k]))
                    cfg_report(r, s, "%s: \"%s\" is not a measurement name ([a-z0-9_], 1 to 63 "
                               "bytes; the label or annotation of that name is read)", p, v[k]);
            cfg_free_strv(m->measurements, m->n_measurements);
            m->measurements = v;
            m->n_measurements = nv;
        } else if (strcmp(key, "severity") == 0) {
            char *v = NULL;
            if (cfg_read_str(r, s, p, &v)) {
                m->severity = severity_of(v);
                if (m->severity < 0)
                    cfg_report(r, s, "%s: \"%s\" is not low, medium, high or critical", p, v);
            }
            free(v);
        } else {
            cfg_unknown_key(r, s, p, "alertname, type, target_label, measurements, severity");
        }
    }
    static const char *const need[] = {"alertname", "type", "target_label"};
    for (int k = 0; k < 3; k++)
        if (!seen[k])   /* one written wrong was reported where it is */
            cfg_report(r, g, "%s: %s is required", path, need[k]);
    return r->errors == before;
}

static void read_map(rctx *r, fleet_alerts_conf *a, const config_setting_t *s)
{
    if (!cfg_is_list_like(s)) {
        cfg_report(r, s, "fleet.alerts.map: expected a list ( { ... }, ... ), got %s",
                   cfg_type_name(config_setting_type(s)));
        return;
    }
    int n = config_setting_length(s);
    if (n < 1 || n > ALERTS_MAP_MAX) {
        cfg_report(r, s, "fleet.alerts.map: 1 to %d mappings, got %d", ALERTS_MAP_MAX, n);
        return;
    }
    fleet_alert_map *v = calloc((size_t)n, sizeof *v);
    if (!v) {
        cfg_report(r, s, "fleet.alerts.map: out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
        if (!read_entry(r, g, (size_t)i, &v[i]))
            continue;
        for (int j = 0; j < i; j++)
            if (v[j].alertname && strcmp(v[j].alertname, v[i].alertname) == 0) {
                cfg_report(r, g, "fleet.alerts.map[%d]: alertname \"%s\" is mapped already by "
                           "fleet.alerts.map[%d]", i, v[i].alertname, j);
                break;
            }
    }
    for (size_t i = 0; i < a->n_map; i++)
        map_free(&a->map[i]);
    free(a->map);
    a->map = v;
    a->n_map = (size_t)n;
}

void cfg_read_fleet_alerts(rctx *r, config *cfg, const config_setting_t *sec)
{
    if (!cfg_want_group(r, sec, "fleet.alerts"))
        return;
    fleet_alerts_conf *a = &cfg->fleet.alerts;
    a->enabled = 1;
    bool have_map = false;
    int n = config_setting_length(sec);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *key = config_setting_name(s);
        if (strcmp(key, "token_file") == 0) {
            if (cfg_read_str(r, s, "fleet.alerts.token_file", &a->token_file) &&
                a->token_file[0] && a->token_file[0] != '/')
                cfg_report(r, s, "fleet.alerts.token_file: \"%s\" must be an absolute path",
                           a->token_file);
        } else if (strcmp(key, "map") == 0) {
            have_map = true;
            read_map(r, a, s);
        } else if (strcmp(key, "stale_seconds") == 0) {
            (void)cfg_read_double(r, s, "fleet.alerts.stale_seconds", 10, 7 * 86400.0,
                                  &a->stale_seconds);
        } else {
            char p[128];
            snprintf(p, sizeof p, "fleet.alerts.%s", key);
            cfg_unknown_key(r, s, p, "token_file, map, stale_seconds");
        }
    }
    if (!have_map)
        cfg_report(r, sec, "fleet.alerts: map is required (which alertnames become which issue "
                   "types)");
}
