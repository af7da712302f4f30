/* fleet_knowledge.c — the hd-fleet thread: a CURVE server PULL socket at fleet.peers.listen
 * whose ZAP handler lets in only the listed peers' public keys (naming each connection after
 * its peer), one CURVE client PUSH socket per peer, this node's statistics sent in full every
 * interval and when they change, and what arrives checked and merged into knowledge.db. */
#include "fleet_knowledge.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zmq.h>

#include "clock.h"
#include "fleet_merge.h"
#include "log.h"

#define FK_WHO "fleet"
#define FK_MSG_MAX ((int64_t)16 << 20) /* bytes per message: 65 536 rows of long names fit */
#define FK_SNDHWM 2                    /* a full state supersedes the last: no backlog */
#define FK_LOG_EVERY_S 60.0            /* one line per peer (and for refusals) per minute */
#define FK_ZAP_DOMAIN "healerd-fleet"

typedef struct fk_peer {
    char name[65];
    char *endpoint;
    char pub[41];
    void *push;
    int owed;          /* the last state could not be queued: try again next tick */
    double last_heard; /* epoch seconds; 0 = never */
    uint64_t received, dropped, sent, skipped;
    double logged_at;  /* monotonic: the last line about this peer's bad messages */
} fk_peer;

struct fleet_know {
    pthread_t th;
    int started;
    int stopfd;
    void *ctx, *zap, *pull;
    knowledge *kb;
    metrics *m;
    char node[65];
    char listen[256];
    char pub[41];
    double interval;
    fk_peer *peers;
    size_t n;
    pthread_mutex_t mtx; /* the counters above and refused, for fleet_know_json */
    uint64_t refused, unknown_dropped;
    double refused_logged_at, unknown_logged_at;
    char *last;          /* the last state sent, to notice a change */
    size_t last_len;
    double last_full;    /* monotonic: the last time it went to every peer */
};

