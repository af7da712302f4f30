/* cpu_scan.c — the cpu plugin's /proc scanner and system counters. Owns the per-process run-time
 * history: one descriptor per process kept open between scans and re-read with pread (one system
 * call per process instead of open+read+close), processes matched from scan to scan by merging
 * two pid-sorted lists (procfs lists pids in ascending order).
 *
 * Sources. The kernel formats /proc/PID/schedstat (three numbers) in about half the time of
 * stat's 52 fields (bench/bench_procread), but its run time is the *leader thread's* only, while
 * stat's utime + stime is the whole thread group's. So a process whose stat says one thread is
 * followed through schedstat (ns), any other through stat (ticks, converted to ns); both count
 * the same thing (utime + stime is the group's sum_exec_runtime split and rounded to ticks). A
 * schedstat process has its stat re-read by path every CPU_SCAN_RECHECK scans: a thread started
 * since moves it to stat, and whatever the group ran beyond what schedstat counted since the
 * last stat read is added back then, so a window's total stays the group's. Identity: a kept
 * descriptor reads the process it was opened for (a dead one fails: ESRCH), and every stat
 * read compares the start time. A schedstat process may keep its stat descriptor too (sfd), so
 * the recheck is one pread instead of open + read + close, but only from descriptors the budget
 * has left once every process could hold one.
 *
 * Listing. getdents over /proc costs about as much per process as a read, so it is not done in
 * full every scan. procfs positions a pid's entry at a fixed offset from the pid (learned from
 * the d_off values of a full listing), and pids are allocated upwards: a scan reads the last
 * allocated pid from /proc/loadavg and lists only the pids above the one read two scans before
 * (the scan before may have read a pid whose process was not yet visible). The processes below
 * are the ones already known: each is read through its descriptor and dropped when that fails.
 * A full listing every CPU_SCAN_FULL_LIST scans, after the pid counter wrapped, or whenever
 * proc_root is not this process's own procfs (a fixture tree, another pid namespace). */

#include "cpu_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CPU_DENTS_BUF (64 * 1024)

struct cpu_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

int cpu_scan_open(cpu_scan *s, const char *proc_root, size_t max_fds, double cp_every)
{
    memset(s, 0, sizeof *s);
    s->proc_fd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->proc_fd < 0)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    s->hz = hz > 0 ? (double)hz : 100.0;
    s->tick_ns = (uint64_t)(1e9 / s->hz + 0.5);
    s->max_fds = max_fds;
    s->cp_every = cp_every > 0 ? cp_every : 1.0;
    s->t_last = s->t_prev = s->since = -1;
    s->loadavg_fd = -1;
    s->pid_pos = -1;
    s->last_pid[0] = s->last_pid[1] = -1;
    /* Partial listings need loadavg's last pid to be of proc_root's pid namespace: proc_root is
     * a procfs whose "self" is this process. */
    struct statfs fs;
    char self[32];
    ssize_t sl;
    if (fstatfs(s->proc_fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC &&
        (sl = readlinkat(s->proc_fd, "self", self, sizeof self - 1)) > 0) {
        self[sl] = '\0';
        if (strtol(self, NULL, 10) == (long)getpid())
            s->loadavg_fd = openat(s->proc_fd, "loadavg", O_RDONLY | O_CLOEXEC);
    }
    return 0;
}

static void cpu_scan_close_fds(cpu_scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].fd >= 0)
            close(s->v[i].fd);
        if (s->v[i].sfd >= 0)
            close(s->v[i].sfd);
    }
}

void cpu_scan_reset(cpu_scan *s)
{
    cpu_scan_close_fds(s);
    free(s->v);
    free(s->nv);
    free(s->pids);
    free(s->dents);
    s->v = s->nv = NULL;
    s->pids = NULL;
    s->dents = NULL;
    s->n = s->cap = s->ncap = s->npids = s->pcap = 0;
    s->open_fds = s->open_sfds = 0;
    s->last_pid[0] = s->last_pid[1] = -1;
    s->since_full = 0;
    s->t_last = s->t_prev = s->since = -1;
    s->cp_seq = 0;
    s->scans = 0;
    memset(s->cp_time, 0, sizeof s->cp_time);
}

