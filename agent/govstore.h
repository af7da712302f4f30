/* govstore.h — the governor's durable state in knowledge.db (tables gov_heals, gov_cooldowns,
 * gov_snoozes, gov_state, confirm_streaks; schema version 2): the gov_store callbacks the
 * governor writes through, and the load at start that puts the state back. */
#ifndef AGENT_GOVSTORE_H
#define AGENT_GOVSTORE_H

#include "governor.h"
#include "knowledge.h"

/* The callbacks, writing synchronously to kb (each change in its own transaction, durable
 * before they return). Hand the result to governor_set_store. */
gov_store govstore_ops(knowledge *kb);

/* Deletes what has expired at now (heals older than a day, ended cooldowns and snoozes) and
 * restores the rest into g: the hour and day windows, cooldowns with their severity, snoozes,
 * confirmation streaks and pause. Call before governor_set_store. 0, or -1 (logged) when the
 * database could not be read: g then starts empty. */
int govstore_load(knowledge *kb, governor *g, double now);

#endif
