/* plugins/service/service.c — the service healer: raises service_failed / service_flapping from
 * systemd's unit state changes (service_bus.c), plans the escalation ladder (restart, fix
 * dependencies, reset and retry, daemon-reload, alternative; mask only with confirmation),
 * carries it out with busctl under host->act_run, verifies, and serves "restart" requests. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "service.h"

static const char *const service_issue_types[] = {"service_failed", "service_flapping",
                                                  "service_degraded", "service_dependency_down",
                                                  SERVICE_PREDICTED, NULL};

static const healer_config_key service_config[] = {
    {"bus_address", HEALER_CFG_STRING, NULL, 0, 0,
     "D-Bus address of systemd's bus (unix:path=...); empty = the system bus"},
    {"units", HEALER_CFG_STRING_LIST, NULL, 0, 0, "units to watch; empty = every unit"},
    {"protected_units", HEALER_CFG_STRING_LIST, "dbus.service,dbus-broker.service,healerd.service",
     0, 0, "units never acted on (not even on request)"},
    {"flap_failures", HEALER_CFG_INT, "5", 2, 1000,
     "failures within flap_window_minutes that make a unit flapping (restarts stop)"},
    {"flap_window_minutes", HEALER_CFG_DOUBLE, "10", 0.01, 10080, "the flapping window"},
    {"clean_units", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "units whose runtime and cache directories reset_and_retry may clean (CleanUnit)"},
    {"alternatives", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "fallbacks, \"unit=alternative\" (systemd-resolved.service=dnsmasq.service)"},
    {"health_checks", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "\"unit=tcp:HOST:PORT\" or \"unit=cmd:/path arg...\" (read-only; exit 0 = healthy)"},
    {"verify_timeout_s", HEALER_CFG_DOUBLE, "15", 0.1, 3600,
     "how long verify waits for the unit to be active and healthy"},
    {"verify_window_s", HEALER_CFG_DOUBLE, "30", 0, 3000,
     "how long a restarted unit must stay active (same run, NRestarts unchanged) to be healed"},
    {"verify_stable_s", HEALER_CFG_DOUBLE, "1", 0, 600,
     "deprecated for heals (verify_window_s; a larger value here still lengthens it); the "
     "settle time of a restart request and of a dependency started by fix_dependencies"},
    {"activating_timeout_s", HEALER_CFG_DOUBLE, "90", 1, 86400,
     "activating longer than this raises service_degraded (never restarted for it)"},
    {"restart_grace_s", HEALER_CFG_DOUBLE, "1", 0.05, 600,
     "a failed unit with Restart= is left to systemd this long before service_failed"},
    {"command_timeout_s", HEALER_CFG_DOUBLE, "30", 0.1, 3600, "timeout of one busctl call"},
    {"rescan_s", HEALER_CFG_DOUBLE, "60", 1, 86400,
     "period of the ListUnitsFiltered(failed) safety net next to the signals"},
    {"auto_mask", HEALER_CFG_BOOL, "false", 0, 0,
     "mask a flapping unit without confirmation (default: ask)"},
    {"busctl", HEALER_CFG_STRING, "busctl", 0, 0, "the busctl binary"},
    {"predict_horizon_s", HEALER_CFG_DOUBLE, "300", 0, 86400,
     "service_start_limit_predicted when the whole 95% interval of the time until a unit's "
     "failures reach its StartLimitBurst is within this (0 = no prediction)"},
    {"default_start_limit_interval_s", HEALER_CFG_DOUBLE, "10", 0, 86400,
     "StartLimitIntervalSec of a unit whose own cannot be read (systemd's default)"},
    {"default_start_limit_burst", HEALER_CFG_INT, "5", 1, 100000,
     "StartLimitBurst of a unit whose own cannot be read (systemd's default)"},
    {NULL, 0, NULL, 0, 0, NULL}};

/* ---- small helpers ---------------------------------------------------------------------- */

/* Copies with truncation (messages are bounded; a cut message is fine). */
void service_cpy(char *d, size_t len, const char *src)
{
    size_t l = strnlen(src, len - 1);
    memcpy(d, src, l);
    d[l] = '\0';
}

