/* plans_parse.h — the plans.d file format (plugins/plans/README.md): checks and healing plans
 * read from the *.conf files of plans.d (libconfig) into plain structs, every problem as FILE:LINE. Compiled
 * into the plans plugin and into the agent, so `healerd --check-config` says what init() would. */
#ifndef PLANS_PARSE_H
#define PLANS_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define PLANS_MAX_FILES 256
#define PLANS_MAX_CHECKS 256
#define PLANS_MAX_PLANS 256
#define PLANS_MAX_STEPS 8
#define PLANS_MAX_WHEN 8
#define PLANS_MAX_ARGV 32
#define PLANS_NAME_MAX 48   /* plan and check names; an action is "<plan>_<step>" <= 63 */

typedef enum { CHK_PROCESS = 1, CHK_HTTP, CHK_TCP, CHK_FILE, CHK_COMMAND } plans_check_kind;
typedef enum { STEP_RUN = 1, STEP_SIGNAL, STEP_RESTART_UNIT, STEP_WRITE, STEP_REMOVE_OLD } plans_step_kind;
typedef enum { OP_GT = 1, OP_GE, OP_LT, OP_LE, OP_EQ, OP_NE } plans_op;

typedef struct plans_cond {
    char name[64];
    plans_op op;
    double value;
} plans_cond;

typedef struct plans_check {
    char name[PLANS_NAME_MAX];
    plans_check_kind kind;
    char *file;               /* where it was defined, for messages */
    int line;
    double interval_s;        /* between runs */
    double timeout_s;
    int fail_count;           /* consecutive failures before check_failed is raised */
    int severity;             /* healer_severity */
    /* process */
    char *process;            /* comm name */
    char *pidfile;
    /* http */
    char *url;
    long status;              /* expected status; 0 = any 2xx or 3xx */
    int tls_verify;
    /* tcp */
    char *host;
    long port;
    /* file */
    char *path;
    double max_age_s;         /* 0 = not checked */
    double max_size_bytes;    /* 0 = not checked; a directory: its regular files summed */
    /* command */
    char **argv;              /* NULL-terminated */
} plans_check;

typedef struct plans_step {
    char name[PLANS_NAME_MAX];
    char action[64];          /* "<plan>_<step>": the knowledge base's and the engine's name */
    plans_step_kind kind;
    int line;
    double timeout_s;
    double settle_s;          /* verify this long after */
    uint32_t flags;           /* HEALER_ACTION_* */
    double impact;
    /* run */
    char **argv;
    /* signal */
    int sig;
    char *process;
    char *pidfile;
    double grace_s;
    /* restart_unit */
    char *unit;
    /* write */
    char *write_path;
    char *value;
    /* remove_old */
    char *dir;
    double older_than_days;
    char *pattern;
    int recursive;
} plans_step;

typedef struct plans_plan {
    char name[PLANS_NAME_MAX];
    char *file;
    int line;
    char *match_type;         /* fnmatch pattern on the issue type */
    char *match_target;       /* fnmatch pattern on the target; "*" by default */
    plans_cond when[PLANS_MAX_WHEN];
    size_t n_when;
    plans_step steps[PLANS_MAX_STEPS];
    size_t n_steps;
    char *verify_check;       /* a check that must pass again; "" = the issue's own check */
    char **verify_argv;       /* or a read-only command that must exit 0 */
} plans_plan;

typedef struct plans_set {
    plans_check *checks;
    size_t n_checks;
    plans_plan *plans;
    size_t n_plans;
    size_t n_files, n_files_refused;
} plans_set;

/* Where problems go: one line "FILE:LINE: message" each. */
typedef void (*plans_report_fn)(void *ud, const char *file, int line, const char *msg);

/* Reads the *.conf files of dir in name order. A file with a problem is refused whole (reported); the rest
 * load. pol: the plugin's operator policy (write_allow, paths_allow) to check steps against, or
 * NULL to check only what no setting allows (the hard deny list). A missing dir is no problem
 * (nothing configured). Returns the number of problems; *out gets what loaded. */
int plans_load_dir(const char *dir, const healer_rules_policy *pol, plans_report_fn report,
                   void *ud, plans_set *out);

/* Parses one file into set (appending); problems counted and reported; nothing is appended
 * from a file with a problem. */
int plans_load_file(const char *path, const healer_rules_policy *pol, plans_report_fn report,
                    void *ud, plans_set *set);

void plans_set_free(plans_set *s);

const plans_check *plans_find_check(const plans_set *s, const char *name);

/* "load > 3" → cond; 0, or -1 with why. */
int plans_parse_cond(const char *text, plans_cond *c, char *why, size_t len);
int plans_cond_holds(const plans_cond *c, double v);

#endif
