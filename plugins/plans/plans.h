/* plans.h — the plans plugin's private state: the parsed plans.d (plans_parse.h) and each
 * check's run-time record (when it runs next, consecutive failures, raised or not, the last
 * measurements). Shared by plans.c (life cycle, detect, plan, verify), plans_check.c (running a
 * check) and plans_exec.c (running a step). */
#ifndef PLANS_H
#define PLANS_H

#include <healer/plugin.h>

#include "plans_parse.h"

#define PLANS_ISSUE "check_failed"
#define PLANS_MEAS 4

typedef struct plans_meas {
    const char *name[PLANS_MEAS];   /* static strings */
    double value[PLANS_MEAS];
    size_t n;
} plans_meas;

typedef struct plans_rt {
    double next_run;   /* monotonic-ish: host->now() */
    int fails;         /* consecutive */
    int raised;        /* check_failed published and not yet resolved */
    plans_meas last;
    char why[256];
} plans_rt;

typedef struct plans_state {
    const healer_host *h;
    healer_ctx *ctx;
    plans_set set;
    plans_rt *rt;          /* one per set.checks */
    unsigned char *plan_ok;/* one per set.plans: 0 when init refused it (a path not allowed) */
    int curl_ready;
} plans_state;

/* Runs one check now: 1 passed, 0 failed (why says what was seen), measurements in m. */
int plans_run_check(plans_state *st, const plans_check *c, plans_meas *m, char *why, size_t len);

/* The process ids of a name (comm) or a pidfile, at most max; the count. */
size_t plans_find_procs(plans_state *st, const char *name, const char *pidfile, healer_proc *out,
                        size_t max);

/* Carries out one step (execute()). */
void plans_exec_step(plans_state *st, const plans_plan *pl, const plans_step *s,
                     healer_result *res);

int plans_check_init(plans_state *st);
void plans_check_cleanup(plans_state *st);

#endif
