/* network_nl.c — the network plugin's view of the kernel over rtnetlink: one socket subscribed
 * to the link, address and route groups (events, watched by the worker), one for dumps (the
 * state at start and a consistency check each detect). Owns the links, addresses and default
 * routes tables in struct network; reads only, never changes anything. */
#include "network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NETWORK_NL_BUF 32768

int network_nl_open(network *n)
{
    n->ev_fd = n->dump_fd = -1;
    int ev = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (ev < 0)
        return -1;
    /* A burst of route changes (a VPN coming up) must not overflow the queue between two
     * wake-ups; if it does anyway, ENOBUFS makes us resync from a dump. */
    int rcv = 1 << 20;
    setsockopt(ev, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct sockaddr_nl sa;
    memset(&sa, 0, sizeof sa);
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR |
                   RTMGRP_IPV6_ROUTE;
    if (bind(ev, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(ev);
        errno = e;
        return -1;
    }
    int dump = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (dump < 0) {
        int e = errno;
        close(ev);
        errno = e;
        return -1;
    }
    /* A dump never blocks the worker for long, even if the kernel were slow to answer. */
    struct timeval tv = {1, 0};
    setsockopt(dump, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    memset(&sa, 0, sizeof sa);
    sa.nl_family = AF_NETLINK;
    if (bind(dump, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(ev);
        close(dump);
        errno = e;
        return -1;
    }
    n->ev_fd = ev;
    n->dump_fd = dump;
    return 0;
}

void network_nl_close(network *n)
{
    if (n->ev_fd >= 0)
        close(n->ev_fd);
    if (n->dump_fd >= 0)
        close(n->dump_fd);
    n->ev_fd = n->dump_fd = -1;
}

network_link *network_link_by_name(network *n, const char *name)
{
    for (size_t i = 0; i < n->n_links; i++)
        if (strcmp(n->links[i].name, name) == 0)
            return &n->links[i];
    return NULL;
}

network_link *network_link_by_index(network *n, int ifindex)
{
    for (size_t i = 0; i < n->n_links; i++)
        if (n->links[i].ifindex == ifindex)
            return &n->links[i];
    return NULL;
}

/* Up (administratively) and running (carrier, operstate up or unknown). */
int network_link_ok(const network_link *l)
{
    return l && (l->flags & IFF_UP) && (l->flags & IFF_RUNNING);
}

size_t network_link_addr_count(const network *n, int ifindex)
{
    size_t c = 0;
    for (size_t i = 0; i < n->n_addrs; i++)
        if (n->addrs[i].ifindex == ifindex)
            c++;
    return c;
}

size_t network_default_count(const network *n, int family)
{
    size_t c = 0;
    for (size_t i = 0; i < n->n_routes; i++)
        if (n->routes[i].family == family)
            c++;
    return c;
}

static void network_nl_physical(network *n, network_link *l)
{
    char rel[IF_NAMESIZE + 32], path[512];
    snprintf(rel, sizeof rel, "class/net/%s/device", l->name);
    const char *p = n->host->sys_path(n->ctx, rel, path, sizeof path);
    l->physical = p && access(p, F_OK) == 0;
}

static void network_nl_link(network *n, const struct nlmsghdr *h, int del)
{
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof *ifi))
        return;
    network_link *l = network_link_by_index(n, ifi->ifi_index);
    if (del) {
        if (l) {
            size_t i = (size_t)(l - n->links);
            n->links[i] = n->links[--n->n_links];
        }
        /* Its addresses and routes are gone with it. */
        for (size_t i = 0; i < n->n_addrs;)
            if (n->addrs[i].ifindex == ifi->ifi_index)
                n->addrs[i] = n->addrs[--n->n_addrs];
            else
                i++;
        for (size_t i = 0; i < n->n_routes;)
            if (n->routes[i].oif == ifi->ifi_index)
                n->routes[i] = n->routes[--n->n_routes];
            else
                i++;
        return;
    }
    char name[IF_NAMESIZE] = "";
    unsigned char oper = 0;   /* IF_OPER_UNKNOWN */
    int alen = (int)IFLA_PAYLOAD(h);
    for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if (a->rta_type == IFLA_IFNAME && RTA_PAYLOAD(a) > 0) {
            size_t len = RTA_PAYLOAD(a) < sizeof name ? RTA_PAYLOAD(a) : sizeof name - 1;
            memcpy(name, RTA_DATA(a), len);
            name[len] = '\0';
            name[strnlen(name, sizeof name - 1)] = '\0';
        } else if (a->rta_type == IFLA_OPERSTATE && RTA_PAYLOAD(a) >= 1) {
            oper = *(const unsigned char *)RTA_DATA(a);
        }
    }
    if (!l) {
        if (n->n_links >= NETWORK_MAX_LINKS || !name[0]) {
            n->host->log(n->ctx, HEALER_LOG_DEBUG, "link %d ignored (%s)", ifi->ifi_index,
                         name[0] ? "table full" : "no name");
            return;
        }
        l = &n->links[n->n_links++];
        memset(l, 0, sizeof *l);
        l->ifindex = ifi->ifi_index;
    }
    int renamed = name[0] && strcmp(name, l->name) != 0;
    if (name[0])
        snprintf(l->name, sizeof l->name, "%s", name);
    if (renamed)
        network_nl_physical(n, l);
    l->flags = ifi->ifi_flags;
    l->operstate = oper;
    l->gen = n->gen;
    int ok = network_link_ok(l);
    if (l->was_ok && !ok)
        network_flap_note(n, l);
    l->was_ok = ok;
    if (ok)
        l->ever_up = 1;
}

static void network_nl_addr(network *n, const struct nlmsghdr *h, int del)
{
    const struct ifaddrmsg *ifa = NLMSG_DATA(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof *ifa))
        return;
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
        return;
    unsigned char addr[16];
    size_t alen_bytes = ifa->ifa_family == AF_INET ? 4 : 16;
    int have = 0;
    int alen = (int)IFA_PAYLOAD(h);
    for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        /* IFA_LOCAL is the address itself on point-to-point links; IFA_ADDRESS elsewhere. */
        if ((a->rta_type == IFA_LOCAL || (a->rta_type == IFA_ADDRESS && !have)) &&
            RTA_PAYLOAD(a) >= alen_bytes) {
            memset(addr, 0, sizeof addr);
            memcpy(addr, RTA_DATA(a), alen_bytes);
            have = 1;
        }
    }
    if (!have)
        return;
    size_t i = 0;
    for (; i < n->n_addrs; i++) {
        network_addr *x = &n->addrs[i];
        if (x->ifindex == (int)ifa->ifa_index && x->family == ifa->ifa_family &&
            x->prefixlen == ifa->ifa_prefixlen && memcmp(x->addr, addr, sizeof addr) == 0)
            break;
    }
    if (del) {
        if (i < n->n_addrs)
            n->addrs[i] = n->addrs[--n->n_addrs];
        return;
    }
    if (i == n->n_addrs) {
        if (n->n_addrs >= NETWORK_MAX_ADDRS)
            return;
        n->n_addrs++;
    }
    network_addr *x = &n->addrs[i];
    x->ifindex = (int)ifa->ifa_index;
    x->family = ifa->ifa_family;
    x->prefixlen = ifa->ifa_prefixlen;
    memcpy(x->addr, addr, sizeof addr);
    x->gen = n->gen;
}

