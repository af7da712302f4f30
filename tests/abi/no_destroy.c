/* no_destroy.c — ABI fixture: destroy is NULL (a required callback). Must be refused. */
#include "fixture.h"

static const healer_plugin desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "abi_no_destroy",
    .version = "1.0.0",
    .description = "ABI test fixture: no destroy",
    .init = fx_init,
    .destroy = NULL,
    .detect = fx_detect,
};

HEALER_PLUGIN(desc)
