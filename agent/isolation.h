/* isolation.h — how a plugin runs: in an agent thread or in a healerd-plugin child, and the child's
 * limits. The keys are implicit in every plugins.<name> section (as enabled and interval);
 * config.c resolves them, the loader copies them into the plugin's record. */
#ifndef AGENT_ISOLATION_H
#define AGENT_ISOLATION_H

#include "healer/plugin.h"

struct plugin_rec;

/* The default of plugins.<name>.isolation. */
#define ISOLATION_DEFAULT "thread"

/* isolation, memory_max_mb, cpu_max_percent, max_crashes; terminated by a NULL name. */
extern const healer_config_key isolation_keys[];
#define ISOLATION_N_KEYS 4

/* NULL when value is a valid isolation, else the message for FILE:LINE. */
const char *isolation_check(const char *value);
/* Copies the resolved keys of p->conf into p (isolation, limits). */
void isolation_apply(struct plugin_rec *p);

#endif
