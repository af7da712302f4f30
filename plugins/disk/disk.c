/* disk.c — the disk healer (disk.so): watches every real mounted filesystem for space and inode
 * use and for a fill trend that will fill it within the horizon, and heals with an escalation
 * ladder of cleanups (Nix GC, old logs and the journal, old temp files, old NixOS generations,
 * then an emergency pass) run only through the host's actuators. */
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

static const char *const disk_issue_types[] = {DISK_LOW, DISK_PREDICTED, NULL};

static const healer_config_key disk_config[] = {
    {"high_percent", HEALER_CFG_DOUBLE, "90", 1, 100,
     "disk_space_low is raised at this use of blocks or inodes (percent)"},
    {"critical_percent", HEALER_CFG_DOUBLE, "95", 1, 100,
     "disk_space_low is critical at this use; the emergency cleanup is planned from here"},
    {"mounts", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "fnmatch patterns of mountpoints to watch; empty = every real filesystem"},
    {"exclude_mounts", HEALER_CFG_STRING_LIST, "/proc/*,/sys/*,/dev/pts", 0, 0,
     "fnmatch patterns of mountpoints never watched"},
    {"skip_fstypes", HEALER_CFG_STRING_LIST,
     "proc,sysfs,cgroup,cgroup2,devtmpfs,devpts,securityfs,debugfs,tracefs,pstore,bpf,mqueue,"
     "hugetlbfs,configfs,fusectl,autofs,binfmt_misc,efivarfs,rpc_pipefs,nsfs,squashfs,iso9660,"
     "ramfs,selinuxfs,nfsd", 0, 0,
     "filesystem types that are not real space (pseudo and read-only images); add tmpfs to skip it"},
    {"predict_window_seconds", HEALER_CFG_DOUBLE, "1800", 1, 1e7,
     "samples this recent are fitted for time-to-full"},
    {"predict_min_samples", HEALER_CFG_INT, "10", 3, DISK_MAX_SAMPLES,
     "fewest samples in the window before a prediction is made"},
    {"predict_min_r2", HEALER_CFG_DOUBLE, "0.9", 0, 1,
     "least R^2 of the fit (how straight the trend is) to raise disk_full_predicted"},
    {"predict_horizon_seconds", HEALER_CFG_DOUBLE, "7200", 1, 1e9,
     "disk_full_predicted when the filesystem would fill within this many seconds"},
    {"nix_store", HEALER_CFG_STRING, "/nix/store", 0, 0,
     "the Nix store; nix_gc is planned only when it is on the full filesystem"},
    {"nix_gc_percent", HEALER_CFG_DOUBLE, "85", 0, 100, "nix_gc from this use (percent)"},
    {"gc_delete_older_than", HEALER_CFG_STRING, "", 0, 0,
     "no longer used (nix_gc never deletes generations by age: keep_generations decides); "
     "a value is reported at start"},
    {"gc_user_profiles", HEALER_CFG_BOOL, "false", 0, 0,
     "nix_gc also deletes generations beyond keep_generations of the profiles under "
     "user_profiles_dir (default: user profiles are never touched)"},
    {"user_profiles_dir", HEALER_CFG_STRING, "/nix/var/nix/profiles/per-user", 0, 0,
     "where the user profiles are (one directory per user), for gc_user_profiles"},
    {"log_dirs", HEALER_CFG_STRING_LIST, "/var/log", 0, 0,
     "directories whose old log files remove_old_logs removes (recursively)"},
    {"log_pattern", HEALER_CFG_STRING, "", 0, 0,
     "fnmatch pattern of removable log file names (\"\" = every regular file)"},
    {"log_age_days", HEALER_CFG_DOUBLE, "7", 0, 36500, "log files older than this go"},
    {"log_percent", HEALER_CFG_DOUBLE, "90", 0, 100,
     "remove_old_logs and journal_vacuum from this use (percent)"},
    {"journald_socket", HEALER_CFG_STRING, "/run/systemd/journal/socket", 0, 0,
     "journald runs when this socket exists (else systemctl is-active is asked)"},
    {"journal_dirs", HEALER_CFG_STRING_LIST, "/var/log/journal,/run/log/journal", 0, 0,
     "journal directories journalctl --vacuum-time is run on (those on the full filesystem)"},
    {"journal_vacuum_time", HEALER_CFG_STRING, "7d", 0, 0, "journalctl --vacuum-time="},
    {"tmp_dirs", HEALER_CFG_STRING_LIST, "/tmp,/var/tmp", 0, 0,
     "temporary directories clean_tmp cleans (recursively)"},
    {"tmp_age_days", HEALER_CFG_DOUBLE, "10", 0, 36500, "temporary files older than this go"},
    {"tmp_percent", HEALER_CFG_DOUBLE, "93", 0, 100, "clean_tmp from this use (percent)"},
    {"nix_profile", HEALER_CFG_STRING, "/nix/var/nix/profiles/system", 0, 0,
     "the profile whose old generations delete_generations removes"},
    {"keep_generations", HEALER_CFG_INT, "5", 1, 100000,
     "delete_generations keeps this many newest generations (and the current one)"},
    {"generations_percent", HEALER_CFG_DOUBLE, "95", 0, 100,
     "delete_generations from this use (percent)"},
    {"emergency_log_age_days", HEALER_CFG_DOUBLE, "1", 0, 36500, "emergency: log age"},
    {"emergency_tmp_age_days", HEALER_CFG_DOUBLE, "1", 0, 36500, "emergency: temp file age"},
    {"emergency_gc_delete_older_than", HEALER_CFG_STRING, "", 0, 0,
     "no longer used (the emergency GC keeps emergency_keep_generations); reported at start"},
    {"emergency_journal_vacuum_time", HEALER_CFG_STRING, "1d", 0, 0,
     "emergency: journalctl --vacuum-time="},
    {"emergency_keep_generations", HEALER_CFG_INT, "2", 1, 100000,
     "emergency: generations kept"},
    {"auto_nix_gc", HEALER_CFG_BOOL, "false", 0, 0, "nix_gc runs without confirmation"},
    {"auto_logs", HEALER_CFG_BOOL, "false", 0, 0,
     "remove_old_logs and journal_vacuum run without confirmation"},
    {"auto_tmp", HEALER_CFG_BOOL, "false", 0, 0, "clean_tmp runs without confirmation"},
    {"auto_generations", HEALER_CFG_BOOL, "false", 0, 0,
     "delete_generations runs without confirmation"},
    {"auto_emergency", HEALER_CFG_BOOL, "false", 0, 0,
     "emergency_cleanup runs without confirmation"},
    {"tmpfiles_dirs", HEALER_CFG_STRING_LIST, "/etc/tmpfiles.d,/run/tmpfiles.d,/usr/lib/tmpfiles.d",
     0, 0, "tmpfiles.d directories: a log or temp directory with an ageing rule there is left "
     "to systemd-tmpfiles"},
    {"preview_nix", HEALER_CFG_BOOL, "true", 0, 0,
     "plan() asks nix-store --gc --print-dead how many store paths GC would delete"},
    {"command_timeout", HEALER_CFG_DOUBLE, "600", 1, 86400,
     "seconds a cleanup command (nix-collect-garbage, journalctl) may run"},
    {"preview_timeout", HEALER_CFG_DOUBLE, "30", 1, 3600,
     "seconds a read-only preview command may run in plan()"},
    {NULL, 0, NULL, 0, 0, NULL}
};

