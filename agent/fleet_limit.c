/* fleet_limit.c — the fleet-wide limits' requests (fleet_limit.h): one entry per heal that asked,
 * answered by the hd-fleet-etcd thread (slot, then budget, or what etcd's absence means for its
 * severity), leases kept alive a third of their TTL apart while the heal runs and revoked when
 * it ends. The engine thread only reads and flags entries under the mutex. */
#include "fleet_limit.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet_etcd.h"
#include "log.h"

enum { R_ASK, R_ANSWERED, R_RELEASE };

typedef struct freq {
    uint64_t heal;
    int critical;
    int state;                  /* R_ASK: an attempt is due; R_ANSWERED: answer holds */
    fleet_answer answer;
    int64_t lease;              /* the slot's lease while GRANTED (0: none, or lost) */
    int slot;
    int budget_taken;           /* this heal's budget key exists: never taken twice */
    double next_keepalive;      /* monotonic */
    char detail[200];
} freq;

struct fleet_limit {
    fleet_etcd_conf c;          /* borrowed strings: cfg outlives the limiter (its generation) */
    char base[200];             /* <prefix>/<group> */
    char node[80];
    metrics *m;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int started, stop;
    freq *v;
    size_t n, cap;
    int up;                     /* -1 unknown, 0 down, 1 up */
    char last_error[256];
    etcd_client *cli;
};

static double fl_mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

const char *fleet_answer_name(fleet_answer a)
{
    static const char *const names[] = { "asking", "granted", "proceed", "full", "budget",
                                         "unreachable" };
    return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "?";
}

fleet_limit *fleet_limit_new(const config *cfg, metrics *m, char *why, size_t n)
{
    if (!cfg->fleet.etcd.enabled)
        return NULL;
    fleet_limit *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    l->c = cfg->fleet.etcd;
    l->m = m;
    l->up = -1;
    snprintf(l->base, sizeof l->base, "%s/%s", l->c.prefix, cfg->fleet.group);
    if (cfg->fleet.node[0])
        snprintf(l->node, sizeof l->node, "%s", cfg->fleet.node);
    else if (gethostname(l->node, sizeof l->node - 1) != 0 || !l->node[0])
        snprintf(l->node, sizeof l->node, "unknown");
    l->cli = etcd_client_new((const char *const *)l->c.endpoints, l->c.n_endpoints,
                             l->c.timeout_ms, why, n);
    if (!l->cli) {
        free(l);
        return NULL;
    }
    if (etcd_client_error(l->cli)[0]) /* libcurl missing: etcd counts as unreachable */
        log_error("fleet", "fleet.etcd: %s; etcd counts as unreachable (unreachable.risky and "
                  ".critical decide)", etcd_client_error(l->cli));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (m) { /* every series an alert may take rate() of exists at 0 before its first event */
        static const char *const reasons[] = { "full", "budget", "unreachable" };
        for (size_t i = 0; i < 3; i++) {
            healer_kv lab = { "reason", reasons[i] };
            metrics_counter_add(m, "fleet_limit_waits_total", FLEET_WAITS_HELP, &lab, 1, 0);
        }
    }
    return l;
}

static freq *fl_find(fleet_limit *l, uint64_t heal)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].heal == heal)
            return &l->v[i];
    return NULL;
}

static void fl_set_up(fleet_limit *l, int up)
{
    if (up != l->up) {
        if (up)
            log_info("fleet", "etcd answers again (%s)", l->c.endpoints[0]);
        else
            log_warn("fleet", "etcd unreachable: %s", etcd_client_error(l->cli));
    }
    l->up = up;
    if (!up)
        snprintf(l->last_error, sizeof l->last_error, "%s", etcd_client_error(l->cli));
    if (l->m)
        metrics_gauge_set(l->m, "fleet_etcd_up", "1 when etcd answered the last fleet-limit "
                          "request, 0 when it did not", NULL, 0, up);
}

