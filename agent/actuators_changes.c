/* actuators_changes.c — what each actuator call that changed something leaves in the change log
 * (changelog.h): its kind, what undoes it (prior nice, backup and the written content's hash,
 * SIGCONT, thaw) or why nothing can (an ended process, a command, a deletion without a copy).
 * Built from the call's audit params, so the log and audit.jsonl say the same. */
#include "actuators_int.h"

#include <ctype.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "changelog.h"

void changes_hash(const char *s, size_t n, char out[17])
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

int changes_profile_gen(const char *profile)
{
    char tgt[PATH_MAX];
    ssize_t l = profile ? readlink(profile, tgt, sizeof tgt - 1) : -1;
    if (l <= 0)
        return -1;
    tgt[l] = '\0';
    const char *name = strrchr(tgt, '/');
    name = name ? name + 1 : tgt;
    const char *base = strrchr(profile, '/');
    base = base ? base + 1 : profile;
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) != 0 || name[bl] != '-' || !isdigit((unsigned char)name[bl + 1]))
        return -1;
    char *end;
    long g = strtol(name + bl + 1, &end, 10);
    return strcmp(end, "-link") == 0 && g > 0 && g < 1000000000 ? (int)g : -1;
}

/* The profile a nix-env command switches (-p/--profile) when it is a generation switch
 * (--switch-generation, -G, --rollback); NULL otherwise or when it names no profile (nix-env's
 * default profile is the caller's: not a system generation healerd can name). */
static const char *nixenv_switch_profile(const char *const argv[])
{
    if (!argv || !argv[0])
        return NULL;
    const char *prog = strrchr(argv[0], '/');
    prog = prog ? prog + 1 : argv[0];
    if (strcmp(prog, "nix-env") != 0)
        return NULL;
    const char *profile = NULL;
    int sw = 0;
    for (size_t i = 1; argv[i]; i++) {
        if ((strcmp(argv[i], "-p") == 0 || strcmp(argv[i], "--profile") == 0) && argv[i + 1])
            profile = argv[++i];
        else if (strcmp(argv[i], "--switch-generation") == 0 || strcmp(argv[i], "-G") == 0 ||
                 strcmp(argv[i], "--rollback") == 0)
            sw = 1;
    }
    return sw ? profile : NULL;
}

void changes_run_before(const char *const argv[], json_t *params)
{
    const char *profile = nixenv_switch_profile(argv);
    if (!profile)
        return;
    json_object_set_new(params, "profile", jstr(profile));
    int g = changes_profile_gen(profile);
    if (g > 0)
        json_object_set_new(params, "generation_before", json_integer(g));
}

void changes_run_after(json_t *params)
{
    const char *profile = json_string_value(json_object_get(params, "profile"));
    if (!profile || !json_object_get(params, "generation_before"))
        return;
    int g = changes_profile_gen(profile);
    if (g > 0)
        json_object_set_new(params, "generation_after", json_integer(g));
}

static void not_undoable(json_t *r, const char *kind, const char *why)
{
    json_object_set_new(r, "kind", json_string(kind));
    json_object_set_new(r, "undoable", json_false());
    json_object_set_new(r, "why", jstr(why));
}

static void copy(json_t *r, json_t *params, const char *from, const char *to)
{
    json_t *v = json_object_get(params, from);
    if (v)
        json_object_set(r, to, v);
}

static void from_signal(json_t *r, json_t *params)
{
    int sig = (int)json_integer_value(json_object_get(params, "signal"));
    const char *sn = json_string_value(json_object_get(params, "signal_name"));
    const char *name = json_string_value(json_object_get(params, "name"));
    long long pid = json_integer_value(json_object_get(params, "pid"));
    copy(r, params, "pid", "pid");
    copy(r, params, "start_time", "start_time");
    copy(r, params, "name", "name");
    copy(r, params, "signal_name", "signal");
    char why[256];
    if (sig == SIGSTOP) {
        if (json_is_true(json_object_get(params, "was_stopped"))) {
            snprintf(why, sizeof why, "pid %lld (%s) was already stopped before this SIGSTOP: "
                     "continuing it is whoever stopped it's business", pid, name ? name : "?");
            not_undoable(r, "stop", why);
            return;
        }
        json_object_set_new(r, "kind", json_string("stop"));
        json_object_set_new(r, "undoable", json_true());
        return;
    }
    if (sig == SIGCONT) {
        not_undoable(r, "continue", "a release (SIGCONT): it gave something back; nothing to undo");
        return;
    }
    if (sig == SIGTERM || sig == SIGKILL || sig == SIGINT || sig == SIGQUIT || sig == SIGABRT ||
        json_is_true(json_object_get(params, "killed"))) {
        snprintf(why, sizeof why, "pid %lld (%s) was sent %s to end it: a process that was ended "
                 "cannot be brought back (its service manager may restart it)", pid,
                 name ? name : "?", sn ? sn : "a signal");
        not_undoable(r, "kill", why);
        return;
    }
    snprintf(why, sizeof why, "%s was delivered to pid %lld (%s): a signal cannot be taken back",
             sn ? sn : "a signal", pid, name ? name : "?");
    not_undoable(r, "signal", why);
}

