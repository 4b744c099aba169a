/* COCO-style AP. Every frame's boxes are copied and grouped by class once, so
 * any IoU threshold can be evaluated later without the caller keeping data.
 * Arithmetic mirrors pycocotools (float64 IoU from the stored floats,
 * precision = tp / (tp + fp + eps), searchsorted-left recall lookup) so the
 * numbers agree with it to rounding. */
#include "eval/eval.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_RECALL_POINTS 101

struct eval_frame {
    struct det *dets; /* grouped by class, best score first within a class */
    struct det *gts;  /* grouped by class, input order within a class */
    int *dets_at;     /* [num_classes + 1] start of each class in dets */
    int *gts_at;      /* [num_classes + 1] start of each class in gts */
};

struct eval_acc {
    int num_classes;
    struct eval_frame *frames;
    int nframes, cap;
    long *num_gt; /* per class */
};

/* One detection of a class after matching, for the cross-frame ranking. */
struct ranked {
    float score;
    int frame, rank; /* rank within its frame: the stable tie-break COCO uses */
    int tp;
};

eval_acc *eval_create(int num_classes)
{
    if (num_classes <= 0 || num_classes > 100000)
        return NULL;
    eval_acc *acc = calloc(1, sizeof *acc);
    if (!acc)
        return NULL;
    acc->num_classes = num_classes;
    acc->num_gt = calloc((size_t)num_classes, sizeof *acc->num_gt);
    if (!acc->num_gt) {
        free(acc);
        return NULL;
    }
    return acc;
}

static void frame_free(struct eval_frame *f)
{
    free(f->dets);
    free(f->gts);
    free(f->dets_at);
    free(f->gts_at);
}

void eval_destroy(eval_acc *acc)
{
    if (!acc)
        return;
    for (int i = 0; i < acc->nframes; i++)
        frame_free(&acc->frames[i]);
    free(acc->frames);
    free(acc->num_gt);
    free(acc);
}

int eval_num_frames(const eval_acc *acc) { return acc->nframes; }
int eval_num_classes(const eval_acc *acc) { return acc->num_classes; }

long eval_num_gt(const eval_acc *acc, int cls)
{
    return (cls >= 0 && cls < acc->num_classes) ? acc->num_gt[cls] : 0;
}

static int check_boxes(const struct det_list *l, int num_classes, const char *what, ec_err *err)
{
    for (int i = 0; l && i < l->n; i++) {
        const struct det *d = &l->v[i];
        if (d->cls < 0 || d->cls >= num_classes)
            return ec_err_set(err, EC_EINVAL, "%s box %d: class %d out of range [0,%d)", what, i,
                              d->cls, num_classes);
        if (!isfinite(d->x1) || !isfinite(d->y1) || !isfinite(d->x2) || !isfinite(d->y2) ||
            !isfinite(d->score))
            return ec_err_set(err, EC_EINVAL, "%s box %d: non-finite value", what, i);
        if (d->x2 < d->x1 || d->y2 < d->y1)
            return ec_err_set(err, EC_EINVAL, "%s box %d: x2 < x1 or y2 < y1", what, i);
    }
    return 0;
}

/* Sort key for grouping: class, then (detections only) score descending,
 * then input index, which makes the sort stable like numpy's mergesort. */
struct keyed {
    struct det d;
    int index;
    int by_score;
};