/* One attempt for a heal, without the lock: slot first, then (once per heal) the budget. */
static fleet_answer fl_attempt(fleet_limit *l, uint64_t heal, int critical, int need_budget,
                               int64_t *lease, int *slot, int *budget_taken, char *d, size_t n)
{
    char value[128];
    snprintf(value, sizeof value, "%s #%llu", l->node, (unsigned long long)heal);
    int rc = etcd_slot_acquire(l->cli, l->base, l->c.max_concurrent_risky, l->c.lease_ttl_s,
                               value, lease, slot);
    if (rc == ETCD_OK && need_budget && l->c.hourly_budget > 0) {
        int b = etcd_budget_take(l->cli, l->base, l->c.hourly_budget, value);
        if (b != ETCD_OK) {
            etcd_lease_revoke(l->cli, *lease);
            *lease = 0;
            rc = b;
            if (b == ETCD_NO) {
                fl_set_up(l, 1);
                snprintf(d, n, "the hourly budget of group %.100s (%d heals with a risky step) is "
                         "spent", l->base, l->c.hourly_budget);
                return FLEET_BUDGET;
            }
        } else {
            *budget_taken = 1;
        }
    }
    if (rc == ETCD_OK) {
        fl_set_up(l, 1);
        snprintf(d, n, "slot %d of %d in %.100s (lease %llx)", *slot, l->c.max_concurrent_risky,
                 l->base, (unsigned long long)*lease);
        return FLEET_GRANTED;
    }
    if (rc == ETCD_NO) {
        fl_set_up(l, 1);
        snprintf(d, n, "all %d slot(s) of %.100s are held", l->c.max_concurrent_risky, l->base);
        return FLEET_FULL;
    }
    fl_set_up(l, 0);
    int policy = critical ? l->c.unreachable_critical : l->c.unreachable_risky;
    snprintf(d, n, "etcd unreachable (%s): %s", etcd_client_error(l->cli),
             policy == FLEET_UNREACHABLE_PROCEED ? "proceeding without a slot" : "waiting");
    return policy == FLEET_UNREACHABLE_PROCEED ? FLEET_PROCEED : FLEET_DOWN;
}

static void fl_remove(fleet_limit *l, freq *r)
{
    *r = l->v[--l->n];
}

