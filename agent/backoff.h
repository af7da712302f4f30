/* backoff.h — when a crashed plugin child starts again: 1 s doubling to 5 min, back to 1 s once
 * it ran 10 min without a crash (as kubelet's CrashLoopBackOff); max_crashes within 10 min and it
 * stays down until a reload. Pure logic on the times it is given. */
#ifndef AGENT_BACKOFF_H
#define AGENT_BACKOFF_H

#include <stddef.h>

#define BACKOFF_FIRST_S 1.0
#define BACKOFF_MAX_S 300.0
#define BACKOFF_RESET_S 600.0     /* healthy this long: the next crash starts over at 1 s */
#define BACKOFF_WINDOW_S 600.0    /* crashes counted within this window */
#define BACKOFF_MAX_TRACK 64

typedef struct backoff {
    double delay;                 /* the next wait (0: not crashed yet) */
    double times[BACKOFF_MAX_TRACK]; /* crash times within the window, oldest first */
    size_t n;
    int max_crashes;
} backoff;

void backoff_init(backoff *b, int max_crashes);
/* A crash at now of a child started at started. Returns the seconds to wait before starting it
 * again, or -1 when this is the max_crashes-th crash within BACKOFF_WINDOW_S: failed. */
double backoff_crash(backoff *b, double now, double started);

#endif
