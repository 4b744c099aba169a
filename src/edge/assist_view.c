/* Edge-Cloud-Assisted upload. EdgeCam blacks out everything but the uncertain boxes; the golden
 * model never saw such frames and misses most objects in them. So the cloud gets the frame at
 * the path's height, sharp inside the regions and elsewhere as ASSIST_BLOCK-pixel block means,
 * which JPEG codes as DC-only blocks: scene context for a few bits a block.
 *
 * The regions: the uncertain local boxes, the blocks that moved since the previous key frame
 * and the cloud's last confident boxes (objects that stopped), each box widened by
 * REGION_MARGIN per side. When the uncertain boxes alone cover more than FULL_FRAME_COVER the
 * local model is confused (a day-trained model at night): its boxes are left out and the
 * cloud's answer replaces all of them. Measurements: docs/policies.md. */
#include "edge/assist_view.h"

#include "nn/nn.h"

#include <stdlib.h>
#include <string.h>

#define REGION_MARGIN 0.5f     /* local boxes at night are often off the object */
#define FULL_FRAME_COVER 0.3   /* uncertain boxes over 30% of the frame: the model is confused */
#define SHARP_WHOLE_COVER 0.8  /* regions over 80%: the whole frame costs little more */
#define MERGE_NMS_IOU 0.5f

void assist_memory_free(struct assist_memory *m)
{
    image_destroy(m->prev_gray);
    m->prev_gray = NULL;
    det_list_free(&m->tracked);
}

int assist_motion_blocks(const image *prev, const image *cur, int thresh, uint8_t *blocks)
{
    int bw = assist_blocks(cur->w), bh = assist_blocks(cur->h), marked = 0;
    for (int by = 0; by < bh; by++)
        for (int bx = 0; bx < bw; bx++) {
            int ye = by * ASSIST_BLOCK + ASSIST_BLOCK, xe = bx * ASSIST_BLOCK + ASSIST_BLOCK;
            ye = ye < cur->h ? ye : cur->h;
            xe = xe < cur->w ? xe : cur->w;
            int changed = 0;
            for (int y = by * ASSIST_BLOCK; y < ye; y++) {
                const uint8_t *a = image_row(prev, y), *b = image_row(cur, y);
                for (int x = bx * ASSIST_BLOCK; x < xe; x++)
                    changed += abs((int)a[x] - (int)b[x]) > thresh;
            }
            blocks[by * bw + bx] = changed >= ASSIST_MOTION_PIXELS;
            marked += blocks[by * bw + bx];
        }
    return marked;
}

static void block_means(const image *src, image *dst)
{
    int c = src->c;
    for (int by = 0; by < src->h; by += ASSIST_BLOCK)
        for (int bx = 0; bx < src->w; bx += ASSIST_BLOCK) {
            int ye = by + ASSIST_BLOCK < src->h ? by + ASSIST_BLOCK : src->h;
            int xe = bx + ASSIST_BLOCK < src->w ? bx + ASSIST_BLOCK : src->w;
            unsigned sum[3] = {0}, cnt = (unsigned)((ye - by) * (xe - bx));
            for (int y = by; y < ye; y++)
                for (int x = bx; x < xe; x++)
                    for (int k = 0; k < c; k++)
                        sum[k] += image_row(src, y)[x * c + k];
            for (int y = by; y < ye; y++)
                for (int x = bx; x < xe; x++)
                    for (int k = 0; k < c; k++)
                        image_row(dst, y)[x * c + k] = (uint8_t)((sum[k] + cnt / 2) / cnt);
        }
}

/* Marks box `d` (frame pixels) widened by REGION_MARGIN in the view-size mask. */
static void mark_box(uint8_t *sharp, int w, int h, const struct det *d, float sx, float sy)
{
    float mx = (d->x2 - d->x1) * REGION_MARGIN, my = (d->y2 - d->y1) * REGION_MARGIN;
    float fx1 = (d->x1 - mx) * sx, fy1 = (d->y1 - my) * sy;
    float fx2 = (d->x2 + mx) * sx + 0.999f, fy2 = (d->y2 + my) * sy + 0.999f;
    int x1 = fx1 < 0 ? 0 : fx1 > w ? w : (int)fx1, y1 = fy1 < 0 ? 0 : fy1 > h ? h : (int)fy1;
    int x2 = fx2 > w ? w : fx2 < 0 ? 0 : (int)fx2, y2 = fy2 > h ? h : fy2 < 0 ? 0 : (int)fy2;
    for (int y = y1; y < y2 && x2 > x1; y++)
        memset(sharp + (size_t)y * w + x1, 1, (size_t)(x2 - x1));
}