double service_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void service_sleep(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static char **service_list_copy(service *s, const char *key, size_t *n)
{
    *n = s->h->config_list_len(s->ctx, key);
    if (*n == 0)
        return NULL;
    char **v = calloc(*n, sizeof *v);
    if (!v) {
        *n = 0;
        return NULL;
    }
    for (size_t i = 0; i < *n; i++) {
        const char *it = s->h->config_list_item(s->ctx, key, i);
        v[i] = strdup(it ? it : "");
    }
    return v;
}

static void service_list_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static service_pair *service_pairs_from(service *s, const char *key, size_t *n)
{
    size_t len = s->h->config_list_len(s->ctx, key), bad = 0;
    const char **items = calloc(len ? len : 1, sizeof *items);
    if (!items) {
        *n = 0;
        return NULL;
    }
    for (size_t i = 0; i < len; i++)
        items[i] = s->h->config_list_item(s->ctx, key, i);
    service_pair *p = service_parse_pairs(items, len, n, &bad);
    free(items);
    if (bad)
        s->h->log(s->ctx, HEALER_LOG_WARN, "%s: %zu item(s) are not \"unit=value\"; ignored", key,
                  bad);
    return p;
}

int service_watched(const service *s, const char *name)
{
    return s->n_units == 0 || service_list_has(s->units, s->n_units, name);
}

int service_is_alternative(const service *s, const char *name)
{
    for (size_t i = 0; i < s->n_alts; i++)
        if (strcmp(s->alts[i].value, name) == 0)
            return 1;
    return 0;
}

service_unit *service_unit_get(service *s, const char *name, int create)
{
    for (size_t i = 0; i < s->n_tab; i++)
        if (strcmp(s->tab[i].name, name) == 0)
            return &s->tab[i];
    if (!create || strlen(name) >= SERVICE_UNIT_MAX)
        return NULL;
    if (s->n_tab == s->cap_tab) {
        size_t cap = s->cap_tab ? s->cap_tab * 2 : 64;
        service_unit *t = realloc(s->tab, cap * sizeof *t);
        if (!t)
            return NULL;
        s->tab = t;
        s->cap_tab = cap;
    }
    service_unit *u = &s->tab[s->n_tab++];
    memset(u, 0, sizeof *u);
    service_cpy(u->name, sizeof u->name, name);
    u->watched = service_watched(s, name);
    return u;
}

/* ---- detection (service_detect.c decides) ------------------------------------------ */

static void service_try_connect(service *s)
{
    double now = service_mono();
    if (s->bus || now < s->next_connect)
        return;
    s->next_connect = now + 5.0;
    if (service_bus_connect(s) == HEALER_OK)
        s->last_rescan = now;
}

static int service_detect(void *state)
{
    service *s = state;
    service_try_connect(s);
    double mono = service_mono();
    if (s->bus && mono - s->last_rescan >= s->rescan_s) {
        s->last_rescan = mono;
        service_bus_rescan(s);
    }
    service_bus_drain(s);
    /* Without the bus the last known states stand (and the flapping windows still age).
     * Every cycle: re-publish what holds (repeats merge), age the flapping windows. */
    size_t failed = service_evaluate_all(s);
    double score = failed ? (failed * 10 >= 60 ? 40 : 100 - 10.0 * (double)failed) : 100;
    if (!s->bus)
        score = score < 50 ? score : 50;
    /* A host that has no systemd bus at all (not a systemd host) is not unhealthy for it: only
     * a bus we had and lost lowers the score. */
    if (s->bus || s->bus_seen)
        s->h->report_health(s->ctx, "systemd", score);
    s->h->metric(s->ctx, HEALER_METRIC_GAUGE, "service_failed_units",
                 "watched systemd units with an open service issue", NULL, 0, (double)failed);
    return HEALER_OK;
}

/* ---- health probes (read-only) ------------------------------------------------------- */

static int service_tcp_probe(const char *spec, char *why, size_t wlen)
{
    char buf[512];
    service_cpy(buf, sizeof buf, spec);
    char *colon = strrchr(buf, ':');
    if (!colon) {
        snprintf(why, wlen, "bad tcp check \"%s\" (tcp:HOST:PORT)", spec);
        return 0;
    }
    *colon = '\0';
    const char *host = buf, *port = colon + 1;
    if (host[0] == '[') { /* [::1]:53 */
        host++;
        char *e = strchr(buf, ']');
        if (e)
            *e = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        snprintf(why, wlen, "tcp %s: %s", spec, gai_strerror(g));
        return 0;
    }
    int ok = 0;
    for (struct addrinfo *ai = res; ai && !ok; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 2000) == 1) {
                int e = 0;
                socklen_t el = sizeof e;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
                r = e ? -1 : 0;
                errno = e;
            } else {
                errno = ETIMEDOUT;
            }
        }
        if (r == 0)
            ok = 1;
        else
            snprintf(why, wlen, "tcp %s: %s", spec, strerror(errno));
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

