/* thermal_sensors.c — finds the temperature inputs under sys_root (class/thermal/thermal_zone*
 * and class/hwmon/hwmon*), keeps each temp file open, and reads them all with one pread each:
 * the whole of the plugin's idle cost. */
#include "thermal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Readings outside this range are sensor errors: disconnected inputs read -128, -273.15 or
 * huge values, and no running chip is at 150 C. */
#define THERMAL_MIN_PLAUSIBLE (-60.0)
#define THERMAL_MAX_PLAUSIBLE 150.0
#define THERMAL_MAX_SENSORS 256

int thermal_read_text(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        errno = e;
        return -1;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    return 0;
}

void thermal_sensors_close(thermal *t)
{
    for (size_t i = 0; i < t->n_sensors; i++)
        if (t->sensors[i].fd >= 0)
            close(t->sensors[i].fd);
    free(t->sensors);
    t->sensors = NULL;
    t->n_sensors = 0;
    t->hot = NULL;
}

static int thermal_ignored(thermal *t, const char *kind, const char *label)
{
    const healer_host *h = t->host;
    for (size_t i = 0; i < t->n_ignore; i++) {
        const char *pat = h->config_list_item(t->ctx, "ignore_sensors", i);
        if (pat && (fnmatch(pat, kind, 0) == 0 || fnmatch(pat, label, 0) == 0))
            return 1;
    }
    return 0;
}

static int thermal_add(thermal *t, size_t *cap, const char *path, const char *id,
                       const char *kind, const char *label)
{
    if (thermal_ignored(t, kind, label)) {
        t->host->log(t->ctx, HEALER_LOG_DEBUG, "sensor %s ignored (ignore_sensors)", label);
        return 0;
    }
    if (t->n_sensors >= THERMAL_MAX_SENSORS)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        t->host->log(t->ctx, HEALER_LOG_DEBUG, "sensor %s: %s: %s", label, path, strerror(errno));
        return 0;
    }
    if (t->n_sensors == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        thermal_sensor *nv = realloc(t->sensors, nc * sizeof *nv);
        if (!nv) {
            close(fd);
            return HEALER_E_NOMEM;
        }
        t->sensors = nv;
        *cap = nc;
    }
    thermal_sensor *s = &t->sensors[t->n_sensors++];
    memset(s, 0, sizeof *s);
    s->fd = fd;
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->label, sizeof s->label, "%s", label);
    return 0;
}

static void thermal_scan_zones(thermal *t, size_t *cap)
{
    char dir[PATH_MAX];
    if (!t->host->sys_path(t->ctx, "class/thermal", dir, sizeof dir))
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "thermal_zone", 12) != 0 || strlen(de->d_name) > 40)
            continue;
        char path[PATH_MAX + 64], type[64], label[160];
        snprintf(path, sizeof path, "%s/%.40s/type", dir, de->d_name);
        if (thermal_read_text(path, type, sizeof type) != 0 || !type[0])
            snprintf(type, sizeof type, "unknown");
        snprintf(label, sizeof label, "%.40s %s", de->d_name, type);
        snprintf(path, sizeof path, "%s/%.40s/temp", dir, de->d_name);
        if (thermal_add(t, cap, path, de->d_name, type, label) < 0)
            break;
    }
    closedir(d);
}

/* The temp*_input files of one hwmon attribute directory. */
static void thermal_scan_hwmon_dir(thermal *t, size_t *cap, const char *dir, const char *hw,
                                   const char *name)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        size_t l = strlen(n);
        if (strncmp(n, "temp", 4) != 0 || l < 11 || l > 24 || strcmp(n + l - 6, "_input") != 0)
            continue;
        char chan[24];                          /* "temp2" */
        snprintf(chan, sizeof chan, "%.*s", (int)(l - 6), n);
        char path[PATH_MAX + 64], lab[64], id[48], label[160];
        snprintf(path, sizeof path, "%s/%s_label", dir, chan);
        if (thermal_read_text(path, lab, sizeof lab) != 0)
            lab[0] = '\0';
        snprintf(id, sizeof id, "%.20s/%.20s", hw, chan);
        snprintf(label, sizeof label, "%s %s%s%s", id, name, lab[0] ? " " : "", lab);
        snprintf(path, sizeof path, "%s/%s", dir, n);
        if (thermal_add(t, cap, path, id, name, label) < 0)
            break;
    }
    closedir(d);
}

