/* healer_mock_int.h — private to the mock host (healer_mock*.c): the mock's state, its record
 * types, and the helpers shared by the driver (healer_mock.c), the host table
 * (healer_mock_host.c) and the actuators (healer_mock_act.c). */
#ifndef HEALER_MOCK_INT_H
#define HEALER_MOCK_INT_H

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
    struct predict_set *series;     /* the plugin's series (agent/predict.c) */
};

extern const char *const hmock_cb_names[];

/* healer_mock.c: small helpers and the rules */
int hmock_vec_push(vec *v, void *p);
void hmock_vec_clear(vec *v, void (*fr)(void *));
char *hmock_xstrdup(const char *s);
char *hmock_xstrndup(const char *s, size_t max);
void hmock_set_error(healer_mock *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hmock_set_message(healer_mock *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hmock_record_log(healer_mock *m, healer_log_level level, const char *text);
void hmock_violation(healer_mock *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
healer_mock *hmock_ctx_mock(healer_ctx *ctx);
int hmock_allowed_fn(healer_mock *m, healer_rules_fn fn, const char *fname);
int hmock_on_worker(healer_mock *m, const char *fn);
int hmock_checked(healer_mock *m, int rc, const char *why);

/* healer_mock_predict.c: the prediction service's table entries; its series freed */
void hmock_predict_fill(healer_host *h);
void hmock_predict_free(healer_mock *m);

/* healer_mock_host.c: config, processes, paths, records' free functions, the host table */
void hmock_cfg_val_free(cfg_val *v);
int hmock_load_schema(healer_mock *m);
int hmock_proc_read(healer_mock *m, pid_t pid, healer_proc *out);
void hmock_policy(healer_mock *m, healer_rules_policy *pol);
int hmock_proc_allowed(healer_mock *m, const healer_proc *p, int allow_system, int system_denied);
int hmock_has_dotdot(const char *path);
int hmock_path_under(const char *path, const char *base);
int hmock_path_declared(healer_mock *m, const char *path);
int hmock_kvs_valid(const healer_kv *kv, size_t n);
void hmock_free_issue(void *p);
void hmock_free_resolved(void *p);
void hmock_free_request(void *p);
void hmock_free_metric(void *p);
void hmock_free_metric_def(void *p);
void hmock_free_health(void *p);
void hmock_free_action(void *p);
void hmock_host_fill(healer_host *h);

/* healer_mock_act.c: actuators */
void hmock_free_call(void *p);
void hmock_sleep(double s);
void hmock_act_fill(healer_host *h);

#endif
