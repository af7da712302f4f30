/* disk_exec.c — the disk plugin's execute(): runs one step of the ladder through the host's
 * actuators only (remove old files, journalctl vacuum, nix-env generations, nix-store --gc) and
 * reports what was freed. */
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
/* ---- execute ------------------------------------------------------------------------------ */

typedef struct disk_exec {
    disk_state *s;
    const char *mount;
    dev_t dev;
    uint64_t freed, count;
    int ok, dry, failed, calls;
    char msg[HEALER_MSG_MAX];
    size_t mlen;
} disk_exec;

static void disk_note(disk_exec *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void disk_note(disk_exec *e, const char *fmt, ...)
{
    if (e->mlen >= sizeof e->msg - 1)
        return;
    if (e->mlen) {
        e->msg[e->mlen++] = ';';
        e->msg[e->mlen++] = ' ';
        e->msg[e->mlen] = '\0';
    }
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(e->msg + e->mlen, sizeof e->msg - e->mlen, fmt, ap);
    va_end(ap);
    if (w > 0)
        e->mlen += (size_t)w;
    if (e->mlen >= sizeof e->msg)
        e->mlen = sizeof e->msg - 1;
}

static void disk_tally(disk_exec *e, int rc)
{
    e->calls++;
    if (rc == HEALER_DRY_RUN)
        e->dry++;
    else if (rc < 0)
        e->failed++;
    else
        e->ok++;
}

static uint64_t disk_avail(const char *mount)
{
    disk_usage u;
    return disk_usage_of(mount, &u) == 0 ? u.avail_bytes : 0;
}

/* Runs a cleanup command; the bytes it freed are the mount's free space after minus before. */
static void disk_exec_cmd(disk_exec *e, const char *const *argv)
{
    disk_state *s = e->s;
    uint64_t before = disk_avail(e->mount);
    char out[1024];
    int status = -1;
    int rc = s->h->act_run(s->ctx, argv, s->cmd_timeout, out, sizeof out, &status);
    disk_tally(e, rc);
    if (rc == HEALER_OK) {
        uint64_t after = disk_avail(e->mount);
        if (after > before)
            e->freed += after - before;
    }
    disk_note(e, "%s", s->h->last_message(s->ctx));
}

static void disk_exec_remove(disk_exec *e, const char *key, double age, const char *pattern)
{
    disk_state *s = e->s;
    size_t n = s->h->config_list_len(s->ctx, key);
    for (size_t i = 0; i < n; i++) {
        const char *d = s->h->config_list_item(s->ctx, key, i);
        if (!disk_on_mount(d, e->dev))
            continue;
        char where[400];
        if (disk_deferred(s, d, where, sizeof where)) {
            disk_note(e, "%s left to systemd-tmpfiles (%s)", d, where);
            continue;
        }
        healer_remove_opts o;
        memset(&o, 0, sizeof o);
        o.recursive = 1;
        o.rotated_first = 1;
        o.pattern = pattern && *pattern ? pattern : NULL;
        uint64_t fr = 0, cnt = 0;
        int rc = s->h->act_remove_old_files(s->ctx, d, age, &o, &fr, &cnt);
        disk_tally(e, rc);
        if (rc >= 0) {
            e->freed += fr;
            e->count += cnt;
        }
        disk_note(e, "%s", s->h->last_message(s->ctx));
    }
}

static void disk_exec_journal(disk_exec *e, const char *vacuum)
{
    disk_state *s = e->s;
    if (!disk_journald_runs(s))
        return;
    char vt[96];
    snprintf(vt, sizeof vt, "--vacuum-time=%s", vacuum);
    size_t n = s->h->config_list_len(s->ctx, "journal_dirs");
    for (size_t i = 0; i < n; i++) {
        const char *d = s->h->config_list_item(s->ctx, "journal_dirs", i);
        if (!disk_on_mount(d, e->dev))
            continue;
        const char *argv[] = {"journalctl", vt, "-D", d, NULL};
        disk_exec_cmd(e, argv);
    }
}

/* nix-env --delete-generations +keep on one profile (the current generation always stays);
 * 1 when it ran and did not fail. */
static int disk_exec_delete_gens(disk_exec *e, const char *profile, const char *keep)
{
    struct stat st;
    if (lstat(profile, &st) != 0)
        return 0;
    char k[40];
    snprintf(k, sizeof k, "+%s", keep);
    const char *argv[] = {"nix-env", "-p", profile, "--delete-generations", k, NULL};
    int failed = e->failed;
    disk_exec_cmd(e, argv);
    return e->failed == failed;
}

/* The users' profiles: every symlink directly under user_profiles_dir/<user>/ that is not a
 * generation link (NAME-N-link). */
static void disk_exec_user_gens(disk_exec *e, const char *keep)
{
    disk_state *s = e->s;
    DIR *d = s->user_profiles && *s->user_profiles ? opendir(s->user_profiles) : NULL;
    if (!d)
        return;
    struct dirent *u;
    while ((u = readdir(d))) {
        if (u->d_name[0] == '.')
            continue;
        char ud[4096];
        snprintf(ud, sizeof ud, "%s/%s", s->user_profiles, u->d_name);
        DIR *pd = opendir(ud);
        if (!pd)
            continue;
        struct dirent *pe;
        while ((pe = readdir(pd))) {
            size_t n = strlen(pe->d_name);
            if (pe->d_name[0] == '.' || (n > 5 && strcmp(pe->d_name + n - 5, "-link") == 0))
                continue;
            char prof[4096 + 256];
            struct stat st;
            snprintf(prof, sizeof prof, "%s/%s", ud, pe->d_name);
            if (lstat(prof, &st) == 0 && S_ISLNK(st.st_mode))
                disk_exec_delete_gens(e, prof, keep);
        }
        closedir(pd);
    }
    closedir(d);
}

/* Never nix-collect-garbage --delete-older-than: it deletes every profile's generations by age,
 * the system's beyond keep_generations and the users' included. */
static void disk_exec_gc(disk_exec *e, const char *keep)
{
    disk_state *s = e->s;
    if (!disk_on_mount(s->nix_store, e->dev))
        return;
    disk_exec_delete_gens(e, s->nix_profile, keep);
    if (s->gc_users)
        disk_exec_user_gens(e, keep);
    const char *gc[] = {"nix-store", "--gc", NULL};
    disk_exec_cmd(e, gc);
}

static void disk_exec_gens(disk_exec *e, const char *keep)
{
    disk_state *s = e->s;
    if (!disk_on_mount(s->nix_store, e->dev))
        return;
    if (disk_exec_delete_gens(e, s->nix_profile, keep)) {
        /* the generations' closures are garbage only after a GC */
        const char *gc[] = {"nix-store", "--gc", NULL};
        disk_exec_cmd(e, gc);
    }
}

static const char *disk_param(const healer_action *a, const char *key, const char *def)
{
    for (size_t i = 0; i < a->n_params; i++)
        if (a->params[i].key && strcmp(a->params[i].key, key) == 0 && a->params[i].value)
            return a->params[i].value;
    return def;
}

static double disk_param_d(const healer_action *a, const char *key, double def)
{
    const char *v = disk_param(a, key, NULL);
    if (!v)
        return def;
    char *end;
    double d = strtod(v, &end);
    return end != v && *end == '\0' && d >= 0 && isfinite(d) ? d : def;
}

int disk_execute(void *state, const healer_issue *issue, const healer_action *action,
                healer_result *result)
{
    disk_state *s = state;
    const healer_host *h = s->h;
    const char *mount = action->target && *action->target ? action->target : issue->target;
    disk_usage u;
    if (!mount || disk_usage_of(mount, &u) != 0) {
        result->outcome = HEALER_OUTCOME_FAILED;
        snprintf(result->message, sizeof result->message, "cannot measure %s: %s",
                 mount ? mount : "(none)", strerror(errno));
        return HEALER_OK;
    }
    disk_exec e = {.s = s, .mount = mount, .dev = u.dev};
    const char *n = action->name;
    char kbuf[32];
    if (strcmp(n, DISK_A_NIX_GC) == 0) {
        snprintf(kbuf, sizeof kbuf, "%lld", s->keep_gens);
        disk_exec_gc(&e, disk_param(action, "keep", kbuf));
    } else if (strcmp(n, DISK_A_LOGS) == 0) {
        disk_exec_remove(&e, "log_dirs", disk_param_d(action, "older_than_days", s->log_age),
                         s->log_pattern);
    } else if (strcmp(n, DISK_A_JOURNAL) == 0) {
        disk_exec_journal(&e, disk_param(action, "vacuum_time", s->vacuum_time));
    } else if (strcmp(n, DISK_A_TMP) == 0) {
        disk_exec_remove(&e, "tmp_dirs", disk_param_d(action, "older_than_days", s->tmp_age),
                         NULL);
    } else if (strcmp(n, DISK_A_GENS) == 0) {
        snprintf(kbuf, sizeof kbuf, "%lld", s->keep_gens);
        disk_exec_gens(&e, disk_param(action, "keep", kbuf));
    } else if (strcmp(n, DISK_A_EMERGENCY) == 0) {
        /* Cheapest first, as the ladder; each only where its target is on this mount. */
        disk_exec_remove(&e, "log_dirs", disk_param_d(action, "log_age_days", s->em_log_age),
                         s->log_pattern);
        disk_exec_journal(&e, disk_param(action, "vacuum_time", s->em_vacuum_time));
        disk_exec_remove(&e, "tmp_dirs", disk_param_d(action, "tmp_age_days", s->em_tmp_age),
                         NULL);
        snprintf(kbuf, sizeof kbuf, "%lld", s->em_keep_gens);
        disk_exec_gc(&e, disk_param(action, "keep", kbuf));
    } else {
        result->outcome = HEALER_OUTCOME_FAILED;
        snprintf(result->message, sizeof result->message, "unknown action %s", n);
        return HEALER_E_INVAL;
    }

    disk_usage after;
    size_t k = 0;
    result->measurements[k++] = (healer_measurement){"freed_bytes", (double)e.freed};
    result->measurements[k++] = (healer_measurement){"files_removed", (double)e.count};
    if (disk_usage_of(mount, &after) == 0) {
        result->measurements[k++] = (healer_measurement){"used_percent", after.used_percent};
        result->measurements[k++] = (healer_measurement){"free_bytes", (double)after.avail_bytes};
    }
    result->n_measurements = k;

    if (e.calls == 0) {
        result->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(result->message, sizeof result->message, "%s: nothing done on %.200s%s%.250s", n,
                 mount, e.mlen ? ": " : "", e.msg);
    } else if (e.dry && !e.ok && !e.failed) {
        result->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(result->message, sizeof result->message, "%s", e.msg);
    } else if (e.failed && !e.ok) {
        result->outcome = HEALER_OUTCOME_FAILED;
        snprintf(result->message, sizeof result->message, "%s", e.msg);
    } else if (e.freed == 0 && e.count == 0) {
        result->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(result->message, sizeof result->message, "freed nothing: %.480s", e.msg);
    } else {
        result->outcome = HEALER_OUTCOME_DONE;
        snprintf(result->message, sizeof result->message, "%s", e.msg);
    }
    if (e.ok && e.freed > 0) {
        healer_kv l[] = {{"action", n}, {"mount", mount}};
        h->metric(s->ctx, HEALER_METRIC_COUNTER, "bytes_freed_total",
                  "Bytes the disk plugin's cleanups freed", l, 2, (double)e.freed);
        /* The trend before the cleanup says nothing about the one after: fit afresh. */
        disk_watch *w = disk_find(s, mount);
        if (w && w->fed && h->series_forget(s->ctx, w->dir) == HEALER_OK)
            w->fed = 0;
    }
    return HEALER_OK;
}

