/* message_decode.c — the bus codec's decoding half: a structural pre-scan, then a two-pass walk
 * (size, then fill) into one arena per message, so any byte string either decodes into a message
 * owned by that arena or is rejected with a reason naming the key; msg_free frees it. */
#include "message.h"
#include "message_int.h"

#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- structural pre-scan -------------------------------------------------------------- */

static uint64_t be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Walks the raw bytes once, without allocating, before msgpack-c is trusted with them: every
 * length must fit in what is left, containers may not nest past MSG_MAX_DEPTH nor declare
 * more than MSG_MAX_ELEMENTS in all, and exactly one object must fill the buffer (with used:
 * the first object, its length stored there, anything may follow). After this,
 * msgpack_unpack's allocations are bounded by the input. */
static int prescan(const unsigned char *p, size_t len, size_t *used, char *err, size_t errlen)
{
    uint64_t left[MSG_MAX_DEPTH + 1];
    int depth = 0;
    uint64_t elements = 0;
    size_t pos = 0;
    left[0] = 1;
    for (;;) {
        while (left[depth] == 0) {
            if (depth == 0)
                goto done;
            depth--;
        }
        if (pos >= len) {
            snprintf(err, errlen, "truncated: %zu bytes end inside a %s", len,
                     depth ? "container" : "value");
            return -1;
        }
        left[depth]--;
        size_t at = pos;
        unsigned char b = p[pos++];
        size_t lenbytes = 0, extra = 0; /* size field width; fixed bytes after it */
        uint64_t items = 0;
        int container = 0, sized = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool: the byte is the value */
        } else if (b <= 0x8f) {
            container = 1;
            items = 2u * (b & 0x0f);
        } else if (b <= 0x9f) {
            container = 1;
            items = b & 0x0f;
        } else if (b <= 0xbf) {
            extra = b & 0x1f;
        } else {
            switch (b) {
            case 0xc4: case 0xd9: lenbytes = 1; sized = 1; break;   /* bin8, str8 */
            case 0xc5: case 0xda: lenbytes = 2; sized = 1; break;   /* bin16, str16 */
            case 0xc6: case 0xdb: lenbytes = 4; sized = 1; break;   /* bin32, str32 */
            case 0xc7: lenbytes = 1; sized = 1; extra = 1; break;   /* ext8 (+type) */
            case 0xc8: lenbytes = 2; sized = 1; extra = 1; break;
            case 0xc9: lenbytes = 4; sized = 1; extra = 1; break;
            case 0xca: extra = 4; break;
            case 0xcb: extra = 8; break;
            case 0xcc: case 0xd0: extra = 1; break;
            case 0xcd: case 0xd1: extra = 2; break;
            case 0xce: case 0xd2: extra = 4; break;
            case 0xcf: case 0xd3: extra = 8; break;
            case 0xd4: extra = 2; break;                            /* fixext 1..16 (+type) */
            case 0xd5: extra = 3; break;
            case 0xd6: extra = 5; break;
            case 0xd7: extra = 9; break;
            case 0xd8: extra = 17; break;
            case 0xdc: lenbytes = 2; container = 1; break;
            case 0xdd: lenbytes = 4; container = 1; break;
            case 0xde: lenbytes = 2; container = 2; break;
            case 0xdf: lenbytes = 4; container = 2; break;
            default:
                snprintf(err, errlen, "byte 0x%02x at offset %zu is not a msgpack type", b, at);
                return -1;
            }
        }
        if (lenbytes) {
            if (len - pos < lenbytes) {
                snprintf(err, errlen, "truncated: length field at offset %zu cut short", at);
                return -1;
            }
            uint64_t v = be(p + pos, lenbytes);
            pos += lenbytes;
            if (sized)
                extra += v;
            else
                items = container == 2 ? 2 * v : v;
        }
        if (extra > len - pos) {
            snprintf(err, errlen,
                     "truncated: value at offset %zu needs %zu bytes, %zu remain", at, extra,
                     len - pos);
            return -1;
        }
        pos += extra;
        if (container && items) {
            /* each element takes at least one byte */
            if (items > len - pos) {
                snprintf(err, errlen,
                         "container at offset %zu declares %" PRIu64 " elements but only %zu "
                         "bytes remain", at, items, len - pos);
                return -1;
            }
            elements += items;
            if (elements > MSG_MAX_ELEMENTS) {
                snprintf(err, errlen, "more than %u array/map elements in one message",
                         MSG_MAX_ELEMENTS);
                return -1;
            }
            if (depth == MSG_MAX_DEPTH) {
                snprintf(err, errlen, "containers nested deeper than %d at offset %zu",
                         MSG_MAX_DEPTH, at);
                return -1;
            }
            left[++depth] = items;
        }
    }
