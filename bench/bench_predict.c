/* bench_predict.c — the prediction service (agent/predict.c) on replayed synthetic traces: lead
 * time before the threshold on steady ramps at realistic rates, false predictions per simulated
 * day on noisy flat series (with the point estimate alone for comparison), and the cost of a
 * feed and of a prediction. Prints numbers, asserts nothing. BENCH_PREDICT_DAYS sets the
 * simulated days per noise model (default 5). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "predict.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static double uniform(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static double gauss(void)
{
    double u = uniform(), v = uniform();
    return sqrt(-2 * log(u < 1e-300 ? 1e-300 : u)) * cos(2 * M_PI * v);
}

static char msg[HEALER_MSG_MAX];

/* ---- cost ---- */

static void bench_cost(void)
{
    predict_set *s = NULL;
    int n_feed = 1000000;
    double t0 = now_s();
    for (int i = 0; i < n_feed; i++)
        predict_feed(&s, "cost", i, 50 + (i % 7), msg, sizeof msg);
    double per_feed = (now_s() - t0) / n_feed;
    printf("feed: %.0f ns per call (one series)\n", per_feed * 1e9);
    /* a feed when the plugin has 128 series: the look-up is a scan of the names */
    char name[32];
    for (int k = 1; k < HEALER_SERIES_MAX; k++) {
        snprintf(name, sizeof name, "/sys/fs/cgroup/app%d.service", k);
        predict_feed(&s, name, 0, 1, msg, sizeof msg);
    }
    t0 = now_s();
    for (int i = 0; i < n_feed; i++)
        predict_feed(&s, name, i + 1, 50, msg, sizeof msg);
    printf("feed: %.0f ns per call (the last of %d series)\n", (now_s() - t0) / n_feed * 1e9,
           HEALER_SERIES_MAX);
    predict_set_free(s);

    int sizes[] = {16, 64, 128, 256};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        s = NULL;
        for (int i = 0; i < sizes[k]; i++)
            predict_feed(&s, "p", 5.0 * i, 40 + 0.01 * i + gauss(), msg, sizeof msg);
        int n_pred = sizes[k] >= 128 ? 2000 : 20000;
        healer_prediction p;
        t0 = now_s();
        for (int i = 0; i < n_pred; i++) {
            memset(&p, 0, sizeof p);
            predict_query(s, "p", 80, &p, msg, sizeof msg);
        }
        printf("predict: %7.1f us per call over %3d points\n",
               (now_s() - t0) / n_pred * 1e6, sizes[k]);
        predict_set_free(s);
    }
}

/* ---- lead time on steady ramps ---- */

typedef struct ramp_case {
    const char *what;
    double dt;          /* seconds between samples */
    double start;       /* level of the flat part before the ramp */
    double noise;       /* sd of the noise */
    double rate;        /* units per second once it ramps */
    double threshold;
    double horizon;
    double window;      /* window_s asked for (0 = the whole ring) */
} ramp_case;

/* 256 flat samples (a full ring), then the ramp; lead = true crossing time - the first sample at
 * which the prediction fires (an issue is published then). Flickers: fired again after having
 * stopped (the issue resolved and raised again) before the crossing. */
static void bench_ramp(const ramp_case *c, int seeds)
{
    double lead_sum = 0, lead_min = INFINITY, lead_max = 0;
    int missed = 0;
    long flickers = 0;
    for (int k = 0; k < seeds; k++) {
        rng = 1000 + (uint64_t)k * 7919;
        predict_set *s = NULL;
        double t = 0;
        for (int i = 0; i < HEALER_SERIES_POINTS; i++, t += c->dt)
            predict_feed(&s, "r", t, c->start + c->noise * gauss(), msg, sizeof msg);
        double t_ramp = t;
        double t_cross = t_ramp + (c->threshold - c->start) / c->rate;
        double fired = -1;
        int was = 0;
        for (; t < t_cross; t += c->dt) {
            double v = c->start + c->rate * (t - t_ramp) + c->noise * gauss();
            predict_feed(&s, "r", t, v, msg, sizeof msg);
            healer_prediction p;
            memset(&p, 0, sizeof p);
            p.window_s = c->window;
            int rc = predict_query(s, "r", c->threshold, &p, msg, sizeof msg);
            int f = healer_prediction_fires(rc, &p, c->horizon);
            if (f && fired < 0)
                fired = t;
            else if (f && !was)
                flickers++;
            was = f;
        }
        predict_set_free(s);
        if (fired < 0) {
            missed++;
            continue;
        }
        double lead = t_cross - fired;
        lead_sum += lead;
        lead_min = fmin(lead_min, lead);
        lead_max = fmax(lead_max, lead);
    }
    int got = seeds - missed;
    printf("  %-44s rate %-9g window %5.0f s: lead %6.0f s mean, %6.0f min, %6.0f max "
           "(ramp %5.0f s; %d/%d missed, %ld flickers)\n", c->what, c->rate, c->window,
           got ? lead_sum / got : 0, got ? lead_min : 0, lead_max,
           (c->threshold - c->start) / c->rate, missed, seeds, flickers);
}

/* ---- false predictions on flat series ---- */

typedef enum noise_kind { NOISE_IID, NOISE_SPIKES, NOISE_AR1, NOISE_NEAR, NOISE_STEP } noise_kind;

/* One simulated day per seed at 5 s samples, a prediction after every sample; a false
 * prediction is a start of firing (a rising edge), as an issue would be published. */
