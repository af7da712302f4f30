/* memory_plan.c — what the memory plugin proposes for an issue (plan), how it carries out the
 * gentle actions (drop_caches, restart_service, swapon, create_swapfile; the kill loops are in
 * memory_kill.c) and how it judges the result (verify, by a timer: never a sleep). */
#include "memory_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- plan -------------------------------------------------------------------------------------- */

static void memory_add(memory *s, healer_plan *plan, const char *name, const char *target,
                       unsigned step, double impact, double conf, uint32_t flags,
                       const char *desc, const healer_kv *params, size_t np)
{
    healer_action a = {
        .name = name, .target = target, .description = desc, .step = step, .impact = impact,
        .confidence = conf, .flags = flags, .params = params, .n_params = np,
    };
    int rc = s->h->plan_add_action(plan, &a);
    if (rc < 0)
        s->h->log(s->ctx, HEALER_LOG_WARN, "plan %s: %s", name, healer_rc_str(rc));
}

/* 1 when drop_caches should not be proposed now: the last one freed (next to) nothing a short
 * while ago, or memory falls so fast that the emergency level comes before a sync and a drop
 * could finish (they would only hold this plugin's worker while the emergency waits). */
static int memory_drop_futile(memory *s, const memory_level *lv)
{
    double ago = s->h->now(s->ctx) - s->drop_t;
    if (s->drop_known && ago < s->drop_futile_s && s->drop_gain_pct < s->drop_min_gain) {
        s->h->log(s->ctx, HEALER_LOG_INFO, "drop_caches not planned: the last one, %.0f s ago, "
                  "raised MemAvailable by %.2f%% of RAM (< %.3g%%); not again for %.0f s",
                  ago, s->drop_gain_pct, s->drop_min_gain, s->drop_futile_s - ago);
        return 1;
    }
    double eta = lv->total ? memory_eta_emergency(s, lv) : INFINITY;
    if (eta < s->drop_min_eta) {
        s->h->log(s->ctx, HEALER_LOG_INFO, "drop_caches not planned: memory falls %.0f MiB/s, the "
                  "emergency level is %.1f s away (< drop_caches_min_eta_s %.3g)",
                  s->fall_rate / 1048576.0, eta, s->drop_min_eta);
        return 1;
    }
    return 0;
}

static void memory_plan_memory(memory *s, const healer_issue *issue, healer_plan *plan,
                               memory_cg *c, int pressure)
{
    memory_level lv;
    if (memory_measure_target(s, memory_target_of(c), &lv) < 0) {
        /* Not measurable now: go by what the issue says. */
        double v;
        memset(&lv, 0, sizeof lv);
        for (size_t i = 0; i < issue->n_measurements; i++) {
            v = issue->measurements[i].value;
            if (strcmp(issue->measurements[i].name, "memory_used_percent") == 0)
                lv.used_pct = v, lv.has_limit = 1;
            else if (strcmp(issue->measurements[i].name, "memory_available_percent") == 0)
                lv.avail_pct = v;
        }
    }
    const char *where = c ? c->dir : "the system";
    healer_kv kp[] = {{"scope", memory_target_of(c)}};
    char desc[HEALER_MSG_MAX];
    uint32_t kflags = s->kill_system ? HEALER_ACTION_SYSTEM : 0u;
    if (memory_is_emergency(s, &lv)) {
        /* No time for gentle steps: sync and cache drops take seconds under pressure, and the
         * kernel's OOM killer would pick its own victim meanwhile. */
        snprintf(desc, sizeof desc, "emergency: %.1f%% available in %s: SIGTERM the top-badness "
                 "process (SIGKILL at %.3g%%), one at a time until under %.3g%% used",
                 lv.avail_pct, where, s->emerg_kill, s->high);
        memory_add(s, plan, "emergency_kill", NULL, 0, 0.9, 0.9, kflags, desc, kp, 1);
        return;
    }
    /* drop_caches is global: a cgroup's issue never gets it (its own kill step acts on that
     * cgroup only). */
    if (!c && s->drop_caches && (pressure || lv.used_pct >= s->high) &&
        !memory_drop_futile(s, &lv)) {
        snprintf(desc, sizeof desc, "%sdrop the page cache, dentries and inodes "
                 "(drop_caches = 3)", s->sync_first ? "sync, then " : "");
        memory_add(s, plan, "drop_caches", NULL, 0, 0.1, 0.3, 0, desc, kp, 1);
    }
    if (c && c->leaking && s->restart_leaking) {
        char unit[HEALER_TARGET_MAX];
        memory_unit_of(c->dir, unit, sizeof unit);
        snprintf(desc, sizeof desc, "restart %s: %s grows at %.0f bytes/s (R^2 %.2f)", unit,
                 c->dir, c->slope, c->r2);
        healer_kv rp[] = {{"unit", unit}, {"scope", c->dir}};
        memory_add(s, plan, "restart_service", unit, 1, 0.5, 0.7, 0, desc, rp, 2);
    }
    if (lv.has_limit && lv.used_pct >= s->kill_pct) {
        snprintf(desc, sizeof desc, "kill the top-badness process in %s (SIGTERM, SIGKILL after "
                 "%.3g s), one at a time until under %.3g%% used", where, s->kill_grace, s->high);
        memory_add(s, plan, "kill_low_priority", NULL, 2, 0.8, 0.8, kflags, desc, kp, 1);
    }
}

