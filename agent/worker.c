/* worker.c — one plugin's thread in the agent. Thread isolation: the thread runs the plugin host
 * loop (plughost.c) over inproc ZeroMQ. Process isolation: the thread is the proxy of a child
 * (proxy.c). Start, stop and the orphan list of threads the host stopped waiting for live here. */
#include "worker_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "notify.h"
#include "log.h"

/* The orphan list (worker.h). One per process: orphans outlive the engine and the generation
 * that started them, and the agent drains them at exit. */
static pthread_mutex_t orph_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t orph_cv;
static pthread_once_t orph_once = PTHREAD_ONCE_INIT;
static worker *orphans;
static worker_hold *holds;
static unsigned long orph_events;   /* bumped by every worker thread that ends: no lost wake-up */

static void abs_deadline(struct timespec *ts, double seconds);

static void orph_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&orph_cv, &ca);
    pthread_condattr_destroy(&ca);
}


const char *worker_endpoint(const worker *w) { return w->endpoint; }

/* ---- the inproc ZeroMQ transport of a plugin thread --------------------------------------- */

static int zt_send(void *ud, const msg *m)
{
    worker *w = ud;
    return bus_send(w->rt->bus, w->push, m);
}

static int zt_recv(void *ud, msg *m, int timeout_ms)
{
    worker *w = ud;
    return bus_recv(w->rt->bus, w->pull, m, timeout_ms);
}