/* ---- helpers ------------------------------------------------------------------------------ */

static int disk_list_match(disk_state *s, const char *key, const char *value)
{
    size_t n = s->h->config_list_len(s->ctx, key);
    for (size_t i = 0; i < n; i++) {
        const char *p = s->h->config_list_item(s->ctx, key, i);
        if (p && fnmatch(p, value, 0) == 0)
            return 1;
    }
    return 0;
}

static int disk_mount_wanted(disk_state *s, const disk_mount *m)
{
    if (m->ro)
        return 0;   /* read-only itself (not only in our view): nothing can fill it */
    size_t nt = s->h->config_list_len(s->ctx, "skip_fstypes");
    for (size_t i = 0; i < nt; i++) {
        const char *t = s->h->config_list_item(s->ctx, "skip_fstypes", i);
        if (t && strcmp(t, m->type) == 0)
            return 0;
    }
    if (s->h->config_list_len(s->ctx, "mounts") && !disk_list_match(s, "mounts", m->dir))
        return 0;
    return !disk_list_match(s, "exclude_mounts", m->dir);
}

/* 1 when systemd-tmpfiles ages dir (a tmpfiles.d rule with an age for it): the cleanup is its
 * own, and healerd does not run a second one with other ages. */
int disk_deferred(disk_state *s, const char *dir, char *where, size_t wl)
{
    const char *dirs[16];
    size_t n = s->h->config_list_len(s->ctx, "tmpfiles_dirs");
    if (n > 16)
        n = 16;
    for (size_t i = 0; i < n; i++)
        dirs[i] = s->h->config_list_item(s->ctx, "tmpfiles_dirs", i);
    return disk_tmpfiles_rule(dirs, n, dir, where, wl);
}