int memory_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    memory *s = state;
    const char *target = issue->target ? issue->target : "";
    if (strcmp(issue->type, MEMORY_HIGH) == 0) {
        memory_cg *c = memory_find_cg(s, target);
        if (*target && !c)
            return HEALER_OK;   /* a cgroup this plugin does not watch */
        memory_plan_memory(s, issue, plan, c, 0);
    } else if (strcmp(issue->type, MEMORY_PRESSURE) == 0) {
        if (*target)
            return HEALER_OK;
        memory_plan_memory(s, issue, plan, NULL, 1);
    } else if (strcmp(issue->type, MEMORY_PREDICTED) == 0) {
        memory_plan_predicted(s, issue, plan);
    } else if (strcmp(issue->type, MEMORY_SWAP) == 0) {
        if (!*target || target[0] != '/')
            return HEALER_OK;
        char desc[HEALER_MSG_MAX];
        healer_kv p[] = {{"path", target}};
        struct stat st;
        if (stat(target, &st) == 0) {
            snprintf(desc, sizeof desc, "swapon %s", target);
            memory_add(s, plan, "swapon", NULL, 0, 0.05, 0.8, 0, desc, p, 1);
        } else if (s->swapfile[0] && strcmp(target, s->swapfile) == 0) {
            snprintf(desc, sizeof desc, "create a %lld MiB swap file %s (fallocate, chmod 600, "
                     "mkswap) and swapon it", s->swapfile_mb, target);
            char mb[32];
            snprintf(mb, sizeof mb, "%lld", s->swapfile_mb);
            healer_kv cp[] = {{"path", target}, {"size_mb", mb}};
            memory_add(s, plan, "create_swapfile", NULL, 1, 0.2, 0.7, HEALER_ACTION_ROOTFS, desc,
                       cp, 2);
        }
    }
    return HEALER_OK;
}

/* ---- execute ----------------------------------------------------------------------------------- */

const char *memory_param(const healer_action *a, const char *key)
{
    for (size_t i = 0; i < a->n_params; i++)
        if (a->params[i].key && strcmp(a->params[i].key, key) == 0)
            return a->params[i].value;
    return NULL;
}

void memory_result_level(healer_result *r, const memory_level *lv)
{
    r->measurements[r->n_measurements++] = (healer_measurement){"memory_used_percent", lv->used_pct};
    r->measurements[r->n_measurements++] =
        (healer_measurement){"memory_available_bytes", (double)lv->avail};
}

