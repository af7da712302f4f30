/* backoff.c — the restart schedule of a crashing plugin child (backoff.h). */
#include "backoff.h"

#include <string.h>

void backoff_init(backoff *b, int max_crashes)
{
    memset(b, 0, sizeof *b);
    b->max_crashes = max_crashes > 0 ? max_crashes : 1;
}

double backoff_crash(backoff *b, double now, double started)
{
    /* Forget crashes that left the window. */
    size_t k = 0;
    while (k < b->n && now - b->times[k] >= BACKOFF_WINDOW_S)
        k++;
    memmove(b->times, b->times + k, (b->n - k) * sizeof *b->times);
    b->n -= k;
    if (b->n == BACKOFF_MAX_TRACK) {
        memmove(b->times, b->times + 1, (b->n - 1) * sizeof *b->times);
        b->n--;
    }
    b->times[b->n++] = now;
    if ((int)b->n >= b->max_crashes)
        return -1;
    if (b->delay <= 0 || now - started >= BACKOFF_RESET_S)
        b->delay = BACKOFF_FIRST_S;
    double d = b->delay;
    b->delay = d * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : d * 2;
    return d;
}
