/* cpu_scan.h — the cpu plugin's measuring side, kept free of the host API so the benchmark can
 * link it alone: the /proc/PID scanner (per-process run time in ns from schedstat or stat,
 * checkpoints for shares over a window) and the /proc/stat and /proc/loadavg readers. */
#ifndef HEALER_CPU_SCAN_H
#define HEALER_CPU_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Checkpoints kept per process: the share "over the window" is taken from the checkpoint
 * nearest to (now - window), so its error is at most one checkpoint spacing. */
#define CPU_SCAN_CP 8

/* A single-threaded process read through schedstat has its stat re-read every this many scans
 * (staggered by pid): a thread it started since is seen then, and the time the leader's
 * schedstat missed is added back from the group total (cpu_scan.c, "Sources"). */
#define CPU_SCAN_RECHECK 8

/* proc_root is listed in full (getdents from the start) at least every this many scans; in
 * between, only the pids allocated since (cpu_scan.c, "Listing"). */
#define CPU_SCAN_FULL_LIST 8

/* Where a process's run time comes from. */
enum { CPU_SRC_STAT = 0, CPU_SRC_SCHED = 1 };

typedef struct cpu_proc {
    pid_t pid;
    int fd;                         /* kept descriptor (schedstat or stat, by src), or -1 */
    int sfd;                        /* CPU_SRC_SCHED: a kept stat descriptor for the recheck
                                     * (only from budget no other process needs), or -1 */
    int src;                        /* CPU_SRC_SCHED: one-thread process, schedstat's run time;
                                     * CPU_SRC_STAT: stat's utime + stime (the whole group) */
    uint64_t start_time;            /* stat field 22: with pid, the identity */
    uint64_t ns;                    /* run time (ns, utime + stime of every thread) at the last
                                     * scan, counted from when first seen */
    uint64_t prev_ns;               /* at the scan before (== ns when first seen) */
    uint64_t first_ns;              /* when first seen */
    uint64_t raw;                   /* the schedstat value at the last read (CPU_SRC_SCHED) */
    uint64_t grp_ticks;             /* stat's utime + stime at the last stat read */
    uint64_t ns_at_grp;             /* ns at that read */
    double first_t;                 /* scan time when first seen */
    uint32_t first_cp;              /* checkpoints with seq >= this hold this process */
    uint64_t cp_ns[CPU_SCAN_CP];    /* ns at checkpoint seq, index seq % CPU_SCAN_CP */
    char comm[16];                  /* from the last stat read (at most CPU_SCAN_RECHECK old) */
} cpu_proc;

typedef struct cpu_scan {
    int proc_fd;                    /* proc_root, a directory fd kept open */
    cpu_proc *v;                    /* sorted by pid */
    size_t n, cap;
    cpu_proc *nv;                   /* the next scan's array (double buffer) */
    size_t ncap;
    pid_t *pids;                    /* pids of this scan's getdents */
    size_t npids, pcap;
    char *dents;                    /* getdents64 buffer */
    size_t open_fds, max_fds;       /* descriptors kept open (fd and sfd), and the budget */
    size_t open_sfds;               /* of which second (stat beside schedstat) descriptors */
    int loadavg_fd;                 /* proc_root/loadavg when proc_root is the procfs of this
                                     * process's pid namespace (its last pid), else -1 */
    long long pid_pos;              /* getdents position of pid 0 (learned), or -1: unknown */
    pid_t last_pid[2];              /* loadavg's last pid at the last scan and the one before
                                     * (-1: not read) */
    uint32_t since_full;            /* scans since the last full listing */
    uint64_t lists_full, lists_partial, lists_skipped;   /* how each scan found its pids */
    double hz;                      /* clock ticks per second */
    uint64_t tick_ns;               /* ns per clock tick */
    double t_last, t_prev;          /* the last two scans' times (t_prev < 0: one scan) */
    uint32_t cp_seq;                /* checkpoints taken so far; the latest is cp_seq - 1 */
    double cp_time[CPU_SCAN_CP];
    double cp_every;                /* seconds between checkpoints */
    uint64_t read_errors;           /* stat files that vanished or did not parse */
    uint64_t stat_reads;            /* /proc/PID/stat reads since open (what idle must not do) */
    uint64_t sched_reads;           /* /proc/PID/schedstat reads since open */
    uint32_t scans;                 /* scans since open or reset (staggers the rechecks) */
    int no_sched;                   /* never use schedstat (tests; a kernel without it) */
    double since;                   /* time of the first scan since open or reset, or -1 */
} cpu_scan;

/* Opens proc_root (the directory holding PID/ entries). max_fds: how many /proc/PID/stat
 * descriptors may stay open between scans (the rest are opened and closed each scan).
 * cp_every: seconds between checkpoints (window / (CPU_SCAN_CP - 2) suits a window). */
int cpu_scan_open(cpu_scan *s, const char *proc_root, size_t max_fds, double cp_every);
void cpu_scan_close(cpu_scan *s);

/* Forgets every process: kept descriptors closed, arrays freed, history gone (proc_root stays
 * open). What the plugin does when the host goes quiet, so an idle agent holds nothing that
 * grows with the number of processes. The next cpu_scan_run starts a fresh history. */
void cpu_scan_reset(cpu_scan *s);

/* One pass over proc_root: every process's run time at time now. Returns the number of
 * processes seen, or -1 with errno when proc_root cannot be listed. */
int cpu_scan_run(cpu_scan *s, double now);

/* Share of one core (100 = one core busy) the process used over about the last window
 * seconds (from the checkpoint nearest to now - window; shorter for newer processes). */
double cpu_scan_share(const cpu_scan *s, const cpu_proc *p, double window);

/* How many seconds cpu_scan_share(s, p, window) covers for a process seen since the first scan
 * of this history: at most about window (plus one checkpoint spacing), less while the history
 * is younger than the window. 0 before two scans. */
double cpu_scan_span(const cpu_scan *s, double window);

/* Share over the last interval between two scans. */
double cpu_scan_recent(const cpu_scan *s, const cpu_proc *p);

/* The entry for pid, or NULL. */
const cpu_proc *cpu_scan_find(const cpu_scan *s, pid_t pid);

/* The k processes with the largest window share, largest first, into out (indexes into
 * s->v) and their shares; returns how many (<= k, <= s->n). */
size_t cpu_scan_top(const cpu_scan *s, double window, size_t *out, double *share, size_t k);

/* Parses one /proc/PID/stat line: comm, utime + stime, start_time. 0, or -1 on odd content. */
int cpu_scan_parse_stat(const char *buf, size_t len, char comm[16], uint64_t *ticks,
                        uint64_t *start_time);
/* The same plus num_threads (field 20). */
int cpu_scan_parse_stat_threads(const char *buf, size_t len, char comm[16], uint64_t *ticks,
                                uint64_t *start_time, long *threads);
/* Parses /proc/PID/schedstat's first number (run time, ns). 0, or -1 on odd content. */
int cpu_scan_parse_schedstat(const char *buf, size_t len, uint64_t *ns);

/* /proc/stat's first line: busy and total jiffies (idle and iowait are not busy), and the
 * number of cpuN lines. fd: an open /proc/stat (read with pread at 0). 0 or -1. */
typedef struct cpu_stat {
    uint64_t busy, total;
    int ncpu;
} cpu_stat;
int cpu_stat_read(int fd, cpu_stat *out);

/* /proc/loadavg: the three load averages. 0 or -1. */
int cpu_loadavg_read(int fd, double load[3]);

#endif
