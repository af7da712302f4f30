/* nixconfig_io.c — the nixconfig plugin's file access: reading a configuration file without
 * ever blocking or following a link (a FIFO, a device or a socket is refused by the type of
 * the descriptor), the private scratch copies the parser validates, the change signature of
 * each file, and the backup's name and its mode- and owner-keeping placeholder. */
#include <healer/healer.h>

#include "nixconfig_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* Whole file, NUL-terminated; NULL with errno. Never blocks and never follows a final link:
 * the type is checked on an O_PATH descriptor first (opening a device or a FIFO for reading
 * can block or have effects), then the file is opened O_NONBLOCK and must be the same regular
 * file. Not a regular file: NULL with errno EINVAL (*st says what it is); a link: ELOOP. */
char *nc_slurp(const char *path, size_t *n, struct stat *st_out)
{
    struct stat st, st2;
    int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return NULL;
    int r0 = fstat(pfd, &st);
    int e0 = errno;
    close(pfd);
    if (r0 != 0) {
        errno = e0;
        return NULL;
    }
    if (st_out)
        *st_out = st;
    if (S_ISLNK(st.st_mode)) {
        errno = ELOOP;
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st2) != 0 || !S_ISREG(st2.st_mode) || st2.st_dev != st.st_dev ||
        st2.st_ino != st.st_ino) {
        if (st_out && fstat(fd, st_out) != 0)
            st_out->st_mode = 0;
        close(fd);
        errno = EINVAL;   /* replaced by something else meanwhile */
        return NULL;
    }
    if (st2.st_size > (off_t)NC_MAX_FILE_BYTES) {
        close(fd);
        errno = EFBIG;
        return NULL;
    }
    st = st2;
    size_t cap = (size_t)st.st_size + 1, used = 0;
    char *b = malloc(cap + 1);
    if (!b) {
        close(fd);
        return NULL;
    }
    for (;;) {
        if (used == cap) {
            if (cap >= NC_MAX_FILE_BYTES) {
                free(b);
                close(fd);
                errno = EFBIG;
                return NULL;
            }
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                close(fd);
                return NULL;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + used, cap - used);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            free(b);
            close(fd);
            return NULL;
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    close(fd);
    b[used] = '\0';
    *n = used;
    return b;
}

int nc_write_scratch(nixconfig *w, const char *name, const char *s, size_t n,
                            char *path, size_t len)
{
    nc_fmt(path, len, "%s/%s", w->scratch, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, s + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)r;
    }
    close(fd);
    return 0;
}

void nc_file_sig(nc_file *f)
{
    struct stat st;
    if (stat(f->path, &st) != 0) {
        f->exists = 0;
        return;
    }
    f->exists = 1;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->size = st.st_size;
    f->mtime = st.st_mtim;
    f->ctime = st.st_ctim;
}

int nc_file_changed(const nc_file *f)
{
    nc_file now = *f;
    nc_file_sig(&now);
    if (now.exists != f->exists)
        return 1;
    if (!now.exists)
        return 0;
    return now.dev != f->dev || now.ino != f->ino || now.size != f->size ||
           now.mtime.tv_sec != f->mtime.tv_sec || now.mtime.tv_nsec != f->mtime.tv_nsec ||
           now.ctime.tv_sec != f->ctime.tv_sec || now.ctime.tv_nsec != f->ctime.tv_nsec;
}


const char *nc_ftype(const struct stat *st)
{
    switch (st->st_mode & S_IFMT) {
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    case S_IFDIR: return "a directory";
    case S_IFLNK: return "a symbolic link";
    case S_IFREG: return "a regular file";
    default: return "not a regular file";
    }
}

/* ---- backups ----------------------------------------------------------------------------- */

void nc_backup_base(const char *path, char *out, size_t len)
{
    /* Percent-escaping '/' and '%' keeps two files of the same name in different directories
     * apart and the name reversible. A path too long for one directory entry keeps its tail
     * behind a hash of the whole. */
    char esc[PATH_MAX * 3 + 1];
    size_t j = 0;
    const char *p = path;
    while (*p == '/')
        p++;
    for (; *p && j + 4 < sizeof esc; p++) {
        if (*p == '/' || *p == '%') {
            j += (size_t)snprintf(esc + j, sizeof esc - j, "%%%02X", (unsigned char)*p);
        } else {
            esc[j++] = *p;
        }
    }
    esc[j] = '\0';
    const size_t room = 200;   /* NAME_MAX 255 minus ".YYYYmmdd-HHMMSS-NN" and the prune's slack */
    if (j <= room) {
        nc_fmt(out, len, "%s", esc);
        return;
    }
    char h[17];
    nc_hash(path, strlen(path), h);
    nc_fmt(out, len, "%s~%s", h, esc + j - (room - 17));
}

int nc_backup_match(const char *name, const char *base)
{
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) != 0 || name[bl] != '.')
        return 0;
    const char *t = name + bl + 1;
    for (int i = 0; i < 15; i++) {
        int want_dash = i == 8;
        if (want_dash ? t[i] != '-' : (t[i] < '0' || t[i] > '9'))
            return 0;
    }
    t += 15;
    if (*t == '\0')
        return 1;
    if (*t++ != '-' || !*t)
        return 0;
    for (; *t; t++)
        if (*t < '0' || *t > '9')
            return 0;
    return 1;
}

int nc_backup_placeholder(const char *backup, const struct stat *orig)
{
    int fd = open(backup, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int owner = 0;
    if (fchown(fd, orig->st_uid, orig->st_gid) != 0) {
        if (errno != EPERM) {
            int e = errno;
            close(fd);
            unlink(backup);
            errno = e;
            return -1;
        }
        owner = 1;
    }
    if (fchmod(fd, orig->st_mode & 0777) != 0) {
        int e = errno;
        close(fd);
        unlink(backup);
        errno = e;
        return -1;
    }
    close(fd);
    return owner;
}
