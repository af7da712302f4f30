/* actuators_clean.c — act_remove_old_files: old files under a declared path, never through a
 * symlink or into another filesystem, never a file some process holds open. */
#include "actuators_int.h"
#include "dryrun.h"

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
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * Removing old files */

typedef struct devino {
    dev_t dev;
    ino_t ino;
} devino;

typedef struct cand {
    char *rel;             /* relative to the root directory, '/'-separated */
    dev_t dev;
    ino_t ino;
    uint64_t blocks_bytes; /* st_blocks * 512 */
    nlink_t nlink;
    time_t mtime;
    int rotated;
} cand;

typedef struct walk {
    cand *v;
    size_t n, cap;
    time_t cutoff;
    const char *pattern;
    int recursive;
    dev_t root_dev;
    size_t skipped_special, skipped_mount;
    int err;
} walk;

static int cmp_devino(const void *x, const void *y)
{
    const devino *a = x, *b = y;
    if (a->dev != b->dev)
        return a->dev < b->dev ? -1 : 1;
    if (a->ino != b->ino)
        return a->ino < b->ino ? -1 : 1;
    return 0;
}

/* Every regular file some process holds open, as (dev, inode), from proc_root/[pid]/fd.
 * Cost: one fstatat per open fd on the host (a busy host with 50k fds: tens of ms), paid
 * once per call and only when there is a candidate. */
static devino *open_files(const char *proc_root, size_t *n_out)
{
    size_t n = 0, cap = 256;
    devino *v = malloc(cap * sizeof *v);
    if (!v)
        return NULL;
    DIR *d = opendir(proc_root);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] < '0' || de->d_name[0] > '9')
                continue;
            char path[PATH_MAX];
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
                if (fstatat(fdd, fe->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
                    continue;
                if (n == cap) {
                    devino *nv = realloc(v, cap * 2 * sizeof *v);
                    if (!nv)
                        break;
                    v = nv;
                    cap *= 2;
                }
                v[n++] = (devino){ st.st_dev, st.st_ino };
            }
            closedir(fds);
        }
        closedir(d);
    }
    qsort(v, n, sizeof *v, cmp_devino);
    *n_out = n;
    return v;
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Rotated by logrotate and friends: *.1, *.gz (and other compressors), *-YYYYMMDD. */
static int is_rotated(const char *name)
{
    static const char *const comp[] = { ".gz", ".xz", ".bz2", ".zst", ".lz4", ".old", NULL };
    size_t n = strlen(name);
    for (size_t i = 0; comp[i]; i++) {
        size_t cl = strlen(comp[i]);
        if (n > cl && strcmp(name + n - cl, comp[i]) == 0)
            return 1;
    }
    const char *dot = strrchr(name, '.');
    if (dot && dot != name && all_digits(dot + 1, strlen(dot + 1)))
        return 1;
    if (n > 9 && name[n - 9] == '-' && all_digits(name + n - 8, 8))
        return 1;
    return 0;
}

static int walk_dir(walk *w, int dfd, const char *prefix, int depth)
{
    int dup_fd = dup(dfd);
    if (dup_fd < 0)
        return -1;
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        char rel[PATH_MAX];
        int rn = snprintf(rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "", nm);
        if (rn < 0 || (size_t)rn >= sizeof rel)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (!w->recursive || depth >= 64)
                continue;
            if (st.st_dev != w->root_dev) {  /* another filesystem mounted inside */
                w->skipped_mount++;
                continue;
            }
            int sub = openat(dfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue;
            struct stat sst;
            if (fstat(sub, &sst) == 0 && sst.st_dev == st.st_dev && sst.st_ino == st.st_ino)
                walk_dir(w, sub, rel, depth + 1);
            close(sub);
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            if (!S_ISLNK(st.st_mode))
                w->skipped_special++;
            continue;
        }
        if (st.st_mtime >= w->cutoff)
            continue;
        if (w->pattern && fnmatch(w->pattern, nm, 0) != 0)
            continue;
        if (w->n == w->cap) {
            size_t nc = w->cap ? w->cap * 2 : 64;
            cand *nv = realloc(w->v, nc * sizeof *nv);
            if (!nv) {
                w->err = ENOMEM;
                break;
            }
            w->v = nv;
            w->cap = nc;
        }
        char *r = strdup(rel);
        if (!r) {
            w->err = ENOMEM;
            break;
        }
        w->v[w->n++] = (cand){ r, st.st_dev, st.st_ino, (uint64_t)st.st_blocks * 512u,
                               st.st_nlink, st.st_mtime, is_rotated(nm) };
    }
    closedir(d);
    return 0;
}

static int cmp_cand(const void *x, const void *y, void *rotated_first)
{
    const cand *a = x, *b = y;
    if (*(const int *)rotated_first && a->rotated != b->rotated)
        return a->rotated ? -1 : 1;
    if (a->mtime != b->mtime)
        return a->mtime < b->mtime ? -1 : 1;
    return strcmp(a->rel, b->rel);
}

