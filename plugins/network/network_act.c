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

/* reset_routes: the missing remembered (or configured) default routes of the family, exactly. */
static void network_plan_routes(network *n, healer_plan *plan, int family, unsigned step)
{
    const network_route *m[NETWORK_MAX_ROUTES];
    size_t k = 0;
    if (n->cfg_route.family == family) {
        if (!network_route_present(n, &n->cfg_route))
            m[k++] = &n->cfg_route;
    } else {
        k = network_missing_routes(n, family, m, NETWORK_MAX_ROUTES);
    }
    if (!k)
        return;
    for (size_t i = 0; i < k; i++)
        if (network_managed_by(n, m[i]->dev))
            return;   /* another manager owns it: the issue says so, healerd changes nothing */
    char desc[HEALER_MSG_MAX];
    size_t l = (size_t)snprintf(desc, sizeof desc, "restore %zu %s default route(s) exactly as "
                                "last seen (", k, family == AF_INET ? "IPv4" : "IPv6");
    for (size_t i = 0; i < k && l < sizeof desc; i++) {
        const char *a[40];
        char buf[512];
        network_route_args(m[i], 0, a, 40, buf, sizeof buf);
        for (size_t x = 3; a[x] && l < sizeof desc; x++)   /* past "[-6] route replace" */
            l += (size_t)snprintf(desc + l, sizeof desc - l, "%s%s", x > 3 ? " " : "", a[x]);
        if (l < sizeof desc)
            l += (size_t)snprintf(desc + l, sizeof desc - l, "%s", i + 1 < k ? "; " : ")");
    }
    healer_kv p[] = {{"family", family == AF_INET ? "4" : "6"}};
    network_add(n, plan, ACT_ROUTES, family == AF_INET ? "default" : "default6", desc, step,
                0.3, 0.7, 0, p, 1);
}

/* Some IPv4 default route that may be restored is missing. */
static int network_v4_missing(network *n)
{
    if (n->cfg_route.family == AF_INET)
        return !network_route_present(n, &n->cfg_route);
    const network_route *m[1];
    return network_missing_routes(n, AF_INET, m, 1) > 0;
}

