/* check_plans.c — `healerd --check-config` reads plans.d for the plans plugin: the folder its
 * `dir` names, parsed by the plugin's own parser (plugins/plans/plans_parse.c) against the
 * operator's policy for it, each problem as FILE:LINE (the plugin's init() is not run there). */
#include "check_plans.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "plans_parse.h"
#include "sanitize.h"

typedef struct report_ud {
    FILE *err;
} report_ud;

static void report_line(void *ud, const char *file, int line, const char *msg)
{
    report_ud *r = ud;
    char *f = sanitize_dup(file, SANITIZE_SPACE_WS), *m = sanitize_dup(msg, SANITIZE_SPACE_WS);
    fprintf(r->err, "%s:%d: %s\n", f ? f : "?", line, m ? m : "?");
    free(f);
    free(m);
}

int check_plans_config(const plugin_set *set, FILE *err)
{
    int problems = 0;
    for (size_t i = 0; set && i < set->n; i++) {
        const plugin_rec *p = &set->v[i];
        const char *dir = NULL;
        if (p->state != PLUGIN_LOADED || !p->name || strcmp(p->name, "plans") != 0 ||
            plugin_conf_string(p->conf, "dir", &dir) != 0 || !dir)
            continue;
        report_ud r = {.err = err};
        plans_set ps;
        problems += plans_load_dir(dir, &p->policy, report_line, &r, &ps);
        plans_set_free(&ps);
    }
    return problems;
}
