/* fleet_etcd.h — a small client of etcd's v3 JSON gateway for the fleet-wide limits: leases
 * (grant, keep alive, revoke), a key put only if absent, counting keys under a prefix, and on
 * top of them the slot and budget keys of a group. Synchronous, one thread per client. */
#ifndef AGENT_FLEET_ETCD_H
#define AGENT_FLEET_ETCD_H

#include <stddef.h>
#include <stdint.h>

typedef struct etcd_client etcd_client;

/* Results: ETCD_OK (done, or acquired), ETCD_NO (refused: full, absent, lease gone),
 * ETCD_DOWN (no endpoint answered within the timeout, or answered with an error). */
enum { ETCD_DOWN = -1, ETCD_NO = 0, ETCD_OK = 1 };

/* endpoints: base URLs ("http://127.0.0.1:2379"); copied. NULL with why when memory is short.
 * When libcurl cannot be loaded the client exists, etcd_client_error says why, and every
 * request is ETCD_DOWN (the same as an etcd out of reach). */
etcd_client *etcd_client_new(const char *const *endpoints, size_t n, int timeout_ms, char *why,
                             size_t wn);
void etcd_client_free(etcd_client *c);
/* The last ETCD_DOWN's reason ("" when none yet). */
const char *etcd_client_error(const etcd_client *c);

int etcd_lease_grant(etcd_client *c, int ttl_s, int64_t *id);
/* ETCD_OK while the lease lives (its TTL refreshed), ETCD_NO when it is gone. */
int etcd_lease_keepalive(etcd_client *c, int64_t id);
/* ETCD_OK revoked, ETCD_NO it was gone already. */
int etcd_lease_revoke(etcd_client *c, int64_t id);
/* Puts key = value attached to lease (0: none) only if key does not exist (create_revision
 * == 0, in one transaction). */
int etcd_put_absent(etcd_client *c, const char *key, const char *value, int64_t lease);
/* The keys under prefix: *count, and in used[i] (n_used entries, may be NULL) 1 for every key
 * prefix<i> with a decimal i < n_used. */
int etcd_scan(etcd_client *c, const char *prefix, size_t *count, unsigned char *used,
              size_t n_used);

/* A slot of base ("<prefix>/<group>"): one of the k keys base/slot/<i>, put with a new lease of
 * ttl_s. ETCD_OK with *lease and *slot; ETCD_NO when all k are held. */
int etcd_slot_acquire(etcd_client *c, const char *base, int k, int ttl_s, const char *value,
                      int64_t *lease, int *slot);
/* One of the hourly budget's keys base/budget/<i> (i < budget), each with its own lease of
 * 3600 s never kept alive: ETCD_NO when budget keys exist already (spent for this hour). */
int etcd_budget_take(etcd_client *c, const char *base, int budget, const char *value);
#define ETCD_BUDGET_TTL 3600

#endif
