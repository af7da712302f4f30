/* nixconfig.c — the nixconfig plugin: validates the NixOS configuration and its imports with
 * nix-instantiate (probe_run), offers validated syntax fixes (backed up, confirmed), detects a
 * failed activation of the system profile and rolls back to a working generation. Owns the
 * descriptor, the config schema, init/destroy and detection (validation, activation); plan,
 * execute and verify are in nixconfig_act.c. */
#include <healer/healer.h>

#include "nixconfig_int.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const nc_issue_types[] = {NC_ISSUE_INVALID, NC_ISSUE_ACTIVATION, NULL};

static const healer_config_key nc_config[] = {
    {"config_file", HEALER_CFG_STRING, "/etc/nixos/configuration.nix", 0, 0,
     "the NixOS configuration to validate (its imports are followed)"},
    {"follow_imports", HEALER_CFG_BOOL, "true", 0, 0,
     "also validate every file listed in imports = [ ... ], recursively"},
    {"max_files", HEALER_CFG_INT, "64", 1, NC_MAX_FILES, "at most this many files are validated"},
    {"nix_instantiate", HEALER_CFG_STRING, "nix-instantiate", 0, 0,
     "nix-instantiate command (absolute, or found on PATH)"},
    {"nix_env", HEALER_CFG_STRING, "nix-env", 0, 0, "nix-env command (absolute, or on PATH)"},
    {"parse_timeout", HEALER_CFG_DOUBLE, "30", 0.1, 3600, "seconds allowed per nix-instantiate --parse"},
    {"eval", HEALER_CFG_BOOL, "true", 0, 0,
     "evaluate the whole system with <nixpkgs/nixos> when nixpkgs is on NIX_PATH"},
    {"eval_timeout", HEALER_CFG_DOUBLE, "300", 1, 86400, "seconds allowed for that evaluation"},
    {"auto_fix", HEALER_CFG_BOOL, "false", 0, 0,
     "apply validated syntax fixes without confirmation"},
    {"max_fix_steps", HEALER_CFG_INT, "4", 1, 10, "at most this many edits in one fix"},
    {"backup_dir", HEALER_CFG_STRING, "/var/lib/healerd/plugins/nixconfig/backups", 0, 0,
     "timestamped copies of a file taken before it is fixed"},
    {"backups_keep", HEALER_CFG_INT, "10", 1, 10000, "backups kept per file (oldest removed)"},
    {"profile", HEALER_CFG_STRING, "/nix/var/nix/profiles/system", 0, 0,
     "the system profile whose generations are rolled back"},
    {"allow_user_profile", HEALER_CFG_BOOL, "false", 0, 0,
     "accept a per-user profile (per-user/..., .nix-profile) as profile"},
    {"rollback", HEALER_CFG_BOOL, "true", 0, 0, "watch activation and offer rollbacks"},
    {"auto_rollback", HEALER_CFG_BOOL, "false", 0, 0,
     "roll back without confirmation (still counted against limits.max_rollbacks_per_day)"},
    {"status_file", HEALER_CFG_STRING, "/var/lib/healerd/plugins/nixconfig/activation-status", 0, 0,
     "\"GEN EXIT\" of the last activation, written by the activation wrapper"},
    {"check_current_system", HEALER_CFG_BOOL, "false", 0, 0,
     "also count the profile's generation as failed when current_system points elsewhere"},
    {"current_system", HEALER_CFG_STRING, "/run/current-system", 0, 0,
     "the link the activation updates"},
    {"state_file", HEALER_CFG_STRING, "/var/lib/healerd/plugins/nixconfig/generations", 0, 0,
     "the plugin's record of generations that activated well or failed"},
    {"switch_timeout", HEALER_CFG_DOUBLE, "600", 1, 86400,
     "seconds allowed for switch-to-configuration"},
    {NULL, 0, NULL, 0, 0, NULL}
};

/* snprintf that truncates quietly: messages and paths here are bounded by their buffers, and
 * a truncated message is better than none (it also keeps -Wformat-truncation quiet). */
void nc_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* ---- small helpers ----------------------------------------------------------------------- */

void nc_dirname(const char *path, char *buf, size_t len)
{
    const char *s = strrchr(path, '/');
    if (!s || s == path)
        nc_fmt(buf, len, "/");
    else
        nc_fmt(buf, len, "%.*s", (int)(s - path), path);
}

