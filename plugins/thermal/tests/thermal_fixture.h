/* thermal_fixture.h — builds a sysfs (and a small procfs) fixture tree laid out as the kernel
 * does, for the thermal plugin's unit tests and bench: thermal zones, hwmon chips with fans,
 * cpufreq policies and a v1 freezer cgroup. Header-only: both programs include it once. */
#ifndef THERMAL_FIXTURE_H
#define THERMAL_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fx_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    if ((size_t)snprintf(buf, sizeof buf, "%s", path) >= sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Writes root/rel with content (and a newline, as sysfs shows it), creating directories. The
 * file is rewritten in place (same inode), as a sysfs attribute changes. */
static int fx_put(const char *root, const char *rel, const char *content)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", root, rel) >= sizeof path)
        return -1;   /* a cut path would name some other file */
    char *slash = strrchr(path, '/');
    *slash = '\0';
    if (fx_mkdirs(path) < 0)
        return -1;
    *slash = '/';
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s\n", content);
    if ((size_t)n >= sizeof buf)   /* writing n bytes from buf would read past its end */
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int ok = write(fd, buf, (size_t)n) == n;
    close(fd);
    return ok ? 0 : -1;
}

/* Reads root/rel without its trailing newline into buf (empty when unreadable). */
__attribute__((unused)) static const char *fx_get(const char *root, const char *rel, char *buf, size_t len)
{
    char path[PATH_MAX];
    buf[0] = '\0';
    if ((size_t)snprintf(path, sizeof path, "%s/%s", root, rel) >= sizeof path)
        return buf;   /* a cut path would name some other file */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    return buf;
}

static void fx_zone_temp(const char *sys, int zone, double celsius)
{
    char rel[64], v[32];
    snprintf(rel, sizeof rel, "class/thermal/thermal_zone%d/temp", zone);
    snprintf(v, sizeof v, "%lld", (long long)(celsius * 1000));
    fx_put(sys, rel, v);
}

/* zones thermal zones at 40 C (zone 0 is x86_pkg_temp), hwmons chips with temp1_input at
 * 40 C and a fan pwm1 = 100 in automatic mode (pwm1_enable 2), cpus cpufreq policies in
 * schedutil between 800 MHz and 3 GHz (the last one without powersave), and a v1 freezer
 * cgroup fs/cgroup/freezer/heavy (THAWED, no processes). */
static void fx_build(const char *sys, int zones, int hwmons, int cpus)
{
    char rel[128], v[64];
    static const char *const types[] = {"x86_pkg_temp", "acpitz", "iwlwifi_1", "INT3400 Thermal",
                                        "B0D4", "SEN1", "SEN2", "pch_cannonlake"};
    for (int z = 0; z < zones; z++) {
        snprintf(rel, sizeof rel, "class/thermal/thermal_zone%d/type", z);
        fx_put(sys, rel, types[z % 8]);
        fx_zone_temp(sys, z, 40);
    }
    static const char *const names[] = {"coretemp", "nvme", "acpi_fan", "nct6775"};
    for (int h = 0; h < hwmons; h++) {
        snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/name", h);
        fx_put(sys, rel, names[h % 4]);
        snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/temp1_input", h);
        fx_put(sys, rel, "40000");
        snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/temp1_label", h);
        snprintf(v, sizeof v, "Sensor %d", h);
        fx_put(sys, rel, v);
        snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/pwm1", h);
        fx_put(sys, rel, "100");
        snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/pwm1_enable", h);
        fx_put(sys, rel, "2");
    }
    for (int c = 0; c < cpus; c++) {
        char d[64];
        snprintf(d, sizeof d, "devices/system/cpu/cpu%d/cpufreq", c);
        snprintf(rel, sizeof rel, "%s/scaling_governor", d);
        fx_put(sys, rel, "schedutil");
        snprintf(rel, sizeof rel, "%s/scaling_available_governors", d);
        fx_put(sys, rel, c == cpus - 1 && cpus > 1 ? "performance schedutil"
                                                   : "conservative ondemand userspace powersave "
                                                     "performance schedutil");
        snprintf(rel, sizeof rel, "%s/scaling_max_freq", d);
        fx_put(sys, rel, "3000000");
        snprintf(rel, sizeof rel, "%s/cpuinfo_max_freq", d);
        fx_put(sys, rel, "3000000");
        snprintf(rel, sizeof rel, "%s/cpuinfo_min_freq", d);
        fx_put(sys, rel, "800000");
    }
    fx_put(sys, "fs/cgroup/freezer/heavy/freezer.state", "THAWED");
    fx_put(sys, "fs/cgroup/freezer/heavy/cgroup.procs", "");
}

static int fx_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void fx_rm_tree(const char *dir)
{
    nftw(dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
