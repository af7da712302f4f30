/* heal_loops.h — heal-loop escalation and relapse (issue #11): the healed heals of each
 * (type, target) within the longer of limits.loop_window_minutes and limits.relapse_window_s.
 * N healed heals in the window make the next plan wait for a person; an issue that comes back
 * within relapse_window_s of a heal recorded healed marks that heal relapsed. Owned by the
 * governor; thread-safe (own mutex); durable through an injected store (govstore: gov_loops). */
#ifndef AGENT_HEAL_LOOPS_H
#define AGENT_HEAL_LOOPS_H

#include <stdint.h>
#include <stddef.h>

/* The most healed heals kept (memory and every look-up's walk are bounded by it): beyond it the
 * oldest entry gives way. The window alone bounds the table only by the heal rate times the
 * window, and loop_window_minutes may be up to a year and critical heals pass the hourly limit;
 * a loop is made of a target's recent heals, so the oldest matter least. ~2 MB at most. */
#define LOOPS_CAP 16384

typedef struct loop_heal {
    const char *type, *target;
    uint64_t heal_id;
    double started_at, healed_at;   /* epoch */
    int relapsed;
} loop_heal;

typedef struct loop_store {
    void *ctx;
    int (*put)(void *ctx, const loop_heal *l);    /* insert or replace by heal_id */
    int (*prune)(void *ctx, double before);        /* forget heals healed before this */
} loop_store;

typedef struct loop_table loop_table;

loop_table *loops_new(void);
void loops_free(loop_table *lt);
void loops_set_store(loop_table *lt, const loop_store *st); /* NULL detaches */
/* How long an entry matters (the longer of both windows, seconds); older ones are pruned. */
void loops_set_keep(loop_table *lt, double keep_s);

/* A heal of (type, target) was recorded healed: kept (and stored; LOOPS_CAP bounds memory,
 * the store is pruned by the window only). 0, -1 out of memory, -2 the
 * store failed (kept in memory: the rule holds for this run). */
int loops_note_healed(loop_table *lt, const loop_heal *l);
/* Put back at start (not written to the store). */
void loops_restore(loop_table *lt, const loop_heal *l);

/* Healed heals of (type, target) that started within window_s before now (relapsed ones
 * included: they ran, and a loop of relapses is the loop this rule is for). */
int loops_count(loop_table *lt, const char *type, const char *target, double now, double window_s);

/* The issue (type, target) is back at now: the newest heal of it recorded healed within
 * window_s before now and not yet relapsed is marked relapsed (and stored); its id, or 0. */
uint64_t loops_relapse(loop_table *lt, const char *type, const char *target, double now,
                       double window_s);

/* Entries in memory (tests). */
size_t loops_size(loop_table *lt);

#endif
