/* memory_fast_hog.c — a bench helper, not part of the plugin: grows as fast as this machine
 * lets a process fault pages in, and times the two ends of an OOM-prevention race on one clock
 * (CLOCK_MONOTONIC): a sampler thread notes when MemAvailable first falls to CROSS_PCT of
 * MemTotal, and the SIGTERM handler notes when the signal arrived. Used by
 * bench/memory_emergency.sh for healerd and earlyoom alike.
 * usage: memory_fast_hog OUT CROSS_PCT FLOOR_PCT MAX_MB HOLD_S [huge]
 *   OUT        file the timestamps go to (lines "cross NS AVAIL_KB RATE_MIB_S", "term NS")
 *   FLOOR_PCT  stop growing at this MemAvailable share (the bench's safety net: never the
 *              kernel's OOM killer), MAX_MB stop at this size, HOLD_S then exit by itself;
 *   huge       fault transparent huge pages (MADV_HUGEPAGE), else 4 KiB pages */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int out_fd = -1;
static double cross_pct, floor_pct;
static atomic_ulong touched;          /* bytes faulted in so far */
static atomic_int stop_growing;
static struct timespec t_start;

static long long ns_of(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* Async-signal-safe: clock_gettime and write only. */
static void on_term(int sig)
{
    (void)sig;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char b[64], d[24];
    long long v = ns_of(&ts);
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    int k = 0;
    memcpy(b, "term ", 5);
    k = 5;
    while (n)
        b[k++] = d[--n];
    b[k++] = '\n';
    if (write(out_fd, b, (size_t)k) < 0) {
    }
    _exit(0);
}

static int read_meminfo(int fd, unsigned long long *total, unsigned long long *avail)
{
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *t = strstr(buf, "MemTotal:"), *a = strstr(buf, "MemAvailable:");
    if (!t || !a)
        return -1;
    *total = strtoull(t + 9, NULL, 10);
    *avail = strtoull(a + 13, NULL, 10);
    return *total ? 0 : -1;
}

/* Samples MemAvailable every millisecond: the crossing time is known to about 1 ms. */
static void *sampler(void *arg)
{
    (void)arg;
    int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
    int crossed = 0;
    struct timespec ms = {0, 1000000};
    for (;;) {
        unsigned long long total, avail;
        if (fd >= 0 && read_meminfo(fd, &total, &avail) == 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double pct = 100.0 * (double)avail / (double)total;
            if (!crossed && pct <= cross_pct) {
                crossed = 1;
                double dt = (double)(ns_of(&now) - ns_of(&t_start)) / 1e9;
                double rate = dt > 0 ? (double)atomic_load(&touched) / dt / 1048576.0 : 0;
                dprintf(out_fd, "cross %lld %llu %.0f\n", ns_of(&now), avail, rate);
            }
            if (pct <= floor_pct)
                atomic_store(&stop_growing, 1);
        }
        nanosleep(&ms, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s OUT CROSS_PCT FLOOR_PCT MAX_MB HOLD_S\n", argv[0]);
        return 2;
    }
    out_fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cross_pct = atof(argv[2]);
    floor_pct = atof(argv[3]);
    unsigned long long max = strtoull(argv[4], NULL, 10) << 20;
    int hold = atoi(argv[5]);
    int huge = argc > 6 && strcmp(argv[6], "huge") == 0;
    if (out_fd < 0 || cross_pct <= 0 || floor_pct <= 0 || !max || hold <= 0)
        return 2;
    /* The kernel's OOM killer, should it ever come, takes this process first. */
    int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (adj >= 0) {
        if (write(adj, "1000", 4) < 0) {
        }
        close(adj);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigfillset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    pthread_t th;
    if (pthread_create(&th, NULL, sampler, NULL) != 0)
        return 1;
    /* 64 MiB mappings touched one byte per page: page faults as fast as they come. */
    const size_t chunk = 64u << 20;
    long page = sysconf(_SC_PAGESIZE);
    while (!atomic_load(&stop_growing) && atomic_load(&touched) + chunk <= max) {
        char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            break;
        madvise(p, chunk, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        for (size_t i = 0; i < chunk; i += (size_t)page) {
            p[i] = 1;
            if ((i & ((1u << 20) - 1)) == 0)
                atomic_fetch_add(&touched, 1u << 20);
            if ((i & ((8u << 20) - 1)) == 0 && atomic_load(&stop_growing))
                break;
        }
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt = (double)(ns_of(&now) - ns_of(&t_start)) / 1e9;
    dprintf(out_fd, "grown %llu MiB in %.3f s (%.0f MiB/s)%s\n",
            (unsigned long long)(atomic_load(&touched) >> 20), dt,
            dt > 0 ? (double)atomic_load(&touched) / dt / 1048576.0 : 0,
            atomic_load(&stop_growing) ? " stopped at the floor" : "");
    sleep((unsigned)hold);
    dprintf(out_fd, "timeout\n");
    return 3;
}