/* 1 when path exists and lives on the filesystem dev (a directory on another filesystem frees
 * nothing there). */
int disk_on_mount(const char *path, dev_t dev)
{
    struct stat st;
    return path && *path && stat(path, &st) == 0 && st.st_dev == dev;
}

double disk_pct(const disk_usage *u)
{
    return u->used_percent > u->inodes_used_percent ? u->used_percent : u->inodes_used_percent;
}

/* 100 up to 10 points below the high threshold, falling linearly to 0 at 100 %. */
static double disk_health(const disk_state *s, double pct)
{
    double start = s->high - 10;
    if (start < 0)
        start = 0;
    if (pct <= start)
        return 100;
    if (pct >= 100)
        return 0;
    return 100.0 * (100.0 - pct) / (100.0 - start);
}

disk_watch *disk_find(disk_state *s, const char *dir)
{
    for (size_t i = 0; i < s->nw; i++)
        if (strcmp(s->w[i]->dir, dir) == 0)
            return s->w[i];
    return NULL;
}

static disk_watch *disk_add(disk_state *s, const char *dir)
{
    disk_watch **nv = realloc(s->w, (s->nw + 1) * sizeof *nv);
    if (!nv)
        return NULL;
    s->w = nv;
    disk_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    s->w[s->nw++] = w;
    return w;
}

/* The free bytes of w at t into its series on the host's prediction service (named by the
 * mountpoint). A clock that went back (or another filesystem at the mountpoint) starts it over. */
static void disk_feed(disk_state *s, disk_watch *w, double t, double avail)
{
    int rc = s->h->series_feed(s->ctx, w->dir, t, avail);
    if (rc == HEALER_E_INVAL && s->h->series_forget(s->ctx, w->dir) == HEALER_OK)
        rc = s->h->series_feed(s->ctx, w->dir, t, avail);
    if (rc < 0)
        s->h->log(s->ctx, HEALER_LOG_DEBUG, "%s: not fed to the prediction service: %s", w->dir,
                  s->h->last_message(s->ctx));
    w->fed = rc == HEALER_OK;
}

/* Time to full of w: the fit over the samples within window_s, and over its latest half,
 * quarter, ... (down to min_samples): the straightest of these lines wins (a longer one unless a
 * shorter one is clearly straighter). Issue 11: a steady fill after a flat period was never
 * predicted, as the fit over the whole window is dominated by the flat part; its latest segment
 * is straight. The rc of the chosen fit (HEALER_OK: filling; NOTREND: not), or NODATA. */
static int disk_predict(const disk_state *s, const disk_watch *w, healer_prediction *best)
{
    int best_rc = HEALER_E_NODATA;
    for (double win = s->window_s; win > 0; win /= 2) {
        healer_prediction p;
        memset(&p, 0, sizeof p);
        p.window_s = win;
        p.min_points = (int)s->min_samples;
        int rc = s->h->series_predict(s->ctx, w->dir, 0, &p);
        if (rc != HEALER_OK && rc != HEALER_E_NOTREND)
            break;
        if (best_rc == HEALER_E_NODATA || p.r2 > best->r2 + 0.01) {
            *best = p;
            best_rc = rc;
        }
        if (p.n < 2 * s->min_samples)
            break;      /* the next half has too few */
    }
    return best_rc;
}

