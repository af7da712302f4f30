/* agent.h — the agent's lifecycle: opening the services from a config, running the daemon
 * (signals, SIGHUP reload, systemd notify and watchdog), one --once cycle, --check-config, and
 * the backend the HTTP server reads. main.c only parses the command line. */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include <stdio.h>

typedef struct agent agent;

typedef struct agent_opts {
    const char *config_path;
    int force_dry_run;          /* --dry-run */
    int once;                   /* --once: no HTTP, no timers of the plugins' own */
} agent_opts;

/* Exit codes of CONTRACT.md. */
#define EXIT_OK 0
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* Reads the config and opens everything. NULL with *exit_code set (2 bad config, 1 runtime). */
agent *agent_open(const agent_opts *o, int *exit_code);
/* The daemon: serves until SIGTERM/SIGINT; SIGHUP reloads. Returns the exit code. The caller
 * must have blocked SIGTERM, SIGINT and SIGHUP in every thread (agent_block_signals) first. */
int agent_run(agent *a);
/* One cycle of every plugin, the summary on out. Returns the exit code. */
int agent_once(agent *a, FILE *out);
void agent_close(agent *a);
/* The running engine (benchmarks and tests drive it directly). */
struct engine *agent_engine(agent *a);

/* Blocks the signals the agent handles synchronously; call before any thread starts. */
void agent_block_signals(void);

/* --check-config: problems as FILE:LINE: message on err, a verdict on out. Exit code. */
int agent_check_config(const char *path, FILE *out, FILE *err);

#endif
