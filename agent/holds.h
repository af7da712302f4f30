/* holds.h — operator holds (issue #11, "intent"): "leave TARGET alone" for a while, optionally
 * only for one issue type, optionally even when the issue is critical. The engine asks before it
 * plans and before every step; healctl hold/unhold/holds and /api/v1/holds change and show them.
 * Thread-safe (own mutex); durable through an injected store (govstore.c: table gov_holds). */
#ifndef AGENT_HOLDS_H
#define AGENT_HOLDS_H

#include <jansson.h>

/* Without --for: a hold lasts an hour, so a forgotten one cannot silence healing for good;
 * --for 0 holds until released. */
#define HOLD_DEFAULT_S 3600.0
/* The longest hold (ten years): beyond it a duration is a typo, and 1e300d would be +inf. */
#define HOLD_MAX_S (3650.0 * 86400.0)
#define HOLD_TEXT_MAX 256

typedef struct hold {
    const char *target;         /* a shell pattern (fnmatch); a plain name matches itself */
    const char *type;           /* issue type, or "" for any */
    const char *reason, *by;
    double since, until;        /* epoch; until 0 = until released */
    int even_critical;          /* also hold critical issues (else an emergency gets through) */
} hold;

typedef struct hold_store {
    void *ctx;
    int (*put)(void *ctx, const hold *h);
    int (*del)(void *ctx, const char *target, const char *type);
} hold_store;

typedef struct hold_table hold_table;

hold_table *holds_new(void);
void holds_free(hold_table *hs);
void holds_set_store(hold_table *hs, const hold_store *st);   /* NULL detaches */

/* Adds or replaces the hold of (target, type); written to the store first. 0, -1 on a bad
 * argument or out of memory (err says which), -2 when the store failed (kept in memory). */
int holds_put(hold_table *hs, const hold *h, char *err, size_t errlen);
/* Removes the holds of target (exactly as given): of one type, or of every type when type is
 * NULL or "". The number removed. */
int holds_release(hold_table *hs, const char *target, const char *type);
/* Put back at start (not written to the store); an expired one is ignored. */
void holds_restore(hold_table *hs, const hold *h, double now);

/* The hold that keeps the engine off (type, target) at now, as JSON ({target, type, reason,
 * by, since, until, even_critical}), or NULL. A critical issue is held only by an
 * even_critical hold. */
json_t *holds_match_json(hold_table *hs, const char *type, const char *target, int critical,
                         double now);
/* 1 when held (as holds_match_json), else 0. */
int holds_match(hold_table *hs, const char *type, const char *target, int critical, double now);
/* Every hold in force at now: {"holds": [...]}. Expired ones are dropped (and deleted from the
 * store). */
json_t *holds_json(hold_table *hs, double now);

#endif
