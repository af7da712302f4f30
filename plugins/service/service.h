/* plugins/service/service.h — the service plugin's state shared by service.c (the healer:
 * detect, plan, execute, verify, requests), service_bus.c (sd-bus: reads and the signal
 * subscription) and service_util.c (pure logic: flapping window, maps, argv building). */
#ifndef HEALER_SERVICE_H
#define HEALER_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include <healer/healer.h>

#define SERVICE_UNIT_MAX 256
#define SERVICE_FAILS_MAX 64   /* failure times kept per unit (the flapping window's ring) */
#define SERVICE_DEPS_MAX 16

typedef struct sd_bus sd_bus;
typedef struct sd_bus_slot sd_bus_slot;

/* One unit the plugin has seen: its last known state and its recent failures. */
typedef struct service_unit {
    char name[SERVICE_UNIT_MAX];
    char active[32];          /* ActiveState: active, failed, activating, inactive... */
    char sub[32];             /* SubState: running, auto-restart, dead... */
    double fails[SERVICE_FAILS_MAX];   /* agent clock of each failure, a ring */
    unsigned n_fails;         /* total recorded (ring index = n_fails % SERVICE_FAILS_MAX) */
    int failed_open;          /* we published service_failed and did not resolve it yet */
    int flapping_open;        /* same for service_flapping */
    int watched;              /* issues are raised for it (else tracked as an alternative) */
    int dirty;                /* its state changed since the last evaluation */
    double failed_at;         /* agent clock when it last entered failed */
} service_unit;

/* "from=to" pairs of a config list (alternatives, health checks). */
typedef struct service_pair {
    char key[SERVICE_UNIT_MAX];
    char value[512];
} service_pair;

/* What plan() reads from systemd about a failed unit. */
typedef struct service_facts {
    int loaded;                      /* LoadState is "loaded" */
    int need_reload;                 /* NeedDaemonReload */
    size_t n_failed_deps;            /* Requires/BindsTo units that are failed or inactive */
    char failed_deps[SERVICE_DEPS_MAX][SERVICE_UNIT_MAX];
    int has_alternative;
    char alternative[SERVICE_UNIT_MAX];
    int clean;                       /* the unit is in clean_units */
    int flapping;
} service_facts;

typedef struct service {
    const healer_host *h;
    healer_ctx *ctx;
    /* config */
    char bus_address[512];           /* "" = the system bus */
    char busctl[256];
    char **units;                    /* watched units; n_units == 0: every unit */
    size_t n_units;
    char **protected_units;
    size_t n_protected;
    char **clean_units;
    size_t n_clean;
    service_pair *alts;
    size_t n_alts;
    service_pair *checks;
    size_t n_checks;
    long long flap_failures;
    double flap_window_s;
    double verify_timeout_s, verify_stable_s, command_timeout_s, rescan_s;
    int auto_mask;
    /* runtime */
    sd_bus *bus;
    int bus_seen;                /* connected at least once: losing it is news, never having it is not */
    int bus_fd;
    int kick_fd;                     /* eventfd: drain the bus after verify */
    sd_bus_slot *match_slot;
    double next_connect, last_rescan;
    int warned_connect;
    service_unit *tab;
    size_t n_tab, cap_tab;
    const char *busy_unit;           /* a unit being acted on: its transient states are ours */
    uint64_t signals_seen;
    uint64_t last_since_usec;        /* execute -> verify: state-change time before acting */
    int last_dry;                    /* execute -> verify: the action was a dry run */
} service;

/* ---- service_util.c: no bus, no host state: unit-tested directly ---------------------- */

/* 1 when name is a plausible unit name: [A-Za-z0-9:_.@\\-], has a type suffix, no leading
 * '-' (it would read as an option), shorter than SERVICE_UNIT_MAX. */
int service_unit_name_ok(const char *name);
/* Records a failure at now; returns how many fall inside [now - window, now]. */
unsigned service_note_failure(service_unit *u, double now, double window);
/* Failures inside [now - window, now]. */
unsigned service_recent_failures(const service_unit *u, double now, double window);
/* Parses "key=value" items; bad items are skipped and counted in *bad. Returns the array
 * (NULL when n is 0 or out of memory). */
service_pair *service_parse_pairs(const char *const *items, size_t n, size_t *n_out, size_t *bad);
const service_pair *service_pair_find(const service_pair *p, size_t n, const char *key);
int service_list_has(char *const *list, size_t n, const char *name);
/* Builds a busctl argv: [busctl, (--address=A), --, call, systemd1, path, Manager, method,
 * sig, args...]. store holds the strings; returns argc, or -1 when it does not fit. */
int service_busctl_argv(const char *busctl, const char *address, const char *method,
                        const char *sig, const char *const *args, size_t n_args,
                        const char **argv, size_t argv_cap, char *store, size_t store_len);
/* Splits a command line on spaces (no quoting) into argv; returns argc or -1. */
int service_split_cmd(char *cmd, const char **argv, size_t cap);

/* ---- service_bus.c ---------------------------------------------------------------------- */

int service_bus_connect(service *s);          /* connect, Subscribe, match, seed states */
void service_bus_close(service *s);
void service_bus_drain(service *s);           /* sd_bus_process until nothing is left */
int service_bus_rescan(service *s);           /* ListUnitsFiltered(["failed"]) */
/* Reads ActiveState/SubState of a unit (loads nothing: an unknown unit is "inactive"). */
int service_bus_state(service *s, const char *unit, char *active, size_t alen, char *sub,
                      size_t slen, uint64_t *changed_usec);
int service_bus_facts(service *s, const char *unit, service_facts *f);

/* ---- service.c: called by service_bus.c on a state change -------------------------------- */
service_unit *service_unit_get(service *s, const char *name, int create);
int service_watched(const service *s, const char *name);
void service_on_state(service *s, const char *unit, const char *active, const char *sub);
/* After a batch of signals: publishes or resolves for the units whose state changed. */
void service_after_drain(service *s);

#endif