const char *nc_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* mkdir -p for the plugin's own directories (backups, state). */
static int nc_mkdirs(const char *dir)
{
    char p[PATH_MAX];
    nc_fmt(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Whole file, NUL-terminated; NULL with errno. */
char *nc_slurp(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)NC_MAX_FILE_BYTES) {
        close(fd);
        errno = EFBIG;
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, used = 0;
    char *b = malloc(cap + 1);
    if (!b) {
        close(fd);
        return NULL;
    }
    for (;;) {
        if (used == cap) {
            if (cap >= NC_MAX_FILE_BYTES) {
                free(b);
                close(fd);
                errno = EFBIG;
                return NULL;
            }
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                close(fd);
                return NULL;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + used, cap - used);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            free(b);
            close(fd);
            return NULL;
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    close(fd);
    b[used] = '\0';
    *n = used;
    return b;
}

int nc_write_scratch(nixconfig *w, const char *name, const char *s, size_t n,
                            char *path, size_t len)
{
    nc_fmt(path, len, "%s/%s", w->scratch, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, s + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)r;
    }
    close(fd);
    return 0;
}

static void nc_file_sig(nc_file *f)
{
    struct stat st;
    if (stat(f->path, &st) != 0) {
        f->exists = 0;
        return;
    }
    f->exists = 1;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->size = st.st_size;
    f->mtime = st.st_mtim;
    f->ctime = st.st_ctim;
}

static int nc_file_changed(const nc_file *f)
{
    nc_file now = *f;
    nc_file_sig(&now);
    if (now.exists != f->exists)
        return 1;
    if (!now.exists)
        return 0;
    return now.dev != f->dev || now.ino != f->ino || now.size != f->size ||
           now.mtime.tv_sec != f->mtime.tv_sec || now.mtime.tv_nsec != f->mtime.tv_nsec ||
           now.ctime.tv_sec != f->ctime.tv_sec || now.ctime.tv_nsec != f->ctime.tv_nsec;
}

/* ---- the parser through probe_run -------------------------------------------------------- */

/* 1 parses, 0 does not (e filled), -1 the parser could not be run (e->msg says why). */
int nc_parse(nixconfig *w, const char *path, nc_perr *e)
{
    const char *argv[] = {w->nix_instantiate, "--parse", path, NULL};
    int status = -1;
    w->probes++;
    int rc = w->host->probe_run(w->ctx, argv, w->parse_timeout, w->out, NC_OUT_LEN, &status);
    if (rc == HEALER_OK)
        return 1;
    memset(e, 0, sizeof *e);
    if (rc == HEALER_E_IO && nc_parse_error(w->out, e))
        return 0;
    nc_fmt(e->msg, sizeof e->msg, "%s --parse %s: %s (exit %d)", w->nix_instantiate, path,
             healer_rc_str(rc), status);
    return -1;
}

/* 1 when nixpkgs/nixos is found on NIX_PATH (so the system can be evaluated). */
static int nc_have_nixpkgs(nixconfig *w)
{
    const char *argv[] = {w->nix_instantiate, "--find-file", "nixpkgs/nixos", NULL};
    int status = -1;
    w->probes++;
    return w->host->probe_run(w->ctx, argv, w->parse_timeout, w->out, NC_OUT_LEN, &status) ==
           HEALER_OK;
}

/* Evaluates the system's top-level derivation path without writing to the store. */
static int nc_eval(nixconfig *w, nc_perr *e)
{
    char icfg[PATH_MAX + 16];
    nc_fmt(icfg, sizeof icfg, "nixos-config=%s", w->config_file);
    const char *argv[] = {w->nix_instantiate, "--eval", "--readonly-mode", "-I", icfg,
                          "<nixpkgs/nixos>", "-A", "config.system.build.toplevel.drvPath", NULL};
    int status = -1;
    w->probes++;
    int rc = w->host->probe_run(w->ctx, argv, w->eval_timeout, w->out, NC_OUT_LEN, &status);
    if (rc == HEALER_OK)
        return 1;
    memset(e, 0, sizeof *e);
    if (rc == HEALER_E_IO && nc_parse_error(w->out, e))
        return 0;
    nc_fmt(e->msg, sizeof e->msg, "evaluation: %s (exit %d)", healer_rc_str(rc), status);
    return -1;
}

/* ---- finding a fix ----------------------------------------------------------------------- */

/* Depth-first over the candidate edits: each is applied to a private copy and the copy is
 * parsed for real. Stops at the first chain of edits after which the copy parses. */
static int nc_search(nixconfig *w, const char *name, const char *src, size_t n,
                     const nc_perr *e, int depth, int *budget, nc_edit *chain)
{
    nc_edit c[NC_MAX_CANDIDATES];
    int k = nc_fix_candidates(src, n, e, c);
    for (int i = 0; i < k && *budget > 0; i++) {
        size_t n2;
        char *s2 = nc_apply(src, n, &c[i], &n2);
        if (!s2)
            return 0;
        char copy[PATH_MAX];
        if (nc_write_scratch(w, name, s2, n2, copy, sizeof copy) != 0) {
            free(s2);
            return 0;
        }
        (*budget)--;
        nc_perr e2;
        int r = nc_parse(w, copy, &e2);
        if (r == 1) {
            chain[depth] = c[i];
            free(s2);
            return depth + 1;
        }
        int same = r == 0 && e2.line == e->line && e2.col == e->col &&
                   strcmp(e2.msg, e->msg) == 0;
        if (r == 0 && !same && depth + 1 < w->max_fix_steps) {
            int got = nc_search(w, name, s2, n2, &e2, depth + 1, budget, chain);
            if (got > 0) {
                chain[depth] = c[i];
                free(s2);
                return got;
            }
        }
        free(s2);
    }
    return 0;
}

static void nc_show(const char *s, size_t n, char *buf, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 4 < len; i++) {
        if (s[i] == '\n') {
            buf[j++] = '\\';
            buf[j++] = 'n';
        } else if (s[i] == '\t') {
            buf[j++] = ' ';
        } else {
            buf[j++] = s[i];
        }
    }
    buf[j] = '\0';
}

