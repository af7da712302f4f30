/* network_act.c — the network plugin's healing: plan (escalation ladders per issue type),
 * execute (DNS cache flush, interface restart, default route reset, a request to the service
 * plugin, all through the host's actuators) and verify (re-reading the kernel, re-probing). */
#include "network.h"

#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ACT_FLUSH "flush_dns_cache"
#define ACT_IFRESTART "restart_interface"
#define ACT_ROUTES "reset_routes"
#define ACT_SERVICE "restart_network_service"

#define NETWORK_CMD_TIMEOUT 10.0

static double network_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- plan --------------------------------------------------------------------------------- */

static int network_on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char buf[512];
    while (*path) {
        const char *c = strchr(path, ':');
        size_t l = c ? (size_t)(c - path) : strlen(path);
        if (l && l + strlen(prog) + 2 < sizeof buf) {
            memcpy(buf, path, l);
            buf[l] = '/';
            strcpy(buf + l + 1, prog);
            if (access(buf, X_OK) == 0)
                return 1;
        }
        if (!c)
            break;
        path = c + 1;
    }
    return 0;
}

static int network_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int network_resolved_present(const network *n)
{
    return n->cache_resolved && network_on_path("resolvectl") &&
           (network_exists("/run/systemd/resolve/io.systemd.Resolve") ||
            network_exists("/run/systemd/resolve/resolv.conf"));
}

static int network_nscd_present(const network *n)
{
    return n->cache_nscd && network_on_path("nscd") &&
           (network_exists("/run/nscd/socket") || network_exists("/var/run/nscd/socket"));
}

/* The dnsmasq named by pid file i, when it runs and may be signalled. */
static int network_dnsmasq_proc(network *n, size_t i, healer_proc *p)
{
    FILE *f = fopen(n->dnsmasq_pid_files[i], "re");
    if (!f)
        return 0;
    long pid = 0;
    int ok = fscanf(f, "%ld", &pid) == 1 && pid > 1;
    fclose(f);
    if (!ok || n->host->proc_read(n->ctx, (pid_t)pid, p) != HEALER_OK)
        return 0;
    if (strcmp(p->name, "dnsmasq") != 0) {
        n->host->log(n->ctx, HEALER_LOG_DEBUG, "%s names pid %ld, which is %s, not dnsmasq",
                     n->dnsmasq_pid_files[i], pid, p->name);
        return 0;
    }
    return n->host->proc_allowed(n->ctx, p, 1) == HEALER_OK;
}

static size_t network_dnsmasq_count(network *n)
{
    size_t c = 0;
    if (!n->cache_dnsmasq)
        return 0;
    for (size_t i = 0; i < n->n_dnsmasq_pid_files; i++) {
        healer_proc p;
        c += (size_t)network_dnsmasq_proc(n, i, &p);
    }
    return c;
}

static int network_add(network *n, healer_plan *plan, const char *name, const char *target,
                       const char *desc, unsigned step, double impact, double confidence,
                       uint32_t flags, const healer_kv *params, size_t np)
{
    healer_action a = {
        .name = name,
        .target = target,
        .description = desc,
        .step = step,
        .impact = impact,
        .confidence = confidence,
        .flags = flags,
        .params = params,
        .n_params = np,
    };
    int rc = n->host->plan_add_action(plan, &a);
    if (rc < 0)
        n->host->log(n->ctx, HEALER_LOG_WARN, "plan %s: %s", name, healer_rc_str(rc));
    return rc;
}

static void network_plan_service(network *n, healer_plan *plan, unsigned step)
{
    if (!n->network_service || !n->network_service[0])
        return;
    char desc[HEALER_MSG_MAX];
    snprintf(desc, sizeof desc, "ask the service plugin to restart %s", n->network_service);
    healer_kv p[] = {{"unit", n->network_service}};
    network_add(n, plan, ACT_SERVICE, n->network_service, desc, step, 0.6, 0.4, 0, p, 1);
}

