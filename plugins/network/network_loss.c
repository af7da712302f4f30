/* network_loss.c — the network plugin's loss windows (issue #11, "degraded is not dead"): the
 * last loss_window TCP probe rounds of every target as a ring of bits, the decision between
 * connectivity_lost (consecutive lost rounds) and connectivity_degraded (a lossy path, with
 * hysteresis), and the degraded issue's measurements. Fixed-size state: O(targets) a round. */
#include "network.h"

#include <stdio.h>
#include <string.h>

void network_loss_reset(network_loss *w)
{
    memset(w, 0, sizeof *w);
}

static int network_loss_bit(const network_loss *w, unsigned i)
{
    return (int)((w->bits[i / 64] >> (i % 64)) & 1u);
}

void network_loss_push(network_loss *w, unsigned window, int failed)
{
    if (window < 1 || window > NETWORK_LOSS_MAX)
        return;
    if (w->head >= window)
        w->head = 0;
    if (w->filled == window) {          /* the oldest round leaves: it sits where we write */
        w->failed -= (unsigned)network_loss_bit(w, w->head);
    } else {
        w->filled++;
    }
    uint64_t m = (uint64_t)1 << (w->head % 64);
    if (failed) {
        w->bits[w->head / 64] |= m;
        w->failed++;
    } else {
        w->bits[w->head / 64] &= ~m;
    }
    w->head = (w->head + 1) % window;
}

unsigned network_loss_lost_needed(const network *n)
{
    unsigned need = n->loss_lost_rounds ? n->loss_lost_rounds : 1;
    const network_loss *r = &n->loss_rounds;
    if (!n->lossy_open || !r->filled)
        return need;
    /* The path loses a share p of whole rounds: a run of k lost rounds happens by chance about
     * p^k of the time. Only a run longer than one in a thousand is taken for a dead path. p is
     * measured without the run going on (the newest rounds): counted in, it would raise the
     * bar as the outage lasts. */
    unsigned run = n->lost_run < r->failed ? n->lost_run : r->failed;
    if (r->filled <= run)
        return need;
    double p = (double)(r->failed - run) / (double)(r->filled - run), q = p;
    unsigned k = 1;
    while (q > 1e-3 && k < n->loss_window) {
        q *= p;
        k++;
    }
    return k > need ? k : need;
}

/* Loss of window w as a percentage of its rounds (0 when empty). */
static double network_loss_pct(const network_loss *w)
{
    return w->filled ? 100.0 * w->failed / w->filled : 0;
}

double network_loss_worst(const network *n, size_t *worst)
{
    double best = -1;
    size_t at = 0;
    for (size_t i = 0; i < n->n_targets && i < NETWORK_MAX_TARGETS; i++) {
        double p = network_loss_pct(&n->loss[i]);
        if (p > best) {
            best = p;
            at = i;
        }
    }
    if (worst)
        *worst = at;
    return best < 0 ? 0 : best;
}

/* Some target's window is full and lost at least pct percent of it (integers: exact). */
static int network_loss_any_at(const network *n, unsigned pct)
{
    for (size_t i = 0; i < n->n_targets && i < NETWORK_MAX_TARGETS; i++) {
        const network_loss *w = &n->loss[i];
        if (w->filled >= n->loss_window && (unsigned long)w->failed * 100 >=
                                               (unsigned long)pct * n->loss_window)
            return 1;
    }
    return 0;
}

int network_loss_round(network *n, int lower)
{
    int round_lost = !network_tcp_healthy(n);
    unsigned need = network_loss_lost_needed(n);   /* from the windows before this round */
    n->lost_run = round_lost ? n->lost_run + 1 : 0;
    if (n->lost_run >= need) {
        /* Lost: that issue stands alone. The outage is not loss of a working path: the
         * measurement starts again when connectivity is back. */
        for (size_t i = 0; i < NETWORK_MAX_TARGETS; i++)
            network_loss_reset(&n->loss[i]);
        network_loss_reset(&n->loss_rounds);
        n->lossy_open = 0;
        return 2;
    }
    if (lower)   /* a link down or a route missing is its own issue, not a lossy path */
        return n->lossy_open;
    for (size_t i = 0; i < n->n_targets && i < NETWORK_MAX_TARGETS; i++)
        network_loss_push(&n->loss[i], n->loss_window, !n->tcp_target_ok[i]);
    network_loss_push(&n->loss_rounds, n->loss_window, round_lost);
    if (n->lossy_open)
        n->lossy_open = network_loss_any_at(n, n->loss_clear_pct);
    else   /* opened on a round some target answered: a run into a loss is not called lossy */
        n->lossy_open = !round_lost && network_loss_any_at(n, n->loss_degraded_pct);
    return n->lossy_open;
}

