/* healctl_cmds.c — healctl's output for people: control-character-free text, tables sized
 * to the terminal, time and number formatting, and one function per command that turns the
 * agent's JSON into tables (status, issues, history, plugins, knowledge, pending, POSTs). */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "healctl_int.h"
#include "sanitize.h"

/* ---- Text output -------------------------------------------------------------------- */

int healctl_utf8_term;   /* the terminal takes UTF-8: "…" as the truncation mark */

/* Copies s, replacing control characters (C0, DEL and C1) by spaces: an issue summary comes
 * from a plugin and must not be able to drive the terminal with escape sequences. */
char *healctl_clean_text(const char *s)
{
    /* The agent's own sanitizer: an ESC, BEL or C1 byte in a process name is shown escaped
     * (\x1b, \u009b), never sent to the terminal; a newline would break the table's row. */
    return sanitize_dup(s ? s : "", SANITIZE_SPACE_WS);
}

/* printf for text that quotes the agent's answers (targets, plugin and component names):
 * each line through the sanitizer, so nothing the agent relays drives the terminal. */
void healctl_cprintf(const char *fmt, ...)
{
    char *raw = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&raw, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    for (char *line = raw, *nl;; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *c = sanitize_dup(line, SANITIZE_SPACE_WS);
        fputs(c ? c : "", stdout);
        free(c);
        if (!nl)
            break;
        putchar('\n');
    }
    free(raw);
}

/* Display width: one column per code point (good enough for the text the agent produces). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* Truncates s in place to at most w columns, ending with a mark when cut. */
static void text_truncate(char *s, size_t w)
{
    if (text_width(s) <= w)
        return;
    const char *mark = healctl_utf8_term ? "\xe2\x80\xa6" : "...";
    size_t mw = healctl_utf8_term ? 1 : 3;
    if (w <= mw) {
        /* No room for a mark: plain cut at a code point boundary. */
        mark = "";
        mw = 0;
    }
    size_t keep = w - mw, cols = 0, i = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (cols == keep)
                break;
            cols++;
        }
    }
    /* Do not leave a trailing space before the mark. */
    while (i > 0 && s[i - 1] == ' ' && *mark)
        i--;
    memcpy(s + i, mark, strlen(mark) + 1);
}

void healctl_table_cell(table *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    char *raw = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&raw, fmt, ap);
    va_end(ap);
    /* An absent value reads better as "-" than as a hole in the table. */
    char *c = n < 0 ? NULL : healctl_clean_text(*raw ? raw : "-");
    free(n < 0 ? NULL : raw);
    if (c && t->ncells == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **cells = realloc(t->cells, cap * sizeof *cells);
        if (!cells) {
            free(c);
            c = NULL;
        } else {
            t->cells = cells;
            t->cap = cap;
        }
    }
    if (!c) {
        t->oom = 1;
        return;
    }
    t->cells[t->ncells++] = c;
}

/* Cuts s in place to at most w columns in the middle ("/var/lib/…/knowledge.db"): the end of
 * a path names the file, its start the tree it is in; both say more than either alone. */
static void text_truncate_mid(char *s, size_t w)
{
    size_t tw = text_width(s);
    if (tw <= w)
        return;
    const char *mark = healctl_utf8_term ? "\xe2\x80\xa6" : "...";
    size_t mw = healctl_utf8_term ? 1 : 3;
    if (w <= mw + 2) {
        text_truncate(s, w);
        return;
    }
    /* two thirds for the end: the file name matters most */
    size_t tail = (w - mw) * 2 / 3, head = w - mw - tail;
    /* byte offsets of the head's end and the tail's start, at code point boundaries */
    size_t hb = 0, cols = 0;
    for (; s[hb] && cols < head; hb++)
        if (((unsigned char)s[hb + 1] & 0xc0) != 0x80)
            cols++;
    size_t skip = tw - tail, tb = 0;
    cols = 0;
    for (; s[tb]; tb++) {
        if (((unsigned char)s[tb] & 0xc0) != 0x80) {
            if (cols == skip)
                break;
            cols++;
        }
    }
    size_t ml = strlen(mark), tl = strlen(s + tb);
    memmove(s + hb + ml, s + tb, tl + 1);
    memcpy(s + hb, mark, ml);
}