void cpu_scan_close(cpu_scan *s)
{
    if (!s)
        return;
    cpu_scan_close_fds(s);
    if (s->proc_fd >= 0)
        close(s->proc_fd);
    if (s->loadavg_fd >= 0)
        close(s->loadavg_fd);
    free(s->v);
    free(s->nv);
    free(s->pids);
    free(s->dents);
    memset(s, 0, sizeof *s);
    s->proc_fd = s->loadavg_fd = -1;
}

/* Parses an unsigned decimal; advances *p past it. */
static int cpu_scan_u64(const char **p, const char *end, uint64_t *out)
{
    const char *q = *p;
    uint64_t v = 0;
    if (q >= end || *q < '0' || *q > '9')
        return -1;
    while (q < end && *q >= '0' && *q <= '9')
        v = v * 10 + (uint64_t)(*q++ - '0');
    *p = q;
    *out = v;
    return 0;
}

int cpu_scan_parse_stat(const char *buf, size_t len, char comm[16], uint64_t *ticks,
                        uint64_t *start_time)
{
    long threads;
    return cpu_scan_parse_stat_threads(buf, len, comm, ticks, start_time, &threads);
}

int cpu_scan_parse_schedstat(const char *buf, size_t len, uint64_t *ns)
{
    const char *p = buf, *end = buf + len;
    if (cpu_scan_u64(&p, end, ns) < 0 || p >= end || *p != ' ')
        return -1;
    return 0;
}

int cpu_scan_parse_stat_threads(const char *buf, size_t len, char comm[16], uint64_t *ticks,
                                uint64_t *start_time, long *threads)
{
    const char *end = buf + len;
    const char *lp = memchr(buf, '(', len);
    if (!lp)
        return -1;
    /* comm may hold ')' itself: the fields start after the LAST ')'. */
    const char *rp = NULL;
    for (const char *q = end; q > lp;)
        if (*--q == ')') {
            rp = q;
            break;
        }
    if (!rp)
        return -1;
    size_t cl = (size_t)(rp - lp - 1);
    if (cl > 15)
        cl = 15;
    memcpy(comm, lp + 1, cl);
    comm[cl] = '\0';
    /* Fields from 3 (state) on, separated by single spaces: utime is field 14, stime 15,
     * num_threads 20, starttime 22. */
    const char *p = rp + 1;
    uint64_t ut = 0, st = 0, start = 0, nth = 0;
    for (int field = 3; field <= 22; field++) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end)
            return -1;
        if (field == 14 || field == 15 || field == 20 || field == 22) {
            uint64_t v;
            if (cpu_scan_u64(&p, end, &v) < 0)
                return -1;
            if (field == 14)
                ut = v;
            else if (field == 15)
                st = v;
            else if (field == 20)
                nth = v;
            else
                start = v;
        } else {
            while (p < end && *p != ' ')
                p++;
        }
    }
    *ticks = ut + st;
    *start_time = start;
    *threads = nth > 1000000 ? 1000000 : (long)nth;
    return 0;
}

static int cpu_scan_cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

static int cpu_scan_push(cpu_scan *s, pid_t pid)
{
    if (s->npids == s->pcap) {
        size_t cap = s->pcap ? s->pcap * 2 : 1024;
        pid_t *np = realloc(s->pids, cap * sizeof *np);
        if (!np) {
            errno = ENOMEM;
            return -1;
        }
        s->pids = np;
        s->pcap = cap;
    }
    s->pids[s->npids++] = pid;
    return 0;
}

