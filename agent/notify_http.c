/* notify_http.c — one HTTP POST of a JSON body (webhooks and Alertmanager) and the retry
 * schedule. libcurl, not a hand-written client: TLS (https:// receivers), proxies from the
 * environment, chunked and HTTP/1.1 edge cases and per-attempt timeouts are its tested business,
 * and a half-right HTTP client in a root daemon is a liability. It is loaded (dlopen) at the first
 * POST, not linked: libcurl and what it pulls in (OpenSSL, nghttp2, libssh2, LDAP...) were 3 MiB
 * of every agent's RSS, notifications configured or not (bench/scale.sh: 13.1 -> 16.3 MiB). */
#include <curl/curl.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "notify.h"

double notify_backoff_delay(int attempt, double backoff_s, double backoff_max_s)
{
    if (attempt < 1)
        return 0;
    double d = backoff_s * ldexp(1.0, attempt - 1 > 60 ? 60 : attempt - 1);
    return d > backoff_max_s ? backoff_max_s : d;
}

/* The few libcurl functions used, resolved from libcurl.so.4 once. */
static struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*perform)(CURL *c);
    CURLcode (*getinfo)(CURL *c, CURLINFO info, ...);
    void (*cleanup)(CURL *c);
    const char *(*strerror)(CURLcode rc);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} cu;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int global_rc = -1;
static char load_why[256];

static int load_sym(void *lib, void **dst, const char *name)
{
    *dst = dlsym(lib, name);
    if (!*dst)
        snprintf(load_why, sizeof load_why, "libcurl.so.4 has no %s", name);
    return *dst ? 0 : -1;
}

static void global_init(void)
{
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(load_why, sizeof load_why, "cannot load libcurl (install libcurl4): %s",
                 e ? e : "unknown error");
        return;
    }
    if (load_sym(lib, (void **)&cu.global_init, "curl_global_init") ||
        load_sym(lib, (void **)&cu.easy_init, "curl_easy_init") ||
        load_sym(lib, (void **)&cu.setopt, "curl_easy_setopt") ||
        load_sym(lib, (void **)&cu.perform, "curl_easy_perform") ||
        load_sym(lib, (void **)&cu.getinfo, "curl_easy_getinfo") ||
        load_sym(lib, (void **)&cu.cleanup, "curl_easy_cleanup") ||
        load_sym(lib, (void **)&cu.strerror, "curl_easy_strerror") ||
        load_sym(lib, (void **)&cu.slist_append, "curl_slist_append") ||
        load_sym(lib, (void **)&cu.slist_free_all, "curl_slist_free_all"))
        return;   /* never unloaded: a half-resolved table is not used */
    if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(load_why, sizeof load_why, "libcurl could not be initialised");
        return;
    }
    global_rc = 0;
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
    pthread_once(&once, global_init);
    if (global_rc) {
        snprintf(why, n, "%s", load_why);
        return -1;
    }
    CURL *c = cu.easy_init();
    if (!c) {
        snprintf(why, n, "libcurl: out of memory");
        return -1;
    }
    struct curl_slist *hdr = cu.slist_append(NULL, "Content-Type: application/json");
    char err[CURL_ERROR_SIZE] = "";
    long ms = (long)(timeout_s * 1000.0);
    cu.setopt(c, CURLOPT_URL, url);
    cu.setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    cu.setopt(c, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a threaded daemon */
    cu.setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
    cu.setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 1L);
    cu.setopt(c, CURLOPT_HTTPHEADER, hdr);
    cu.setopt(c, CURLOPT_POSTFIELDS, body);
    cu.setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    cu.setopt(c, CURLOPT_WRITEFUNCTION, discard);
    cu.setopt(c, CURLOPT_ERRORBUFFER, err);
    cu.setopt(c, CURLOPT_USERAGENT, "healerd/" HEALERD_VERSION);
    if (abort_at) {
        cu.setopt(c, CURLOPT_XFERINFOFUNCTION, past_abort);
        cu.setopt(c, CURLOPT_XFERINFODATA, (void *)abort_at);
        cu.setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode rc = cu.perform(c);
    long status = 0;
    cu.getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    cu.slist_free_all(hdr);
    cu.cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(why, n, "%s", err[0] ? err : cu.strerror(rc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(why, n, "HTTP status %ld", status);
        return -1;
    }
    return 0;
}
