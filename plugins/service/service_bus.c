/* plugins/service/service_bus.c — the service plugin's side of sd-bus: the connection (system
 * bus or a configured address), Subscribe and the PropertiesChanged match that makes detection
 * event-driven, the read-only queries (unit states, dependencies, NeedDaemonReload) and
 * the facts that say what systemd itself is doing (Result, Restart, NRestarts, Job).
 * Nothing here changes a unit: changes go through busctl under host->act_run (service.c). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "service.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MGR "org.freedesktop.systemd1.Manager"
#define SD_UNIT "org.freedesktop.systemd1.Unit"
#define SD_UNIT_PREFIX "/org/freedesktop/systemd1/unit"

/* One PropertiesChanged on a unit object: pick ActiveState and SubState out of the changed
 * dictionary. Units whose state did not change in this signal are ignored. */
static int service_bus_on_props(sd_bus_message *m, void *ud, sd_bus_error *ret_error)
{
    (void)ret_error;
    service *s = ud;
    const char *path = sd_bus_message_get_path(m);
    const char *iface = NULL;
    char *name = NULL;
    char active[32] = "", sub[32] = "";
    uint64_t inactive_usec = 0, exit_usec = 0;
    s->signals_seen++;
    if (!path || sd_bus_path_decode(path, SD_UNIT_PREFIX, &name) <= 0 || !name)
        return 0;
    if (sd_bus_message_read(m, "s", &iface) < 0 || !iface || strcmp(iface, SD_UNIT) != 0)
        goto out;
    if (sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}") < 0)
        goto out;
    for (;;) {
        int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
        if (r <= 0)
            break;
        const char *prop = NULL;
        if (sd_bus_message_read(m, "s", &prop) < 0)
            break;
        char *dst = NULL;
        size_t dlen = 0;
        if (strcmp(prop, "ActiveState") == 0) {
            dst = active;
            dlen = sizeof active;
        } else if (strcmp(prop, "SubState") == 0) {
            dst = sub;
            dlen = sizeof sub;
        }
        if (strcmp(prop, "InactiveEnterTimestampMonotonic") == 0) {
            /* failed -> activating -> failed merged into one signal still moves this */
            if (sd_bus_message_read(m, "v", "t", &inactive_usec) < 0)
                break;
        } else if (strcmp(prop, "InactiveExitTimestampMonotonic") == 0) {
            if (sd_bus_message_read(m, "v", "t", &exit_usec) < 0)
                break;
        } else if (dst) {
            const char *v = NULL;
            if (sd_bus_message_read(m, "v", "s", &v) < 0)
                break;
            snprintf(dst, dlen, "%s", v ? v : "");
        } else if (sd_bus_message_skip(m, "v") < 0) {
            break;
        }
        if (sd_bus_message_exit_container(m) < 0)
            break;
    }
    if (active[0] || sub[0] || inactive_usec || exit_usec)
        service_on_state_at(s, name, active, sub, inactive_usec, exit_usec);
out:
    free(name);
    return 0;
}

void service_bus_close(service *s)
{
    if (s->bus_fd >= 0)
        s->h->unwatch_fd(s->ctx, s->bus_fd);
    s->bus_fd = -1;
    s->match_slot = sd_bus_slot_unref(s->match_slot);
    if (s->bus) {
        sd_bus_flush_close_unref(s->bus);
        s->bus = NULL;
    }
}

static void service_bus_on_fd(void *state, int fd, short revents)
{
    (void)fd;
    (void)revents;
    service_bus_drain(state);
}

/* Seeds the state of every loaded unit (ListUnits): a unit already failed at start is an
 * issue at once. */
static int service_bus_list(service *s, int only_failed)
{
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    int r;
    if (only_failed)
        r = sd_bus_call_method(s->bus, SD_DEST, SD_PATH, SD_MGR, "ListUnitsFiltered", &err, &reply,
                               "as", 1, "failed");
    else
        r = sd_bus_call_method(s->bus, SD_DEST, SD_PATH, SD_MGR, "ListUnits", &err, &reply, "");
    if (r < 0) {
        s->h->log(s->ctx, HEALER_LOG_WARN, "ListUnits%s: %s", only_failed ? "Filtered" : "",
                  err.message ? err.message : strerror(-r));
        sd_bus_error_free(&err);
        return HEALER_E_IO;
    }
    r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(ssssssouso)");
    while (r > 0) {
        const char *name, *desc, *load, *active, *sub, *follow, *path, *jtype, *jpath;
        uint32_t jid;
        r = sd_bus_message_read(reply, "(ssssssouso)", &name, &desc, &load, &active, &sub,
                                &follow, &path, &jid, &jtype, &jpath);
        if (r <= 0)
            break;
        service_on_state(s, name, active, sub);
    }
    sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
    return HEALER_OK;
}