static void network_plan_ifrestart(network *n, healer_plan *plan, const char *dev, unsigned step)
{
    network_link *l = network_link_by_name(n, dev);
    if (!l)
        return;
    char desc[HEALER_MSG_MAX];
    snprintf(desc, sizeof desc, "%s %s (ip link set dev %s down/up), then restore its "
             "default route", (l->flags & IFF_UP) ? "restart" : "bring up", dev, dev);
    healer_kv p[] = {{"dev", dev}};
    network_add(n, plan, ACT_IFRESTART, dev, desc, step, (l->flags & IFF_UP) ? 0.5 : 0.2, 0.6,
                0, p, 1);
}

static void network_plan_routes(network *n, healer_plan *plan, const network_route *k,
                                unsigned step)
{
    char desc[HEALER_MSG_MAX], metric[24];
    snprintf(metric, sizeof metric, "%lld", k->metric);
    snprintf(desc, sizeof desc, "restore the %s default route %s%s dev %s%s%s, removing other "
             "default routes of that family", k->family == AF_INET ? "IPv4" : "IPv6",
             k->gw[0] ? "via " : "", k->gw, k->dev, k->metric >= 0 ? " metric " : "",
             k->metric >= 0 ? metric : "");
    healer_kv p[] = {
        {"family", k->family == AF_INET ? "4" : "6"},
        {"gateway", k->gw},
        {"dev", k->dev},
        {"metric", metric},
    };
    network_add(n, plan, ACT_ROUTES, k->family == AF_INET ? "default" : "default6", desc, step,
                0.3, 0.7, 0, p, 4);
}

int network_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    network *n = state;
    network_nl_resync(n);
    const char *t = issue->target ? issue->target : "";
    const network_route *k4 = network_known_route(n, AF_INET);
    if (strcmp(issue->type, NETWORK_DOWN) == 0) {
        network_plan_ifrestart(n, plan, t, 0);
        network_plan_service(n, plan, 1);
    } else if (strcmp(issue->type, NETWORK_ROUTE) == 0) {
        int family = strcmp(t, "default6") == 0 ? AF_INET6 : AF_INET;
        const network_route *k = network_known_route(n, family);
        if (k) {
            network_link *l = network_link_by_name(n, k->dev);
            if (l && (l->flags & IFF_UP))
                network_plan_routes(n, plan, k, 0);
            network_plan_ifrestart(n, plan, k->dev, 1);
        }
        network_plan_service(n, plan, 2);
    } else if (strcmp(issue->type, NETWORK_DNS) == 0) {
        size_t nd = network_dnsmasq_count(n);
        int res = network_resolved_present(n), nscd = network_nscd_present(n);
        if (res || nscd || nd) {
            char desc[HEALER_MSG_MAX], which[128];
            snprintf(which, sizeof which, "%s%s%s%s%s", res ? "resolved" : "",
                     res && (nscd || nd) ? "," : "", nscd ? "nscd" : "", nscd && nd ? "," : "",
                     nd ? "dnsmasq" : "");
            snprintf(desc, sizeof desc, "flush the DNS cache of %s", which);
            healer_kv p[] = {{"caches", which}};
            network_add(n, plan, ACT_FLUSH, "dns", desc, 0, 0.05, 0.4, HEALER_ACTION_SYSTEM, p,
                        1);
        }
        if (k4 && !network_route_present(n, k4))
            network_plan_routes(n, plan, k4, 1);
        network_plan_service(n, plan, 2);
    } else if (strcmp(issue->type, NETWORK_CONN) == 0) {
        if (k4 && !network_route_present(n, k4))
            network_plan_routes(n, plan, k4, 0);
        const char *dev = n->n_routes ? n->routes[0].dev : k4 ? k4->dev : NULL;
        for (size_t i = 0; i < n->n_routes; i++)
            if (n->routes[i].family == AF_INET) {
                dev = n->routes[i].dev;
                break;
            }
        if (dev && dev[0])
            network_plan_ifrestart(n, plan, dev, 1);
        network_plan_service(n, plan, 2);
    }
    return HEALER_OK;
}

/* ---- execute ------------------------------------------------------------------------------ */