/* The changed lines as a small unified diff: "@@ -L,n +L,m @@ -old +new". */
static void nc_diff(const char *a, size_t an, const char *b, size_t bn, char *buf, size_t len)
{
    size_t p = 0;
    while (p < an && p < bn && a[p] == b[p])
        p++;
    size_t sa = an, sb = bn;
    while (sa > p && sb > p && a[sa - 1] == b[sb - 1])
        sa--, sb--;
    size_t ls = p;
    while (ls > 0 && a[ls - 1] != '\n')
        ls--;
    size_t ea = sa, eb = sb;
    while (ea < an && a[ea] != '\n')
        ea++;
    while (eb < bn && b[eb] != '\n')
        eb++;
    int line, col;
    nc_linecol(a, an, ls, &line, &col);
    char olds[160], news[160];
    nc_show(a + ls, ea - ls, olds, sizeof olds);
    nc_show(b + ls, eb - ls, news, sizeof news);
    nc_fmt(buf, len, "@@ -%d +%d @@ -%s +%s", line, line, olds, news);
}

/* Tries to find a fix for one broken file; fills b->fixable, edits, desc. */
static void nc_find_fix(nixconfig *w, nc_bad *b, const char *src, size_t n)
{
    nc_edit chain[10];
    int budget = NC_FIX_BUDGET;
    int steps = nc_search(w, nc_basename(b->file), src, n, &b->err, 0, &budget, chain);
    if (steps <= 0)
        return;
    /* Describe each edit where it lands, and the diff of the whole change. */
    char what[256] = "";
    size_t wl = 0;
    char *cur = malloc(n + 1);
    if (!cur)
        return;
    memcpy(cur, src, n + 1);
    size_t cn = n;
    for (int i = 0; i < steps; i++) {
        int line, col;
        nc_linecol(cur, cn, chain[i].off, &line, &col);
        char shown[40];
        if (chain[i].del)
            nc_show(cur + chain[i].off, chain[i].del, shown, sizeof shown);
        else
            nc_show(chain[i].ins, strlen(chain[i].ins), shown, sizeof shown);
        int wr = snprintf(what + wl, sizeof what - wl, "%s%s '%s' at %d:%d (%s)", i ? "; " : "",
                          chain[i].del ? "delete" : "insert", shown, line, col, chain[i].kind);
        if (wr > 0 && (size_t)wr < sizeof what - wl)
            wl += (size_t)wr;
        size_t nn;
        char *next = nc_apply(cur, cn, &chain[i], &nn);
        free(cur);
        if (!next)
            return;
        cur = next;
        cn = nn;
    }
    char diff[300];
    nc_diff(src, n, cur, cn, diff, sizeof diff);
    free(cur);
    if (nc_edits_format(chain, (size_t)steps, b->edits, sizeof b->edits) != 0)
        return;
    b->n_edits = (size_t)steps;
    nc_hash(src, n, b->hash);
    b->fixable = 1;
    nc_fmt(b->desc, sizeof b->desc, "fix %s: %s; validated copy: %s", b->file, what, diff);
}

