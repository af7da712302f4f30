/* actuators_keep.c — deleted files kept for an undo (agent.backup_deletions_max_mb, default 0 =
 * off): before act_remove_old_files unlinks a file, a copy goes to
 * state_dir/backups/deleted/<stamp>-<plugin>/ with a MANIFEST.json (path, mode, owner, mtime);
 * the sets together stay within the bound, the oldest set dropped first. act_restore_deleted
 * puts a set's files back (healctl undo / restore through actuators_pitr.c). */
#include "actuators_int.h"
#include "jsonl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "keep.h"
#include "statedir.h"

#define MANIFEST "MANIFEST.json"

struct keep_set {
    actuators *a;
    int deleted_fd, set_fd;       /* backups/deleted and this removal's set in it */
    char set_name[128];
    char set_path[PATH_MAX + 160];
    uint64_t used, max;           /* bytes of every set, this one included; the bound */
    json_t *files;
    size_t kept, not_kept;
};

static int copy_fd(int from, int to)
{
    char buf[65536];
    for (;;) {
        ssize_t r = read(from, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        if (jsonl_write_all(to, buf, (size_t)r) < 0)
            return -1;
    }
}

/* Bytes held by one set (its files' sizes). */
static uint64_t set_bytes(int deleted_fd, const char *name)
{
    int fd = openat(deleted_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    uint64_t n = 0;
    struct dirent *de;
    struct stat st;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode))
            n += (uint64_t)st.st_size;
    closedir(d);
    return n;
}

