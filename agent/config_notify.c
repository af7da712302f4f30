/* config_notify.c — the `notify` section of healerd.conf: webhook URLs, Alertmanager URLs, the
 * exec hook's argv, which events, the queue bound, timeouts and the retry schedule. Every problem
 * as FILE:LINE like the other sections (cfg_report); config.c only hands the group over. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "notify.h"

void cfg_notify_defaults(config *cfg)
{
    notify_conf *n = &cfg->notify;
    n->events = (1u << NOTIFY_KIND_COUNT) - 1;
    n->queue_limit = 256;
    n->timeout_s = 5.0;
    n->retries = 5;
    n->backoff_s = 1.0;
    n->backoff_max_s = 60.0;
    n->resend_s = 60.0;
    n->exec_timeout_s = 10.0;
    n->instance = strdup("");
}

void cfg_notify_free(config *cfg)
{
    notify_conf *n = &cfg->notify;
    cfg_free_strv(n->webhooks, n->n_webhooks);
    cfg_free_strv(n->alertmanagers, n->n_alertmanagers);
    cfg_free_strv(n->exec_argv, n->n_exec_argv);
    free(n->instance);
    memset(n, 0, sizeof *n);
}


static void read_webhook(rctx *r, config *cfg, const config_setting_t *sec)
{
    int n = config_setting_length(sec);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *key = config_setting_name(s);
        if (strcmp(key, "urls") == 0)
            cfg_read_urls(r, s, "notify.webhook.urls", &cfg->notify.webhooks, &cfg->notify.n_webhooks);
        else {
            char p[128];
            snprintf(p, sizeof p, "notify.webhook.%s", key);
            cfg_unknown_key(r, s, p, "urls");
        }
    }
}

static void read_alertmanager(rctx *r, config *cfg, const config_setting_t *sec)
{
    int n = config_setting_length(sec);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *key = config_setting_name(s);
        if (strcmp(key, "urls") == 0)
            cfg_read_urls(r, s, "notify.alertmanager.urls", &cfg->notify.alertmanagers,
                      &cfg->notify.n_alertmanagers);
        else if (strcmp(key, "resend_s") == 0)
            /* Alertmanager resolves an alert not re-sent within its resolve_timeout (5 min) */
            cfg_read_double(r, s, "notify.alertmanager.resend_s", 1, 3600, &cfg->notify.resend_s);
        else {
            char p[128];
            snprintf(p, sizeof p, "notify.alertmanager.%s", key);
            cfg_unknown_key(r, s, p, "urls, resend_s");
        }
    }
}

static void read_exec(rctx *r, config *cfg, const config_setting_t *sec)
{
    int n = config_setting_length(sec);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *key = config_setting_name(s);
        if (strcmp(key, "argv") == 0) {
            char **v = NULL;
            size_t k = 0;
            if (!cfg_read_string_list(r, s, "notify.exec.argv", true, &v, &k))
                continue;
            if (k == 0 || v[0][0] != '/') {
                /* no PATH search: the hook runs as root, so which file runs must be explicit */
                cfg_report(r, s, "notify.exec.argv: the first element must be an absolute path, "
                           "got \"%s\"", k ? v[0] : "");
                cfg_free_strv(v, k);
                continue;
            }
            cfg_free_strv(cfg->notify.exec_argv, cfg->notify.n_exec_argv);
            cfg->notify.exec_argv = v;
            cfg->notify.n_exec_argv = k;
        } else if (strcmp(key, "timeout_s") == 0)
            cfg_read_double(r, s, "notify.exec.timeout_s", 0.1, 3600, &cfg->notify.exec_timeout_s);
        else {
            char p[128];
            snprintf(p, sizeof p, "notify.exec.%s", key);
            cfg_unknown_key(r, s, p, "argv, timeout_s");
        }
    }
}

static void read_events(rctx *r, config *cfg, const config_setting_t *s)
{
    char **v = NULL;
    size_t n = 0;
    if (!cfg_read_string_list(r, s, "notify.events", true, &v, &n))
        return;
    unsigned mask = 0;
    for (size_t i = 0; i < n; i++) {
        int k = notify_kind_from_name(v[i]);
        if (k < 0 || k == NOTIFY_ISSUE_CLOSED) {
            char known[512] = "";
            size_t len = 0;
            for (int j = 0; j < NOTIFY_KIND_COUNT; j++)
                if (j != NOTIFY_ISSUE_CLOSED)
                    len += (size_t)snprintf(known + len, sizeof known - len, "%s%s",
                                            len ? ", " : "", notify_kind_name((notify_kind)j));
            cfg_report(r, s, "notify.events: unknown event \"%s\" (known: %s)", v[i], known);
            cfg_free_strv(v, n);
            return;
        }
        mask |= 1u << k;
    }
    /* closing an issue is never sent on its own; it only ends Alertmanager's HealerdHealFailed */
    cfg->notify.events = mask | (1u << NOTIFY_ISSUE_CLOSED);
    cfg_free_strv(v, n);
}

void cfg_read_notify(rctx *r, config *cfg, const config_setting_t *sec)
{
    int n = config_setting_length(sec);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sec, (unsigned)i);
        const char *key = config_setting_name(s);
        notify_conf *c = &cfg->notify;
        if (strcmp(key, "webhook") == 0) {
            if (cfg_want_group(r, s, "notify.webhook"))
                read_webhook(r, cfg, s);
        } else if (strcmp(key, "alertmanager") == 0) {
            if (cfg_want_group(r, s, "notify.alertmanager"))
                read_alertmanager(r, cfg, s);
        } else if (strcmp(key, "exec") == 0) {
            if (cfg_want_group(r, s, "notify.exec"))
                read_exec(r, cfg, s);
        } else if (strcmp(key, "events") == 0) {
            read_events(r, cfg, s);
        } else if (strcmp(key, "instance") == 0) {
            cfg_read_str(r, s, "notify.instance", &c->instance);
        } else if (strcmp(key, "queue_limit") == 0) {
            cfg_read_int(r, s, "notify.queue_limit", 1, 100000, &c->queue_limit);
        } else if (strcmp(key, "timeout_s") == 0) {
            cfg_read_double(r, s, "notify.timeout_s", 0.1, 300, &c->timeout_s);
        } else if (strcmp(key, "retries") == 0) {
            cfg_read_int(r, s, "notify.retries", 0, 100, &c->retries);
        } else if (strcmp(key, "backoff_s") == 0) {
            cfg_read_double(r, s, "notify.backoff_s", 0.01, 3600, &c->backoff_s);
        } else if (strcmp(key, "backoff_max_s") == 0) {
            cfg_read_double(r, s, "notify.backoff_max_s", 0.01, 86400, &c->backoff_max_s);
        } else {
            char p[128];
            snprintf(p, sizeof p, "notify.%s", key);
            cfg_unknown_key(r, s, p, "webhook, alertmanager, exec, events, instance, queue_limit, "
                    "timeout_s, retries, backoff_s, backoff_max_s");
        }
    }
    if (cfg->notify.backoff_max_s < cfg->notify.backoff_s) {
        const config_setting_t *s = config_setting_get_member(sec, "backoff_max_s");
        cfg_report(r, s ? s : sec, "notify.backoff_max_s: must be >= notify.backoff_s (%g), got %g",
                   cfg->notify.backoff_s, cfg->notify.backoff_max_s);
    }
}
