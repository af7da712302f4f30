/* metrics_process.c — process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_cpu_seconds_total, process_open_fds, process_max_fds, process_start_time_seconds for
 * the agent itself, read from /proc/self (never proc_root: that is the watched host's procfs,
 * which tests point elsewhere) at each scrape, under the names node_exporter's and the client
 * libraries' dashboards already use (no namespace prefix, as they have none). */
#include "metrics_process.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* /proc/self/stat fields 14, 15 (utime, stime in ticks), 22 (starttime, ticks after boot),
 * 23 (vsize, bytes), 24 (rss, pages). The command name (field 2) may hold spaces and ')':
 * parsing starts after the last ')'. */
static int read_stat(double *cpu, double *start_ticks, double *vsize, double *rss_pages)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut, st, start, vs;
    long long rss;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime cutime cstime priority nice threads itreal starttime(22) vsize rss */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                      "%*d %*d %llu %llu %lld", &ut, &st, &start, &vs, &rss) != 5)
        return -1;
    *cpu = (double)(ut + st);
    *start_ticks = (double)start;
    *vsize = (double)vs;
    *rss_pages = (double)rss;
    return 0;
}

static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return -1;
    char line[256];
    double bt = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return bt;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;   /* the directory's own descriptor */
}

static void put(char *buf, size_t cap, size_t *at, const char *name, const char *type,
                const char *help, double v)
{
    if (*at >= cap)
        return;
    int w = snprintf(buf + *at, cap - *at, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help,
                     name, type, name, v);
    if (w > 0)
        *at += (size_t)w;
}

int metrics_process_append(char **text, size_t *len)
{
    char buf[2048];
    size_t at = 0;
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    double cpu, start, vsize, rss;
    if (tck > 0 && page > 0 && read_stat(&cpu, &start, &vsize, &rss) == 0) {
        put(buf, sizeof buf, &at, "process_cpu_seconds_total", "counter",
            "Total user and system CPU time spent in seconds.", cpu / (double)tck);
        put(buf, sizeof buf, &at, "process_resident_memory_bytes", "gauge",
            "Resident memory size in bytes.", rss * (double)page);
        put(buf, sizeof buf, &at, "process_virtual_memory_bytes", "gauge",
            "Virtual memory size in bytes.", vsize);
        double bt = boot_time();
        if (bt > 0)
            put(buf, sizeof buf, &at, "process_start_time_seconds", "gauge",
                "Start time of the process since unix epoch in seconds.", bt + start / (double)tck);
    }
    long fds = open_fds();
    if (fds >= 0)
        put(buf, sizeof buf, &at, "process_open_fds", "gauge", "Number of open file descriptors.",
            (double)fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        put(buf, sizeof buf, &at, "process_max_fds", "gauge",
            "Maximum number of open file descriptors.", (double)rl.rlim_cur);
    if (at >= sizeof buf)
        at = 0;   /* cannot happen with these six lines; never append a cut one */
    char *p = realloc(*text, *len + at + 1);
    if (!p)
        return -1;
    memcpy(p + *len, buf, at);
    *len += at;
    p[*len] = '\0';
    *text = p;
    return 0;
}
