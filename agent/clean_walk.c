/* clean_walk.c — the one enumeration of what a cleanup of old files removes, shared by the
 * agent's act_remove_old_files and the disk plugin's preview (compiled into both): the declared
 * directory opened from / through trusted directories only, the tree walked by descriptors
 * without leaving its mount (mount ids, not st_dev), ages by the newest of a/m/ctime. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* openat2, statx, name_to_handle_at, qsort_r */
#endif
#include "clean_walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The kernel's struct statx, declared here: glibc 2.36's copy has no stx_mnt_id field. The
 * layout is ABI (include/uapi/linux/stat.h). */
struct cw_kts {
    int64_t tv_sec;
    uint32_t tv_nsec;
    int32_t reserved;
};
struct cw_kstatx {
    uint32_t mask, blksize;
    uint64_t attributes;
    uint32_t nlink, uid, gid;
    uint16_t mode, spare0;
    uint64_t ino, size, blocks, attributes_mask;
    struct cw_kts atime, btime, ctime, mtime;
    uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
    uint64_t mnt_id;
    uint64_t spare2[13];
};
#define CW_STATX_BASIC 0x07ffU    /* STATX_BASIC_STATS */
#define CW_STATX_MNT_ID 0x1000U

static int cw_kernel_statx(int dfd, const char *name, int flags, struct cw_kstatx *kx)
{
#ifdef SYS_statx
    return (int)syscall(SYS_statx, dfd, name, flags, CW_STATX_BASIC | CW_STATX_MNT_ID, kx);
#else
    (void)dfd; (void)name; (void)flags; (void)kx;
    errno = ENOSYS;
    return -1;
#endif
}

/* A kernel older than 5.8 has no STATX_MNT_ID: the mount id of a file handle says the same. */
static int cw_handle_mnt(int dfd, const char *name, int empty, uint64_t *mnt)
{
    struct {
        struct file_handle fh;
        unsigned char buf[128];
    } h;
    h.fh.handle_bytes = sizeof h.buf;
    int id = 0;
    int flags = empty ? AT_EMPTY_PATH : 0;
    if (name_to_handle_at(dfd, name, &h.fh, &id, flags) != 0 && errno != EOVERFLOW)
        return -1;
    *mnt = (uint64_t)(unsigned)id;
    return 0;
}

int cw_stat_at(int dfd, const char *name, cw_stat *st)
{
    memset(st, 0, sizeof *st);
    int empty = !name || !*name;
    const char *nm = empty ? "" : name;
    int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (empty ? AT_EMPTY_PATH : 0);
    struct cw_kstatx kx;
    memset(&kx, 0, sizeof kx);
    if (cw_kernel_statx(dfd, nm, flags, &kx) == 0) {
        st->dev = makedev(kx.dev_major, kx.dev_minor);
        st->ino = (ino_t)kx.ino;
        st->mode = kx.mode;
        st->uid = kx.uid;
        st->gid = kx.gid;
        st->nlink = kx.nlink;
        st->blocks_bytes = kx.blocks * 512u;
        time_t t = (time_t)kx.mtime.tv_sec;
        if ((time_t)kx.atime.tv_sec > t)
            t = (time_t)kx.atime.tv_sec;
        if ((time_t)kx.ctime.tv_sec > t)
            t = (time_t)kx.ctime.tv_sec;
        st->newest = t;
        if (kx.mask & CW_STATX_MNT_ID) {
            st->mnt_id = kx.mnt_id;
            st->has_mnt = 1;
        }
    } else {
        if (errno != ENOSYS)
            return -1;
        struct stat s;
        if (fstatat(dfd, nm, &s, AT_SYMLINK_NOFOLLOW | (empty ? AT_EMPTY_PATH : 0)) != 0)
            return -1;
        st->dev = s.st_dev;
        st->ino = s.st_ino;
        st->mode = s.st_mode;
        st->uid = s.st_uid;
        st->gid = s.st_gid;
        st->nlink = s.st_nlink;
        st->blocks_bytes = (uint64_t)s.st_blocks * 512u;
        time_t t = s.st_mtime;
        if (s.st_atime > t)
            t = s.st_atime;
        if (s.st_ctime > t)
            t = s.st_ctime;
        st->newest = t;
    }
    if (!st->has_mnt && !S_ISLNK(st->mode) && cw_handle_mnt(dfd, nm, empty, &st->mnt_id) == 0)
        st->has_mnt = 1;
    return 0;
}

