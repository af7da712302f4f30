/* disk_plan.c — the disk plugin's plan(): the escalation ladder for one mount, each step with a
 * preview of what it would free (the host's own enumeration for file cleanups, nix-store
 * --print-dead, the generations beyond keep_generations) and whether it must be confirmed. */
#include "disk_int.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
/* ---- plan --------------------------------------------------------------------------------- */

typedef struct disk_plan_ctx {
    disk_state *s;
    const char *mount;
    dev_t dev;
    double pct;
    disk_openset open;
    int open_loaded;
} disk_plan_ctx;

/* Previews every directory of the list on the mount; sums into sum, naming the first few. */
static void disk_preview_list(disk_plan_ctx *pc, const char *key, double age,
                              const char *pattern, disk_preview *sum)
{
    disk_state *s = pc->s;
    memset(sum, 0, sizeof *sum);
    if (!pc->open_loaded) {
        char pd[4096];
        if (s->h->proc_path(s->ctx, "", pd, sizeof pd))
            disk_openset_load(pd, &pc->open);
        pc->open_loaded = 1;
    }
    size_t n = s->h->config_list_len(s->ctx, key);
    for (size_t i = 0; i < n; i++) {
        const char *d = s->h->config_list_item(s->ctx, key, i);
        if (!disk_on_mount(d, pc->dev))
            continue;
        char where[400];
        if (disk_deferred(s, d, where, sizeof where)) {
            s->h->log(s->ctx, HEALER_LOG_INFO, "plugins.disk.%s: %s left to systemd-tmpfiles "
                      "(%s)", key, d, where);
            size_t dl = strlen(sum->deferred);
            snprintf(sum->deferred + dl, sizeof sum->deferred - dl, "%s%.200s", dl ? ", " : "",
                     d);
            continue;
        }
        disk_preview p;
        if (disk_preview_dir(d, age, pattern, (time_t)s->h->now(s->ctx), &pc->open, &p) != 0) {
            /* Nothing of it is planned: the host would refuse it too, for the same reason. */
            s->h->log(s->ctx, HEALER_LOG_WARN, "plugins.disk.%s: %s not cleaned: %s", key, d,
                      p.why);
            snprintf(sum->why, sizeof sum->why, "%s", p.why);
            continue;
        }
        sum->count += p.count;
        sum->bytes += p.bytes;
        sum->held += p.held;
        sum->scanned += p.scanned;
        /* Names relative to the mountpoint: short, and still unambiguous. */
        size_t ml = strlen(pc->mount);
        const char *rd = strncmp(d, pc->mount, ml) == 0 ? d + ml : d;
        while (*rd == '/')
            rd++;
        for (size_t k = 0; k < p.n_names && sum->n_names < DISK_PREVIEW_NAMES; k++) {
            snprintf(sum->names[sum->n_names], sizeof sum->names[0], "%.40s%s%.50s", rd,
                     *rd ? "/" : "", p.names[k]);
            sum->n_names++;
        }
    }
}

/* "12 files (3.4 MiB): a, b, c, d..." */
static void disk_preview_text(const disk_preview *p, char *buf, size_t len)
{
    char hb[32];
    int w = snprintf(buf, len, "%llu file%s (%s)", (unsigned long long)p->count,
                     p->count == 1 ? "" : "s", disk_human_bytes(p->bytes, hb, sizeof hb));
    for (size_t i = 0; i < p->n_names && w > 0 && (size_t)w < len; i++)
        w += snprintf(buf + w, len - (size_t)w, "%s%s", i ? ", " : ": ", p->names[i]);
    if (p->count > p->n_names && w > 0 && (size_t)w < len)
        w += snprintf(buf + w, len - (size_t)w, ", ...");
    if (p->held && w > 0 && (size_t)w < len)
        w += snprintf(buf + w, len - (size_t)w, "; %llu held open kept",
                      (unsigned long long)p->held);
    if (p->deferred[0] && w > 0 && (size_t)w < len)
        snprintf(buf + w, len - (size_t)w, "; %s left to systemd-tmpfiles", p->deferred);
}

int disk_journald_runs(disk_state *s)
{
    struct stat st;
    if (s->journald_socket && *s->journald_socket && stat(s->journald_socket, &st) == 0 &&
        S_ISSOCK(st.st_mode))
        return 1;
    const char *argv[] = {"systemctl", "is-active", "--quiet", "systemd-journald", NULL};
    int status = -1;
    char out[256];
    int rc = s->h->probe_run(s->ctx, argv, 5.0, out, sizeof out, &status);
    return rc == HEALER_OK && status == 0;
}

/* Counts the generations nix-env --delete-generations +keep would remove (never the current
 * one). -1 when the profile cannot be listed. Names of the first few into names. */
