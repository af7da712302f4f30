/* table.h — two small open-addressing hash maps the engine needs on its hot path: string keys
 * (open issues by "type\0target", health components) and u64 keys (heals by id). Not
 * thread-safe; values are borrowed pointers, keys are copied (strings). */
#ifndef AGENT_TABLE_H
#define AGENT_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct strmap strmap;
strmap *strmap_new(void);
void strmap_free(strmap *m);
/* key of klen bytes (may contain NUL). Replaces an existing value. 0 or -1 (no memory). */
int strmap_put(strmap *m, const char *key, size_t klen, void *value);
void *strmap_get(const strmap *m, const char *key, size_t klen);
void *strmap_del(strmap *m, const char *key, size_t klen);
size_t strmap_count(const strmap *m);
/* Iteration: i from 0 while strmap_next returns 1. Do not delete while iterating (deletion
 * shifts entries back): collect the keys first. */
int strmap_next(const strmap *m, size_t *i, const char **key, size_t *klen, void **value);

typedef struct u64map u64map;
u64map *u64map_new(void);
void u64map_free(u64map *m);
int u64map_put(u64map *m, uint64_t key, void *value);
void *u64map_get(const u64map *m, uint64_t key);
void *u64map_del(u64map *m, uint64_t key);
size_t u64map_count(const u64map *m);
int u64map_next(const u64map *m, size_t *i, uint64_t *key, void **value);

#endif
