/* Anchor-free detector on top of nn_model: letterbox input, per-cell objectness + classes +
 * log-distance box (l, t, r, b) head, centre-sampling target assignment, loss, decoding to
 * original-frame pixels, class-wise NMS. */
#include "nn/nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PAD_VALUE 0.5f
#define LOG_DIST_MAX 8.0f    /* exp(8) * stride is far beyond any frame */
#define CENTER_RADIUS 1.5f  /* positive cells lie within this many cells of a box centre */
#define NMS_IOU 0.5f

struct detector {
    nn_model *m;
    int num_classes, stride;
};

/* Letterbox geometry: frame pixel = (model pixel - pad) / scale. */
struct letterbox {
    float scale;
    int pad_x, pad_y, new_w, new_h;
};

static struct letterbox letterbox_for(const nn_model *m, int w, int h)
{
    struct letterbox lb;
    lb.scale = fminf((float)m->in_w / (float)w, (float)m->in_h / (float)h);
    lb.new_w = (int)lrintf((float)w * lb.scale);
    lb.new_h = (int)lrintf((float)h * lb.scale);
    lb.new_w = lb.new_w < 1 ? 1 : lb.new_w > m->in_w ? m->in_w : lb.new_w;
    lb.new_h = lb.new_h < 1 ? 1 : lb.new_h > m->in_h ? m->in_h : lb.new_h;
    lb.pad_x = (m->in_w - lb.new_w) / 2;
    lb.pad_y = (m->in_h - lb.new_h) / 2;
    return lb;
}

/* Bilinear resize of an RGB frame into one NHWC image of `dst` (values 0..1), padded. */
static void letterbox_image(const nn_model *m, const image *src, const struct letterbox *lb,
                            float *dst)
{
    int W = m->in_w, H = m->in_h;
    for (size_t i = 0; i < (size_t)W * H * 3; i++)
        dst[i] = PAD_VALUE;
    float sx = (float)src->w / (float)lb->new_w, sy = (float)src->h / (float)lb->new_h;
    for (int y = 0; y < lb->new_h; y++) {
        float fy = fmaxf(((float)y + 0.5f) * sy - 0.5f, 0.0f);
        int y0 = (int)fy, y1 = y0 + 1 < src->h ? y0 + 1 : src->h - 1;
        float wy = fy - (float)y0;
        const uint8_t *r0 = image_row(src, y0), *r1 = image_row(src, y1);
        float *out = dst + ((size_t)(y + lb->pad_y) * W + lb->pad_x) * 3;
        for (int x = 0; x < lb->new_w; x++) {
            float fx = fmaxf(((float)x + 0.5f) * sx - 0.5f, 0.0f);
            int x0 = (int)fx, x1 = x0 + 1 < src->w ? x0 + 1 : src->w - 1;
            float wx = fx - (float)x0;
            for (int c = 0; c < 3; c++) {
                float top = r0[x0 * 3 + c] * (1 - wx) + r0[x1 * 3 + c] * wx;
                float bot = r1[x0 * 3 + c] * (1 - wx) + r1[x1 * 3 + c] * wx;
                out[x * 3 + c] = (top * (1 - wy) + bot * wy) * (1.0f / 255.0f);
            }
        }
    }
}

static int check_frame(const detector *d, const image *img, ec_err *err)
{
    if (!img || !img->data || img->c != 3 || img->w < 1 || img->h < 1 ||
        img->w > IMAGE_MAX_DIM || img->h > IMAGE_MAX_DIM || img->stride < img->w * 3)
        return ec_err_set(err, EC_EINVAL, "detector needs an RGB frame up to %d pixels",
                          IMAGE_MAX_DIM);
    if (d->m->in_c != 3)
        return ec_err_set(err, EC_EINVAL, "model input is not RGB");
    return 0;
}

detector *detector_from_model(nn_model *m, ec_err *err)
{
    if (!m)
        return NULL;
    if (m->num_classes < 1) {
        ec_err_set(err, EC_EFORMAT, "model is not a detector (no num_classes)");
        nn_model_destroy(m);
        return NULL;
    }
    detector *d = calloc(1, sizeof *d);
    if (!d) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        nn_model_destroy(m);
        return NULL;
    }
    d->m = m;
    d->num_classes = m->num_classes;
    d->stride = m->in_w / m->layers[m->nlayers - 1].w;
    return d;
}

detector *detector_load(const char *path, ec_err *err)
{
    nn_model *m = nn_model_load(path, err);
    return m ? detector_from_model(m, err) : NULL;
}

detector *detector_load_buffer(const void *buf, size_t len, ec_err *err)
{
    nn_model *m = nn_model_load_buffer(buf, len, err);
    return m ? detector_from_model(m, err) : NULL;
}

detector *detector_clone(const detector *d, ec_err *err)
{
    nn_model *m = nn_model_clone(d->m, err);
    return m ? detector_from_model(m, err) : NULL;
}

int detector_save(const detector *d, const char *path, ec_err *err)
{
    return nn_model_save(d->m, path, err);
}

