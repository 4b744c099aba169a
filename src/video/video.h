/* Video input (files, RTSP, V4L2, generator callback), JPEG coding and resizing.
 *
 * A source returns every frame its decoder produces, in order, each with a
 * monotonically increasing index (it keeps increasing across RTSP reconnects).
 * Only every `sample_interval`-th frame is converted to RGB ("sampled"); the
 * others come back with img == NULL so the caller can still record an outcome
 * for them without paying for colour conversion.
 *
 * A source is used by one reading thread; source_interrupt and source_stats may
 * be called from any thread. */
#ifndef EDGECAM_VIDEO_VIDEO_H
#define EDGECAM_VIDEO_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/image.h"

typedef struct source source;
typedef struct jpeg_codec jpeg_codec;

struct frame {
    image *img;         /* RGB24, owned by the frame; NULL when not sampled */
    int64_t index;      /* 0, 1, 2, ... over the life of the source */
    double pts_s;       /* presentation time from the first frame, seconds */
    int64_t capture_ms; /* wall clock (ms since epoch) when the frame was returned */
    int sampled;
    void *decoded;      /* source_opts.defer_rgb: the decoded picture until source_frame_rgb */
};

enum source_kind { SOURCE_AUTO, SOURCE_FILE, SOURCE_RTSP, SOURCE_V4L2, SOURCE_GENERATOR };

struct source_opts {
    enum source_kind kind; /* AUTO: rtsp:// -> RTSP, /dev/video* or v4l2:// -> V4L2,
                              gen_next set -> GENERATOR, else FILE */
    const char *uri;       /* path, rtsp:// URL or device; copied by source_open */
    int sample_interval;   /* keep every Nth frame, >= 1 (0 means 1) */
    int realtime;          /* FILE/GENERATOR: pace to pts like a live camera */
    int decode_threads;    /* 0: FFmpeg chooses */
    int defer_rgb;         /* sampled frames come with img NULL and the decoded picture kept;
                              source_frame_rgb converts them, so that a thread other than the
                              reader can pay for the colour conversion */
    int io_timeout_ms;     /* a stalled open/read fails after this; 0: 5000 */
    int reconnect_max;     /* RTSP: consecutive failed attempts before giving up; -1 forever */
    int backoff_initial_ms, backoff_max_ms; /* 0: 200 and 5000 */
    int v4l2_width, v4l2_height, v4l2_fps;  /* 0: device default */
    /* SOURCE_GENERATOR: frames from a callback (the synthetic world plugs in here).
     * Returns 1 with *out (RGB, ownership passes to the source), 0 at end, -1 on error. */
    int (*gen_next)(void *ctx, image **out, double *pts_s, ec_err *err);
    void *gen_ctx;
};

struct source_stats {
    uint64_t decoded;       /* frames returned (sampled or not) */
    uint64_t sampled;       /* frames returned with an image */
    uint64_t reconnects;    /* successful RTSP reconnections */
    uint64_t decode_errors; /* packets/frames the decoder rejected or flagged corrupt */
    int width, height;      /* current stream, 0 until known */
    double fps;             /* nominal frame rate, 0 when unknown */
};

/* Fills *o with the defaults above (AUTO, interval 1, reconnect forever). */
void source_opts_init(struct source_opts *o);
/* Opens and probes the input; fails fast (no retry) if the first open fails. */
source *source_open(const struct source_opts *o, ec_err *err);
/* 1: a frame in *out (release it with frame_release); 0: end of stream;
 * -1: error in *err (EC_ECLOSED after source_interrupt, EC_ENET when RTSP gave up). */
int source_read(source *s, struct frame *out, ec_err *err);
/* Gives a sampled frame read with defer_rgb its RGB image (no-op when it has one). On failure
 * the frame becomes unsampled (counted as a decode error; it still needs an outcome) and -1 is
 * returned. One thread at a time, which need not be the one calling source_read. */
int source_frame_rgb(source *s, struct frame *f, ec_err *err);
/* Thread-safe: makes a blocked or later source_read return -1 (EC_ECLOSED) promptly. */
void source_interrupt(source *s);
void source_stats(source *s, struct source_stats *out);
void source_destroy(source *s);
void frame_release(struct frame *f);

/* JPEG through TurboJPEG. A codec keeps its handles for reuse: one per thread. */
#define JPEG_MAX_BYTES (64u << 20)

jpeg_codec *jpeg_codec_create(ec_err *err);
void jpeg_codec_destroy(jpeg_codec *c);
/* Gray or RGB image, quality 1..100 (4:2:0 for RGB). On success *out is malloc'd: free() it. */
int jpeg_encode(jpeg_codec *c, const image *img, int quality, uint8_t **out, size_t *len,
                ec_err *err);
/* Decodes to a new RGB image; rejects bad/truncated data and dimensions over IMAGE_MAX_DIM. */
int jpeg_decode(jpeg_codec *c, const uint8_t *buf, size_t len, image **out, ec_err *err);

/* New image `height` rows tall, same channels, aspect kept, width rounded to an even
 * number (>= 2). Area averaging when shrinking, bilinear when enlarging. Shrinking by more
 * than 62x along an axis is refused (EC_EINVAL). */
image *image_resize_height(const image *src, int height, ec_err *err);
/* Same filters, explicit size. */
image *image_resize(const image *src, int w, int h, ec_err *err);

#endif
