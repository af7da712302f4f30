/* engine_harness.h — the engine without threads or a bus, for test_engine.c and
 * test_engine_model.c: a detached engine (engine_new_detached) on a simulated clock, whose
 * plugins the test plays. Everything the engine sends is logged here; messages go in by hand. */
#ifndef TESTS_ENGINE_HARNESS_H
#define TESTS_ENGINE_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "engine_int.h"

#define HX_MAXP 8

/* A plugin the test plays: which callbacks it has (the engine only looks at which are set). */
typedef struct hx_plugin {
    const char *name;
    const char *const *types;   /* issue types it plans for (NULL-terminated), or NULL */
    int verify, restore;        /* has verify() / restore() */
    double interval;            /* 0 = agent.interval */
} hx_plugin;

/* A preview's EXECUTE (msg.preview set) is logged as this kind, so that counts of EXECUTE are
 * of real steps only. */
#define HX_PREVIEW ((msg_kind)100)

/* One message the engine sent, copied (the engine's is borrowed). */
typedef struct hx_sent {
    int plugin;                 /* destination index */
    msg_kind kind;
    uint64_t seq, attempt;
    int has_issue;
    uint64_t issue_id;
    int severity;
    char type[32], target[32];
    char action[64], action_plugin[32];   /* actions[0] of EXECUTE/VERIFY */
    double wait;
    double mono;                /* when it was sent */
} hx_sent;

/* A candidate action in a PLAN answer. */
typedef struct hx_act {
    const char *name;
    unsigned step;
    uint32_t flags;
    double confidence;
} hx_act;

typedef struct hx {
    config cfg;
    governor *gov;
    metrics *met;
    knowledge *kb;
    char kbdir[64];
    runtime rt;
    plugin_set set;
    engine *e;
    double now, mono;           /* the simulated clocks */
    hx_sent *log;
    size_t n_log, cap_log;
    int refuse[HX_MAXP];        /* sends to plugin i fail (queue full) while set */
    void (*observe)(void *ud, const hx_sent *s);   /* called for every message sent */
    void *observe_ud;
    json_t *done;               /* finished heals collected by hx_heal, oldest first */
} hx;

#define HX_T0 1700000000.0

/* Config defaults: action_timeout 60 s, interval 5 s, limits 10/h, 3 rollbacks, health 30,
 * cooldown 5 min, confirmations expire after 60 min; exploration 0; live. with_kb: a real
 * knowledge base in a temporary directory (else NULL). Change h->cfg before hx_start. */
void hx_init(hx *h, const hx_plugin *plugins, size_t n, int with_kb);
/* Builds the engine (keeps its finished heals for hx_heals). */
void hx_start(hx *h);
/* A reload: the engine is freed and built again on the same governor (limits and dry-run
 * from h->cfg applied to it, as agent.c does). */
void hx_restart(hx *h);
void hx_free(hx *h);

int hx_pidx(const hx *h, const char *name);
void hx_advance(hx *h, double seconds);   /* both clocks */
void hx_sweep(hx *h);

void hx_issue(hx *h, const char *plugin, const char *type, const char *target, int severity);
void hx_resolve(hx *h, const char *plugin, const char *type, const char *target);
void hx_plan(hx *h, const char *plugin, uint64_t seq, const hx_act *acts, size_t n);
void hx_result(hx *h, const char *plugin, uint64_t seq, uint64_t attempt, int code, double wait,
               const char *text);
void hx_verdict(hx *h, const char *plugin, uint64_t seq, uint64_t attempt, int code, double wait,
                const char *text);
void hx_ack(hx *h, const char *plugin, uint64_t seq, uint64_t attempt);
/* HTTP_CMD_CONFIRM / HTTP_CMD_REJECT / PAUSE / RESUME through the engine's command path. */
int hx_command(hx *h, http_command c, uint64_t id);

/* Messages of kind sent since log index `from` (to plugin, or any when NULL). */
size_t hx_count(const hx *h, size_t from, msg_kind kind, const char *plugin);
/* The last message of kind (to plugin, or any) sent since `from`, or NULL. */
const hx_sent *hx_last(const hx *h, size_t from, msg_kind kind, const char *plugin);
/* The finished heals, oldest first (a new reference), and forgets them. */
json_t *hx_take_heals(hx *h);
/* The finished heal with this id (borrowed), or NULL while it runs (or if it never ran). */
json_t *hx_heal(hx *h, uint64_t id);
/* The engine's issue for (type, target), or NULL. */
eissue *hx_open_issue(hx *h, const char *type, const char *target);

#endif
