/* network_intent.c — the network plugin's restraint: flap history per link (link_flapping),
 * which links another manager owns (systemd-networkd, NetworkManager, configuration), the memory
 * of default routes with every attribute and the window in which a lost one may come back, and
 * the timer that re-publishes at once after a relapse. Reads only; changes nothing. */
#include "network.h"

#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

double network_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- flapping ------------------------------------------------------------------------------ */

void network_flap_note(network *n, network_link *l)
{
    if (l->ifindex == n->own_bounce_ifindex)
        return;   /* restart_interface's own down/up is not the link failing */
    if (l->n_drops == NETWORK_FLAP_MAX) {
        memmove(l->drops, l->drops + 1, (NETWORK_FLAP_MAX - 1) * sizeof l->drops[0]);
        l->n_drops--;
    }
    l->drops[l->n_drops++] = network_now();
    l->drop_total++;
}

size_t network_flap_recent(const network *n, const network_link *l)
{
    if (!l)
        return 0;
    double since = network_now() - n->flap_window_s;
    size_t c = 0;
    for (size_t i = 0; i < l->n_drops; i++)
        if (l->drops[i] >= since)
            c++;
    return c;
}

int network_flapping(const network *n, const network_link *l)
{
    return n->flap_count > 0 && network_flap_recent(n, l) >= (size_t)n->flap_count;
}

/* ---- another manager's links --------------------------------------------------------------- */

static int network_in_list(char **v, size_t nv, const char *s)
{
    for (size_t i = 0; i < nv; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

/* The value of KEY= in a small state file, or "" (returns 0 when the file is unreadable). */
static int network_state_value(const char *path, const char *key, char *out, size_t len)
{
    FILE *f = fopen(path, "re");
    out[0] = '\0';
    if (!f)
        return 0;
    char line[256];
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == '=') {
            snprintf(out, len, "%s", line + kl + 1);
            out[strcspn(out, "\r\n")] = '\0';
            break;
        }
    }
    fclose(f);
    return 1;
}

const char *network_managed_by(network *n, const char *dev)
{
    if (!dev || !dev[0])
        return NULL;
    if (network_in_list(n->unmanaged_links, n->n_unmanaged_links, dev))
        return NULL;
    if (network_in_list(n->managed_links, n->n_managed_links, dev))
        return "configuration (plugins.network.managed_links)";
    network_link *l = network_link_by_name(n, dev);
    if (!l)
        return NULL;
    char path[512], v[64];
    /* systemd-networkd writes one file per link it knows; ADMIN_STATE=unmanaged means a link
     * that matched no .network file, which it leaves alone. */
    if (n->networkd_dir && n->networkd_dir[0]) {
        snprintf(path, sizeof path, "%s/%d", n->networkd_dir, l->ifindex);
        if (network_state_value(path, "ADMIN_STATE", v, sizeof v) && v[0] &&
            strcmp(v, "unmanaged") != 0)
            return "systemd-networkd";
    }
    /* NetworkManager keeps a file per device it has state for; managed=false opts out. */
    if (n->nm_dir && n->nm_dir[0]) {
        snprintf(path, sizeof path, "%s/%d", n->nm_dir, l->ifindex);
        if (network_state_value(path, "managed", v, sizeof v) && strcmp(v, "false") != 0)
            return "NetworkManager";
    }
    return NULL;
}

/* ---- remembered default routes ------------------------------------------------------------- */

int network_route_match(const network_route *a, const network_route *b)
{
    return a->family == b->family && strcmp(a->gw, b->gw) == 0 && strcmp(a->dev, b->dev) == 0 &&
           a->metric == b->metric;
}

static int network_route_now(const network *n, const network_route *g)
{
    for (size_t i = 0; i < n->n_routes; i++)
        if (network_route_match(&n->routes[i], g))
            return 1;
    return 0;
}

void network_routes_age(network *n)
{
    double now = network_now();
    for (size_t j = 0; j < n->n_good;) {
        network_route *g = &n->good[j];
        if (network_route_now(n, g)) {
            g->missing_since = 0;
            g->last_seen = now;
            j++;
            continue;
        }
        if (g->missing_since > 0) {
            j++;
            continue;
        }
        g->missing_since = now;
        network_link *l = network_link_by_name(n, g->dev);
        /* Deleted, not replaced: a route that took its slot (same metric) is a fault to
         * repair (a wrong gateway), not someone's intent. */
        int slot_taken = 0;
        for (size_t i = 0; i < n->n_routes; i++)
            slot_taken |= n->routes[i].family == g->family && n->routes[i].metric == g->metric;
        if (g->restored_at > 0 && now - g->restored_at <= n->route_window_s &&
            network_link_ok(l) && !slot_taken) {
            n->host->log(n->ctx, HEALER_LOG_WARN, "default route via %s dev %s deleted again "
                         "%.0f s after healerd restored it, its link up: taken as intended, no "
                         "longer restored", g->gw[0] ? g->gw : "(none)", g->dev,
                         now - g->restored_at);
            n->good[j] = n->good[--n->n_good];
            continue;
        }
        j++;
    }
}