static int zt_poll(void *ud, struct pollfd *fds, size_t n, int timeout_ms, int *inbox)
{
    worker *w = ud;
    zmq_pollitem_t items[2 + WORKER_MAX_FDS];
    items[0] = (zmq_pollitem_t){ .socket = w->pull, .events = ZMQ_POLLIN };
    items[1 + n] = (zmq_pollitem_t){ .fd = w->wake_fd, .events = ZMQ_POLLIN };
    /* zmq_poll has its own flag values (ZMQ_POLLPRI is 8, POLLPRI is 2). */
    for (size_t i = 0; i < n; i++) {
        short zev = 0;
        if (fds[i].events & POLLIN) zev |= ZMQ_POLLIN;
        if (fds[i].events & POLLPRI) zev |= ZMQ_POLLPRI;
        if (fds[i].events & POLLOUT) zev |= ZMQ_POLLOUT;
        items[1 + i] = (zmq_pollitem_t){ .fd = fds[i].fd, .events = zev };
    }
    int r = zmq_poll(items, (int)(2 + n), timeout_ms);
    if (r < 0) {
        if (zmq_errno() == EINTR)
            return 0;
        if (zmq_errno() != ETERM)
            log_error(w->ph.who, "poll failed: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    *inbox = (items[0].revents & ZMQ_POLLIN) != 0;
    if (items[1 + n].revents & ZMQ_POLLIN)
        worker_wake_drain(w); /* stopping is set: the loop's next check sees it */
    for (size_t i = 0; i < n; i++) {
        short re = items[1 + i].revents, ev = 0;
        if (re & ZMQ_POLLIN) ev |= POLLIN;
        if (re & ZMQ_POLLPRI) ev |= POLLPRI;
        if (re & ZMQ_POLLOUT) ev |= POLLOUT;
        if (re & ZMQ_POLLERR) ev |= POLLERR;
        fds[i].revents = ev;
    }
    return r;
}

static void restored_cb(void *ud, uint64_t issue_id)
{
    worker *w = ud;
    act_undo_restored(w->rt->act, w->p->name, issue_id);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    char tname[16];
    snprintf(tname, sizeof tname, "hd-%s", w->p->name); /* visible in top -H, ps -L */
    pthread_setname_np(pthread_self(), tname);
    w->pull = bus_pull(w->rt->bus, w->endpoint);
    w->push = bus_push(w->rt->bus, w->engine_ep);
    int rc = HEALER_E_IO;
    w->ph.ctx.thread = pthread_self();
    if (w->pull && w->push)
        rc = plughost_init(&w->ph, hostapi_table());
    /* worker_start sets stopping under mu when it stops waiting, so a late init never enters
     * the loop below: it goes straight to destroy(). */
    pthread_mutex_lock(&w->mu);
    w->init_done = 1;
    w->init_rc = rc;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (rc >= 0)
        plughost_run(&w->ph);
    plughost_finish(&w->ph, rc >= 0);
    bus_close(w->pull);
    bus_close(w->push);
    w->pull = w->push = NULL;
    if (atomic_load(&w->orphaned))
        log_warn(w->ph.who, "%s returned %.1f s after the host stopped waiting; cleaned up (%s, "
                 "sockets closed)", w->stuck_in, clock_mono() - w->orphaned_at,
                 rc < 0 ? "init had failed: no destroy()" : "destroy() run");
    worker_finished(w);
    return NULL;
}

void worker_finished(worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->finished = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    /* Past this point the thread touches nothing of w: the reaper may join and free it. */
    pthread_once(&orph_once, orph_init);
    pthread_mutex_lock(&orph_mu);
    orph_events++;
    pthread_cond_broadcast(&orph_cv);
    pthread_mutex_unlock(&orph_mu);
}


/* Hands w to the orphan list: its thread is still inside the plugin. */
static void orphan_adopt(worker *w, const char *stuck_in)
{
    pthread_once(&orph_once, orph_init);
    w->stuck_in = stuck_in;
    w->orphaned_at = clock_mono();
    atomic_store(&w->orphaned, 1);
    pthread_mutex_lock(&orph_mu);
    w->next_orphan = orphans;
    orphans = w;
    pthread_mutex_unlock(&orph_mu);
}

static int orphan_uses(const runtime *rt)
{
    for (worker *o = orphans; o; o = o->next_orphan)
        if (o->rt == rt)
            return 1;
    return 0;
}

int worker_orphans_hold(worker_hold *h)
{
    pthread_once(&orph_once, orph_init);
    pthread_mutex_lock(&orph_mu);
    int used = orphan_uses(h->rt);
    if (used) {
        h->next = holds;
        holds = h;
    }
    pthread_mutex_unlock(&orph_mu);
    return used;
}

size_t worker_orphans_reap(void)
{
    pthread_once(&orph_once, orph_init);
    worker *done = NULL;
    worker_hold *released = NULL;
    size_t left = 0;
    pthread_mutex_lock(&orph_mu);
    for (worker **pp = &orphans; *pp;) {
        worker *o = *pp;
        pthread_mutex_lock(&o->mu);
        int fin = o->finished;
        pthread_mutex_unlock(&o->mu);
        if (fin) {
            *pp = o->next_orphan;
            o->next_orphan = done;
            done = o;
        } else {
            left++;
            pp = &o->next_orphan;
        }
    }
    for (worker_hold **hp = &holds; *hp;) {
        worker_hold *h = *hp;
        if (!orphan_uses(h->rt)) {
            *hp = h->next;
            h->next = released;
            released = h;
        } else {
            hp = &h->next;
        }
    }
    pthread_mutex_unlock(&orph_mu);
    /* Join before release: a finished thread may still be on its way out of worker_main. */
    while (done) {
        worker *o = done;
        done = o->next_orphan;
        pthread_join(o->thread, NULL);
        worker_free(o);
    }
    while (released) {
        worker_hold *h = released;
        released = h->next;
        h->release(h->arg);
    }
    return left;
}

size_t worker_orphans_drain(double timeout_s)
{
    pthread_once(&orph_once, orph_init);
    struct timespec dl;
    abs_deadline(&dl, timeout_s);
    for (;;) {
        pthread_mutex_lock(&orph_mu);
        unsigned long seen = orph_events;
        pthread_mutex_unlock(&orph_mu);
        size_t left = worker_orphans_reap();
        if (!left)
            return 0;
        int timed_out = 0;
        pthread_mutex_lock(&orph_mu);
        while (orph_events == seen && !timed_out)
            timed_out = pthread_cond_timedwait(&orph_cv, &orph_mu, &dl) == ETIMEDOUT;
        pthread_mutex_unlock(&orph_mu);
        if (!timed_out)
            continue;
        left = worker_orphans_reap();
        pthread_mutex_lock(&orph_mu);
        for (worker *o = orphans; o; o = o->next_orphan)
            log_error(o->ph.who, "still stuck in %s %.0f s after the host stopped waiting: left "
                      "running; what it uses stays allocated until the process exits",
                      o->stuck_in, clock_mono() - o->orphaned_at);
        pthread_mutex_unlock(&orph_mu);
        return left;
    }
}

static void abs_deadline(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    double whole = (double)(long)seconds;
    ts->tv_sec += (time_t)whole;
    ts->tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

worker *worker_start(const runtime *rt, plugin_rec *p, int auto_detect, const char *engine_ep)
{
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->rt = rt;
    w->p = p;
    w->auto_detect = auto_detect;
    ph_transport tr = { zt_send, zt_recv, zt_poll, w };
    plughost_setup(&w->ph, &p->desc, p->name, p->interval, rt->cfg->action_timeout, auto_detect,
                   tr, &w->stopping);
    w->ph.restored = restored_cb;
    w->ph.restored_ud = w;
    w->ph.ctx.plugin = p;
    w->ph.ctx.rt = rt;
    int process = p->isolation == PLUGIN_ISOLATION_PROCESS;
    snprintf(w->endpoint, sizeof w->endpoint, "inproc://worker.%s.%u", p->name, rt->generation);
    snprintf(w->engine_ep, sizeof w->engine_ep, "%s", engine_ep);
    atomic_init(&w->stopping, 0);
    atomic_init(&w->orphaned, 0);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0) {
        loader_fail(p, "cannot create its wake-up eventfd");
        free(w);
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    if (process && !(w->px = proxy_new(w))) {
        loader_fail(p, "out of memory");
        close(w->wake_fd);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return NULL;
    }
    if (pthread_create(&w->thread, NULL, process ? proxy_main : worker_main, w) != 0) {
        proxy_free(w->px);
        close(w->wake_fd);
        loader_fail(p, "cannot start its worker thread");
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return NULL;
    }
    struct timespec dl;
    /* A proxy gives up on its child's init itself (and kills it): wait for its verdict. */
    abs_deadline(&dl, rt->cfg->action_timeout + (process ? PROXY_INIT_MARGIN_S : 0));
    pthread_mutex_lock(&w->mu);
    while (!w->init_done) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT)
            break;
    }
    int done = w->init_done, rc = w->init_rc;
    if (!done)
        atomic_store(&w->stopping, 1); /* under mu: a late init sees it (worker_main) */
    pthread_mutex_unlock(&w->mu);
    if (!done) {
        char why[128];
        snprintf(why, sizeof why, "init did not return within %g s", rt->cfg->action_timeout);
        log_error("loader", "%s: %s; the plugin is left stopped and cleaned up when init "
                  "returns", p->file, why);
        /* Failed, but the record keeps its .so and settings: the thread still runs in them. */
        p->state = PLUGIN_FAILED;
        free(p->reason);
        p->reason = strdup(why);
        notify_event nev = { .kind = NOTIFY_PLUGIN_FAILED, .plugin = p->name, .reason = why };
        notify_post(rt->notify, &nev);
        orphan_adopt(w, "init");
        return NULL;
    }
    if (rc < 0) {
        pthread_join(w->thread, NULL);
        char why[160];
        if (w->px)
            proxy_init_failure(w->px, rc, why, sizeof why);
        else
            snprintf(why, sizeof why, "init failed: %s", healer_rc_str(rc));
        log_error("loader", "%s: %s", p->file, why);
        notify_event nev = { .kind = NOTIFY_PLUGIN_FAILED, .plugin = p->name, .reason = why };
        notify_post(rt->notify, &nev);
        loader_fail(p, why);
        proxy_free(w->px);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return NULL;
    }
    return w;
}

int worker_stop(worker *w, double timeout_s)
{
    atomic_store(&w->stopping, 1);
    /* Wake it now: its loop may sleep without a timeout, and the STOP below may be dropped by a
     * full queue. */
    uint64_t one = 1;
    if (write(w->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_warn(w->ph.who, "cannot wake its thread: %s", strerror(errno));
    void *s = bus_push(w->rt->bus, w->endpoint);
    if (s) {
        msg m = { .kind = MSG_STOP };
        bus_send(w->rt->bus, s, &m);
        bus_close(s);
    }
    struct timespec dl;
    abs_deadline(&dl, timeout_s);
    pthread_mutex_lock(&w->mu);
    while (!w->finished) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT)
            break;
    }
    int finished = w->finished;
    pthread_mutex_unlock(&w->mu);
    if (!finished) {
        log_error(w->ph.who, "did not stop within %g s (stuck in a callback); left running and "
                  "cleaned up when the callback returns", timeout_s);
        orphan_adopt(w, "a callback");
        return -1;
    }
    pthread_join(w->thread, NULL);
    return 0;
}

void worker_free(worker *w)
{
    if (!w)
        return;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    proxy_free(w->px);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    free(w);
}

void worker_wake_drain(worker *w)
{
    uint64_t v;
    if (read(w->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
        log_warn(w->ph.who, "wake eventfd read failed: %s", strerror(errno));
}