done:
    if (used) { /* one of several messages back to back: the rest is the caller's */
        *used = pos;
        return 0;
    }
    if (pos != len) {
        snprintf(err, errlen, "%zu trailing bytes after the message", len - pos);
        return -1;
    }
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------- */

/* The decoder walks the object tree twice with the same code: first with base == NULL to
 * validate and count the bytes the message needs, then into one arena of exactly that size.
 * The first pass reports errors; the second cannot fail. */
typedef struct dec {
    char *err;
    size_t errlen;
    char *base;
    size_t used;
    size_t cap;
    int failed;
} dec;

static int fail(dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(dec *d, const char *fmt, ...)
{
    if (!d->failed && d->err && d->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err, d->errlen, fmt, ap);
        va_end(ap);
    }
    d->failed = 1;
    return -1;
}

static void *take(dec *d, size_t n, size_t align)
{
    size_t off = (d->used + align - 1) & ~(align - 1);
    d->used = off + n;
    if (!d->base || d->used > d->cap)
        return NULL;
    return d->base + off;
}

static const char *tname(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return "unsigned int";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative int";
    case MSGPACK_OBJECT_FLOAT32: return "float32";
    case MSGPACK_OBJECT_FLOAT64: return "float64";
    case MSGPACK_OBJECT_STR: return "string";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "binary";
    case MSGPACK_OBJECT_EXT: return "ext";
    }
    return "unknown type";
}

/* Error labels: pfx is "" at the top level, "issue" or "actions[3]" below it. */
#define LBL "key '%s%s%s'"
#define LARGS(pfx, key) (pfx), (*(pfx) ? "." : ""), (key)

static int get_uint(dec *d, const char *pfx, const char *key, const msgpack_object *o,
                    uint64_t max, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return fail(d, LBL ": expected unsigned int, got %s", LARGS(pfx, key), tname(o));
    if (o->via.u64 > max)
        return fail(d, LBL ": %" PRIu64 " is above the maximum %" PRIu64, LARGS(pfx, key),
                    o->via.u64, max);
    *out = o->via.u64;
    return 0;
}

static int get_int(dec *d, const char *pfx, const char *key, const msgpack_object *o, int *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > INT32_MAX)
            return fail(d, LBL ": %" PRIu64 " does not fit a 32-bit int", LARGS(pfx, key),
                        o->via.u64);
        *out = (int)o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (o->via.i64 < INT32_MIN)
            return fail(d, LBL ": %" PRId64 " does not fit a 32-bit int", LARGS(pfx, key),
                        o->via.i64);
        *out = (int)o->via.i64;
        return 0;
    }
    return fail(d, LBL ": expected int, got %s", LARGS(pfx, key), tname(o));
}

/* Integers are accepted for floats: other languages' encoders write 1 for 1.0. */
static int as_num(const msgpack_object *o, double *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return 0;
    default: return -1;
    }
}

static int get_num(dec *d, const char *pfx, const char *key, const msgpack_object *o,
                   double *out)
{
    if (as_num(o, out))
        return fail(d, LBL ": expected float, got %s", LARGS(pfx, key), tname(o));
    return 0;
}

/* What is wrong with a str object, written into why; NULL when it is a valid schema string.
 * The UTF-8 scan runs in the sizing pass only: the fill pass sees the same bytes. */
