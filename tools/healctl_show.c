/* healctl_show.c — one heal or one issue in full: `show heal ID` and `show issue ID` as facts and
 * tables, `explain ID` as sentences (GET /api/v1/heals/ID, /api/v1/issues/ID): the planner's
 * candidates and why one went first, the governor's verdict, the operator's word, every step
 * and every actuator call from the audit log. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "healctl_int.h"

static int get_one(const ctx *c, const char *what, const char *id, json_t **out)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/%s/%s", strcmp(what, "heal") == 0 ? "heals" : "issues",
             id);
    req_info ri = {.method = "GET", .path = path, .what = what, .what_id = id};
    return healctl_call(c, &ri, out);
}

static const char *s_or(const json_t *o, const char *k, const char *d)
{
    const char *s = healctl_jstr(o, k, NULL);
    return s && *s ? s : d;
}

static void pct(char *b, size_t n, const json_t *o, const char *key)
{
    double v;
    if (healctl_jnum(o, key, &v))
        snprintf(b, n, "%.0f%%", 100 * v);
    else
        snprintf(b, n, "-");
}

static char *flags_text(const json_t *arr)
{
    buf b = {0};
    size_t i;
    json_t *v;
    healctl_buf_add(&b, "", 0);
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        if (b.len)
            healctl_buf_add(&b, ",", 1);
        healctl_buf_add(&b, s, strlen(s));
    }
    return b.data ? b.data : strdup("");
}

static void heal_facts(const json_t *h)
{
    char det[48], st[48], took[32];
    healctl_fmt_time(det, sizeof det, h, "detected_at");
    healctl_fmt_time(st, sizeof st, h, "started_at");
    healctl_fmt_duration(took, sizeof took, h, "duration_seconds");
    const char *outcome = healctl_jstr(h, "outcome", NULL);
    const char *state = healctl_jstr(h, "state", NULL);
    double id = 0, iid = 0;
    healctl_jnum(h, "id", &id);
    healctl_jnum(h, "issue_id", &iid);
    healctl_cprintf("heal %.0f: %s on %s (%s)\n", id, s_or(h, "issue_type", "?"),
                    s_or(h, "target", "?"), s_or(h, "severity", "?"));
    if (outcome)
        healctl_cprintf("  outcome     %s%s%s%s\n", outcome, healctl_jstr(h, "reason", NULL) ? " (" : "",
                        s_or(h, "reason", ""), healctl_jstr(h, "reason", NULL) ? ")" : "");
    else
        healctl_cprintf("  state       %s (not finished)%s%s\n", state ? state : "?",
                        healctl_jstr(h, "reason", NULL) ? ": " : "", s_or(h, "reason", ""));
    healctl_cprintf("  issue       %.0f: %s (detected by %s)\n", iid, s_or(h, "summary", "-"),
                    s_or(h, "plugin", "?"));
    healctl_cprintf("  detected    %s\n  started     %s\n  took        %s\n", det, st, took);
    healctl_cprintf("  mode        %s\n",
                    json_is_true(json_object_get(h, "dry_run")) ? "dry-run (nothing changed)" : "live");
}

static void governor_facts(const json_t *d)
{
    const json_t *g = json_object_get(d, "governor");
    if (json_is_object(g)) {
        char until[96];
        healctl_fmt_until(until, sizeof until, g, "cooldown_until");
        healctl_cprintf("  governor    %s: %s\n", s_or(g, "verdict", "?"), s_or(g, "reason", "-"));
        if (until[0])
            healctl_cprintf("  cooldown    %s\n", until);
    } else {
        printf("  governor    - (not recorded)\n");
    }
    const json_t *op = json_object_get(d, "operator");
    if (json_is_object(op)) {
        char when[48];
        healctl_fmt_time(when, sizeof when, op, "at");
        healctl_cprintf("  operator    %s %s\n", s_or(op, "decision", "?"), when);
    }
    if (healctl_jstr(d, "first", NULL))
        healctl_cprintf("  first       %s\n", healctl_jstr(d, "first", ""));
}

static int candidates_table(const json_t *d)
{
    const json_t *arr = json_object_get(d, "candidates");
    if (!json_array_size(arr))
        return 0;
    static const column cols[] = {
        {"#", COL_RIGHT, 0}, {"STEP", COL_RIGHT, 0}, {"PLUGIN", COL_LEFT, 16},
        {"ACTION", COL_LEFT, 28}, {"TARGET", COL_MID, 40}, {"EXPECTED", COL_RIGHT, 0},
        {"PRIOR", COL_RIGHT, 0}, {"ATTEMPTS", COL_RIGHT, 0}, {"FLAGS", COL_LEFT, 60}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *a;
    printf("\ncandidates the planner weighed, in the order it chose:\n");
    json_array_foreach(arr, i, a) {
        char ex[16], pr[16], at[32], st[16];
        pct(ex, sizeof ex, a, "expected");
        pct(pr, sizeof pr, a, "prior");
        double v;
        snprintf(at, sizeof at, "%.0f", healctl_jnum(a, "attempts", &v) ? v : 0);
        snprintf(st, sizeof st, "%.0f", healctl_jnum(a, "step", &v) ? v : 0);
        char *fl = flags_text(json_object_get(a, "flags"));
        healctl_table_cell(&t, "%zu%s", i + 1, json_is_true(json_object_get(a, "explored")) ? "*" : "");
        healctl_table_cell(&t, "%s", st);
        healctl_table_cell(&t, "%s", s_or(a, "plugin", "-"));
        healctl_table_cell(&t, "%s", s_or(a, "action", "-"));
        healctl_table_cell(&t, "%s", s_or(a, "target", "-"));
        healctl_table_cell(&t, "%s", ex);
        healctl_table_cell(&t, "%s", pr);
        healctl_table_cell(&t, "%s", at);
        healctl_table_cell(&t, "%s", fl && *fl ? fl : "-");
        free(fl);
    }
    int rc = healctl_table_print(&t);
    healctl_table_free(&t);
    return rc;
}

static int actions_table(const json_t *h)
{
    const json_t *arr = json_object_get(h, "actions");
    if (!json_array_size(arr)) {
        printf("\nno step ran\n");
        return 0;
    }
    static const column cols[] = {
        {"#", COL_RIGHT, 0}, {"PLUGIN", COL_LEFT, 16}, {"ACTION", COL_LEFT, 28},
        {"TARGET", COL_MID, 40}, {"OUTCOME", COL_LEFT, 16}, {"TOOK", COL_RIGHT, 0},
        {"MESSAGE", COL_LEFT, 120}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *a;
    printf("\nsteps as they ran:\n");
    json_array_foreach(arr, i, a) {
        char took[32];
        healctl_fmt_duration(took, sizeof took, a, "duration_seconds");
        healctl_table_cell(&t, "%zu", i + 1);
        healctl_table_cell(&t, "%s", s_or(a, "plugin", "-"));
        healctl_table_cell(&t, "%s", s_or(a, "action", "-"));
        healctl_table_cell(&t, "%s", s_or(a, "target", "-"));
        healctl_table_cell(&t, "%s", s_or(a, "outcome", "-"));
        healctl_table_cell(&t, "%s", took);
        healctl_table_cell(&t, "%s", s_or(a, "message", ""));
    }
    int rc = healctl_table_print(&t);
    healctl_table_free(&t);
    return rc;
}

static int audit_table(const json_t *h)
{
    const json_t *arr = json_object_get(h, "audit");
    if (!json_is_array(arr)) {
        healctl_cprintf("\naudit lines: not available (%s)\n", s_or(h, "audit_error", "not served"));
        return 0;
    }
    if (!json_array_size(arr)) {
        printf("\nno audit lines for this heal\n");
        return 0;
    }
    static const column cols[] = {
        {"TIME", COL_LEFT, 0}, {"PLUGIN", COL_LEFT, 16}, {"CALL", COL_LEFT, 40},
        {"TARGET", COL_MID, 40}, {"RESULT", COL_LEFT, 12}, {"MESSAGE", COL_LEFT, 120}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *l;
    printf("\naudit.jsonl (every actuator call and each step's line):\n");
    json_array_foreach(arr, i, l) {
        const char *act = healctl_jstr(l, "actuator", NULL);
        healctl_table_cell(&t, "%s", s_or(l, "time", "-"));
        healctl_table_cell(&t, "%s", s_or(l, "plugin", "-"));
        if (act && *act)
            healctl_table_cell(&t, "%s (for %s)", act, s_or(l, "action", "?"));
        else
            healctl_table_cell(&t, "step %s", s_or(l, "action", "?"));
        healctl_table_cell(&t, "%s", s_or(l, "target", "-"));
        healctl_table_cell(&t, "%s%s", s_or(l, "result", "-"),
                           json_is_true(json_object_get(l, "dry_run")) ? " (dry-run)" : "");
        healctl_table_cell(&t, "%s", s_or(l, "message", ""));
    }
    int rc = healctl_table_print(&t);
    healctl_table_free(&t);
    if (json_is_true(json_object_get(h, "audit_truncated")))
        printf("(older lines of this heal are not shown: the agent searched the end of the log)\n");
    return rc;
}

/* 4096 -> "4.0 KiB": sizes as people read them (binary units, as du -h and ls -lh). */
static void human_size(char *b, size_t n, double v)
{
    static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    int i = 0;
    while (v >= 1024 && i < 5) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(b, n, "%.0f B", v);
    else
        snprintf(b, n, "%.1f %s", v, u[i]);
}

