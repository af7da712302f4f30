/* table.c — linear-probing hash maps with tombstone-free deletion (backward shift), grown at 3/4
 * load. FNV-1a for strings, a 64-bit mix for integers. */
#include "table.h"

#include <stdlib.h>
#include <string.h>

typedef struct sentry {
    char *key;           /* NULL = empty */
    size_t klen;
    uint64_t hash;
    void *value;
} sentry;

struct strmap {
    sentry *v;
    size_t cap, n;
};

static uint64_t fnv1a(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 1099511628211ULL;
    }
    return h;
}

strmap *strmap_new(void)
{
    strmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 16;
    m->v = calloc(m->cap, sizeof *m->v);
    if (!m->v) {
        free(m);
        return NULL;
    }
    return m;
}

void strmap_free(strmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->v[i].key);
    free(m->v);
    free(m);
}

static size_t sfind(const strmap *m, const char *key, size_t klen, uint64_t h)
{
    size_t mask = m->cap - 1, i = h & mask;
    while (m->v[i].key) {
        if (m->v[i].hash == h && m->v[i].klen == klen && memcmp(m->v[i].key, key, klen) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static int sgrow(strmap *m)
{
    size_t ncap = m->cap * 2;
    sentry *nv = calloc(ncap, sizeof *nv);
    if (!nv)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->v[i].key)
            continue;
        size_t j = m->v[i].hash & (ncap - 1);
        while (nv[j].key)
            j = (j + 1) & (ncap - 1);
        nv[j] = m->v[i];
    }
    free(m->v);
    m->v = nv;
    m->cap = ncap;
    return 0;
}

int strmap_put(strmap *m, const char *key, size_t klen, void *value)
{
    if ((m->n + 1) * 4 > m->cap * 3 && sgrow(m) < 0)
        return -1;
    uint64_t h = fnv1a(key, klen);
    size_t i = sfind(m, key, klen, h);
    if (m->v[i].key) {
        m->v[i].value = value;
        return 0;
    }
    char *k = malloc(klen + 1);
    if (!k)
        return -1;
    memcpy(k, key, klen);
    k[klen] = '\0';
    m->v[i] = (sentry){ k, klen, h, value };
    m->n++;
    return 0;
}

void *strmap_get(const strmap *m, const char *key, size_t klen)
{
    size_t i = sfind(m, key, klen, fnv1a(key, klen));
    return m->v[i].key ? m->v[i].value : NULL;
}

void *strmap_del(strmap *m, const char *key, size_t klen)
{
    size_t i = sfind(m, key, klen, fnv1a(key, klen));
    if (!m->v[i].key)
        return NULL;
    void *val = m->v[i].value;
    free(m->v[i].key);
    m->v[i].key = NULL;
    m->n--;
    /* Backward-shift the cluster so lookups never need tombstones. */
    size_t mask = m->cap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->v[j].key)
            break;
        size_t home = m->v[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->v[i] = m->v[j];
            m->v[j].key = NULL;
            i = j;
        }
    }
    return val;
}

size_t strmap_count(const strmap *m) { return m->n; }

int strmap_next(const strmap *m, size_t *i, const char **key, size_t *klen, void **value)
{
    while (*i < m->cap) {
        sentry *e = &m->v[(*i)++];
        if (e->key) {
            if (key) *key = e->key;
            if (klen) *klen = e->klen;
            if (value) *value = e->value;
            return 1;
        }
    }
    return 0;
}

typedef struct uentry {
    uint64_t key;
    void *value;         /* NULL = empty: values are never NULL */
} uentry;

struct u64map {
    uentry *v;
    size_t cap, n;
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

u64map *u64map_new(void)
{
    u64map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 16;
    m->v = calloc(m->cap, sizeof *m->v);
    if (!m->v) {
        free(m);
        return NULL;
    }
    return m;
}

void u64map_free(u64map *m)
{
    if (!m)
        return;
    free(m->v);
    free(m);
}

static size_t ufind(const u64map *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = mix64(key) & mask;
    while (m->v[i].value && m->v[i].key != key)
        i = (i + 1) & mask;
    return i;
}

int u64map_put(u64map *m, uint64_t key, void *value)
{
    if (!value)
        return -1;
    if ((m->n + 1) * 4 > m->cap * 3) {
        size_t ncap = m->cap * 2;
        uentry *nv = calloc(ncap, sizeof *nv);
        if (!nv)
            return -1;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->v[i].value)
                continue;
            size_t j = mix64(m->v[i].key) & (ncap - 1);
            while (nv[j].value)
                j = (j + 1) & (ncap - 1);
            nv[j] = m->v[i];
        }
        free(m->v);
        m->v = nv;
        m->cap = ncap;
    }
    size_t i = ufind(m, key);
    if (!m->v[i].value)
        m->n++;
    m->v[i] = (uentry){ key, value };
    return 0;
}

void *u64map_get(const u64map *m, uint64_t key)
{
    return m->v[ufind(m, key)].value;
}

void *u64map_del(u64map *m, uint64_t key)
{
    size_t i = ufind(m, key);
    if (!m->v[i].value)
        return NULL;
    void *val = m->v[i].value;
    m->v[i].value = NULL;
    m->n--;
    size_t mask = m->cap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->v[j].value)
            break;
        size_t home = mix64(m->v[j].key) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->v[i] = m->v[j];
            m->v[j].value = NULL;
            i = j;
        }
    }
    return val;
}

size_t u64map_count(const u64map *m) { return m->n; }

int u64map_next(const u64map *m, size_t *i, uint64_t *key, void **value)
{
    while (*i < m->cap) {
        uentry *e = &m->v[(*i)++];
        if (e->value) {
            if (key) *key = e->key;
            if (value) *value = e->value;
            return 1;
        }
    }
    return 0;
}
