/* Layer kernels on NHWC float32 data: conv (im2col / 1x1 + sgemm), depthwise conv, batchnorm,
 * activations, max-pool, nearest upsample. Forward and backward. */
#include "nn/nn_internal.h"
#include "core/compiler.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define POINTWISE_ROWS 1024
#define DIRECT_MAX_WEIGHTS 8192


static int conv_is_pointwise(const struct nn_layer *L)
{
    return L->size == 1 && L->stride == 1 && L->pad == 0;
}

/* Rows (oy, ox), columns (ky, kx, c): a row is the receptive field of one output pixel. In NHWC
 * the k pixels of one kernel row are contiguous in the input, so copy them as one block. */
static void im2col_rows(const struct nn_layer *L, const float *x, size_t r0, size_t nrows,
                        float *cols)
{
    int C = L->ic, k = L->size;
    size_t seg = (size_t)C * sizeof(float);
    for (size_t r = r0; r < r0 + nrows; r++) {
        int oy = (int)(r / (size_t)L->w), ox = (int)(r % (size_t)L->w);
        {
            float *row = cols + (r - r0) * k * k * C;
            int ix0 = ox * L->stride - L->pad;
            int inside_x = ix0 >= 0 && ix0 + k <= L->iw;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * L->stride - L->pad + ky;
                float *dst = row + (size_t)ky * k * C;
                if (iy < 0 || iy >= L->ih) {
                    memset(dst, 0, seg * k);
                    continue;
                }
                const float *src = x + ((size_t)iy * L->iw + ix0) * C;
                if (inside_x) {
                    memcpy(dst, src, seg * k);
                    continue;
                }
                for (int kx = 0; kx < k; kx++) {
                    int ix = ix0 + kx;
                    if (ix < 0 || ix >= L->iw)
                        memset(dst + (size_t)kx * C, 0, seg);
                    else
                        memcpy(dst + (size_t)kx * C, src + (size_t)kx * C, seg);
                }
            }
        }
    }
}

static void col2im_add(const struct nn_layer *L, const float *cols, float *dx)
{
    int C = L->ic, k = L->size;
    for (int oy = 0; oy < L->h; oy++) {
        for (int ox = 0; ox < L->w; ox++) {
            const float *row = cols + ((size_t)oy * L->w + ox) * k * k * C;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * L->stride - L->pad + ky;
                if (iy < 0 || iy >= L->ih)
                    continue;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * L->stride - L->pad + kx;
                    if (ix < 0 || ix >= L->iw)
                        continue;
                    const float *src = row + (size_t)(ky * k + kx) * C;
                    float *dst = dx + ((size_t)iy * L->iw + ix) * C;
                    for (int c = 0; c < C; c++)
                        dst[c] += src[c];
                }
            }
        }
    }
}

/* Bias and (inference only) the fused activation, on rows just written by sgemm. */
static void conv_epilogue(const struct nn_layer *L, size_t rows, const float *b, int fuse,
                          float *y)
{
    int c = L->c;
    if (b)
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < c; j++)
                y[r * c + j] += b[j];
    if (fuse && L->fuse_act != OP_CONV)
        nn_act_forward(L->fuse_act, L->slope_act, rows * (size_t)c, y, y);
}

/* Output rows per im2col block (1 MB of columns): larger blocks mean fewer re-packs of the
 * weights by sgemm; 256 KB (L2-resident) measured 8% slower on the edge model. */
static size_t conv_block_rows(const struct nn_layer *L)
{
    size_t K = (size_t)L->size * L->size * L->ic, px = (size_t)L->h * L->w;
    size_t rows = (1024u * 1024u / sizeof(float)) / K;
    rows = rows < 64 ? 64 : rows;
    return rows > px ? px : rows;
}

static void im2col_rows(const struct nn_layer *L, const float *x, size_t r0, size_t nrows,
                        float *cols);

/* Convs on few input channels (the stem): im2col rows would be a few floats each, so compute
 * output pixels directly, with weights as [ky][kx][c][o] (o padded to DIRECT_OC). Fixed-size
 * tiles of DIRECT_PX pixels x DIRECT_OC channels stay in registers; a runtime-sized accumulator
 * in memory ran the stem at 14 GFLOP/s. */
#define DIRECT_OC 16
#define DIRECT_PX 4