/* A pending plan's preview: what each waiting step would touch (GET /api/v1/heals/ID
 * "preview"), under "Would touch:". Nothing for a heal that is not pending. */
static int touches_table(const json_t *h)
{
    const json_t *pv = json_object_get(h, "preview");
    if (!json_is_object(pv))
        return 0;
    const char *st = s_or(pv, "state", "?"), *why = s_or(pv, "reason", "");
    healctl_cprintf("\nWould touch: (preview %s%s%s)\n", st, *why ? ": " : "", why);
    const json_t *arr = json_object_get(pv, "touches");
    if (!json_array_size(arr)) {
        printf(strcmp(st, "running") == 0 ? "nothing known yet\n" : "nothing\n");
        return 0;
    }
    static const column cols[] = {
        {"STEP", COL_RIGHT, 0}, {"PLUGIN", COL_LEFT, 16}, {"KIND", COL_LEFT, 8},
        {"TARGET", COL_MID, 60}, {"SIZE", COL_RIGHT, 0}, {"WHAT", COL_LEFT, 160}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a) {
        double pid = -1, uid = -1, size = -1, count = -1;
        healctl_jnum(a, "pid", &pid);
        healctl_jnum(a, "uid", &uid);
        healctl_jnum(a, "size", &size);
        healctl_jnum(a, "count", &count);
        char tgt[600], sz[48] = "-";
        const char *path = healctl_jstr(a, "path", NULL), *unit = healctl_jstr(a, "unit", NULL);
        const char *cg = healctl_jstr(a, "cgroup", NULL), *name = healctl_jstr(a, "name", NULL);
        if (pid >= 0 && uid >= 0)
            snprintf(tgt, sizeof tgt, "pid %.0f (%s, uid %.0f)", pid, name ? name : "?", uid);
        else if (pid >= 0)
            snprintf(tgt, sizeof tgt, "pid %.0f%s%s", pid, name ? " " : "", name ? name : "");
        else
            snprintf(tgt, sizeof tgt, "%s", path ? path : unit ? unit : cg ? cg : "-");
        if (size >= 0)
            human_size(sz, sizeof sz, size);
        if (count >= 0) {
            size_t l = strlen(sz);
            snprintf(sz + l, sizeof sz - l, " in %.0f file%s", count, count == 1 ? "" : "s");
        }
        double step = 0;
        healctl_jnum(a, "step", &step);
        healctl_table_cell(&t, "%.0f", step);
        healctl_table_cell(&t, "%s", s_or(a, "plugin", "-"));
        healctl_table_cell(&t, "%s", s_or(a, "kind", "-"));
        healctl_table_cell(&t, "%s", tgt);
        healctl_table_cell(&t, "%s", sz);
        healctl_table_cell(&t, "%s", s_or(a, "text", ""));
    }
    int rc = healctl_table_print(&t);
    healctl_table_free(&t);
    return rc;
}

