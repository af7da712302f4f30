/* fuzz_sanitize.c — libFuzzer target for the string sanitizer: for any bytes the result is
 * valid UTF-8 with no control character (C0, DEL, C1, bidi) in it, it is the input itself
 * exactly when the input was clean, a cut result is a prefix of the whole one, and the JSON
 * helper never fails where json_string would. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sanitize.h"
#include "sanitize_json.h"

static void check_clean(const char *s, size_t n, unsigned flags)
{
    for (size_t i = 0; i < n;) {
        size_t l = sanitize_utf8_seq((const unsigned char *)s + i, n - i);
        if (l == 0 || s[i] == '\0')
            abort(); /* not UTF-8, or a NUL */
        size_t cl;
        long cp = sanitize_control_at(s + i, n - i, &cl);
        if (cp >= 0 && !((flags & SANITIZE_KEEP_C0) && cp < 0x20))
            abort(); /* a control left raw */
        i += l;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    for (unsigned flags = 0; flags < 4; flags++) {
        size_t need = sanitize_to(in, size, NULL, 0, flags);
        char *out = malloc(need + 1);
        if (!out)
            return 0;
        if (sanitize_to(in, size, out, need + 1, flags) != need || strlen(out) != need)
            abort();
        check_clean(out, need, flags);
        int clean = sanitize_is_clean(in, size, flags);
        if (clean != (need == size && memcmp(out, in, size) == 0))
            abort();
        /* a cut result: a prefix of the whole one, itself clean */
        size_t cut = size ? data[0] % (need + 1) : 0;
        char *part = malloc(cut + 1);
        if (part) {
            sanitize_to(in, size, part, cut + 1, flags);
            size_t pl = strlen(part);
            if (pl > cut || memcmp(part, out, pl) != 0)
                abort();
            check_clean(part, pl, flags);
            free(part);
        }
        free(out);
    }
    /* as a C string: the JSON helper always gives a string */
    char *z = malloc(size + 1);
    if (!z)
        return 0;
    memcpy(z, data, size);
    z[size] = '\0';
    json_t *j = sanitize_json_str(z);
    if (!json_is_string(j))
        abort();
    json_decref(j);
    free(z);
    return 0;
}