int service_bus_rescan(service *s)
{
    if (!s->bus)
        return HEALER_E_IO;
    return service_bus_list(s, 1);
}

int service_bus_connect(service *s)
{
    sd_bus *b = NULL;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    int r;
    if (!s->bus_address[0]) {
        r = sd_bus_open_system(&b);
    } else {
        r = sd_bus_new(&b);
        if (r >= 0)
            r = sd_bus_set_address(b, s->bus_address);
        if (r >= 0)
            r = sd_bus_set_bus_client(b, 1);
        if (r >= 0)
            r = sd_bus_start(b);
    }
    if (r < 0) {
        if (!s->warned_connect)
            s->h->log(s->ctx, HEALER_LOG_WARN, "cannot connect to %s: %s (retrying)",
                      s->bus_address[0] ? s->bus_address : "the system bus", strerror(-r));
        s->warned_connect = 1;
        sd_bus_unref(b);
        return HEALER_E_IO;
    }
    s->bus = b;
    s->bus_seen = 1;
    /* Only unit objects' own interface: Service/Socket property changes are not states. */
    r = sd_bus_add_match(b, &s->match_slot,
                         "type='signal',sender='" SD_DEST "',"
                         "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
                         "path_namespace='" SD_UNIT_PREFIX "',arg0='" SD_UNIT "'",
                         service_bus_on_props, s);
    if (r >= 0)
        r = sd_bus_call_method(b, SD_DEST, SD_PATH, SD_MGR, "Subscribe", &err, NULL, "");
    if (r < 0) {
        s->h->log(s->ctx, HEALER_LOG_WARN, "subscribing to systemd on %s: %s",
                  s->bus_address[0] ? s->bus_address : "the system bus",
                  err.message ? err.message : strerror(-r));
        sd_bus_error_free(&err);
        service_bus_close(s);
        return HEALER_E_IO;
    }
    s->bus_fd = sd_bus_get_fd(b);
    if (s->bus_fd < 0 || s->h->watch_fd(s->ctx, s->bus_fd, POLLIN, service_bus_on_fd) < 0) {
        s->h->log(s->ctx, HEALER_LOG_WARN, "cannot watch the bus fd: %s", s->h->last_message(s->ctx));
        s->bus_fd = -1;
        service_bus_close(s);
        return HEALER_E_IO;
    }
    s->h->log(s->ctx, HEALER_LOG_INFO, "subscribed to systemd on %s",
              s->bus_address[0] ? s->bus_address : "the system bus");
    s->warned_connect = 0;
    service_bus_list(s, 0);
    service_bus_drain(s);
    return HEALER_OK;
}

static char *service_bus_unit_path(const char *unit)
{
    char *p = NULL;
    if (sd_bus_path_encode(SD_UNIT_PREFIX, unit, &p) < 0)
        return NULL;
    return p;
}

int service_bus_state(service *s, const char *unit, char *active, size_t alen, char *sub,
                      size_t slen, uint64_t *changed_usec)
{
    if (!s->bus)
        return HEALER_E_IO;
    char *path = service_bus_unit_path(unit);
    if (!path)
        return HEALER_E_NOMEM;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    char *a = NULL, *b = NULL;
    int r = sd_bus_get_property_string(s->bus, SD_DEST, path, SD_UNIT, "ActiveState", &err, &a);
    if (r >= 0)
        r = sd_bus_get_property_string(s->bus, SD_DEST, path, SD_UNIT, "SubState", &err, &b);
    if (r >= 0 && changed_usec) {
        uint64_t t = 0;
        r = sd_bus_get_property_trivial(s->bus, SD_DEST, path, SD_UNIT,
                                        "StateChangeTimestampMonotonic", &err, 't', &t);
        *changed_usec = t;
    }
    if (r >= 0) {
        snprintf(active, alen, "%s", a);
        snprintf(sub, slen, "%s", b);
    } else {
        s->h->log(s->ctx, HEALER_LOG_DEBUG, "state of %s: %s", unit,
                  err.message ? err.message : strerror(-r));
    }
    free(a);
    free(b);
    free(path);
    sd_bus_error_free(&err);
    if (r == -ECONNRESET || r == -ENOTCONN)
        service_bus_close(s);
    return r < 0 ? HEALER_E_IO : HEALER_OK;
}

