/* Edge-Cloud-Assisted upload (internal to ec_edge; node.c and the unit tests use it): which
 * parts of a key frame the cloud sees sharp, and the image that carries them. */
#ifndef EDGECAM_EDGE_ASSIST_VIEW_H
#define EDGECAM_EDGE_ASSIST_VIEW_H

#include "core/det.h"
#include "core/err.h"
#include "core/image.h"

#include <stdint.h>

#define ASSIST_BLOCK 16 /* context and motion blocks: the 4:2:0 JPEG MCU, aligned with it */

/* How the cloud's answer on a view is merged with the local boxes. */
enum assist_replace {
    ASSIST_REPLACE_REGIONS, /* it replaces the uncertain boxes (EdgeCam) */
    ASSIST_REPLACE_SEEN,    /* ... and every local box centred where the view is sharp */
    ASSIST_REPLACE_ALL,     /* it replaces every local box (whole frame, or a confused model) */
};

/* What the edge remembers between key frames (its owner serialises access). */
struct assist_memory {
    image *prev_gray;         /* the previous key frame, gray, at the view's size */
    struct det_list tracked;  /* the cloud's last answer at >= ASSIST_TRACK_SCORE, frame pixels */
};
void assist_memory_free(struct assist_memory *m);

/* What the view is built from. `view_src` is the frame resized to the path's height; boxes are
 * in frame pixels (frame_w x frame_h). `motion` (NULL: none) is one byte per ASSIST_BLOCK
 * block of view_src, row-major, as assist_motion_blocks writes it. */
struct assist_view_in {
    const image *view_src;
    int frame_w, frame_h;
    const struct det_list *dets; /* the local answer */
    const int *idx;              /* its uncertain boxes */
    int nidx;
    const uint8_t *motion;
    const struct det_list *tracked; /* NULL: none */
};

struct assist_view {
    image *img;     /* the upload, view_src's size */
    uint8_t *sharp; /* one byte per view pixel: 1 where img carries the frame's pixels */
    int whole;      /* img is view_src itself */
    enum assist_replace replace;
};

/* Marks (1) each block of `cur` where at least ASSIST_MOTION_PIXELS pixels differ from `prev`
 * (same size, gray) by more than `thresh` levels; blocks must hold
 * assist_blocks(cur->w) * assist_blocks(cur->h) bytes. Returns the number of marked blocks. */
#define ASSIST_MOTION_PIXELS 16
int assist_motion_blocks(const image *prev, const image *cur, int thresh, uint8_t *blocks);
static inline int assist_blocks(int pixels) { return (pixels + ASSIST_BLOCK - 1) / ASSIST_BLOCK; }

/* Builds the view (policy in src/edge/assist_view.c, measurements in docs/policies.md). */
int assist_view_build(const struct assist_view_in *in, struct assist_view *out, ec_err *err);
void assist_view_free(struct assist_view *v);

/* Local boxes after the cloud answered `cloud` (frame pixels) on view `v`: the ones it does not
 * replace, then its own, merged by class-wise NMS. */
int assist_merge(const struct assist_view_in *in, const struct assist_view *v,
                 const struct det_list *cloud, struct det_list *out);

/* Remembers the cloud's confident boxes as regions for the next key frame. */
#define ASSIST_TRACK_SCORE 0.3f
int assist_track(struct assist_memory *m, const struct det_list *cloud);

#endif
