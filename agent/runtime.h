/* runtime.h — the services that outlive a config reload, shared by the engine and every plugin
 * worker: the bus, the actuators, metrics, the audit log, the knowledge base, the governor.
 * Each service is thread-safe on its own; this struct only bundles the pointers. */
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
    unsigned generation;      /* bumped on every reload: endpoints carry it (inproc names) */
} runtime;

#endif
