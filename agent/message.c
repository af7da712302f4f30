/* message.c — the bus schema v1 codec (msgpack-c), its encoding half: msg_encode,
 * msg_encode_append, msg_kind_name, the UTF-8 rule and the helpers for owned messages. The
 * decoding half (any byte string decodes into one arena or is rejected) is message_decode.c;
 * sdk/docs/bus-schema.md is the spec of both. */
#include "message.h"
#include "jsonbuf.h"
#include "message_int.h"

#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
    "none", "issue", "resolve", "detect", "plan_req", "plan", "execute", "result",
    "verify", "verdict", "restore", "request", "reply", "health", "stop", "ack", "cancel",
    "init", "ready", "hostcall", "hostreply", "ping", "pong",
};

const char *msg_kind_name(msg_kind k)
{
    if ((int)k < MSG_ISSUE || (int)k > MSG_KIND_MAX)
        return "unknown";
    return kind_names[k];
}

/* ---- UTF-8 ---------------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, nothing
 * past U+10FFFF), or 0 when the bytes there are not one. NUL is refused too: decoded strings
 * are C strings, and a NUL inside would silently cut them. */
size_t msg_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return c ? 1 : 0;
    if (c < 0xc2)
        return 0;
    if (c < 0xe0) {
        if (n < 2 || (s[1] & 0xc0) != 0x80)
            return 0;
        return 2;
    }
    if (c < 0xf0) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0)
            return 0;
        if (c == 0xed && s[1] >= 0xa0)
            return 0;
        return 3;
    }
    if (c < 0xf5) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90)
            return 0;
        if (c == 0xf4 && s[1] >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

/* Offset of the first byte that is not valid UTF-8 (or is NUL); n when all of s is valid. */
size_t msg_utf8_check(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* Bus strings are mostly ASCII: 8 bytes at a time while none is NUL or >= 0x80. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w | ((w - 0x0101010101010101ull) & ~w)) & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if (s[i] >= 0x01 && s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = msg_utf8_seq(s + i, n - i);
        if (!l)
            return i;
        i += l;
    }
    return n;
}

/* ---- encoding ------------------------------------------------------------------------- */

typedef struct enc {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t base;                  /* where this message starts in sb (msg_encode_append) */
    int too_big;
} enc;

/* sbuffer's own writer grows without limit; the schema caps a message at MSG_MAX_BYTES, so
 * stop there rather than build something no receiver accepts. */
static int enc_write(void *data, const char *buf, size_t len)
{
    enc *e = data;
    /* The packer writes most of a message as headers and numbers of 1 to 9 bytes, about 70
     * calls per issue on each side of the bus: copied in place with fixed-size moves when
     * they fit, rather than through msgpack_sbuffer_write and a libc memcpy each. */
    if (len <= 9 && e->sb.alloc - e->sb.size >= len &&
        e->sb.size - e->base + len <= MSG_MAX_BYTES) {
        char *d = e->sb.data + e->sb.size;
        switch (len) {
        case 1: d[0] = buf[0]; break;
        case 2: memcpy(d, buf, 2); break;
        case 3: memcpy(d, buf, 3); break;
        case 5: memcpy(d, buf, 5); break;
        case 9: memcpy(d, buf, 9); break;
        default: memcpy(d, buf, len); break;
        }
        e->sb.size += len;
        return 0;
    }
    if (len > MSG_MAX_BYTES || e->sb.size - e->base + len > MSG_MAX_BYTES) {
        e->too_big = 1;
        return -1;
    }
    return msgpack_sbuffer_write(&e->sb, buf, len);
}

/* Packs s as a msgpack str that every receiver accepts: NULL becomes "", anything past
 * MSG_MAX_STR is cut at a character boundary, and bytes that are not UTF-8 become U+FFFD, so
 * one plugin's odd byte cannot get a whole issue dropped as malformed at the other end. */
