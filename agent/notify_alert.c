/* notify_alert.c — Alertmanager's view of the events: which alert an event starts (a plan waits,
 * a heal failed, a plugin failed, paused) and which alerts it ends, the set active now (re-sent
 * before Alertmanager's resolve_timeout would drop them), and the POST /api/v2/alerts body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "sanitize_json.h"

static void label(json_t *l, const char *k, const char *v)
{
    if (v && *v)
        json_object_set_new(l, k, sanitize_json_str(v));
}

static nalert *make(const char *alertname, const char *key, const nevent *e, const char *instance,
                    const char *severity, const char *summary)
{
    nalert *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->alertname = strdup(alertname);
    a->key = strdup(key);
    a->labels = json_object();
    a->annotations = json_object();
    if (!a->alertname || !a->key || !a->labels || !a->annotations) {
        nalert_free_list(a);
        return NULL;
    }
    label(a->labels, "alertname", alertname);
    label(a->labels, "instance", instance);
    label(a->labels, "issue_type", e->issue_type);
    label(a->labels, "target", e->target);
    label(a->labels, "severity", severity);
    label(a->labels, "plugin", e->plugin);
    if (e->heal_id) {
        char id[24];
        snprintf(id, sizeof id, "%llu", (unsigned long long)e->heal_id);
        label(a->labels, "heal_id", id);
    }
    label(a->annotations, "summary", summary);
    if (e->reason)
        label(a->annotations, "description", e->reason);
    a->starts_at = e->time;
    return a;
}

void nalert_free_list(nalert *a)
{
    while (a) {
        nalert *next = a->next;
        free(a->alertname);
        free(a->key);
        json_decref(a->labels);
        json_decref(a->annotations);
        free(a);
        a = next;
    }
}

size_t nalerts_count(const nalerts *a)
{
    size_t n = 0;
    for (const nalert *x = a->head; x; x = x->next)
        n++;
    return n;
}

/* Moves the active alerts named alertname (whose key starts with key_prefix, when given) to
 * *ended. Keys end in a separator, so heal 1's prefix never matches heal 10's. */
static void end_where(nalerts *a, nalert **ended, const char *alertname, const char *key_prefix)
{
    nalert **pp = &a->head;
    while (*pp) {
        nalert *x = *pp;
        if (strcmp(x->alertname, alertname) == 0 &&
            (!key_prefix || strncmp(x->key, key_prefix, strlen(key_prefix)) == 0)) {
            *pp = x->next;
            x->next = *ended;
            *ended = x;
        } else {
            pp = &x->next;
        }
    }
}

static nalert *find(nalerts *a, const char *key)
{
    for (nalert *x = a->head; x; x = x->next)
        if (strcmp(x->key, key) == 0)
            return x;
    return NULL;
}

static nalert *start(nalerts *a, const char *alertname, const char *key, const nevent *e,
                     const char *instance, const char *severity, const char *summary)
{
    nalert *x = find(a, key);
    if (x)
        return x; /* still the same condition: its startsAt stays */
    x = make(alertname, key, e, instance, severity, summary);
    if (x) {
        x->next = a->head;
        a->head = x;
    }
    return x;
}

nalert *nalerts_apply(nalerts *a, const nevent *e, const char *instance, nalert **ended)
{
    *ended = NULL;
    char key[1024], summary[1024];
    const char *type = e->issue_type ? e->issue_type : "";
    const char *target = e->target ? e->target : "";
    const char *plugin = e->plugin ? e->plugin : "";
    switch (e->kind) {
    case NOTIFY_CONFIRMATION_WAITING:
        snprintf(key, sizeof key, "HealerdConfirmationWaiting/%llu/",
                 (unsigned long long)e->heal_id);
        snprintf(summary, sizeof summary, "heal #%llu for %s on %s waits for confirmation: "
                 "healctl confirm %llu (or reject)", (unsigned long long)e->heal_id, type, target,
                 (unsigned long long)e->heal_id);
        return start(a, "HealerdConfirmationWaiting", key, e, instance, e->severity, summary);
    case NOTIFY_HEAL_FAILED:
        snprintf(key, sizeof key, "HealerdHealFailed/%s\x1f%s\x1f", type, target);
        snprintf(summary, sizeof summary, "healing %s on %s failed: every planned action was "
                 "tried", type, target);
        {
            /* the failed heal may have been the one that waited (confirmed, then failed) */
            char ck[64];
            snprintf(ck, sizeof ck, "HealerdConfirmationWaiting/%llu/",
                     (unsigned long long)e->heal_id);
            end_where(a, ended, "HealerdConfirmationWaiting", ck);
        }
        return start(a, "HealerdHealFailed", key, e, instance, e->severity, summary);
    case NOTIFY_PLAN_CONFIRMED:
    case NOTIFY_PLAN_REJECTED:
    case NOTIFY_HEAL_EXECUTED:
    case NOTIFY_HEAL_EXPIRED:
    case NOTIFY_HEAL_CANCELLED:
        snprintf(key, sizeof key, "HealerdConfirmationWaiting/%llu/",
                 (unsigned long long)e->heal_id);
        end_where(a, ended, "HealerdConfirmationWaiting", key);
        if (e->kind == NOTIFY_HEAL_EXECUTED && e->outcome && strcmp(e->outcome, "healed") == 0) {
            snprintf(key, sizeof key, "HealerdHealFailed/%s\x1f%s\x1f", type, target);
            nalert *more = NULL;
            end_where(a, &more, "HealerdHealFailed", key);
            while (more) {
                nalert *nx = more->next;
                more->next = *ended;
                *ended = more;
                more = nx;
            }
        }
        return NULL;
    case NOTIFY_ISSUE_CLOSED:
        snprintf(key, sizeof key, "HealerdHealFailed/%s\x1f%s\x1f", type, target);
        end_where(a, ended, "HealerdHealFailed", key);
        return NULL;
    case NOTIFY_PLUGIN_FAILED:
        snprintf(key, sizeof key, "HealerdPluginFailed/%s/", plugin);
        snprintf(summary, sizeof summary, "plugin %s failed%s%s; it stays down until a reload",
                 plugin, e->reason ? ": " : "", e->reason ? e->reason : "");
        return start(a, "HealerdPluginFailed", key, e, instance, "high", summary);
    case NOTIFY_PLUGIN_RECOVERED:
        if (*plugin) {
            snprintf(key, sizeof key, "HealerdPluginFailed/%s/", plugin);
            end_where(a, ended, "HealerdPluginFailed", key);
        } else {
            end_where(a, ended, "HealerdPluginFailed", NULL);
        }
        return NULL;
    case NOTIFY_PAUSED:
        return start(a, "HealerdPaused", "HealerdPaused", e, instance, "medium",
                     "healing is paused by the operator: nothing is healed, not even critical "
                     "issues (healctl resume)");
    case NOTIFY_RESUMED:
        end_where(a, ended, "HealerdPaused", NULL);
        return NULL;
    default:
        return NULL;
    }
}

json_t *nalerts_payload(const nalert *list, double ends_at, int only_first)
{
    json_t *arr = json_array();
    for (const nalert *x = list; x && arr; x = only_first ? NULL : x->next) {
        json_t *o = json_object();
        char t[40];
        json_object_set(o, "labels", x->labels);
        json_object_set(o, "annotations", x->annotations);
        notify_iso8601(x->starts_at, t, sizeof t);
        json_object_set_new(o, "startsAt", json_string(t));
        if (ends_at > 0) {
            notify_iso8601(ends_at, t, sizeof t);
            json_object_set_new(o, "endsAt", json_string(t));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}