static void disk_metric(disk_state *s, const char *name, const char *help, const char *mount,
                        double v)
{
    healer_kv l = {"mount", mount};
    s->h->metric(s->ctx, HEALER_METRIC_GAUGE, name, help, &l, 1, v);
}

/* ---- detect ------------------------------------------------------------------------------- */

static void disk_check(disk_state *s, disk_watch *w)
{
    const healer_host *h = s->h;
    const disk_usage *u = &w->last;
    double pct = disk_pct(u);
    char fb[32], tb[32], summary[HEALER_MSG_MAX];

    h->report_health(s->ctx, w->dir, disk_health(s, pct));
    disk_metric(s, "disk_used_percent", "Used share of a filesystem's blocks", w->dir,
                u->used_percent);
    disk_metric(s, "disk_inodes_used_percent", "Used share of a filesystem's inodes", w->dir,
                u->inodes_used_percent);
    disk_metric(s, "disk_free_bytes", "Bytes an unprivileged writer may still use", w->dir,
                (double)u->avail_bytes);

    if (pct >= s->high) {
        snprintf(summary, sizeof summary, "%s at %.1f%% (%s free of %s), inodes %.1f%%", w->dir,
                 u->used_percent, disk_human_bytes(u->avail_bytes, fb, sizeof fb),
                 disk_human_bytes(u->total_bytes, tb, sizeof tb), u->inodes_used_percent);
        healer_measurement ms[] = {
            {"used_percent", u->used_percent},
            {"inodes_used_percent", u->inodes_used_percent},
            {"free_bytes", (double)u->avail_bytes},
            {"total_bytes", (double)u->total_bytes},
            {"high_percent", s->high},
        };
        healer_issue is = {
            .type = DISK_LOW,
            .severity = pct >= s->crit ? HEALER_SEV_CRITICAL : HEALER_SEV_HIGH,
            .target = w->dir,
            .summary = summary,
            .measurements = ms,
            .n_measurements = sizeof ms / sizeof ms[0],
        };
        if (h->publish_issue(s->ctx, &is) >= 0)
            w->low_open = 1;
    } else if (w->low_open) {
        if (h->resolve_issue(s->ctx, DISK_LOW, w->dir) >= 0)
            w->low_open = 0;
    }

    /* The host's prediction service (Theil-Sen, predict.c): raised when the whole 95% interval
     * of the time to full is within the horizon and the line is straight (predict_min_r2). */
    healer_prediction f;
    memset(&f, 0, sizeof f);
    int rc = w->fed ? disk_predict(s, w, &f) : HEALER_E_NODATA;
    double ttf = rc == HEALER_OK ? f.eta_s : -1;
    int predicted = healer_prediction_fires(rc, &f, s->horizon_s) && f.r2 >= s->min_r2;
    /* +Inf when not filling (or too few samples): an alert on `< 3600` then needs no special
     * case, as it would for a -1 sentinel that reads as "already full". */
    disk_metric(s, "disk_time_to_full_seconds",
                "Seconds until the filesystem fills at the fitted rate (+Inf: not filling)",
                w->dir, ttf < 0 ? INFINITY : ttf);
    if (predicted) {
        snprintf(summary, sizeof summary,
                 "%s fills in %.0f s (%.0f-%.0f s) at %s/s (R^2 %.2f over %d samples)", w->dir,
                 ttf, f.eta_low_s, f.eta_high_s,
                 disk_human_bytes((uint64_t)-f.slope, fb, sizeof fb), f.r2, f.n);
        healer_measurement ms[] = {
            {"time_to_full_seconds", ttf},
            {"time_to_full_low_seconds", f.eta_low_s},
            {"time_to_full_high_seconds", f.eta_high_s},
            {"fill_rate_bytes_per_second", -f.slope},
            {"fit_r2", f.r2},
            {"samples", (double)f.n},
            {"free_bytes", (double)u->avail_bytes},
            {"used_percent", u->used_percent},
            {"horizon_seconds", s->horizon_s},
        };
        healer_issue is = {
            .type = DISK_PREDICTED,
            .severity = ttf < s->horizon_s / 4 ? HEALER_SEV_HIGH : HEALER_SEV_MEDIUM,
            .target = w->dir,
            .summary = summary,
            .measurements = ms,
            .n_measurements = sizeof ms / sizeof ms[0],
        };
        if (h->publish_issue(s->ctx, &is) >= 0)
            w->pred_open = 1;
    } else if (w->pred_open) {
        if (h->resolve_issue(s->ctx, DISK_PREDICTED, w->dir) >= 0)
            w->pred_open = 0;
    }
}

