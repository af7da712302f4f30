/* healer_mock.c — the mock host (healer/mock.h): a complete healer_host table that records
 * what a plugin does instead of doing it, and refuses what the agent refuses, so a plugin that
 * breaks an SDK rule fails its own unit tests long before it meets the agent. */
#include "healer/mock.h"
#include "rules.h"
#include "dryrun.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOCK_START_TIME 1700000000.0
#define MOCK_MAX_FDS HEALER_RULES_MAX_FDS

typedef enum mock_cb {
    CB_NONE = 0, CB_INIT, CB_DESTROY, CB_DETECT, CB_PLAN, CB_EXECUTE, CB_VERIFY, CB_RESTORE,
    CB_REQUEST, CB_FD
} mock_cb;

static const char *const cb_names[] = {
    "none", "init", "destroy", "detect", "plan", "execute", "verify", "restore",
    "handle_request", "fd watch"
};

/* A growable array of pointers, each owned by the array (freed with the record's free fn). */
typedef struct vec {
    void **v;
    size_t n, cap;
} vec;

typedef struct cfg_val {
    int b;
    long long i;
    double d;
    char *s;
    char **list;
    size_t n_list;
} cfg_val;

typedef struct cfg_slot {
    const healer_config_key *key;
    int set;
    cfg_val def, val;
} cfg_slot;

typedef struct mock_fd {
    int fd;
    short events;
    healer_fd_cb cb;
} mock_fd;

typedef struct mock_metric_def {
    char *name;
    healer_metric_kind kind;
} mock_metric_def;

struct healer_ctx {
    struct healer_mock *m;
};

struct healer_plan {
    struct healer_mock *m;
    const healer_issue *issue;
    int live;
    size_t n;               /* actions added to this plan; the agent takes at most 64 */
};

#define MOCK_MAX_PLAN_ACTIONS HEALER_RULES_MAX_PLAN_ACTIONS

struct healer_mock {
    healer_host host;
    struct healer_ctx ctx;
    double settle_pending;         /* the last execute()'s verify_after_s, for the next verify */
    char *proc_root, *sys_root;

    /* the plugin */
    void *dl;
    int loaded;
    healer_plugin desc;
    void *state;
    int inited, init_failed, destroyed;

    /* the running callback, for the rules */
    mock_cb cb;
    pthread_t cb_thread;
    const healer_action *cur_action;
    healer_plan *cur_plan;
    /* The plan object lives in the mock, not on the stack, so a plugin that keeps the pointer
     * past plan() is caught (live = 0) instead of reading a dead stack frame. */
    healer_plan plan_obj;

    /* environment */
    int dry_run;
    double now;
    int echo;
    unsigned min_uid;
    vec protect_names;          /* char * */
    int forced_set[HEALER_MOCK_ACT_COUNT];
    int forced_rc[HEALER_MOCK_ACT_COUNT];
    uint64_t remove_freed, remove_count;
    char *run_output;
    int run_exit;
    healer_mock_request_fn req_fn;
    void *req_ud;

    /* config: the schema's keys, then the implicit policy keys (implicit[]) */
    healer_config_key implicit[4];
    cfg_slot *cfg;
    size_t n_cfg;
    double cfg_interval;
    int cfg_interval_set;
    vec graveyard;              /* strings handed out that a later set replaced */

    /* records */
    vec issues, resolved, actions, health, metrics, logs, calls, requests, declared;
    vec policy_paths;           /* char *: paths_allow as mock_policy() last built it */
    vec metric_defs;
    mock_fd fds[MOCK_MAX_FDS];
    size_t n_fds;
    size_t violations;
    uint64_t next_issue_id;

    char last_message[HEALER_MSG_MAX];
    char last_error[HEALER_MSG_MAX];
};

/* ---- small helpers ------------------------------------------------------------------------ */

static int vec_push(vec *v, void *p)
{
    if (!p)
        return HEALER_E_NOMEM;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        void **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv)
            return HEALER_E_NOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = p;
    return HEALER_OK;
}

