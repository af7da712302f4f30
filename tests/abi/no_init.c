/* no_init.c — ABI fixture: init is NULL (a required callback). Must be refused. */
#include "fixture.h"

static const healer_plugin desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "abi_no_init",
    .version = "1.0.0",
    .description = "ABI test fixture: no init",
    .init = NULL,
    .destroy = fx_destroy,
    .detect = fx_detect,
};

HEALER_PLUGIN(desc)