static int disk_detect(void *state)
{
    disk_state *s = state;
    const healer_host *h = s->h;
    char path[4096];
    if (!h->proc_path(s->ctx, "self/mounts", path, sizeof path))
        return HEALER_E_INVAL;
    disk_mount *mv;
    size_t n, bad;
    if (disk_read_mounts(path, &mv, &n, &bad) != 0) {
        if (!s->mounts_missing)
            h->log(s->ctx, HEALER_LOG_WARN, "cannot read %s: %s; no filesystem watched", path,
                   strerror(errno));
        s->mounts_missing = 1;
        return HEALER_OK;
    }
    s->mounts_missing = 0;
    /* Read-only in this view, writable underneath (the agent's unit makes / and /home read-only
     * to the agent, not to the host): it still fills up, so it is watched. What the agent may
     * remove there is another matter (a removal fails; the unit's ReadWritePaths= decide). */
    char info[4096];
    if (h->proc_path(s->ctx, "self/mountinfo", info, sizeof info))
        disk_mark_super_rw(info, mv, n);
    if (bad)
        h->log(s->ctx, HEALER_LOG_DEBUG, "%s: %zu malformed line(s) skipped", path, bad);
    double now = h->now(s->ctx);
    for (size_t i = 0; i < s->nw; i++)
        s->w[i]->seen = 0;

    dev_t *devs = calloc(n ? n : 1, sizeof *devs);
    size_t nd = 0;
    for (size_t i = 0; i < n && devs; i++) {
        disk_mount *m = &mv[i];
        if (!disk_mount_wanted(s, m))
            continue;
        /* A mountpoint mounted over again: only the last (visible) one counts. */
        int later = 0;
        for (size_t j = i + 1; j < n && !later; j++)
            later = strcmp(mv[j].dir, m->dir) == 0;
        if (later)
            continue;
        disk_usage u;
        if (disk_usage_of(m->dir, &u) != 0) {
            h->log(s->ctx, HEALER_LOG_DEBUG, "statvfs %s: %s; skipped", m->dir, strerror(errno));
            continue;
        }
        if (u.total_bytes == 0)
            continue;   /* no size (ramfs and friends): nothing to measure */
        int dup = 0;    /* the same filesystem bind-mounted elsewhere: watched once */
        for (size_t j = 0; j < nd && !dup; j++)
            dup = devs[j] == u.dev;
        if (dup)
            continue;
        devs[nd++] = u.dev;
        disk_watch *w = disk_find(s, m->dir);
        if (!w && !(w = disk_add(s, m->dir)))
            continue;
        if (w->fed && w->dev != u.dev)   /* another filesystem now: its history is not this one's */
            h->series_forget(s->ctx, w->dir);
        w->dev = u.dev;
        w->seen = 1;
        w->last = u;
        disk_feed(s, w, now, (double)u.avail_bytes);
        disk_check(s, w);
    }
    free(devs);
    free(mv);

    /* Unmounted (or no longer wanted): clear what it had open and forget it. */
    for (size_t i = 0; i < s->nw;) {
        disk_watch *w = s->w[i];
        if (w->seen) {
            i++;
            continue;
        }
        if (w->low_open)
            h->resolve_issue(s->ctx, DISK_LOW, w->dir);
        if (w->pred_open)
            h->resolve_issue(s->ctx, DISK_PREDICTED, w->dir);
        if (w->fed)
            h->series_forget(s->ctx, w->dir);
        free(w);
        s->w[i] = s->w[--s->nw];
    }
    return HEALER_OK;
}

/* ---- verify ------------------------------------------------------------------------------- */

