/* confload.c — loading a healerd.conf text in a unit test and keeping what config_load
 * reported, so each section's test says only what it checks. */
#include "confload.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static void collect(void *ud, const char *file, int line, const char *msg)
{
    msgs *m = ud;
    (void)file;
    if (m->n < 16) {
        m->line[m->n] = line;
        snprintf(m->text[m->n], sizeof m->text[0], "%s", msg);
    }
    m->n++;
}

int confload_setup(char *dir, size_t n, const char *name)
{
    snprintf(dir, n, "/tmp/%s_XXXXXX", name);
    return mkdtemp(dir) ? 0 : -1;
}

void confload_teardown(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

int confload(const char *dir, const char *text, msgs *m, config **out)
{
    char path[256];
    snprintf(path, sizeof path, "%s/h.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    memset(m, 0, sizeof *m);
    diag d = {collect, m, 0};
    config *c = NULL;
    int n = config_load(path, &c, &d);
    if (out)
        *out = c;
    else
        config_free(c);
    return n;
}