/* loadavg's last field: the last pid allocated in this pid namespace, or -1. */
static pid_t cpu_scan_last_pid(cpu_scan *s)
{
    char buf[128];
    ssize_t r = pread(s->loadavg_fd, buf, sizeof buf - 1, 0);
    if (r <= 0)
        return -1;
    buf[r] = '\0';
    const char *p = strrchr(buf, ' ');
    char *end;
    long v = p ? strtol(p + 1, &end, 10) : -1;
    if (!p || end == p + 1 || v <= 0 || v >= (1L << 30))
        return -1;
    return (pid_t)v;
}

/* The pids of this scan into s->pids, ascending. from < 0: every numeric entry of proc_root
 * (and the position of pid 0 learned from the entries' d_off, when they agree). Else the known
 * processes up to from, then the entries above from, listed from their position. 1 when a
 * partial listing met an entry at or below from (the positions are not what was learned: list
 * in full), 0, or -1 with errno. */
static int cpu_scan_list(cpu_scan *s, pid_t from)
{
    s->npids = 0;
    if (!s->dents && !(s->dents = malloc(CPU_DENTS_BUF))) {
        errno = ENOMEM;
        return -1;
    }
    if (from >= 0) {
        for (size_t i = 0; i < s->n && s->v[i].pid <= from; i++)
            if (cpu_scan_push(s, s->v[i].pid) < 0)
                return -1;
    }
    off_t start = from >= 0 ? (off_t)(s->pid_pos + from + 1) : 0;
    if (lseek(s->proc_fd, start, SEEK_SET) != start)
        return -1;
    int sorted = 1, agree = 1;
    long long pos = -1;
    int64_t prev_off = -1;   /* d_off of the entry before: the position of the one after it */
    for (;;) {
        long nread = syscall(SYS_getdents64, s->proc_fd, s->dents, CPU_DENTS_BUF);
        if (nread < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (nread == 0)
            break;
        for (long off = 0; off < nread;) {
            struct cpu_dirent64 *d = (struct cpu_dirent64 *)(s->dents + off);
            off += d->d_reclen;
            int64_t here = prev_off;
            prev_off = d->d_off;
            const char *nm = d->d_name;
            if (*nm < '1' || *nm > '9' || (d->d_type != DT_DIR && d->d_type != DT_UNKNOWN))
                continue;
            long v = 0;
            for (; *nm >= '0' && *nm <= '9' && v < (1L << 30); nm++)
                v = v * 10 + (*nm - '0');
            if (*nm)
                continue;
            if (from >= 0 && v <= from)
                return 1;
            if (here < 0 || (pos >= 0 && pos != here - v))
                agree = 0;
            else
                pos = here - v;
            if (s->npids && s->pids[s->npids - 1] >= (pid_t)v)
                sorted = 0;
            if (cpu_scan_push(s, (pid_t)v) < 0)
                return -1;
        }
    }
    if (from < 0)
        s->pid_pos = agree && sorted && pos >= 0 ? pos : -1;
    /* procfs is ascending already; a fixture tree on another filesystem may not be. */
    if (!sorted)
        qsort(s->pids, s->npids, sizeof *s->pids, cpu_scan_cmp_pid);
    return 0;
}

/* Lists this scan's pids: in part when the last pid moved up only since two scans ago and a
 * full listing is not due (see "Listing"), else in full. */
static int cpu_scan_pids(cpu_scan *s)
{
    pid_t lp = s->loadavg_fd >= 0 ? cpu_scan_last_pid(s) : -1;
    pid_t from = -1;
    if (lp > 0 && s->pid_pos >= 0 && s->since_full + 1 < CPU_SCAN_FULL_LIST &&
        s->last_pid[1] > 0 && s->last_pid[1] <= s->last_pid[0] && s->last_pid[0] <= lp)
        from = s->last_pid[1];
    int r = cpu_scan_list(s, from);
    if (r == 1) {
        s->pid_pos = -1;
        from = -1;
        r = cpu_scan_list(s, from);
    }
    if (r < 0)
        return -1;
    s->last_pid[1] = s->last_pid[0];
    s->last_pid[0] = lp;
    if (from < 0) {
        s->since_full = 0;
        s->lists_full++;
    } else {
        s->since_full++;
        s->lists_partial++;
    }
    return 0;
}

static void cpu_scan_drop_sfd(cpu_scan *s, cpu_proc *p)
{
    if (p->sfd >= 0) {
        close(p->sfd);
        p->sfd = -1;
        s->open_fds--;
        s->open_sfds--;
    }
}

static void cpu_scan_drop(cpu_scan *s, cpu_proc *p)
{
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
        s->open_fds--;
    }
    cpu_scan_drop_sfd(s, p);
}

