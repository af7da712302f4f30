/* healer_mock_predict.c — the mock host's series_feed, series_predict and series_forget: the
 * agent's own predict.c on the mock's per-plugin set, so a plugin's tests (feeding with the mock
 * clock, healer_mock_advance) get the answers the agent and healerd-plugin would give. */
#include "healer_mock_int.h"

#include "predict.h"

static int h_series_feed(healer_ctx *ctx, const char *name, double t, double value)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!hmock_allowed_fn(m, HEALER_FN_QUERY, "series_feed"))
        return HEALER_E_DENIED;
    return predict_feed(&m->series, name, t, value, m->last_message, sizeof m->last_message);
}

static int h_series_predict(healer_ctx *ctx, const char *name, double threshold,
                            healer_prediction *out)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!hmock_allowed_fn(m, HEALER_FN_QUERY, "series_predict"))
        return HEALER_E_DENIED;
    return predict_query(m->series, name, threshold, out, m->last_message,
                         sizeof m->last_message);
}

static int h_series_forget(healer_ctx *ctx, const char *name)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!hmock_allowed_fn(m, HEALER_FN_QUERY, "series_forget"))
        return HEALER_E_DENIED;
    return predict_forget(m->series, name, m->last_message, sizeof m->last_message);
}

void hmock_predict_fill(healer_host *h)
{
    h->series_feed = h_series_feed;
    h->series_predict = h_series_predict;
    h->series_forget = h_series_forget;
}

void hmock_predict_free(healer_mock *m)
{
    predict_set_free(m->series);
    m->series = NULL;
}
