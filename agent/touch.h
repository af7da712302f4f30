/* touch.h — msg_touch, one item of a pending plan's preview, on its own so the actuators can fill
 * one without seeing the bus's `msg` (their parameters are named msg). message.h includes it. */
#ifndef AGENT_TOUCH_H
#define AGENT_TOUCH_H

#include <stdint.h>

/* One thing a previewed step would touch (RESULT of an EXECUTE with preview set): one per
 * actuator call, one per file of a removal. Strings NULL and numbers -1 when unknown. The
 * agent's actuators fill it, never the plugin: a child's RESULT has its touches replaced. */
typedef struct msg_touch {
    const char *action;           /* the actuator: "renice", "signal", "remove_old_files" */
    const char *kind;             /* "process", "file", "unit", "cgroup", "command", "other" */
    const char *text;             /* "would renice pid 123 (stress-ng, uid 1000) to 10" */
    const char *name;             /* process name */
    const char *path;             /* file (or the directory of a removal's summary) */
    const char *unit;             /* systemd unit */
    const char *cgroup;           /* cgroup directory */
    int64_t pid, uid, size, count; /* size in bytes; count: files a summary stands for */
} msg_touch;

#endif
