/* nixconfig_int.h — private declarations shared by nixconfig.c (descriptor, init, detection)
 * and nixconfig_act.c (plan, execute, verify): the plugin state, its limits, and the helpers
 * both use. */
#ifndef NIXCONFIG_INT_H
#define NIXCONFIG_INT_H

#include <healer/healer.h>

#include "nixconfig.h"

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define NC_ISSUE_INVALID "nixos_config_invalid"
#define NC_ISSUE_ACTIVATION "nixos_activation_failed"
#define NC_ACT_FIX "fix_syntax"
#define NC_ACT_ROLLBACK "rollback_generation"
#define NC_ACT_EMERGENCY "emergency_rollback"

#define NC_MAX_FILES 256        /* hard cap on files followed through imports */
#define NC_MAX_BAD 8            /* broken files reported at once */
#define NC_OUT_LEN (1u << 20)   /* probe output buffer: parse output of a large config */
#define NC_MAX_FILE_BYTES (8u << 20)
#define NC_FIX_BUDGET 24
#define NC_EXIT_REBOOT 100      /* switch-to-configuration: installed, active after a reboot */        /* parser runs spent searching for one fix */

typedef struct nc_file {
    char path[PATH_MAX];
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
} nc_file;

typedef struct nc_bad {
    char file[PATH_MAX];
    nc_perr err;
    const char *kind;            /* "syntax", "missing_import", "eval" */
    int fixable;
    char hash[17];
    char edits[512];
    size_t n_edits;
    char desc[HEALER_MSG_MAX];
    char nofix[200];             /* why no fix is offered, when a reason is known */
} nc_bad;

/* A fix applied to a file in a given broken state: when the file comes back in that very state,
 * the same fix is offered at most max_fix_attempts times in NC_FIX_WINDOW, then only reported.
 * Kept across restarts in attempts_file (nixconfig_attempts.c). */
#define NC_FIX_WINDOW 3600.0
#define NC_MAX_ATTEMPTS 16
typedef struct nc_attempt {
    char file[PATH_MAX];
    char hash[17];
    int count;
    double first;
} nc_attempt;

typedef struct nixconfig {
    const healer_host *host;
    healer_ctx *ctx;

    char config_file[PATH_MAX];
    char config_dir[PATH_MAX];
    char backup_dir[PATH_MAX];
    char state_file[PATH_MAX];
    char attempts_file[PATH_MAX];   /* fix-attempts beside state_file */
    char status_file[PATH_MAX];
    char profile[PATH_MAX];
    char current_system[PATH_MAX];
    const char *nix_instantiate;
    const char *nix_env;
    int follow_imports, eval, auto_fix, auto_rollback, rollback, check_current_system;
    long long max_files, backups_keep, max_fix_steps, max_fix_attempts;
    nc_attempt attempts[NC_MAX_ATTEMPTS];
    char fixed_file[PATH_MAX];   /* the last file fix_syntax wrote, and the hash of what it */
    char fixed_hash[17];         /* wrote: verify tells "written again since" from "bad fix" */
    double parse_timeout, eval_timeout, switch_timeout;

    char scratch[PATH_MAX];      /* private temp dir for the copies being validated */
    int absent_noted;            /* said once that a non-NixOS host has no configuration */
    char *out;                   /* probe output */

    nc_file files[NC_MAX_FILES];
    size_t n_files;
    nc_file flake;               /* config_dir/flake.nix and config_file, watched even while */
    nc_file root;                /* absent: one that appears (or goes) changes what is validated */
    int validated;               /* files[] and bad[] hold a validation of the current files */
    nc_bad bad[NC_MAX_BAD];
    size_t n_bad;
    char published[NC_MAX_BAD][PATH_MAX];
    size_t n_published;
    unsigned long long validations, probes;

    nc_genstate gs;
    int act_published;
    int act_failed_gen, act_exit;
    char act_why[256];
} nixconfig;

/* snprintf that truncates quietly (nixconfig.c). */
void nc_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void nc_dirname(const char *path, char *buf, size_t len);
const char *nc_basename(const char *path);

/* ---- nixconfig_io.c: file access ---------------------------------------------------------- */

/* Whole file, NUL-terminated (*n bytes, NULs inside possible); NULL with errno. Never blocks,
 * never follows a final link (ELOOP); not a regular file: EINVAL with its type in *st. */
char *nc_slurp(const char *path, size_t *n, struct stat *st);
/* "a FIFO", "a character device", ...: what st is, for messages. */
const char *nc_ftype(const struct stat *st);
int nc_write_scratch(nixconfig *w, const char *name, const char *s, size_t n, char *path,
                     size_t len);
void nc_file_sig(nc_file *f);
int nc_file_changed(const nc_file *f);
/* The backup's file name for path (its full path, escaped: "etc%2Fnixos%2Fa.nix"), without the
 * time suffix; fits a directory entry with room for ".YYYYmmdd-HHMMSS-NN". */
void nc_backup_base(const char *path, char *out, size_t len);
/* 1 when name is base followed by ".YYYYmmdd-HHMMSS" and an optional "-N". */
int nc_backup_match(const char *name, const char *base);
/* Creates the empty backup file with the original's mode (set-id bits dropped) and, when this
 * process may, its owner: act_write_file then fills it keeping both. 0 done, 1 done but the
 * owner could not be set (EPERM: chown it through act_run), -1 with errno. */
int nc_backup_placeholder(const char *backup, const struct stat *orig);

/* ---- nixconfig_val.c: validation and detection of the configuration --------------------- */

void nc_detect_config(nixconfig *w);
/* 1 parses, 0 does not (e filled), -1 the parser could not be run (e->msg says why). */
int nc_parse(nixconfig *w, const char *path, nc_perr *e);
/* The failure repeats: our own rollback failed, or the generation before is known bad. */
int nc_emergency(nixconfig *w, int cur);
/* Where to roll back to (-1 when there is none). */
int nc_pick(nixconfig *w, int cur, int emergency);

/* ---- nixconfig_attempts.c: fix attempts, kept across restarts ---------------------------- */

/* The record of fixes applied to file in the broken state hash (NULL when none; with create, a
 * new zeroed one, reusing the oldest slot when the table is full). */
nc_attempt *nc_attempt_of(nixconfig *w, const char *file, const char *hash, int create);
/* Reads attempts_file into attempts[] (missing: none). A garbled file or line is logged as an
 * error naming the file (and line) and skipped; never fatal. */
void nc_attempts_load(nixconfig *w);
/* Writes attempts[] to attempts_file: temp file, fsync, rename; through act_write_file when
 * the plugin may not write the directory (execute() only). 0, or -1 (logged). */
int nc_attempts_save(nixconfig *w);

/* ---- nixconfig_act.c: the plugin's plan, execute and verify callbacks -------------------- */

int nc_plan(void *state, const healer_issue *issue, healer_plan *plan);
int nc_execute(void *state, const healer_issue *issue, const healer_action *action,
               healer_result *result);
int nc_verify(void *state, const healer_issue *issue, const healer_action *action,
              healer_verdict *v);

#endif
