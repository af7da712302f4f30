/* network.h — the network plugin's shared state and the functions its files offer each other:
 * network_nl.c (rtnetlink: links, addresses, default routes), network_probe.c (DNS and TCP
 * probes, resolv.conf), network.c (the descriptor, init, detect), network_act.c (plan, execute,
 * verify), network_intent.c (flaps, remembered routes, who manages a link), network_loss.c (the
 * per-target loss windows: connectivity_lost vs connectivity_degraded). */
#ifndef HEALER_NETWORK_H
#define HEALER_NETWORK_H

#include <healer/healer.h>

#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#define NETWORK_MAX_LINKS 128
#define NETWORK_MAX_ADDRS 256
#define NETWORK_MAX_ROUTES 16     /* default routes at once, both families */
#define NETWORK_MAX_PROBES 32     /* DNS names x resolvers, and TCP targets */
#define NETWORK_MAX_RESOLVERS 8
#define NETWORK_GW_MAX 64         /* INET6_ADDRSTRLEN rounded up */

/* issue types */
#define NETWORK_DOWN "network_down"
#define NETWORK_ROUTE "route_missing"
#define NETWORK_DNS "dns_failure"
#define NETWORK_CONN "connectivity_lost"
#define NETWORK_SLOW "dns_slow"          /* answers, but slower than dns_slow_ms: degraded */
#define NETWORK_FLAP "link_flapping"     /* link_flap_count drops within link_flap_window_s */
#define NETWORK_LOSSY "connectivity_degraded" /* TCP targets fail some rounds: lossy, not dead */

#define NETWORK_FLAP_MAX 32      /* drops remembered per link (the newest) */
#define NETWORK_RTAX_MAX 17      /* route metrics (RTAX_*) remembered */

typedef struct network_link {
    int ifindex;
    char name[IF_NAMESIZE];
    unsigned flags;              /* IFF_* from ifi_flags */
    unsigned char operstate;     /* IF_OPER_* */
    unsigned gen;                /* dump generation that last saw it */
    int ever_up;                 /* seen up and running during this run */
    int physical;                /* has sys_root/class/net/NAME/device */
    /* Drops (ok -> not ok) seen, not counting the plugin's own down/up of the link: the
     * monotonic times of the newest NETWORK_FLAP_MAX, and the total. */
    double drops[NETWORK_FLAP_MAX];
    size_t n_drops;
    unsigned long long drop_total;
    int was_ok;
} network_link;

typedef struct network_addr {
    int ifindex;
    int family;
    unsigned char prefixlen;
    unsigned char addr[16];
    unsigned gen;
} network_addr;

/* A default route of the main table, as the kernel reports it (or as remembered): every
 * attribute `ip route` can give back, so a restored route is the route that was lost. */
typedef struct network_route {
    int family;                  /* AF_INET or AF_INET6 */
    int oif;                     /* ifindex; 0 when unknown (remembered by name only) */
    char dev[IF_NAMESIZE];
    char gw[NETWORK_GW_MAX];     /* "" for a device route */
    long long metric;            /* -1 when absent */
    unsigned gen;
    unsigned char proto;         /* RTPROT_*: dhcp, static, ra, boot... */
    unsigned char scope;         /* RT_SCOPE_* */
    unsigned rtm_flags;          /* RTNH_F_ONLINK is the one ip can set */
    char src[NETWORK_GW_MAX];    /* RTA_PREFSRC; "" when absent */
    int pref;                    /* IPv6 RTA_PREF; -1 when absent */
    unsigned mx[NETWORK_RTAX_MAX];   /* RTA_METRICS values (mtu, advmss, ...) */
    unsigned mx_set;             /* bit i: mx[i] present */
    /* remembered (good[]) routes only, monotonic seconds */
    double last_seen;            /* last time it was present */
    double missing_since;        /* 0 while present */
    double restored_at;          /* when reset_routes last put it back (0 = never) */
} network_route;

