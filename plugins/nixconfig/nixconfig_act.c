/* nixconfig_act.c — the nixconfig plugin's plan, execute and verify callbacks: a validated
 * syntax fix (hash-checked, backed up, backups pruned) and a generation rollback
 * (nix-env --switch-generation, then switch-to-configuration), and their verification. */
#include <healer/healer.h>

#include "nixconfig_int.h"
#include "nixconfig_lex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- plan -------------------------------------------------------------------------------- */

static const nc_bad *nc_find_bad(const nixconfig *w, const char *file)
{
    for (size_t i = 0; i < w->n_bad; i++)
        if (strcmp(w->bad[i].file, file) == 0)
            return &w->bad[i];
    return NULL;
}

/* 1 when path's real directory is under the declared configuration directory. */
static int nc_under_config_dir(const nixconfig *w, const char *path)
{
    char dir[PATH_MAX], rd[PATH_MAX], rc[PATH_MAX];
    nc_dirname(path, dir, sizeof dir);
    if (!realpath(dir, rd) || !realpath(w->config_dir, rc))
        return 0;
    size_t l = strlen(rc);
    return strncmp(rd, rc, l) == 0 && (rd[l] == '\0' || rd[l] == '/' || l == 1);
}

int nc_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    nixconfig *w = state;
    const healer_host *h = w->host;
    if (!issue->target)
        return HEALER_OK;
    if (strcmp(issue->type, NC_ISSUE_INVALID) == 0) {
        const nc_bad *b = nc_find_bad(w, issue->target);
        if (!b)
            return HEALER_OK;   /* not one of ours, or fixed meanwhile */
        if (!b->fixable && b->nofix[0]) {
            /* The validation knows why (a NUL, an unterminated string, every candidate refused
             * by the proof, a file changing while validated): say that, not a guess. */
            h->log(w->ctx, HEALER_LOG_INFO, "%s: %s: no fix offered: %s", b->file, b->err.msg,
                   b->nofix);
            return HEALER_OK;
        }
        if (!b->fixable) {
            h->log(w->ctx, HEALER_LOG_INFO, "%s: %s: not an error this plugin fixes (it fixes a "
                   "missing ';' and unbalanced brackets, when the fixed copy parses and "
                   "differs only by them); fix it by hand", b->file, b->err.msg);
            return HEALER_OK;
        }
        if (!nc_under_config_dir(w, b->file)) {
            h->log(w->ctx, HEALER_LOG_INFO, "%s is outside %s (the declared configuration "
                   "directory): fix not offered", b->file, w->config_dir);
            return HEALER_OK;
        }
        /* The same fix for the same broken bytes, again and again: something rewrites the
         * file (a generator, a sync, a person). Stop offering it and wait for a human. */
        nc_attempt *t = nc_attempt_of(w, b->file, b->hash, 0);
        double now = h->now(w->ctx);
        if (t && now - t->first > NC_FIX_WINDOW)
            t->count = 0;
        else if (t && t->count >= w->max_fix_attempts) {
            h->log(w->ctx, HEALER_LOG_WARN, "%s: broken again the same way after %d fixes "
                   "since %.0f s ago: fix not offered again (max_fix_attempts = %lld); "
                   "something rewrites this file: waiting for a human", b->file, t->count,
                   now - t->first, w->max_fix_attempts);
            return HEALER_OK;
        }
        healer_kv params[] = {{"file", b->file}, {"hash", b->hash}, {"edits", b->edits}};
        healer_action a = {
            .name = NC_ACT_FIX,
            .target = b->file,
            .description = b->desc,
            .step = 0,
            .impact = 0.2,
            .confidence = 0.8,
            .flags = HEALER_ACTION_CONFIG | (w->auto_fix ? HEALER_ACTION_AUTO_OK : 0u),
            .params = params,
            .n_params = 3,
        };
        return h->plan_add_action(plan, &a);
    }
    if (strcmp(issue->type, NC_ISSUE_ACTIVATION) == 0) {
        if (!w->rollback || strcmp(issue->target, w->profile) != 0)
            return HEALER_OK;
        int cur = nc_gen_current(w->profile);
        if (cur <= 0)
            return HEALER_OK;
        int emergency = issue->severity == HEALER_SEV_CRITICAL || nc_emergency(w, cur);
        int to = nc_pick(w, cur, emergency);
        if (to <= 0) {
            h->log(w->ctx, HEALER_LOG_WARN, "%s: no %sgeneration to roll back to from %d",
                   w->profile, emergency ? "known-good " : "", cur);
            return HEALER_OK;
        }
        char from_s[16], to_s[16], desc[HEALER_MSG_MAX];
        nc_fmt(from_s, sizeof from_s, "%d", cur);
        nc_fmt(to_s, sizeof to_s, "%d", to);
        nc_fmt(desc, sizeof desc, "%s%s --switch-generation %d (from %d), then %s-%d-link/bin/"
                 "switch-to-configuration switch", emergency ? "emergency: newest known-good "
                 "generation: " : "", w->nix_env, to, cur, w->profile, to);
        healer_kv params[] = {{"profile", w->profile}, {"from", from_s}, {"to", to_s}};
        healer_action a = {
            .name = emergency ? NC_ACT_EMERGENCY : NC_ACT_ROLLBACK,
            .target = w->profile,
            .description = desc,
            .step = 0,
            .impact = 0.5,
            .confidence = emergency ? 0.8 : 0.7,
            .flags = HEALER_ACTION_ROLLBACK | HEALER_ACTION_CONFIG |
                     (w->auto_rollback ? HEALER_ACTION_AUTO_OK : 0u),
            .params = params,
            .n_params = 3,
        };
        return h->plan_add_action(plan, &a);
    }
    return HEALER_OK;
}

