/* network.c — the network plugin: issue types network_down, route_missing, dns_failure,
 * connectivity_lost (and the degraded ones); the descriptor, config, init and detection from
 * rtnetlink events (network_nl.c) and probes (network_probe.c, network_loss.c); plan, execute
 * and verify are in network_act.c. */
#include "network.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const network_issue_types[] = {NETWORK_DOWN, NETWORK_ROUTE, NETWORK_DNS,
                                                  NETWORK_CONN, NETWORK_SLOW, NETWORK_FLAP,
                                                  NETWORK_LOSSY, NULL};

static const healer_config_key network_config[] = {
    {"interfaces", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "interfaces whose state raises network_down; empty = physical interfaces seen up and "
     "every interface that carried a default route"},
    {"dns_names", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "names that must resolve (A record); empty = no DNS probe"},
    {"resolvers", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "resolvers to ask (IP or IP:port); empty = the nameservers of resolv_conf"},
    {"resolv_conf", HEALER_CFG_STRING, "/etc/resolv.conf", 0, 0,
     "where the resolvers are read from when resolvers is empty"},
    {"dns_timeout", HEALER_CFG_DOUBLE, "2", 0.05, 30, "seconds a DNS probe waits for an answer"},
    {"tcp_targets", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "IP:port (or [IPv6]:port) to connect to; empty = no connectivity probe"},
    {"tcp_timeout", HEALER_CFG_DOUBLE, "2", 0.05, 60, "seconds a TCP connect may take"},
    {"tcp_min_failed", HEALER_CFG_INT, "0", 0, 1000,
     "connectivity_lost when at least this many targets fail; 0 = all of them"},
    {"tcp_refused_is_reachable", HEALER_CFG_BOOL, "true", 0, 0,
     "a refused connection (RST) proves the path works: count it as reachable"},
    {"default_gateway", HEALER_CFG_STRING, NULL, 0, 0,
     "IPv4 default gateway to restore; empty = the last-known-good default route"},
    {"default_interface", HEALER_CFG_STRING, NULL, 0, 0,
     "interface of default_gateway (required with it)"},
    {"default_metric", HEALER_CFG_INT, "-1", -1, 4294967295.0,
     "metric of the restored default route; -1 = none"},
    {"ipv6_default_route", HEALER_CFG_BOOL, "false", 0, 0,
     "also raise route_missing when the IPv6 default route is gone"},
    {"network_service", HEALER_CFG_STRING, "systemd-networkd.service", 0, 0,
     "unit the service plugin restarts as the last step; empty = never"},
    {"service_timeout", HEALER_CFG_DOUBLE, "60", 1, 600,
     "seconds to wait for the service plugin's answer"},
    {"dns_caches", HEALER_CFG_STRING_LIST, "resolved,nscd,dnsmasq", 0, 0,
     "caches flush_dns_cache may flush, when present: resolved, nscd, dnsmasq"},
    {"dnsmasq_pid_files", HEALER_CFG_STRING_LIST, "/run/dnsmasq/dnsmasq.pid", 0, 0,
     "pid files of the dnsmasq instances that may be sent SIGHUP"},
    {"settle_seconds", HEALER_CFG_DOUBLE, "5", 0, 120,
     "how long verify (and an interface restart) waits for the probe to pass"},
    {"ip_command", HEALER_CFG_STRING, "ip", 0, 0, "iproute2's ip (absolute path or on PATH)"},
    {"dns_slow_ms", HEALER_CFG_INT, "1000", 1, 60000,
     "a name answered only slower than this raises dns_slow (degraded, never healed like a dead "
     "resolver); must be below dns_timeout"},
    {"verify_window_s", HEALER_CFG_DOUBLE, "10", 0, 600,
     "a healed link must stay up (no drop) and a restored route present this long"},
    {"verify_recheck_s", HEALER_CFG_DOUBLE, "2", 0.1, 60,
     "DNS and TCP must answer twice, this long apart, after a fix"},
    {"link_flap_count", HEALER_CFG_INT, "3", 0, 1000,
     "drops within link_flap_window_s that make a link flapping (no heals, a person); 0 = off"},
    {"link_flap_window_s", HEALER_CFG_DOUBLE, "120", 1, 86400,
     "window of link_flap_count; a flapping link clears after this long without a drop"},
    {"route_restore_window_s", HEALER_CFG_DOUBLE, "300", 0, 604800,
     "a remembered default route is restored only within this long after it went missing"},
    {"loss_window", HEALER_CFG_INT, "20", 2, NETWORK_LOSS_MAX,
     "TCP probe rounds per target over which loss is measured"},
    {"loss_degraded_percent", HEALER_CFG_INT, "20", 1, 100,
     "a target failing at least this share of the window's rounds, while connectivity is not "
     "lost, raises connectivity_degraded (no automatic action)"},
    {"loss_clear_percent", HEALER_CFG_INT, "10", 1, 99,
     "connectivity_degraded closes when every target's loss is below this; must be below "
     "loss_degraded_percent"},
    {"loss_lost_rounds", HEALER_CFG_INT, "3", 1, 1000,
     "consecutive lost rounds (tcp_min_failed targets failing) that make connectivity_lost"},
    {"managed_links", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "links another manager owns: issues only, healerd never changes them"},
    {"unmanaged_links", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "links healerd may change even when systemd-networkd or NetworkManager state names them"},
    {"networkd_links_dir", HEALER_CFG_STRING, "/run/systemd/netif/links", 0, 0,
     "systemd-networkd's per-link state (IFINDEX files, ADMIN_STATE)"},
    {"nm_devices_dir", HEALER_CFG_STRING, "/run/NetworkManager/devices", 0, 0,
     "NetworkManager's per-device state (IFINDEX files, managed=)"},
    {NULL, 0, NULL, 0, 0, NULL}
};