/* One heal's verify window, keyed by the issue it verifies. */
#define NETWORK_MAX_VERIFY 8
typedef struct network_vstate {
    uint64_t issue;
    int busy;                    /* 0 = free */
    double until;                /* may still settle until then (monotonic; 0 = window over) */
    double ok_since;             /* the fixed state was first seen healthy (0 = not yet) */
    double used;                 /* last look: the oldest slot is reused when all are taken */
    unsigned long long drops;    /* the link's drop count then */
    int oks;                     /* healthy looks so far */
} network_vstate;

/* The last loss_window probe rounds of one TCP target (or of the rounds as a whole): a ring of
 * bits, 1 = that round failed. Fixed size, in the plugin's state: a round costs no allocation. */
#define NETWORK_LOSS_MAX 1024    /* largest loss_window */
#define NETWORK_MAX_TARGETS (NETWORK_MAX_PROBES / 2)
typedef struct network_loss {
    uint64_t bits[NETWORK_LOSS_MAX / 64];
    unsigned head;               /* the slot the next round is written to */
    unsigned filled;             /* rounds held (<= loss_window) */
    unsigned failed;             /* set bits among them */
} network_loss;

/* A parsed endpoint: "10.0.0.1:53", "[fd00::1]:443", or a bare address with a default port. */
typedef struct network_endpoint {
    struct sockaddr_storage sa;
    socklen_t salen;
    char text[NETWORK_GW_MAX + 8];
} network_endpoint;

typedef struct network {
    const healer_host *host;
    healer_ctx *ctx;

    /* config */
    char **ifaces;               /* plugins.network.interfaces; NULL/0 = automatic */
    size_t n_ifaces;
    char **dns_names;
    size_t n_dns_names;
    network_endpoint resolvers_cfg[NETWORK_MAX_RESOLVERS];
    size_t n_resolvers_cfg;
    const char *resolv_conf;
    double dns_timeout;
    network_endpoint targets[NETWORK_MAX_PROBES];
    size_t n_targets;
    double tcp_timeout;
    long long tcp_min_failed;    /* 0 = every target */
    int refused_is_reachable;
    network_route cfg_route;     /* plugins.network.default_gateway/_interface; family 0 = none */
    int ipv6_default;
    const char *network_service;
    int cache_resolved, cache_nscd, cache_dnsmasq;
    char **dnsmasq_pid_files;
    size_t n_dnsmasq_pid_files;
    double settle_seconds;
    const char *ip_cmd;
    /* verification and restraint (issue #11) */
    double dns_slow_s;           /* dns_slow_ms / 1000 */
    double verify_window_s;      /* a healed link/route must hold this long */
    double verify_recheck_s;     /* DNS/TCP: the second answer this long after the first */
    long long flap_count;        /* link_flap_count */
    double flap_window_s;        /* link_flap_window_s */
    double route_window_s;       /* route_restore_window_s */
    char **managed_links, **unmanaged_links;
    size_t n_managed_links, n_unmanaged_links;
    const char *networkd_dir, *nm_dir;
    /* verify looks once per call and asks to be called again while the fix settles; heals of
     * several issues verify at once (a link and its route), each with its own window */
    network_vstate vs[NETWORK_MAX_VERIFY];
    int own_bounce_ifindex;      /* restart_interface's own down/up: not a drop */
    int repub_fd;                /* timerfd: re-publish at once after a relapse */
    char flap_open[NETWORK_MAX_LINKS][IF_NAMESIZE];
    size_t n_flap_open;
    int slow_open;
    /* loss (issue #11: a lossy link is degraded, not dead) */
    unsigned loss_window;        /* rounds per window */
    unsigned loss_degraded_pct;  /* connectivity_degraded at or above this loss ... */
    unsigned loss_clear_pct;     /* ... and closed below this one (hysteresis) */
    unsigned loss_lost_rounds;   /* consecutive lost rounds that make connectivity_lost */
    network_loss loss[NETWORK_MAX_TARGETS];  /* per target, in tcp_targets order */
    network_loss loss_rounds;    /* per round: 1 = a lost round (tcp_min_failed met) */
    unsigned lost_run;           /* consecutive lost rounds up to the last one */
    int lossy_open;              /* connectivity_degraded published and not resolved */

    /* rtnetlink */
    int ev_fd;                   /* subscribed to the multicast groups, watched */
    int dump_fd;                 /* requests and dumps */
    unsigned dump_seq;
    unsigned gen;
    int need_resync;             /* the event socket overflowed (ENOBUFS) */
    unsigned long long events, resyncs, drifts;

    network_link links[NETWORK_MAX_LINKS];
    size_t n_links;
    network_addr addrs[NETWORK_MAX_ADDRS];
    size_t n_addrs;
    network_route routes[NETWORK_MAX_ROUTES];
    size_t n_routes;
    network_route good[NETWORK_MAX_ROUTES];  /* last-known-good default routes */
    size_t n_good;
    int good_from_probe;         /* good[] was confirmed by a passing probe round */

    /* what we published and have not resolved */
    char down_open[NETWORK_MAX_LINKS][IF_NAMESIZE];
    size_t n_down_open;
    int route_open[2];           /* [0] IPv4, [1] IPv6 */
    int dns_open, conn_open;

    /* last probe round */
    int dns_probed, dns_ok_names, dns_failed_names;
    int tcp_probed, tcp_ok, tcp_failed;
    char dns_failing[4][HEALER_TARGET_MAX];
    char tcp_failing[4][NETWORK_GW_MAX + 8];
    unsigned char tcp_target_ok[NETWORK_MAX_TARGETS];  /* per target, tcp_targets order */
    double dns_seconds, tcp_seconds;
    int dns_slow_names;          /* names answered, but only slower than dns_slow_ms */
    double dns_latency_max;      /* seconds: the slowest name's fastest answer */
    char dns_slow[4][HEALER_TARGET_MAX];
} network;