static int pack_text(enc *e, const char *s)
{
    if (!s)
        s = "";
    size_t n = strnlen(s, MSG_MAX_STR + 1);
    if (n > MSG_MAX_STR) {
        n = MSG_MAX_STR;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    if (msg_utf8_check(s, n) == n)
        return msgpack_pack_str_with_body(&e->pk, s, n);

    char *clean = malloc(MSG_MAX_STR);
    if (!clean)
        return -1;
    const unsigned char *u = (const unsigned char *)s;
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t l = msg_utf8_seq(u + i, n - i);
        const char *piece = l ? s + i : "\xef\xbf\xbd";
        size_t pl = l ? l : 3;
        if (out + pl > MSG_MAX_STR)
            break;
        memcpy(clean + out, piece, pl);
        out += pl;
        i += l ? l : 1;
    }
    int rc = msgpack_pack_str_with_body(&e->pk, clean, out);
    free(clean);
    return rc;
}

static int pack_key(enc *e, const char *k, size_t n)
{
    return msgpack_pack_str_with_body(&e->pk, k, n);
}
#define KEY(e, lit) pack_key((e), (lit), sizeof(lit) - 1)

/* Zero is "not set" and is not encoded; compare bits so -0.0 and NaN survive the trip. */
static int dbl_set(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits != 0;
}

static size_t cap(size_t n, size_t max) { return n < max ? n : max; }

static int pack_measures(enc *e, const msg_measure *ms, size_t n)
{
    n = cap(n, MSG_MAX_MEASURES);
    if (msgpack_pack_map(&e->pk, n))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (pack_text(e, ms[i].name) || msgpack_pack_double(&e->pk, ms[i].value))
            return -1;
    return 0;
}

/* A value (a host call's argument, an action's parameter) is often a path, and a path is bytes:
 * one that is not UTF-8 travels as a msgpack bin with its exact bytes (cutting it to U+FFFD
 * would name another file). Text that is too long is cut as pack_text cuts it. */
static int pack_value(enc *e, const char *s)
{
    size_t n = s ? strnlen(s, MSG_MAX_STR + 1) : 0;
    if (!s || n > MSG_MAX_STR || msg_utf8_check(s, n) == n)
        return pack_text(e, s);
    return msgpack_pack_bin_with_body(&e->pk, s, n);
}

static int pack_kvs(enc *e, const msg_kv *kv, size_t n)
{
    n = cap(n, MSG_MAX_KV);
    if (msgpack_pack_map(&e->pk, n))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (pack_text(e, kv[i].key) || pack_value(e, kv[i].value))
            return -1;
    return 0;
}

static int pack_issue(enc *e, const msg_issue *is)
{
    int has_m = is->measures && is->n_measures;
    int has_c = is->components && is->n_components;
    size_t n = !!is->id + !!is->type + !!is->severity + !!is->target + !!is->summary +
               !!is->plugin + dbl_set(is->time) + has_m + has_c;
    if (msgpack_pack_map(&e->pk, n))
        return -1;
    if (is->id && (KEY(e, "id") || msgpack_pack_uint64(&e->pk, is->id)))
        return -1;
    if (is->type && (KEY(e, "type") || pack_text(e, is->type)))
        return -1;
    if (is->severity && (KEY(e, "sev") || msgpack_pack_int(&e->pk, is->severity)))
        return -1;
    if (is->target && (KEY(e, "target") || pack_text(e, is->target)))
        return -1;
    if (is->summary && (KEY(e, "summary") || pack_text(e, is->summary)))
        return -1;
    if (is->plugin && (KEY(e, "plugin") || pack_text(e, is->plugin)))
        return -1;
    if (dbl_set(is->time) && (KEY(e, "time") || msgpack_pack_double(&e->pk, is->time)))
        return -1;
    if (has_m && (KEY(e, "m") || pack_measures(e, is->measures, is->n_measures)))
        return -1;
    if (has_c) {
        size_t nc = cap(is->n_components, MSG_MAX_COMPONENTS);
        if (KEY(e, "comp") || msgpack_pack_array(&e->pk, nc))
            return -1;
        for (size_t i = 0; i < nc; i++)
            if (pack_text(e, is->components[i]))
                return -1;
    }
    return 0;
}