/* ---- validation -------------------------------------------------------------------------- */

typedef struct nc_addctx {
    nixconfig *w;
} nc_addctx;

static void nc_add_file(void *ud, const char *path)
{
    nixconfig *w = ((nc_addctx *)ud)->w;
    char p[PATH_MAX];
    struct stat st;
    nc_fmt(p, sizeof p, "%s", path);
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
        char q[PATH_MAX + 16];
        nc_fmt(q, sizeof q, "%s/default.nix", p);   /* a directory imports its default.nix */
        nc_fmt(p, sizeof p, "%s", q);
    }
    char real[PATH_MAX];
    const char *key = realpath(p, real) ? real : p;
    for (size_t i = 0; i < w->n_files; i++)
        if (strcmp(w->files[i].path, key) == 0)
            return;
    if (w->n_files >= (size_t)w->max_files) {
        w->host->log(w->ctx, HEALER_LOG_DEBUG, "max_files (%lld) reached: %s not validated",
                     w->max_files, key);
        return;
    }
    nc_file *f = &w->files[w->n_files++];
    memset(f, 0, sizeof *f);
    nc_fmt(f->path, sizeof f->path, "%s", key);
}

static nc_bad *nc_new_bad(nixconfig *w, const char *file, const char *kind)
{
    if (w->n_bad >= NC_MAX_BAD)
        return NULL;
    nc_bad *b = &w->bad[w->n_bad++];
    memset(b, 0, sizeof *b);
    nc_fmt(b->file, sizeof b->file, "%s", file);
    b->kind = kind;
    return b;
}

/* Parses the configuration and everything it imports; fills files[] and bad[]. */
static void nc_validate(nixconfig *w)
{
    w->n_files = 0;
    w->n_bad = 0;
    w->validations++;
    nc_addctx ac = {w};
    nc_add_file(&ac, w->config_file);
    int all_parse = 1;
    for (size_t i = 0; i < w->n_files; i++) {
        nc_file *f = &w->files[i];
        nc_file_sig(f);
        if (!f->exists) {
            /* On a host that is not NixOS (no /etc/NIXOS) a missing configuration is expected,
             * not an issue: there is simply nothing to validate. On NixOS it is a real problem. */
            if (i == 0 && access("/etc/NIXOS", F_OK) != 0) {
                if (!w->absent_noted)
                    w->host->log(w->ctx, HEALER_LOG_INFO, "%s does not exist and this is not a "
                                 "NixOS host (no /etc/NIXOS): nothing to validate", f->path);
                w->absent_noted = 1;
                all_parse = 0;
                continue;
            }
            nc_bad *b = nc_new_bad(w, f->path, "missing");
            if (b)
                nc_fmt(b->err.msg, sizeof b->err.msg, "%s",
                         i == 0 ? "configuration file missing" : "imported file missing");
            all_parse = 0;
            continue;
        }
        size_t n = 0;
        char *src = nc_slurp(f->path, &n);
        if (!src) {
            w->host->log(w->ctx, HEALER_LOG_DEBUG, "read %s: %s", f->path, strerror(errno));
            all_parse = 0;
            continue;
        }
        char dir[PATH_MAX];
        nc_dirname(f->path, dir, sizeof dir);
        nc_perr e;
        int r = nc_parse(w, f->path, &e);
        if (r == 1) {
            if (w->follow_imports) {
                size_t ol = strnlen(w->out, NC_OUT_LEN);
                /* A truncated parse output may cut an imports list: read the source then. */
                nc_scan_imports(ol + 1 < NC_OUT_LEN ? w->out : src, ol + 1 < NC_OUT_LEN, dir,
                                nc_add_file, &ac);
            }
        } else if (r == 0) {
            all_parse = 0;
            if (w->follow_imports)
                nc_scan_imports(src, 0, dir, nc_add_file, &ac);
            nc_bad *b = nc_new_bad(w, f->path, "syntax");
            if (b) {
                b->err = e;
                nc_find_fix(w, b, src, n);
            }
        } else {
            all_parse = 0;
            w->host->log(w->ctx, HEALER_LOG_WARN, "cannot validate %s: %s", f->path, e.msg);
        }
        free(src);
    }
    if (all_parse && w->eval && nc_have_nixpkgs(w)) {
        nc_perr e;
        if (nc_eval(w, &e) == 0) {
            nc_bad *b = nc_new_bad(w, w->config_file, "eval");
            if (b)
                b->err = e;
        }
    }
    w->validated = 1;
}

