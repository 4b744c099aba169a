/* Direct 3x3 convolution for inference on CPUs with AVX-512F and FMA: no im2col, no sgemm.
 *
 * im2col copies every input value 9 times and sgemm then packs both operands again; on the
 * edge model those copies cost as much as a third of the forward. Here each output row is
 * computed in tiles of TILE_PX pixels x 32 output channels held in 12 zmm registers: per input
 * channel, two weight vectors are loaded and each pixel's input value is broadcast into them.
 * Weights are packed once per refresh as [O/16][ky][kx][C][16] (output channels padded to 16
 * with zeros). The three input rows an output row needs are first copied with zero padding
 * (3x the input instead of im2col's 9x), so that every tile runs without bounds checks. Other
 * CPUs, training and other shapes keep the im2col + sgemm path.
 * Built with -ffp-contract=fast (src/nn/CMakeLists.txt) so that `acc += x * w` is one FMA. */
#include "nn/nn_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define LANES 16  /* floats per zmm */
#define TILE_PX 6 /* pixels per tile: 6 x 2 accumulators + 2 weights fit the 32 zmm */

static atomic_int direct_enabled = 1;

void nn_direct3x3_enable(int on) { atomic_store(&direct_enabled, on != 0); }

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_DIRECT3X3 1

static int cpu_has_avx512(void)
{
    static atomic_int cached = -1;
    int v = atomic_load(&cached);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
        atomic_store(&cached, v);
    }
    return v;
}
#else
static int cpu_has_avx512(void) { return 0; }
#endif

static int padded_out(int c) { return (c + LANES - 1) / LANES * LANES; }

int nn_direct3x3_fits(const struct nn_layer *L)
{
    return L->op == OP_CONV && L->size == 3 && L->pad == 1 && (L->stride == 1 || L->stride == 2) &&
           L->ic >= 8 && cpu_has_avx512();
}

int nn_direct3x3_active(const struct nn_layer *L)
{
    return L->dpack && atomic_load(&direct_enabled);
}

size_t nn_direct3x3_packed_floats(const struct nn_layer *L)
{
    return (size_t)padded_out(L->c) * (9 * (size_t)L->ic + 1); /* weights, then the bias */
}

void nn_direct3x3_pack(const struct nn_layer *L, const float *w, const float *b, float *packed)
{
    const int C = L->ic, O = L->c, OP = padded_out(O);
    memset(packed, 0, nn_direct3x3_packed_floats(L) * sizeof(float));
    for (int o = 0; o < O; o++) /* w is [O][ky][kx][C] */
        for (int t = 0; t < 9; t++)
            for (int c = 0; c < C; c++)
                packed[(((size_t)(o / LANES) * 9 + t) * C + c) * LANES + o % LANES] =
                    w[((size_t)o * 9 + t) * C + c];
    memcpy(packed + (size_t)OP * 9 * C, b, (size_t)O * sizeof(float));
}

/* A padded copy of one input row: a zero column on the left, zeros past the right edge far
 * enough for the last tile's reads. */
static int row_floats(const struct nn_layer *L)
{
    return (L->iw + 2 + (TILE_PX + 1) * L->stride) * L->ic;
}

size_t nn_direct3x3_scratch(const struct nn_layer *L) { return 3 * (size_t)row_floats(L); }

#ifdef HAVE_DIRECT3X3
typedef float v16f __attribute__((vector_size(64)));
#define V16_LOAD(v, p) memcpy(&(v), (p), sizeof(v16f))

/* acc[p][0..nb) += taps of pixels ox .. ox + np - 1 over the padded rows (NULL: outside the
 * input, contributes nothing), output channel blocks ob, ob + 1. */
