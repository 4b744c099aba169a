/* Helpers shared by the bench sections. */
#ifndef EDGECAM_BENCH_UTIL_H
#define EDGECAM_BENCH_UTIL_H

#include "core/err.h"

#include <stddef.h>

/* Path of a cached synthetic test video of the given size (made on first use). */
int bench_video_file(const char *dir, int width, int height, int frames, char *path, size_t cap,
                     ec_err *err);
/* Runs argv (no shell), waits; returns its exit status or -1. Its stderr (up to cap - 1
 * bytes, NUL-terminated) lands in errbuf when given; stdout goes to /dev/null. */
int bench_run(char *const argv[], char *errbuf, size_t cap);

#endif