static const char *network_param(const healer_action *a, const char *key)
{
    for (size_t i = 0; i < a->n_params; i++)
        if (a->params[i].key && strcmp(a->params[i].key, key) == 0)
            return a->params[i].value;
    return NULL;
}

/* Appends "; text" to the result message. */
static void network_say(healer_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void network_say(healer_result *r, const char *fmt, ...)
{
    size_t l = strlen(r->message);
    if (l + 3 >= sizeof r->message)
        return;
    if (l)
        l += (size_t)snprintf(r->message + l, sizeof r->message - l, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message + l, sizeof r->message - l, fmt, ap);
    va_end(ap);
}

/* Runs `ip ARGS...` through the host's act_run (dry-run and audit apply). */
static int network_ip(network *n, healer_result *r, const char *const *args)
{
    const char *argv[16];
    size_t k = 0;
    argv[k++] = n->ip_cmd;
    for (size_t i = 0; args[i] && k < 15; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    char out[512];
    int status = 0;
    int rc = n->host->act_run(n->ctx, argv, NETWORK_CMD_TIMEOUT, out, sizeof out, &status);
    const char *m = n->host->last_message(n->ctx);
    if (rc < 0 && out[0]) {
        size_t ol = strlen(out);
        while (ol && out[ol - 1] == '\n')
            out[--ol] = '\0';
        network_say(r, "%s (%s)", m, out);
    } else {
        network_say(r, "%s", m);
    }
    return rc;
}

static int network_pred_link_ok(network *n, const void *arg)
{
    return network_link_ok(network_link_by_name(n, arg));
}

/* Waits until pred holds or seconds pass, re-reading the kernel's state (events, then a dump
 * every few rounds). Only this plugin's worker waits. */
static int network_wait(network *n, double seconds, int (*pred)(network *, const void *),
                        const void *arg)
{
    double end = network_mono() + seconds;
    for (int round = 0;; round++) {
        if (round % 4 == 0)
            network_nl_resync(n);
        else
            network_nl_drain(n);
        if (pred(n, arg))
            return 1;
        double left = end - network_mono();
        if (left <= 0)
            return 0;
        struct pollfd pf = {.fd = n->ev_fd, .events = POLLIN};
        int ms = left < 0.05 ? (int)(left * 1000) + 1 : 50;
        poll(&pf, n->ev_fd >= 0 ? 1 : 0, ms);
    }
}


static int network_pred_link_admin_up(network *n, const void *arg)
{
    network_link *l = network_link_by_name(n, arg);
    return l && (l->flags & IFF_UP);
}

static int network_pred_default(network *n, const void *arg)
{
    return network_default_count(n, *(const int *)arg) > 0;
}

/* `ip [-6] route replace default [via GW] dev DEV [metric M]` */
static int network_route_replace(network *n, healer_result *r, const network_route *k, int del)
{
    char metric[24];
    snprintf(metric, sizeof metric, "%lld", k->metric);
    const char *a[14];
    size_t i = 0;
    if (k->family == AF_INET6)
        a[i++] = "-6";
    a[i++] = "route";
    a[i++] = del ? "del" : "replace";
    a[i++] = "default";
    if (k->gw[0]) {
        a[i++] = "via";
        a[i++] = k->gw;
    }
    a[i++] = "dev";
    a[i++] = k->dev;
    if (k->metric >= 0) {
        a[i++] = "metric";
        a[i++] = metric;
    }
    a[i] = NULL;
    return network_ip(n, r, a);
}

/* Outcome from the worst/best of several actuator calls. */
typedef struct network_tally {
    int ok, dry, failed;
} network_tally;

static void network_tally_rc(network_tally *t, int rc)
{
    if (rc == HEALER_DRY_RUN)
        t->dry++;
    else if (rc < 0)
        t->failed++;
    else
        t->ok++;
}

static void network_set_outcome(healer_result *r, const network_tally *t)
{
    if (t->dry && !t->failed)
        r->outcome = HEALER_OUTCOME_DRY_RUN;
    else if (t->failed && !t->ok)
        r->outcome = HEALER_OUTCOME_FAILED;
    else
        r->outcome = HEALER_OUTCOME_DONE;
}

static void network_exec_ifrestart(network *n, const healer_action *a, healer_result *r)
{
    const char *dev = network_param(a, "dev");
    network_nl_resync(n);
    network_link *l = dev ? network_link_by_name(n, dev) : NULL;
    if (!l) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "no interface %s", dev ? dev : "(none)");
        return;
    }
    char name[IF_NAMESIZE];
    snprintf(name, sizeof name, "%s", dev);
    network_tally t = {0, 0, 0};
    if (l->flags & IFF_UP) {
        const char *down[] = {"link", "set", "dev", name, "down", NULL};
        network_tally_rc(&t, network_ip(n, r, down));
    }
    const char *up[] = {"link", "set", "dev", name, "up", NULL};
    int rc = network_ip(n, r, up);
    network_tally_rc(&t, rc);
    if (rc == HEALER_OK) {
        /* Carrier takes a moment; routes via a link without it would be refused or dead. */
        /* Carrier, then the operational state (IFF_RUNNING): until the kernel's linkwatch has
         * run, the device's queue drops packets and routes through it are dead. */
        double w0 = network_mono();
        if (!network_wait(n, n->settle_seconds, network_pred_link_ok, name))
            network_say(r, "%s is up but not running after %g s", name, n->settle_seconds);
        else
            network_say(r, "%s running after %.3f s", name, network_mono() - w0);
    } else if (rc == HEALER_DRY_RUN) {
        network_nl_resync(n);
    }
    /* An interface going down takes its routes with it: put the known default routes
     * through it back (in dry-run: say we would). */
    for (int fi = 0; fi < 2; fi++) {
        const network_route *k = network_known_route(n, fi ? AF_INET6 : AF_INET);
        if (!k || strcmp(k->dev, name) != 0 || (rc == HEALER_OK && network_route_present(n, k)))
            continue;
        if (rc != HEALER_OK && rc != HEALER_DRY_RUN)
            continue;
        network_tally_rc(&t, network_route_replace(n, r, k, 0));
    }
    r->measurements[0] = (healer_measurement){"link_up",
                                              network_link_ok(network_link_by_name(n, name))};
    r->measurements[1] = (healer_measurement){"default_routes", (double)n->n_routes};
    r->n_measurements = 2;
    network_set_outcome(r, &t);
}

