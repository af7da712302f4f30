/* healer/healer.h — include this one header to write a healerd plugin.
 * Start with sdk/docs/writing-a-plugin.md; the ABI rules are in sdk/docs/abi.md. */
#ifndef HEALER_HEALER_H
#define HEALER_HEALER_H
#include "version.h"
#include "types.h"
#include "host.h"
#include "plugin.h"
#endif
