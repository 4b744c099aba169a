/* Separable image resizing: area averaging when shrinking (as OpenCV INTER_AREA, no
 * aliasing on big reductions), bilinear with centre-aligned samples when enlarging. */
#include "video/video.h"

#include <math.h>
#include <stdlib.h>

/* Most source pixels one destination pixel may draw from, per axis:
 * shrinking is limited to a factor of RESIZE_MAX_TAPS - 2. */
#define RESIZE_MAX_TAPS 64

/* For each destination index along one axis: `taps` source indices and weights. */
struct axis_filter {
    int taps;
    int *idx;
    float *w;
};

static void axis_filter_free(struct axis_filter *f)
{
    free(f->idx);
    free(f->w);
}

/* Weight of source pixel j for destination pixel i (area when shrinking, else bilinear). */
static double axis_weight(int i, int j, double scale, int src_n)
{
    if (scale > 1.0) {
        double lo = fmax(i * scale, j), hi = fmin((i + 1) * scale, j + 1.0);
        return hi > lo ? (hi - lo) / scale : 0.0;
    }
    double sx = (i + 0.5) * scale - 0.5;
    if (sx < 0)
        sx = 0;
    if (sx > src_n - 1)
        sx = src_n - 1;
    double d = fabs(sx - j);
    return d < 1.0 ? 1.0 - d : 0.0;
}

static int axis_filter_build(struct axis_filter *f, int src_n, int dst_n)
{
    double scale = (double)src_n / dst_n;
    /* Source span of each destination pixel, then the widest span sets `taps`. */
    int *first = malloc((size_t)dst_n * sizeof *first);
    if (!first)
        return -1;
    f->taps = 1;
    for (int i = 0; i < dst_n; i++) {
        double lo = scale > 1.0 ? i * scale : (i + 0.5) * scale - 0.5;
        double hi = scale > 1.0 ? (i + 1) * scale : lo + 1.0;
        int j0 = (int)floor(lo), j1 = (int)ceil(hi);
        if (j0 < 0)
            j0 = 0;
        if (j1 > src_n)
            j1 = src_n;
        if (j1 <= j0)
            j1 = j0 + 1;
        first[i] = j0;
        if (j1 - j0 > f->taps)
            f->taps = j1 - j0;
    }
    f->idx = calloc((size_t)dst_n * f->taps, sizeof *f->idx);
    f->w = calloc((size_t)dst_n * f->taps, sizeof *f->w);
    if (!f->idx || !f->w) {
        free(first);
        axis_filter_free(f);
        return -1;
    }
    for (int i = 0; i < dst_n; i++) {
        int *idx = f->idx + (size_t)i * f->taps;
        float *w = f->w + (size_t)i * f->taps;
        double sum = 0;
        for (int k = 0; k < f->taps; k++) {
            int j = first[i] + k;
            idx[k] = j < src_n ? j : src_n - 1;
            w[k] = j < src_n ? (float)axis_weight(i, j, scale, src_n) : 0.0f;
            sum += w[k];
        }
        for (int k = 0; k < f->taps; k++) /* exact normalisation keeps flat areas flat */
            w[k] = (float)(w[k] / sum);
    }
    free(first);
    return 0;
}

static uint8_t clamp_u8(float v)
{
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
}

/* Horizontal filter of one row: `w` output pixels of `c` channels. Either bytes in and
 * floats out (first pass) or floats in and bytes out (second pass). */
static inline __attribute__((always_inline)) void
filter_row_any(const void *in, int in_u8, void *out, int w, int c, const struct axis_filter *fx)
{
    const uint8_t *s8 = in;
    const float *sf = in;
    float *of = out;
    uint8_t *o8 = out;
    for (int x = 0; x < w; x++) {
        const int *idx = fx->idx + (size_t)x * fx->taps;
        const float *wt = fx->w + (size_t)x * fx->taps;
        float v[3] = {0, 0, 0};
        for (int k = 0; k < fx->taps; k++) {
            size_t j = (size_t)idx[k] * c;
            for (int ch = 0; ch < c; ch++)
                v[ch] += wt[k] * (in_u8 ? (float)s8[j + ch] : sf[j + ch]);
        }
        for (int ch = 0; ch < c; ch++) {
            if (in_u8)
                of[x * c + ch] = v[ch];
            else
                o8[x * c + ch] = clamp_u8(v[ch]);
        }
    }
}

/* Instances with constant arguments, so each inner loop is compiled for its case. */
static void filter_row(const void *in, int in_u8, void *out, int w, int c,
                       const struct axis_filter *fx)
{
    if (in_u8 && c == 3)
        filter_row_any(in, 1, out, w, 3, fx);
    else if (in_u8)
        filter_row_any(in, 1, out, w, 1, fx);
    else if (c == 3)
        filter_row_any(in, 0, out, w, 3, fx);
    else
        filter_row_any(in, 0, out, w, 1, fx);
}

/* Vertical filter: acc = sum of wt[k] * rows[k], `n` values per row. */
static void filter_rows_f(const float *const *rows, const float *wt, int taps, size_t n,
                          float *acc)
{
    for (size_t x = 0; x < n; x++)
        acc[x] = wt[0] * rows[0][x];
    for (int k = 1; k < taps; k++) {
        const float *r = rows[k];
        float wk = wt[k];
        for (size_t x = 0; x < n; x++)
            acc[x] += wk * r[x];
    }
}

