/* actuators_clean.c — act_remove_old_files: old files (by the newest of atime, mtime and ctime)
 * under a declared path opened through trusted directories only, never through a symlink, never
 * onto another mount, never a login record, never a file some process holds open. */
#include "actuators_int.h"
#include "preview.h"
#include "clean_walk.h"
#include "clock.h"
#include "dryrun.h"
#include "keep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * Removing old files: what goes is enumerated by clean_walk.c, the same code the disk plugin's
 * preview runs. */

typedef struct devino {
    dev_t dev;
    ino_t ino;
} devino;

static int cmp_devino(const void *x, const void *y)
{
    const devino *a = x, *b = y;
    if (a->dev != b->dev)
        return a->dev < b->dev ? -1 : 1;
    if (a->ino != b->ino)
        return a->ino < b->ino ? -1 : 1;
    return 0;
}

typedef struct devset {
    devino *v;
    size_t n, cap;
} devset;

static void devset_add(void *ud, dev_t dev, ino_t ino)
{
    devset *s = ud;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        devino *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = (devino){ dev, ino };
}

/* Every regular file on dev some process holds open (proc_root/[pid]/fd) or maps
 * (proc_root/[pid]/maps): removing either frees nothing until the process lets go. Cost: one
 * fstatat per open fd and one read of maps per process (a busy host with 50k fds: tens of ms),
 * paid once per call and only when there is a candidate. */
static devino *open_files(const char *proc_root, dev_t dev, size_t *n_out)
{
    devset set = { 0 };
    DIR *d = opendir(proc_root);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] < '0' || de->d_name[0] > '9')
                continue;
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s/maps", proc_root, de->d_name);
            cw_maps_scan(path, dev, devset_add, &set);
            snprintf(path, sizeof path, "%s/%s/fd", proc_root, de->d_name);
            int fdd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fdd < 0)
                continue;
            DIR *fds = fdopendir(fdd);
            if (!fds) {
                close(fdd);
                continue;
            }
            struct dirent *fe;
            while ((fe = readdir(fds))) {
                if (fe->d_name[0] == '.')
                    continue;
                struct stat st;
                if (fstatat(fdd, fe->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode) ||
                    st.st_dev != dev)
                    continue;
                devset_add(&set, st.st_dev, st.st_ino);
            }
            closedir(fds);
        }
        closedir(d);
    }
    devino *v = set.v;
    size_t n = set.n;
    if (!v)
        v = malloc(sizeof *v);
    qsort(v, n, sizeof *v, cmp_devino);
    *n_out = n;
    return v;
}