static int direct_padded_channels(int O) { return (O + DIRECT_OC - 1) / DIRECT_OC * DIRECT_OC; }

static int conv_is_direct(const struct nn_layer *L)
{
    return L->ic <= 4 && L->size > 1 &&
           (size_t)L->size * L->size * L->ic * direct_padded_channels(L->c) <= DIRECT_MAX_WEIGHTS;
}

/* 8 floats: GCC/Clang vector extension, one AVX register (two SSE ones in the default clone).
 * Explicit because the auto-vectoriser shuffled the tile across pixels instead. */
typedef float v8f __attribute__((vector_size(32)));

/* A macro: a function returning v8f would change the ABI between the clones. */
#define V8F_LOAD(v, p) memcpy(&(v), (p), sizeof(v8f))

/* One tile: np (1 or DIRECT_PX) pixels of output row oy from column ox, channels [ob, ob + 16).
 * `inside`: every tap of every pixel lies in the input (no bounds checks). */
static inline __attribute__((always_inline)) void
direct_tile(const struct nn_layer *L, const float *x, const float *wt, int OP, int ob, int oy,
            int ox, int np, int inside, float *y)
{
    const int C = L->ic, k = L->size, s = L->stride;
    v8f acc[DIRECT_PX][2] = {{{0}}};
    for (int ky = 0; ky < k; ky++) {
        int iy = oy * s - L->pad + ky;
        if (!inside && (iy < 0 || iy >= L->ih))
            continue;
        for (int kx = 0; kx < k; kx++) {
            int ix = ox * s - L->pad + kx;
            if (!inside && (ix < 0 || ix >= L->iw))
                continue;
            const float *xp = x + ((size_t)iy * L->iw + ix) * C;
            const float *wr = wt + (size_t)((ky * k + kx) * C) * OP + ob;
            for (int c = 0; c < C; c++, wr += OP) {
                v8f w0, w1;
                V8F_LOAD(w0, wr);
                V8F_LOAD(w1, wr + 8);
                for (int p = 0; p < (inside ? DIRECT_PX : 1); p++) {
                    float xv = xp[(size_t)p * s * C + c];
                    acc[p][0] += xv * w0;
                    acc[p][1] += xv * w1;
                }
            }
        }
    }
    int nout = L->c - ob < DIRECT_OC ? L->c - ob : DIRECT_OC;
    for (int p = 0; p < np; p++) {
        float out[DIRECT_OC];
        memcpy(out, acc[p], sizeof out);
        memcpy(y + (size_t)p * L->c + ob, out, (size_t)nout * sizeof(float));
    }
}

EC_TARGET_CLONES static void conv_direct_rows(const struct nn_layer *L, const float *x,
                                              const float *w, size_t r0, size_t nrows, float *y)
{
    const int C = L->ic, k = L->size, O = L->c, K = k * k * C, OP = direct_padded_channels(O);
    float wt[DIRECT_MAX_WEIGHTS];
    memset(wt, 0, (size_t)K * OP * sizeof(float));
    for (int o = 0; o < O; o++)
        for (int q = 0; q < K; q++)
            wt[q * OP + o] = w[o * K + q];
    const int s = L->stride, pad = L->pad;
    for (int ob = 0; ob < OP; ob += DIRECT_OC)
        for (size_t r = r0; r < r0 + nrows;) {
            int oy = (int)(r / (size_t)L->w), ox = (int)(r % (size_t)L->w);
            int iy0 = oy * s - pad, ix0 = ox * s - pad;
            int ix_last = (ox + DIRECT_PX - 1) * s - pad + k - 1;
            int tile = ox + DIRECT_PX <= L->w && r + DIRECT_PX <= r0 + nrows && iy0 >= 0 &&
                       iy0 + k <= L->ih && ix0 >= 0 && ix_last < L->iw;
            float *yo = y + (r - r0) * O;
            if (tile)
                direct_tile(L, x, wt, OP, ob, oy, ox, DIRECT_PX, 1, yo);
            else
                direct_tile(L, x, wt, OP, ob, oy, ox, 1, 0, yo);
            r += tile ? DIRECT_PX : 1;
        }
}

