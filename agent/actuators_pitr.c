/* actuators_pitr.c — point-in-time recovery: an operator's `undo HEAL_ID` or `restore --to TIME`
 * carried out from the change log (changelog.h), newest change first. Each reversal is one
 * actuator call (plugin "operator", the original heal id, audited, protection and dry-run as for
 * any change); what cannot be undone is said with its reason. */
#include "actuators_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "changelog.h"
#include "keep.h"
#include "pitr.h"
#include "procinfo.h"
#include "statedir.h"

/* One reversal at a time: two operators restoring at once would each see the other's changes
 * half made. */
static pthread_mutex_t pitr_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *str(json_t *r, const char *k)
{
    const char *s = json_string_value(json_object_get(r, k));
    return s ? s : "";
}

static long long num(json_t *r, const char *k) { return json_integer_value(json_object_get(r, k)); }

static void item(json_t *items, json_t *r, const char *result, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "change", json_integer(num(r, "id")));
    json_object_set_new(o, "heal_id", json_integer(num(r, "heal_id")));
    json_object_set_new(o, "time", json_real(json_number_value(json_object_get(r, "time"))));
    json_object_set_new(o, "plugin", jstr(str(r, "plugin")));
    json_object_set_new(o, "kind", jstr(str(r, "kind")));
    json_object_set_new(o, "target", jstr(str(r, "target")));
    json_object_set_new(o, "result", json_string(result));
    json_object_set_new(o, "message", jstr(msg));
    json_array_append_new(items, o);
}

/* The result of a reversal's actuator call. */
static const char *result_of_rc(int rc)
{
    if (rc == HEALER_OK)
        return "undone";
    if (rc == HEALER_DRY_RUN)
        return "would";
    if (rc == HEALER_E_PROTECTED || rc == HEALER_E_SCOPE)
        return "refused";
    if (rc == HEALER_E_GONE || rc == HEALER_E_NOTFOUND)
        return "gone";
    return "failed";
}

/* The same process as the change's? 1, else 0 with the result and message set. */
static int same_process(actuators *a, json_t *r, procinfo *pi, const char **res, char *m,
                        size_t ml)
{
    pid_t pid = (pid_t)num(r, "pid");
    uint64_t st = (uint64_t)num(r, "start_time");
    char why[256];
    if (procinfo_read(a->proc_root, pid, pi, why, sizeof why) != HEALER_OK ||
        pi->state == 'Z' || pi->state == 'X') {
        *res = "gone";
        setmsg(m, ml, "pid %d (%s) has exited since: nothing to give back", (int)pid,
               str(r, "name"));
        return 0;
    }
    if (pi->p.start_time != st) {
        *res = "refused";
        setmsg(m, ml, "pid %d (%s) has exited since; the pid now names %s (started at %llu, not "
               "%llu): not touched", (int)pid, str(r, "name"), pi->p.name,
               (unsigned long long)pi->p.start_time, (unsigned long long)st);
        return 0;
    }
    return 1;
}

/* A backup named in the change log, read through the state directory's descriptors (it must
 * be state_dir/backups/NAME, never followed through a link). NULL with why. */
static char *read_backup(actuators *a, const char *backup, size_t *n, char *why, size_t wl)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/backups/", a->state_dir);
    size_t dl = strlen(dir);
    if (strncmp(backup, dir, dl) != 0 || strchr(backup + dl, '/') || !backup[dl]) {
        setmsg(why, wl, "backup %s is not in %s", backup, dir);
        return NULL;
    }
    int sfd = statedir_open(a->state_dir, why, wl);
    int bfd = sfd < 0 ? -1 : statedir_subdir(sfd, a->state_dir, "backups", 0700, why, wl);
    if (sfd >= 0)
        close(sfd);
    if (bfd < 0)
        return NULL;
    char *s = slurp_at(bfd, backup + dl, (size_t)1 << 30, n);
    if (!s)
        setmsg(why, wl, "backup %s: %s", backup, strerror(errno));
    close(bfd);
    return s;
}

