/* isolation.h — how a plugin runs: in an agent thread or in a healerd-plugin child, and the child's
 * limits. The keys are implicit in every plugins.<name> section (as enabled and interval);
 * config.c resolves them, the loader copies them into the plugin's record. */
#ifndef AGENT_ISOLATION_H
#define AGENT_ISOLATION_H

#include "healer/plugin.h"

struct plugin_rec;

/* The default of plugins.<name>.isolation: every plugin runs in a confined healerd-plugin child,
 * so a crash, hang or runaway of one plugin cannot take the agent down. "thread" is the opt-in for
 * a measured case where the child's round trip matters (README "Plugin children"). */
#define ISOLATION_DEFAULT "process"
/* The default for one plugin section: ISOLATION_DEFAULT, but "thread" for the built-in memory
 * plugin, whose emergency kill was measured slower in a child (README "Plugin children"). */
const char *isolation_default(const char *section);

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
/* The child protocol its --describe announced ("protocol"; 1 when absent or not described). */
int describe_protocol(const struct plugin_rec *p);
/* Copies the resolved keys of p->conf into p (isolation, limits); an isolation the operator did
 * not set in cfg is isolation_default(p->section). */
void isolation_apply(struct plugin_rec *p, const struct config *cfg);

#endif