/* ActiveExitTimestampMonotonic of a unit, 0 when unknown or never left active. */
/* A 't' (u64) property of the object at path into *out; sd-bus's return code. */
static int service_bus_u64(service *s, const char *path, const char *iface, const char *prop,
                           uint64_t *out)
{
    sd_bus_error err = SD_BUS_ERROR_NULL;
    int r = sd_bus_get_property_trivial(s->bus, SD_DEST, path, iface, prop, &err, 't', out);
    sd_bus_error_free(&err);
    return r;
}

static uint64_t service_bus_exit_us(service *s, const char *unit)
{
    uint64_t t = 0;
    char *path = service_bus_unit_path(unit);
    if (!path)
        return 0;
    if (service_bus_u64(s, path, SD_UNIT, "ActiveExitTimestampMonotonic", &t) < 0)
        t = 0;
    free(path);
    return t;
}

/* Whether dep left active within SERVICE_DEP_LINK_US of exit_us (the dependent's exit). */
static int service_bus_left_with(service *s, const char *dep, uint64_t exit_us)
{
    if (!exit_us)
        return 0;
    uint64_t t = service_bus_exit_us(s, dep);
    if (!t)
        return 0;
    uint64_t d = t > exit_us ? t - exit_us : exit_us - t;
    return d <= SERVICE_DEP_LINK_US;
}

/* Adds the units of a dependency list that are failed (or not running) to f. */
static void service_bus_deps(service *s, const char *path, const char *prop, service_facts *f)
{
    sd_bus_error err = SD_BUS_ERROR_NULL;
    char **deps = NULL;
    if (sd_bus_get_property_strv(s->bus, SD_DEST, path, SD_UNIT, prop, &err, &deps) < 0) {
        sd_bus_error_free(&err);
        return;
    }
    for (char **d = deps; d && *d; d++) {
        char a[32] = "", sb[32] = "";
        if (f->n_failed_deps < SERVICE_DEPS_MAX &&
            service_bus_state(s, *d, a, sizeof a, sb, sizeof sb, NULL) == HEALER_OK &&
            (strcmp(a, "failed") == 0 ||
             (f->want_inactive && strcmp(a, "active") != 0 && strcmp(a, "reloading") != 0) ||
             (f->want_inactive && service_bus_left_with(s, *d, f->exit_us)))) {
            snprintf(f->failed_deps[f->n_failed_deps++], SERVICE_UNIT_MAX, "%s", *d);
        }
        free(*d);
    }
    free(deps);
    sd_bus_error_free(&err);
}

int service_bus_facts(service *s, const char *unit, service_facts *f)
{
    if (!s->bus)
        return HEALER_E_IO;
    char *path = service_bus_unit_path(unit);
    if (!path)
        return HEALER_E_NOMEM;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    char *load = NULL;
    int need = 0;
    int r = sd_bus_get_property_string(s->bus, SD_DEST, path, SD_UNIT, "LoadState", &err, &load);
    if (r >= 0)
        f->loaded = strcmp(load, "loaded") == 0;
    free(load);
    sd_bus_error_free(&err);
    if (r >= 0 && sd_bus_get_property_trivial(s->bus, SD_DEST, path, SD_UNIT, "NeedDaemonReload",
                                              &err, 'b', &need) >= 0)
        f->need_reload = need != 0;
    sd_bus_error_free(&err);
    if (r >= 0) {
        service_bus_deps(s, path, "Requires", f);
        service_bus_deps(s, path, "BindsTo", f);
    }
    free(path);
    return r < 0 ? HEALER_E_IO : HEALER_OK;
}

void service_bus_drain(service *s)
{
    for (int i = 0; s->bus && i < 100000; i++) {
        int r = sd_bus_process(s->bus, NULL);
        if (r == 0)
            break;
        if (r < 0) {
            s->h->log(s->ctx, HEALER_LOG_WARN, "bus: %s; reconnecting", strerror(-r));
            service_bus_close(s);
            break;
        }
    }
    service_after_drain(s);
}

