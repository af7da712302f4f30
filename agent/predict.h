/* predict.h — prediction as a host service: one plugin's named series (bounded rings) and the
 * robust time-to-threshold estimator behind host->series_feed/series_predict/series_forget.
 * Pure (libc and libm): compiled into the agent, healerd-plugin and the mock host alike. */
#ifndef HEALER_PREDICT_H
#define HEALER_PREDICT_H

#include <stddef.h>

#include <healer/host.h>

/* The confidence level of the slope interval: z of a two-sided 95% interval. */
#define PREDICT_Z 1.959964

/* The change point (predict.c says why): the window is cut where the cumulative sum of the
 * whole line's residuals peaks when the newest PREDICT_CP_RUN points all lie beyond PREDICT_CP_Z
 * robust standard deviations of the older part's residuals, on one side of its line. */
#ifndef PREDICT_CP_RUN
#define PREDICT_CP_RUN 4
#endif
#ifndef PREDICT_CP_Z
#define PREDICT_CP_Z 6.0
#endif
#ifndef PREDICT_CP_ZFIT
#define PREDICT_CP_ZFIT 3.290527   /* z of the new part's slope interval: 99.9% two-sided */
#endif
#ifndef PREDICT_CP_HEAD
#define PREDICT_CP_HEAD 3.0   /* the new part starts at its first point this far from the old line */
#endif

typedef struct predict_set predict_set;

/* An empty set (no memory for points until the first feed). NULL when out of memory. */
predict_set *predict_set_new(void);
void predict_set_free(predict_set *s);

/* host->series_feed, series_predict, series_forget on one plugin's set; the reason of a refusal
 * in msg. The set is made on first feed when *s is NULL. */
int predict_feed(predict_set **s, const char *name, double t, double value, char *msg,
                 size_t len);
int predict_query(predict_set *s, const char *name, double threshold, healer_prediction *out,
                  char *msg, size_t len);
int predict_forget(predict_set *s, const char *name, char *msg, size_t len);
/* Series held now (tests). */
size_t predict_count(const predict_set *s);

/* The estimator on plain arrays, t non-decreasing (tests and the benchmark call it directly):
 * as series_predict, with out->window_s and out->min_points read. scratch holds at least
 * n*(n-1)/2 doubles (the pairwise slopes). */
int predict_fit(const double *t, const double *v, size_t n, double threshold,
                healer_prediction *out, double *scratch, char *msg, size_t len);

#endif
