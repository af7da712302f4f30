/* history.h — the last 24 hours in one-minute slots (health, each component's health, heals
 * finished by outcome) for the dashboard's charts and GET /api/v1/history. Fixed memory: a
 * ring of HISTORY_SLOTS minutes and at most HISTORY_COMPONENTS named components. */
#ifndef AGENT_HISTORY_H
#define AGENT_HISTORY_H

#include <stddef.h>
#include <jansson.h>

#define HISTORY_SLOTS 1440       /* 24 h of minutes */
#define HISTORY_COMPONENTS 32    /* components kept at once; a column is reused once its data aged out */
#define HISTORY_NAME_MAX 256     /* a plugin or component name is cut to this many bytes */

typedef struct history history;

/* One component as the engine knows it now (names need not be NUL-terminated). */
typedef struct history_comp {
    const char *plugin;
    size_t plugin_len;
    const char *component;
    size_t component_len;
    double score;
} history_comp;

history *history_new(void);
void history_free(history *h);

/* The system health and every live component's health at monotonic time `mono` (seconds):
 * the minute keeps its lowest and last value; a minute without a sample carries the values in
 * force (health is a state, not an event). Components missing from `c` are no longer carried. */
void history_health(history *h, double mono, double score, const history_comp *c, size_t n);

/* A heal finished with this outcome (eng_finish_heal's names; others count as "other"). */
void history_heal(history *h, double mono, const char *outcome);

/* The last `minutes` minutes (1..HISTORY_SLOTS) up to the one holding mono_now, oldest first,
 * columns of equal length; wall_now dates them. Shape in docs/http-api.md. NULL on no memory. */
json_t *history_json(history *h, double mono_now, double wall_now, int minutes);

#endif