static void vec_clear(vec *v, void (*fr)(void *))
{
    for (size_t i = 0; i < v->n; i++)
        fr(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

/* Copies at most max-1 bytes, as the host truncates long strings on copy. */
static char *xstrndup(const char *s, size_t max)
{
    return strndup(s ? s : "", max - 1);
}

static void set_error(healer_mock *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(healer_mock *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->last_error, sizeof m->last_error, fmt, ap);
    va_end(ap);
}

static void set_message(healer_mock *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_message(healer_mock *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->last_message, sizeof m->last_message, fmt, ap);
    va_end(ap);
}

static void free_log(void *p)
{
    healer_mock_log *l = p;
    free((char *)l->text);
    free(l);
}

static void record_log(healer_mock *m, healer_log_level level, const char *text)
{
    healer_mock_log *l = calloc(1, sizeof *l);
    if (!l)
        return;
    l->level = level;
    l->text = strdup(text);
    if (!l->text || vec_push(&m->logs, l) != HEALER_OK) {
        free_log(l);
        return;
    }
    if (m->echo) {
        static const char *const lv[] = {"error", "warn", "info", "debug"};
        fprintf(stderr, "%s plugin %s: %s\n", (unsigned)level < 4 ? lv[level] : "?",
                m->desc.name ? m->desc.name : "?", text);
    }
}

/* A host call the agent would refuse. Counted, logged, and its text is last_message. */
static void violation(healer_mock *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(healer_mock *m, const char *fmt, ...)
{
    char buf[HEALER_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int k = snprintf(buf, sizeof buf, "mock: ");
    vsnprintf(buf + k, sizeof buf - (size_t)k, fmt, ap);
    va_end(ap);
    m->violations++;
    snprintf(m->last_message, sizeof m->last_message, "%s", buf);
    record_log(m, HEALER_LOG_ERROR, buf);
}

static healer_mock *ctx_mock(healer_ctx *ctx)
{
    return ctx ? ctx->m : NULL;
}

static healer_rules_phase mock_phase(mock_cb cb)
{
    switch (cb) {
    case CB_INIT: return HEALER_PHASE_INIT;
    case CB_DESTROY: return HEALER_PHASE_DESTROY;
    case CB_DETECT: return HEALER_PHASE_DETECT;
    case CB_PLAN: return HEALER_PHASE_PLAN;
    case CB_EXECUTE: return HEALER_PHASE_EXECUTE;
    case CB_VERIFY: return HEALER_PHASE_VERIFY;
    case CB_RESTORE: return HEALER_PHASE_RESTORE;
    case CB_REQUEST: return HEALER_PHASE_REQUEST;
    case CB_FD: return HEALER_PHASE_FD;
    case CB_NONE: break;
    }
    return HEALER_PHASE_NONE;
}

/* The phase table (rules.c, the agent's own), then the worker-thread rule: a ctx call comes
 * from inside a callback, on its thread. */
static int allowed_fn(healer_mock *m, healer_rules_fn fn, const char *fname)
{
    char why[HEALER_MSG_MAX];
    if (healer_rules_phase_allows(fn, mock_phase(m->cb), fname, why, sizeof why) != HEALER_OK) {
        violation(m, "%s", why);
        return 0;
    }
    if (!pthread_equal(pthread_self(), m->cb_thread)) {
        violation(m, "%s() called from a thread the plugin started; only log() and now() may "
                  "be called from other threads", fname);
        return 0;
    }
    return 1;
}

static int on_worker(healer_mock *m, const char *fn)
{
    return allowed_fn(m, HEALER_FN_QUERY, fn);
}

/* A rules verdict on the plugin's arguments: a refusal is a violation, as the agent logs it. */
static int checked(healer_mock *m, int rc, const char *why)
{
    if (rc < 0)
        violation(m, "%s", why);
    return rc;
}

/* ---- config ------------------------------------------------------------------------------- */

static void cfg_val_free(cfg_val *v)
{
    free(v->s);
    for (size_t i = 0; i < v->n_list; i++)
        free(v->list[i]);
    free(v->list);
    memset(v, 0, sizeof *v);
}

/* Strings a getter may have handed out must outlive a later set (until healer_mock_free). */
static void cfg_val_bury(healer_mock *m, cfg_val *v)
{
    if (v->s)
        vec_push(&m->graveyard, v->s);
    for (size_t i = 0; i < v->n_list; i++)
        vec_push(&m->graveyard, v->list[i]);
    free(v->list);
    memset(v, 0, sizeof *v);
}

static int in_range(const healer_config_key *k, double x)
{
    return healer_rules_in_range(k, x);
}

/* A default, parsed as the agent parses it (rules.c). */
static int parse_default(const healer_config_key *k, cfg_val *out, char *why, size_t len)
{
    healer_rules_value v;
    int rc = healer_rules_parse_text(k->type, k->default_value, &v, why, len);
    if (rc != HEALER_OK)
        return rc;
    out->b = v.b;
    out->i = v.i;
    out->d = v.d;
    out->s = v.s;
    out->list = v.items;
    out->n_list = v.n_items;
    return HEALER_OK;
}

static int load_schema(healer_mock *m)
{
    const healer_config_key *schema = m->desc.config;
    char why[HEALER_MSG_MAX];
    if (healer_rules_check_schema(schema, why, sizeof why) != HEALER_OK) {
        set_error(m, "plugin %s: schema: %s", m->desc.name, why);
        return HEALER_E_INVAL;
    }
    size_t n = 0;
    if (schema)
        while (schema[n].name)
            n++;
    /* The operator's policy keys every section has, with a built-in's defaults (rules.h). */
    const healer_rules_builtin *bi = healer_rules_builtin_policy(m->desc.name);
    m->implicit[0] = (healer_config_key){"write_allow", HEALER_CFG_STRING_LIST,
                                         bi ? bi->write_allow : NULL, 0, 0, "policy"};
    m->implicit[1] = (healer_config_key){"paths_allow", HEALER_CFG_STRING_LIST,
                                         bi ? bi->paths_allow : NULL, 0, 0, "policy"};
    m->implicit[2] = (healer_config_key){"allow_auto", HEALER_CFG_BOOL,
                                         bi && bi->allow_auto ? "true" : "false", 0, 0, "policy"};
    m->implicit[3] = (healer_config_key){"allow_system", HEALER_CFG_BOOL,
                                         bi && bi->allow_system ? "true" : "false", 0, 0, "policy"};
    m->cfg = calloc(n + 4, sizeof *m->cfg);
    if (!m->cfg)
        return HEALER_E_NOMEM;
    for (size_t i = 0; i < n + 4; i++) {
        const healer_config_key *k = i < n ? &schema[i] : &m->implicit[i - n];
        m->cfg[i].key = k;
        m->n_cfg = i + 1;
        int rc = parse_default(k, &m->cfg[i].def, why, sizeof why);
        if (rc != HEALER_OK) {
            set_error(m, "plugin %s: %s", m->desc.name,
                      rc == HEALER_E_NOMEM ? "out of memory" : why);
            return rc;
        }
    }
    return HEALER_OK;
}

static cfg_slot *cfg_find(healer_mock *m, const char *key)
{
    for (size_t i = 0; key && i < m->n_cfg; i++)
        if (strcmp(m->cfg[i].key->name, key) == 0)
            return &m->cfg[i];
    return NULL;
}

static cfg_slot *cfg_for_set(healer_mock *m, const char *key, healer_config_type type, int *rc)
{
    if (!m->loaded) {
        set_error(m, "set %s: no plugin loaded", key ? key : "(null)");
        *rc = HEALER_E_INVAL;
        return NULL;
    }
    cfg_slot *s = cfg_find(m, key);
    if (!s) {
        set_error(m, "plugins.%s.%s: unknown key (not in the plugin's schema)", m->desc.name,
                  key ? key : "(null)");
        *rc = HEALER_E_NOTFOUND;
        return NULL;
    }
    /* As in the file, an int is accepted where a double is declared. */
    if (s->key->type != type && !(s->key->type == HEALER_CFG_DOUBLE && type == HEALER_CFG_INT)) {
        set_error(m, "plugins.%s.%s: wrong type", m->desc.name, key);
        *rc = HEALER_E_INVAL;
        return NULL;
    }
    *rc = HEALER_OK;
    return s;
}

int healer_mock_set_bool(healer_mock *m, const char *key, int value)
{
    int rc;
    if (m && key && strcmp(key, "enabled") == 0)
        return HEALER_OK;
    cfg_slot *s = cfg_for_set(m, key, HEALER_CFG_BOOL, &rc);
    if (!s)
        return rc;
    s->val.b = value ? 1 : 0;
    s->set = 1;
    return HEALER_OK;
}

int healer_mock_set_int(healer_mock *m, const char *key, long long value)
{
    int rc;
    if (m && key && strcmp(key, "interval") == 0)
        return healer_mock_set_double(m, key, (double)value);
    cfg_slot *s = cfg_for_set(m, key, HEALER_CFG_INT, &rc);
    if (!s)
        return rc;
    if (!in_range(s->key, (double)value)) {
        set_error(m, "plugins.%s.%s: %lld is outside [%g, %g]", m->desc.name, key, value,
                  s->key->min, s->key->max);
        return HEALER_E_INVAL;
    }
    if (s->key->type == HEALER_CFG_DOUBLE)
        s->val.d = (double)value;
    else
        s->val.i = value;
    s->set = 1;
    return HEALER_OK;
}

int healer_mock_set_double(healer_mock *m, const char *key, double value)
{
    int rc;
    if (m && key && strcmp(key, "interval") == 0) {
        if (!(value >= 0) || !isfinite(value)) {
            set_error(m, "interval %g must be >= 0", value);
            return HEALER_E_INVAL;
        }
        m->cfg_interval = value;
        m->cfg_interval_set = 1;
        return HEALER_OK;
    }
    cfg_slot *s = cfg_for_set(m, key, HEALER_CFG_DOUBLE, &rc);
    if (!s)
        return rc;
    if (!isfinite(value) || !in_range(s->key, value)) {
        set_error(m, "plugins.%s.%s: %g is outside [%g, %g]", m->desc.name, key, value,
                  s->key->min, s->key->max);
        return HEALER_E_INVAL;
    }
    s->val.d = value;
    s->set = 1;
    return HEALER_OK;
}

int healer_mock_set_string(healer_mock *m, const char *key, const char *value)
{
    int rc;
    cfg_slot *s = cfg_for_set(m, key, HEALER_CFG_STRING, &rc);
    if (!s)
        return rc;
    char *copy = xstrdup(value);
    if (!copy)
        return HEALER_E_NOMEM;
    cfg_val_bury(m, &s->val);
    s->val.s = copy;
    s->set = 1;
    return HEALER_OK;
}

int healer_mock_set_list(healer_mock *m, const char *key, const char *const *items, size_t n)
{
    int rc;
    cfg_slot *s = cfg_for_set(m, key, HEALER_CFG_STRING_LIST, &rc);
    if (!s)
        return rc;
    if (n && !items)
        return HEALER_E_INVAL;
    if (strcmp(key, "write_allow") == 0 || strcmp(key, "paths_allow") == 0)
        for (size_t i = 0; i < n; i++) {
            char why[HEALER_MSG_MAX];
            if (healer_rules_check_policy_item(key, items[i], why, sizeof why) != HEALER_OK) {
                set_error(m, "plugins.%s.%s: %s", m->desc.name, key, why);
                return HEALER_E_INVAL;
            }
        }
    cfg_val nv = {0};
    nv.list = calloc(n ? n : 1, sizeof *nv.list);
    if (!nv.list)
        return HEALER_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        nv.list[i] = xstrdup(items[i]);
        if (!nv.list[i]) {
            cfg_val_free(&nv);
            return HEALER_E_NOMEM;
        }
        nv.n_list = i + 1;
    }
    cfg_val_bury(m, &s->val);
    s->val = nv;
    s->set = 1;
    return HEALER_OK;
}

int healer_mock_unset(healer_mock *m, const char *key)
{
    if (m && key && strcmp(key, "interval") == 0) {
        m->cfg_interval_set = 0;
        return HEALER_OK;
    }
    if (!m || !m->loaded)
        return HEALER_E_INVAL;
    cfg_slot *s = cfg_find(m, key);
    if (!s)
        return HEALER_E_NOTFOUND;
    cfg_val_bury(m, &s->val);
    s->set = 0;
    return HEALER_OK;
}

/* The getter side: a key the schema lacks, or of another type, is the plugin's bug. */
static const cfg_val *cfg_get(healer_mock *m, const char *key, healer_config_type type,
                              const char *fn)
{
    if (!on_worker(m, fn))
        return NULL;
    cfg_slot *s = cfg_find(m, key);
    if (!s) {
        violation(m, "%s(\"%s\"): the key is not in the plugin's config schema", fn,
                  key ? key : "(null)");
        return NULL;
    }
    if (s->key->type != type) {
        violation(m, "%s(\"%s\"): the key is declared with another type", fn, key);
        return NULL;
    }
    return s->set ? &s->val : &s->def;
}

static int h_config_bool(healer_ctx *ctx, const char *key)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return 0;
    if (key && strcmp(key, "enabled") == 0)
        return on_worker(m, "config_bool") ? 1 : 0;
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_BOOL, "config_bool");
    return v ? v->b : 0;
}

static long long h_config_int(healer_ctx *ctx, const char *key)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return 0;
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_INT, "config_int");
    return v ? v->i : 0;
}

static double h_config_double(healer_ctx *ctx, const char *key)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return 0;
    if (key && strcmp(key, "interval") == 0) {
        if (!on_worker(m, "config_double"))
            return 0;
        return m->cfg_interval_set ? m->cfg_interval : m->desc.interval;
    }
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_DOUBLE, "config_double");
    return v ? v->d : 0;
}

static const char *h_config_string(healer_ctx *ctx, const char *key)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return NULL;
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_STRING, "config_string");
    return v ? v->s : NULL;
}

static size_t h_config_list_len(healer_ctx *ctx, const char *key)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return 0;
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_STRING_LIST, "config_list_len");
    return v ? v->n_list : 0;
}

static const char *h_config_list_item(healer_ctx *ctx, const char *key, size_t i)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return NULL;
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_STRING_LIST, "config_list_item");
    return v && i < v->n_list ? v->list[i] : NULL;
}

/* ---- logging, time, paths ------------------------------------------------------------------ */

static void h_log(healer_ctx *ctx, healer_log_level level, const char *fmt, ...)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m || !fmt)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if ((unsigned)level > HEALER_LOG_DEBUG)
        level = HEALER_LOG_ERROR;
    record_log(m, level, buf);
}

static double h_now(healer_ctx *ctx)
{
    healer_mock *m = ctx_mock(ctx);
    return m ? m->now : 0;
}

static const char *join_root(healer_mock *m, const char *root, const char *rel, char *buf,
                             size_t len, const char *fn)
{
    if (!on_worker(m, fn))
        return NULL;
    if (!rel || !buf || !len) {
        set_message(m, "%s: NULL argument", fn);
        return NULL;
    }
    while (*rel == '/')
        rel++;
    int k = snprintf(buf, len, "%s/%s", root, rel);
    if (k < 0 || (size_t)k >= len) {
        set_message(m, "%s: %s/%s does not fit in %zu bytes", fn, root, rel, len);
        return NULL;
    }
    return buf;
}