/* Output blocks [first, last): blocks run over (image, block of rows). */
static void conv_forward_blocks(const struct nn_layer *L, int n, const float *x, const float *w,
                                const float *b, float *y, float *cols, int fuse, size_t first,
                                size_t last)
{
    int K = L->size * L->size * L->ic, O = L->c;
    size_t in_img = (size_t)L->ih * L->iw * L->ic, out_px = (size_t)L->h * L->w;
    if (conv_is_pointwise(L)) {
        /* NHWC makes a 1x1 conv a plain GEMM over every pixel of the batch. */
        size_t M = (size_t)n * out_px;
        for (size_t blk = first; blk < last; blk++) {
            size_t r0 = blk * POINTWISE_ROWS, nr = M - r0 < POINTWISE_ROWS ? M - r0 : POINTWISE_ROWS;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, O, K, 1.0f,
                        x + r0 * K, K, w, K, 0.0f, y + r0 * O, O);
            conv_epilogue(L, nr, b, fuse, y + r0 * O);
        }
        return;
    }
    if (fuse && nn_direct3x3_active(L)) { /* a block is one output row */
        for (size_t blk = first; blk < last; blk++) {
            size_t i = blk / (size_t)L->h;
            int oy = (int)(blk % (size_t)L->h);
            nn_direct3x3_rows(L, x + i * in_img, L->dpack, oy, oy + 1, y + i * out_px * O,
                              cols);
            conv_epilogue(L, (size_t)L->w, NULL, fuse, y + (i * out_px + (size_t)oy * L->w) * O);
        }
        return;
    }
    size_t rows = conv_block_rows(L), per_img = (out_px + rows - 1) / rows;
    (void)n;
    for (size_t blk = first; blk < last; blk++) {
        size_t i = blk / per_img, r0 = (blk % per_img) * rows;
        size_t nr = out_px - r0 < rows ? out_px - r0 : rows;
        float *yo = y + (i * out_px + r0) * O;
        if (conv_is_direct(L)) {
            conv_direct_rows(L, x + i * in_img, w, r0, nr, yo);
        } else {
            im2col_rows(L, x + i * in_img, r0, nr, cols);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, O, K, 1.0f, cols, K,
                        w, K, 0.0f, yo, O);
        }
        conv_epilogue(L, nr, b, fuse, yo);
    }
}

/* Scratch floats one thread needs: an im2col block, or the padded rows of a direct 3x3 conv. */
static size_t conv_thread_scratch(const struct nn_layer *L)
{
    if (conv_is_pointwise(L))
        return 0;
    size_t cols = conv_block_rows(L) * (size_t)L->size * L->size * L->ic;
    size_t direct = nn_direct3x3_fits(L) ? nn_direct3x3_scratch(L) : 0;
    return cols > direct ? cols : direct;
}

static size_t conv_num_blocks(const struct nn_layer *L, int n, int fuse)
{
    size_t out_px = (size_t)L->h * L->w;
    if (fuse && nn_direct3x3_active(L))
        return (size_t)n * L->h;
    if (conv_is_pointwise(L))
        return ((size_t)n * out_px + POINTWISE_ROWS - 1) / POINTWISE_ROWS;
    size_t rows = conv_block_rows(L);
    return (size_t)n * ((out_px + rows - 1) / rows);
}

struct conv_job {
    const struct nn_layer *L;
    int n, fuse;
    const float *x, *w, *b;
    float *y, *cols;
    size_t first, last;
};

static void *conv_job_run(void *arg)
{
    struct conv_job *j = arg;
    conv_forward_blocks(j->L, j->n, j->x, j->w, j->b, j->y, j->cols, j->fuse, j->first, j->last);
    return NULL;
}

/* Splits the blocks over `threads` threads (the caller is one of them); each thread has its own
 * slice of `cols`. Small convs stay on the caller: a thread start costs more than they do. */
