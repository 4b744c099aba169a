/* Detection accuracy: COCO-style average precision over per-frame detections
 * and ground truth.
 *
 * Matching follows pycocotools' COCOeval (bbox, area range "all"): per frame
 * and class, detections are sorted by score (stable) and cut to the best
 * EVAL_MAX_DETS; each in turn takes the unmatched ground-truth box with the
 * highest IoU >= threshold; each ground-truth box is matched once. AP uses
 * COCO's 101-point interpolation (recall 0, .01, ..., 1 on the monotone
 * precision envelope) for every threshold, mAP@0.5 included, so the numbers
 * are consistent. Classes without ground truth are left out of the means. */
#ifndef EDGECAM_EVAL_EVAL_H
#define EDGECAM_EVAL_EVAL_H

#include "core/det.h"
#include "core/err.h"

#include <stdint.h>

enum { EVAL_MAX_DETS = 100, EVAL_COCO_THRESHOLDS = 10 };

typedef struct eval_acc eval_acc;

/* Counts at one IoU and score threshold. */
struct eval_pr {
    long tp, fp, fn;
    double precision; /* tp / (tp + fp); 1 when there is no detection */
    double recall;    /* tp / (tp + fn); 1 when there is no ground truth */
};

eval_acc *eval_create(int num_classes);
void eval_destroy(eval_acc *acc);
/* Copies one frame's detections and ground truth (either may be NULL = empty).
 * -1 on a class id out of range, a degenerate or non-finite box, or no memory. */
int eval_add_frame(eval_acc *acc, const struct det_list *dets, const struct det_list *gt, ec_err *err);
int eval_num_frames(const eval_acc *acc);
int eval_num_classes(const eval_acc *acc);
/* Ground-truth boxes of a class seen so far. */
long eval_num_gt(const eval_acc *acc, int cls);

/* AP of one class at IoU `iou`; -1 when the class has no ground truth. */
double eval_ap(const eval_acc *acc, int cls, double iou);
/* Mean AP over classes with ground truth at one IoU (0.5: mAP@0.5); -1 if none. */
double eval_map(const eval_acc *acc, double iou);
/* COCO mAP@[.5:.95]: mean over the 10 thresholds .5, .55, ..., .95; -1 if no ground truth. */
double eval_map_coco(const eval_acc *acc);
/* The COCO thresholds, as numpy's linspace(.5, .95, 10) makes them. */
double eval_coco_threshold(int i);
/* Precision/recall of detections with score >= min_score (greedy COCO matching);
 * cls < 0 sums over every class. Returns 0, or -1 (bad class, no memory). */
int eval_pr_at(const eval_acc *acc, int cls, double iou, float min_score, struct eval_pr *out,
               ec_err *err);

/* ---- scoring a results store (store/store.h) ---- */
typedef struct store store;

/* Adds frames [first, first + n) of one edge from a results store, each scored by the answer
 * the edge gave: its own detections, or its key frame's for a Ref. gt[i] is the ground truth
 * of frame first + i. A frame without a row is an error (every frame read has one). */
int eval_add_stored(eval_acc *acc, store *st, const char *edge_id, int64_t first, int64_t n,
                    const struct det_list *gt, ec_err *err);

#endif
