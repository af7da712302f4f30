/* when.c — parses the point in time of a restore (when.h): ISO 8601, relative, epoch seconds. */
#include "when.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(char *err, size_t len, const char *s)
{
    if (err && len)
        snprintf(err, len, "'%.60s' is no point in time: write ISO 8601 (2026-12-02T16:00:00Z, "
                 "an offset such as +01:00, or no zone for local time), a time relative to now "
                 "(-90s, -30m, -1h, -2d) or seconds since the epoch", s ? s : "");
    return -1;
}

static int digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

int when_parse(const char *s, double now, double *out, char *err, size_t errlen)
{
    if (!s || !*s)
        return fail(err, errlen, s);
    size_t n = strlen(s);
    if (s[0] == '-') {              /* relative: -N[smhd] */
        char *end;
        double v = strtod(s + 1, &end);
        if (end == s + 1 || !(v >= 0) || v > 1e9 || !isdigit((unsigned char)s[1]))
            return fail(err, errlen, s);
        double mul = 1;
        if (*end == 's') mul = 1, end++;
        else if (*end == 'm') mul = 60, end++;
        else if (*end == 'h') mul = 3600, end++;
        else if (*end == 'd') mul = 86400, end++;
        if (*end)
            return fail(err, errlen, s);
        *out = now - v * mul;
        return 0;
    }
    size_t k = 0;
    while (k < n && isdigit((unsigned char)s[k]))
        k++;
    size_t kf = k;
    if (k > 0 && k < n && s[k] == '.') {
        kf = k + 1;
        while (kf < n && isdigit((unsigned char)s[kf]))
            kf++;
    }
    if (kf == n && k <= 12) {        /* epoch seconds, a fraction allowed */
        *out = strtod(s, NULL);
        return 0;
    }
    /* YYYY-MM-DD[Thh:mm[:ss[.fff]]][Z|+hh:mm|-hh:mm] */
    struct tm tm = { 0 };
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (n < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d))
        return fail(err, errlen, s);
    const char *p = s + 10;
    double frac = 0;
    if (*p == 'T' || *p == ' ') {
        if (digits(p + 1, 2, &h) || p[3] != ':' || digits(p + 4, 2, &mi))
            return fail(err, errlen, s);
        p += 6;
        if (*p == ':') {
            if (digits(p + 1, 2, &sec))
                return fail(err, errlen, s);
            p += 3;
            if (*p == '.') {
                char *end;
                frac = strtod(p, &end);
                p = end;
            }
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return fail(err, errlen, s);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t;
    if (*p == '\0') {
        tm.tm_isdst = -1;
        t = mktime(&tm);
    } else if (*p == 'Z' && p[1] == '\0') {
        t = timegm(&tm);
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return fail(err, errlen, s);
        t = timegm(&tm) - (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    } else {
        return fail(err, errlen, s);
    }
    if (t == (time_t)-1)
        return fail(err, errlen, s);
    *out = (double)t + frac;
    return 0;
}
