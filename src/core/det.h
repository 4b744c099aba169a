/* Object detections, shared by nn (produces), store (records), eval (scores),
 * policy/edge (merges). Boxes are in pixels of the original frame. */
#ifndef EDGECAM_CORE_DET_H
#define EDGECAM_CORE_DET_H

#include <stddef.h>

struct det {
    float x1, y1, x2, y2; /* x1 < x2, y1 < y2 */
    float score;          /* 0..1; ground truth uses 1 */
    int cls;              /* class id, 0-based */
};

/* A growable array; owns `v`. Zero-initialise, then det_list_free when done. */
struct det_list {
    struct det *v;
    int n, cap;
};

int det_list_push(struct det_list *l, struct det d); /* 0, or -1 on out of memory */
void det_list_clear(struct det_list *l);             /* n = 0, keeps memory */
void det_list_free(struct det_list *l);
float det_area(const struct det *d);
float det_iou(const struct det *a, const struct det *b);

#endif
