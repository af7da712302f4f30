/* dryrun.h — the "would ..." line each actuator reports in dry-run, one text shared by the agent's
 * actuators and the mock host (both compile dryrun.c), so what a plugin's tests see in the mock
 * is what an operator reads in the agent's log and audit. */
#ifndef AGENT_DRYRUN_H
#define AGENT_DRYRUN_H

#include <stddef.h>
#include <sys/types.h>

/* "SIGTERM", or "signal 77" for a number without a name. */
const char *healer_dry_signame(int sig, char *buf, size_t len);
/* SIGTERM with grace_s > 0 escalates to SIGKILL: the line says so. */
void healer_dry_signal(char *buf, size_t len, pid_t pid, const char *name, int sig,
                       double grace_s);
void healer_dry_renice(char *buf, size_t len, pid_t pid, const char *name, int old_nice,
                       int nice);
/* value and old as shown (printable); old "no file" / "unreadable" when there is none. */
void healer_dry_write(char *buf, size_t len, const char *path, const char *value,
                      const char *old);
/* file: the freezer file of that hierarchy, was: its content now, nprocs: processes frozen. */
void healer_dry_freeze(char *buf, size_t len, const char *dir, int freeze, const char *file,
                       const char *was, size_t nprocs);
/* list: the files' names ("" = none), extra: what was kept or skipped. */
void healer_dry_remove(char *buf, size_t len, const char *dir, unsigned long long count,
                       unsigned long long bytes, const char *list, const char *extra);
/* cmdline: argv joined with spaces. */
void healer_dry_run(char *buf, size_t len, const char *cmdline, double timeout_s);

#endif
