/* message.h — the bus message schema (v1) and its msgpack codec. A message is a msgpack map
 * with string keys; no pointer or process-local state is ever encoded, so a plugin could run in
 * another process (ipc://) or language unchanged. sdk/docs/bus-schema.md documents every key. */
#ifndef AGENT_MESSAGE_H
#define AGENT_MESSAGE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "touch.h"

#define MSG_SCHEMA_VERSION 1

typedef enum msg_kind {
    MSG_ISSUE = 1,      /* worker -> engine: an issue detected (issue) */
    MSG_RESOLVE = 2,    /* worker -> engine: condition cleared (issue.type, issue.target) */
    MSG_DETECT = 3,     /* engine -> worker: run detect() now */
    MSG_PLAN_REQ = 4,   /* engine -> worker: propose actions for issue (seq = heal id) */
    MSG_PLAN = 5,       /* worker -> engine: candidate actions (actions[]) for heal seq */
    MSG_EXECUTE = 6,    /* engine -> worker: run actions[0] for issue (seq = heal id,
                           attempt = this step's id: every reply about it echoes it) */
    MSG_RESULT = 7,     /* worker -> engine: code = healer_outcome, text, measures = after;
                           wait > 0: the verdict comes by a timer, about wait seconds later */
    MSG_VERIFY = 8,     /* engine -> worker: verify actions[0] for issue (attempt as EXECUTE) */
    MSG_VERDICT = 9,    /* worker -> engine: code = healed (0/1), or 2 = still settling, the
                           next verdict in about `wait` seconds; text, measures */
    MSG_RESTORE = 10,   /* engine -> worker: issue cleared, undo (attempt: acknowledged by it) */
    MSG_REQUEST = 11,   /* worker -> engine -> worker: plugin = destination, method, args */
    MSG_REPLY = 12,     /* back along the same path: code = status, text */
    MSG_HEALTH = 13,    /* worker -> engine: measures = (component, score 0..100) */
    MSG_STOP = 14,      /* engine -> worker: finish and destroy */
    MSG_ACK = 15,       /* worker -> engine: a DETECT/RESTORE/STOP finished; code = rc;
                           attempt echoes a RESTORE's */
    MSG_CANCEL = 16,    /* engine -> worker: forget the timers (settling verify) of attempt */
    /* Only between the agent and a plugin child (sdk/docs/child-protocol.md): */
    MSG_INIT = 17,      /* agent -> child: text = the child's settings as JSON; run init() */
    MSG_READY = 18,     /* child -> agent: init() returned code; text = why it failed */
    MSG_HOSTCALL = 19,  /* child -> agent: seq = call id, method = host function, args, code =
                           the child's phase, att/seq of the callback in args */
    MSG_HOSTREPLY = 20, /* agent -> child: seq = call id, code = rc, text = last_message, args =
                           out-values */
    MSG_PING = 21,      /* agent -> child: are you there (seq) */
    MSG_PONG = 22,      /* child -> agent: yes (seq echoed) */
    MSG_KIND_MAX = 22
} msg_kind;

const char *msg_kind_name(msg_kind k);

typedef struct msg_measure { const char *name; double value; } msg_measure;
typedef struct msg_kv { const char *key; const char *value; } msg_kv;

typedef struct msg_issue {
    uint64_t id;
    const char *type;
    int severity;                 /* healer_severity */
    const char *target;
    const char *summary;
    const char *plugin;           /* detector */
    double time;                  /* when detected, seconds since the epoch */
    const msg_measure *measures; size_t n_measures;
    const char *const *components; size_t n_components;
} msg_issue;

typedef struct msg_action {
    const char *plugin;           /* who proposed it and will execute it */
    const char *name;
    const char *target;
    const char *description;
    unsigned step;
    double impact;
    double confidence;
    uint32_t flags;               /* HEALER_ACTION_* */
    const msg_kv *params; size_t n_params;
} msg_action;

/* One message. Which fields matter depends on kind (see above); unused ones are 0/NULL and
 * are not encoded. A decoded message owns its strings and arrays (one arena) until msg_free. */
typedef struct msg {
    msg_kind kind;
    uint64_t seq;                 /* correlation: heal id, request id */
    const char *plugin;           /* sender on worker->engine; destination on REQUEST */
    const char *from;             /* REQUEST/REPLY: the requesting plugin */
    int has_issue;
    msg_issue issue;
    const msg_action *actions; size_t n_actions;
    int code;
    const char *text;
    const msg_measure *measures; size_t n_measures;
    const char *method;
    const msg_kv *args; size_t n_args;
    double duration;              /* seconds a callback took */
    uint64_t attempt;             /* EXECUTE/VERIFY/RESTORE and their replies: the one step (or
                                     restore) they belong to; unique for the agent's life */
    uint64_t heal;                /* REQUEST: the heal whose step asked (0: none), so the serving
                                     plugin's actuator calls are audited under that heal */
    double wait;                  /* RESULT/VERDICT: seconds until the next verdict (settling) */
    int preview;                  /* EXECUTE: a preview: every actuator call only reports (dry-run
                                     forced), no verification follows; its RESULT lists touches */
    const msg_touch *touches; size_t n_touches;   /* RESULT of a preview */
    void *arena;                  /* decoder's allocation; NULL for messages built by hand */
} msg;

/* Encodes m into a malloc'd buffer (*out, *len). 0 on success, -1 when out of memory. */
int msg_encode(const msg *m, char **out, size_t *len);
/* Appends m's encoding to a growable malloc'd buffer (*buf of *cap bytes, *len in use), so a
 * batch of messages costs no allocation per message. 0, or -1 with errno as msg_encode and
 * *len unchanged (*buf and *cap may have grown). */
int msg_encode_append(const msg *m, char **buf, size_t *len, size_t *cap);
/* Decodes data into out (which it owns until msg_free). 0 on success; -1 on a malformed or
 * unsupported message, with the reason in err ("key 'seq': expected uint, got str"). Never
 * reads past len, never aborts, bounded allocation. */
int msg_decode(const void *data, size_t len, msg *out, char *err, size_t errlen);
/* The first of several messages back to back in data (a batched datagram of the child
 * protocol): as msg_decode, and *used = its length in bytes (0 on error: the rest cannot be
 * framed). */
int msg_decode_next(const void *data, size_t len, size_t *used, msg *out, char *err,
                    size_t errlen);
void msg_free(msg *m);

/* Frees the strings and params of an action whose fields were each malloc'd (plan builders, the
 * engine's copies); `plugin` is not touched, callers that own it free it themselves. */
void msg_action_release(msg_action *a);

/* Measurements as a JSON object {"name": value}; non-finite values become null. */
json_t *msg_measures_object(const msg_measure *m, size_t n);
/* The same as compact JSON text, malloc'd (NULL when out of memory). */
char *msg_measures_json(const msg_measure *m, size_t n);

#endif
