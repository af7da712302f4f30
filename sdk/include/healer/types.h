/* healer/types.h — plain data that crosses the plugin boundary: return codes, severities,
 * measurements, issues, actions and results. No pointer here outlives the call it is passed
 * to unless the field's comment says so; the host copies whatever it keeps. */
#ifndef HEALER_TYPES_H
#define HEALER_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes. Every SDK function that can fail returns one of these; 0 is success and
 * every failure is negative, so `if (rc < 0)` is the error test. HEALER_DRY_RUN is the one
 * positive "success with nothing changed": an actuator that would have acted. */
typedef enum healer_rc {
    HEALER_OK = 0,
    HEALER_DRY_RUN = 1,        /* actuator: dry-run, the message says what it would have done */
    HEALER_E_INVAL = -1,       /* bad argument: NULL, unknown key, out of range */
    HEALER_E_PROTECTED = -2,   /* target is protected (PID 1, kernel thread, protect.*) */
    HEALER_E_SCOPE = -3,       /* target outside the agent's scope or the declared directory */
    HEALER_E_GONE = -4,        /* process exited or its pid was reused (start time differs) */
    HEALER_E_IO = -5,          /* a system call failed; the message carries errno's text */
    HEALER_E_TIMEOUT = -6,     /* command or request did not finish in time */
    HEALER_E_DENIED = -7,      /* not allowed from this callback or thread */
    HEALER_E_NOTFOUND = -8,    /* no such plugin, key, file or cgroup */
    HEALER_E_FULL = -9,        /* a bounded queue was full; the message was dropped and counted */
    HEALER_E_NOMEM = -10,
    /* ABI 1.3 (series_predict): */
    HEALER_E_NODATA = -11,     /* too few points (or no time between them) to predict from */
    HEALER_E_NOTREND = -12     /* no trend towards the threshold: flat, or moving away from it */
} healer_rc;

/* Text for a return code; static storage, never NULL. Inline: plugins link nothing of the
 * agent's. */
static inline const char *healer_rc_str(int rc)
{
    switch (rc) {
    case HEALER_OK: return "ok";
    case HEALER_DRY_RUN: return "dry-run";
    case HEALER_E_INVAL: return "invalid argument";
    case HEALER_E_PROTECTED: return "protected";
    case HEALER_E_SCOPE: return "out of scope";
    case HEALER_E_GONE: return "gone";
    case HEALER_E_IO: return "I/O error";
    case HEALER_E_TIMEOUT: return "timeout";
    case HEALER_E_DENIED: return "denied";
    case HEALER_E_NOTFOUND: return "not found";
    case HEALER_E_FULL: return "queue full";
    case HEALER_E_NOMEM: return "out of memory";
    case HEALER_E_NODATA: return "not enough data";
    case HEALER_E_NOTREND: return "no trend towards the threshold";
    default: return "unknown error";
    }
}

typedef enum healer_severity {
    HEALER_SEV_LOW = 0,
    HEALER_SEV_MEDIUM = 1,
    HEALER_SEV_HIGH = 2,
    HEALER_SEV_CRITICAL = 3
} healer_severity;

typedef enum healer_log_level {
    HEALER_LOG_ERROR = 0,
    HEALER_LOG_WARN = 1,
    HEALER_LOG_INFO = 2,
    HEALER_LOG_DEBUG = 3
} healer_log_level;

/* Longest strings the host keeps for these fields; longer ones are truncated on copy. */
#define HEALER_NAME_MAX 64       /* plugin, issue type, action name, measurement name */
#define HEALER_TARGET_MAX 256    /* a target: "/", "nginx.service", "pid:123", a path */
#define HEALER_MSG_MAX 512       /* human messages */
#define HEALER_MAX_MEASUREMENTS 16
#define HEALER_MAX_PARAMS 16
#define HEALER_MAX_COMPONENTS 8

/* A named number: "cpu_percent" = 97.5. Measurement names are snake_case with the unit as
 * suffix (_percent, _bytes, _seconds, _celsius) as Prometheus names are. */
typedef struct healer_measurement {
    const char *name;
    double value;
} healer_measurement;

/* A string parameter of an action or a request. */
typedef struct healer_kv {
    const char *key;
    const char *value;
} healer_kv;

/* An issue as a plugin publishes it (host->publish_issue). Every pointer is borrowed for
 * the length of that call only: the host copies the issue before it returns.
 * When the host hands an issue to a plugin (plan, execute, verify), the same struct is
 * borrowed for the length of that callback. */
typedef struct healer_issue {
    const char *type;                       /* "cpu_high"; [a-z0-9_], at most HEALER_NAME_MAX */
    healer_severity severity;
    const char *target;                     /* what is affected; with type, the key for merging
                                               repeats and for cooldowns. "" for the host. */
    const char *summary;                    /* one human line: "CPU at 97% for 60 s" */
    const healer_measurement *measurements; /* what raised it; n_measurements entries */
    size_t n_measurements;
    const char *const *components;          /* affected components ("pid:123 stress-ng") */
    size_t n_components;
    /* Filled by the host on issues it hands to a plugin; ignored on publish. */
    uint64_t id;                            /* stable for the life of the open issue */
    const char *plugin;                     /* the plugin that detected it */
} healer_issue;

