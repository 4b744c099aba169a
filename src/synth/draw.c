/* Clipped, textured fills. Shapes are sampled at pixel centres; every
 * coordinate is rounded the same way on every machine (no libm beyond sqrt,
 * which IEEE 754 rounds exactly). */
#include "synth/draw.h"

#include <math.h>
#include <stddef.h>

static inline uint8_t clamp_u8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* Colour of the texture at canvas pixel (x, y). */
static inline void texel(const struct paint *p, int x, int y, uint8_t out[3])
{
    int u = x - p->ox, v = y - p->oy, cell = p->cell > 0 ? p->cell : 1;
    const uint8_t *base = p->rgb;
    int delta;
    switch (p->tex) {
    case TEX_STRIPES:
        base = (((u + v) / cell) & 1) ? p->alt : p->rgb;
        delta = (int)(hash3(u >> 1, v >> 1, p->seed) & 7) - 4;
        break;
    case TEX_CHECKER:
        base = (((u / cell) ^ (v / cell)) & 1) ? p->alt : p->rgb;
        delta = (int)(hash3(u >> 1, v >> 1, p->seed) & 7) - 4;
        break;
    case TEX_CAMO: {
        /* Two lattice scales mixed give irregular blotches. */
        uint32_t a = hash3((u + cell * 64) / cell, (v + cell * 64) / cell, p->seed);
        uint32_t b = hash3((u + cell * 64) / (cell * 2 + 1), (v + cell * 64) / (cell * 2 + 1), ~p->seed);
        base = ((a & 3) + (b & 3) > 3) ? p->alt : p->rgb;
        delta = 0;
        break;
    }
    case TEX_BRICK: {
        int row = v / cell, bw = cell * 3;
        int mortar = (v % cell == 0) || ((u + (row & 1) * (bw / 2)) % bw == 0);
        base = mortar ? p->alt : p->rgb;
        delta = (int)(hash3(u / 2, v / 2, p->seed) & 15) - 8;
        break;
    }
    case TEX_SHADE: {
        int span = p->span > 0 ? p->span : 1;
        int vv = v < 0 ? 0 : v > span ? span : v;
        delta = 28 - 56 * vv / span + (int)(hash3(u >> 1, v >> 1, p->seed) & 7) - 4;
        break;
    }
    case TEX_GRAIN:
    default:
        delta = (int)(hash3(u >> 1, v >> 1, p->seed) & 15) - 8;
        break;
    }
    out[0] = clamp_u8(base[0] + delta);
    out[1] = clamp_u8(base[1] + delta);
    out[2] = clamp_u8(base[2] + delta);
}

void draw_span(struct canvas *c, int y, int x0, int x1, const struct paint *p)
{
    int iy = y - c->offy;
    if (iy < 0 || iy >= c->h)
        return;
    if (x0 < c->offx)
        x0 = c->offx;
    if (x1 > c->offx + c->w)
        x1 = c->offx + c->w;
    if (x0 >= x1)
        return;
    uint8_t *px = c->rgb + ((size_t)iy * c->w + (x0 - c->offx)) * 3;
    uint8_t *lab = c->label ? c->label + (size_t)iy * c->w : 0;
    for (int x = x0; x < x1; x++, px += 3) {
        texel(p, x, y, px); /* textures live in world coordinates */
        if (lab && lab[x - c->offx] != c->id) {
            lab[x - c->offx] = c->id;
            c->drawn++;
        }
    }
}

/* Clamps a row range to the rows the canvas shows. */
static void clip_rows(const struct canvas *c, int *ya, int *yb)
{
    if (*ya < c->offy)
        *ya = c->offy;
    if (*yb > c->offy + c->h)
        *yb = c->offy + c->h;
}

/* First pixel whose centre is at or right of `x`. */
static inline int pix_ceil(double x) { return (int)ceil(x - 0.5); }

void draw_rect(struct canvas *c, double x0, double y0, double x1, double y1, const struct paint *p)
{
    int ya = pix_ceil(y0), yb = pix_ceil(y1), xa = pix_ceil(x0), xb = pix_ceil(x1);
    clip_rows(c, &ya, &yb);
    for (int y = ya; y < yb; y++)
        draw_span(c, y, xa, xb, p);
}

void draw_ellipse(struct canvas *c, double cx, double cy, double rx, double ry, const struct paint *p)
{
    if (rx <= 0 || ry <= 0)
        return;
    int ya = pix_ceil(cy - ry), yb = pix_ceil(cy + ry);
    clip_rows(c, &ya, &yb);
    for (int y = ya; y < yb; y++) {
        double dy = (y + 0.5 - cy) / ry, q = 1 - dy * dy;
        if (q <= 0)
            continue;
        double hw = rx * sqrt(q);
        draw_span(c, y, pix_ceil(cx - hw), pix_ceil(cx + hw), p);
    }
}

void draw_ring(struct canvas *c, double cx, double cy, double r_out, double r_in, const struct paint *p)
{
    if (r_out <= 0)
        return;
    int ya = pix_ceil(cy - r_out), yb = pix_ceil(cy + r_out);
    clip_rows(c, &ya, &yb);
    for (int y = ya; y < yb; y++) {
        double dy = y + 0.5 - cy, qo = r_out * r_out - dy * dy, qi = r_in * r_in - dy * dy;
        if (qo <= 0)
            continue;
        double ho = sqrt(qo);
        if (qi <= 0) {
            draw_span(c, y, pix_ceil(cx - ho), pix_ceil(cx + ho), p);
            continue;
        }
        double hi = sqrt(qi);
        draw_span(c, y, pix_ceil(cx - ho), pix_ceil(cx - hi), p);
        draw_span(c, y, pix_ceil(cx + hi), pix_ceil(cx + ho), p);
    }
}

void draw_poly(struct canvas *c, const double *xy, int n, const struct paint *p)
{
    if (n < 3 || n > 8)
        return;
    double ymin = xy[1], ymax = xy[1];
    for (int i = 1; i < n; i++) {
        ymin = fmin(ymin, xy[2 * i + 1]);
        ymax = fmax(ymax, xy[2 * i + 1]);
    }
    int ya = pix_ceil(ymin), yb = pix_ceil(ymax);
    clip_rows(c, &ya, &yb);
    for (int y = ya; y < yb; y++) {
        double sy = y + 0.5, lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < n; i++) {
            double ax = xy[2 * i], ay = xy[2 * i + 1];
            double bx = xy[2 * ((i + 1) % n)], by = xy[2 * ((i + 1) % n) + 1];
            if ((sy < ay) == (sy < by))
                continue; /* edge does not cross this row */
            double x = ax + (sy - ay) * (bx - ax) / (by - ay);
            lo = fmin(lo, x);
            hi = fmax(hi, x);
        }
        if (lo < hi)
            draw_span(c, y, pix_ceil(lo), pix_ceil(hi), p);
    }
}

void draw_line(struct canvas *c, double x0, double y0, double x1, double y1, double width,
               const struct paint *p)
{
    double dx = x1 - x0, dy = y1 - y0, len = sqrt(dx * dx + dy * dy);
    if (len <= 0)
        return;
    double nx = -dy / len * width / 2, ny = dx / len * width / 2;
    double q[8] = {x0 + nx, y0 + ny, x1 + nx, y1 + ny, x1 - nx, y1 - ny, x0 - nx, y0 - ny};
    draw_poly(c, q, 4, p);
}