/* ---- network_nl.c ---- */
int network_nl_open(network *n);
void network_nl_close(network *n);
/* Reads and applies every queued event; returns how many messages were applied. */
int network_nl_drain(network *n);
/* Full GETLINK/GETADDR/GETROUTE dump; entries the dump no longer shows are dropped. Returns
 * 1 when the dump disagreed with the state built from events, 0 when it agreed, -1 on error. */
int network_nl_resync(network *n);
void network_nl_event_cb(void *state, int fd, short revents);
network_link *network_link_by_name(network *n, const char *name);
network_link *network_link_by_index(network *n, int ifindex);
int network_link_ok(const network_link *l);
size_t network_link_addr_count(const network *n, int ifindex);
/* Default routes of a family now present (count). */
size_t network_default_count(const network *n, int family);

/* ---- network_probe.c ---- */
/* "1.2.3.4", "1.2.3.4:53", "[::1]:53", "::1". Returns 0 or -1. */
int network_parse_endpoint(const char *text, int default_port, network_endpoint *out);
/* Nameservers of a resolv.conf file; returns how many (up to max), -1 when unreadable. */
int network_read_resolv_conf(const char *path, network_endpoint *out, size_t max);
/* A DNS query for name (type A, RD set) into buf; returns its length or -1. */
int network_dns_build_query(const char *name, unsigned short id, unsigned char *buf, size_t len);
/* 1 when buf answers query id with NOERROR and at least one answer, 0 when it is an answer
 * that failed (rcode in *rcode), -1 when it is not a matching answer. */
int network_dns_check_answer(const unsigned char *buf, size_t len, unsigned short id, int *rcode);
/* Runs the configured probes in parallel with one deadline (netlink events keep being
 * processed meanwhile). dns/tcp: which kinds to run. Fills the "last probe round" fields. */
void network_probe_run(network *n, int dns, int tcp);
/* 1 when the last round says DNS (resp. TCP) is healthy (or not configured). */
int network_dns_healthy(const network *n);
int network_tcp_healthy(const network *n);

