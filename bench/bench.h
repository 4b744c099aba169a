/* `edgecam bench`: speed of every stage, printed beside a reference measured in the same run. */
#ifndef EDGECAM_BENCH_BENCH_H
#define EDGECAM_BENCH_BENCH_H

#include "core/err.h"
#include "policy/policy.h"

#include <stdio.h>

struct bench_opts {
    const char *dir;     /* where generated videos are cached */
    int frames;          /* frames per test video */
    int sizes[4], nsizes; /* heights: 360, 720, 1080 */
    int interval;        /* sampling interval of the pipeline run */
    int max_threads;     /* thread counts 1..max_threads */
    FILE *out;           /* tables */
};

void bench_opts_default(struct bench_opts *o);
/* Decode fps (ours vs bare ffmpeg), decode+sample+filter pipeline fps, filter fps per feature,
 * JPEG encode/decode fps. */
int bench_video(const struct bench_opts *o, ec_err *err);

/* Forward ms and GFLOP/s of each model at 1..max_threads threads, beside python3-torch running
 * `torch_script` (tests/oracle/nn_bench.py; skipped when missing). */
int bench_models(const struct bench_opts *o, const char *const names[], const char *const paths[],
                 int n, const char *torch_script, ec_err *err);

/* Gateway overhead over a direct backend call and 1 -> 2 backend scaling, on loopback. */
int bench_gateway(const struct bench_opts *o, ec_err *err);

/* ---- policies: every offloading policy on the same synthetic video ---- */

struct policy_run_opts {
    const char *edge_model, *golden_model; /* model files */
    const char *video;     /* synth:// URI, e.g. "synth://night?frames=300" */
    int interval;          /* sampling interval */
    int realtime;          /* pace like a live camera (queues then mean something) */
    int filter_enabled;    /* EdgeCam's frame filter (pixel feature, diff_thresh) */
    double diff_thresh;
    int queue_size, workers;
    double wait_thresh_s;
    struct policy_params params; /* every policy's parameters (paths, thresholds, assisted) */
    /* 0: edge-b only serves edge-a as its peer. 1: edge-b also runs the same policy at the same
     * time on the same kind of video (next seed, always live-paced), each edge the other's
     * peer; so with realtime 0 edge-a's queue is the longer one. */
    int both_edges;
    const char *video_b; /* edge-b's video when both_edges; NULL: `video` with the next seed */
};

/* What one policy achieved on one edge. Ref frames are scored with their key frame's
 * detections. Every frame index 0..frames_read-1 was found in the store (else an error). */
struct policy_run_result {
    double map50;
    long frames, finished, ref, timeout, dropped; /* rows stored, by outcome */
    double p50_ms, p99_ms;
    double fps;           /* frames read per second of wall time */
    double bytes_per_frame;
    long fallbacks;
    long frames_read;     /* by the edge's source */
    long det_rows;        /* stored frames with at least one detection */
    long long bytes_stored, bytes_counted; /* sum over rows; the node's own counter */
    long by_dest[4];      /* key frames per policy_dest */
    long regions_sent;    /* Edge-Cloud-Assisted regions */
};

void policy_run_opts_default(struct policy_run_opts *o);
/* Starts a cloud (golden model) and edge-b on loopback, runs edge-a (and edge-b when
 * both_edges) with `policy` over the video, and scores the stored rows against the synthetic
 * ground truth: out[0] is edge-a, out[1] edge-b (filled when both_edges). */
int policy_run(const struct policy_run_opts *o, const char *policy,
               struct policy_run_result out[2], ec_err *err);
/* The table for every built-in policy (or the comma-separated `only`). */
int bench_policies(const struct policy_run_opts *o, const char *only, FILE *out, ec_err *err);

#endif