static const char *str_problem(const dec *d, const msgpack_object *o, char *why, size_t n)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        snprintf(why, n, "expected string, got %s", tname(o));
        return why;
    }
    size_t len = o->via.str.size;
    if (len > MSG_MAX_STR) {
        snprintf(why, n, "string of %zu bytes exceeds the limit of %u", len, MSG_MAX_STR);
        return why;
    }
    if (!d->base) {
        size_t bad = msg_utf8_check(o->via.str.ptr, len);
        if (bad != len) {
            snprintf(why, n, "%s at byte %zu",
                     o->via.str.ptr[bad] ? "invalid UTF-8" : "NUL character", bad);
            return why;
        }
    }
    return NULL;
}

/* Copies a validated str object NUL-terminated into the arena (NULL in the sizing pass). */
static const char *copy_str(dec *d, const msgpack_object *o)
{
    size_t n = o->via.str.size;
    char *s = take(d, n + 1, 1);
    if (s) {
        memcpy(s, o->via.str.ptr, n);
        s[n] = '\0';
    }
    return s;
}

static int get_str(dec *d, const char *pfx, const char *key, const msgpack_object *o,
                   const char **out)
{
    char why[96];
    if (str_problem(d, o, why, sizeof why))
        return fail(d, LBL ": %s", LARGS(pfx, key), why);
    *out = copy_str(d, o);
    return 0;
}

/* At most 48 bytes of a peer's name in an error: enough to recognise it. */
#define SHOWN(o) (int)((o)->via.str.size < 48 ? (o)->via.str.size : 48), (o)->via.str.ptr

static int key_is(const msgpack_object *k, const char *lit, size_t n)
{
    return k->via.str.size == n && memcmp(k->via.str.ptr, lit, n) == 0;
}
#define IS(k, lit) key_is((k), (lit), sizeof(lit) - 1)

/* Known keys may appear once per map; a second copy is an error rather than a silent
 * last-one-wins, which different languages' decoders would resolve differently. */
static int seen(dec *d, uint32_t *mask, int bit, const char *pfx, const char *key)
{
    if (*mask & (1u << bit))
        return fail(d, LBL ": duplicate key", LARGS(pfx, key));
    *mask |= 1u << bit;
    return 0;
}

static int check_map(dec *d, const char *pfx, const char *key, const msgpack_object *o,
                     size_t max)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return fail(d, LBL ": expected map, got %s", LARGS(pfx, key), tname(o));
    if (o->via.map.size > max)
        return fail(d, LBL ": %" PRIu32 " entries exceed the limit of %zu", LARGS(pfx, key),
                    o->via.map.size, max);
    return 0;
}

static int check_key(dec *d, const char *pfx, const msgpack_object *k)
{
    if (k->type != MSGPACK_OBJECT_STR)
        return fail(d, "%s%smap key of type %s (keys must be strings)", pfx, *pfx ? ": " : "",
                    tname(k));
    return 0;
}

static int dec_measures(dec *d, const char *pfx, const char *key, const msgpack_object *o,
                        const msg_measure **out, size_t *n)
{
    if (check_map(d, pfx, key, o, MSG_MAX_MEASURES))
        return -1;
    size_t cnt = o->via.map.size;
    msg_measure *arr = cnt ? take(d, cnt * sizeof *arr, _Alignof(msg_measure)) : NULL;
    for (size_t i = 0; i < cnt; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        msg_measure tmp, *m = arr ? &arr[i] : &tmp;
        char why[96];
        if (str_problem(d, &kv->key, why, sizeof why))
            return fail(d, LBL ": measure name: %s", LARGS(pfx, key), why);
        m->name = copy_str(d, &kv->key);
        if (as_num(&kv->val, &m->value))
            return fail(d, LBL ": measure '%.*s': expected float, got %s", LARGS(pfx, key),
                        SHOWN(&kv->key), tname(&kv->val));
    }
    *out = arr;
    *n = cnt;
    return 0;
}