static int network_route_same(const network_route *a, const network_route *b)
{
    return a->family == b->family && a->oif == b->oif && strcmp(a->gw, b->gw) == 0 &&
           a->metric == b->metric;
}

static void network_nl_route(network *n, const struct nlmsghdr *h, int del)
{
    const struct rtmsg *rt = NLMSG_DATA(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof *rt))
        return;
    if ((rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) || rt->rtm_dst_len != 0)
        return;
    unsigned table = rt->rtm_table;
    network_route r;
    memset(&r, 0, sizeof r);
    r.family = rt->rtm_family;
    r.metric = -1;
    r.pref = -1;
    r.proto = rt->rtm_protocol;
    r.scope = rt->rtm_scope;
    r.rtm_flags = rt->rtm_flags;
    int alen = (int)RTM_PAYLOAD(h);
    for (const struct rtattr *a = RTM_RTA(rt); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        switch (a->rta_type) {
        case RTA_TABLE:
            if (RTA_PAYLOAD(a) >= 4)
                table = *(const unsigned *)RTA_DATA(a);
            break;
        case RTA_OIF:
            if (RTA_PAYLOAD(a) >= 4)
                r.oif = *(const int *)RTA_DATA(a);
            break;
        case RTA_PRIORITY:
            if (RTA_PAYLOAD(a) >= 4)
                r.metric = *(const unsigned *)RTA_DATA(a);
            break;
        case RTA_GATEWAY:
            if (RTA_PAYLOAD(a) >= (rt->rtm_family == AF_INET ? 4u : 16u))
                inet_ntop(rt->rtm_family, RTA_DATA(a), r.gw, sizeof r.gw);
            break;
        case RTA_PREFSRC:
            if (RTA_PAYLOAD(a) >= (rt->rtm_family == AF_INET ? 4u : 16u))
                inet_ntop(rt->rtm_family, RTA_DATA(a), r.src, sizeof r.src);
            break;
        case RTA_PREF:
            if (RTA_PAYLOAD(a) >= 1)
                r.pref = *(const unsigned char *)RTA_DATA(a);
            break;
        case RTA_METRICS: {
            int mlen = (int)RTA_PAYLOAD(a);
            for (const struct rtattr *b = RTA_DATA(a); RTA_OK(b, mlen); b = RTA_NEXT(b, mlen))
                if (b->rta_type > 0 && b->rta_type < NETWORK_RTAX_MAX && RTA_PAYLOAD(b) >= 4) {
                    r.mx[b->rta_type] = *(const unsigned *)RTA_DATA(b);
                    r.mx_set |= 1u << b->rta_type;
                }
            break;
        }
        case RTA_MULTIPATH: {
            /* ECMP default route: remember its first next hop (enough to restore a path). */
            const struct rtnexthop *nh = RTA_DATA(a);
            if (RTA_PAYLOAD(a) >= sizeof *nh && nh->rtnh_len >= sizeof *nh &&
                nh->rtnh_len <= RTA_PAYLOAD(a)) {
                r.oif = nh->rtnh_ifindex;
                int nlen = nh->rtnh_len - (int)sizeof *nh;
                for (const struct rtattr *b = RTNH_DATA(nh); RTA_OK(b, nlen);
                     b = RTA_NEXT(b, nlen))
                    if (b->rta_type == RTA_GATEWAY &&
                        RTA_PAYLOAD(b) >= (rt->rtm_family == AF_INET ? 4u : 16u))
                        inet_ntop(rt->rtm_family, RTA_DATA(b), r.gw, sizeof r.gw);
            }
            break;
        }
        default:
            break;
        }
    }
    /* The main table's unicast defaults only: local/broadcast entries and policy tables are
     * not "the default route". */
    if (table != RT_TABLE_MAIN || (rt->rtm_type != RTN_UNICAST && !del))
        return;
    network_link *l = network_link_by_index(n, r.oif);
    if (l)
        snprintf(r.dev, sizeof r.dev, "%s", l->name);
    size_t i = 0;
    for (; i < n->n_routes; i++)
        if (network_route_same(&n->routes[i], &r))
            break;
    if (del) {
        if (i < n->n_routes)
            n->routes[i] = n->routes[--n->n_routes];
        return;
    }
    if (i == n->n_routes) {
        if (n->n_routes >= NETWORK_MAX_ROUTES)
            return;
        n->n_routes++;
    }
    r.gen = n->gen;
    n->routes[i] = r;
}

