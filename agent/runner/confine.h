/* confine.h — least privilege of a plugin child (confine.c): what healerd-plugin applies to
 * itself before it maps the plugin. Documented in sdk/docs/child-protocol.md "Privileges". */
#pragma once
#include <stddef.h>

/* Confines this process for good: state_dir is the one directory it may write (NULL: none).
 * On success what[] says what was applied; on failure why[] says what could not be. */
int confine_self(const char *state_dir, char *what, size_t wlen, char *why, size_t len);