int network_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    network *n = state;
    network_nl_resync(n);
    const char *t = issue->target ? issue->target : "";
    const network_route *k4 = network_known_route(n, AF_INET);
    /* Degraded (dns_slow, connectivity_degraded) and flapping (link_flapping) get no action:
     * restarting a link that keeps dropping or loses packets, or flushing a cache that answers,
     * fights the problem's real owner. The issue stays open for a person. */
    if (strcmp(issue->type, NETWORK_SLOW) == 0 || strcmp(issue->type, NETWORK_FLAP) == 0 ||
        strcmp(issue->type, NETWORK_LOSSY) == 0)
        return HEALER_OK;
    if (strcmp(issue->type, NETWORK_DOWN) == 0) {
        network_link *l = network_link_by_name(n, t);
        if (network_managed_by(n, t) || (l && network_flapping(n, l)))
            return HEALER_OK;
        network_plan_ifrestart(n, plan, t, 0);
        network_plan_service(n, plan, 1);
    } else if (strcmp(issue->type, NETWORK_ROUTE) == 0) {
        int family = strcmp(t, "default6") == 0 ? AF_INET6 : AF_INET;
        const network_route *m[NETWORK_MAX_ROUTES];
        size_t nm = n->cfg_route.family == family ? 1
                  : network_missing_routes(n, family, m, NETWORK_MAX_ROUTES);
        const network_route *k = n->cfg_route.family == family ? &n->cfg_route
                               : nm ? m[0] : NULL;
        if (k && network_managed_by(n, k->dev))
            return HEALER_OK;
        if (k) {
            network_link *l = network_link_by_name(n, k->dev);
            if (l && (l->flags & IFF_UP))
                network_plan_routes(n, plan, family, 0);
            if (!l || !network_link_ok(l))
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
        if (network_v4_missing(n))
            network_plan_routes(n, plan, AF_INET, 1);
        network_plan_service(n, plan, 2);
    } else if (strcmp(issue->type, NETWORK_CONN) == 0) {
        if (network_v4_missing(n))
            network_plan_routes(n, plan, AF_INET, 0);
        const char *dev = n->n_routes ? n->routes[0].dev : k4 ? k4->dev : NULL;
        for (size_t i = 0; i < n->n_routes; i++)
            if (n->routes[i].family == AF_INET) {
                dev = n->routes[i].dev;
                break;
            }
        if (dev && dev[0] && !network_managed_by(n, dev))
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
    const char *argv[48];
    size_t k = 0;
    argv[k++] = n->ip_cmd;
    for (size_t i = 0; args[i] && k < 47; i++)
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


/* `ip [-6] route replace|del default ...` with every attribute the route had. */
static int network_route_replace(network *n, healer_result *r, const network_route *k, int del)
{
    const char *a[40];
    char buf[512];
    network_route_args(k, del, a, 40, buf, sizeof buf);
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
    /* Our own down/up is not a drop of the link (flap detection). */
    n->own_bounce_ifindex = l->ifindex;
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
    n->own_bounce_ifindex = 0;
    /* An interface going down takes its routes with it: put the known default routes
     * through it back (in dry-run: say we would). */
    for (int fi = 0; fi < 2 && (rc == HEALER_OK || rc == HEALER_DRY_RUN); fi++) {
        int family = fi ? AF_INET6 : AF_INET;
        const network_route *m[NETWORK_MAX_ROUTES];
        size_t k = 0;
        if (n->cfg_route.family == family) {
            if (!network_route_present(n, &n->cfg_route) || rc == HEALER_DRY_RUN)
                m[k++] = &n->cfg_route;
        } else {
            k = network_missing_routes(n, family, m, NETWORK_MAX_ROUTES);
            if (rc == HEALER_DRY_RUN)   /* nothing went down: say what would come back */
                for (size_t i = 0; i < n->n_good && k < NETWORK_MAX_ROUTES; i++)
                    if (n->good[i].family == family && network_route_present(n, &n->good[i]))
                        m[k++] = &n->good[i];
        }
        for (size_t i = 0; i < k; i++)
            if (strcmp(m[i]->dev, name) == 0)
                network_tally_rc(&t, network_route_replace(n, r, m[i], 0));
    }
    r->measurements[0] = (healer_measurement){"link_up",
                                              network_link_ok(network_link_by_name(n, name))};
    r->measurements[1] = (healer_measurement){"default_routes", (double)n->n_routes};
    r->n_measurements = 2;
    network_set_outcome(r, &t);
}

static void network_exec_routes(network *n, const healer_action *a, healer_result *r)
{
    const char *fam = network_param(a, "family");
    int family = fam && strcmp(fam, "6") == 0 ? AF_INET6 : AF_INET;
    network_nl_resync(n);
    network_routes_age(n);
    /* Exactly the routes that were lost, each with its attributes; copies, since good[] may be
     * re-sorted while the kernel's answers are read. */
    network_route want[NETWORK_MAX_ROUTES];
    size_t nw = 0;
    if (n->cfg_route.family == family) {
        if (!network_route_present(n, &n->cfg_route))
            want[nw++] = n->cfg_route;
    } else {
        const network_route *m[NETWORK_MAX_ROUTES];
        size_t k = network_missing_routes(n, family, m, NETWORK_MAX_ROUTES);
        for (size_t i = 0; i < k; i++)
            want[nw++] = *m[i];
    }
    if (!nw) {
        r->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(r->message, sizeof r->message, "no remembered %s default route is missing",
                 family == AF_INET ? "IPv4" : "IPv6");
        return;
    }
    long long lowest = -1;
    for (size_t i = 0; i < nw; i++) {
        long long m = want[i].metric < 0 ? 0 : want[i].metric;
        if (lowest < 0 || m < lowest)
            lowest = m;
    }
    network_tally t = {0, 0, 0};
    /* A default route nobody remembers as good, at a metric that would win over a restored one
     * (a wrong gateway), goes first. Remembered ones (a backup at a higher metric) stay. */
    network_route stale[NETWORK_MAX_ROUTES];
    size_t ns = 0;
    for (size_t i = 0; i < n->n_routes; i++) {
        const network_route *x = &n->routes[i];
        int known = n->cfg_route.family == family && network_route_present(n, &n->cfg_route) &&
                    strcmp(x->gw, n->cfg_route.gw) == 0 && strcmp(x->dev, n->cfg_route.dev) == 0;
        for (size_t j = 0; j < n->n_good && !known; j++)
            known = network_route_match(&n->good[j], x);
        if (x->family == family && x->dev[0] && !known && (x->metric < 0 ? 0 : x->metric) <= lowest)
            stale[ns++] = *x;
    }
    for (size_t i = 0; i < ns; i++)
        network_tally_rc(&t, network_route_replace(n, r, &stale[i], 1));
    int restored = 0;
    for (size_t i = 0; i < nw; i++) {
        int rc = network_route_replace(n, r, &want[i], 0);
        network_tally_rc(&t, rc);
        if (rc == HEALER_OK) {
            restored++;
            for (size_t j = 0; j < n->n_good; j++)
                if (network_route_match(&n->good[j], &want[i]))
                    n->good[j].restored_at = network_now();
        }
    }
    if (!restored)
        t.ok = 0;   /* removing the stale ones alone heals nothing */
    network_nl_resync(n);
    r->measurements[0] = (healer_measurement){"default_routes",
                                              (double)network_default_count(n, family)};
    r->measurements[1] = (healer_measurement){"routes_restored", (double)restored};
    r->measurements[2] = (healer_measurement){"stale_routes_removed", (double)ns};
    r->n_measurements = 3;
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

static int network_pred_routes(network *n, const void *arg)
{
    const network_route *k;
    return network_route_missing(n, *(const int *)arg, &k) == 0;
}

/* One look for verify, which the host calls again after recheck_after_s while the verdict is
 * not final: the worker never sleeps and this plugin's netlink events keep flowing.
 *   settling: the fix has not shown yet (until settle_seconds);
 *   window:   it shows; it must hold. Links and routes for verify_window_s (checked every
 *             0.25 s, and any drop of the link in between is a relapse even if it came back);
 *             DNS and TCP (twice) must pass again verify_recheck_s later.
 * Returns 1 healed, 0 not healed, 2 relapsed (healed, then broken again within the window). */
/* The verify window of this issue's heal: its own slot, so a link's and its route's heals
 * verifying at once do not restart each other's window (they did: neither ever ended). */
static network_vstate *network_vslot(network *n, uint64_t issue, double now)
{
    network_vstate *oldest = &n->vs[0];
    for (size_t i = 0; i < NETWORK_MAX_VERIFY; i++) {
        if (n->vs[i].busy && n->vs[i].issue == issue)
            return &n->vs[i];
        /* a free slot (used 0) is the oldest of all */
        if (!n->vs[i].busy)
            n->vs[i].used = 0;
        if (n->vs[i].used < oldest->used)
            oldest = &n->vs[i];
    }
    memset(oldest, 0, sizeof *oldest);
    oldest->busy = 1;
    oldest->issue = issue;
    oldest->until = now + n->settle_seconds;
    return oldest;
}

static int network_look(network *n, const healer_issue *is, int (*pred)(network *, const void *),
                        const void *arg, const network_link *watch, int twice,
                        healer_verdict *v, int *settling, double *ok_since)
{
    double now = network_mono();
    network_vstate *s = network_vslot(n, is->id, now);
    if (!(s->until > 0)) {
        /* The previous heal of this issue ended: a new window. */
        memset(s, 0, sizeof *s);
        s->busy = 1;
        s->issue = is->id;
        s->until = now + n->settle_seconds;
    }
    s->used = now;
    network_nl_resync(n);
    int ok = pred(n, arg);
    *settling = 0;
    *ok_since = s->ok_since;
    if (s->ok_since > 0) {
        if (!ok || (watch && watch->drop_total != s->drops)) {
            s->until = 0;
            return 2;
        }
        s->oks++;
        if (twice || now - s->ok_since >= n->verify_window_s) {
            s->until = 0;
            return 1;
        }
        double left = s->ok_since + n->verify_window_s - now;
        v->recheck_after_s = left < 0.25 ? left + 0.01 : 0.25;
        *settling = 1;
        return 0;
    }
    if (!ok) {
        if (now < s->until) {
            v->recheck_after_s = 0.1;
            *settling = 1;
            return 0;
        }
        s->until = 0;
        return 0;
    }
    s->ok_since = now;
    s->oks = 1;
    s->drops = watch ? watch->drop_total : 0;
    if (!twice && !(n->verify_window_s > 0)) {
        s->until = 0;
        return 1;
    }
    v->recheck_after_s = twice ? n->verify_recheck_s
                       : n->verify_window_s < 0.25 ? n->verify_window_s : 0.25;
    *settling = 1;
    return 0;
}

static void network_relapse_msg(healer_verdict *v, int res, double ok_since, const char *what)
{
    if (res != 2)
        return;
    size_t l = strlen(v->message);
    snprintf(v->message + l, sizeof v->message - l, "; relapsed %.1f s after %s (within the "
             "verify window): not healed", network_mono() - ok_since, what);
}

int network_verify(void *state, const healer_issue *issue, const healer_action *action,
                   healer_verdict *v)
{
    network *n = state;
    (void)action;
    const char *t = issue->target ? issue->target : "";
    size_t k = 0;
    int settling = 0, res = 0;
    double since = 0;
    if (strcmp(issue->type, NETWORK_DOWN) == 0) {
        network_link *w = network_link_by_name(n, t);
        res = network_look(n, issue, network_pred_link_ok, t, w, 0, v, &settling, &since);
        if (settling)
            return HEALER_OK;
        v->healed = res == 1;
        network_link *l = network_link_by_name(n, t);
        v->measurements[k++] = (healer_measurement){"link_admin_up", l && (l->flags & IFF_UP)};
        v->measurements[k++] = (healer_measurement){"link_carrier", l && (l->flags & IFF_RUNNING)};
        v->measurements[k++] = (healer_measurement){"verify_window_s", n->verify_window_s};
        v->measurements[k++] = (healer_measurement){"link_drops_in_window",
                                                    (double)network_flap_recent(n, l)};
        snprintf(v->message, sizeof v->message, "%s is %s", t,
                 v->healed ? "up with carrier" : !l ? "missing"
                 : network_pred_link_admin_up(n, t) ? "up without carrier" : "down");
        if (v->healed)
            snprintf(v->message + strlen(v->message), sizeof v->message - strlen(v->message),
                     " and stayed so for %g s", n->verify_window_s);
        network_relapse_msg(v, res, since, "coming up");
    } else if (strcmp(issue->type, NETWORK_ROUTE) == 0) {
        int family = strcmp(t, "default6") == 0 ? AF_INET6 : AF_INET;
        res = network_look(n, issue, network_pred_routes, &family, NULL, 0, v, &settling, &since);
        if (settling)
            return HEALER_OK;
        v->healed = res == 1;
        const network_route *kr;
        v->measurements[k++] = (healer_measurement){"default_routes",
                                                    (double)network_default_count(n, family)};
        v->measurements[k++] = (healer_measurement){"default_routes_missing",
                                                    (double)network_route_missing(n, family, &kr)};
        snprintf(v->message, sizeof v->message, "%s default route(s) %s",
                 family == AF_INET ? "IPv4" : "IPv6",
                 v->healed ? "present, and stayed for the verify window" : "still missing");
        network_relapse_msg(v, res, since, "the restore");
    } else if (strcmp(issue->type, NETWORK_DNS) == 0) {
        res = network_look(n, issue, network_pred_dns, NULL, NULL, 1, v, &settling, &since);
        if (settling)
            return HEALER_OK;
        v->healed = res == 1;
        v->measurements[k++] = (healer_measurement){"dns_names_failed", n->dns_failed_names};
        v->measurements[k++] = (healer_measurement){"dns_latency_ms", n->dns_latency_max * 1000};
        snprintf(v->message, sizeof v->message, "%d of %zu name(s) resolve%s", n->dns_ok_names,
                 n->n_dns_names, v->healed ? " (twice, verify_recheck_s apart)" : "");
        network_relapse_msg(v, res, since, "the first answer");
    } else if (strcmp(issue->type, NETWORK_CONN) == 0) {
        res = network_look(n, issue, network_pred_tcp, NULL, NULL, 1, v, &settling, &since);
        if (settling)
            return HEALER_OK;
        v->healed = res == 1;
        snprintf(v->message, sizeof v->message, "%d of %zu TCP target(s) reachable%s", n->tcp_ok,
                 n->n_targets, v->healed ? " (twice, verify_recheck_s apart)" : "");
        network_relapse_msg(v, res, since, "the first connect");
    } else {
        snprintf(v->message, sizeof v->message, "not a network issue");
        return HEALER_OK;
    }
    /* Not healed: publish again right after this verdict, so the engine re-decides now and not
     * at the next detect() (the verdict reaches it first: one channel, in order). */
    if (!v->healed)
        network_repub_arm(n, 0.05);
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
