/* OpenCV 4.6-compatible image operations for the frame filter (see imgproc.h).
 * Every loop works on whole rows with the image border handled apart, so the inner loops are
 * branch-free and the compiler vectorises them. */
#include "filter/imgproc.h"

#include "core/compiler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Hot loops get an AVX2 clone picked at load time; the default clone keeps the binary portable. */
#define IP_VECTOR EC_TARGET_CLONES

#define GAUSS_N 11
#define GAUSS_R (GAUSS_N / 2)
#define GAUSS_RING 16 /* cached rows of the horizontal pass: >= GAUSS_N, a power of two */
#define HARRIS_BLOCK 5
#define HARRIS_R (HARRIS_BLOCK / 2)
#define HARRIS_RING 8 /* cached rows of Harris box sums: > HARRIS_BLOCK, a power of two */

struct ip_ws {
    int w, h;
    uint16_t gk[GAUSS_N];
    uint8_t *pad;      /* w + 2*GAUSS_R: one row with its reflected border */
    uint16_t *gring;   /* GAUSS_RING * w: rows of the Gaussian horizontal pass */
    int gring_row[GAUSS_RING];
    uint8_t *tmp;      /* w*h: dilate's horizontal pass */
    int16_t *cdx, *cdy; /* 3 * w: Canny gradients of the rows around the current one */
    int16_t *cmag;     /* 4 * (w+2): their magnitudes with a zero column each side, + a zero row */
    uint8_t *map;      /* (w+2)*(h+2): Canny states, then contour scan image */
    uint32_t *stack;   /* w*h: Canny hysteresis stack */
    float *resp;       /* w*h: Harris response */
    uint8_t *mask, *mask2; /* w*h */
    int16_t *rdx, *rdy;           /* w: one Sobel row */
    int32_t *prod;                /* 3 * (w + 2*HARRIS_R): dx*dx, dx*dy, dy*dy with border */
    int32_t *hsum;                /* HARRIS_RING * 3 * w: horizontal box sums of cached rows */
    int hsum_row[HARRIS_RING];    /* which image row each ring slot holds, -1 if none */
};

/* cv::borderInterpolate for BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba). */
static int reflect101(int p, int len)
{
    if (len == 1)
        return 0;
    while (p < 0 || p >= len)
        p = p < 0 ? -p : 2 * len - p - 2;
    return p;
}

static int clampi(int p, int len) { return p < 0 ? 0 : (p >= len ? len - 1 : p); }

ip_ws *ip_ws_create(int w, int h)
{
    if (w <= 0 || h <= 0)
        return NULL;
    ip_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    size_t n = (size_t)w * (size_t)h, nf = (size_t)(w + 2) * (size_t)(h + 2);
    ws->w = w;
    ws->h = h;
    ip_gauss_kernel_q8(GAUSS_N, ws->gk);
    ws->pad = malloc((size_t)w + 2 * GAUSS_R);
    ws->gring = malloc(GAUSS_RING * (size_t)w * sizeof *ws->gring);
    ws->tmp = malloc(n);
    ws->cdx = malloc(3 * (size_t)w * sizeof *ws->cdx);
    ws->cdy = malloc(3 * (size_t)w * sizeof *ws->cdy);
    ws->cmag = calloc(4 * ((size_t)w + 2), sizeof *ws->cmag);
    ws->map = malloc(nf);
    ws->stack = malloc(n * sizeof *ws->stack);
    ws->resp = malloc(n * sizeof *ws->resp);
    ws->mask = malloc(n);
    ws->mask2 = malloc(n);
    ws->rdx = malloc((size_t)w * sizeof *ws->rdx);
    ws->rdy = malloc((size_t)w * sizeof *ws->rdy);
    ws->prod = malloc(3 * ((size_t)w + 2 * HARRIS_R) * sizeof *ws->prod);
    ws->hsum = malloc(HARRIS_RING * 3 * (size_t)w * sizeof *ws->hsum);
    if (!ws->pad || !ws->gring || !ws->tmp || !ws->cdx || !ws->cdy || !ws->cmag || !ws->map ||
        !ws->stack || !ws->resp || !ws->mask || !ws->mask2 || !ws->rdx || !ws->rdy || !ws->prod ||
        !ws->hsum) {
        ip_ws_destroy(ws);
        return NULL;
    }
    return ws;
}