/* Applies one message; returns 1 when it was a link/address/route message. */
static int network_nl_apply(network *n, const struct nlmsghdr *h)
{
    switch (h->nlmsg_type) {
    case RTM_NEWLINK: network_nl_link(n, h, 0); return 1;
    case RTM_DELLINK: network_nl_link(n, h, 1); return 1;
    case RTM_NEWADDR: network_nl_addr(n, h, 0); return 1;
    case RTM_DELADDR: network_nl_addr(n, h, 1); return 1;
    case RTM_NEWROUTE: network_nl_route(n, h, 0); return 1;
    case RTM_DELROUTE: network_nl_route(n, h, 1); return 1;
    default: return 0;
    }
}

int network_nl_drain(network *n)
{
    /* Aligned for struct nlmsghdr. */
    static __thread long buf[NETWORK_NL_BUF / sizeof(long)];
    int applied = 0;
    if (n->ev_fd < 0)
        return 0;
    for (;;) {
        ssize_t r = recv(n->ev_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOBUFS) {
                /* Events were lost: only a dump tells the truth now. */
                n->need_resync = 1;
                continue;
            }
            break;
        }
        if (r == 0)
            break;
        int len = (int)r;
        for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len))
            applied += network_nl_apply(n, h);
    }
    n->events += (unsigned long long)applied;
    return applied;
}

