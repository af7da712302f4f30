/* init_fails.c — ABI fixture: a valid descriptor whose init() logs why and returns HEALER_E_IO.
 * The host must mark it failed, never call its other callbacks, and keep running. */
#include "fixture.h"

static int failing_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    *state = NULL;
    host->log(ctx, HEALER_LOG_ERROR, "abi_init_fails: init fails on purpose (test fixture)");
    return HEALER_E_IO;
}

static const healer_plugin desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "init_fails",
    .version = "1.0.0",
    .description = "ABI test fixture: init returns HEALER_E_IO",
    .init = failing_init,
    .destroy = fx_destroy,
    .detect = fx_detect,
};

HEALER_PLUGIN(desc)
