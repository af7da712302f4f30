/* runtime.h — what the engine and every plugin worker of one generation use: that generation's
 * config and actuators, and the services that outlive a reload (bus, metrics, audit log,
 * knowledge base, governor, history). One per generation (agent.c), so a stuck plugin thread of an old
 * generation keeps reading its own. Each service is thread-safe; this only bundles pointers. */
#ifndef AGENT_RUNTIME_H
#define AGENT_RUNTIME_H

#include "actuators.h"
#include "audit.h"
#include "bus.h"
#include "config.h"
#include "governor.h"
#include "knowledge.h"
#include "metrics.h"

typedef struct runtime {
    const config *cfg;
    bus *bus;
    actuators *act;
    metrics *metrics;
    audit_log *audit;
    knowledge *kb;
    governor *gov;
    struct notifier *notify;  /* may be NULL (tests): notify_post ignores it */
    struct history *history;  /* the dashboard's 24 h ring; may be NULL (tests) */
    struct fleet_limit *fleet;/* fleet.etcd's limits on risky steps; NULL when not configured */
    unsigned generation;      /* bumped on every reload: endpoints carry it (inproc names) */
} runtime;

#endif