void nn_conv_forward(const struct nn_layer *L, int n, const float *x, const float *w,
                     const float *b, float *y, float *cols, int fuse, int threads)
{
    size_t nb = conv_num_blocks(L, n, fuse);
    double flops = 2.0 * n * L->h * L->w * L->c * (double)L->size * L->size * L->ic;
    if (threads > NN_MAX_THREADS)
        threads = NN_MAX_THREADS;
    if ((size_t)threads > nb)
        threads = (int)nb;
    if (threads < 2 || flops < 4e6) {
        conv_forward_blocks(L, n, x, w, b, y, cols, fuse, 0, nb);
        return;
    }
    struct conv_job jobs[NN_MAX_THREADS];
    pthread_t tids[NN_MAX_THREADS];
    int started[NN_MAX_THREADS] = {0};
    size_t slice = conv_thread_scratch(L);
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct conv_job){L, n, fuse, x, w, b, y, cols + (size_t)t * slice,
                                    nb * (size_t)t / (size_t)threads,
                                    nb * (size_t)(t + 1) / (size_t)threads};
        if (t > 0)
            started[t] = pthread_create(&tids[t], NULL, conv_job_run, &jobs[t]) == 0;
    }
    conv_job_run(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tids[t], NULL);
        else
            conv_job_run(&jobs[t]); /* could not start a thread: do its share here */
    }
}

void nn_conv_backward(const struct nn_layer *L, int n, const float *x, const float *w,
                      const float *dy, float *dx, float *dw, float *db, float *cols)
{
    int K = L->size * L->size * L->ic, O = L->c;
    size_t in_img = (size_t)L->ih * L->iw * L->ic, out_px = (size_t)L->h * L->w;
    if (db)
        for (size_t r = 0; r < n * out_px; r++)
            for (int o = 0; o < O; o++)
                db[o] += dy[r * O + o];
    if (conv_is_pointwise(L)) {
        int M = (int)(n * out_px);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, K, M, 1.0f, dy, O, x, K, 1.0f,
                    dw, K);
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, O, 1.0f, dy, O, w, K,
                        1.0f, dx, K);
        return;
    }
    for (int i = 0; i < n; i++) {
        const float *dyi = dy + i * out_px * O;
        im2col_rows(L, x + i * in_img, 0, out_px, cols);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, K, (int)out_px, 1.0f, dyi, O,
                    cols, K, 1.0f, dw, K);
        if (dx) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)out_px, K, O, 1.0f, dyi,
                        O, w, K, 0.0f, cols, K);
            col2im_add(L, cols, dx + i * in_img);
        }
    }
}

/* Depthwise: one k x k filter per channel, weights HWC so the inner loop runs over channels. */
void nn_dwconv_forward(const struct nn_layer *L, int n, const float *x, const float *w,
                       const float *b, float *y)
{
    int C = L->c, k = L->size;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * L->ih * L->iw * C;
        for (int oy = 0; oy < L->h; oy++) {
            for (int ox = 0; ox < L->w; ox++) {
                float *yo = y + (((size_t)i * L->h + oy) * L->w + ox) * C;
                for (int c = 0; c < C; c++)
                    yo[c] = b ? b[c] : 0.0f;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * L->stride - L->pad + ky;
                    if (iy < 0 || iy >= L->ih)
                        continue;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * L->stride - L->pad + kx;
                        if (ix < 0 || ix >= L->iw)
                            continue;
                        const float *xp = xi + ((size_t)iy * L->iw + ix) * C;
                        const float *wp = w + (size_t)(ky * k + kx) * C;
                        for (int c = 0; c < C; c++)
                            yo[c] += xp[c] * wp[c];
                    }
                }
            }
        }
    }
}

void nn_dwconv_backward(const struct nn_layer *L, int n, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db)
{
    int C = L->c, k = L->size;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * L->ih * L->iw * C;
        float *dxi = dx ? dx + (size_t)i * L->ih * L->iw * C : NULL;
        for (int oy = 0; oy < L->h; oy++) {
            for (int ox = 0; ox < L->w; ox++) {
                const float *g = dy + (((size_t)i * L->h + oy) * L->w + ox) * C;
                if (db)
                    for (int c = 0; c < C; c++)
                        db[c] += g[c];
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * L->stride - L->pad + ky;
                    if (iy < 0 || iy >= L->ih)
                        continue;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * L->stride - L->pad + kx;
                        if (ix < 0 || ix >= L->iw)
                            continue;
                        size_t off = ((size_t)iy * L->iw + ix) * C;
                        const float *wp = w + (size_t)(ky * k + kx) * C;
                        float *dwp = dw + (size_t)(ky * k + kx) * C;
                        for (int c = 0; c < C; c++)
                            dwp[c] += g[c] * xi[off + c];
                        if (dxi)
                            for (int c = 0; c < C; c++)
                                dxi[off + c] += g[c] * wp[c];
                    }
                }
            }
        }
    }
}

