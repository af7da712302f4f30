/* bus.c — the ZeroMQ side of the bus: the context, bounded PUSH/PULL sockets, non-blocking
 * send and timed receive of schema-v1 messages (message.c), and the drop/malformed counters.
 * It owns no thread: every socket belongs to the thread that calls it. */
#include "bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "healer/types.h"
#include "log.h"

/* A malformed message is logged for the 1st, then every Nth: a peer spraying garbage must not
 * turn the log into its amplifier. The counter in bus_stats has the exact number. */
#define BUS_MALFORMED_LOG_EVERY 1000

struct bus {
    void *ctx;
    int hwm;
    _Atomic uint64_t sent;
    _Atomic uint64_t received;
    _Atomic uint64_t dropped;
    _Atomic uint64_t malformed;
};

bus *bus_new(int hwm)
{
    if (hwm <= 0) {
        log_error("bus", "high-water mark %d: must be a positive number of messages", hwm);
        return NULL;
    }
    bus *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->ctx = zmq_ctx_new();
    if (!b->ctx) {
        log_error("bus", "zmq_ctx_new: %s", zmq_strerror(errno));
        free(b);
        return NULL;
    }
    b->hwm = hwm;
    return b;
}

void bus_free(bus *b)
{
    if (!b)
        return;
    /* zmq_ctx_term waits for sockets still open; with LINGER 0 on every socket it returns as
     * soon as their owners have closed them. EINTR: a signal arrived, try again. */
    while (zmq_ctx_term(b->ctx) != 0 && errno == EINTR)
        ;
    free(b);
}

void *bus_zmq_context(bus *b) { return b ? b->ctx : NULL; }

