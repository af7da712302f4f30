/* healer/plugin.h — what a plugin exports: one descriptor, returned by the entry point
 * healer_plugin_entry_v1(). The descriptor says who the plugin is, which ABI it needs, the
 * issue types it claims, its config schema and its callbacks. */
#ifndef HEALER_PLUGIN_H
#define HEALER_PLUGIN_H

#include "host.h"
#include "types.h"
#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Declared config schema (as Fluent Bit's config_map) ------------------------------ */

typedef enum healer_config_type {
    HEALER_CFG_BOOL = 1,
    HEALER_CFG_INT = 2,
    HEALER_CFG_DOUBLE = 3,     /* an int in the file is accepted for a double */
    HEALER_CFG_STRING = 4,
    HEALER_CFG_STRING_LIST = 5 /* ["a", "b"] */
} healer_config_type;

/* One key of the plugin's section plugins.<name>. The host rejects, with FILE:LINE, a key
 * not in the schema, a value of the wrong type, and a number outside [min, max] (not checked
 * when min == max). "enabled" and "interval" are implicit for every plugin. */
typedef struct healer_config_key {
    const char *name;
    healer_config_type type;
    const char *default_value;   /* as it would be written in the file: "true", "90", "0.5",
                                    "\"text\"" is not needed: strings are given bare; a list
                                    default is comma-separated; NULL = false/0/""/empty */
    double min, max;
    const char *description;     /* one line, for docs and --check-config */
} healer_config_key;

/* ---- The descriptor ---------------------------------------------------------------------
 * Static, constant, owned by the plugin for as long as it is loaded. The host copies the
 * first struct_size bytes into a zeroed descriptor of its own size, so a plugin built
 * against an older minor (a shorter struct) still loads; new fields are only appended.
 *
 * Threading: every callback of one plugin runs on that plugin's own worker thread, one at a
 * time, so a plugin needs no locks for its state. A slow callback stalls only this plugin.
 * Return codes: HEALER_OK, or a negative healer_rc; a failure is logged with the plugin's
 * name and counted, and the agent goes on. */
typedef struct healer_plugin {
    uint32_t struct_size;          /* sizeof(healer_plugin) as the plugin was compiled */
    uint16_t abi_major;            /* HEALER_ABI_MAJOR the plugin was built for */
    uint16_t abi_minor;            /* the oldest host minor it needs (usually HEALER_ABI_MINOR) */
    const char *name;              /* [a-z0-9_], unique; the config section's name */
    const char *version;           /* the plugin's own version, "1.2.0" */
    const char *description;       /* one line */
    const char *const *issue_types;/* NULL-terminated: the issue types this plugin plans for
                                      (claims). The engine sends plan() every issue of these
                                      types, whichever plugin detected it. May be NULL. */
    const healer_config_key *config;/* schema, terminated by an entry with name NULL; or NULL */
    double interval;               /* seconds between detect() calls; 0 = agent.interval */

    /* Required. Called once on the worker thread before anything else. host and ctx stay
     * valid until destroy() returns. *state is handed to every other callback. On failure
     * the plugin is refused; write the reason with host->log. */
    int (*init)(const healer_host *host, healer_ctx *ctx, void **state);

    /* Required. Frees everything; the last call the plugin gets. */
    void (*destroy)(void *state);

    /* Optional (but a plugin needs detect or plan). Measures, publishes issues with
     * host->publish_issue and reports health. Called every interval. */
    int (*detect)(void *state);

    /* Optional. Proposes actions for an issue of a claimed type with host->plan_add_action.
     * Adding none is fine: another plugin may plan for it. issue is borrowed for the call. */
    int (*plan)(void *state, const healer_issue *issue, healer_plan *plan);

    /* Required when plan is set. Carries out one action this plugin proposed, through the
     * host's actuators only. issue and action are borrowed for the call; action->params are
     * the ones given to plan_add_action. result is zeroed by the host, with outcome pre-filled
     * HEALER_OUTCOME_UNSET: set it on every path (an unset outcome is recorded as an error).
     * Finish within host->action_time_left(): past agent.action_timeout the engine records the
     * step as timed out and goes on without it (this plugin gets no other step until it returns).
     * Never sleep here waiting for a change to settle: set result->verify_after_s. */
    int (*execute)(void *state, const healer_issue *issue, const healer_action *action,
                   healer_result *result);

    /* Optional. Re-measures after an action that returned DONE; verdict is zeroed by the host.
     * Called verify_after_s after execute() (by a timer: detect() and fd callbacks of this plugin
     * run meanwhile), and again after every recheck_after_s the verdict asks for, so "stays
     * healed" is judged over a settle window without blocking the plugin. Without verify() here,
     * the plugin that detected the issue verifies when it has verify() (also verify_after_s after
     * execute() returned, by its own worker's timer); when neither has, a DONE
     * action is taken as healed at once (a repeat of the issue after the cooldown starts a new
     * heal). */
    int (*verify)(void *state, const healer_issue *issue, const healer_action *action,
                  healer_verdict *verdict);

    /* Optional. The issue has cleared: undo this plugin's reversible changes for it (thaw,
     * restore nice, governor, frequency…). Actuators are allowed here. */
    int (*restore)(void *state, const healer_issue *issue);

    /* Optional. Serves host->request() calls from other plugins. args borrowed for the
     * call; fill reply. Actuators are allowed here. */
    int (*handle_request)(void *state, const char *method, const healer_kv *args, size_t n_args,
                          healer_reply *reply);
} healer_plugin;

/* The entry point, exported with default visibility; everything else in a plugin should be
 * hidden (-fvisibility=hidden). Returns the plugin's static descriptor. */
typedef const healer_plugin *(*healer_plugin_entry_fn)(void);

#if defined(__GNUC__)
#define HEALER_EXPORT __attribute__((visibility("default")))
#else
#define HEALER_EXPORT
#endif

/* Use as:  HEALER_PLUGIN(my_descriptor)  at file scope, once per plugin. */
#define HEALER_PLUGIN(desc)                                                 \
    HEALER_EXPORT const healer_plugin *healer_plugin_entry_v1(void);        \
    HEALER_EXPORT const healer_plugin *healer_plugin_entry_v1(void) { return &(desc); }

#ifdef __cplusplus
}
#endif
#endif