/* ---- what is watched, what is known good ----------------------------------------------- */

static int network_configured(const network *n, const char *name)
{
    for (size_t i = 0; i < n->n_ifaces; i++)
        if (strcmp(n->ifaces[i], name) == 0)
            return 1;
    return 0;
}

static int network_watched(const network *n, const network_link *l)
{
    if (n->n_ifaces)
        return network_configured(n, l->name);
    if (l->flags & IFF_LOOPBACK)
        return 0;
    if (l->physical && l->ever_up)
        return 1;
    for (size_t i = 0; i < n->n_good; i++)
        if (strcmp(n->good[i].dev, l->name) == 0)
            return 1;
    for (size_t i = 0; i < n->n_routes; i++)
        if (n->routes[i].oif == l->ifindex)
            return 1;
    return 0;
}

/* The default route to restore for a family: the configured one, else the last-known-good. */
const network_route *network_known_route(const network *n, int family)
{
    if (n->cfg_route.family == family)
        return &n->cfg_route;
    for (size_t i = 0; i < n->n_good; i++)
        if (n->good[i].family == family)
            return &n->good[i];
    return NULL;
}

/* 1 when the default routes of the family now present include the known one. */
int network_route_present(const network *n, const network_route *k)
{
    for (size_t i = 0; i < n->n_routes; i++) {
        const network_route *r = &n->routes[i];
        if (r->family == k->family && strcmp(r->gw, k->gw) == 0 && strcmp(r->dev, k->dev) == 0 &&
            (k == &n->cfg_route || r->metric == k->metric))
            return 1;
    }
    return 0;
}

/* Some default route of the family that may be restored is missing: the configured one, or
 * a remembered one within route_restore_window_s (*known: the first). */
size_t network_route_missing(network *n, int family, const network_route **known)
{
    *known = NULL;
    if (n->cfg_route.family == family) {
        if (network_route_present(n, &n->cfg_route))
            return 0;
        *known = &n->cfg_route;
        return 1;
    }
    const network_route *m[NETWORK_MAX_ROUTES];
    size_t k = network_missing_routes(n, family, m, NETWORK_MAX_ROUTES);
    if (k)
        *known = m[0];
    return k;
}

/* A link or the default route is broken: DNS and TCP failures follow from it and are not
 * raised as issues of their own (the lower issue's heal restores them). */
static int network_lower_broken(network *n)
{
    for (size_t i = 0; i < n->n_ifaces; i++)
        if (!network_link_ok(network_link_by_name(n, n->ifaces[i])))
            return 1;
    for (size_t i = 0; i < n->n_links; i++)
        if (network_watched(n, &n->links[i]) && !network_link_ok(&n->links[i]))
            return 1;
    const network_route *k;
    return network_route_missing(n, AF_INET, &k);
}

/* ---- publishing --------------------------------------------------------------------------- */

static void network_publish_down(network *n, const char *name, const network_link *l)
{
    char summary[HEALER_MSG_MAX], comp[HEALER_TARGET_MAX];
    const char *why = !l ? "is missing"
                    : !(l->flags & IFF_UP) ? "is administratively down"
                    : "has no carrier (lower layer down)";
    int carries = 0;
    for (size_t i = 0; i < n->n_good; i++)
        if (strcmp(n->good[i].dev, name) == 0)
            carries = 1;
    if (n->cfg_route.family && strcmp(n->cfg_route.dev, name) == 0)
        carries = 1;
    const char *mgr = network_managed_by(n, name);
    char deferred[160] = "";
    if (mgr)
        snprintf(deferred, sizeof deferred, "; managed by %s: healerd defers to it and changes "
                 "nothing", mgr);
    snprintf(summary, sizeof summary, "interface %s %s%s%s", name, why,
             carries ? "; it carries the default route" : "", deferred);
    snprintf(comp, sizeof comp, "interface:%s", name);
    const char *comps[] = {comp};
    healer_measurement ms[] = {
        {"link_present", l ? 1 : 0},
        {"link_admin_up", l && (l->flags & IFF_UP) ? 1 : 0},
        {"link_carrier", l && (l->flags & IFF_RUNNING) ? 1 : 0},
        {"link_addresses", l ? (double)network_link_addr_count(n, l->ifindex) : 0},
        {"link_drops_in_window", (double)network_flap_recent(n, l)},
    };
    healer_issue is = {
        .type = NETWORK_DOWN,
        .severity = carries ? HEALER_SEV_CRITICAL : HEALER_SEV_HIGH,
        .target = name,
        .summary = summary,
        .measurements = ms,
        .n_measurements = sizeof ms / sizeof ms[0],
        .components = comps,
        .n_components = 1,
    };
    int rc = n->host->publish_issue(n->ctx, &is);
    if (rc < 0)
        n->host->log(n->ctx, HEALER_LOG_WARN, "publish %s %s: %s", NETWORK_DOWN, name,
                     healer_rc_str(rc));
}