/* 1 when the unit has no health check or it passes; why says what failed. */
int service_health_ok(service *s, const char *unit, char *why, size_t wlen)
{
    const service_pair *p = service_pair_find(s->checks, s->n_checks, unit);
    if (!p)
        return 1;
    if (strncmp(p->value, "tcp:", 4) == 0)
        return service_tcp_probe(p->value + 4, why, wlen);
    if (strncmp(p->value, "cmd:", 4) == 0) {
        char cmd[512];
        const char *argv[32];
        service_cpy(cmd, sizeof cmd, p->value + 4);
        if (service_split_cmd(cmd, argv, 32) < 0) {
            snprintf(why, wlen, "empty health command for %s", unit);
            return 0;
        }
        char out[256] = "";
        int status = -1;
        int rc = s->h->probe_run(s->ctx, argv, s->command_timeout_s, out, sizeof out, &status);
        if (rc == HEALER_OK)
            return 1;
        snprintf(why, wlen, "health command %s: %s (exit %d) %.120s", argv[0], healer_rc_str(rc),
                 status, out);
        return 0;
    }
    snprintf(why, wlen, "unknown health check \"%.200s\" (tcp:... or cmd:...)", p->value);
    return 0;
}

/* ---- acting: busctl under act_run -------------------------------------------------------- */

/* Runs one Manager method with busctl through the host (dry-run, audit). Returns the act_run
 * rc, or HEALER_E_IO when busctl exited non-zero; msg gets a short account. */
static int service_call(service *s, const char *method, const char *sig, const char *const *args,
                        size_t n_args, char *msg, size_t mlen)
{
    const char *argv[24];
    char store[2048];
    if (service_busctl_argv(s->busctl, s->bus_address, method, sig, args, n_args, argv, 24,
                            store, sizeof store) < 0) {
        snprintf(msg, mlen, "%s: command line too long", method);
        return HEALER_E_INVAL;
    }
    char out[512] = "";
    int status = -1;
    int rc = s->h->act_run(s->ctx, argv, s->command_timeout_s, out, sizeof out, &status);
    size_t l = strlen(out);
    while (l && (out[l - 1] == '\n' || out[l - 1] == ' '))
        out[--l] = '\0';
    if (rc == HEALER_DRY_RUN) {
        snprintf(msg, mlen, "would call %s(%s)", method, n_args ? args[0] : "");
        return rc;
    }
    if (rc < 0) {
        snprintf(msg, mlen, "%s(%s): %s: %s", method, n_args ? args[0] : "", healer_rc_str(rc),
                 s->h->last_message(s->ctx));
        return rc;
    }
    if (status != 0) {
        snprintf(msg, mlen, "%s(%s): busctl exit %d: %.200s", method, n_args ? args[0] : "",
                 status, out);
        return HEALER_E_IO;
    }
    snprintf(msg, mlen, "%s(%s) ok", method, n_args ? args[0] : "");
    return HEALER_OK;
}

static int service_unit_call(service *s, const char *method, const char *unit, char *msg,
                             size_t mlen)
{
    const char *args[] = {unit, "replace"};
    if (strcmp(method, "ResetFailedUnit") == 0)
        return service_call(s, method, "s", args, 1, msg, mlen);
    return service_call(s, method, "ss", args, 2, msg, mlen);
}

/* Waits until unit is active for verify_stable_s and its health check passes. Returns 1 when
 * healthy, 0 otherwise; why says what was last seen. since_usec: the unit's state-change
 * time before we acted, so a "failed" still left from before is not taken as the answer. */
static int service_wait_active(service *s, const char *unit, uint64_t since_usec, double timeout,
                               char *why, size_t wlen)
{
    double start = service_mono(), stable_since = 0;
    char a[32] = "", sb[32] = "";
    snprintf(why, wlen, "no state read");
    while (service_mono() - start < timeout) {
        uint64_t changed = 0;
        if (service_bus_state(s, unit, a, sizeof a, sb, sizeof sb, &changed) != HEALER_OK) {
            snprintf(why, wlen, "cannot read the state of %s", unit);
            if (!s->bus)
                return 0;
        } else if (strcmp(a, "active") == 0 || strcmp(a, "reloading") == 0) {
            double now = service_mono();
            if (stable_since == 0)
                stable_since = now;
            if (now - stable_since >= s->verify_stable_s) {
                if (service_health_ok(s, unit, why, wlen)) {
                    snprintf(why, wlen, "%s is %s/%s", unit, a, sb);
                    return 1;
                }
            } else {
                snprintf(why, wlen, "%s is %s/%s (settling)", unit, a, sb);
            }
        } else {
            stable_since = 0;
            snprintf(why, wlen, "%s is %s/%s", unit, a, sb);
            int fresh = changed != since_usec || service_mono() - start > 2.0;
            if ((strcmp(a, "failed") == 0 && fresh) || strcmp(sb, "auto-restart") == 0)
                return 0;
        }
        service_sleep(0.05);
    }
    size_t l = strlen(why);
    snprintf(why + l, wlen - l, " after %.1f s", timeout);
    return 0;
}

