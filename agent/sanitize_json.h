/* sanitize_json.h — an outside string as a JSON value through the sanitizer: never NULL, so a
 * builder never drops an entry because a name was not UTF-8 (jansson refuses those). */
#ifndef AGENT_SANITIZE_JSON_H
#define AGENT_SANITIZE_JSON_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sanitize.h"

/* NULL -> null; otherwise a string (escaped where needed); null only when memory ran out.
 * C0 controls stay: jansson writes them escaped (\n, \u001b), so the JSON text carries no raw
 * control byte and a command's multi-line output keeps its lines. */
static inline json_t *sanitize_json_str(const char *s)
{
    if (!s)
        return json_null();
    json_t *j;
    if (sanitize_is_clean(s, strlen(s), SANITIZE_KEEP_C0)) {
        j = json_string(s);
    } else {
        char *c = sanitize_dup(s, SANITIZE_KEEP_C0);
        j = c ? json_string(c) : NULL;
        free(c);
    }
    return j ? j : json_null();
}

#endif
