/* memory_int.h — internal to the memory plugin: its state, the types its files share and the
 * functions one file offers another (memory.c: config and life cycle; memory_sense.c:
 * measuring and publishing; memory_cgroup.c: the watched cgroups, their files and usage events;
 * memory_sample.c: the adaptive emergency sampler; memory_plan.c: plan, execute and verify;
 * memory_kill.c: candidates and the kill loops; memory_predict.c: memory_exhaustion_predicted on
 * the host's prediction service). */
#ifndef HEALER_PLUGIN_MEMORY_INT_H
#define HEALER_PLUGIN_MEMORY_INT_H

#include <healer/healer.h>

#include "memory.h"

#include <limits.h>
#include <regex.h>
#include <sys/types.h>

/* Messages and paths are cut at their buffers' sizes on purpose (HEALER_MSG_MAX). */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MEMORY_HIGH "memory_high"
#define MEMORY_PRESSURE "memory_pressure"
#define MEMORY_SWAP "swap_missing"
#define MEMORY_PREDICTED "memory_exhaustion_predicted"

/* Watched cgroups at most (after expanding globs). The bound is the idle cost: a quiet cgroup
 * is read once per leak sample spacing (15 s by default), two preads of ~3.5 us of CPU each on
 * this machine, so 2048 cgroups cost ~1 ms/s, 0.1 % of a core, the agent's whole idle budget
 * (issue 12); and its state (~0.6 KiB with the leak ring) stays ~1 MiB. */
#define MEMORY_MAX_CGROUPS 2048
/* v1 usage threshold events: cgroups share this many eventfds (one epoll set watched by the
 * host), so an event re-reads ~1/64 of the cgroups and the fds stay bounded. */
#define MEMORY_EVENT_BUCKETS 64
/* Thresholds left registered for an old limit (they only cause a spurious bucket re-read)
 * before a bucket's eventfd is replaced and its cgroups registered afresh. */
#define MEMORY_BUCKET_STALE_MAX 16
#define MEMORY_MAX_SWAPS 16
#define MEMORY_MAX_REGEX 32
#define MEMORY_LEAK_SAMPLES 256        /* the largest leak ring (leak_min_samples' maximum) */
#define MEMORY_LEAK_RING_MIN 16
#define MEMORY_MAX_TRIED 64
#define MEMORY_PROC_SUPER_MAGIC 0x9fa0
#define MEMORY_CAP_SYS_RESOURCE 24
#define MEMORY_INTERVAL 1.0           /* detect() every second unless configured */

/* One watched cgroup: a `cgroups` entry, or a directory one of its globs matched. */
typedef struct memory_cg {
    /* What detect() looks at for every cgroup every interval comes first: one cache line. */
    double next_t;                    /* host time of the next read while quiet */
    double used_pct;                  /* of the limit, at the last read */
    uint64_t limit;                   /* 0 = none */
    int bucket;                       /* v1 usage events on this bucket's eventfd; -1: none */
    int present;                      /* the files were readable at the last read */
    int tried;                        /* read at least once */
    int open_high;                    /* memory_high published and not resolved */
    int leaking;
    int health_low;                   /* health last reported below 100 */
    char dir[HEALER_TARGET_MAX];      /* its directory under sys_root/fs/cgroup: the target */
    int from_glob;                    /* found by a glob: dropped when gone and no longer matched */
    int seen;                         /* matched by the current glob rescan */
    int v2;                           /* memory.current (v2) or memory.usage_in_bytes (v1) */
    uint64_t usage;
    /* Kept descriptors of the usage and limit files (pread from 0), within the fd budget;
     * -1: opened per read. */
    int ufd, lfd;
    double phase;                     /* 0..1: spreads quiet reads over the period */
    int staggered;                    /* the phase was applied */
    /* Leak detection: a ring of (time, usage) samples over leak_window_s (s->leak_ring). */
    double *t, *y;
    size_t n, head;
    double slope, r2;
    /* The quiet period's multiple (1, 2, 4 ... up to leak_quiet_backoff): doubled at each quiet
     * read whose usage grew less than half of leak_min_bytes_per_s since the one before, back
     * to 1 at any growth at that rate or any read while not quiet. */
    int backoff;
    double sampled_t;                 /* time and usage at the last quiet read (0: none) */
    uint64_t sampled_usage;
    /* v1 usage thresholds (cgroup.event_control) are registered for this limit. */
    uint64_t ev_limit;
    /* Its used share fed to the host's prediction service (memory_predict.c) at pred_t (0:
     * not fed); memory_exhaustion_predicted published and not resolved. */
    double pred_t;
    int open_pred;
} memory_cg;

