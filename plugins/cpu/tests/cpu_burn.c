/* cpu_burn.c — a CPU burner for the cpu plugin's tests and benchmark: `cpu_burn [PERCENT]`
 * uses PERCENT of one core (default 100) in 100 ms periods, counted in its own CPU time so the
 * duty holds under contention. Tests copy it under the names they need (comm = file name). */

#include <stdlib.h>
#include <time.h>

static double burn_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double pct = argc > 1 ? atof(argv[1]) : 100.0;
    volatile unsigned long spin = 0;
    if (pct >= 100)
        for (;;)
            spin++;
    if (pct < 1)
        pct = 1;
    const double period = 0.1;
    for (;;) {
        double t0 = burn_cpu_now();
        while (burn_cpu_now() - t0 < period * pct / 100.0)
            for (int i = 0; i < 1000; i++)
                spin++;
        double rest = period * (100.0 - pct) / 100.0;
        struct timespec ts = {0, (long)(rest * 1e9)};
        nanosleep(&ts, NULL);
    }
}
