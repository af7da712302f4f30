/* bad_name.c — ABI fixture: the name "Bad/Name" has an uppercase letter and a "/"; names must
 * be [a-z0-9_] (they become config sections, metric labels and file names). Must be refused. */
#include "fixture.h"

static const healer_plugin desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "Bad/Name",
    .version = "1.0.0",
    .description = "ABI test fixture: invalid name",
    .init = fx_init,
    .destroy = fx_destroy,
    .detect = fx_detect,
};

HEALER_PLUGIN(desc)