/* Remembered-good default routes of the family that still carry traffic. The kernel sends
 * everything through the present route of the lowest metric: when that one is not remembered
 * good (a wrong gateway took the primary's slot), a good backup behind it carries nothing, and
 * neither does any route when every TCP target failed in the last probe round. Counted as 0
 * then, so the loss is as grave as having no route at all (critical for IPv4): a route that
 * carries no traffic must not make it look like a lost backup. */
size_t network_routes_carrying(const network *n, int family)
{
    const network_route *best = NULL;
    for (size_t i = 0; i < n->n_routes; i++) {
        const network_route *r = &n->routes[i];
        long long m = r->metric < 0 ? 0 : r->metric;
        long long bm = best && best->metric > 0 ? best->metric : 0;
        if (r->family == family && (!best || m < bm))
            best = r;
    }
    if (!best)
        return 0;
    int best_good = 0;
    for (size_t i = 0; i < n->n_good && !best_good; i++)
        best_good = network_route_match(&n->good[i], best);
    if (!best_good)
        return 0;
    if (family == AF_INET && n->n_targets && n->tcp_probed && n->tcp_ok == 0)
        return 0;
    size_t left = 0;
    for (size_t i = 0; i < n->n_good; i++)
        left += n->good[i].family == family && network_route_present(n, &n->good[i]);
    return left;
}

static void network_publish_route(network *n, int family, const network_route *k, size_t missing)
{
    char summary[HEALER_MSG_MAX], comp[HEALER_TARGET_MAX], deferred[160] = "", metric[32] = "";
    size_t left = network_routes_carrying(n, family);
    const char *mgr = network_managed_by(n, k->dev);
    if (mgr)
        snprintf(deferred, sizeof deferred, "; %s is managed by %s: healerd defers to it and "
                 "changes nothing", k->dev, mgr);
    if (k->metric >= 0)
        snprintf(metric, sizeof metric, " metric %lld", k->metric);
    snprintf(summary, sizeof summary, "%zu %s default route(s) missing of those seen in the last "
             "%g s (%s%s dev %s%s)%s%s", missing, family == AF_INET ? "IPv4" : "IPv6",
             n->route_window_s, k->gw[0] ? "via " : "", k->gw, k->dev, metric,
             left ? "; another default route still carries traffic" : "; none left", deferred);
    snprintf(comp, sizeof comp, "interface:%s", k->dev);
    const char *comps[] = {comp};
    healer_measurement ms[] = {
        {"default_routes", (double)left},
        {"default_routes_missing", (double)missing},
        {"known_good_routes", (double)n->n_good},
        {"managed_elsewhere", mgr ? 1 : 0},
    };
    healer_issue is = {
        .type = NETWORK_ROUTE,
        /* No IPv4 default route cuts the host off: as grave as the link itself. A lost backup
         * (another default route still there) is not. */
        .severity = left ? HEALER_SEV_MEDIUM
                  : family == AF_INET ? HEALER_SEV_CRITICAL : HEALER_SEV_HIGH,
        .target = family == AF_INET ? "default" : "default6",
        .summary = summary,
        .measurements = ms,
        .n_measurements = sizeof ms / sizeof ms[0],
        .components = comps,
        .n_components = 1,
    };
    int rc = n->host->publish_issue(n->ctx, &is);
    if (rc < 0)
        n->host->log(n->ctx, HEALER_LOG_WARN, "publish %s: %s", NETWORK_ROUTE,
                     healer_rc_str(rc));
}

static void network_publish_flap(network *n, const network_link *l)
{
    char summary[HEALER_MSG_MAX], comp[HEALER_TARGET_MAX];
    size_t drops = network_flap_recent(n, l);
    snprintf(summary, sizeof summary, "interface %s dropped %zu times within %g s (now %s): "
             "flapping; not healed by restarts (cable, port, driver or peer?): a person must "
             "look", l->name, drops, n->flap_window_s, network_link_ok(l) ? "up" : "down");
    snprintf(comp, sizeof comp, "interface:%s", l->name);
    const char *comps[] = {comp};
    healer_measurement ms[] = {
        {"link_drops_in_window", (double)drops},
        {"link_flap_window_s", n->flap_window_s},
        {"link_drops_total", (double)l->drop_total},
        {"link_up", network_link_ok(l) ? 1 : 0},
    };
    healer_issue is = {
        .type = NETWORK_FLAP,
        .severity = HEALER_SEV_HIGH,
        .target = l->name,
        .summary = summary,
        .measurements = ms,
        .n_measurements = sizeof ms / sizeof ms[0],
        .components = comps,
        .n_components = 1,
    };
    int rc = n->host->publish_issue(n->ctx, &is);
    if (rc < 0)
        n->host->log(n->ctx, HEALER_LOG_WARN, "publish %s %s: %s", NETWORK_FLAP, l->name,
                     healer_rc_str(rc));
}