int nn_bn_forward_train(size_t rows, int c, const float *x, const float *g, const float *b,
                        float *rmean, float *rvar, float *mean, float *invstd, float *y)
{
    double *sum = calloc((size_t)c * 2, sizeof(double));
    if (!sum)
        return -1;
    double *sq = sum + c;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < c; j++)
            sum[j] += x[r * c + j];
    for (int j = 0; j < c; j++)
        mean[j] = (float)(sum[j] / (double)rows);
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < c; j++) {
            double d = (double)x[r * c + j] - mean[j];
            sq[j] += d * d;
        }
    for (int j = 0; j < c; j++) {
        double var = sq[j] / (double)rows;
        invstd[j] = (float)(1.0 / sqrt(var + NN_BN_EPS));
        /* PyTorch keeps the unbiased variance in the running estimate. */
        double unbiased = rows > 1 ? sq[j] / (double)(rows - 1) : var;
        rmean[j] = (1.0f - NN_BN_MOMENTUM) * rmean[j] + NN_BN_MOMENTUM * mean[j];
        rvar[j] = (1.0f - NN_BN_MOMENTUM) * rvar[j] + NN_BN_MOMENTUM * (float)unbiased;
    }
    free(sum);
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < c; j++)
            y[r * c + j] = (x[r * c + j] - mean[j]) * invstd[j] * g[j] + b[j];
    return 0;
}

int nn_bn_backward(size_t rows, int c, const float *x, const float *g, const float *mean,
                   const float *invstd, const float *dy, float *dx, float *dg, float *db)
{
    double *sdy = calloc((size_t)c * 2, sizeof(double));
    if (!sdy)
        return -1;
    double *sdyx = sdy + c;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < c; j++) {
            float xh = (x[r * c + j] - mean[j]) * invstd[j];
            sdy[j] += dy[r * c + j];
            sdyx[j] += (double)dy[r * c + j] * xh;
        }
    for (int j = 0; j < c; j++) {
        db[j] += (float)sdy[j];
        dg[j] += (float)sdyx[j];
    }
    if (dx) {
        float inv_rows = 1.0f / (float)rows;
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < c; j++) {
                float xh = (x[r * c + j] - mean[j]) * invstd[j];
                dx[r * c + j] += g[j] * invstd[j] *
                                 (dy[r * c + j] - (float)sdy[j] * inv_rows -
                                  xh * (float)sdyx[j] * inv_rows);
            }
    }
    free(sdy);
    return 0;
}

void nn_bn_forward_eval(size_t rows, int c, const float *x, const float *g, const float *b,
                        const float *rmean, const float *rvar, float *y)
{
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < c; j++)
            y[r * c + j] = (x[r * c + j] - rmean[j]) / sqrtf(rvar[j] + NN_BN_EPS) * g[j] + b[j];
}

/* e^x for x <= 0 in activation loops: Cephes polynomial with 2^n scaling (about 2 ulp),
 * branch-free so the loops vectorise (glibc's expf is a scalar call). Clamped at -80, where the
 * result is still a normal float. */