static const char *h_proc_path(healer_ctx *ctx, const char *rel, char *buf, size_t len)
{
    healer_mock *m = ctx_mock(ctx);
    return m ? join_root(m, m->proc_root, rel, buf, len, "proc_path") : NULL;
}

static const char *h_sys_path(healer_ctx *ctx, const char *rel, char *buf, size_t len)
{
    healer_mock *m = ctx_mock(ctx);
    return m ? join_root(m, m->sys_root, rel, buf, len, "sys_path") : NULL;
}

static int h_dry_run(healer_ctx *ctx)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m || !on_worker(m, "dry_run"))
        return 0;
    return m->dry_run;
}

static const char *h_last_message(healer_ctx *ctx)
{
    healer_mock *m = ctx_mock(ctx);
    return m ? m->last_message : "";
}

/* ---- processes --------------------------------------------------------------------------- */

static int read_small(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (int)n;
}

/* Reads PID's stat, status and oom_score_adj under proc_root as the agent does. */
static int mock_proc_read(healer_mock *m, pid_t pid, healer_proc *out)
{
    char path[4096], buf[4096];
    memset(out, 0, sizeof *out);
    if (pid <= 0) {
        set_message(m, "proc_read: invalid pid %d", (int)pid);
        return HEALER_E_INVAL;
    }
    snprintf(path, sizeof path, "%s/%d/stat", m->proc_root, (int)pid);
    if (read_small(path, buf, sizeof buf) <= 0) {
        set_message(m, "proc_read: %s: %s", path, strerror(errno ? errno : ENOENT));
        return HEALER_E_GONE;
    }
    /* comm may hold spaces and parentheses: the fields start after the last ')'. */
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open) {
        set_message(m, "proc_read: %s: malformed", path);
        return HEALER_E_IO;
    }
    size_t nl = (size_t)(close - open - 1);
    if (nl >= sizeof out->name)
        nl = sizeof out->name - 1;
    memcpy(out->name, open + 1, nl);
    out->name[nl] = '\0';
    char state;
    int ppid;
    unsigned long flags;
    long nice_v;
    unsigned long long start, rss;
    /* fields 3..24: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss */
    int got = sscanf(close + 2,
                     "%c %d %*d %*d %*d %*d %lu %*u %*u %*u %*u %*u %*u %*d %*d %*d %ld %*d %*d "
                     "%llu %*u %llu",
                     &state, &ppid, &flags, &nice_v, &start, &rss);
    if (got != 6) {
        set_message(m, "proc_read: %s: malformed (%d fields)", path, got);
        return HEALER_E_IO;
    }
    if (state == 'Z' || state == 'X') {
        /* as the agent: a zombie has exited */
        set_message(m, "proc_read: pid %d (%s): already exited (zombie)", (int)pid, out->name);
        memset(out, 0, sizeof *out);
        return HEALER_E_GONE;
    }
    out->pid = pid;
    out->ppid = ppid;
    out->nice = (int)nice_v;
    out->start_time = start;
    out->rss_bytes = rss * 4096ULL;
    out->kernel_thread = (flags & 0x00200000UL) || pid == 2 || ppid == 2;   /* PF_KTHREAD */
    snprintf(path, sizeof path, "%s/%d/status", m->proc_root, (int)pid);
    if (read_small(path, buf, sizeof buf) > 0) {
        char *u = strstr(buf, "\nUid:");
        if (u)
            out->uid = (uid_t)strtoul(u + 5, NULL, 10);
    }
    snprintf(path, sizeof path, "%s/%d/oom_score_adj", m->proc_root, (int)pid);
    if (read_small(path, buf, sizeof buf) > 0)
        out->oom_score_adj = atoi(buf);
    return HEALER_OK;
}

static int h_proc_read(healer_ctx *ctx, pid_t pid, healer_proc *out)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m || !out)
        return HEALER_E_INVAL;
    if (!on_worker(m, "proc_read"))
        return HEALER_E_DENIED;
    return mock_proc_read(m, pid, out);
}

static const cfg_val *cfg_now(healer_mock *m, const char *key)
{
    cfg_slot *s = cfg_find(m, key);
    return s ? (s->set ? &s->val : &s->def) : NULL;
}

static void policy_path(healer_mock *m, const char *path, int dir)
{
    if (!path || path[0] != '/')
        return;
    char *c = strdup(path);
    if (c && dir) {
        char *slash = strrchr(c, '/');
        if (slash == c)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
    }
    if (c && vec_push(&m->policy_paths, c) != HEALER_OK)
        free(c);
}

/* The plugin's operator policy as the agent builds it (plugin_policy.c) from the same
 * settings: write_allow, paths_allow (a built-in's path keys when it is not set), allow_auto,
 * allow_system. Borrowed until the next call. */
static void mock_policy(healer_mock *m, healer_rules_policy *pol)
{
    memset(pol, 0, sizeof *pol);
    pol->plugin = m->desc.name;
    vec_clear(&m->policy_paths, free);
    const cfg_val *v = cfg_now(m, "write_allow");
    if (v) {
        pol->write_allow = (const char *const *)v->list;
        pol->n_write_allow = v->n_list;
    }
    v = cfg_now(m, "paths_allow");
    for (size_t i = 0; v && i < v->n_list; i++)
        policy_path(m, v->list[i], 0);
    cfg_slot *ps = cfg_find(m, "paths_allow");
    const healer_rules_builtin *bi = healer_rules_builtin_policy(m->desc.name);
    for (size_t i = 0; bi && ps && !ps->set && bi->path_keys && bi->path_keys[i]; i++) {
        int dir = strncmp(bi->path_keys[i], "dir:", 4) == 0;
        const cfg_val *kv = cfg_now(m, bi->path_keys[i] + (dir ? 4 : 0));
        if (!kv)
            continue;
        if (kv->s)
            policy_path(m, kv->s, dir);
        for (size_t j = 0; j < kv->n_list; j++)
            policy_path(m, kv->list[j], dir);
    }
    pol->paths_allow = (const char *const *)m->policy_paths.v;
    pol->n_paths_allow = m->policy_paths.n;
    v = cfg_now(m, "allow_auto");
    pol->allow_auto = v && v->b;
    v = cfg_now(m, "allow_system");
    pol->allow_system = v && v->b;
}

static int mock_proc_allowed(healer_mock *m, const healer_proc *p, int allow_system,
                             int system_denied)
{
    healer_rules_protect pr = { (const char *const *)m->protect_names.v, m->protect_names.n,
                                m->min_uid };
    int rc = healer_rules_proc_protected(p, &pr, allow_system, system_denied, m->desc.name,
                                         m->last_message, sizeof m->last_message);
    if (rc == HEALER_OK)
        set_message(m, "ok");
    return rc;
}

static int h_proc_allowed(healer_ctx *ctx, const healer_proc *proc, int allow_system)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m || !proc)
        return HEALER_E_INVAL;
    if (!on_worker(m, "proc_allowed"))
        return HEALER_E_DENIED;
    return mock_proc_allowed(m, proc, allow_system, 0);
}

/* ---- paths -------------------------------------------------------------------------------- */

static int has_dotdot(const char *path)
{
    char norm[4096];
    return healer_rules_normalize(path, norm, sizeof norm) != 0;
}

static int path_under(const char *path, const char *base)
{
    return healer_rules_path_under(path, base);
}

static int path_declared(healer_mock *m, const char *path)
{
    for (size_t i = 0; i < m->declared.n; i++)
        if (path_under(path, m->declared.v[i]))
            return 1;
    return 0;
}

static int h_declare_path(healer_ctx *ctx, const char *path)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!allowed_fn(m, HEALER_FN_DECLARE_PATH, "declare_path"))
        return HEALER_E_DENIED;
    healer_rules_policy pol;
    mock_policy(m, &pol);
    int rc = healer_rules_check_declare(path, &pol, m->last_message, sizeof m->last_message);
    if (rc != HEALER_OK)
        return rc;
    return vec_push(&m->declared, strdup(path));
}

/* ---- bus ---------------------------------------------------------------------------------- */

static void free_issue(void *p)
{
    healer_issue *is = p;
    free((char *)is->type);
    free((char *)is->target);
    free((char *)is->summary);
    free((char *)is->plugin);
    for (size_t i = 0; i < is->n_measurements; i++)
        free((char *)is->measurements[i].name);
    free((void *)is->measurements);
    for (size_t i = 0; i < is->n_components; i++)
        free((char *)is->components[i]);
    free((void *)is->components);
    free(is);
}

static int h_publish_issue(healer_ctx *ctx, const healer_issue *issue)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!allowed_fn(m, HEALER_FN_PUBLISH, "publish_issue"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (checked(m, healer_rules_check_issue(issue, why, sizeof why), why) < 0)
        return HEALER_E_INVAL;

    healer_issue *c = calloc(1, sizeof *c);
    if (!c)
        return HEALER_E_NOMEM;
    c->type = xstrndup(issue->type, HEALER_NAME_MAX);
    c->severity = issue->severity;
    c->target = xstrndup(issue->target, HEALER_TARGET_MAX);
    c->summary = xstrndup(issue->summary, HEALER_MSG_MAX);
    c->plugin = xstrdup(m->desc.name);
    c->id = ++m->next_issue_id;
    healer_measurement *ms = calloc(issue->n_measurements + 1, sizeof *ms);
    char **comps = calloc(issue->n_components + 1, sizeof *comps);
    c->measurements = ms;
    c->components = (const char *const *)comps;
    if (!ms || !comps || !c->type || !c->target || !c->summary || !c->plugin) {
        free_issue(c);
        return HEALER_E_NOMEM;
    }
    for (size_t i = 0; i < issue->n_measurements; i++) {
        ms[i].name = xstrndup(issue->measurements[i].name, HEALER_NAME_MAX);
        ms[i].value = issue->measurements[i].value;
        c->n_measurements = i + 1;
    }
    for (size_t i = 0; i < issue->n_components; i++) {
        comps[i] = xstrndup(issue->components[i], HEALER_TARGET_MAX);
        c->n_components = i + 1;
    }
    return vec_push(&m->issues, c);
}

