/* no_entry.c — ABI fixture: a shared object with no entry point at all (it exports one
 * unrelated function). The host must say it is not a healerd plugin. */
#include "fixture.h"

HEALER_EXPORT int healer_fixture_not_an_entry(void);
HEALER_EXPORT int healer_fixture_not_an_entry(void)
{
    return 42;
}
