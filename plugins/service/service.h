/* plugins/service/service.h — the service plugin's state shared by service.c (plan, execute,
 * requests, init), service_detect.c (which issues hold: failed, flapping, systemd's own
 * restarts and counters), service_predict.c (a start limit about to be hit, on the host's
 * prediction service), service_verify.c ("stays healed" by timers), service_bus.c (sd-bus:
 * reads and the signal subscription) and service_util.c (pure logic: windows, maps, argv). */
#ifndef HEALER_SERVICE_H
#define HEALER_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include <healer/healer.h>

#define SERVICE_UNIT_MAX 256
#define SERVICE_FAILS_MAX 64   /* failure times kept per unit (the flapping window's ring) */
/* A dependent that left active this close to its Requires=/BindsTo= unit was taken down with it
 * (systemd stops it right after), even if that unit already runs again (Restart=, RestartSec=1)
 * by the time the plugin looks; an operator's stop of the dependent alone is not. */
#define SERVICE_DEP_LINK_US 5000000ULL
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
    /* What systemd says beyond the state (read when the state changes: service_refresh). */
    int need_info;            /* re-read the facts below at the next evaluation */
    uint64_t inactive_usec;   /* InactiveEnterTimestampMonotonic last known */
    uint64_t exit_usec;       /* InactiveExitTimestampMonotonic last known */
    uint64_t fail_enter_usec; /* InactiveEnterTimestampMonotonic of the failure last counted */
    char load[16];            /* LoadState: loaded, masked, not-found... */
    char result[32];          /* Service.Result: success, exit-code, start-limit-hit... */
    char restart[24];         /* Service.Restart: no, always, on-failure... ("" = not a service) */
    uint32_t job;             /* a job systemd has queued for it (0 = none) */
    uint32_t nrestarts;       /* Service.NRestarts at the last read */
    int nr_known;
    unsigned exits_unmatched; /* exits we counted that NRestarts has not shown yet */
    unsigned streak;          /* failures since it last stayed active for verify_window_s */
    double active_since;      /* agent clock when it last entered active (0: not active) */
    double defer_until;       /* failed with Restart= set: systemd's verdict is awaited until
                                 then (monotonic); 0 = not deferred */
    int limit_hit;            /* failed and systemd gave up on it (start-limit-hit, or a
                                 Restart=always/on-failure unit still failed after the grace) */
    int went_inactive;        /* it just became inactive: look for a dependency that did it */
    int stopped_by_dep;       /* went inactive while a Requires=/BindsTo= unit was down */
    char dep_down[SERVICE_UNIT_MAX]; /* that unit */
    int dep_open;             /* we published service_dependency_down */
    double activating_since;  /* monotonic, entering activating (not auto-restart); 0 = not */
    int degraded_open;        /* we published service_degraded */
    /* The verification of the last action on this unit (service_verify.c). */
    int v_on;                 /* a verification is under way: its issue is not resolved */
    int v_phase;              /* 0: waiting for active, 1: active, counting the window */
    int v_dry;
    double v_started;         /* monotonic, when the action ended */
    double v_active_at;       /* monotonic, when verify first saw it active */
    double v_until;           /* monotonic: past it v_on is stale (the engine gave up) */
    uint64_t v_since_usec;    /* StateChangeTimestampMonotonic before acting */
    uint64_t v_active_enter;  /* ActiveEnterTimestampMonotonic when first seen active */
    uint32_t v_nrestarts;     /* NRestarts when first seen active */
    /* service_start_limit_predicted (service_predict.c) */
    double limit_interval_s;  /* StartLimitIntervalUSec read from systemd (0: disabled) */
    unsigned limit_burst;     /* StartLimitBurst read from systemd */
    int limit_known;          /* the two above were read (else the configured defaults) */
    int fed;                  /* its failure count is a series of the host's (named by unit) */
    int pred_start;           /* a failure since the last evaluation: feed it */
    int pred_open;            /* we published service_start_limit_predicted */
} service_unit;