void detector_destroy(detector *d)
{
    if (!d)
        return;
    nn_model_destroy(d->m);
    free(d);
}

nn_model *detector_model(detector *d) { return d->m; }
int detector_num_classes(const detector *d) { return d->num_classes; }

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

static int cmp_score_desc(const void *a, const void *b)
{
    float x = ((const struct det *)a)->score, y = ((const struct det *)b)->score;
    return x > y ? -1 : x < y;
}

void nn_nms(struct det_list *l, float iou_thresh)
{
    if (l->n < 2)
        return;
    qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_score_desc);
    int kept = 0;
    for (int i = 0; i < l->n; i++) {
        int keep = 1;
        for (int k = 0; k < kept && keep; k++)
            keep = !(l->v[k].cls == l->v[i].cls && det_iou(&l->v[k], &l->v[i]) > iou_thresh);
        if (keep)
            l->v[kept++] = l->v[i];
    }
    l->n = kept;
}

/* Decodes one image's head output (gh x gw x (5 + nc)) into frame-pixel boxes. */
static int decode(const detector *d, const float *head, int gh, int gw,
                  const struct letterbox *lb, int fw, int fh, float thresh,
                  struct det_list *out)
{
    int nc = d->num_classes, ch = 5 + nc;
    float s = (float)d->stride;
    for (int gy = 0; gy < gh; gy++)
        for (int gx = 0; gx < gw; gx++) {
            const float *p = head + ((size_t)gy * gw + gx) * ch;
            int best = 0;
            for (int c = 1; c < nc; c++)
                if (p[1 + c] > p[1 + best])
                    best = c;
            float score = sigmoidf(p[0]) * sigmoidf(p[1 + best]);
            if (!(score >= thresh))
                continue;
            float cx = ((float)gx + 0.5f) * s, cy = ((float)gy + 0.5f) * s;
            const float *r = p + 1 + nc;
            float dist[4];
            for (int k = 0; k < 4; k++)
                dist[k] = expf(fminf(fmaxf(r[k], -LOG_DIST_MAX), LOG_DIST_MAX)) * s;
            struct det b = {
                .x1 = fmaxf((cx - dist[0] - (float)lb->pad_x) / lb->scale, 0.0f),
                .y1 = fmaxf((cy - dist[1] - (float)lb->pad_y) / lb->scale, 0.0f),
                .x2 = fminf((cx + dist[2] - (float)lb->pad_x) / lb->scale, (float)fw),
                .y2 = fminf((cy + dist[3] - (float)lb->pad_y) / lb->scale, (float)fh),
                .score = score,
                .cls = best,
            };
            if (b.x2 > b.x1 && b.y2 > b.y1 && det_list_push(out, b))
                return -1;
        }
    return 0;
}

int detector_run(const detector *d, const image *rgb, float score_thresh, struct det_list *out,
                 ec_err *err)
{
    if (check_frame(d, rgb, err))
        return -1;
    const nn_model *m = d->m;
    nn_tensor *in = nn_tensor_create(1, m->in_h, m->in_w, 3);
    if (!in)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    struct letterbox lb = letterbox_for(m, rgb->w, rgb->h);
    letterbox_image(m, rgb, &lb, in->data);
    nn_tensor *head = nn_model_forward(m, in, err);
    nn_tensor_destroy(in);
    if (!head)
        return -1;
    struct det_list found = {0};
    int rc = decode(d, head->data, head->h, head->w, &lb, rgb->w, rgb->h, score_thresh, &found);
    nn_tensor_destroy(head);
    if (rc == 0) {
        nn_nms(&found, NMS_IOU);
        for (int i = 0; rc == 0 && i < found.n; i++)
            rc = det_list_push(out, found.v[i]);
    }
    det_list_free(&found);
    return rc ? ec_err_set(err, EC_ENOMEM, "out of memory") : 0;
}

/* Ground-truth box (model pixels) responsible for cell (gx, gy), or -1. Cells whose centre is
 * inside a box and near its centre are positive; the box's own centre cell always is. Among
 * several boxes the smallest wins. */
static int assign_cell(const struct det_list *gt, int gx, int gy, float s)
{
    float cx = ((float)gx + 0.5f) * s, cy = ((float)gy + 0.5f) * s;
    int best = -1;
    float best_area = INFINITY;
    for (int i = 0; i < gt->n; i++) {
        const struct det *b = &gt->v[i];
        float bx = 0.5f * (b->x1 + b->x2), by = 0.5f * (b->y1 + b->y2);
        int centre_cell = (int)floorf(bx / s) == gx && (int)floorf(by / s) == gy;
        int inside = cx > b->x1 && cx < b->x2 && cy > b->y1 && cy < b->y2;
        int near = fabsf(cx - bx) <= CENTER_RADIUS * s && fabsf(cy - by) <= CENTER_RADIUS * s;
        if ((centre_cell || (inside && near)) && det_area(b) < best_area) {
            best = i;
            best_area = det_area(b);
        }
    }
    return best;
}