/* openat of one directory component below dfd: never a symlink, never "..", and with nox never
 * onto another mount. Falls back to O_NOFOLLOW without openat2 (the caller compares mount ids
 * then). */
static int cw_open_comp(int dfd, const char *name, int nox)
{
    static int no_openat2;
#ifdef SYS_openat2
    if (!no_openat2) {
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                      (nox ? RESOLVE_NO_XDEV : 0);
        int fd = (int)syscall(SYS_openat2, dfd, name, &how, sizeof how);
        if (fd >= 0 || (errno != ENOSYS && errno != E2BIG))
            return fd;
        no_openat2 = 1;
    }
#else
    (void)nox;
    (void)no_openat2;
#endif
    if (strcmp(name, "..") == 0 || strchr(name, '/')) {
        errno = EPERM;
        return -1;
    }
    return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int cw_normalize(const char *path, char *out, size_t len)
{
    if (!path || path[0] != '/' || len < 2)
        return -1;
    size_t w = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t cl = (size_t)(e - p);
        if (cl == 0)
            break;
        if (cl == 2 && p[0] == '.' && p[1] == '.')
            return -1;
        if (!(cl == 1 && p[0] == '.')) {
            if (w + 1 + cl >= len)
                return -1;
            out[w++] = '/';
            memcpy(out + w, p, cl);
            w += cl;
        }
        p = e;
    }
    if (w == 0)
        out[w++] = '/';
    out[w] = '\0';
    return 0;
}

