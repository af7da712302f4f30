/* healer_mock.c — the mock host (healer/mock.h), which records what a plugin does and refuses
 * what the agent refuses: shared helpers and rules, construction and loading, the healer_mock_*
 * calls that drive the plugin, and the records. The host table is in healer_mock_host.c and
 * healer_mock_act.c. */
#include "healer_mock_int.h"

const char *const hmock_cb_names[] = {
    "none", "init", "destroy", "detect", "plan", "execute", "verify", "restore",
    "handle_request", "fd watch"
};

/* ---- small helpers ------------------------------------------------------------------------ */

int hmock_vec_push(vec *v, void *p)
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

void hmock_vec_clear(vec *v, void (*fr)(void *))
{
    for (size_t i = 0; i < v->n; i++)
        fr(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

char *hmock_xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

/* Copies at most max-1 bytes, as the host truncates long strings on copy. */
char *hmock_xstrndup(const char *s, size_t max)
{
    return strndup(s ? s : "", max - 1);
}

void hmock_set_error(healer_mock *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->last_error, sizeof m->last_error, fmt, ap);
    va_end(ap);
}

void hmock_set_message(healer_mock *m, const char *fmt, ...)
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

void hmock_record_log(healer_mock *m, healer_log_level level, const char *text)
{
    healer_mock_log *l = calloc(1, sizeof *l);
    if (!l)
        return;
    l->level = level;
    l->text = strdup(text);
    if (!l->text || hmock_vec_push(&m->logs, l) != HEALER_OK) {
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
void hmock_violation(healer_mock *m, const char *fmt, ...)
{
    char buf[HEALER_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int k = snprintf(buf, sizeof buf, "mock: ");
    vsnprintf(buf + k, sizeof buf - (size_t)k, fmt, ap);
    va_end(ap);
    m->violations++;
    snprintf(m->last_message, sizeof m->last_message, "%s", buf);
    hmock_record_log(m, HEALER_LOG_ERROR, buf);
}

healer_mock *hmock_ctx_mock(healer_ctx *ctx)
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
int hmock_allowed_fn(healer_mock *m, healer_rules_fn fn, const char *fname)
{
    char why[HEALER_MSG_MAX];
    if (healer_rules_phase_allows(fn, mock_phase(m->cb), fname, why, sizeof why) != HEALER_OK) {
        hmock_violation(m, "%s", why);
        return 0;
    }
    if (!pthread_equal(pthread_self(), m->cb_thread)) {
        hmock_violation(m, "%s() called from a thread the plugin started; only log() and now() may "
                        "be called from other threads", fname);
        return 0;
    }
    return 1;
}

int hmock_on_worker(healer_mock *m, const char *fn)
{
    return hmock_allowed_fn(m, HEALER_FN_QUERY, fn);
}

/* A rules verdict on the plugin's arguments: a refusal is a violation, as the agent logs it. */
int hmock_checked(healer_mock *m, int rc, const char *why)
{
    if (rc < 0)
        hmock_violation(m, "%s", why);
    return rc;
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
    hmock_host_fill(h);
    hmock_act_fill(h);
    hmock_predict_fill(h);
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
    hmock_vec_clear(&m->declared, free);
    hmock_vec_clear(&m->policy_paths, free);
    hmock_vec_clear(&m->protect_names, free);
    hmock_vec_clear(&m->graveyard, free);
    hmock_vec_clear(&m->metric_defs, hmock_free_metric_def);
    for (size_t i = 0; i < m->n_cfg; i++) {
        hmock_cfg_val_free(&m->cfg[i].def);
        hmock_cfg_val_free(&m->cfg[i].val);
    }
    free(m->cfg);
    free(m->run_output);
    hmock_predict_free(m);
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
        hmock_set_error(m, "a plugin is already loaded in this mock (one plugin per mock)");
        return HEALER_E_INVAL;
    }
    healer_plugin d;
    char why[HEALER_MSG_MAX];
    if (healer_rules_check_descriptor(src, &d, why, sizeof why) != HEALER_OK) {
        hmock_set_error(m, "%s", why);
        return HEALER_E_INVAL;
    }
    m->desc = d;
    int rc = hmock_load_schema(m);
    if (rc != HEALER_OK) {
        for (size_t i = 0; i < m->n_cfg; i++)
            hmock_cfg_val_free(&m->cfg[i].def);
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
        hmock_set_error(m, "a plugin is already loaded in this mock (one plugin per mock)");
        return HEALER_E_INVAL;
    }
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        hmock_set_error(m, "%s: cannot be loaded: %s", path, e ? e : "unknown dlopen error");
        return HEALER_E_IO;
    }
    healer_plugin_entry_fn entry;
    *(void **)&entry = dlsym(dl, HEALER_ENTRY_SYMBOL);
    if (!entry) {
        hmock_set_error(m, "%s: no %s symbol", path, HEALER_ENTRY_SYMBOL);
        dlclose(dl);
        return HEALER_E_NOTFOUND;
    }
    int rc = healer_mock_load(m, entry());
    if (rc != HEALER_OK) {
        char why[HEALER_MSG_MAX];
        snprintf(why, sizeof why, "%s", m->last_error);
        hmock_set_error(m, "%s: %s", path, why);
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
    return hmock_vec_push(&m->protect_names, strdup(name));
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
    char *copy = hmock_xstrdup(output);
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
        hmock_set_error(m, "%s: no plugin loaded", what);
        return 0;
    }
    if (need_init && (!m->inited || m->destroyed)) {
        hmock_set_error(m, "%s: %s", what, m->destroyed ? "destroy() was already called"
                        : m->init_failed ? "init() failed: the plugin was refused"
                        : "init() has not run");
        return 0;
    }
    if (m->cb != CB_NONE) {
        hmock_set_error(m, "%s: called from inside %s(); callbacks of one plugin never nest", what,
                        hmock_cb_names[m->cb]);
        return 0;
    }
    return 1;
}

int healer_mock_init(healer_mock *m)
{
    if (!ready(m, "init", 0))
        return HEALER_E_INVAL;
    if (m->inited || m->init_failed) {
        hmock_set_error(m, "init: already called");
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
        hmock_vec_clear(&m->declared, free);
        hmock_set_error(m, "init() failed: %s", healer_rc_str(rc));
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
        hmock_set_error(m, "detect: the plugin has no detect()");
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
        hmock_set_error(m, "plan: the plugin has no plan()");
        return HEALER_E_NOTFOUND;
    }
    if (!issue || !claims(m, issue->type)) {
        hmock_set_error(m, "plan: the plugin does not claim issue type \"%s\"; the engine would "
                        "not send it", issue && issue->type ? issue->type : "(null)");
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
        hmock_set_error(m, "execute: the plugin has no execute()");
        return HEALER_E_NOTFOUND;
    }
    if (!issue || !action || !result) {
        hmock_set_error(m, "execute: issue, action and result are required");
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
        hmock_violation(m, "execute(%s) returned without setting result->outcome: the agent "
                        "records that as an error, never as success",
                        action->name ? action->name : "?");
    else if (!(result->verify_after_s >= 0) || result->verify_after_s > HEALER_VERIFY_MAX_S)
        hmock_violation(m, "execute(%s): verify_after_s %g is outside 0..%g",
                        action->name ? action->name : "?", result->verify_after_s,
                        HEALER_VERIFY_MAX_S);
    else if (result->outcome == HEALER_OUTCOME_DONE)
        m->settle_pending = result->verify_after_s;
    if ((unsigned)result->outcome > HEALER_OUTCOME_DRY_RUN ||
        result->n_measurements > HEALER_MAX_MEASUREMENTS)
        hmock_violation(m, "execute(%s): result has outcome %d or %zu measurements (max %d)",
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
        hmock_set_error(m, "verify: the plugin has no verify()");
        return HEALER_E_NOTFOUND;
    }
    if (!issue || !action || !verdict) {
        hmock_set_error(m, "verify: issue, action and verdict are required");
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
            hmock_sleep(settle);
            waited += settle;
        }
        memset(verdict, 0, sizeof *verdict);
        m->cur_action = action;
        cb_enter(m, CB_VERIFY);
        rc = m->desc.verify(m->state, issue, action, verdict);
        cb_leave(m);
        verdict->message[sizeof verdict->message - 1] = '\0';
        if (!(verdict->recheck_after_s >= 0) || verdict->recheck_after_s > HEALER_VERIFY_MAX_S) {
            hmock_violation(m, "verify: recheck_after_s %g is outside 0..%g",
                            verdict->recheck_after_s, HEALER_VERIFY_MAX_S);
            break;
        }
        if (rc < 0 || verdict->recheck_after_s <= 0 ||
            waited + verdict->recheck_after_s > HEALER_VERIFY_MAX_S)
            break;
        settle = verdict->recheck_after_s;
    }
    if (verdict->n_measurements > HEALER_MAX_MEASUREMENTS)
        hmock_violation(m, "verify: %zu measurements (max %d)", verdict->n_measurements,
                        HEALER_MAX_MEASUREMENTS);
    return rc;
}

int healer_mock_restore(healer_mock *m, const healer_issue *issue)
{
    if (!ready(m, "restore", 1))
        return HEALER_E_INVAL;
    if (!m->desc.restore) {
        hmock_set_error(m, "restore: the plugin has no restore()");
        return HEALER_E_NOTFOUND;
    }
    if (!issue) {
        hmock_set_error(m, "restore: issue is required");
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
        hmock_set_error(m, "handle_request: the plugin has no handle_request()");
        return HEALER_E_NOTFOUND;
    }
    if (!method || !reply || !hmock_kvs_valid(args, n_args)) {
        hmock_set_error(m, "handle_request: method, args and reply are required");
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
    hmock_set_error(m, "fire_fd: fd %d is not watched", fd);
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
    hmock_vec_clear(&m->issues, hmock_free_issue);
    hmock_vec_clear(&m->resolved, hmock_free_resolved);
    hmock_vec_clear(&m->actions, hmock_free_action);
    hmock_vec_clear(&m->health, hmock_free_health);
    hmock_vec_clear(&m->metrics, hmock_free_metric);
    hmock_vec_clear(&m->logs, free_log);
    hmock_vec_clear(&m->calls, hmock_free_call);
    hmock_vec_clear(&m->requests, hmock_free_request);
    m->violations = 0;
}
