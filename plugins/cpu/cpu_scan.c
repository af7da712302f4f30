/* cpu_scan.c — the cpu plugin's /proc scanner and system counters. Owns the per-process tick
 * history: /proc/PID/stat descriptors are kept open between scans and re-read with pread (one
 * system call per process instead of open+read+close), and processes are matched from scan to
 * scan by merging two pid-sorted lists (procfs lists pids in ascending order). */

#include "cpu_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    s->max_fds = max_fds;
    s->cp_every = cp_every > 0 ? cp_every : 1.0;
    s->t_last = s->t_prev = s->since = -1;
    return 0;
}

void cpu_scan_reset(cpu_scan *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].fd >= 0)
            close(s->v[i].fd);
    free(s->v);
    free(s->nv);
    free(s->pids);
    free(s->dents);
    s->v = s->nv = NULL;
    s->pids = NULL;
    s->dents = NULL;
    s->n = s->cap = s->ncap = s->npids = s->pcap = 0;
    s->open_fds = 0;
    s->t_last = s->t_prev = s->since = -1;
    s->cp_seq = 0;
    memset(s->cp_time, 0, sizeof s->cp_time);
}

void cpu_scan_close(cpu_scan *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].fd >= 0)
            close(s->v[i].fd);
    if (s->proc_fd >= 0)
        close(s->proc_fd);
    free(s->v);
    free(s->nv);
    free(s->pids);
    free(s->dents);
    memset(s, 0, sizeof *s);
    s->proc_fd = -1;
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
     * starttime 22. */
    const char *p = rp + 1;
    uint64_t ut = 0, st = 0, start = 0;
    for (int field = 3; field <= 22; field++) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end)
            return -1;
        if (field == 14 || field == 15 || field == 22) {
            uint64_t v;
            if (cpu_scan_u64(&p, end, &v) < 0)
                return -1;
            if (field == 14)
                ut = v;
            else if (field == 15)
                st = v;
            else
                start = v;
        } else {
            while (p < end && *p != ' ')
                p++;
        }
    }
    *ticks = ut + st;
    *start_time = start;
    return 0;
}

static int cpu_scan_cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* Lists the numeric entries of proc_root into s->pids, ascending. */
static int cpu_scan_list(cpu_scan *s)
{
    s->npids = 0;
    if (!s->dents && !(s->dents = malloc(CPU_DENTS_BUF))) {
        errno = ENOMEM;
        return -1;
    }
    if (lseek(s->proc_fd, 0, SEEK_SET) < 0)
        return -1;
    int sorted = 1;
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
            const char *nm = d->d_name;
            if (*nm < '1' || *nm > '9' || (d->d_type != DT_DIR && d->d_type != DT_UNKNOWN))
                continue;
            long v = 0;
            for (; *nm >= '0' && *nm <= '9' && v < (1L << 30); nm++)
                v = v * 10 + (*nm - '0');
            if (*nm)
                continue;
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
            if (s->npids && s->pids[s->npids - 1] >= (pid_t)v)
                sorted = 0;
            s->pids[s->npids++] = (pid_t)v;
        }
    }
    /* procfs is ascending already; a fixture tree on another filesystem may not be. */
    if (!sorted)
        qsort(s->pids, s->npids, sizeof *s->pids, cpu_scan_cmp_pid);
    return 0;
}

static void cpu_scan_drop(cpu_scan *s, cpu_proc *p)
{
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
        s->open_fds--;
    }
}

/* Reads /proc/PID/stat of e (reusing its kept descriptor when it has one). */
static ssize_t cpu_scan_read(cpu_scan *s, cpu_proc *e, char *buf, size_t len)
{
    s->stat_reads++;
    if (e->fd >= 0) {
        ssize_t r = pread(e->fd, buf, len - 1, 0);
        if (r > 0) {
            buf[r] = '\0';
            return r;
        }
        /* The process we held died (ESRCH); the pid may belong to a new one now. */
        cpu_scan_drop(s, e);
    }
    char rel[32];
    snprintf(rel, sizeof rel, "%d/stat", (int)e->pid);
    int fd = openat(s->proc_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    ssize_t r = pread(fd, buf, len - 1, 0);
    if (r <= 0) {
        close(fd);
        return -1;
    }
    buf[r] = '\0';
    if (s->open_fds < s->max_fds) {
        e->fd = fd;
        s->open_fds++;
    } else {
        close(fd);
    }
    return r;
}

int cpu_scan_run(cpu_scan *s, double now)
{
    if (cpu_scan_list(s) < 0)
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
    char buf[1024];
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
            e.fd = -1;
        }
        ssize_t r = cpu_scan_read(s, &e, buf, sizeof buf);
        char comm[16];
        uint64_t ticks, start;
        if (r < 0 || cpu_scan_parse_stat(buf, (size_t)r, comm, &ticks, &start) < 0) {
            /* Vanished mid-scan or odd content: not a process this time. */
            s->read_errors++;
            cpu_scan_drop(s, &e);
            continue;
        }
        if (existing && e.start_time != start)
            existing = 0;   /* the pid was reused */
        if (!existing) {
            int fd = e.fd;
            memset(&e, 0, sizeof e);
            e.pid = pid;
            e.fd = fd;
            e.start_time = start;
            e.first_ticks = e.prev_ticks = ticks;
            e.first_t = now;
            e.first_cp = cp;
        } else {
            e.prev_ticks = e.ticks;
        }
        e.ticks = ticks;
        memcpy(e.comm, comm, sizeof e.comm);
        if (take_cp)
            e.cp_ticks[cp % CPU_SCAN_CP] = ticks;
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
    if (s->since < 0)
        s->since = now;
    return (int)out;
}

double cpu_scan_recent(const cpu_scan *s, const cpu_proc *p)
{
    double dt = s->t_last - s->t_prev;
    if (s->t_prev < 0 || dt <= 0 || p->ticks < p->prev_ticks)
        return 0;
    return 100.0 * (double)(p->ticks - p->prev_ticks) / s->hz / dt;
}

double cpu_scan_share(const cpu_scan *s, const cpu_proc *p, double window)
{
    double ref_t = p->first_t;
    uint64_t ref_ticks = p->first_ticks;
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
                ref_ticks = p->cp_ticks[q % CPU_SCAN_CP];
                found = 1;
                break;
            }
            if (q == 0)
                break;
        }
        if (!found && lo <= hi && s->cp_time[lo % CPU_SCAN_CP] < s->t_last) {
            /* History shorter than the window: the oldest checkpoint we have. */
            ref_t = s->cp_time[lo % CPU_SCAN_CP];
            ref_ticks = p->cp_ticks[lo % CPU_SCAN_CP];
        }
    }
    double dt = s->t_last - ref_t;
    if (dt <= 0 || p->ticks < ref_ticks)
        return cpu_scan_recent(s, p);
    return 100.0 * (double)(p->ticks - ref_ticks) / s->hz / dt;
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
