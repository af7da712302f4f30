/* engine_loops.c — the engine's half of heal-loop escalation and relapse (issue #11): a heal
 * recorded healed joins the governor's loop history; an issue back within relapse_window_s of
 * such a heal marks it relapsed in the knowledge base; the plan after limits.loop_heals healed
 * heals within loop_window_minutes waits for a person, except at critical severity. */
#include "engine_int.h"

#include <stdio.h>

#include "clock.h"
#include "log.h"

void eng_loop_healed(engine *e, const heal *h)
{
    if (h->dry_run)
        return;
    loop_heal l = { h->is->type, h->is->target, h->id, h->started_at, clock_now(), 0 };
    (void)loops_note_healed(governor_loops(e->rt->gov), &l);
}

void eng_loop_reopened(engine *e, eissue *is)
{
    double win = e->rt->cfg->limits.relapse_window_s;
    if (win <= 0)
        return;
    uint64_t id = loops_relapse(governor_loops(e->rt->gov), is->type, is->target, clock_now(), win);
    if (!id)
        return;
    char why[128];
    snprintf(why, sizeof why, "relapsed: the issue came back within %.0f s", win);
    log_info("engine", "heal #%llu of %s on %s %s: counted as a failure", (unsigned long long)id,
             is->type, is->target, why);
    if (e->rt->kb) {
        int rc = knowledge_mark_relapsed(e->rt->kb, id, why);
        if (rc != HEALER_OK && rc != HEALER_E_NOTFOUND)
            log_error("engine", "the relapse of heal #%llu could not be recorded in the knowledge "
                      "base", (unsigned long long)id);
    }
}

int eng_loop_check(engine *e, heal *h)
{
    const agent_limits *l = &e->rt->cfg->limits;
    /* A loop of healed heals is for a person to break, but never by holding back an emergency:
     * a critical issue runs as the other limits allow. */
    if (l->loop_heals <= 0 || h->dry_run || h->confirmed == 1 ||
        h->severity == HEALER_SEV_CRITICAL)
        return 0;
    int n = loops_count(governor_loops(e->rt->gov), h->is->type, h->is->target, clock_now(),
                        l->loop_window_minutes * 60.0);
    if (n < l->loop_heals)
        return 0;
    snprintf(h->loop_reason, sizeof h->loop_reason, "loop: %d heals in %.0f minutes", n,
             l->loop_window_minutes);
    return 1;
}