static void bench_flat(const char *what, noise_kind kind, int days, double horizon,
                       double window)
{
    long edges = 0, edges_point = 0;
    double dt = 5;
    long n_day = (long)(86400 / dt);
    double t0 = now_s();
    for (int d = 0; d < days; d++) {
        rng = 424242 + (uint64_t)d * 104729;
        predict_set *s = NULL;
        double ar = 0, lvl = 40;
        int was = 0, was_point = 0;
        for (long i = 0; i < n_day; i++) {
            double t = (double)i * dt, v = 0, thr = 80;
            switch (kind) {
            case NOISE_IID: v = 40 + 2 * gauss(); break;
            case NOISE_SPIKES: v = 40 + 2 * gauss() + (uniform() < 0.01 ? 30 : 0); break;
            case NOISE_AR1:    /* wanders slowly: phi 0.995, stationary sd 5 points */
                ar = 0.995 * ar + 5 * sqrt(1 - 0.995 * 0.995) * gauss();
                v = 50 + ar;
                break;
            case NOISE_NEAR: v = 70 + 3 * gauss(); break;
            case NOISE_STEP:   /* a new level every 20 min (a service restarted, a cache
                                * dropped): 40..70, then flat, iid noise sd 2 */
                if (i % 240 == 120)
                    lvl = 40 + 30 * uniform();
                v = lvl + 2 * gauss();
                break;
            }
            predict_feed(&s, "f", t, v, msg, sizeof msg);
            healer_prediction p;
            memset(&p, 0, sizeof p);
            p.window_s = window;
            int rc = predict_query(s, "f", thr, &p, msg, sizeof msg);
            int f = healer_prediction_fires(rc, &p, horizon);
            int fp = rc == HEALER_OK && p.eta_s <= horizon;
            edges += f && !was;
            edges_point += fp && !was_point;
            was = f;
            was_point = fp;
        }
        predict_set_free(s);
    }
    printf("  %-48s window %4.0f s: %6.2f false predictions per series per day (the point "
           "estimate alone: %7.2f) [%d days, %.1f s]\n", what, window, (double)edges / days,
           (double)edges_point / days, days, now_s() - t0);
}

int main(void)
{
    const char *e = getenv("BENCH_PREDICT_DAYS");
    int days = e ? atoi(e) : 5;
    if (days < 1)
        days = 1;
    printf("== cost ==\n");
    bench_cost();

    printf("== lead time before the threshold on steady ramps (20 seeds each; after a full ring "
           "of flat samples) ==\n");
    const ramp_case ramps[] = {
        /* memory: used percent every 5 s, high_percent 80, horizon 600 s (the memory plugin's
         * defaults); a leak of 0.01-0.5 point/s (100 MiB/s of 16 GiB is 0.6 point/s) */
        {"memory used %, 5 s samples, sd 1", 5, 40, 1, 0.01, 80, 600, 0},
        {"memory used %, 5 s samples, sd 1", 5, 40, 1, 0.05, 80, 600, 0},
        {"memory used %, 5 s samples, sd 1", 5, 40, 1, 0.1, 80, 600, 0},
        {"memory used %, 5 s samples, sd 1", 5, 40, 1, 0.2, 80, 600, 0},
        {"memory used %, 5 s samples, sd 1", 5, 40, 1, 0.5, 80, 600, 0},
        {"memory used %, 5 s samples, sd 1", 5, 40, 1, 0.05, 80, 600, 300},
        {"memory used %, 5 s samples, sd 1", 5, 40, 1, 0.5, 80, 600, 300},
        {"memory used %, 1 s samples, sd 1", 1, 40, 1, 0.5, 80, 600, 0},
        {"memory used %, 1 s samples, sd 1", 1, 40, 1, 2, 80, 600, 0},
        /* disk: free GiB of a 100 GiB filesystem every 10 s falling to 0 (the disk plugin:
         * horizon 7200 s); 1-20 MiB/s */
        {"disk free GiB, 10 s samples, sd 0.05 GiB", 10, 50, 0.05, -0.001, 0, 7200, 1800},
        {"disk free GiB, 10 s samples, sd 0.05 GiB", 10, 50, 0.05, -0.005, 0, 7200, 1800},
        {"disk free GiB, 10 s samples, sd 0.05 GiB", 10, 50, 0.05, -0.02, 0, 7200, 1800},
    };
    for (size_t i = 0; i < sizeof ramps / sizeof ramps[0]; i++)
        bench_ramp(&ramps[i], 20);

    printf("== false predictions on flat series (5 s samples, threshold 80, horizon 600 s) ==\n");
    for (int w = 0; w < 2; w++) {
        double win = w ? 300 : 0;
        bench_flat("iid noise, sd 2 around 40", NOISE_IID, days, 600, win);
        bench_flat("iid noise sd 2 around 40, 1% spikes of +30", NOISE_SPIKES, days, 600, win);
        bench_flat("slow wander (AR(1) phi 0.995, sd 5) around 50", NOISE_AR1, days, 600, win);
        bench_flat("iid noise, sd 3 around 70 (near the threshold)", NOISE_NEAR, days, 600, win);
        bench_flat("iid noise, sd 3 around 70, horizon 3600 s", NOISE_NEAR, days, 3600, win);
        bench_flat("level shifts to 40..70 every 20 min, sd 2", NOISE_STEP, days, 600, win);
    }
    return 0;
}