#define DIRECT_TAPS(np, nb)                                                                     \
    for (int ky = 0; ky < 3; ky++) {                                                            \
        if (!rows[ky])                                                                          \
            continue;                                                                           \
        for (int kx = 0; kx < 3; kx++) {                                                        \
            const float *xr = rows[ky] + (size_t)(ox * s + kx) * C;                             \
            const float *wk = wp + ((size_t)ob * 9 + ky * 3 + kx) * C * LANES;                  \
            for (int c = 0; c < C; c++) {                                                       \
                v16f w0, w1 = {0};                                                              \
                V16_LOAD(w0, wk + (size_t)c * LANES);                                           \
                if ((nb) > 1)                                                                   \
                    V16_LOAD(w1, wk + ((size_t)9 * C + c) * LANES);                             \
                for (int p = 0; p < (np); p++) {                                                \
                    float xv = xr[(size_t)p * s * C + c];                                       \
                    acc[p][0] += xv * w0;                                                       \
                    if ((nb) > 1)                                                               \
                        acc[p][1] += xv * w1;                                                   \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

/* Tiles of P pixels along the row for channel blocks ob (and ob + 1 when nb == 2); the last
 * tile computes padding pixels too and keeps only np. */
#define DIRECT_TILES(P)                                                                         \
    for (int ox = 0; ox < L->w; ox += (P)) {                                                    \
        v16f acc[(P)][2];                                                                       \
        for (int p = 0; p < (P); p++)                                                           \
            acc[p][0] = b0, acc[p][1] = b1;                                                     \
        if (nb > 1) {                                                                           \
            DIRECT_TAPS((P), 2)                                                                 \
        } else {                                                                                \
            DIRECT_TAPS((P), 1)                                                                 \
        }                                                                                       \
        int np = L->w - ox < (P) ? L->w - ox : (P);                                             \
        for (int p = 0; p < np; p++)                                                            \
            for (int bb = 0; bb < nb; bb++) {                                                   \
                int o0 = (ob + bb) * LANES, cnt = O - o0 < LANES ? O - o0 : LANES;              \
                float out[LANES];                                                               \
                memcpy(out, &acc[p][bb], sizeof out);                                           \
                memcpy(yrow + (size_t)(ox + p) * O + o0, out, (size_t)cnt * sizeof(float));     \
            }                                                                                   \
    }

/* One output row from the three padded input rows (NULL where outside the input). Rows whose
 * width 5 divides and 6 does not (20, 40, 80: the models' widths) take 5-pixel tiles, which
 * waste no pixel; 6 fills the registers best otherwise. */
__attribute__((target("avx512f,fma"))) static void
direct_row(const struct nn_layer *L, const float *const rows[3], const float *wp, float *yrow)
{
    const int C = L->ic, O = L->c, s = L->stride, nblk = padded_out(O) / LANES;
    const float *bias = wp + (size_t)nblk * LANES * 9 * C;
    const int five = L->w % TILE_PX != 0 && L->w % (TILE_PX - 1) == 0;
    for (int ob = 0; ob < nblk; ob += 2) {
        const int nb = nblk - ob >= 2 ? 2 : 1;
        v16f b0, b1 = {0};
        V16_LOAD(b0, bias + (size_t)ob * LANES);
        if (nb > 1)
            V16_LOAD(b1, bias + (size_t)(ob + 1) * LANES);
        if (five) {
            DIRECT_TILES(TILE_PX - 1)
        } else {
            DIRECT_TILES(TILE_PX)
        }
    }
}
#endif

void nn_direct3x3_rows(const struct nn_layer *L, const float *x, const float *packed,
                       int oy0, int oy1, float *y, float *scratch)
{
#ifdef HAVE_DIRECT3X3
    const int C = L->ic, rf = row_floats(L);
    for (int oy = oy0; oy < oy1; oy++) {
        const float *rows[3];
        for (int ky = 0; ky < 3; ky++) {
            int iy = oy * L->stride - 1 + ky;
            float *r = scratch + (size_t)ky * rf;
            rows[ky] = iy >= 0 && iy < L->ih ? r : NULL;
            if (!rows[ky])
                continue;
            memset(r, 0, (size_t)C * sizeof(float));
            memcpy(r + C, x + (size_t)iy * L->iw * C, (size_t)L->iw * C * sizeof(float));
            memset(r + (size_t)(L->iw + 1) * C, 0, (size_t)(rf - (L->iw + 1) * C) * sizeof(float));
        }
        direct_row(L, rows, packed, y + (size_t)oy * L->w * L->c);
    }
#else
    (void)L, (void)x, (void)packed, (void)oy0, (void)oy1, (void)y, (void)scratch;
#endif
}
