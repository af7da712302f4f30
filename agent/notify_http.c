/* notify_http.c — one HTTP POST of a JSON body (webhooks and Alertmanager) and the retry
 * schedule. libcurl, not a hand-written client: TLS (https:// receivers), proxies from the
 * environment, chunked and HTTP/1.1 edge cases and per-attempt timeouts are its tested business,
 * and a half-right HTTP client in a root daemon is a liability. It is loaded at the first POST
 * (curl_api.c), not linked. */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "curl_api.h"
#include "notify.h"

double notify_backoff_delay(int attempt, double backoff_s, double backoff_max_s)
{
    if (attempt < 1)
        return 0;
    double d = backoff_s * ldexp(1.0, attempt - 1 > 60 ? 60 : attempt - 1);
    return d > backoff_max_s ? backoff_max_s : d;
}

/* The answer's body is not needed: only its status says whether it arrived. */
static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* libcurl's progress callback: a non-zero return abandons the transfer. */
static int past_abort(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    const _Atomic double *abort_at = ud;
    return clock_mono() >= *abort_at;
}

int notify_http_post(const char *url, const char *body, double timeout_s,
                     const _Atomic double *abort_at, char *why, size_t n)
{
    const curl_api *cu = curl_api_get(why, n);
    if (!cu)
        return -1;
    CURL *c = cu->easy_init();
    if (!c) {
        snprintf(why, n, "libcurl: out of memory");
        return -1;
    }
    struct curl_slist *hdr = cu->slist_append(NULL, "Content-Type: application/json");
    char err[CURL_ERROR_SIZE] = "";
    long ms = (long)(timeout_s * 1000.0);
    cu->setopt(c, CURLOPT_URL, url);
    cu->setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    cu->setopt(c, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a threaded daemon */
    cu->setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
    cu->setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 1L);
    cu->setopt(c, CURLOPT_HTTPHEADER, hdr);
    cu->setopt(c, CURLOPT_POSTFIELDS, body);
    cu->setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    cu->setopt(c, CURLOPT_WRITEFUNCTION, discard);
    cu->setopt(c, CURLOPT_ERRORBUFFER, err);
    cu->setopt(c, CURLOPT_USERAGENT, "healerd/" HEALERD_VERSION);
    if (abort_at) {
        cu->setopt(c, CURLOPT_XFERINFOFUNCTION, past_abort);
        cu->setopt(c, CURLOPT_XFERINFODATA, (void *)abort_at);
        cu->setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode rc = cu->perform(c);
    long status = 0;
    cu->getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    cu->slist_free_all(hdr);
    cu->cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(why, n, "%s", err[0] ? err : cu->strerror(rc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(why, n, "HTTP status %ld", status);
        return -1;
    }
    return 0;
}
