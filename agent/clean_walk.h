/* clean_walk.h — the one enumeration of what a cleanup of old files removes, compiled into the
 * agent (act_remove_old_files) and into the disk plugin (its plan-time preview), so what is shown
 * for confirmation is what goes. libc and Linux system calls only. */
#ifndef HEALER_CLEAN_WALK_H
#define HEALER_CLEAN_WALK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define CW_REL_MAX 4096   /* a relative path longer than this is skipped and counted */
#define CW_DEPTH_MAX 64

/* What one statx says of an entry; mnt_id is the mount's id (statx STATX_MNT_ID, else
 * name_to_handle_at's), has_mnt 0 when neither gave one (st_dev is then all we compare). */
typedef struct cw_stat {
    dev_t dev;
    ino_t ino;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    nlink_t nlink;
    uint64_t blocks_bytes;   /* st_blocks * 512 */
    time_t newest;           /* the newest of atime, mtime and ctime: the file's age */
    uint64_t mnt_id;
    int has_mnt;
} cw_stat;

/* statx of name relative to dfd, never following a final symlink ("" = dfd itself). 0, or -1
 * with errno. */
int cw_stat_at(int dfd, const char *name, cw_stat *st);

/* Opens an absolute directory path from / one component at a time, never through a symlink
 * (openat2 RESOLVE_NO_SYMLINKS where the kernel has it, O_NOFOLLOW otherwise), "." and ".."
 * refused. Every directory on the way, the last included, must be owned by root or trusted_uid;
 * one writable by others (or by a group other than root's) is accepted only when it is sticky
 * and root-owned (/tmp): then nobody else can replace what is inside it, and the next component
 * must itself be root's. 0 with *fd_out, or -1 with errno and the reason (naming the component)
 * in why. */
int cw_open_trusted_dir(const char *path, uid_t trusted_uid, int *fd_out, char *why,
                        size_t why_len);

/* Lexical normal form of an absolute path: repeated and trailing slashes and "." dropped; -1
 * when it has a ".." or does not fit. */
int cw_normalize(const char *path, char *out, size_t len);

/* wtmp, btmp, utmp, lastlog, faillog (and wtmpx, utmpx, lastlog2), with any suffix that is not
 * a letter (wtmp.1, btmp-20240101.gz, lastlog2.db): login records are never removed. */
int cw_is_login_record(const char *name);

/* Rotated by logrotate and friends: *.1, *.gz (and other compressors), *-YYYYMMDD. */
int cw_is_rotated(const char *name);

typedef struct cw_file {
    char *rel;               /* relative to the walked directory, '/'-separated */
    dev_t dev;
    ino_t ino;
    uint64_t blocks_bytes;
    nlink_t nlink;
    time_t newest;
    int rotated;
} cw_file;

typedef struct cw_walk {
    /* in */
    time_t cutoff;           /* a file goes when its newest time is before this */
    const char *pattern;     /* fnmatch on the file name; NULL or "" = every file */
    int recursive;
    /* out */
    cw_file *v;
    size_t n, cap;
    uint64_t scanned;        /* directory entries looked at */
    size_t skipped_special;  /* sockets, fifos, devices */
    size_t skipped_mount;    /* another mount (bind mounts of the same filesystem included) */
    size_t skipped_login;    /* login records */
    size_t skipped_long;     /* paths over CW_REL_MAX */
    int err;                 /* ENOMEM when the walk is incomplete */
    /* the walked directory's identity */
    dev_t root_dev;
    ino_t root_ino;
    uint64_t root_mnt;
    int root_has_mnt;
} cw_walk;

/* Walks the directory open at rootfd and collects the regular files older than w->cutoff,
 * never leaving the directory's mount, never through a symlink, never a login record. 0, or -1
 * with errno when rootfd cannot be read. */
int cw_walk_dir(cw_walk *w, int rootfd);

/* Orders the candidates as they are removed: rotated ones first when asked, then oldest first,
 * then by name. */
void cw_sort(cw_walk *w, int rotated_first);

/* Opens the directory holding rel below rootfd again, one component at a time, never through a
 * symlink and never onto another mount; returns its fd and points *name at the last component
 * (inside buf). -1 with errno. */
int cw_open_parent(const cw_walk *w, int rootfd, const char *rel, char *buf, size_t bl,
                   const char **name);

/* 1 when the entry is still the candidate it was: same file, regular, same mount, still old. */
int cw_still_candidate(const cw_walk *w, int pfd, const char *name, const cw_file *f);

void cw_walk_free(cw_walk *w);

/* The files a process maps (proc_root/PID/maps: one read per process, not one stat per mapping:
 * a host may run thousands), each (dev, inode) passed to add; dev 0 = every device. Removing a
 * mapped file frees nothing until it is unmapped. */
void cw_maps_scan(const char *maps_path, dev_t dev, void (*add)(void *ud, dev_t d, ino_t i),
                  void *ud);

#endif
