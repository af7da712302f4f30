/* bench_thermal.c — the thermal plugin's idle cost: CPU µs per detect() over a fixture tree of
 * 8 thermal zones, 4 hwmon chips and 16 cpufreq policies (all cool), through the mock host, with
 * and without the temperature prediction, and the sensor reads alone. Prints numbers; asserts nothing. Usage: bench_thermal [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <healer/mock.h>

#include "thermal.h"
#include "thermal_fixture.h"

const healer_plugin *healer_plugin_entry_v1(void);

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000;
    char root[PATH_MAX], sys[PATH_MAX + 8];
    snprintf(root, sizeof root, "/tmp/thermal-bench-XXXXXX");
    if (!mkdtemp(root))
        return 1;
    snprintf(sys, sizeof sys, "%s/sys", root);
    fx_build(sys, 8, 4, 16);
    healer_mock *m = healer_mock_new(NULL, sys);
    if (!m || healer_mock_load(m, healer_plugin_entry_v1()) != HEALER_OK ||
        healer_mock_init(m) != HEALER_OK) {
        fprintf(stderr, "bench_thermal: %s\n", m ? healer_mock_last_error(m) : "no memory");
        return 1;
    }
    thermal *t = healer_mock_state(m);

    /* Whole detect(): reads, 12 metric gauges, one health report and 12 feeds and predictions
     * (predict_window_seconds 60 at 2 s: 30 points each) through the (mock) host. */
    double t0 = cpu_now();
    for (long i = 0; i < n; i++) {
        healer_mock_advance(m, 2);
        healer_mock_detect(m);
        if (i % 256 == 255)
            healer_mock_clear(m);   /* the mock records every call; keep its lists short */
    }
    double per_detect = (cpu_now() - t0) / (double)n * 1e6;

    /* The reads alone: one pread per sensor on descriptors kept open. */
    t0 = cpu_now();
    for (long i = 0; i < n; i++)
        thermal_sensors_read(t);
    double per_read = (cpu_now() - t0) / (double)n * 1e6;

    size_t sensors = t->n_sensors;
    healer_mock_free(m);

    /* The same detect() without the prediction (predict_horizon_seconds = 0). */
    m = healer_mock_new(NULL, sys);
    if (!m || healer_mock_load(m, healer_plugin_entry_v1()) != HEALER_OK ||
        healer_mock_set_double(m, "predict_horizon_seconds", 0) != HEALER_OK ||
        healer_mock_init(m) != HEALER_OK)
        return 1;
    t0 = cpu_now();
    for (long i = 0; i < n; i++) {
        healer_mock_advance(m, 2);
        healer_mock_detect(m);
        if (i % 256 == 255)
            healer_mock_clear(m);
    }
    double per_plain = (cpu_now() - t0) / (double)n * 1e6;
    healer_mock_free(m);

    /* A detect() that rescans (once a minute by default): opendir, type/name/label files,
     * opens; a second plugin instance with rescan_seconds = 1 and the clock 1 s on each time. */
    m = healer_mock_new(NULL, sys);
    if (!m || healer_mock_load(m, healer_plugin_entry_v1()) != HEALER_OK ||
        healer_mock_set_double(m, "rescan_seconds", 1) != HEALER_OK ||
        healer_mock_init(m) != HEALER_OK)
        return 1;
    long rn = n / 10 > 0 ? n / 10 : 1;
    t0 = cpu_now();
    for (long i = 0; i < rn; i++) {
        healer_mock_advance(m, 1);
        healer_mock_detect(m);
        if (i % 256 == 255)
            healer_mock_clear(m);
    }
    double per_scan = (cpu_now() - t0) / (double)rn * 1e6 - per_detect;

    printf("thermal idle cost over %zu sensors (8 zones, 4 hwmon; 16 cpufreq policies), "
           "%ld iterations:\n", sensors, n);
    printf("  detect() through the mock host: %.2f us CPU\n", per_detect);
    printf("  ... of which the prediction:    %.2f us CPU (12 feeds and fits; %.2f without)\n",
           per_detect - per_plain, per_plain);
    printf("  sensor reads alone:             %.2f us CPU (%.2f us per sensor)\n", per_read,
           per_read / (double)(sensors ? sensors : 1));
    printf("  a rescan, extra (every 60 s):   %.2f us CPU\n", per_scan);
    printf("  at the default interval of 2 s: %.5f %% of one CPU\n",
           (per_detect + per_scan / 30.0) / 2e6 * 100.0);
    healer_mock_free(m);
    fx_rm_tree(root);
    return 0;
}
