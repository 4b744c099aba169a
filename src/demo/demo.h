/* `edgecam demo`: a whole deployment on loopback - a cloud, a gateway, 2 backends and 2 edges,
 * each a real child process of the edgecam binary with its own generated configuration - run on
 * a synthetic drifting street video in a few phases (the two edges run a different policy in
 * each), then a report scored against the video's exact ground truth: a table on stdout, an
 * HTML page with SVG plots and annotated JPEG frames. See docs/demo.md. */
#ifndef EDGECAM_DEMO_DEMO_H
#define EDGECAM_DEMO_DEMO_H

#include "config/config.h"
#include "core/det.h"
#include "core/err.h"
#include "core/image.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DEMO_MAX_PHASES 8

struct demo_opts {
    const struct ec_config *cfg; /* the demo configuration (configs/demo.yaml or embedded) */
    const char *edge_model;      /* model files, already found (must exist) */
    const char *golden_model;
    const char *exe;             /* binary run for every child; NULL = /proc/self/exe */
    const char *out_dir;         /* NULL = ./edgecam-demo-<YYYYmmdd-HHMMSS> */
    /* Comma-separated policies, taken in pairs: phase k runs edge-1 with the (2k)th and
     * edge-2 with the (2k+1)th. NULL = edge_local,edge_cloud_assisted,adaptive,
     * always_cloud_lowest_delay. */
    const char *policies;
    int frames;        /* video frames per phase; 0 = frames= of edge.source.uri */
    int base_port;     /* 0 = free ports; else cloud, gateway, backends, edges from here */
    int snapshots;     /* annotated JPEG frames per edge and phase */
    int progress_ms;   /* progress line interval on stderr */
    double phase_timeout_s; /* a phase running longer is an error; 0 = from the video */
};

void demo_opts_default(struct demo_opts *o);
/* The embedded demo configuration (the same document as configs/demo.yaml). */
const char *demo_default_config(void);

/* Runs the whole demo. SIGINT/SIGTERM must be blocked in the calling thread (the demo waits
 * for them): the first stops the children in order and still writes the report of what ran.
 * Returns 0 when every phase ran, 1 when a signal stopped it (report written), -1 on error
 * (every child stopped and reaped; a report of what ran is written when possible). */
int demo_run(const struct demo_opts *o, ec_err *err);

/* ---- report pieces (demo_report.c, demo_html.c, demo_draw.c), public for tests ---------- */

/* Nearest-rank percentile (p in [0,100]) of `n` ascending values; 0 when n == 0. */
double demo_percentile(const double *sorted, size_t n, double p);
/* Writes `s` with &, <, >, " and ' escaped for HTML/SVG text and attributes. */
void demo_html_escape(FILE *out, const char *s);

struct demo_series {
    const char *name;
    const double *x, *y; /* n points; y < 0 is a gap (e.g. a window without ground truth) */
    int n;
    int dashed; /* references drawn dashed */
};
/* An SVG line chart. Axes span the data (y within [ymin, ymax] when ymin < ymax). */
void demo_svg_lines(FILE *out, const char *title, const char *xlabel, const char *ylabel,
                    const struct demo_series *s, int ns, double ymin, double ymax);
/* An SVG bar chart, one bar per label. */
void demo_svg_bars(FILE *out, const char *title, const char *ylabel, const char *const *labels,
                   const double *values, int n);

/* Colour of a detection class (RGB). */
void demo_class_colour(int cls, uint8_t rgb[3]);
/* Draws a box outline `thick` pixels wide on an RGB image; parts outside the image are
 * clipped, non-finite or empty boxes draw nothing. */
void demo_draw_box(image *img, float x1, float y1, float x2, float y2, const uint8_t rgb[3],
                   int thick);
/* Draws text (A-Z, a-z as capitals, 0-9, space . : - _ / % ( )) in a 3x5 pixel font times
 * `scale` with its top-left at (x, y), on a dark backing, clipped at the image borders. */
void demo_draw_text(image *img, int x, int y, const char *text, const uint8_t rgb[3], int scale);
/* Draws the detections (class colours, "<class> <score>" labels) on an RGB image. */
void demo_draw_dets(image *img, const struct det_list *dets);

#endif
