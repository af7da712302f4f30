/* plugins/service/service_util.c — the service plugin's pure logic: unit name checks, the
 * flapping window, "key=value" config maps and the busctl command lines its actions run.
 * No bus and no host calls here, so the unit tests exercise it directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service.h"

int service_unit_name_ok(const char *name)
{
    if (!name || !*name || name[0] == '-' || name[0] == '.')
        return 0;
    size_t len = strlen(name);
    if (len >= SERVICE_UNIT_MAX)
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '_' || c == '.' || c == '@' || c == '-' || c == '\\'))
            return 0;
    }
    const char *dot = strrchr(name, '.');
    return dot && dot[1] != '\0' && dot != name;
}

unsigned service_recent_failures(const service_unit *u, double now, double window)
{
    unsigned n = u->n_fails < SERVICE_FAILS_MAX ? u->n_fails : SERVICE_FAILS_MAX;
    unsigned c = 0;
    for (unsigned i = 0; i < n; i++)
        if (u->fails[i] >= now - window && u->fails[i] <= now)
            c++;
    return c;
}

unsigned service_note_failure(service_unit *u, double now, double window)
{
    u->fails[u->n_fails % SERVICE_FAILS_MAX] = now;
    u->n_fails++;
    return service_recent_failures(u, now, window);
}

service_pair *service_parse_pairs(const char *const *items, size_t n, size_t *n_out, size_t *bad)
{
    *n_out = 0;
    if (bad)
        *bad = 0;
    if (n == 0)
        return NULL;
    service_pair *p = calloc(n, sizeof *p);
    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *it = items[i];
        const char *eq = it ? strchr(it, '=') : NULL;
        if (!eq || eq == it || !eq[1] || (size_t)(eq - it) >= sizeof p->key ||
            strlen(eq + 1) >= sizeof p->value) {
            if (bad)
                (*bad)++;
            continue;
        }
        service_pair *d = &p[(*n_out)++];
        memcpy(d->key, it, (size_t)(eq - it));
        d->key[eq - it] = '\0';
        snprintf(d->value, sizeof d->value, "%s", eq + 1);
    }
    return p;
}

const service_pair *service_pair_find(const service_pair *p, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].key, key) == 0)
            return &p[i];
    return NULL;
}

int service_list_has(char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* Appends s to store at *off; returns the copy or NULL when it does not fit. */
static const char *service_store(char *store, size_t len, size_t *off, const char *s)
{
    size_t l = strlen(s) + 1;
    if (*off + l > len)
        return NULL;
    char *d = store + *off;
    memcpy(d, s, l);
    *off += l;
    return d;
}

int service_busctl_argv(const char *busctl, const char *address, const char *method,
                        const char *sig, const char *const *args, size_t n_args,
                        const char **argv, size_t argv_cap, char *store, size_t store_len)
{
    size_t off = 0, n = 0;
    char addr[600];
    const char *fixed[] = {"call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                           "org.freedesktop.systemd1.Manager"};
    if (argv_cap < 8 + n_args + (sig ? 1 : 0) + 1)
        return -1;
    if (!(argv[n++] = service_store(store, store_len, &off, busctl)))
        return -1;
    if (address && *address) {
        if (snprintf(addr, sizeof addr, "--address=%s", address) >= (int)sizeof addr)
            return -1;
        if (!(argv[n++] = service_store(store, store_len, &off, addr)))
            return -1;
    }
    /* Options end here: a unit name can never be taken for one. */
    if (!(argv[n++] = service_store(store, store_len, &off, "--")))
        return -1;
    for (size_t i = 0; i < 4; i++)
        if (!(argv[n++] = service_store(store, store_len, &off, fixed[i])))
            return -1;
    if (!(argv[n++] = service_store(store, store_len, &off, method)))
        return -1;
    if (sig && *sig) {
        if (!(argv[n++] = service_store(store, store_len, &off, sig)))
            return -1;
        for (size_t i = 0; i < n_args; i++)
            if (!(argv[n++] = service_store(store, store_len, &off, args[i])))
                return -1;
    }
    argv[n] = NULL;
    return (int)n;
}

int service_split_cmd(char *cmd, const char **argv, size_t cap)
{
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(cmd, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n + 1 >= cap)
            return -1;
        argv[n++] = t;
    }
    argv[n] = NULL;
    return n ? (int)n : -1;
}