/* A measured level: the whole system, MemAvailable of MemTotal; or a cgroup, limit - usage of limit. */
typedef struct memory_level {
    uint64_t total, avail;
    double used_pct, avail_pct;
    int has_limit;                    /* cgroup without limit: only usage is known */
} memory_level;

typedef struct memory_cand {
    pid_t pid;
    uint64_t start_time;
    char name[16];
    long score;
    uint64_t rss;
} memory_cand;

typedef struct memory {
    const healer_host *h;
    healer_ctx *ctx;
    /* thresholds (percent) */
    double high, critical, kill_pct, emerg_term, emerg_kill, pressure_pct;
    int watch_system, drop_caches, sync_first, restart_leaking, kill_system, emergency;
    int psi_enabled, cg_events;
    double sync_timeout, kill_grace, emerg_grace, kill_settle, verify_settle;
    double leak_window, leak_min_rate, leak_min_r2, restart_timeout;
    long long leak_min_samples, max_kills, swapfile_mb;
    const char *service_plugin;
    regex_t prefer[MEMORY_MAX_REGEX], avoid[MEMORY_MAX_REGEX];
    size_t n_prefer, n_avoid;
    char swapfile[PATH_MAX];
    char swaps[MEMORY_MAX_SWAPS][PATH_MAX];
    int swap_open[MEMORY_MAX_SWAPS];
    size_t n_swaps;
    /* Watched cgroups (memory_cgroup.c): owned pointers, and the same sorted by dir for
     * look-ups; the `cgroups` entries that are globs, re-expanded every cgroup_rescan_s. */
    memory_cg **cg, **cg_sorted;
    size_t n_cg, cap_cg, n_sorted;
    char **globs;
    size_t n_globs;
    double rescan_s, next_rescan;
    int cg_limit_warned;
    size_t leak_ring;                 /* samples per cgroup: 2 x leak_min_samples in 16..256 */
    double quiet_s;                   /* leak_window_s / leak_ring: a quiet cgroup's read period */
    int quiet_backoff;                /* leak_quiet_backoff: a flat quiet cgroup's longest period,
                                       * in quiet_s */
    size_t fd_budget, fds_kept;       /* kept cgroup file descriptors: RLIMIT_NOFILE / 4 */
    int epfd;                         /* epoll set of the bucket eventfds (watched by the host) */
    int bucket_fd[MEMORY_EVENT_BUCKETS];
    unsigned bucket_stale[MEMORY_EVENT_BUCKETS];
    size_t next_bucket;
    size_t n_evented, n_cg_logged;   /* last logged: cgroups with usage events, watched */
    uint64_t cg_reads, cg_event_wakes;    /* cgroup reads and event wake-ups (tests, log) */
    /* PSI trigger */
    int psi_fd;
    unsigned psi_window_us, psi_stall_us;
    int psi_cap;
    uint64_t psi_events;
    double psi_last_event;
    int open_sys, open_pressure;
    int watched;                      /* fds watched (at most 16 per plugin) */
    /* The system-wide emergency sampler (memory_sample.c): meminfo kept open for pread, a
     * one-shot timerfd re-armed after every sample with a period that shrinks with the
     * headroom above the emergency level. */
    int mfd, tfd;
    double interval;                  /* the plugin's detect interval */
    double fill_rate;                 /* bytes/s the sampler assumes memory can fill at */
    double min_period, period;        /* seconds; period 0 = timer disarmed */
    double ref_t, fall_rate;          /* the last rate reference sample and the falling rate */
    uint64_t ref_avail;
    double fall_rate_t;               /* when fall_rate was measured (monotonic) */
    uint64_t fast_samples;
    int sys_emerg;                    /* the last memory_high published for the system was an
                                         emergency */
    /* What the last real drop_caches achieved, so a futile one is not proposed again. */
    double drop_min_gain, drop_futile_s, drop_min_eta;
    int drop_known;
    double drop_t, drop_gain_pct;
    /* PSI "some" total when the last action finished: verify's stall share is measured from
     * here, so verify needs no sleep. */
    int psi_snap_ok;
    double psi_snap_t;
    uint64_t psi_snap_total;
    /* memory_exhaustion_predicted (memory_predict.c) */
    int predict_on, predict_warned, open_pred_sys;
    double predict_horizon, predict_sample, predict_window;
    double pred_sys_t;                /* when the system's share was last fed (0: never) */
} memory;


