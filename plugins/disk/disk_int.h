/* disk_int.h — internal to the disk plugin: its state (the mounts watched, their samples, the
 * configuration), shared by detect and verify (disk.c), plan (disk_plan.c) and execute
 * (disk_exec.c), and the helpers they share. */
#ifndef HEALER_PLUGIN_DISK_INT_H
#define HEALER_PLUGIN_DISK_INT_H

#include <healer/healer.h>

#include "disk.h"

#define DISK_LOW "disk_space_low"
#define DISK_PREDICTED "disk_full_predicted"
/* per mount, the host keeps the last HEALER_SERIES_POINTS samples: a window holding more
 * drops the oldest */
#define DISK_MAX_SAMPLES HEALER_SERIES_POINTS

#define DISK_A_NIX_GC "nix_gc"
#define DISK_A_LOGS "remove_old_logs"
#define DISK_A_JOURNAL "journal_vacuum"
#define DISK_A_TMP "clean_tmp"
#define DISK_A_GENS "delete_generations"
#define DISK_A_EMERGENCY "emergency_cleanup"

typedef struct disk_watch {
    char dir[DISK_PATH_MAX];
    dev_t dev;
    int seen;                  /* present in this cycle's mounts */
    int fed;                   /* its free bytes are a series of the host's (named dir) */
    int low_open, pred_open;
    disk_usage last;
} disk_watch;

typedef struct disk_state {
    const healer_host *h;
    healer_ctx *ctx;
    double high, crit;
    double window_s, min_r2, horizon_s;
    long long min_samples;
    double nix_gc_pct, log_pct, tmp_pct, gens_pct;
    double log_age, tmp_age, em_log_age, em_tmp_age;
    long long keep_gens, em_keep_gens;
    double cmd_timeout, preview_timeout;
    int auto_nix_gc, auto_logs, auto_tmp, auto_gens, auto_em, preview_nix, gc_users;
    const char *user_profiles;
    const char *nix_store, *nix_profile, *gc_older, *em_gc_older, *vacuum_time, *em_vacuum_time;
    const char *journald_socket, *log_pattern;
    disk_watch **w;
    size_t nw;
    int mounts_missing;        /* logged once */
} disk_state;

/* disk.c */
/* 1 when systemd-tmpfiles ages dir (a tmpfiles.d ageing rule): its cleanup, not healerd's;
 * where names the rule. */
int disk_deferred(disk_state *s, const char *dir, char *where, size_t wl);
/* 1 when path exists and lives on the filesystem dev. */
int disk_on_mount(const char *path, dev_t dev);
/* The larger of block and inode use, percent. */
double disk_pct(const disk_usage *u);
/* The watch of a mountpoint, NULL when it is not watched. */
disk_watch *disk_find(disk_state *s, const char *dir);

/* disk_plan.c */
/* 1 when systemd-journald is running (a journal to vacuum). */
int disk_journald_runs(disk_state *s);
int disk_plan(void *state, const healer_issue *issue, healer_plan *plan);

/* disk_exec.c */
int disk_execute(void *state, const healer_issue *issue, const healer_action *action,
                 healer_result *result);

#endif