/* Facts of one unit read in one go (service_bus_info). */
typedef struct service_info {
    char load[16], active[32], sub[32], result[32], restart[24];
    char fragment[256];       /* FragmentPath: where its unit file is */
    uint32_t nrestarts, job;
    int has_service;          /* the Service interface answered (Result, Restart, NRestarts) */
    uint64_t active_enter_usec, state_change_usec, inactive_enter_usec, inactive_exit_usec;
    uint64_t start_limit_usec;       /* StartLimitIntervalUSec (0: no limit) */
    uint32_t start_limit_burst;      /* StartLimitBurst */
    int has_start_limit;             /* both read */
} service_info;

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
    int limit_hit;                   /* Result is start-limit-hit */
    int want_inactive;               /* service_bus_down_deps: inactive deps count too */
    uint64_t exit_us;                /* ... and so does a dep that left active within
                                        SERVICE_DEP_LINK_US of this (the dependent's) exit */
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
    double verify_window_s;          /* how long a healed unit must stay active */
    double activating_timeout_s;     /* activating longer than this: service_degraded */
    double restart_grace_s;          /* how long a failed unit with Restart= is left to systemd */
    int auto_mask;
    double predict_horizon_s;        /* 0 = no service_start_limit_predicted */
    double default_limit_interval_s; /* when the unit's own cannot be read */
    long long default_limit_burst;
    /* runtime */
    sd_bus *bus;
    int bus_seen;                /* connected at least once: losing it is news, never having it is not */
    int bus_fd;
    int kick_fd;                     /* eventfd: drain the bus after verify */
    int timer_fd;                    /* timerfd: a deferred decision is due (Restart= grace) */
    sd_bus_slot *match_slot;
    double next_connect, last_rescan;
    int warned_connect;
    service_unit *tab;
    size_t n_tab, cap_tab;
    const char *busy_unit;           /* a unit being acted on: its transient states are ours */
    uint64_t signals_seen;
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

/* Reads every fact of service_info (LoadState, states, Result, Restart, NRestarts, Job,
 * timestamps, FragmentPath). HEALER_E_IO when the bus is gone or the unit cannot be read. */
int service_bus_info(service *s, const char *unit, service_info *i);
/* Names of the Requires=/BindsTo= units of unit that are failed or inactive: up to max. */
size_t service_bus_down_deps(service *s, const char *unit, char (*out)[SERVICE_UNIT_MAX],
                             size_t max);

/* ---- service.c ------------------------------------------------------------------------- */
service_unit *service_unit_get(service *s, const char *name, int create);
int service_watched(const service *s, const char *name);
int service_is_alternative(const service *s, const char *name);
double service_mono(void);
void service_cpy(char *d, size_t len, const char *src);
int service_health_ok(service *s, const char *unit, char *why, size_t wlen);
void service_kick(service *s);

/* ---- service_detect.c: called by service_bus.c on a state change ------------------------ */
void service_on_state(service *s, const char *unit, const char *active, const char *sub);
/* The same with the unit's Inactive{Enter,Exit}TimestampMonotonic from the signal (0: not in
 * it): a failed unit that left inactive and entered it again failed again, even when the
 * signals merged the states (failed -> activating -> failed). */
void service_on_state_at(service *s, const char *unit, const char *active, const char *sub,
                         uint64_t inactive_usec, uint64_t exit_usec);
/* After a batch of signals: publishes or resolves for the units whose state changed. */
void service_after_drain(service *s);
/* Every detect() cycle: re-publishes what holds; returns units with an open issue. */
size_t service_evaluate_all(service *s);
/* The unit flaps (a restart would feed the loop): systemd's start limit, our window, or a
 * streak of failures with no stable run between them. Once raised it holds until the operator
 * acts (masks, resets or stops it) or the unit runs without failing for the window. */
int service_is_flapping(service *s, const char *unit);
/* Arms the timerfd for the earliest deferred decision. */
void service_arm_timer(service *s);

/* ---- service_predict.c ----------------------------------------------------------------- */
#define SERVICE_PREDICTED "service_start_limit_predicted"
/* A failure of u at now: its failure count, one point more in its series. */
void service_predict_failure(service *s, service_unit *u, double now);
/* Every evaluation: feeds the count, publishes, resolves or forgets. flapping: service_flapping
 * holds for u (it takes over from the forecast). */
void service_predict_evaluate(service *s, service_unit *u, double now, int flapping);

/* ---- service_verify.c ------------------------------------------------------------------ */
/* Execute's end: remembers what "stays healed" is measured against. */
void service_verify_begin(service *s, const char *target, uint64_t since_usec, int dry);
int service_verify(void *state, const healer_issue *is, const healer_action *a,
                   healer_verdict *v);

#endif
