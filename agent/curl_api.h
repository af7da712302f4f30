/* curl_api.h — the few libcurl functions the agent uses (webhooks, the etcd client), resolved
 * from libcurl.so.4 at first use instead of linked: see curl_api.c for why. */
#ifndef HEALERD_CURL_API_H
#define HEALERD_CURL_API_H

#include <curl/curl.h>
#include <stddef.h>

typedef struct curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*perform)(CURL *c);
    CURLcode (*getinfo)(CURL *c, CURLINFO info, ...);
    void (*cleanup)(CURL *c);
    const char *(*strerror)(CURLcode rc);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} curl_api;

/* The table, loaded and curl_global_init'ed once (any thread may call; the first call does the
 * loading). NULL when libcurl cannot be loaded or initialised, with the reason in why. The table
 * is never unloaded. */
const curl_api *curl_api_get(char *why, size_t n);

#endif