static uint64_t service_changed_usec(service *s, const char *unit)
{
    char a[32], sb[32];
    uint64_t t = 0;
    service_bus_state(s, unit, a, sizeof a, sb, sizeof sb, &t);
    return t;
}

static int service_protected(const service *s, const char *unit)
{
    return service_list_has(s->protected_units, s->n_protected, unit);
}

/* ---- plan ----------------------------------------------------------------------------- */

static int service_add(service *s, healer_plan *plan, const char *name, const char *target,
                       unsigned step, double impact, double conf, uint32_t flags,
                       const char *desc)
{
    healer_action a = {
        .name = name,
        .target = target,
        .description = desc,
        .step = step,
        .impact = impact,
        .confidence = conf,
        .flags = flags,
    };
    return s->h->plan_add_action(plan, &a);
}

/* What systemd is doing with the unit decides whether a restart may be made now: never over
 * its own restart (auto-restart, a queued job), never over its start limit, never undoing an
 * operator's stop. NULL: act; else why not (in why). Unreadable: act (the call will tell). */
static const char *service_hands_off(service *s, const char *unit, int request, char *why,
                                     size_t len)
{
    service_info i;
    if (!s->bus || service_bus_info(s, unit, &i) != HEALER_OK)
        return NULL;
    int restarts = strcmp(i.restart, "always") == 0 || strcmp(i.restart, "on-failure") == 0;
    if (strcmp(i.active, "failed") == 0 && (strcmp(i.result, "start-limit-hit") == 0 || restarts))
        snprintf(why, len,
                 "systemd gave up restarting %s (Restart=%s, result %s: its start limit): not "
                 "reset, waiting for an operator", unit, i.restart, i.result);
    else if (strcmp(i.sub, "auto-restart") == 0 || i.job != 0 ||
             strcmp(i.active, "activating") == 0 || strcmp(i.active, "deactivating") == 0)
        snprintf(why, len, "systemd is already acting on %s (%s/%s, job %u): waiting for its verdict",
                 unit, i.active, i.sub, i.job);
    else if (strcmp(i.active, "inactive") == 0)
        snprintf(why, len, "%s is stopped (%s/%s, result %s), not failed: left as it was put",
                 unit, i.active, i.sub, i.result[0] ? i.result : "-");
    else if (!request && strcmp(i.active, "active") == 0)
        snprintf(why, len, "%s is active again (%s): nothing to do", unit, i.sub);
    else
        return NULL;
    return why;
}

