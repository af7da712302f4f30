/* thermal_act.c — the ladder's actions (powersave governor, frequency cap, fans at maximum,
 * freezing configured services, the emergency) through the host's actuators only, what each
 * remembers of the values it replaced, and the restore that puts them back. */
#include "thermal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What one action did over all the objects it looked at. */
typedef struct thermal_tally {
    size_t changed;     /* written now */
    size_t would;       /* dry-run: would have been written */
    size_t already;     /* already in our state, set by an earlier step of this episode */
    size_t failed;
    size_t seen;        /* objects the action applies to */
    char fail[200];     /* the first failure, in the actuator's words */
} thermal_tally;

static void thermal_failed(thermal *t, thermal_tally *c, const char *what)
{
    if (!c->fail[0])
        snprintf(c->fail, sizeof c->fail, "%s: %s", what, t->host->last_message(t->ctx));
    c->failed++;
}

/* Fills r from the tally: DONE when something changed (or was already ours), DRY_RUN when
 * something would have, FAILED when only failures, SKIPPED when there was nothing to do. */
static int thermal_outcome(thermal *t, healer_result *r, const thermal_tally *c,
                           const char *what, const char *none)
{
    t->last_noop = c->changed == 0;
    size_t off = strlen(r->message);
    char *m = r->message + off;
    size_t ml = sizeof r->message - off;
    if (off && ml > 2) {
        snprintf(m, ml, "; ");
        m += 2;
        ml -= 2;
    }
    if (c->changed || c->already) {
        r->outcome = HEALER_OUTCOME_DONE;
        snprintf(m, ml, "%s on %zu of %zu%s%s%s%s", what, c->changed + c->already, c->seen,
                 c->already ? " (some already by this plugin)" : "",
                 c->failed ? "; " : "", c->failed ? "failed: " : "", c->failed ? c->fail : "");
    } else if (c->would) {
        r->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(m, ml, "would %s on %zu of %zu", what, c->would, c->seen);
    } else if (c->failed) {
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(m, ml, "%s failed: %s", what, c->fail);
    } else {
        r->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(m, ml, "%s", none);
    }
    return HEALER_OK;
}

/* Worst of two outcomes for a combined action: DONE beats DRY_RUN beats FAILED beats SKIPPED. */
static healer_outcome thermal_best(healer_outcome a, healer_outcome b)
{
    static const int rank[] = {[HEALER_OUTCOME_DONE] = 4, [HEALER_OUTCOME_HEALED] = 5,
                               [HEALER_OUTCOME_FAILED] = 2, [HEALER_OUTCOME_SKIPPED] = 1,
                               [HEALER_OUTCOME_DRY_RUN] = 3};
    return rank[a] >= rank[b] ? a : b;
}

static const char *thermal_file(thermal *t, const char *rel, const char *file, char *buf,
                                size_t len)
{
    char r[THERMAL_REL_MAX + 64];
    snprintf(r, sizeof r, "%s/%s", rel, file);
    return t->host->sys_path(t->ctx, r, buf, len);
}

static int thermal_get(thermal *t, const char *rel, const char *file, char *out, size_t len)
{
    char p[PATH_MAX];
    if (!thermal_file(t, rel, file, p, sizeof p))
        return -1;
    return thermal_read_text(p, out, len);
}

/* Writes value to rel/file. 1 written (readback gets what the kernel shows right after), 0
 * dry-run, -1 failed (counted in c). */
static int thermal_put(thermal *t, const char *rel, const char *file, const char *value,
                       char *readback, size_t rl, thermal_tally *c)
{
    char p[PATH_MAX];
    if (!thermal_file(t, rel, file, p, sizeof p)) {
        thermal_failed(t, c, "path too long");
        return -1;
    }
    int rc = t->host->act_write_file(t->ctx, p, value);
    if (rc == HEALER_DRY_RUN)
        return 0;
    if (rc < 0) {
        thermal_failed(t, c, file);
        return -1;
    }
    /* A driver may round what it was given (scaling_max_freq to a supported step): keep what
     * it shows too, so restore() can tell our value from someone else's later change. */
    if (thermal_read_text(p, readback, rl) != 0)
        snprintf(readback, rl, "%s", value);
    return 1;
}

static void *thermal_grow(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return v;
    size_t nc = *cap ? *cap * 2 : 8;
    void *nv = realloc(v, nc * size);
    if (nv)
        *cap = nc;
    return nv;
}

