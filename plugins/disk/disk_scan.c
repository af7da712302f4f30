/* disk_scan.c — the disk plugin's measuring half: /proc/self/mounts lines, statvfs usage, the
 * least-squares fit behind time-to-full, and the read-only preview of a cleanup (what
 * act_remove_old_files would remove, walked by the same rules). No host calls here. */
#include "disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int (*disk_usage_hook)(const char *dir, disk_usage *u);

/* Decodes the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
static void disk_unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

int disk_parse_mount_line(char *line, disk_mount *out)
{
    char *save = NULL;
    char *dev = strtok_r(line, " \t\n", &save);
    char *dir = strtok_r(NULL, " \t\n", &save);
    char *type = strtok_r(NULL, " \t\n", &save);
    char *opts = strtok_r(NULL, " \t\n", &save);
    if (!dev || !dir || !type || !opts)
        return -1;
    disk_unescape(dir);
    if (dir[0] != '/' || strlen(dir) >= sizeof out->dir || strlen(type) >= sizeof out->type)
        return -1;
    memset(out, 0, sizeof *out);
    snprintf(out->dir, sizeof out->dir, "%s", dir);
    snprintf(out->type, sizeof out->type, "%s", type);
    /* "ro" as a whole option: "rootcontext=" or "errors=remount-ro" must not count. */
    char *osave = NULL;
    for (char *o = strtok_r(opts, ",", &osave); o; o = strtok_r(NULL, ",", &osave))
        if (strcmp(o, "ro") == 0)
            out->ro = 1;
    return 0;
}

int disk_read_mounts(const char *path, disk_mount **out, size_t *n, size_t *bad)
{
    *out = NULL;
    *n = 0;
    if (bad)
        *bad = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t cap = 0;
    char *line = NULL;
    size_t ll = 0;
    while (getline(&line, &ll, f) > 0) {
        disk_mount m;
        if (disk_parse_mount_line(line, &m) != 0) {
            if (bad)
                (*bad)++;
            continue;
        }
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            disk_mount *nv = realloc(*out, nc * sizeof *nv);
            if (!nv)
                break;
            *out = nv;
            cap = nc;
        }
        (*out)[(*n)++] = m;
    }
    free(line);
    fclose(f);
    return 0;
}

int disk_usage_of(const char *dir, disk_usage *u)
{
    if (disk_usage_hook)
        return disk_usage_hook(dir, u);
    memset(u, 0, sizeof *u);
    struct statvfs sv;
    struct stat st;
    if (statvfs(dir, &sv) != 0 || stat(dir, &st) != 0)
        return -1;
    uint64_t fr = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
    u->dev = st.st_dev;
    u->total_bytes = (uint64_t)sv.f_blocks * fr;
    u->avail_bytes = (uint64_t)sv.f_bavail * fr;
    u->used_bytes = (uint64_t)(sv.f_blocks - sv.f_bfree) * fr;
    uint64_t denom = u->used_bytes + u->avail_bytes;
    u->used_percent = denom ? 100.0 * (double)u->used_bytes / (double)denom : 0.0;
    u->inodes = sv.f_files;
    u->inodes_free = sv.f_ffree;
    u->inodes_used_percent = sv.f_files && sv.f_files >= sv.f_ffree
        ? 100.0 * (double)(sv.f_files - sv.f_ffree) / (double)sv.f_files : 0.0;
    return 0;
}

int disk_fit_line(const double *t, const double *y, size_t n, disk_fit *f)
{
    memset(f, 0, sizeof *f);
    if (n < 2)
        return -1;
    /* Centred sums: epoch seconds squared would lose the digits that matter. */
    double t0 = t[0], mt = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        mt += t[i] - t0;
        my += y[i];
    }
    mt /= (double)n;
    my /= (double)n;
    double sxx = 0, sxy = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double dt = t[i] - t0 - mt, dy = y[i] - my;
        sxx += dt * dt;
        sxy += dt * dy;
        syy += dy * dy;
    }
    if (!(sxx > 0))
        return -1;
    f->n = n;
    f->slope = sxy / sxx;
    f->intercept = my - f->slope * (mt + t0);
    f->r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1.0;
    return 0;
}

double disk_time_to_full(const disk_fit *f, double avail_bytes)
{
    if (!f || f->n < 2 || !(f->slope < 0) || !isfinite(f->slope))
        return -1;
    if (avail_bytes <= 0)
        return 0;
    return avail_bytes / -f->slope;
}

static int disk_cmp_devino(const void *x, const void *y)
{
    const struct disk_devino *a = x, *b = y;
    if (a->dev != b->dev)
        return a->dev < b->dev ? -1 : 1;
    if (a->ino != b->ino)
        return a->ino < b->ino ? -1 : 1;
    return 0;
}

