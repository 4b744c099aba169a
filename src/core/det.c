#include "core/det.h"

#include <stdlib.h>

int det_list_push(struct det_list *l, struct det d)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        struct det *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = d;
    return 0;
}

void det_list_clear(struct det_list *l) { l->n = 0; }

void det_list_free(struct det_list *l)
{
    free(l->v);
    *l = (struct det_list){0};
}

float det_area(const struct det *d)
{
    float w = d->x2 - d->x1, h = d->y2 - d->y1;
    return (w > 0 && h > 0) ? w * h : 0.0f;
}

float det_iou(const struct det *a, const struct det *b)
{
    struct det inter = {a->x1 > b->x1 ? a->x1 : b->x1, a->y1 > b->y1 ? a->y1 : b->y1,
                        a->x2 < b->x2 ? a->x2 : b->x2, a->y2 < b->y2 ? a->y2 : b->y2, 0, 0};
    float i = det_area(&inter);
    float u = det_area(a) + det_area(b) - i;
    return u > 0 ? i / u : 0.0f;
}
