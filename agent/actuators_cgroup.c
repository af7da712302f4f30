/* actuators_cgroup.c — act_freeze_cgroup: freeze (after checking every process in the tree) or
 * thaw a v1 freezer or cgroup2 cgroup below sys_root/fs/cgroup. */
#include "actuators_int.h"
#include "dryrun.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procinfo.h"

/* ---------------------------------------------------------------------------------------
 * Cgroups */

/* Checks every process in the cgroup and all cgroups below it (freezing reaches them
 * all). HEALER_OK, or the refusal with the process named in m. */
static int check_cgroup_tree(actuators *a, int dfd, const char *rel, int allow_system,
                             int depth, size_t *nprocs, char *m, size_t ml)
{
    size_t n;
    char *procs = slurp_at(dfd, "cgroup.procs", (size_t)64 << 20, &n);
    if (!procs) {
        setmsg(m, ml, "cgroup %s: cannot read cgroup.procs: %s", rel, strerror(errno));
        return HEALER_E_IO;
    }
    char *save = NULL;
    for (char *l = strtok_r(procs, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *end;
        long pid = strtol(l, &end, 10);
        if (*end || pid <= 0 || pid > INT_MAX)
            continue;
        procinfo pi;
        char pm[256];
        int rc = procinfo_read(a->proc_root, (pid_t)pid, &pi, pm, sizeof pm);
        if (rc == HEALER_E_GONE)
            continue;
        if (rc == HEALER_OK)
            rc = check_allowed(a, &pi.p, allow_system, 0, NULL, pm, sizeof pm);
        if (rc != HEALER_OK) {
            setmsg(m, ml, "cgroup %s holds %s", rel, pm);
            free(procs);
            return rc;
        }
        (*nprocs)++;
    }
    free(procs);
    if (depth >= 32)
        return HEALER_OK;
    int dup_fd = dup(dfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        setmsg(m, ml, "cgroup %s: cannot list: %s", rel, strerror(errno));
        return HEALER_E_IO;
    }
    int rc = HEALER_OK;
    struct dirent *de;
    while (rc == HEALER_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        char srel[PATH_MAX];
        snprintf(srel, sizeof srel, "%s/%s", rel, de->d_name);
        rc = check_cgroup_tree(a, sub, srel, allow_system, depth + 1, nprocs, m, ml);
        close(sub);
    }
    closedir(d);
    return rc;
}

static void first_line(char *s)
{
    s[strcspn(s, "\n")] = '\0';
}

/* 1 when the cgroup reached the wanted state. */
static int cgroup_state_is(int dfd, int v2, int freeze)
{
    size_t n;
    char *s = slurp_at(dfd, v2 ? "cgroup.events" : "freezer.state", 65536, &n);
    if (!s)
        return 0;
    int ok = 0;
    if (v2) {
        const char *want = freeze ? "frozen 1" : "frozen 0";
        char *save = NULL;
        for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
            if (strcmp(l, want) == 0)
                ok = 1;
    } else {
        first_line(s);
        ok = strcmp(s, freeze ? "FROZEN" : "THAWED") == 0;
    }
    free(s);
    return ok;
}

int act_freeze_cgroup(actuators *a, const act_context *c, const char *cgroup_dir, int freeze,
                      char *msg, size_t len)
{
    if (!a) {
        setmsg(msg, len, "freeze_cgroup: no actuators");
        return HEALER_E_INVAL;
    }
    if (!c)
        c = &no_context;
    const char *verb = freeze ? "freeze" : "thaw";
    char m[HEALER_MSG_MAX * 2];
    json_t *params = json_object();
    json_object_set_new(params, "cgroup_dir", jstr(cgroup_dir));
    json_object_set_new(params, "freeze", json_boolean(freeze));
    if (!cgroup_dir || cgroup_dir[0] != '/') {
        setmsg(m, sizeof m, "freeze_cgroup: cgroup_dir must be an absolute path ('%s')",
               cgroup_dir ? cgroup_dir : "(null)");
        return finish(a, c, "freeze_cgroup", cgroup_dir, params, HEALER_E_INVAL, m, msg, len);
    }
    int dfd = -1, rc;
    char real[PATH_MAX], croot[PATH_MAX], tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/fs/cgroup", a->sys_root);
    if (real_of(tmp, croot, sizeof croot) < 0) {
        setmsg(m, sizeof m, "freeze_cgroup: %s: %s", tmp, strerror(errno));
        return finish(a, c, "freeze_cgroup", cgroup_dir, params, HEALER_E_NOTFOUND, m, msg, len);
    }
    if (open_dir_real(cgroup_dir, &dfd, real, sizeof real) < 0) {
        int e = errno;
        setmsg(m, sizeof m, "freeze_cgroup %s: %s", cgroup_dir, strerror(e));
        return finish(a, c, "freeze_cgroup", cgroup_dir, params,
                      e == ENOENT ? HEALER_E_NOTFOUND : HEALER_E_IO, m, msg, len);
    }
    if (!is_under(real, croot) || strcmp(real, croot) == 0) {
        setmsg(m, sizeof m, "freeze_cgroup %s: real path %s is not a cgroup below %s",
               cgroup_dir, real, croot);
        rc = HEALER_E_SCOPE;
        goto out;
    }
    int v2 = faccessat(dfd, "cgroup.freeze", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
    if (!v2 && faccessat(dfd, "freezer.state", F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
        setmsg(m, sizeof m, "freeze_cgroup %s: neither cgroup.freeze (v2) nor freezer.state "
               "(v1 freezer) here", real);
        rc = HEALER_E_NOTFOUND;
        goto out;
    }
    const char *file = v2 ? "cgroup.freeze" : "freezer.state";
    json_object_set_new(params, "file", jstr(file));
    size_t nprocs = 0;
    /* Thawing only gives back what freezing took; it is never refused for what the cgroup
     * holds, so a frozen protected process can always be released. */
    if (freeze) {
        rc = check_cgroup_tree(a, dfd, real, c->allow_system, 0, &nprocs, m, sizeof m);
        if (rc != HEALER_OK)
            goto out;
    }
    char *oldv = slurp_at(dfd, file, 4096, NULL);
    char was[32];
    snprintf(was, sizeof was, "%s", oldv ? oldv : "?");
    free(oldv);
    first_line(was);
    json_object_set_new(params, "was", jstr(was));
    json_object_set_new(params, "processes", json_integer((json_int_t)nprocs));
    if (freeze ? is_dry(a, c) : is_dry_release(a, c)) {
        healer_dry_freeze(m, sizeof m, real, freeze, file, was, nprocs);
        rc = HEALER_DRY_RUN;
        goto out;
    }
    /* Journaled before the write: a cgroup the agent froze must thaw even if the agent dies
     * now. One frozen already was someone else's doing. */
    undo_tok ut = { 0, 0 };
    if (freeze && strcmp(was, v2 ? "1" : "FROZEN") != 0) {
        undo_entry ue = { .kind = UNDO_FREEZE, .path = real };
        undo_before(a, c, &ue, &ut, params);
    }
    const char *val = v2 ? (freeze ? "1" : "0") : (freeze ? "FROZEN" : "THAWED");
    int fd = openat(dfd, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t wr = fd < 0 ? -1 : write(fd, val, strlen(val));
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (wr != (ssize_t)strlen(val)) {
        undo_failed(a, &ut);
        setmsg(m, sizeof m, "%s cgroup %s: writing '%s' to %s: %s", verb, real, val, file,
               wr < 0 ? strerror(e) : "short write");
        rc = HEALER_E_IO;
        goto out;
    }
    /* Freezing completes asynchronously (FREEZING, then FROZEN); wait briefly so the
     * message says where it got to. */
    int reached = 0;
    for (int i = 0; i < 200 && !(reached = cgroup_state_is(dfd, v2, freeze)); i++)
        sleep_ms(10);
    setmsg(m, sizeof m, "%s cgroup %s (%s was %s)%s", freeze ? "froze" : "thawed", real, file,
           was, reached ? "" : freeze ? "; not fully frozen after 2 s" : "; not thawed after 2 s");
    json_object_set_new(params, "reached", json_boolean(reached));
    if (!freeze) {
        undo_entry inv = { .kind = UNDO_FREEZE, .path = real };
        undo_inverse(a, &inv);
    }
    rc = HEALER_OK;
out:
    if (dfd >= 0)
        close(dfd);
    return finish(a, c, "freeze_cgroup", cgroup_dir, params, rc, m, msg, len);
}