static void network_exec_routes(network *n, const healer_action *a, healer_result *r)
{
    network_route k;
    memset(&k, 0, sizeof k);
    const char *fam = network_param(a, "family"), *gw = network_param(a, "gateway");
    const char *dev = network_param(a, "dev"), *metric = network_param(a, "metric");
    k.family = fam && strcmp(fam, "6") == 0 ? AF_INET6 : AF_INET;
    snprintf(k.gw, sizeof k.gw, "%s", gw ? gw : "");
    snprintf(k.dev, sizeof k.dev, "%s", dev ? dev : "");
    k.metric = metric ? strtoll(metric, NULL, 10) : -1;
    if (!k.dev[0]) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "no interface to route through");
        return;
    }
    network_nl_resync(n);
    network_tally t = {0, 0, 0};
    /* Other default routes of the family (a wrong gateway) go first: they would win. */
    network_route stale[NETWORK_MAX_ROUTES];
    size_t ns = 0;
    for (size_t i = 0; i < n->n_routes; i++) {
        const network_route *x = &n->routes[i];
        if (x->family == k.family && x->dev[0] &&
            !(strcmp(x->gw, k.gw) == 0 && strcmp(x->dev, k.dev) == 0))
            stale[ns++] = *x;
    }
    for (size_t i = 0; i < ns; i++)
        network_tally_rc(&t, network_route_replace(n, r, &stale[i], 1));
    int rc = network_route_replace(n, r, &k, 0);
    network_tally_rc(&t, rc);
    if (rc < 0)
        t.ok = 0;   /* removing the stale ones alone heals nothing */
    network_nl_resync(n);
    r->measurements[0] = (healer_measurement){"default_routes",
                                              (double)network_default_count(n, k.family)};
    r->n_measurements = 1;
    network_set_outcome(r, &t);
}