static void from_write(json_t *r, json_t *params)
{
    const char *real = json_string_value(json_object_get(params, "real_path"));
    const char *value = json_string_value(json_object_get(params, "value"));
    json_object_set_new(r, "path", jstr(real ? real : ""));
    if (value) {
        char h[17];
        changes_hash(value, strlen(value), h);
        json_object_set_new(r, "written_hash", json_string(h));
    }
    copy(r, params, "backup", "backup");
    json_t *old = json_object_get(params, "old_value");
    if (json_is_string(old))
        json_object_set(r, "prior", old);
    char why[PATH_MAX + 200];
    if (json_is_true(json_object_get(params, "created"))) {
        snprintf(why, sizeof why, "the heal created %s (there was no file before): healerd does "
                 "not delete it; remove it by hand if it should go", real ? real : "?");
        not_undoable(r, "create", why);
    } else if (!json_object_get(params, "backup")) {
        snprintf(why, sizeof why, "the content of %s before the write could not be read: there "
                 "is nothing to write back", real ? real : "?");
        not_undoable(r, "write", why);
    } else {
        json_object_set_new(r, "kind", json_string("write"));
        json_object_set_new(r, "undoable", json_true());
    }
}

static void from_freeze(json_t *r, json_t *params, const char *target)
{
    int freeze = json_is_true(json_object_get(params, "freeze"));
    const char *was = json_string_value(json_object_get(params, "was"));
    json_object_set_new(r, "cgroup", jstr(target ? target : ""));
    if (!freeze) {
        not_undoable(r, "thaw", "a release (thaw): it gave something back; nothing to undo");
    } else if (was && (strncmp(was, "FROZEN", 6) == 0 || strcmp(was, "1") == 0)) {
        not_undoable(r, "freeze", "the cgroup was already frozen before: thawing it is whoever "
                     "froze it's business");
    } else {
        json_object_set_new(r, "kind", json_string("freeze"));
        json_object_set_new(r, "undoable", json_true());
    }
}

static void from_remove(json_t *r, json_t *params)
{
    copy(r, params, "dir", "dir");
    copy(r, params, "count", "count");
    copy(r, params, "kept", "kept");
    json_t *mf = json_object_get(params, "deletion_backup");
    long long cnt = json_integer_value(json_object_get(params, "count"));
    if (cnt == 0) {
        not_undoable(r, "remove", "no file was removed");
    } else if (json_is_string(mf)) {
        json_object_set(r, "manifest", mf);
        json_object_set_new(r, "kind", json_string("remove"));
        json_object_set_new(r, "undoable", json_true());
        long long nk = json_integer_value(json_object_get(params, "not_kept"));
        if (nk > 0) {
            char why[160];
            snprintf(why, sizeof why, "%lld of the removed files did not fit in "
                     "agent.backup_deletions_max_mb: those cannot be brought back", nk);
            json_object_set_new(r, "partly", json_string(why));
        }
    } else {
        not_undoable(r, "remove", "files were removed without a copy (agent."
                     "backup_deletions_max_mb is 0, or they did not fit in it): they cannot be "
                     "brought back");
    }
}

/* A generation switch is undone by switching back to the generation in use before it (read
 * from the profile link before the command ran); an activation belongs to the switch before it
 * (undoing that switch activates the generation before again). Any other command: unknown. */
