/* actuators_undo.c — the actuators' use of the undo journal (undo.c): journaling a reversible
 * change before it is made, clearing it when its inverse succeeds or its plugin's restore()
 * returns OK, and replaying what is still outstanding when the agent starts. */
#include "actuators_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "procinfo.h"

#define WHO "undo journal"

int undo_same_value(const char *x, const char *y)
{
    size_t nx = strlen(x), ny = strlen(y);
    while (nx && (x[nx - 1] == '\n' || x[nx - 1] == ' ' || x[nx - 1] == '\t'))
        nx--;
    while (ny && (y[ny - 1] == '\n' || y[ny - 1] == ' ' || y[ny - 1] == '\t'))
        ny--;
    return nx == ny && memcmp(x, y, nx) == 0;
}

void undo_before(actuators *a, const act_context *c, undo_entry *e, undo_tok *t, json_t *params)
{
    t->id = 0;
    t->created = 0;
    if (!a->undo)
        return;
    e->plugin = (char *)(c->plugin ? c->plugin : "agent");
    e->heal_id = c->heal_id;
    e->issue_id = c->issue_id;
    e->allow_system = c->allow_system;
    char err[256];
    int r = undo_add(a->undo, e, &t->id, err, sizeof err);
    if (r < 0) {
        /* The change goes ahead: refusing it could leave an emergency unhandled. */
        log_error(WHO, "%s %s: not journaled (%s): if the agent dies before giving it back, "
                  "nothing will", undo_kind_name(e->kind), e->path ? e->path : e->name ? e->name : "",
                  err);
        json_object_set_new(params, "undo_journal_error", jstr(err));
        t->id = 0;
        return;
    }
    t->created = r == 1;
    json_object_set_new(params, "undo_journal", json_integer((json_int_t)t->id));
}

void undo_failed(actuators *a, undo_tok *t)
{
    if (a->undo && t->created && t->id)
        undo_clear(a->undo, &t->id, 1);
    t->created = 0;
}

static int inverse_of(const undo_entry *e, const undo_entry *inv)
{
    switch (inv->kind) {
    case UNDO_STOP:
    case UNDO_RENICE:
        if (e->kind != inv->kind || e->pid != inv->pid || e->start_time != inv->start_time)
            return 0;
        return inv->kind == UNDO_STOP || e->nice_before == inv->nice_before;
    case UNDO_FREEZE:
        return e->kind == UNDO_FREEZE && e->path && strcmp(e->path, inv->path) == 0;
    case UNDO_WRITE:
        return e->kind == UNDO_WRITE && e->path && strcmp(e->path, inv->path) == 0 &&
               e->prior && undo_same_value(e->prior, inv->prior);
    }
    return 0;
}

void undo_inverse(actuators *a, const undo_entry *inv)
{
    if (!a->undo || undo_outstanding(a->undo) == 0)
        return;
    undo_entry *v;
    size_t n = undo_snapshot(a->undo, &v);
    uint64_t *ids = n ? calloc(n, sizeof *ids) : NULL;
    size_t k = 0;
    for (size_t i = 0; ids && i < n; i++)
        if (inverse_of(&v[i], inv))
            ids[k++] = v[i].id;
    if (k)
        undo_clear(a->undo, ids, k);
    free(ids);
    undo_entries_free(v, n);
}

/* ---- after restore() ----------------------------------------------------------------------- */

/* 1 while the change is plainly still in place: the same process still stopped, the cgroup
 * still frozen. */
