/* notify_http.c — one HTTP POST of a JSON body (webhooks and Alertmanager) and the retry
 * schedule. libcurl, not a hand-written client: TLS (https:// receivers), proxies from the
 * environment, chunked and HTTP/1.1 edge cases and per-attempt timeouts are its tested business,
 * and a half-right HTTP client in a root daemon is a liability. */
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "notify.h"

double notify_backoff_delay(int attempt, double backoff_s, double backoff_max_s)
{
    if (attempt < 1)
        return 0;
    double d = backoff_s * ldexp(1.0, attempt - 1 > 60 ? 60 : attempt - 1);
    return d > backoff_max_s ? backoff_max_s : d;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int global_rc = -1;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* The answer's body is not needed: only its status says whether it arrived. */
static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

int notify_http_post(const char *url, const char *body, double timeout_s, char *why, size_t n)
{
    pthread_once(&once, global_init);
    if (global_rc) {
        snprintf(why, n, "libcurl could not be initialised");
        return -1;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(why, n, "libcurl: out of memory");
        return -1;
    }
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char err[CURL_ERROR_SIZE] = "";
    long ms = (long)(timeout_s * 1000.0);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a threaded daemon */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "healerd/" HEALERD_VERSION);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(why, n, "%s", err[0] ? err : curl_easy_strerror(rc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(why, n, "HTTP status %ld", status);
        return -1;
    }
    return 0;
}