/* ---- cpufreq ----------------------------------------------------------------------------- */

static int thermal_int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The online CPUs with a cpufreq directory, in order. Caller frees. */
static int *thermal_cpu_list(thermal *t, size_t *n_out)
{
    *n_out = 0;
    char dir[PATH_MAX];
    if (!t->host->sys_path(t->ctx, "devices/system/cpu", dir, sizeof dir))
        return NULL;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    int *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *s = de->d_name;
        if (strncmp(s, "cpu", 3) != 0 || !isdigit((unsigned char)s[3]))
            continue;
        char *end;
        long k = strtol(s + 3, &end, 10);
        if (*end || k < 0 || k > 1 << 20)
            continue;
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s/%.20s/cpufreq/scaling_max_freq", dir, s);
        if (access(p, F_OK) != 0)
            continue;
        int *nv = thermal_grow(v, &cap, n, sizeof *v);
        if (!nv)
            break;
        v = nv;
        v[n++] = (int)k;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof *v, thermal_int_cmp);
    *n_out = n;
    return v;
}

static thermal_cpu_saved *thermal_cpu_slot(thermal *t, const char *rel, int create)
{
    for (size_t i = 0; i < t->n_cpus; i++)
        if (strcmp(t->cpus[i].rel, rel) == 0)
            return &t->cpus[i];
    if (!create)
        return NULL;
    thermal_cpu_saved *nv = thermal_grow(t->cpus, &t->cap_cpus, t->n_cpus, sizeof *nv);
    if (!nv)
        return NULL;
    t->cpus = nv;
    thermal_cpu_saved *s = &t->cpus[t->n_cpus++];
    memset(s, 0, sizeof *s);
    snprintf(s->rel, sizeof s->rel, "%s", rel);
    return s;
}

static int thermal_has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += wl)
        if ((p == list || isspace((unsigned char)p[-1])) &&
            (p[wl] == '\0' || isspace((unsigned char)p[wl])))
            return 1;
    return 0;
}

int thermal_act_powersave(thermal *t, healer_result *r)
{
    thermal_tally c = {0};
    size_t n;
    int *cpus = thermal_cpu_list(t, &n);
    for (size_t i = 0; i < n; i++) {
        char rel[THERMAL_REL_MAX], avail[512], cur[32], back[32];
        snprintf(rel, sizeof rel, "devices/system/cpu/cpu%d/cpufreq", cpus[i]);
        if (thermal_get(t, rel, "scaling_available_governors", avail, sizeof avail) != 0 ||
            !thermal_has_word(avail, "powersave") ||
            thermal_get(t, rel, "scaling_governor", cur, sizeof cur) != 0)
            continue;   /* this policy has no powersave governor: not ours to change */
        c.seen++;
        thermal_cpu_saved *s = thermal_cpu_slot(t, rel, 0);
        if (strcmp(cur, "powersave") == 0) {
            if (s && s->governor[0])
                c.already++;
            continue;   /* already powersave before us: nothing to do or restore */
        }
        int w = thermal_put(t, rel, "scaling_governor", "powersave", back, sizeof back, &c);
        if (w == 0)
            c.would++;
        if (w != 1)
            continue;
        c.changed++;
        s = thermal_cpu_slot(t, rel, 1);
        if (!s)
            continue;
        if (!s->governor[0])
            snprintf(s->governor, sizeof s->governor, "%s", cur);
        snprintf(s->gov_set, sizeof s->gov_set, "powersave");
        snprintf(s->gov_seen, sizeof s->gov_seen, "%s", back);
    }
    free(cpus);
    r->measurements[r->n_measurements++] = (healer_measurement){"cpus_powersave",
                                                                (double)(c.changed + c.already)};
    return thermal_outcome(t, r, &c, "powersave governor",
                           c.seen ? "every cpufreq policy already runs powersave"
                                  : "no cpufreq policy offers the powersave governor");
}