static int pack_action(enc *e, const msg_action *a)
{
    int has_p = a->params && a->n_params;
    size_t n = !!a->plugin + !!a->name + !!a->target + !!a->description + !!a->step +
               dbl_set(a->impact) + dbl_set(a->confidence) + !!a->flags + has_p;
    if (msgpack_pack_map(&e->pk, n))
        return -1;
    if (a->plugin && (KEY(e, "plugin") || pack_text(e, a->plugin)))
        return -1;
    if (a->name && (KEY(e, "name") || pack_text(e, a->name)))
        return -1;
    if (a->target && (KEY(e, "target") || pack_text(e, a->target)))
        return -1;
    if (a->description && (KEY(e, "desc") || pack_text(e, a->description)))
        return -1;
    if (a->step && (KEY(e, "step") || msgpack_pack_unsigned_int(&e->pk, a->step)))
        return -1;
    if (dbl_set(a->impact) && (KEY(e, "impact") || msgpack_pack_double(&e->pk, a->impact)))
        return -1;
    if (dbl_set(a->confidence) &&
        (KEY(e, "conf") || msgpack_pack_double(&e->pk, a->confidence)))
        return -1;
    if (a->flags && (KEY(e, "flags") || msgpack_pack_uint32(&e->pk, a->flags)))
        return -1;
    if (has_p && (KEY(e, "params") || pack_kvs(e, a->params, a->n_params)))
        return -1;
    return 0;
}

/* A touch's number: -1 (or any negative) is unknown, not encoded. */
static int pack_touch(enc *e, const msg_touch *t)
{
    const char *sk[] = { "action", "kind", "text", "name", "path", "unit", "cgroup" };
    const char *sv[] = { t->action, t->kind, t->text, t->name, t->path, t->unit, t->cgroup };
    const char *nk[] = { "pid", "uid", "size", "count" };
    int64_t nv[] = { t->pid, t->uid, t->size, t->count };
    size_t n = 0;
    for (size_t i = 0; i < 7; i++)
        n += sv[i] != NULL;
    for (size_t i = 0; i < 4; i++)
        n += nv[i] >= 0;
    if (msgpack_pack_map(&e->pk, n))
        return -1;
    for (size_t i = 0; i < 7; i++)
        if (sv[i] && (pack_key(e, sk[i], strlen(sk[i])) || pack_text(e, sv[i])))
            return -1;
    for (size_t i = 0; i < 4; i++)
        if (nv[i] >= 0 && (pack_key(e, nk[i], strlen(nk[i])) ||
                           msgpack_pack_uint64(&e->pk, (uint64_t)nv[i])))
            return -1;
    return 0;
}

static size_t strbound(const char *s) { return s ? 5 + strnlen(s, MSG_MAX_STR) : 0; }

/* A guess at the encoded size (exact upper bound for valid UTF-8), so the common message is
 * written into one right-sized allocation instead of sbuffer's fixed 8 KiB. */
static size_t size_guess(const msg *m)
{
    size_t g = 64 + strbound(m->plugin) + strbound(m->from) + strbound(m->text) +
               strbound(m->method);
    if (m->has_issue) {
        const msg_issue *is = &m->issue;
        g += 96 + strbound(is->type) + strbound(is->target) + strbound(is->summary) +
             strbound(is->plugin);
        if (is->measures)
            for (size_t i = 0; i < cap(is->n_measures, MSG_MAX_MEASURES); i++)
                g += 9 + strbound(is->measures[i].name);
        if (is->components)
            for (size_t i = 0; i < cap(is->n_components, MSG_MAX_COMPONENTS); i++)
                g += 5 + strbound(is->components[i]);
    }
    if (m->actions)
        for (size_t i = 0; i < cap(m->n_actions, MSG_MAX_ACTIONS); i++) {
            const msg_action *a = &m->actions[i];
            g += 96 + strbound(a->plugin) + strbound(a->name) + strbound(a->target) +
                 strbound(a->description);
            if (a->params)
                for (size_t j = 0; j < cap(a->n_params, MSG_MAX_KV); j++)
                    g += 10 + strbound(a->params[j].key) + strbound(a->params[j].value);
        }
    if (m->measures)
        for (size_t i = 0; i < cap(m->n_measures, MSG_MAX_MEASURES); i++)
            g += 9 + strbound(m->measures[i].name);
    if (m->args)
        for (size_t i = 0; i < cap(m->n_args, MSG_MAX_KV); i++)
            g += 10 + strbound(m->args[i].key) + strbound(m->args[i].value);
    if (m->touches)
        for (size_t i = 0; i < cap(m->n_touches, MSG_MAX_TOUCHES); i++) {
            const msg_touch *t = &m->touches[i];
            g += 96 + strbound(t->action) + strbound(t->kind) + strbound(t->text) +
                 strbound(t->name) + strbound(t->path) + strbound(t->unit) + strbound(t->cgroup);
        }
    return g < MSG_MAX_BYTES ? g : MSG_MAX_BYTES;
}

