/* preview.h — what a previewed step would touch, collected while it runs: the actuators add one
 * item per call (one per file of a removal, capped), the worker or proxy hands them back with the
 * step's RESULT (msg_touch). One sink per previewed step, used by one thread at a time. */
#ifndef AGENT_PREVIEW_H
#define AGENT_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "touch.h"

/* Files of one removal listed one by one; the rest are one summary item (count, bytes). */
#define PREVIEW_MAX_FILES 100
/* Items per previewed step, below the codec's MSG_MAX_TOUCHES; beyond it they are counted. */
#define PREVIEW_MAX_TOUCHES 120
/* Longest text or path kept in an item (bytes). */
#define PREVIEW_MAX_STR 1024

typedef struct preview_sink {
    msg_touch *v;                 /* owned: every string malloc'd */
    size_t n, cap;
    unsigned long long dropped;   /* items past PREVIEW_MAX_TOUCHES */
} preview_sink;

preview_sink *preview_sink_new(void);
void preview_sink_free(preview_sink *s);
/* A touch with every number -1 and every string NULL, to fill in. */
msg_touch preview_touch_init(void);
/* Copies t (strings cut at PREVIEW_MAX_STR) into s. 0, or -1 when full or out of memory (the
 * item is counted in dropped). */
int preview_add(preview_sink *s, const msg_touch *t);
/* The items to send: s's own, plus one "other" item saying how many were left out. The views
 * borrow from s (and from `note`, which the caller provides); *n gets the count. */
const msg_touch *preview_view(preview_sink *s, size_t *n, char note[160]);

#endif
