/* predict.c — prediction as a host service: each plugin's named series in bounded rings, and a
 * robust time-to-threshold (Theil-Sen slope, Sen's confidence interval). Pure computation on
 * the plugin's own points; the same object in the agent, healerd-plugin and the mock host.
 *
 * Why Theil-Sen. A prediction raises an issue, and an issue can start a heal: a single wild
 * sample (a burst of page cache, a log rotated mid-read) must not do that. The least-squares
 * line follows one outlier as far as it likes; the median of the pairwise slopes ignores up to
 * 29% of arbitrary points. Holt's double exponential smoothing, the other usual choice, needs
 * two smoothing constants that trade lag for noise per series, and an outlier enters its trend
 * with full weight for a while; Theil-Sen has no constant to tune and its interval (Sen 1968:
 * the order statistics of the pairwise slopes around the median, ranks from the variance of
 * Kendall's S) needs no assumption on the noise's distribution. Its cost, O(n^2) pairs, is
 * bounded by the ring (256 points: 32 640 slopes, selected in linear time, not sorted).
 *
 * Why an interval. A noisy flat series always has some slope; its interval then includes zero
 * and the shallow end gives eta_high_s = +inf, so healer_prediction_fires() (the whole interval
 * within the plugin's horizon) is false. A real steady ramp has a narrow interval.
 *
 * Why a change point. One line over the window lags a trend that began lately (a fast ramp after
 * a long flat stretch is over before the median slope turns); the window is cut where the data
 * shows a change, and only the part since then is fitted ("the change point" below). */
#include "predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct series {
    char name[HEALER_TARGET_MAX];
    double t[HEALER_SERIES_POINTS], v[HEALER_SERIES_POINTS];
    size_t head, n;            /* ring: the oldest point at (head - n) */
} series;

struct predict_set {
    series *s[HEALER_SERIES_MAX];
    size_t n;
    double *scratch;           /* the pairwise slopes, made at the first prediction */
    double t[HEALER_SERIES_POINTS], v[HEALER_SERIES_POINTS];   /* one series unrolled */
};

#define PAIRS_MAX ((size_t)HEALER_SERIES_POINTS * (HEALER_SERIES_POINTS - 1) / 2)

predict_set *predict_set_new(void)
{
    return calloc(1, sizeof(predict_set));
}

void predict_set_free(predict_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->s[i]);
    free(s->scratch);
    free(s);
}

size_t predict_count(const predict_set *s)
{
    return s ? s->n : 0;
}

static int predict_name_ok(const char *name, char *msg, size_t len)
{
    if (!name || !*name) {
        snprintf(msg, len, "series name missing");
        return 0;
    }
    if (strlen(name) >= HEALER_TARGET_MAX) {
        snprintf(msg, len, "series name longer than %d bytes", HEALER_TARGET_MAX - 1);
        return 0;
    }
    return 1;
}

static series *predict_find(const predict_set *s, const char *name, size_t *at)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->s[i]->name, name) == 0) {
            if (at)
                *at = i;
            return s->s[i];
        }
    return NULL;
}

