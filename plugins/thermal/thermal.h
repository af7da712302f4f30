/* thermal.h — the thermal plugin's private state, shared by its three files: thermal.c (life
 * cycle, detect/plan/verify/restore), thermal_sensors.c (finding and reading the temperature
 * sensors) and thermal_act.c (the ladder's actions and what they remember for restore()). */
#ifndef THERMAL_H
#define THERMAL_H

#include <healer/healer.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define THERMAL_ISSUE "temperature_high"
#define THERMAL_PREDICTED "temperature_rise_predicted"
#define THERMAL_REL_MAX 96        /* "devices/system/cpu/cpu1023/cpufreq" and the like */

/* One temperature input, its file kept open so a detect() is one pread per sensor. */
typedef struct thermal_sensor {
    int fd;
    char id[48];                  /* "thermal_zone0", "hwmon1/temp2" */
    char label[160];              /* "thermal_zone0 x86_pkg_temp", "hwmon1/temp2 coretemp Core 0" */
    double celsius;
    int ok;                       /* the last read gave a plausible value */
    int warned;                   /* a failing read was logged (once) */
} thermal_sensor;

/* What the ladder changed on one cpufreq policy, as it was before. */
typedef struct thermal_cpu_saved {
    char rel[THERMAL_REL_MAX];    /* "devices/system/cpu/cpu3/cpufreq" under sys_root */
    char governor[32];            /* original scaling_governor ("" = not changed by us) */
    char gov_set[32], gov_seen[32];   /* what we wrote, and what it read back right after */
    char max_freq[32];            /* original scaling_max_freq ("" = not changed by us) */
    char max_set[32], max_seen[32];
} thermal_cpu_saved;

/* What the ladder changed on one fan (hwmonN/pwmK). */
typedef struct thermal_fan_saved {
    char rel[THERMAL_REL_MAX];    /* "class/hwmon/hwmon2" (or its device/ directory) */
    int index;                    /* K of pwmK */
    char enable[16], enable_set[16], enable_seen[16];  /* original ("" = not changed by us),
                                                          written, read back */
    char pwm[16], pwm_set[16], pwm_seen[16];
} thermal_fan_saved;

typedef struct thermal_stopped {
    pid_t pid;
    uint64_t start_time;
} thermal_stopped;

typedef struct thermal {
    const healer_host *host;
    healer_ctx *ctx;

    /* config */
    double high, critical, emergency;                 /* issue thresholds, degrees C */
    double at_powersave, at_cap, at_fans, at_freeze;  /* ladder thresholds (emergency: at
                                                         `emergency`) */
    long long cap_percent, fan_pwm;
    int emergency_stop;                                /* emergency = "stop" (else "freeze") */
    double hysteresis, restore_after, settle, rescan_every;
    int restore;
    size_t n_ignore;

    /* sensors */
    thermal_sensor *sensors;
    size_t n_sensors;
    double scanned_at;
    int nothing_logged;          /* "no sensor found" logged */

    /* the episode: from the first reading at or above `high` until resolve_issue */
    int episode;
    char target[HEALER_TARGET_MAX];
    double cool_since;           /* 0 = not below high - hysteresis now */
    double hottest;              /* last measurement */
    const thermal_sensor *hot;

    /* what the ladder changed (restore() undoes it) */
    thermal_cpu_saved *cpus;
    size_t n_cpus, cap_cpus;
    thermal_fan_saved *fans;
    size_t n_fans, cap_fans;
    char **frozen;               /* cgroup dirs we froze, in order */
    size_t n_frozen, cap_frozen;
    thermal_stopped *stopped;
    size_t n_stopped, cap_stopped;

    int last_noop;               /* the last execute changed nothing: verify need not settle */

    /* temperature_rise_predicted (thermal_predict.c): each sensor a series of the host's */
    double pred_horizon, pred_window, pred_min_r2;   /* config; horizon 0 = off */
    int pred_open;               /* published and not resolved */
    char pred_target[HEALER_TARGET_MAX];
    double pred_quiet_since;     /* 0 = it fires now; else when it stopped firing */
    double pred_acted_celsius;   /* the target's temperature when a step ran for it */
    int pred_full_logged;        /* "too many sensors for the prediction service" said once */
} thermal;

/* thermal_sensors.c */
void thermal_sensors_close(thermal *t);
int thermal_sensors_scan(thermal *t);
/* Reads every sensor; returns how many read well; sets t->hottest and t->hot (NULL when none). */
size_t thermal_sensors_read(thermal *t);
/* Small sysfs file into buf, trailing whitespace cut. 0, or -1 with errno. */
int thermal_read_text(const char *path, char *buf, size_t len);

/* thermal_predict.c */
/* Feeds every readable sensor to its series; forgets the series of sensors a rescan lost
 * (old: the labels before the rescan, NULL when there was none). */
void thermal_predict_feed(thermal *t, double now);
void thermal_predict_rescanned(thermal *t, char (*old)[160], size_t n_old);
/* After the episode's own detect: publishes, holds or resolves temperature_rise_predicted. */
void thermal_predict_detect(thermal *t, double now);
/* The current temperature of the sensor labelled label (-1000 when unreadable). */
double thermal_sensor_celsius(const thermal *t, const char *label);

/* thermal_act.c */
int thermal_act_powersave(thermal *t, healer_result *r);
int thermal_act_cap(thermal *t, int to_min, healer_result *r);
int thermal_act_fans(thermal *t, healer_result *r);
int thermal_act_freeze_services(thermal *t, healer_result *r);
int thermal_act_emergency(thermal *t, healer_result *r);
int thermal_changed_anything(const thermal *t);
void thermal_restore_all(thermal *t);
void thermal_forget_all(thermal *t);

#endif
