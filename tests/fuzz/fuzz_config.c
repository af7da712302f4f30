/* fuzz_config.c — libFuzzer target for the configuration loader: any bytes as healerd.conf
 * either load or are refused with problems that each name a file and a line, the count
 * returned is the count reported, and a loaded config satisfies the ranges the man page
 * promises (the exact-integer scanner, config_lex.c, is fuzzed with it). Every plugin section
 * is also resolved against a schema with every key type. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static int emitted;

static void emit(void *ud, const char *file, int line, const char *msg)
{
    (void)ud;
    (void)line;
    if (!file || !*file || !msg || !*msg)
        abort();
    emitted++;
}

static const healer_config_key schema[] = {
    {"n", HEALER_CFG_INT, "5", 1, 1000, ""},
    {"big", HEALER_CFG_INT, "0", 0, 0, ""},
    {"ratio", HEALER_CFG_DOUBLE, "0.5", 0, 10, ""},
    {"free", HEALER_CFG_DOUBLE, "1", 0, 0, ""},
    {"label", HEALER_CFG_STRING, "x", 0, 0, ""},
    {"paths", HEALER_CFG_STRING_LIST, "/a", 0, 0, ""},
    {"on", HEALER_CFG_BOOL, "false", 0, 0, ""},
    {NULL, 0, NULL, 0, 0, NULL},
};

static char path[64], dir[64];

static void remove_tmp(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        /* one file, rewritten each run; an @include of a relative name finds nothing */
        snprintf(dir, sizeof dir, "/tmp/fuzz_config.XXXXXX");
        if (!mkdtemp(dir))
            abort();
        snprintf(path, sizeof path, "%s/h.conf", dir);
        atexit(remove_tmp);
    }
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);

    emitted = 0;
    diag d = {emit, NULL, 0};
    config *cfg = NULL;
    int n = config_load(path, &cfg, &d);
    if (n != d.count || n != emitted || (n == 0) != (cfg != NULL))
        abort();
    if (!cfg)
        return 0;
    if (!(cfg->interval >= 0.01 && cfg->interval <= 86400) ||
        !(cfg->action_timeout > 0 && cfg->action_timeout <= 86400) ||
        !isfinite(cfg->limits.confirm_timeout_minutes) ||
        !isfinite(cfg->limits.cooldown_minutes) || cfg->limits.max_heals_per_hour < 0 ||
        cfg->limits.max_heals_per_hour > 100000 || cfg->protect_min_uid > 4294967294u)
        abort();
    if (!cfg->protect_replace_default_names && cfg->n_protect_names < 3)
        abort(); /* the built-in names are never lost by accident */
    const char **names;
    size_t np = config_plugin_sections(cfg, &names);
    for (size_t i = 0; i < np; i++) {
        diag pd = {emit, NULL, 0};
        emitted = 0;
        plugin_conf *pc = config_plugin_resolve(cfg, names[i], schema, &pd);
        if ((pc == NULL) != (pd.count > 0) || pd.count != emitted)
            abort();
        double iv = plugin_conf_interval(pc);
        if (pc && iv != 0 && !(iv >= 0.01 && iv <= 86400))
            abort();
        double fr;
        if (pc && plugin_conf_double(pc, "free", &fr) == 0 && !isfinite(fr))
            abort();
        plugin_conf_free(pc);
    }
    config_free(cfg);
    return 0;
}
