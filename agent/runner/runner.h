/* runner.h — healerd-plugin, the child that runs one plugin out of the agent's process: its state,
 * the socketpair transport, host calls to the agent and the child's host table. The protocol is
 * sdk/docs/child-protocol.md; the loop is the agent's own (plughost.c). */
#ifndef RUNNER_RUNNER_H
#define RUNNER_RUNNER_H

#include <jansson.h>
#include "plughost.h"

typedef struct runner {
    plughost ph;
    int sock;                  /* SOCK_SEQPACKET to the agent: messages batched (dgram.h) */
    healer_plugin desc;        /* zero-extended copy of the plugin's descriptor */
    void *dl;
    json_t *init;              /* MSG_INIT's document (settings, roots, dry_run) */
    json_t *settings;          /* borrowed from init: name -> value */
    const char *proc_root, *sys_root;
    int dry_run;
    char name[HEALER_NAME_MAX + 1];
} runner;

/* transport.c */
ph_transport runner_transport(runner *r);
/* Sends m now, after whatever is queued (the plugin's own messages are queued by the
 * transport's send and go out before the child waits). HEALER_OK or a negative rc. */
int runner_send(runner *r, const msg *m);
/* Sends what is queued (blocking). */
int runner_flush(runner *r);
void runner_transport_free(void);
/* One host call: sends MSG_HOSTCALL and waits for its MSG_HOSTREPLY (other messages meanwhile are
 * deferred, pings answered). The reply's code, its text in ctx->last_msg, *reply owned by the
 * caller (msg_free) when reply != NULL. HEALER_E_IO when the agent is gone. */
int runner_call(runner *r, const char *method, const msg_kv *args, size_t n, msg *reply);
/* The out-value key of a reply (NULL when absent). */
const char *runner_reply_arg(const msg *reply, const char *key);

/* hostapi_child.c */
const healer_host *runner_host_table(void);

/* load.c: dlopen of the inherited descriptor, the entry symbol and the descriptor's shape; a
 * refusal is written to why. 0 or -1. */
/* describing: only the entry point and size are checked here; the agent judges the rest with
 * the rules module (rules.c), so a child-read plugin is refused in the same words. */
int runner_load(runner *r, int fd, int describing, char *why, size_t len);
/* --describe: the descriptor as JSON on out (what the agent's loader checks). */
json_t *runner_describe(const healer_plugin *d);

#endif
