/* plan_without_execute.c — ABI fixture: plan is set, execute is NULL. Its proposals could never
 * be carried out, so it must be refused. */
#include "fixture.h"

static const char *const types[] = {"abi_fixture_issue", NULL};

static const healer_plugin desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "abi_plan_without_execute",
    .version = "1.0.0",
    .description = "ABI test fixture: plan without execute",
    .issue_types = types,
    .init = fx_init,
    .destroy = fx_destroy,
    .detect = fx_detect,
    .plan = fx_plan,
    .execute = NULL,
};

HEALER_PLUGIN(desc)
