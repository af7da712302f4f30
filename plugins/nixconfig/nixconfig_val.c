/* nixconfig_val.c — the nixconfig plugin's validation: every file of the configuration
 * parsed with the real nix-instantiate (probe_run), the imports followed, the whole system
 * evaluated when nixpkgs is there, a fix searched for each broken file (each candidate proven
 * by the lexer, then parsed on a copy), and the issues published and resolved. */
#include <healer/healer.h>

#include "nixconfig_int.h"
#include "nixconfig_lex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

typedef struct nc_searchctx {
    nixconfig *w;
    const char *name;        /* the scratch copy's name */
    const char *orig;        /* the file as read: every chain is proven against it */
    size_t on;
    int budget;              /* parser runs left */
    nc_edit chain[10];
    char why[200];           /* the first reason a candidate was refused, for the issue */
} nc_searchctx;

/* Depth-first over the candidate edits. A chain is first proven against the original by the
 * lexer (nc_fix_proven: only inserted tokens in code, every string, indented string and
 * comment byte-identical); only then is the copy parsed for real. Stops at the first chain
 * after which the copy parses. */
static int nc_search(nc_searchctx *sc, const char *src, size_t n, const nc_perr *e, int depth)
{
    nc_edit c[NC_MAX_CANDIDATES];
    int k = nc_fix_candidates(src, n, e, c);
    for (int i = 0; i < k && sc->budget > 0; i++) {
        sc->chain[depth] = c[i];
        size_t n2;
        char *s2 = NULL, why[200];
        int pr = nc_fix_proven(sc->orig, sc->on, sc->chain, (size_t)depth + 1, &s2, &n2, why,
                               sizeof why);
        if (pr < 0)
            return 0;
        if (pr == 0) {
            if (!sc->why[0])
                nc_fmt(sc->why, sizeof sc->why, "%s", why);
            sc->w->host->log(sc->w->ctx, HEALER_LOG_DEBUG, "candidate %s refused: %s",
                             c[i].kind, why);
            continue;
        }
        char copy[PATH_MAX];
        if (nc_write_scratch(sc->w, sc->name, s2, n2, copy, sizeof copy) != 0) {
            free(s2);
            return 0;
        }
        sc->budget--;
        nc_perr e2;
        int r = nc_parse(sc->w, copy, &e2);
        if (r == 1) {
            free(s2);
            return depth + 1;
        }
        int same = r == 0 && e2.line == e->line && e2.col == e->col &&
                   strcmp(e2.msg, e->msg) == 0;
        if (r == 0 && !same && depth + 1 < sc->w->max_fix_steps) {
            int got = nc_search(sc, s2, n2, &e2, depth + 1);
            if (got > 0) {
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
    nc_searchctx *sc = calloc(1, sizeof *sc);
    if (!sc)
        return;
    *sc = (nc_searchctx){.w = w, .name = nc_basename(b->file), .orig = src, .on = n,
                         .budget = NC_FIX_BUDGET};
    /* A file holding a NUL or an unterminated string is reported as it is: no candidate. */
    char *dummy = NULL;
    size_t dn;
    if (nc_fix_proven(src, n, NULL, 0, &dummy, &dn, sc->why, sizeof sc->why) != 1) {
        nc_fmt(b->nofix, sizeof b->nofix, "%s", sc->why);
        free(sc);
        return;
    }
    free(dummy);
    int steps = nc_search(sc, src, n, &b->err, 0);
    nc_edit chain[10];
    memcpy(chain, sc->chain, sizeof chain);
    if (steps <= 0)
        nc_fmt(b->nofix, sizeof b->nofix, "%s", sc->why);
    free(sc);
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

/* The .nix files a flake.nix names by relative path (./hosts/a.nix, ../common): found by the
 * lexer, so a path in a comment or a string is never taken; a path with an interpolation is
 * skipped. Only what can be Nix source is followed: a name ending in .nix, or a directory with
 * a default.nix (a flake's ./. or ./secrets must not become a "missing import"). */
static void nc_scan_flake_paths(nixconfig *w, const char *src, size_t n, const char *dir,
                                nc_addctx *ac)
{
    unsigned char *cls = malloc(n ? n : 1);
    if (!cls)
        return;
    nc_lex L;
    nc_lex_run(src, n, n, &L, cls);
    for (size_t i = 0; i < n; i++) {
        if ((cls[i] & NC_CL_MASK) != NC_CL_PATH || (cls[i] & NC_CL_CONT))
            continue;
        size_t e = i + 1;
        while (e < n && cls[e] == (NC_CL_PATH | NC_CL_CONT))
            e++;
        size_t l = e - i;
        int rel = (l > 2 && strncmp(src + i, "./", 2) == 0) ||
                  (l > 3 && strncmp(src + i, "../", 3) == 0);
        if (!rel || memmem(src + i, l, "${", 2)) {
            i = e - 1;
            continue;
        }
        char path[PATH_MAX], dflt[PATH_MAX + 16];
        int wr = snprintf(path, sizeof path, "%s/%.*s", dir, (int)l, src + i);
        i = e - 1;
        if (wr <= 0 || (size_t)wr >= sizeof path)
            continue;
        struct stat st;
        nc_fmt(dflt, sizeof dflt, "%s/default.nix", path);
        int is_nix = l > 4 && strncmp(path + wr - 4, ".nix", 4) == 0;
        if (is_nix || (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && access(dflt, F_OK) == 0))
            nc_add_file(ac, path);
        else
            w->host->log(w->ctx, HEALER_LOG_DEBUG, "%s/flake.nix names %s: not Nix source, "
                         "not followed", dir, path);
    }
    free(cls);
}

/* Parses the configuration and everything it imports; fills files[] and bad[]. A flake host
 * (config_dir/flake.nix) has flake.nix and the files it names validated too; without a
 * configuration file beside it that is the whole configuration, never a missing file. */
static void nc_validate(nixconfig *w)
{
    w->n_files = 0;
    w->n_bad = 0;
    w->validations++;
    nc_addctx ac = {w};
    char flake[PATH_MAX + 16];
    struct stat fst, cst;
    nc_fmt(flake, sizeof flake, "%s/flake.nix", strcmp(w->config_dir, "/") ? w->config_dir : "");
    int have_flake = lstat(flake, &fst) == 0;
    nc_fmt(w->flake.path, sizeof w->flake.path, "%s", flake);
    nc_file_sig(&w->flake);
    nc_fmt(w->root.path, sizeof w->root.path, "%s", w->config_file);
    nc_file_sig(&w->root);
    int have_cfg = lstat(w->config_file, &cst) == 0;
    if (have_cfg || !have_flake)
        nc_add_file(&ac, w->config_file);
    if (have_flake)
        nc_add_file(&ac, flake);
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
        struct stat st;
        memset(&st, 0, sizeof st);
        char *src = nc_slurp(f->path, &n, &st);
        /* The parser reads the file by its name, after us: a file replaced in between (written
         * back by a generator) gave the error of other bytes than the ones the fix was searched
         * on, and a fixable file was reported "not fixable". The bytes are read again after
         * the parse; when they changed, the file is validated again (a few times). */
        nc_perr pe;
        int r = -1, steady = 1;
        for (int round = 0; src; round++) {
            r = nc_parse(w, f->path, &pe);
            size_t n2 = 0;
            struct stat st2;
            char *again = nc_slurp(f->path, &n2, &st2);
            steady = again && n2 == n && memcmp(again, src, n) == 0;
            free(again);
            if (steady || round == 2)
                break;
            w->host->log(w->ctx, HEALER_LOG_DEBUG, "%s changed while it was parsed: again",
                         f->path);
            free(src);
            nc_file_sig(f);
            src = nc_slurp(f->path, &n, &st);
        }
        if (!src) {
            int e = errno;
            all_parse = 0;
            if (e == EINVAL || e == ELOOP || e == EFBIG) {
                /* Never handed to the parser either: nix-instantiate would block on a FIFO
                 * until parse_timeout, every cycle. */
                nc_bad *b = nc_new_bad(w, f->path, e == EFBIG ? "too_large" : "not_regular");
                if (b) {
                    if (e == EFBIG)
                        nc_fmt(b->err.msg, sizeof b->err.msg, "larger than %u MiB: not "
                               "validated", NC_MAX_FILE_BYTES >> 20);
                    else
                        nc_fmt(b->err.msg, sizeof b->err.msg, "is %s, not a regular file: not "
                               "read, not parsed, never rewritten", e == ELOOP ? "a symbolic "
                               "link now" : nc_ftype(&st));
                }
            } else {
                w->host->log(w->ctx, HEALER_LOG_WARN, "read %s: %s", f->path, strerror(e));
            }
            continue;
        }
        char dir[PATH_MAX];
        nc_dirname(f->path, dir, sizeof dir);
        int is_flake = strcmp(nc_basename(f->path), "flake.nix") == 0;
        if (is_flake && w->follow_imports && r >= 0)
            nc_scan_flake_paths(w, src, n, dir, &ac);
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
            if (b && !steady) {
                /* Still changing after three reads: no fix searched on bytes that may not be
                 * the ones parsed. The signature was taken before the last read, so the next
                 * cycle sees the change and validates again. */
                b->err = pe;
                nc_fmt(b->nofix, sizeof b->nofix, "the file changed while it was being "
                       "validated (3 times): validated again at the next cycle");
            } else if (b) {
                b->err = pe;
                nc_find_fix(w, b, src, n);
            }
        } else {
            all_parse = 0;
            w->host->log(w->ctx, HEALER_LOG_WARN, "cannot validate %s: %s", f->path, pe.msg);
        }
        free(src);
    }
    /* <nixpkgs/nixos> evaluates a configuration.nix; a flake-only host is parsed, not
     * evaluated (that needs the flake's inputs). */
    if (all_parse && have_cfg && w->eval && nc_have_nixpkgs(w)) {
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
    /* Tracked apart from files[], which holds only the ones that existed: a flake.nix written
     * beside a configuration.nix (or on a host that had neither), or a configuration.nix
     * written beside a flake.nix, went unseen until another file changed. */
    if (nc_file_changed(&w->flake) || nc_file_changed(&w->root))
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
    nc_fmt(summary, sizeof summary, "%s: %s%s%s%s", loc, b->err.msg,
           b->fixable ? " (a validated fix is available)" : "",
           !b->fixable && b->nofix[0] ? "; no fix: " : "", b->fixable ? "" : b->nofix);
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

void nc_detect_config(nixconfig *w)
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

