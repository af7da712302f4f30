/* duplicate_name.c — ABI fixture: a valid plugin named "good" in a file named duplicate_name.so.
 * Its settings would be read from plugins.duplicate_name while it shows as "good": the agent
 * refuses a descriptor name that differs from its file name (and would refuse a second "good"
 * as a duplicate). The mock host, which loads one plugin by path, accepts it. */
#include "fixture.h"

static const healer_plugin desc = {FX_VALID("good")};

HEALER_PLUGIN(desc)
