/* good.c — ABI fixture: a valid minimal plugin named "abi_good". Breaks no rule; the loader
 * must accept it (and refuse duplicate_name.so, which reuses its name). */
#include "fixture.h"

static const healer_plugin desc = {FX_VALID("abi_good")};

HEALER_PLUGIN(desc)