static int disk_verify(void *state, const healer_issue *issue, const healer_action *action,
                       healer_verdict *verdict)
{
    disk_state *s = state;
    const char *mount = action->target && *action->target ? action->target : issue->target;
    disk_usage u;
    if (!mount || disk_usage_of(mount, &u) != 0) {
        snprintf(verdict->message, sizeof verdict->message, "cannot measure %s: %s",
                 mount ? mount : "(none)", strerror(errno));
        return HEALER_E_IO;
    }
    size_t k = 0;
    verdict->measurements[k++] = (healer_measurement){"used_percent", u.used_percent};
    verdict->measurements[k++] = (healer_measurement){"inodes_used_percent",
                                                      u.inodes_used_percent};
    verdict->measurements[k++] = (healer_measurement){"free_bytes", (double)u.avail_bytes};
    char fb[32];
    if (strcmp(issue->type, DISK_PREDICTED) == 0) {
        /* Healed when the free space now outlasts the horizon at the rate that raised it. */
        double rate = 0;
        for (size_t i = 0; i < issue->n_measurements; i++)
            if (strcmp(issue->measurements[i].name, "fill_rate_bytes_per_second") == 0)
                rate = issue->measurements[i].value;
        double ttf = rate > 0 ? (double)u.avail_bytes / rate : -1;
        verdict->healed = ttf < 0 || ttf >= s->horizon_s;
        verdict->measurements[k++] = (healer_measurement){"time_to_full_seconds", ttf};
        snprintf(verdict->message, sizeof verdict->message, "%s: %s free, %s at %.0f B/s: %s",
                 mount, disk_human_bytes(u.avail_bytes, fb, sizeof fb),
                 ttf < 0 ? "not filling" : "fills later", rate,
                 verdict->healed ? "beyond the horizon" : "still within the horizon");
    } else {
        verdict->healed = u.used_percent < s->high && u.inodes_used_percent < s->high;
        snprintf(verdict->message, sizeof verdict->message,
                 "%s at %.1f%% (%s free), inodes %.1f%%: %s", mount, u.used_percent,
                 disk_human_bytes(u.avail_bytes, fb, sizeof fb), u.inodes_used_percent,
                 verdict->healed ? "below the high threshold" : "still high");
    }
    verdict->n_measurements = k;
    return HEALER_OK;
}

/* ---- init, destroy ------------------------------------------------------------------------ */

static int disk_declare_list(disk_state *s, const char *key)
{
    size_t n = s->h->config_list_len(s->ctx, key);
    for (size_t i = 0; i < n; i++) {
        const char *d = s->h->config_list_item(s->ctx, key, i);
        if (!d || d[0] != '/') {
            s->h->log(s->ctx, HEALER_LOG_ERROR, "plugins.disk.%s: \"%s\" is not an absolute path",
                      key, d ? d : "");
            return HEALER_E_INVAL;
        }
        int rc = s->h->declare_path(s->ctx, d);
        if (rc < 0) {
            s->h->log(s->ctx, HEALER_LOG_ERROR, "cannot declare %s: %s", d,
                      s->h->last_message(s->ctx));
            return rc;
        }
    }
    return HEALER_OK;
}

