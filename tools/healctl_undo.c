/* healctl_undo.c — "healctl undo HEAL_ID" and "healctl restore --to TIME" (issue #15): TIME is
 * read here (when.c, the agent's own parser) and sent as seconds since the epoch, so "-1h"
 * means an hour before healctl ran; the agent's list of what it undid and what it could not
 * (and why) is printed one change per line, newest first. */
#include "healctl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "when.h"

static void print_items(json_t *items)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *res = healctl_jstr(it, "result", "?");
        const char *label = strcmp(res, "undone") == 0 ? "undone"
                          : strcmp(res, "would") == 0 ? "would"
                          : strcmp(res, "nothing_to_do") == 0 ? "nothing"
                          : strcmp(res, "already_undone") == 0 ? "already"
                          : "NOT";
        double t = 0;
        char when[32] = "?";
        if (healctl_jnum(it, "time", &t) == 0 && t > 0 && t < 1e11) {
            time_t tt = (time_t)t;
            struct tm tm;
            localtime_r(&tt, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        }
        double ch = 0, heal = 0;
        healctl_jnum(it, "change", &ch);
        healctl_jnum(it, "heal_id", &heal);
        char *kind = healctl_clean_text(healctl_jstr(it, "kind", ""));
        char *tg = healctl_clean_text(healctl_jstr(it, "target", ""));
        char *msg = healctl_clean_text(healctl_jstr(it, "message", ""));
        healctl_cprintf("%-7s change %.0f (heal %.0f, %s) %s %s: %s%s%s\n", label, ch, heal, when,
                        kind ? kind : "", tg ? tg : "", strcmp(label, "NOT") == 0 ? res : "",
                        strcmp(label, "NOT") == 0 ? ": " : "", msg ? msg : "");
        free(kind);
        free(tg);
        free(msg);
    }
}

int healctl_cmd_undo(const ctx *c, const char *heal_id, const char *to, int dry_run, int force)
{
    char path[256];
    if (heal_id) {
        snprintf(path, sizeof path, "/api/v1/heals/%s/undo", heal_id);
    } else {
        double t;
        char err[300];
        if (when_parse(to, (double)time(NULL), &t, err, sizeof err) < 0) {
            healctl_errmsg("--to: %s", err);
            return EX_USAGE;
        }
        snprintf(path, sizeof path, "/api/v1/restore?to=%.3f", t);
    }
    size_t k = strlen(path);
    snprintf(path + k, sizeof path - k, "%s%s", dry_run ? (strchr(path, '?') ? "&dry_run=1"
                                                                             : "?dry_run=1") : "",
             force ? (dry_run || strchr(path, '?') ? "&force=1" : "?force=1") : "");
    json_t *root;
    int rc = healctl_call(c, &(req_info){.method = "POST", .path = path,
                                         .what = heal_id ? "recorded change for heal" : NULL,
                                         .what_id = heal_id}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *items = json_object_get(root, "items");
    int dry = json_is_true(json_object_get(root, "dry_run"));
    if (heal_id)
        healctl_cprintf("undo of heal %s%s:\n", heal_id, dry ? " (dry run: nothing changed)" : "");
    else
        healctl_cprintf("restore to %s%s:\n", to, dry ? " (dry run: nothing changed)" : "");
    if (!json_array_size(items))
        healctl_cprintf("no change recorded since then\n");
    print_items(items);
    double u = 0, nu = 0;
    healctl_jnum(root, "undone", &u);
    healctl_jnum(root, "not_undone", &nu);
    healctl_cprintf("%.0f change(s) %s, %.0f could not be\n", u, dry ? "would be undone" : "undone",
                    nu);
    /* Refused or failed reversals make it a failure for scripts; a change that is simply not
     * undoable (a killed process) does not: nothing better could have been done. */
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *res = healctl_jstr(it, "result", "");
        if (strcmp(res, "refused") == 0 || strcmp(res, "failed") == 0)
            rc = EX_AGENT;
    }
    json_decref(root);
    return rc;
}
