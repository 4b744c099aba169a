/* Redundant-frame filter: per-frame feature maps, their differences and the key/ref decision. */
#include "filter/filter.h"

#include "filter/imgproc.h"

#include <stdlib.h>
#include <string.h>

#define PIXEL_THRESH 50
#define EDGE_CANNY_LOW 50
#define EDGE_CANNY_HIGH 255
#define AREA_THRESH 50

static const char *const feature_names[] = {"pixel", "edge", "area", "corner"};

int filter_feature_parse(const char *name, enum filter_feature *out)
{
    if (!name)
        return -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(name, feature_names[i]) == 0) {
            if (out)
                *out = (enum filter_feature)i;
            return 0;
        }
    return -1;
}

const char *filter_feature_name(enum filter_feature feat)
{
    return (unsigned)feat < 4 ? feature_names[feat] : "unknown";
}

void filter_opts_default(struct filter_opts *o)
{
    o->enabled = 1;
    o->feature = FILTER_PIXEL;
    o->diff_thresh = FILTER_DEFAULT_DIFF_THRESH;
}

/* ---- feature maps -------------------------------------------------------------------- */

/* Buffers to compute one feature at one frame size. A map is the per-frame state the diff
 * needs: the RGB frame (pixel), the edge map (edge), the blurred gray (area), the corner mask. */
struct feat_ctx {
    enum filter_feature feat;
    int w, h;
    size_t map_size;
    ip_ws *ws;
    uint8_t *gray, *blur;
};

static void feat_ctx_free(struct feat_ctx *c)
{
    ip_ws_destroy(c->ws);
    free(c->gray);
    free(c->blur);
    memset(c, 0, sizeof *c);
}

static int feat_ctx_init(struct feat_ctx *c, enum filter_feature feat, int w, int h)
{
    size_t n = (size_t)w * (size_t)h;
    memset(c, 0, sizeof *c);
    c->feat = feat;
    c->w = w;
    c->h = h;
    c->map_size = feat == FILTER_PIXEL ? 3 * n : n;
    if (feat == FILTER_PIXEL)
        return 0;
    c->ws = ip_ws_create(w, h);
    c->gray = malloc(n);
    c->blur = malloc(n);
    if (!c->ws || !c->gray || !c->blur) {
        feat_ctx_free(c);
        return -1;
    }
    return 0;
}

static void feat_map(struct feat_ctx *c, const image *rgb, uint8_t *map)
{
    const int w = c->w, h = c->h;
    if (c->feat == FILTER_PIXEL) {
        for (int y = 0; y < h; y++)
            memcpy(map + (size_t)y * 3 * (size_t)w, image_row(rgb, y), 3 * (size_t)w);
        return;
    }
    gray_from_rgb(rgb->data, (size_t)rgb->stride, w, h, c->gray, (size_t)w);
    switch (c->feat) {
    case FILTER_EDGE:
        ip_gauss11(c->ws, c->gray, c->blur);
        ip_canny(c->ws, c->blur, EDGE_CANNY_LOW, EDGE_CANNY_HIGH, map);
        break;
    case FILTER_AREA:
        ip_gauss11(c->ws, c->gray, map);
        break;
    case FILTER_CORNER:
        ip_harris_mask(c->ws, c->gray, FILTER_CORNER_REL, map);
        break;
    case FILTER_PIXEL:
        break;
    }
}

static double feat_diff(struct feat_ctx *c, const uint8_t *prev, const uint8_t *cur)
{
    const size_t n = (size_t)c->w * (size_t)c->h;
    switch (c->feat) {
    case FILTER_PIXEL:
        return (double)ip_count_rgb_absdiff_over(prev, cur, n, PIXEL_THRESH) / (double)n;
    case FILTER_AREA:
        return ip_area_diff(c->ws, prev, cur, AREA_THRESH) / (double)n;
    case FILTER_EDGE: /* 0/255 maps in OpenCV: absdiff > 30 means "differ" */
    case FILTER_CORNER:
        return (double)ip_count_differing(prev, cur, n) / (double)n;
    }
    return 0;
}

/* The pixel feature of `rgb` against the previous frame's RGB in `prev`, which then becomes
 * `rgb`. Row by row, so the copy finds the row still in cache: one pass over the frame instead
 * of a copy plus a diff (the edge filters every sampled frame, this is its default feature). */
static double pixel_diff_update(uint8_t *prev, const image *rgb)
{
    const size_t row = 3 * (size_t)rgb->w;
    size_t count = 0;
    for (int y = 0; y < rgb->h; y++, prev += row) {
        count += ip_count_rgb_absdiff_over(prev, image_row(rgb, y), (size_t)rgb->w, PIXEL_THRESH);
        memcpy(prev, image_row(rgb, y), row);
    }
    return (double)count / ((double)rgb->w * rgb->h);
}

static int image_is_rgb(const image *img)
{
    return img && img->data && img->c == 3 && img->w > 0 && img->h > 0 &&
           img->w <= IMAGE_MAX_DIM && img->h <= IMAGE_MAX_DIM && img->stride >= 3 * img->w;
}