void ip_ws_destroy(ip_ws *ws)
{
    if (!ws)
        return;
    free(ws->pad);
    free(ws->gring);
    free(ws->tmp);
    free(ws->cdx);
    free(ws->cdy);
    free(ws->cmag);
    free(ws->map);
    free(ws->stack);
    free(ws->resp);
    free(ws->mask);
    free(ws->mask2);
    free(ws->rdx);
    free(ws->rdy);
    free(ws->prod);
    free(ws->hsum);
    free(ws);
}

/* ---- GaussianBlur ---------------------------------------------------------------------- */

/* Round half to even, as cvRound on a softdouble. */
static long round_even(double v)
{
    double r = nearbyint(v); /* default rounding mode: to nearest, ties to even */
    return (long)r;
}

/* OpenCV's getGaussianKernelBitExact + getGaussianKernelFixedPoint_ED with 8 fraction bits, for
 * sigma 0 and an odd n <= 127: the sampled Gaussian, normalised, then quantised from the tails
 * inwards with error diffusion so the kernel sums to exactly 256. */
void ip_gauss_kernel_q8(int n, uint16_t *k)
{
    double sigma = n * 0.15 + 0.35; /* ((n-1)*0.5 - 1)*0.3 + 0.8 */
    double scale2x = -0.125 / (sigma * sigma);
    int half = (n - 1) / 2;
    double values[64], sum = 0;
    for (int i = 0, x = 1 - n; i < half; i++, x += 2) {
        values[i] = exp((double)(x * x) * scale2x);
        sum += values[i];
    }
    sum = 1.0 / (sum * 2 + 1.0);
    double err = 0;
    long total = 0;
    for (int i = 0; i < half; i++) {
        double adj = values[i] * sum * 256.0 + err;
        long v = round_even(adj);
        err = adj - (double)v;
        k[i] = k[n - 1 - i] = (uint16_t)v;
        total += v;
    }
    k[half] = (uint16_t)(256 - 2 * total);
}

IP_VECTOR
static void gauss_row(const ip_ws *ws, const uint8_t *restrict src, uint16_t *restrict dst)
{
    const int w = ws->w;
    uint8_t *restrict p = ws->pad;
    const unsigned k0 = ws->gk[0], k1 = ws->gk[1], k2 = ws->gk[2], k3 = ws->gk[3],
                   k4 = ws->gk[4], k5 = ws->gk[5];
    memcpy(p + GAUSS_R, src, (size_t)w);
    for (int i = 1; i <= GAUSS_R; i++) {
        p[GAUSS_R - i] = src[reflect101(-i, w)];
        p[GAUSS_R + w - 1 + i] = src[reflect101(w - 1 + i, w)];
    }
    /* Sums stay below 256 * 255: uint16 is exact, as OpenCV's ufixedpoint16. */
    for (int x = 0; x < w; x++) {
        const uint8_t *c = p + x + GAUSS_R;
        dst[x] = (uint16_t)(k5 * c[0] + k4 * (unsigned)(c[-1] + c[1]) +
                            k3 * (unsigned)(c[-2] + c[2]) + k2 * (unsigned)(c[-3] + c[3]) +
                            k1 * (unsigned)(c[-4] + c[4]) + k0 * (unsigned)(c[-5] + c[5]));
    }
}