static int service_plan(void *state, const healer_issue *is, healer_plan *plan)
{
    service *s = state;
    const char *unit = is->target;
    if (!service_unit_name_ok(unit) || service_protected(s, unit))
        return HEALER_OK;
    if (strcmp(is->type, SERVICE_PREDICTED) == 0) {
        /* For people, like service_degraded: a restart is a start that counts toward the very
         * limit, reset-failed would reset systemd's counter (hiding the loop it guards
         * against), a mask or an alternative is too much for a forecast. Once the limit is hit,
         * service_flapping's ladder takes over. */
        s->h->log(s->ctx, HEALER_LOG_INFO, "%s: start limit forecast; notifying only", unit);
        return HEALER_OK;
    }
    service_try_connect(s);
    service_facts f;
    memset(&f, 0, sizeof f);
    if (service_bus_facts(s, unit, &f) != HEALER_OK) {
        s->h->log(s->ctx, HEALER_LOG_INFO, "no plan for %s: systemd is not reachable", unit);
        return HEALER_OK;
    }
    const service_pair *alt = service_pair_find(s->alts, s->n_alts, unit);
    service_info inf;
    if (service_bus_info(s, unit, &inf) == HEALER_OK)
        f.limit_hit = strcmp(inf.active, "failed") == 0 &&
                      (strcmp(inf.result, "start-limit-hit") == 0 ||
                       strcmp(inf.restart, "always") == 0 || strcmp(inf.restart, "on-failure") == 0);
    f.clean = service_list_has(s->clean_units, s->n_clean, unit);
    char d[HEALER_MSG_MAX];
    if (strcmp(is->type, "service_degraded") == 0) {
        /* systemd's start job is running: a restart would only cancel it. */
        s->h->log(s->ctx, HEALER_LOG_INFO, "%s is slow to start: waiting for systemd's job", unit);
        return HEALER_OK;
    }
    if (strcmp(is->type, "service_dependency_down") == 0) {
        snprintf(d, sizeof d, "start %s (stopped with a dependency that runs again)", unit);
        return service_add(s, plan, "start_unit", unit, 0, 0.1, 0.7, 0, d);
    }
    if (strcmp(is->type, "service_flapping") == 0) {
        /* Restarting a flapping unit is the loop we stop: fall back or (with consent) mask. */
        if (alt) {
            snprintf(d, sizeof d, "start %.200s in place of the flapping %.200s", alt->value, unit);
            return service_add(s, plan, "start_alternative", alt->value, 0, 0.3, 0.6, 0, d);
        }
        snprintf(d, sizeof d, "mask %s until reboot (runtime), daemon-reload, stop it", unit);
        return service_add(s, plan, "mask_unit", unit, 1, 0.6, 0.8,
                           HEALER_ACTION_CONFIG | (s->auto_mask ? HEALER_ACTION_AUTO_OK : 0), d);
    }
    if (strcmp(is->type, "service_failed") != 0)
        return HEALER_OK;
    if (service_is_flapping(s, unit)) {
        s->h->log(s->ctx, HEALER_LOG_INFO, "%s is flapping: no restart", unit);
        return HEALER_OK;
    }
    if (!f.loaded)
        s->h->log(s->ctx, HEALER_LOG_INFO, "%s is not loaded; restart may fail", unit);
    if (f.n_failed_deps == 0) {
        snprintf(d, sizeof d, "restart %s", unit);
        service_add(s, plan, "restart", unit, 0, 0.2, 0.6, 0, d);
    } else {
        /* Restarting before what it requires runs again would only fail again. */
        snprintf(d, sizeof d, "start %s%s (required by %s), then restart it", f.failed_deps[0],
                 f.n_failed_deps > 1 ? " and others" : "", unit);
        service_add(s, plan, "fix_dependencies", unit, 1, 0.3, 0.6, 0, d);
    }
    snprintf(d, sizeof d, "reset-failed %s%s, then start it", unit,
             f.clean ? ", clean its runtime and cache directories" : "");
    if (!f.limit_hit) /* systemd's protection against a loop is not ours to reset */
        service_add(s, plan, "reset_and_retry", unit, 2, 0.3, 0.4,
                    f.clean ? HEALER_ACTION_DELETES | HEALER_ACTION_AUTO_OK : 0, d);
    if (f.need_reload) {
        snprintf(d, sizeof d, "daemon-reload (the unit file of %s changed), then restart it", unit);
        service_add(s, plan, "daemon_reload", unit, 3, 0.4, 0.7, 0, d);
    }
    if (alt) {
        snprintf(d, sizeof d, "start the alternative %.200s in place of %.200s", alt->value, unit);
        service_add(s, plan, "start_alternative", alt->value, 4, 0.4, 0.5, 0, d);
    }
    return HEALER_OK;
}

/* ---- execute / verify ------------------------------------------------------------------- */

/* Appends text to a result message. */
static void service_msg(char *buf, size_t len, const char *part)
{
    size_t l = strlen(buf);
    if (l && l + 2 < len) {
        memcpy(buf + l, "; ", 2);
        l += 2;
        buf[l] = '\0';
    }
    if (l + 1 < len)
        service_cpy(buf + l, len - l, part);
}

static int service_result(healer_result *r, int rc, int dry)
{
    if (dry)
        r->outcome = HEALER_OUTCOME_DRY_RUN;
    else
        r->outcome = rc < 0 ? HEALER_OUTCOME_FAILED : HEALER_OUTCOME_DONE;
    return HEALER_OK;
}

