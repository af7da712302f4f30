/* disk.h — internal to the disk plugin: the mounts parser, filesystem usage, the least-squares
 * time-to-full fit, and the read-only preview scan of what a cleanup would remove. Plain
 * functions on text, numbers and directories, so the unit tests and the bench use them directly. */
#ifndef HEALER_PLUGIN_DISK_H
#define HEALER_PLUGIN_DISK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define DISK_PATH_MAX 256     /* a mountpoint is an issue target: HEALER_TARGET_MAX */

/* One line of /proc/self/mounts, octal escapes (\040) decoded. */
typedef struct disk_mount {
    char dir[DISK_PATH_MAX];
    char type[64];
    int ro;                   /* "ro" among the options (this process's view of the mount) */
} disk_mount;

/* Parses one line of a mounts file in place; 0 on success, -1 when it is malformed. */
int disk_parse_mount_line(char *line, disk_mount *out);

/* Reads a whole mounts file; *out is malloc'ed (free it). Malformed lines are skipped and
 * counted in *bad. 0, or -1 with errno when the file cannot be read. */
int disk_read_mounts(const char *path, disk_mount **out, size_t *n, size_t *bad);

/* 1 when the mountinfo file (/proc/self/mountinfo) says the filesystem mounted at dir (the
 * last line naming it: the visible mount) is itself writable: "rw" in its superblock options,
 * after " - TYPE SOURCE ". A mount that is read-only in this process's view only (systemd's
 * ProtectSystem=, ProtectHome=, ReadOnlyPaths= remount a bind of it "ro") still fills up by
 * every other writer. 0 when it is read-only there too, not listed, or the file unreadable. */
int disk_super_rw(const char *mountinfo, const char *dir);
/* The same for every mount of mv marked ro, in one read of the file: clears ro where the
 * filesystem itself is writable. Reads nothing when no mount is marked ro. */
void disk_mark_super_rw(const char *mountinfo, disk_mount *mv, size_t n);

/* What statvfs and stat say of one mounted filesystem. */
typedef struct disk_usage {
    dev_t dev;                /* st_dev of the mountpoint: same filesystem test */
    uint64_t total_bytes;     /* f_blocks * f_frsize */
    uint64_t avail_bytes;     /* f_bavail * f_frsize: what an unprivileged writer still has */
    uint64_t used_bytes;      /* (f_blocks - f_bfree) * f_frsize */
    double used_percent;      /* as df: used / (used + avail) */
    uint64_t inodes, inodes_free;
    double inodes_used_percent; /* 0 when the filesystem has no inode limit (btrfs) */
} disk_usage;

/* Measures dir with statvfs(3) and stat(2); 0, or -1 with errno. Tests replace it by setting
 * disk_usage_hook (NULL = the real one). */
int disk_usage_of(const char *dir, disk_usage *u);
extern int (*disk_usage_hook)(const char *dir, disk_usage *u);

/* Every regular file held open or mapped by some process, as sorted (dev, inode) pairs, read
 * from proc_dir/[pid]/fd and proc_dir/[pid]/maps. */
typedef struct disk_openset {
    struct disk_devino { dev_t dev; ino_t ino; } *v;
    size_t n, cap;
} disk_openset;
int disk_openset_load(const char *proc_dir, disk_openset *s);
int disk_openset_has(const disk_openset *s, dev_t dev, ino_t ino);
void disk_openset_free(disk_openset *s);

/* What removing the regular files older than some age under a directory would free, walked by
 * the very code the host's act_remove_old_files runs (agent/clean_walk.c): the directory opened
 * from / through trusted directories without symlinks, never another mount, ages by the newest
 * of atime, mtime and ctime, no login records, no sockets, fifos or devices, held-open and
 * mapped files kept. Read-only. */
#define DISK_PREVIEW_NAMES 4
typedef struct disk_preview {
    uint64_t count, bytes;    /* files that would go, and their blocks (st_blocks * 512) */
    uint64_t held;            /* old enough but held open or mapped: kept */
    uint64_t linked;          /* would go, but another hard link keeps the blocks: 0 bytes */
    uint64_t scanned;         /* directory entries looked at */
    uint64_t mounts_skipped, login_kept;
    char names[DISK_PREVIEW_NAMES][512]; /* the first few to go, in the host's order */
    size_t n_names;
    int names_rotated[DISK_PREVIEW_NAMES];
    char why[512];            /* why the directory was refused, when -1 */
    char deferred[512];       /* directories left to systemd-tmpfiles (the plugin's sum) */
} disk_preview;
/* pattern: fnmatch on the file name, NULL or "" = every file. held_set may be NULL (no
 * held-open check). 0, or -1 with errno and p->why when dir is refused or cannot be opened. */
int disk_preview_dir(const char *dir, double older_than_days, const char *pattern, time_t now,
                     const disk_openset *held_set, disk_preview *p);

/* 1 for names logrotate and friends give rotated files (*.1, *.gz, *-YYYYMMDD), as the host's
 * rotated_first ordering decides. */
int disk_is_rotated(const char *name);

/* 1 when a tmpfiles.d file (*.conf) in one of dirs has an ageing line (type d, D, e, v, q or
 * Q with an age) for exactly path: systemd-tmpfiles owns its cleanup. *where names the file,
 * line and rule. */
int disk_tmpfiles_rule(const char *const *dirs, size_t n_dirs, const char *path, char *where,
                       size_t wl);

/* "3.2 MiB" into buf. */
const char *disk_human_bytes(uint64_t bytes, char *buf, size_t len);

#endif
