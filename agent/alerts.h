/* alerts.h — Alertmanager's webhook (payload version "4") made into issues: the payload parsed
 * and bounded, each alert mapped by fleet.alerts.map (alertname -> issue type, a label -> the
 * target, numeric labels or annotations -> measurements), fingerprints remembered so a re-send
 * refreshes and the last "resolved" of an issue resolves it. No engine here: the caller hands the
 * resulting operations to engine_alerts_post (agent_http.c). Thread-safe (one mutex). */
#ifndef AGENT_ALERTS_H
#define AGENT_ALERTS_H

#include <stddef.h>

#include "config.h"

/* Bounds on what one payload may make the agent keep. */
#define ALERTS_TRACK_MAX 20000     /* fingerprints remembered; new ones beyond: dropped */
#define ALERTS_FP_MAX 64           /* a fingerprint: [0-9A-Za-z], 1..64 (Alertmanager: 16 hex) */
#define ALERTS_VALUE_MAX 4096      /* a label or annotation read longer than this: cut */

/* One change for the engine: an issue raised (or refreshed) or resolved. Strings malloc'd. */
typedef struct alert_op {
    int resolve;
    char *type, *target, *summary;
    int severity;                  /* healer_severity */
    char **names;                  /* measurements */
    double *values;
    size_t n_measures;
} alert_op;

typedef struct alerts_summary {
    unsigned accepted;   /* firing alerts raised or refreshed as issues */
    unsigned ignored;    /* alertnames no mapping names */
    unsigned resolved;   /* resolved alerts of a mapping */
    unsigned invalid;    /* not an object, no status, no fingerprint, no target label */
    unsigned dropped;    /* new fingerprints beyond ALERTS_TRACK_MAX */
} alerts_summary;

typedef struct alerts alerts;

alerts *alerts_new(void);
void alerts_free(alerts *a);
/* Takes a copy of c's map and stale time (a reload); remembered fingerprints stay. 0, or -1
 * out of memory (the old mapping stays). */
int alerts_configure(alerts *a, const fleet_alerts_conf *c);

/* Parses body[0..len) as an Alertmanager webhook payload at time now (seconds, any clock the
 * caller keeps using). 0 with *ops (n_ops of them, alert_ops_free them) and *sum; -1 when the
 * payload is refused as a whole (not JSON, not an object, version not "4", no alerts array),
 * with why in err. Fingerprints not re-sent within stale_seconds are forgotten first. */
int alerts_ingest(alerts *a, const char *body, size_t len, double now, alert_op **ops,
                  size_t *n_ops, alerts_summary *sum, char *err, size_t errlen);
void alert_ops_free(alert_op *ops, size_t n);
/* Fingerprints remembered now. */
size_t alerts_tracked(alerts *a);
/* The configured stale time (the issues' time to live in the engine). */
double alerts_stale_seconds(alerts *a);

#endif