int disk_openset_load(const char *proc_dir, disk_openset *s)
{
    s->v = NULL;
    s->n = 0;
    size_t cap = 0;
    DIR *d = opendir(proc_dir);
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s/fd", proc_dir, de->d_name);
        int fdd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fdd < 0)
            continue;   /* exited, or not ours to read: skip */
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
            if (fstatat(fdd, fe->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (s->n == cap) {
                size_t nc = cap ? cap * 2 : 256;
                struct disk_devino *nv = realloc(s->v, nc * sizeof *nv);
                if (!nv)
                    break;
                s->v = nv;
                cap = nc;
            }
            s->v[s->n].dev = st.st_dev;
            s->v[s->n].ino = st.st_ino;
            s->n++;
        }
        closedir(fds);
    }
    closedir(d);
    if (s->n)
        qsort(s->v, s->n, sizeof *s->v, disk_cmp_devino);
    return 0;
}

int disk_openset_has(const disk_openset *s, dev_t dev, ino_t ino)
{
    if (!s || !s->n)
        return 0;
    struct disk_devino k = { dev, ino };
    return bsearch(&k, s->v, s->n, sizeof k, disk_cmp_devino) != NULL;
}

void disk_openset_free(disk_openset *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int disk_all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

int disk_is_rotated(const char *name)
{
    static const char *const comp[] = { ".gz", ".xz", ".bz2", ".zst", ".lz4", ".old", NULL };
    size_t n = strlen(name);
    for (size_t i = 0; comp[i]; i++) {
        size_t cl = strlen(comp[i]);
        if (n > cl && strcmp(name + n - cl, comp[i]) == 0)
            return 1;
    }
    const char *dot = strrchr(name, '.');
    if (dot && dot != name && disk_all_digits(dot + 1))
        return 1;
    if (n > 9 && name[n - 9] == '-' && disk_all_digits(name + n - 8))
        return 1;
    return 0;
}

/* Keeps the first few names, rotated ones first (the order the host removes them in). */
static void disk_preview_name(disk_preview *p, const char *rel, int rotated)
{
    if (p->n_names < DISK_PREVIEW_NAMES) {
        snprintf(p->names[p->n_names], sizeof p->names[0], "%.95s", rel);
        p->names_rotated[p->n_names++] = rotated;
        return;
    }
    if (!rotated)
        return;
    for (size_t i = 0; i < p->n_names; i++)
        if (!p->names_rotated[i]) {
            snprintf(p->names[i], sizeof p->names[0], "%.95s", rel);
            p->names_rotated[i] = 1;
            return;
        }
}

static void disk_preview_walk(int dfd, const char *prefix, int depth, dev_t root_dev,
                              time_t cutoff, const char *pattern, const disk_openset *held_set,
                              disk_preview *p)
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
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        p->scanned++;
        /* d_type spares an fstatat for the symlinks and specials we skip anyway. */
        if (de->d_type == DT_LNK || de->d_type == DT_SOCK || de->d_type == DT_FIFO ||
            de->d_type == DT_CHR || de->d_type == DT_BLK)
            continue;
        struct stat st;
        if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;   /* gone while we looked */
        char rel[512];
        int rn = snprintf(rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "", nm);
        if (rn < 0 || (size_t)rn >= sizeof rel)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth >= 64 || st.st_dev != root_dev)
                continue;
            int sub = openat(dfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue;
            disk_preview_walk(sub, rel, depth + 1, root_dev, cutoff, pattern, held_set, p);
            close(sub);
            continue;
        }
        if (!S_ISREG(st.st_mode) || st.st_mtime >= cutoff)
            continue;
        if (pattern && *pattern && fnmatch(pattern, nm, 0) != 0)
            continue;
        if (held_set && disk_openset_has(held_set, st.st_dev, st.st_ino)) {
            p->held++;
            continue;
        }
        p->count++;
        if (st.st_nlink <= 1)   /* another hard link keeps the blocks */
            p->bytes += (uint64_t)st.st_blocks * 512u;
        disk_preview_name(p, rel, disk_is_rotated(nm));
    }
    closedir(d);
}

int disk_preview_dir(const char *dir, double older_than_days, const char *pattern, time_t now,
                     const disk_openset *held_set, disk_preview *p)
{
    memset(p, 0, sizeof *p);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    time_t cutoff = now - (time_t)(older_than_days * 86400.0);
    disk_preview_walk(fd, "", 0, st.st_dev, cutoff, pattern, held_set, p);
    close(fd);
    return 0;
}

const char *disk_human_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.1f %s", v, unit[u]);
    return buf;
}
