/* procinfo.h — reading a process's identity from a procfs tree (proc_root): stat, status,
 * oom_score_adj, cgroup and exe. Internal to the actuators; robust against processes that
 * vanish mid-read and against hostile comm values. */
#ifndef AGENT_PROCINFO_H
#define AGENT_PROCINFO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "healer/host.h"

#define PROCINFO_PF_KTHREAD 0x00200000u

typedef struct procinfo {
    healer_proc p;
    char state;            /* field 3: R S D Z X T t I ... */
    pid_t tgid;            /* from status; != pid for a thread */
} procinfo;

/* Parses one /proc/PID/stat line (len bytes, not necessarily NUL-terminated) into out
 * (pid, ppid, name, state, nice, start_time, kernel_thread, rss_bytes). HEALER_OK or
 * HEALER_E_INVAL with the reason in msg. Exposed for tests. */
int procinfo_parse_stat(const char *line, size_t len, procinfo *out, char *msg, size_t msglen);

/* Reads proc_root/PID/{stat,status,oom_score_adj}. HEALER_E_GONE when the process is not
 * there (or vanished between the reads), HEALER_E_NOTFOUND when pid is a thread and not a
 * process, HEALER_E_INVAL for a malformed file. */
int procinfo_read(const char *proc_root, pid_t pid, procinfo *out, char *msg, size_t msglen);

/* Basename of proc_root/PID/exe's target, without " (deleted)". 0, or -1 when unreadable. */
int procinfo_exe_name(const char *proc_root, pid_t pid, char *buf, size_t len);

/* The text of proc_root/PID/cgroup into buf (NUL-terminated): its length, or -1 when it
 * cannot be read. Read once, it serves both questions below. */
ssize_t procinfo_cgroup_read(const char *proc_root, pid_t pid, char *buf, size_t len);

/* 1 when any line of that text names a cgroup at or below scope ("/a/b" is below "/a", "/ab"
 * is not); 0 when none does (first cgroup path in found). buf is cut into lines (strtok). */
int procinfo_cgroup_under(char *buf, const char *scope, char *found, size_t found_len);

/* Reads a small file whole into buf (NUL-terminated). Bytes read, or -1 with errno. */
ssize_t procinfo_read_file(int dirfd, const char *name, char *buf, size_t len);

#endif
