/* healer_mock_host.c — the mock host's table apart from the actuators: config (schema, the
 * healer_mock_set_* overrides and the config_* getters), logging, time, paths, process reads
 * and protection, declare_path, the bus, metrics, health and plan_add_action. */
#include "healer_mock_int.h"

/* ---- config ------------------------------------------------------------------------------- */

void hmock_cfg_val_free(cfg_val *v)
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
        hmock_vec_push(&m->graveyard, v->s);
    for (size_t i = 0; i < v->n_list; i++)
        hmock_vec_push(&m->graveyard, v->list[i]);
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

int hmock_load_schema(healer_mock *m)
{
    const healer_config_key *schema = m->desc.config;
    char why[HEALER_MSG_MAX];
    if (healer_rules_check_schema(schema, why, sizeof why) != HEALER_OK) {
        hmock_set_error(m, "plugin %s: schema: %s", m->desc.name, why);
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
            hmock_set_error(m, "plugin %s: %s", m->desc.name,
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
        hmock_set_error(m, "set %s: no plugin loaded", key ? key : "(null)");
        *rc = HEALER_E_INVAL;
        return NULL;
    }
    cfg_slot *s = cfg_find(m, key);
    if (!s) {
        hmock_set_error(m, "plugins.%s.%s: unknown key (not in the plugin's schema)", m->desc.name,
                        key ? key : "(null)");
        *rc = HEALER_E_NOTFOUND;
        return NULL;
    }
    /* As in the file, an int is accepted where a double is declared. */
    if (s->key->type != type && !(s->key->type == HEALER_CFG_DOUBLE && type == HEALER_CFG_INT)) {
        hmock_set_error(m, "plugins.%s.%s: wrong type", m->desc.name, key);
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
        hmock_set_error(m, "plugins.%s.%s: %lld is outside [%g, %g]", m->desc.name, key, value,
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
            hmock_set_error(m, "interval %g must be >= 0", value);
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
        hmock_set_error(m, "plugins.%s.%s: %g is outside [%g, %g]", m->desc.name, key, value,
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
    char *copy = hmock_xstrdup(value);
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
                hmock_set_error(m, "plugins.%s.%s: %s", m->desc.name, key, why);
                return HEALER_E_INVAL;
            }
        }
    cfg_val nv = {0};
    nv.list = calloc(n ? n : 1, sizeof *nv.list);
    if (!nv.list)
        return HEALER_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        nv.list[i] = hmock_xstrdup(items[i]);
        if (!nv.list[i]) {
            hmock_cfg_val_free(&nv);
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
    if (!hmock_on_worker(m, fn))
        return NULL;
    cfg_slot *s = cfg_find(m, key);
    if (!s) {
        hmock_violation(m, "%s(\"%s\"): the key is not in the plugin's config schema", fn,
                        key ? key : "(null)");
        return NULL;
    }
    if (s->key->type != type) {
        hmock_violation(m, "%s(\"%s\"): the key is declared with another type", fn, key);
        return NULL;
    }
    return s->set ? &s->val : &s->def;
}

static int h_config_bool(healer_ctx *ctx, const char *key)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return 0;
    if (key && strcmp(key, "enabled") == 0)
        return hmock_on_worker(m, "config_bool") ? 1 : 0;
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_BOOL, "config_bool");
    return v ? v->b : 0;
}

static long long h_config_int(healer_ctx *ctx, const char *key)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return 0;
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_INT, "config_int");
    return v ? v->i : 0;
}

static double h_config_double(healer_ctx *ctx, const char *key)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return 0;
    if (key && strcmp(key, "interval") == 0) {
        if (!hmock_on_worker(m, "config_double"))
            return 0;
        return m->cfg_interval_set ? m->cfg_interval : m->desc.interval;
    }
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_DOUBLE, "config_double");
    return v ? v->d : 0;
}

static const char *h_config_string(healer_ctx *ctx, const char *key)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return NULL;
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_STRING, "config_string");
    return v ? v->s : NULL;
}

static size_t h_config_list_len(healer_ctx *ctx, const char *key)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return 0;
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_STRING_LIST, "config_list_len");
    return v ? v->n_list : 0;
}