static int service_execute(void *state, const healer_issue *is, const healer_action *a,
                           healer_result *r)
{
    service *s = state;
    const char *unit = is->target;
    const char *target = a->target ? a->target : unit;
    char m[HEALER_MSG_MAX];
    int rc = HEALER_OK, dry = 0;
    if (!service_unit_name_ok(unit) || !service_unit_name_ok(target) || service_protected(s, unit)) {
        r->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(r->message, sizeof r->message, "%s: not a unit the plugin may act on", unit);
        return HEALER_OK;
    }
    service_try_connect(s);
    service_bus_drain(s);
    const char *name = a->name;
    int restarting = strcmp(name, "start_alternative") != 0 && strcmp(name, "mask_unit") != 0;
    if (restarting && service_is_flapping(s, unit)) {
        r->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(r->message, sizeof r->message, "%s is flapping: not restarting it", unit);
        return HEALER_OK;
    }
    char hands[HEALER_MSG_MAX];
    if (restarting && strcmp(name, "start_unit") != 0 &&
        service_hands_off(s, unit, 0, hands, sizeof hands)) {
        r->outcome = HEALER_OUTCOME_SKIPPED;
        service_cpy(r->message, sizeof r->message, hands);
        return HEALER_OK;
    }
    uint64_t since = service_changed_usec(s, target);
    s->busy_unit = unit;
    if (strcmp(name, "start_unit") == 0) {
        rc = service_unit_call(s, "StartUnit", unit, m, sizeof m);
        dry = rc == HEALER_DRY_RUN;
        service_msg(r->message, sizeof r->message, m);
    } else if (strcmp(name, "restart") == 0) {
        rc = service_unit_call(s, "RestartUnit", unit, m, sizeof m);
        dry = rc == HEALER_DRY_RUN;
        service_msg(r->message, sizeof r->message, m);
    } else if (strcmp(name, "fix_dependencies") == 0) {
        service_facts f;
        memset(&f, 0, sizeof f);
        service_bus_facts(s, unit, &f);
        for (size_t i = 0; i < f.n_failed_deps && rc >= 0; i++) {
            const char *dep = f.failed_deps[i];
            rc = service_unit_call(s, "ResetFailedUnit", dep, m, sizeof m);
            service_msg(r->message, sizeof r->message, m);
            dry |= rc == HEALER_DRY_RUN;
            if (rc < 0)
                break;
            rc = service_unit_call(s, "StartUnit", dep, m, sizeof m);
            service_msg(r->message, sizeof r->message, m);
            dry |= rc == HEALER_DRY_RUN;
            if (rc == HEALER_OK) {
                char why[HEALER_MSG_MAX];
                /* After the reset it is inactive: no stale "failed" to mistake for an answer. */
                if (!service_wait_active(s, dep, 0, s->verify_timeout_s, why, sizeof why)) {
                    service_msg(r->message, sizeof r->message, why);
                    rc = HEALER_E_IO;
                }
            }
        }
        if (f.n_failed_deps == 0)
            service_msg(r->message, sizeof r->message, "no failed dependency left");
        if (rc >= 0) {
            since = service_changed_usec(s, unit);
            rc = service_unit_call(s, "RestartUnit", unit, m, sizeof m);
            dry |= rc == HEALER_DRY_RUN;
            service_msg(r->message, sizeof r->message, m);
        }
    } else if (strcmp(name, "reset_and_retry") == 0) {
        rc = service_unit_call(s, "ResetFailedUnit", unit, m, sizeof m);
        dry |= rc == HEALER_DRY_RUN;
        service_msg(r->message, sizeof r->message, m);
        if (rc >= 0 && service_list_has(s->clean_units, s->n_clean, unit)) {
            const char *args[] = {unit, "2", "runtime", "cache"};
            int crc = service_call(s, "CleanUnit", "sas", args, 4, m, sizeof m);
            dry |= crc == HEALER_DRY_RUN;
            /* A unit without RuntimeDirectory=/CacheDirectory= has nothing to clean. */
            service_msg(r->message, sizeof r->message, m);
        }
        if (rc >= 0) {
            rc = service_unit_call(s, "StartUnit", unit, m, sizeof m);
            dry |= rc == HEALER_DRY_RUN;
            service_msg(r->message, sizeof r->message, m);
        }
    } else if (strcmp(name, "daemon_reload") == 0) {
        rc = service_call(s, "Reload", NULL, NULL, 0, m, sizeof m);
        dry |= rc == HEALER_DRY_RUN;
        service_msg(r->message, sizeof r->message, m);
        if (rc >= 0) {
            rc = service_unit_call(s, "RestartUnit", unit, m, sizeof m);
            dry |= rc == HEALER_DRY_RUN;
            service_msg(r->message, sizeof r->message, m);
        }
    } else if (strcmp(name, "start_alternative") == 0) {
        rc = service_unit_call(s, "StartUnit", target, m, sizeof m);
        dry = rc == HEALER_DRY_RUN;
        service_msg(r->message, sizeof r->message, m);
    } else if (strcmp(name, "mask_unit") == 0) {
        const char *args[] = {"1", unit, "true", "false"};
        rc = service_call(s, "MaskUnitFiles", "asbb", args, 4, m, sizeof m);
        dry |= rc == HEALER_DRY_RUN;
        service_msg(r->message, sizeof r->message, m);
        if (rc >= 0) {
            /* The mask link takes effect (LoadState masked) only once systemd reloads. */
            rc = service_call(s, "Reload", NULL, NULL, 0, m, sizeof m);
            dry |= rc == HEALER_DRY_RUN;
            service_msg(r->message, sizeof r->message, m);
        }
        if (rc >= 0) {
            rc = service_unit_call(s, "StopUnit", unit, m, sizeof m);
            dry |= rc == HEALER_DRY_RUN;
            service_msg(r->message, sizeof r->message, m);
        }
    } else {
        r->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(r->message, sizeof r->message, "unknown action %s", name);
        s->busy_unit = NULL;
        return HEALER_OK;
    }
    service_result(r, rc, dry);
    s->busy_unit = NULL;
    if (r->outcome != HEALER_OUTCOME_FAILED) {
        /* Judged by service_verify() over the window, by the host's timers. */
        service_verify_begin(s, strcmp(name, "mask_unit") == 0 ? unit : target, since, dry);
        r->verify_after_s = 0.1;
    }
    return HEALER_OK;
}