/* ---- memory_sense.c ---- */
void memory_sleep(double s);
double memory_mono(void);
/* Seconds an action may still wait: host->action_time_left() minus a reserve for reporting,
 * never negative; +infinity outside an action or on a host without it. */
double memory_time_left(memory *s);
long memory_read_proc(memory *s, const char *rel, char *buf, size_t len);
int memory_has_cap_sys_resource(void);
const char *memory_target_of(const memory_cg *c);
int memory_measure_system(memory *s, memory_level *lv, memory_meminfo *mi_out);
int memory_measure_target(memory *s, const char *target, memory_level *lv);
void memory_leak_sample(memory *s, memory_cg *c, double now);
void memory_leak_reset(memory_cg *c);
int memory_is_emergency(memory *s, const memory_level *lv);
void memory_judge(memory *s, memory_cg *c, const memory_level *lv, double psi_some);
void memory_scan(memory *s, int from_event);
void memory_psi_setup(memory *s, long long window_ms, long long stall_ms);
/* Remembers the PSI "some" total now, for verify's stall share. */
void memory_psi_snapshot(memory *s);

/* ---- memory_predict.c ---- */
void memory_predict_config(memory *s);
/* Feed the used share (at most every predict_sample_s) and publish or resolve the prediction. */
void memory_predict_system(memory *s, const memory_level *lv, double now);
void memory_predict_cg(memory *s, memory_cg *c, const memory_level *lv, double now);
/* A cgroup no longer watched or gone: its issue resolved, its series forgotten. */
void memory_predict_drop_cg(memory *s, memory_cg *c);
void memory_plan_predicted(memory *s, const healer_issue *issue, healer_plan *plan);
int memory_verify_predicted(memory *s, const healer_issue *issue, healer_verdict *v);

/* ---- memory_cgroup.c ---- */
/* Reads the `cgroups` entries (directories and globs) and sets up the event buckets;
 * HEALER_E_INVAL with an error naming the key and value when one is bad or there are too many. */
int memory_cgroups_init(memory *s);
void memory_cgroups_free(memory *s);
memory_cg *memory_find_cg(memory *s, const char *target);
/* Usage and limit of a cgroup: 0, or -1 when it cannot be read (gone, not a memory cgroup),
 * logged once per disappearance; its kept fds are closed then. */
int memory_measure_cg(memory *s, memory_cg *c, memory_level *lv);
/* Every interval: re-expands the globs when due, reads the cgroups that are due (hot ones,
 * polled ones, quiet ones whose period is up), samples leaks and judges. From a PSI event
 * (from_event 1): only the cgroups polled every interval, no leak samples. */
void memory_cgroups_scan(memory *s, double now, int from_event);
/* A quiet cgroup needs no read every interval: its thresholds are events (or it has no limit,
 * so only the leak sampler reads it) and nothing about it is open. */
int memory_cg_quiet(const memory *s, const memory_cg *c);

/* ---- memory_sample.c ---- */
int memory_sampler_setup(memory *s);
void memory_sampler_close(memory *s);
/* Feeds a fresh system measurement (from detect or the timer): updates the falling rate and
 * re-arms the timer for the headroom left. */
void memory_sampler_note(memory *s, const memory_level *lv);
/* Seconds until the emergency level at the falling rate last measured; +infinity when memory
 * is not falling (or the rate is stale). */
double memory_eta_emergency(memory *s, const memory_level *lv);

/* ---- memory_kill.c ---- */
int memory_pick(memory *s, memory_cg *c, const pid_t *tried, size_t ntried, memory_cand *best);
int memory_alive(memory *s, pid_t pid, uint64_t start_time);
int memory_exec_kill(memory *s, const healer_issue *issue, const healer_action *a,
                     healer_result *r, int emerg);

/* ---- memory_plan.c ---- */
const char *memory_param(const healer_action *a, const char *key);
void memory_result_level(healer_result *r, const memory_level *lv);
int memory_plan(void *state, const healer_issue *issue, healer_plan *plan);
int memory_execute(void *state, const healer_issue *issue, const healer_action *action,
                   healer_result *result);
int memory_verify(void *state, const healer_issue *issue, const healer_action *action,
                  healer_verdict *verdict);

#endif