static float bce_logit(float x, float t, float *grad)
{
    *grad = sigmoidf(x) - t;
    /* log(1 + exp(-|x|)) + max(x, 0) - x t, stable for large |x| */
    return log1pf(expf(-fabsf(x))) + fmaxf(x, 0.0f) - x * t;
}

float nn_head_loss(const nn_tensor *head, int stride, int num_classes,
                   const struct det_list gts[], nn_tensor *grad)
{
    int ch = 5 + num_classes;
    if (num_classes < 1 || num_classes > 64 || head->c != ch || stride < 1)
        return NAN;
    float s = (float)stride;
    double total = 0;
    int npos = 0;
    /* First pass: count positives, the normaliser of every term. */
    for (int n = 0; n < head->n; n++)
        for (int gy = 0; gy < head->h; gy++)
            for (int gx = 0; gx < head->w; gx++)
                npos += assign_cell(&gts[n], gx, gy, s) >= 0;
    float norm = 1.0f / (float)(npos > 0 ? npos : 1);
    for (int n = 0; n < head->n; n++)
        for (int gy = 0; gy < head->h; gy++)
            for (int gx = 0; gx < head->w; gx++) {
                size_t off = (((size_t)n * head->h + gy) * head->w + gx) * ch;
                const float *p = head->data + off;
                float *g = grad ? grad->data + off : NULL;
                float gl[64 + 5];
                memset(gl, 0, sizeof(float) * (size_t)ch);
                int who = assign_cell(&gts[n], gx, gy, s);
                total += bce_logit(p[0], who >= 0 ? 1.0f : 0.0f, &gl[0]);
                if (who >= 0) {
                    const struct det *b = &gts[n].v[who];
                    for (int c = 0; c < num_classes; c++)
                        total += bce_logit(p[1 + c], c == b->cls ? 1.0f : 0.0f, &gl[1 + c]);
                    float cx = ((float)gx + 0.5f) * s, cy = ((float)gy + 0.5f) * s;
                    float dist[4] = {cx - b->x1, cy - b->y1, b->x2 - cx, b->y2 - cy};
                    for (int k = 0; k < 4; k++) {
                        float t = logf(fmaxf(dist[k], 0.25f) / s);
                        float diff = p[1 + num_classes + k] - t;
                        total += fabsf(diff);
                        gl[1 + num_classes + k] = diff > 0 ? 1.0f : diff < 0 ? -1.0f : 0.0f;
                    }
                }
                for (int c = 0; g && c < ch; c++)
                    g[c] = gl[c] * norm;
            }
    return (float)(total * norm);
}

int detector_train_step(detector *d, nn_optim *o, const image *const imgs[],
                        const struct det_list gts[], int n, float *loss, ec_err *err)
{
    nn_model *m = d->m;
    if (n < 1 || n > 1024)
        return ec_err_set(err, EC_EINVAL, "batch size %d out of range", n);
    if (d->num_classes > 64)
        return ec_err_set(err, EC_EUNSUPPORTED, "training supports up to 64 classes");
    for (int i = 0; i < n; i++)
        if (check_frame(d, imgs[i], err))
            return -1;
    nn_tensor *in = nn_tensor_create(n, m->in_h, m->in_w, 3);
    struct det_list *mgts = calloc((size_t)n, sizeof *mgts);
    nn_tensor *grad = NULL;
    int rc = -1;
    if (!in || !mgts) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        struct letterbox lb = letterbox_for(m, imgs[i]->w, imgs[i]->h);
        letterbox_image(m, imgs[i], &lb, in->data + (size_t)i * m->in_h * m->in_w * 3);
        for (int k = 0; k < gts[i].n; k++) {
            struct det b = gts[i].v[k];
            if (b.cls < 0 || b.cls >= d->num_classes || !(b.x2 > b.x1) || !(b.y2 > b.y1))
                continue; /* unusable label: skip rather than poison the batch */
            b.x1 = b.x1 * lb.scale + (float)lb.pad_x, b.x2 = b.x2 * lb.scale + (float)lb.pad_x;
            b.y1 = b.y1 * lb.scale + (float)lb.pad_y, b.y2 = b.y2 * lb.scale + (float)lb.pad_y;
            if (det_list_push(&mgts[i], b)) {
                ec_err_set(err, EC_ENOMEM, "out of memory");
                goto out;
            }
        }
    }
    const nn_tensor *head = nn_model_forward_train(m, in, err);
    if (!head)
        goto out;
    if (!(grad = nn_tensor_create(head->n, head->h, head->w, head->c))) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        goto out;
    }
    float l = nn_head_loss(head, d->stride, d->num_classes, mgts, grad);
    if (loss)
        *loss = l;
    nn_model_zero_grad(m);
    if (nn_model_backward(m, grad, NULL, err) || nn_optim_step(o, m, err))
        goto out;
    rc = 0;
out:
    for (int i = 0; mgts && i < n; i++)
        det_list_free(&mgts[i]);
    free(mgts);
    nn_tensor_destroy(grad);
    nn_tensor_destroy(in);
    return rc;
}