static void free_resolved(void *p)
{
    healer_mock_resolved *r = p;
    free((char *)r->type);
    free((char *)r->target);
    free(r);
}

static int h_resolve_issue(healer_ctx *ctx, const char *type, const char *target)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!allowed_fn(m, HEALER_FN_PUBLISH, "resolve_issue"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (checked(m, healer_rules_check_resolve(type, why, sizeof why), why) < 0)
        return HEALER_E_INVAL;
    healer_mock_resolved *r = calloc(1, sizeof *r);
    if (!r)
        return HEALER_E_NOMEM;
    r->type = xstrdup(type);
    r->target = xstrndup(target, HEALER_TARGET_MAX);
    if (!r->type || !r->target) {
        free_resolved(r);
        return HEALER_E_NOMEM;
    }
    return vec_push(&m->resolved, r);
}

static void free_kvs(healer_kv *kv, size_t n)
{
    for (size_t i = 0; kv && i < n; i++) {
        free((char *)kv[i].key);
        free((char *)kv[i].value);
    }
    free(kv);
}

static healer_kv *copy_kvs(const healer_kv *src, size_t n)
{
    healer_kv *kv = calloc(n + 1, sizeof *kv);
    if (!kv)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        kv[i].key = xstrdup(src[i].key);
        kv[i].value = xstrdup(src[i].value);
        if (!kv[i].key || !kv[i].value) {
            free_kvs(kv, i + 1);
            return NULL;
        }
    }
    return kv;
}

static int kvs_valid(const healer_kv *kv, size_t n)
{
    if (n && !kv)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!kv[i].key || !kv[i].value)
            return 0;
    return 1;
}

static void free_request(void *p)
{
    healer_mock_request *r = p;
    free((char *)r->plugin);
    free((char *)r->method);
    free_kvs((healer_kv *)r->args, r->n_args);
    free(r);
}

static int h_request(healer_ctx *ctx, const char *plugin, const char *method,
                     const healer_kv *args, size_t n_args, double timeout_s, healer_reply *reply)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!allowed_fn(m, HEALER_FN_REQUEST, "request"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (checked(m, healer_rules_check_request(plugin, method, args, n_args, timeout_s, why,
                                              sizeof why), why) < 0)
        return HEALER_E_INVAL;
    healer_reply dummy;
    if (!reply)
        reply = &dummy;
    memset(reply, 0, sizeof *reply);
    int rc;
    if (m->req_fn) {
        rc = m->req_fn(m->req_ud, plugin, method, args, n_args, timeout_s, reply);
    } else {
        rc = HEALER_E_NOTFOUND;
        reply->status = rc;
        snprintf(reply->message, sizeof reply->message, "no plugin %s is loaded", plugin);
    }
    reply->message[sizeof reply->message - 1] = '\0';
    set_message(m, "%s", reply->message);
    healer_mock_request *r = calloc(1, sizeof *r);
    if (r) {
        r->plugin = xstrdup(plugin);
        r->method = xstrdup(method);
        r->args = copy_kvs(args, n_args);
        r->n_args = n_args;
        r->timeout_s = timeout_s;
        r->rc = rc;
        if (!r->plugin || !r->method || !r->args)
            free_request(r);
        else
            vec_push(&m->requests, r);
    }
    return rc;
}

static int h_watch_fd(healer_ctx *ctx, int fd, short events, healer_fd_cb cb)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!allowed_fn(m, HEALER_FN_WATCH_FD, "watch_fd"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (checked(m, healer_rules_check_watch(fd, events, cb != NULL, why, sizeof why), why) < 0)
        return HEALER_E_INVAL;
    for (size_t i = 0; i < m->n_fds; i++)
        if (m->fds[i].fd == fd) {
            m->fds[i].events = events;
            m->fds[i].cb = cb;
            return HEALER_OK;
        }
    if (m->n_fds == MOCK_MAX_FDS) {
        set_message(m, "watch_fd: at most %d fds per plugin", MOCK_MAX_FDS);
        return HEALER_E_FULL;
    }
    m->fds[m->n_fds++] = (mock_fd){fd, events, cb};
    return HEALER_OK;
}

static int h_unwatch_fd(healer_ctx *ctx, int fd)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!on_worker(m, "unwatch_fd"))
        return HEALER_E_DENIED;
    for (size_t i = 0; i < m->n_fds; i++)
        if (m->fds[i].fd == fd) {
            m->fds[i] = m->fds[--m->n_fds];
            return HEALER_OK;
        }
    set_message(m, "unwatch_fd: fd %d is not watched", fd);
    return HEALER_E_NOTFOUND;
}

/* ---- metrics, health ---------------------------------------------------------------------- */

static void free_metric(void *p)
{
    healer_mock_metric *x = p;
    free((char *)x->name);
    free((char *)x->help);
    free_kvs((healer_kv *)x->labels, x->n_labels);
    free(x);
}

static void free_metric_def(void *p)
{
    mock_metric_def *d = p;
    free(d->name);
    free(d);
}

static int h_metric(healer_ctx *ctx, healer_metric_kind kind, const char *name, const char *help,
                    const healer_kv *labels, size_t n_labels, double value)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!on_worker(m, "metric"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (checked(m, healer_rules_check_metric((int)kind, name, labels, n_labels, value, why,
                                             sizeof why), why) < 0)
        return HEALER_E_INVAL;
    mock_metric_def *def = NULL;
    for (size_t i = 0; i < m->metric_defs.n; i++) {
        mock_metric_def *d = m->metric_defs.v[i];
        if (strcmp(d->name, name) == 0)
            def = d;
    }
    if (def && def->kind != kind) {
        violation(m, "metric(\"%s\"): first registered as a %s, now used as a %s", name,
                  def->kind == HEALER_METRIC_COUNTER ? "counter" : "gauge",
                  kind == HEALER_METRIC_COUNTER ? "counter" : "gauge");
        return HEALER_E_INVAL;
    }
    if (!def) {
        def = calloc(1, sizeof *def);
        if (!def)
            return HEALER_E_NOMEM;
        def->name = strdup(name);
        def->kind = kind;
        if (!def->name || vec_push(&m->metric_defs, def) != HEALER_OK) {
            free_metric_def(def);
            return HEALER_E_NOMEM;
        }
    }
    healer_mock_metric *x = calloc(1, sizeof *x);
    if (!x)
        return HEALER_E_NOMEM;
    x->kind = kind;
    x->name = xstrdup(name);
    x->help = xstrdup(help);
    x->labels = copy_kvs(labels, n_labels);
    x->n_labels = n_labels;
    x->value = value;
    if (!x->name || !x->help || !x->labels) {
        free_metric(x);
        return HEALER_E_NOMEM;
    }
    return vec_push(&m->metrics, x);
}

static void free_health(void *p)
{
    healer_mock_health *h = p;
    free((char *)h->component);
    free(h);
}

static int h_report_health(healer_ctx *ctx, const char *component, double score)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!allowed_fn(m, HEALER_FN_PUBLISH, "report_health"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (checked(m, healer_rules_check_health(component, score, why, sizeof why), why) < 0)
        return HEALER_E_INVAL;
    healer_mock_health *h = calloc(1, sizeof *h);
    if (!h)
        return HEALER_E_NOMEM;
    h->component = xstrndup(component, HEALER_TARGET_MAX);
    h->score = score;
    if (!h->component) {
        free_health(h);
        return HEALER_E_NOMEM;
    }
    return vec_push(&m->health, h);
}

/* ---- planning ----------------------------------------------------------------------------- */

static void free_action(void *p)
{
    healer_action *a = p;
    free((char *)a->name);
    free((char *)a->target);
    free((char *)a->description);
    free_kvs((healer_kv *)a->params, a->n_params);
    free(a);
}

static int h_plan_add_action(healer_plan *plan, const healer_action *action)
{
    healer_mock *m = plan ? plan->m : NULL;
    if (!m)
        return HEALER_E_INVAL;
    if (!allowed_fn(m, HEALER_FN_PLAN_ADD, "plan_add_action"))
        return HEALER_E_DENIED;
    if (plan != m->cur_plan || !plan->live) {
        violation(m, "plan_add_action(\"%s\") called with a stale plan; it is allowed only in "
                  "plan(), on the plan it was given",
                  action && action->name ? action->name : "(null)");
        return HEALER_E_DENIED;
    }
    char why[HEALER_MSG_MAX];
    if (checked(m, healer_rules_check_action(action, why, sizeof why), why) < 0)
        return HEALER_E_INVAL;
    if (plan->n >= MOCK_MAX_PLAN_ACTIONS) {
        set_message(m, "plan_add_action: at most %d actions per plan", MOCK_MAX_PLAN_ACTIONS);
        return HEALER_E_FULL;
    }
    healer_action *c = calloc(1, sizeof *c);
    if (!c)
        return HEALER_E_NOMEM;
    *c = *action;
    c->name = xstrdup(action->name);
    c->target = xstrndup(action->target ? action->target : plan->issue->target, HEALER_TARGET_MAX);
    c->description = xstrndup(action->description, HEALER_MSG_MAX);
    c->params = copy_kvs(action->params, action->n_params);
    if (!c->name || !c->target || !c->description || !c->params) {
        c->n_params = c->params ? c->n_params : 0;
        free_action(c);
        return HEALER_E_NOMEM;
    }
    int rc = vec_push(&m->actions, c);
    if (rc == HEALER_OK)
        plan->n++;
    return rc;
}

/* ---- actuators ---------------------------------------------------------------------------- */

