/* bench_procread.c — what the kernel charges for one per-process /proc file read by a kept
 * descriptor (pread at 0), file by file, with 10 000 processes (sleepers it forks and kills):
 * the numbers behind the cpu plugin's choice of /proc/PID/schedstat over /proc/PID/stat for its
 * steady scans (plugins/cpu/README.md, "Numbers"). Prints µs of CPU per read. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double procread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    size_t want = argc > 1 ? (size_t)atol(argv[1]) : 10000;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    pid_t *kids = calloc(want, sizeof *kids);
    int *fds = calloc(want, sizeof *fds);
    if (!kids || !fds)
        return 1;
    pid_t parent = getpid();
    size_t n = 0;
    for (; n < want; n++) {
        pid_t p = fork();
        if (p < 0) {
            fprintf(stderr, "fork after %zu children: %s\n", n, strerror(errno));
            break;
        }
        if (p == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(0);
            for (;;)
                pause();
        }
        kids[n] = p;
    }
    /* rlim_max may be below 10 000 kept descriptors; one file at a time keeps it honest. */
    const char *files[] = {"stat", "schedstat", "statm", "status", "task"};
    printf("bench_procread: %zu processes, %d rounds, one file kept open per process\n", n, rounds);
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        int is_dir = strcmp(files[f], "task") == 0;
        size_t open_n = 0;
        for (size_t i = 0; i < n; i++) {
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/%s", (int)kids[i], files[f]);
            fds[i] = open(path, O_RDONLY | O_CLOEXEC | (is_dir ? O_DIRECTORY : 0));
            if (fds[i] >= 0)
                open_n++;
        }
        char buf[4096];
        long reads = 0;
        size_t bytes = 0;
        double c0 = 0, cpu = 0;
        for (int r = 0; r <= rounds; r++) {   /* round 0 warms up (seq_file buffers) */
            if (r == 1)
                c0 = procread_cpu();
            for (size_t i = 0; i < n; i++) {
                if (fds[i] < 0)
                    continue;
                if (is_dir) {
                    /* the thread count as the task directory's link count (2 + threads) */
                    struct stat st;
                    if (fstat(fds[i], &st) == 0 && r)
                        reads++;
                } else {
                    ssize_t got = pread(fds[i], buf, sizeof buf, 0);
                    if (got > 0 && r) {
                        reads++;
                        bytes += (size_t)got;
                    }
                }
            }
        }
        cpu = procread_cpu() - c0;
        printf("  %-10s %s: %6.2f us CPU per process (%zu open, %.0f bytes each)\n", files[f],
               is_dir ? "fstat" : "pread", reads ? 1e6 * cpu / (double)reads : 0.0, open_n,
               reads ? (double)bytes / (double)reads : 0.0);
        for (size_t i = 0; i < n; i++)
            if (fds[i] >= 0)
                close(fds[i]);
    }
    for (size_t i = 0; i < n; i++)
        kill(kids[i], SIGKILL);
    for (size_t i = 0; i < n; i++)
        while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR) {
        }
    free(kids);
    free(fds);
    return 0;
}
