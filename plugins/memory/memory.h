/* memory.h — internal to the memory plugin: the parsers of /proc/meminfo, /proc/swaps,
 * /proc/pressure/memory and cgroup memory files, and the least-squares leak fit. Pure functions
 * on text and numbers, so the unit tests can check them without any host. */
#ifndef HEALER_PLUGIN_MEMORY_H
#define HEALER_PLUGIN_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/* What /proc/meminfo says (bytes). has_available = 0 on kernels without MemAvailable. */
typedef struct memory_meminfo {
    uint64_t total, available, free, cached, swap_total, swap_free;
    int has_available;
} memory_meminfo;

/* One line of /proc/pressure/memory ("some" or "full"). */
typedef struct memory_psi {
    double some_avg10, full_avg10;
    uint64_t some_total_us, full_total_us;
    int has_full;
} memory_psi;

/* Parses the text of /proc/meminfo; 0 when MemTotal was found, -1 otherwise. */
int memory_parse_meminfo(const char *text, memory_meminfo *out);

/* Parses the text of /proc/pressure/memory; 0 when the "some" line was found. */
int memory_parse_psi(const char *text, memory_psi *out);

/* 1 when path (or what it resolves to, given as real, may be NULL) is listed as active in the
 * text of /proc/swaps, 0 otherwise. */
int memory_swap_active(const char *swaps_text, const char *path, const char *real);

/* A cgroup limit file's content as bytes: "max" (v2) or a v1 "unlimited" value (at least
 * 2^62) is 0 = no limit. -1 when it is not a number. */
int memory_parse_limit(const char *text, uint64_t *out);

/* Least-squares line through n points (t, y): slope in y per t, and R^2 (1 when y is
 * constant and the fit is exact; 0 when t has no spread). */
void memory_fit(const double *t, const double *y, size_t n, double *slope, double *r2);

/* The systemd unit a cgroup path belongs to: the deepest component ending in ".service";
 * otherwise the last component (with ".service" appended when it has no dot). */
void memory_unit_of(const char *cgroup_path, char *buf, size_t len);

/* Reads a whole small file into buf (NUL-terminated); bytes read or -1 with errno. */
long memory_read_file(const char *path, char *buf, size_t len);

#endif