/* Wakes the worker after verify so the signals read during it are handled then, not inside
 * verify (an issue resolved before the engine has the verdict would confuse the ladder). */
void service_kick(service *s)
{
    if (s->kick_fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(s->kick_fd, &one, sizeof one);
        (void)w;
    }
}

static void service_on_kick(void *state, int fd, short revents)
{
    (void)revents;
    service *s = state;
    uint64_t n;
    ssize_t rd = read(fd, &n, sizeof n);
    (void)rd;
    service_bus_drain(s);
}

/* A deferred decision is due (a failed Restart= unit's grace ended): judge those units now. */
static void service_on_timer(void *state, int fd, short revents)
{
    (void)revents;
    service *s = state;
    uint64_t n;
    ssize_t rd = read(fd, &n, sizeof n);
    (void)rd;
    double mono = service_mono();
    for (size_t i = 0; i < s->n_tab; i++)
        if (s->tab[i].defer_until > 0 && s->tab[i].defer_until <= mono) {
            s->tab[i].dirty = 1;
            s->tab[i].need_info = 1;
        }
    service_bus_drain(s); /* evaluates the dirty ones */
    service_arm_timer(s);
}

/* ---- requests from other plugins ---------------------------------------------------------- */

static const char *service_arg(const healer_kv *args, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (args[i].key && strcmp(args[i].key, key) == 0)
            return args[i].value;
    return NULL;
}

static int service_handle_request(void *state, const char *method, const healer_kv *args,
                                  size_t n_args, healer_reply *reply)
{
    service *s = state;
    if (strcmp(method, "restart") != 0) {
        reply->status = HEALER_E_INVAL;
        snprintf(reply->message, sizeof reply->message, "unknown method \"%s\" (restart)", method);
        return HEALER_OK;
    }
    const char *unit = service_arg(args, n_args, "unit");
    if (!service_unit_name_ok(unit)) {
        reply->status = HEALER_E_INVAL;
        snprintf(reply->message, sizeof reply->message, "restart: unit=\"%s\" is not a unit name",
                 unit ? unit : "");
        return HEALER_OK;
    }
    if (service_protected(s, unit)) {
        reply->status = HEALER_E_PROTECTED;
        snprintf(reply->message, sizeof reply->message, "%s is in protected_units", unit);
        return HEALER_OK;
    }
    service_try_connect(s);
    service_bus_drain(s);
    if (service_is_flapping(s, unit)) {
        reply->status = HEALER_E_DENIED;
        snprintf(reply->message, sizeof reply->message, "%s is flapping: not restarting it", unit);
        return HEALER_OK;
    }
    char hands[HEALER_MSG_MAX];
    if (service_hands_off(s, unit, 1, hands, sizeof hands)) {
        reply->status = HEALER_E_DENIED;
        service_cpy(reply->message, sizeof reply->message, hands);
        return HEALER_OK;
    }
    uint64_t since = service_changed_usec(s, unit);
    char m[HEALER_MSG_MAX], why[HEALER_MSG_MAX];
    s->busy_unit = unit;
    int rc = service_unit_call(s, "RestartUnit", unit, m, sizeof m);
    if (rc == HEALER_DRY_RUN) {
        reply->status = HEALER_DRY_RUN;
        service_cpy(reply->message, sizeof reply->message, m);
    } else if (rc < 0) {
        reply->status = rc;
        service_cpy(reply->message, sizeof reply->message, m);
    } else if (service_wait_active(s, unit, since, s->verify_timeout_s, why, sizeof why)) {
        reply->status = HEALER_OK;
        snprintf(reply->message, sizeof reply->message, "restarted: %.400s", why);
    } else {
        reply->status = HEALER_E_IO;
        snprintf(reply->message, sizeof reply->message, "restarted, but %.400s", why);
    }
    s->busy_unit = NULL;
    service_kick(s);
    return HEALER_OK;
}

/* ---- init / destroy ----------------------------------------------------------------------- */

static void service_destroy(void *state)
{
    service *s = state;
    if (!s)
        return;
    service_bus_close(s);
    if (s->kick_fd >= 0) {
        s->h->unwatch_fd(s->ctx, s->kick_fd);
        close(s->kick_fd);
    }
    if (s->timer_fd >= 0) {
        s->h->unwatch_fd(s->ctx, s->timer_fd);
        close(s->timer_fd);
    }
    service_list_free(s->units, s->n_units);
    service_list_free(s->protected_units, s->n_protected);
    service_list_free(s->clean_units, s->n_clean);
    free(s->alts);
    free(s->checks);
    free(s->tab);
    free(s);
}