int healctl_cmd_show_heal(const ctx *c, const char *id)
{
    json_t *h;
    int rc = get_one(c, "heal", id, &h);
    if (rc != EX_OK || c->json) {
        json_decref(h);
        return rc;
    }
    heal_facts(h);
    const json_t *d = json_object_get(h, "decision");
    governor_facts(d);
    int bad = candidates_table(d) || actions_table(h) || touches_table(h) || audit_table(h);
    json_decref(h);
    return bad ? EX_AGENT : EX_OK;
}

int healctl_cmd_show_issue(const ctx *c, const char *id)
{
    json_t *is;
    int rc = get_one(c, "issue", id, &is);
    if (rc != EX_OK || c->json) {
        json_decref(is);
        return rc;
    }
    double v = 0;
    healctl_jnum(is, "id", &v);
    int open = json_is_true(json_object_get(is, "open"));
    healctl_cprintf("issue %.0f: %s on %s (%s)\n", v, s_or(is, "type", "?"), s_or(is, "target", "?"),
                    s_or(is, "severity", "?"));
    healctl_cprintf("  summary     %s\n", s_or(is, "summary", "-"));
    healctl_cprintf("  detected by %s\n", s_or(is, "plugin", "-"));
    const char *reason = healctl_jstr(is, "reason", NULL);
    healctl_cprintf("  state       %s%s%s%s\n", s_or(is, "state", "?"), reason ? " (" : "",
                    reason ? reason : "", reason ? ")" : "");
    if (open) {
        char first[48], last[48], cd[96], sn[96];
        healctl_fmt_time(first, sizeof first, is, "first_seen");
        healctl_fmt_time(last, sizeof last, is, "last_seen");
        healctl_fmt_until(cd, sizeof cd, is, "cooldown_until");
        healctl_fmt_until(sn, sizeof sn, is, "snoozed_until");
        healctl_jnum(is, "count", &v);
        healctl_cprintf("  seen        %.0f times, first %s, last %s\n", v, first, last);
        if (cd[0])
            healctl_cprintf("  cooldown    no new heal %s\n", cd);
        if (sn[0])
            healctl_cprintf("  snoozed     a plan was rejected: not planned again %s\n", sn);
        const json_t *hold = json_object_get(is, "hold");
        if (json_is_object(hold))
            healctl_cprintf("  held        by %s: %s\n", s_or(hold, "by", "the operator"),
                            s_or(hold, "reason", "-"));
        if (healctl_jnum(is, "heal_id", &v))
            healctl_cprintf("  latest heal %.0f (healctl explain %.0f)\n", v, v);
    } else {
        char det[48];
        healctl_fmt_time(det, sizeof det, is, "detected_at");
        healctl_cprintf("  detected    %s\n", det);
    }
    const json_t *heals = json_object_get(is, "heals");
    if (!json_array_size(heals)) {
        printf("\nno heal recorded for it\n");
        json_decref(is);
        return EX_OK;
    }
    static const column cols[] = {
        {"HEAL", COL_RIGHT, 0}, {"WHEN", COL_LEFT, 0}, {"OUTCOME", COL_LEFT, 40},
        {"TOOK", COL_RIGHT, 0}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *h;
    printf("\nheals recorded for it, newest first:\n");
    json_array_foreach(heals, i, h) {
        char when[48], took[32];
        healctl_fmt_time(when, sizeof when, h, "started_at");
        healctl_fmt_duration(took, sizeof took, h, "duration_seconds");
        healctl_jnum(h, "id", &v);
        const char *r = healctl_jstr(h, "reason", NULL);
        healctl_table_cell(&t, "%.0f", v);
        healctl_table_cell(&t, "%s", when);
        healctl_table_cell(&t, "%s%s%s%s", s_or(h, "outcome", "-"), r ? " (" : "", r ? r : "",
                           r ? ")" : "");
        healctl_table_cell(&t, "%s", took);
    }
    rc = healctl_table_print(&t) == 0 ? EX_OK : EX_AGENT;
    healctl_table_free(&t);
    json_decref(is);
    return rc;
}

/* ---- explain: the same facts as sentences ---------------------------------------------- */

static void explain_candidates(const json_t *d)
{
    const json_t *arr = json_object_get(d, "candidates");
    size_t n = json_array_size(arr);
    if (!n) {
        printf("The planner's candidates were not recorded for this heal.\n");
        return;
    }
    double total = (double)n;
    healctl_jnum(d, "candidates_total", &total);
    healctl_cprintf("The planner weighed %.0f candidate%s:\n", total, total == 1 ? "" : "s");
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a) {
        char ex[16], pr[16];
        double att = 0, st = 0;
        pct(ex, sizeof ex, a, "expected");
        pct(pr, sizeof pr, a, "prior");
        healctl_jnum(a, "attempts", &att);
        healctl_jnum(a, "step", &st);
        char tried[64];
        if (att > 0)
            snprintf(tried, sizeof tried, "tried %.0f time%s before", att, att == 1 ? "" : "s");
        else
            snprintf(tried, sizeof tried, "never tried: the plugin's own estimate");
        healctl_cprintf("  %zu. %s %s on %s (step %.0f): expected success %s (%s, prior %s)\n",
                        i + 1, s_or(a, "plugin", "?"), s_or(a, "action", "?"),
                        s_or(a, "target", "?"), st, ex, tried, pr);
    }
    healctl_cprintf("%s went first: %s.\n", s_or(json_array_get(arr, 0), "action", "?"),
                    s_or(d, "first", "the planner's order"));
}

