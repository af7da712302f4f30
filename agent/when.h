/* when.h — a point in time as an operator writes it, for `healctl restore --to TIME` and
 * `POST /api/v1/restore?to=TIME`: ISO 8601 ("2026-12-02T16:00:00Z", an offset, or no zone for
 * local time; seconds optional), relative to now ("-1h", "-30m", "-90s", "-2d"), or seconds since
 * the epoch ("1764691200"). Pure (libc); linked into the agent and healctl. */
#ifndef AGENT_WHEN_H
#define AGENT_WHEN_H

#include <stddef.h>

/* 0 and *out (seconds since the epoch), or -1 with what is wrong in err. */
int when_parse(const char *s, double now, double *out, char *err, size_t errlen);

#endif