static int disk_gens_to_delete(disk_state *s, long long keep, char *names, size_t nlen)
{
    struct stat st;
    names[0] = '\0';
    if (!s->nix_profile || lstat(s->nix_profile, &st) != 0)
        return -1;
    const char *argv[] = {"nix-env", "-p", s->nix_profile, "--list-generations", NULL};
    char out[16384];
    int status = -1;
    if (s->h->probe_run(s->ctx, argv, s->preview_timeout, out, sizeof out, &status) != HEALER_OK)
        return -1;
    long gens[1024];
    int cur[1024];
    size_t n = 0;
    char *save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l && n < 1024; l = strtok_r(NULL, "\n", &save)) {
        char *end;
        long g = strtol(l, &end, 10);
        if (end == l || g <= 0)
            continue;
        gens[n] = g;
        cur[n] = strstr(end, "(current)") != NULL;
        n++;
    }
    /* nix-env lists in ascending order; keep the newest `keep` and the current one. */
    int del = 0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (cur[i] || i + (size_t)keep >= n)
            continue;
        del++;
        if (w < nlen)
            w += (size_t)snprintf(names + w, nlen - w, "%s%ld", w ? " " : "", gens[i]);
    }
    if (w >= nlen && nlen > 4)
        memcpy(names + nlen - 4, "...", 4);
    return del;
}

/* How many store paths GC would delete now (nix-store --gc --print-dead); -1 unknown. */
static long disk_nix_dead(disk_state *s, int *truncated)
{
    *truncated = 0;
    if (!s->preview_nix)
        return -1;
    size_t cap = 256 * 1024;
    char *out = malloc(cap);
    if (!out)
        return -1;
    const char *argv[] = {"nix-store", "--gc", "--print-dead", NULL};
    int status = -1;
    long n = -1;
    if (s->h->probe_run(s->ctx, argv, s->preview_timeout, out, cap, &status) == HEALER_OK) {
        n = 0;
        for (char *p = out; (p = strchr(p, '\n')); p++)
            if (p[1] == '/')
                n++;
        if (out[0] == '/')
            n++;
        *truncated = strlen(out) >= cap - 1;
    }
    free(out);
    return n;
}

static int disk_add_action(disk_plan_ctx *pc, const char *name, unsigned step, double impact,
                           double conf, int auto_ok, const char *desc, const healer_kv *params,
                           size_t n_params, healer_plan *plan)
{
    healer_action a = {
        .name = name,
        .target = pc->mount,
        .description = desc,
        .step = step,
        .impact = impact,
        .confidence = conf,
        .flags = HEALER_ACTION_DELETES | (auto_ok ? HEALER_ACTION_AUTO_OK : 0u),
        .params = params,
        .n_params = n_params,
    };
    int rc = pc->s->h->plan_add_action(plan, &a);
    if (rc < 0)
        pc->s->h->log(pc->s->ctx, HEALER_LOG_WARN, "plan %s on %s: %s", name, pc->mount,
                      healer_rc_str(rc));
    return rc;
}

/* 1 when some directory of the list is on the mount. */
static int disk_any_on_mount(disk_state *s, const char *key, dev_t dev)
{
    size_t n = s->h->config_list_len(s->ctx, key);
    for (size_t i = 0; i < n; i++)
        if (disk_on_mount(s->h->config_list_item(s->ctx, key, i), dev))
            return 1;
    return 0;
}