static int pack_msg(enc *e, const msg *m)
{
    int has_a = m->actions && m->n_actions;
    int has_m = m->measures && m->n_measures;
    int has_args = m->args && m->n_args;
    int has_t = m->touches && m->n_touches;
    size_t n = 2 + !!m->preview + has_t + !!m->seq + !!m->plugin + !!m->from + !!m->has_issue + has_a + !!m->code +
               !!m->text + has_m + !!m->method + has_args + dbl_set(m->duration) + !!m->attempt +
               dbl_set(m->wait) + !!m->heal;
    if (msgpack_pack_map(&e->pk, n))
        return -1;
    if (KEY(e, "v") || msgpack_pack_unsigned_int(&e->pk, MSG_SCHEMA_VERSION))
        return -1;
    if (KEY(e, "k") || msgpack_pack_unsigned_int(&e->pk, (unsigned)m->kind))
        return -1;
    if (m->seq && (KEY(e, "seq") || msgpack_pack_uint64(&e->pk, m->seq)))
        return -1;
    if (m->plugin && (KEY(e, "plugin") || pack_text(e, m->plugin)))
        return -1;
    if (m->from && (KEY(e, "from") || pack_text(e, m->from)))
        return -1;
    if (m->has_issue && (KEY(e, "issue") || pack_issue(e, &m->issue)))
        return -1;
    if (has_a) {
        size_t na = cap(m->n_actions, MSG_MAX_ACTIONS);
        if (KEY(e, "actions") || msgpack_pack_array(&e->pk, na))
            return -1;
        for (size_t i = 0; i < na; i++)
            if (pack_action(e, &m->actions[i]))
                return -1;
    }
    if (m->code && (KEY(e, "code") || msgpack_pack_int(&e->pk, m->code)))
        return -1;
    if (m->text && (KEY(e, "text") || pack_text(e, m->text)))
        return -1;
    if (has_m && (KEY(e, "m") || pack_measures(e, m->measures, m->n_measures)))
        return -1;
    if (m->method && (KEY(e, "method") || pack_text(e, m->method)))
        return -1;
    if (has_args && (KEY(e, "args") || pack_kvs(e, m->args, m->n_args)))
        return -1;
    if (dbl_set(m->duration) && (KEY(e, "dur") || msgpack_pack_double(&e->pk, m->duration)))
        return -1;
    if (m->attempt && (KEY(e, "att") || msgpack_pack_uint64(&e->pk, m->attempt)))
        return -1;
    if (dbl_set(m->wait) && (KEY(e, "wait") || msgpack_pack_double(&e->pk, m->wait)))
        return -1;
    if (m->heal && (KEY(e, "hid") || msgpack_pack_uint64(&e->pk, m->heal)))
        return -1;
    if (m->preview && (KEY(e, "pv") || msgpack_pack_true(&e->pk)))
        return -1;
    if (has_t) {
        size_t nt = cap(m->n_touches, MSG_MAX_TOUCHES);
        if (KEY(e, "touch") || msgpack_pack_array(&e->pk, nt))
            return -1;
        for (size_t i = 0; i < nt; i++)
            if (pack_touch(e, &m->touches[i]))
                return -1;
    }
    return 0;
}

/* Besides out of memory (errno ENOMEM), -1 also means a message the schema cannot carry:
 * EINVAL for a kind out of range, EMSGSIZE when it would exceed MSG_MAX_BYTES. Every array
 * and string is cut to the schema's limits, so whatever is encoded decodes. */