static int service_init(const healer_host *h, healer_ctx *ctx, void **state)
{
    service *s = calloc(1, sizeof *s);
    if (!s)
        return HEALER_E_NOMEM;
    s->h = h;
    s->ctx = ctx;
    s->bus_fd = -1;
    s->kick_fd = -1;
    s->timer_fd = -1;
    const char *addr = h->config_string(ctx, "bus_address");
    service_cpy(s->bus_address, sizeof s->bus_address, addr ? addr : "");
    const char *bc = h->config_string(ctx, "busctl");
    service_cpy(s->busctl, sizeof s->busctl, bc && *bc ? bc : "busctl");
    s->units = service_list_copy(s, "units", &s->n_units);
    s->protected_units = service_list_copy(s, "protected_units", &s->n_protected);
    s->clean_units = service_list_copy(s, "clean_units", &s->n_clean);
    s->alts = service_pairs_from(s, "alternatives", &s->n_alts);
    s->checks = service_pairs_from(s, "health_checks", &s->n_checks);
    s->flap_failures = h->config_int(ctx, "flap_failures");
    s->flap_window_s = h->config_double(ctx, "flap_window_minutes") * 60.0;
    s->verify_timeout_s = h->config_double(ctx, "verify_timeout_s");
    s->verify_stable_s = h->config_double(ctx, "verify_stable_s");
    s->verify_window_s = h->config_double(ctx, "verify_window_s");
    /* verify_stable_s was the whole window before verify_window_s: an old config that set it
     * longer still gets at least that. */
    if (s->verify_stable_s > s->verify_window_s)
        s->verify_window_s = s->verify_stable_s;
    s->activating_timeout_s = h->config_double(ctx, "activating_timeout_s");
    s->restart_grace_s = h->config_double(ctx, "restart_grace_s");
    s->command_timeout_s = h->config_double(ctx, "command_timeout_s");
    s->rescan_s = h->config_double(ctx, "rescan_s");
    s->auto_mask = h->config_bool(ctx, "auto_mask");
    s->predict_horizon_s = h->config_double(ctx, "predict_horizon_s");
    s->default_limit_interval_s = h->config_double(ctx, "default_start_limit_interval_s");
    s->default_limit_burst = h->config_int(ctx, "default_start_limit_burst");
    if (s->predict_horizon_s > 0 && (h->abi_minor < 3 ||
                                     offsetof(healer_host, series_forget) >= h->struct_size)) {
        h->log(ctx, HEALER_LOG_INFO, "host without the prediction service (ABI 1.%u): no %s",
               (unsigned)h->abi_minor, SERVICE_PREDICTED);
        s->predict_horizon_s = 0;
    }
    for (size_t i = 0; i < s->n_units; i++)
        if (!service_unit_name_ok(s->units[i]))
            h->log(ctx, HEALER_LOG_WARN, "units: \"%s\" is not a unit name", s->units[i]);
    s->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->kick_fd < 0 || h->watch_fd(ctx, s->kick_fd, POLLIN, service_on_kick) < 0) {
        h->log(ctx, HEALER_LOG_ERROR, "cannot set up the wake-up eventfd: %s", strerror(errno));
        if (s->kick_fd >= 0)
            close(s->kick_fd);
        s->kick_fd = -1;
        service_destroy(s);
        return HEALER_E_IO;
    }
    s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->timer_fd < 0 || h->watch_fd(ctx, s->timer_fd, POLLIN, service_on_timer) < 0) {
        h->log(ctx, HEALER_LOG_ERROR, "cannot set up the timerfd: %s", strerror(errno));
        if (s->timer_fd >= 0)
            close(s->timer_fd);
        s->timer_fd = -1;
        service_destroy(s);
        return HEALER_E_IO;
    }
    /* The bus is connected by the first detect() (and retried every 5 s while systemd is not
     * reachable), so init never publishes. */
    *state = s;
    return HEALER_OK;
}

static const healer_plugin service_descriptor = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "service",
    .version = "1.0.0",
    .description = "heals failed and flapping systemd units over systemd's D-Bus API",
    .issue_types = service_issue_types,
    .config = service_config,
    .interval = 0,
    .init = service_init,
    .destroy = service_destroy,
    .detect = service_detect,
    .plan = service_plan,
    .execute = service_execute,
    .verify = service_verify,
    .handle_request = service_handle_request,
};

HEALER_PLUGIN(service_descriptor)
