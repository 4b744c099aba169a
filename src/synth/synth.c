/* The synthetic street: simulation (lanes, sidewalks, a crossing), object
 * drawing with an id plane for exact visible boxes, and the drift effects.
 *
 * Layout (fractions of the frame height H, camera at rest): sky and
 * buildings above 0.38, far sidewalk 0.38-0.46, four road lanes 0.46-0.84
 * (the two far ones drive left, the near ones right), near sidewalk below.
 * Objects scale with the y of their ground contact ("foot"), are drawn far to
 * near, and each frame's ground truth is the bounding box of the pixels that
 * still carry an object's id after every object is drawn.
 *
 * Three independent random streams keep things comparable: the world stream
 * (spawns, appearance draws) does not depend on drift knobs, the camera stream
 * advances once per frame, and noise comes from a per-frame stream. So the
 * same seed gives the same objects and boxes for day, night or fog, only the
 * pixels differ (camera shift moves the boxes with the view). */
#include "synth/synth.h"

#include "synth/draw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Ground-truth rule: an object is kept when at least KEEP_VISIBLE of its
 * in-frame silhouette is unoccluded, at least KEEP_INFRAME of its full box is
 * inside the frame, and its visible box is at least KEEP_MIN_PX on each side. */
#define KEEP_VISIBLE 0.40
#define KEEP_INFRAME 0.50
#define KEEP_MIN_PX 6

#define HORIZON 0.36 /* perspective vanishing height (fraction of H) */
#define ROAD_TOP 0.46
#define ROAD_BOTTOM 0.84
#define BUILDING_BOTTOM 0.38
#define WARMUP_S 12.0
#define MAX_WINDOWS 4096

enum source { SRC_LANE0, SRC_LANE1, SRC_LANE2, SRC_LANE3, SRC_WALK_FAR, SRC_WALK_NEAR, SRC_CROSSING, NSOURCES };

struct object {
    int cls, variant, dir;
    int lane;          /* 0..3 road lanes, 4..7 bike line of lane-4, -1 walking */
    int crossing;      /* walks across the road: moves in y */
    double x, foot;    /* world position of the bottom centre */
    double speed_mps;  /* wanted speed */
    double cur_mps;    /* after following the vehicle ahead */
    double size, aspect; /* per-instance jitter factors */
    double phase;      /* walking / pedalling cycle */
    int novel;
    uint8_t body[3], alt[3], extra[3], skin[3];
    enum tex_kind tex;
    uint32_t tex_seed;
    uint64_t serial;
};

struct lit_rect { int x0, y0, x1, y1; };

struct synth {
    struct synth_opts o;
    int W, H, M;             /* frame size, camera margin */
    int bw, bh;              /* background canvas: (W + 2M) x (H + 2M) */
    uint8_t *bg;             /* background, world (-M, -M) at (0, 0) */
    struct lit_rect *windows; /* windows lit at night (world coords) */
    int nwindows;
    double lamps[16][2];     /* lamp heads (world coords) */
    int nlamps;
    double lamp_r;

    struct object *objs;
    int nobjs;
    uint64_t world_rng, cam_rng, next_serial;
    double px_per_m;         /* pixels per metre at scale 1 */

    image *frame;
    uint8_t *label;
    int *order;
    long *drawn;
    int64_t index;
    int ox, oy;              /* camera offset of the last frame */
    struct det_list gt, ignored;
};

const char *synth_class_name(int cls)
{
    static const char *names[SYNTH_NUM_CLASSES] = {"car", "person", "bicycle", "bus"};
    return (cls >= 0 && cls < SYNTH_NUM_CLASSES) ? names[cls] : NULL;
}

void synth_opts_default(struct synth_opts *o)
{
    *o = (struct synth_opts){.width = 640, .height = 360, .fps = 30, .frames = 300, .seed = 1,
                             .max_objects = 14};
}

int synth_drift_preset(const char *name, struct synth_opts *o, ec_err *err)
{
    struct synth_drift z = {0}, a = z, b = z;
    if (strcmp(name, "day") == 0) {
    } else if (strcmp(name, "night") == 0) {
        a.night = b.night = 1;
    } else if (strcmp(name, "day-to-night") == 0) {
        b.night = 1;
    } else if (strcmp(name, "dusk") == 0) {
        a.night = b.night = 0.5f;
    } else if (strcmp(name, "fog") == 0) {
        a.fog = b.fog = 0.7f;
    } else if (strcmp(name, "noise") == 0) {
        a.noise = b.noise = 0.6f;
    } else if (strcmp(name, "shift") == 0) {
        a.shift = b.shift = 1;
    } else if (strcmp(name, "novel") == 0) {
        a.novel = b.novel = 0.8f;
    } else if (strcmp(name, "all") == 0) {
        b = (struct synth_drift){1, 0.6f, 0.5f, 1, 0.8f};
    } else {
        return ec_err_set(err, EC_EINVAL,
                          "unknown drift '%s' (day, night, day-to-night, dusk, fog, noise, shift, novel, all)",
                          name);
    }
    o->start = a;
    o->end = b;
    return 0;
}

struct synth_drift synth_drift_at(const struct synth_opts *o, int64_t i)
{
    if (o->frames <= 1)
        return o->start;
    double t = (double)(i < 0 ? 0 : i >= o->frames ? o->frames - 1 : i) / (double)(o->frames - 1);
    const struct synth_drift *a = &o->start, *b = &o->end;
    return (struct synth_drift){(float)(a->night + (b->night - a->night) * t), (float)(a->fog + (b->fog - a->fog) * t),
                                (float)(a->noise + (b->noise - a->noise) * t),
                                (float)(a->shift + (b->shift - a->shift) * t),
                                (float)(a->novel + (b->novel - a->novel) * t)};
}

/* ---- perspective and object geometry ---------------------------------- */

static double persp(const synth *s, double foot)
{
    double t = (foot - HORIZON * s->H) / ((1 - HORIZON) * s->H);
    t = 0.2 + 0.8 * t; /* a gentle perspective keeps far objects learnable */
    return t < 0.05 ? 0.05 : t;
}

/* Body height (metres) and width/height ratio of each class. */
static const double class_height_m[SYNTH_NUM_CLASSES] = {1.45, 1.75, 1.75, 3.1};
static const double class_aspect[SYNTH_NUM_CLASSES] = {2.7, 0.38, 1.0, 3.3};

static void object_box(const synth *s, const struct object *ob, double *x0, double *y0, double *x1, double *y1)
{
    double h = class_height_m[ob->cls] * s->px_per_m * persp(s, ob->foot) * ob->size;
    double w = h * class_aspect[ob->cls] * ob->aspect;
    if (ob->cls == SYNTH_BUS && ob->variant == 1)
        w *= 0.85; /* trucks are shorter */
    *x0 = ob->x - w / 2;
    *x1 = ob->x + w / 2;
    *y0 = ob->foot - h;
    *y1 = ob->foot;
}

