/* Video section of `edgecam bench`: decode, decode+sample+filter pipeline, filter features, JPEG. */
#include "bench/bench.h"
#include "bench/bench_util.h"

#include "core/clock.h"
#include "core/log.h"
#include "edge/edge.h"
#include "filter/filter.h"
#include "video/video.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEATURE_FRAMES 30 /* frames held in memory for the per-feature and JPEG runs */

void bench_opts_default(struct bench_opts *o)
{
    *o = (struct bench_opts){.dir = "/tmp/edgecam-bench", .frames = 600, .sizes = {360, 720, 1080},
                             .nsizes = 3, .interval = 1, .max_threads = 2, .out = stdout};
}

/* Bare FFmpeg decode, timed by ffmpeg itself (-benchmark rtime: no process start-up). */
static double ffmpeg_decode_fps(const char *path, int threads, int frames)
{
    char tbuf[16], out[8192];
    snprintf(tbuf, sizeof tbuf, "%d", threads);
    char *argv[] = {"ffmpeg", "-hide_banner", "-nostdin", "-benchmark", "-threads", tbuf,
                    "-i", (char *)path, "-f", "null", "-", NULL};
    if (bench_run(argv, out, sizeof out) != 0)
        return 0;
    const char *rt = strstr(out, "rtime=");
    double secs = rt ? strtod(rt + 6, NULL) : 0;
    return secs > 0 ? frames / secs : 0;
}

static source *open_source(const char *path, int threads, int interval, ec_err *err)
{
    struct source_opts so;
    source_opts_init(&so);
    so.kind = SOURCE_FILE;
    so.uri = path;
    so.decode_threads = threads;
    so.sample_interval = interval;
    return source_open(&so, err);
}

/* Decode only: no frame is sampled, so no colour conversion. */
static int our_decode_fps(const char *path, int threads, double *fps, ec_err *err)
{
    source *s = open_source(path, threads, INT_MAX, err);
    if (!s)
        return -1;
    struct frame f;
    int64_t n = 0;
    int rc;
    double t0 = clock_mono_s();
    while ((rc = source_read(s, &f, err)) == 1) {
        frame_release(&f);
        n++;
    }
    *fps = n / (clock_mono_s() - t0);
    source_destroy(s);
    return rc < 0 ? -1 : 0;
}

/* Key frames are scheduled and recorded, but not analysed: the bench measures ingest. */
static int no_inference(void *ctx, const struct frame *f, struct edge_infer_result *out,
                        ec_err *err)
{
    (void)ctx, (void)f, (void)out, (void)err;
    return 0;
}

/* The edge's own ingest (src/edge/pipeline.c): reader thread (decode + sample), dispatch
 * thread (colour conversion + filter + decision), every frame's outcome recorded in an
 * in-memory SQLite store; inference is a no-op. */
static int pipeline_fps(const char *path, int threads, int interval, enum filter_feature feat,
                        double *fps, int64_t *keys, ec_err *err)
{
    store *st = store_open(&(struct store_opts){.path = ":memory:"}, err);
    if (!st)
        return -1;
    struct edge_pipeline_opts po;
    edge_pipeline_opts_init(&po);
    po.edge_id = "bench";
    po.source.kind = SOURCE_FILE;
    po.source.uri = path;
    po.source.decode_threads = threads;
    po.source.sample_interval = interval;
    po.filter.feature = feat;
    po.store = st;
    po.infer = no_inference;
    edge_pipeline *p = edge_pipeline_create(&po, err);
    int rc = -1;
    if (p) {
        double t0 = clock_mono_s();
        rc = edge_pipeline_run(p, err);
        double secs = clock_mono_s() - t0;
        struct edge_pipeline_stats ps;
        edge_pipeline_stats(p, &ps);
        *fps = ps.frames_read / secs;
        *keys = ps.key_frames;
        if (rc == 0 && ps.recorded != ps.frames_read)
            rc = ec_err_set(err, EC_EINVAL, "pipeline recorded %lld of %lld frames",
                            (long long)ps.recorded, (long long)ps.frames_read);
        edge_pipeline_destroy(p);
    }
    store_close(st);
    return rc;
}

static int load_frames(const char *path, image **imgs, int *n, ec_err *err)
{
    source *s = open_source(path, 1, 1, err);
    if (!s)
        return -1;
    struct frame f;
    *n = 0;
    while (*n < FEATURE_FRAMES && source_read(s, &f, err) == 1) {
        imgs[(*n)++] = f.img;
        f.img = NULL;
        frame_release(&f);
    }
    source_destroy(s);
    return *n >= 2 ? 0 : ec_err_set(err, EC_EFORMAT, "%s: too few frames", path);
}