static int network_in(const char (*v)[IF_NAMESIZE], size_t nv, const char *name)
{
    for (size_t i = 0; i < nv; i++)
        if (strcmp(v[i], name) == 0)
            return 1;
    return 0;
}

/* One watched link (l may be NULL: a configured one that is missing). */
static void network_eval_link(network *n, const char *name, network_link *l, int from_detect,
                              char (*now_down)[IF_NAMESIZE], size_t *n_now,
                              char (*now_flap)[IF_NAMESIZE], size_t *n_flap)
{
    if (l && network_flapping(n, l)) {
        /* Flapping: one issue for a person, no heal per drop. */
        if (*n_flap < NETWORK_MAX_LINKS)
            snprintf(now_flap[(*n_flap)++], IF_NAMESIZE, "%s", name);
        if (from_detect || !network_in(n->flap_open, n->n_flap_open, name)) {
            if (!network_in(n->flap_open, n->n_flap_open, name))
                n->host->log(n->ctx, HEALER_LOG_WARN, "interface %s is flapping (%zu drops "
                             "within %g s): no more heals until it is quiet that long", name,
                             network_flap_recent(n, l), n->flap_window_s);
            network_publish_flap(n, l);
        }
        return;
    }
    if (network_link_ok(l) || *n_now >= NETWORK_MAX_LINKS)
        return;
    snprintf(now_down[(*n_now)++], IF_NAMESIZE, "%s", name);
    if (from_detect || !network_in(n->down_open, n->n_down_open, name))
        network_publish_down(n, name, l);
}

void network_evaluate(network *n, int from_detect)
{
    /* Interfaces. */
    char now_down[NETWORK_MAX_LINKS][IF_NAMESIZE], now_flap[NETWORK_MAX_LINKS][IF_NAMESIZE];
    size_t n_now = 0, n_flap = 0;
    if (n->n_ifaces) {
        for (size_t i = 0; i < n->n_ifaces; i++)
            network_eval_link(n, n->ifaces[i], network_link_by_name(n, n->ifaces[i]),
                              from_detect, now_down, &n_now, now_flap, &n_flap);
    } else {
        for (size_t i = 0; i < n->n_links; i++)
            if (network_watched(n, &n->links[i]))
                network_eval_link(n, n->links[i].name, &n->links[i], from_detect, now_down,
                                  &n_now, now_flap, &n_flap);
    }
    for (size_t i = 0; i < n->n_down_open; i++) {
        if (network_in(now_down, n_now, n->down_open[i]))
            continue;
        n->host->resolve_issue(n->ctx, NETWORK_DOWN, n->down_open[i]);
        if (network_in(now_flap, n_flap, n->down_open[i]))
            n->host->log(n->ctx, HEALER_LOG_INFO, "interface %s: network_down closed, "
                         "link_flapping stands for it", n->down_open[i]);
        else
            n->host->log(n->ctx, HEALER_LOG_INFO, "interface %s is up again", n->down_open[i]);
    }
    memcpy(n->down_open, now_down, n_now * sizeof now_down[0]);
    n->n_down_open = n_now;
    for (size_t i = 0; i < n->n_flap_open; i++) {
        if (network_in(now_flap, n_flap, n->flap_open[i]))
            continue;
        n->host->resolve_issue(n->ctx, NETWORK_FLAP, n->flap_open[i]);
        n->host->log(n->ctx, HEALER_LOG_INFO, "interface %s: no drop for %g s, no longer "
                     "flapping", n->flap_open[i], n->flap_window_s);
    }
    memcpy(n->flap_open, now_flap, n_flap * sizeof now_flap[0]);
    n->n_flap_open = n_flap;

    /* Default routes. Without probes, whatever default route exists is good; with them, routes
     * are confirmed by a passing probe round (detect), and missing ones age here either way. */
    if (!n->n_dns_names && !n->n_targets)
        network_remember_good(n);
    else
        network_routes_age(n);
    for (int fi = 0; fi < 2; fi++) {
        int family = fi ? AF_INET6 : AF_INET;
        if (family == AF_INET6 && !n->ipv6_default)
            continue;
        const network_route *k;
        size_t missing = network_route_missing(n, family, &k);
        if (missing) {
            network_link *l = network_link_by_name(n, k->dev);
            int covered = l && !network_link_ok(l) && network_watched(n, l);
            if (covered && !n->route_open[fi])
                continue;   /* network_down is the issue; its heal brings the route back */
            if (from_detect || !n->route_open[fi])
                network_publish_route(n, family, k, missing);
            n->route_open[fi] = 1;
        } else if (n->route_open[fi]) {
            n->host->resolve_issue(n->ctx, NETWORK_ROUTE, fi ? "default6" : "default");
            n->route_open[fi] = 0;
            n->host->log(n->ctx, HEALER_LOG_INFO, "%s default route(s) back or no longer "
                         "expected", fi ? "IPv6" : "IPv4");
        }
    }
}

/* ---- init, destroy ------------------------------------------------------------------------ */

