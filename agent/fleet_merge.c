/* fleet_merge.c — the fleet's shared knowledge as data: the (node, type, action) table merged
 * by maximum, its per (type, action) sums kept as rows change, and the message codec (msgpack,
 * encoded with msgpack-c, decoded by a bounded reader of its own: no header's claimed length
 * is allocated before the bytes that back it are seen). */
#include "fleet_merge.h"
#include "table.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

/* ---- the table: two strmaps (table.c) from a key of NUL-ended parts to two counters ---------- */

/* A key is each part followed by its '\0': "node\0type\0action\0" for a row, "type\0action\0"
 * for a sum. strmap takes a length, so the NULs stay in the key; a name never holds a NUL
 * (make_key measures it with strlen, the decoder's name_ok refuses one), so every part ends at
 * the first NUL after its start and two different triples can never make the same key. */
/* Attempts and failures, not successes: both only grow on the node that counts them (a
 * relapse turns one success into a failure), so the maximum of each is that node's latest
 * state whatever order its messages arrive in, and a relapse reaches every peer. Successes are
 * a - f. */
typedef struct fm_counts {
    uint64_t a, f;
} fm_counts;

struct fleet_table {
    strmap *rows; /* node \0 type \0 action \0 -> fm_counts */
    strmap *sums; /* type \0 action \0 -> fm_counts */
};

static size_t make_key(char *buf, size_t cap, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t n = 0;
    for (int i = 0; i < 3 && parts[i]; i++) {
        size_t l = strlen(parts[i]);
        if (n + l + 1 > cap)
            return 0;
        memcpy(buf + n, parts[i], l + 1);
        n += l + 1;
    }
    return n;
}

/* The counters under key, made (zeroed) when absent and create is set; NULL out of memory. */
static fm_counts *fleet_merge_find(strmap *m, const char *key, size_t klen, bool create)
{
    fm_counts *c = strmap_get(m, key, klen);
    if (c || !create)
        return c;
    if (!(c = calloc(1, sizeof *c)))
        return NULL;
    if (strmap_put(m, key, klen, c) < 0) {
        free(c);
        return NULL;
    }
    return c;
}

static void fleet_merge_map_free(strmap *m)
{
    if (!m)
        return;
    size_t i = 0;
    void *v;
    while (strmap_next(m, &i, NULL, NULL, &v))
        free(v);
    strmap_free(m);
}

fleet_table *fleet_table_new(void)
{
    fleet_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->rows = strmap_new();
    t->sums = strmap_new();
    if (!t->rows || !t->sums) {
        fleet_table_free(t);
        return NULL;
    }
    return t;
}

void fleet_table_free(fleet_table *t)
{
    if (!t)
        return;
    fleet_merge_map_free(t->rows);
    fleet_merge_map_free(t->sums);
    free(t);
}

int fleet_table_merge(fleet_table *t, const char *node, const char *type, const char *action,
                      uint64_t attempts, uint64_t successes)
{
    char k[3 * (FLEET_NAME_MAX + 1)], sk[2 * (FLEET_NAME_MAX + 1)];
    size_t kl = make_key(k, sizeof k, node, type, action);
    size_t skl = make_key(sk, sizeof sk, type, action, NULL);
    if (!kl || !skl)
        return -1;
    fm_counts *e = fleet_merge_find(t->rows, k, kl, false);
    if (!e) {
        if (strmap_count(t->rows) >= FLEET_TABLE_MAX)
            return -1;
        /* the sum's entry first: a row never exists without the entry it adds to */
        if (!fleet_merge_find(t->sums, sk, skl, true) ||
            !(e = fleet_merge_find(t->rows, k, kl, true)))
            return -1;
    }
    fm_counts *sum = fleet_merge_find(t->sums, sk, skl, true);
    if (!sum)
        return -1;
    uint64_t failures = successes <= attempts ? attempts - successes : 0;
    int grew = 0;
    if (attempts > e->a) {
        sum->a += attempts - e->a;
        e->a = attempts;
        grew = 1;
    }
    if (failures > e->f) {
        sum->f += failures - e->f;
        e->f = failures;
        grew = 1;
    }
    return grew;
}

