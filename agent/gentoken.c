/* gentoken.c — `healerd --gen-token [PATH] [--force]`: creates the HTTP bearer token that every
 * POST needs (http.c reads its first line). Owns how the token is made (getrandom, hex) and how
 * it reaches the disk (0600, O_EXCL|O_NOFOLLOW, never over an existing file without --force). */
#include "gentoken.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Blocks until the kernel's pool is initialised (flags 0): a token made at early boot from an
 * unseeded pool would be guessable, and a postinst can wait a moment. */
static int gentoken_random(unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

static int gentoken_write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* O_EXCL: never reuse a file someone else created (it may be readable by others or a link
 * planted in the directory); O_NOFOLLOW for the same reason when EXCL is not enough (it is:
 * O_CREAT|O_EXCL refuses a symlink, dangling or not — NOFOLLOW says so in the code). */
static int gentoken_create(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
}

int gentoken_write(const char *path, int force, FILE *err)
{
    if (!path || !*path) {
        fprintf(err, "healerd: --gen-token: empty path\n");
        return 1;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!force) {
            fprintf(err, "healerd: %s exists; not overwritten (--force replaces it)\n", path);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            fprintf(err, "healerd: %s is a directory\n", path);
            return 1;
        }
    }

    unsigned char raw[GENTOKEN_BYTES];
    char line[2 * GENTOKEN_BYTES + 2];
    if (gentoken_random(raw, sizeof raw) != 0) {
        fprintf(err, "healerd: getrandom: %s\n", strerror(errno));
        return 1;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        line[2 * i] = hex[raw[i] >> 4];
        line[2 * i + 1] = hex[raw[i] & 15];
    }
    line[2 * GENTOKEN_BYTES] = '\n';
    line[2 * GENTOKEN_BYTES + 1] = '\0';
    memset(raw, 0, sizeof raw);

    /* With --force the new token goes to PATH.new-XXXX first, then replaces PATH in one rename:
     * the agent re-reads the file when it changes and must never read a half-written one. */
    char *tmp = NULL;
    const char *target = path;
    if (force) {
        size_t n = strlen(path) + 16;
        tmp = malloc(n);
        if (!tmp) {
            fprintf(err, "healerd: out of memory\n");
            return 1;
        }
        snprintf(tmp, n, "%s.new-%ld", path, (long)getpid());
        target = tmp;
    }
    int rc = 1;
    int fd = gentoken_create(target);
    if (fd < 0) {
        if (errno == EEXIST)
            fprintf(err, "healerd: %s exists; not overwritten (--force replaces it)\n", target);
        else
            fprintf(err, "healerd: cannot create %s: %s\n", target, strerror(errno));
        goto out;
    }
    /* The mode given to open() passes through the umask, which can only remove bits; set it
     * explicitly anyway so the file says 0600 whatever created it. */
    if (fchmod(fd, 0600) != 0 || gentoken_write_all(fd, line, strlen(line)) != 0 ||
        fsync(fd) != 0) {
        fprintf(err, "healerd: cannot write %s: %s\n", target, strerror(errno));
        close(fd);
        unlink(target);
        goto out;
    }
    if (close(fd) != 0) {
        fprintf(err, "healerd: cannot write %s: %s\n", target, strerror(errno));
        unlink(target);
        goto out;
    }
    if (tmp && rename(tmp, path) != 0) {
        fprintf(err, "healerd: cannot replace %s: %s\n", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    fprintf(err, "healerd: wrote a new token to %s (mode 0600)\n", path);
    rc = 0;
out:
    memset(line, 0, sizeof line);
    free(tmp);
    return rc;
}
