/* agent_int.h — what agent.c (life, reload, --once) and agent_http.c (the HTTP backend) share:
 * the agent and its generation. Not for other modules: they use agent.h. */
#ifndef AGENT_AGENT_INT_H
#define AGENT_AGENT_INT_H

#include <jansson.h>
#include <pthread.h>

#include "agent.h"
#include "actuators.h"
#include "alerts.h"
#include "changelog.h"
#include "governor.h"
#include "history.h"
#include "http.h"
#include "loader.h"
#include "notify.h"
#include "runtime.h"
#include "worker.h"

/* One generation: everything one load of the plugins sees, built from one config. A reload
 * builds the next one completely (and refuses if it cannot) before it retires this one. A
 * plugin thread the host gave up on keeps its generation alive until it returns (worker.h). */
typedef struct generation {
    runtime rt;                  /* cfg and act below, plus the agent's long-lived services */
    config *cfg;
    actuators *act;
    plugin_set plugins;
    worker_hold hold;
} generation;

struct agent {
    agent_opts opts;
    config *cfg;                 /* the config in force: gen->cfg once a generation runs */
    generation *gen;
    unsigned generations;        /* numbers them: bus endpoints carry it */
    bus *bus;
    metrics *metrics;
    audit_log *audit;
    knowledge *kb;
    governor *gov;
    notifier *notify;            /* webhooks, Alertmanager, exec hook: outlives reloads */
    history *history;            /* the last 24 h by minute for the dashboard: outlives reloads */
    undo_journal *undo;          /* the crash-safe record of reversible changes (every gen's) */
    changelog *changes;          /* the history of changes and what undoes them (every gen's) */
    engine *engine;
    alerts *alerts;              /* fleet.alerts' fingerprints and mapping (POST /api/v1/alerts);
                                    NULL until a config has fleet.alerts; outlives reloads */
    struct fleet_know *fleet;    /* hd-fleet (fleet.peers): NULL when not configured or failed */
    http_server *http;
    double started_mono;
    int state_lock;              /* state_dir/lock, flock'ed for the process's life; -1 none */
    /* Readers: HTTP callbacks. Writer: a reload swapping the generation and the engine. */
    pthread_rwlock_t lock;
};


/* agent_http.c */
/* A listener for c's address and token, serving this agent. NULL with err set when it cannot
 * bind (or c disables HTTP: then err is empty). */
http_server *http_open(agent *a, const config *c, char *err, size_t errlen);
/* fleet.alerts of c: a->alerts made (the first time) and given c's mapping; nothing without it. */
void agent_alerts_setup(agent *a, const config *c);
/* Opens a->cfg's listener into a->http; -1 (logged) when it cannot. */
int start_http(agent *a);
/* The plugins view of set (GET /api/v1/plugins); agent_dry: the agent's own mode. */
json_t *plugins_json(const plugin_set *set, int agent_dry);

#endif