int act_remove_old_files(actuators *a, const act_context *c, const char *dir,
                         double older_than_days, const healer_remove_opts *opts,
                         uint64_t *freed, uint64_t *count, char *msg, size_t len)
{
    if (freed)
        *freed = 0;
    if (count)
        *count = 0;
    if (!a) {
        setmsg(msg, len, "remove_old_files: no actuators");
        return HEALER_E_INVAL;
    }
    if (!c)
        c = &no_context;
    healer_remove_opts o = { 0 };
    if (opts)
        o = *opts;
    char m[HEALER_MSG_MAX * 2];
    json_t *params = json_object();
    json_object_set_new(params, "dir", jstr(dir));
    json_object_set_new(params, "older_than_days",
                        json_real(isfinite(older_than_days) ? older_than_days : -1));
    json_object_set_new(params, "pattern", jstr(o.pattern));
    json_object_set_new(params, "recursive", json_boolean(o.recursive));
    json_object_set_new(params, "rotated_first", json_boolean(o.rotated_first));
    json_object_set_new(params, "stop_after_bytes", json_integer((json_int_t)o.stop_after_bytes));
    if (!dir || dir[0] != '/' || !isfinite(older_than_days) || older_than_days < 0 ||
        older_than_days > 100000) {
        setmsg(m, sizeof m, "remove_old_files: need an absolute dir and older_than_days >= 0 "
               "(dir '%s', days %g)", dir ? dir : "(null)", older_than_days);
        return finish(a, c, "remove_old_files", dir, params, HEALER_E_INVAL, m, msg, len);
    }
    char real[PATH_MAX], why[512];
    if (cw_normalize(dir, real, sizeof real) != 0) {
        setmsg(m, sizeof m, "remove_old_files: \"%s\" has a \"..\" component or is too long",
               dir);
        return finish(a, c, "remove_old_files", dir, params, HEALER_E_INVAL, m, msg, len);
    }
    /* The scope check is lexical: the directory is opened below without any symlink, so the
     * path as written is its real path. */
    int declared = 0;
    for (size_t i = 0; i < c->n_declared_paths && !declared; i++) {
        const char *dp = c->declared_paths ? c->declared_paths[i] : NULL;
        char root[PATH_MAX];
        if (dp && cw_normalize(dp, root, sizeof root) == 0 && is_under(real, root))
            declared = 1;
    }
    if (!declared) {
        setmsg(m, sizeof m, "remove_old_files %s: not at or under a declared path", real);
        return finish(a, c, "remove_old_files", dir, params, HEALER_E_SCOPE, m, msg, len);
    }
    int rootfd;
    if (cw_open_trusted_dir(real, geteuid(), &rootfd, why, sizeof why) != 0) {
        int e = errno;
        setmsg(m, sizeof m, "remove_old_files %s: refused: %s", real, why);
        return finish(a, c, "remove_old_files", dir, params,
                      e == ENOENT ? HEALER_E_NOTFOUND : e == ELOOP || e == EPERM
                          ? HEALER_E_SCOPE : HEALER_E_IO, m, msg, len);
    }
    cw_walk w = { 0 };
    w.cutoff = (time_t)clock_now() - (time_t)(older_than_days * 86400.0);
    w.pattern = o.pattern;
    w.recursive = o.recursive;
    cw_walk_dir(&w, rootfd);

    size_t n_open = 0;
    devino *open_set = w.n ? open_files(a->proc_root, w.root_dev, &n_open) : NULL;
    cw_sort(&w, o.rotated_first);

    struct statvfs sv0, sv1;
    int have_sv = fstatvfs(rootfd, &sv0) == 0;
    int dry = is_dry(a, c);
    /* agent.backup_deletions_max_mb: a copy of each file before it goes, for an undo */
    char kwhy[PATH_MAX + 200];
    keep_set *keep = dry || !w.n ? NULL : keep_begin(a, c, real, kwhy, sizeof kwhy);
    if (!keep && kwhy[0] && !dry && w.n)
        json_object_set_new(params, "deletion_backup_error", jstr(kwhy));
    json_t *files = json_array();
    uint64_t fr = 0, cnt = 0;
    size_t held = 0, failed = 0, listed = 0, linked = 0;
    int first_err = 0;
    char list[400];
    list[0] = '\0';
    for (size_t i = 0; i < w.n; i++) {
        cw_file *cd = &w.v[i];
        if (o.stop_after_bytes && fr >= o.stop_after_bytes)
            break;
        devino key = { cd->dev, cd->ino };
        if (open_set && bsearch(&key, open_set, n_open, sizeof key, cmp_devino)) {
            held++;
            continue;
        }
        /* Hard links elsewhere keep the blocks: the link goes, but only the last link frees. */
        nlink_t nlink = cd->nlink;
        if (!dry) {
            char buf[CW_REL_MAX];
            const char *name;
            errno = 0;
            int pfd = cw_open_parent(&w, rootfd, cd->rel, buf, sizeof buf, &name);
            cw_stat now;
            int ok = pfd >= 0 && cw_stat_at(pfd, name, &now) == 0 &&
                     cw_still_candidate(&w, pfd, name, cd);
            if (ok)
                nlink = now.nlink;
            if (ok && keep)
                keep_file(keep, pfd, name, cd->rel);
            if (ok && unlinkat(pfd, name, 0) < 0)
                ok = 0;
            if (!ok) {
                failed++;
                if (!first_err)
                    first_err = errno ? errno : ESTALE;
            }
            if (pfd >= 0)
                close(pfd);
            if (!ok)
                continue;
        }
        if (nlink > 1)
            linked++;
        fr += nlink <= 1 ? cd->blocks_bytes : 0;
        cnt++;
        if (listed < 1000) {
            json_array_append_new(files, jstr(cd->rel));
            listed++;
        }
        if (dry && c->preview && cnt <= PREVIEW_MAX_FILES) {
            /* a pending plan's preview lists each file with its size (the first ones) */
            char path[PATH_MAX + CW_REL_MAX], text[PATH_MAX + CW_REL_MAX + 64];
            snprintf(path, sizeof path, "%s/%s", real, cd->rel);
            snprintf(text, sizeof text, "would remove %s (%llu bytes)", path,
                     (unsigned long long)(nlink <= 1 ? cd->blocks_bytes : 0));
            msg_touch t = preview_touch_init();
            t.action = "remove_old_files";
            t.kind = "file";
            t.path = path;
            t.size = (int64_t)cd->blocks_bytes;
            t.text = text;
            preview_add(c->preview, &t);
        }
        size_t ll = strlen(list);
        if (ll < sizeof list - 1)
            snprintf(list + ll, sizeof list - ll, "%s%s", ll ? ", " : "", cd->rel);
    }
    if (strlen(list) >= sizeof list - 1)
        memcpy(list + sizeof list - 4, "...", 4);
    keep_end(keep, params);
    json_object_set_new(params, "files", files);
    json_object_set_new(params, "files_truncated", json_boolean(cnt > listed));
    json_object_set_new(params, "held_open", json_integer((json_int_t)held));
    json_object_set_new(params, "hard_linked", json_integer((json_int_t)linked));
    json_object_set_new(params, "login_records_kept", json_integer((json_int_t)w.skipped_login));
    json_object_set_new(params, "mounts_not_entered", json_integer((json_int_t)w.skipped_mount));
    json_object_set_new(params, "freed_bytes", json_integer((json_int_t)fr));
    json_object_set_new(params, "count", json_integer((json_int_t)cnt));
    if (!dry && have_sv && fstatvfs(rootfd, &sv1) == 0) {
        /* What the filesystem says it got back, other writers included: audited beside the
         * count so the two can be compared. */
        uint64_t frs = sv0.f_frsize ? sv0.f_frsize : sv0.f_bsize;
        int64_t d = ((int64_t)sv1.f_bfree - (int64_t)sv0.f_bfree) * (int64_t)frs;
        json_object_set_new(params, "statvfs_freed_bytes", json_integer((json_int_t)d));
    }
    int rc;
    char extra[256];
    snprintf(extra, sizeof extra, "%zu held open or mapped kept, %zu special files skipped%s%s%s",
             held, w.skipped_special,
             w.skipped_mount ? ", other mounts not entered" : "",
             w.skipped_login ? ", login records kept" : "",
             linked ? ", hard-linked files count 0 bytes" : "");
    if (dry) {
        healer_dry_remove(m, sizeof m, real, (unsigned long long)cnt, (unsigned long long)fr,
                          cnt ? list : "", extra);
        rc = HEALER_DRY_RUN;
    } else if (failed && cnt == 0) {
        setmsg(m, sizeof m, "remove_old_files %s: %zu removal%s failed: %s (%s)", real, failed,
               failed == 1 ? "" : "s", strerror(first_err), extra);
        rc = HEALER_E_IO;
    } else {
        setmsg(m, sizeof m, "removed %llu file%s (%llu bytes freed) under %s: %s (%s%s%s)",
               (unsigned long long)cnt, cnt == 1 ? "" : "s", (unsigned long long)fr, real,
               cnt ? list : "none", extra, failed ? "; some failed: " : "",
               failed ? strerror(first_err) : "");
        rc = HEALER_OK;
    }
    if (w.err == ENOMEM && rc >= 0)
        setmsg(m + strlen(m), sizeof m - strlen(m), "; out of memory: walk incomplete");
    cw_walk_free(&w);
    free(open_set);
    close(rootfd);
    if (freed)
        *freed = fr;
    if (count)
        *count = cnt;
    return finish(a, c, "remove_old_files", dir, params, rc, m, msg, len);
}
