/* fixture.h — shared pieces of the ABI fixture plugins: trivial callbacks and a valid
 * descriptor initializer, so each fixture differs from a good plugin in exactly one rule. */
#ifndef ABI_FIXTURE_H
#define ABI_FIXTURE_H

#include <healer/healer.h>

/* static inline: a fixture that does not use one of them still compiles with -Werror. */
static inline int fx_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    (void)host;
    (void)ctx;
    *state = NULL;
    return HEALER_OK;
}

static inline void fx_destroy(void *state)
{
    (void)state;
}

static inline int fx_detect(void *state)
{
    (void)state;
    return HEALER_OK;
}

static inline int fx_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    (void)state;
    (void)issue;
    (void)plan;
    return HEALER_OK;
}

static inline int fx_execute(void *state, const healer_issue *issue, const healer_action *action,
                             healer_result *result)
{
    (void)state;
    (void)issue;
    (void)action;
    result->outcome = HEALER_OUTCOME_SKIPPED;
    return HEALER_OK;
}

/* The fields of a valid descriptor with the given name (good.c and duplicate_name.c). The
 * other fixtures spell their descriptor out, so the one broken field is plain to see. */
#define FX_VALID(plugin_name)                   \
    .struct_size = sizeof(healer_plugin),       \
    .abi_major = HEALER_ABI_MAJOR,              \
    .abi_minor = HEALER_ABI_MINOR,              \
    .name = plugin_name,                        \
    .version = "1.0.0",                         \
    .description = "ABI test fixture",          \
    .init = fx_init,                            \
    .destroy = fx_destroy,                      \
    .detect = fx_detect

#endif