static const char *const act_names[] = {
    "signal", "renice", "write_file", "run", "remove_old_files", "freeze_cgroup"
};

const char *healer_mock_act_name(healer_mock_act act)
{
    return (unsigned)act < HEALER_MOCK_ACT_COUNT ? act_names[act] : "unknown";
}

static void free_call(void *p)
{
    healer_mock_call *c = p;
    free((char *)c->path);
    free((char *)c->value);
    for (size_t i = 0; c->argv && i < c->argc; i++)
        free((char *)c->argv[i]);
    free((void *)c->argv);
    free((char *)c->opts.pattern);
    free(c);
}

/* Records the call and applies the callback rule. Returns the record (NULL when out of
 * memory) and *rc = HEALER_E_DENIED when the call may not be made from here. */
static healer_mock_call *act_begin(healer_mock *m, healer_mock_act act, int *rc)
{
    healer_mock_call *c = calloc(1, sizeof *c);
    if (!c || vec_push(&m->calls, c) != HEALER_OK) {
        free(c);
        *rc = HEALER_E_NOMEM;
        return NULL;
    }
    c->act = act;
    c->callback = cb_names[m->cb];
    *rc = HEALER_OK;
    m->last_message[0] = '\0';
    char fn[32];
    snprintf(fn, sizeof fn, "act_%s", act_names[act]);
    if (!allowed_fn(m, HEALER_FN_ACTUATOR, fn))
        *rc = HEALER_E_DENIED;
    c->rc = *rc;
    return c;
}

/* The forced rc, when the test set one; else -1000 (none). */
static int act_forced(healer_mock *m, healer_mock_act act)
{
    return m->forced_set[act] ? m->forced_rc[act] : -1000;
}

/* dry: the dry-run line in the agent's own words (dryrun.c); NULL = "would <what>". */
static int act_end_dry(healer_mock *m, healer_mock_call *c, int rc, const char *what,
                       const char *dry)
{
    if (rc == HEALER_OK && m->dry_run)
        rc = HEALER_DRY_RUN;
    if (rc == HEALER_DRY_RUN && dry)
        set_message(m, "%s", dry);
    else if (rc == HEALER_DRY_RUN)
        set_message(m, "would %s", what);
    else if (rc == HEALER_OK)
        set_message(m, "%s", what);
    else if (rc < 0 && (strcmp(m->last_message, "ok") == 0 || !m->last_message[0]))
        set_message(m, "%s: %s", what, healer_rc_str(rc));
    c->rc = rc;
    return rc;
}

static int act_end(healer_mock *m, healer_mock_call *c, int rc, const char *what)
{
    return act_end_dry(m, c, rc, what, NULL);
}

/* The first line of a fixture file, for "now '...'" (NULL when there is none). */
static const char *fixture_first_line(const char *path, char *buf, size_t len)
{
    FILE *f = path ? fopen(path, "re") : NULL;
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

/* Process actuators: the process must still be the one the plugin saw, and not protected. */
static int act_check_proc(healer_mock *m, pid_t pid, uint64_t start_time)
{
    healer_proc p;
    int rc = mock_proc_read(m, pid, &p);
    if (rc == HEALER_E_GONE || (rc == HEALER_OK && p.start_time != start_time)) {
        set_message(m, "pid %d is gone (exited or reused)", (int)pid);
        return HEALER_E_GONE;
    }
    if (rc != HEALER_OK)
        return rc;
    /* SYSTEM counts only when the operator allows it (plugins.<name>.allow_system). */
    healer_rules_policy pol;
    mock_policy(m, &pol);
    int asked = m->cur_action && (m->cur_action->flags & HEALER_ACTION_SYSTEM);
    return mock_proc_allowed(m, &p, asked && pol.allow_system, asked && !pol.allow_system);
}

static int h_act_signal(healer_ctx *ctx, pid_t pid, uint64_t start_time, int sig, double grace_s)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_SIGNAL, &rc);
    if (!c || rc < 0)
        return rc;
    c->pid = pid;
    c->start_time = start_time;
    c->sig = sig;
    c->grace_s = grace_s;
    char what[128];
    snprintf(what, sizeof what, "send signal %d to pid %d", sig, (int)pid);
    if (healer_rules_check_signal(pid, sig, grace_s, m->last_message,
                                  sizeof m->last_message) != HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if ((rc = act_forced(m, HEALER_MOCK_ACT_SIGNAL)) != -1000)
        return act_end(m, c, rc, what);
    healer_proc p;
    char dry[HEALER_MSG_MAX];
    rc = act_check_proc(m, pid, start_time);
    healer_dry_signal(dry, sizeof dry, pid,
                      mock_proc_read(m, pid, &p) == HEALER_OK ? p.name : "?", sig, grace_s);
    return act_end_dry(m, c, rc, what, dry);
}

static int h_act_renice(healer_ctx *ctx, pid_t pid, uint64_t start_time, int nice)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_RENICE, &rc);
    if (!c || rc < 0)
        return rc;
    c->pid = pid;
    c->start_time = start_time;
    c->nice = nice;
    char what[128];
    snprintf(what, sizeof what, "renice pid %d to %d", (int)pid, nice);
    if (healer_rules_check_renice(pid, nice, m->last_message, sizeof m->last_message) != HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if ((rc = act_forced(m, HEALER_MOCK_ACT_RENICE)) != -1000)
        return act_end(m, c, rc, what);
    healer_proc p;
    char dry[HEALER_MSG_MAX];
    rc = act_check_proc(m, pid, start_time);
    int known = mock_proc_read(m, pid, &p) == HEALER_OK;
    healer_dry_renice(dry, sizeof dry, pid, known ? p.name : "?", known ? p.nice : 0, nice);
    return act_end_dry(m, c, rc, what, dry);
}

static const char *write_dry(const char *path, const char *value, char *dry, size_t len)
{
    char old[256];
    healer_dry_write(dry, len, path, value, fixture_first_line(path, old, sizeof old));
    return dry;
}

static int h_act_write_file(healer_ctx *ctx, const char *path, const char *value)
{
    char dry[HEALER_MSG_MAX];
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_WRITE_FILE, &rc);
    if (!c || rc < 0)
        return rc;
    c->path = path ? strdup(path) : NULL;
    c->value = value ? strdup(value) : NULL;
    char what[HEALER_MSG_MAX];
    snprintf(what, sizeof what, "write \"%.64s\" to %.300s", value ? value : "",
             path ? path : "(null)");
    if (healer_rules_check_write_args(path, value, m->last_message,
                                      sizeof m->last_message) != HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if ((rc = act_forced(m, HEALER_MOCK_ACT_WRITE_FILE)) != -1000)
        return act_end(m, c, rc, what);
    char norm[4096];
    if (healer_rules_normalize(path, norm, sizeof norm) != 0) {
        set_message(m, "act_write_file: %s has a \"..\" component", path);
        return act_end(m, c, HEALER_E_SCOPE, what);
    }
    /* As the agent: under proc_root or sys_root the deny list and write_allow decide (on the
     * path as given: the mock does not resolve symlinks in a fixture tree); else a declared
     * path must hold it. */
    const char *root = path_under(norm, m->proc_root) ? m->proc_root
                     : path_under(norm, m->sys_root) ? m->sys_root : NULL;
    if (root) {
        healer_rules_policy pol;
        mock_policy(m, &pol);
        const char *rel = norm + strlen(root);
        rc = healer_rules_check_write(root == m->proc_root ? 'p' : 's', rel, &pol,
                                      m->last_message, sizeof m->last_message);
        return act_end_dry(m, c, rc, what, write_dry(norm, value, dry, sizeof dry));
    }
    if (!path_declared(m, norm)) {
        set_message(m, "act_write_file %s: real path %s is not under proc_root, sys_root or a "
                    "declared path", path, norm);
        return act_end(m, c, HEALER_E_SCOPE, what);
    }
    return act_end_dry(m, c, HEALER_OK, what, write_dry(norm, value, dry, sizeof dry));
}

static int h_act_run(healer_ctx *ctx, const char *const argv[], double timeout_s, char *out,
                     size_t out_len, int *exit_status)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_RUN, &rc);
    if (out && out_len)
        out[0] = '\0';
    if (!c || rc < 0)
        return rc;
    size_t argc = 0;
    while (argv && argv[argc] && argc < 4096)
        argc++;
    const char **copy = calloc(argc + 1, sizeof *copy);
    if (copy) {
        for (size_t i = 0; i < argc; i++)
            copy[i] = xstrdup(argv[i]);
        c->argv = copy;
        c->argc = argc;
    }
    c->timeout_s = timeout_s;
    char what[HEALER_MSG_MAX];
    snprintf(what, sizeof what, "run %.200s (timeout %g s)",
             argc ? argv[0] : "(null)", timeout_s);
    if (healer_rules_check_run(argv, timeout_s, m->last_message, sizeof m->last_message) !=
        HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if (healer_rules_argv_is_rollback(argv) &&
        !(m->cur_action && (m->cur_action->flags & HEALER_ACTION_ROLLBACK))) {
        set_message(m, "run: '%s' rolls the system back: only an action flagged "
                    "HEALER_ACTION_ROLLBACK may (it counts against limits.max_rollbacks_per_day)",
                    argv[0]);
        return act_end(m, c, HEALER_E_DENIED, what);
    }
    if ((rc = act_forced(m, HEALER_MOCK_ACT_RUN)) == -1000)
        rc = HEALER_OK;
    char cmdline[256] = "", dry[HEALER_MSG_MAX];
    for (size_t i = 0; i < argc; i++) { /* as the agent joins it */
        size_t cl = strlen(cmdline);
        if (cl + 2 < sizeof cmdline)
            snprintf(cmdline + cl, sizeof cmdline - cl, "%s%s", cl ? " " : "", argv[i]);
    }
    healer_dry_run(dry, sizeof dry, cmdline, timeout_s);
    rc = act_end_dry(m, c, rc, what, dry);
    if (rc == HEALER_OK) {
        if (out && out_len)
            snprintf(out, out_len, "%s", m->run_output ? m->run_output : "");
        if (exit_status)
            *exit_status = m->run_exit;
    }
    return rc;
}