/* Opens the directory holding rel, one component at a time and never through a symlink;
 * returns its fd and points *name at the last component. */
static int open_parent(int rootfd, dev_t dev, const char *rel, char *buf, size_t bl,
                       const char **name)
{
    snprintf(buf, bl, "%s", rel);
    int fd = dup(rootfd);
    if (fd < 0)
        return -1;
    char *p = buf;
    for (;;) {
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        int nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        if (nfd < 0)
            return -1;
        struct stat st;
        if (fstat(nfd, &st) < 0 || st.st_dev != dev) {
            close(nfd);
            errno = EXDEV;
            return -1;
        }
        fd = nfd;
        p = slash + 1;
    }
    *name = p;
    return fd;
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
    int rootfd;
    char real[PATH_MAX], root[PATH_MAX];
    if (open_dir_real(dir, &rootfd, real, sizeof real) < 0) {
        int e = errno;
        setmsg(m, sizeof m, "remove_old_files %s: %s", dir, strerror(e));
        return finish(a, c, "remove_old_files", dir, params,
                      e == ENOENT ? HEALER_E_NOTFOUND : HEALER_E_IO, m, msg, len);
    }
    int declared = 0;
    for (size_t i = 0; i < c->n_declared_paths && !declared; i++) {
        const char *dp = c->declared_paths ? c->declared_paths[i] : NULL;
        if (dp && real_of(dp, root, sizeof root) == 0 && is_under(real, root))
            declared = 1;
    }
    if (!declared) {
        close(rootfd);
        setmsg(m, sizeof m, "remove_old_files %s: real path %s is not at or under a declared "
               "path", dir, real);
        return finish(a, c, "remove_old_files", dir, params, HEALER_E_SCOPE, m, msg, len);
    }
    struct stat rst;
    fstat(rootfd, &rst);
    walk w = { 0 };
    w.cutoff = time(NULL) - (time_t)(older_than_days * 86400.0);
    w.pattern = o.pattern;
    w.recursive = o.recursive;
    w.root_dev = rst.st_dev;
    walk_dir(&w, rootfd, "", 0);

    size_t n_open = 0;
    devino *open_set = w.n ? open_files(a->proc_root, &n_open) : NULL;
    int rf = o.rotated_first;
    qsort_r(w.v, w.n, sizeof *w.v, cmp_cand, &rf);

    int dry = is_dry(a, c);
    json_t *files = json_array();
    uint64_t fr = 0, cnt = 0;
    size_t held = 0, failed = 0, listed = 0;
    int first_err = 0;
    char list[400];
    list[0] = '\0';
    for (size_t i = 0; i < w.n; i++) {
        cand *cd = &w.v[i];
        if (o.stop_after_bytes && fr >= o.stop_after_bytes)
            break;
        devino key = { cd->dev, cd->ino };
        if (open_set && bsearch(&key, open_set, n_open, sizeof key, cmp_devino)) {
            held++;
            continue;
        }
        /* Hard links elsewhere keep the blocks: only the last link frees them. */
        uint64_t gain = cd->nlink <= 1 ? cd->blocks_bytes : 0;
        if (!dry) {
            char buf[PATH_MAX];
            const char *name;
            int pfd = open_parent(rootfd, rst.st_dev, cd->rel, buf, sizeof buf, &name);
            struct stat st;
            int ok = pfd >= 0 && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                     S_ISREG(st.st_mode) && st.st_dev == cd->dev && st.st_ino == cd->ino &&
                     st.st_mtime < w.cutoff;
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
        fr += gain;
        cnt++;
        if (listed < 1000) {
            json_array_append_new(files, jstr(cd->rel));
            listed++;
        }
        size_t ll = strlen(list);
        if (ll < sizeof list - 1)
            snprintf(list + ll, sizeof list - ll, "%s%s", ll ? ", " : "", cd->rel);
    }
    if (strlen(list) >= sizeof list - 1)
        memcpy(list + sizeof list - 4, "...", 4);
    json_object_set_new(params, "files", files);
    json_object_set_new(params, "files_truncated", json_boolean(cnt > listed));
    json_object_set_new(params, "held_open", json_integer((json_int_t)held));
    json_object_set_new(params, "freed_bytes", json_integer((json_int_t)fr));
    int rc;
    char extra[160];
    snprintf(extra, sizeof extra, "%zu held open kept, %zu special files skipped%s",
             held, w.skipped_special,
             w.skipped_mount ? ", other filesystems not entered" : "");
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
    for (size_t i = 0; i < w.n; i++)
        free(w.v[i].rel);
    free(w.v);
    free(open_set);
    close(rootfd);
    if (freed)
        *freed = fr;
    if (count)
        *count = cnt;
    return finish(a, c, "remove_old_files", dir, params, rc, m, msg, len);
}
