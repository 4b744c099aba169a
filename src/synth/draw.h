/* Internal to src/synth: a clipped RGB canvas with an object-label plane and
 * textured fills, shared by the background (draw.c users: world.c). */
#ifndef EDGECAM_SYNTH_DRAW_H
#define EDGECAM_SYNTH_DRAW_H

#include <stdint.h>

/* splitmix64: the only randomness in the synthetic world. */
static inline uint64_t rng_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline double rng_unit(uint64_t *s) { return (double)(rng_u64(s) >> 11) * 0x1.0p-53; }
static inline double rng_range(uint64_t *s, double a, double b) { return a + (b - a) * rng_unit(s); }
static inline int rng_int(uint64_t *s, int n) { return (int)(rng_unit(s) * n); }

/* Integer hash of a lattice point, for textures that do not depend on draw order. */
static inline uint32_t hash3(int x, int y, uint32_t seed)
{
    uint32_t h = seed ^ (uint32_t)x * 0x27d4eb2dU ^ (uint32_t)y * 0x165667b1U;
    h ^= h >> 15;
    h *= 0x2c1b3c6dU;
    h ^= h >> 12;
    h *= 0x297a2d39U;
    return h ^ (h >> 15);
}

enum tex_kind {
    TEX_GRAIN,   /* base colour with fine grain (seen by day models) */
    TEX_SHADE,   /* grain plus top-lit vertical shading */
    TEX_BRICK,   /* background walls */
    TEX_STRIPES, /* novel: diagonal stripes of base and alt */
    TEX_CHECKER, /* novel: checkerboard */
    TEX_CAMO,    /* novel: blotches */
};

struct paint {
    uint8_t rgb[3], alt[3];
    enum tex_kind tex;
    uint32_t seed;
    int ox, oy; /* texture origin, so a texture moves with its object */
    int cell;   /* texture cell size in pixels (>= 1) */
    int span;   /* shading height in pixels (TEX_SHADE) */
};

/* Shapes are given in world pixels; the canvas shows the w x h window whose
 * top-left is world (offx, offy). Translating by whole pixels keeps a moving
 * camera's frames exact copies of each other. */
struct canvas {
    uint8_t *rgb; /* w*h*3, row stride w*3 */
    uint8_t *label; /* w*h object ids (0 background), or NULL */
    int w, h;
    int offx, offy;
    uint8_t id;  /* id written by the current object */
    long drawn;  /* pixels newly labelled by the current object */
};

void draw_span(struct canvas *c, int y, int x0, int x1, const struct paint *p);
void draw_rect(struct canvas *c, double x0, double y0, double x1, double y1, const struct paint *p);
void draw_ellipse(struct canvas *c, double cx, double cy, double rx, double ry, const struct paint *p);
void draw_ring(struct canvas *c, double cx, double cy, double r_out, double r_in, const struct paint *p);
/* Convex polygon, vertices in order (n <= 8). */
void draw_poly(struct canvas *c, const double *xy, int n, const struct paint *p);
void draw_line(struct canvas *c, double x0, double y0, double x1, double y1, double width,
               const struct paint *p);

#endif
