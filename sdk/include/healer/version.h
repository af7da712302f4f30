/* healer/version.h — the plugin ABI version this SDK describes.
 * The major is baked into the entry point's symbol name; the minor grows when fields or
 * host functions are appended. See sdk/docs/abi.md for the compatibility rules. */
#ifndef HEALER_VERSION_H
#define HEALER_VERSION_H

#define HEALER_ABI_MAJOR 1
#define HEALER_ABI_MINOR 3

/* The one symbol a plugin exports. A host of major N looks up only
 * healer_plugin_entry_vN, so a plugin built for another major is never half-loaded. */
#define HEALER_ENTRY_SYMBOL "healer_plugin_entry_v1"

#endif