static int dec_kvs(dec *d, const char *pfx, const char *key, const msgpack_object *o,
                   const msg_kv **out, size_t *n)
{
    if (check_map(d, pfx, key, o, MSG_MAX_KV))
        return -1;
    size_t cnt = o->via.map.size;
    msg_kv *arr = cnt ? take(d, cnt * sizeof *arr, _Alignof(msg_kv)) : NULL;
    for (size_t i = 0; i < cnt; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        msg_kv tmp, *p = arr ? &arr[i] : &tmp;
        char why[96];
        if (str_problem(d, &kv->key, why, sizeof why))
            return fail(d, LBL ": a key: %s", LARGS(pfx, key), why);
        if (kv->val.type == MSGPACK_OBJECT_BIN) { /* bytes that are not UTF-8 (pack_value) */
            const msgpack_object_bin *b = &kv->val.via.bin;
            if (b->size > MSG_MAX_STR || memchr(b->ptr, 0, b->size))
                return fail(d, LBL ": value of '%.*s': bytes too long or with a NUL",
                            LARGS(pfx, key), SHOWN(&kv->key));
            p->key = copy_str(d, &kv->key);
            char *v = take(d, b->size + 1, 1);
            if (v) {
                memcpy(v, b->ptr, b->size);
                v[b->size] = '\0';
            }
            p->value = v;
            continue;
        }
        if (str_problem(d, &kv->val, why, sizeof why))
            return fail(d, LBL ": value of '%.*s': %s", LARGS(pfx, key), SHOWN(&kv->key), why);
        p->key = copy_str(d, &kv->key);
        p->value = copy_str(d, &kv->val);
    }
    *out = arr;
    *n = cnt;
    return 0;
}

static int dec_components(dec *d, const msgpack_object *o, msg_issue *is)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return fail(d, "key 'issue.comp': expected array, got %s", tname(o));
    size_t cnt = o->via.array.size;
    if (cnt > MSG_MAX_COMPONENTS)
        return fail(d, "key 'issue.comp': %zu entries exceed the limit of %u", cnt,
                    MSG_MAX_COMPONENTS);
    const char **arr = cnt ? take(d, cnt * sizeof *arr, _Alignof(const char *)) : NULL;
    for (size_t i = 0; i < cnt; i++) {
        char why[96];
        if (str_problem(d, &o->via.array.ptr[i], why, sizeof why))
            return fail(d, "key 'issue.comp[%zu]': %s", i, why);
        const char *c = copy_str(d, &o->via.array.ptr[i]);
        if (arr)
            arr[i] = c;
    }
    is->components = arr;
    is->n_components = cnt;
    return 0;
}

static int dec_issue(dec *d, const msgpack_object *o, msg_issue *is)
{
    static const char pfx[] = "issue";
    if (o->type != MSGPACK_OBJECT_MAP)
        return fail(d, "key 'issue': expected map, got %s", tname(o));
    uint32_t mask = 0;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        if (check_key(d, pfx, k))
            return -1;
        if (v->type == MSGPACK_OBJECT_NIL)
            continue;
        int rc = 0;
        uint64_t u = 0;
        if (IS(k, "id")) {
            rc = seen(d, &mask, 0, pfx, "id") || get_uint(d, pfx, "id", v, UINT64_MAX, &u);
            is->id = u;
        } else if (IS(k, "type")) {
            rc = seen(d, &mask, 1, pfx, "type") || get_str(d, pfx, "type", v, &is->type);
        } else if (IS(k, "sev")) {
            rc = seen(d, &mask, 2, pfx, "sev") || get_int(d, pfx, "sev", v, &is->severity);
        } else if (IS(k, "target")) {
            rc = seen(d, &mask, 3, pfx, "target") ||
                 get_str(d, pfx, "target", v, &is->target);
        } else if (IS(k, "summary")) {
            rc = seen(d, &mask, 4, pfx, "summary") ||
                 get_str(d, pfx, "summary", v, &is->summary);
        } else if (IS(k, "plugin")) {
            rc = seen(d, &mask, 5, pfx, "plugin") ||
                 get_str(d, pfx, "plugin", v, &is->plugin);
        } else if (IS(k, "time")) {
            rc = seen(d, &mask, 6, pfx, "time") || get_num(d, pfx, "time", v, &is->time);
        } else if (IS(k, "m")) {
            rc = seen(d, &mask, 7, pfx, "m") ||
                 dec_measures(d, pfx, "m", v, &is->measures, &is->n_measures);
        } else if (IS(k, "comp")) {
            rc = seen(d, &mask, 8, pfx, "comp") || dec_components(d, v, is);
        }
        if (rc)
            return -1;
    }
    return 0;
}

