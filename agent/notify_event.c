/* notify_event.c — one notification event: its names, its copy, and how it is shown to each
 * sink: the webhook's JSON body and the exec hook's environment (HEALERD_*). Outside strings go
 * through the sanitizer, as everywhere else the agent shows them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "notify.h"
#include "sanitize_json.h"

static const char *const NAMES[NOTIFY_KIND_COUNT] = {
    [NOTIFY_CONFIRMATION_WAITING] = "confirmation_waiting",
    [NOTIFY_PLAN_CONFIRMED] = "plan_confirmed",
    [NOTIFY_PLAN_REJECTED] = "plan_rejected",
    [NOTIFY_HEAL_EXECUTED] = "heal_executed",
    [NOTIFY_HEAL_FAILED] = "heal_failed",
    [NOTIFY_HEAL_EXPIRED] = "heal_expired",
    [NOTIFY_HEAL_CANCELLED] = "heal_cancelled",
    [NOTIFY_PLUGIN_CRASHED] = "plugin_crashed",
    [NOTIFY_PLUGIN_FAILED] = "plugin_failed",
    [NOTIFY_PLUGIN_RECOVERED] = "plugin_recovered",
    [NOTIFY_PAUSED] = "paused",
    [NOTIFY_RESUMED] = "resumed",
    [NOTIFY_ISSUE_CLOSED] = "issue_closed",
};

const char *notify_kind_name(notify_kind k)
{
    return (unsigned)k < NOTIFY_KIND_COUNT ? NAMES[k] : "unknown";
}

int notify_kind_from_name(const char *name)
{
    for (int i = 0; name && i < NOTIFY_KIND_COUNT; i++)
        if (strcmp(NAMES[i], name) == 0)
            return i;
    return -1;
}

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

nevent *notify_event_copy(const notify_event *ev)
{
    nevent *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->kind = ev->kind;
    e->time = ev->time > 0 ? ev->time : clock_now();
    e->heal_id = ev->heal_id;
    e->issue_id = ev->issue_id;
    e->dry_run = ev->dry_run;
    e->issue_type = dup0(ev->issue_type);
    e->target = dup0(ev->target);
    e->severity = dup0(ev->severity);
    e->plugin = dup0(ev->plugin);
    e->action = dup0(ev->action);
    e->outcome = dup0(ev->outcome);
    e->reason = dup0(ev->reason);
    e->summary = dup0(ev->summary);
    if ((ev->issue_type && !e->issue_type) || (ev->target && !e->target) ||
        (ev->severity && !e->severity) || (ev->plugin && !e->plugin) ||
        (ev->action && !e->action) || (ev->outcome && !e->outcome) ||
        (ev->reason && !e->reason) || (ev->summary && !e->summary)) {
        notify_event_free(e);
        return NULL;
    }
    return e;
}

void notify_event_free(nevent *e)
{
    if (!e)
        return;
    free(e->issue_type);
    free(e->target);
    free(e->severity);
    free(e->plugin);
    free(e->action);
    free(e->outcome);
    free(e->reason);
    free(e->summary);
    free(e);
}

void notify_iso8601(double t, char *buf, size_t n)
{
    time_t s = (time_t)t;
    int ms = (int)((t - (double)s) * 1000.0);
    if (ms < 0)
        ms = 0;
    if (ms > 999)
        ms = 999;
    struct tm tm;
    gmtime_r(&s, &tm);
    char head[32];
    strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03dZ", head, ms);
}

static void put(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, sanitize_json_str(v));
}

json_t *notify_event_json(const nevent *e, const char *instance)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    char when[40];
    notify_iso8601(e->time, when, sizeof when);
    json_object_set_new(o, "event", json_string(notify_kind_name(e->kind)));
    json_object_set_new(o, "time", json_string(when));
    put(o, "instance", instance);
    if (e->heal_id)
        json_object_set_new(o, "heal_id", json_integer((json_int_t)e->heal_id));
    if (e->issue_id)
        json_object_set_new(o, "issue_id", json_integer((json_int_t)e->issue_id));
    put(o, "issue_type", e->issue_type);
    put(o, "target", e->target);
    put(o, "severity", e->severity);
    put(o, "plugin", e->plugin);
    put(o, "action", e->action);
    put(o, "outcome", e->outcome);
    put(o, "reason", e->reason);
    put(o, "summary", e->summary);
    json_object_set_new(o, "dry_run", json_boolean(e->dry_run));
    return o;
}

/* NAME=value with the value sanitized: a process name with a newline or escape must reach a
 * hook script as visible bytes, never as a second line a naive script would parse. */
static int add_env(char **env, size_t *n, const char *name, const char *value)
{
    if (!value)
        return 0;
    char *clean = sanitize_dup(value, 0);
    if (!clean)
        return -1;
    size_t len = strlen(name) + strlen(clean) + 2;
    char *s = malloc(len);
    if (!s) {
        free(clean);
        return -1;
    }
    snprintf(s, len, "%s=%s", name, clean);
    free(clean);
    env[(*n)++] = s;
    return 0;
}

char **notify_event_env(const nevent *e, const char *instance)
{
    /* PATH only from the agent's own environment: the hook gets no other variable of it */
    enum { MAX_ENV = 20 };
    char **env = calloc(MAX_ENV, sizeof *env);
    if (!env)
        return NULL;
    size_t n = 0;
    char when[40], hid[24], iid[24];
    notify_iso8601(e->time, when, sizeof when);
    snprintf(hid, sizeof hid, "%llu", (unsigned long long)e->heal_id);
    snprintf(iid, sizeof iid, "%llu", (unsigned long long)e->issue_id);
    int rc = 0;
    rc |= add_env(env, &n, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    rc |= add_env(env, &n, "HEALERD_EVENT", notify_kind_name(e->kind));
    rc |= add_env(env, &n, "HEALERD_TIME", when);
    rc |= add_env(env, &n, "HEALERD_INSTANCE", instance);
    if (e->heal_id)
        rc |= add_env(env, &n, "HEALERD_HEAL_ID", hid);
    if (e->issue_id)
        rc |= add_env(env, &n, "HEALERD_ISSUE_ID", iid);
    rc |= add_env(env, &n, "HEALERD_ISSUE_TYPE", e->issue_type);
    rc |= add_env(env, &n, "HEALERD_TARGET", e->target);
    rc |= add_env(env, &n, "HEALERD_SEVERITY", e->severity);
    rc |= add_env(env, &n, "HEALERD_PLUGIN", e->plugin);
    rc |= add_env(env, &n, "HEALERD_ACTION", e->action);
    rc |= add_env(env, &n, "HEALERD_OUTCOME", e->outcome);
    rc |= add_env(env, &n, "HEALERD_REASON", e->reason);
    rc |= add_env(env, &n, "HEALERD_SUMMARY", e->summary);
    rc |= add_env(env, &n, "HEALERD_DRY_RUN", e->dry_run ? "1" : "0");
    if (rc) {
        notify_env_free(env);
        return NULL;
    }
    return env;
}

void notify_env_free(char **env)
{
    if (!env)
        return;
    for (char **p = env; *p; p++)
        free(*p);
    free(env);
}