/* Lowers scaling_max_freq to cap_percent of cpuinfo_max_freq (or to cpuinfo_min_freq). */
int thermal_act_cap(thermal *t, int to_min, healer_result *r)
{
    thermal_tally c = {0};
    size_t n;
    int *cpus = thermal_cpu_list(t, &n);
    double lowest = 0;
    for (size_t i = 0; i < n; i++) {
        char rel[THERMAL_REL_MAX], maxs[32], mins[32], cur[32], back[32], val[32];
        snprintf(rel, sizeof rel, "devices/system/cpu/cpu%d/cpufreq", cpus[i]);
        if (thermal_get(t, rel, "cpuinfo_max_freq", maxs, sizeof maxs) != 0 ||
            thermal_get(t, rel, "scaling_max_freq", cur, sizeof cur) != 0)
            continue;
        long long hw_max = atoll(maxs), now = atoll(cur);
        long long hw_min = thermal_get(t, rel, "cpuinfo_min_freq", mins, sizeof mins) == 0
                               ? atoll(mins) : 0;
        if (hw_max <= 0 || now <= 0 || (to_min && hw_min <= 0))
            continue;
        long long want = to_min ? hw_min : hw_max * t->cap_percent / 100;
        if (want < hw_min)
            want = hw_min;
        c.seen++;
        if (!lowest || (double)want < lowest)
            lowest = (double)want;
        thermal_cpu_saved *s = thermal_cpu_slot(t, rel, 0);
        if (now <= want) {
            if (s && s->max_freq[0])
                c.already++;
            continue;
        }
        snprintf(val, sizeof val, "%lld", want);
        int w = thermal_put(t, rel, "scaling_max_freq", val, back, sizeof back, &c);
        if (w == 0)
            c.would++;
        if (w != 1)
            continue;
        c.changed++;
        s = thermal_cpu_slot(t, rel, 1);
        if (!s)
            continue;
        if (!s->max_freq[0])
            snprintf(s->max_freq, sizeof s->max_freq, "%s", cur);
        snprintf(s->max_set, sizeof s->max_set, "%s", val);
        snprintf(s->max_seen, sizeof s->max_seen, "%s", back);
    }
    free(cpus);
    if (lowest > 0 && r->n_measurements < HEALER_MAX_MEASUREMENTS)
        r->measurements[r->n_measurements++] = (healer_measurement){"max_freq_khz", lowest};
    char what[64];
    if (to_min)
        snprintf(what, sizeof what, "max frequency at cpuinfo_min_freq");
    else
        snprintf(what, sizeof what, "max frequency capped at %lld%%", t->cap_percent);
    return thermal_outcome(t, r, &c, what,
                           c.seen ? "every cpu's max frequency is already at or below the cap"
                                  : "no cpufreq policy to cap");
}

/* ---- fans -------------------------------------------------------------------------------- */

static thermal_fan_saved *thermal_fan_slot(thermal *t, const char *rel, int index, int create)
{
    for (size_t i = 0; i < t->n_fans; i++)
        if (t->fans[i].index == index && strcmp(t->fans[i].rel, rel) == 0)
            return &t->fans[i];
    if (!create)
        return NULL;
    thermal_fan_saved *nv = thermal_grow(t->fans, &t->cap_fans, t->n_fans, sizeof *nv);
    if (!nv)
        return NULL;
    t->fans = nv;
    thermal_fan_saved *s = &t->fans[t->n_fans++];
    memset(s, 0, sizeof *s);
    snprintf(s->rel, sizeof s->rel, "%s", rel);
    s->index = index;
    return s;
}

static void thermal_fan_one(thermal *t, const char *rel, int k, thermal_tally *c)
{
    char fe[24], fp[16], en[16], pwm[16], back[16], val[16];
    snprintf(fe, sizeof fe, "pwm%d_enable", k);
    snprintf(fp, sizeof fp, "pwm%d", k);
    if (thermal_get(t, rel, fp, pwm, sizeof pwm) != 0)
        return;
    int has_enable = thermal_get(t, rel, fe, en, sizeof en) == 0;
    c->seen++;
    thermal_fan_saved *s = thermal_fan_slot(t, rel, k, 0);
    int need_enable = has_enable && strcmp(en, "1") != 0;
    int need_pwm = atoll(pwm) != t->fan_pwm;
    if (!need_enable && !need_pwm) {
        if (s)
            c->already++;
        return;
    }
    int changed = 0, would = 0;
    if (need_enable) {
        /* Manual mode first: in automatic mode most drivers ignore (or refuse) pwmN. */
        int w = thermal_put(t, rel, fe, "1", back, sizeof back, c);
        if (w < 0)
            return;
        if (w == 0)
            would = 1;
        if (w == 1 && (s = thermal_fan_slot(t, rel, k, 1))) {
            changed = 1;
            if (!s->enable[0])
                snprintf(s->enable, sizeof s->enable, "%s", en);
            snprintf(s->enable_set, sizeof s->enable_set, "1");
            snprintf(s->enable_seen, sizeof s->enable_seen, "%s", back);
        }
    }
    if (need_pwm) {
        snprintf(val, sizeof val, "%lld", t->fan_pwm);
        int w = thermal_put(t, rel, fp, val, back, sizeof back, c);
        if (w == 0)
            would = 1;
        if (w == 1 && (s = thermal_fan_slot(t, rel, k, 1))) {
            changed = 1;
            if (!s->pwm[0])
                snprintf(s->pwm, sizeof s->pwm, "%s", pwm);
            snprintf(s->pwm_set, sizeof s->pwm_set, "%s", val);
            snprintf(s->pwm_seen, sizeof s->pwm_seen, "%s", back);
        }
    }
    if (changed)
        c->changed++;
    else if (would)
        c->would++;
}

