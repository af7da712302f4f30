/* engine_restore.c — RESTOREs that are never lost: each one the engine sends is kept (encoded,
 * since its issue may be closed and freed meanwhile) until the plugin's ACK for that attempt comes
 * back, and sent again with back-off until it does. A dropped message or a busy worker therefore
 * never leaves a process stopped or a cgroup frozen. Engine thread only. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

int eng_send_restore(engine *e, int idx, const eissue *is)
{
    uint64_t attempt = eng_next_attempt();
    msg m = { .kind = MSG_RESTORE, .seq = is->id ? is->id : 1, .attempt = attempt,
              .has_issue = 1, .issue = eng_issue_view(is), .wait = e->rt->cfg->action_timeout };
    rpend *r = calloc(1, sizeof *r);
    if (!r || msg_encode(&m, &r->buf, &r->len) < 0 || !(r->plugin = strdup(e->set->v[idx].name))) {
        /* cannot keep it: send once, as before */
        if (r) {
            free(r->buf);
            free(r);
        }
        log_error("engine", "restore for %s on %s to %s cannot be kept for retries (out of memory)",
                  is->type, is->target, e->set->v[idx].name);
        return eng_send_to(e, idx, &m);
    }
    r->attempt = attempt;
    r->backoff = RESTORE_RETRY_FIRST;
    r->next_try = clock_mono() + r->backoff;
    r->tries = 1;
    r->next = e->restores;
    e->restores = r;
    int rc = eng_send_to(e, idx, &m);
    if (rc < 0)
        log_warn("engine", "restore for %s on %s not sent to %s (%s): retrying in %.0f s", is->type,
                 is->target, r->plugin, healer_rc_str(rc), r->backoff);
    return rc;
}

static void free_rpend(rpend *r)
{
    free(r->plugin);
    free(r->buf);
    free(r);
}

void eng_restore_acked(engine *e, const msg *m)
{
    for (rpend **pp = &e->restores; *pp; pp = &(*pp)->next) {
        rpend *r = *pp;
        if (r->attempt != m->attempt)
            continue;
        if (!m->plugin || strcmp(m->plugin, r->plugin) != 0)
            return; /* only the plugin it was sent to can acknowledge it */
        /* restore() ran on the plugin's worker, ahead of any step queued behind it */
        eng_slot_answered(e, eng_plugin_index(e, r->plugin));
        if (r->tries > 1)
            log_info("engine", "restore on %s acknowledged after %u sends", r->plugin, r->tries);
        *pp = r->next;
        free_rpend(r);
        return;
    }
}

void eng_retry_restores(engine *e, int force)
{
    double now = clock_mono();
    for (rpend **pp = &e->restores; *pp;) {
        rpend *r = *pp;
        int idx = eng_plugin_index(e, r->plugin);
        if (idx < 0) {
            /* The plugin is gone (refused on reload, failed): nobody can undo it any more. */
            log_error("engine", "restore for plugin %s dropped: the plugin is no longer running",
                      r->plugin);
            *pp = r->next;
            free_rpend(r);
            continue;
        }
        if (now >= r->next_try) {
            msg m;
            char err[128];
            if (msg_decode(r->buf, r->len, &m, err, sizeof err) == 0) {
                int rc = eng_send_to(e, idx, &m);
                msg_free(&m);
                r->tries++;
                if (r->tries == 2 || r->tries % 10 == 0)
                    log_warn("engine", "restore on %s not acknowledged: sent again (%u sends%s)",
                             r->plugin, r->tries, rc < 0 ? ", queue full" : "");
            }
            r->backoff = r->backoff * 2 > RESTORE_RETRY_MAX ? RESTORE_RETRY_MAX : r->backoff * 2;
            r->next_try = now + (force ? 1.0 : r->backoff);
        }
        pp = &r->next;
    }
}

size_t eng_begin_stop(engine *e)
{
    e->stopping = 1;
    /* A step still executing may have acted, or will: its plugin restores too, and as the
     * RESTORE follows the EXECUTE on the same queue, it runs after the step. */
    size_t it = 0;
    void *val;
    while (u64map_next(e->heals, &it, NULL, &val)) {
        heal *h = val;
        if (h->phase == H_EXECUTING && !h->dry_run && h->cur < h->n_order)
            eng_note_acted(h->is, h->order[h->cur].action->plugin);
    }
    for (eissue *is = e->ihead; is; is = is->next) {
        for (size_t i = 0; i < is->n_acted; i++) {
            int idx = eng_plugin_index(e, is->acted[i]);
            if (idx >= 0 && e->set->v[idx].desc.restore)
                eng_send_restore(e, idx, is);
        }
    }
    return eng_restores_outstanding(e); /* and any still unacknowledged from before */
}

size_t eng_restores_outstanding(engine *e)
{
    size_t n = 0;
    for (rpend *r = e->restores; r; r = r->next)
        n++;
    return n;
}

void eng_free_restores(engine *e)
{
    while (e->restores) {
        rpend *r = e->restores;
        e->restores = r->next;
        free_rpend(r);
    }
}