int predict_feed(predict_set **sp, const char *name, double t, double value, char *msg,
                 size_t len)
{
    if (!sp || !predict_name_ok(name, msg, len))
        return HEALER_E_INVAL;
    if (!isfinite(t) || !isfinite(value)) {
        snprintf(msg, len, "series %s: time %g, value %g: both must be finite", name, t, value);
        return HEALER_E_INVAL;
    }
    if (!*sp && !(*sp = predict_set_new())) {
        snprintf(msg, len, "series %s: out of memory", name);
        return HEALER_E_NOMEM;
    }
    predict_set *s = *sp;
    series *se = predict_find(s, name, NULL);
    if (!se) {
        if (s->n >= HEALER_SERIES_MAX) {
            snprintf(msg, len, "series %s: refused: this plugin already has %d series, the most "
                     "a plugin may keep (series_forget one it no longer needs)", name,
                     HEALER_SERIES_MAX);
            return HEALER_E_FULL;
        }
        if (!(se = calloc(1, sizeof *se))) {
            snprintf(msg, len, "series %s: out of memory", name);
            return HEALER_E_NOMEM;
        }
        snprintf(se->name, sizeof se->name, "%s", name);
        s->s[s->n++] = se;
    } else if (se->n) {
        double last = se->t[(se->head + HEALER_SERIES_POINTS - 1) % HEALER_SERIES_POINTS];
        if (t < last) {
            snprintf(msg, len, "series %s: time %.3f is before its newest point %.3f", name, t,
                     last);
            return HEALER_E_INVAL;
        }
    }
    se->t[se->head] = t;
    se->v[se->head] = value;
    se->head = (se->head + 1) % HEALER_SERIES_POINTS;
    if (se->n < HEALER_SERIES_POINTS)
        se->n++;
    return HEALER_OK;
}

int predict_forget(predict_set *s, const char *name, char *msg, size_t len)
{
    if (!predict_name_ok(name, msg, len))
        return HEALER_E_INVAL;
    size_t at;
    if (!predict_find(s, name, &at)) {
        snprintf(msg, len, "series %s: not found", name);
        return HEALER_E_NOTFOUND;
    }
    free(s->s[at]);
    s->s[at] = s->s[--s->n];
    s->s[s->n] = NULL;
    return HEALER_OK;
}

/* ---- the estimator ------------------------------------------------------------------------ */

/* The k-th smallest (0-based) of a[0..n): Wirth's selection, which leaves a[0..k) <= a[k] <=
 * a[k+1..n). The pivot is a[k], the middle for a median: the slopes of a ramp come nearly sorted,
 * which a first-element pivot would make quadratic. */
static double predict_select(double *a, size_t n, size_t k)
{
    long l = 0, m = (long)n - 1, kk = (long)k;
    while (l < m) {
        double x = a[kk];
        long i = l, j = m;
        do {
            while (a[i] < x)
                i++;
            while (x < a[j])
                j--;
            if (i <= j) {
                double tmp = a[i];
                a[i] = a[j];
                a[j] = tmp;
                i++;
                j--;
            }
        } while (i <= j);
        if (j < kk)
            l = i;
        if (kk < i)
            m = j;
    }
    return a[k];
}

/* The median of a[0..n), a reordered. */
static double predict_median(double *a, size_t n)
{
    double hi = predict_select(a, n, n / 2);
    if (n % 2)
        return hi;
    /* after the select, a[0..n/2) holds the smaller half: its largest is the other middle */
    double lo = a[0];
    for (size_t i = 1; i < n / 2; i++)
        if (a[i] > lo)
            lo = a[i];
    return (lo + hi) / 2;
}

/* The line's level at rt = 0 (the newest point) for slope b: the median residual. */
static double predict_level(const double *rt, const double *v, size_t n, double b, double *buf)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = v[i] - b * rt[i];
    return predict_median(buf, n);
}

/* Seconds until level + b*t reaches thr, looking forward: +inf when never (flat or away). */
static double predict_cross(double level, double b, double thr)
{
    if (level == thr)
        return 0;
    if (b == 0 || !isfinite(b))
        return INFINITY;
    double eta = (thr - level) / b;
    return eta >= 0 ? eta : INFINITY;
}

/* The Theil-Sen line over rt[0..n) (times relative to the newest point, rt[0] < 0), its
 * interval and the crossing of threshold, into out (n, t_last, window_s, min_points kept). */