/* ---- execute ----------------------------------------------------------------------------- */

static const char *nc_param(const healer_action *a, const char *key)
{
    for (size_t i = 0; i < a->n_params; i++)
        if (a->params[i].key && strcmp(a->params[i].key, key) == 0)
            return a->params[i].value;
    return NULL;
}

static int nc_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the oldest backups of base beyond backups_keep (names sort by their timestamp; only
 * names that are base plus a timestamp: "a.nix" never prunes "a.nix.old"'s backups). */
static void nc_prune_backups(nixconfig *w, const char *base)
{
    DIR *d = opendir(w->backup_dir);
    if (!d)
        return;
    char *names[1024];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 1024)
        if (nc_backup_match(de->d_name, base))
            if ((names[n] = strdup(de->d_name)))
                n++;
    closedir(d);
    qsort(names, n, sizeof *names, nc_cmp_str);
    for (size_t i = 0; i + (size_t)w->backups_keep < n; i++) {
        healer_remove_opts o;
        memset(&o, 0, sizeof o);
        o.pattern = names[i];
        uint64_t freed = 0, count = 0;
        int rc = w->host->act_remove_old_files(w->ctx, w->backup_dir, 0, &o, &freed, &count);
        w->host->log(w->ctx, HEALER_LOG_DEBUG, "prune backup %s: %s", names[i],
                     w->host->last_message(w->ctx));
        (void)rc;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
}

static int nc_fix_failed(healer_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int nc_fix_failed(healer_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->outcome = HEALER_OUTCOME_FAILED;
    return HEALER_OK;
}

/* The backup: a new file in backup_dir named after the file's full path and the time, with the
 * original's mode and owner (a 0600 file's secrets stay 0600), holding exactly orig. */
static int nc_backup(nixconfig *w, const char *file, const struct stat *st, const char *orig,
                     char *backup, size_t blen, int *dry, healer_result *r)
{
    const healer_host *h = w->host;
    char ts[32], base[256];
    time_t t = (time_t)h->now(w->ctx);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
    nc_backup_base(file, base, sizeof base);
    nc_fmt(backup, blen, "%s/%s.%s", w->backup_dir, base, ts);
    for (int i = 1; i < 100 && faccessat(AT_FDCWD, backup, F_OK, AT_SYMLINK_NOFOLLOW) == 0; i++)
        nc_fmt(backup, blen, "%s/%s.%s-%d", w->backup_dir, base, ts, i);
    /* The placeholder holds the mode and owner before any content goes in. Made here when the
     * plugin may write backup_dir (its own state directory); otherwise (a confined child and a
     * backup_dir elsewhere) through the agent: an empty file, then chmod and chown, and only
     * then the content (act_write_file keeps an existing file's mode and owner). */
    int fix_mode = 0, fix_owner = 0;
    *dry = h->dry_run(w->ctx);
    if (!*dry) {
        int p = nc_backup_placeholder(backup, st);
        if (p < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
            /* The agent makes the file as its own user (root): chown only for another. */
            fix_mode = 1;
            fix_owner = st->st_uid != geteuid() || st->st_gid != getegid();
        } else if (p < 0) {
            nc_fix_failed(r, "backup of %s: cannot create %s: %s: nothing changed", file, backup,
                          strerror(errno));
            return -1;
        } else {
            fix_owner = p > 0;
        }
    }
    int rc = HEALER_OK;
    if (fix_mode) {
        rc = h->act_write_file(w->ctx, backup, "");
        if (rc == HEALER_OK) {
            char mode[16], out[256];
            nc_fmt(mode, sizeof mode, "%04o", (unsigned)(st->st_mode & 0777));
            const char *argv[] = {"chmod", mode, "--", backup, NULL};
            int status = -1;
            int rr = h->act_run(w->ctx, argv, 30, out, sizeof out, &status);
            if (rr < 0 || status != 0) {
                nc_fix_failed(r, "backup %s of %s: cannot give it the mode %s (%s): nothing "
                              "changed", backup, file, mode, rr < 0 ? h->last_message(w->ctx)
                              : out);
                return -1;
            }
        }
    }
    if (rc == HEALER_OK && fix_owner) {
        char owner[48], out[256];
        nc_fmt(owner, sizeof owner, "%lu:%lu", (unsigned long)st->st_uid,
               (unsigned long)st->st_gid);
        const char *argv[] = {"chown", "--no-dereference", owner, "--", backup, NULL};
        int status = -1;
        int rr = h->act_run(w->ctx, argv, 30, out, sizeof out, &status);
        if (rr < 0 || status != 0) {
            nc_fix_failed(r, "backup %s of %s: cannot give it the owner %s (%s): nothing "
                          "changed", backup, file, owner, rr < 0 ? h->last_message(w->ctx) : out);
            return -1;
        }
    }
    if (rc == HEALER_OK)
        rc = h->act_write_file(w->ctx, backup, orig);
    if (rc == HEALER_DRY_RUN)
        *dry = 1;
    if (rc < 0) {
        nc_fix_failed(r, "backup of %s to %s failed (%s): nothing changed", file, backup,
                      h->last_message(w->ctx));
        if (!*dry && !fix_mode)
            unlink(backup);   /* the empty placeholder */
        return -1;
    }
    return 0;
}

static int nc_exec_fix(nixconfig *w, const healer_action *a, healer_result *r)
{
    const healer_host *h = w->host;
    const char *file = nc_param(a, "file"), *hash = nc_param(a, "hash"),
               *edits = nc_param(a, "edits");
    nc_edit eds[10];
    size_t ne = 0;
    if (!file || !hash || !edits || nc_edits_parse(edits, eds, 10, &ne) != 0 || ne == 0)
        return nc_fix_failed(r, "fix_syntax: bad parameters");
    size_t n;
    struct stat st;
    memset(&st, 0, sizeof st);
    char *orig = nc_slurp(file, &n, &st);
    if (!orig) {
        int e = errno;
        w->validated = 0;
        if (e == EINVAL || e == ELOOP)
            return nc_fix_failed(r, "%s is %s now, not a regular file: never rewritten", file,
                                 e == ELOOP ? "a symbolic link" : nc_ftype(&st));
        return nc_fix_failed(r, "read %s: %s", file, strerror(e));
    }
    char now_hash[17];
    nc_hash(orig, n, now_hash);
    if (strcmp(now_hash, hash) != 0) {
        free(orig);
        w->validated = 0;
        return nc_fix_failed(r, "%s changed since the fix was planned: not applied (it is "
                             "validated again)", file);
    }
    /* Proven again on the very bytes read (a NUL, an unterminated string, an edit that would
     * touch a string or comment: refused), then the copy must parse. */
    char *cur = NULL, why[200];
    size_t cn = 0;
    int pr = nc_fix_proven(orig, n, eds, ne, &cur, &cn, why, sizeof why);
    if (pr < 0) {
        free(orig);
        return HEALER_E_NOMEM;
    }
    if (pr == 0) {
        free(orig);
        return nc_fix_failed(r, "%s: the fix is refused: %s; the original is kept", file, why);
    }
    char copy[PATH_MAX];
    nc_perr e;
    int valid = nc_write_scratch(w, nc_basename(file), cur, cn, copy, sizeof copy) == 0 &&
                nc_parse(w, copy, &e) == 1;
    if (!valid) {
        free(orig);
        free(cur);
        return nc_fix_failed(r, "the fixed copy of %s does not parse; the original is kept",
                             file);
    }
    char backup[PATH_MAX];
    int dry = 0;
    if (nc_backup(w, file, &st, orig, backup, sizeof backup, &dry, r) != 0) {
        free(orig);
        free(cur);
        return HEALER_OK;
    }
    if (!dry) {
        /* Counted, and saved, before the file is written: an agent that dies while or right
         * after writing it (a crash loop) still finds the attempt at its next start. */
        nc_attempt *t = nc_attempt_of(w, file, hash, 1);
        if (t->count == 0)
            t->first = h->now(w->ctx);
        t->count++;
        nc_attempts_save(w);
    }
    int rc = h->act_write_file(w->ctx, file, cur);
    nc_fmt(w->fixed_file, sizeof w->fixed_file, "%s", rc == HEALER_OK && !dry ? file : "");
    nc_hash(cur, cn, w->fixed_hash);
    free(orig);
    free(cur);
    w->validated = 0;   /* validate again next cycle, whatever happened */
    if (rc == HEALER_DRY_RUN || dry) {
        r->outcome = HEALER_OUTCOME_DRY_RUN;
        nc_fmt(r->message, sizeof r->message, "would back %s up to %s and apply: %s", file,
                 backup, a->description ? a->description : edits);
        return HEALER_OK;
    }
    if (rc < 0)
        return nc_fix_failed(r, "write %s: %s (backup in %s)", file, h->last_message(w->ctx),
                             backup);
    char base[256];
    nc_backup_base(file, base, sizeof base);
    nc_prune_backups(w, base);
    r->outcome = HEALER_OUTCOME_DONE;
    r->measurements[0] = (healer_measurement){"edits_applied", (double)ne};
    r->n_measurements = 1;
    nc_fmt(r->message, sizeof r->message, "fixed %s (%zu edit%s; backup %s)", file, ne,
             ne == 1 ? "" : "s", backup);
    return HEALER_OK;
}

/* Writes the generation record through the actuator (audited, honours dry-run). */
static void nc_save_state(nixconfig *w)
{
    char buf[8192];
    nc_state_format(&w->gs, w->profile, buf, sizeof buf);
    if (w->host->act_write_file(w->ctx, w->state_file, buf) < 0)
        w->host->log(w->ctx, HEALER_LOG_WARN, "state %s: %s", w->state_file,
                     w->host->last_message(w->ctx));
}

static int nc_exec_rollback(nixconfig *w, const healer_action *a, healer_result *r)
{
    const healer_host *h = w->host;
    const char *prof = nc_param(a, "profile"), *from_s = nc_param(a, "from"),
               *to_s = nc_param(a, "to");
    int from = from_s ? atoi(from_s) : -1, to = to_s ? atoi(to_s) : -1;
    if (!prof || strcmp(prof, w->profile) != 0 || from <= 0 || to <= 0 || to > NC_MAX_GENS) {
        r->outcome = HEALER_OUTCOME_FAILED;
        nc_fmt(r->message, sizeof r->message, "rollback: bad parameters");
        return HEALER_OK;
    }
    int cur = nc_gen_current(w->profile);
    if (cur != from) {
        r->outcome = HEALER_OUTCOME_SKIPPED;
        nc_fmt(r->message, sizeof r->message, "%s is at generation %d now, not %d: the "
                 "planned rollback no longer applies", w->profile, cur, from);
        return HEALER_OK;
    }
    char link[PATH_MAX], sw[PATH_MAX + 40], gen_s[16];
    nc_gen_link(w->profile, to, link, sizeof link);
    nc_fmt(sw, sizeof sw, "%s/bin/switch-to-configuration", link);
    struct stat st;
    if (lstat(link, &st) != 0) {
        r->outcome = HEALER_OUTCOME_FAILED;
        nc_fmt(r->message, sizeof r->message, "generation %d (%s) is gone", to, link);
        return HEALER_OK;
    }
    nc_fmt(gen_s, sizeof gen_s, "%d", to);
    char out[2048];
    int status = -1;
    const char *argv1[] = {w->nix_env, "-p", w->profile, "--switch-generation", gen_s, NULL};
    int rc = h->act_run(w->ctx, argv1, 120, out, sizeof out, &status);
    if (rc < 0 || (rc == HEALER_OK && status != 0)) {
        r->outcome = HEALER_OUTCOME_FAILED;
        nc_fmt(r->message, sizeof r->message, "%s --switch-generation %d failed: %s (exit "
                 "%d)", w->nix_env, to, h->last_message(w->ctx), status);
        return HEALER_OK;
    }
    int dry = rc == HEALER_DRY_RUN;
    const char *argv2[] = {sw, "switch", NULL};
    status = -1;
    rc = h->act_run(w->ctx, argv2, w->switch_timeout, out, sizeof out, &status);
    if (dry || rc == HEALER_DRY_RUN) {
        r->outcome = HEALER_OUTCOME_DRY_RUN;
        nc_fmt(r->message, sizeof r->message, "would switch %s from generation %d to %d and "
                 "run %s switch", w->profile, from, to, sw);
        return HEALER_OK;
    }
    int exit_status = rc == HEALER_OK ? status : (status >= 0 ? status : 255);
    w->gs.last_gen = to;
    w->gs.last_exit = exit_status;
    nc_state_mark(&w->gs, to, exit_status == 0);
    nc_state_mark(&w->gs, from, 0);
    nc_save_state(w);
    r->measurements[0] = (healer_measurement){"generation", (double)to};
    r->measurements[1] = (healer_measurement){"exit_status", (double)exit_status};
    r->n_measurements = 2;
    r->outcome = HEALER_OUTCOME_DONE;
    if (exit_status == 0)
        nc_fmt(r->message, sizeof r->message, "%s switched from generation %d to %d; "
                 "switch-to-configuration succeeded", w->profile, from, to);
    else
        nc_fmt(r->message, sizeof r->message, "%s switched from generation %d to %d; but "
                 "switch-to-configuration exited %d: %.200s", w->profile, from, to, exit_status,
                 rc == HEALER_OK || rc == HEALER_E_IO ? out : h->last_message(w->ctx));
    return HEALER_OK;
}

int nc_execute(void *state, const healer_issue *issue, const healer_action *action,
                      healer_result *result)
{
    nixconfig *w = state;
    (void)issue;
    if (strcmp(action->name, NC_ACT_FIX) == 0)
        return nc_exec_fix(w, action, result);
    if (strcmp(action->name, NC_ACT_ROLLBACK) == 0 || strcmp(action->name, NC_ACT_EMERGENCY) == 0)
        return nc_exec_rollback(w, action, result);
    result->outcome = HEALER_OUTCOME_FAILED;
    nc_fmt(result->message, sizeof result->message, "unknown action %s", action->name);
    return HEALER_E_INVAL;
}

int nc_verify(void *state, const healer_issue *issue, const healer_action *action,
                     healer_verdict *v)
{
    nixconfig *w = state;
    (void)issue;
    if (w->host->dry_run(w->ctx)) {
        nc_fmt(v->message, sizeof v->message, "dry run: nothing was changed, nothing to verify");
        return HEALER_OK;
    }
    if (strcmp(action->name, NC_ACT_FIX) == 0) {
        const char *file = nc_param(action, "file");
        nc_perr e;
        memset(&e, 0, sizeof e);
        int r = file ? nc_parse(w, file, &e) : -1;
        v->healed = r == 1;
        v->measurements[0] = (healer_measurement){"parses", r == 1 ? 1.0 : 0.0};
        v->n_measurements = 1;
        if (r == 1) {
            nc_fmt(v->message, sizeof v->message, "%s parses", file);
            return HEALER_OK;
        }
        /* Not healed; but say what happened: a file written again after the fix (something
         * rewrites it: the fix worked and was undone) is not a fix that failed. */
        size_t n = 0;
        struct stat st;
        char now_hash[17] = "", *src = file ? nc_slurp(file, &n, &st) : NULL;
        if (src)
            nc_hash(src, n, now_hash);
        free(src);
        const char *planned = nc_param(action, "hash");
        const char *what = !src ? "cannot be read again"
                         : planned && strcmp(now_hash, planned) == 0
                             ? "was written back after the fix with the very bytes it fixed "
                               "(something rewrites it)"
                         : strcmp(w->fixed_file, file) == 0 && strcmp(now_hash, w->fixed_hash) == 0
                             ? "holds what the fix wrote, and that does not parse"
                             : "was changed again after the fix (not what the fix wrote)";
        nc_fmt(v->message, sizeof v->message, "%s %s: %d:%d: %s", file ? file : "?", what,
               e.line, e.col, e.msg);
        return HEALER_OK;
    }
    const char *to_s = nc_param(action, "to");
    int to = to_s ? atoi(to_s) : -1;
    int cur = nc_gen_current(w->profile);
    v->healed = cur == to && w->gs.last_gen == to && w->gs.last_exit == 0;
    v->measurements[0] = (healer_measurement){"current_generation", (double)cur};
    v->n_measurements = 1;
    nc_fmt(v->message, sizeof v->message, "%s at generation %d (wanted %d)%s", w->profile, cur,
             to, v->healed ? ", activated" : ", not activated");
    return HEALER_OK;
}
