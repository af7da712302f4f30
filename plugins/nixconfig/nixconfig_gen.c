/* nixconfig_gen.c — owns reading a Nix profile's generations (PROFILE-N-link beside the
 * PROFILE link, as nix-env makes them), the per-user profile check, the activation status
 * file and the plugin's record of good and bad generations. Read-only: the record is written
 * by the plugin through act_write_file. */
#include "nixconfig.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void nc_split(const char *profile, char *dir, size_t dl, const char **base)
{
    const char *slash = strrchr(profile, '/');
    if (!slash) {
        snprintf(dir, dl, ".");
        *base = profile;
        return;
    }
    size_t l = (size_t)(slash - profile);
    snprintf(dir, dl, "%.*s", (int)(l ? l : 1), profile);
    *base = slash + 1;
}

/* N from "BASE-N-link"; -1 when name is not one. */
static int nc_gen_of(const char *name, const char *base)
{
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) != 0 || name[bl] != '-')
        return -1;
    const char *p = name + bl + 1;
    if (!isdigit((unsigned char)*p))
        return -1;
    char *end;
    long g = strtol(p, &end, 10);
    if (strcmp(end, "-link") != 0 || g <= 0 || g > NC_MAX_GENS)
        return -1;
    return (int)g;
}

static int nc_cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int nc_gen_current(const char *profile)
{
    char dir[PATH_MAX];
    const char *base;
    nc_split(profile, dir, sizeof dir, &base);
    char tgt[PATH_MAX];
    ssize_t l = readlink(profile, tgt, sizeof tgt - 1);
    if (l <= 0)
        return -1;
    tgt[l] = '\0';
    const char *name = strrchr(tgt, '/');
    return nc_gen_of(name ? name + 1 : tgt, base);
}

int nc_gen_list(const char *profile, int *gens, int max, int *current)
{
    char dir[PATH_MAX];
    const char *base;
    nc_split(profile, dir, sizeof dir, &base);
    *current = nc_gen_current(profile);
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max) {
        int g = nc_gen_of(de->d_name, base);
        if (g > 0)
            gens[n++] = g;
    }
    closedir(d);
    qsort(gens, (size_t)n, sizeof *gens, nc_cmp_int);
    return n;
}

void nc_gen_link(const char *profile, int gen, char *buf, size_t len)
{
    snprintf(buf, len, "%s-%d-link", profile, gen);
}

int nc_user_profile(const char *profile)
{
    static const char per_user[] = "/nix/var/nix/profiles/per-user";
    if (strstr(profile, per_user) || strstr(profile, ".nix-profile"))
        return 1;
    char dir[PATH_MAX];
    const char *base;
    nc_split(profile, dir, sizeof dir, &base);
    char real[PATH_MAX];
    if (realpath(dir, real) && strstr(real, per_user))
        return 1;
    /* The profile link itself may point into per-user (a ~/.nix-profile style link). */
    char tgt[PATH_MAX];
    ssize_t l = readlink(profile, tgt, sizeof tgt - 1);
    if (l > 0) {
        tgt[l] = '\0';
        if (strstr(tgt, per_user) || strstr(tgt, ".nix-profile"))
            return 1;
    }
    return 0;
}

void nc_state_init(nc_genstate *s)
{
    memset(s, 0, sizeof *s);
    s->last_gen = -1;
}

int nc_state_load(nc_genstate *s, const char *path)
{
    nc_state_init(s);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char word[16];
        int a = 0, b = 0;
        int k = sscanf(line, "%15s %d %d", word, &a, &b);
        if (k >= 2 && a > 0 && a <= NC_MAX_GENS) {
            if (strcmp(word, "good") == 0)
                nc_state_mark(s, a, 1);
            else if (strcmp(word, "bad") == 0)
                nc_state_mark(s, a, 0);
            else if (strcmp(word, "last") == 0 && k == 3) {
                s->last_gen = a;
                s->last_exit = b;
            }
        }
        /* anything else (comments, odd lines) is skipped */
    }
    fclose(f);
    return 0;
}

void nc_state_mark(nc_genstate *s, int gen, int good)
{
    if (gen <= 0 || gen > NC_MAX_GENS)
        return;
    s->good[gen] = good ? 1 : 0;
    s->bad[gen] = good ? 0 : 1;
}

void nc_state_format(const nc_genstate *s, const char *profile, char *buf, size_t len)
{
    size_t u = 0;
    int w = snprintf(buf, len, "# healerd nixconfig: generations of %s (good = activated with "
                               "exit 0, bad = activation failed)\n", profile);
    if (w < 0 || (size_t)w >= len)
        return;
    u = (size_t)w;
    for (int g = 1; g <= NC_MAX_GENS; g++) {
        if (!s->good[g] && !s->bad[g])
            continue;
        w = snprintf(buf + u, len - u, "%s %d\n", s->good[g] ? "good" : "bad", g);
        if (w < 0 || (size_t)w >= len - u)
            return;
        u += (size_t)w;
    }
    if (s->last_gen > 0)
        snprintf(buf + u, len - u, "last %d %d\n", s->last_gen, s->last_exit);
}

int nc_status_read(const char *path, int *gen, int *exit_status)
{
    if (!path || !*path)
        return 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char line[128];
    int ok = 0;
    if (fgets(line, sizeof line, f)) {
        int a, b;
        int k = sscanf(line, "%d %d", &a, &b);
        if (k == 2) {
            *gen = a;
            *exit_status = b;
            ok = 1;
        } else if (k == 1) {
            *gen = -1;
            *exit_status = a;
            ok = 1;
        }
    }
    fclose(f);
    return ok;
}