static int cw_say(char *why, size_t len, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cw_say(char *why, size_t len, int err, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    errno = err;
    return -1;
}

/* The trust rule for one directory already open (see clean_walk.h). */
static int cw_trusted(const cw_stat *st, uid_t trusted_uid, const char *shown, char *why,
                      size_t len)
{
    if (st->uid != 0 && st->uid != trusted_uid)
        return cw_say(why, len, EPERM, "%s is owned by uid %u, not root: another user could "
                      "have made it point anywhere", shown, (unsigned)st->uid);
    int other_w = (st->mode & S_IWOTH) != 0;
    int group_w = (st->mode & S_IWGRP) != 0 && st->gid != 0;
    if ((other_w || group_w) && !((st->mode & S_ISVTX) && st->uid == 0))
        return cw_say(why, len, EPERM, "%s (mode %04o) is writable by %s and not sticky: "
                      "its entries could be swapped", shown, (unsigned)(st->mode & 07777),
                      other_w ? "others" : "its group");
    return 0;
}

int cw_open_trusted_dir(const char *path, uid_t trusted_uid, int *fd_out, char *why,
                        size_t why_len)
{
    char norm[CW_REL_MAX];
    if (!path || cw_normalize(path, norm, sizeof norm) != 0)
        return cw_say(why, why_len, EINVAL, "\"%s\" is not an absolute path without \"..\"",
                      path ? path : "(null)");
    int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cw_say(why, why_len, errno, "/: %s", strerror(errno));
    cw_stat st;
    if (cw_stat_at(fd, "", &st) != 0 || cw_trusted(&st, trusted_uid, "/", why, why_len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    char *p = norm + 1;
    while (*p) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        int nfd = cw_open_comp(fd, p, 0);
        if (nfd < 0) {
            int e = errno;
            cw_stat ls;
            if ((e == ELOOP || e == ENOTDIR || e == EXDEV) && cw_stat_at(fd, p, &ls) == 0 &&
                S_ISLNK(ls.mode)) {
                close(fd);
                return cw_say(why, why_len, ELOOP, "%s is a symbolic link (owned by uid %u): "
                              "never followed", norm, (unsigned)ls.uid);
            }
            close(fd);
            return cw_say(why, why_len, e, "%s: %s", norm, strerror(e));
        }
        close(fd);
        fd = nfd;
        if (cw_stat_at(fd, "", &st) != 0 || cw_trusted(&st, trusted_uid, norm, why, why_len)) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (!slash)
            break;
        *slash = '/';
        p = slash + 1;
    }
    *fd_out = fd;
    return 0;
}

int cw_is_login_record(const char *name)
{
    static const char *const stem[] = { "wtmp", "btmp", "utmp", "lastlog", "faillog", NULL };
    for (size_t i = 0; stem[i]; i++) {
        size_t n = strlen(stem[i]);
        if (strncmp(name, stem[i], n) != 0)
            continue;
        char c = name[n];
        /* wtmp, wtmp.1, btmp-20240101, lastlog2.db, wtmpx; not "wtmpreport". */
        if (c == '\0' || c == '.' || c == '-' || c == '_' || (c >= '0' && c <= '9') ||
            (c == 'x' && (name[n + 1] == '\0' || name[n + 1] == '.')))
            return 1;
    }
    return 0;
}

static int cw_all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

int cw_is_rotated(const char *name)
{
    static const char *const comp[] = { ".gz", ".xz", ".bz2", ".zst", ".lz4", ".old", NULL };
    size_t n = strlen(name);
    for (size_t i = 0; comp[i]; i++) {
        size_t cl = strlen(comp[i]);
        if (n > cl && strcmp(name + n - cl, comp[i]) == 0)
            return 1;
    }
    const char *dot = strrchr(name, '.');
    if (dot && dot != name && cw_all_digits(dot + 1))
        return 1;
    if (n > 9 && name[n - 9] == '-' && cw_all_digits(name + n - 8))
        return 1;
    return 0;
}

/* The same mount as the walked directory: mount ids when both have one (a bind mount of the same
 * filesystem has the same st_dev but its own mount id), st_dev otherwise. */
static int cw_same_mount(const cw_walk *w, const cw_stat *st)
{
    if (st->dev != w->root_dev)
        return 0;
    if (w->root_has_mnt && st->has_mnt)
        return st->mnt_id == w->root_mnt;
    return 1;
}

static void cw_walk_in(cw_walk *w, int dfd, const char *prefix, int depth)
{
    int dup_fd = dup(dfd);
    if (dup_fd < 0)
        return;
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return;
    }
    struct dirent *de;
    while (!w->err && (de = readdir(d))) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        w->scanned++;
        if (de->d_type == DT_LNK)
            continue;   /* symlinks themselves are kept, and never followed */
        if (de->d_type == DT_SOCK || de->d_type == DT_FIFO || de->d_type == DT_CHR ||
            de->d_type == DT_BLK) {
            w->skipped_special++;
            continue;
        }
        cw_stat st;
        if (cw_stat_at(dfd, nm, &st) != 0)
            continue;   /* gone while we looked */
        if (S_ISLNK(st.mode))
            continue;
        if (!S_ISDIR(st.mode) && !S_ISREG(st.mode)) {
            w->skipped_special++;
            continue;
        }
        if (!cw_same_mount(w, &st)) {
            w->skipped_mount++;   /* a mountpoint (of a directory or a file): never entered */
            continue;
        }
        char rel[CW_REL_MAX];
        int rn = snprintf(rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "", nm);
        if (rn < 0 || (size_t)rn >= sizeof rel) {
            w->skipped_long++;
            continue;
        }
        if (S_ISDIR(st.mode)) {
            if (!w->recursive || depth >= CW_DEPTH_MAX)
                continue;
            int sub = cw_open_comp(dfd, nm, 1);
            if (sub < 0) {
                if (errno == EXDEV)
                    w->skipped_mount++;
                continue;
            }
            cw_stat sst;
            if (cw_stat_at(sub, "", &sst) == 0 && sst.dev == st.dev && sst.ino == st.ino &&
                cw_same_mount(w, &sst))
                cw_walk_in(w, sub, rel, depth + 1);
            else
                w->skipped_mount++;
            close(sub);
            continue;
        }
        if (cw_is_login_record(nm)) {
            w->skipped_login++;
            continue;
        }
        if (st.newest >= w->cutoff)
            continue;
        if (w->pattern && *w->pattern && fnmatch(w->pattern, nm, 0) != 0)
            continue;
        if (w->n == w->cap) {
            size_t nc = w->cap ? w->cap * 2 : 64;
            cw_file *nv = realloc(w->v, nc * sizeof *nv);
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
        w->v[w->n++] = (cw_file){ r, st.dev, st.ino, st.blocks_bytes, st.nlink, st.newest,
                                  cw_is_rotated(nm) };
    }
    closedir(d);
}

int cw_walk_dir(cw_walk *w, int rootfd)
{
    cw_stat st;
    if (cw_stat_at(rootfd, "", &st) != 0)
        return -1;
    w->root_dev = st.dev;
    w->root_ino = st.ino;
    w->root_mnt = st.mnt_id;
    w->root_has_mnt = st.has_mnt;
    cw_walk_in(w, rootfd, "", 0);
    return 0;
}

static int cw_cmp(const void *x, const void *y, void *rotated_first)
{
    const cw_file *a = x, *b = y;
    if (*(const int *)rotated_first && a->rotated != b->rotated)
        return a->rotated ? -1 : 1;
    if (a->newest != b->newest)
        return a->newest < b->newest ? -1 : 1;
    return strcmp(a->rel, b->rel);
}

void cw_sort(cw_walk *w, int rotated_first)
{
    if (w->n > 1)
        qsort_r(w->v, w->n, sizeof *w->v, cw_cmp, &rotated_first);
}

int cw_open_parent(const cw_walk *w, int rootfd, const char *rel, char *buf, size_t bl,
                   const char **name)
{
    if (snprintf(buf, bl, "%s", rel) >= (int)bl) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = dup(rootfd);
    if (fd < 0)
        return -1;
    char *p = buf;
    for (;;) {
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        int nfd = cw_open_comp(fd, p, 1);
        close(fd);
        if (nfd < 0)
            return -1;
        cw_stat st;
        if (cw_stat_at(nfd, "", &st) != 0 || !cw_same_mount(w, &st)) {
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

int cw_still_candidate(const cw_walk *w, int pfd, const char *name, const cw_file *f)
{
    cw_stat st;
    if (cw_stat_at(pfd, name, &st) != 0)
        return 0;
    if (!S_ISREG(st.mode) || st.dev != f->dev || st.ino != f->ino || !cw_same_mount(w, &st) ||
        st.newest >= w->cutoff || cw_is_login_record(name)) {
        errno = ESTALE;
        return 0;
    }
    return 1;
}

void cw_walk_free(cw_walk *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i].rel);
    free(w->v);
    w->v = NULL;
    w->n = w->cap = 0;
}

void cw_maps_scan(const char *maps_path, dev_t dev, void (*add)(void *ud, dev_t d, ino_t i),
                  void *ud)
{
    FILE *f = fopen(maps_path, "re");
    if (!f)
        return;   /* exited, or not ours to read */
    char line[4096 + 256];
    dev_t last_d = 0;
    ino_t last_i = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned maj, min;
        unsigned long long ino;
        /* start-end perms offset maj:min inode path */
        if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &ino) != 3 || ino == 0)
            continue;
        dev_t d = makedev(maj, min);
        if ((dev && d != dev) || (d == last_d && (ino_t)ino == last_i))
            continue;   /* another filesystem, or the next mapping of the same file */
        last_d = d;
        last_i = (ino_t)ino;
        add(ud, d, (ino_t)ino);
    }
    fclose(f);
}
