/* statedir.h — the state directory and the files in it. The directory must belong to root (to
 * the agent's own uid when it does not run as root) and not be writable by group or others;
 * every state file is opened relative to its descriptor, never through a symbolic link. */
#ifndef AGENT_STATEDIR_H
#define AGENT_STATEDIR_H

#include <stddef.h>
#include <sys/types.h>

/* The state directory as it is now: 0 when it is absent (it will be created 0700) or safe; -1
 * with why = "PATH: what is wrong; how to fix it". For --check-config and a reload. */
int statedir_check(const char *path, char *why, size_t len);

/* Creates the directory (0700; missing parents 0755) when absent, opens it and checks it as
 * statedir_check does, on the descriptor. Returns the descriptor (O_CLOEXEC) or -1 with why. */
int statedir_open(const char *path, char *why, size_t len);

/* openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode) of a regular file; a symbolic link
 * or anything but a regular file is refused. dir is the directory's path, for messages. */
int statedir_openat(int dfd, const char *dir, const char *name, int flags, mode_t mode,
                    char *why, size_t len);

/* dfd's subdirectory name, created with mode when absent, opened without following a link and
 * checked like the state directory. Returns its descriptor or -1 with why. */
int statedir_subdir(int dfd, const char *dir, const char *name, mode_t mode, char *why,
                    size_t len);

#endif
