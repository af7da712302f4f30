/* config_listen.c — the http section's addresses: a listen address http_start can bind
 * ([IPv6]:PORT, IPv4:PORT, a host name), the Host names it answers to, and the rule that serving
 * beyond loopback takes both http.allow_remote and a token file. */
#include "config_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* true when text is a listen address http_start accepts; else false and why not in why. */
bool cfg_check_listen(const char *text, char *why, size_t n)
{
    if (!*text)
        return true;
    char host[128];
    const char *port;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':') {
            snprintf(why, n, "expected [IPV6]:PORT, got \"%s\"", text);
            return false;
        }
        size_t hl = (size_t)(close - text - 1);
        if (hl >= sizeof host) {
            snprintf(why, n, "address too long in \"%s\"", text);
            return false;
        }
        memcpy(host, text + 1, hl);
        host[hl] = '\0';
        port = close + 2;
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            snprintf(why, n, "\"%s\" is not an IPv6 address (in \"%s\")", host, text);
            return false;
        }
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon) {
            snprintf(why, n, "expected ADDR:PORT (or [IPV6]:PORT, or \"\" to disable), got \"%s\"",
                     text);
            return false;
        }
        size_t hl = (size_t)(colon - text);
        if (hl >= sizeof host) {
            snprintf(why, n, "address too long in \"%s\"", text);
            return false;
        }
        memcpy(host, text, hl);
        host[hl] = '\0';
        port = colon + 1;
        if (strchr(host, ':')) {
            snprintf(why, n, "an IPv6 address goes in brackets, [ADDR]:PORT, got \"%s\"", text);
            return false;
        }
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) != 1) {
            snprintf(why, n, "\"%s\" is not an IPv4 address (in \"%s\")", host, text);
            return false;
        }
    }
    size_t pl = strlen(port);
    bool digits = pl > 0 && pl <= 5;
    for (size_t i = 0; digits && i < pl; i++)
        digits = isdigit((unsigned char)port[i]) != 0;
    if (!digits || atol(port) > 65535) {
        snprintf(why, n, "port \"%s\" must be a number 0..65535 (in \"%s\")", port, text);
        return false;
    }
    return true;
}

/* An http.allowed_hosts entry: a DNS name or an IP address (IPv6 with or without brackets),
 * without a port: the Host header's port is not compared. */
bool cfg_check_host_name(const char *h, char *why, size_t n)
{
    size_t l = strlen(h);
    if (l > 253) {
        snprintf(why, n, "a host name has at most 253 characters, got %zu", l);
        return false;
    }
    char inner[256];
    snprintf(inner, sizeof inner, "%s", h);
    if (l >= 2 && h[0] == '[' && h[l - 1] == ']') {
        memcpy(inner, h + 1, l - 2);
        inner[l - 2] = '\0';
    }
    struct in6_addr a6;
    if (strchr(inner, ':')) {
        if (inet_pton(AF_INET6, inner, &a6) == 1)
            return true;
        snprintf(why, n, "\"%s\" is not a host name or an address (no port: the Host header's "
                 "port is not compared)", h);
        return false;
    }
    for (const char *p = inner; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_') {
            snprintf(why, n, "\"%s\": a host name has letters, digits, '.', '-' and '_' only",
                     h);
            return false;
        }
    if (!inner[0]) {
        snprintf(why, n, "an empty host name");
        return false;
    }
    return true;
}

/* A listen address on this host only: 127.0.0.0/8 or ::1 ("" disables HTTP: local too). */
static bool listen_is_loopback(const char *text)
{
    if (!*text)
        return true;
    char host[128];
    const char *end = text[0] == '[' ? strchr(text, ']') : strrchr(text, ':');
    size_t off = text[0] == '[' ? 1 : 0;
    if (!end || (size_t)(end - text) - off >= sizeof host)
        return false;
    memcpy(host, text + off, (size_t)(end - text) - off);
    host[(size_t)(end - text) - off] = '\0';
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return false;
}

/* Serving the network is a choice made twice: http.allow_remote, and a token (which every
 * request from off the host must then carry, GETs included). */
void cfg_check_remote(rctx *r, const config *cfg)
{
    if (listen_is_loopback(cfg->http_listen))
        return;
    const config_setting_t *ls = config_lookup(&cfg->impl->lc, "http.listen");
    const char *why = NULL;
    char buf[PATH_MAX + 128];
    struct stat st;
    if (!cfg->http_allow_remote)
        why = "set http.allow_remote = true (and a token in http.token_file) to serve the network";
    else if (!cfg->token_file[0])
        why = "http.allow_remote needs a token: http.token_file is empty";
    else if (stat(cfg->token_file, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        snprintf(buf, sizeof buf, "http.allow_remote needs a token: http.token_file %s %s",
                 cfg->token_file,
                 stat(cfg->token_file, &st) != 0 ? strerror(errno)
                 : !S_ISREG(st.st_mode)          ? "is not a regular file"
                                                 : "is empty");
        why = buf;
    }
    if (why)
        cfg_report(r, ls, "http.listen = \"%s\" is not a loopback address: %s", cfg->http_listen,
               why);
}