/* Vertical pass: 16 + 16 fraction bits, rounded like OpenCV's ufixedpoint32 -> uint8. */
IP_VECTOR
static void gauss_col(const uint16_t *k, const uint16_t *const *r, int w, uint8_t *restrict d)
{
    const uint32_t k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5];
    const uint16_t *restrict r0 = r[0], *restrict r1 = r[1], *restrict r2 = r[2],
                   *restrict r3 = r[3], *restrict r4 = r[4], *restrict r5 = r[5],
                   *restrict r6 = r[6], *restrict r7 = r[7], *restrict r8 = r[8],
                   *restrict r9 = r[9], *restrict r10 = r[10];
    for (int x = 0; x < w; x++) {
        uint32_t s = k5 * r5[x] + k4 * ((uint32_t)r4[x] + r6[x]) + k3 * ((uint32_t)r3[x] + r7[x]) +
                     k2 * ((uint32_t)r2[x] + r8[x]) + k1 * ((uint32_t)r1[x] + r9[x]) +
                     k0 * ((uint32_t)r0[x] + r10[x]);
        d[x] = (uint8_t)((s + (1u << 15)) >> 16);
    }
}

/* The 11 rows one output row needs always lie within 11 consecutive image rows, so a ring of 16
 * horizontal-pass rows keeps them all while staying in cache. */
static const uint16_t *gauss_ring_row(ip_ws *ws, const uint8_t *src, int r)
{
    int slot = r & (GAUSS_RING - 1);
    uint16_t *row = ws->gring + (size_t)slot * (size_t)ws->w;
    if (ws->gring_row[slot] != r) {
        gauss_row(ws, src + (size_t)r * (size_t)ws->w, row);
        ws->gring_row[slot] = r;
    }
    return row;
}

void ip_gauss11(ip_ws *ws, const uint8_t *src, uint8_t *dst)
{
    const int w = ws->w, h = ws->h;
    for (int i = 0; i < GAUSS_RING; i++)
        ws->gring_row[i] = -1;
    for (int y = 0; y < h; y++) {
        const uint16_t *r[GAUSS_N];
        for (int i = 0; i < GAUSS_N; i++)
            r[i] = gauss_ring_row(ws, src, reflect101(y - GAUSS_R + i, h));
        gauss_col(ws->gk, r, w, dst + (size_t)y * (size_t)w);
    }
}

/* ---- Sobel 3x3 ----------------------------------------------------------------------- */

/* One row of dx, dy from rows a (above), b, c (below); xl/xr: column used for x-1 at x=0 and x+1
 * at x=w-1 (the border mode). */
IP_VECTOR
static void sobel_row(const uint8_t *restrict a, const uint8_t *restrict b,
                      const uint8_t *restrict c, int w, int xl, int xr, int16_t *restrict dx,
                      int16_t *restrict dy)
{
    for (int x = 0; x < w; x += (w - 1 > 0 ? w - 1 : 1)) {
        int l = x == 0 ? xl : x - 1, r = x == w - 1 ? xr : x + 1;
        dx[x] = (int16_t)(a[r] - a[l] + 2 * (b[r] - b[l]) + c[r] - c[l]);
        dy[x] = (int16_t)(c[l] + 2 * c[x] + c[r] - a[l] - 2 * a[x] - a[r]);
    }
    for (int x = 1; x < w - 1; x++) {
        dx[x] = (int16_t)(a[x + 1] - a[x - 1] + 2 * (b[x + 1] - b[x - 1]) + c[x + 1] - c[x - 1]);
        dy[x] = (int16_t)(c[x - 1] + 2 * c[x] + c[x + 1] - a[x - 1] - 2 * a[x] - a[x + 1]);
    }
}

/* ---- Canny --------------------------------------------------------------------------- */

#define CANNY_SHIFT 15
#define CANNY_TG22 13573 /* (int)(tan(22.5 deg) * 2^15 + 0.5) */

/* Non-maximum suppression of one row, as OpenCV: 2 = edge seed (m > high), 0 = may join an edge,
 * 1 = never an edge. Branch-free (every neighbour loaded, then selected) so it vectorises. */
