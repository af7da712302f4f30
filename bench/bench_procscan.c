/* bench_procscan.c — the cpu plugin's /proc scan (plugins/cpu/cpu_scan.c): µs of CPU per
 * process with 1 000 and 10 000 processes (sleepers this benchmark forks and kills), with the
 * descriptors kept open (pread; schedstat for one-thread processes, stat rechecked every
 * CPU_SCAN_RECHECK scans: the plugin's way) and, for comparison, stat only (the way before
 * schedstat) and every stat file opened on every scan. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpu_scan.h"

static double bench_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double bench_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t *kids;
static size_t nkids;

static int bench_spawn(size_t want)
{
    pid_t parent = getpid();
    while (nkids < want) {
        pid_t p = fork();
        if (p < 0) {
            fprintf(stderr, "fork after %zu children: %s\n", nkids, strerror(errno));
            return -1;
        }
        if (p == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(0);
            for (;;)
                pause();
        }
        kids[nkids++] = p;
    }
    return 0;
}

static void bench_reap(void)
{
    for (size_t i = 0; i < nkids; i++)
        kill(kids[i], SIGKILL);
    for (size_t i = 0; i < nkids; i++)
        while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR) {
        }
    nkids = 0;
}

/* Scans `rounds` times after one warm-up; prints µs of CPU and wall per process. */
static void bench_measure(const char *label, size_t max_fds, int no_sched, int rounds)
{
    cpu_scan s;
    if (cpu_scan_open(&s, "/proc", max_fds, 1.0) < 0) {
        perror("cpu_scan_open");
        return;
    }
    s.no_sched = no_sched;
    double c0 = bench_cpu(), w0 = bench_wall();
    int n = cpu_scan_run(&s, 0);
    double cold_cpu = bench_cpu() - c0, cold_wall = bench_wall() - w0;
    double cpu = 0, wall = 0;
    long total = 0;
    for (int r = 1; r <= rounds; r++) {
        c0 = bench_cpu();
        w0 = bench_wall();
        n = cpu_scan_run(&s, r);
        cpu += bench_cpu() - c0;
        wall += bench_wall() - w0;
        total += n;
    }
    printf("%-26s %6d processes: first scan %6.2f us/proc CPU; steady %6.2f us/proc CPU "
           "(%5.2f wall), %zu fds open; per scan %.2f stat + %.2f schedstat reads/proc\n", label,
           n, 1e6 * cold_cpu / n, 1e6 * cpu / (double)total, 1e6 * wall / (double)total,
           s.open_fds, (double)s.stat_reads / (double)(total + n),
           (double)s.sched_reads / (double)(total + n));
    (void)cold_wall;
    cpu_scan_close(&s);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;   /* room for 10 000 kept descriptors */
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    kids = calloc(10000, sizeof *kids);
    if (!kids)
        return 1;
    size_t base = 0;
    {
        cpu_scan s;
        if (cpu_scan_open(&s, "/proc", 0, 1.0) == 0) {
            base = (size_t)cpu_scan_run(&s, 0);
            cpu_scan_close(&s);
        }
    }
    printf("bench_procscan: %d rounds; %zu processes on the machine before\n", rounds, base);
    const size_t sizes[] = {1000, 10000};
    for (size_t i = 0; i < 2; i++) {
        size_t want = sizes[i] > base ? sizes[i] - base : 0;
        if (bench_spawn(want) < 0)
            break;
        char label[64];
        snprintf(label, sizeof label, "%zu, kept open + pread", sizes[i]);
        bench_measure(label, 1000000, 0, rounds);
        snprintf(label, sizeof label, "%zu, stat only, kept", sizes[i]);
        bench_measure(label, 1000000, 1, rounds);
        snprintf(label, sizeof label, "%zu, open+read+close", sizes[i]);
        bench_measure(label, 0, 1, rounds);
    }
    bench_reap();
    free(kids);
    return 0;
}
