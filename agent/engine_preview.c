/* engine_preview.c — a pending plan's preview: when a heal parks for a person, each step that
 * would run is sent to its plugin as an EXECUTE with preview set (dry-run forced for that call:
 * the actuators only say what they would do, with what they would touch), one step at a time,
 * only to a plugin with nothing in flight; the items come back with the RESULT and are kept on
 * the heal for GET /api/v1/pending and /api/v1/heals/ID. A preview never holds a real step back:
 * real steps pipeline behind it, and a busy plugin is waited for at most one action timeout
 * before the preview says it is not available. Engine thread only (views under e->lock). */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "sanitize_json.h"

static const char *const PV_STATE[] = { "running", "ready", "unavailable" };

void eng_preview_free(eng_preview *pv)
{
    if (!pv)
        return;
    json_decref(pv->touches);
    free(pv);
}

static void pv_end(eng_preview *pv, int state, const char *fmt, const char *arg)
{
    pv->state = state;
    pv->attempt = 0;
    if (fmt)
        snprintf(pv->reason, sizeof pv->reason, fmt, arg ? arg : "");
}

/* An item the engine says itself (a step not previewed, one that touches nothing). */
static void pv_note(eng_preview *pv, const char *plugin, const char *action, size_t step,
                    const char *text)
{
    json_t *o = json_pack("{s:o, s:o, s:s, s:o, s:I}", "plugin", sanitize_json_str(plugin),
                          "action", sanitize_json_str(action), "kind", "other", "text",
                          sanitize_json_str(text), "step", (json_int_t)step + 1);
    if (o)
        json_array_append_new(pv->touches, o);
}

static int slot_busy(const pslot *s)
{
    return s->inflight || s->n_abandoned || s->wq_head || s->pv_attempt;
}

/* Sends the next step's preview when its plugin is free; ends the preview after the last. */
static void pump(engine *e, heal *h)
{
    eng_preview *pv = h->pv;
    while (pv && pv->state == PV_RUNNING && !pv->attempt) {
        if (pv->next >= pv->end) {
            pv_end(pv, PV_READY, NULL, NULL);
            return;
        }
        if (e->stopping) {
            pv_end(pv, PV_UNAVAILABLE, "not available (the agent is stopping)%s", NULL);
            return;
        }
        const msg_action *a = h->order[pv->next].action;
        int idx = eng_plugin_index(e, a->plugin);
        if (idx < 0 || !e->live[idx]) {
            pv_note(pv, a->plugin, a->name, pv->next, "not previewed: its plugin is not running");
            pv->next++;
            continue;
        }
        double now = clock_mono();
        if (slot_busy(&e->slots[idx])) {
            /* a real step comes first; the preview waits for a free plugin, not forever */
            if (pv->busy_since <= 0)
                pv->busy_since = now;
            else if (now - pv->busy_since >= e->rt->cfg->action_timeout)
                pv_end(pv, PV_UNAVAILABLE, "not available (plugin %s busy)", a->plugin);
            return;
        }
        uint64_t att = eng_next_attempt();
        msg m = { .kind = MSG_EXECUTE, .seq = h->id, .attempt = att, .has_issue = 1,
                  .issue = eng_issue_view(h->is), .actions = a, .n_actions = 1,
                  .wait = e->rt->cfg->action_timeout, .preview = 1 };
        if (eng_send_to(e, idx, &m) != HEALER_OK) {
            pv_end(pv, PV_UNAVAILABLE, "not available (plugin %s did not take it)", a->plugin);
            return;
        }
        e->slots[idx].inflight++;
        e->slots[idx].pv_attempt = att;
        pv->attempt = att;
        pv->plugin = idx;
        pv->busy_since = 0;
        pv->deadline = now + e->rt->cfg->action_timeout;
    }
}

void eng_preview_start(engine *e, heal *h)
{
    eng_preview_free(h->pv);
    h->pv = calloc(1, sizeof *h->pv);
    if (!h->pv)
        return;
    if (!(h->pv->touches = json_array())) {
        free(h->pv);
        h->pv = NULL;
        return;
    }
    h->pv->state = PV_RUNNING;
    h->pv->plugin = -1;
    h->pv->next = h->cur;
    h->pv->end = h->n_order - h->cur > PREVIEW_MAX_STEPS ? h->cur + PREVIEW_MAX_STEPS : h->n_order;
    pump(e, h);
}