IP_VECTOR
static void canny_nms_row(const int16_t *restrict dxr, const int16_t *restrict dyr,
                          const int16_t *restrict mp, const int16_t *restrict ma,
                          const int16_t *restrict mn, int w, int low, int high,
                          uint8_t *restrict mrow)
{
    for (int j = 0; j < w; j++) {
        int m = ma[j], xs = dxr[j], ys = dyr[j];
        int ax = xs < 0 ? -xs : xs, ay = (ys < 0 ? -ys : ys) << CANNY_SHIFT;
        int tg22x = ax * CANNY_TG22, tg67x = tg22x + (ax << (CANNY_SHIFT + 1));
        int horiz = ay < tg22x, vert = ay > tg67x;
        int same_sign = (xs ^ ys) >= 0; /* diagonal through (x-1, y-1) and (x+1, y+1) */
        int pl = mp[j - 1], pc = mp[j], pr = mp[j + 1], nl = mn[j - 1], nc = mn[j], nr = mn[j + 1];
        int al = ma[j - 1], ar = ma[j + 1];
        int dp = same_sign ? pl : pr, dn = same_sign ? nr : nl;
        int a = horiz ? al : (vert ? pc : dp);
        int b = horiz ? ar : (vert ? nc : dn);
        /* OpenCV: m > a && m >= b, but m > b on the diagonals. */
        int keep = (m > low) & (m > a) & (m + (horiz | vert) > b);
        mrow[j] = (uint8_t)(keep ? (m > high ? 2 : 0) : 1);
    }
}

/* Gradients of row y (BORDER_REPLICATE, as Canny's Sobel) into ring slot y % 3; returns the
 * magnitude row, indexable from -1 to w (0 there: OpenCV's magnitude outside the image). */
IP_VECTOR
static const int16_t *canny_grad_row(ip_ws *ws, const uint8_t *src, int y)
{
    const int w = ws->w, h = ws->h, slot = y % 3;
    if (y < 0 || y >= h)
        return ws->cmag + 3 * ((size_t)w + 2) + 1; /* the zero row */
    int16_t *dx = ws->cdx + (size_t)slot * (size_t)w, *dy = ws->cdy + (size_t)slot * (size_t)w;
    sobel_row(src + (size_t)clampi(y - 1, h) * (size_t)w, src + (size_t)y * (size_t)w,
              src + (size_t)clampi(y + 1, h) * (size_t)w, w, 0, w - 1, dx, dy);
    int16_t *restrict m = ws->cmag + (size_t)slot * ((size_t)w + 2) + 1;
    for (int x = 0; x < w; x++)
        m[x] = (int16_t)(abs(dx[x]) + abs(dy[x]));
    return m;
}

IP_VECTOR
void ip_canny(ip_ws *ws, const uint8_t *src, int low, int high, uint8_t *dst)
{
    const int w = ws->w, h = ws->h, mw = w + 2;
    uint8_t *map = ws->map;
    const int16_t *mp = canny_grad_row(ws, src, -1), *ma = canny_grad_row(ws, src, 0);
    memset(map, 1, (size_t)mw);
    memset(map + (size_t)(h + 1) * (size_t)mw, 1, (size_t)mw);
    size_t top = 0;
    for (int y = 0; y < h; y++) {
        uint8_t *mrow = map + (size_t)(y + 1) * (size_t)mw;
        mrow[0] = mrow[w + 1] = 1;
        const int16_t *mn = canny_grad_row(ws, src, y + 1);
        canny_nms_row(ws->cdx + (size_t)(y % 3) * (size_t)w, ws->cdy + (size_t)(y % 3) * (size_t)w,
                      mp, ma, mn, w, low, high, mrow + 1);
        mp = ma;
        ma = mn;
        for (int x = 1; x <= w; x++)
            if (mrow[x] == 2)
                ws->stack[top++] = (uint32_t)(mrow + x - map);
    }
    /* Hysteresis: grow the seeds through 8-connected candidates. Each pixel is pushed at most
     * once (it is set to 2 first), so the stack never exceeds w*h. */
    const ptrdiff_t nb[8] = {-1, 1, -mw - 1, -mw, -mw + 1, mw - 1, mw, mw + 1};
    while (top > 0) {
        size_t i = ws->stack[--top];
        for (int k = 0; k < 8; k++) {
            size_t j = (size_t)((ptrdiff_t)i + nb[k]);
            if (map[j] == 0) {
                map[j] = 2;
                ws->stack[top++] = (uint32_t)j;
            }
        }
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *mrow = map + (size_t)(y + 1) * (size_t)mw + 1;
        uint8_t *d = dst + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++)
            d[x] = (uint8_t)(mrow[x] >> 1);
    }
}