static const char *undo_write(actuators *a, act_context *c, json_t *r, int force, char *m,
                              size_t ml)
{
    const char *path = str(r, "path");
    char why[PATH_MAX + 200];
    size_t bn = 0;
    char *prior = read_backup(a, str(r, "backup"), &bn, why, sizeof why);
    if (!prior) {
        setmsg(m, ml, "%s: cannot be written back: %s", path, why);
        return "not_undoable";
    }
    if (strlen(prior) != bn) {
        free(prior);
        setmsg(m, ml, "%s: its backup holds a NUL byte; the write actuator takes text only: "
               "copy %s back by hand", path, str(r, "backup"));
        return "not_undoable";
    }
    /* The file must still hold what the heal wrote: anything else is someone's later edit,
     * which writing the backup back would destroy. */
    char dirp[PATH_MAX];
    snprintf(dirp, sizeof dirp, "%s", path);
    char *slash = strrchr(dirp, '/');
    const char *base = slash ? slash + 1 : dirp;
    if (slash)
        *slash = '\0';
    int dfd = open(slash && dirp[0] ? dirp : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    size_t cn = 0;
    char *cur = dfd < 0 ? NULL : slurp_at(dfd, base, (size_t)1 << 30, &cn);
    int gone = !cur && errno == ENOENT;
    if (dfd >= 0)
        close(dfd);
    char h[17];
    if (cur)
        changes_hash(cur, cn, h);
    free(cur);
    if (!force && (gone || !cur || strcmp(h, str(r, "written_hash")) != 0)) {
        free(prior);
        setmsg(m, ml, "%s %s since the heal wrote it (its content is no longer what the heal "
               "wrote): not written back; --force writes %s over it", path,
               gone ? "was deleted" : "changed", str(r, "backup"));
        return "refused";
    }
    const char *decl[1] = { path };
    c->declared_paths = decl;
    c->n_declared_paths = 1;
    int rc = act_write_file(a, c, path, prior, m, ml);
    c->declared_paths = NULL;
    c->n_declared_paths = 0;
    free(prior);
    return result_of_rc(rc);
}

/* Seconds an activation may take when an undo switches a system profile back (nixconfig's
 * switch_timeout default): the operator's request waits for it. */
#define PITR_ACTIVATE_TIMEOUT_S 600.0

/* A generation switch undone: the profile back to the generation in use before the heal, then
 * that generation activated (its bin/switch-to-configuration switch, as the heal did for the
 * generation it switched to). Both are actuator calls (audited; a rollback by the rules, so
 * flagged as one and counted by the governor). */
static const char *undo_switch(actuators *a, act_context *c, json_t *r, const pitr_req *rq,
                               char *m, size_t ml)
{
    const char *profile = str(r, "profile"), *prog = str(r, "program");
    int before = (int)num(r, "generation_before"), after = (int)num(r, "generation_after");
    int cur = changes_profile_gen(profile);
    if (cur == before) {
        setmsg(m, ml, "%s is at generation %d already: nothing to do", profile, before);
        return "nothing_to_do";
    }
    if (cur != after && !rq->force) {
        setmsg(m, ml, "%s is at generation %d now, not the %d the heal switched to: switched "
               "since; not switched back (--force switches it to %d)", profile, cur, after,
               before);
        return "refused";
    }
    char link[PATH_MAX], sw[PATH_MAX + 40];
    snprintf(link, sizeof link, "%s-%d-link", profile, before);
    struct stat st;
    if (lstat(link, &st) != 0 || stat(link, &st) != 0) {
        setmsg(m, ml, "generation %d of %s is gone (%s %s: deleted since, e.g. by nix-env "
               "--delete-generations or nix-collect-garbage -d): there is nothing to switch back "
               "to; %s stays at generation %d", before, profile, link,
               lstat(link, &st) != 0 ? "no longer exists" : "points to a store path that was "
               "garbage-collected", profile, cur);
        return "gone";
    }
    char why[256];
    if (rq->rollback_ok && !rq->dry_run && !is_dry_config(a) &&
        !rq->rollback_ok(rq->gov_ud, why, sizeof why)) {
        if (!rq->force) {
            setmsg(m, ml, "switching %s back to generation %d is a rollback: %s (--force switches "
                   "it back all the same)", profile, before, why);
            return "refused";
        }
    }
    char gen_s[16];
    snprintf(gen_s, sizeof gen_s, "%d", before);
    const char *argv1[] = { prog[0] ? prog : "nix-env", "-p", profile, "--switch-generation",
                            gen_s, NULL };
    c->action_flags |= HEALER_ACTION_ROLLBACK;
    char out[1024], m1[HEALER_MSG_MAX];
    int status = -1;
    int rc = act_run(a, c, argv1, 120, out, sizeof out, &status, m1, sizeof m1);
    if (rc != HEALER_OK && rc != HEALER_DRY_RUN) {
        setmsg(m, ml, "switching %s back to generation %d failed: %s", profile, before, m1);
        return result_of_rc(rc);
    }
    if (rc == HEALER_OK && rq->rollback_done)
        rq->rollback_done(rq->gov_ud, profile);
    snprintf(sw, sizeof sw, "%s/bin/switch-to-configuration", link);
    if (access(sw, X_OK) != 0) {
        setmsg(m, ml, "%s %s from generation %d back to %d (%s has no bin/switch-to-configuration: "
               "nothing to activate)", profile, rc == HEALER_DRY_RUN ? "would be switched" :
               "switched", after, before, link);
        return result_of_rc(rc);
    }
    const char *argv2[] = { sw, "switch", NULL };
    int dry = rc == HEALER_DRY_RUN;
    /* The activation is part of the same reversal (never undone itself; the change keeps the
     * switch back as its undone_by, the first mark). */
    c->action_flags &= ~(uint32_t)HEALER_ACTION_ROLLBACK;
    char m2[HEALER_MSG_MAX];
    status = -1;
    int rc2 = act_run(a, c, argv2, PITR_ACTIVATE_TIMEOUT_S, out, sizeof out, &status, m2,
                      sizeof m2);
    if (dry || rc2 == HEALER_DRY_RUN) {
        setmsg(m, ml, "would switch %s from generation %d back to %d and run %s switch", profile,
               after, before, sw);
        return "would";
    }
    if (rc2 != HEALER_OK) {
        setmsg(m, ml, "%s switched from generation %d back to %d, but its activation failed: "
               "%s", profile, after, before, m2);
        return "failed";
    }
    setmsg(m, ml, "%s switched from generation %d back to %d; switch-to-configuration switch "
           "exited 0", profile, after, before);
    return "undone";
}

static const char *undo_one(actuators *a, json_t *r, const pitr_req *rq, char *m, size_t ml)
{
    act_context c = { .plugin = "operator", .heal_id = (uint64_t)num(r, "heal_id"),
                      .issue_id = (uint64_t)num(r, "issue_id"),
                      .action = rq->heal_id ? "undo" : "restore",
                      .allow_system = json_is_true(json_object_get(r, "allow_system")),
                      .dry_run = rq->dry_run, .reverses = (uint64_t)num(r, "id") };
    const char *kind = str(r, "kind"), *res = NULL;
    procinfo pi;
    if (strcmp(kind, "stop") == 0) {
        if (!same_process(a, r, &pi, &res, m, ml))
            return res;
        if (pi.state != 'T' && pi.state != 't') {
            setmsg(m, ml, "pid %d (%s) is running already (continued since): nothing to do",
                   (int)pi.p.pid, pi.p.name);
            return "nothing_to_do";
        }
        return result_of_rc(act_signal(a, &c, pi.p.pid, pi.p.start_time, SIGCONT, 0, m, ml));
    }
    if (strcmp(kind, "renice") == 0) {
        if (!same_process(a, r, &pi, &res, m, ml))
            return res;
        int before = (int)num(r, "nice_before"), after = (int)num(r, "nice_after");
        if (pi.p.nice == before) {
            setmsg(m, ml, "pid %d (%s) is at nice %d already: nothing to do", (int)pi.p.pid,
                   pi.p.name, before);
            return "nothing_to_do";
        }
        if (pi.p.nice != after && !rq->force) {
            setmsg(m, ml, "pid %d (%s) is at nice %d, not the %d the heal set: changed since; "
                   "not reniced (--force renices it to %d)", (int)pi.p.pid, pi.p.name,
                   pi.p.nice, after, before);
            return "refused";
        }
        return result_of_rc(act_renice(a, &c, pi.p.pid, pi.p.start_time, before, m, ml));
    }
    if (strcmp(kind, "write") == 0)
        return undo_write(a, &c, r, rq->force, m, ml);
    if (strcmp(kind, "remove") == 0) {
        int rc = act_restore_deleted(a, &c, str(r, "manifest"), m, ml);
        const char *partly = str(r, "partly");
        if (*partly && strlen(m) + strlen(partly) + 3 < ml)
            snprintf(m + strlen(m), ml - strlen(m), "; %s", partly);
        return result_of_rc(rc);
    }
    if (strcmp(kind, "freeze") == 0)
        return result_of_rc(act_freeze_cgroup(a, &c, str(r, "cgroup"), 0, m, ml));
    if (strcmp(kind, "switch_generation") == 0)
        return undo_switch(a, &c, r, rq, m, ml);
    setmsg(m, ml, "a %s change: healerd keeps nothing that undoes it", kind);
    return "not_undoable";
}

/* Does r's heal hold a generation switch that can be undone (its activation goes with it)? */
static int switch_in_heal(json_t *recs, json_t *r)
{
    for (size_t i = 0; i < json_array_size(recs); i++) {
        json_t *o = json_array_get(recs, i);
        if (num(o, "heal_id") == num(r, "heal_id") &&
            strcmp(str(o, "kind"), "switch_generation") == 0 &&
            json_is_true(json_object_get(o, "undoable")) && !json_object_get(o, "reverses"))
            return 1;
    }
    return 0;
}

int act_pitr(actuators *a, changelog *l, const pitr_req *rq, json_t **out)
{
    *out = NULL;
    if (!a || !l)
        return HEALER_E_INVAL;
    pthread_mutex_lock(&pitr_mu);
    json_t *recs = changelog_select(l, rq->heal_id, rq->since);
    json_t *items = json_array();
    size_t undone = 0, not_undone = 0, n = json_array_size(recs);
    for (size_t i = n; i-- > 0;) {      /* newest first: the reverse of the order they were made */
        json_t *r = json_array_get(recs, i);
        if (json_object_get(r, "reverses"))
            continue;   /* an earlier undo's own step: never undone by undo or restore */
        char m[HEALER_MSG_MAX * 2];
        const char *res;
        if (json_object_get(r, "undone_by")) {
            res = "already_undone";
            setmsg(m, sizeof m, "undone before (by change %lld)", num(r, "undone_by"));
        } else if (strcmp(str(r, "kind"), "activate") == 0 && switch_in_heal(recs, r)) {
            res = "nothing_to_do";
            setmsg(m, sizeof m, "the activation %s: undoing the generation switch of the same "
                   "heal activates the generation before again", str(r, "activation"));
        } else if (!json_is_true(json_object_get(r, "undoable"))) {
            res = "not_undoable";
            setmsg(m, sizeof m, "%s", str(r, "why"));
        } else {
            m[0] = '\0';
            res = undo_one(a, r, rq, m, sizeof m);
        }
        if (strcmp(res, "undone") == 0 || strcmp(res, "would") == 0)
            undone++;
        else if (strcmp(res, "nothing_to_do") != 0 && strcmp(res, "already_undone") != 0)
            not_undone++;
        item(items, r, res, m);
    }
    json_decref(recs);
    pthread_mutex_unlock(&pitr_mu);
    json_t *o = json_object();
    if (rq->heal_id)
        json_object_set_new(o, "heal_id", json_integer((json_int_t)rq->heal_id));
    else
        json_object_set_new(o, "to", json_real(rq->since));
    json_object_set_new(o, "dry_run", json_boolean(rq->dry_run || is_dry_config(a)));
    json_object_set_new(o, "force", json_boolean(rq->force));
    json_object_set_new(o, "undone", json_integer((json_int_t)undone));
    json_object_set_new(o, "not_undone", json_integer((json_int_t)not_undone));
    json_object_set_new(o, "items", items);
    *out = o;
    return rq->heal_id && json_array_size(items) == 0 ? HEALER_E_NOTFOUND : HEALER_OK;
}
