/* load.c — the child loads exactly the file the agent checked: the agent passes a descriptor of
 * it, and dlopen("/proc/self/fd/N") maps that inode whatever happens to the path meanwhile. Then
 * the entry point and the descriptor's shape, as the agent's loader reads them. */
#include "runner.h"
#include "dgram.h"
#include "rules.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define DESC_MIN_SIZE (offsetof(healer_plugin, handle_request) + sizeof(void *))

int runner_load(runner *r, int fd, int describing, char *why, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    dlerror();
    r->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!r->dl) {
        const char *e = dlerror();
        snprintf(why, len, "cannot be loaded: %s", e ? e : "unknown dlopen error");
        return -1;
    }
    healer_plugin_entry_fn entry;
    *(void **)&entry = dlsym(r->dl, HEALER_ENTRY_SYMBOL);
    if (!entry) {
        /* Say "built for ABI N" as the agent's loader does for a thread plugin, not "not a
         * plugin", when the file has another major's entry point. */
        for (int major = 0; major <= 16; major++) {
            char sym[64];
            snprintf(sym, sizeof sym, "healer_plugin_entry_v%d", major);
            if (major != HEALER_ABI_MAJOR && dlsym(r->dl, sym)) {
                snprintf(why, len, "built for plugin ABI major %d, this agent speaks %d; fix: "
                         "rebuild it against healer-sdk %d.x", major, HEALER_ABI_MAJOR,
                         HEALER_ABI_MAJOR);
                return -1;
            }
        }
        snprintf(why, len, "not a healerd plugin: no %s symbol; fix: use "
                 "HEALER_PLUGIN(descriptor)", HEALER_ENTRY_SYMBOL);
        return -1;
    }
    const healer_plugin *src = entry();
    if (!src) {
        snprintf(why, len, "%s returned NULL", HEALER_ENTRY_SYMBOL);
        return -1;
    }
    if (src->struct_size < DESC_MIN_SIZE) {
        snprintf(why, len, "descriptor too small (%u bytes, ABI %d.0 needs at least %zu)",
                 src->struct_size, HEALER_ABI_MAJOR, (size_t)DESC_MIN_SIZE);
        return -1;
    }
    memset(&r->desc, 0, sizeof r->desc);
    memcpy(&r->desc, src, src->struct_size < sizeof r->desc ? src->struct_size : sizeof r->desc);
    r->desc.struct_size = sizeof r->desc;
    if (describing)
        return 0;
    if (r->desc.abi_major != HEALER_ABI_MAJOR || r->desc.abi_minor > HEALER_ABI_MINOR) {
        snprintf(why, len, "descriptor says ABI %u.%u, this host speaks %d.%d", r->desc.abi_major,
                 r->desc.abi_minor, HEALER_ABI_MAJOR, HEALER_ABI_MINOR);
        return -1;
    }
    if (!healer_rules_valid_name(r->desc.name) || !r->desc.init || !r->desc.destroy) {
        snprintf(why, len, "invalid descriptor (name, init or destroy)");
        return -1;
    }
    snprintf(r->name, sizeof r->name, "%s", r->desc.name);
    return 0;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *runner_describe(const healer_plugin *d)
{
    json_t *types = json_array();
    for (const char *const *t = d->issue_types; t && *t; t++)
        json_array_append_new(types, json_string(*t));
    json_t *keys = json_array();
    for (const healer_config_key *k = d->config; k && k->name; k++) {
        json_t *o = json_pack("{s:s, s:i, s:f, s:f}", "name", k->name, "type", (int)k->type,
                              "min", k->min, "max", k->max);
        json_object_set_new(o, "default", str_or_null(k->default_value));
        json_object_set_new(o, "description", str_or_null(k->description));
        json_array_append_new(keys, o);
    }
    json_t *cb = json_pack("{s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b}", "init", d->init != NULL,
                           "destroy", d->destroy != NULL, "detect", d->detect != NULL, "plan",
                           d->plan != NULL, "execute", d->execute != NULL, "verify",
                           d->verify != NULL, "restore", d->restore != NULL, "handle_request",
                           d->handle_request != NULL);
    json_t *o = json_pack("{s:i, s:i, s:i, s:f, s:o, s:o, s:o}", "struct_size", (int)d->struct_size,
                          "abi_major", (int)d->abi_major, "abi_minor", (int)d->abi_minor,
                          "interval", d->interval, "issue_types", types, "config", keys,
                          "callbacks", cb);
    json_object_set_new(o, "name", str_or_null(d->name));
    json_object_set_new(o, "protocol", json_integer(CHILD_PROTOCOL));
    json_object_set_new(o, "version", str_or_null(d->version));
    json_object_set_new(o, "description", str_or_null(d->description));
    return o;
}