static int nc_any_changed(nixconfig *w)
{
    if (!w->validated)
        return 1;
    for (size_t i = 0; i < w->n_files; i++)
        if (nc_file_changed(&w->files[i]))
            return 1;
    return 0;
}

static void nc_publish_bad(nixconfig *w, const nc_bad *b)
{
    const healer_host *h = w->host;
    char summary[HEALER_MSG_MAX], loc[PATH_MAX + 32];
    if (b->err.line > 0)
        nc_fmt(loc, sizeof loc, "%s:%d:%d", b->file, b->err.line, b->err.col);
    else
        nc_fmt(loc, sizeof loc, "%s", b->file);
    nc_fmt(summary, sizeof summary, "%s: %s%s", loc, b->err.msg,
             b->fixable ? " (a validated fix is available)" : "");
    healer_measurement ms[] = {
        {"error_line", (double)b->err.line},
        {"error_column", (double)b->err.col},
        {"files_checked", (double)w->n_files},
        {"fix_available", b->fixable ? 1.0 : 0.0},
    };
    char c_file[PATH_MAX + 8], c_kind[64];
    nc_fmt(c_file, sizeof c_file, "file:%s", b->file);
    nc_fmt(c_kind, sizeof c_kind, "error:%s", b->kind);
    const char *comps[] = {c_file, loc, c_kind};
    healer_issue is = {
        .type = NC_ISSUE_INVALID,
        .severity = HEALER_SEV_HIGH,
        .target = b->file,
        .summary = summary,
        .measurements = ms,
        .n_measurements = sizeof ms / sizeof ms[0],
        .components = comps,
        .n_components = 3,
    };
    int rc = h->publish_issue(w->ctx, &is);
    if (rc < 0)
        h->log(w->ctx, HEALER_LOG_WARN, "publish %s for %s: %s", NC_ISSUE_INVALID, b->file,
               healer_rc_str(rc));
}

static void nc_detect_config(nixconfig *w)
{
    const healer_host *h = w->host;
    if (nc_any_changed(w)) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        nc_validate(w);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        h->metric(w->ctx, HEALER_METRIC_GAUGE, "nixconfig_validation_seconds",
                  "Duration of the last full validation (every file parsed, fixes searched)",
                  NULL, 0, secs);
        for (size_t i = 0; i < w->n_bad; i++)
            h->log(w->ctx, HEALER_LOG_INFO, "%s:%d:%d: %s%s", w->bad[i].file, w->bad[i].err.line,
                   w->bad[i].err.col, w->bad[i].err.msg,
                   w->bad[i].fixable ? " (fix found)" : "");
        h->metric(w->ctx, HEALER_METRIC_COUNTER, "nixconfig_validations_total",
                  "Full validations of the NixOS configuration (files changed)", NULL, 0, 1);
    }
    for (size_t i = 0; i < w->n_bad; i++)
        nc_publish_bad(w, &w->bad[i]);
    /* Resolve what was published before and is fine now. */
    size_t keep = 0;
    for (size_t i = 0; i < w->n_published; i++) {
        int still = 0;
        for (size_t j = 0; j < w->n_bad; j++)
            if (strcmp(w->published[i], w->bad[j].file) == 0)
                still = 1;
        if (still)
            continue;
        if (h->resolve_issue(w->ctx, NC_ISSUE_INVALID, w->published[i]) < 0) {
            if (keep != i)
                memcpy(w->published[keep], w->published[i], sizeof w->published[i]);
            keep++;
        }
    }
    w->n_published = keep;
    for (size_t j = 0; j < w->n_bad; j++) {
        int have = 0;
        for (size_t i = 0; i < w->n_published; i++)
            if (strcmp(w->published[i], w->bad[j].file) == 0)
                have = 1;
        if (!have && w->n_published < NC_MAX_BAD)
            nc_fmt(w->published[w->n_published++], PATH_MAX, "%s", w->bad[j].file);
    }
    h->report_health(w->ctx, "nixos-config", w->n_bad ? 60.0 : 100.0);
    h->metric(w->ctx, HEALER_METRIC_GAUGE, "nixconfig_files_checked",
              "Files of the NixOS configuration validated (the file and its imports)", NULL, 0,
              (double)w->n_files);
}

