/* loader_fs.c — opens plugin_dir and the plugin files without a window between check and use:
 * the folder is walked from "/" by descriptors, every directory on the way is checked, a file is
 * opened O_NOFOLLOW relative to the folder and checked by fstat of that descriptor, and the very
 * descriptor is what dlopen maps (/proc/self/fd/N). A name swapped after the check is never
 * looked at again. */
#include "loader_fs.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LINKS 40      /* as the kernel's own limit on symlinks in one lookup */
#define MAX_RENUMBER 8    /* descriptor numbers tried before a load is given up */

int lfs_insecure(const struct stat *st, int check_owner, const char *what, char *why, size_t len)
{
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, len, "%s is writable by %s (mode %04o); fix: chmod go-w", what,
                 (st->st_mode & S_IWOTH) ? "others" : "group", (unsigned)(st->st_mode & 07777));
        return 1;
    }
    if (check_owner && st->st_uid != 0) {
        snprintf(why, len, "%s is owned by uid %u, not root; fix: chown root, or set "
                 "agent.plugin_check_owner = false for development", what, (unsigned)st->st_uid);
        return 1;
    }
    return 0;
}

/* A directory above the plugin folder: anyone who can write it can swap the folder itself (a
 * sticky bit only protects entries of other owners, and the attacker may own the entry). */
static void check_above(int fd, const char *shown, const char *path, int check_owner, char *why,
                        size_t len)
{
    struct stat st;
    if (why[0] || fstat(fd, &st) != 0)
        return;
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        snprintf(why, len, "the directory %s above plugin_dir %s is writable by %s (mode %04o), "
                 "so its owner's group or anyone could swap the plugin folder; fix: keep "
                 "plugin_dir under directories only root can write (e.g. /usr/lib/healerd/plugins)",
                 shown, path, (st.st_mode & S_IWOTH) ? "others" : "group",
                 (unsigned)(st.st_mode & 07777));
    else if (check_owner && st.st_uid != 0)
        snprintf(why, len, "the directory %s above plugin_dir %s is owned by uid %u, not root, "
                 "who could swap the plugin folder; fix: keep plugin_dir under directories owned "
                 "by root, or set agent.plugin_check_owner = false for development", shown, path,
                 (unsigned)st.st_uid);
}

/* shown follows the walk for messages: append a component, or drop one for "..". */
static void shown_step(char *shown, size_t len, const char *comp)
{
    if (strcmp(comp, "..") == 0) {
        char *slash = strrchr(shown, '/');
        if (slash && slash != shown)
            *slash = '\0';
        else
            snprintf(shown, len, "/");
        return;
    }
    size_t n = strlen(shown);
    snprintf(shown + n, len - n, "%s%s", n > 1 ? "/" : "", comp);
}