static void filter_rows_u8(const uint8_t *const *rows, const float *wt, int taps, size_t n,
                           float *acc)
{
    for (size_t x = 0; x < n; x++)
        acc[x] = wt[0] * rows[0][x];
    for (int k = 1; k < taps; k++) {
        const uint8_t *r = rows[k];
        float wk = wt[k];
        for (size_t x = 0; x < n; x++)
            acc[x] += wk * r[x];
    }
}

/* Separable filtering; the pass that shrinks the row count goes first, so the costly
 * horizontal pass runs over as few rows as possible. */
static void resize_passes(const image *src, image *dst, const struct axis_filter *fx,
                          const struct axis_filter *fy, float *tmp, float *acc)
{
    int c = src->c, w = dst->w, h = dst->h;
    size_t src_len = (size_t)src->w * c, dst_len = (size_t)w * c;
    if (h < src->h) {
        const uint8_t *rows[RESIZE_MAX_TAPS];
        for (int y = 0; y < h; y++) {
            const int *idx = fy->idx + (size_t)y * fy->taps;
            for (int k = 0; k < fy->taps; k++)
                rows[k] = image_row(src, idx[k]);
            filter_rows_u8(rows, fy->w + (size_t)y * fy->taps, fy->taps, src_len, acc);
            filter_row(acc, 0, image_row(dst, y), w, c, fx);
        }
        return;
    }
    /* Growing rows: a ring of `taps` horizontally filtered rows, since the rows each output
     * row needs form a window that only moves down. */
    int held[RESIZE_MAX_TAPS];
    for (int k = 0; k < fy->taps; k++)
        held[k] = -1;
    const float *rows[RESIZE_MAX_TAPS];
    for (int y = 0; y < h; y++) {
        const int *idx = fy->idx + (size_t)y * fy->taps;
        for (int k = 0; k < fy->taps; k++) {
            int slot = idx[k] % fy->taps;
            float *t = tmp + (size_t)slot * dst_len;
            if (held[slot] != idx[k]) {
                filter_row(image_row(src, idx[k]), 1, t, w, c, fx);
                held[slot] = idx[k];
            }
            rows[k] = t;
        }
        filter_rows_f(rows, fy->w + (size_t)y * fy->taps, fy->taps, dst_len, acc);
        uint8_t *d = image_row(dst, y);
        for (size_t x = 0; x < dst_len; x++)
            d[x] = clamp_u8(acc[x]);
    }
}

image *image_resize(const image *src, int w, int h, ec_err *err)
{
    if (!src || !src->data || src->w <= 0 || src->h <= 0 || (src->c != 1 && src->c != 3))
        return ec_err_set(err, EC_EINVAL, "resize: bad source image"), NULL;
    if (w <= 0 || h <= 0 || w > IMAGE_MAX_DIM || h > IMAGE_MAX_DIM)
        return ec_err_set(err, EC_EINVAL, "resize: bad target size %dx%d", w, h), NULL;
    if ((double)src->w / w > RESIZE_MAX_TAPS - 2 || (double)src->h / h > RESIZE_MAX_TAPS - 2)
        return ec_err_set(err, EC_EINVAL, "resize: %dx%d -> %dx%d shrinks more than %dx",
                          src->w, src->h, w, h, RESIZE_MAX_TAPS - 2), NULL;
    if (w == src->w && h == src->h) {
        image *copy = image_clone(src);
        if (!copy)
            ec_err_set(err, EC_ENOMEM, "resize: out of memory for %dx%d", w, h);
        return copy;
    }

    int c = src->c;
    int shrink_rows = h < src->h;
    size_t src_len = (size_t)src->w * c, dst_len = (size_t)w * c;
    image *dst = image_create_uninit(w, h, c);
    float *tmp = NULL;
    float *acc = malloc((src_len > dst_len ? src_len : dst_len) * sizeof *acc);
    struct axis_filter fx = {0}, fy = {0};
    int ok = dst && acc && axis_filter_build(&fx, src->w, w) == 0 &&
             axis_filter_build(&fy, src->h, h) == 0;
    if (ok && !shrink_rows) /* a ring of fy.taps filtered rows */
        ok = (tmp = malloc((size_t)fy.taps * dst_len * sizeof *tmp)) != NULL;
    if (!ok) {
        ec_err_set(err, EC_ENOMEM, "resize: out of memory for %dx%d", w, h);
        image_destroy(dst);
        dst = NULL;
    } else {
        resize_passes(src, dst, &fx, &fy, tmp, acc);
    }
    axis_filter_free(&fx);
    axis_filter_free(&fy);
    free(tmp);
    free(acc);
    return dst;
}

image *image_resize_height(const image *src, int height, ec_err *err)
{
    if (!src || src->w <= 0 || src->h <= 0)
        return ec_err_set(err, EC_EINVAL, "resize: bad source image"), NULL;
    if (height <= 0 || height > IMAGE_MAX_DIM)
        return ec_err_set(err, EC_EINVAL, "resize: bad target height %d", height), NULL;
    /* Nearest even width keeps 4:2:0 encoders (JPEG, H.264) free of padding. */
    long w = lround((double)src->w * height / src->h / 2.0) * 2;
    if (w < 2)
        w = 2;
    if (w > IMAGE_MAX_DIM)
        return ec_err_set(err, EC_EINVAL, "resize: width %ld for height %d exceeds limit", w,
                          height), NULL;
    return image_resize(src, (int)w, height, err);
}