static char **network_copy_list(network *n, const char *key, size_t *count)
{
    size_t len = n->host->config_list_len(n->ctx, key);
    *count = 0;
    if (!len)
        return NULL;
    char **v = calloc(len, sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        const char *s = n->host->config_list_item(n->ctx, key, i);
        v[i] = strdup(s ? s : "");
        if (!v[i]) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return NULL;
        }
    }
    *count = len;
    return v;
}

static void network_free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void network_destroy(void *state)
{
    network *n = state;
    if (!n)
        return;
    if (n->ev_fd >= 0)
        n->host->unwatch_fd(n->ctx, n->ev_fd);
    if (n->repub_fd >= 0) {
        n->host->unwatch_fd(n->ctx, n->repub_fd);
        close(n->repub_fd);
    }
    network_nl_close(n);
    network_free_list(n->managed_links, n->n_managed_links);
    network_free_list(n->unmanaged_links, n->n_unmanaged_links);
    network_free_list(n->ifaces, n->n_ifaces);
    network_free_list(n->dns_names, n->n_dns_names);
    network_free_list(n->dnsmasq_pid_files, n->n_dnsmasq_pid_files);
    free(n);
}

static int network_cache_enabled(network *n, const char *name)
{
    size_t len = n->host->config_list_len(n->ctx, "dns_caches");
    for (size_t i = 0; i < len; i++) {
        const char *s = n->host->config_list_item(n->ctx, "dns_caches", i);
        if (s && strcmp(s, name) == 0)
            return 1;
    }
    return 0;
}

