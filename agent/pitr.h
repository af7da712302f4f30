/* pitr.h — point-in-time recovery (actuators_pitr.c): `healctl undo HEAL_ID` and
 * `healctl restore --to TIME`, from the change log (changelog.h) through the actuators. */
#ifndef AGENT_PITR_H
#define AGENT_PITR_H

#include <stdint.h>
#include <jansson.h>

#include "actuators.h"
#include "changelog.h"

typedef struct pitr_req {
    uint64_t heal_id;   /* > 0: that heal's changes */
    double since;       /* heal_id 0: every change made at or after this time (epoch seconds) */
    int dry_run;        /* only say what would be done ("would" lines, audited as dry runs) */
    int force;          /* write a file back even when it changed since the heal; renice back a
                           process whose nice changed since; switch a profile back that moved
                           since; switch back beyond limits.max_rollbacks_per_day */
    /* Switching a profile back is a rollback: the governor's word on it (NULL: no limit).
     * rollback_ok: 1 when one more is within the day's limit, else 0 with why; rollback_done:
     * one was made (counted, durably). */
    int (*rollback_ok)(void *ud, char *why, size_t wl);
    void (*rollback_done)(void *ud, const char *profile);
    void *gov_ud;
} pitr_req;

/* Reverses the matching changes, newest first, each through the actuators (plugin "operator",
 * action "undo" or "restore", the original heal id; protection, scope, pid reuse and the
 * agent's dry-run hold as for any change). *out: {heal_id | to, dry_run, force, undone,
 * not_undone, items: [{change, heal_id, time, plugin, kind, target, result, message}]}, result
 * one of undone, would, refused, gone, failed, not_undoable, already_undone, nothing_to_do.
 * A generation switch of a Nix profile goes back to the generation in use before it (nix-env
 * --switch-generation, then that generation's bin/switch-to-configuration switch when it has
 * one); a generation deleted since is said to be gone.
 * HEALER_OK; HEALER_E_NOTFOUND when the heal has no recorded change (*out set all the same). */
int act_pitr(actuators *a, changelog *l, const pitr_req *rq, json_t **out);

#endif
