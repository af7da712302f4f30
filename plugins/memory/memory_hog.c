/* memory_hog.c — a test helper, not part of the plugin: allocates and touches memory step by
 * step up to a target, then holds it until killed. Used by tests/plugins/memory_*.sh and
 * bench/memory_fault.sh as a real memory hog inside a real cgroup.
 * usage: memory_hog MAX_MB [STEP_MB [STEP_MS]]   (defaults: STEP_MB = MAX_MB, STEP_MS = 0) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MAX_MB [STEP_MB [STEP_MS]]\n", argv[0]);
        return 2;
    }
    long max = atol(argv[1]);
    long step = argc > 2 ? atol(argv[2]) : max;
    long ms = argc > 3 ? atol(argv[3]) : 0;
    if (max <= 0 || step <= 0 || ms < 0)
        return 2;
    long got = 0;
    while (got < max) {
        long n = step < max - got ? step : max - got;
        char *p = malloc((size_t)n << 20);
        if (!p)
            return 1;
        /* Touch every page so it is really charged (malloc alone only reserves). */
        for (size_t i = 0; i < ((size_t)n << 20); i += 4096)
            p[i] = (char)(i | 1);
        got += n;
        printf("%ld\n", got);
        fflush(stdout);
        if (ms) {
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    for (;;)
        pause();
}
