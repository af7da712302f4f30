/* small_descriptor.c — ABI fixture: struct_size = 8, smaller than the mandatory fields of the
 * 1.0 descriptor. The host must refuse it before reading any field past struct_size. */
#include "fixture.h"

static const healer_plugin desc = {
    .struct_size = 8,
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "abi_small_descriptor",
    .version = "1.0.0",
    .description = "ABI test fixture: struct_size too small",
    .init = fx_init,
    .destroy = fx_destroy,
    .detect = fx_detect,
};

HEALER_PLUGIN(desc)