/* ---- appearance -------------------------------------------------------- */

static const uint8_t car_colours[][3] = {{228, 228, 226}, {168, 172, 178}, {36, 36, 40},   {160, 28, 30},
                                         {34, 58, 132},   {42, 80, 52},    {196, 182, 148}, {104, 106, 112}};
static const uint8_t bus_colours[][3] = {{226, 176, 32}, {176, 40, 36}, {38, 116, 70}, {220, 220, 214}, {38, 78, 158}};
static const uint8_t cloth_colours[][3] = {{40, 52, 92},  {30, 30, 34},   {120, 120, 124}, {150, 130, 96}, {172, 44, 44},
                                           {60, 96, 60},  {210, 206, 196}, {88, 60, 40},    {60, 100, 150}};
static const uint8_t skin_colours[][3] = {{236, 196, 164}, {198, 150, 112}, {150, 102, 70}, {96, 64, 44}};
static const uint8_t frame_colours[][3] = {{180, 30, 30}, {30, 70, 160}, {24, 24, 24}, {40, 130, 60}, {200, 120, 20}};
/* Never used at novel = 0: saturated colours a day-trained model has not seen. */
static const uint8_t novel_colours[][3] = {{255, 40, 180}, {150, 255, 40}, {30, 230, 230},
                                           {130, 40, 210}, {255, 120, 0},  {250, 250, 60}};

#define NCOL(a) ((int)(sizeof(a) / sizeof(a[0])))

