/* statedir.c — the state directory and the files in it: its owner and mode checked on the
 * descriptor, state files opened relative to it with O_NOFOLLOW, so that whoever can plant a
 * symbolic link cannot point root's writes at another file. */
#include "statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uid_t owner_wanted(void)
{
    return geteuid(); /* root in production; a test running unprivileged owns its own dirs */
}

/* The verdict on an open or stat'ed directory: 0 safe, -1 with why. */
static int judge(const char *path, const struct stat *st, char *why, size_t len)
{
    if (!S_ISDIR(st->st_mode)) {
        snprintf(why, len, "%s: not a directory", path);
        return -1;
    }
    uid_t want = owner_wanted();
    const char *who = want == 0 ? "root" : "the agent's uid";
    /* Anyone else able to create names in it could plant links or files the agent would then
     * write through or trust (the undo journal is replayed as root). */
    if (st->st_uid != want) {
        snprintf(why, len,
                 "state_dir %s is owned by uid %u (mode %04o), not by %s: fix it with: "
                 "chown %s %s && chmod 0700 %s",
                 path, (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777), who,
                 want == 0 ? "root:root" : "$(id -u)", path, path);
        return -1;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, len,
                 "state_dir %s is writable by %s (mode %04o): it must be writable by %s only; "
                 "fix it with: chmod 0700 %s",
                 path, (st->st_mode & S_IWOTH) ? "others" : "its group",
                 (unsigned)(st->st_mode & 07777), who, path);
        return -1;
    }
    return 0;
}

int statedir_check(const char *path, char *why, size_t len)
{
    if (!path || !*path) {
        snprintf(why, len, "no state_dir");
        return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(why, len, "state_dir %s: %s", path, strerror(errno));
        return -1;
    }
    return judge(path, &st, why, len);
}

/* mkdir -p: parents 0755 (they are ordinary directories such as /var/lib), the last 0700. */
static int make_path(const char *dir, char *why, size_t len)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n >= sizeof buf) {
        snprintf(why, len, "state_dir %s: path too long", dir);
        return -1;
    }
    memcpy(buf, dir, n + 1);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, saved ? 0755 : 0700) != 0 && errno != EEXIST) {
                snprintf(why, len, "state_dir %s: cannot create %s: %s", dir, buf,
                         strerror(errno));
                return -1;
            }
            *p = saved;
            if (!saved)
                break;
        }
    }
    return 0;
}

int statedir_open(const char *path, char *why, size_t len)
{
    if (!path || !*path) {
        snprintf(why, len, "no state_dir");
        return -1;
    }
    if (make_path(path, why, len) != 0)
        return -1;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, len, "state_dir %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, len, "state_dir %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (judge(path, &st, why, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int statedir_openat(int dfd, const char *dir, const char *name, int flags, mode_t mode,
                    char *why, size_t len)
{
    /* O_NONBLOCK: a FIFO planted under the name must not hang the open. */
    int fd = openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            snprintf(why, len, "%s/%s: is a symbolic link: refusing to follow it (remove it; "
                     "the agent creates the file itself)", dir, name);
        else
            snprintf(why, len, "%s/%s: %s", dir, name, strerror(e));
        errno = e;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, len, "%s/%s: not a regular file: refusing it (remove it)", dir, name);
        close(fd);
        errno = EINVAL;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(flags & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int statedir_subdir(int dfd, const char *dir, const char *name, mode_t mode, char *why,
                    size_t len)
{
    if (mkdirat(dfd, name, mode) != 0 && errno != EEXIST) {
        snprintf(why, len, "%s/%s: cannot create: %s", dir, name, strerror(errno));
        return -1;
    }
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(why, len, "%s/%s: %s", dir, name,
                 e == ELOOP || e == ENOTDIR ? "a symbolic link or not a directory: refusing it "
                                              "(remove it)"
                                            : strerror(e));
        return -1;
    }
    struct stat st;
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", dir, name);
    if (fstat(fd, &st) != 0 || judge(full, &st, why, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}