/* One string property into buf; 0 or a negative errno. */
static int service_bus_str(service *s, const char *path, const char *iface, const char *prop,
                           char *buf, size_t len)
{
    sd_bus_error err = SD_BUS_ERROR_NULL;
    char *v = NULL;
    int r = sd_bus_get_property_string(s->bus, SD_DEST, path, iface, prop, &err, &v);
    if (r >= 0)
        snprintf(buf, len, "%s", v ? v : "");
    free(v);
    sd_bus_error_free(&err);
    return r;
}

int service_bus_info(service *s, const char *unit, service_info *i)
{
    memset(i, 0, sizeof *i);
    if (!s->bus)
        return HEALER_E_IO;
    char *path = service_bus_unit_path(unit);
    if (!path)
        return HEALER_E_NOMEM;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    int r = service_bus_str(s, path, SD_UNIT, "LoadState", i->load, sizeof i->load);
    if (r >= 0)
        r = service_bus_str(s, path, SD_UNIT, "ActiveState", i->active, sizeof i->active);
    if (r >= 0)
        r = service_bus_str(s, path, SD_UNIT, "SubState", i->sub, sizeof i->sub);
    if (r >= 0)
        r = service_bus_u64(s, path, SD_UNIT, "StateChangeTimestampMonotonic",
                            &i->state_change_usec);
    if (r >= 0)
        r = service_bus_u64(s, path, SD_UNIT, "ActiveEnterTimestampMonotonic",
                            &i->active_enter_usec);
    if (r >= 0)
        r = service_bus_u64(s, path, SD_UNIT, "InactiveEnterTimestampMonotonic",
                            &i->inactive_enter_usec);
    if (r >= 0)
        r = service_bus_u64(s, path, SD_UNIT, "InactiveExitTimestampMonotonic",
                            &i->inactive_exit_usec);
    if (r >= 0) {
        /* Job is (uo): a queued start or stop is systemd's own business in progress. */
        sd_bus_message *reply = NULL;
        if (sd_bus_get_property(s->bus, SD_DEST, path, SD_UNIT, "Job", &err, &reply, "(uo)") >= 0) {
            const char *jp = NULL;
            if (sd_bus_message_read(reply, "(uo)", &i->job, &jp) < 0)
                i->job = 0;
        }
        sd_bus_message_unref(reply);
        sd_bus_error_free(&err);
        service_bus_str(s, path, SD_UNIT, "FragmentPath", i->fragment, sizeof i->fragment);
        /* systemd's own limit on starts: what service_start_limit_predicted forecasts */
        if (service_bus_u64(s, path, SD_UNIT, "StartLimitIntervalUSec", &i->start_limit_usec) >= 0 &&
            sd_bus_get_property_trivial(s->bus, SD_DEST, path, SD_UNIT, "StartLimitBurst", &err,
                                        'u', &i->start_limit_burst) >= 0)
            i->has_start_limit = 1;
        sd_bus_error_free(&err);
        /* Only services have these; another unit type answers with an error, not a failure. */
        if (service_bus_str(s, path, "org.freedesktop.systemd1.Service", "Result", i->result,
                            sizeof i->result) >= 0) {
            i->has_service = 1;
            service_bus_str(s, path, "org.freedesktop.systemd1.Service", "Restart", i->restart,
                            sizeof i->restart);
            if (sd_bus_get_property_trivial(s->bus, SD_DEST, path,
                                            "org.freedesktop.systemd1.Service", "NRestarts", &err,
                                            'u', &i->nrestarts) < 0)
                i->nrestarts = 0;
            sd_bus_error_free(&err);
        }
    }
    free(path);
    if (r == -ECONNRESET || r == -ENOTCONN)
        service_bus_close(s);
    return r < 0 ? HEALER_E_IO : HEALER_OK;
}

size_t service_bus_down_deps(service *s, const char *unit, char (*out)[SERVICE_UNIT_MAX],
                             size_t max)
{
    service_facts f;
    memset(&f, 0, sizeof f);
    if (!s->bus)
        return 0;
    char *path = service_bus_unit_path(unit);
    if (!path)
        return 0;
    f.want_inactive = 1;
    f.exit_us = service_bus_exit_us(s, unit);
    service_bus_deps(s, path, "Requires", &f);
    service_bus_deps(s, path, "BindsTo", &f);
    free(path);
    size_t n = f.n_failed_deps < max ? f.n_failed_deps : max;
    for (size_t k = 0; k < n; k++)
        snprintf(out[k], SERVICE_UNIT_MAX, "%s", f.failed_deps[k]);
    return n;
}
