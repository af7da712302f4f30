/* disk_tmpfiles.c — whether systemd-tmpfiles owns the ageing of a directory: a tmpfiles.d line
 * of a type that ages its contents (d, D, e, v, q, Q) naming exactly that path with an age. The
 * disk plugin then leaves the directory to systemd-tmpfiles-clean and says so. */
#include "disk.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One tmpfiles.d file; 1 with *where filled when it ages path. */
static int disk_tmpfiles_file(const char *file, const char *path, char *where, size_t wl)
{
    FILE *f = fopen(file, "re");
    if (!f)
        return 0;
    char line[4096];
    unsigned no = 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        no++;
        char *save = NULL;
        char *type = strtok_r(line, " \t\n", &save);
        if (!type || type[0] == '#' || !strchr("dDevqQ", type[0]))
            continue;
        char *p = strtok_r(NULL, " \t\n", &save);
        char *fields[4] = { NULL, NULL, NULL, NULL };   /* mode user group age */
        for (int i = 0; i < 4; i++)
            fields[i] = strtok_r(NULL, " \t\n", &save);
        const char *age = fields[3];
        if (!p || !age || strcmp(age, "-") == 0)
            continue;
        size_t pl = strlen(p), ql = strlen(path);
        while (pl > 1 && p[pl - 1] == '/')
            pl--;
        while (ql > 1 && path[ql - 1] == '/')
            ql--;
        if (pl == ql && strncmp(p, path, pl) == 0) {
            snprintf(where, wl, "%s:%u: %s %.*s age %s", file, no, type, (int)pl, p, age);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

int disk_tmpfiles_rule(const char *const *dirs, size_t n_dirs, const char *path, char *where,
                       size_t wl)
{
    /* systemd reads a name once, the first directory having it winning (/etc over /run over
     * /usr/lib); a rule anywhere is enough to know tmpfiles ages the path. */
    for (size_t i = 0; i < n_dirs; i++) {
        if (!dirs[i])
            continue;
        DIR *d = opendir(dirs[i]);
        if (!d)
            continue;
        struct dirent *de;
        int found = 0;
        while (!found && (de = readdir(d))) {
            size_t nl = strlen(de->d_name);
            if (nl < 6 || strcmp(de->d_name + nl - 5, ".conf") != 0)
                continue;
            char file[4096 + 256];
            snprintf(file, sizeof file, "%s/%s", dirs[i], de->d_name);
            found = disk_tmpfiles_file(file, path, where, wl);
        }
        closedir(d);
        if (found)
            return 1;
    }
    return 0;
}