static int feature_valid(enum filter_feature feat) { return (unsigned)feat <= FILTER_CORNER; }

int filter_feature_diff(enum filter_feature feat, const image *prev_rgb, const image *cur_rgb,
                        double *out, ec_err *err)
{
    if (!feature_valid(feat))
        return ec_err_set(err, EC_EINVAL, "filter: unknown feature %d", (int)feat);
    if (!out)
        return ec_err_set(err, EC_EINVAL, "filter: no output");
    if (!image_is_rgb(prev_rgb) || !image_is_rgb(cur_rgb))
        return ec_err_set(err, EC_EINVAL, "filter: frames must be valid RGB images");
    if (prev_rgb->w != cur_rgb->w || prev_rgb->h != cur_rgb->h)
        return ec_err_set(err, EC_EINVAL, "filter: frame sizes differ (%dx%d vs %dx%d)",
                          prev_rgb->w, prev_rgb->h, cur_rgb->w, cur_rgb->h);
    struct feat_ctx c;
    if (feat_ctx_init(&c, feat, cur_rgb->w, cur_rgb->h) < 0)
        return ec_err_set(err, EC_ENOMEM, "filter: out of memory");
    uint8_t *a = malloc(c.map_size), *b = malloc(c.map_size);
    if (!a || !b) {
        free(a);
        free(b);
        feat_ctx_free(&c);
        return ec_err_set(err, EC_ENOMEM, "filter: out of memory");
    }
    feat_map(&c, prev_rgb, a);
    feat_map(&c, cur_rgb, b);
    *out = feat_diff(&c, a, b);
    free(a);
    free(b);
    feat_ctx_free(&c);
    return 0;
}

/* ---- the filter ---------------------------------------------------------------------- */

struct filter {
    struct filter_opts o;
    struct feat_ctx ctx; /* sized for the last frame; w == 0 before the first */
    uint8_t *prev, *cur; /* feature maps of the previous and current frame */
    int have_prev;
    double acc;          /* diffs accumulated since the last key frame */
};

filter *filter_create(const struct filter_opts *o, ec_err *err)
{
    if (!o) {
        ec_err_set(err, EC_EINVAL, "filter: no options");
        return NULL;
    }
    if (!feature_valid(o->feature)) {
        ec_err_set(err, EC_EINVAL, "filter: unknown feature %d", (int)o->feature);
        return NULL;
    }
    /* !(x > 0) also rejects NaN. */
    if (!(o->diff_thresh > 0) || o->diff_thresh > 1) {
        ec_err_set(err, EC_EINVAL, "filter: diff_thresh must be in (0, 1], got %g", o->diff_thresh);
        return NULL;
    }
    filter *f = calloc(1, sizeof *f);
    if (!f) {
        ec_err_set(err, EC_ENOMEM, "filter: out of memory");
        return NULL;
    }
    f->o = *o;
    return f;
}

static void filter_free_buffers(filter *f)
{
    feat_ctx_free(&f->ctx);
    free(f->prev);
    free(f->cur);
    f->prev = f->cur = NULL;
}

void filter_destroy(filter *f)
{
    if (!f)
        return;
    filter_free_buffers(f);
    free(f);
}

void filter_reset(filter *f)
{
    f->have_prev = 0;
    f->acc = 0;
}

/* (Re)sizes the buffers for a new frame size; the only allocation on the per-frame path. */
static int filter_resize(filter *f, int w, int h)
{
    filter_free_buffers(f);
    if (feat_ctx_init(&f->ctx, f->o.feature, w, h) < 0)
        return -1;
    f->prev = malloc(f->ctx.map_size);
    f->cur = malloc(f->ctx.map_size);
    if (!f->prev || !f->cur) {
        filter_free_buffers(f);
        return -1;
    }
    return 0;
}

enum filter_decision filter_push(filter *f, const image *rgb, double *diff_out)
{
    if (diff_out)
        *diff_out = 0;
    if (!f->o.enabled || !image_is_rgb(rgb))
        return FILTER_KEY;
    if (!f->have_prev || rgb->w != f->ctx.w || rgb->h != f->ctx.h) {
        if ((rgb->w != f->ctx.w || rgb->h != f->ctx.h) && filter_resize(f, rgb->w, rgb->h) < 0) {
            f->have_prev = 0; /* no memory: every frame stays a key frame */
            return FILTER_KEY;
        }
        feat_map(&f->ctx, rgb, f->prev);
        f->have_prev = 1;
        f->acc = 0;
        return FILTER_KEY;
    }
    double d;
    if (f->o.feature == FILTER_PIXEL) {
        d = pixel_diff_update(f->prev, rgb);
    } else {
        feat_map(&f->ctx, rgb, f->cur);
        d = feat_diff(&f->ctx, f->prev, f->cur);
        uint8_t *t = f->prev;
        f->prev = f->cur;
        f->cur = t;
    }
    if (diff_out)
        *diff_out = d;
    f->acc += d;
    if (f->acc >= f->o.diff_thresh) {
        f->acc = 0;
        return FILTER_KEY;
    }
    return FILTER_REF;
}