static void from_run(json_t *r, json_t *params)
{
    json_t *argv = json_object_get(params, "argv");
    const char *prog = json_string_value(json_array_get(argv, 0));
    const char *profile = json_string_value(json_object_get(params, "profile"));
    json_t *before = json_object_get(params, "generation_before");
    json_t *after = json_object_get(params, "generation_after");
    char why[PATH_MAX + 200];
    if (profile && json_is_integer(before) && json_is_integer(after)) {
        json_object_set_new(r, "profile", jstr(profile));
        json_object_set_new(r, "target", jstr(profile));
        json_object_set_new(r, "program", jstr(prog ? prog : "nix-env"));
        json_object_set(r, "generation_before", before);
        json_object_set(r, "generation_after", after);
        if (json_integer_value(before) == json_integer_value(after)) {
            not_undoable(r, "switch_generation", "the profile stayed at the same generation");
        } else {
            json_object_set_new(r, "kind", json_string("switch_generation"));
            json_object_set_new(r, "undoable", json_true());
        }
        return;
    }
    if (profile) {
        snprintf(why, sizeof why, "a generation switch of %s whose generation before or after "
                 "could not be read (%s-N-link): nothing to switch back to", profile, profile);
        not_undoable(r, "switch_generation", why);
        return;
    }
    size_t pl = prog ? strlen(prog) : 0;
    const char *tail = "/bin/switch-to-configuration";
    if (pl > strlen(tail) && strcmp(prog + pl - strlen(tail), tail) == 0) {
        json_object_set_new(r, "activation", json_string(prog));
        not_undoable(r, "activate", "an activation: it is undone by switching back to the "
                     "generation before (the generation switch of the same heal), which "
                     "activates that generation again");
        return;
    }
    not_undoable(r, "run", "a command ran: what it changed is not known to healerd");
}

void changes_note(actuators *a, const act_context *c, const char *actuator, const char *target,
                  json_t *params, int rc)
{
    /* Only what was done: a refusal, a failure, a dry run or a preview changed nothing. */
    if (!a->changes || rc != HEALER_OK || c->preview || c->dry_run || !actuator ||
        strcmp(actuator, "probe") == 0)
        return;
    json_t *r = json_object();
    if (!r)
        return;
    json_object_set_new(r, "heal_id", json_integer((json_int_t)c->heal_id));
    json_object_set_new(r, "issue_id", json_integer((json_int_t)c->issue_id));
    json_object_set_new(r, "plugin", jstr(c->plugin ? c->plugin : "agent"));
    json_object_set_new(r, "action", jstr(c->action ? c->action : actuator));
    json_object_set_new(r, "actuator", json_string(actuator));
    json_object_set_new(r, "target", jstr(target ? target : ""));
    json_object_set_new(r, "allow_system", json_boolean(c->allow_system));
    if (strcmp(actuator, "signal") == 0) {
        from_signal(r, params);
    } else if (strcmp(actuator, "renice") == 0) {
        json_int_t before = json_integer_value(json_object_get(params, "old_nice"));
        json_int_t after = json_integer_value(json_object_get(params, "nice"));
        copy(r, params, "pid", "pid");
        copy(r, params, "start_time", "start_time");
        copy(r, params, "name", "name");
        json_object_set_new(r, "nice_before", json_integer(before));
        json_object_set_new(r, "nice_after", json_integer(after));
        if (before == after)
            not_undoable(r, "renice", "the nice value did not change");
        else {
            json_object_set_new(r, "kind", json_string("renice"));
            json_object_set_new(r, "undoable", json_true());
        }
    } else if (strcmp(actuator, "write_file") == 0) {
        from_write(r, params);
    } else if (strcmp(actuator, "freeze_cgroup") == 0) {
        from_freeze(r, params, target);
    } else if (strcmp(actuator, "remove_old_files") == 0) {
        from_remove(r, params);
    } else if (strcmp(actuator, "run") == 0) {
        from_run(r, params);
    } else {
        not_undoable(r, actuator, "healerd keeps nothing that undoes this kind of change");
    }
    if (c->reverses) {
        /* A reversal is history too, but never undone by undo/restore themselves: undoing an
         * undo would walk away from the point in time the operator asked for. */
        char why[96];
        snprintf(why, sizeof why, "an operator's reversal of change %llu",
                 (unsigned long long)c->reverses);
        json_object_set_new(r, "reverses", json_integer((json_int_t)c->reverses));
        json_object_set_new(r, "undoable", json_false());
        json_object_set_new(r, "why", json_string(why));
    }
    uint64_t id = changelog_add(a->changes, r);
    json_decref(r);
    if (!id)
        return;
    json_object_set_new(params, "change", json_integer((json_int_t)id));
    if (c->reverses)
        changelog_mark_undone(a->changes, c->reverses, id);
}