static int memory_exec_drop(memory *s, healer_result *r)
{
    const healer_host *h = s->h;
    int dry = 0;
    char syncmsg[200] = "";
    if (s->sync_first) {
        const char *argv[] = {"sync", NULL};
        int status = 0;
        char out[256];
        /* sync waits for the disks: never past the action's own deadline. */
        double left = memory_time_left(s), timeout = s->sync_timeout;
        if (timeout > left)
            timeout = left;
        if (timeout < 0.1) {
            snprintf(syncmsg, sizeof syncmsg, " (sync skipped: no time left)");
        } else {
            int rc = h->act_run(s->ctx, argv, timeout, out, sizeof out, &status);
            if (rc == HEALER_DRY_RUN)
                dry = 1;
            else if (rc < 0 || status != 0)
                snprintf(syncmsg, sizeof syncmsg, " (sync: %s)", h->last_message(s->ctx));
        }
    }
    char p[PATH_MAX];
    memory_meminfo before, after;
    memory_level lb, la;
    int hb = memory_measure_system(s, &lb, &before) == 0;
    if (!h->proc_path(s->ctx, "sys/vm/drop_caches", p, sizeof p)) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "drop_caches: path too long");
        return HEALER_OK;
    }
    int rc = h->act_write_file(s->ctx, p, "3");
    if (rc == HEALER_DRY_RUN || dry) {
        r->outcome = HEALER_OUTCOME_DRY_RUN;
        r->verify_after_s = s->verify_settle;
        snprintf(r->message, sizeof r->message, "would sync and drop caches: %s",
                 h->last_message(s->ctx));
        memory_psi_snapshot(s);
        return HEALER_OK;
    }
    if (rc < 0) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "drop_caches: %s%s", h->last_message(s->ctx),
                 syncmsg);
        return HEALER_OK;
    }
    int ha = memory_measure_system(s, &la, &after) == 0;
    double gain = 0;
    if (hb && ha) {
        r->measurements[r->n_measurements++] = (healer_measurement){"cached_before_bytes",
                                                                    (double)before.cached};
        r->measurements[r->n_measurements++] = (healer_measurement){"cached_after_bytes",
                                                                    (double)after.cached};
        /* What the issue measures is MemAvailable, which already counts most clean cache: the
         * gain there, not the cache dropped, says whether this helped. */
        gain = 100.0 * ((double)after.available - (double)before.available) / (double)after.total;
        r->measurements[r->n_measurements++] = (healer_measurement){"available_gain_percent", gain};
        s->drop_known = 1;
        s->drop_t = s->h->now(s->ctx);
        s->drop_gain_pct = gain;
    }
    r->outcome = HEALER_OUTCOME_DONE;
    r->verify_after_s = s->verify_settle;
    memory_psi_snapshot(s);
    snprintf(r->message, sizeof r->message, "dropped caches (Cached %llu -> %llu MiB, MemAvailable "
             "%+.2f%% of RAM%s)%s",
             hb ? (unsigned long long)(before.cached >> 20) : 0ULL,
             ha ? (unsigned long long)(after.cached >> 20) : 0ULL, gain,
             hb && ha && gain < s->drop_min_gain ? ": futile, not proposed again for a while" : "",
             syncmsg);
    return HEALER_OK;
}

