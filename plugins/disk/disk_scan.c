/* disk_scan.c — the disk plugin's measuring half: /proc/self/mounts lines and mountinfo's
 * superblock options, statvfs usage, the least-squares fit behind time-to-full, and the read-only
 * preview of a cleanup (what act_remove_old_files would remove). No host calls here. */
#include "disk.h"
#include "clean_walk.h"
#include "sanitize.h"

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

/* "ro" as a whole option of a comma-separated list. */
static int disk_has_ro(const char *opts)
{
    size_t n = strcspn(opts, " \t\n");
    for (const char *o = opts; o < opts + n;) {
        size_t l = strcspn(o, ", \t\n");
        if (l == 2 && strncmp(o, "ro", 2) == 0)
            return 1;
        o += l;
        if (*o == ',')
            o++;
        else
            break;
    }
    return 0;
}

void disk_mark_super_rw(const char *mountinfo, disk_mount *mv, size_t n)
{
    size_t nro = 0;
    for (size_t i = 0; i < n; i++)
        nro += mv[i].ro != 0;
    if (!nro)
        return;     /* nothing to ask: the file is not read */
    FILE *f = fopen(mountinfo, "re");
    if (!f)
        return;
    /* verdict[i]: -1 not listed yet, else the superblock of the last line naming mv[i].dir */
    signed char *verdict = malloc(n);
    if (!verdict) {
        fclose(f);
        return;
    }
    memset(verdict, -1, n);
    char *line = NULL;
    size_t ll = 0;
    while (getline(&line, &ll, f) > 0) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER-OPTIONS */
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        *sep = '\0';
        char *save = NULL, *mp = NULL, *t = strtok_r(line, " ", &save);
        for (int i = 1; t && i < 5; i++)
            mp = t = strtok_r(NULL, " ", &save);
        if (!mp)
            continue;
        disk_unescape(mp);
        char *type = strtok_r(sep + 3, " ", &save);
        char *src = type ? strtok_r(NULL, " ", &save) : NULL;
        char *super = src ? strtok_r(NULL, " \n", &save) : NULL;
        for (size_t i = 0; i < n; i++)
            if (mv[i].ro && strcmp(mp, mv[i].dir) == 0)
                verdict[i] = super && !disk_has_ro(super);
    }
    for (size_t i = 0; i < n; i++)
        if (verdict[i] == 1)
            mv[i].ro = 0;
    free(verdict);
    free(line);
    fclose(f);
}

int disk_super_rw(const char *mountinfo, const char *dir)
{
    disk_mount m = { .ro = 1 };
    snprintf(m.dir, sizeof m.dir, "%s", dir);
    disk_mark_super_rw(mountinfo, &m, 1);
    return !m.ro;
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

static int disk_cmp_devino(const void *x, const void *y)
{
    const struct disk_devino *a = x, *b = y;
    if (a->dev != b->dev)
        return a->dev < b->dev ? -1 : 1;
    if (a->ino != b->ino)
        return a->ino < b->ino ? -1 : 1;
    return 0;
}

static void disk_openset_add(void *ud, dev_t dev, ino_t ino)
{
    disk_openset *s = ud;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        struct disk_devino *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n].dev = dev;
    s->v[s->n].ino = ino;
    s->n++;
}

int disk_openset_load(const char *proc_dir, disk_openset *s)
{
    s->v = NULL;
    s->n = 0;
    s->cap = 0;
    DIR *d = opendir(proc_dir);
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        /* Mapped (maps: one read per process) or held open (fd): removing either frees
         * nothing yet. */
        char path[512];
        snprintf(path, sizeof path, "%s/%s/maps", proc_dir, de->d_name);
        cw_maps_scan(path, 0, disk_openset_add, s);
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
            disk_openset_add(s, st.st_dev, st.st_ino);
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

int disk_is_rotated(const char *name)
{
    return cw_is_rotated(name);
}

int disk_preview_dir(const char *dir, double older_than_days, const char *pattern, time_t now,
                     const disk_openset *held_set, disk_preview *p)
{
    memset(p, 0, sizeof *p);
    int fd;
    if (cw_open_trusted_dir(dir, geteuid(), &fd, p->why, sizeof p->why) != 0)
        return -1;
    cw_walk w;
    memset(&w, 0, sizeof w);
    w.cutoff = now - (time_t)(older_than_days * 86400.0);
    w.pattern = pattern;
    w.recursive = 1;
    if (cw_walk_dir(&w, fd) != 0) {
        int e = errno;
        snprintf(p->why, sizeof p->why, "%s: %s", dir, strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    /* The host's order (rotated first, oldest first): the names shown are the first to go. */
    cw_sort(&w, 1);
    p->scanned = w.scanned;
    p->mounts_skipped = w.skipped_mount;
    p->login_kept = w.skipped_login;
    for (size_t i = 0; i < w.n; i++) {
        const cw_file *f = &w.v[i];
        if (held_set && disk_openset_has(held_set, f->dev, f->ino)) {
            p->held++;
            continue;
        }
        p->count++;
        if (f->nlink <= 1)   /* another hard link keeps the blocks */
            p->bytes += f->blocks_bytes;
        else
            p->linked++;
        if (p->n_names < DISK_PREVIEW_NAMES) {
            const char *base = strrchr(f->rel, '/');
            p->names_rotated[p->n_names] = cw_is_rotated(base ? base + 1 : f->rel);
            /* the host's sanitizer: a name's raw control bytes never reach a description */
            sanitize_to(f->rel, strlen(f->rel), p->names[p->n_names++], sizeof p->names[0], 0);
        }
    }
    cw_walk_free(&w);
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