static int h_act_remove_old_files(healer_ctx *ctx, const char *dir, double older_than_days,
                                  const healer_remove_opts *opts, uint64_t *freed, uint64_t *count)
{
    healer_mock *m = ctx_mock(ctx);
    if (freed)
        *freed = 0;
    if (count)
        *count = 0;
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_REMOVE_OLD_FILES, &rc);
    if (!c || rc < 0)
        return rc;
    c->path = dir ? strdup(dir) : NULL;
    c->older_than_days = older_than_days;
    if (opts) {
        c->opts = *opts;
        c->opts.pattern = opts->pattern ? strdup(opts->pattern) : NULL;
        c->has_opts = 1;
    }
    char what[HEALER_MSG_MAX];
    snprintf(what, sizeof what, "remove files older than %g days under %.300s", older_than_days,
             dir ? dir : "(null)");
    if (healer_rules_check_remove(dir, older_than_days, m->last_message,
                                  sizeof m->last_message) != HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if ((rc = act_forced(m, HEALER_MOCK_ACT_REMOVE_OLD_FILES)) == -1000) {
        rc = HEALER_OK;
        if (has_dotdot(dir) || !path_declared(m, dir)) {
            set_message(m, "act_remove_old_files: %s was not declared with declare_path() in "
                        "init()", dir);
            rc = HEALER_E_SCOPE;
        }
    }
    char dry[HEALER_MSG_MAX];
    healer_dry_remove(dry, sizeof dry, dir, (unsigned long long)m->remove_count,
                      (unsigned long long)m->remove_freed,
                      m->remove_count ? "(files not listed by the mock)" : "",
                      "0 held open kept, 0 special files skipped");
    rc = act_end_dry(m, c, rc, what, dry);
    if (rc >= 0) {
        if (freed)
            *freed = m->remove_freed;
        if (count)
            *count = m->remove_count;
    }
    return rc;
}

static int h_act_freeze_cgroup(healer_ctx *ctx, const char *cgroup_dir, int freeze)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    int rc;
    healer_mock_call *c = act_begin(m, HEALER_MOCK_ACT_FREEZE_CGROUP, &rc);
    if (!c || rc < 0)
        return rc;
    c->path = cgroup_dir ? strdup(cgroup_dir) : NULL;
    c->freeze = freeze;
    char what[HEALER_MSG_MAX];
    snprintf(what, sizeof what, "%s cgroup %.300s", freeze ? "freeze" : "thaw",
             cgroup_dir ? cgroup_dir : "(null)");
    if (healer_rules_check_freeze(cgroup_dir, freeze, m->last_message,
                                  sizeof m->last_message) != HEALER_OK)
        return act_end(m, c, HEALER_E_INVAL, what);
    if ((rc = act_forced(m, HEALER_MOCK_ACT_FREEZE_CGROUP)) == -1000) {
        rc = HEALER_OK;
        char base[4096];
        snprintf(base, sizeof base, "%s/fs/cgroup", m->sys_root);
        if (has_dotdot(cgroup_dir) || (cgroup_dir[0] == '/' && !path_under(cgroup_dir, base))) {
            set_message(m, "act_freeze_cgroup: %s is not under %s", cgroup_dir, base);
            rc = HEALER_E_SCOPE;
        }
    }
    /* As the agent: cgroup v2's cgroup.freeze when the fixture has one, else v1's freezer. */
    char file_path[4200], was[64], dry[HEALER_MSG_MAX];
    snprintf(file_path, sizeof file_path, "%s/cgroup.freeze", cgroup_dir);
    const char *file = "cgroup.freeze";
    const char *now = fixture_first_line(file_path, was, sizeof was);
    if (!now) {
        snprintf(file_path, sizeof file_path, "%s/freezer.state", cgroup_dir);
        file = "freezer.state";
        now = fixture_first_line(file_path, was, sizeof was);
    }
    size_t nprocs = 0;
    snprintf(file_path, sizeof file_path, "%s/cgroup.procs", cgroup_dir);
    FILE *pf = fopen(file_path, "re");
    for (int ch, line = 0; pf && (ch = fgetc(pf)) != EOF;) {
        if (ch != '\n' && !line)
            nprocs++;
        line = ch != '\n';
    }
    if (pf)
        fclose(pf);
    healer_dry_freeze(dry, sizeof dry, cgroup_dir, freeze, file, now ? now : "?", nprocs);
    return act_end_dry(m, c, rc, what, dry);
}