static const char *h_config_list_item(healer_ctx *ctx, const char *key, size_t i)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return NULL;
    const cfg_val *v = cfg_get(m, key, HEALER_CFG_STRING_LIST, "config_list_item");
    return v && i < v->n_list ? v->list[i] : NULL;
}

/* ---- logging, time, paths ------------------------------------------------------------------ */

static void h_log(healer_ctx *ctx, healer_log_level level, const char *fmt, ...)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m || !fmt)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if ((unsigned)level > HEALER_LOG_DEBUG)
        level = HEALER_LOG_ERROR;
    hmock_record_log(m, level, buf);
}

static double h_now(healer_ctx *ctx)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    return m ? m->now : 0;
}

static const char *join_root(healer_mock *m, const char *root, const char *rel, char *buf,
                             size_t len, const char *fn)
{
    if (!hmock_on_worker(m, fn))
        return NULL;
    if (!rel || !buf || !len) {
        hmock_set_message(m, "%s: NULL argument", fn);
        return NULL;
    }
    while (*rel == '/')
        rel++;
    int k = snprintf(buf, len, "%s/%s", root, rel);
    if (k < 0 || (size_t)k >= len) {
        hmock_set_message(m, "%s: %s/%s does not fit in %zu bytes", fn, root, rel, len);
        return NULL;
    }
    return buf;
}

static const char *h_proc_path(healer_ctx *ctx, const char *rel, char *buf, size_t len)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    return m ? join_root(m, m->proc_root, rel, buf, len, "proc_path") : NULL;
}

static const char *h_sys_path(healer_ctx *ctx, const char *rel, char *buf, size_t len)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    return m ? join_root(m, m->sys_root, rel, buf, len, "sys_path") : NULL;
}

static int h_dry_run(healer_ctx *ctx)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m || !hmock_on_worker(m, "dry_run"))
        return 0;
    return m->dry_run;
}

static const char *h_last_message(healer_ctx *ctx)
{
    healer_mock *m = hmock_ctx_mock(ctx);
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
int hmock_proc_read(healer_mock *m, pid_t pid, healer_proc *out)
{
    char path[4096], buf[4096];
    memset(out, 0, sizeof *out);
    if (pid <= 0) {
        hmock_set_message(m, "proc_read: invalid pid %d", (int)pid);
        return HEALER_E_INVAL;
    }
    snprintf(path, sizeof path, "%s/%d/stat", m->proc_root, (int)pid);
    if (read_small(path, buf, sizeof buf) <= 0) {
        hmock_set_message(m, "proc_read: %s: %s", path, strerror(errno ? errno : ENOENT));
        return HEALER_E_GONE;
    }
    /* comm may hold spaces and parentheses: the fields start after the last ')'. */
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open) {
        hmock_set_message(m, "proc_read: %s: malformed", path);
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
        hmock_set_message(m, "proc_read: %s: malformed (%d fields)", path, got);
        return HEALER_E_IO;
    }
    if (state == 'Z' || state == 'X') {
        /* as the agent: a zombie has exited */
        hmock_set_message(m, "proc_read: pid %d (%s): already exited (zombie)", (int)pid,
                          out->name);
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
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m || !out)
        return HEALER_E_INVAL;
    if (!hmock_on_worker(m, "proc_read"))
        return HEALER_E_DENIED;
    return hmock_proc_read(m, pid, out);
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
    if (c && hmock_vec_push(&m->policy_paths, c) != HEALER_OK)
        free(c);
}

/* The plugin's operator policy as the agent builds it (plugin_policy.c) from the same
 * settings: write_allow, paths_allow (a built-in's path keys when it is not set), allow_auto,
 * allow_system. Borrowed until the next call. */