static inline float exp_nonpos(float x)
{
    x = x > -80.0f ? x : -80.0f;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Logistic sigmoid from e^-|x| in (0, 1]: no overflow, no cancellation for x << 0, and no
 * denormal anywhere. The earlier x / (1 + e^-x) with e^-x clamped at e^88 had GCC compute the
 * clamped lane as x / 1.7e38 for every element: a denormal, and a microcode assist of ~100
 * cycles per float that made SiLU half of the edge model's forward time. */
static inline float sigmoid_stable(float x)
{
    float e = exp_nonpos(x < 0.0f ? x : -x);
    float s = 1.0f / (1.0f + e); /* sigmoid(|x|) */
    return x < 0.0f ? e * s : s;
}

EC_TARGET_CLONES void nn_act_forward(enum nn_op op, float slope, size_t count, const float *x, float *y)
{
    switch (op) {
    case OP_RELU:
        for (size_t i = 0; i < count; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case OP_LEAKY:
        for (size_t i = 0; i < count; i++)
            y[i] = x[i] > 0.0f ? x[i] : x[i] * slope;
        break;
    default: /* OP_SILU */
        for (size_t i = 0; i < count; i++)
            y[i] = x[i] * sigmoid_stable(x[i]);
        break;
    }
}

EC_TARGET_CLONES void nn_act_backward(enum nn_op op, float slope, size_t count, const float *x,
                               const float *dy, float *dx)
{
    switch (op) {
    case OP_RELU:
        for (size_t i = 0; i < count; i++)
            dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case OP_LEAKY:
        for (size_t i = 0; i < count; i++)
            dx[i] += x[i] > 0.0f ? dy[i] : dy[i] * slope;
        break;
    default: {
        for (size_t i = 0; i < count; i++) {
            float s = sigmoid_stable(x[i]);
            dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
        }
        break;
    }
    }
}

/* argmax (may be NULL) records the input offset of each output's maximum, for backward.
 * Ties keep the first element in (ky, kx) order, as PyTorch does. */
void nn_maxpool_forward(const struct nn_layer *L, int n, const float *x, float *y,
                        int32_t *argmax)
{
    int C = L->c, k = L->size;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * L->ih * L->iw * C;
        for (int oy = 0; oy < L->h; oy++)
            for (int ox = 0; ox < L->w; ox++) {
                size_t o = (((size_t)i * L->h + oy) * L->w + ox) * C;
                for (int c = 0; c < C; c++) {
                    float best = -INFINITY;
                    int32_t bi = -1;
                    for (int ky = 0; ky < k; ky++) {
                        int iy = oy * L->stride - L->pad + ky;
                        if (iy < 0 || iy >= L->ih)
                            continue;
                        for (int kx = 0; kx < k; kx++) {
                            int ix = ox * L->stride - L->pad + kx;
                            if (ix < 0 || ix >= L->iw)
                                continue;
                            int32_t off = (int32_t)(((size_t)iy * L->iw + ix) * C + c);
                            if (bi < 0 || xi[off] > best) {
                                best = xi[off];
                                bi = off;
                            }
                        }
                    }
                    y[o + c] = best;
                    if (argmax)
                        argmax[o + c] = bi;
                }
            }
    }
}

void nn_maxpool_backward(const struct nn_layer *L, int n, const float *dy,
                         const int32_t *argmax, float *dx)
{
    size_t out_img = (size_t)L->h * L->w * L->c, in_img = (size_t)L->ih * L->iw * L->ic;
    for (int i = 0; i < n; i++)
        for (size_t o = 0; o < out_img; o++)
            if (argmax[i * out_img + o] >= 0)
                dx[i * in_img + argmax[i * out_img + o]] += dy[i * out_img + o];
}

void nn_upsample_forward(const struct nn_layer *L, int n, const float *x, float *y)
{
    int C = L->c;
    for (int i = 0; i < n; i++)
        for (int oy = 0; oy < L->h; oy++)
            for (int ox = 0; ox < L->w; ox++)
                memcpy(y + (((size_t)i * L->h + oy) * L->w + ox) * C,
                       x + (((size_t)i * L->ih + oy / 2) * L->iw + ox / 2) * C,
                       (size_t)C * sizeof(float));
}

void nn_upsample_backward(const struct nn_layer *L, int n, const float *dy, float *dx)
{
    int C = L->c;
    for (int i = 0; i < n; i++)
        for (int oy = 0; oy < L->h; oy++)
            for (int ox = 0; ox < L->w; ox++) {
                const float *g = dy + (((size_t)i * L->h + oy) * L->w + ox) * C;
                float *d = dx + (((size_t)i * L->ih + oy / 2) * L->iw + ox / 2) * C;
                for (int c = 0; c < C; c++)
                    d[c] += g[c];
            }
}

/* Forward needs one im2col block per thread; backward (training) a whole image. */
size_t nn_conv_scratch(const struct nn_layer *L, int train, int threads)
{
    if (L->op != OP_CONV || conv_is_pointwise(L))
        return 0;
    size_t K = (size_t)L->size * L->size * L->ic;
    size_t fwd = (size_t)(threads > NN_MAX_THREADS ? NN_MAX_THREADS : threads) *
                 conv_thread_scratch(L);
    size_t bwd = train ? (size_t)L->h * L->w * K : 0;
    return fwd > bwd ? fwd : bwd;
}