static void mock_sleep(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The mock has no engine timing the callback: inside execute/verify/restore/handle_request it
 * answers the agent's default agent.action_timeout (60 s), elsewhere +infinity, as the agent
 * does outside an action. */
static double h_action_time_left(healer_ctx *ctx)
{
    healer_mock *m = ctx_mock(ctx);
    if (!m || !on_worker(m, "action_time_left"))
        return INFINITY;
    return (m->cb == CB_EXECUTE || m->cb == CB_VERIFY || m->cb == CB_RESTORE ||
            m->cb == CB_REQUEST) ? 60.0 : INFINITY;
}

/* Probes are read-only by contract, so the mock really runs them (a plugin's tests can use the
 * real nix-instantiate, systemctl...). argv without a shell, output captured, timeout kills. */
static int h_probe_run(healer_ctx *ctx, const char *const argv[], double timeout_s, char *out,
                       size_t out_len, int *exit_status)
{
    healer_mock *m = ctx_mock(ctx);
    if (out && out_len)
        out[0] = '\0';
    if (exit_status)
        *exit_status = -1;
    if (!m || !on_worker(m, "probe_run"))
        return HEALER_E_DENIED;
    if (healer_rules_check_run(argv, timeout_s, m->last_message, sizeof m->last_message) !=
        HEALER_OK)
        return HEALER_E_INVAL;
    if (healer_rules_argv_is_rollback(argv)) {
        set_message(m, "probe: '%s' rolls the system back: never from probe_run; use act_run in "
                    "an action flagged HEALER_ACTION_ROLLBACK", argv[0]);
        return HEALER_E_DENIED;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return HEALER_E_IO;
    pid_t child = fork();
    if (child < 0) {
        close(p[0]);
        close(p[1]);
        return HEALER_E_IO;
    }
    if (child == 0) {
        setpgid(0, 0);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    char scratch[4096];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int timed_out = 0;
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        double left = timeout_s - ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9);
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pf = { .fd = p[0], .events = POLLIN };
        if (poll(&pf, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        char *dst = scratch;
        size_t room = sizeof scratch;
        if (out && out_len > 1 && got < out_len - 1) {
            dst = out + got;
            room = out_len - 1 - got;
        }
        ssize_t r = read(p[0], dst, room);
        if (r <= 0)
            break;
        if (dst != scratch)
            got += (size_t)r;
    }
    close(p[0]);
    if (timed_out)
        kill(-child, SIGKILL);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (out && out_len)
        out[got < out_len ? got : out_len - 1] = '\0';
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (exit_status)
        *exit_status = code;
    if (timed_out)
        return HEALER_E_TIMEOUT;
    if (code == 127)
        return HEALER_E_NOTFOUND;
    return code == 0 ? HEALER_OK : HEALER_E_IO;
}

/* ---- the mock itself ---------------------------------------------------------------------- */

healer_mock *healer_mock_new(const char *proc_root, const char *sys_root)
{
    healer_mock *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->proc_root = strdup(proc_root ? proc_root : "/proc");
    m->sys_root = strdup(sys_root ? sys_root : "/sys");
    if (!m->proc_root || !m->sys_root) {
        free(m->proc_root);
        free(m->sys_root);
        free(m);
        return NULL;
    }
    /* Trailing slashes would make every joined path "//x". */
    for (char *r = m->proc_root; strlen(r) > 1 && r[strlen(r) - 1] == '/';)
        r[strlen(r) - 1] = '\0';
    for (char *r = m->sys_root; strlen(r) > 1 && r[strlen(r) - 1] == '/';)
        r[strlen(r) - 1] = '\0';
    m->ctx.m = m;
    m->now = MOCK_START_TIME;
    m->min_uid = 1000;
    const char *v = getenv("HEALER_MOCK_VERBOSE");
    m->echo = v && strcmp(v, "1") == 0;
    snprintf(m->last_message, sizeof m->last_message, "ok");

    healer_host *h = &m->host;
    h->struct_size = sizeof *h;
    h->abi_major = HEALER_ABI_MAJOR;
    h->abi_minor = HEALER_ABI_MINOR;
    h->log = h_log;
    h->now = h_now;
    h->config_bool = h_config_bool;
    h->config_int = h_config_int;
    h->config_double = h_config_double;
    h->config_string = h_config_string;
    h->config_list_len = h_config_list_len;
    h->config_list_item = h_config_list_item;
    h->proc_path = h_proc_path;
    h->sys_path = h_sys_path;
    h->dry_run = h_dry_run;
    h->proc_read = h_proc_read;
    h->proc_allowed = h_proc_allowed;
    h->declare_path = h_declare_path;
    h->last_message = h_last_message;
    h->publish_issue = h_publish_issue;
    h->resolve_issue = h_resolve_issue;
    h->request = h_request;
    h->watch_fd = h_watch_fd;
    h->unwatch_fd = h_unwatch_fd;
    h->metric = h_metric;
    h->report_health = h_report_health;
    h->plan_add_action = h_plan_add_action;
    h->act_signal = h_act_signal;
    h->act_renice = h_act_renice;
    h->act_write_file = h_act_write_file;
    h->act_run = h_act_run;
    h->act_remove_old_files = h_act_remove_old_files;
    h->act_freeze_cgroup = h_act_freeze_cgroup;
    h->probe_run = h_probe_run;
    h->action_time_left = h_action_time_left;
    return m;
}

/* Runs one callback as the worker thread does: one at a time, with the rules armed. */
static void cb_enter(healer_mock *m, mock_cb cb)
{
    m->cb = cb;
    m->cb_thread = pthread_self();
}

static void cb_leave(healer_mock *m)
{
    m->cb = CB_NONE;
    m->cur_action = NULL;
}

void healer_mock_destroy(healer_mock *m)
{
    if (!m || !m->inited || m->destroyed)
        return;
    cb_enter(m, CB_DESTROY);
    m->desc.destroy(m->state);
    cb_leave(m);
    m->destroyed = 1;
    m->n_fds = 0;
}

void healer_mock_free(healer_mock *m)
{
    if (!m)
        return;
    healer_mock_destroy(m);
    healer_mock_clear(m);
    vec_clear(&m->declared, free);
    vec_clear(&m->policy_paths, free);
    vec_clear(&m->protect_names, free);
    vec_clear(&m->graveyard, free);
    vec_clear(&m->metric_defs, free_metric_def);
    for (size_t i = 0; i < m->n_cfg; i++) {
        cfg_val_free(&m->cfg[i].def);
        cfg_val_free(&m->cfg[i].val);
    }
    free(m->cfg);
    free(m->run_output);
    free(m->proc_root);
    free(m->sys_root);
    if (m->dl)
        dlclose(m->dl);
    free(m);
}

int healer_mock_load(healer_mock *m, const healer_plugin *src)
{
    if (!m)
        return HEALER_E_INVAL;
    if (m->loaded) {
        set_error(m, "a plugin is already loaded in this mock (one plugin per mock)");
        return HEALER_E_INVAL;
    }
    healer_plugin d;
    char why[HEALER_MSG_MAX];
    if (healer_rules_check_descriptor(src, &d, why, sizeof why) != HEALER_OK) {
        set_error(m, "%s", why);
        return HEALER_E_INVAL;
    }
    m->desc = d;
    int rc = load_schema(m);
    if (rc != HEALER_OK) {
        for (size_t i = 0; i < m->n_cfg; i++)
            cfg_val_free(&m->cfg[i].def);
        free(m->cfg);
        m->cfg = NULL;
        m->n_cfg = 0;
        memset(&m->desc, 0, sizeof m->desc);
        return rc;
    }
    m->loaded = 1;
    return HEALER_OK;
}

int healer_mock_load_so(healer_mock *m, const char *path)
{
    if (!m || !path)
        return HEALER_E_INVAL;
    if (m->loaded || m->dl) {
        set_error(m, "a plugin is already loaded in this mock (one plugin per mock)");
        return HEALER_E_INVAL;
    }
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        set_error(m, "%s: cannot be loaded: %s", path, e ? e : "unknown dlopen error");
        return HEALER_E_IO;
    }
    healer_plugin_entry_fn entry;
    *(void **)&entry = dlsym(dl, HEALER_ENTRY_SYMBOL);
    if (!entry) {
        set_error(m, "%s: no %s symbol", path, HEALER_ENTRY_SYMBOL);
        dlclose(dl);
        return HEALER_E_NOTFOUND;
    }
    int rc = healer_mock_load(m, entry());
    if (rc != HEALER_OK) {
        char why[HEALER_MSG_MAX];
        snprintf(why, sizeof why, "%s", m->last_error);
        set_error(m, "%s: %s", path, why);
        dlclose(dl);
        return rc;
    }
    m->dl = dl;
    return HEALER_OK;
}

const healer_plugin *healer_mock_descriptor(const healer_mock *m)
{
    return m && m->loaded ? &m->desc : NULL;
}

const char *healer_mock_last_error(const healer_mock *m)
{
    return m ? m->last_error : "no mock";
}

const healer_host *healer_mock_host(healer_mock *m)
{
    return m ? &m->host : NULL;
}

healer_ctx *healer_mock_ctx(healer_mock *m)
{
    return m ? &m->ctx : NULL;
}

void *healer_mock_state(const healer_mock *m)
{
    return m ? m->state : NULL;
}

void healer_mock_set_dry_run(healer_mock *m, int on)
{
    if (m)
        m->dry_run = on ? 1 : 0;
}

void healer_mock_set_time(healer_mock *m, double now)
{
    if (m)
        m->now = now;
}

void healer_mock_advance(healer_mock *m, double seconds)
{
    if (m)
        m->now += seconds;
}

double healer_mock_time(const healer_mock *m)
{
    return m ? m->now : 0;
}

int healer_mock_protect_name(healer_mock *m, const char *name)
{
    if (!m || !name)
        return HEALER_E_INVAL;
    return vec_push(&m->protect_names, strdup(name));
}

void healer_mock_set_min_uid(healer_mock *m, uid_t min_uid)
{
    if (m)
        m->min_uid = (unsigned)min_uid;
}

void healer_mock_set_echo(healer_mock *m, int on)
{
    if (m)
        m->echo = on ? 1 : 0;
}

void healer_mock_set_actuator_rc(healer_mock *m, healer_mock_act which, int rc)
{
    if (!m)
        return;
    for (int i = 0; i < HEALER_MOCK_ACT_COUNT; i++)
        if (which == HEALER_MOCK_ACT_COUNT || (int)which == i) {
            m->forced_set[i] = 1;
            m->forced_rc[i] = rc;
        }
}

void healer_mock_clear_actuator_rc(healer_mock *m, healer_mock_act which)
{
    if (!m)
        return;
    for (int i = 0; i < HEALER_MOCK_ACT_COUNT; i++)
        if (which == HEALER_MOCK_ACT_COUNT || (int)which == i)
            m->forced_set[i] = 0;
}

void healer_mock_set_remove_result(healer_mock *m, uint64_t freed, uint64_t count)
{
    if (m) {
        m->remove_freed = freed;
        m->remove_count = count;
    }
}

int healer_mock_set_run_result(healer_mock *m, const char *output, int exit_status)
{
    if (!m)
        return HEALER_E_INVAL;
    char *copy = xstrdup(output);
    if (!copy)
        return HEALER_E_NOMEM;
    free(m->run_output);
    m->run_output = copy;
    m->run_exit = exit_status;
    return HEALER_OK;
}

void healer_mock_set_request_handler(healer_mock *m, healer_mock_request_fn fn, void *ud)
{
    if (m) {
        m->req_fn = fn;
        m->req_ud = ud;
    }
}

/* ---- driving ------------------------------------------------------------------------------ */

static int ready(healer_mock *m, const char *what, int need_init)
{
    if (!m)
        return 0;
    if (!m->loaded) {
        set_error(m, "%s: no plugin loaded", what);
        return 0;
    }
    if (need_init && (!m->inited || m->destroyed)) {
        set_error(m, "%s: %s", what, m->destroyed ? "destroy() was already called"
                  : m->init_failed ? "init() failed: the plugin was refused"
                  : "init() has not run");
        return 0;
    }
    if (m->cb != CB_NONE) {
        set_error(m, "%s: called from inside %s(); callbacks of one plugin never nest", what,
                  cb_names[m->cb]);
        return 0;
    }
    return 1;
}

int healer_mock_init(healer_mock *m)
{
    if (!ready(m, "init", 0))
        return HEALER_E_INVAL;
    if (m->inited || m->init_failed) {
        set_error(m, "init: already called");
        return HEALER_E_INVAL;
    }
    void *state = NULL;
    cb_enter(m, CB_INIT);
    int rc = m->desc.init(&m->host, &m->ctx, &state);
    cb_leave(m);
    if (rc < 0) {
        m->init_failed = 1;
        m->n_fds = 0;
        /* A refused plugin's declarations die with it. */
        vec_clear(&m->declared, free);
        set_error(m, "init() failed: %s", healer_rc_str(rc));
        return rc;
    }
    m->state = state;
    m->inited = 1;
    return rc;
}

int healer_mock_detect(healer_mock *m)
{
    if (!ready(m, "detect", 1))
        return HEALER_E_INVAL;
    if (!m->desc.detect) {
        set_error(m, "detect: the plugin has no detect()");
        return HEALER_E_NOTFOUND;
    }
    cb_enter(m, CB_DETECT);
    int rc = m->desc.detect(m->state);
    cb_leave(m);
    return rc;
}

static int claims(healer_mock *m, const char *type)
{
    for (const char *const *t = m->desc.issue_types; type && t && *t; t++)
        if (strcmp(*t, type) == 0)
            return 1;
    return 0;
}

int healer_mock_plan(healer_mock *m, const healer_issue *issue)
{
    if (!ready(m, "plan", 1))
        return HEALER_E_INVAL;
    if (!m->desc.plan) {
        set_error(m, "plan: the plugin has no plan()");
        return HEALER_E_NOTFOUND;
    }
    if (!issue || !claims(m, issue->type)) {
        set_error(m, "plan: the plugin does not claim issue type \"%s\"; the engine would not "
                  "send it", issue && issue->type ? issue->type : "(null)");
        return HEALER_E_INVAL;
    }
    m->plan_obj = (healer_plan){m, issue, 1, 0};
    m->cur_plan = &m->plan_obj;
    cb_enter(m, CB_PLAN);
    int rc = m->desc.plan(m->state, issue, &m->plan_obj);
    cb_leave(m);
    m->plan_obj.live = 0;
    m->plan_obj.issue = NULL;
    m->cur_plan = NULL;
    return rc;
}

int healer_mock_execute(healer_mock *m, const healer_issue *issue, const healer_action *action,
                        healer_result *result)
{
    if (!ready(m, "execute", 1))
        return HEALER_E_INVAL;
    if (!m->desc.execute) {
        set_error(m, "execute: the plugin has no execute()");
        return HEALER_E_NOTFOUND;
    }
    if (!issue || !action || !result) {
        set_error(m, "execute: issue, action and result are required");
        return HEALER_E_INVAL;
    }
    memset(result, 0, sizeof *result);
    result->outcome = HEALER_OUTCOME_UNSET; /* as the host pre-fills it */
    m->cur_action = action;
    cb_enter(m, CB_EXECUTE);
    int rc = m->desc.execute(m->state, issue, action, result);
    cb_leave(m);
    result->message[sizeof result->message - 1] = '\0';
    if (result->outcome == HEALER_OUTCOME_UNSET)
        violation(m, "execute(%s) returned without setting result->outcome: the agent records "
                  "that as an error, never as success", action->name ? action->name : "?");
    else if (!(result->verify_after_s >= 0) || result->verify_after_s > HEALER_VERIFY_MAX_S)
        violation(m, "execute(%s): verify_after_s %g is outside 0..%g",
                  action->name ? action->name : "?", result->verify_after_s, HEALER_VERIFY_MAX_S);
    else if (result->outcome == HEALER_OUTCOME_DONE)
        m->settle_pending = result->verify_after_s;
    if ((unsigned)result->outcome > HEALER_OUTCOME_DRY_RUN ||
        result->n_measurements > HEALER_MAX_MEASUREMENTS)
        violation(m, "execute(%s): result has outcome %d or %zu measurements (max %d)",
                  action->name ? action->name : "?", (int)result->outcome,
                  result->n_measurements, HEALER_MAX_MEASUREMENTS);
    return rc;
}

int healer_mock_verify(healer_mock *m, const healer_issue *issue, const healer_action *action,
                       healer_verdict *verdict)
{
    if (!ready(m, "verify", 1))
        return HEALER_E_INVAL;
    if (!m->desc.verify) {
        set_error(m, "verify: the plugin has no verify()");
        return HEALER_E_NOTFOUND;
    }
    if (!issue || !action || !verdict) {
        set_error(m, "verify: issue, action and verdict are required");
        return HEALER_E_INVAL;
    }
    /* The agent calls verify() verify_after_s after execute() and again after each
     * recheck_after_s, by a timer; the mock has no event loop, so it sleeps those times here and
     * returns the final verdict (still bounded by HEALER_VERIFY_MAX_S in total). */
    double waited = 0, settle = m->settle_pending;
    m->settle_pending = 0;
    int rc;
    for (;;) {
        if (settle > 0) {
            mock_sleep(settle);
            waited += settle;
        }
        memset(verdict, 0, sizeof *verdict);
        m->cur_action = action;
        cb_enter(m, CB_VERIFY);
        rc = m->desc.verify(m->state, issue, action, verdict);
        cb_leave(m);
        verdict->message[sizeof verdict->message - 1] = '\0';
        if (!(verdict->recheck_after_s >= 0) || verdict->recheck_after_s > HEALER_VERIFY_MAX_S) {
            violation(m, "verify: recheck_after_s %g is outside 0..%g", verdict->recheck_after_s,
                      HEALER_VERIFY_MAX_S);
            break;
        }
        if (rc < 0 || verdict->recheck_after_s <= 0 ||
            waited + verdict->recheck_after_s > HEALER_VERIFY_MAX_S)
            break;
        settle = verdict->recheck_after_s;
    }
    if (verdict->n_measurements > HEALER_MAX_MEASUREMENTS)
        violation(m, "verify: %zu measurements (max %d)", verdict->n_measurements,
                  HEALER_MAX_MEASUREMENTS);
    return rc;
}

int healer_mock_restore(healer_mock *m, const healer_issue *issue)
{
    if (!ready(m, "restore", 1))
        return HEALER_E_INVAL;
    if (!m->desc.restore) {
        set_error(m, "restore: the plugin has no restore()");
        return HEALER_E_NOTFOUND;
    }
    if (!issue) {
        set_error(m, "restore: issue is required");
        return HEALER_E_INVAL;
    }
    cb_enter(m, CB_RESTORE);
    int rc = m->desc.restore(m->state, issue);
    cb_leave(m);
    return rc;
}

int healer_mock_handle_request(healer_mock *m, const char *method, const healer_kv *args,
                               size_t n_args, healer_reply *reply)
{
    if (!ready(m, "handle_request", 1))
        return HEALER_E_INVAL;
    if (!m->desc.handle_request) {
        set_error(m, "handle_request: the plugin has no handle_request()");
        return HEALER_E_NOTFOUND;
    }
    if (!method || !reply || !kvs_valid(args, n_args)) {
        set_error(m, "handle_request: method, args and reply are required");
        return HEALER_E_INVAL;
    }
    memset(reply, 0, sizeof *reply);
    cb_enter(m, CB_REQUEST);
    int rc = m->desc.handle_request(m->state, method, args, n_args, reply);
    cb_leave(m);
    reply->message[sizeof reply->message - 1] = '\0';
    return rc;
}

int healer_mock_fire_fd(healer_mock *m, int fd, short revents)
{
    if (!ready(m, "fire_fd", 1))
        return HEALER_E_INVAL;
    for (size_t i = 0; i < m->n_fds; i++)
        if (m->fds[i].fd == fd) {
            healer_fd_cb cb = m->fds[i].cb;
            cb_enter(m, CB_FD);
            cb(m->state, fd, revents);
            cb_leave(m);
            return HEALER_OK;
        }
    set_error(m, "fire_fd: fd %d is not watched", fd);
    return HEALER_E_NOTFOUND;
}

size_t healer_mock_watched_fds(const healer_mock *m)
{
    return m ? m->n_fds : 0;
}

/* ---- records ------------------------------------------------------------------------------ */

#define RECORD_ACCESSORS(fn_count, fn_at, field, type)                \
    size_t fn_count(const healer_mock *m) { return m ? m->field.n : 0; } \
    type fn_at(const healer_mock *m, size_t i)                          \
    {                                                                   \
        return m && i < m->field.n ? m->field.v[i] : NULL;              \
    }

RECORD_ACCESSORS(healer_mock_issue_count, healer_mock_issue, issues, const healer_issue *)
RECORD_ACCESSORS(healer_mock_resolved_count, healer_mock_resolved_at, resolved,
                 const healer_mock_resolved *)
RECORD_ACCESSORS(healer_mock_action_count, healer_mock_action, actions, const healer_action *)
RECORD_ACCESSORS(healer_mock_health_count, healer_mock_health_at, health,
                 const healer_mock_health *)
RECORD_ACCESSORS(healer_mock_metric_count, healer_mock_metric_at, metrics,
                 const healer_mock_metric *)
RECORD_ACCESSORS(healer_mock_log_count, healer_mock_log_at, logs, const healer_mock_log *)
RECORD_ACCESSORS(healer_mock_call_count, healer_mock_call_at, calls, const healer_mock_call *)
RECORD_ACCESSORS(healer_mock_request_count, healer_mock_request_at, requests,
                 const healer_mock_request *)
RECORD_ACCESSORS(healer_mock_declared_count, healer_mock_declared, declared, const char *)

const healer_issue *healer_mock_last_issue(const healer_mock *m, const char *type)
{
    for (size_t i = m ? m->issues.n : 0; i-- > 0;) {
        const healer_issue *is = m->issues.v[i];
        if (!type || strcmp(is->type, type) == 0)
            return is;
    }
    return NULL;
}

const char *healer_mock_action_param(const healer_action *action, const char *key)
{
    for (size_t i = 0; action && key && i < action->n_params; i++)
        if (action->params[i].key && strcmp(action->params[i].key, key) == 0)
            return action->params[i].value;
    return NULL;
}

double healer_mock_last_health(const healer_mock *m, const char *component)
{
    for (size_t i = m ? m->health.n : 0; component && i-- > 0;) {
        const healer_mock_health *h = m->health.v[i];
        if (strcmp(h->component, component) == 0)
            return h->score;
    }
    return -1;
}

const healer_mock_call *healer_mock_last_call(const healer_mock *m, healer_mock_act act)
{
    for (size_t i = m ? m->calls.n : 0; i-- > 0;) {
        const healer_mock_call *c = m->calls.v[i];
        if (c->act == act)
            return c;
    }
    return NULL;
}

long healer_mock_log_find(const healer_mock *m, healer_log_level max_level, const char *needle)
{
    for (size_t i = 0; m && needle && i < m->logs.n; i++) {
        const healer_mock_log *l = m->logs.v[i];
        if (l->level <= max_level && strstr(l->text, needle))
            return (long)i;
    }
    return -1;
}

size_t healer_mock_violations(const healer_mock *m)
{
    return m ? m->violations : 0;
}

int healer_mock_measurement(const healer_measurement *ms, size_t n, const char *name,
                            double *value)
{
    for (size_t i = 0; ms && name && i < n; i++)
        if (ms[i].name && strcmp(ms[i].name, name) == 0) {
            if (value)
                *value = ms[i].value;
            return 1;
        }
    return 0;
}

void healer_mock_clear(healer_mock *m)
{
    if (!m)
        return;
    vec_clear(&m->issues, free_issue);
    vec_clear(&m->resolved, free_resolved);
    vec_clear(&m->actions, free_action);
    vec_clear(&m->health, free_health);
    vec_clear(&m->metrics, free_metric);
    vec_clear(&m->logs, free_log);
    vec_clear(&m->calls, free_call);
    vec_clear(&m->requests, free_request);
    m->violations = 0;
}
