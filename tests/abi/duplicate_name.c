/* duplicate_name.c — ABI fixture: a valid plugin that reuses good.so's name "abi_good". Whichever
 * of the two loads second is refused; the loader scans in file-name order and "duplicate_name.so"
 * sorts before "good.so", so put both in one plugin_dir and expect exactly one refusal. */
#include "fixture.h"

static const healer_plugin desc = {FX_VALID("abi_good")};

HEALER_PLUGIN(desc)