int thermal_act_fans(thermal *t, healer_result *r)
{
    thermal_tally c = {0};
    char dir[PATH_MAX];
    DIR *d = t->host->sys_path(t->ctx, "class/hwmon", dir, sizeof dir) ? opendir(dir) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, "hwmon", 5) != 0 || strlen(de->d_name) > 20)
            continue;
        char rel[THERMAL_REL_MAX], name[64], p[PATH_MAX + 96];
        snprintf(rel, sizeof rel, "class/hwmon/%.20s", de->d_name);
        if (thermal_get(t, rel, "name", name, sizeof name) != 0)
            snprintf(rel, sizeof rel, "class/hwmon/%.20s/device", de->d_name);
        snprintf(p, sizeof p, "%s/%s", dir, rel + strlen("class/hwmon/"));
        DIR *hd = opendir(p);
        struct dirent *fe;
        int ks[64];
        size_t nk = 0;
        while (hd && (fe = readdir(hd)) && nk < 64) {
            const char *s = fe->d_name;
            if (strncmp(s, "pwm", 3) != 0 || !isdigit((unsigned char)s[3]))
                continue;
            char *end;
            long k = strtol(s + 3, &end, 10);
            if (*end == '\0' && k >= 0 && k < 1000)   /* pwmN only, not pwmN_enable etc. */
                ks[nk++] = (int)k;
        }
        if (hd)
            closedir(hd);
        if (nk > 1)
            qsort(ks, nk, sizeof *ks, thermal_int_cmp);
        for (size_t i = 0; i < nk; i++)
            thermal_fan_one(t, rel, ks[i], &c);
    }
    if (d)
        closedir(d);
    char what[48];
    snprintf(what, sizeof what, "fans at pwm %lld (manual)", t->fan_pwm);
    return thermal_outcome(t, r, &c, what,
                           c.seen ? "every fan already runs at maximum"
                                  : "no hwmon pwm fan control found");
}

/* ---- cgroups ----------------------------------------------------------------------------- */

/* 1 frozen (or freezing), 0 thawed, -1 not a freezable cgroup. */
static int thermal_cgroup_frozen(const char *dir)
{
    char p[PATH_MAX + 32], v[32];
    snprintf(p, sizeof p, "%s/cgroup.freeze", dir);
    if (thermal_read_text(p, v, sizeof v) == 0)
        return strcmp(v, "1") == 0;
    snprintf(p, sizeof p, "%s/freezer.state", dir);
    if (thermal_read_text(p, v, sizeof v) == 0)
        return strcmp(v, "THAWED") != 0;
    return -1;
}

static int thermal_is_frozen_by_us(const thermal *t, const char *dir)
{
    for (size_t i = 0; i < t->n_frozen; i++)
        if (strcmp(t->frozen[i], dir) == 0)
            return 1;
    return 0;
}

static void thermal_freeze_one(thermal *t, const char *dir, thermal_tally *c)
{
    c->seen++;
    int st = thermal_cgroup_frozen(dir);
    if (st == 1) {
        if (thermal_is_frozen_by_us(t, dir))
            c->already++;
        return;   /* frozen by someone else: theirs to thaw */
    }
    int rc = t->host->act_freeze_cgroup(t->ctx, dir, 1);
    if (rc == HEALER_DRY_RUN) {
        c->would++;
        return;
    }
    if (rc < 0) {
        thermal_failed(t, c, dir);
        return;
    }
    c->changed++;
    char **nv = thermal_grow(t->frozen, &t->cap_frozen, t->n_frozen, sizeof *nv);
    char *copy = strdup(dir);
    if (!nv || !copy) {
        free(copy);
        t->host->log(t->ctx, HEALER_LOG_ERROR, "out of memory: %s stays frozen until thawed by "
                     "hand", dir);
        if (nv)
            t->frozen = nv;
        return;
    }
    t->frozen = nv;
    t->frozen[t->n_frozen++] = copy;
}

