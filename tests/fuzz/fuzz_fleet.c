/* fuzz_fleet.c — libFuzzer target for the shared knowledge decoder (fleet_merge.c): for any
 * bytes it refuses or returns rows within its bounds (names 1..128 bytes without control
 * bytes, successes <= attempts), what it returns encodes and decodes to the same rows, and
 * merging them twice changes nothing the second time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_merge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fleet_state st;
    char why[128];
    if (fleet_state_decode(data, size, &st, why, sizeof why) != 0)
        return 0;
    if (st.n > FLEET_ROWS_MAX || strlen(st.node) == 0 || strlen(st.node) > FLEET_NAME_MAX)
        abort();
    fleet_table *t = fleet_table_new();
    for (size_t i = 0; i < st.n; i++) {
        const fleet_row *r = &st.rows[i];
        size_t tl = strlen(r->type), al = strlen(r->action);
        if (r->successes > r->attempts || !tl || tl > FLEET_NAME_MAX || !al ||
            al > FLEET_NAME_MAX)
            abort();
        if (t && fleet_table_merge(t, st.node, r->type, r->action, r->attempts, r->successes) < 0)
            abort();
    }
    for (size_t i = 0; t && i < st.n; i++) /* the same state again: nothing grows */
        if (fleet_table_merge(t, st.node, st.rows[i].type, st.rows[i].action,
                              st.rows[i].attempts, st.rows[i].successes) != 0)
            abort();
    fleet_table_free(t);
    char *buf;
    size_t len;
    if (fleet_state_encode(st.node, st.rows, st.n, &buf, &len) == 0) {
        fleet_state again;
        if (fleet_state_decode(buf, len, &again, why, sizeof why) != 0 || again.n != st.n)
            abort();
        for (size_t i = 0; i < st.n; i++)
            if (strcmp(again.rows[i].type, st.rows[i].type) ||
                strcmp(again.rows[i].action, st.rows[i].action) ||
                again.rows[i].attempts != st.rows[i].attempts ||
                again.rows[i].successes != st.rows[i].successes)
                abort();
        fleet_state_free(&again);
        free(buf);
    }
    fleet_state_free(&st);
    return 0;
}
