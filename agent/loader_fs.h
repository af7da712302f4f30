/* loader_fs.h — the file-system half of the loader: opening plugin_dir and its files so that no
 * one but root can change what is checked between the check and the dlopen (every directory of
 * the path checked, files opened O_NOFOLLOW relative to the folder's descriptor), and dlopen of
 * a checked descriptor through /proc/self/fd/N. */
#ifndef AGENT_LOADER_FS_H
#define AGENT_LOADER_FS_H

#include <stddef.h>
#include <sys/stat.h>

/* Opens path as a directory, one component at a time from "/", each with O_NOFOLLOW; a symlink
 * on the way is followed only when it lies in a directory already found safe. Every directory
 * traversed must be owned by root (when check_owner) and not writable by group or others (a
 * sticky /tmp is no exception). Returns the descriptor of the final directory with why = ""
 * when all of them are safe; the descriptor with why = the first violation (directory, owner or
 * mode, fix) when one is not, so the caller can still name the files it refuses; -1 with errno
 * and why when the path cannot be opened at all. */
int lfs_open_dir(const char *path, int check_owner, char *why, size_t len);

/* 1 (why filled) when st is writable by group or others, or (check_owner) not owned by root.
 * what names it in the message ("the file /x/y.so"). */
int lfs_insecure(const struct stat *st, int check_owner, const char *what, char *why, size_t len);

/* Opens name in the directory dirfd for loading: O_RDONLY|O_NOFOLLOW|O_CLOEXEC, never blocking
 * on a FIFO. -1 with errno (ELOOP: a symlink). */
int lfs_open_file(int dirfd, const char *name);

/* dlopen(RTLD_NOW|RTLD_LOCAL) of the file open on *fd, which st describes (fstat of *fd), by
 * "/proc/self/fd/N": the file checked is the file mapped, whatever happens to its name. The
 * handle returned is guaranteed to map that file: glibc matches a dlopen name against names it
 * saw before, and a descriptor number closed and reused would otherwise hand back the object
 * loaded under it earlier; then *fd is moved to another number (the old one closed) and the
 * load retried. NULL with the reason (dlerror, /proc/self/fd/N shown as file) in err. */
void *lfs_dlopen_fd(int *fd, const struct stat *st, const char *file, char *err, size_t len);

/* dlclose of a handle from lfs_dlopen_fd (keeps the record of what each handle maps). */
void lfs_dlclose(void *dl);

#endif