static int predict_fit_one(const double *rt, const double *v, size_t n, double threshold,
                           double z, healer_prediction *out, double *scratch, char *msg,
                           size_t len)
{
    double buf[HEALER_SERIES_POINTS];
    size_t np = 0;
    for (size_t i = 0; i + 1 < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (rt[j] > rt[i])
                scratch[np++] = (v[j] - v[i]) / (rt[j] - rt[i]);
    /* np > 0: rt[0] < rt[n - 1] = 0. The median first; the bounds are then selected within the
     * half on their side of it (the selection left it partitioned). */
    size_t mid = np / 2;
    double slope = predict_median(scratch, np);
    /* Sen's interval: the pairwise slopes of ranks (N -/+ C)/2 around the median, C = z times
     * the standard deviation of Kendall's S under "no trend" (ties ignored: samples of a
     * continuous quantity). */
    double nn = (double)n;
    double c = z * sqrt(nn * (nn - 1) * (2 * nn + 5) / 18.0);
    double lo_r = floor(((double)np - c) / 2), hi_r = ceil(((double)np + c) / 2);
    size_t lo_k = lo_r < 1 ? 0 : (size_t)lo_r - 1;                        /* 1-based ranks */
    size_t hi_k = hi_r > (double)np ? np - 1 : (hi_r < 1 ? 0 : (size_t)hi_r - 1);
    if (lo_k > mid)
        lo_k = mid;
    if (hi_k < mid)
        hi_k = mid;
    double s_lo = lo_k == mid ? scratch[mid] : predict_select(scratch, mid, lo_k);
    double s_hi = hi_k == mid ? scratch[mid]
                              : predict_select(scratch + mid + 1, np - mid - 1, hi_k - mid - 1);
    out->n = (int)n;
    out->slope = slope;
    out->slope_low = s_lo;
    out->slope_high = s_hi;
    out->eta_s = out->eta_low_s = out->eta_high_s = INFINITY;

    double level = predict_level(rt, v, n, slope, buf);
    out->level = level;
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += v[i];
    mean /= nn;
    double ss_tot = 0, ss_res = 0;
    for (size_t i = 0; i < n; i++) {
        double r = v[i] - (level + slope * rt[i]);
        ss_res += r * r;
        ss_tot += (v[i] - mean) * (v[i] - mean);
    }
    out->r2 = ss_tot > 0 ? fmax(0.0, 1.0 - ss_res / ss_tot) : (ss_res > 0 ? 0 : 1);

    double eta = predict_cross(level, slope, threshold);
    if (!isfinite(eta)) {
        snprintf(msg, len, "no trend towards %g: level %g, slope %g/s", threshold, level, slope);
        return HEALER_E_NOTREND;
    }
    /* The bounds: each slope of the interval with its own level (the line pivots about the
     * median residual, so a steeper slope also moves the level). The steeper end towards the
     * threshold is the early one. */
    double e1 = predict_cross(predict_level(rt, v, n, s_lo, buf), s_lo, threshold);
    double e2 = predict_cross(predict_level(rt, v, n, s_hi, buf), s_hi, threshold);
    double early = fmin(e1, e2), late = fmax(e1, e2);
    /* A bound on the far side of zero never crosses: late is +inf then (fmax above). */
    out->eta_s = eta;
    out->eta_low_s = fmin(early, eta);
    out->eta_high_s = fmax(late, eta);
    return HEALER_OK;
}

/* ---- the change point ---------------------------------------------------------------------
 *
 * Why. Theil-Sen over the whole window is the right answer for a trend that fills it, and a
 * slow one for a trend that began lately: after a long flat stretch, the median of the pairwise
 * slopes stays with the flat part's until the new trend holds about half the window, and a
 * memory leak of 0.5 %/s after 20 min of flat use crosses 80 % before that. Searching the
 * newest half, quarter, ... for the straightest part (tried: bench/README.md) finds the ramp,
 * but on a noisy flat series the best of several parts is a chance line several times a day.
 *
 * So the window is cut only where the data says something changed. Where: the split that the
 * cumulative sum of the whole line's residuals is farthest from zero at (the classic locator of
 * a change in level or in slope: residuals drift one way after the change, the other before).
 * Whether: the history before the split gets its own line, and the newest PREDICT_CP_RUN points
 * must all lie more than PREDICT_CP_Z robust standard deviations of the history's residuals
 * (1.4826 MAD) on the same side of its extension. With independent noise the chance of that is
 * below 1e-17 per query; a spike, or a burst shorter than the run, never cuts; the test does not
 * depend on how far the whole line has tilted, so a ramp stays cut while it runs (no flicker
 * between the two answers) and a level shift stays cut until it leaves the window. Both parts
 * need the plugin's min_points. The new part is then fitted alone, and its n, r2 and interval are
 * what the plugin sees (n below the window's points says a cut was made), so the plugin's own
 * gates (min_points, predict_min_r2) judge the part fitted. A level shift (a step, then flat) is
 * cut at the step: its new part is flat, its interval holds zero, and it does not fire where the
 * whole window's line, tilted by the step, would. Cost: one or two more fits, of histories
 * (bench/README.md has the time). Stateless: the same points give the same answer in every host. */

/* The robust standard deviation of r[0..n) about its median (1.4826 MAD); a reordered. */
static double predict_sigma(const double *r, size_t n, double *a)
{
    for (size_t i = 0; i < n; i++)
        a[i] = r[i];
    double med = predict_median(a, n);
    for (size_t i = 0; i < n; i++)
        a[i] = fabs(r[i] - med);
    return 1.4826 * predict_median(a, n);
}

/* The robust deviation of a history's residuals hr[0..c) about its line (slope hs, level hl,
 * oldest time rt0). A history exact to its line (no noise, as a cgroup holding still): any
 * departure beyond rounding is a change. */
static double predict_hist_sigma(const double *hr, size_t c, double *a, double hs, double hl,
                                 double rt0)
{
    double sig = predict_sigma(hr, c, a);
    double floor_ = 1e-9 * (fabs(hl) + fabs(hs * rt0)) + 1e-300;
    return sig > floor_ ? sig : floor_;
}

/* The Theil-Sen slope and level of rt[0..n) (n >= 2, not all at one time). */
static void predict_line(const double *rt, const double *v, size_t n, double *scratch,
                         double *buf, double *slope, double *level)
{
    size_t np = 0;
    for (size_t i = 0; i + 1 < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (rt[j] > rt[i])
                scratch[np++] = (v[j] - v[i]) / (rt[j] - rt[i]);
    *slope = np ? predict_median(scratch, np) : 0;
    *level = predict_level(rt, v, n, *slope, buf);
}

/* Whether the window changed at c: the history [0, c) gets its own line, and the newest
 * PREDICT_CP_RUN points must all lie beyond PREDICT_CP_Z deviations of its residuals on one side
 * of its extension. The first point of the new part (trimmed as below), 0 when not a change. */
static size_t predict_cp_test(const double *rt, const double *v, size_t n, size_t min, size_t c,
                              double *scratch)
{
    /* the history's line is not carried further than it was measured: the new part is no longer
     * than the history (a short history extended far is a chance line, not a reference) */
    if (c < min || n - c < min || n - c > c || rt[c - 1] <= rt[0])
        return 0;
    double hs, hl, a[HEALER_SERIES_POINTS], hr[HEALER_SERIES_POINTS];
    predict_line(rt, v, c, scratch, a, &hs, &hl);
    for (size_t i = 0; i < c; i++)
        hr[i] = v[i] - (hl + hs * rt[i]);
    double hsig = predict_hist_sigma(hr, c, a, hs, hl, rt[0]);
    int lean = v[n - 1] > hl + hs * rt[n - 1] ? 1 : -1;
    for (size_t i = n - PREDICT_CP_RUN; i < n; i++)
        if (!(lean * (v[i] - (hl + hs * rt[i])) > PREDICT_CP_Z * hsig))
            return 0;
    /* The new part's head: a locator may start it a sample or two early, and a point of the
     * old level left at the head of a step's new part tilts its line. Points still within
     * PREDICT_CP_HEAD deviations of the history's line stay out (a ramp loses only its first,
     * smallest steps). */
    while (c < n && lean * (v[c] - (hl + hs * rt[c])) <= PREDICT_CP_HEAD * hsig)
        c++;
    return n - c < min ? 0 : c;
}

/* A one-sided CUSUM (drift one deviation) of the residuals r in the way lean: the index after
 * the last sample where it stood at zero (where the departure began). */
static size_t predict_cusum_start(const double *r, size_t n, int lean, double sigma)
{
    size_t c = 0;
    double S = 0;
    for (size_t i = 0; i < n; i++) {
        S = fmax(0.0, S + lean * r[i] / sigma - 1.0);
        if (S == 0)
            c = i + 1;
    }
    return c;
}

/* The index of the first point of the new part, 0 when the window is one piece. */
static size_t predict_change_point(const double *rt, const double *v, size_t n, size_t min,
                                   const healer_prediction *whole, double *scratch)
{
    if (n < 2 * min || n < 2 * PREDICT_CP_RUN || !isfinite(whole->slope))
        return 0;
    double r[HEALER_SERIES_POINTS], a[HEALER_SERIES_POINTS];
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        r[i] = v[i] - (whole->level + whole->slope * rt[i]);
        total += r[i];
    }
    double sigma = predict_sigma(r, n, a);
    /* A young change: the whole line is still the history's, its newest residuals lean one way
     * (their median beyond one deviation), and a one-sided CUSUM (drift one deviation) of the
     * residuals in that way starts the new part after the last sample where it stood at zero. */
    for (size_t i = 0; i < PREDICT_CP_RUN; i++)
        a[i] = r[n - PREDICT_CP_RUN + i];
    double m = predict_median(a, PREDICT_CP_RUN);
    if (fabs(m) > sigma) {
        int lean = m > 0 ? 1 : -1;
        size_t c = predict_cusum_start(r, n, lean, sigma);
        /* When the history is short the whole line already leans into the new part and the
         * CUSUM starts it late; the history's own line (up to that start) is the better
         * reference: locate again against it, until the start holds (at most 3 times). */
        for (int pass = 0; pass < 3 && c >= min && c < n; pass++) {
            double hs, hl, hr[HEALER_SERIES_POINTS];
            predict_line(rt, v, c, scratch, a, &hs, &hl);
            for (size_t i = 0; i < n; i++)
                hr[i] = v[i] - (hl + hs * rt[i]);
            double hsig = predict_hist_sigma(hr, c, a, hs, hl, rt[0]);
            size_t c2 = predict_cusum_start(hr, n, lean, hsig);
            if (c2 == c)
                break;
            c = c2;
        }
        size_t got = predict_cp_test(rt, v, n, min, c, scratch);
        if (got)
            return got;
    }
    /* An older one (a level shift a third of the window ago has tilted the whole line, and its
     * newest residuals no longer lean): where the centred cumulative sum of the residuals is
     * farthest from zero, the classic locator of one change in a series. */
    size_t c = 0;
    double cum = 0, best = -1;
    for (size_t i = 0; i + 1 < n; i++) {
        cum += r[i];
        double d = fabs(cum - total * (double)(i + 1) / (double)n);
        if (d > best) {
            best = d;
            c = i + 1;
        }
    }
    return predict_cp_test(rt, v, n, min, c, scratch);
}

int predict_fit(const double *t, const double *v, size_t n, double threshold,
                healer_prediction *out, double *scratch, char *msg, size_t len)
{
    if (!t || !v || !out || !scratch || !isfinite(threshold)) {
        snprintf(msg, len, "series_predict: %s", !out ? "no output" : "threshold not finite");
        return HEALER_E_INVAL;
    }
    double window = out->window_s;
    int min = out->min_points ? out->min_points : HEALER_SERIES_MIN_POINTS;
    if (!(window >= 0) || !isfinite(window) || min < 3 || min > HEALER_SERIES_POINTS) {
        snprintf(msg, len, "series_predict: window_s %g (>= 0) or min_points %d (3..%d) out of "
                 "range", window, out->min_points, HEALER_SERIES_POINTS);
        return HEALER_E_INVAL;
    }
    if (n > HEALER_SERIES_POINTS) {   /* the newest ones */
        t += n - HEALER_SERIES_POINTS;
        v += n - HEALER_SERIES_POINTS;
        n = HEALER_SERIES_POINTS;
    }
    memset(out, 0, sizeof *out);
    out->window_s = window;
    out->min_points = min == HEALER_SERIES_MIN_POINTS ? 0 : min;
    out->eta_s = out->eta_low_s = out->eta_high_s = INFINITY;
    if (n == 0) {
        snprintf(msg, len, "no points");
        return HEALER_E_NODATA;
    }
    double last = t[n - 1];
    size_t first = 0;
    if (window > 0)
        while (first < n && t[first] < last - window)
            first++;
    t += first;
    v += first;
    n -= first;
    out->n = (int)n;
    out->t_last = last;
    if (n < (size_t)min || t[0] == last) {
        snprintf(msg, len, "%zu points over %.0f s; %d needed, spread in time", n, last - t[0],
                 min);
        return HEALER_E_NODATA;
    }

    /* Times relative to the newest point: epoch seconds (1.7e9) squared or multiplied by a slope
     * would lose the precision the differences need. */
    double rt[HEALER_SERIES_POINTS];
    for (size_t i = 0; i < n; i++)
        rt[i] = t[i] - last;
    /* The whole window first: it is the answer unless the newest points left it (below). */
    int rc = predict_fit_one(rt, v, n, threshold, PREDICT_Z, out, scratch, msg, len);
    size_t c = predict_change_point(rt, v, n, (size_t)min, out, scratch);
    if (c == 0)
        return rc;
    /* Only the samples since the change: the history before it says nothing of the new trend
     * (a ramp), or of the new level (a step: the segment is flat and does not fire). */
    healer_prediction seg = *out;
    char why[HEALER_MSG_MAX];
    /* A wider interval (PREDICT_CP_ZFIT) for the new part: it was chosen by looking at the data,
     * and a short part of flat noise after a level shift leans by chance one query in forty at
     * 95%; a real ramp is straight enough that its interval is narrow either way. */
    int rc2 = predict_fit_one(rt + c, v + c, n - c, threshold, PREDICT_CP_ZFIT, &seg, scratch, why,
                              sizeof why);
    *out = seg;
    if (rc2 < 0)
        snprintf(msg, len, "since the change %.0f s ago (%zu points): %s", -rt[c], n - c, why);
    return rc2;
}

int predict_query(predict_set *s, const char *name, double threshold, healer_prediction *out,
                  char *msg, size_t len)
{
    if (!out) {
        snprintf(msg, len, "series_predict: no output");
        return HEALER_E_INVAL;
    }
    if (!predict_name_ok(name, msg, len))
        return HEALER_E_INVAL;
    series *se = predict_find(s, name, NULL);
    if (!se) {
        snprintf(msg, len, "series %s: not found (never fed, or forgotten)", name);
        return HEALER_E_NOTFOUND;
    }
    if (!s->scratch && !(s->scratch = malloc(PAIRS_MAX * sizeof *s->scratch))) {
        snprintf(msg, len, "series %s: out of memory", name);
        return HEALER_E_NOMEM;
    }
    for (size_t i = 0; i < se->n; i++) {
        size_t at = (se->head + HEALER_SERIES_POINTS - se->n + i) % HEALER_SERIES_POINTS;
        s->t[i] = se->t[at];
        s->v[i] = se->v[at];
    }
    char why[HEALER_MSG_MAX];
    int rc = predict_fit(s->t, s->v, se->n, threshold, out, s->scratch, why, sizeof why);
    if (rc < 0)
        snprintf(msg, len, "series %s: %s", name, why);
    return rc;
}