static int network_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    network *n = calloc(1, sizeof *n);
    if (!n)
        return HEALER_E_NOMEM;
    n->host = host;
    n->ctx = ctx;
    n->ev_fd = n->dump_fd = n->repub_fd = -1;
    const char *bad = NULL;
    n->managed_links = network_copy_list(n, "managed_links", &n->n_managed_links);
    n->unmanaged_links = network_copy_list(n, "unmanaged_links", &n->n_unmanaged_links);
    n->ifaces = network_copy_list(n, "interfaces", &n->n_ifaces);
    n->dns_names = network_copy_list(n, "dns_names", &n->n_dns_names);
    n->dnsmasq_pid_files = network_copy_list(n, "dnsmasq_pid_files", &n->n_dnsmasq_pid_files);
    for (size_t i = 0; i < n->n_ifaces && !bad; i++)
        if (!n->ifaces[i][0] || strlen(n->ifaces[i]) >= IF_NAMESIZE)
            bad = "interfaces: each name must be 1 to 15 characters";
    for (size_t i = 0; i < n->n_dns_names && !bad; i++) {
        unsigned char q[300];
        if (network_dns_build_query(n->dns_names[i], 1, q, sizeof q) < 0)
            bad = "dns_names: each must be a valid DNS name (labels of 1 to 63 characters)";
    }
    if (n->n_dns_names > NETWORK_MAX_PROBES / 2 && !bad)
        bad = "dns_names: at most 16 names";
    size_t nr = host->config_list_len(ctx, "resolvers");
    for (size_t i = 0; i < nr && !bad; i++) {
        if (i >= NETWORK_MAX_RESOLVERS)
            bad = "resolvers: at most 8";
        else if (network_parse_endpoint(host->config_list_item(ctx, "resolvers", i), 53,
                                        &n->resolvers_cfg[i]) < 0)
            bad = "resolvers: each must be an IP address, IP:port or [IPv6]:port";
        else
            n->n_resolvers_cfg++;
    }
    size_t nt = host->config_list_len(ctx, "tcp_targets");
    for (size_t i = 0; i < nt && !bad; i++) {
        network_endpoint *e = &n->targets[n->n_targets];
        const char *t = host->config_list_item(ctx, "tcp_targets", i);
        if (i >= NETWORK_MAX_PROBES / 2)
            bad = "tcp_targets: at most 16";
        else if (network_parse_endpoint(t, 0, e) < 0 || !strchr(t, ':'))
            bad = "tcp_targets: each must be IP:port or [IPv6]:port (no names: a probe must "
                  "not depend on DNS)";
        else
            n->n_targets++;
    }
    n->resolv_conf = host->config_string(ctx, "resolv_conf");
    n->dns_timeout = host->config_double(ctx, "dns_timeout");
    n->tcp_timeout = host->config_double(ctx, "tcp_timeout");
    n->tcp_min_failed = host->config_int(ctx, "tcp_min_failed");
    n->refused_is_reachable = host->config_bool(ctx, "tcp_refused_is_reachable");
    n->ipv6_default = host->config_bool(ctx, "ipv6_default_route");
    n->network_service = host->config_string(ctx, "network_service");
    n->settle_seconds = host->config_double(ctx, "settle_seconds");
    n->ip_cmd = host->config_string(ctx, "ip_command");
    n->dns_slow_s = (double)host->config_int(ctx, "dns_slow_ms") / 1000.0;
    n->verify_window_s = host->config_double(ctx, "verify_window_s");
    n->verify_recheck_s = host->config_double(ctx, "verify_recheck_s");
    n->flap_count = host->config_int(ctx, "link_flap_count");
    n->flap_window_s = host->config_double(ctx, "link_flap_window_s");
    n->route_window_s = host->config_double(ctx, "route_restore_window_s");
    n->networkd_dir = host->config_string(ctx, "networkd_links_dir");
    n->nm_dir = host->config_string(ctx, "nm_devices_dir");
    n->loss_window = (unsigned)host->config_int(ctx, "loss_window");
    n->loss_degraded_pct = (unsigned)host->config_int(ctx, "loss_degraded_percent");
    n->loss_clear_pct = (unsigned)host->config_int(ctx, "loss_clear_percent");
    n->loss_lost_rounds = (unsigned)host->config_int(ctx, "loss_lost_rounds");
    char loss_bad[160];
    if (n->loss_clear_pct >= n->loss_degraded_pct && !bad) {
        snprintf(loss_bad, sizeof loss_bad, "loss_clear_percent (%u) must be below "
                 "loss_degraded_percent (%u): it is where connectivity_degraded closes",
                 n->loss_clear_pct, n->loss_degraded_pct);
        bad = loss_bad;
    }
    if (n->dns_names && n->dns_slow_s >= n->dns_timeout) {
        /* Not a refusal: older configs with a short dns_timeout keep working, and the log says
         * which two values to change. */
        host->log(ctx, HEALER_LOG_WARN, "plugins.network.dns_slow_ms (%.0f) is not below "
                  "dns_timeout (%g s): dns_slow is never raised; lower dns_slow_ms or raise "
                  "dns_timeout", n->dns_slow_s * 1000, n->dns_timeout);
        n->dns_slow_s = 0;
    }
    n->cache_resolved = network_cache_enabled(n, "resolved");
    n->cache_nscd = network_cache_enabled(n, "nscd");
    n->cache_dnsmasq = network_cache_enabled(n, "dnsmasq");
    const char *gw = host->config_string(ctx, "default_gateway");
    const char *dev = host->config_string(ctx, "default_interface");
    if (gw && gw[0] && !bad) {
        network_endpoint e;
        if (network_parse_endpoint(gw, 1, &e) < 0 || e.sa.ss_family != AF_INET)
            bad = "default_gateway: must be an IPv4 address";
        else if (!dev || !dev[0] || strlen(dev) >= IF_NAMESIZE)
            bad = "default_interface: required with default_gateway (1 to 15 characters)";
        else {
            n->cfg_route.family = AF_INET;
            snprintf(n->cfg_route.gw, sizeof n->cfg_route.gw, "%s", gw);
            snprintf(n->cfg_route.dev, sizeof n->cfg_route.dev, "%s", dev);
            n->cfg_route.metric = host->config_int(ctx, "default_metric");
        }
    }
    if (bad) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.network.%s", bad);
        network_destroy(n);
        return HEALER_E_INVAL;
    }
    if (network_nl_open(n) < 0) {
        host->log(ctx, HEALER_LOG_ERROR, "rtnetlink socket: %s", strerror(errno));
        network_destroy(n);
        return HEALER_E_IO;
    }
    /* The state at start: a dump, then events keep it current. */
    network_nl_resync(n);
    n->resyncs = 0;
    network_remember_good(n);   /* provisional: confirmed by the first passing probe round */
    int rc = host->watch_fd(ctx, n->ev_fd, POLLIN, network_nl_event_cb);
    if (rc < 0) {
        host->log(ctx, HEALER_LOG_ERROR, "watch rtnetlink socket: %s", healer_rc_str(rc));
        network_destroy(n);
        return rc;
    }
    if (network_repub_open(n) < 0 ||
        (rc = host->watch_fd(ctx, n->repub_fd, POLLIN, network_repub_cb)) < 0) {
        /* Without it a relapse waits for the next detect(): slower, still correct. */
        host->log(ctx, HEALER_LOG_WARN, "re-publish timer: %s", n->repub_fd < 0 ?
                  strerror(errno) : healer_rc_str(rc));
        if (n->repub_fd >= 0)
            close(n->repub_fd);
        n->repub_fd = -1;
    }
    host->log(ctx, HEALER_LOG_INFO, "%zu links, %zu default route(s); watching %s; %zu DNS "
              "name(s), %zu TCP target(s)", n->n_links, n->n_routes,
              n->n_ifaces ? "the configured interfaces" : "interfaces automatically",
              n->n_dns_names, n->n_targets);
    *state = n;
    return HEALER_OK;
}

/* ---- detect ------------------------------------------------------------------------------- */

