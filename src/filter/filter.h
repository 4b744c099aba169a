/* Redundant-frame filter (EdgeCam): compares each sampled frame with the previous one on one
 * difference feature, accumulates the differences and marks a frame KEY (to be scheduled) once the
 * sum reaches diff_thresh; other frames are REF (answered with the last key frame's result).
 *
 * Features, each a fraction of H*W in [0, 1], computed to match OpenCV 4.6 (pure C, no OpenCV):
 *   pixel  : absdiff(RGB) -> gray -> > 50 -> nonzero ratio
 *   edge   : gray -> GaussianBlur 11x11 -> Canny(50, 255); edge maps differ -> ratio
 *   area   : gray -> GaussianBlur 11x11; absdiff > 50 -> dilate 3x3 -> largest external contour
 *            area (contourArea) / (H*W)
 *   corner : Harris(block 5, ksize 3, k 0.05) -> dilate 3x3 -> mask of response
 *            > FILTER_CORNER_REL * max(response); masks differ -> ratio */
#ifndef EDGECAM_FILTER_FILTER_H
#define EDGECAM_FILTER_FILTER_H

#include "core/err.h"
#include "core/image.h"

enum filter_feature { FILTER_PIXEL, FILTER_EDGE, FILTER_AREA, FILTER_CORNER };

/* Harris mask threshold, relative to the frame's maximum response (usual OpenCV practice). */
#define FILTER_CORNER_REL 0.01
#define FILTER_DEFAULT_DIFF_THRESH 0.01

/* "pixel|edge|area|corner"; returns -1 on an unknown name. */
int filter_feature_parse(const char *name, enum filter_feature *out);
const char *filter_feature_name(enum filter_feature feat);

struct filter_opts {
    int enabled;              /* 0: every frame is a key frame */
    enum filter_feature feature;
    double diff_thresh;       /* accumulated diff that makes a key frame, in (0, 1] */
};
void filter_opts_default(struct filter_opts *o);

typedef struct filter filter;

filter *filter_create(const struct filter_opts *o, ec_err *err);
void filter_destroy(filter *f);

enum filter_decision { FILTER_KEY, FILTER_REF };

/* Decides for the next sampled frame (RGB, c == 3). `diff_out` (may be NULL) gets the diff against
 * the previous frame (0 for the first frame, after a size change or when disabled). The first frame
 * and the first frame after a size change are KEY. Invalid images are KEY with diff 0 (never
 * dropped silently; the caller validates sources). Reuses its buffers: no allocation per frame
 * unless the frame size changes. Not thread-safe: one filter per stream. */
enum filter_decision filter_push(filter *f, const image *rgb, double *diff_out);
/* Forgets the previous frame: the next push is KEY. */
void filter_reset(filter *f);

/* Stateless diff of one feature between two RGB frames of the same size (tests, oracle
 * cross-checks, benchmarks). Allocates its own buffers. */
int filter_feature_diff(enum filter_feature feat, const image *prev_rgb, const image *cur_rgb,
                        double *out, ec_err *err);

#endif
