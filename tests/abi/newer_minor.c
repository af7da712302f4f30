/* newer_minor.c — ABI fixture: needs a newer minor than the host has (HEALER_ABI_MINOR + 1).
 * It may call host functions this host lacks, so it must be refused ("upgrade healerd"). */
#include "fixture.h"

static const healer_plugin desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR + 1,
    .name = "abi_newer_minor",
    .version = "1.0.0",
    .description = "ABI test fixture: needs a newer minor",
    .init = fx_init,
    .destroy = fx_destroy,
    .detect = fx_detect,
};

HEALER_PLUGIN(desc)