static void network_health_metrics(network *n)
{
    const healer_host *h = n->host;
    for (size_t i = 0; i < n->n_links; i++) {
        network_link *l = &n->links[i];
        if (!network_watched(n, l))
            continue;
        char comp[IF_NAMESIZE + 16];
        snprintf(comp, sizeof comp, "link:%s", l->name);
        h->report_health(n->ctx, comp, network_link_ok(l) ? 100 : 0);
        healer_kv lab = {"interface", l->name};
        h->metric(n->ctx, HEALER_METRIC_GAUGE, "network_link_up",
                  "1 when a watched interface is up with carrier", &lab, 1,
                  network_link_ok(l) ? 1 : 0);
    }
    for (size_t i = 0; i < n->n_ifaces; i++)
        if (!network_link_by_name(n, n->ifaces[i])) {
            char comp[IF_NAMESIZE + 16];
            snprintf(comp, sizeof comp, "link:%s", n->ifaces[i]);
            h->report_health(n->ctx, comp, 0);
        }
    const network_route *k;
    h->report_health(n->ctx, "default_route", network_route_missing(n, AF_INET, &k) ? 0 : 100);
    h->metric(n->ctx, HEALER_METRIC_GAUGE, "network_default_routes",
              "Default routes in the main table (both families)", NULL, 0, (double)n->n_routes);
    if (n->n_dns_names && n->dns_probed) {
        h->report_health(n->ctx, "dns", 100.0 * n->dns_ok_names / (double)n->n_dns_names);
        h->metric(n->ctx, HEALER_METRIC_GAUGE, "network_dns_probe_seconds",
                  "Duration of the last DNS probe round", NULL, 0, n->dns_seconds);
    }
    if (n->n_targets && n->tcp_probed) {
        /* Over the loss window when it holds rounds (a lossy path reads as its loss, not as
         * 0 and 100 in turn), else the last round. */
        double sum = 0;
        for (size_t i = 0; i < n->n_targets && i < NETWORK_MAX_TARGETS; i++) {
            const network_loss *w = &n->loss[i];
            double lp = w->filled ? 100.0 * w->failed / w->filled : n->tcp_target_ok[i] ? 0 : 100;
            sum += 100 - lp;
            healer_kv lab = {"target", n->targets[i].text};
            h->metric(n->ctx, HEALER_METRIC_GAUGE, "network_tcp_loss_percent",
                      "Percent of the probe rounds in the loss window in which the TCP target failed",
                      &lab, 1, lp);
        }
        h->report_health(n->ctx, "connectivity", sum / (double)n->n_targets);
        h->metric(n->ctx, HEALER_METRIC_GAUGE, "network_tcp_probe_seconds",
                  "Duration of the last TCP probe round", NULL, 0, n->tcp_seconds);
    }
}

static void network_publish_probe(network *n, int dns)
{
    char summary[HEALER_MSG_MAX];
    const char *comps[4];
    size_t nc = 0;
    healer_measurement ms[3];
    if (dns) {
        snprintf(summary, sizeof summary, "%d of %zu name(s) do not resolve (%s%s) within %g s",
                 n->dns_failed_names, n->n_dns_names, n->dns_failing[0],
                 n->dns_failed_names > 1 ? ", ..." : "", n->dns_timeout);
        for (int i = 0; i < n->dns_failed_names && i < 4; i++)
            comps[nc++] = n->dns_failing[i];
        ms[0] = (healer_measurement){"dns_names_failed", n->dns_failed_names};
        ms[1] = (healer_measurement){"dns_names_ok", n->dns_ok_names};
        ms[2] = (healer_measurement){"dns_probe_seconds", n->dns_seconds};
    } else {
        snprintf(summary, sizeof summary, "%d of %zu TCP target(s) unreachable (%s%s) within %g s",
                 n->tcp_failed, n->n_targets, n->tcp_failing[0], n->tcp_failed > 1 ? ", ..." : "",
                 n->tcp_timeout);
        for (int i = 0; i < n->tcp_failed && i < 4; i++)
            comps[nc++] = n->tcp_failing[i];
        ms[0] = (healer_measurement){"tcp_targets_failed", n->tcp_failed};
        ms[1] = (healer_measurement){"tcp_targets_ok", n->tcp_ok};
        ms[2] = (healer_measurement){"tcp_probe_seconds", n->tcp_seconds};
    }
    healer_issue is = {
        .type = dns ? NETWORK_DNS : NETWORK_CONN,
        .severity = dns ? HEALER_SEV_MEDIUM : HEALER_SEV_HIGH,
        .target = dns ? "dns" : "connectivity",
        .summary = summary,
        .measurements = ms,
        .n_measurements = 3,
        .components = comps,
        .n_components = nc,
    };
    int rc = n->host->publish_issue(n->ctx, &is);
    if (rc < 0)
        n->host->log(n->ctx, HEALER_LOG_WARN, "publish %s: %s", is.type, healer_rc_str(rc));
}

static void network_publish_slow(network *n)
{
    char summary[HEALER_MSG_MAX];
    const char *comps[4];
    size_t nc = 0;
    snprintf(summary, sizeof summary, "%d of %zu name(s) resolve, but only after %.0f ms (%s%s; "
             "threshold dns_slow_ms %.0f ms, dead at dns_timeout %g s): degraded, not dead",
             n->dns_slow_names, n->n_dns_names, n->dns_latency_max * 1000, n->dns_slow[0],
             n->dns_slow_names > 1 ? ", ..." : "", n->dns_slow_s * 1000, n->dns_timeout);
    for (int i = 0; i < n->dns_slow_names && i < 4; i++)
        comps[nc++] = n->dns_slow[i];
    healer_measurement ms[] = {
        {"dns_latency_ms", n->dns_latency_max * 1000},
        {"dns_slow_ms", n->dns_slow_s * 1000},
        {"dns_names_slow", n->dns_slow_names},
        {"dns_names_ok", n->dns_ok_names},
    };
    healer_issue is = {
        .type = NETWORK_SLOW,
        .severity = HEALER_SEV_LOW,
        .target = "dns",
        .summary = summary,
        .measurements = ms,
        .n_measurements = sizeof ms / sizeof ms[0],
        .components = comps,
        .n_components = nc,
    };
    int rc = n->host->publish_issue(n->ctx, &is);
    if (rc < 0)
        n->host->log(n->ctx, HEALER_LOG_WARN, "publish %s: %s", is.type, healer_rc_str(rc));
}