/* ---- network.c ---- */
/* Re-evaluates links and default routes after a change; publishes network_down and
 * route_missing as they appear, resolves them as they clear. from_detect: republish. */
void network_evaluate(network *n, int from_detect);
/* The default route to restore for a family: the configured one, else the last-known-good. */
const network_route *network_known_route(const network *n, int family);
/* How many default routes of the family that may be restored are missing now (*known: the
 * first): the configured one, or remembered ones within route_restore_window_s. */
size_t network_route_missing(network *n, int family, const network_route **known);
/* Remembered-good default routes of the family still carrying traffic: 0 when the preferred
 * (lowest-metric) present route is not remembered good, or every TCP target failed. */
size_t network_routes_carrying(const network *n, int family);
/* 1 when the default routes of the family now present include the known one. */
int network_route_present(const network *n, const network_route *k);

/* ---- network_intent.c ---- */
double network_now(void);
/* A link went from ok to not ok (not by the plugin's own restart): remember when. */
void network_flap_note(network *n, network_link *l);
/* Drops of the link within link_flap_window_s. */
size_t network_flap_recent(const network *n, const network_link *l);
/* 1 while the link counts as flapping (>= link_flap_count drops within the window). */
int network_flapping(const network *n, const network_link *l);
/* The manager that owns the link ("systemd-networkd", "NetworkManager", "configuration") or
 * NULL when healerd may act on it. */
const char *network_managed_by(network *n, const char *dev);
/* Refreshes the remembered default routes from the present ones: present routes are (re)added,
 * a missing one is kept route_restore_window_s from when it went missing, then forgotten; a
 * missing one whose (family, metric) a present remembered route now holds is superseded. */
void network_remember_good(network *n);
/* Marks remembered routes that just went missing; one reset_routes put back within
 * route_restore_window_s that is deleted again while its link stays up is taken as intended and
 * forgotten. */
void network_routes_age(network *n);
/* The remembered routes of a family that are missing now and may be restored; returns how many
 * (pointers into good[]). */
size_t network_missing_routes(network *n, int family, const network_route **out, size_t max);
int network_route_match(const network_route *a, const network_route *b);
/* `ip` arguments that recreate r exactly (route replace/del), NULL-terminated into a; strings
 * live in buf. Returns the count. */
size_t network_route_args(const network_route *r, int del, const char **a, size_t max, char *buf,
                          size_t buflen);
void network_repub_arm(network *n, double seconds);
int network_repub_open(network *n);
void network_repub_cb(void *state, int fd, short revents);

/* ---- network_loss.c ---- */
/* Empties a window (an outage is not loss: the measurement starts again after it). */
void network_loss_reset(network_loss *w);
/* Appends one round to a window of `window` rounds, dropping the oldest when it is full. */
void network_loss_push(network_loss *w, unsigned window, int failed);
/* Consecutive lost rounds that make connectivity_lost now: loss_lost_rounds, or more while the
 * path is known lossy (connectivity_degraded open), so that a run of failures its measured loss
 * explains (a chance above 1 in 1000) does not pass for a dead path; at most loss_window. */
unsigned network_loss_lost_needed(const network *n);
/* The decision for one probe round, from tcp_target_ok[] and network_tcp_healthy(): updates the
 * windows (unless lower: a link or route outage is not loss of the path), lost_run, and returns
 * 2 when connectivity is lost, 1 when degraded (with hysteresis), 0 when fine. Publishes
 * nothing. */
int network_loss_round(network *n, int lower);
/* The worst target's loss now (percent of its window), its index in *worst (may be NULL). */
double network_loss_worst(const network *n, size_t *worst);
/* Publishes connectivity_degraded with its measurements. */
void network_publish_lossy(network *n);

/* ---- network_act.c ---- */
int network_plan(void *state, const healer_issue *issue, healer_plan *plan);
int network_execute(void *state, const healer_issue *issue, const healer_action *action,
                    healer_result *result);
int network_verify(void *state, const healer_issue *issue, const healer_action *action,
                   healer_verdict *v);

#endif