static void set_remove(int deleted_fd, const char *name)
{
    int fd = openat(deleted_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (de->d_name[0] != '.' || strcmp(de->d_name, MANIFEST) == 0)
                unlinkat(fd, de->d_name, 0);
        if (d)
            closedir(d);
        else
            close(fd);
    }
    unlinkat(deleted_fd, name, AT_REMOVEDIR);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Drops the oldest sets (names begin with their UTC stamp) but the current one until need more
 * bytes fit. 1 when they fit. */
static int make_room(keep_set *k, uint64_t need)
{
    if (k->used + need <= k->max)
        return 1;
    int fd = dup(k->deleted_fd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, k->set_name) == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(names, cap * sizeof *nv);
            if (!nv)
                break;
            names = nv;
        }
        names[n] = strdup(de->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && k->used + need > k->max; i++) {
        uint64_t b = set_bytes(k->deleted_fd, names[i]);
        set_remove(k->deleted_fd, names[i]);
        k->used = k->used > b ? k->used - b : 0;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return k->used + need <= k->max;
}

keep_set *keep_begin(actuators *a, const act_context *c, const char *dir, char *why, size_t wl)
{
    why[0] = '\0';
    if (!a->deletions_max_bytes || !a->state_dir[0])
        return NULL;
    keep_set *k = calloc(1, sizeof *k);
    if (!k) {
        setmsg(why, wl, "out of memory");
        return NULL;
    }
    k->a = a;
    k->max = a->deletions_max_bytes;
    k->set_fd = k->deleted_fd = -1;
    int sfd = statedir_open(a->state_dir, why, wl);
    int bfd = sfd < 0 ? -1 : statedir_subdir(sfd, a->state_dir, "backups", 0700, why, wl);
    char bdir[PATH_MAX];
    snprintf(bdir, sizeof bdir, "%s/backups", a->state_dir);
    k->deleted_fd = bfd < 0 ? -1 : statedir_subdir(bfd, bdir, "deleted", 0700, why, wl);
    if (sfd >= 0)
        close(sfd);
    if (bfd >= 0)
        close(bfd);
    if (k->deleted_fd < 0) {
        free(k);
        return NULL;
    }
    /* what the sets already hold */
    int fd = dup(k->deleted_fd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.')
            k->used += set_bytes(k->deleted_fd, de->d_name);
    if (d)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
    char plug[HEALER_NAME_MAX + 1];
    snprintf(plug, sizeof plug, "%s", c->plugin ? c->plugin : "agent");
    for (char *p = plug; *p; p++)
        if (*p == '/' || *p == '.')
            *p = '_';
    for (int i = 0; i < 100; i++) {
        snprintf(k->set_name, sizeof k->set_name, "%s.%03dZ-%s-%d", stamp,
                 (int)(ts.tv_nsec / 1000000), plug, i);
        if (mkdirat(k->deleted_fd, k->set_name, 0700) == 0)
            break;
        if (errno != EEXIST) {
            setmsg(why, wl, "%s/deleted/%s: %s", bdir, k->set_name, strerror(errno));
            break;
        }
    }
    k->set_fd = openat(k->deleted_fd, k->set_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                       O_CLOEXEC);
    if (k->set_fd < 0) {
        if (!why[0])
            setmsg(why, wl, "%s/deleted/%s: %s", bdir, k->set_name, strerror(errno));
        close(k->deleted_fd);
        free(k);
        return NULL;
    }
    snprintf(k->set_path, sizeof k->set_path, "%s/deleted/%s", bdir, k->set_name);
    k->files = json_array();
    json_t *m = json_object();
    json_object_set_new(m, "dir", jstr(dir));
    json_object_set_new(m, "files", json_incref(k->files));
    json_decref(k->files);
    k->files = m;   /* the manifest; its "files" array is filled by keep_file */
    return k;
}

int keep_file(keep_set *k, int pfd, const char *name, const char *rel)
{
    if (!k)
        return 0;
    int src = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (src < 0 || fstat(src, &st) < 0 || !S_ISREG(st.st_mode) ||
        !make_room(k, (uint64_t)st.st_size)) {
        if (src >= 0)
            close(src);
        k->not_kept++;
        return 0;
    }
    char store[32];
    snprintf(store, sizeof store, "%06zu", k->kept + k->not_kept + 1);
    int dst = openat(k->set_fd, store, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int ok = dst >= 0 && copy_fd(src, dst) == 0 && fsync(dst) == 0;
    if (dst >= 0)
        close(dst);
    close(src);
    if (!ok) {
        unlinkat(k->set_fd, store, 0);
        k->not_kept++;
        return 0;
    }
    k->used += (uint64_t)st.st_size;
    json_t *f = json_object();
    json_object_set_new(f, "rel", jstr(rel));
    json_object_set_new(f, "store", json_string(store));
    json_object_set_new(f, "size", json_integer((json_int_t)st.st_size));
    json_object_set_new(f, "mode", json_integer((json_int_t)(st.st_mode & 07777)));
    json_object_set_new(f, "uid", json_integer((json_int_t)st.st_uid));
    json_object_set_new(f, "gid", json_integer((json_int_t)st.st_gid));
    json_object_set_new(f, "mtime", json_integer((json_int_t)st.st_mtime));
    json_array_append_new(json_object_get(k->files, "files"), f);
    k->kept++;
    return 1;
}

void keep_end(keep_set *k, json_t *params)
{
    if (!k)
        return;
    int ok = 0;
    if (k->kept) {
        char *s = json_dumps(k->files, JSON_COMPACT);
        int fd = s ? openat(k->set_fd, MANIFEST, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                            O_CLOEXEC, 0600) : -1;
        ok = fd >= 0 && jsonl_write_all(fd, s, strlen(s)) == 0 && fsync(fd) == 0;
        if (fd >= 0)
            close(fd);
        free(s);
        fsync(k->set_fd);
    }
    if (ok) {
        char mp[PATH_MAX + 200];
        snprintf(mp, sizeof mp, "%s/%s", k->set_path, MANIFEST);
        json_object_set_new(params, "deletion_backup", jstr(mp));
    } else {
        close(k->set_fd);
        k->set_fd = -1;
        set_remove(k->deleted_fd, k->set_name);   /* nothing kept, or no manifest to find it */
    }
    json_object_set_new(params, "kept", json_integer((json_int_t)(ok ? k->kept : 0)));
    json_object_set_new(params, "not_kept", json_integer((json_int_t)(k->not_kept +
                                                                      (ok ? 0 : k->kept))));
    if (k->set_fd >= 0)
        close(k->set_fd);
    close(k->deleted_fd);
    json_decref(k->files);
    free(k);
}

/* ---- putting them back ------------------------------------------------------------------- */

int act_restore_deleted(actuators *a, const act_context *c, const char *manifest, char *msg,
                        size_t len)
{
    char m[HEALER_MSG_MAX * 2], pre[PATH_MAX];
    json_t *params = json_object();
    json_object_set_new(params, "manifest", jstr(manifest));
    snprintf(pre, sizeof pre, "%s/backups/deleted/", a->state_dir);
    size_t pl = strlen(pre);
    const char *set = manifest + pl, *slash = strchr(set, '/');
    if (strncmp(manifest, pre, pl) != 0 || !slash || strcmp(slash + 1, MANIFEST) != 0 ||
        strstr(set, "..")) {
        setmsg(m, sizeof m, "restore_files: %s is not a manifest in %s", manifest, pre);
        return finish(a, c, "restore_files", manifest, params, HEALER_E_INVAL, m, msg, len);
    }
    char setname[NAME_MAX + 1];
    snprintf(setname, sizeof setname, "%.*s", (int)(slash - set), set);
    char why[PATH_MAX + 200];
    int sfd = statedir_open(a->state_dir, why, sizeof why);
    int setfd = -1;
    if (sfd >= 0) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof rel, "backups/deleted/%s", setname);
        setfd = openat(sfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (setfd < 0)
            setmsg(why, sizeof why, "%s: %s", manifest, strerror(errno));
        close(sfd);
    }
    size_t n = 0;
    char *text = setfd < 0 ? NULL : slurp_at(setfd, MANIFEST, (size_t)16 << 20, &n);
    json_t *mf = text ? json_loadb(text, n, 0, NULL) : NULL;
    free(text);
    const char *dir = json_string_value(json_object_get(mf, "dir"));
    json_t *files = json_object_get(mf, "files");
    if (!dir || !json_is_array(files)) {
        if (setfd >= 0)
            setmsg(why, sizeof why, "%s: unreadable or not a manifest (the copies are gone: "
                   "dropped to keep agent.backup_deletions_max_mb?)", manifest);
        json_decref(mf);
        if (setfd >= 0)
            close(setfd);
        setmsg(m, sizeof m, "restore_files: %s", why);
        return finish(a, c, "restore_files", manifest, params, HEALER_E_NOTFOUND, m, msg, len);
    }
    int dry = is_dry(a, c);
    size_t put = 0, present = 0, failed = 0, i;
    json_t *f;
    json_array_foreach(files, i, f) {
        const char *rel = json_string_value(json_object_get(f, "rel"));
        const char *store = json_string_value(json_object_get(f, "store"));
        if (!rel || !store || strstr(rel, "..") || rel[0] == '/') {
            failed++;
            continue;
        }
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        struct stat st;
        if (lstat(path, &st) == 0) {
            present++;   /* a file of that name exists again: someone's, left alone */
            continue;
        }
        if (dry) {
            put++;
            continue;
        }
        int src = openat(setfd, store, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        int dst = src < 0 ? -1 : open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                      0600);
        int ok = dst >= 0 && copy_fd(src, dst) == 0;
        if (ok) {
            if (fchown(dst, (uid_t)json_integer_value(json_object_get(f, "uid")),
                       (gid_t)json_integer_value(json_object_get(f, "gid"))) < 0 &&
                errno != EPERM)
                ok = 0;
            fchmod(dst, (mode_t)json_integer_value(json_object_get(f, "mode")));
            struct timespec t[2] = {
                { .tv_nsec = UTIME_OMIT },
                { .tv_sec = (time_t)json_integer_value(json_object_get(f, "mtime")) } };
            futimens(dst, t);
            ok = ok && fsync(dst) == 0;
        }
        if (src >= 0)
            close(src);
        if (dst >= 0)
            close(dst);
        if (ok)
            put++;
        else
            failed++;
    }
    close(setfd);
    json_object_set_new(params, "restored", json_integer((json_int_t)put));
    json_object_set_new(params, "present_again", json_integer((json_int_t)present));
    json_object_set_new(params, "failed", json_integer((json_int_t)failed));
    int rc = dry ? HEALER_DRY_RUN : failed && !put ? HEALER_E_IO : HEALER_OK;
    setmsg(m, sizeof m, "%s %zu removed file(s) under %s from %s; %zu exist again (left alone), "
           "%zu failed", dry ? "would put back" : "put back", put, dir, manifest, present, failed);
    json_decref(mf);
    return finish(a, c, "restore_files", manifest, params, rc, m, msg, len);
}
