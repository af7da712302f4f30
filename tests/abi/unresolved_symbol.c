/* unresolved_symbol.c — ABI fixture: calls a function no library defines. Linked with undefined
 * symbols allowed, so the failure comes at dlopen(RTLD_NOW), which the host must report. */
#include "fixture.h"

extern void healer_no_such_function(void);

static int bad_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    (void)host;
    (void)ctx;
    healer_no_such_function();
    *state = NULL;
    return HEALER_OK;
}

static const healer_plugin desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "abi_unresolved_symbol",
    .version = "1.0.0",
    .description = "ABI test fixture: unresolvable symbol",
    .init = bad_init,
    .destroy = fx_destroy,
    .detect = fx_detect,
};

HEALER_PLUGIN(desc)