int thermal_act_freeze_services(thermal *t, healer_result *r)
{
    thermal_tally c = {0};
    const healer_host *h = t->host;
    size_t n = h->config_list_len(t->ctx, "freeze_cgroups");
    for (size_t i = 0; i < n; i++) {
        const char *e = h->config_list_item(t->ctx, "freeze_cgroups", i);
        if (!e || !*e)
            continue;
        char dir[PATH_MAX], rel[PATH_MAX];
        if (e[0] == '/') {
            snprintf(dir, sizeof dir, "%s", e);
        } else {
            snprintf(rel, sizeof rel, "fs/cgroup/%s", e);
            if (!h->sys_path(t->ctx, rel, dir, sizeof dir))
                continue;
        }
        thermal_freeze_one(t, dir, &c);
    }
    return thermal_outcome(t, r, &c, "froze configured cgroups",
                           n ? "every configured cgroup is already frozen"
                             : "no cgroup configured in freeze_cgroups");
}

/* ---- emergency ---------------------------------------------------------------------------- */

/* The cgroup directory (under sys_root/fs/cgroup) that freezes pid: its v1 freezer cgroup
 * where that hierarchy is mounted, else its cgroup2 one. 0, or -1 (root cgroup, unreadable). */
static int thermal_pid_cgroup(thermal *t, pid_t pid, char *out, size_t len)
{
    const healer_host *h = t->host;
    char rel[64], p[PATH_MAX], buf[4096];
    snprintf(rel, sizeof rel, "%d/cgroup", (int)pid);
    if (!h->proc_path(t->ctx, rel, p, sizeof p) || thermal_read_text(p, buf, sizeof buf) != 0)
        return -1;
    char v1[1024] = "", v2[1024] = "";
    int has_v2 = 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(l, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = '\0';
        *c2 = '\0';
        const char *ctrl = c1 + 1, *path = c2 + 1;
        if (strcmp(l, "0") == 0 && !*ctrl) {
            snprintf(v2, sizeof v2, "%s", path);   /* "0::/x": cgroup2 */
            has_v2 = 1;
        } else {
            /* "6:freezer:/x" or a co-mounted list "4:cpu,freezer:/x" */
            char ctl[256];
            snprintf(ctl, sizeof ctl, ",%s,", ctrl);
            if (strstr(ctl, ",freezer,"))
                snprintf(v1, sizeof v1, "%s", path);
        }
    }
    char probe[PATH_MAX];
    if (v1[0] && strcmp(v1, "/") != 0 &&
        h->sys_path(t->ctx, "fs/cgroup/freezer", probe, sizeof probe) &&
        access(probe, F_OK) == 0) {
        snprintf(rel, sizeof rel, "fs/cgroup/freezer");
    } else if (has_v2 && strcmp(v2, "/") != 0 && v2[0] == '/') {
        /* Pure cgroup2 at fs/cgroup, or the hybrid layout's fs/cgroup/unified. */
        if (h->sys_path(t->ctx, "fs/cgroup/cgroup.controllers", probe, sizeof probe) &&
            access(probe, F_OK) == 0)
            snprintf(rel, sizeof rel, "fs/cgroup");
        else
            snprintf(rel, sizeof rel, "fs/cgroup/unified");
        snprintf(v1, sizeof v1, "%s", v2);
    } else {
        return -1;
    }
    char full[PATH_MAX + 1100];
    snprintf(full, sizeof full, "%s%s", rel, v1);
    return h->sys_path(t->ctx, full, out, len) ? 0 : -1;
}

/* Calls fn for every process the agent may act on as a user process (proc_allowed with
 * allow_system 0: never protected, system or out-of-scope ones). */
