/* preview.c — the sink of a previewed step's touches (preview.h): owned copies of what each
 * actuator call would touch, bounded, handed to the codec as borrowed msg_touch views. libc
 * only: healerd-plugin links it too (plughost.c). */
#include "preview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

preview_sink *preview_sink_new(void)
{
    return calloc(1, sizeof(preview_sink));
}

static void touch_release(msg_touch *t)
{
    free((char *)t->action);
    free((char *)t->kind);
    free((char *)t->text);
    free((char *)t->name);
    free((char *)t->path);
    free((char *)t->unit);
    free((char *)t->cgroup);
}

void preview_sink_free(preview_sink *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        touch_release(&s->v[i]);
    free(s->v);
    free(s);
}

msg_touch preview_touch_init(void)
{
    return (msg_touch){ .pid = -1, .uid = -1, .size = -1, .count = -1 };
}

/* A copy cut at PREVIEW_MAX_STR bytes, never inside a UTF-8 sequence (the codec refuses
 * invalid UTF-8 as text; a path that is not UTF-8 travels as bytes and is shown escaped). */
static char *cut_dup(const char *s, int *fail)
{
    if (!s)
        return NULL;
    size_t n = strnlen(s, PREVIEW_MAX_STR + 1);
    if (n > PREVIEW_MAX_STR) {
        n = PREVIEW_MAX_STR;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    char *d = malloc(n + 1);
    if (!d) {
        *fail = 1;
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

int preview_add(preview_sink *s, const msg_touch *t)
{
    if (!s || !t)
        return -1;
    if (s->n >= PREVIEW_MAX_TOUCHES) {
        s->dropped++;
        return -1;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        msg_touch *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv) {
            s->dropped++;
            return -1;
        }
        s->v = nv;
        s->cap = cap;
    }
    int fail = 0;
    msg_touch c = {
        .action = cut_dup(t->action, &fail), .kind = cut_dup(t->kind, &fail),
        .text = cut_dup(t->text, &fail), .name = cut_dup(t->name, &fail),
        .path = cut_dup(t->path, &fail), .unit = cut_dup(t->unit, &fail),
        .cgroup = cut_dup(t->cgroup, &fail),
        .pid = t->pid, .uid = t->uid, .size = t->size, .count = t->count,
    };
    if (fail) {
        touch_release(&c);
        s->dropped++;
        return -1;
    }
    s->v[s->n++] = c;
    return 0;
}

const msg_touch *preview_view(preview_sink *s, size_t *n, char note[160])
{
    *n = 0;
    if (!s)
        return NULL;
    if (s->dropped && s->n == s->cap) {
        msg_touch *nv = realloc(s->v, (s->cap + 1) * sizeof *nv);
        if (nv) {
            s->v = nv;
            s->cap++;
        }
    }
    *n = s->n;
    if (s->dropped && s->n < s->cap) {
        /* borrowed, not owned: not counted in s->n, so free never sees it */
        snprintf(note, 160, "and %llu more call(s) not listed", s->dropped);
        msg_touch t = preview_touch_init();
        t.kind = "other";
        t.text = note;
        t.count = (int64_t)s->dropped;
        s->v[s->n] = t;
        *n = s->n + 1;
    }
    return s->v;
}
