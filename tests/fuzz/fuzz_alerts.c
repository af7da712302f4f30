/* fuzz_alerts.c — libFuzzer target for the Alertmanager webhook parser (alerts.c): for any bytes
 * it never crashes or leaks, a payload it takes accounts for every element of "alerts" in its
 * summary, every operation's type is a mapped one and its target and summary are bounded, valid
 * UTF-8 with no control character, and the fingerprints it remembers stay within their bound. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "healer/types.h"
#include "sanitize.h"

static char *ms[] = {"value", "threshold"};
static fleet_alert_map MAP[] = {
    {"HighLoad", "load_high", "instance", ms, 2, -1},
    {"A", "a_type", "target", NULL, 0, 3},
};
static const fleet_alerts_conf CONF = {1, "", MAP, 2, 600};

static void check_clean(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n >= max)
        abort();
    for (size_t i = 0; i < n;) {
        size_t l = sanitize_utf8_seq((const unsigned char *)s + i, n - i);
        size_t cl;
        if (l == 0 || sanitize_control_at(s + i, n - i, &cl) >= 0)
            abort();
        i += l;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static alerts *a;
    static double now;
    if (!a) {
        a = alerts_new();
        if (!a || alerts_configure(a, &CONF) < 0)
            abort();
    }
    now += 50;   /* fingerprints go stale now and then */
    alert_op *ops;
    size_t n;
    alerts_summary s;
    char err[256];
    if (alerts_ingest(a, (const char *)data, size, now, &ops, &n, &s, err, sizeof err) < 0) {
        if (!err[0] || ops || n)
            abort();
        check_clean(err, sizeof err);
        return 0;
    }
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    size_t total = json_array_size(json_object_get(root, "alerts"));
    json_decref(root);
    if ((size_t)s.accepted + s.ignored + s.resolved + s.invalid + s.dropped != total)
        abort();
    if (n > (size_t)s.accepted + s.resolved)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ops[i].type, "load_high") != 0 && strcmp(ops[i].type, "a_type") != 0)
            abort();
        if (ops[i].severity < 0 || ops[i].severity > 3 || ops[i].n_measures > 2)
            abort();
        check_clean(ops[i].target, HEALER_TARGET_MAX);
        check_clean(ops[i].summary, HEALER_MSG_MAX);
    }
    alert_ops_free(ops, n);
    if (alerts_tracked(a) > ALERTS_TRACK_MAX)
        abort();
    return 0;
}