/* "actions[N]" for error messages, without printf: it is built for every action of every message
 * decoded (twice: both passes), and snprintf showed in the profile of a plugin child's proxy. */
static void action_prefix(char pfx[32], size_t idx)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + idx % 10);
        idx /= 10;
    } while (idx);
    memcpy(pfx, "actions[", 8);
    size_t p = 8;
    while (n)
        pfx[p++] = digits[--n];
    pfx[p++] = ']';
    pfx[p] = '\0';
}

static int dec_action(dec *d, const msgpack_object *o, size_t idx, msg_action *a)
{
    char pfx[32];
    action_prefix(pfx, idx);
    if (o->type != MSGPACK_OBJECT_MAP)
        return fail(d, "key '%s': expected map, got %s", pfx, tname(o));
    uint32_t mask = 0;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        if (check_key(d, pfx, k))
            return -1;
        if (v->type == MSGPACK_OBJECT_NIL)
            continue;
        int rc = 0;
        uint64_t u = 0;
        if (IS(k, "plugin")) {
            rc = seen(d, &mask, 0, pfx, "plugin") || get_str(d, pfx, "plugin", v, &a->plugin);
        } else if (IS(k, "name")) {
            rc = seen(d, &mask, 1, pfx, "name") || get_str(d, pfx, "name", v, &a->name);
        } else if (IS(k, "target")) {
            rc = seen(d, &mask, 2, pfx, "target") || get_str(d, pfx, "target", v, &a->target);
        } else if (IS(k, "desc")) {
            rc = seen(d, &mask, 3, pfx, "desc") ||
                 get_str(d, pfx, "desc", v, &a->description);
        } else if (IS(k, "step")) {
            rc = seen(d, &mask, 4, pfx, "step") || get_uint(d, pfx, "step", v, UINT32_MAX, &u);
            a->step = (unsigned)u;
        } else if (IS(k, "impact")) {
            rc = seen(d, &mask, 5, pfx, "impact") || get_num(d, pfx, "impact", v, &a->impact);
        } else if (IS(k, "conf")) {
            rc = seen(d, &mask, 6, pfx, "conf") || get_num(d, pfx, "conf", v, &a->confidence);
        } else if (IS(k, "flags")) {
            rc = seen(d, &mask, 7, pfx, "flags") ||
                 get_uint(d, pfx, "flags", v, UINT32_MAX, &u);
            a->flags = (uint32_t)u;
        } else if (IS(k, "params")) {
            rc = seen(d, &mask, 8, pfx, "params") ||
                 dec_kvs(d, pfx, "params", v, &a->params, &a->n_params);
        }
        if (rc)
            return -1;
    }
    return 0;
}

static int dec_actions(dec *d, const msgpack_object *o, msg *m)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return fail(d, "key 'actions': expected array, got %s", tname(o));
    size_t cnt = o->via.array.size;
    if (cnt > MSG_MAX_ACTIONS)
        return fail(d, "key 'actions': %zu entries exceed the limit of %u", cnt,
                    MSG_MAX_ACTIONS);
    msg_action *arr = cnt ? take(d, cnt * sizeof *arr, _Alignof(msg_action)) : NULL;
    for (size_t i = 0; i < cnt; i++) {
        msg_action tmp, *a = arr ? &arr[i] : &tmp;
        memset(a, 0, sizeof *a);
        if (dec_action(d, &o->via.array.ptr[i], i, a))
            return -1;
    }
    m->actions = arr;
    m->n_actions = cnt;
    return 0;
}

