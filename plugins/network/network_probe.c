/* network_probe.c — the network plugin's active probes: DNS A queries sent over UDP straight
 * to the resolvers (from resolv.conf or the config) and non-blocking TCP connects to the
 * configured targets, all in parallel under one deadline, so a dead network costs one timeout
 * and never a blocking getaddrinfo(). rtnetlink events are still handled while they wait. */
#include "network.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static double network_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int network_parse_endpoint(const char *text, int default_port, network_endpoint *out)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text || strlen(text) >= sizeof out->text)
        return -1;
    char host[NETWORK_GW_MAX];
    long port = default_port;
    const char *p = NULL;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || (size_t)(close - text - 1) >= sizeof host)
            return -1;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        if (close[1] == ':')
            p = close + 2;
        else if (close[1] != '\0')
            return -1;
    } else {
        const char *colon = strchr(text, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL;       /* a bare IPv6 address */
        size_t hl = colon ? (size_t)(colon - text) : strlen(text);
        if (hl >= sizeof host)
            return -1;
        memcpy(host, text, hl);
        host[hl] = '\0';
        if (colon)
            p = colon + 1;
    }
    if (p) {
        char *end;
        errno = 0;
        port = strtol(p, &end, 10);
        if (errno || end == p || *end || port < 1 || port > 65535)
            return -1;
    }
    if (port < 1 || port > 65535)
        return -1;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&out->sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->sa;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)port);
        out->salen = sizeof *s4;
        snprintf(out->text, sizeof out->text, "%s:%ld", host, port);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)port);
        out->salen = sizeof *s6;
        snprintf(out->text, sizeof out->text, "[%s]:%ld", host, port);
    } else {
        return -1;   /* names are not resolved here: a probe must not depend on DNS */
    }
    return 0;
}

int network_read_resolv_conf(const char *path, network_endpoint *out, size_t max)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[512];
    size_t n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (strncmp(s, "nameserver", 10) != 0 || (s[10] != ' ' && s[10] != '\t'))
            continue;
        s += 10;
        while (*s == ' ' || *s == '\t')
            s++;
        char *e = s;
        while (*e && !isspace((unsigned char)*e))
            e++;
        *e = '\0';
        /* A link-local IPv6 nameserver carries a zone ("fe80::1%eth0"): not supported. */
        if (strchr(s, '%'))
            continue;
        if (network_parse_endpoint(s, 53, &out[n]) == 0)
            n++;
    }
    fclose(f);
    return (int)n;
}

int network_dns_build_query(const char *name, unsigned short id, unsigned char *buf, size_t len)
{
    size_t nl = name ? strlen(name) : 0;
    if (nl == 0 || nl > 253 || len < 12 + nl + 2 + 4)
        return -1;
    memset(buf, 0, 12);
    buf[0] = (unsigned char)(id >> 8);
    buf[1] = (unsigned char)id;
    buf[2] = 0x01;               /* RD: the resolver may recurse */
    buf[5] = 1;                  /* QDCOUNT */
    size_t o = 12;
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        if (l == 0) {
            if (dot && dot[1] == '\0')
                break;           /* "example.com." : the root label ends it */
            return -1;
        }
        if (l > 63)
            return -1;
        buf[o++] = (unsigned char)l;
        memcpy(buf + o, s, l);
        o += l;
        s += l;
        if (*s == '.')
            s++;
    }
    buf[o++] = 0;
    buf[o++] = 0;
    buf[o++] = 1;                /* QTYPE A */
    buf[o++] = 0;
    buf[o++] = 1;                /* QCLASS IN */
    return (int)o;
}

int network_dns_check_answer(const unsigned char *buf, size_t len, unsigned short id, int *rcode)
{
    if (len < 12)
        return -1;
    unsigned short rid = (unsigned short)(buf[0] << 8 | buf[1]);
    if (rid != id || !(buf[2] & 0x80))
        return -1;               /* not our answer (or not an answer at all) */
    int rc = buf[3] & 0x0f;
    if (rcode)
        *rcode = rc;
    unsigned ancount = (unsigned)(buf[6] << 8 | buf[7]);
    return rc == 0 && ancount > 0 ? 1 : 0;
}

typedef struct network_pending {
    int fd;
    int kind;                    /* 0 DNS, 1 TCP */
    size_t name_idx;             /* DNS: which name */
    size_t target_idx;           /* TCP: which target */
    unsigned short id;
    unsigned char query[300];
    int qlen;
    int resent;
    int done;
    int ok;
    double latency;              /* DNS: seconds from the first send to the answer */
} network_pending;