/* ---- activation -------------------------------------------------------------------------- */

/* ---- activation -------------------------------------------------------------------------- */

/* 1 when the current generation's activation failed; the reason in w->act_why. Learns good
 * and bad generations on the way (in memory; written to state_file by execute()). */
static int nc_activation_failed(nixconfig *w, int cur)
{
    int sg, se;
    w->act_exit = 0;
    w->act_why[0] = '\0';
    if (nc_status_read(w->status_file, &sg, &se)) {
        if (sg == -1)
            sg = cur;
        if (sg > 0 && sg <= NC_MAX_GENS) {
            if (se != 0 && !w->gs.bad[sg] && sg != w->gs.last_gen)
                nc_state_mark(&w->gs, sg, 0);
            else if (se == 0 && !w->gs.good[sg] && sg != w->gs.last_gen)
                nc_state_mark(&w->gs, sg, 1);
        }
        if (sg == cur && se != 0 && w->gs.last_gen != cur) {
            w->act_exit = se;
            nc_fmt(w->act_why, sizeof w->act_why, "%s: generation %d's activation exited %d",
                     w->status_file, cur, se);
            return 1;
        }
    }
    if (w->gs.last_gen == cur && w->gs.last_exit != 0) {
        w->act_exit = w->gs.last_exit;
        nc_fmt(w->act_why, sizeof w->act_why,
                 "healerd's own switch-to-configuration of generation %d exited %d", cur,
                 w->gs.last_exit);
        return 1;
    }
    if (w->check_current_system) {
        char link[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
        nc_gen_link(w->profile, cur, link, sizeof link);
        if (realpath(link, a) && realpath(w->current_system, b)) {
            if (strcmp(a, b) != 0) {
                w->act_exit = -1;
                nc_fmt(w->act_why, sizeof w->act_why,
                         "%s is %.100s, not generation %d (%.100s): activation did not complete",
                         w->current_system, b, cur, a);
                return 1;
            }
            if (!w->gs.good[cur])
                nc_state_mark(&w->gs, cur, 1);
        }
    }
    return 0;
}

/* The failure repeats: our own rollback failed, or the generation before is known bad. */
int nc_emergency(nixconfig *w, int cur)
{
    if (w->gs.last_gen == cur && w->gs.last_exit != 0)
        return 1;
    int gens[NC_MAX_GENS], c;
    int n = nc_gen_list(w->profile, gens, NC_MAX_GENS, &c);
    for (int i = n - 1; i >= 0; i--)
        if (gens[i] < cur)
            return w->gs.bad[gens[i]] ? 1 : 0;
    return 0;
}

/* Where to roll back to: normally the newest older generation not known bad; in emergency
 * mode the newest generation known to have activated well. -1 when there is none. */
int nc_pick(nixconfig *w, int cur, int emergency)
{
    int gens[NC_MAX_GENS], c;
    int n = nc_gen_list(w->profile, gens, NC_MAX_GENS, &c);
    for (int i = n - 1; i >= 0; i--) {
        int g = gens[i];
        if (g == cur)
            continue;
        if (emergency ? w->gs.good[g] : (g < cur && !w->gs.bad[g]))
            return g;
    }
    return -1;
}

static int nc_known_good(const nixconfig *w)
{
    int k = 0;
    for (int g = 1; g <= NC_MAX_GENS; g++)
        k += w->gs.good[g];
    return k;
}

static void nc_detect_activation(nixconfig *w)
{
    const healer_host *h = w->host;
    int cur = nc_gen_current(w->profile);
    int failed = cur > 0 && nc_activation_failed(w, cur);
    if (!failed) {
        h->report_health(w->ctx, "nixos-activation", 100.0);
        if (w->act_published && h->resolve_issue(w->ctx, NC_ISSUE_ACTIVATION, w->profile) >= 0)
            w->act_published = 0;
        return;
    }
    int emergency = nc_emergency(w, cur);
    int to = nc_pick(w, cur, emergency);
    char summary[HEALER_MSG_MAX], to_s[64];
    if (to > 0)
        nc_fmt(to_s, sizeof to_s, "roll back to generation %d", to);
    else
        nc_fmt(to_s, sizeof to_s, "no %sgeneration to roll back to",
                 emergency ? "known-good " : "");
    nc_fmt(summary, sizeof summary, "%s generation %d failed to activate (%s)%s; %s",
             w->profile, cur, w->act_why, emergency ? ", repeated: emergency recovery" : "",
             to_s);
    healer_measurement ms[] = {
        {"current_generation", (double)cur},
        {"exit_status", (double)w->act_exit},
        {"rollback_generation", (double)to},
        {"known_good_generations", (double)nc_known_good(w)},
    };
    char c_prof[PATH_MAX + 16], c_gen[32];
    nc_fmt(c_prof, sizeof c_prof, "profile:%s", w->profile);
    nc_fmt(c_gen, sizeof c_gen, "generation:%d", cur);
    const char *comps[] = {c_prof, c_gen};
    healer_issue is = {
        .type = NC_ISSUE_ACTIVATION,
        .severity = emergency ? HEALER_SEV_CRITICAL : HEALER_SEV_HIGH,
        .target = w->profile,
        .summary = summary,
        .measurements = ms,
        .n_measurements = sizeof ms / sizeof ms[0],
        .components = comps,
        .n_components = 2,
    };
    if (!w->act_published || w->act_failed_gen != cur)
        h->log(w->ctx, HEALER_LOG_WARN, "%s", summary);
    w->act_failed_gen = cur;
    if (h->publish_issue(w->ctx, &is) >= 0)
        w->act_published = 1;
    h->report_health(w->ctx, "nixos-activation", emergency ? 20.0 : 50.0);
}

static int nc_detect(void *state)
{
    nixconfig *w = state;
    nc_detect_config(w);
    if (w->rollback)
        nc_detect_activation(w);
    return HEALER_OK;
}

/* ---- init and destroy -------------------------------------------------------------------- */

static int nc_abs_key(const healer_host *host, healer_ctx *ctx, const char *key, char *dst,
                      int required)
{
    const char *v = host->config_string(ctx, key);
    if (!v || !*v) {
        dst[0] = '\0';
        if (!required)
            return 0;
        host->log(ctx, HEALER_LOG_ERROR, "plugins.nixconfig.%s is empty: set an absolute path",
                  key);
        return -1;
    }
    if (v[0] != '/' || strlen(v) >= PATH_MAX - 64) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.nixconfig.%s = \"%s\": must be an absolute "
                  "path", key, v);
        return -1;
    }
    nc_fmt(dst, PATH_MAX, "%s", v);
    for (size_t n = strlen(dst); n > 1 && dst[n - 1] == '/'; n--)
        dst[n - 1] = '\0';
    return 0;
}

