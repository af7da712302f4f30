/* fleet_keygen.c — `healerd --fleet-keygen DIR`: makes this node's CURVE key pair with
 * zmq_curve_keypair and writes it as two files, the secret one 0600 from its creation (no
 * moment where another user could read it). */
#include "fleet_keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

/* Writes text to dir/name with mode: O_EXCL, or beside it and renamed over it when force. */
static int write_key(const char *dir, const char *name, const char *text, mode_t mode,
                     int force, FILE *err)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    const char *target = force ? tmp : path;
    int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(err, "healerd: %s: %s%s\n", target, strerror(errno),
                errno == EEXIST && !force ? " (use --force to replace it)" : "");
        return 1;
    }
    size_t len = strlen(text);
    int bad = fchmod(fd, mode) != 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0;
    int saved = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (!bad && force && rename(tmp, path) != 0) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        fprintf(err, "healerd: %s: %s\n", target, strerror(saved));
        unlink(target);
        return 1;
    }
    return 0;
}

int fleet_keygen(const char *dir, int force, FILE *err)
{
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(err, "healerd: cannot make a CURVE key pair: %s (libzmq without CURVE?)\n",
                zmq_strerror(zmq_errno()));
        return 1;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(err, "healerd: %s: not a directory\n", dir);
        return 1;
    }
    char line[64];
    snprintf(line, sizeof line, "%s\n", sec);
    if (write_key(dir, "fleet.key", line, 0600, force, err) != 0)
        return 1;
    snprintf(line, sizeof line, "%s\n", pub);
    if (write_key(dir, "fleet.pub", line, 0644, force, err) != 0)
        return 1;
    memset(sec, 0, sizeof sec);
    memset(line, 0, sizeof line);
    fprintf(stdout, "%s/fleet.key (secret, 0600) and %s/fleet.pub written; public key %s\n", dir,
            dir, pub);
    return 0;
}