void network_publish_lossy(network *n)
{
    char summary[HEALER_MSG_MAX], names[4][NETWORK_GW_MAX + 8];
    const char *comps[4];
    size_t nc = 0, worst = 0, lossy = 0;
    double wp = network_loss_worst(n, &worst);
    size_t l = 0;
    summary[0] = '\0';
    for (size_t i = 0; i < n->n_targets && i < NETWORK_MAX_TARGETS; i++) {
        const network_loss *w = &n->loss[i];
        if ((unsigned long)w->failed * 100 < (unsigned long)n->loss_clear_pct * n->loss_window)
            continue;
        lossy++;
        if (nc < 4) {
            /* Copied by length: the source and the buffer are distinct (see network_probe.c). */
            size_t tl = strnlen(n->targets[i].text, sizeof names[0] - 1);
            memcpy(names[nc], n->targets[i].text, tl);
            names[nc][tl] = '\0';
            comps[nc] = names[nc];
            nc++;
            if (l < sizeof summary)
                l += (size_t)snprintf(summary + l, sizeof summary - l, "%s%s failed %u of the "
                                      "last %u rounds (%.0f %%)", nc > 1 ? ", " : "",
                                      n->targets[i].text, w->failed, w->filled,
                                      network_loss_pct(w));
        }
    }
    if (l < sizeof summary)
        snprintf(summary + l, sizeof summary - l, "%s; lossy at loss_degraded_percent %u, not "
                 "lost (%u consecutive failed rounds would be): degraded, not dead. No automatic "
                 "action: restarting the interface or resetting routes does not fix a lossy "
                 "path (cable, duplex, radio, congestion, the peer); a person must look",
                 lossy > nc ? ", ..." : "", n->loss_degraded_pct, network_loss_lost_needed(n));
    healer_measurement ms[HEALER_MAX_MEASUREMENTS];
    char mnames[10][32];
    size_t k = 0;
    ms[k++] = (healer_measurement){"loss_percent", wp};
    ms[k++] = (healer_measurement){"loss_failed_rounds", (double)n->loss[worst].failed};
    ms[k++] = (healer_measurement){"loss_window_rounds", (double)n->loss[worst].filled};
    ms[k++] = (healer_measurement){"loss_degraded_percent", (double)n->loss_degraded_pct};
    ms[k++] = (healer_measurement){"loss_lost_rounds_in_window", (double)n->loss_rounds.failed};
    ms[k++] = (healer_measurement){"loss_targets_lossy", (double)lossy};
    /* Per target, by its index in tcp_targets (measurement names cannot hold an address). */
    for (size_t i = 0; i < n->n_targets && i < 10 && k < HEALER_MAX_MEASUREMENTS; i++) {
        snprintf(mnames[i], sizeof mnames[i], "target%zu_loss_percent", i);
        ms[k++] = (healer_measurement){mnames[i], network_loss_pct(&n->loss[i])};
    }
    healer_issue is = {
        .type = NETWORK_LOSSY,
        .severity = HEALER_SEV_MEDIUM,   /* below connectivity_lost (high) */
        .target = "connectivity",
        .summary = summary,
        .measurements = ms,
        .n_measurements = k,
        .components = comps,
        .n_components = nc,
    };
    int rc = n->host->publish_issue(n->ctx, &is);
    if (rc < 0)
        n->host->log(n->ctx, HEALER_LOG_WARN, "publish %s: %s", is.type, healer_rc_str(rc));
}