static void nc_rm_scratch(nixconfig *w)
{
    if (!w->scratch[0])
        return;
    DIR *d = opendir(w->scratch);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
    }
    rmdir(w->scratch);
}

static void nc_destroy(void *state)
{
    nixconfig *w = state;
    if (!w)
        return;
    nc_rm_scratch(w);
    free(w->out);
    free(w);
}

static int nc_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    if (offsetof(healer_host, probe_run) >= host->struct_size) {
        host->log(ctx, HEALER_LOG_ERROR, "this agent has no probe_run: nixconfig needs a newer "
                  "healerd");
        return HEALER_E_INVAL;
    }
    nixconfig *w = calloc(1, sizeof *w);
    if (!w)
        return HEALER_E_NOMEM;
    w->host = host;
    w->ctx = ctx;
    int rc = HEALER_E_INVAL;
    if (nc_abs_key(host, ctx, "config_file", w->config_file, 1) < 0 ||
        nc_abs_key(host, ctx, "backup_dir", w->backup_dir, 1) < 0 ||
        nc_abs_key(host, ctx, "state_file", w->state_file, 1) < 0 ||
        nc_abs_key(host, ctx, "profile", w->profile, 1) < 0 ||
        nc_abs_key(host, ctx, "status_file", w->status_file, 0) < 0 ||
        nc_abs_key(host, ctx, "current_system", w->current_system, 0) < 0)
        goto fail;
    nc_dirname(w->config_file, w->config_dir, sizeof w->config_dir);
    w->nix_instantiate = host->config_string(ctx, "nix_instantiate");
    w->nix_env = host->config_string(ctx, "nix_env");
    w->follow_imports = host->config_bool(ctx, "follow_imports");
    w->eval = host->config_bool(ctx, "eval");
    w->auto_fix = host->config_bool(ctx, "auto_fix");
    w->auto_rollback = host->config_bool(ctx, "auto_rollback");
    w->rollback = host->config_bool(ctx, "rollback");
    w->check_current_system = host->config_bool(ctx, "check_current_system");
    w->max_files = host->config_int(ctx, "max_files");
    w->backups_keep = host->config_int(ctx, "backups_keep");
    w->max_fix_steps = host->config_int(ctx, "max_fix_steps");
    w->parse_timeout = host->config_double(ctx, "parse_timeout");
    w->eval_timeout = host->config_double(ctx, "eval_timeout");
    w->switch_timeout = host->config_double(ctx, "switch_timeout");
    if (!w->nix_instantiate || !*w->nix_instantiate || !w->nix_env || !*w->nix_env) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.nixconfig.nix_instantiate and nix_env must "
                  "name commands");
        goto fail;
    }
    if (w->rollback && !host->config_bool(ctx, "allow_user_profile") &&
        nc_user_profile(w->profile)) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.nixconfig.profile = \"%s\" is a per-user "
                  "profile, not the system profile: refusing to roll it back (set "
                  "allow_user_profile = true if that is really meant)", w->profile);
        goto fail;
    }
    char state_dir[PATH_MAX];
    nc_dirname(w->state_file, state_dir, sizeof state_dir);
    /* The plugin's own directories are made on a live start; a dry run creates nothing. In a
     * confined child (the default) only state_dir/plugins/nixconfig is writable: the defaults
     * lie there; a directory elsewhere must exist already. */
    const char *mk[][2] = {{"backup_dir", w->backup_dir}, {"state_file", state_dir}};
    for (size_t i = 0; i < 2 && !host->dry_run(ctx); i++) {
        if (nc_mkdirs(mk[i][1]) != 0) {
            int e = errno;
            host->log(ctx, HEALER_LOG_ERROR, "plugins.nixconfig.%s: cannot create %s: %s%s",
                      mk[i][0], mk[i][1], strerror(e),
                      e == EACCES || e == EPERM || e == EROFS
                          ? " (a confined plugin child writes only under "
                            "state_dir/plugins/nixconfig: create the directory, or keep the "
                            "default)"
                          : "");
            goto fail;
        }
    }
    const char *tmp = getenv("TMPDIR");
    nc_fmt(w->scratch, sizeof w->scratch, "%s/healerd-nixconfig.XXXXXX",
             tmp && *tmp == '/' ? tmp : "/tmp");
    if (!mkdtemp(w->scratch)) {
        host->log(ctx, HEALER_LOG_ERROR, "mkdtemp %s: %s", w->scratch, strerror(errno));
        w->scratch[0] = '\0';
        goto fail;
    }
    w->out = malloc(NC_OUT_LEN);
    if (!w->out) {
        rc = HEALER_E_NOMEM;
        goto fail;
    }
    if (nc_state_load(&w->gs, w->state_file) != 0)
        host->log(ctx, HEALER_LOG_WARN, "state %s: %s (starting empty)", w->state_file,
                  strerror(errno));
    const char *decl[] = {w->config_dir, w->backup_dir, state_dir};
    for (size_t i = 0; i < 3; i++) {
        rc = host->declare_path(ctx, decl[i]);
        if (rc < 0) {
            host->log(ctx, HEALER_LOG_ERROR, "declare %s: %s", decl[i], host->last_message(ctx));
            goto fail;
        }
    }
    host->log(ctx, HEALER_LOG_INFO, "validating %s%s; fixes %s; profile %s%s", w->config_file,
              w->follow_imports ? " and its imports" : "",
              w->auto_fix ? "automatic" : "after confirmation", w->profile,
              w->rollback ? (w->auto_rollback ? ", automatic rollback" : ", rollback after "
                             "confirmation") : ", rollback off");
    *state = w;
    return HEALER_OK;
fail:
    nc_destroy(w);
    return rc;
}

static const healer_plugin nc_descriptor = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "nixconfig",
    .version = "1.0.0",
    .description = "validates the NixOS configuration, fixes common syntax errors, rolls back "
                   "a failed activation",
    .issue_types = nc_issue_types,
    .config = nc_config,
    .interval = 0,
    .init = nc_init,
    .destroy = nc_destroy,
    .detect = nc_detect,
    .plan = nc_plan,
    .execute = nc_execute,
    .verify = nc_verify,
};

HEALER_PLUGIN(nc_descriptor)
