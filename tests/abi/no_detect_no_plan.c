/* no_detect_no_plan.c — ABI fixture: neither detect nor plan is set; the plugin could never do
 * anything, so it must be refused. */
#include "fixture.h"

static const healer_plugin desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "abi_no_detect_no_plan",
    .version = "1.0.0",
    .description = "ABI test fixture: neither detect nor plan",
    .init = fx_init,
    .destroy = fx_destroy,
    .detect = NULL,
    .plan = NULL,
};

HEALER_PLUGIN(desc)