static void pick(uint64_t *r, const uint8_t (*pal)[3], int n, int jitter, uint8_t out[3])
{
    const uint8_t *c = pal[rng_int(r, n)];
    int j = (int)rng_range(r, -jitter, jitter + 1);
    for (int k = 0; k < 3; k++) {
        int v = c[k] + j + (int)rng_range(r, -4, 5);
        out[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* Draws every appearance random whether or not it is used, so the world
 * stream never depends on the drift knobs. */
static void object_appearance(synth *s, struct object *ob, double novel_share)
{
    uint64_t *r = &s->world_rng;
    uint8_t day_body[3], day_alt[3], nov_body[3], nov_alt[3];
    switch (ob->cls) {
    case SYNTH_CAR:
        pick(r, car_colours, NCOL(car_colours), 10, day_body);
        break;
    case SYNTH_BUS:
        pick(r, bus_colours, NCOL(bus_colours), 8, day_body);
        break;
    case SYNTH_BICYCLE:
        pick(r, frame_colours, NCOL(frame_colours), 10, day_body);
        break;
    default:
        pick(r, cloth_colours, NCOL(cloth_colours), 14, day_body);
        break;
    }
    pick(r, cloth_colours, NCOL(cloth_colours), 14, day_alt);
    pick(r, cloth_colours, NCOL(cloth_colours), 14, ob->extra);
    pick(r, skin_colours, NCOL(skin_colours), 10, ob->skin);
    pick(r, novel_colours, NCOL(novel_colours), 10, nov_body);
    pick(r, novel_colours, NCOL(novel_colours), 10, nov_alt);
    double u = rng_unit(r);
    int day_tex = rng_unit(r) < 0.5 ? TEX_GRAIN : TEX_SHADE;
    int nov_tex = TEX_STRIPES + rng_int(r, 3);
    ob->tex_seed = (uint32_t)rng_u64(r);
    ob->novel = u < novel_share;
    memcpy(ob->body, ob->novel ? nov_body : day_body, 3);
    memcpy(ob->alt, ob->novel ? nov_alt : day_alt, 3);
    ob->tex = ob->novel ? (enum tex_kind)nov_tex : (enum tex_kind)day_tex;
}

/* ---- simulation -------------------------------------------------------- */

static double lane_foot(const synth *s, int lane)
{
    double lane_h = (ROAD_BOTTOM - ROAD_TOP) / 4;
    return (ROAD_TOP + (lane + 1) * lane_h - 0.22 * lane_h) * s->H;
}

static int lane_dir(int lane) { return lane < 2 ? -1 : 1; }

/* Metres per second of each class: [min, max). */
static const double class_speed[SYNTH_NUM_CLASSES][2] = {{4.0, 9.0}, {0.8, 1.8}, {2.5, 5.0}, {3.0, 7.0}};

static int object_in_lane_near(const synth *s, int lane, double x, double gap)
{
    for (int i = 0; i < s->nobjs; i++) {
        const struct object *o = &s->objs[i];
        if (o->lane != lane)
            continue;
        double x0, y0, x1, y1;
        object_box(s, o, &x0, &y0, &x1, &y1);
        if (x > x0 - gap && x < x1 + gap)
            return 1;
    }
    return 0;
}

static void spawn(synth *s, enum source src, double novel_share)
{
    uint64_t *r = &s->world_rng;
    struct object ob = {0};
    ob.size = rng_range(r, 0.88, 1.12);
    ob.aspect = rng_range(r, 0.9, 1.1);
    ob.phase = rng_range(r, 0, 1);
    ob.variant = rng_int(r, 2);
    double kind = rng_unit(r), pos = rng_unit(r), sp = rng_unit(r);
    ob.serial = s->next_serial++;
    ob.lane = -1;
    if (src <= SRC_LANE3) {
        int lane = (int)src;
        ob.cls = kind < 0.62 ? SYNTH_CAR : kind < 0.8 ? SYNTH_BUS : SYNTH_BICYCLE;
        if (ob.cls == SYNTH_BICYCLE && lane != 0 && lane != 3)
            ob.cls = SYNTH_CAR; /* bikes keep to the outer lanes */
        ob.dir = lane_dir(lane);
        ob.foot = lane_foot(s, lane) + (pos - 0.5) * 0.01 * s->H;
        ob.lane = lane;
        if (ob.cls == SYNTH_BICYCLE) {
            ob.lane = lane + 4;
            ob.foot += (lane == 0 ? -0.018 : 0.018) * s->H; /* the curb side of the lane */
        }
    } else if (src == SRC_CROSSING) {
        ob.cls = SYNTH_PERSON;
        ob.crossing = kind < 0.5 ? 1 : -1;
        ob.dir = pos < 0.5 ? 1 : -1;
        ob.foot = (ob.crossing > 0 ? ROAD_TOP - 0.01 : ROAD_BOTTOM + 0.04) * s->H;
        ob.x = (0.29 + 0.06 * pos) * s->W;
    } else {
        ob.cls = SYNTH_PERSON;
        ob.dir = kind < 0.5 ? 1 : -1;
        ob.foot = src == SRC_WALK_FAR ? (0.40 + 0.055 * pos) * s->H : (0.87 + 0.115 * pos) * s->H;
    }
    ob.speed_mps = ob.cur_mps = class_speed[ob.cls][0] + sp * (class_speed[ob.cls][1] - class_speed[ob.cls][0]);
    object_appearance(s, &ob, novel_share);
    if (!ob.crossing) {
        double x0, y0, x1, y1;
        ob.x = 0;
        object_box(s, &ob, &x0, &y0, &x1, &y1);
        double half = (x1 - x0) / 2;
        ob.x = ob.dir > 0 ? -s->M - half : s->W + s->M + half;
        if (ob.lane >= 0 && object_in_lane_near(s, ob.lane, ob.x, half + 0.3 * (x1 - x0)))
            return; /* entry blocked: skip this spawn */
    }
    if (s->nobjs < s->o.max_objects)
        s->objs[s->nobjs++] = ob;
}

/* Vehicles do not drive through the one ahead in their lane. */
static void follow(synth *s, struct object *ob)
{
    ob->cur_mps = ob->speed_mps;
    if (ob->lane < 0)
        return;
    double x0, y0, x1, y1;
    object_box(s, ob, &x0, &y0, &x1, &y1);
    for (int i = 0; i < s->nobjs; i++) {
        struct object *o = &s->objs[i];
        if (o == ob || o->lane != ob->lane || (o->x - ob->x) * ob->dir <= 0)
            continue;
        double a0, b0, a1, b1;
        object_box(s, o, &a0, &b0, &a1, &b1);
        double gap = ob->dir > 0 ? a0 - x1 : x0 - a1;
        if (gap < 0.25 * (x1 - x0) && o->speed_mps < ob->cur_mps)
            ob->cur_mps = o->speed_mps;
    }
}

static int object_gone(const synth *s, const struct object *ob)
{
    if (ob->crossing)
        return ob->crossing > 0 ? ob->foot > (ROAD_BOTTOM + 0.05) * s->H : ob->foot < (ROAD_TOP - 0.02) * s->H;
    double x0, y0, x1, y1;
    object_box(s, ob, &x0, &y0, &x1, &y1);
    return x1 < -s->M - 1 || x0 > s->W + s->M + 1;
}

/* Mean seconds between spawns of each source. */
static const double source_interval_s[NSOURCES] = {1.6, 1.8, 1.8, 1.6, 4.5, 3.0, 9.0};

static void world_step(synth *s, double novel_share)
{
    double dt = 1.0 / s->o.fps;
    for (int i = 0; i < s->nobjs; i++)
        follow(s, &s->objs[i]);
    for (int i = 0; i < s->nobjs; i++) {
        struct object *ob = &s->objs[i];
        double px = ob->cur_mps * s->px_per_m * persp(s, ob->foot) * dt;
        if (ob->crossing)
            ob->foot += ob->crossing * px * 0.8;
        else
            ob->x += ob->dir * px;
        ob->phase += ob->cur_mps * dt / (ob->cls == SYNTH_PERSON ? 1.4 : 4.0);
        ob->phase -= floor(ob->phase);
    }
    int kept = 0;
    for (int i = 0; i < s->nobjs; i++)
        if (!object_gone(s, &s->objs[i]))
            s->objs[kept++] = s->objs[i];
    s->nobjs = kept;
    for (int k = 0; k < NSOURCES; k++) {
        double u = rng_unit(&s->world_rng); /* always drawn: fixed stream use */
        if (u < dt / source_interval_s[k])
            spawn(s, (enum source)k, novel_share);
    }
}

/* ---- background ---------------------------------------------------------- */

static struct paint flat(uint8_t r, uint8_t g, uint8_t b, enum tex_kind tex, uint32_t seed)
{
    return (struct paint){{r, g, b}, {r, g, b}, tex, seed, 0, 0, 4, 1};
}

static void draw_buildings(synth *s, struct canvas *c, uint64_t *r)
{
    static const uint8_t walls[][3] = {{150, 90, 70}, {170, 160, 140}, {120, 120, 126}, {190, 170, 130}, {110, 80, 70}, {200, 196, 186}};
    double bottom = BUILDING_BOTTOM * s->H + s->M;
    double x = 0;
    while (x < c->w) {
        double w = rng_range(r, 0.10, 0.26) * s->W;
        double top = rng_range(r, 0.0, 0.24) * s->H + s->M * rng_unit(r);
        struct paint wall = flat(0, 0, 0, rng_unit(r) < 0.5 ? TEX_BRICK : TEX_GRAIN, (uint32_t)rng_u64(r));
        pick(r, walls, NCOL(walls), 10, wall.rgb);
        for (int k = 0; k < 3; k++)
            wall.alt[k] = (uint8_t)(wall.rgb[k] * 3 / 4);
        wall.cell = s->H / 90 > 2 ? s->H / 90 : 2;
        draw_rect(c, x, top, x + w, bottom, &wall);
        /* Window grid; some windows light up at night. */
        double ww = 0.035 * s->H, wh = 0.045 * s->H, gx = ww * 0.9, gy = wh * 0.8;
        struct paint glass = flat(58, 68, 84, TEX_SHADE, (uint32_t)rng_u64(r));
        glass.span = (int)wh;
        for (double wy = top + gy; wy + wh < bottom - gy * 1.5; wy += wh + gy) {
            for (double wx = x + gx; wx + ww < x + w - gx / 2; wx += ww + gx) {
                glass.oy = (int)wy;
                draw_rect(c, wx, wy, wx + ww, wy + wh, &glass);
                if (rng_unit(r) < 0.35 && s->nwindows < MAX_WINDOWS)
                    s->windows[s->nwindows++] =
                        (struct lit_rect){(int)lround(wx) - s->M, (int)lround(wy) - s->M,
                                          (int)lround(wx + ww) - s->M, (int)lround(wy + wh) - s->M};
            }
        }
        struct paint door = flat(70, 52, 40, TEX_GRAIN, 7);
        double dx = x + w * rng_range(r, 0.2, 0.7);
        draw_rect(c, dx, bottom - 0.08 * s->H, dx + 0.04 * s->H, bottom, &door);
        x += w;
    }
}

static void draw_ground(synth *s, struct canvas *c, uint64_t *r)
{
    int M = s->M, H = s->H, W = s->W;
    struct paint walk = flat(150, 150, 144, TEX_CHECKER, 3);
    memcpy(walk.alt, (uint8_t[3]){138, 138, 133}, 3);
    walk.cell = H / 28 > 2 ? H / 28 : 2;
    draw_rect(c, 0, BUILDING_BOTTOM * H + M, c->w, ROAD_TOP * H + M, &walk);
    draw_rect(c, 0, ROAD_BOTTOM * H + M, c->w, c->h, &walk);
    struct paint curb = flat(112, 112, 108, TEX_GRAIN, 5);
    draw_rect(c, 0, (ROAD_TOP - 0.008) * H + M, c->w, ROAD_TOP * H + M, &curb);
    draw_rect(c, 0, ROAD_BOTTOM * H + M, c->w, (ROAD_BOTTOM + 0.01) * H + M, &curb);
    struct paint asphalt = flat(72, 72, 75, TEX_GRAIN, (uint32_t)rng_u64(r));
    draw_rect(c, 0, ROAD_TOP * H + M, c->w, ROAD_BOTTOM * H + M, &asphalt);
    double lane_h = (ROAD_BOTTOM - ROAD_TOP) / 4 * H, mark = 0.007 * H;
    struct paint white = flat(214, 214, 208, TEX_GRAIN, 9), yellow = flat(214, 180, 40, TEX_GRAIN, 11);
    double mid = ROAD_TOP * H + 2 * lane_h + M;
    draw_rect(c, 0, mid - 1.6 * mark, c->w, mid - 0.6 * mark, &yellow);
    draw_rect(c, 0, mid + 0.6 * mark, c->w, mid + 1.6 * mark, &yellow);
    for (int l = 1; l < 4; l += 2) {
        double y = ROAD_TOP * H + l * lane_h + M;
        for (double x = 0; x < c->w; x += 0.16 * W)
            draw_rect(c, x, y - mark / 2, x + 0.08 * W, y + mark / 2, &white);
    }
    /* Zebra crossing where pedestrians cross. */
    for (double x = 0.28 * W; x < 0.37 * W; x += 0.022 * W)
        draw_rect(c, x + M, ROAD_TOP * H + M + mark, x + M + 0.012 * W, ROAD_BOTTOM * H + M - mark, &white);
    /* Manhole covers and puddle-like stains: flat clutter that never occludes. */
    for (int k = 0; k < 6; k++) {
        struct paint stain = flat(58, 58, 60, TEX_GRAIN, (uint32_t)rng_u64(r));
        double sx = rng_unit(r) * c->w, sy = rng_range(r, ROAD_TOP + 0.02, ROAD_BOTTOM - 0.02) * H + M;
        draw_ellipse(c, sx, sy, rng_range(r, 0.02, 0.06) * H, rng_range(r, 0.006, 0.015) * H, &stain);
    }
}

/* Lamp posts, trees and bins on the far sidewalk (behind every moving object). */
static void draw_clutter(synth *s, struct canvas *c, uint64_t *r)
{
    int M = s->M, H = s->H;
    double foot = (BUILDING_BOTTOM + 0.015) * H + M;
    struct paint pole = flat(52, 54, 58, TEX_SHADE, 13), head = flat(200, 200, 180, TEX_GRAIN, 17);
    pole.span = H;
    s->lamp_r = 0.13 * H;
    for (double x = rng_range(r, 0.05, 0.2) * s->W; x < c->w && s->nlamps < 16; x += rng_range(r, 0.3, 0.45) * s->W) {
        double top = foot - 0.30 * H;
        draw_rect(c, x - 0.005 * H, top, x + 0.005 * H, foot, &pole);
        draw_rect(c, x - 0.005 * H, top, x + 0.05 * H, top + 0.008 * H, &pole);
        draw_ellipse(c, x + 0.05 * H, top + 0.012 * H, 0.018 * H, 0.009 * H, &head);
        s->lamps[s->nlamps][0] = x + 0.05 * H - M;
        s->lamps[s->nlamps][1] = top + 0.02 * H - M;
        s->nlamps++;
    }
    for (int k = 0; k < 5; k++) {
        double x = rng_unit(r) * c->w;
        if (rng_unit(r) < 0.6) {
            struct paint trunk = flat(90, 64, 40, TEX_GRAIN, 19), leaves = flat(50, 110, 45, TEX_CAMO, (uint32_t)rng_u64(r));
            memcpy(leaves.alt, (uint8_t[3]){70, 140, 60}, 3);
            leaves.cell = 3;
            draw_rect(c, x - 0.008 * H, foot - 0.14 * H, x + 0.008 * H, foot, &trunk);
            draw_ellipse(c, x, foot - 0.2 * H, 0.07 * H, 0.08 * H, &leaves);
        } else {
            struct paint bin = flat(40, 90, 60, TEX_SHADE, 23);
            bin.span = (int)(0.05 * H);
            bin.oy = (int)(foot - 0.05 * H);
            draw_rect(c, x - 0.014 * H, foot - 0.05 * H, x + 0.014 * H, foot, &bin);
        }
    }
}

static int background_create(synth *s)
{
    s->bw = s->W + 2 * s->M;
    s->bh = s->H + 2 * s->M;
    s->bg = malloc((size_t)s->bw * s->bh * 3);
    s->windows = malloc(MAX_WINDOWS * sizeof *s->windows);
    if (!s->bg || !s->windows)
        return -1;
    uint64_t r = s->o.seed ^ 0x5bd1e995c0ffee11ULL;
    struct canvas c = {s->bg, NULL, s->bw, s->bh, 0, 0, 0, 0};
    for (int y = 0; y < s->bh; y++) { /* sky gradient */
        int t = y * 255 / s->bh;
        struct paint sky = flat((uint8_t)(128 + t / 4), (uint8_t)(164 + t / 6), (uint8_t)(212 + t / 20), TEX_GRAIN, 1);
        draw_span(&c, y, 0, s->bw, &sky);
    }
    draw_buildings(s, &c, &r);
    draw_ground(s, &c, &r);
    draw_clutter(s, &c, &r);
    return 0;
}

/* ---- objects --------------------------------------------------------------- */

struct geom {
    double x0, y0, w, h;
    int dir;
};

/* x measured from the object's rear (so drawings mirror with direction). */
static double gx(const struct geom *g, double fx) { return g->dir > 0 ? g->x0 + fx * g->w : g->x0 + (1 - fx) * g->w; }
static double gy(const struct geom *g, double fy) { return g->y0 + fy * g->h; }

static struct paint body_paint(const struct object *ob, const struct geom *g, const uint8_t rgb[3])
{
    struct paint p = {{rgb[0], rgb[1], rgb[2]}, {ob->alt[0], ob->alt[1], ob->alt[2]}, ob->tex, ob->tex_seed,
                      (int)lround(g->x0), (int)lround(g->y0), 0, (int)g->h};
    p.cell = (int)(g->h / 7) > 2 ? (int)(g->h / 7) : 2;
    return p;
}

static void draw_wheel(struct canvas *c, double cx, double cy, double r)
{
    struct paint tyre = flat(26, 26, 28, TEX_GRAIN, 29), hub = flat(150, 152, 156, TEX_GRAIN, 31);
    draw_ellipse(c, cx, cy, r, r, &tyre);
    draw_ellipse(c, cx, cy, r * 0.45, r * 0.45, &hub);
}

static void draw_car(struct canvas *c, const struct object *ob, const struct geom *g)
{
    struct paint body = body_paint(ob, g, ob->body);
    double cab_rear = ob->variant ? 0.06 : 0.2; /* hatchback: cabin to the rear */
    double cab[8] = {gx(g, cab_rear), gy(g, 0.45), gx(g, cab_rear + 0.08), gy(g, 0.02), gx(g, 0.62), gy(g, 0.02),
                     gx(g, 0.76), gy(g, 0.45)};
    draw_poly(c, cab, 4, &body);
    double hull[12] = {gx(g, 0), gy(g, 0.5), gx(g, 0.03), gy(g, 0.4), gx(g, 0.97), gy(g, 0.42),
                       gx(g, 1), gy(g, 0.55), gx(g, 1), gy(g, 0.84), gx(g, 0), gy(g, 0.84)};
    draw_poly(c, hull, 6, &body);
    struct paint glass = flat(52, 66, 88, TEX_SHADE, ob->tex_seed);
    glass.span = (int)(g->h * 0.3);
    glass.oy = (int)gy(g, 0.08);
    double win[8] = {gx(g, cab_rear + 0.04), gy(g, 0.42), gx(g, cab_rear + 0.1), gy(g, 0.08), gx(g, 0.6), gy(g, 0.08),
                     gx(g, 0.71), gy(g, 0.42)};
    draw_poly(c, win, 4, &glass);
    draw_line(c, gx(g, 0.45), gy(g, 0.08), gx(g, 0.45), gy(g, 0.42), g->w * 0.025, &body);
    struct paint lamp = flat(240, 236, 200, TEX_GRAIN, 37), tail = flat(200, 30, 30, TEX_GRAIN, 41);
    draw_rect(c, fmin(gx(g, 0.95), gx(g, 1)), gy(g, 0.5), fmax(gx(g, 0.95), gx(g, 1)), gy(g, 0.6), &lamp);
    draw_rect(c, fmin(gx(g, 0), gx(g, 0.03)), gy(g, 0.5), fmax(gx(g, 0), gx(g, 0.03)), gy(g, 0.6), &tail);
    double r = g->h * 0.17;
    draw_wheel(c, gx(g, 0.2), g->y0 + g->h - r, r);
    draw_wheel(c, gx(g, 0.8), g->y0 + g->h - r, r);
}

static void draw_bus(struct canvas *c, const struct object *ob, const struct geom *g)
{
    struct paint body = body_paint(ob, g, ob->body);
    struct paint glass = flat(48, 60, 80, TEX_SHADE, ob->tex_seed);
    glass.span = (int)(g->h * 0.3);
    double r = g->h * 0.12;
    if (ob->variant == 0) { /* bus: long body, a row of windows, a stripe */
        draw_rect(c, g->x0, gy(g, 0.02), g->x0 + g->w, gy(g, 0.9), &body);
        glass.oy = (int)gy(g, 0.12);
        for (double f = 0.05; f < 0.9; f += 0.13)
            draw_rect(c, fmin(gx(g, f), gx(g, f + 0.1)), gy(g, 0.12), fmax(gx(g, f), gx(g, f + 0.1)), gy(g, 0.42), &glass);
        draw_rect(c, fmin(gx(g, 0.93), gx(g, 0.99)), gy(g, 0.08), fmax(gx(g, 0.93), gx(g, 0.99)), gy(g, 0.5), &glass);
        struct paint stripe = body_paint(ob, g, ob->extra);
        draw_rect(c, g->x0, gy(g, 0.55), g->x0 + g->w, gy(g, 0.62), &stripe);
        draw_wheel(c, gx(g, 0.16), g->y0 + g->h - r, r);
        draw_wheel(c, gx(g, 0.8), g->y0 + g->h - r, r);
    } else { /* truck: cargo box and a cab */
        struct paint box = body_paint(ob, g, ob->novel ? ob->alt : (const uint8_t[3]){214, 212, 206});
        draw_rect(c, fmin(gx(g, 0), gx(g, 0.72)), gy(g, 0.0), fmax(gx(g, 0), gx(g, 0.72)), gy(g, 0.86), &box);
        double cab[10] = {gx(g, 0.74), gy(g, 0.86), gx(g, 0.74), gy(g, 0.28), gx(g, 0.9), gy(g, 0.28),
                          gx(g, 1), gy(g, 0.5), gx(g, 1), gy(g, 0.86)};
        draw_poly(c, cab, 5, &body);
        glass.oy = (int)gy(g, 0.32);
        double win[8] = {gx(g, 0.8), gy(g, 0.32), gx(g, 0.89), gy(g, 0.32), gx(g, 0.96), gy(g, 0.5), gx(g, 0.8), gy(g, 0.5)};
        draw_poly(c, win, 4, &glass);
        draw_wheel(c, gx(g, 0.12), g->y0 + g->h - r, r);
        draw_wheel(c, gx(g, 0.3), g->y0 + g->h - r, r);
        draw_wheel(c, gx(g, 0.86), g->y0 + g->h - r, r);
    }
}

/* Triangle wave in [-1, 1] (no libm: identical everywhere). */
static double tri(double phase)
{
    double f = phase - floor(phase);
    return f < 0.5 ? 4 * f - 1 : 3 - 4 * f;
}

static void draw_person(struct canvas *c, const struct object *ob, const struct geom *g)
{
    struct paint shirt = body_paint(ob, g, ob->body), pants = body_paint(ob, g, ob->extra);
    if (!ob->novel)
        pants.tex = TEX_GRAIN;
    struct paint skin = flat(ob->skin[0], ob->skin[1], ob->skin[2], TEX_GRAIN, ob->tex_seed);
    struct paint hair = flat(40, 30, 24, TEX_GRAIN, ob->tex_seed);
    struct paint shoe = flat(30, 30, 30, TEX_GRAIN, 43);
    double swing = tri(ob->phase) * 0.22, cx = g->x0 + g->w / 2, lw = g->w * 0.3;
    double hip = gy(g, 0.52);
    /* Far leg and arm first, then the body, then the near ones. */
    draw_line(c, cx, hip, cx - swing * g->w, gy(g, 0.97), lw, &pants);
    draw_line(c, cx, gy(g, 0.22), cx + swing * g->w * 0.8, gy(g, 0.5), lw * 0.7, &shirt);
    double torso[8] = {cx - g->w * 0.3, gy(g, 0.19), cx + g->w * 0.3, gy(g, 0.19), cx + g->w * 0.24, gy(g, 0.56),
                       cx - g->w * 0.24, gy(g, 0.56)};
    draw_poly(c, torso, 4, &shirt);
    draw_line(c, cx, hip, cx + swing * g->w, gy(g, 0.97), lw, &pants);
    draw_line(c, cx, gy(g, 0.22), cx - swing * g->w * 0.8, gy(g, 0.5), lw * 0.7, &shirt);
    draw_ellipse(c, cx - swing * g->w, gy(g, 0.975), lw * 0.7, g->h * 0.025, &shoe);
    draw_ellipse(c, cx + swing * g->w, gy(g, 0.975), lw * 0.7, g->h * 0.025, &shoe);
    draw_ellipse(c, cx, gy(g, 0.095), g->w * 0.3, g->h * 0.085, &skin);
    draw_ellipse(c, cx, gy(g, 0.05), g->w * 0.3, g->h * 0.045, &hair);
}

static void draw_cyclist(struct canvas *c, const struct object *ob, const struct geom *g)
{
    struct paint frame = flat(ob->body[0], ob->body[1], ob->body[2], ob->novel ? ob->tex : TEX_GRAIN, ob->tex_seed);
    memcpy(frame.alt, ob->alt, 3);
    frame.cell = 2;
    struct paint tyre = flat(24, 24, 26, TEX_GRAIN, 47);
    struct paint shirt = body_paint(ob, g, ob->extra), skin = flat(ob->skin[0], ob->skin[1], ob->skin[2], TEX_GRAIN, 53);
    if (!ob->novel)
        shirt.tex = TEX_SHADE;
    double r = g->h * 0.2, wy = g->y0 + g->h - r, t = g->h * 0.035;
    double rx = gx(g, 0.2), fx = gx(g, 0.8);
    draw_ring(c, rx, wy, r, r - t, &tyre);
    draw_ring(c, fx, wy, r, r - t, &tyre);
    double px = gx(g, 0.47), py = wy, sx = gx(g, 0.4), sy = gy(g, 0.5), hx = gx(g, 0.7), hy = gy(g, 0.47);
    double fw = g->h * 0.03;
    draw_line(c, rx, wy, px, py, fw, &frame);
    draw_line(c, rx, wy, sx, sy, fw, &frame);
    draw_line(c, sx, sy, px, py, fw, &frame);
    draw_line(c, px, py, hx, hy + g->h * 0.04, fw, &frame);
    draw_line(c, sx, sy, hx, hy + g->h * 0.04, fw, &frame);
    draw_line(c, hx, hy, fx, wy, fw, &frame);
    /* Rider: legs to the pedals, a leaning torso, arms to the bars, head. */
    double pedal = tri(ob->phase) * r * 0.5;
    struct paint pants = flat(ob->alt[0], ob->alt[1], ob->alt[2], TEX_GRAIN, 59);
    draw_line(c, sx, sy, px + pedal, py - r * 0.3, g->h * 0.07, &pants);
    double shx = gx(g, 0.55), shy = gy(g, 0.16);
    double torso[8] = {sx - g->w * 0.05, sy, sx + g->w * 0.07, sy, shx + g->w * 0.05, shy, shx - g->w * 0.06, shy};
    draw_poly(c, torso, 4, &shirt);
    draw_line(c, shx, shy + g->h * 0.03, hx, hy, g->h * 0.05, &shirt);
    draw_ellipse(c, gx(g, 0.6), gy(g, 0.075), g->h * 0.07, g->h * 0.075, &skin);
}

/* ---- frame assembly ------------------------------------------------------------ */

static int cmp_depth(const synth *s, int a, int b)
{
    const struct object *x = &s->objs[a], *y = &s->objs[b];
    if (x->foot != y->foot)
        return x->foot < y->foot ? -1 : 1;
    return x->serial < y->serial ? -1 : 1;
}

static void sort_by_depth(synth *s)
{
    for (int i = 0; i < s->nobjs; i++)
        s->order[i] = i;
    for (int i = 1; i < s->nobjs; i++) { /* few objects: insertion sort */
        int v = s->order[i], j = i - 1;
        while (j >= 0 && cmp_depth(s, s->order[j], v) > 0) {
            s->order[j + 1] = s->order[j];
            j--;
        }
        s->order[j + 1] = v;
    }
}

/* World geometry (drawing) or, with `in_image`, frame coordinates. */
static void object_geom(const synth *s, const struct object *ob, int in_image, struct geom *g)
{
    double x0, y0, x1, y1;
    object_box(s, ob, &x0, &y0, &x1, &y1);
    *g = (struct geom){x0, y0, x1 - x0, y1 - y0, ob->dir};
    if (in_image) {
        g->x0 -= s->ox;
        g->y0 -= s->oy;
    }
}

static void draw_objects(synth *s)
{
    struct canvas c = {s->frame->data, s->label, s->W, s->H, s->ox, s->oy, 0, 0};
    memset(s->label, 0, (size_t)s->W * s->H);
    sort_by_depth(s);
    for (int k = 0; k < s->nobjs; k++) {
        const struct object *ob = &s->objs[s->order[k]];
        struct geom g, gi;
        object_geom(s, ob, 0, &g);
        object_geom(s, ob, 1, &gi);
        c.id = (uint8_t)(k + 1);
        c.drawn = 0;
        if (gi.x0 < s->W && gi.x0 + gi.w > 0 && gi.y0 < s->H && gi.y0 + gi.h > 0) {
            switch (ob->cls) {
            case SYNTH_CAR: draw_car(&c, ob, &g); break;
            case SYNTH_BUS: draw_bus(&c, ob, &g); break;
            case SYNTH_BICYCLE: draw_cyclist(&c, ob, &g); break;
            default: draw_person(&c, ob, &g); break;
            }
        }
        s->drawn[k] = c.drawn;
    }
}

static int collect_boxes(synth *s, ec_err *err)
{
    det_list_clear(&s->gt);
    det_list_clear(&s->ignored);
    for (int k = 0; k < s->nobjs; k++) {
        const struct object *ob = &s->objs[s->order[k]];
        struct geom g;
        object_geom(s, ob, 1, &g);
        /* Scan a padded window: limbs and lights may stick out of the nominal box. */
        double px = 0.25 * g.w + 2, py = 0.1 * g.h + 2;
        int xa = (int)floor(g.x0 - px), ya = (int)floor(g.y0 - py);
        int xb = (int)ceil(g.x0 + g.w + px), yb = (int)ceil(g.y0 + g.h + py);
        xa = xa < 0 ? 0 : xa;
        ya = ya < 0 ? 0 : ya;
        xb = xb > s->W ? s->W : xb;
        yb = yb > s->H ? s->H : yb;
        uint8_t id = (uint8_t)(k + 1);
        long vis = 0;
        int bx0 = s->W, by0 = s->H, bx1 = -1, by1 = -1;
        for (int y = ya; y < yb; y++) {
            const uint8_t *lab = s->label + (size_t)y * s->W;
            for (int x = xa; x < xb; x++)
                if (lab[x] == id) {
                    vis++;
                    bx0 = x < bx0 ? x : bx0;
                    bx1 = x > bx1 ? x : bx1;
                    by0 = y < by0 ? y : by0;
                    by1 = y > by1 ? y : by1;
                }
        }
        if (vis == 0)
            continue;
        double in_w = fmin(g.x0 + g.w, s->W) - fmax(g.x0, 0), in_h = fmin(g.y0 + g.h, s->H) - fmax(g.y0, 0);
        double inframe = (in_w > 0 && in_h > 0) ? in_w * in_h / (g.w * g.h) : 0;
        struct det d = {(float)bx0, (float)by0, (float)(bx1 + 1), (float)(by1 + 1), 1.0f, ob->cls};
        int keep = vis >= KEEP_VISIBLE * s->drawn[k] && inframe >= KEEP_INFRAME && bx1 + 1 - bx0 >= KEEP_MIN_PX &&
                   by1 + 1 - by0 >= KEEP_MIN_PX;
        if (det_list_push(keep ? &s->gt : &s->ignored, d))
            return ec_err_set(err, EC_ENOMEM, "synth: out of memory");
    }
    return 0;
}

/* ---- drift effects ------------------------------------------------------------- */

static void apply_fog_and_night(synth *s, const struct synth_drift *d)
{
    int fog_on = d->fog > 0.004f, night_on = d->night > 0.004f;
    if (!fog_on && !night_on)
        return;
    /* Fixed point (x256) gains; night is darker and bluer. */
    int gain[3] = {(int)lround(256 * (1 - 0.84 * d->night)), (int)lround(256 * (1 - 0.80 * d->night)),
                   (int)lround(256 * (1 - 0.64 * d->night))};
    int offs[3] = {0, (int)lround(3 * d->night), (int)lround(10 * d->night)};
    for (int y = 0; y < s->H; y++) {
        double wy = (double)(y + s->oy) / s->H;
        double depth = fmin(fmax((0.98 - wy) / (0.98 - 0.34), 0), 1);
        int a = fog_on ? (int)lround(256 * d->fog * (0.45 + 0.5 * depth)) : 0;
        int grey = 196 * a;
        uint8_t *p = image_row(s->frame, y);
        for (int x = 0; x < s->W; x++, p += 3)
            for (int ch = 0; ch < 3; ch++) {
                int v = (p[ch] * (256 - a) + grey) >> 8;
                v = ((v * gain[ch]) >> 8) + offs[ch];
                p[ch] = (uint8_t)(v > 255 ? 255 : v);
            }
    }
}

static void add_glow(synth *s, double cx, double cy, double rx, double ry, const uint8_t rgb[3], double strength)
{
    if (rx < 1 || ry < 1 || strength <= 0)
        return;
    int ya = (int)fmax(floor(cy - ry), 0), yb = (int)fmin(ceil(cy + ry), s->H);
    int xa = (int)fmax(floor(cx - rx), 0), xb = (int)fmin(ceil(cx + rx), s->W);
    for (int y = ya; y < yb; y++) {
        double dy = (y + 0.5 - cy) / ry;
        uint8_t *p = image_row(s->frame, y) + (size_t)xa * 3;
        for (int x = xa; x < xb; x++, p += 3) {
            double dx = (x + 0.5 - cx) / rx, q = 1 - (dx * dx + dy * dy);
            if (q <= 0)
                continue;
            int f = (int)(q * q * strength * 256);
            for (int ch = 0; ch < 3; ch++) {
                int v = p[ch] + ((rgb[ch] * f) >> 8);
                p[ch] = (uint8_t)(v > 255 ? 255 : v);
            }
        }
    }
}

static void apply_lights(synth *s, const struct synth_drift *d)
{
    if (d->night <= 0.004f)
        return;
    double n = d->night;
    static const uint8_t warm[3] = {255, 206, 130}, white[3] = {255, 250, 225}, red[3] = {255, 30, 20};
    /* Lit windows: only where no object covers the background. */
    int lit = (int)lround(n * 200);
    for (int i = 0; i < s->nwindows; i++) {
        const struct lit_rect *w = &s->windows[i];
        for (int y = w->y0 - s->oy; y < w->y1 - s->oy; y++) {
            if (y < 0 || y >= s->H)
                continue;
            uint8_t *p = image_row(s->frame, y);
            const uint8_t *lab = s->label + (size_t)y * s->W;
            for (int x = w->x0 - s->ox; x < w->x1 - s->ox; x++)
                if (x >= 0 && x < s->W && !lab[x])
                    for (int ch = 0; ch < 3; ch++)
                        p[x * 3 + ch] = (uint8_t)((p[x * 3 + ch] * (256 - lit) + warm[ch] * lit) >> 8);
        }
    }
    for (int i = 0; i < s->nlamps; i++) {
        double lx = s->lamps[i][0] - s->ox, ly = s->lamps[i][1] - s->oy;
        add_glow(s, lx, ly, s->lamp_r * 0.6, s->lamp_r * 0.6, warm, 0.9 * n);
        add_glow(s, lx, (ROAD_TOP + 0.04) * s->H - s->oy, s->lamp_r * 1.3, s->lamp_r * 0.35, warm, 0.45 * n);
    }
    for (int k = 0; k < s->nobjs; k++) {
        const struct object *ob = &s->objs[k];
        if (ob->cls == SYNTH_PERSON)
            continue;
        struct geom g;
        object_geom(s, ob, 1, &g);
        double fy = gy(&g, ob->cls == SYNTH_BICYCLE ? 0.5 : 0.55), front = gx(&g, 1), rear = gx(&g, 0);
        double r = g.h * (ob->cls == SYNTH_BICYCLE ? 0.12 : 0.22);
        add_glow(s, front, fy, r, r, white, 1.2 * n);
        add_glow(s, front + ob->dir * g.w * 0.35, g.y0 + g.h, g.w * 0.4, g.h * 0.12, white, 0.5 * n);
        if (ob->cls != SYNTH_BICYCLE)
            add_glow(s, rear, fy, r * 0.5, r * 0.5, red, 0.9 * n);
    }
}

static void apply_noise(synth *s, const struct synth_drift *d)
{
    if (d->noise <= 0.004f)
        return;
    /* Triangular noise (sum of two bytes, sd ~104) scaled to sd = 24 * noise. */
    int k = (int)lround(24.0 * d->noise / 104.0 * 256);
    uint64_t r = s->o.seed ^ (0xd1b54a32d192ed03ULL * (uint64_t)(s->index + 1));
    for (int y = 0; y < s->H; y++) {
        uint8_t *p = image_row(s->frame, y);
        for (int x = 0; x < s->W; x++, p += 3) {
            uint64_t b = rng_u64(&r);
            for (int ch = 0; ch < 3; ch++, b >>= 16) {
                int n = (int)(b & 255) + (int)((b >> 8) & 255) - 255;
                int v = p[ch] + ((n * k) >> 8);
                p[ch] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

/* Camera: slow pan plus per-frame jitter, both scaled by the shift knob. The
 * jitter draw happens every frame so the stream never depends on the knob. */
static void camera_move(synth *s, double shift)
{
    double t = (double)s->index / s->o.fps;
    double jx = rng_range(&s->cam_rng, -1, 1), jy = rng_range(&s->cam_rng, -1, 1);
    double px = 0.8 * tri(t / 14.0), py = 0.5 * tri(t / 19.0 + 0.25);
    s->ox = (int)lround(shift * s->M * (px + 0.2 * jx));
    s->oy = (int)lround(shift * s->M * (py + 0.2 * jy));
}

static void copy_background(synth *s)
{
    for (int y = 0; y < s->H; y++)
        memcpy(image_row(s->frame, y), s->bg + ((size_t)(y + s->oy + s->M) * s->bw + s->ox + s->M) * 3, (size_t)s->W * 3);
}

/* ---- public ----------------------------------------------------------------- */

static int opts_check(const struct synth_opts *o, ec_err *err)
{
    if (o->width < 64 || o->height < 64 || o->width > IMAGE_MAX_DIM || o->height > IMAGE_MAX_DIM)
        return ec_err_set(err, EC_EINVAL, "synth: size %dx%d out of range 64..%d", o->width, o->height, IMAGE_MAX_DIM);
    if (o->width % 2 || o->height % 2)
        return ec_err_set(err, EC_EINVAL, "synth: width and height must be even (got %dx%d)", o->width, o->height);
    if (!(o->fps > 0 && o->fps <= 1000))
        return ec_err_set(err, EC_EINVAL, "synth: fps must be in (0, 1000]");
    if (o->max_objects < 0 || o->max_objects > SYNTH_MAX_OBJECTS)
        return ec_err_set(err, EC_EINVAL, "synth: max_objects must be in 0..%d", SYNTH_MAX_OBJECTS);
    const struct synth_drift *d[2] = {&o->start, &o->end};
    for (int i = 0; i < 2; i++) {
        const float v[5] = {d[i]->night, d[i]->fog, d[i]->noise, d[i]->shift, d[i]->novel};
        for (int k = 0; k < 5; k++)
            if (!(v[k] >= 0 && v[k] <= 1))
                return ec_err_set(err, EC_EINVAL, "synth: drift knobs must be within 0..1");
    }
    return 0;
}

synth *synth_create(const struct synth_opts *o, ec_err *err)
{
    if (opts_check(o, err))
        return NULL;
    synth *s = calloc(1, sizeof *s);
    if (!s) {
        ec_err_set(err, EC_ENOMEM, "synth: out of memory");
        return NULL;
    }
    s->o = *o;
    s->W = o->width;
    s->H = o->height;
    s->M = (int)lround(0.05 * o->width);
    s->px_per_m = 0.3 * s->H / 1.75; /* a person at scale 1 is 0.3 H tall */
    s->world_rng = o->seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    s->cam_rng = o->seed ^ 0xa0761d6478bd642fULL;
    int cap = o->max_objects > 0 ? o->max_objects : 1;
    s->objs = calloc((size_t)cap, sizeof *s->objs);
    s->order = calloc((size_t)cap, sizeof *s->order);
    s->drawn = calloc((size_t)cap, sizeof *s->drawn);
    s->label = calloc((size_t)s->W * s->H, 1);
    s->frame = image_create(s->W, s->H, 3);
    if (!s->objs || !s->order || !s->drawn || !s->label || !s->frame || background_create(s)) {
        synth_destroy(s);
        ec_err_set(err, EC_ENOMEM, "synth: out of memory");
        return NULL;
    }
    /* Let traffic fill the street before the first frame. */
    double novel0 = synth_drift_at(o, 0).novel;
    int warm = (int)fmin(WARMUP_S * o->fps, 2000);
    for (int i = 0; i < warm; i++)
        world_step(s, novel0);
    return s;
}

void synth_destroy(synth *s)
{
    if (!s)
        return;
    free(s->bg);
    free(s->windows);
    free(s->objs);
    free(s->order);
    free(s->drawn);
    free(s->label);
    image_destroy(s->frame);
    det_list_free(&s->gt);
    det_list_free(&s->ignored);
    free(s);
}

int synth_next(synth *s, image **out_rgb, struct det_list *gt, ec_err *err)
{
    if (s->o.frames > 0 && s->index >= s->o.frames)
        return 0;
    struct synth_drift d = synth_drift_at(&s->o, s->index);
    if (s->index > 0)
        world_step(s, d.novel);
    camera_move(s, d.shift);
    copy_background(s);
    draw_objects(s);
    if (collect_boxes(s, err))
        return -1;
    apply_fog_and_night(s, &d);
    apply_lights(s, &d);
    apply_noise(s, &d);
    s->index++;
    if (gt) {
        det_list_clear(gt);
        for (int i = 0; i < s->gt.n; i++)
            if (det_list_push(gt, s->gt.v[i]))
                return ec_err_set(err, EC_ENOMEM, "synth: out of memory");
    }
    *out_rgb = s->frame;
    return 1;
}

const struct det_list *synth_ignored(const synth *s) { return &s->ignored; }
const struct det_list *synth_last_gt(const synth *s) { return &s->gt; }
int64_t synth_frame_index(const synth *s) { return s->index; }

int synth_gen_next(void *ctx, image **out, double *pts_s, ec_err *err)
{
    synth *s = ctx;
    int64_t i = s->index;
    image *frame;
    *out = NULL;
    int r = synth_next(s, &frame, NULL, err);
    if (r != 1)
        return r;
    /* The video source owns what it gets; the synth keeps its own buffer. */
    if (!(*out = image_clone(frame)))
        return ec_err_set(err, EC_ENOMEM, "synth: out of memory");
    if (pts_s)
        *pts_s = (double)i / s->o.fps;
    return 1;
}
