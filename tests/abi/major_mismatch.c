/* major_mismatch.c — ABI fixture: exports the v1 entry point, but its descriptor says
 * abi_major = 2. The host must trust the descriptor's major too and refuse it. */
#include "fixture.h"

static const healer_plugin desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = 2,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "abi_major_mismatch",
    .version = "1.0.0",
    .description = "ABI test fixture: v1 symbol, major 2 descriptor",
    .init = fx_init,
    .destroy = fx_destroy,
    .detect = fx_detect,
};

HEALER_PLUGIN(desc)