static void network_exec_flush(network *n, healer_result *r)
{
    network_tally t = {0, 0, 0};
    int tried = 0;
    if (network_resolved_present(n)) {
        const char *argv[] = {"resolvectl", "flush-caches", NULL};
        tried++;
        network_tally_rc(&t, n->host->act_run(n->ctx, argv, NETWORK_CMD_TIMEOUT, NULL, 0, NULL));
        network_say(r, "%s", n->host->last_message(n->ctx));
    }
    if (network_nscd_present(n)) {
        const char *argv[] = {"nscd", "-i", "hosts", NULL};
        tried++;
        network_tally_rc(&t, n->host->act_run(n->ctx, argv, NETWORK_CMD_TIMEOUT, NULL, 0, NULL));
        network_say(r, "%s", n->host->last_message(n->ctx));
    }
    if (n->cache_dnsmasq)
        for (size_t i = 0; i < n->n_dnsmasq_pid_files; i++) {
            healer_proc p;
            if (!network_dnsmasq_proc(n, i, &p))
                continue;
            tried++;
            /* SIGHUP: dnsmasq clears its cache and re-reads its hosts files. */
            network_tally_rc(&t, n->host->act_signal(n->ctx, p.pid, p.start_time, SIGHUP, 0));
            network_say(r, "dnsmasq pid %d: %s", (int)p.pid, n->host->last_message(n->ctx));
        }
    if (!tried) {
        r->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(r->message, sizeof r->message, "no DNS cache present (resolved, nscd, dnsmasq)");
        return;
    }
    r->measurements[0] = (healer_measurement){"dns_caches_flushed", (double)t.ok};
    r->n_measurements = 1;
    network_set_outcome(r, &t);
}

static void network_exec_service(network *n, const healer_action *a, healer_result *r)
{
    const char *unit = network_param(a, "unit");
    if (!unit || !unit[0]) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "no network service configured");
        return;
    }
    /* A request is not an actuator: in dry-run it is not sent at all (the engine's audit line
     * for this action still says what would have been asked). */
    if (n->host->dry_run(n->ctx)) {
        r->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(r->message, sizeof r->message, "would ask the service plugin to restart %s",
                 unit);
        return;
    }
    healer_kv args[] = {{"unit", unit}};
    healer_reply reply;
    memset(&reply, 0, sizeof reply);
    int rc = n->host->request(n->ctx, "service", "restart", args, 1,
                              n->host->config_double(n->ctx, "service_timeout"), &reply);
    if (rc < 0 || reply.status < 0) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "restart %.128s through the service plugin: %s%s%.300s",
                 unit, healer_rc_str(rc < 0 ? rc : reply.status), reply.message[0] ? ": " : "",
                 reply.message);
        return;
    }
    r->outcome = HEALER_OUTCOME_DONE;
    snprintf(r->message, sizeof r->message, "service plugin restarted %.128s%s%.300s", unit,
             reply.message[0] ? ": " : "", reply.message);
}

int network_execute(void *state, const healer_issue *issue, const healer_action *action,
                    healer_result *result)
{
    network *n = state;
    (void)issue;
    if (strcmp(action->name, ACT_IFRESTART) == 0)
        network_exec_ifrestart(n, action, result);
    else if (strcmp(action->name, ACT_ROUTES) == 0)
        network_exec_routes(n, action, result);
    else if (strcmp(action->name, ACT_FLUSH) == 0)
        network_exec_flush(n, result);
    else if (strcmp(action->name, ACT_SERVICE) == 0)
        network_exec_service(n, action, result);
    else {
        result->outcome = HEALER_OUTCOME_FAILED;
        snprintf(result->message, sizeof result->message, "unknown action %s", action->name);
        return HEALER_E_INVAL;
    }
    return HEALER_OK;
}

/* ---- verify ------------------------------------------------------------------------------- */

static int network_pred_dns(network *n, const void *arg)
{
    (void)arg;
    network_probe_run(n, 1, 0);
    return network_dns_healthy(n);
}

