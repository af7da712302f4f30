/* fleet_knowledge.h — the hd-fleet thread: this node's counters sent to its peers and theirs
 * received, over ZeroMQ CURVE with only the listed peers' keys let in (docs/fleet.md "Shared
 * knowledge"). Started only when fleet.peers is configured; its failures never stop healing. */
#ifndef AGENT_FLEET_KNOWLEDGE_H
#define AGENT_FLEET_KNOWLEDGE_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "knowledge.h"
#include "metrics.h"

typedef struct fleet_know fleet_know;

/* Binds fleet.peers.listen, connects to every peer and starts hd-fleet. NULL with err set when
 * it cannot (logged by the caller; the agent runs on without it). Copies what it needs of cfg. */
fleet_know *fleet_know_start(const config *cfg, knowledge *kb, metrics *m, char *err,
                             size_t errlen);
/* Stops the thread and closes every socket (unsent messages dropped). NULL is fine. */
void fleet_know_stop(fleet_know *f);
/* The "fleet" object of GET /api/v1/status: node, listen, public key, rows, refused, peers
 * (name, endpoint, last_heard, received, dropped, sent, send_skipped). */
json_t *fleet_know_json(fleet_know *f);

#endif
