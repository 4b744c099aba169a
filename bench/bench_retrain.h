/* `edgecam bench --section retrain`: continuous learning on a day -> night synthetic video. */
#ifndef EDGECAM_BENCH_RETRAIN_H
#define EDGECAM_BENCH_RETRAIN_H

#include "core/err.h"
#include "retrain/retrain.h"

#include <stdio.h>

struct bench_retrain_opts {
    const char *edge_model;   /* lightweight model file */
    const char *golden_model; /* golden model file */
    const char *svg_path;     /* plot written here; NULL: none */
    const char *work_dir;     /* model versions and the store go here */
    int width, height;        /* frames */
    double fps;
    double window_s;          /* evaluation and collection window */
    int day_windows, dusk_windows, night_windows; /* day, day -> night ramp, night */
    int eval_every;           /* evaluate every Nth frame (all frames feed the collector) */
    float edge_score_thresh;  /* detections the edge keeps (collector input) */
    struct retrain_opts retrain;
    uint64_t seed;
    FILE *out;
};

/* 640x360 at 2 fps, 30 s windows (60 frames): 2 day, 2 ramping to night, 8 night; the retrain
 * knobs of the config's `retrain` defaults (what `edgecam edge` and `cloud` run). */
void bench_retrain_opts_default(struct bench_retrain_opts *o);
/* Runs the video three ways (lightweight model frozen, with continuous learning through the
 * real collector -> client -> loopback retrain service -> hot swap path, golden model), prints
 * mAP@0.5 per window against the synthetic ground truth and the bars, writes the SVG.
 * Returns 0 (bars reported, not enforced), -1 on error (e.g. a model file missing). */
int bench_retrain_run(const struct bench_retrain_opts *o, ec_err *err);

/* The `edgecam bench --section retrain` entry: default schedule, the SVG and work files in the
 * bench dir. */
struct bench_opts;
int bench_retrain(const struct bench_opts *o, const char *edge_model, const char *golden_model,
                  ec_err *err);

#endif