static int keyed_cmp(const void *pa, const void *pb)
{
    const struct keyed *a = pa, *b = pb;
    if (a->d.cls != b->d.cls)
        return a->d.cls < b->d.cls ? -1 : 1;
    if (a->by_score && a->d.score != b->d.score)
        return a->d.score > b->d.score ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* Copies `l` grouped by class into *out and fills at[num_classes + 1]. */
static int group_by_class(const struct det_list *l, int num_classes, int by_score,
                          struct det **out, int **at)
{
    int n = l ? l->n : 0;
    *out = NULL;
    *at = calloc((size_t)num_classes + 1, sizeof **at);
    if (!*at)
        return -1;
    if (n == 0)
        return 0;
    struct keyed *k = malloc((size_t)n * sizeof *k);
    *out = malloc((size_t)n * sizeof **out);
    if (!k || !*out) {
        free(k);
        return -1;
    }
    for (int i = 0; i < n; i++)
        k[i] = (struct keyed){l->v[i], i, by_score};
    qsort(k, (size_t)n, sizeof *k, keyed_cmp);
    for (int i = 0; i < n; i++) {
        (*out)[i] = k[i].d;
        (*at)[k[i].d.cls + 1]++;
    }
    for (int c = 0; c < num_classes; c++)
        (*at)[c + 1] += (*at)[c];
    free(k);
    return 0;
}

int eval_add_frame(eval_acc *acc, const struct det_list *dets, const struct det_list *gt, ec_err *err)
{
    if (check_boxes(dets, acc->num_classes, "detection", err) ||
        check_boxes(gt, acc->num_classes, "ground-truth", err))
        return -1;
    if (acc->nframes == acc->cap) {
        int cap = acc->cap ? acc->cap * 2 : 64;
        struct eval_frame *f = realloc(acc->frames, (size_t)cap * sizeof *f);
        if (!f)
            return ec_err_set(err, EC_ENOMEM, "eval: out of memory");
        acc->frames = f;
        acc->cap = cap;
    }
    struct eval_frame f = {0};
    if (group_by_class(dets, acc->num_classes, 1, &f.dets, &f.dets_at) ||
        group_by_class(gt, acc->num_classes, 0, &f.gts, &f.gts_at)) {
        frame_free(&f);
        return ec_err_set(err, EC_ENOMEM, "eval: out of memory");
    }
    for (int c = 0; c < acc->num_classes; c++)
        acc->num_gt[c] += f.gts_at[c + 1] - f.gts_at[c];
    acc->frames[acc->nframes++] = f;
    return 0;
}

/* IoU in double, with the same operation order as the Python reference. */
static double box_iou(const struct det *a, const struct det *b)
{
    double iw = fmin((double)a->x2, (double)b->x2) - fmax((double)a->x1, (double)b->x1);
    double ih = fmin((double)a->y2, (double)b->y2) - fmax((double)a->y1, (double)b->y1);
    if (iw <= 0 || ih <= 0)
        return 0.0;
    double inter = iw * ih;
    double area_a = ((double)a->x2 - (double)a->x1) * ((double)a->y2 - (double)a->y1);
    double area_b = ((double)b->x2 - (double)b->x1) * ((double)b->y2 - (double)b->y1);
    double uni = area_a + area_b - inter;
    return uni > 0 ? inter / uni : 0.0;
}

/* Greedy COCO matching of one frame and class: each detection (best first)
 * takes the unmatched ground truth with the highest IoU >= iou (ties: the
 * later one, as COCOeval). Writes tp[i] for each detection. */
static void match_frame(const struct det *d, int nd, const struct det *g, int ng, double iou,
                        unsigned char *gt_used, int *tp)
{
    memset(gt_used, 0, (size_t)ng);
    double floor_iou = fmin(iou, 1 - 1e-10);
    for (int i = 0; i < nd; i++) {
        double best = floor_iou;
        int m = -1;
        for (int j = 0; j < ng; j++) {
            if (gt_used[j])
                continue;
            double v = box_iou(&d[i], &g[j]);
            if (v < best)
                continue;
            best = v;
            m = j;
        }
        tp[i] = m >= 0;
        if (m >= 0)
            gt_used[m] = 1;
    }
}

static int ranked_cmp(const void *pa, const void *pb)
{
    const struct ranked *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->frame != b->frame)
        return a->frame < b->frame ? -1 : 1;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

/* Matches every frame of class `cls`; returns the detections (kept after the
 * per-frame EVAL_MAX_DETS cut) in a new array, count in *n; NULL + n=-1 on OOM. */
static struct ranked *match_class(const eval_acc *acc, int cls, double iou, int *n)
{
    long total = 0;
    int max_gt = 1, max_dt = 1;
    for (int f = 0; f < acc->nframes; f++) {
        const struct eval_frame *fr = &acc->frames[f];
        int nd = fr->dets_at[cls + 1] - fr->dets_at[cls];
        int ng = fr->gts_at[cls + 1] - fr->gts_at[cls];
        if (nd > EVAL_MAX_DETS)
            nd = EVAL_MAX_DETS;
        total += nd;
        if (ng > max_gt)
            max_gt = ng;
        if (nd > max_dt)
            max_dt = nd;
    }
    struct ranked *r = malloc((size_t)(total ? total : 1) * sizeof *r);
    unsigned char *used = malloc((size_t)max_gt);
    int *tp = malloc((size_t)max_dt * sizeof *tp);
    if (!r || !used || !tp) {
        free(r);
        free(used);
        free(tp);
        *n = -1;
        return NULL;
    }
    int k = 0;
    for (int f = 0; f < acc->nframes; f++) {
        const struct eval_frame *fr = &acc->frames[f];
        const struct det *d = fr->dets + fr->dets_at[cls];
        const struct det *g = fr->gts + fr->gts_at[cls];
        int nd = fr->dets_at[cls + 1] - fr->dets_at[cls];
        int ng = fr->gts_at[cls + 1] - fr->gts_at[cls];
        if (nd > EVAL_MAX_DETS)
            nd = EVAL_MAX_DETS;
        match_frame(d, nd, g, ng, iou, used, tp);
        for (int i = 0; i < nd; i++)
            r[k++] = (struct ranked){d[i].score, f, i, tp[i]};
    }
    free(used);
    free(tp);
    qsort(r, (size_t)k, sizeof *r, ranked_cmp);
    *n = k;
    return r;
}

double eval_ap(const eval_acc *acc, int cls, double iou)
{
    if (cls < 0 || cls >= acc->num_classes || acc->num_gt[cls] == 0)
        return -1;
    int n;
    struct ranked *r = match_class(acc, cls, iou, &n);
    if (n <= 0) {
        free(r);
        return n == 0 ? 0.0 : -1;
    }
    double *rc = malloc((size_t)n * sizeof *rc), *pr = malloc((size_t)n * sizeof *pr);
    if (!rc || !pr) {
        free(r);
        free(rc);
        free(pr);
        return -1;
    }
    double tp = 0, fp = 0, npig = (double)acc->num_gt[cls];
    for (int i = 0; i < n; i++) {
        if (r[i].tp)
            tp += 1;
        else
            fp += 1;
        rc[i] = tp / npig;
        pr[i] = tp / (fp + tp + DBL_EPSILON);
    }
    free(r);
    for (int i = n - 1; i > 0; i--) /* monotone precision envelope */
        if (pr[i] > pr[i - 1])
            pr[i - 1] = pr[i];
    /* 101 recall points as numpy's linspace(0, 1, 101); for each, the first
     * detection reaching that recall (searchsorted 'left'), else precision 0. */
    double sum = 0;
    int j = 0;
    for (int p = 0; p < EVAL_RECALL_POINTS; p++) {
        double rt = p == EVAL_RECALL_POINTS - 1 ? 1.0 : p * (1.0 / (EVAL_RECALL_POINTS - 1));
        while (j < n && rc[j] < rt)
            j++;
        if (j < n)
            sum += pr[j];
    }
    free(rc);
    free(pr);
    return sum / EVAL_RECALL_POINTS;
}

double eval_map(const eval_acc *acc, double iou)
{
    double sum = 0;
    int n = 0;
    for (int c = 0; c < acc->num_classes; c++) {
        if (acc->num_gt[c] == 0)
            continue;
        double ap = eval_ap(acc, c, iou);
        if (ap < 0)
            return -1;
        sum += ap;
        n++;
    }
    return n ? sum / n : -1;
}

double eval_coco_threshold(int i)
{
    if (i >= EVAL_COCO_THRESHOLDS - 1)
        return 0.95;
    double step = (0.95 - 0.5) / (EVAL_COCO_THRESHOLDS - 1);
    return i * step + 0.5;
}

double eval_map_coco(const eval_acc *acc)
{
    double sum = 0;
    for (int t = 0; t < EVAL_COCO_THRESHOLDS; t++) {
        double m = eval_map(acc, eval_coco_threshold(t));
        if (m < 0)
            return -1;
        sum += m;
    }
    return sum / EVAL_COCO_THRESHOLDS;
}

static int pr_class(const eval_acc *acc, int cls, double iou, float min_score, struct eval_pr *out)
{
    int max_gt = 1;
    for (int f = 0; f < acc->nframes; f++) {
        const struct eval_frame *fr = &acc->frames[f];
        if (fr->gts_at[cls + 1] - fr->gts_at[cls] > max_gt)
            max_gt = fr->gts_at[cls + 1] - fr->gts_at[cls];
    }
    unsigned char *gt_used = malloc((size_t)max_gt);
    if (!gt_used)
        return -1;
    for (int f = 0; f < acc->nframes; f++) {
        const struct eval_frame *fr = &acc->frames[f];
        const struct det *d = fr->dets + fr->dets_at[cls];
        const struct det *g = fr->gts + fr->gts_at[cls];
        int nd = fr->dets_at[cls + 1] - fr->dets_at[cls];
        int ng = fr->gts_at[cls + 1] - fr->gts_at[cls];
        if (nd > EVAL_MAX_DETS)
            nd = EVAL_MAX_DETS;
        while (nd > 0 && d[nd - 1].score < min_score) /* sorted best first */
            nd--;
        int tp[EVAL_MAX_DETS];
        match_frame(d, nd, g, ng, iou, gt_used, tp);
        long m = 0;
        for (int i = 0; i < nd; i++)
            m += tp[i];
        out->tp += m;
        out->fp += nd - m;
        out->fn += ng - m;
    }
    free(gt_used);
    return 0;
}

int eval_pr_at(const eval_acc *acc, int cls, double iou, float min_score, struct eval_pr *out, ec_err *err)
{
    *out = (struct eval_pr){0};
    if (cls >= acc->num_classes)
        return ec_err_set(err, EC_EINVAL, "eval: class %d out of range", cls);
    for (int c = 0; c < acc->num_classes; c++)
        if ((cls < 0 || c == cls) && pr_class(acc, c, iou, min_score, out))
            return ec_err_set(err, EC_ENOMEM, "eval: out of memory");
    out->precision = out->tp + out->fp ? (double)out->tp / (double)(out->tp + out->fp) : 1.0;
    out->recall = out->tp + out->fn ? (double)out->tp / (double)(out->tp + out->fn) : 1.0;
    return 0;
}
