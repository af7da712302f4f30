/* keep.h — copies of deleted files (actuators_keep.c): act_remove_old_files keeps each file it
 * removes in state_dir/backups/deleted/<set>/ while agent.backup_deletions_max_mb allows, and
 * act_restore_deleted puts a set back. Internal to the actuators. */
#ifndef AGENT_KEEP_H
#define AGENT_KEEP_H

#include <jansson.h>

#include "actuators.h"

typedef struct keep_set keep_set;

/* A new set for one removal under dir; NULL when keeping is off (why empty) or impossible (why
 * says so: the removal goes on without copies). */
keep_set *keep_begin(actuators *a, const act_context *c, const char *dir, char *why, size_t wl);
/* Copies the file (pfd, name) before its removal; 1 kept, 0 not (over the bound even after the
 * oldest sets went, or an error). k may be NULL (0). */
int keep_file(keep_set *k, int pfd, const char *name, const char *rel);
/* Writes the set's manifest (synced) and notes deletion_backup, kept, not_kept in params;
 * frees k (NULL is fine). */
void keep_end(keep_set *k, json_t *params);

int act_restore_deleted(actuators *a, const act_context *c, const char *manifest, char *msg,
                        size_t len);

#endif
