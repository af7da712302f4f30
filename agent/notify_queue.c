/* notify_queue.c — the notifier's bounded FIFO: when full the oldest event goes (a newer event
 * says more about now than an older one) and is counted, so posting never waits. */
#include <stdlib.h>

#include "notify.h"

int nqueue_init(nqueue *q, size_t cap)
{
    q->v = calloc(cap ? cap : 1, sizeof *q->v);
    q->cap = cap ? cap : 1;
    q->head = q->len = 0;
    q->dropped = 0;
    return q->v ? 0 : -1;
}

int nqueue_push(nqueue *q, nevent *e)
{
    int dropped = 0;
    if (q->len == q->cap) {
        notify_event_free(nqueue_pop(q));
        q->dropped++;
        dropped = 1;
    }
    q->v[(q->head + q->len) % q->cap] = e;
    q->len++;
    return dropped;
}

nevent *nqueue_pop(nqueue *q)
{
    if (!q->len)
        return NULL;
    nevent *e = q->v[q->head];
    q->v[q->head] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return e;
}

void nqueue_free(nqueue *q)
{
    nevent *e;
    while ((e = nqueue_pop(q)))
        notify_event_free(e);
    free(q->v);
    q->v = NULL;
}