/* ---- Harris -------------------------------------------------------------------------- */

IP_VECTOR
static void box5_row(const int32_t *restrict p, int w, int32_t *restrict out)
{
    for (int x = 0; x < w; x++)
        out[x] = p[x] + p[x + 1] + p[x + 2] + p[x + 3] + p[x + 4];
}

/* Horizontal 5-sums of dx*dx, dx*dy, dy*dy for image row r, cached in the ring. */
static const int32_t *harris_hsum(ip_ws *ws, const uint8_t *gray, int r)
{
    const int w = ws->w, h = ws->h, pw = w + 2 * HARRIS_R;
    int slot = r & (HARRIS_RING - 1);
    int32_t *out = ws->hsum + (size_t)slot * 3 * (size_t)w;
    if (ws->hsum_row[slot] == r)
        return out;
    const uint8_t *a = gray + (size_t)reflect101(r - 1, h) * (size_t)w;
    const uint8_t *b = gray + (size_t)r * (size_t)w;
    const uint8_t *c = gray + (size_t)reflect101(r + 1, h) * (size_t)w;
    sobel_row(a, b, c, w, reflect101(-1, w), reflect101(w, w), ws->rdx, ws->rdy);
    int32_t *xx = ws->prod, *xy = xx + pw, *yy = xy + pw;
    for (int x = 0; x < w; x++) {
        int32_t dx = ws->rdx[x], dy = ws->rdy[x];
        xx[x + HARRIS_R] = dx * dx;
        xy[x + HARRIS_R] = dx * dy;
        yy[x + HARRIS_R] = dy * dy;
    }
    for (int i = 1; i <= HARRIS_R; i++) {
        int lx = reflect101(-i, w) + HARRIS_R, rx = reflect101(w - 1 + i, w) + HARRIS_R;
        xx[HARRIS_R - i] = xx[lx], xy[HARRIS_R - i] = xy[lx], yy[HARRIS_R - i] = yy[lx];
        xx[HARRIS_R + w - 1 + i] = xx[rx], xy[HARRIS_R + w - 1 + i] = xy[rx];
        yy[HARRIS_R + w - 1 + i] = yy[rx];
    }
    for (int k = 0; k < 3; k++)
        box5_row(ws->prod + (size_t)k * (size_t)pw, w, out + (size_t)k * (size_t)w);
    ws->hsum_row[slot] = r;
    return out;
}

/* Box sums over the 5 cached rows, then R = det - k * trace^2 with k = 0.05 in float, like
 * OpenCV's calcHarris. Each ring row holds the a, b, c sums one after the other. */
static void harris_row(const int32_t *const *rows, int w, float *restrict resp)
{
    const int32_t *restrict r0 = rows[0], *restrict r1 = rows[1], *restrict r2 = rows[2],
                  *restrict r3 = rows[3], *restrict r4 = rows[4];
    for (int x = 0; x < w; x++) {
        int xb = x + w, xc = x + 2 * w;
        float a = (float)(r0[x] + r1[x] + r2[x] + r3[x] + r4[x]);
        float b = (float)(r0[xb] + r1[xb] + r2[xb] + r3[xb] + r4[xb]);
        float c = (float)(r0[xc] + r1[xc] + r2[xc] + r3[xc] + r4[xc]);
        float t = a + c;
        resp[x] = a * c - b * b - 0.05f * t * t;
    }
}

/* Response in OpenCV's units up to a positive factor (it scales Sobel by 1/(4*block)), in float
 * like OpenCV, from exact integer box sums. Returns the maximum, 0 if none is positive. */