static void mark_blocks(uint8_t *sharp, int w, int h, const uint8_t *blocks)
{
    int bw = assist_blocks(w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            sharp[(size_t)y * w + x] |= blocks[(y / ASSIST_BLOCK) * bw + x / ASSIST_BLOCK];
}

static double cover_of(const uint8_t *sharp, size_t n)
{
    size_t on = 0;
    for (size_t i = 0; i < n; i++)
        on += sharp[i];
    return (double)on / (double)n;
}

/* Fills v->sharp, v->whole and v->replace. */
static void choose_regions(const struct assist_view_in *in, struct assist_view *v)
{
    const image *src = in->view_src;
    int w = src->w, h = src->h;
    size_t n = (size_t)w * h;
    float sx = (float)w / in->frame_w, sy = (float)h / in->frame_h;
    for (int i = 0; i < in->nidx; i++)
        mark_box(v->sharp, w, h, &in->dets->v[in->idx[i]], sx, sy);
    int confused = cover_of(v->sharp, n) > FULL_FRAME_COVER;
    if (!in->motion) { /* no reference frame (or motion off): the boxes alone */
        v->whole = confused;
        v->replace = confused ? ASSIST_REPLACE_ALL : ASSIST_REPLACE_REGIONS;
        return;
    }
    if (confused)
        memset(v->sharp, 0, n);
    mark_blocks(v->sharp, w, h, in->motion);
    for (int i = 0; in->tracked && i < in->tracked->n; i++)
        mark_box(v->sharp, w, h, &in->tracked->v[i], sx, sy);
    double cover = cover_of(v->sharp, n);
    /* Nothing moved and nothing was tracked, yet the model is confused: show it all. */
    v->whole = cover > SHARP_WHOLE_COVER || cover == 0;
    v->replace = confused || v->whole ? ASSIST_REPLACE_ALL : ASSIST_REPLACE_SEEN;
}

int assist_view_build(const struct assist_view_in *in, struct assist_view *out, ec_err *err)
{
    const image *src = in->view_src;
    memset(out, 0, sizeof *out);
    if (src->c > 3 || in->frame_w <= 0 || in->frame_h <= 0)
        return ec_err_set(err, EC_EINVAL, "region upload: bad frame");
    out->sharp = calloc((size_t)src->w * src->h, 1);
    out->img = out->sharp ? image_create(src->w, src->h, src->c) : NULL;
    if (!out->img) {
        assist_view_free(out);
        return ec_err_set(err, EC_ENOMEM, "cannot build the region upload");
    }
    choose_regions(in, out);
    if (out->whole) {
        memset(out->sharp, 1, (size_t)src->w * src->h);
        for (int y = 0; y < src->h; y++)
            memcpy(image_row(out->img, y), image_row(src, y), (size_t)src->w * src->c);
        return 0;
    }
    block_means(src, out->img);
    for (int y = 0; y < src->h; y++) {
        const uint8_t *in_row = out->sharp + (size_t)y * src->w;
        for (int x = 0; x < src->w; x++)
            if (in_row[x])
                memcpy(image_row(out->img, y) + (size_t)x * src->c,
                       image_row(src, y) + (size_t)x * src->c, (size_t)src->c);
    }
    return 0;
}

void assist_view_free(struct assist_view *v)
{
    image_destroy(v->img);
    free(v->sharp);
    memset(v, 0, sizeof *v);
}

/* Whether the cloud's answer on `v` stands in for local box i. idx is ascending. */
static int replaced(const struct assist_view_in *in, const struct assist_view *v, int i, int *r)
{
    int uncertain = *r < in->nidx && in->idx[*r] == i;
    *r += uncertain;
    if (v->replace == ASSIST_REPLACE_ALL || uncertain)
        return 1;
    if (v->replace != ASSIST_REPLACE_SEEN)
        return 0;
    const struct det *d = &in->dets->v[i];
    int w = in->view_src->w, h = in->view_src->h;
    int cx = (int)((d->x1 + d->x2) * 0.5f * (float)w / in->frame_w);
    int cy = (int)((d->y1 + d->y2) * 0.5f * (float)h / in->frame_h);
    cx = cx < 0 ? 0 : cx >= w ? w - 1 : cx;
    cy = cy < 0 ? 0 : cy >= h ? h - 1 : cy;
    return v->sharp[(size_t)cy * w + cx];
}

int assist_merge(const struct assist_view_in *in, const struct assist_view *v,
                 const struct det_list *cloud, struct det_list *out)
{
    det_list_clear(out);
    for (int i = 0, r = 0; i < in->dets->n; i++)
        if (!replaced(in, v, i, &r) && det_list_push(out, in->dets->v[i]) != 0)
            return -1;
    for (int i = 0; i < cloud->n; i++)
        if (det_list_push(out, cloud->v[i]) != 0)
            return -1;
    nn_nms(out, MERGE_NMS_IOU);
    return 0;
}

int assist_track(struct assist_memory *m, const struct det_list *cloud)
{
    det_list_clear(&m->tracked);
    for (int i = 0; i < cloud->n; i++)
        if (cloud->v[i].score >= ASSIST_TRACK_SCORE && det_list_push(&m->tracked, cloud->v[i]) != 0)
            return -1;
    return 0;
}