static void *make_socket(bus *b, int type, const char *endpoint)
{
    if (!b || !endpoint) {
        errno = EINVAL;
        return NULL;
    }
    void *s = zmq_socket(b->ctx, type);
    if (!s) {
        log_error("bus", "zmq_socket for %s: %s", endpoint, zmq_strerror(errno));
        return NULL;
    }
    int linger = 0;
    int hwm = b->hwm;
    /* LINGER 0: a closing socket drops what it still holds, so shutdown never waits on a peer
     * that stopped reading. Both HWMs: for inproc the queue is shared and holds up to
     * SNDHWM + RCVHWM messages; either alone would leave one side at the default 1000. */
    if (zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm)) {
        log_error("bus", "zmq_setsockopt on %s: %s", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

void *bus_pull(bus *b, const char *endpoint)
{
    void *s = make_socket(b, ZMQ_PULL, endpoint);
    if (!s)
        return NULL;
    if (zmq_bind(s, endpoint) != 0) {
        log_error("bus", "bind %s: %s", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* ZeroMQ >= 4.0 lets an inproc PUSH connect before the PULL binds (the pipe is attached when
 * the bind happens; messages sent meanwhile wait in it, up to SNDHWM), so start-up order
 * between engine and workers does not matter. tests/unit/test_bus.c checks it. */
void *bus_push(bus *b, const char *endpoint)
{
    void *s = make_socket(b, ZMQ_PUSH, endpoint);
    if (!s)
        return NULL;
    if (zmq_connect(s, endpoint) != 0) {
        log_error("bus", "connect %s: %s", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

void bus_close(void *sock)
{
    if (sock)
        zmq_close(sock);
}

/* The calling thread's encoding buffer, reused for every message it sends and freed when the
 * thread ends. Encoding into a fresh malloc'd buffer handed to ZeroMQ (zero-copy) cost two
 * allocations per message (the buffer and ZeroMQ's descriptor of it), both freed by the
 * receiving thread; a copy into zmq_msg_init_size's single block is cheaper for messages of a
 * few hundred bytes. */
typedef struct sendbuf {
    char *p;
    size_t cap;
} sendbuf;

#define SENDBUF_KEEP 65536 /* a larger buffer (a rare big message) is not kept */

static pthread_key_t sendbuf_key;
static pthread_once_t sendbuf_once = PTHREAD_ONCE_INIT;
static int sendbuf_ok;

static void sendbuf_free(void *v)
{
    sendbuf *sb = v;
    free(sb->p);
    free(sb);
}

static void sendbuf_key_make(void)
{
    sendbuf_ok = pthread_key_create(&sendbuf_key, sendbuf_free) == 0;
}

static sendbuf *thread_sendbuf(void)
{
    pthread_once(&sendbuf_once, sendbuf_key_make);
    if (!sendbuf_ok)
        return NULL;
    sendbuf *sb = pthread_getspecific(sendbuf_key);
    if (!sb && (sb = calloc(1, sizeof *sb)) && pthread_setspecific(sendbuf_key, sb) != 0) {
        free(sb);
        sb = NULL;
    }
    return sb;
}

int bus_send(bus *b, void *sock, const msg *m)
{
    if (!b || !sock || !m)
        return HEALER_E_INVAL;
    sendbuf *sb = thread_sendbuf();
    if (!sb)
        return HEALER_E_NOMEM;
    size_t len = 0;
    if (msg_encode_append(m, &sb->p, &len, &sb->cap) != 0) {
        int e = errno;
        if (e == ENOMEM)
            return HEALER_E_NOMEM;
        log_warn("bus", "cannot send %s message: %s", msg_kind_name(m->kind),
                 e == EMSGSIZE ? "larger than the schema's 1 MiB" : "kind out of range");
        return HEALER_E_INVAL;
    }
    zmq_msg_t zm;
    int ok = zmq_msg_init_size(&zm, len) == 0;
    if (ok)
        memcpy(zmq_msg_data(&zm), sb->p, len);
    if (sb->cap > SENDBUF_KEEP) {
        free(sb->p);
        sb->p = NULL;
        sb->cap = 0;
    }
    if (!ok)
        return HEALER_E_NOMEM;
    for (;;) {
        if (zmq_msg_send(&zm, sock, ZMQ_DONTWAIT) >= 0) {
            atomic_fetch_add_explicit(&b->sent, 1, memory_order_relaxed);
            return HEALER_OK;
        }
        if (errno == EINTR)
            continue;
        int e = errno;
        zmq_msg_close(&zm);
        if (e == EAGAIN) {
            atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
            return HEALER_E_FULL;
        }
        return HEALER_E_IO;
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One frame into zm: 0, HEALER_E_TIMEOUT or HEALER_E_IO. Tries without waiting first, since
 * under load a message is usually there and zmq_poll would be a wasted system call. */
static int recv_frame(void *sock, zmq_msg_t *zm, int timeout_ms)
{
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
    for (;;) {
        int flags = timeout_ms < 0 ? 0 : ZMQ_DONTWAIT;
        if (zmq_msg_recv(zm, sock, flags) >= 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return HEALER_E_IO;
        if (timeout_ms == 0)
            return HEALER_E_TIMEOUT;
        long wait = (long)(deadline - now_ms());
        if (wait <= 0)
            return HEALER_E_TIMEOUT;
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        int n = zmq_poll(&it, 1, wait);
        if (n < 0 && errno != EINTR)
            return HEALER_E_IO;
    }
}

int bus_recv(bus *b, void *sock, msg *out, int timeout_ms)
{
    if (!b || !sock || !out)
        return HEALER_E_INVAL;
    memset(out, 0, sizeof *out);
    zmq_msg_t zm;
    zmq_msg_init(&zm);
    int rc = recv_frame(sock, &zm, timeout_ms);
    if (rc) {
        zmq_msg_close(&zm);
        return rc;
    }
    /* The schema is one frame per message; a multi-part message comes from something else
     * entirely, so take all its parts off the queue and drop it whole. */
    char err[160] = "";
    int bad = 0;
    if (zmq_msg_more(&zm)) {
        snprintf(err, sizeof err, "multi-part message (the bus uses one frame per message)");
        bad = 1;
        /* ZeroMQ delivers all parts together, so draining them never blocks */
        for (int more = 1; more;) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, sock, 0) < 0) {
                zmq_msg_close(&part);
                if (errno == EINTR)
                    continue;
                break;
            }
            more = zmq_msg_more(&part);
            zmq_msg_close(&part);
        }
    } else if (msg_decode(zmq_msg_data(&zm), zmq_msg_size(&zm), out, err, sizeof err) != 0) {
        bad = 1;
    }
    zmq_msg_close(&zm);
    if (bad) {
        uint64_t n = atomic_fetch_add_explicit(&b->malformed, 1, memory_order_relaxed) + 1;
        if (n % BUS_MALFORMED_LOG_EVERY == 1)
            log_warn("bus", "dropped a malformed message: %s (%llu malformed so far; logging "
                            "1 in %d)", err, (unsigned long long)n, BUS_MALFORMED_LOG_EVERY);
        return HEALER_E_INVAL;
    }
    atomic_fetch_add_explicit(&b->received, 1, memory_order_relaxed);
    return HEALER_OK;
}

void bus_get_stats(bus *b, bus_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!b)
        return;
    out->sent = atomic_load_explicit(&b->sent, memory_order_relaxed);
    out->received = atomic_load_explicit(&b->received, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&b->dropped, memory_order_relaxed);
    out->malformed = atomic_load_explicit(&b->malformed, memory_order_relaxed);
}