/* Whether one more second descriptor fits: the budget less one for each process listed. */
static int cpu_scan_room2(const cpu_scan *s)
{
    return s->open_fds < s->max_fds && s->open_sfds + s->npids < s->max_fds;
}

static int cpu_scan_openat(cpu_scan *s, pid_t pid, const char *file)
{
    char rel[40];
    snprintf(rel, sizeof rel, "%d/%s", (int)pid, file);
    return openat(s->proc_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

static ssize_t cpu_scan_pread(int fd, char *buf, size_t len)
{
    ssize_t r = pread(fd, buf, len - 1, 0);
    if (r > 0)
        buf[r] = '\0';
    return r;
}

/* Reads PID/stat of e through its kept stat descriptor, else by path (then kept while the
 * budget allows: e->fd, src CPU_SRC_STAT). */
static ssize_t cpu_scan_read_stat(cpu_scan *s, cpu_proc *e, char *buf, size_t len)
{
    s->stat_reads++;
    if (e->fd >= 0 && e->src == CPU_SRC_STAT) {
        ssize_t r = cpu_scan_pread(e->fd, buf, len);
        if (r > 0)
            return r;
        /* The process we held died (ESRCH); the pid may belong to a new one now. */
        cpu_scan_drop(s, e);
    }
    int fd = cpu_scan_openat(s, e->pid, "stat");
    if (fd < 0)
        return -1;
    ssize_t r = cpu_scan_pread(fd, buf, len);
    if (r <= 0) {
        close(fd);
        return -1;
    }
    if (e->fd < 0 && s->open_fds < s->max_fds) {
        e->fd = fd;
        e->src = CPU_SRC_STAT;
        s->open_fds++;
    } else {
        close(fd);
    }
    return r;
}

/* A process first seen with one thread and a kept stat descriptor is followed through schedstat
 * from now on (the kept descriptor swapped): raw is its baseline. A kernel that shows zeros
 * there (no run-time accounting) keeps it on stat. */
static void cpu_scan_try_sched(cpu_scan *s, cpu_proc *e, uint64_t ticks)
{
    if (s->no_sched || e->fd < 0 || e->src != CPU_SRC_STAT)
        return;
    int fd = cpu_scan_openat(s, e->pid, "schedstat");
    if (fd < 0) {
        /* A kernel without it (CONFIG_SCHED_INFO off) has none anywhere: stop asking. A fixture
         * tree may have it for some processes only (ENOENT from a missing file, too). */
        if (errno == ENOENT && faccessat(s->proc_fd, "self/schedstat", F_OK, 0) == 0)
            return;
        if (errno == ENOENT && faccessat(s->proc_fd, "self", F_OK, 0) == 0)
            s->no_sched = 1;
        return;
    }
    char buf[128];
    uint64_t v;
    ssize_t r = cpu_scan_pread(fd, buf, sizeof buf);
    if (r <= 0 || cpu_scan_parse_schedstat(buf, (size_t)r, &v) < 0 || (v == 0 && ticks > 0)) {
        close(fd);
        return;
    }
    s->sched_reads++;
    if (cpu_scan_room2(s)) {
        e->sfd = e->fd;   /* the stat descriptor stays, for the recheck */
        s->open_fds++;
        s->open_sfds++;
    } else {
        close(e->fd);
    }
    e->fd = fd;
    e->src = CPU_SRC_SCHED;
    e->raw = v;
}

/* Every CPU_SCAN_RECHECK scans for a schedstat process: its stat by path (comm, thread count,
 * the group's total). A thread started since, or one that came and went, shows as group time
 * beyond what schedstat counted; that is added back (a tolerance of two ticks: stat rounds
 * utime and stime down separately), and a process with threads moves to stat for good.
 * Returns -1 when the pid is no longer this process (start time), else 0. */
static int cpu_scan_recheck(cpu_scan *s, cpu_proc *e)
{
    int kept = e->sfd >= 0;
    int fd = kept ? e->sfd : cpu_scan_openat(s, e->pid, "stat");
    if (fd < 0)
        return 0;   /* gone just now: the next schedstat read fails and says so */
    s->stat_reads++;
    char buf[1024], comm[16];
    uint64_t ticks, start;
    long threads;
    ssize_t r = cpu_scan_pread(fd, buf, sizeof buf);
    if (r <= 0 || cpu_scan_parse_stat_threads(buf, (size_t)r, comm, &ticks, &start, &threads) < 0) {
        if (!kept)
            close(fd);
        return 0;   /* a kept one fails once the process is gone: so does its schedstat */
    }
    if (start != e->start_time) {
        if (!kept)
            close(fd);
        return -1;
    }
    memcpy(e->comm, comm, sizeof e->comm);
    uint64_t g = ticks > e->grp_ticks ? (ticks - e->grp_ticks) * s->tick_ns : 0;
    uint64_t c = e->ns - e->ns_at_grp;
    if (g > c && (threads > 1 || g - c > 2 * s->tick_ns))
        e->ns += g - c;
    e->grp_ticks = ticks;
    e->ns_at_grp = e->ns;
    if (threads > 1) {
        close(e->fd);   /* the kept descriptor becomes the stat one */
        e->fd = fd;
        e->src = CPU_SRC_STAT;
        if (kept) {
            e->sfd = -1;
            s->open_fds--;
            s->open_sfds--;
        }
    } else if (kept) {
        if (s->open_sfds + s->npids > s->max_fds)
            cpu_scan_drop_sfd(s, e);   /* more processes now: their first descriptors come first */
    } else if (cpu_scan_room2(s)) {
        e->sfd = fd;
        s->open_fds++;
        s->open_sfds++;
    } else {
        close(fd);
    }
    return 0;
}

/* One process of a scan: e updated to time now. 0, or -1 when it is not a process this time
 * (vanished, odd content). new_cp: this scan's checkpoint index. */
static int cpu_scan_one(cpu_scan *s, cpu_proc *e, int existing, double now, uint32_t new_cp)
{
    char buf[1024];
    if (existing) {
        e->prev_ns = e->ns;
        if (e->src == CPU_SRC_SCHED && e->fd >= 0) {
            s->sched_reads++;
            uint64_t v;
            ssize_t r = cpu_scan_pread(e->fd, buf, sizeof buf);
            if (r > 0 && cpu_scan_parse_schedstat(buf, (size_t)r, &v) == 0) {
                if (v > e->raw)
                    e->ns += v - e->raw;
                e->raw = v;
                if ((s->scans + (uint32_t)e->pid) % CPU_SCAN_RECHECK != 0 ||
                    cpu_scan_recheck(s, e) == 0)
                    return 0;
            }
            /* The process we held died (or its pid was reused): whatever the pid is now. */
            cpu_scan_drop(s, e);
            e->src = CPU_SRC_STAT;
            existing = 0;
        }
    }
    ssize_t r = cpu_scan_read_stat(s, e, buf, sizeof buf);
    char comm[16];
    uint64_t ticks, start;
    long threads;
    if (r < 0 || cpu_scan_parse_stat_threads(buf, (size_t)r, comm, &ticks, &start, &threads) < 0)
        return -1;
    if (existing && e->start_time != start)
        existing = 0;   /* the pid was reused */
    if (!existing) {
        cpu_scan_drop_sfd(s, e);   /* (none here: only a schedstat process has one) */
        int fd = e->fd, src = e->src;
        pid_t pid = e->pid;
        memset(e, 0, sizeof *e);
        e->pid = pid;
        e->fd = fd;
        e->sfd = -1;
        e->src = src;
        e->start_time = start;
        e->ns = e->prev_ns = e->first_ns = ticks * s->tick_ns;
        e->first_t = now;
        e->first_cp = new_cp;
        e->grp_ticks = ticks;
        e->ns_at_grp = e->ns;
        memcpy(e->comm, comm, sizeof e->comm);
        if (threads == 1)
            cpu_scan_try_sched(s, e, ticks);
        return 0;
    }
    if (ticks > e->grp_ticks)
        e->ns += (ticks - e->grp_ticks) * s->tick_ns;
    e->grp_ticks = ticks;
    e->ns_at_grp = e->ns;
    memcpy(e->comm, comm, sizeof e->comm);
    return 0;
}

int cpu_scan_run(cpu_scan *s, double now)
{
    if (cpu_scan_pids(s) < 0)
        return -1;
    if (s->ncap < s->npids) {
        size_t cap = s->npids + s->npids / 4 + 64;
        cpu_proc *nv = realloc(s->nv, cap * sizeof *nv);
        if (!nv) {
            errno = ENOMEM;
            return -1;
        }
        s->nv = nv;
        s->ncap = cap;
    }
    int take_cp = s->cp_seq == 0 || now - s->cp_time[(s->cp_seq - 1) % CPU_SCAN_CP] >= s->cp_every;
    uint32_t cp = s->cp_seq;
    size_t i = 0, out = 0;
    for (size_t k = 0; k < s->npids; k++) {
        pid_t pid = s->pids[k];
        while (i < s->n && s->v[i].pid < pid)
            cpu_scan_drop(s, &s->v[i++]);
        cpu_proc e;
        int existing = 0;
        if (i < s->n && s->v[i].pid == pid) {
            e = s->v[i++];
            existing = 1;
        } else {
            e.pid = pid;
            e.fd = e.sfd = -1;
            e.src = CPU_SRC_STAT;
        }
        if (cpu_scan_one(s, &e, existing, now, cp) < 0) {
            /* Vanished mid-scan or odd content: not a process this time. */
            s->read_errors++;
            cpu_scan_drop(s, &e);
            continue;
        }
        if (take_cp)
            e.cp_ns[cp % CPU_SCAN_CP] = e.ns;
        s->nv[out++] = e;
    }
    while (i < s->n)
        cpu_scan_drop(s, &s->v[i++]);
    if (take_cp) {
        s->cp_time[cp % CPU_SCAN_CP] = now;
        s->cp_seq++;
    }
    cpu_proc *tv = s->v;
    size_t tc = s->cap;
    s->v = s->nv;
    s->cap = s->ncap;
    s->n = out;
    s->nv = tv;
    s->ncap = tc;
    s->t_prev = s->t_last;
    s->t_last = now;
    s->scans++;
    if (s->since < 0)
        s->since = now;
    return (int)out;
}

double cpu_scan_recent(const cpu_scan *s, const cpu_proc *p)
{
    double dt = s->t_last - s->t_prev;
    if (s->t_prev < 0 || dt <= 0 || p->ns < p->prev_ns)
        return 0;
    return 100.0 * (double)(p->ns - p->prev_ns) / 1e9 / dt;
}

double cpu_scan_share(const cpu_scan *s, const cpu_proc *p, double window)
{
    double ref_t = p->first_t;
    uint64_t ref_ns = p->first_ns;
    if (s->cp_seq > 0) {
        uint32_t hi = s->cp_seq - 1;
        uint32_t lo = s->cp_seq > CPU_SCAN_CP ? s->cp_seq - CPU_SCAN_CP : 0;
        if (lo < p->first_cp)
            lo = p->first_cp;
        double target = s->t_last - window;
        int found = 0;
        for (uint32_t q = hi + 1; q-- > lo;) {
            if (s->cp_time[q % CPU_SCAN_CP] <= target) {
                ref_t = s->cp_time[q % CPU_SCAN_CP];
                ref_ns = p->cp_ns[q % CPU_SCAN_CP];
                found = 1;
                break;
            }
            if (q == 0)
                break;
        }
        if (!found && lo <= hi && s->cp_time[lo % CPU_SCAN_CP] < s->t_last) {
            /* History shorter than the window: the oldest checkpoint we have. */
            ref_t = s->cp_time[lo % CPU_SCAN_CP];
            ref_ns = p->cp_ns[lo % CPU_SCAN_CP];
        }
    }
    double dt = s->t_last - ref_t;
    if (dt <= 0 || p->ns < ref_ns)
        return cpu_scan_recent(s, p);
    return 100.0 * (double)(p->ns - ref_ns) / 1e9 / dt;
}

double cpu_scan_span(const cpu_scan *s, double window)
{
    if (s->t_prev < 0 || s->cp_seq == 0)
        return 0;
    /* The same choice cpu_scan_share makes for a process present at checkpoint 0 onwards. */
    uint32_t hi = s->cp_seq - 1;
    uint32_t lo = s->cp_seq > CPU_SCAN_CP ? s->cp_seq - CPU_SCAN_CP : 0;
    double target = s->t_last - window;
    for (uint32_t q = hi + 1; q-- > lo;)
        if (s->cp_time[q % CPU_SCAN_CP] <= target)
            return s->t_last - s->cp_time[q % CPU_SCAN_CP];
    return s->t_last - s->cp_time[lo % CPU_SCAN_CP];
}

const cpu_proc *cpu_scan_find(const cpu_scan *s, pid_t pid)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->v[lo].pid == pid ? &s->v[lo] : NULL;
}

size_t cpu_scan_top(const cpu_scan *s, double window, size_t *out, double *share, size_t k)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n && k; i++) {
        double sh = cpu_scan_share(s, &s->v[i], window);
        if (n == k && sh <= share[n - 1])
            continue;
        size_t j = n < k ? n++ : k - 1;
        while (j > 0 && share[j - 1] < sh) {
            share[j] = share[j - 1];
            out[j] = out[j - 1];
            j--;
        }
        share[j] = sh;
        out[j] = i;
    }
    return n;
}