/* Runs `fn` over the frames in rounds until at least 1 s has passed; returns calls per second. */
static double filter_feature_fps(image **imgs, int n, enum filter_feature feat)
{
    struct filter_opts fo;
    filter_opts_default(&fo);
    fo.feature = feat;
    filter *flt = filter_create(&fo, NULL);
    if (!flt)
        return 0;
    int64_t calls = 0;
    double t0 = clock_mono_s(), dt;
    do {
        for (int i = 0; i < n; i++, calls++)
            filter_push(flt, imgs[i], NULL);
    } while ((dt = clock_mono_s() - t0) < 1.0);
    filter_destroy(flt);
    return calls / dt;
}

static void jpeg_fps(image **imgs, int n, int quality, double *enc_fps, double *dec_fps,
                     double *kbytes)
{
    jpeg_codec *c = jpeg_codec_create(NULL);
    *enc_fps = *dec_fps = *kbytes = 0;
    if (!c)
        return;
    uint8_t *bufs[FEATURE_FRAMES] = {0};
    size_t lens[FEATURE_FRAMES] = {0};
    double t0 = clock_mono_s(), total = 0;
    for (int i = 0; i < n; i++) {
        if (jpeg_encode(c, imgs[i], quality, &bufs[i], &lens[i], NULL) == 0)
            total += (double)lens[i];
    }
    *enc_fps = n / (clock_mono_s() - t0);
    *kbytes = total / n / 1024.0;
    t0 = clock_mono_s();
    for (int i = 0; i < n; i++) {
        image *img = NULL;
        if (bufs[i] && jpeg_decode(c, bufs[i], lens[i], &img, NULL) == 0)
            image_destroy(img);
    }
    *dec_fps = n / (clock_mono_s() - t0);
    for (int i = 0; i < n; i++)
        free(bufs[i]);
    jpeg_codec_destroy(c);
}

static double resize_ms(image **imgs, int n, int height)
{
    double t0 = clock_mono_s();
    for (int i = 0; i < n; i++)
        image_destroy(image_resize_height(imgs[i], height, NULL));
    return (clock_mono_s() - t0) * 1000.0 / n;
}

static int bench_one_size(const struct bench_opts *o, int height, ec_err *err)
{
    int width = (height * 16 / 9 + 1) & ~1;
    char path[1024];
    if (bench_video_file(o->dir, width, height, o->frames, path, sizeof path, err) != 0)
        return -1;
    FILE *out = o->out;
    struct filter_opts fo;
    filter_opts_default(&fo);
    for (int t = 1; t <= o->max_threads; t++) {
        double ff = ffmpeg_decode_fps(path, t, o->frames), ours = 0, pipe = 0;
        int64_t keys = 0;
        if (our_decode_fps(path, t, &ours, err) != 0 ||
            pipeline_fps(path, t, o->interval, fo.feature, &pipe, &keys, err) != 0)
            return -1;
        fprintf(out, "%5dp %7d %11.0f %10.0f %6.2f %12.0f %6.2f %9" PRId64 "\n", height, t, ff,
                ours, ff > 0 ? ours / ff : 0, pipe, ff > 0 ? pipe / ff : 0, keys);
    }
    image *imgs[FEATURE_FRAMES];
    int n;
    if (load_frames(path, imgs, &n, err) != 0)
        return -1;
    fprintf(out, "        filter fps (%d frames of %dx%d):", n, width, height);
    for (int feat = FILTER_PIXEL; feat <= FILTER_CORNER; feat++)
        fprintf(out, " %s %.0f", filter_feature_name(feat), filter_feature_fps(imgs, n, feat));
    double enc, dec, kb;
    jpeg_fps(imgs, n, 90, &enc, &dec, &kb);
    fprintf(out, "\n        jpeg q90: encode %.0f fps, decode %.0f fps, %.1f KiB/frame\n", enc, dec,
            kb);
    fprintf(out, "        resize to 240p (the SmartEye downsize): %.2f ms/frame\n",
            resize_ms(imgs, n, 240));
    for (int i = 0; i < n; i++)
        image_destroy(imgs[i]);
    return 0;
}

int bench_video(const struct bench_opts *o, ec_err *err)
{
    struct filter_opts fo;
    filter_opts_default(&fo);
    fprintf(o->out,
            "== video: %d-frame synthetic H.264 clips; pipeline = decode + sample every %d + %s "
            "filter, the edge's own pipeline (src/edge) with inference off\n",
            o->frames, o->interval, filter_feature_name(fo.feature));
    fprintf(o->out, "%6s %7s %11s %10s %6s %12s %6s %9s\n", "size", "threads", "ffmpeg_fps",
            "decode_fps", "ratio", "pipeline_fps", "ratio", "keyframes");
    for (int i = 0; i < o->nsizes; i++)
        if (bench_one_size(o, o->sizes[i], err) != 0)
            return -1;
    return 0;
}
