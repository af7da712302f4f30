/* major2.c — ABI fixture: built for ABI major 2. Exports healer_plugin_entry_v2 only, so a
 * major-1 host finds no entry point of its own major and must refuse it naming major 2. */
#include "fixture.h"

static const healer_plugin desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = 2,
    .abi_minor = 0,
    .name = "abi_major2",
    .version = "1.0.0",
    .description = "ABI test fixture: major 2 entry point only",
    .init = fx_init,
    .destroy = fx_destroy,
    .detect = fx_detect,
};

HEALER_EXPORT const healer_plugin *healer_plugin_entry_v2(void);
HEALER_EXPORT const healer_plugin *healer_plugin_entry_v2(void)
{
    return &desc;
}