/* fleet.node, or the host name with what a name may not hold replaced by '_'. */
static void node_name(const config *cfg, char out[65])
{
    if (cfg->fleet.node && cfg->fleet.node[0]) {
        snprintf(out, 65, "%s", cfg->fleet.node);
        return;
    }
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0 || !h[0])
        snprintf(h, sizeof h, "localhost");
    size_t i = 0;
    for (; h[i] && i < 64; i++) {
        char c = h[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

static void fk_count(fleet_know *f, const char *name, const char *peer, double v)
{
    if (!f->m)
        return;
    healer_kv l = {"peer", peer};
    static const char *const help[] = {
        "fleet_messages_received_total", "Fleet knowledge messages merged, by peer",
        "fleet_messages_dropped_total", "Fleet knowledge messages dropped as malformed or "
                                        "hostile, by peer (\"unknown\": no listed peer)",
    };
    const char *h = strcmp(name, help[0]) == 0 ? help[1] : help[3];
    metrics_counter_add(f->m, name, h, &l, 1, v);
}

static void fk_refused_metric(fleet_know *f, double v)
{
    if (f->m)
        metrics_counter_add(f->m, "fleet_peer_refused_total",
                            "Connections to the fleet knowledge socket refused: the client's "
                            "CURVE key belongs to no listed peer", NULL, 0, v);
}

static void fk_heard_metric(fleet_know *f, const fk_peer *p)
{
    if (!f->m)
        return;
    healer_kv l = {"peer", p->name};
    metrics_gauge_set(f->m, "fleet_peer_last_heard_timestamp_seconds",
                      "When the peer's knowledge last arrived (epoch seconds; 0 = never)", &l, 1,
                      p->last_heard);
}

/* ---- ZAP: who may connect ------------------------------------------------------------------ */

static void zap_reply(void *zap, const char *id, size_t id_len, const char *code,
                      const char *text, const char *user)
{
    zmq_send(zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(zap, id, id_len, ZMQ_SNDMORE);
    zmq_send(zap, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(zap, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(zap, "", 0, 0);
}

/* One ZAP request (RFC 27): version, request id, domain, address, identity, mechanism, and
 * for CURVE the client's 32-byte public key. A listed key is let in with its peer's name as
 * the User-Id every message from it then carries. */
static void zap_handle(fleet_know *f)
{
    char frames[7][256];
    size_t len[7] = {0};
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, f->zap, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            if (n == 0)
                return;
            break;
        }
        if (n < 7) {
            len[n] = zmq_msg_size(&m) < sizeof frames[0] - 1 ? zmq_msg_size(&m)
                                                             : sizeof frames[0] - 1;
            memcpy(frames[n], zmq_msg_data(&m), len[n]);
            frames[n][len[n]] = '\0';
        }
        n++;
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    if (n < 2)
        return; /* no request id to answer to */
    const fk_peer *who = NULL;
    char z85[41] = "";
    if (n == 7 && strcmp(frames[5], "CURVE") == 0 && len[6] == 32 &&
        zmq_z85_encode(z85, (const uint8_t *)frames[6], 32)) {
        for (size_t i = 0; i < f->n && !who; i++)
            if (strcmp(f->peers[i].pub, z85) == 0)
                who = &f->peers[i];
    }
    if (who) {
        zap_reply(f->zap, frames[1], len[1], "200", "OK", who->name);
        return;
    }
    zap_reply(f->zap, frames[1], len[1], "400", "not a listed peer", "");
    pthread_mutex_lock(&f->mtx);
    f->refused++;
    double now = clock_mono();
    int say = now - f->refused_logged_at >= FK_LOG_EVERY_S || f->refused == 1;
    if (say)
        f->refused_logged_at = now;
    uint64_t total = f->refused;
    pthread_mutex_unlock(&f->mtx);
    fk_refused_metric(f, 1);
    if (say)
        log_warn(FK_WHO, "refused a connection from %s: key %s belongs to no peer in "
                 "fleet.peers.peer (%llu refused so far)", n > 3 ? frames[3] : "?",
                 z85[0] ? z85 : "(not CURVE)", (unsigned long long)total);
}

/* ---- receiving ---------------------------------------------------------------------------- */

static fk_peer *peer_named(fleet_know *f, const char *name)
{
    for (size_t i = 0; name && i < f->n; i++)
        if (strcmp(f->peers[i].name, name) == 0)
            return &f->peers[i];
    return NULL;
}

static void dropped(fleet_know *f, fk_peer *p, const char *why)
{
    pthread_mutex_lock(&f->mtx);
    double now = clock_mono(), *at = p ? &p->logged_at : &f->unknown_logged_at;
    if (p)
        p->dropped++;
    else
        f->unknown_dropped++;
    int say = now - *at >= FK_LOG_EVERY_S || *at == 0;
    if (say)
        *at = now;
    pthread_mutex_unlock(&f->mtx);
    fk_count(f, "fleet_messages_dropped_total", p ? p->name : "unknown", 1);
    if (say)
        log_warn(FK_WHO, "dropped a knowledge message from %s: %s (said once a minute)",
                 p ? p->name : "an unknown sender", why);
}

static void receive_one(fleet_know *f, zmq_msg_t *m)
{
    /* The User-Id is the name the ZAP handler gave the sender's key: who it really is. */
    fk_peer *p = peer_named(f, zmq_msg_gets(m, "User-Id"));
    if (!p) {
        dropped(f, NULL, "no listed peer's key");
        return;
    }
    if (zmq_msg_more(m)) {
        dropped(f, p, "more than one frame");
        return;
    }
    fleet_state st;
    char why[256];
    if (fleet_state_decode(zmq_msg_data(m), zmq_msg_size(m), &st, why, sizeof why) != 0) {
        dropped(f, p, why);
        return;
    }
    if (strcmp(st.node, p->name) != 0) {
        snprintf(why, sizeof why, "it says it is node \"%.64s\" but its key is %s's", st.node,
                 p->name);
        fleet_state_free(&st);
        dropped(f, p, why);
        return;
    }
    size_t grew = 0;
    int rc = knowledge_fleet_merge(f->kb, &st, &grew);
    fleet_state_free(&st);
    if (rc != 0) {
        dropped(f, p, "could not be stored (see the knowledge base's error)");
        return;
    }
    pthread_mutex_lock(&f->mtx);
    p->received++;
    p->last_heard = clock_now();
    pthread_mutex_unlock(&f->mtx);
    fk_count(f, "fleet_messages_received_total", p->name, 1);
    fk_heard_metric(f, p);
}

static void receive_all(fleet_know *f)
{
    for (int i = 0; i < 64; i++) { /* then the ZAP socket and the stop get a turn */
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, f->pull, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        receive_one(f, &m);
        /* the rest of a multi-frame message is discarded frame by frame */
        while (zmq_msg_more(&m)) {
            zmq_msg_close(&m);
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, f->pull, ZMQ_DONTWAIT) < 0)
                break;
        }
        zmq_msg_close(&m);
    }
}

/* ---- sending ------------------------------------------------------------------------------ */

static void send_state(fleet_know *f)
{
    fleet_row *rows = NULL;
    size_t n = 0;
    char *buf = NULL;
    size_t len = 0;
    if (knowledge_local_rows(f->kb, &rows, &n) != 0 ||
        fleet_state_encode(f->node, rows, n, &buf, &len) != 0) {
        free(rows);
        return;
    }
    free(rows);
    double now = clock_mono();
    int changed = !f->last || f->last_len != len || memcmp(f->last, buf, len) != 0;
    int full = now - f->last_full >= f->interval;
    for (size_t i = 0; i < f->n; i++) {
        fk_peer *p = &f->peers[i];
        if (!changed && !full && !p->owed)
            continue;
        /* Never waits: ZMQ_IMMEDIATE refuses while the peer is not connected, the small
         * high-water mark while it does not read; the next tick tries again. */
        int rc = zmq_send(p->push, buf, len, ZMQ_DONTWAIT);
        pthread_mutex_lock(&f->mtx);
        if (rc < 0) {
            p->skipped++;
            p->owed = 1;
        } else {
            p->sent++;
            p->owed = 0;
        }
        pthread_mutex_unlock(&f->mtx);
    }
    if (full)
        f->last_full = now;
    free(f->last);
    f->last = buf;
    f->last_len = len;
}

static void *fk_main(void *arg)
{
    fleet_know *f = arg;
    pthread_setname_np(pthread_self(), "hd-fleet"); /* as top -H shows it */
    double tick = f->interval < 1.0 ? f->interval : 1.0;
    double next = clock_mono();
    for (;;) {
        double now = clock_mono();
        if (now >= next) {
            send_state(f);
            next = now + tick;
        }
        zmq_pollitem_t it[3] = {
            {f->pull, 0, ZMQ_POLLIN, 0},
            {f->zap, 0, ZMQ_POLLIN, 0},
            {NULL, f->stopfd, ZMQ_POLLIN, 0},
        };
        long wait_ms = (long)((next - clock_mono()) * 1000) + 1;
        int rc = zmq_poll(it, 3, wait_ms > 0 ? wait_ms : 0);
        if (rc < 0 && zmq_errno() != EINTR) {
            log_error(FK_WHO, "poll: %s; shared knowledge stops (healing goes on)",
                      zmq_strerror(zmq_errno()));
            break;
        }
        if (rc <= 0)
            continue;
        if (it[2].revents)
            break;
        if (it[1].revents)
            zap_handle(f);
        if (it[0].revents)
            receive_all(f);
    }
    return NULL;
}

/* ---- life ----------------------------------------------------------------------------------- */

static void fk_free(fleet_know *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        if (f->peers[i].push)
            zmq_close(f->peers[i].push);
        free(f->peers[i].endpoint);
    }
    if (f->pull)
        zmq_close(f->pull);
    if (f->zap)
        zmq_close(f->zap);
    if (f->ctx)
        zmq_ctx_term(f->ctx);
    if (f->stopfd >= 0)
        close(f->stopfd);
    pthread_mutex_destroy(&f->mtx);
    free(f->peers);
    free(f->last);
    free(f);
}

static int set_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

fleet_know *fleet_know_start(const config *cfg, knowledge *kb, metrics *m, char *err,
                             size_t errlen)
{
    const fleet_peers_conf *pc = &cfg->fleet.peers;
    err[0] = '\0';
    if (!pc->enabled)
        return NULL;
    if (!zmq_has("curve")) {
        snprintf(err, errlen, "this libzmq has no CURVE security");
        return NULL;
    }
    fleet_know *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->stopfd = -1;
    pthread_mutex_init(&f->mtx, NULL);
    f->kb = kb;
    f->m = m;
    f->interval = pc->interval_s;
    node_name(cfg, f->node);
    snprintf(f->listen, sizeof f->listen, "%s", pc->listen);
    memcpy(f->pub, pc->public_key, sizeof f->pub);
    f->peers = calloc(pc->n_peer ? pc->n_peer : 1, sizeof *f->peers);
    const char **names = calloc(pc->n_peer ? pc->n_peer : 1, sizeof *names);
    f->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    f->ctx = zmq_ctx_new();
    if (!f->peers || !names || f->stopfd < 0 || !f->ctx) {
        snprintf(err, errlen, "out of memory or descriptors");
        goto fail;
    }
    for (size_t i = 0; i < pc->n_peer; i++) {
        fk_peer *p = &f->peers[f->n];
        if (strcmp(pc->peer[i].name, f->node) == 0) {
            log_warn(FK_WHO, "fleet.peers.peer \"%s\" is this node's own name: left out",
                     f->node);
            continue;
        }
        snprintf(p->name, sizeof p->name, "%s", pc->peer[i].name);
        memcpy(p->pub, pc->peer[i].public_key, sizeof p->pub);
        p->endpoint = strdup(pc->peer[i].endpoint);
        if (!p->endpoint) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        names[f->n++] = p->name;
    }
    if (knowledge_fleet_enable(kb, names, f->n, pc->knowledge_weight) != 0) {
        snprintf(err, errlen, "cannot keep the peers' counters in knowledge.db");
        goto fail;
    }
    /* The ZAP handler must be bound before any CURVE socket of this context accepts. */
    f->zap = zmq_socket(f->ctx, ZMQ_REP);
    if (!f->zap || zmq_bind(f->zap, "inproc://zeromq.zap.01") != 0) {
        snprintf(err, errlen, "ZAP handler: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    int64_t maxmsg = FK_MSG_MAX;
    f->pull = zmq_socket(f->ctx, ZMQ_PULL);
    if (!f->pull || set_int(f->pull, ZMQ_CURVE_SERVER, 1) || set_int(f->pull, ZMQ_LINGER, 0) ||
        set_int(f->pull, ZMQ_RCVHWM, 64) ||
        zmq_setsockopt(f->pull, ZMQ_CURVE_SECRETKEY, pc->secret_key, 40) ||
        zmq_setsockopt(f->pull, ZMQ_ZAP_DOMAIN, FK_ZAP_DOMAIN, strlen(FK_ZAP_DOMAIN)) ||
        zmq_setsockopt(f->pull, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg)) {
        snprintf(err, errlen, "knowledge socket: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (zmq_bind(f->pull, pc->listen) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", pc->listen, zmq_strerror(zmq_errno()));
        goto fail;
    }
    for (size_t i = 0; i < f->n; i++) {
        fk_peer *p = &f->peers[i];
        p->push = zmq_socket(f->ctx, ZMQ_PUSH);
        if (!p->push || set_int(p->push, ZMQ_IMMEDIATE, 1) || set_int(p->push, ZMQ_LINGER, 0) ||
            set_int(p->push, ZMQ_SNDHWM, FK_SNDHWM) ||
            zmq_setsockopt(p->push, ZMQ_CURVE_SERVERKEY, p->pub, 40) ||
            zmq_setsockopt(p->push, ZMQ_CURVE_PUBLICKEY, pc->public_key, 40) ||
            zmq_setsockopt(p->push, ZMQ_CURVE_SECRETKEY, pc->secret_key, 40) ||
            zmq_connect(p->push, p->endpoint) != 0) {
            snprintf(err, errlen, "peer %s at %s: %s", p->name, p->endpoint,
                     zmq_strerror(zmq_errno()));
            goto fail;
        }
        fk_count(f, "fleet_messages_received_total", p->name, 0);
        fk_count(f, "fleet_messages_dropped_total", p->name, 0);
        fk_heard_metric(f, p);
    }
    fk_refused_metric(f, 0);
    fk_count(f, "fleet_messages_dropped_total", "unknown", 0);
    free(names);
    names = NULL;
    /* The sockets move to the new thread: thread creation is the barrier ZeroMQ asks for. */
    if (pthread_create(&f->th, NULL, fk_main, f) != 0) {
        snprintf(err, errlen, "cannot start the hd-fleet thread");
        goto fail;
    }
    f->started = 1;
    log_info(FK_WHO, "shared knowledge: node %s listening on %s for %zu peer(s), public key %s",
             f->node, f->listen, f->n, f->pub);
    return f;
fail:
    free(names);
    fk_free(f);
    return NULL;
}

void fleet_know_stop(fleet_know *f)
{
    if (!f)
        return;
    if (f->started) {
        uint64_t one = 1;
        if (write(f->stopfd, &one, sizeof one) < 0)
            log_error(FK_WHO, "cannot wake hd-fleet: %s", strerror(errno));
        pthread_join(f->th, NULL);
    }
    fk_free(f);
}

json_t *fleet_know_json(fleet_know *f)
{
    if (!f)
        return json_null();
    json_t *peers = json_array();
    pthread_mutex_lock(&f->mtx);
    for (size_t i = 0; i < f->n; i++) {
        const fk_peer *p = &f->peers[i];
        json_array_append_new(
            peers, json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I}", "name", p->name, "endpoint",
                             p->endpoint, "last_heard",
                             p->last_heard > 0 ? json_real(p->last_heard) : json_null(),
                             "received", (json_int_t)p->received, "dropped",
                             (json_int_t)p->dropped, "sent", (json_int_t)p->sent,
                             "send_skipped", (json_int_t)p->skipped));
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "node", f->node, "listen",
                          f->listen, "public_key", f->pub, "rows",
                          (json_int_t)knowledge_fleet_rows(f->kb), "refused",
                          (json_int_t)f->refused, "dropped_unknown",
                          (json_int_t)f->unknown_dropped, "peers", peers);
    pthread_mutex_unlock(&f->mtx);
    return o;
}
