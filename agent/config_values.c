/* config_values.c — typed readers for the sections that parse themselves (notify, fleet): a
 * number or integer within bounds, http(s) URL lists, "must be a group", "unknown key (known:
 * ...)". Each reports FILE:LINE through cfg_report like the table-driven sections. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

bool cfg_read_double(rctx *r, const config_setting_t *s, const char *path, double lo,
                     double hi, double *out)
{
    double v;
    if (!cfg_get_number(r, s, &v)) {
        cfg_report(r, s, "%s: expected a number, got %s", path,
                   cfg_type_name(config_setting_type(s)));
        return false;
    }
    if (!isfinite(v) || v < lo || v > hi) {
        cfg_report(r, s, "%s: must be between %g and %g, got %.15g", path, lo, hi, v);
        return false;
    }
    *out = v;
    return true;
}

bool cfg_read_int(rctx *r, const config_setting_t *s, const char *path, long long lo,
                  long long hi, int *out)
{
    long long v;
    bool huge;
    if (!cfg_get_integer(r, s, &v, &huge)) {
        cfg_report(r, s, "%s: expected an integer, got %s", path,
                   cfg_type_name(config_setting_type(s)));
        return false;
    }
    if (huge || v < lo || v > hi) {
        cfg_report(r, s, "%s: must be between %lld and %lld, got %s%lld", path, lo, hi,
                   huge ? "a number beyond 64 bits, " : "", v);
        return false;
    }
    *out = (int)v;
    return true;
}

/* http:// or https:// and a host: libcurl would take "localhost:9093" as a scheme-less guess,
 * and an operator's typo must fail at load, not at the first event. */
bool cfg_read_urls(rctx *r, const config_setting_t *s, const char *path, char ***out,
                      size_t *n_out)
{
    char **v = NULL;
    size_t n = 0;
    if (!cfg_read_string_list(r, s, path, true, &v, &n))
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *u = v[i];
        size_t skip = strncmp(u, "http://", 7) == 0 ? 7 : strncmp(u, "https://", 8) == 0 ? 8 : 0;
        bool bad = !skip || !u[skip] || u[skip] == '/' || strpbrk(u, " \t\r\n");
        if (bad) {
            cfg_report(r, s, "%s: \"%s\" is not an http:// or https:// URL with a host", path, u);
            cfg_free_strv(v, n);
            return false;
        }
    }
    cfg_free_strv(*out, *n_out);
    *out = v;
    *n_out = n;
    return true;
}

void cfg_unknown_key(rctx *r, const config_setting_t *s, const char *path, const char *known)
{
    cfg_report(r, s, "%s: unknown key (known: %s)", path, known);
}

bool cfg_want_group(rctx *r, const config_setting_t *s, const char *path)
{
    if (config_setting_is_group(s))
        return true;
    cfg_report(r, s, "%s: expected a group { ... }, got %s", path,
               cfg_type_name(config_setting_type(s)));
    return false;
}

bool cfg_read_str(rctx *r, const config_setting_t *s, const char *path, char **out)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        cfg_report(r, s, "%s: expected a string, got %s", path,
                   cfg_type_name(config_setting_type(s)));
        return false;
    }
    char *v = strdup(config_setting_get_string(s));
    if (!v) {
        cfg_report(r, s, "%s: out of memory", path);
        return false;
    }
    free(*out);
    *out = v;
    return true;
}
