/* healctl_holds.c — "healctl hold TARGET", "unhold TARGET" and "holds" (issue #11): the
 * operator's word that a change is intended. --for is checked here (a bad duration never
 * reaches the agent); the arguments travel as the POST's query, percent-encoded here. */
#include "healctl_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <math.h>
#include <pwd.h>

/* Appends "&key=value" (value percent-encoded) to qs. -1 when it does not fit. */
static int add_arg(char *qs, size_t len, const char *key, const char *v)
{
    if (!v)
        return 0;
    size_t k = strlen(qs);
    int n = snprintf(qs + k, len - k, "%s%s=", strchr(qs, '?') ? "&" : "?", key);
    if (n < 0 || (size_t)n >= len - k)
        return -1;
    k += (size_t)n;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (k + 4 >= len)
            return -1;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            qs[k++] = (char)*p;
        else
            k += (size_t)snprintf(qs + k, len - k, "%%%02X", *p);
    }
    qs[k] = '\0';
    return 0;
}

int healctl_parse_duration(const char *s, double *out)
{
    /* Strictly DIGITS[.DIGITS][s|m|h|d]: no sign, exponent, hex, blanks or "inf" (strtod
     * would take them, and the agent's own check is looser than what the help promises). */
    const char *p = s;
    if (!s || !isdigit((unsigned char)*p))
        return -1;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    double mul = 1;
    switch (*p) {
    case 's': mul = 1; p++; break;
    case 'm': mul = 60; p++; break;
    case 'h': mul = 3600; p++; break;
    case 'd': mul = 86400; p++; break;
    case '\0': break;
    default: return -1;
    }
    if (*p)
        return -1;
    double v = strtod(s, NULL) * mul;
    if (!(v >= 0) || v > HEALCTL_HOLD_MAX_S)
        return -1;
    *out = v;
    return 0;
}

int healctl_cmd_hold(const ctx *c, int release, const char *target, const char *type,
                     const char *dur, const char *reason, int even_critical)
{
    char path[2048];
    snprintf(path, sizeof path, "/api/v1/holds%s", release ? "/release" : "");
    const struct passwd *pw = getpwuid(getuid());
    char by[96];
    snprintf(by, sizeof by, "healctl:%s", pw && pw->pw_name ? pw->pw_name : "?");
    if (add_arg(path, sizeof path, "target", target) < 0 ||
        add_arg(path, sizeof path, "type", type) < 0 ||
        add_arg(path, sizeof path, "for", release ? NULL : dur) < 0 ||
        add_arg(path, sizeof path, "reason", release ? NULL : reason) < 0 ||
        add_arg(path, sizeof path, "by", release ? NULL : by) < 0 ||
        add_arg(path, sizeof path, "even_critical", !release && even_critical ? "1" : NULL) < 0) {
        healctl_errmsg("the target, type and reason are too long");
        return EX_USAGE;
    }
    return healctl_cmd_post(c, path, NULL, release ? "released" : "held");
}

int healctl_cmd_holds(const ctx *c)
{
    json_t *root;
    int rc = healctl_call(c, &(req_info){.method = "GET", .path = "/api/v1/holds", .id = NULL}, &root);
    /* --json: healctl_call printed the agent's text already. */
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *arr = healctl_want_array(c, root, "holds");
    if (!arr) {
        json_decref(root);
        return EX_AGENT;
    }
    if (!json_array_size(arr))
        printf("no holds\n");
    size_t i;
    json_t *h;
    json_array_foreach(arr, i, h) {
        char until[64] = "until released";
        json_t *u = json_object_get(h, "until");
        /* Within what time_t and strftime handle (the agent's own answers always are). */
        if (json_is_number(u) && fabs(json_number_value(u)) < 1e11) {
            time_t t = (time_t)json_number_value(u);
            struct tm tm;
            localtime_r(&t, &tm);
            strftime(until, sizeof until, "until %Y-%m-%d %H:%M:%S", &tm);
        } else if (json_is_number(u)) {
            snprintf(until, sizeof until, "until %g (not a time)", json_number_value(u));
        }
        char *tg = healctl_clean_text(healctl_jstr(h, "target", ""));
        char *ty = healctl_clean_text(healctl_jstr(h, "type", "any type"));
        char *re = healctl_clean_text(healctl_jstr(h, "reason", ""));
        char *by = healctl_clean_text(healctl_jstr(h, "by", ""));
        printf("%s  (%s)  %s%s  by %s%s%s\n", tg ? tg : "", ty ? ty : "", until,
               json_is_true(json_object_get(h, "even_critical")) ? ", critical included" : "",
               by ? by : "", re && *re ? ": " : "", re ? re : "");
        free(tg);
        free(ty);
        free(re);
        free(by);
    }
    json_decref(root);
    return EX_OK;
}