static int dec_touch(dec *d, const msgpack_object *o, size_t idx, msg_touch *t)
{
    char pfx[32];
    snprintf(pfx, sizeof pfx, "touch[%zu]", idx);
    if (o->type != MSGPACK_OBJECT_MAP)
        return fail(d, "key '%s': expected map, got %s", pfx, tname(o));
    static const char *const sk[] = { "action", "kind", "text", "name", "path", "unit",
                                      "cgroup" };
    static const char *const nk[] = { "pid", "uid", "size", "count" };
    const char **sv[] = { &t->action, &t->kind, &t->text, &t->name, &t->path, &t->unit,
                          &t->cgroup };
    int64_t *nv[] = { &t->pid, &t->uid, &t->size, &t->count };
    uint32_t mask = 0;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        if (check_key(d, pfx, k))
            return -1;
        if (v->type == MSGPACK_OBJECT_NIL)
            continue;
        for (int j = 0; j < 7; j++)
            if (key_is(k, sk[j], strlen(sk[j])) &&
                (seen(d, &mask, j, pfx, sk[j]) || get_str(d, pfx, sk[j], v, sv[j])))
                return -1;
        for (int j = 0; j < 4; j++) {
            uint64_t u = 0;
            if (!key_is(k, nk[j], strlen(nk[j])))
                continue;
            if (seen(d, &mask, 7 + j, pfx, nk[j]) ||
                get_uint(d, pfx, nk[j], v, INT64_MAX, &u))
                return -1;
            *nv[j] = (int64_t)u;
        }
    }
    return 0;
}

static int dec_touches(dec *d, const msgpack_object *o, msg *m)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return fail(d, "key 'touch': expected array, got %s", tname(o));
    size_t cnt = o->via.array.size;
    if (cnt > MSG_MAX_TOUCHES)
        return fail(d, "key 'touch': %zu entries exceed the limit of %u", cnt, MSG_MAX_TOUCHES);
    msg_touch *arr = cnt ? take(d, cnt * sizeof *arr, _Alignof(msg_touch)) : NULL;
    for (size_t i = 0; i < cnt; i++) {
        msg_touch tmp, *t = arr ? &arr[i] : &tmp;
        memset(t, 0, sizeof *t);
        t->pid = t->uid = t->size = t->count = -1;
        if (dec_touch(d, &o->via.array.ptr[i], i, t))
            return -1;
    }
    m->touches = arr;
    m->n_touches = cnt;
    return 0;
}

enum { K_V, K_K, K_SEQ, K_PLUGIN, K_FROM, K_ISSUE, K_ACTIONS, K_CODE, K_TEXT, K_M, K_METHOD,
       K_ARGS, K_DUR, K_ATT, K_WAIT, K_PV, K_TOUCH, K_HID };