static void *fl_main(void *arg)
{
    fleet_limit *l = arg;
    double ka_every = l->c.lease_ttl_s / 3.0;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        double now = fl_mono(), due = now + 3600;
        freq *work = NULL;
        for (size_t i = 0; i < l->n && !work; i++) {
            freq *r = &l->v[i];
            if (r->state == R_ASK || r->state == R_RELEASE)
                work = r;
            else if (r->answer == FLEET_GRANTED && r->lease && r->next_keepalive <= now)
                work = r;
            else if (r->answer == FLEET_GRANTED && r->lease && r->next_keepalive < due)
                due = r->next_keepalive;
        }
        if (!work) {
            struct timespec ts = { (time_t)due, (long)((due - (double)(time_t)due) * 1e9) };
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
            continue;
        }
        freq r = *work; /* a copy: the table may move while the lock is dropped */
        pthread_mutex_unlock(&l->mu);
        char d[200] = "";
        fleet_answer a = r.answer;
        int ka = 0, budget_taken = r.budget_taken;
        int64_t lease = r.lease;
        int slot = r.slot;
        if (r.state == R_RELEASE) {
            if (r.lease) {
                int rc = etcd_lease_revoke(l->cli, r.lease);
                if (rc == ETCD_DOWN)
                    log_info("fleet", "heal #%llu: slot %d not revoked (etcd unreachable): it "
                             "frees itself within %d s", (unsigned long long)r.heal, r.slot,
                             l->c.lease_ttl_s);
                fl_set_up(l, rc != ETCD_DOWN);
            }
        } else if (r.state == R_ASK) {
            a = fl_attempt(l, r.heal, r.critical, !r.budget_taken, &lease, &slot, &budget_taken,
                           d, sizeof d);
        } else {
            ka = etcd_lease_keepalive(l->cli, r.lease);
            fl_set_up(l, ka != ETCD_DOWN);
            if (ka == ETCD_NO)
                log_warn("fleet", "heal #%llu: the lease of slot %d expired while it ran "
                         "(etcd was out of reach longer than %d s); the heal goes on",
                         (unsigned long long)r.heal, r.slot, l->c.lease_ttl_s);
        }
        pthread_mutex_lock(&l->mu);
        freq *cur = fl_find(l, r.heal);
        if (r.state == R_RELEASE) {
            if (cur && cur->state == R_RELEASE)
                fl_remove(l, cur);
            continue;
        }
        if (!cur || cur->state == R_RELEASE) {
            /* released while we asked: a slot got now is given back at once */
            if (r.state == R_ASK && a == FLEET_GRANTED) {
                if (cur) {
                    cur->lease = lease;
                } else {
                    pthread_mutex_unlock(&l->mu);
                    etcd_lease_revoke(l->cli, lease);
                    pthread_mutex_lock(&l->mu);
                }
            }
            continue;
        }
        if (r.state == R_ASK) {
            cur->state = R_ANSWERED;
            cur->answer = a;
            cur->lease = a == FLEET_GRANTED ? lease : 0;
            cur->slot = slot;
            cur->budget_taken = budget_taken;
            cur->next_keepalive = fl_mono() + ka_every;
            snprintf(cur->detail, sizeof cur->detail, "%s", d);
        } else {
            if (ka == ETCD_NO)
                cur->lease = 0;
            /* unreachable: try again soon, the lease has two thirds of its TTL left */
            cur->next_keepalive = fl_mono() + (ka == ETCD_DOWN ? 1.0 : ka_every);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static int fl_start(fleet_limit *l)
{
    if (l->started)
        return 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the agent's own threads */
    int rc = pthread_create(&l->th, NULL, fl_main, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -1;
    pthread_setname_np(l->th, "hd-fleet-etcd");
    l->started = 1;
    return 0;
}

fleet_answer fleet_limit_ask(fleet_limit *l, uint64_t heal_id, int critical, char *detail,
                             size_t n)
{
    pthread_mutex_lock(&l->mu);
    fleet_answer a = FLEET_ASKING;
    freq *r = fl_find(l, heal_id);
    if (!r) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 16;
            freq *nv = realloc(l->v, cap * sizeof *nv);
            if (!nv) {
                pthread_mutex_unlock(&l->mu);
                snprintf(detail, n, "out of memory");
                return FLEET_ASKING;
            }
            l->v = nv;
            l->cap = cap;
        }
        r = &l->v[l->n++];
        *r = (freq){ .heal = heal_id, .critical = critical, .state = R_ASK, .slot = -1 };
        snprintf(detail, n, "asking etcd");
        if (fl_start(l) != 0) {
            r->state = R_ANSWERED;
            r->answer = critical && l->c.unreachable_critical == FLEET_UNREACHABLE_PROCEED
                            ? FLEET_PROCEED : FLEET_DOWN;
            snprintf(r->detail, sizeof r->detail, "the fleet-limit thread could not start");
        }
        pthread_cond_signal(&l->cv);
    } else if (r->state == R_ASK) {
        snprintf(detail, n, "asking etcd");
    } else if (r->state == R_ANSWERED) {
        a = r->answer;
        snprintf(detail, n, "%s", r->detail);
        r->critical = critical;
        if (a == FLEET_FULL || a == FLEET_BUDGET || a == FLEET_DOWN) {
            r->state = R_ASK; /* this answer stands; the next ask reads the next attempt's */
            pthread_cond_signal(&l->cv);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return a;
}

void fleet_limit_release(fleet_limit *l, uint64_t heal_id)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    freq *r = fl_find(l, heal_id);
    if (r) {
        if (r->state == R_ASK && !r->lease) /* nothing held; an attempt in flight sees it gone */
            fl_remove(l, r);
        else
            r->state = R_RELEASE;
        pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
}

json_t *fleet_limit_status(fleet_limit *l)
{
    pthread_mutex_lock(&l->mu);
    size_t held = 0, waiting = 0;
    for (size_t i = 0; i < l->n; i++) {
        const freq *r = &l->v[i];
        if (r->state == R_ANSWERED && (r->answer == FLEET_GRANTED || r->answer == FLEET_PROCEED))
            held++;
        else if (r->state != R_RELEASE)
            waiting++;
    }
    json_t *o = json_pack("{s:s, s:i, s:i, s:o, s:I, s:I, s:s}", "group", l->base,
                          "max_concurrent_risky", l->c.max_concurrent_risky, "hourly_budget",
                          l->c.hourly_budget, "etcd_up",
                          l->up < 0 ? json_null() : json_boolean(l->up), "held",
                          (json_int_t)held, "waiting", (json_int_t)waiting, "last_error",
                          l->last_error);
    pthread_mutex_unlock(&l->mu);
    return o;
}

void fleet_limit_free(fleet_limit *l)
{
    if (!l)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th, NULL);
    }
    /* the heals are over: their slots go back now rather than at the leases' expiry */
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].lease && etcd_lease_revoke(l->cli, l->v[i].lease) == ETCD_DOWN)
            break;
    free(l->v);
    etcd_client_free(l->cli);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}