static int memory_exec_restart(memory *s, const healer_action *a, healer_result *r)
{
    const healer_host *h = s->h;
    const char *unit = memory_param(a, "unit");
    const char *scope = memory_param(a, "scope");
    if (!unit || !*unit) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "restart_service: no unit");
        return HEALER_OK;
    }
    healer_kv args[] = {{"unit", unit}};
    healer_reply reply;
    memset(&reply, 0, sizeof reply);
    /* The reply must come back while this action still counts: a restart that outlives the
     * action's deadline would be recorded as timed out whatever it did. */
    double timeout = s->restart_timeout, left = memory_time_left(s) - 0.5;
    if (timeout > left)
        timeout = left;
    if (timeout < 0.1) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "restart %s: no time left in this action", unit);
        return HEALER_OK;
    }
    int rc = h->request(s->ctx, s->service_plugin, "restart", args, 1, timeout, &reply);
    if (rc == HEALER_E_NOTFOUND) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "cannot restart %s: the %s plugin is not "
                 "loaded (%s)", unit, s->service_plugin, reply.message[0] ? reply.message :
                 h->last_message(s->ctx));
        return HEALER_OK;
    }
    if (rc < 0 || reply.status < 0) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "restart %s via %s: %s: %s", unit,
                 s->service_plugin, healer_rc_str(rc < 0 ? rc : reply.status), reply.message);
        return HEALER_OK;
    }
    if (rc == HEALER_DRY_RUN || reply.status == HEALER_DRY_RUN || h->dry_run(s->ctx)) {
        r->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(r->message, sizeof r->message, "would restart %s: %s", unit, reply.message);
        return HEALER_OK;
    }
    memory_cg *c = memory_find_cg(s, scope);
    if (c)
        memory_leak_reset(c);   /* a new process: judge its growth afresh */
    r->outcome = HEALER_OUTCOME_DONE;
    r->verify_after_s = s->verify_settle;
    memory_psi_snapshot(s);
    snprintf(r->message, sizeof r->message, "restarted %s via %s: %s", unit, s->service_plugin,
             reply.message);
    return HEALER_OK;
}

/* A command's timeout inside what is left of the action (at least 0.1 s: act_run wants > 0). */
static double memory_bounded(memory *s, double timeout)
{
    double left = memory_time_left(s);
    if (timeout > left)
        timeout = left;
    return timeout < 0.1 ? 0.1 : timeout;
}

static int memory_exec_swap(memory *s, const healer_action *a, healer_result *r, int create)
{
    const healer_host *h = s->h;
    const char *path = memory_param(a, "path");
    if (!path || path[0] != '/') {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "%s: no path", a->name);
        return HEALER_OK;
    }
    char out[512], size[48];
    int status = 0, rc = HEALER_OK;
    if (create) {
        const char *mb = memory_param(a, "size_mb");
        snprintf(size, sizeof size, "%sM", mb ? mb : "1024");
        const char *fa[] = {"fallocate", "-l", size, path, NULL};
        const char *ch[] = {"chmod", "600", path, NULL};
        const char *mk[] = {"mkswap", path, NULL};
        const char *const *steps[] = {fa, ch, mk};
        for (int i = 0; i < 3; i++) {
            rc = h->act_run(s->ctx, steps[i], memory_bounded(s, 120), out, sizeof out, &status);
            if (rc == HEALER_DRY_RUN)
                continue;
            if (rc < 0 || status != 0) {
                r->outcome = HEALER_OUTCOME_FAILED;
                snprintf(r->message, sizeof r->message, "%s %s: %s %s", steps[i][0], path,
                         h->last_message(s->ctx), out);
                return HEALER_OK;
            }
        }
    }
    const char *sw[] = {"swapon", path, NULL};
    rc = h->act_run(s->ctx, sw, memory_bounded(s, 60), out, sizeof out, &status);
    if (rc == HEALER_DRY_RUN) {
        r->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(r->message, sizeof r->message, "would %sswapon %s",
                 create ? "create and " : "", path);
        return HEALER_OK;
    }
    if (rc < 0 || status != 0) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "swapon %s: %s %s", path, h->last_message(s->ctx),
                 out);
        return HEALER_OK;
    }
    r->outcome = HEALER_OUTCOME_DONE;
    snprintf(r->message, sizeof r->message, "%sswapon %s", create ? "created, " : "", path);
    return HEALER_OK;
}