static int dec_msg(dec *d, const msgpack_object *root, msg *m)
{
    if (root->type != MSGPACK_OBJECT_MAP)
        return fail(d, "message: expected map, got %s", tname(root));
    uint32_t mask = 0;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key, *v = &root->via.map.ptr[i].val;
        if (check_key(d, "", k))
            return -1;
        int rc = 0;
        uint64_t u = 0;
        if (IS(k, "v")) {
            rc = seen(d, &mask, K_V, "", "v") || get_uint(d, "", "v", v, UINT64_MAX, &u);
            if (!rc && u != MSG_SCHEMA_VERSION)
                rc = fail(d, "key 'v': unsupported schema version %" PRIu64
                             " (this agent speaks %d)", u, MSG_SCHEMA_VERSION);
            if (rc)
                return -1;
            continue;
        }
        if (IS(k, "k")) {
            rc = seen(d, &mask, K_K, "", "k") || get_uint(d, "", "k", v, UINT64_MAX, &u);
            if (!rc && (u < MSG_ISSUE || u > MSG_KIND_MAX))
                rc = fail(d, "key 'k': kind %" PRIu64 " out of range %d..%d", u, MSG_ISSUE,
                          MSG_KIND_MAX);
            if (rc)
                return -1;
            m->kind = (msg_kind)u;
            continue;
        }
        /* nil is "absent" for every optional key: encoders in other languages write null */
        if (v->type == MSGPACK_OBJECT_NIL)
            continue;
        if (IS(k, "seq")) {
            rc = seen(d, &mask, K_SEQ, "", "seq") || get_uint(d, "", "seq", v, UINT64_MAX, &u);
            m->seq = u;
        } else if (IS(k, "plugin")) {
            rc = seen(d, &mask, K_PLUGIN, "", "plugin") ||
                 get_str(d, "", "plugin", v, &m->plugin);
        } else if (IS(k, "from")) {
            rc = seen(d, &mask, K_FROM, "", "from") || get_str(d, "", "from", v, &m->from);
        } else if (IS(k, "issue")) {
            rc = seen(d, &mask, K_ISSUE, "", "issue") || dec_issue(d, v, &m->issue);
            m->has_issue = 1;
        } else if (IS(k, "actions")) {
            rc = seen(d, &mask, K_ACTIONS, "", "actions") || dec_actions(d, v, m);
        } else if (IS(k, "code")) {
            rc = seen(d, &mask, K_CODE, "", "code") || get_int(d, "", "code", v, &m->code);
        } else if (IS(k, "text")) {
            rc = seen(d, &mask, K_TEXT, "", "text") || get_str(d, "", "text", v, &m->text);
        } else if (IS(k, "m")) {
            rc = seen(d, &mask, K_M, "", "m") ||
                 dec_measures(d, "", "m", v, &m->measures, &m->n_measures);
        } else if (IS(k, "method")) {
            rc = seen(d, &mask, K_METHOD, "", "method") ||
                 get_str(d, "", "method", v, &m->method);
        } else if (IS(k, "args")) {
            rc = seen(d, &mask, K_ARGS, "", "args") ||
                 dec_kvs(d, "", "args", v, &m->args, &m->n_args);
        } else if (IS(k, "dur")) {
            rc = seen(d, &mask, K_DUR, "", "dur") || get_num(d, "", "dur", v, &m->duration);
        } else if (IS(k, "att")) {
            rc = seen(d, &mask, K_ATT, "", "att") || get_uint(d, "", "att", v, UINT64_MAX, &u);
            m->attempt = u;
        } else if (IS(k, "hid")) {
            rc = seen(d, &mask, K_HID, "", "hid") || get_uint(d, "", "hid", v, UINT64_MAX, &u);
            m->heal = u;
        } else if (IS(k, "wait")) {
            rc = seen(d, &mask, K_WAIT, "", "wait") || get_num(d, "", "wait", v, &m->wait);
        } else if (IS(k, "pv")) {
            rc = seen(d, &mask, K_PV, "", "pv");
            if (!rc && v->type != MSGPACK_OBJECT_BOOLEAN)
                rc = fail(d, "key 'pv': expected bool, got %s", tname(v));
            m->preview = !rc && v->via.boolean;
        } else if (IS(k, "touch")) {
            rc = seen(d, &mask, K_TOUCH, "", "touch") || dec_touches(d, v, m);
        }
        if (rc)
            return -1;
    }
    if (d->failed)
        return -1;
    if (!(mask & (1u << K_V)))
        return fail(d, "key 'v' (schema version) is missing");
    if (!(mask & (1u << K_K)))
        return fail(d, "key 'k' (kind) is missing");
    return 0;
}

static int decode_scanned(const void *data, size_t len, msg *out, char *err, size_t errlen);

/* used == NULL: data must be exactly one message; else the first of several, its length in
 * *used. */