static void cut(char *s, size_t w, int align)
{
    if (align == COL_MID)
        text_truncate_mid(s, w);
    else
        text_truncate(s, w);
}

int healctl_no_legend;

static size_t terminal_width(void)
{
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    if (c && *c) {
        long v = strtol(c, NULL, 10);
        if (v > 0 && v < 10000)
            return (size_t)v;
    }
    return 0; /* a pipe: do not squeeze the last column */
}

/* Prints the table: columns as wide as their widest cell (within their cap); the last column
 * takes what the terminal has left. */
int healctl_table_print(table *t)
{
    if (t->oom) {
        healctl_errmsg("out of memory");
        return -1;
    }
    size_t nc = t->ncols, nrows = t->ncells / nc;
    if (t->ncells % nc != 0 || nc > 16) {
        healctl_errmsg("internal error: a table row has the wrong number of cells");
        return -1;
    }
    size_t width[16] = {0};
    for (size_t c = 0; c < nc; c++) {
        width[c] = healctl_no_legend ? 0 : text_width(t->cols[c].head);
        for (size_t r = 0; r < nrows; r++) {
            char *cell = t->cells[r * nc + c];
            if (t->cols[c].max && c + 1 < nc)
                cut(cell, t->cols[c].max, t->cols[c].align);
            size_t w = text_width(cell);
            if (w > width[c])
                width[c] = w;
        }
    }
    size_t term = terminal_width();
    if (term) {
        /* The last column (a summary, a message) should keep a readable share: paths give way
         * first, cut in the middle, down to PATH_MIN columns. */
        enum { PATH_MIN = 16, LAST_WANT = 30 };
        size_t lastw = 0;
        for (size_t r = 0; r < nrows; r++) {
            size_t w = text_width(t->cells[r * nc + nc - 1]);
            if (w > lastw)
                lastw = w;
        }
        size_t want = lastw < LAST_WANT ? lastw : LAST_WANT;
        for (;;) {
            size_t used = 0;
            for (size_t c = 0; c + 1 < nc; c++)
                used += width[c] + 2;
            if (used + want <= term)
                break;
            size_t widest = nc;
            for (size_t c = 0; c + 1 < nc; c++)
                if (t->cols[c].align == COL_MID && width[c] > PATH_MIN &&
                    (widest == nc || width[c] > width[widest]))
                    widest = c;
            if (widest == nc)
                break;
            size_t over = used + want - term, room = width[widest] - PATH_MIN;
            width[widest] -= over < room ? over : room;
            for (size_t r = 0; r < nrows; r++)
                cut(t->cells[r * nc + widest], width[widest], COL_MID);
        }
        size_t used = 0;
        for (size_t c = 0; c + 1 < nc; c++)
            used += width[c] + 2;
        size_t left = term > used + 10 ? term - used : 10;
        for (size_t r = 0; r < nrows; r++)
            cut(t->cells[r * nc + nc - 1], left, t->cols[nc - 1].align);
    } else if (t->cols[nc - 1].max) {
        for (size_t r = 0; r < nrows; r++)
            cut(t->cells[r * nc + nc - 1], t->cols[nc - 1].max, t->cols[nc - 1].align);
    }
    for (size_t r = healctl_no_legend ? 1 : 0; r <= nrows; r++) {
        for (size_t c = 0; c < nc; c++) {
            const char *s = r == 0 ? t->cols[c].head : t->cells[(r - 1) * nc + c];
            size_t w = text_width(s), pad = width[c] > w ? width[c] - w : 0;
            int last = c + 1 == nc;
            if (t->cols[c].align == COL_RIGHT)
                printf("%*s%s", (int)pad, "", s);
            else
                printf("%s%*s", s, last ? 0 : (int)pad, "");
            fputs(last ? "\n" : "  ", stdout);
        }
    }
    return 0;
}