IP_VECTOR
static float harris_response_rows(ip_ws *ws, const uint8_t *gray)
{
    const int w = ws->w, h = ws->h;
    float vmax;
    int32_t vmax_bits = INT32_MIN;
    for (int i = 0; i < HARRIS_RING; i++)
        ws->hsum_row[i] = -1;
    for (int y = 0; y < h; y++) {
        const int32_t *rows[HARRIS_BLOCK];
        for (int i = 0; i < HARRIS_BLOCK; i++)
            rows[i] = harris_hsum(ws, gray, reflect101(y - HARRIS_R + i, h));
        harris_row(rows, w, ws->resp + (size_t)y * (size_t)w);
        const float *resp = ws->resp + (size_t)y * (size_t)w;
        /* Positive floats order like their bit patterns: an integer max vectorises. */
        for (int x = 0; x < w; x++) {
            int32_t bits;
            memcpy(&bits, &resp[x], sizeof bits);
            vmax_bits = bits > vmax_bits ? bits : vmax_bits;
        }
    }
    if (vmax_bits <= 0)
        return 0;
    memcpy(&vmax, &vmax_bits, sizeof vmax);
    return vmax;
}

IP_VECTOR
void ip_harris_mask(ip_ws *ws, const uint8_t *gray, double rel, uint8_t *dst)
{
    const size_t n = (size_t)ws->w * (size_t)ws->h;
    float vmax = harris_response_rows(ws, gray);
    if (!(vmax > 0)) {
        memset(dst, 0, n);
        return;
    }
    /* dilate then threshold == threshold then dilate: max commutes with a monotone step. */
    double t = rel * (double)vmax;
    for (size_t i = 0; i < n; i++)
        ws->mask[i] = (double)ws->resp[i] > t;
    ip_dilate3(ws, ws->mask, dst);
}

/* ---- dilate -------------------------------------------------------------------------- */

IP_VECTOR
void ip_dilate3(ip_ws *ws, const uint8_t *src, uint8_t *dst)
{
    const int w = ws->w, h = ws->h;
    /* Pixels outside the image never win a max (OpenCV's default border for dilate). */
    uint8_t *tmp = ws->tmp;
    for (int y = 0; y < h; y++) {
        const uint8_t *s = src + (size_t)y * (size_t)w;
        uint8_t *t = tmp + (size_t)y * (size_t)w;
        if (w == 1) {
            t[0] = s[0];
            continue;
        }
        t[0] = s[0] | s[1];
        t[w - 1] = s[w - 2] | s[w - 1];
        for (int x = 1; x < w - 1; x++)
            t[x] = s[x - 1] | s[x] | s[x + 1];
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *a = tmp + (size_t)(y > 0 ? y - 1 : y) * (size_t)w;
        const uint8_t *b = tmp + (size_t)y * (size_t)w;
        const uint8_t *c = tmp + (size_t)(y < h - 1 ? y + 1 : y) * (size_t)w;
        uint8_t *d = dst + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++)
            d[x] = a[x] | b[x] | c[x];
    }
}

/* ---- findContours(RETR_EXTERNAL) + contourArea ------------------------------------------ */

/* Direction codes as OpenCV's chain code: 0 = east, counter-clockwise (y grows downwards). */
static const int code_dx[8] = {1, 1, 0, -1, -1, -1, 0, 1};
static const int code_dy[8] = {0, -1, -1, -1, 0, 1, 1, 1};

#define MARK_POS 2
#define MARK_NEG ((int8_t)(MARK_POS | -128))

/* Suzuki border following of an outer border from i0 (OpenCV's icvFetchContour), marking the
 * border pixels; returns twice the enclosed area (shoelace over the traced pixel centres). */