int lfs_open_dir(const char *path, int check_owner, char *why, size_t len)
{
    why[0] = '\0';
    if (!path || path[0] != '/') {
        snprintf(why, len, "plugin_dir %s is not an absolute path", path ? path : "(null)");
        errno = EINVAL;
        return -1;
    }
    char rest[2 * PATH_MAX], shown[PATH_MAX] = "/";
    if (snprintf(rest, sizeof rest, "%s", path) >= (int)sizeof rest) {
        errno = ENAMETOOLONG;
        snprintf(why, len, "%s: %s", path, strerror(errno));
        return -1;
    }
    int cur = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0) {
        snprintf(why, len, "/: %s", strerror(errno));
        return -1;
    }
    int links = 0, e = 0;
    char *p = rest;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t cl = strcspn(p, "/");
        char comp[NAME_MAX + 1];
        if (cl > NAME_MAX) {
            e = ENAMETOOLONG;
            break;
        }
        memcpy(comp, p, cl);
        comp[cl] = '\0';
        p += cl;
        if (strcmp(comp, ".") == 0)
            continue;
        int next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            e = errno;
            struct stat lst;
            char target[PATH_MAX], nrest[2 * PATH_MAX];
            ssize_t n;
            if ((e != ELOOP && e != ENOTDIR) ||
                fstatat(cur, comp, &lst, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(lst.st_mode))
                break;
            /* A symlink in a directory checked above: only root could have made it. Its target
             * is walked (and checked) like the rest of the path. */
            if (++links > MAX_LINKS) {
                e = ELOOP;
                break;
            }
            n = readlinkat(cur, comp, target, sizeof target - 1);
            if (n <= 0) {
                e = n < 0 ? errno : ENOENT;
                break;
            }
            target[n] = '\0';
            if (snprintf(nrest, sizeof nrest, "%s/%s", target, p) >= (int)sizeof nrest) {
                e = ENAMETOOLONG;
                break;
            }
            memcpy(rest, nrest, strlen(nrest) + 1);
            p = rest;
            e = 0;
            if (target[0] == '/') {
                check_above(cur, shown, path, check_owner, why, len);
                close(cur);
                cur = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (cur < 0) {
                    e = errno;
                    break;
                }
                snprintf(shown, sizeof shown, "/");
            }
            continue;
        }
        check_above(cur, shown, path, check_owner, why, len);
        close(cur);
        cur = next;
        shown_step(shown, sizeof shown, comp);
    }
    if (e) {
        if (cur >= 0)
            close(cur);
        snprintf(why, len, "%s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    struct stat st;
    if (!why[0] && fstat(cur, &st) == 0) {
        char what[PATH_MAX + 32];
        snprintf(what, sizeof what, "the plugin folder %s", shown);
        lfs_insecure(&st, check_owner, what, why, len);
    }
    return cur;
}

int lfs_open_file(int dirfd, const char *name)
{
    /* O_NONBLOCK: a FIFO put there must not hang the agent in open(); the caller refuses
     * anything but a regular file after fstat. */
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -1;
    if (fd <= 2) {
        /* Never keep 0..2 (started with them closed): a record holds fd > 2 or -1. */
        int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        int e = errno;
        close(fd);
        if (nfd < 0) {
            errno = e;
            return -1;
        }
        fd = nfd;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

/* ---- dlopen by descriptor ------------------------------------------------------------------ */

/* What each handle this module returned maps (from fstat of the descriptor it was loaded
 * from), with how many times it was returned: the proof that a handle glibc hands back for an
 * object it already had is the file asked for. */
typedef struct lfs_handle {
    void *dl;
    dev_t dev;
    ino_t ino;
    unsigned refs;
} lfs_handle;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static lfs_handle *reg;
static size_t reg_n, reg_cap;

static lfs_handle *reg_find(void *dl)
{
    for (size_t i = 0; i < reg_n; i++)
        if (reg[i].dl == dl)
            return &reg[i];
    return NULL;
}

typedef struct bases {
    uintptr_t *v;
    size_t n, cap;
} bases;

static int collect_base(struct dl_phdr_info *info, size_t size, void *ud)
{
    (void)size;
    bases *b = ud;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uintptr_t *v = realloc(b->v, cap * sizeof *v);
        if (!v)
            return 1;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = (uintptr_t)info->dlpi_addr;
    return 0;
}

static int has_base(const bases *b, uintptr_t addr)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->v[i] == addr)
            return 1;
    return 0;
}

/* dlerror names the object by the name it was opened with: show the file instead. */
static void set_dlerror(char *err, size_t len, const char *procpath, const char *file)
{
    const char *e = dlerror();
    if (!e)
        e = "unknown dlopen error";
    const char *at = strstr(e, procpath);
    if (at)
        snprintf(err, len, "%.*s%s%s", (int)(at - e), e, file, at + strlen(procpath));
    else
        snprintf(err, len, "%s", e);
}

void *lfs_dlopen_fd(int *fd, const struct stat *st, const char *file, char *err, size_t len)
{
    void *result = NULL;
    err[0] = '\0';
    pthread_mutex_lock(&reg_lock);
    for (int attempt = 0; attempt < MAX_RENUMBER && !result; attempt++) {
        bases before = { 0 };
        dl_iterate_phdr(collect_base, &before);
        char procpath[40];
        snprintf(procpath, sizeof procpath, "/proc/self/fd/%d", *fd);
        dlerror();
        void *dl = dlopen(procpath, RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
            set_dlerror(err, len, procpath, file);
            free(before.v);
            break;
        }
        struct link_map *lm = NULL;
        int fresh = dlinfo(dl, RTLD_DI_LINKMAP, &lm) == 0 && lm &&
                    !has_base(&before, (uintptr_t)lm->l_addr);
        free(before.v);
        lfs_handle *h = reg_find(dl);
        if (h && h->dev == st->st_dev && h->ino == st->st_ino) {
            h->refs++; /* the same file, already mapped: glibc matched its identity */
            result = dl;
            break;
        }
        if (!h && fresh) {
            if (reg_n == reg_cap) {
                size_t cap = reg_cap ? reg_cap * 2 : 16;
                lfs_handle *nr = realloc(reg, cap * sizeof *nr);
                if (!nr) {
                    dlclose(dl);
                    snprintf(err, len, "out of memory");
                    break;
                }
                reg = nr;
                reg_cap = cap;
            }
            reg[reg_n++] = (lfs_handle){ .dl = dl, .dev = st->st_dev, .ino = st->st_ino,
                                         .refs = 1 };
            result = dl;
            break;
        }
        /* glibc answered with an object it loaded earlier under this name, when the number
         * belonged to another file: not ours. Load under a number it has not seen for it. */
        dlclose(dl);
        int nfd = fcntl(*fd, F_DUPFD_CLOEXEC, *fd + 1 + attempt * 7);
        if (nfd < 0) {
            snprintf(err, len, "cannot renumber its descriptor: %s", strerror(errno));
            break;
        }
        close(*fd);
        *fd = nfd;
    }
    if (!result && !err[0])
        snprintf(err, len, "the dynamic loader kept answering with another object for "
                 "/proc/self/fd/N after %d descriptor numbers", MAX_RENUMBER);
    pthread_mutex_unlock(&reg_lock);
    return result;
}

void lfs_dlclose(void *dl)
{
    if (!dl)
        return;
    pthread_mutex_lock(&reg_lock);
    lfs_handle *h = reg_find(dl);
    if (h && --h->refs == 0) {
        *h = reg[--reg_n];
        if (!reg_n) {
            free(reg);
            reg = NULL;
            reg_cap = 0;
        }
    }
    dlclose(dl);
    pthread_mutex_unlock(&reg_lock);
}
