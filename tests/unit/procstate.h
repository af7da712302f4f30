/* procstate.h — a test's view of a process it started: its state letter from /proc/PID/stat,
 * and waiting (bounded) for it to be stopped or running. Shared by test_undo and test_pitr. */
#ifndef TEST_PROCSTATE_H
#define TEST_PROCSTATE_H

#include <sys/types.h>

/* 'R', 'S', 'T', ... or '?' when the process is gone. */
char proc_state(pid_t pid);
/* 1 once the process is stopped ('T') or not, as asked, within 3 s; else 0. */
int wait_state(pid_t pid, int stopped);

#endif