static void thermal_each_user_proc(thermal *t, void (*fn)(thermal *, const healer_proc *, void *),
                                   void *arg)
{
    const healer_host *h = t->host;
    char root[PATH_MAX];
    if (!h->proc_path(t->ctx, "", root, sizeof root))
        return;
    DIR *d = opendir(root);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 1)
            continue;
        healer_proc p;
        if (h->proc_read(t->ctx, (pid_t)pid, &p) != HEALER_OK || p.kernel_thread)
            continue;
        if (h->proc_allowed(t->ctx, &p, 0) != HEALER_OK)
            continue;
        fn(t, &p, arg);
    }
    closedir(d);
}

typedef struct thermal_cglist {
    char **v;
    size_t n, cap;
} thermal_cglist;

static void thermal_collect_cgroup(thermal *t, const healer_proc *p, void *arg)
{
    thermal_cglist *l = arg;
    char dir[PATH_MAX];
    if (thermal_pid_cgroup(t, p->pid, dir, sizeof dir) != 0) {
        t->host->log(t->ctx, HEALER_LOG_DEBUG, "pid %d (%s): no freezable cgroup of its own "
                     "(root cgroup)", (int)p->pid, p->name);
        return;
    }
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], dir) == 0)
            return;
    char **nv = thermal_grow(l->v, &l->cap, l->n, sizeof *nv);
    if (!nv)
        return;
    l->v = nv;
    if ((l->v[l->n] = strdup(dir)))
        l->n++;
}

/* State letter of /proc/PID/stat (after the parenthesised comm, which may hold spaces). */
static char thermal_proc_state(thermal *t, pid_t pid)
{
    char rel[32], p[PATH_MAX], buf[512];
    snprintf(rel, sizeof rel, "%d/stat", (int)pid);
    if (!t->host->proc_path(t->ctx, rel, p, sizeof p) || thermal_read_text(p, buf, sizeof buf))
        return '?';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : '?';
}

static void thermal_stop_one(thermal *t, const healer_proc *p, void *arg)
{
    thermal_tally *c = arg;
    c->seen++;
    for (size_t i = 0; i < t->n_stopped; i++)
        if (t->stopped[i].pid == p->pid && t->stopped[i].start_time == p->start_time) {
            c->already++;
            return;
        }
    char st = thermal_proc_state(t, p->pid);
    if (st == 'T' || st == 't')
        return;   /* stopped by someone else (a shell's ^Z): not ours to continue */
    int rc = t->host->act_signal(t->ctx, p->pid, p->start_time, SIGSTOP, 0);
    if (rc == HEALER_DRY_RUN) {
        c->would++;
        return;
    }
    if (rc == HEALER_E_GONE) {
        c->seen--;
        return;
    }
    if (rc < 0) {
        thermal_failed(t, c, p->name);
        return;
    }
    thermal_stopped *nv = thermal_grow(t->stopped, &t->cap_stopped, t->n_stopped, sizeof *nv);
    if (!nv) {
        /* Without a record it would never be continued: undo at once. */
        t->host->act_signal(t->ctx, p->pid, p->start_time, SIGCONT, 0);
        thermal_failed(t, c, "out of memory");
        return;
    }
    t->stopped = nv;
    t->stopped[t->n_stopped++] = (thermal_stopped){p->pid, p->start_time};
    c->changed++;
}

int thermal_act_emergency(thermal *t, healer_result *r)
{
    thermal_act_cap(t, 1, r);
    healer_outcome first = r->outcome;
    int first_noop = t->last_noop;
    thermal_tally c = {0};
    if (t->emergency_stop) {
        thermal_each_user_proc(t, thermal_stop_one, &c);
        r->measurements[r->n_measurements++] = (healer_measurement){"processes_stopped",
                                                                    (double)(c.changed + c.already)};
        thermal_outcome(t, r, &c, "stopped user processes (SIGSTOP)",
                        "no user process the agent may stop");
    } else {
        thermal_cglist l = {0};
        thermal_each_user_proc(t, thermal_collect_cgroup, &l);
        for (size_t i = 0; i < l.n; i++) {
            thermal_freeze_one(t, l.v[i], &c);
            free(l.v[i]);
        }
        free(l.v);
        r->measurements[r->n_measurements++] = (healer_measurement){"cgroups_frozen",
                                                                    (double)(c.changed + c.already)};
        thermal_outcome(t, r, &c, "froze user processes' cgroups",
                        "no user process in a cgroup of its own to freeze");
    }
    r->outcome = thermal_best(first, r->outcome);
    t->last_noop = t->last_noop && first_noop;
    return HEALER_OK;
}