int msg_encode(const msg *m, char **out, size_t *len)
{
    if (!m || !out || !len) {
        errno = EINVAL;
        return -1;
    }
    *out = NULL;
    *len = 0;
    if ((int)m->kind < MSG_ISSUE || (int)m->kind > MSG_KIND_MAX) {
        errno = EINVAL;
        return -1;
    }
    enc e = {0};
    size_t guess = size_guess(m);
    e.sb.data = malloc(guess);
    if (!e.sb.data) {
        errno = ENOMEM;
        return -1;
    }
    e.sb.alloc = guess;
    msgpack_packer_init(&e.pk, &e, enc_write);
    if (pack_msg(&e, m)) {
        free(e.sb.data);
        errno = e.too_big ? EMSGSIZE : ENOMEM;
        return -1;
    }
    *out = e.sb.data;
    *len = e.sb.size;
    return 0;
}

int msg_encode_append(const msg *m, char **buf, size_t *len, size_t *cap)
{
    if (!m || !buf || !len || !cap || *len > *cap) {
        errno = EINVAL;
        return -1;
    }
    if ((int)m->kind < MSG_ISSUE || (int)m->kind > MSG_KIND_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t guess = size_guess(m);
    if (*cap - *len < guess) {
        size_t ncap = *cap ? *cap : 4096;
        while (ncap - *len < guess)
            ncap *= 2;
        char *nb = realloc(*buf, ncap);
        if (!nb) {
            errno = ENOMEM;
            return -1;
        }
        *buf = nb;
        *cap = ncap;
    }
    enc e = { .sb = { .size = *len, .data = *buf, .alloc = *cap }, .base = *len };
    msgpack_packer_init(&e.pk, &e, enc_write);
    int rc = pack_msg(&e, m);
    /* sbuffer may have grown the buffer even when the message failed: keep what it holds. */
    *buf = e.sb.data;
    *cap = e.sb.alloc;
    if (rc) {
        errno = e.too_big ? EMSGSIZE : ENOMEM;
        return -1;
    }
    *len = e.sb.size;
    return 0;
}

/* ---- helpers for owned messages (not part of the codec) ---------------------------------- */

void msg_action_release(msg_action *a)
{
    free((char *)a->name);
    free((char *)a->target);
    free((char *)a->description);
    for (size_t j = 0; j < a->n_params; j++) {
        free((char *)a->params[j].key);
        free((char *)a->params[j].value);
    }
    free((msg_kv *)a->params);
}

json_t *msg_measures_object(const msg_measure *m, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++)
        if (m[i].name)
            json_object_set_new(o, m[i].name, isfinite(m[i].value) ? json_real(m[i].value) : json_null());
    return o;
}

/* The common case — plain names, none twice — written straight (the engine makes one per step);
 * anything else as the jansson object would have it: a name given twice keeps its first place
 * and its last value, a name jansson refuses is left out. */
static char *measures_plain(const msg_measure *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!m[i].name)
            continue;
        if (!jb_plain(m[i].name, strlen(m[i].name)))
            return NULL;
        for (size_t k = i + 1; k < n; k++)
            if (m[k].name && strcmp(m[i].name, m[k].name) == 0)
                return NULL;
    }
    /* Sized for the worst case up front: jsonbuf's first block is 1 KiB, and a request that
     * large makes glibc consolidate its fast bins, 4 % of the engine thread at one call per
     * step. Per measurement: a comma, the quoted name, a colon, at most 39 bytes of number. */
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        if (m[i].name)
            cap += strlen(m[i].name) + 4 + 40;
    jsonbuf b = { .buf = malloc(cap), .cap = cap };
    if (!b.buf)
        return NULL;
    int bad = JB_LIT(&b, "{");
    const char *sep = "";
    for (size_t i = 0; i < n && !bad; i++) {
        if (!m[i].name)
            continue;
        bad = jb_put(&b, sep, strlen(sep)) || jb_str(&b, m[i].name) || JB_LIT(&b, ":") ||
              (isfinite(m[i].value) ? jb_real(&b, m[i].value) : JB_LIT(&b, "null"));
        sep = ",";
    }
    if (bad || JB_LIT(&b, "}") || !jb_cstr(&b)) {
        jb_free(&b);
        return NULL;
    }
    return b.buf;
}

char *msg_measures_json(const msg_measure *m, size_t n)
{
    char *fast = measures_plain(m, n);
    if (fast)
        return fast;
    json_t *o = msg_measures_object(m, n);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}