/* Appends the RESULT's touches as JSON items of step `step`. */
static void add_touches(eng_preview *pv, const msg *m, const msg_action *a, size_t step)
{
    for (size_t i = 0; i < m->n_touches; i++) {
        const msg_touch *t = &m->touches[i];
        json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:I}", "plugin", sanitize_json_str(m->plugin),
                              "action", sanitize_json_str(t->action ? t->action : a->name),
                              "kind", sanitize_json_str(t->kind ? t->kind : "other"), "text",
                              sanitize_json_str(t->text ? t->text : ""), "step",
                              (json_int_t)step + 1);
        if (!o)
            continue;
        if (t->pid >= 0) json_object_set_new(o, "pid", json_integer((json_int_t)t->pid));
        if (t->name) json_object_set_new(o, "name", sanitize_json_str(t->name));
        if (t->uid >= 0) json_object_set_new(o, "uid", json_integer((json_int_t)t->uid));
        if (t->path) json_object_set_new(o, "path", sanitize_json_str(t->path));
        if (t->size >= 0) json_object_set_new(o, "size", json_integer((json_int_t)t->size));
        if (t->count >= 0) json_object_set_new(o, "count", json_integer((json_int_t)t->count));
        if (t->unit) json_object_set_new(o, "unit", sanitize_json_str(t->unit));
        if (t->cgroup) json_object_set_new(o, "cgroup", sanitize_json_str(t->cgroup));
        json_array_append_new(pv->touches, o);
    }
}

int eng_preview_result(engine *e, const msg *m, int idx)
{
    pslot *s = &e->slots[idx];
    if (!m->attempt || s->pv_attempt != m->attempt)
        return 0;
    s->pv_attempt = 0;
    eng_slot_answered(e, idx);   /* real steps queue behind a preview */
    if (s->inflight)
        s->inflight--;
    heal *h = u64map_get(e->heals, m->seq);
    eng_preview *pv = h && h->phase == H_PENDING ? h->pv : NULL;
    if (pv && pv->attempt == m->attempt && pv->next < h->n_order) {
        const msg_action *a = h->order[pv->next].action;
        char text[600];
        if (m->code == HEALER_OUTCOME_FAILED) {
            snprintf(text, sizeof text, "preview failed: %.500s", m->text ? m->text : "");
            pv_note(pv, a->plugin, a->name, pv->next, text);
        } else if (m->n_touches) {
            add_touches(pv, m, a, pv->next);
        } else {
            snprintf(text, sizeof text, "calls no actuator: %.500s",
                     m->text && m->text[0] ? m->text : eng_outcome_name(m->code));
            pv_note(pv, a->plugin, a->name, pv->next, text);
        }
        pv->attempt = 0;
        pv->next++;
        pump(e, h);
    } else {
        log_debug("engine", "preview %llu from %s: its plan is gone, discarded",
                  (unsigned long long)m->attempt, m->plugin ? m->plugin : "?");
    }
    eng_slot_kick(e, idx);      /* real steps waiting for this plugin go first */
    eng_preview_sweep(e);       /* then other previews waiting for it */
    return 1;
}

void eng_preview_sweep(engine *e)
{
    double now = clock_mono();
    size_t i = 0;
    void *val;
    while (u64map_next(e->heals, &i, NULL, &val)) {
        heal *h = val;
        eng_preview *pv = h->phase == H_PENDING ? h->pv : NULL;
        if (!pv || pv->state != PV_RUNNING)
            continue;
        if (pv->attempt && now >= pv->deadline) {
            /* the plugin's slot keeps pv_attempt: the late result is discarded when it comes */
            char t[64];
            snprintf(t, sizeof t, "%g", e->rt->cfg->action_timeout);
            pv_end(pv, PV_UNAVAILABLE, "timed out after %s s (agent.action_timeout)", t);
        } else if (!pv->attempt) {
            pump(e, h);
        }
    }
}

json_t *eng_preview_json(const heal *h)
{
    const eng_preview *pv = h->pv;
    if (!pv)
        return json_pack("{s:s, s:s, s:[]}", "state", "unavailable", "reason",
                         "not available (no preview was made)", "touches");
    return json_pack("{s:s, s:s, s:O}", "state", PV_STATE[pv->state], "reason", pv->reason,
                     "touches", pv->touches);
}