static int disk_init(const healer_host *h, healer_ctx *ctx, void **state)
{
    disk_state *s = calloc(1, sizeof *s);
    if (!s)
        return HEALER_E_NOMEM;
    s->h = h;
    s->ctx = ctx;
    s->high = h->config_double(ctx, "high_percent");
    s->crit = h->config_double(ctx, "critical_percent");
    if (s->crit < s->high) {
        h->log(ctx, HEALER_LOG_ERROR, "plugins.disk.critical_percent (%g) is below high_percent "
               "(%g)", s->crit, s->high);
        free(s);
        return HEALER_E_INVAL;
    }
    s->window_s = h->config_double(ctx, "predict_window_seconds");
    s->min_samples = h->config_int(ctx, "predict_min_samples");
    s->min_r2 = h->config_double(ctx, "predict_min_r2");
    s->horizon_s = h->config_double(ctx, "predict_horizon_seconds");
    s->nix_gc_pct = h->config_double(ctx, "nix_gc_percent");
    s->log_pct = h->config_double(ctx, "log_percent");
    s->tmp_pct = h->config_double(ctx, "tmp_percent");
    s->gens_pct = h->config_double(ctx, "generations_percent");
    s->log_age = h->config_double(ctx, "log_age_days");
    s->tmp_age = h->config_double(ctx, "tmp_age_days");
    s->em_log_age = h->config_double(ctx, "emergency_log_age_days");
    s->em_tmp_age = h->config_double(ctx, "emergency_tmp_age_days");
    s->keep_gens = h->config_int(ctx, "keep_generations");
    s->em_keep_gens = h->config_int(ctx, "emergency_keep_generations");
    s->cmd_timeout = h->config_double(ctx, "command_timeout");
    s->preview_timeout = h->config_double(ctx, "preview_timeout");
    s->auto_nix_gc = h->config_bool(ctx, "auto_nix_gc");
    s->auto_logs = h->config_bool(ctx, "auto_logs");
    s->auto_tmp = h->config_bool(ctx, "auto_tmp");
    s->auto_gens = h->config_bool(ctx, "auto_generations");
    s->auto_em = h->config_bool(ctx, "auto_emergency");
    s->preview_nix = h->config_bool(ctx, "preview_nix");
    s->gc_users = h->config_bool(ctx, "gc_user_profiles");
    s->user_profiles = h->config_string(ctx, "user_profiles_dir");
    s->nix_store = h->config_string(ctx, "nix_store");
    s->nix_profile = h->config_string(ctx, "nix_profile");
    s->gc_older = h->config_string(ctx, "gc_delete_older_than");
    s->em_gc_older = h->config_string(ctx, "emergency_gc_delete_older_than");
    s->vacuum_time = h->config_string(ctx, "journal_vacuum_time");
    s->em_vacuum_time = h->config_string(ctx, "emergency_journal_vacuum_time");
    s->journald_socket = h->config_string(ctx, "journald_socket");
    s->log_pattern = h->config_string(ctx, "log_pattern");
    if (s->gc_older && *s->gc_older)
        h->log(ctx, HEALER_LOG_WARN, "plugins.disk.gc_delete_older_than = \"%s\" is no longer "
               "used: nix_gc deletes the system profile's generations beyond keep_generations "
               "(%lld), never by age, then runs nix-store --gc", s->gc_older, s->keep_gens);
    if (s->em_gc_older && *s->em_gc_older)
        h->log(ctx, HEALER_LOG_WARN, "plugins.disk.emergency_gc_delete_older_than = \"%s\" is "
               "no longer used: the emergency GC keeps emergency_keep_generations (%lld)",
               s->em_gc_older, s->em_keep_gens);
    if (!s->vacuum_time || !*s->vacuum_time)
        s->vacuum_time = "7d";
    if (!s->em_vacuum_time || !*s->em_vacuum_time)
        s->em_vacuum_time = s->vacuum_time;

    int rc = disk_declare_list(s, "log_dirs");
    if (rc >= 0)
        rc = disk_declare_list(s, "tmp_dirs");
    if (rc < 0) {
        free(s);
        return rc;
    }
    h->log(ctx, HEALER_LOG_INFO, "high at %g%%, critical at %g%%; logs older than %g d, temp "
           "older than %g d; deletions %s", s->high, s->crit, s->log_age, s->tmp_age,
           s->auto_logs || s->auto_tmp || s->auto_nix_gc || s->auto_gens || s->auto_em
               ? "partly automatic" : "need confirmation");
    *state = s;
    return HEALER_OK;
}

static void disk_destroy(void *state)
{
    disk_state *s = state;
    if (!s)
        return;
    for (size_t i = 0; i < s->nw; i++)
        free(s->w[i]);
    free(s->w);
    free(s);
}

static const healer_plugin disk_descriptor = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "disk",
    .version = "1.0.0",
    .description = "disk space and inodes per filesystem, time-to-full, cleanup ladder",
    .issue_types = disk_issue_types,
    .config = disk_config,
    .interval = 0,
    .init = disk_init,
    .destroy = disk_destroy,
    .detect = disk_detect,
    .plan = disk_plan,
    .execute = disk_execute,
    .verify = disk_verify,
};

HEALER_PLUGIN(disk_descriptor)
