/* sanitize_json.h — an outside string as a JSON value through the sanitizer: never NULL, so a
 * builder never drops an entry because a name was not UTF-8 (jansson refuses those). */
#ifndef AGENT_SANITIZE_JSON_H
#define AGENT_SANITIZE_JSON_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sanitize.h"

/* NULL -> null; otherwise a string (escaped where needed); null only when memory ran out. */
static inline json_t *sanitize_json_str(const char *s)
{
    if (!s)
        return json_null();
    json_t *j;
    if (sanitize_is_clean(s, strlen(s), 0)) {
        j = json_string(s);
    } else {
        char *c = sanitize_dup(s, 0);
        j = c ? json_string(c) : NULL;
        free(c);
    }
    return j ? j : json_null();
}

#endif