int cpu_stat_read(int fd, cpu_stat *out)
{
    char buf[32768];
    ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
    if (r <= 0)
        return -1;
    buf[r] = '\0';
    if (strncmp(buf, "cpu ", 4) != 0)
        return -1;
    const char *p = buf + 4, *end = buf + r;
    uint64_t f[8] = {0};
    int nf = 0;
    for (; nf < 8; nf++) {
        while (p < end && *p == ' ')
            p++;
        if (cpu_scan_u64(&p, end, &f[nf]) < 0)
            break;
    }
    if (nf < 4)
        return -1;
    /* user nice system idle iowait irq softirq steal; guest time is inside user already. */
    uint64_t total = 0;
    for (int i = 0; i < nf; i++)
        total += f[i];
    uint64_t idle = f[3] + (nf > 4 ? f[4] : 0);
    out->total = total;
    out->busy = total - idle;
    int ncpu = 0;
    for (const char *l = strchr(buf, '\n'); l && l + 4 < end; l = strchr(l + 1, '\n'))
        if (strncmp(l + 1, "cpu", 3) == 0 && l[4] >= '0' && l[4] <= '9')
            ncpu++;
    out->ncpu = ncpu;
    return 0;
}

int cpu_loadavg_read(int fd, double load[3])
{
    char buf[256];
    ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
    if (r <= 0)
        return -1;
    buf[r] = '\0';
    return sscanf(buf, "%lf %lf %lf", &load[0], &load[1], &load[2]) == 3 ? 0 : -1;
}
