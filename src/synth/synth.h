/* Synthetic street world: seeded video with exact ground-truth boxes and
 * controllable drift (day -> night, fog, sensor noise, camera shift, unseen
 * appearance). Same seed and options -> identical frames and boxes on any
 * machine (own PRNG, integer pixel pipeline). See docs/synth.md. */
#ifndef EDGECAM_SYNTH_SYNTH_H
#define EDGECAM_SYNTH_SYNTH_H

#include "core/det.h"
#include "core/err.h"
#include "core/image.h"

#include <stdint.h>
#include <stdio.h>

enum { SYNTH_CAR = 0, SYNTH_PERSON, SYNTH_BICYCLE, SYNTH_BUS, SYNTH_NUM_CLASSES };
enum { SYNTH_MAX_OBJECTS = 200 };

const char *synth_class_name(int cls); /* "car", "person", "bicycle", "bus"; NULL if out of range */

/* Each knob is 0..1. */
struct synth_drift {
    float night; /* darker, bluer; street lamps, headlights, lit windows */
    float fog;   /* contrast towards grey, stronger with distance */
    float noise; /* per-pixel sensor noise */
    float shift; /* camera pan and jitter */
    float novel; /* share of objects with colours/textures never seen at novel = 0 */
};

struct synth_opts {
    int width, height; /* even, 64..IMAGE_MAX_DIM */
    double fps;        /* > 0; sets object speeds per frame and video timing */
    int64_t frames;    /* > 0 finite; <= 0 endless (drift stays at `start`) */
    uint64_t seed;
    int max_objects; /* 0..SYNTH_MAX_OBJECTS objects alive at once (0: background only) */
    struct synth_drift start, end; /* linear schedule from the first to the last frame */
};

/* 640x360, 30 fps, 300 frames, seed 1, 14 objects, plain day. */
void synth_opts_default(struct synth_opts *o);
/* Named schedules: day, night, day-to-night, fog, noise, shift, novel, dusk,
 * all (day -> night with fog, noise, shift and novel objects). Sets start/end. */
int synth_drift_preset(const char *name, struct synth_opts *o, ec_err *err);
/* The drift knobs in force at frame `i`. */
struct synth_drift synth_drift_at(const struct synth_opts *o, int64_t i);

/* One synth is used by one thread at a time; separate synths are independent. */
typedef struct synth synth;

synth *synth_create(const struct synth_opts *o, ec_err *err);
void synth_destroy(synth *s);
/* Renders the next frame. *out_rgb points to a frame owned by `s`, valid until
 * the next call; `gt` (if not NULL) is cleared and filled with the visible
 * boxes (score 1). Returns 1, 0 when `frames` are done, -1 on error. */
int synth_next(synth *s, image **out_rgb, struct det_list *gt, ec_err *err);
/* Visible boxes of objects drawn in the last frame but left out of the ground
 * truth (mostly occluded, mostly off-frame or tiny): detecting them is neither
 * right nor wrong. */
const struct det_list *synth_ignored(const synth *s);
int64_t synth_frame_index(const synth *s); /* frames rendered so far */

/* Generator adapter for the video module's SOURCE_GENERATOR (gen_next, with
 * gen_ctx = a synth *): on 1, *out is a new RGB image the caller owns
 * (image_destroy) and *pts_s = index / fps; 0 at the end, -1 on error (*out
 * NULL then). The frame's ground truth is then synth_last_gt(ctx). */
int synth_gen_next(void *ctx, image **out, double *pts_s, ec_err *err);
const struct det_list *synth_last_gt(const synth *s);

/* Called by synth_write_video after each frame; return non-zero to stop. */
typedef int (*synth_progress_fn)(void *user, int64_t done, int64_t total);

/* Writes `frames` frames as H.264 (libx264, yuv420p; container from the file
 * name, e.g. .mp4/.mkv) and the ground truth as JSON lines to gt_path (may be
 * NULL). o->frames must be > 0. */
int synth_write_video(const struct synth_opts *o, const char *video_path, const char *gt_path,
                      synth_progress_fn progress, void *user, ec_err *err);

/* Ground truth file: one JSON object per line, frames numbered from 0:
 *   {"frame":N,"boxes":[[cls,x1,y1,x2,y2],...]}
 * Boxes in pixels, x2/y2 exclusive. */
struct gt_track {
    struct det_list *frames; /* frames[i]: boxes of frame i (score 1) */
    int nframes, cap;
};

enum { GT_MAX_LINE = 1 << 20, GT_MAX_BOXES = 10000, GT_MAX_FRAMES = 10000000 };

int gt_write_frame(FILE *f, int64_t frame, const struct det_list *boxes, ec_err *err);
/* Reads and validates a whole file (sequential frame numbers, known classes,
 * finite coordinates with x1 < x2 and y1 < y2, size limits); errors name the line. */
int gt_read(const char *path, struct gt_track *out, ec_err *err);
void gt_track_free(struct gt_track *t);

/* Options from "synth://<schedule>?frames=N&width=W&height=H&fps=F&seed=S&objects=K"
 * (<schedule>: a drift preset, or "street" for plain day). Errors name the bad part. */
int synth_opts_from_uri(const char *uri, struct synth_opts *o, ec_err *err);

#endif
