/* actuators_rig.h — what the actuator tests share: a rig (audit log + actuators in a temp
 * state dir) whose every call must leave one audit line, children the test forks (some as an
 * ordinary user, uid 2000, or a chosen uid) and cgroups it makes, all cleaned up after each test
 * even when one fails. */
#ifndef TESTS_ACTUATORS_RIG_H
#define TESTS_ACTUATORS_RIG_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sys/types.h>

#include "actuators.h"
#include "audit.h"

#define NOBODY 65534
/* An ordinary user: inside the login range (1000-60000 of login.defs; nobody is a system uid). */
#define USER_UID 2000

extern char tmp[128];
extern const char *const protect[3];
extern pid_t kids[64];
extern size_t n_kids;
extern char made_cgroups[8][300];
extern size_t n_cgroups;
extern const act_context ctx;

typedef struct rig {
    char state[256];
    audit_log *aud;
    actuators *a;
    size_t seen;
} rig;

typedef struct child_opts {
    int as_user;                       /* run as USER_UID */
    unsigned uid;                      /* else run as this uid when not 0 */
    const char *name;
    int ignore_term;
    int oom_never;
    int threads;
    volatile unsigned long *counter;   /* spin, incrementing it */
    const char *exec;                  /* execl(exec, exec, "60") */
} child_opts;

void rm_rf(const char *path);
void msleep(int ms);
void put_file(const char *path, const char *content, mode_t mode);
char *get_file(const char *path);   /* a static buffer; NULL when unreadable */
void mkdirs(const char *path);
/* Sets a file's atime and mtime days before the (shifted) wall clock. */
void age(const char *path, double days, int nofollow);
/* Moves the agent's wall clock (clock_now) shift_days ahead; 0 restores it. */
void cleanup_clock(double shift_days);
int exists(const char *path);
act_config base_cfg(void);
void rig_open(rig *r, const char *name, act_config cfg);
void rig_close(rig *r);
/* Asserts the log gained exactly one line, every line is a JSON object, and the new one is
 * for this actuator with this result. Returns the new line (caller decrefs). */
json_t *rig_line(rig *r, const char *actuator, const char *result);
#define AUDITED(r, actuator, result) json_decref(rig_line((r), (actuator), (result)))
pid_t spawn(const child_opts *o);
int alive(pid_t pid);
void reap(pid_t pid);
uint64_t start_of(actuators *a, pid_t pid);
int setup(void **state);
int cleanup(void **state);   /* after each test: thaw, kill our children, remove our cgroups */
int teardown(void **state);
int cg_make(const char *dir);  /* 0, or errno */
void cg_move(const char *dir, pid_t pid);
void cg_remove(const char *dir);

#endif
