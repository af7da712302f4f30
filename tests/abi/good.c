/* good.c — ABI fixture: a valid minimal plugin named "good", as its file. Breaks no rule; the
 * loader must accept it (and refuse duplicate_name.so, which uses its name in another file). */
#include "fixture.h"

static const healer_plugin desc = {FX_VALID("good")};

HEALER_PLUGIN(desc)