void hmock_policy(healer_mock *m, healer_rules_policy *pol)
{
    memset(pol, 0, sizeof *pol);
    pol->plugin = m->desc.name;
    hmock_vec_clear(&m->policy_paths, free);
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

int hmock_proc_allowed(healer_mock *m, const healer_proc *p, int allow_system,
                       int system_denied)
{
    healer_rules_protect pr = { (const char *const *)m->protect_names.v, m->protect_names.n,
                                m->min_uid, HEALER_RULES_LOGIN_UID_MAX, NULL, NULL, 0 };
    /* As the agent: the cgroup from proc_root/PID/cgroup when the fixture has one. */
    char path[4096], text[4096], cg[512];
    const char *cgp = NULL;
    snprintf(path, sizeof path, "%s/%d/cgroup", m->proc_root, (int)p->pid);
    FILE *f = fopen(path, "re");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        if (healer_rules_cgroup_of(text, cg, sizeof cg) == 0)
            cgp = cg;
    }
    int rc = healer_rules_proc_protected(p, cgp, &pr, allow_system, system_denied, m->desc.name,
                                         m->last_message, sizeof m->last_message);
    if (rc == HEALER_OK)
        hmock_set_message(m, "ok");
    return rc;
}

static int h_proc_allowed(healer_ctx *ctx, const healer_proc *proc, int allow_system)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m || !proc)
        return HEALER_E_INVAL;
    if (!hmock_on_worker(m, "proc_allowed"))
        return HEALER_E_DENIED;
    return hmock_proc_allowed(m, proc, allow_system, 0);
}

/* ---- paths -------------------------------------------------------------------------------- */

int hmock_has_dotdot(const char *path)
{
    char norm[4096];
    return healer_rules_normalize(path, norm, sizeof norm) != 0;
}

int hmock_path_under(const char *path, const char *base)
{
    return healer_rules_path_under(path, base);
}

int hmock_path_declared(healer_mock *m, const char *path)
{
    for (size_t i = 0; i < m->declared.n; i++)
        if (hmock_path_under(path, m->declared.v[i]))
            return 1;
    return 0;
}

static int h_declare_path(healer_ctx *ctx, const char *path)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!hmock_allowed_fn(m, HEALER_FN_DECLARE_PATH, "declare_path"))
        return HEALER_E_DENIED;
    healer_rules_policy pol;
    hmock_policy(m, &pol);
    int rc = healer_rules_check_declare(path, &pol, m->last_message, sizeof m->last_message);
    if (rc != HEALER_OK)
        return rc;
    return hmock_vec_push(&m->declared, strdup(path));
}

/* ---- bus ---------------------------------------------------------------------------------- */

void hmock_free_issue(void *p)
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
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!hmock_allowed_fn(m, HEALER_FN_PUBLISH, "publish_issue"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (hmock_checked(m, healer_rules_check_issue(issue, why, sizeof why), why) < 0)
        return HEALER_E_INVAL;

    healer_issue *c = calloc(1, sizeof *c);
    if (!c)
        return HEALER_E_NOMEM;
    c->type = hmock_xstrndup(issue->type, HEALER_NAME_MAX);
    c->severity = issue->severity;
    c->target = hmock_xstrndup(issue->target, HEALER_TARGET_MAX);
    c->summary = hmock_xstrndup(issue->summary, HEALER_MSG_MAX);
    c->plugin = hmock_xstrdup(m->desc.name);
    c->id = ++m->next_issue_id;
    healer_measurement *ms = calloc(issue->n_measurements + 1, sizeof *ms);
    char **comps = calloc(issue->n_components + 1, sizeof *comps);
    c->measurements = ms;
    c->components = (const char *const *)comps;
    if (!ms || !comps || !c->type || !c->target || !c->summary || !c->plugin) {
        hmock_free_issue(c);
        return HEALER_E_NOMEM;
    }
    for (size_t i = 0; i < issue->n_measurements; i++) {
        ms[i].name = hmock_xstrndup(issue->measurements[i].name, HEALER_NAME_MAX);
        ms[i].value = issue->measurements[i].value;
        c->n_measurements = i + 1;
    }
    for (size_t i = 0; i < issue->n_components; i++) {
        comps[i] = hmock_xstrndup(issue->components[i], HEALER_TARGET_MAX);
        c->n_components = i + 1;
    }
    return hmock_vec_push(&m->issues, c);
}

void hmock_free_resolved(void *p)
{
    healer_mock_resolved *r = p;
    free((char *)r->type);
    free((char *)r->target);
    free(r);
}