/* Flags of an action. The governor reads them: any of the RISKY ones makes the whole plan
 * wait for confirmation (unless the operator's config says that class is automatic). */
enum {
    HEALER_ACTION_REVERSIBLE = 1u << 0,   /* restore() can undo it */
    HEALER_ACTION_ROOTFS = 1u << 1,       /* changes the root filesystem (risky) */
    HEALER_ACTION_CONFIG = 1u << 2,       /* changes system configuration (risky) */
    HEALER_ACTION_DELETES = 1u << 3,      /* deletes files or data (risky) */
    HEALER_ACTION_SYSTEM = 1u << 4,       /* may act on system processes (a uid outside the login
                                             range, nobody, DynamicUser, init.scope, system.slice) */
    HEALER_ACTION_ROLLBACK = 1u << 5,     /* a rollback: counted against max_rollbacks_per_day */
    HEALER_ACTION_AUTO_OK = 1u << 6,      /* the plugin's config marked this risky class
                                             automatic: no confirmation needed */
    HEALER_ACTION_STOPS = 1u << 7         /* stops or kills processes for anything but an
                                             out-of-memory emergency (risky) */
};
#define HEALER_ACTION_RISKY (HEALER_ACTION_ROOTFS | HEALER_ACTION_CONFIG | HEALER_ACTION_DELETES | \
                             HEALER_ACTION_STOPS)

/* One candidate action a plugin proposes in plan() (host->plan_add_action copies it). */
typedef struct healer_action {
    const char *name;          /* stable id, the knowledge base and metrics key: "renice" */
    const char *target;        /* what it acts on; defaults to the issue's target when NULL */
    const char *description;   /* human line: "renice 3 user processes to 10" */
    unsigned step;             /* escalation step, 0 = gentlest. The planner never runs a
                                  harsher step before a gentler one; within one step it orders
                                  by what the knowledge base says works (see planner docs). */
    double impact;             /* estimated disruption 0..1 (0 harmless, 1 kills work) */
    double confidence;         /* the plugin's own prior that it heals, 0..1 */
    uint32_t flags;            /* HEALER_ACTION_* */
    const healer_kv *params;   /* handed back verbatim to execute(); at most HEALER_MAX_PARAMS */
    size_t n_params;
} healer_action;

/* What execute() reports. The host pre-fills the result with outcome HEALER_OUTCOME_UNSET and
 * zeroes everything else; the plugin must set outcome on every path. A result still UNSET when
 * execute() returns is recorded as an error of the plugin (never as success), and the mock host
 * fails the test that did it. (ABI 1.0 hosts zeroed outcome, which read as DONE.) */
typedef enum healer_outcome {
    HEALER_OUTCOME_UNSET = -1,    /* pre-filled by the host; never a valid answer (ABI 1.1) */
    HEALER_OUTCOME_DONE = 0,      /* acted; the host now verifies (see verify_after_s) */
    HEALER_OUTCOME_HEALED = 1,    /* acted and already knows it healed (skips verify) */
    HEALER_OUTCOME_FAILED = 2,    /* could not act; the ladder goes on to the next action */
    HEALER_OUTCOME_SKIPPED = 3,   /* nothing to do (e.g. no process left to renice) */
    HEALER_OUTCOME_DRY_RUN = 4    /* dry-run: reported what it would do */
} healer_outcome;

typedef struct healer_result {
    healer_outcome outcome;
    char message[HEALER_MSG_MAX];                             /* what happened, for people */
    healer_measurement measurements[HEALER_MAX_MEASUREMENTS]; /* "after" values; names must
                                                                 be static strings */
    size_t n_measurements;
    /* ABI 1.1. With outcome DONE: how long the change needs to settle before verify() can
     * judge it (a cache to drop, a unit to come up). The host calls verify() that many seconds
     * later by a timer; meanwhile this plugin's detect() and fd callbacks keep running, so an
     * emergency is seen while a gentle step settles. 0 = verify at once. Never sleep in
     * execute() or verify() to wait for a change to settle: set this instead. */
    double verify_after_s;
} healer_result;

/* What verify() reports after re-measuring. Zeroed by the host. */
typedef struct healer_verdict {
    int healed;                                               /* 1 when the issue is gone */
    char message[HEALER_MSG_MAX];
    healer_measurement measurements[HEALER_MAX_MEASUREMENTS]; /* names must be static */
    size_t n_measurements;
    /* ABI 1.1. > 0: the verdict is not final yet ("stays healed" needs a settle window: a
     * restarted unit must stay active, a link must stay up). healed is ignored; the host calls
     * verify() again after this many seconds, by a timer, without blocking this plugin's other
     * callbacks. The engine gives the whole verification at most HEALER_VERIFY_MAX_S. */
    double recheck_after_s;
} healer_verdict;

/* The longest a single action's verification may settle, summed over every recheck: beyond it
 * the action counts as timed out. */
#define HEALER_VERIFY_MAX_S 3600.0

/* The answer to a request between plugins (host->request / handle_request). */
typedef struct healer_reply {
    int status;                       /* HEALER_OK or a negative healer_rc */
    char message[HEALER_MSG_MAX];
} healer_reply;

#ifdef __cplusplus
}
#endif
#endif