static int network_probe_socket(int family, int type)
{
    return socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

void network_probe_run(network *n, int dns, int tcp)
{
    network_pending p[NETWORK_MAX_PROBES];
    size_t np = 0;
    double start = network_mono();
    network_endpoint res[NETWORK_MAX_RESOLVERS];
    size_t nres = 0;
    if (dns && n->n_dns_names) {
        if (n->n_resolvers_cfg) {
            memcpy(res, n->resolvers_cfg, n->n_resolvers_cfg * sizeof res[0]);
            nres = n->n_resolvers_cfg;
        } else {
            int r = network_read_resolv_conf(n->resolv_conf, res, NETWORK_MAX_RESOLVERS);
            if (r < 0)
                n->host->log(n->ctx, HEALER_LOG_DEBUG, "cannot read %s: %s", n->resolv_conf,
                             strerror(errno));
            nres = r > 0 ? (size_t)r : 0;
        }
    }
    int name_ok[NETWORK_MAX_PROBES];
    memset(name_ok, 0, sizeof name_ok);
    if (dns && n->n_dns_names) {
        for (size_t i = 0; i < n->n_dns_names && i < NETWORK_MAX_PROBES; i++)
            for (size_t r = 0; r < nres && np < NETWORK_MAX_PROBES; r++) {
                network_pending *q = &p[np];
                memset(q, 0, sizeof *q);
                q->kind = 0;
                q->name_idx = i;
                unsigned short id;
                if (getrandom(&id, sizeof id, GRND_NONBLOCK) != sizeof id)
                    id = (unsigned short)(rand() ^ (int)np);
                q->id = id;
                q->qlen = network_dns_build_query(n->dns_names[i], id, q->query, sizeof q->query);
                if (q->qlen < 0)
                    continue;
                q->fd = network_probe_socket(res[r].sa.ss_family, SOCK_DGRAM);
                if (q->fd < 0)
                    continue;
                /* connect(): only that resolver's answers arrive, and an ICMP port
                 * unreachable fails the probe at once instead of at the timeout. */
                if (connect(q->fd, (struct sockaddr *)&res[r].sa, res[r].salen) < 0 ||
                    send(q->fd, q->query, (size_t)q->qlen, 0) < 0) {
                    close(q->fd);
                    q->fd = -1;
                    q->done = 1;  /* unreachable right now (no route, link down) */
                    np++;
                    continue;
                }
                np++;
            }
    }
    if (tcp)
        for (size_t t = 0; t < n->n_targets && np < NETWORK_MAX_PROBES; t++) {
            network_pending *q = &p[np++];
            memset(q, 0, sizeof *q);
            q->kind = 1;
            q->target_idx = t;
            q->fd = network_probe_socket(n->targets[t].sa.ss_family, SOCK_STREAM);
            if (q->fd < 0) {
                q->done = 1;
                continue;
            }
            int r = connect(q->fd, (struct sockaddr *)&n->targets[t].sa, n->targets[t].salen);
            if (r == 0) {
                q->done = q->ok = 1;
            } else if (errno != EINPROGRESS) {
                q->done = 1;
                q->ok = errno == ECONNREFUSED && n->refused_is_reachable;
            }
        }
    double timeout = 0;
    if (dns && n->n_dns_names)
        timeout = n->dns_timeout;
    if (tcp && n->n_targets && n->tcp_timeout > timeout)
        timeout = n->tcp_timeout;
    double dns_deadline = start + n->dns_timeout, tcp_deadline = start + n->tcp_timeout;
    double dns_end = start, tcp_end = start;
    for (;;) {
        struct pollfd pf[NETWORK_MAX_PROBES + 1];
        size_t map[NETWORK_MAX_PROBES + 1];
        nfds_t k = 0;
        double now = network_mono();
        for (size_t i = 0; i < np; i++) {
            if (p[i].done || p[i].fd < 0)
                continue;
            double dl = p[i].kind == 0 ? dns_deadline : tcp_deadline;
            if (now >= dl) {
                p[i].done = 1;
                continue;
            }
            /* UDP is lossy: one retransmission halfway through. */
            if (p[i].kind == 0 && !p[i].resent && now >= start + n->dns_timeout / 2) {
                p[i].resent = 1;
                if (send(p[i].fd, p[i].query, (size_t)p[i].qlen, 0) < 0) {
                    p[i].done = 1;
                    continue;
                }
            }
            pf[k].fd = p[i].fd;
            pf[k].events = p[i].kind == 0 ? POLLIN : POLLOUT;
            pf[k].revents = 0;
            map[k++] = i;
        }
        if (k == 0)
            break;
        /* Keep the netlink events flowing: a link going down mid-probe is seen at once. */
        nfds_t nl = k;
        if (n->ev_fd >= 0) {
            pf[k].fd = n->ev_fd;
            pf[k].events = POLLIN;
            pf[k].revents = 0;
            k++;
        }
        double next = start + timeout;
        for (size_t i = 0; i < np; i++)
            if (!p[i].done && p[i].kind == 0 && !p[i].resent &&
                start + n->dns_timeout / 2 < next)
                next = start + n->dns_timeout / 2;
        int ms = (int)((next - now) * 1000) + 1;
        if (ms < 1)
            ms = 1;
        int r = poll(pf, k, ms);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if (k > nl && pf[nl].revents)
            network_nl_event_cb(n, n->ev_fd, pf[nl].revents);
        for (nfds_t j = 0; j < nl; j++) {
            if (!pf[j].revents)
                continue;
            network_pending *q = &p[map[j]];
            if (q->kind == 1) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                q->done = 1;
                q->ok = err == 0 || (err == ECONNREFUSED && n->refused_is_reachable);
                tcp_end = network_mono();
                continue;
            }
            unsigned char ans[1500];
            ssize_t got = recv(q->fd, ans, sizeof ans, 0);
            if (got < 0) {
                if (errno != EAGAIN && errno != EINTR)
                    q->done = 1;   /* ECONNREFUSED: nothing listens on port 53 there */
                continue;
            }
            int rcode = 0;
            int c = network_dns_check_answer(ans, (size_t)got, q->id, &rcode);
            if (c < 0)
                continue;          /* a stray datagram: keep waiting for ours */
            q->done = 1;
            q->ok = c == 1;
            dns_end = network_mono();
            q->latency = dns_end - start;
            if (!q->ok)
                n->host->log(n->ctx, HEALER_LOG_DEBUG, "DNS %s: rcode %d, no answer",
                             n->dns_names[q->name_idx], rcode);
        }
    }
    double end = network_mono();
    n->dns_ok_names = n->dns_failed_names = 0;
    n->tcp_ok = n->tcp_failed = 0;
    if (dns && n->n_dns_names) {
        double best[NETWORK_MAX_PROBES];
        for (size_t i = 0; i < np; i++)
            if (p[i].kind == 0 && p[i].ok) {
                size_t x = p[i].name_idx;
                if (!name_ok[x] || p[i].latency < best[x])
                    best[x] = p[i].latency;
                name_ok[x] = 1;
            }
        /* A name is slow when even its fastest resolver took longer than dns_slow_ms. */
        n->dns_slow_names = 0;
        n->dns_latency_max = 0;
        for (size_t i = 0; i < n->n_dns_names && i < NETWORK_MAX_PROBES; i++) {
            if (!name_ok[i])
                continue;
            if (best[i] > n->dns_latency_max)
                n->dns_latency_max = best[i];
            if (n->dns_slow_s > 0 && best[i] > n->dns_slow_s) {
                if (n->dns_slow_names < 4)
                    snprintf(n->dns_slow[n->dns_slow_names], sizeof n->dns_slow[0], "%s",
                             n->dns_names[i]);
                n->dns_slow_names++;
            }
        }
        size_t nf = 0;
        for (size_t i = 0; i < n->n_dns_names && i < NETWORK_MAX_PROBES; i++) {
            if (name_ok[i]) {
                n->dns_ok_names++;
            } else {
                n->dns_failed_names++;
                if (nf < 4)
                    snprintf(n->dns_failing[nf++], sizeof n->dns_failing[0], "%s",
                             n->dns_names[i]);
            }
        }
        n->dns_probed = 1;
        n->dns_seconds = (n->dns_failed_names ? end : dns_end) - start;
        if (!nres)
            n->host->log(n->ctx, HEALER_LOG_DEBUG, "no resolver configured or in %s",
                         n->resolv_conf);
    }
    if (tcp && n->n_targets) {
        size_t nf = 0;
        for (size_t i = 0; i < np; i++) {
            if (p[i].kind != 1)
                continue;
            if (p[i].target_idx < NETWORK_MAX_TARGETS)
                n->tcp_target_ok[p[i].target_idx] = (unsigned char)p[i].ok;
            if (p[i].ok) {
                n->tcp_ok++;
            } else {
                n->tcp_failed++;
                if (nf < 4) {
                    /* Distinct arrays of one struct: copy by length, which the compiler can see
                     * never overlaps (snprintf through one struct pointer trips -Wrestrict). */
                    const char *src = n->targets[p[i].target_idx].text;
                    size_t len = strnlen(src, sizeof n->tcp_failing[0] - 1);
                    memcpy(n->tcp_failing[nf], src, len);
                    n->tcp_failing[nf][len] = '\0';
                    nf++;
                }
            }
        }
        n->tcp_probed = 1;
        n->tcp_seconds = (n->tcp_failed ? end : tcp_end) - start;
    }
    for (size_t i = 0; i < np; i++)
        if (p[i].fd >= 0)
            close(p[i].fd);
}

int network_dns_healthy(const network *n)
{
    return !n->n_dns_names || !n->dns_probed || n->dns_failed_names == 0;
}

int network_tcp_healthy(const network *n)
{
    if (!n->n_targets || !n->tcp_probed)
        return 1;
    long long need = n->tcp_min_failed > 0 ? n->tcp_min_failed : (long long)n->n_targets;
    return n->tcp_failed < need;
}