void network_remember_good(network *n)
{
    double now = network_now();
    network_routes_age(n);
    /* Present routes: refreshed with what the kernel says now, or added. */
    for (size_t i = 0; i < n->n_routes; i++) {
        const network_route *r = &n->routes[i];
        if (!r->dev[0])
            continue;
        size_t j = 0;
        for (; j < n->n_good; j++)
            if (network_route_match(&n->good[j], r))
                break;
        if (j == n->n_good) {
            if (n->n_good >= NETWORK_MAX_ROUTES)
                continue;
            n->n_good++;
            n->good[j].restored_at = 0;
        }
        double restored_at = n->good[j].restored_at;
        n->good[j] = *r;
        n->good[j].restored_at = restored_at;
        n->good[j].last_seen = now;
        n->good[j].missing_since = 0;
    }
    /* Missing ones: kept for the window, unless a present remembered route holds their slot. */
    for (size_t j = 0; j < n->n_good;) {
        network_route *g = &n->good[j];
        int drop = 0;
        if (!network_route_now(n, g)) {
            for (size_t i = 0; i < n->n_routes && !drop; i++)
                drop = n->routes[i].family == g->family && n->routes[i].metric == g->metric &&
                       n->routes[i].dev[0] && !network_route_match(&n->routes[i], g);
            if (drop)
                n->host->log(n->ctx, HEALER_LOG_INFO, "default route via %s dev %s replaced by "
                             "another with the same metric: the new one is remembered",
                             g->gw[0] ? g->gw : "(none)", g->dev);
            else if (now - g->missing_since > n->route_window_s) {
                drop = 1;
                n->host->log(n->ctx, HEALER_LOG_INFO, "default route via %s dev %s has been "
                             "gone for more than route_restore_window_s (%g s): taken as "
                             "intended, no longer restored", g->gw[0] ? g->gw : "(none)", g->dev,
                             n->route_window_s);
            }
        }
        if (drop)
            n->good[j] = n->good[--n->n_good];
        else
            j++;
    }
}

size_t network_missing_routes(network *n, int family, const network_route **out, size_t max)
{
    size_t k = 0;
    double now = network_now();
    for (size_t j = 0; j < n->n_good && k < max; j++) {
        const network_route *g = &n->good[j];
        if (g->family != family || network_route_now(n, g))
            continue;
        if (g->missing_since > 0 && now - g->missing_since > n->route_window_s)
            continue;
        out[k++] = g;
    }
    return k;
}

static const char *const network_rtax_names[NETWORK_RTAX_MAX] = {
    [RTAX_MTU] = "mtu", [RTAX_WINDOW] = "window", [RTAX_CWND] = "cwnd",
    [RTAX_ADVMSS] = "advmss", [RTAX_REORDERING] = "reordering", [RTAX_HOPLIMIT] = "hoplimit",
    [RTAX_INITCWND] = "initcwnd", [RTAX_INITRWND] = "initrwnd", [RTAX_SSTHRESH] = "ssthresh",
};

size_t network_route_args(const network_route *r, int del, const char **a, size_t max, char *buf,
                          size_t buflen)
{
    size_t i = 0, used = 0;
#define ARG(s) do { if (i + 1 < max) a[i++] = (s); } while (0)
#define NUM(fmt, v) do { \
        int w_ = snprintf(buf + used, buflen - used, fmt, v); \
        if (w_ > 0 && used + (size_t)w_ + 1 <= buflen) { ARG(buf + used); used += (size_t)w_ + 1; } \
    } while (0)
    if (r->family == AF_INET6)
        ARG("-6");
    ARG("route");
    ARG(del ? "del" : "replace");
    ARG("default");
    if (r->gw[0]) {
        ARG("via");
        ARG(r->gw);
    }
    ARG("dev");
    ARG(r->dev);
    if (r->metric >= 0) {
        ARG("metric");
        NUM("%lld", r->metric);
    }
    if (!del) {
        if (r->proto) {
            ARG("proto");
            NUM("%u", (unsigned)r->proto);
        }
        if (r->scope) {
            ARG("scope");
            NUM("%u", (unsigned)r->scope);
        }
        if (r->src[0]) {
            ARG("src");
            ARG(r->src);
        }
        if (r->rtm_flags & RTNH_F_ONLINK)
            ARG("onlink");
        if (r->family == AF_INET6 && r->pref >= 0) {
            ARG("pref");
            ARG(r->pref == 3 ? "low" : r->pref == 1 ? "high" : "medium");
        }
        for (unsigned x = 1; x < NETWORK_RTAX_MAX; x++)
            if ((r->mx_set & (1u << x)) && network_rtax_names[x]) {
                ARG(network_rtax_names[x]);
                NUM("%u", r->mx[x]);
            }
    }
#undef NUM
#undef ARG
    a[i] = NULL;
    return i;
}

/* ---- re-publish timer ---------------------------------------------------------------------- */

int network_repub_open(network *n)
{
    n->repub_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    return n->repub_fd;
}

void network_repub_arm(network *n, double seconds)
{
    if (n->repub_fd < 0)
        return;
    struct itimerspec it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = (time_t)seconds;
    it.it_value.tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (!it.it_value.tv_sec && !it.it_value.tv_nsec)
        it.it_value.tv_nsec = 1;
    timerfd_settime(n->repub_fd, 0, &it, NULL);
}

/* A heal ended while the fault is still there (a relapse in its verify window): publish what is
 * open again now, so the engine decides at once instead of at the next detect(). */
void network_repub_cb(void *state, int fd, short revents)
{
    network *n = state;
    (void)revents;
    unsigned long long ticks;
    if (read(fd, &ticks, sizeof ticks) < 0)
        return;
    network_nl_resync(n);
    network_evaluate(n, 1);
}