int memory_execute(void *state, const healer_issue *issue, const healer_action *action,
                          healer_result *result)
{
    memory *s = state;
    if (strcmp(action->name, "drop_caches") == 0)
        return memory_exec_drop(s, result);
    if (strcmp(action->name, "restart_service") == 0)
        return memory_exec_restart(s, action, result);
    if (strcmp(action->name, "kill_low_priority") == 0)
        return memory_exec_kill(s, issue, action, result, 0);
    if (strcmp(action->name, "emergency_kill") == 0)
        return memory_exec_kill(s, issue, action, result, 1);
    if (strcmp(action->name, "swapon") == 0)
        return memory_exec_swap(s, action, result, 0);
    if (strcmp(action->name, "create_swapfile") == 0)
        return memory_exec_swap(s, action, result, 1);
    result->outcome = HEALER_OUTCOME_FAILED;
    snprintf(result->message, sizeof result->message, "unknown action %s", action->name);
    return HEALER_E_INVAL;
}

/* ---- verify ------------------------------------------------------------------------------------ */

int memory_verify(void *state, const healer_issue *issue, const healer_action *action,
                         healer_verdict *v)
{
    memory *s = state;
    const healer_host *h = s->h;
    const char *target = issue->target ? issue->target : "";
    if (strcmp(issue->type, MEMORY_PREDICTED) == 0)
        return memory_verify_predicted(s, issue, v);
    if (strcmp(issue->type, MEMORY_SWAP) == 0) {
        char buf[16384], real[PATH_MAX];
        if (memory_read_proc(s, "swaps", buf, sizeof buf) < 0) {
            snprintf(v->message, sizeof v->message, "swaps unreadable");
            return HEALER_E_IO;
        }
        v->healed = memory_swap_active(buf, target, realpath(target, real) ? real : NULL);
        snprintf(v->message, sizeof v->message, "swap %s %s", target,
                 v->healed ? "active" : "still not active");
        return HEALER_OK;
    }
    /* PSI: the stall share since the action finished, from the "total" counters (avg10 lags).
     * The host called us verify_after_s later by a timer; nothing here waits. */
    char buf[1024];
    memory_psi p1;
    int hp1 = s->psi_snap_ok && memory_read_proc(s, "pressure/memory", buf, sizeof buf) > 0 &&
              memory_parse_psi(buf, &p1) == 0;
    double dt = memory_mono() - s->psi_snap_t;
    double stall = -1;
    if (hp1 && dt > 0.05 && p1.some_total_us >= s->psi_snap_total)
        stall = 100.0 * (double)(p1.some_total_us - s->psi_snap_total) / (dt * 1e6);
    memory_level lv;
    if (memory_measure_target(s, strcmp(issue->type, MEMORY_PRESSURE) == 0 ? "" : target, &lv) < 0) {
        snprintf(v->message, sizeof v->message, "cannot measure %s", *target ? target : "memory");
        return HEALER_E_IO;
    }
    size_t n = 0;
    v->measurements[n++] = (healer_measurement){"memory_used_percent", lv.used_pct};
    v->measurements[n++] = (healer_measurement){"memory_available_bytes", (double)lv.avail};
    if (stall >= 0)
        v->measurements[n++] = (healer_measurement){"psi_some_stall_percent", stall};
    v->n_measurements = n;
    if (strcmp(issue->type, MEMORY_PRESSURE) == 0) {
        v->healed = stall >= 0 ? stall < s->pressure_pct : lv.used_pct < s->high;
    } else {
        memory_cg *c = memory_find_cg(s, target);
        int leak_only = c && c->leaking && (!lv.has_limit || lv.used_pct < s->high);
        v->healed = leak_only ? strcmp(action->name, "restart_service") == 0
                              : lv.has_limit && lv.used_pct < s->high;
    }
    char st[48] = "";
    if (stall >= 0)
        snprintf(st, sizeof st, ", PSI some stall %.1f%%", stall);
    snprintf(v->message, sizeof v->message, "%s: %.1f%% used (%.1f MiB available)%s: %s",
             *target ? target : "system", lv.used_pct, (double)lv.avail / 1048576.0, st,
             v->healed ? "healed" : "still high");
    (void)h;
    return HEALER_OK;
}

