/* metrics_process.h — the standard process_* metrics of the agent itself (RSS, virtual memory,
 * CPU seconds, open and maximum fds, start time), as the Prometheus client libraries name them:
 * read from /proc/self at each scrape and appended to the registry's text. */
#ifndef AGENT_METRICS_PROCESS_H
#define AGENT_METRICS_PROCESS_H

#include <stddef.h>

/* Appends the process_* families to *text (malloc'd, length *len; realloc'd). A value that
 * cannot be read is left out rather than exported as a sentinel. 0, or -1 out of memory (then
 * *text is unchanged). */
int metrics_process_append(char **text, size_t *len);

#endif