/* ---- restore ------------------------------------------------------------------------------ */

int thermal_changed_anything(const thermal *t)
{
    return t->n_cpus || t->n_fans || t->n_frozen || t->n_stopped;
}

/* Puts orig back at rel/file if it still shows our value (what we wrote, or what the kernel
 * showed right after); counts into done/left/failed. */
static void thermal_put_back(thermal *t, const char *rel, const char *file, const char *orig,
                             const char *ours, const char *seen, size_t *done, size_t *left,
                             size_t *failed)
{
    if (!orig[0])
        return;
    char cur[64], back[64];
    if (thermal_get(t, rel, file, cur, sizeof cur) != 0) {
        (*failed)++;
        return;
    }
    if (strcmp(cur, orig) == 0)
        return;
    if (strcmp(cur, ours) != 0 && strcmp(cur, seen) != 0) {
        /* Someone changed it after us: theirs now. */
        t->host->log(t->ctx, HEALER_LOG_INFO, "%s/%s is '%s', not the '%s' we set: left as is",
                     rel, file, cur, ours);
        (*left)++;
        return;
    }
    thermal_tally c = {0};
    int w = thermal_put(t, rel, file, orig, back, sizeof back, &c);
    if (w < 0) {
        t->host->log(t->ctx, HEALER_LOG_WARN, "restoring %s/%s to '%s': %s", rel, file, orig,
                     c.fail);
        (*failed)++;
    } else {
        (*done)++;
    }
}

void thermal_restore_all(thermal *t)
{
    const healer_host *h = t->host;
    size_t cont = 0, thawed = 0, fans = 0, freqs = 0, govs = 0, left = 0, failed = 0;
    for (size_t i = 0; i < t->n_stopped; i++) {
        int rc = h->act_signal(t->ctx, t->stopped[i].pid, t->stopped[i].start_time, SIGCONT, 0);
        if (rc >= 0)
            cont++;
        else if (rc != HEALER_E_GONE) {
            h->log(t->ctx, HEALER_LOG_WARN, "continuing pid %d: %s", (int)t->stopped[i].pid,
                   h->last_message(t->ctx));
            failed++;
        }
    }
    for (size_t i = t->n_frozen; i-- > 0;) {
        int rc = h->act_freeze_cgroup(t->ctx, t->frozen[i], 0);
        if (rc >= 0)
            thawed++;
        else if (rc != HEALER_E_NOTFOUND) {
            h->log(t->ctx, HEALER_LOG_WARN, "thawing %s: %s", t->frozen[i],
                   h->last_message(t->ctx));
            failed++;
        }
    }
    for (size_t i = 0; i < t->n_fans; i++) {
        thermal_fan_saved *f = &t->fans[i];
        char fe[24], fp[16];
        snprintf(fe, sizeof fe, "pwm%d_enable", f->index);
        snprintf(fp, sizeof fp, "pwm%d", f->index);
        size_t put = 0;
        /* The speed while still in manual mode, then the mode (automatic takes over). */
        thermal_put_back(t, f->rel, fp, f->pwm, f->pwm_set, f->pwm_seen, &put, &left, &failed);
        thermal_put_back(t, f->rel, fe, f->enable, f->enable_set, f->enable_seen, &put, &left,
                         &failed);
        fans += put > 0;
    }
    for (size_t i = 0; i < t->n_cpus; i++) {
        thermal_cpu_saved *s = &t->cpus[i];
        thermal_put_back(t, s->rel, "scaling_max_freq", s->max_freq, s->max_set, s->max_seen,
                         &freqs, &left, &failed);
        thermal_put_back(t, s->rel, "scaling_governor", s->governor, s->gov_set, s->gov_seen,
                         &govs, &left, &failed);
    }
    h->log(t->ctx, HEALER_LOG_INFO, "restored: %zu process(es) continued, %zu cgroup(s) thawed, "
           "%zu fan(s), max frequency on %zu cpu(s), governor on %zu cpu(s); %zu left as "
           "changed by others, %zu failed", cont, thawed, fans, freqs, govs, left, failed);
    thermal_forget_all(t);
}

void thermal_forget_all(thermal *t)
{
    for (size_t i = 0; i < t->n_frozen; i++)
        free(t->frozen[i]);
    t->n_frozen = 0;
    t->n_cpus = 0;
    t->n_fans = 0;
    t->n_stopped = 0;
}