int fleet_table_get(const fleet_table *t, const char *node, const char *type, const char *action,
                    uint64_t *attempts, uint64_t *successes)
{
    char k[3 * (FLEET_NAME_MAX + 1)];
    size_t kl = make_key(k, sizeof k, node, type, action);
    const fm_counts *e = kl ? strmap_get(t->rows, k, kl) : NULL;
    *attempts = e ? e->a : 0;
    *successes = e ? e->a - e->f : 0;
    return e != NULL;
}

void fleet_table_sums(const fleet_table *t, const char *type, const char *action,
                      uint64_t *attempts, uint64_t *successes)
{
    char k[2 * (FLEET_NAME_MAX + 1)];
    size_t kl = make_key(k, sizeof k, type, action, NULL);
    const fm_counts *e = kl && t ? strmap_get(t->sums, k, kl) : NULL;
    *attempts = e ? e->a : 0;
    *successes = e ? e->a - e->f : 0;
}

size_t fleet_table_rows(const fleet_table *t)
{
    return t ? strmap_count(t->rows) : 0;
}

int fleet_table_each(const fleet_table *t,
                     int (*fn)(void *ud, const char *node, const fleet_row *row), void *ud)
{
    size_t i = 0;
    const char *node;
    void *v;
    while (strmap_next(t->rows, &i, &node, NULL, &v)) {
        const fm_counts *e = v;
        const char *type = node + strlen(node) + 1;
        fleet_row r = {type, type + strlen(type) + 1, e->a, e->a - e->f};
        int rc = fn(ud, node, &r);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the message ---------------------------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

int fleet_state_encode(const char *node, const fleet_row *rows, size_t n, char **out,
                       size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "node");
    pack_str(&pk, node);
    pack_str(&pk, "counters");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_array(&pk, 4);
        pack_str(&pk, rows[i].type);
        pack_str(&pk, rows[i].action);
        msgpack_pack_uint64(&pk, rows[i].attempts);
        msgpack_pack_uint64(&pk, rows[i].successes);
    }
    if (!sb.data) { /* sbuffer allocates on the first write; none means it could not */
        msgpack_sbuffer_destroy(&sb);
        return -1;
    }
    *len = sb.size; /* release clears it */
    *out = msgpack_sbuffer_release(&sb);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

/* A cursor over the bytes; every read checks what is left. */
typedef struct rd {
    const unsigned char *p, *end;
} rd;

static bool rd_be(rd *r, size_t n, uint64_t *v)
{
    if ((size_t)(r->end - r->p) < n)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = x << 8 | r->p[i];
    r->p += n;
    *v = x;
    return true;
}

static bool rd_str(rd *r, const char **s, size_t *n)
{
    if (r->p >= r->end)
        return false;
    unsigned c = *r->p++;
    uint64_t len;
    if ((c & 0xe0) == 0xa0)
        len = c & 0x1f;
    else if (c == 0xd9 && rd_be(r, 1, &len)) {
    } else if (c == 0xda && rd_be(r, 2, &len)) {
    } else if (c == 0xdb && rd_be(r, 4, &len)) {
    } else
        return false;
    if (len > (uint64_t)(r->end - r->p))
        return false;
    *s = (const char *)r->p;
    *n = (size_t)len;
    r->p += len;
    return true;
}

/* A map's (is_map) or an array's element count. */
static bool rd_count(rd *r, bool is_map, uint64_t *n)
{
    if (r->p >= r->end)
        return false;
    unsigned c = *r->p++;
    if (is_map) {
        if ((c & 0xf0) == 0x80) {
            *n = c & 0x0f;
            return true;
        }
        return (c == 0xde && rd_be(r, 2, n)) || (c == 0xdf && rd_be(r, 4, n));
    }
    if ((c & 0xf0) == 0x90) {
        *n = c & 0x0f;
        return true;
    }
    return (c == 0xdc && rd_be(r, 2, n)) || (c == 0xdd && rd_be(r, 4, n));
}

static bool rd_uint(rd *r, uint64_t *v)
{
    if (r->p >= r->end)
        return false;
    unsigned c = *r->p++;
    if (c < 0x80) {
        *v = c;
        return true;
    }
    size_t w = c == 0xcc ? 1 : c == 0xcd ? 2 : c == 0xce ? 4 : c == 0xcf ? 8 : 0;
    return w && rd_be(r, w, v);
}

static void set_why(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t n, const char *fmt, ...)
{
    if (!why || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

/* A name as it may be stored: 1..FLEET_NAME_MAX bytes, no NUL, no control byte. */
static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > FLEET_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

int fleet_state_decode(const void *buf, size_t len, fleet_state *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    rd r = {buf, (const unsigned char *)buf + len};
    uint64_t nkeys;
    if (!rd_count(&r, true, &nkeys) || nkeys > 16) {
        set_why(why, whylen, "not a map of at most 16 keys");
        return -1;
    }
    const char *node = NULL;
    size_t node_len = 0;
    rd rows = {NULL, NULL};
    uint64_t nrows = 0;
    for (uint64_t k = 0; k < nkeys; k++) {
        const char *key;
        size_t kl;
        if (!rd_str(&r, &key, &kl)) {
            set_why(why, whylen, "a key is not a string");
            return -1;
        }
        if (kl == 4 && memcmp(key, "node", 4) == 0) {
            if (!rd_str(&r, &node, &node_len) || !name_ok(node, node_len)) {
                set_why(why, whylen, "node is not a name of 1 to %d bytes", FLEET_NAME_MAX);
                return -1;
            }
        } else if (kl == 8 && memcmp(key, "counters", 8) == 0) {
            if (!rd_count(&r, false, &nrows) || nrows > FLEET_ROWS_MAX ||
                nrows * 5 > (uint64_t)(r.end - r.p)) { /* each row takes 5 bytes at least */
                set_why(why, whylen, "counters is not an array of at most %d rows",
                        FLEET_ROWS_MAX);
                return -1;
            }
            rows = r;
            /* skip the rows now (checked below) so the keys after them are read */
            for (uint64_t i = 0; i < nrows; i++) {
                uint64_t four, v;
                const char *s;
                size_t sl;
                if (!rd_count(&r, false, &four) || four != 4 || !rd_str(&r, &s, &sl) ||
                    !name_ok(s, sl) || !rd_str(&r, &s, &sl) || !name_ok(s, sl) ||
                    !rd_uint(&r, &v) || !rd_uint(&r, &v)) {
                    set_why(why, whylen, "counters[%llu] is not [type, action, attempts, "
                            "successes]", (unsigned long long)i);
                    return -1;
                }
            }
        } else {
            set_why(why, whylen, "unknown key");
            return -1;
        }
    }
    if (r.p != r.end) {
        set_why(why, whylen, "%zu bytes after the message", (size_t)(r.end - r.p));
        return -1;
    }
    if (!node || !rows.p) {
        set_why(why, whylen, "node or counters missing");
        return -1;
    }
    /* One allocation: the rows, then every string with its NUL (the message bounds the sum). */
    size_t bytes = nrows * sizeof(fleet_row) + node_len + 1 + len;
    char *mem = malloc(bytes);
    if (!mem) {
        set_why(why, whylen, "out of memory");
        return -1;
    }
    fleet_row *rowv = (fleet_row *)mem;
    char *str = mem + nrows * sizeof(fleet_row);
    memcpy(str, node, node_len);
    str[node_len] = '\0';
    out->node = str;
    str += node_len + 1;
    for (uint64_t i = 0; i < nrows; i++) {
        uint64_t four;
        const char *s[2];
        size_t sl[2];
        rd_count(&rows, false, &four);
        for (int j = 0; j < 2; j++) {
            rd_str(&rows, &s[j], &sl[j]);
            memcpy(str, s[j], sl[j]);
            str[sl[j]] = '\0';
            *(j ? &rowv[i].action : &rowv[i].type) = str;
            str += sl[j] + 1;
        }
        rd_uint(&rows, &rowv[i].attempts);
        rd_uint(&rows, &rowv[i].successes);
        if (rowv[i].successes > rowv[i].attempts) {
            set_why(why, whylen, "counters[%llu]: more successes than attempts",
                    (unsigned long long)i);
            free(mem);
            memset(out, 0, sizeof *out);
            return -1;
        }
    }
    out->rows = rowv;
    out->n = (size_t)nrows;
    out->mem = mem;
    return 0;
}

void fleet_state_free(fleet_state *st)
{
    if (st) {
        free(st->mem);
        memset(st, 0, sizeof *st);
    }
}