static int still_in_place(actuators *a, const undo_entry *e)
{
    if (e->kind == UNDO_STOP) {
        procinfo pi;
        char m[256];
        return procinfo_read(a->proc_root, e->pid, &pi, m, sizeof m) == HEALER_OK &&
               pi.p.start_time == e->start_time && (pi.state == 'T' || pi.state == 't');
    }
    if (e->kind == UNDO_FREEZE) {
        int dfd = open(e->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return 0;
        char *s = slurp_at(dfd, "freezer.state", 4096, NULL);
        int frozen = 0;
        if (s) {
            frozen = strncmp(s, "FROZEN", 6) == 0 || strncmp(s, "FREEZING", 8) == 0;
        } else if ((s = slurp_at(dfd, "cgroup.freeze", 4096, NULL))) {
            frozen = s[0] == '1';
        }
        free(s);
        close(dfd);
        return frozen;
    }
    return 0;
}

void act_undo_restored(actuators *a, const char *plugin, uint64_t issue_id)
{
    if (!a || !a->undo || !plugin || undo_outstanding(a->undo) == 0)
        return;
    undo_entry *v;
    size_t n = undo_snapshot(a->undo, &v);
    uint64_t *ids = n ? calloc(n, sizeof *ids) : NULL;
    size_t k = 0;
    for (size_t i = 0; ids && i < n; i++) {
        const undo_entry *e = &v[i];
        if (e->issue_id != issue_id || strcmp(e->plugin, plugin) != 0)
            continue;
        /* A plugin may keep such a change past restore() (thermal holds a freeze until it has
         * cooled); the entry stays until the thaw or SIGCONT comes, or the next start. */
        if (still_in_place(a, e)) {
            log_info(WHO, "plugin %s restored issue #%llu but %s %s is still %s: kept",
                     plugin, (unsigned long long)issue_id,
                     e->kind == UNDO_STOP ? "process" : "cgroup",
                     e->kind == UNDO_STOP ? e->name : e->path,
                     e->kind == UNDO_STOP ? "stopped" : "frozen");
            continue;
        }
        ids[k++] = e->id;
    }
    if (k)
        log_debug(WHO, "plugin %s restored issue #%llu: %zu entr%s cleared", plugin,
                  (unsigned long long)issue_id, k, k == 1 ? "y" : "ies");
    if (k)
        undo_clear(a->undo, ids, k);
    free(ids);
    undo_entries_free(v, n);
}

/* ---- replay at start ----------------------------------------------------------------------- */

static void by_whom(const undo_entry *e, char *out, size_t len)
{
    if (e->heal_id)
        snprintf(out, len, "plugin %s (heal %llu)", e->plugin, (unsigned long long)e->heal_id);
    else if (e->issue_id)
        snprintf(out, len, "plugin %s (issue %llu)", e->plugin, (unsigned long long)e->issue_id);
    else
        snprintf(out, len, "plugin %s", e->plugin);
}

/* The same process still there? Else says so and returns 0. */
static int same_process(actuators *a, const undo_entry *e, const char *who)
{
    healer_proc p;
    int rc = act_proc_read(a, e->pid, &p);
    if (rc == HEALER_OK && p.start_time == e->start_time)
        return 1;
    if (rc == HEALER_OK)
        log_warn(WHO, "pid %d (%s) changed by %s has exited; the pid now names %s (started at "
                 "%llu, not %llu): not touched", (int)e->pid, e->name ? e->name : "?", who,
                 p.name, (unsigned long long)p.start_time, (unsigned long long)e->start_time);
    else
        log_warn(WHO, "pid %d (%s) changed by %s has exited since: nothing to undo",
                 (int)e->pid, e->name ? e->name : "?", who);
    return 0;
}

/* Undoes one entry; 1 when something was given back. */
static int replay_one(actuators *a, const undo_entry *e)
{
    char who[160], m[HEALER_MSG_MAX * 2], shown[80];
    by_whom(e, who, sizeof who);
    act_context c = { .plugin = e->plugin, .heal_id = e->heal_id, .issue_id = e->issue_id,
                      .action = "undo_journal", .allow_system = e->allow_system };
    int rc;
    switch (e->kind) {
    case UNDO_STOP:
        if (!same_process(a, e, who))
            return 0;
        rc = act_signal(a, &c, e->pid, e->start_time, SIGCONT, 0, m, sizeof m);
        if (rc == HEALER_OK) {
            log_warn(WHO, "continued pid %d (%s) left stopped by %s before the agent stopped",
                     (int)e->pid, e->name ? e->name : "?", who);
            return 1;
        }
        break;
    case UNDO_FREEZE:
        rc = act_freeze_cgroup(a, &c, e->path, 0, m, sizeof m);
        if (rc == HEALER_OK) {
            log_warn(WHO, "thawed %s left frozen by %s before the agent stopped", e->path, who);
            return 1;
        }
        if (rc == HEALER_E_NOTFOUND) {
            log_warn(WHO, "cgroup %s frozen by %s is gone: nothing to thaw", e->path, who);
            return 0;
        }
        break;
    case UNDO_RENICE: {
        if (!same_process(a, e, who))
            return 0;
        rc = act_renice(a, &c, e->pid, e->start_time, e->nice_before, m, sizeof m);
        if (rc == HEALER_OK) {
            log_warn(WHO, "reniced pid %d (%s) back to %d, left at %d by %s before the agent "
                     "stopped", (int)e->pid, e->name ? e->name : "?", e->nice_before,
                     e->nice_after, who);
            return 1;
        }
        break;
    }
    case UNDO_WRITE:
        if (e->pid > 0 && !same_process(a, e, who))
            return 0;
        rc = act_write_file(a, &c, e->path, e->prior, m, sizeof m);
        if (rc == HEALER_OK) {
            printable(e->prior, shown, sizeof shown);
            log_warn(WHO, "wrote '%s' back to %s, left changed by %s before the agent stopped",
                     shown, e->path, who);
            return 1;
        }
        if (rc == HEALER_E_NOTFOUND) {
            log_warn(WHO, "%s changed by %s is gone: nothing to write back", e->path, who);
            return 0;
        }
        break;
    default:
        return 0;
    }
    log_error(WHO, "could not undo the %s left by %s: %s", undo_kind_name(e->kind), who, m);
    return 0;
}

size_t act_undo_replay(actuators *a)
{
    if (!a || !a->undo)
        return 0;
    undo_entry *v;
    size_t n = undo_snapshot(a->undo, &v);
    if (!n) {
        undo_entries_free(v, n);
        return 0;
    }
    log_warn(WHO, "%s: %zu change(s) the agent had not given back when it last stopped: "
             "undoing them before any plugin runs", undo_path(a->undo), n);
    /* These are a live run's changes: giving them back is not a new action, dry-run or not. */
    int dry = is_dry_config(a);
    if (dry)
        actuators_set_dry_run(a, 0);
    size_t undone = 0;
    for (size_t i = n; i-- > 0;)   /* newest first: the reverse of the order they were made */
        undone += (size_t)replay_one(a, &v[i]);
    if (dry)
        actuators_set_dry_run(a, 1);
    undo_entries_free(v, n);
    if (undo_reset(a->undo) < 0)
        log_error(WHO, "%s: cannot truncate it after the replay", undo_path(a->undo));
    return undone;
}

size_t act_undo_replay_plugin(actuators *a, const char *plugin)
{
    /* Dry-run journals nothing; entries of an earlier live generation stay for the next start
     * (switching the actuators live here would make other plugins' dry runs real). */
    if (!a || !a->undo || !plugin || is_dry_config(a))
        return 0;
    undo_entry *v;
    size_t n = undo_snapshot(a->undo, &v);
    uint64_t *ids = calloc(n ? n : 1, sizeof *ids);
    size_t k = 0, undone = 0;
    for (size_t i = n; i-- > 0;) { /* newest first */
        if (!v[i].plugin || strcmp(v[i].plugin, plugin) != 0)
            continue;
        undone += (size_t)replay_one(a, &v[i]);
        if (ids)
            ids[k++] = v[i].id;
    }
    if (k)
        undo_clear(a->undo, ids, k);
    if (k)
        log_warn(WHO, "plugin %s's process ended: %zu change(s) it had not given back undone",
                 plugin, undone);
    free(ids);
    undo_entries_free(v, n);
    return undone;
}