static int h_resolve_issue(healer_ctx *ctx, const char *type, const char *target)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!hmock_allowed_fn(m, HEALER_FN_PUBLISH, "resolve_issue"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (hmock_checked(m, healer_rules_check_resolve(type, why, sizeof why), why) < 0)
        return HEALER_E_INVAL;
    healer_mock_resolved *r = calloc(1, sizeof *r);
    if (!r)
        return HEALER_E_NOMEM;
    r->type = hmock_xstrdup(type);
    r->target = hmock_xstrndup(target, HEALER_TARGET_MAX);
    if (!r->type || !r->target) {
        hmock_free_resolved(r);
        return HEALER_E_NOMEM;
    }
    return hmock_vec_push(&m->resolved, r);
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
        kv[i].key = hmock_xstrdup(src[i].key);
        kv[i].value = hmock_xstrdup(src[i].value);
        if (!kv[i].key || !kv[i].value) {
            free_kvs(kv, i + 1);
            return NULL;
        }
    }
    return kv;
}

int hmock_kvs_valid(const healer_kv *kv, size_t n)
{
    if (n && !kv)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!kv[i].key || !kv[i].value)
            return 0;
    return 1;
}

void hmock_free_request(void *p)
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
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!hmock_allowed_fn(m, HEALER_FN_REQUEST, "request"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (hmock_checked(m, healer_rules_check_request(plugin, method, args, n_args, timeout_s, why,
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
    hmock_set_message(m, "%s", reply->message);
    healer_mock_request *r = calloc(1, sizeof *r);
    if (r) {
        r->plugin = hmock_xstrdup(plugin);
        r->method = hmock_xstrdup(method);
        r->args = copy_kvs(args, n_args);
        r->n_args = n_args;
        r->timeout_s = timeout_s;
        r->rc = rc;
        if (!r->plugin || !r->method || !r->args)
            hmock_free_request(r);
        else
            hmock_vec_push(&m->requests, r);
    }
    return rc;
}

static int h_watch_fd(healer_ctx *ctx, int fd, short events, healer_fd_cb cb)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!hmock_allowed_fn(m, HEALER_FN_WATCH_FD, "watch_fd"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (hmock_checked(m, healer_rules_check_watch(fd, events, cb != NULL, why, sizeof why),
                      why) < 0)
        return HEALER_E_INVAL;
    for (size_t i = 0; i < m->n_fds; i++)
        if (m->fds[i].fd == fd) {
            m->fds[i].events = events;
            m->fds[i].cb = cb;
            return HEALER_OK;
        }
    if (m->n_fds == MOCK_MAX_FDS) {
        hmock_set_message(m, "watch_fd: at most %d fds per plugin", MOCK_MAX_FDS);
        return HEALER_E_FULL;
    }
    m->fds[m->n_fds++] = (mock_fd){fd, events, cb};
    return HEALER_OK;
}

static int h_unwatch_fd(healer_ctx *ctx, int fd)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!hmock_on_worker(m, "unwatch_fd"))
        return HEALER_E_DENIED;
    for (size_t i = 0; i < m->n_fds; i++)
        if (m->fds[i].fd == fd) {
            m->fds[i] = m->fds[--m->n_fds];
            return HEALER_OK;
        }
    hmock_set_message(m, "unwatch_fd: fd %d is not watched", fd);
    return HEALER_E_NOTFOUND;
}

/* ---- metrics, health ---------------------------------------------------------------------- */

void hmock_free_metric(void *p)
{
    healer_mock_metric *x = p;
    free((char *)x->name);
    free((char *)x->help);
    free_kvs((healer_kv *)x->labels, x->n_labels);
    free(x);
}

void hmock_free_metric_def(void *p)
{
    mock_metric_def *d = p;
    free(d->name);
    free(d);
}

static int h_metric(healer_ctx *ctx, healer_metric_kind kind, const char *name, const char *help,
                    const healer_kv *labels, size_t n_labels, double value)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!hmock_on_worker(m, "metric"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (hmock_checked(m, healer_rules_check_metric((int)kind, name, labels, n_labels, value, why,
                                             sizeof why), why) < 0)
        return HEALER_E_INVAL;
    mock_metric_def *def = NULL;
    for (size_t i = 0; i < m->metric_defs.n; i++) {
        mock_metric_def *d = m->metric_defs.v[i];
        if (strcmp(d->name, name) == 0)
            def = d;
    }
    if (def && def->kind != kind) {
        hmock_violation(m, "metric(\"%s\"): first registered as a %s, now used as a %s", name,
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
        if (!def->name || hmock_vec_push(&m->metric_defs, def) != HEALER_OK) {
            hmock_free_metric_def(def);
            return HEALER_E_NOMEM;
        }
    }
    healer_mock_metric *x = calloc(1, sizeof *x);
    if (!x)
        return HEALER_E_NOMEM;
    x->kind = kind;
    x->name = hmock_xstrdup(name);
    x->help = hmock_xstrdup(help);
    x->labels = copy_kvs(labels, n_labels);
    x->n_labels = n_labels;
    x->value = value;
    if (!x->name || !x->help || !x->labels) {
        hmock_free_metric(x);
        return HEALER_E_NOMEM;
    }
    return hmock_vec_push(&m->metrics, x);
}

void hmock_free_health(void *p)
{
    healer_mock_health *h = p;
    free((char *)h->component);
    free(h);
}

static int h_report_health(healer_ctx *ctx, const char *component, double score)
{
    healer_mock *m = hmock_ctx_mock(ctx);
    if (!m)
        return HEALER_E_INVAL;
    if (!hmock_allowed_fn(m, HEALER_FN_PUBLISH, "report_health"))
        return HEALER_E_DENIED;
    char why[HEALER_MSG_MAX];
    if (hmock_checked(m, healer_rules_check_health(component, score, why, sizeof why), why) < 0)
        return HEALER_E_INVAL;
    healer_mock_health *h = calloc(1, sizeof *h);
    if (!h)
        return HEALER_E_NOMEM;
    h->component = hmock_xstrndup(component, HEALER_TARGET_MAX);
    h->score = score;
    if (!h->component) {
        hmock_free_health(h);
        return HEALER_E_NOMEM;
    }
    return hmock_vec_push(&m->health, h);
}

/* ---- planning ----------------------------------------------------------------------------- */

void hmock_free_action(void *p)
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
    if (!hmock_allowed_fn(m, HEALER_FN_PLAN_ADD, "plan_add_action"))
        return HEALER_E_DENIED;
    if (plan != m->cur_plan || !plan->live) {
        hmock_violation(m, "plan_add_action(\"%s\") called with a stale plan; it is allowed only "
                        "in plan(), on the plan it was given",
                        action && action->name ? action->name : "(null)");
        return HEALER_E_DENIED;
    }
    char why[HEALER_MSG_MAX];
    if (hmock_checked(m, healer_rules_check_action(action, why, sizeof why), why) < 0)
        return HEALER_E_INVAL;
    if (plan->n >= MOCK_MAX_PLAN_ACTIONS) {
        hmock_set_message(m, "plan_add_action: at most %d actions per plan", MOCK_MAX_PLAN_ACTIONS);
        return HEALER_E_FULL;
    }
    healer_action *c = calloc(1, sizeof *c);
    if (!c)
        return HEALER_E_NOMEM;
    *c = *action;
    c->name = hmock_xstrdup(action->name);
    c->target = hmock_xstrndup(action->target ? action->target : plan->issue->target,
                               HEALER_TARGET_MAX);
    c->description = hmock_xstrndup(action->description, HEALER_MSG_MAX);
    c->params = copy_kvs(action->params, action->n_params);
    if (!c->name || !c->target || !c->description || !c->params) {
        c->n_params = c->params ? c->n_params : 0;
        hmock_free_action(c);
        return HEALER_E_NOMEM;
    }
    int rc = hmock_vec_push(&m->actions, c);
    if (rc == HEALER_OK)
        plan->n++;
    return rc;
}


/* The host table entries this file implements. */
void hmock_host_fill(healer_host *h)
{
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
}