int disk_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    disk_state *s = state;
    const healer_host *h = s->h;
    if (!issue->target || issue->target[0] != '/')
        return HEALER_OK;   /* not a mountpoint: some other plugin's issue */
    disk_usage u;
    if (disk_usage_of(issue->target, &u) != 0) {
        h->log(s->ctx, HEALER_LOG_WARN, "plan: cannot measure %s: %s", issue->target,
               strerror(errno));
        return HEALER_OK;
    }
    disk_plan_ctx pc = {.s = s, .mount = issue->target, .dev = u.dev, .pct = disk_pct(&u)};
    char desc[HEALER_MSG_MAX], list[HEALER_MSG_MAX], num[32];
    int store_here = disk_on_mount(s->nix_store, u.dev);

    /* step 0: Nix store garbage collection: the system profile's generations beyond
     * keep_generations (never by age), the users' only when configured, then nix-store --gc */
    if (pc.pct >= s->nix_gc_pct && store_here) {
        int trunc;
        long dead = disk_nix_dead(s, &trunc);
        char deadtxt[64] = "", names[128], gens[320] = "";
        if (dead >= 0)
            snprintf(deadtxt, sizeof deadtxt, "; %s%ld dead store path%s now", trunc ? "at least "
                     : "", dead, dead == 1 ? "" : "s");
        int del = disk_gens_to_delete(s, s->keep_gens, names, sizeof names);
        if (del > 0)
            snprintf(gens, sizeof gens, "nix-env -p %.100s --delete-generations +%lld (%d "
                     "generation%s: %s), ", s->nix_profile, s->keep_gens, del,
                     del == 1 ? "" : "s", names);
        snprintf(desc, sizeof desc, "%s%s, then nix-store --gc on %s%s", gens,
                 s->gc_users ? "user profiles' generations beyond the same count"
                             : "user profiles untouched", pc.mount, deadtxt);
        snprintf(num, sizeof num, "%lld", s->keep_gens);
        healer_kv p[] = {{"keep", num}};
        disk_add_action(&pc, DISK_A_NIX_GC, 0, 0.1, 0.5, s->auto_nix_gc, desc, p, 1, plan);
    }

    /* step 1: old logs, rotated first; the journal */
    if (pc.pct >= s->log_pct) {
        disk_preview p;
        disk_preview_list(&pc, "log_dirs", s->log_age, s->log_pattern, &p);
        if (p.count > 0) {
            disk_preview_text(&p, list, sizeof list);
            snprintf(desc, sizeof desc, "remove log files older than %g days on %s, rotated "
                     "first: %.380s", s->log_age, pc.mount, list);
            snprintf(num, sizeof num, "%g", s->log_age);
            healer_kv kv[] = {{"older_than_days", num}};
            disk_add_action(&pc, DISK_A_LOGS, 1, 0.1, 0.5, s->auto_logs, desc, kv, 1, plan);
        }
        if (disk_any_on_mount(s, "journal_dirs", u.dev) && disk_journald_runs(s)) {
            snprintf(desc, sizeof desc, "journalctl --vacuum-time=%s on the journal on %s",
                     s->vacuum_time, pc.mount);
            healer_kv kv[] = {{"vacuum_time", s->vacuum_time}};
            disk_add_action(&pc, DISK_A_JOURNAL, 1, 0.1, 0.5, s->auto_logs, desc, kv, 1, plan);
        }
    }

    /* step 2: temporary files */
    if (pc.pct >= s->tmp_pct) {
        disk_preview p;
        disk_preview_list(&pc, "tmp_dirs", s->tmp_age, NULL, &p);
        if (p.count > 0) {
            disk_preview_text(&p, list, sizeof list);
            snprintf(desc, sizeof desc, "remove temporary files older than %g days on %s: %.380s",
                     s->tmp_age, pc.mount, list);
            snprintf(num, sizeof num, "%g", s->tmp_age);
            healer_kv kv[] = {{"older_than_days", num}};
            disk_add_action(&pc, DISK_A_TMP, 2, 0.2, 0.5, s->auto_tmp, desc, kv, 1, plan);
        }
    }

    /* step 3: old generations of the system profile */
    if (pc.pct >= s->gens_pct && store_here) {
        char names[128];
        int del = disk_gens_to_delete(s, s->keep_gens, names, sizeof names);
        if (del > 0) {
            snprintf(desc, sizeof desc, "nix-env -p %s --delete-generations +%lld (%d "
                     "generation%s: %s), then nix-store --gc", s->nix_profile, s->keep_gens, del,
                     del == 1 ? "" : "s", names);
            snprintf(num, sizeof num, "%lld", s->keep_gens);
            healer_kv kv[] = {{"keep", num}};
            disk_add_action(&pc, DISK_A_GENS, 3, 0.3, 0.5, s->auto_gens, desc, kv, 1, plan);
        }
    }

    /* step 4: emergency, critical only: the same steps with aggressive ages */
    if (pc.pct >= s->crit) {
        disk_preview pl, pt;
        disk_preview_list(&pc, "log_dirs", s->em_log_age, s->log_pattern, &pl);
        disk_preview_list(&pc, "tmp_dirs", s->em_tmp_age, NULL, &pt);
        int journal = disk_any_on_mount(s, "journal_dirs", u.dev) && disk_journald_runs(s);
        if (pl.count || pt.count || store_here || journal) {
            char lt[120], tt[120];
            disk_preview_text(&pl, lt, sizeof lt);
            disk_preview_text(&pt, tt, sizeof tt);
            snprintf(desc, sizeof desc, "emergency on %.120s: logs older than %g d [%s]; temp "
                     "older than %g d [%s]%s%.16s%s", pc.mount, s->em_log_age, lt, s->em_tmp_age, tt,
                     journal ? "; journal vacuum " : "", journal ? s->em_vacuum_time : "",
                     store_here ? "; nix GC keeping the newest generations" : "");
            char la[32], ta[32], kg[32];
            snprintf(la, sizeof la, "%g", s->em_log_age);
            snprintf(ta, sizeof ta, "%g", s->em_tmp_age);
            snprintf(kg, sizeof kg, "%lld", s->em_keep_gens);
            healer_kv kv[] = {{"log_age_days", la}, {"tmp_age_days", ta},
                              {"vacuum_time", s->em_vacuum_time}, {"keep", kg}};
            disk_add_action(&pc, DISK_A_EMERGENCY, 4, 0.4, 0.6, s->auto_em, desc, kv, 4, plan);
        }
    }
    if (pc.open_loaded)
        disk_openset_free(&pc.open);
    return HEALER_OK;
}