static int network_routes_equal(const network_route *a, size_t na, const network_route *b,
                                size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) {
        int found = 0;
        for (size_t j = 0; j < nb && !found; j++)
            found = a[i].family == b[j].family && a[i].oif == b[j].oif &&
                    strcmp(a[i].gw, b[j].gw) == 0 && a[i].metric == b[j].metric;
        if (!found)
            return 0;
    }
    return 1;
}

static int network_detect(void *state)
{
    network *n = state;
    const healer_host *h = n->host;
    /* The consistency check: the dump must agree with what the events built. */
    int drift = network_nl_resync(n);
    if (drift == 1) {
        n->drifts++;
        h->log(n->ctx, HEALER_LOG_DEBUG, "rtnetlink dump disagreed with the event-built state "
               "(%llu time(s)); the dump wins", n->drifts);
    }
    h->metric(n->ctx, HEALER_METRIC_COUNTER, "network_netlink_drift_total",
              "Dumps that disagreed with the state built from rtnetlink events", NULL, 0,
              drift == 1 ? 1 : 0);
    network_evaluate(n, 1);

    if (n->n_dns_names || n->n_targets) {
        network_route before[NETWORK_MAX_ROUTES];
        size_t nb = n->n_routes;
        memcpy(before, n->routes, nb * sizeof before[0]);
        network_probe_run(n, 1, 1);
        int lower = network_lower_broken(n);
        if (n->n_dns_names) {
            if (!network_dns_healthy(n)) {
                if (n->dns_open || !lower) {
                    network_publish_probe(n, 1);
                    n->dns_open = 1;
                }
            } else if (n->dns_open) {
                h->resolve_issue(n->ctx, NETWORK_DNS, "dns");
                n->dns_open = 0;
                h->log(n->ctx, HEALER_LOG_INFO, "DNS resolves again");
            }
        }
        if (n->n_dns_names) {
            /* Degraded, not dead: its own issue with the latency, never the dead resolver's
             * cache flush (no action is planned for it). */
            if (network_dns_healthy(n) && n->dns_slow_names) {
                network_publish_slow(n);
                n->slow_open = 1;
            } else if (n->slow_open) {
                h->resolve_issue(n->ctx, NETWORK_SLOW, "dns");
                n->slow_open = 0;
                h->log(n->ctx, HEALER_LOG_INFO, "DNS answers within %.0f ms again",
                       n->dns_slow_s * 1000);
            }
        }
        if (n->n_targets) {
            /* Lost takes loss_lost_rounds consecutive lost rounds (more on a path known to be
             * lossy); fewer, or targets failing only some rounds, is degraded: its own issue,
             * never the dead path's plan (network_loss.c). */
            int was_lossy = n->lossy_open;
            int st = network_loss_round(n, lower);
            if (st == 2) {
                if (n->conn_open || !lower) {
                    network_publish_probe(n, 0);
                    n->conn_open = 1;
                }
            } else if (network_tcp_healthy(n) && n->conn_open) {
                h->resolve_issue(n->ctx, NETWORK_CONN, "connectivity");
                n->conn_open = 0;
                h->log(n->ctx, HEALER_LOG_INFO, "TCP targets reachable again");
            }
            if (st == 1) {
                if (!was_lossy)
                    h->log(n->ctx, HEALER_LOG_WARN, "TCP targets fail part of the time (worst "
                           "%.0f %% of %u rounds): connectivity_degraded, no action",
                           network_loss_worst(n, NULL), n->loss_window);
                network_publish_lossy(n);
            } else if (was_lossy) {
                h->resolve_issue(n->ctx, NETWORK_LOSSY, "connectivity");
                h->log(n->ctx, HEALER_LOG_INFO, "%s", st == 2 ? "connectivity_degraded "
                       "closed: connectivity_lost stands for it" : "TCP loss below "
                       "loss_clear_percent again");
            }
        }
        /* Every probe passed over these very routes: they are the last-known-good now. */
        if (network_dns_healthy(n) && (!n->n_targets || n->tcp_failed == 0) && !lower &&
            network_routes_equal(before, nb, n->routes, n->n_routes)) {
            network_remember_good(n);
            n->good_from_probe = 1;
        }
    }
    network_health_metrics(n);
    return HEALER_OK;
}

static const healer_plugin network_descriptor = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "network",
    .version = "1.0.0",
    .description = "links, default routes, DNS and TCP connectivity: rtnetlink events and "
                   "probes; heals by cache flush, interface restart, route reset",
    .issue_types = network_issue_types,
    .config = network_config,
    .interval = 0,
    .init = network_init,
    .destroy = network_destroy,
    .detect = network_detect,
    .plan = network_plan,
    .execute = network_execute,
    .verify = network_verify,
};

HEALER_PLUGIN(network_descriptor)