static void explain_governor(const json_t *d)
{
    const json_t *g = json_object_get(d, "governor");
    if (!json_is_object(g)) {
        printf("The governor's decision was not recorded for this heal.\n");
        return;
    }
    double left = 0, max = 0;
    healctl_jnum(g, "heals_left_this_hour", &left);
    healctl_jnum(g, "max_heals_per_hour", &max);
    healctl_cprintf("The governor decided \"%s\": %s (%.0f of %.0f heals were left this hour).\n",
                    s_or(g, "verdict", "?"), s_or(g, "reason", "-"), left, max);
    char until[96];
    healctl_fmt_until(until, sizeof until, g, "cooldown_until");
    if (until[0])
        healctl_cprintf("Its cooldown holds a new heal of this issue type and target %s.\n", until);
    const json_t *op = json_object_get(d, "operator");
    if (json_is_object(op)) {
        char when[48];
        healctl_fmt_time(when, sizeof when, op, "at");
        healctl_cprintf("The operator %s it %s.\n", s_or(op, "decision", "?"), when);
    }
}

int healctl_cmd_explain(const ctx *c, const char *id)
{
    json_t *h;
    int rc = get_one(c, "heal", id, &h);
    if (rc != EX_OK || c->json) {
        json_decref(h);
        return rc;
    }
    double iid = 0;
    healctl_jnum(h, "issue_id", &iid);
    healctl_cprintf("Heal %s was for %s on %s (%s severity), issue %.0f: \"%s\", detected by %s%s.\n",
                    id, s_or(h, "issue_type", "?"), s_or(h, "target", "?"), s_or(h, "severity", "?"),
                    iid, s_or(h, "summary", "-"), s_or(h, "plugin", "?"),
                    json_is_true(json_object_get(h, "dry_run")) ? "; it was a dry run: nothing "
                                                                  "was changed" : "");
    const json_t *d = json_object_get(h, "decision");
    explain_candidates(d);
    explain_governor(d);
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(h, "actions"), i, a) {
        char took[32];
        healctl_fmt_duration(took, sizeof took, a, "duration_seconds");
        const char *msg = healctl_jstr(a, "message", NULL);
        healctl_cprintf("Step %zu: %s ran %s on %s: %s%s%s%s (took %s).\n", i + 1,
                        s_or(a, "plugin", "?"), s_or(a, "action", "?"), s_or(a, "target", "?"),
                        s_or(a, "outcome", "?"), msg && *msg ? ", \"" : "", msg ? msg : "",
                        msg && *msg ? "\"" : "", took);
    }
    if (!json_array_size(json_object_get(h, "actions")))
        printf("No step ran.\n");
    (void)touches_table(h); /* a table that cannot be written shows in the lines after it too */
    const json_t *audit = json_object_get(h, "audit");
    size_t calls = 0;
    json_array_foreach(audit, i, a) {
        const char *act = healctl_jstr(a, "actuator", NULL);
        if (!act || !*act)
            continue;
        calls++;
        healctl_cprintf("Actuator call: %s %s on %s: %s%s%s.\n", s_or(a, "plugin", "?"), act,
                        s_or(a, "target", "?"), s_or(a, "result", "?"),
                        healctl_jstr(a, "message", NULL) ? ", " : "", s_or(a, "message", ""));
    }
    if (json_is_array(audit))
        printf("The audit log has %zu line%s for this heal, %zu of them actuator calls.\n",
               json_array_size(audit), json_array_size(audit) == 1 ? "" : "s", calls);
    else
        healctl_cprintf("The audit lines are not available: %s.\n",
                        s_or(h, "audit_error", "the agent did not send them"));
    const char *outcome = healctl_jstr(h, "outcome", NULL);
    if (outcome)
        healctl_cprintf("Outcome: %s%s%s%s.\n", outcome, healctl_jstr(h, "reason", NULL) ? " (" : "",
                        s_or(h, "reason", ""), healctl_jstr(h, "reason", NULL) ? ")" : "");
    else
        healctl_cprintf("It is not finished: %s%s%s.\n", s_or(h, "state", "?"),
                        healctl_jstr(h, "reason", NULL) ? ", " : "", s_or(h, "reason", ""));
    json_decref(h);
    return EX_OK;
}