static int network_pred_tcp(network *n, const void *arg)
{
    (void)arg;
    network_probe_run(n, 0, 1);
    return network_tcp_healthy(n);
}

/* One look for verify: healed, or (not yet, and the settle time is not over) ask the host to call
 * verify again in 0.1 s (*settling = 1), so the worker never sleeps while a fix settles and this
 * plugin's netlink events keep flowing. */
static int network_look(network *n, const healer_issue *is, int (*pred)(network *, const void *),
                        const void *arg, healer_verdict *v, int *settling)
{
    double now = network_mono();
    if (n->verify_issue != is->id || !(n->verify_until > 0) || now > n->verify_until + 1.0) {
        n->verify_issue = is->id;
        n->verify_until = now + n->settle_seconds;
    }
    network_nl_resync(n);
    int ok = pred(n, arg);
    if (!ok && now < n->verify_until) {
        v->recheck_after_s = 0.1;
        *settling = 1;
        return 0;
    }
    n->verify_until = 0;
    *settling = 0;
    return ok;
}

int network_verify(void *state, const healer_issue *issue, const healer_action *action,
                   healer_verdict *v)
{
    network *n = state;
    (void)action;
    const char *t = issue->target ? issue->target : "";
    size_t k = 0;
    int settling = 0;
    if (strcmp(issue->type, NETWORK_DOWN) == 0) {
        v->healed = network_look(n, issue, network_pred_link_ok, t, v, &settling);
        if (settling)
            return HEALER_OK;
        network_link *l = network_link_by_name(n, t);
        v->measurements[k++] = (healer_measurement){"link_admin_up", l && (l->flags & IFF_UP)};
        v->measurements[k++] = (healer_measurement){"link_carrier", l && (l->flags & IFF_RUNNING)};
        snprintf(v->message, sizeof v->message, "%s is %s", t,
                 v->healed ? "up with carrier" : !l ? "missing"
                 : network_pred_link_admin_up(n, t) ? "up without carrier" : "down");
    } else if (strcmp(issue->type, NETWORK_ROUTE) == 0) {
        int family = strcmp(t, "default6") == 0 ? AF_INET6 : AF_INET;
        v->healed = network_look(n, issue, network_pred_default, &family, v, &settling);
        if (settling)
            return HEALER_OK;
        v->measurements[k++] = (healer_measurement){"default_routes",
                                                    (double)network_default_count(n, family)};
        snprintf(v->message, sizeof v->message, "%s default route %s",
                 family == AF_INET ? "IPv4" : "IPv6", v->healed ? "present" : "still missing");
    } else if (strcmp(issue->type, NETWORK_DNS) == 0) {
        v->healed = network_look(n, issue, network_pred_dns, NULL, v, &settling);
        if (settling)
            return HEALER_OK;
        v->measurements[k++] = (healer_measurement){"dns_names_failed", n->dns_failed_names};
        snprintf(v->message, sizeof v->message, "%d of %zu name(s) resolve", n->dns_ok_names,
                 n->n_dns_names);
    } else if (strcmp(issue->type, NETWORK_CONN) == 0) {
        v->healed = network_look(n, issue, network_pred_tcp, NULL, v, &settling);
        if (settling)
            return HEALER_OK;
        snprintf(v->message, sizeof v->message, "%d of %zu TCP target(s) reachable", n->tcp_ok,
                 n->n_targets);
    } else {
        snprintf(v->message, sizeof v->message, "not a network issue");
        return HEALER_OK;
    }
    /* Connectivity after every fix: reported, whatever the issue was. */
    if (n->n_targets && strcmp(issue->type, NETWORK_CONN) != 0)
        network_probe_run(n, 0, 1);
    if (n->n_targets) {
        v->measurements[k++] = (healer_measurement){"tcp_targets_ok", n->tcp_ok};
        v->measurements[k++] = (healer_measurement){"tcp_targets_failed", n->tcp_failed};
    }
    v->n_measurements = k;
    return HEALER_OK;
}
