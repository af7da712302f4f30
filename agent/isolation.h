/* isolation.h — how a plugin runs: in an agent thread or in a healerd-plugin child, and the child's
 * limits. The keys are implicit in every plugins.<name> section (as enabled and interval);
 * config.c resolves them, the loader copies them into the plugin's record. */
#ifndef AGENT_ISOLATION_H
#define AGENT_ISOLATION_H

#include "healer/plugin.h"

struct plugin_rec;

/* The default of plugins.<name>.isolation. "thread" until plugin-to-plugin requests and probe_run
 * work from a child (issue #9 is open on it): with "process" the service request path and
 * nixconfig's probes fail. Set isolation = "process" per plugin to opt in. */
#define ISOLATION_DEFAULT "thread"

/* isolation, memory_max_mb, cpu_max_percent, confine, inspect_processes, local_sockets,
 * max_crashes, exec; terminated by a NULL name. A built-in's defaults of inspect_processes and
 * local_sockets come from its row in rules_policy.c (config.c). */
extern const healer_config_key isolation_keys[];
#define ISOLATION_N_KEYS 9 /* entries of isolation_keys (checked in isolation.c) */

/* NULL when value is a valid isolation, else the message for FILE:LINE. */
const char *isolation_check(const char *value);
/* NULL when value is a plugin mode ("live", "dry-run"), else what is wrong with it. */
const char *isolation_mode_check(const char *value);
struct config;
/* 1 when the plugin of this config section is read and run by a child: its isolation is
 * "process", or every plugin is (isolation_all_in_child, --check-config). */
int isolation_in_child(const struct config *cfg, const char *section);
void isolation_all_in_child(int on);
/* describe.c: the descriptor of p->file read by `healerd-plugin --describe` into p->desc (owned
 * copies; callbacks are markers, never called in the agent). 0, or -1 with why ("crashed while
 * loading: killed by signal 11 (SIGSEGV)"). */
int describe_in_child(struct plugin_rec *p, char *why, size_t len);
void describe_free(struct plugin_rec *p);
/* Copies the resolved keys of p->conf into p (isolation, limits). */
void isolation_apply(struct plugin_rec *p);

#endif
