/* `edgecam bench`: speed of every stage, printed beside a reference measured in the same run. */
#ifndef EDGECAM_BENCH_BENCH_H
#define EDGECAM_BENCH_BENCH_H

#include "core/err.h"

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

#endif
