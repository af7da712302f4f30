/* curl_api.c — libcurl loaded with dlopen at its first use, shared by notify_http.c and
 * fleet_etcd.c. Loaded, not linked: libcurl and what it pulls in (OpenSSL, nghttp2, libssh2,
 * LDAP...) were 3 MiB of every agent's RSS, notifications or the fleet configured or not
 * (bench/scale.sh: 13.1 -> 16.3 MiB). */
#include "curl_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static curl_api cu;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_rc = -1;
static char load_why[256];

static int load_sym(void *lib, void **dst, const char *name)
{
    *dst = dlsym(lib, name);
    if (!*dst)
        snprintf(load_why, sizeof load_why, "libcurl.so.4 has no %s", name);
    return *dst ? 0 : -1;
}

static void load(void)
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
    load_rc = 0;
}

const curl_api *curl_api_get(char *why, size_t n)
{
    pthread_once(&once, load);
    if (load_rc) {
        if (why && n)
            snprintf(why, n, "%s", load_why);
        return NULL;
    }
    return &cu;
}
