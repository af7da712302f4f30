/* fleet_merge.h — the fleet's shared knowledge as data, with no thread or socket: the table of
 * every peer's (node, issue type, action) attempts and failures merged by maximum (both only
 * grow on the node that counts them, a relapse turning a success into a failure: the order and
 * repetition of deliveries never matter), its sums per (type, action), and the
 * message one node sends, {node, counters: [[type, action, attempts, successes], ...]}, with a
 * decoder that trusts nothing. */
#ifndef AGENT_FLEET_MERGE_H
#define AGENT_FLEET_MERGE_H

#include <stddef.h>
#include <stdint.h>

/* Bounds a hostile peer meets: rows per message, bytes per name, rows kept in all. */
#define FLEET_ROWS_MAX 65536
#define FLEET_NAME_MAX 128
#define FLEET_TABLE_MAX 1000000

typedef struct fleet_row {
    const char *type, *action;
    uint64_t attempts, successes;
} fleet_row;

typedef struct fleet_table fleet_table;

fleet_table *fleet_table_new(void);
void fleet_table_free(fleet_table *t);
/* Takes the maximum of attempts and of failures (attempts - successes) for (node, type,
 * action), so successes may fall when a peer's heal relapsed: 1 when something changed, 0 when
 * not, -1 when out of memory or the table is at FLEET_TABLE_MAX (nothing changed then). */
int fleet_table_merge(fleet_table *t, const char *node, const char *type, const char *action,
                      uint64_t attempts, uint64_t successes);
/* 1 and the counters when the row exists, else 0 and zeros. */
int fleet_table_get(const fleet_table *t, const char *node, const char *type, const char *action,
                    uint64_t *attempts, uint64_t *successes);
/* Sums over every node of the table (the caller never merges its own node into it). */
void fleet_table_sums(const fleet_table *t, const char *type, const char *action,
                      uint64_t *attempts, uint64_t *successes);
size_t fleet_table_rows(const fleet_table *t);
/* Calls fn for every row; stops at a nonzero return and returns it. */
int fleet_table_each(const fleet_table *t,
                     int (*fn)(void *ud, const char *node, const fleet_row *row), void *ud);

/* The message: malloc'd bytes in *out, length in *len. 0, or -1 out of memory. */
int fleet_state_encode(const char *node, const fleet_row *rows, size_t n, char **out,
                       size_t *len);

/* A decoded message; every string points into one allocation owned by it. */
typedef struct fleet_state {
    const char *node;
    fleet_row *rows;
    size_t n;
    void *mem;
} fleet_state;

/* Decodes exactly one message of len bytes: a map with "node" (a plain name) and "counters"
 * (at most FLEET_ROWS_MAX arrays of two strings of at most FLEET_NAME_MAX bytes and two
 * unsigned integers, successes <= attempts); any other key is refused. 0 and *out, or -1 and why
 * (nothing to free then). */
int fleet_state_decode(const void *buf, size_t len, fleet_state *out, char *why, size_t whylen);
void fleet_state_free(fleet_state *st);

#endif
