/* logstorm.h — log storms summarised, not logged per repeat: per (kind, key) the first `burst`
 * lines of each window pass, the rest are counted and said in one summary when the window
 * ends. Bounded memory (max_keys keys, then one overflow slot per kind) and no count lost. Not
 * thread-safe: its owner (the engine, under its lock) serialises the calls. */
#ifndef AGENT_LOGSTORM_H
#define AGENT_LOGSTORM_H

#include <stddef.h>
#include <stdint.h>

#define LOGSTORM_KINDS 4
/* The key the overflow slot reports when every slot was busy within its window. */
#define LOGSTORM_OTHER "(other)"

typedef struct logstorm logstorm;

/* Says "and N more" for (kind, key): n lines were held back over span_s seconds. */
typedef void (*logstorm_say)(void *ud, int kind, const char *key, uint64_t n, double span_s);

/* window_s > 0, burst >= 1, max_keys >= 1. NULL when out of memory. */
logstorm *logstorm_new(double window_s, unsigned burst, size_t max_keys, logstorm_say say,
                       void *ud);
void logstorm_free(logstorm *s);   /* says what is still held back first */
/* 1: log this line now; 0: counted for the summary. kind in [0, LOGSTORM_KINDS). now is
 * monotonic. A window that ended is summarised (say) before the new line is decided. */
int logstorm_admit(logstorm *s, int kind, const char *key, double now);
/* Summarises every window that has ended by now (all of them with force). */
void logstorm_flush(logstorm *s, double now, int force);
/* When the next summary is due (monotonic), INFINITY when nothing is held back. */
double logstorm_next_due(const logstorm *s);
/* Totals since creation, for tests: lines let through and lines held back (summarised or not
 * yet). */
void logstorm_totals(const logstorm *s, uint64_t *passed, uint64_t *held);

#endif