static void thermal_scan_hwmon(thermal *t, size_t *cap)
{
    char dir[PATH_MAX];
    if (!t->host->sys_path(t->ctx, "class/hwmon", dir, sizeof dir))
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "hwmon", 5) != 0 || strlen(de->d_name) > 20)
            continue;
        char base[PATH_MAX + 32], path[PATH_MAX + 64], name[64];
        snprintf(base, sizeof base, "%s/%.20s", dir, de->d_name);
        snprintf(path, sizeof path, "%s/name", base);
        if (thermal_read_text(path, name, sizeof name) == 0 && name[0]) {
            thermal_scan_hwmon_dir(t, cap, base, de->d_name, name);
            continue;
        }
        /* Older drivers keep their attributes in the parent device's directory. */
        snprintf(path, sizeof path, "%s/device/name", base);
        if (thermal_read_text(path, name, sizeof name) != 0 || !name[0])
            snprintf(name, sizeof name, "unknown");
        snprintf(path, sizeof path, "%s/device", base);
        thermal_scan_hwmon_dir(t, cap, path, de->d_name, name);
    }
    closedir(d);
}

static int thermal_cmp(const void *a, const void *b)
{
    return strverscmp(((const thermal_sensor *)a)->id, ((const thermal_sensor *)b)->id);
}

int thermal_sensors_scan(thermal *t)
{
    thermal_sensors_close(t);
    size_t cap = 0;
    thermal_scan_zones(t, &cap);
    thermal_scan_hwmon(t, &cap);
    /* A stable order: ties for the hottest go to the same sensor every time. */
    if (t->n_sensors > 1)
        qsort(t->sensors, t->n_sensors, sizeof *t->sensors, thermal_cmp);
    t->scanned_at = t->host->now(t->ctx);
    if (t->n_sensors == 0 && !t->nothing_logged) {
        t->host->log(t->ctx, HEALER_LOG_INFO, "no temperature sensor under sys_root "
                     "(class/thermal, class/hwmon); looking again every %.0f s", t->rescan_every);
        t->nothing_logged = 1;
    } else if (t->n_sensors) {
        t->nothing_logged = 0;
    }
    return (int)t->n_sensors;
}

size_t thermal_sensors_read(thermal *t)
{
    size_t good = 0;
    t->hot = NULL;
    t->hottest = 0;
    for (size_t i = 0; i < t->n_sensors; i++) {
        thermal_sensor *s = &t->sensors[i];
        char buf[32];
        ssize_t n = pread(s->fd, buf, sizeof buf - 1, 0);
        s->ok = 0;
        if (n <= 0) {
            /* Zones of a suspended device answer EINVAL/ENODATA/EAGAIN: skip, say so once. */
            if (!s->warned)
                t->host->log(t->ctx, HEALER_LOG_DEBUG, "sensor %s: read: %s", s->label,
                             n < 0 ? strerror(errno) : "empty");
            s->warned = 1;
            continue;
        }
        buf[n] = '\0';
        char *end;
        errno = 0;
        long long milli = strtoll(buf, &end, 10);
        double c = (double)milli / 1000.0;
        if (end == buf || errno || c <= THERMAL_MIN_PLAUSIBLE || c >= THERMAL_MAX_PLAUSIBLE) {
            if (!s->warned)
                t->host->log(t->ctx, HEALER_LOG_DEBUG, "sensor %s: implausible reading '%.*s'",
                             s->label, (int)strcspn(buf, "\n"), buf);
            s->warned = 1;
            continue;
        }
        s->warned = 0;
        s->ok = 1;
        s->celsius = c;
        good++;
        if (!t->hot || c > t->hottest) {
            t->hot = s;
            t->hottest = c;
        }
    }
    return good;
}