static int decode(const void *data, size_t len, size_t *used, msg *out, char *err,
                  size_t errlen)
{
    char scratch[8];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (!out) {
        snprintf(err, errlen, "no message to decode into");
        return -1;
    }
    memset(out, 0, sizeof *out);
    if (!data || len == 0) {
        snprintf(err, errlen, "empty message");
        return -1;
    }
    if (!used && len > MSG_MAX_BYTES) {
        snprintf(err, errlen, "message of %zu bytes exceeds the limit of %u", len,
                 MSG_MAX_BYTES);
        return -1;
    }
    if (prescan(data, len, used, err, errlen))
        return -1;
    if (used) {
        if (*used > MSG_MAX_BYTES) {
            snprintf(err, errlen, "message of %zu bytes exceeds the limit of %u", *used,
                     MSG_MAX_BYTES);
            return -1;
        }
        len = *used;
    }
    return decode_scanned(data, len, out, err, errlen);
}

int msg_decode(const void *data, size_t len, msg *out, char *err, size_t errlen)
{
    return decode(data, len, NULL, out, err, errlen);
}

int msg_decode_next(const void *data, size_t len, size_t *used, msg *out, char *err,
                    size_t errlen)
{
    size_t scratch;
    int rc = decode(data, len, used ? used : &scratch, out, err, errlen);
    if (rc && used)
        *used = 0;
    return rc;
}

/* The calling thread's msgpack zone for decode_scanned, made on first use and freed when the
 * thread ends (so no thread's zone outlives it: valgrind-clean). */
static pthread_key_t zone_key;
static pthread_once_t zone_once = PTHREAD_ONCE_INIT;

static void zone_free(void *z)
{
    msgpack_zone_free(z);
}

static void zone_key_make(void)
{
    if (pthread_key_create(&zone_key, zone_free) != 0)
        zone_key = (pthread_key_t)-1;
}

static msgpack_zone *thread_zone(void)
{
    pthread_once(&zone_once, zone_key_make);
    if (zone_key == (pthread_key_t)-1)
        return NULL;
    msgpack_zone *z = pthread_getspecific(zone_key);
    if (!z && (z = msgpack_zone_new(4096)) && pthread_setspecific(zone_key, z) != 0) {
        msgpack_zone_free(z);
        z = NULL;
    }
    return z;
}

/* After prescan: exactly one bounded object fills data. */
static int decode_scanned(const void *data, size_t len, msg *out, char *err, size_t errlen)
{

    /* One zone per thread, cleared after each message: a zone made and destroyed per message
     * was a malloc and free of its first chunk every time (7 % of the pipeline's CPU). What a
     * large message adds beyond the first chunk is freed by the clear. */
    msgpack_zone *zp = thread_zone();
    if (!zp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    msgpack_object root;
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack(data, len, &off, zp, &root);
    if (ur != MSGPACK_UNPACK_SUCCESS) {
        snprintf(err, errlen, "msgpack: %s",
                 ur == MSGPACK_UNPACK_NOMEM_ERROR ? "out of memory"
                 : ur == MSGPACK_UNPACK_CONTINUE  ? "truncated"
                 : ur == MSGPACK_UNPACK_EXTRA_BYTES ? "trailing bytes"
                                                    : "parse error");
        msgpack_zone_clear(zp);
        return -1;
    }

    dec d = {.err = err, .errlen = errlen};
    msg sizing;
    memset(&sizing, 0, sizeof sizing);
    if (dec_msg(&d, &root, &sizing)) {
        msgpack_zone_clear(zp);
        return -1;
    }
    size_t need = d.used;
    char *arena = NULL;
    if (need) {
        arena = malloc(need);
        if (!arena) {
            msgpack_zone_clear(zp);
            snprintf(err, errlen, "out of memory (%zu bytes)", need);
            return -1;
        }
    }
    dec f = {.base = arena, .cap = need};
    int rc = dec_msg(&f, &root, out);
    msgpack_zone_clear(zp);
    if (rc || f.used != need) {
        free(arena);
        memset(out, 0, sizeof *out);
        snprintf(err, errlen, "internal error: second decoding pass disagreed");
        return -1;
    }
    out->arena = arena;
    return 0;
}

void msg_free(msg *m)
{
    if (!m)
        return;
    free(m->arena);
    memset(m, 0, sizeof *m);
}