static int64_t trace_outer(int8_t *i0, int step, int x0, int y0)
{
    ptrdiff_t deltas[16];
    for (int s = 0; s < 8; s++)
        deltas[s] = deltas[s + 8] = code_dx[s] + (ptrdiff_t)code_dy[s] * step;
    int s = 4, s_end = 4;
    int8_t *i1, *i3, *i4 = NULL;
    do {
        s = (s - 1) & 7;
        i1 = i0 + deltas[s];
    } while (*i1 == 0 && s != s_end);
    if (s == s_end) { /* single pixel */
        *i0 = MARK_NEG;
        return 0;
    }
    int64_t area2 = 0;
    int px = x0, py = y0;
    i3 = i0;
    for (;;) {
        s_end = s;
        while (s < 15) {
            i4 = i3 + deltas[++s];
            if (*i4 != 0)
                break;
        }
        s &= 7;
        if ((unsigned)(s - 1) < (unsigned)s_end) /* the east neighbour was examined: 0 */
            *i3 = MARK_NEG;
        else if (*i3 == 1)
            *i3 = MARK_POS;
        int nx = px + code_dx[s], ny = py + code_dy[s];
        area2 += (int64_t)px * ny - (int64_t)nx * py;
        px = nx;
        py = ny;
        if (i4 == i0 && i3 == i1)
            break;
        i3 = i4;
        s = (s + 4) & 7;
    }
    return area2 < 0 ? -area2 : area2;
}

double ip_max_contour_area(ip_ws *ws, const uint8_t *mask)
{
    const int w = ws->w, h = ws->h, step = w + 2;
    int8_t *img = (int8_t *)ws->map;
    /* The scan image has a zero frame, like findContours' copyMakeBorder. */
    memset(img, 0, (size_t)step);
    memset(img + (size_t)(h + 1) * (size_t)step, 0, (size_t)step);
    for (int y = 0; y < h; y++) {
        int8_t *row = img + (size_t)(y + 1) * (size_t)step;
        row[0] = row[w + 1] = 0;
        const uint8_t *m = mask + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++)
            row[x + 1] = m[x] != 0;
    }
    int64_t best = 0;
    /* cvFindNextContour in RETR_EXTERNAL mode: an outer border starts at a 0 -> 1 step unless the
     * last border met on this row says we are inside a component (its mark is positive). */
    for (int y = 1; y <= h; y++) {
        int8_t *row = img + (size_t)y * (size_t)step;
        int prev = 0, lnbd = 0;
        for (int x = 1; x <= w; x++) {
            uint64_t word;
            /* Skip background 8 pixels at a time (the frame column w+1 is 0 and may be read). */
            while (prev == 0 && x + 7 <= w + 1 && (memcpy(&word, row + x, 8), word == 0))
                x += 8;
            if (x > w)
                break;
            int p = row[x];
            if (p == prev)
                continue;
            if (prev == 0 && p == 1) {
                if (row[lnbd] <= 0) {
                    lnbd = x;
                    int64_t a2 = trace_outer(row + x, step, x, y);
                    if (a2 > best)
                        best = a2;
                    prev = row[x];
                    continue;
                }
            } else if (p == 0 && prev >= 1 && (prev & -2)) {
                lnbd = x - 1; /* a hole: not traced in this mode, but it is the last border */
            }
            prev = p;
            if (prev & -2)
                lnbd = x;
        }
    }
    return (double)best / 2.0;
}

IP_VECTOR
double ip_area_diff(ip_ws *ws, const uint8_t *a, const uint8_t *b, int thresh)
{
    const size_t n = (size_t)ws->w * (size_t)ws->h;
    for (size_t i = 0; i < n; i++)
        ws->mask[i] = abs(a[i] - b[i]) > thresh;
    ip_dilate3(ws, ws->mask, ws->mask2);
    return ip_max_contour_area(ws, ws->mask2);
}

IP_VECTOR
size_t ip_count_differing(const uint8_t *restrict a, const uint8_t *restrict b, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += a[i] != b[i];
    return count;
}

IP_VECTOR
size_t ip_count_rgb_absdiff_over(const uint8_t *restrict a, const uint8_t *restrict b, size_t npix,
                                 int thresh)
{
    size_t count = 0;
    for (size_t i = 0; i < 3 * npix; i += 3) {
        unsigned dr = (unsigned)abs(a[i] - b[i]), dg = (unsigned)abs(a[i + 1] - b[i + 1]),
                 db = (unsigned)abs(a[i + 2] - b[i + 2]);
        count += (int)((dr * 9798u + dg * 19235u + db * 3735u + (1u << 14)) >> 15) > thresh;
    }
    return count;
}