void healctl_table_free(table *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* ---- Formatting values -------------------------------------------------------------- */

const char *healctl_jstr(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

int healctl_jnum(const json_t *o, const char *key, double *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return isfinite(*out);
}

/* An integer field as text, "-" when absent. */
static void fmt_int(char *b, size_t n, const json_t *o, const char *key)
{
    double v;
    if (healctl_jnum(o, key, &v))
        snprintf(b, n, "%.0f", v);
    else
        snprintf(b, n, "-");
}

static void fmt_span(char *b, size_t n, double s)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(b, n, "%.0fs", floor(s));
    else if (s < 3600)
        snprintf(b, n, "%.0fm", floor(s / 60));
    else if (s < 86400)
        snprintf(b, n, "%.0fh %.0fm", floor(s / 3600), floor(fmod(s, 3600) / 60));
    else
        snprintf(b, n, "%.0fd %.0fh", floor(s / 86400), floor(fmod(s, 86400) / 3600));
}

/* A duration that may be short (an action took 0.2 s). */
void healctl_fmt_duration(char *b, size_t n, const json_t *o, const char *key)
{
    double s;
    if (!healctl_jnum(o, key, &s) || s < 0)
        snprintf(b, n, "-");
    else if (s < 10)
        snprintf(b, n, "%.1fs", s);
    else
        fmt_span(b, n, s);
}

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Within a day: "5m ago" / "in 5m"; otherwise local time "YYYY-MM-DD HH:MM:SS". */
void healctl_fmt_time(char *b, size_t n, const json_t *o, const char *key)
{
    double t;
    if (!healctl_jnum(o, key, &t) || t <= 0 || t > 1e11) {
        snprintf(b, n, "-");
        return;
    }
    double d = now_real() - t;
    char span[32];
    if (d >= 0 && d < 86400) {
        if (d < 1) {
            snprintf(b, n, "just now");
        } else {
            fmt_span(span, sizeof span, d);
            snprintf(b, n, "%s ago", span);
        }
        return;
    }
    if (d < 0 && d > -86400) {
        fmt_span(span, sizeof span, -d);
        snprintf(b, n, "in %s", span);
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm) || strftime(b, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(b, n, "-");
}

/* Joins the string values of an array (or the `key` member of each object in it). */
static char *join_array(const json_t *arr, const char *key, const char *sep)
{
    buf b = {0};
    size_t i;
    json_t *v;
    healctl_buf_add(&b, "", 0);
    json_array_foreach(arr, i, v) {
        const char *s = key ? healctl_jstr(v, key, NULL) : json_string_value(v);
        if (!s)
            continue;
        if (b.len)
            healctl_buf_add(&b, sep, strlen(sep));
        healctl_buf_add(&b, s, strlen(s));
    }
    if (!b.data)
        return strdup("");
    return b.data;
}

json_t *healctl_want_array(const ctx *c, json_t *root, const char *key)
{
    json_t *a = json_object_get(root, key);
    if (!json_is_array(a))
        healctl_errmsg("unexpected answer from %s: no \"%s\" array", c->u.base, key);
    return json_is_array(a) ? a : NULL;
}

/* "until 14:05:03 (4m left)" for an end time in epoch seconds; "" when absent or past. */
void healctl_fmt_until(char *b, size_t n, const json_t *o, const char *key)
{
    double t;
    b[0] = '\0';
    if (!healctl_jnum(o, key, &t) || t <= 0 || t > 1e11)
        return;
    double left = t - now_real();
    if (left <= 0)
        return;
    time_t tt = (time_t)t;
    struct tm tm;
    char clock[32] = "?", span[32];
    if (localtime_r(&tt, &tm))
        strftime(clock, sizeof clock, left < 86400 ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
    fmt_span(span, sizeof span, left < 1 ? 1 : left);
    snprintf(b, n, "until %s (%s left)", clock, span);
}

/* The cooldowns or snoozes of /api/v1/status, one line each. */
static void print_entries(const json_t *arr, const char *what)
{
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e) {
        char until[96];
        healctl_fmt_until(until, sizeof until, e, "until");
        if (!until[0])
            continue;
        char *type = healctl_clean_text(healctl_jstr(e, "issue_type", "?"));
        char *target = healctl_clean_text(healctl_jstr(e, "target", "?"));
        const char *sev = healctl_jstr(e, "severity", NULL);
        healctl_cprintf("               %s %s on %s %s%s%s%s\n", what, type ? type : "?",
               target ? target : "?", until, sev ? " (after a " : "", sev ? sev : "",
               sev ? " heal)" : "");
        free(type);
        free(target);
    }
}

int healctl_cmd_status(const ctx *c)
{
    json_t *root;
    int rc = healctl_call(c, &(req_info){.method = "GET", .path = "/api/v1/status", .id = NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    char up[32], v[64];
    double d;
    if (healctl_jnum(root, "uptime_seconds", &d))
        fmt_span(up, sizeof up, d);
    else
        snprintf(up, sizeof up, "-");
    char *ver = healctl_clean_text(healctl_jstr(root, "version", "?"));
    char *abi = healctl_clean_text(healctl_jstr(root, "abi", "?"));
    char *mode = healctl_clean_text(healctl_jstr(root, "mode", "?"));
    healctl_cprintf("healerd %s (plugin ABI %s) at %s\n", ver ? ver : "?", abi ? abi : "?", c->u.base);
    free(ver);
    free(abi);
    healctl_cprintf("  mode         %s%s\n", mode ? mode : "?",
           json_is_true(json_object_get(root, "paused")) ? ", PAUSED (no healing until resume)" : "");
    free(mode);
    healctl_cprintf("  uptime       %s\n", up);
    if (healctl_jnum(root, "health", &d)) {
        /* Name the component that pulls the number down, so "why 50?" has an answer. */
        const json_t *worst = NULL, *comp;
        size_t ci;
        double ws = 101, s;
        json_array_foreach(json_object_get(root, "health_components"), ci, comp) {
            if (healctl_jnum(comp, "score", &s) && s < ws) {
                ws = s;
                worst = comp;
            }
        }
        if (worst && ws < 100) {
            char *wp = healctl_clean_text(healctl_jstr(worst, "plugin", "?"));
            char *wc = healctl_clean_text(healctl_jstr(worst, "component", "?"));
            healctl_cprintf("  health       %.1f / 100 (lowest: %s %s at %.0f)\n", d, wp ? wp : "?",
                   wc ? wc : "?", ws);
            free(wp);
            free(wc);
        } else {
            printf("  health       %.1f / 100\n", d);
        }
    } else {
        printf("  health       -\n");
    }
    fmt_int(v, sizeof v, root, "open_issues");
    healctl_cprintf("  open issues  %s\n", v);
    fmt_int(v, sizeof v, root, "pending");
    healctl_cprintf("  pending      %s%s\n", v,
           healctl_jnum(root, "pending", &d) && d > 0 ? " (see 'healctl pending')" : "");
    const json_t *l = json_object_get(root, "limits");
    if (json_is_object(l)) {
        char a[32], b[32], m[32];
        fmt_int(a, sizeof a, l, "heals_last_hour");
        fmt_int(b, sizeof b, l, "heals_left_this_hour");
        fmt_int(m, sizeof m, l, "max_heals_per_hour");
        healctl_cprintf("  heals        %s in the last hour, %s left (max %s)\n", a, b, m);
        fmt_int(a, sizeof a, l, "rollbacks_today");
        fmt_int(b, sizeof b, l, "rollbacks_left_today");
        fmt_int(m, sizeof m, l, "max_rollbacks_per_day");
        healctl_cprintf("  rollbacks    %s today, %s left (max %s)\n", a, b, m);
        fmt_int(a, sizeof a, l, "min_health_for_auto");
        healctl_cprintf("  auto-heal    when health >= %s, or the issue is critical\n", a);
        fmt_int(a, sizeof a, l, "cooldowns_active");
        if (healctl_jnum(l, "cooldown_minutes", &d))
            snprintf(b, sizeof b, "%g", d);
        else
            snprintf(b, sizeof b, "-");
        healctl_cprintf("  cooldowns    %s active (%s min each)\n", a, b);
        print_entries(json_object_get(root, "cooldowns"), "cooldown");
        print_entries(json_object_get(root, "snoozes"), "rejected: snoozed");
        if (healctl_jnum(l, "auto_after_confirmations", &d) && d > 0)
            printf("  confirmed    risky actions run without asking after %.0f confirmed "
                   "successes in a row\n", d);
    }
    const json_t *bus = json_object_get(root, "bus");
    if (json_is_object(bus)) {
        char s[32], r[32], dr[32], ma[32];
        fmt_int(s, sizeof s, bus, "sent");
        fmt_int(r, sizeof r, bus, "received");
        fmt_int(dr, sizeof dr, bus, "dropped");
        fmt_int(ma, sizeof ma, bus, "malformed");
        healctl_cprintf("  bus          %s sent, %s received, %s dropped, %s malformed\n", s, r, dr, ma);
    }
    json_decref(root);
    return EX_OK;
}

int healctl_cmd_issues(const ctx *c)
{
    json_t *root;
    int rc = healctl_call(c, &(req_info){.method = "GET", .path = "/api/v1/issues", .id = NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *arr = healctl_want_array(c, root, "issues");
    if (!arr) {
        json_decref(root);
        return EX_AGENT;
    }
    if (json_array_size(arr) == 0) {
        printf("no open issues\n");
        json_decref(root);
        return EX_OK;
    }
    static const column cols[] = {
        {"ID", COL_RIGHT, 0}, {"SEVERITY", COL_LEFT, 8}, {"STATE", COL_LEFT, 80},
        {"TYPE", COL_LEFT, 28}, {"TARGET", COL_MID, 32}, {"LAST SEEN", COL_LEFT, 0},
        {"COUNT", COL_RIGHT, 0}, {"SUMMARY", COL_LEFT, 100}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it) {
        char id[32], seen[48], count[32];
        fmt_int(id, sizeof id, it, "id");
        healctl_fmt_time(seen, sizeof seen, it, "last_seen");
        fmt_int(count, sizeof count, it, "count");
        const char *state = healctl_jstr(it, "state", "-"), *reason = healctl_jstr(it, "reason", NULL);
        char cd[96], sn[96], wait[256] = "";
        healctl_fmt_until(cd, sizeof cd, it, "cooldown_until");
        healctl_fmt_until(sn, sizeof sn, it, "snoozed_until");
        if (cd[0] || sn[0])
            snprintf(wait, sizeof wait, "; %s%s%s%s%s", cd[0] ? "cooldown " : "", cd,
                     cd[0] && sn[0] ? "; " : "", sn[0] ? "rejected, snoozed " : "", sn);
        healctl_table_cell(&t, "%s", id);
        healctl_table_cell(&t, "%s", healctl_jstr(it, "severity", "-"));
        if (reason && *reason)
            healctl_table_cell(&t, "%s (%s)%s", state, reason, wait);
        else
            healctl_table_cell(&t, "%s%s", state, wait);
        healctl_table_cell(&t, "%s", healctl_jstr(it, "type", "-"));
        healctl_table_cell(&t, "%s", healctl_jstr(it, "target", "-"));
        healctl_table_cell(&t, "%s", seen);
        healctl_table_cell(&t, "%s", count);
        healctl_table_cell(&t, "%s", healctl_jstr(it, "summary", ""));
    }
    rc = healctl_table_print(&t) == 0 ? EX_OK : EX_AGENT;
    healctl_table_free(&t);
    json_decref(root);
    return rc;
}

int healctl_cmd_history(const ctx *c, long limit)
{
    char path[64];
    if (limit > 0)
        snprintf(path, sizeof path, "/api/v1/heals?limit=%ld", limit);
    else
        snprintf(path, sizeof path, "/api/v1/heals");
    json_t *root;
    int rc = healctl_call(c, &(req_info){.method = "GET", .path = path, .id = NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *arr = healctl_want_array(c, root, "heals");
    if (!arr) {
        json_decref(root);
        return EX_AGENT;
    }
    if (json_array_size(arr) == 0) {
        printf("no heals yet\n");
        json_decref(root);
        return EX_OK;
    }
    static const column cols[] = {
        {"ID", COL_RIGHT, 0}, {"WHEN", COL_LEFT, 0}, {"TYPE", COL_LEFT, 28},
        {"TARGET", COL_MID, 32}, {"OUTCOME", COL_LEFT, 28}, {"TOOK", COL_RIGHT, 0},
        {"ACTIONS", COL_LEFT, 100}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *h;
    json_array_foreach(arr, i, h) {
        char id[32], when[48], took[32];
        fmt_int(id, sizeof id, h, "id");
        double dummy;
        healctl_fmt_time(when, sizeof when, h, healctl_jnum(h, "started_at", &dummy) ? "started_at" : "detected_at");
        healctl_fmt_duration(took, sizeof took, h, "duration_seconds");
        const char *outcome = healctl_jstr(h, "outcome", "-"), *reason = healctl_jstr(h, "reason", NULL);
        healctl_table_cell(&t, "%s", id);
        healctl_table_cell(&t, "%s", when);
        healctl_table_cell(&t, "%s", healctl_jstr(h, "issue_type", "-"));
        healctl_table_cell(&t, "%s", healctl_jstr(h, "target", "-"));
        healctl_table_cell(&t, "%s%s%s%s", strcmp(outcome, "dry_run") == 0 ? "dry-run" : outcome,
                   reason && *reason ? " (" : "", reason && *reason ? reason : "",
                   reason && *reason ? ")" : "");
        healctl_table_cell(&t, "%s", took);
        /* Each action with its own outcome: "renice pid:123 healed; kill pid:123 failed". */
        buf acts = {0};
        healctl_buf_add(&acts, "", 0);
        size_t j;
        json_t *a;
        json_array_foreach(json_object_get(h, "actions"), j, a) {
            const char *name = healctl_jstr(a, "action", "?"), *tgt = healctl_jstr(a, "target", NULL),
                       *out = healctl_jstr(a, "outcome", NULL);
            if (acts.len)
                healctl_buf_add(&acts, "; ", 2);
            healctl_buf_add(&acts, name, strlen(name));
            if (tgt && *tgt) {
                healctl_buf_add(&acts, " ", 1);
                healctl_buf_add(&acts, tgt, strlen(tgt));
            }
            if (out && *out) {
                healctl_buf_add(&acts, " ", 1);
                healctl_buf_add(&acts, out, strlen(out));
            }
        }
        healctl_table_cell(&t, "%s", acts.data && acts.len ? acts.data : healctl_jstr(h, "summary", ""));
        free(acts.data);
    }
    rc = healctl_table_print(&t) == 0 ? EX_OK : EX_AGENT;
    healctl_table_free(&t);
    json_decref(root);
    return rc;
}

/* The ISOLATION, CHILD, PID, CRASHES and LAST CRASH cells of one plugin: what its healerd-plugin
 * child is doing ("process" object of /api/v1/plugins), so an operator sees a crash loop. */
static void plugin_child_cells(table *t, const json_t *p)
{
    const json_t *proc = json_object_get(p, "process");
    healctl_table_cell(t, "%s", healctl_jstr(p, "isolation", "-"));
    if (!json_is_object(proc)) {
        for (int k = 0; k < 4; k++)
            healctl_table_cell(t, "-");
        return;
    }
    const char *run = healctl_jstr(proc, "run_state", "-");
    char when[64], last[64];
    double pid = 0, crashes = 0;
    double at;
    if (strcmp(run, "restarting") == 0 && healctl_jnum(proc, "next_start", &at) && at > 0 && at < 1e11) {
        time_t tt = (time_t)at;
        struct tm tm;
        char clock[32] = "?";
        if (localtime_r(&tt, &tm))
            strftime(clock, sizeof clock, "%H:%M:%S", &tm);
        healctl_fmt_time(when, sizeof when, proc, "next_start");
        healctl_table_cell(t, "restarting at %s (%s)", clock, when);
    } else {
        healctl_table_cell(t, "%s", run);
    }
    if (healctl_jnum(proc, "pid", &pid) && pid > 0)
        healctl_table_cell(t, "%.0f", pid);
    else
        healctl_table_cell(t, "-");
    healctl_jnum(proc, "crashes", &crashes);
    healctl_table_cell(t, "%.0f", crashes);
    const char *lc = healctl_jstr(proc, "last_crash", NULL);
    if (lc && *lc) {
        healctl_fmt_time(last, sizeof last, proc, "last_crash_time");
        healctl_table_cell(t, "%s (%s)", lc, last);
    } else {
        healctl_table_cell(t, "-");
    }
}

int healctl_cmd_plugins(const ctx *c)
{
    json_t *root;
    int rc = healctl_call(c, &(req_info){.method = "GET", .path = "/api/v1/plugins", .id = NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *arr = healctl_want_array(c, root, "plugins");
    if (!arr) {
        json_decref(root);
        return EX_AGENT;
    }
    if (json_array_size(arr) == 0) {
        printf("no plugins\n");
        json_decref(root);
        return EX_OK;
    }
    static const column cols[] = {
        {"NAME", COL_LEFT, 32}, {"VERSION", COL_LEFT, 16}, {"STATE", COL_LEFT, 10},
        {"INTERVAL", COL_RIGHT, 0}, {"ISOLATION", COL_LEFT, 0}, {"CHILD", COL_LEFT, 40},
        {"PID", COL_RIGHT, 0}, {"CRASHES", COL_RIGHT, 0}, {"LAST CRASH", COL_LEFT, 80},
        {"ISSUE TYPES", COL_LEFT, 40}, {"DETAILS", COL_LEFT, 120}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *p;
    json_array_foreach(arr, i, p) {
        const char *name = healctl_jstr(p, "name", NULL), *file = healctl_jstr(p, "file", "-");
        const char *state = healctl_jstr(p, "state", "-"), *reason = healctl_jstr(p, "reason", NULL);
        if (!name || !*name) {
            /* A refused file may have no name: show which file it was. */
            const char *slash = strrchr(file, '/');
            name = slash ? slash + 1 : file;
        }
        char iv[32] = "-";
        double d;
        if (healctl_jnum(p, "interval", &d) && d > 0)
            snprintf(iv, sizeof iv, "%gs", d);
        char *types = join_array(json_object_get(p, "issue_types"), NULL, ",");
        healctl_table_cell(&t, "%s", name);
        healctl_table_cell(&t, "%s", healctl_jstr(p, "version", "-"));
        healctl_table_cell(&t, "%s", state);
        healctl_table_cell(&t, "%s", iv);
        plugin_child_cells(&t, p);
        healctl_table_cell(&t, "%s", types && *types ? types : "-");
        if (reason && *reason)
            healctl_table_cell(&t, "%s: %s", file, reason);
        else
            healctl_table_cell(&t, "%s", healctl_jstr(p, "description", ""));
        free(types);
    }
    rc = healctl_table_print(&t) == 0 ? EX_OK : EX_AGENT;
    healctl_table_free(&t);
    json_decref(root);
    return rc;
}

int healctl_cmd_knowledge(const ctx *c)
{
    json_t *root;
    int rc = healctl_call(c, &(req_info){.method = "GET", .path = "/api/v1/knowledge", .id = NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *arr = healctl_want_array(c, root, "knowledge");
    if (!arr) {
        json_decref(root);
        return EX_AGENT;
    }
    if (json_array_size(arr) == 0) {
        printf("nothing learned yet\n");
        json_decref(root);
        return EX_OK;
    }
    static const column cols[] = {
        {"ISSUE TYPE", COL_LEFT, 32}, {"ACTION", COL_LEFT, 32}, {"ATTEMPTS", COL_RIGHT, 0},
        {"SUCCESSES", COL_RIGHT, 0}, {"RATE", COL_RIGHT, 0}, {"CONFIDENCE", COL_RIGHT, 0},
        {"CONFIRMED OK", COL_RIGHT, 0}, {"AUTOMATIC", COL_LEFT, 0}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *k;
    json_array_foreach(arr, i, k) {
        char at[32], su[32], rate[32] = "-", conf[32] = "-";
        fmt_int(at, sizeof at, k, "attempts");
        fmt_int(su, sizeof su, k, "successes");
        double a, s, cf;
        if (healctl_jnum(k, "attempts", &a) && healctl_jnum(k, "successes", &s) && a > 0)
            snprintf(rate, sizeof rate, "%.0f%%", 100.0 * s / a);
        if (healctl_jnum(k, "confidence", &cf))
            snprintf(conf, sizeof conf, "%.2f", cf);
        healctl_table_cell(&t, "%s", healctl_jstr(k, "issue_type", "-"));
        healctl_table_cell(&t, "%s", healctl_jstr(k, "action", "-"));
        healctl_table_cell(&t, "%s", at);
        healctl_table_cell(&t, "%s", su);
        healctl_table_cell(&t, "%s", rate);
        healctl_table_cell(&t, "%s", conf);
        char cs[32];
        fmt_int(cs, sizeof cs, k, "confirmed_successes");
        healctl_table_cell(&t, "%s", cs);
        healctl_table_cell(&t, "%s", json_is_true(json_object_get(k, "automatic")) ? "yes" : "no");
    }
    rc = healctl_table_print(&t) == 0 ? EX_OK : EX_AGENT;
    healctl_table_free(&t);
    json_decref(root);
    return rc;
}

int healctl_cmd_pending(const ctx *c)
{
    json_t *root;
    int rc = healctl_call(c, &(req_info){.method = "GET", .path = "/api/v1/pending", .id = NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *arr = healctl_want_array(c, root, "pending");
    if (!arr) {
        json_decref(root);
        return EX_AGENT;
    }
    if (json_array_size(arr) == 0) {
        printf("no plans waiting for confirmation\n");
        json_decref(root);
        return EX_OK;
    }
    static const column cols[] = {
        {"ID", COL_RIGHT, 0}, {"TYPE", COL_LEFT, 28}, {"TARGET", COL_MID, 32},
        {"SEVERITY", COL_LEFT, 8}, {"CREATED", COL_LEFT, 0}, {"EXPIRES", COL_LEFT, 0},
        {"ACTIONS", COL_LEFT, 48}, {"WHY CONFIRM", COL_LEFT, 80}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *p;
    json_array_foreach(arr, i, p) {
        char id[32], cr[48], ex[48];
        fmt_int(id, sizeof id, p, "id");
        healctl_fmt_time(cr, sizeof cr, p, "created_at");
        healctl_fmt_time(ex, sizeof ex, p, "expires_at");
        char *acts = join_array(json_object_get(p, "actions"), "action", ", ");
        healctl_table_cell(&t, "%s", id);
        healctl_table_cell(&t, "%s", healctl_jstr(p, "issue_type", "-"));
        healctl_table_cell(&t, "%s", healctl_jstr(p, "target", "-"));
        healctl_table_cell(&t, "%s", healctl_jstr(p, "severity", "-"));
        healctl_table_cell(&t, "%s", cr);
        healctl_table_cell(&t, "%s", ex);
        healctl_table_cell(&t, "%s", acts && *acts ? acts : "-");
        healctl_table_cell(&t, "%s", healctl_jstr(p, "reason", ""));
        free(acts);
    }
    rc = healctl_table_print(&t) == 0 ? EX_OK : EX_AGENT;
    healctl_table_free(&t);
    json_decref(root);
    if (rc == EX_OK)
        printf("\nconfirm with 'healctl confirm ID', refuse with 'healctl reject ID'\n");
    return rc;
}

int healctl_cmd_post(const ctx *c, const char *path, const char *id, const char *done)
{
    json_t *root;
    int rc = healctl_call(c, &(req_info){.method = "POST", .path = path, .id = id}, &root);
    if (rc != EX_OK) {
        json_decref(root);
        return rc;
    }
    const char *msg = healctl_jstr(root, "message", NULL);
    json_t *ok = json_object_get(root, "ok");
    if (json_is_false(ok)) {
        /* A 200 that says it did not work is still a failure for the caller's script. */
        char *m = healctl_clean_text(msg ? msg : healctl_jstr(root, "error", "the agent did not do it"));
        healctl_errmsg("%s", m ? m : "");
        free(m);
        rc = EX_AGENT;
    } else if (!c->json) {
        char *m = healctl_clean_text(msg && *msg ? msg : done);
        healctl_cprintf("%s\n", m ? m : done);
        free(m);
    }
    json_decref(root);
    return rc;
}

