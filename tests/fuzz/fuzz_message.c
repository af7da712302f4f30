/* fuzz_message.c — libFuzzer target for the bus decoder: any bytes either decode or are refused
 * with a reason, and whatever decodes re-encodes to a message that decodes to the same thing
 * and re-encodes to the same bytes (the codec has one canonical form). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

static int same_str(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static int same_dbl(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static int same_measures(const msg_measure *a, size_t na, const msg_measure *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!same_str(a[i].name, b[i].name) || !same_dbl(a[i].value, b[i].value))
            return 0;
    return 1;
}

static int same_kvs(const msg_kv *a, size_t na, const msg_kv *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!same_str(a[i].key, b[i].key) || !same_str(a[i].value, b[i].value))
            return 0;
    return 1;
}

static int same_msg(const msg *a, const msg *b)
{
    if (a->kind != b->kind || a->seq != b->seq || !same_str(a->plugin, b->plugin) ||
        !same_str(a->from, b->from) || a->has_issue != b->has_issue || a->code != b->code ||
        !same_str(a->text, b->text) || !same_str(a->method, b->method) ||
        !same_dbl(a->duration, b->duration) ||
        !same_measures(a->measures, a->n_measures, b->measures, b->n_measures) ||
        !same_kvs(a->args, a->n_args, b->args, b->n_args) || a->n_actions != b->n_actions)
        return 0;
    const msg_issue *x = &a->issue, *y = &b->issue;
    if (x->id != y->id || !same_str(x->type, y->type) || x->severity != y->severity ||
        !same_str(x->target, y->target) || !same_str(x->summary, y->summary) ||
        !same_str(x->plugin, y->plugin) || !same_dbl(x->time, y->time) ||
        !same_measures(x->measures, x->n_measures, y->measures, y->n_measures) ||
        x->n_components != y->n_components)
        return 0;
    for (size_t i = 0; i < x->n_components; i++)
        if (!same_str(x->components[i], y->components[i]))
            return 0;
    for (size_t i = 0; i < a->n_actions; i++) {
        const msg_action *p = &a->actions[i], *q = &b->actions[i];
        if (!same_str(p->plugin, q->plugin) || !same_str(p->name, q->name) ||
            !same_str(p->target, q->target) || !same_str(p->description, q->description) ||
            p->step != q->step || !same_dbl(p->impact, q->impact) ||
            !same_dbl(p->confidence, q->confidence) || p->flags != q->flags ||
            !same_kvs(p->params, p->n_params, q->params, q->n_params))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msg m1, m2;
    char err[256];
    if (msg_decode(data, size, &m1, err, sizeof err) != 0) {
        if (err[0] == '\0')
            abort(); /* every refusal must say why */
        return 0;
    }
    char *b1, *b2;
    size_t l1, l2;
    if (msg_encode(&m1, &b1, &l1) != 0) {
        /* A decoded message is within every limit, so it encodes, except that an input just
         * under 1 MiB can grow past it: numbers are re-encoded canonically (an int for a float
         * becomes a 9-byte float64), at most a few hundred of them. */
        if (errno == EMSGSIZE && size > (1u << 20) - 4096) {
            msg_free(&m1);
            return 0;
        }
        abort();
    }
    if (msg_decode(b1, l1, &m2, err, sizeof err) != 0)
        abort(); /* and what the encoder writes always decodes */
    if (!same_msg(&m1, &m2))
        abort();
    if (msg_encode(&m2, &b2, &l2) != 0 || l1 != l2 || memcmp(b1, b2, l1) != 0)
        abort();
    free(b1);
    free(b2);
    msg_free(&m1);
    msg_free(&m2);
    return 0;
}
