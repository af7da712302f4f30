/* dashboard.h — the dashboard page served at GET / (one self-contained HTML document with its
 * inline style and script) and the Content-Security-Policy that allows exactly those two. */
#ifndef AGENT_DASHBOARD_H
#define AGENT_DASHBOARD_H

#include <stddef.h>

/* The page; static storage, built once, never freed. *len gets its length when len != NULL. */
const char *dashboard_html(size_t *len);

/* The Content-Security-Policy header value: nothing from other origins, fetch() only to this
 * origin, and only the page's own inline <style> and <script> (by their SHA-256 hashes). */
const char *dashboard_csp(void);

/* base64(SHA-256(data)), the form CSP hashes take; out gets 44 characters and a NUL.
 * Exposed so tests can check the policy against the page they were served. */
void dashboard_sha256_base64(const void *data, size_t len, char out[45]);

/* The page's script (dashboard_js.c), NUL-terminated. */
extern const char dashboard_js[];

#endif