static int network_nl_dump_one(network *n, int type, int family)
{
    struct {
        struct nlmsghdr h;
        union {
            struct ifinfomsg ifi;
            struct ifaddrmsg ifa;
            struct rtmsg rt;
        } u;
    } req;
    memset(&req, 0, sizeof req);
    size_t body = type == RTM_GETLINK ? sizeof req.u.ifi
                : type == RTM_GETADDR ? sizeof req.u.ifa : sizeof req.u.rt;
    req.h.nlmsg_len = (unsigned)NLMSG_LENGTH(body);
    req.h.nlmsg_type = (unsigned short)type;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = ++n->dump_seq;
    if (type == RTM_GETLINK)
        req.u.ifi.ifi_family = (unsigned char)family;
    else if (type == RTM_GETADDR)
        req.u.ifa.ifa_family = (unsigned char)family;
    else
        req.u.rt.rtm_family = (unsigned char)family;
    struct sockaddr_nl to;
    memset(&to, 0, sizeof to);
    to.nl_family = AF_NETLINK;
    if (sendto(n->dump_fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&to, sizeof to) < 0)
        return -1;
    static __thread long buf[NETWORK_NL_BUF / sizeof(long)];
    for (;;) {
        ssize_t r = recv(n->dump_fd, buf, sizeof buf, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        int len = (int)r;
        for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq != n->dump_seq)
                continue;   /* a late answer to an earlier, abandoned dump */
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                errno = e->error ? -e->error : EIO;
                return -1;
            }
            network_nl_apply(n, h);
        }
    }
}

/* What the consistency check compares: links' flags and the default routes. */
static unsigned long long network_nl_signature(const network *n)
{
    unsigned long long s = 1469598103934665603ULL;
#define NETWORK_MIX(v) (s = (s ^ (unsigned long long)(v)) * 1099511628211ULL)
    /* Order-independent: sum of per-entry hashes. */
    unsigned long long sum = 0;
    for (size_t i = 0; i < n->n_links; i++) {
        s = 1469598103934665603ULL;
        NETWORK_MIX(n->links[i].ifindex);
        NETWORK_MIX(n->links[i].flags & (IFF_UP | IFF_RUNNING));
        sum += s;
    }
    for (size_t i = 0; i < n->n_routes; i++) {
        s = 1469598103934665603ULL;
        NETWORK_MIX(n->routes[i].family);
        NETWORK_MIX(n->routes[i].oif);
        NETWORK_MIX(n->routes[i].metric);
        for (const char *c = n->routes[i].gw; *c; c++)
            NETWORK_MIX(*c);
        sum += s;
    }
#undef NETWORK_MIX
    return sum + n->n_links * 7 + n->n_routes * 13;
}

int network_nl_resync(network *n)
{
    if (n->dump_fd < 0)
        return -1;
    /* Apply what the events already said first: the dump is then compared against the
     * freshest event-built state. */
    network_nl_drain(n);
    unsigned long long before = network_nl_signature(n);
    n->gen++;
    if (network_nl_dump_one(n, RTM_GETLINK, AF_UNSPEC) < 0 ||
        network_nl_dump_one(n, RTM_GETADDR, AF_UNSPEC) < 0 ||
        network_nl_dump_one(n, RTM_GETROUTE, AF_UNSPEC) < 0) {
        n->host->log(n->ctx, HEALER_LOG_DEBUG, "rtnetlink dump failed: %s", strerror(errno));
        return -1;
    }
    /* What the dump did not show is gone (a lost DELLINK/DELROUTE). */
    for (size_t i = 0; i < n->n_links;)
        if (n->links[i].gen != n->gen)
            n->links[i] = n->links[--n->n_links];
        else
            i++;
    for (size_t i = 0; i < n->n_addrs;)
        if (n->addrs[i].gen != n->gen)
            n->addrs[i] = n->addrs[--n->n_addrs];
        else
            i++;
    for (size_t i = 0; i < n->n_routes;)
        if (n->routes[i].gen != n->gen)
            n->routes[i] = n->routes[--n->n_routes];
        else
            i++;
    /* Route dev names follow renames. */
    for (size_t i = 0; i < n->n_routes; i++) {
        network_link *l = network_link_by_index(n, n->routes[i].oif);
        if (l)
            snprintf(n->routes[i].dev, sizeof n->routes[i].dev, "%s", l->name);
    }
    n->resyncs++;
    n->need_resync = 0;
    return network_nl_signature(n) != before;
}

void network_nl_event_cb(void *state, int fd, short revents)
{
    network *n = state;
    (void)fd;
    if (revents & (POLLERR | POLLNVAL))
        n->need_resync = 1;
    int applied = network_nl_drain(n);
    if (n->need_resync)
        network_nl_resync(n);
    if (applied || n->need_resync)
        network_evaluate(n, 0);
}
