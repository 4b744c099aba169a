/* Video module: file and generator sources, JPEG codec, resizing.
 * Test clips are made at run time with the ffmpeg CLI in the build directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/image.h"
#include "video/video.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLIP_W 640
#define CLIP_H 360
#define CLIP_FRAMES 90

static char data_dir[1024];

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", data_dir, name);
}

static int shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shell(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Copies the first `keep` bytes of src to dst. */
static void truncate_copy(const char *src, const char *dst, long keep)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    while (keep > 0) {
        size_t n = fread(buf, 1, keep < (long)sizeof buf ? (size_t)keep : sizeof buf, in);
        if (n == 0)
            break;
        fwrite(buf, 1, n, out);
        keep -= (long)n;
    }
    fclose(in);
    fclose(out);
}

/* Overwrites `n` bytes every `step` bytes from `from` with pseudo-random garbage. */
static void corrupt_file(const char *path, long from, long step, int n)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    long size = file_size(path);
    unsigned seed = 12345;
    for (long off = from; off + n < size; off += step) {
        fseek(f, off, SEEK_SET);
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            fputc((int)(seed >> 16) & 0xff, f);
        }
    }
    fclose(f);
}

static int make_clips(void **state)
{
    (void)state;
    const char *bin = getenv("EDGECAM_BINARY_DIR");
    snprintf(data_dir, sizeof data_dir, "%s/video-test-data", bin ? bin : "/tmp");
    mkdir(data_dir, 0755);
    char p[1200], q[1200];
    /* B-frames (-bf 2) so the decoder has to reorder and delay. */
    const char *x264 = "-c:v libx264 -preset ultrafast -bf 2 -g 30 -pix_fmt yuv420p";
    path_of(p, sizeof p, "clip.mp4");
    if (shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=%dx%d:rate=30 -frames:v %d %s '%s'",
              CLIP_W, CLIP_H, CLIP_FRAMES, x264, p) != 0)
        return -1;
    path_of(p, sizeof p, "short.mp4");
    if (shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=160x90:rate=30 -frames:v 15 %s '%s'",
              x264, p) != 0)
        return -1;
    path_of(p, sizeof p, "faststart.mp4");
    if (shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x180:rate=30 -frames:v 60 %s "
              "-movflags +faststart '%s'", x264, p) != 0)
        return -1;
    path_of(p, sizeof p, "stream.ts");
    if (shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x180:rate=30 -frames:v 60 %s '%s'",
              x264, p) != 0)
        return -1;
    /* Damaged variants. */
    path_of(p, sizeof p, "clip.mp4");
    path_of(q, sizeof q, "truncated.mp4");
    truncate_copy(p, q, file_size(p) / 2); /* moov atom is at the end: lost */
    path_of(p, sizeof p, "faststart.mp4");
    path_of(q, sizeof q, "truncated_faststart.mp4");
    truncate_copy(p, q, file_size(p) / 2);
    path_of(p, sizeof p, "stream.ts");
    path_of(q, sizeof q, "damaged.ts");
    truncate_copy(p, q, file_size(p));
    corrupt_file(q, file_size(q) / 5, 4000, 24);
    path_of(q, sizeof q, "garbage.mp4");
    FILE *f = fopen(q, "wb");
    for (int i = 0; i < 100000; i++)
        fputc((i * 7919 + 13) & 0xff, f);
    fclose(f);
    return 0;
}

static long ffprobe_frame_count(const char *path)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
             "stream=nb_read_frames -of csv=p=0 '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    long n = -1;
    if (fscanf(p, "%ld", &n) != 1)
        n = -1;
    pclose(p);
    return n;
}

static source *open_file_with(const char *name, int interval, int realtime, int defer_rgb,
                              ec_err *err)
{
    char p[1200];
    path_of(p, sizeof p, name);
    struct source_opts o;
    source_opts_init(&o);
    o.uri = p;
    o.sample_interval = interval;
    o.realtime = realtime;
    o.defer_rgb = defer_rgb;
    return source_open(&o, err);
}

static source *open_file(const char *name, int interval, ec_err *err)
{
    return open_file_with(name, interval, 0, 0, err);
}

/* --- file source --- */

static void test_file_reads_every_frame_like_ffprobe(void **state)
{
    (void)state;
    char p[1200];
    path_of(p, sizeof p, "clip.mp4");
    long expected = ffprobe_frame_count(p);
    assert_int_equal(expected, CLIP_FRAMES);

    ec_err err;
    ec_err_clear(&err);
    source *s = open_file("clip.mp4", 1, &err);
    assert_non_null(s);
    struct source_stats st;
    source_stats(s, &st);
    assert_int_equal(st.width, CLIP_W);
    assert_int_equal(st.height, CLIP_H);
    assert_true(fabs(st.fps - 30.0) < 0.01);

    struct frame f;
    long n = 0;
    double last_pts = -1;
    int r;
    while ((r = source_read(s, &f, &err)) == 1) {
        assert_int_equal(f.index, n);
        assert_true(f.sampled);
        assert_non_null(f.img);
        assert_int_equal(f.img->w, CLIP_W);
        assert_int_equal(f.img->h, CLIP_H);
        assert_int_equal(f.img->c, 3);
        assert_true(f.pts_s > last_pts);
        assert_true(f.capture_ms > 0);
        last_pts = f.pts_s;
        frame_release(&f);
        assert_null(f.img);
        n++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(n, expected);
    assert_true(fabs(last_pts - (expected - 1) / 30.0) < 1e-6);
    /* End of stream is sticky. */
    assert_int_equal(source_read(s, &f, &err), 0);
    source_stats(s, &st);
    assert_int_equal(st.decoded, (uint64_t)expected);
    assert_int_equal(st.sampled, (uint64_t)expected);
    assert_int_equal(st.decode_errors, 0);
    source_destroy(s);
}

/* The RGB we produce matches what the ffmpeg CLI converts the same frame to. */
static void test_file_rgb_matches_ffmpeg_cli(void **state)
{
    (void)state;
    char p[1200], raw[1200];
    path_of(p, sizeof p, "clip.mp4");
    path_of(raw, sizeof raw, "frame10.rgb");
    assert_int_equal(shell("ffmpeg -v error -y -i '%s' -vf 'select=eq(n\\,10)' -frames:v 1 "
                           "-f rawvideo -pix_fmt rgb24 '%s'", p, raw), 0);
    size_t bytes = (size_t)CLIP_W * CLIP_H * 3;
    assert_int_equal(file_size(raw), (long)bytes);
    uint8_t *want = malloc(bytes);
    FILE *fp = fopen(raw, "rb");
    assert_int_equal(fread(want, 1, bytes, fp), bytes);
    fclose(fp);

    ec_err err;
    source *s = open_file("clip.mp4", 1, &err);
    assert_non_null(s);
    struct frame f;
    for (int i = 0; i <= 10; i++) {
        assert_int_equal(source_read(s, &f, &err), 1);
        if (i < 10)
            frame_release(&f);
    }
    double diff = 0;
    for (size_t i = 0; i < bytes; i++)
        diff += abs((int)f.img->data[i] - (int)want[i]);
    diff /= (double)bytes;
    assert_true(diff < 2.0); /* same frame, only rounding of the two converters differs */
    frame_release(&f);
    free(want);
    source_destroy(s);
}

static void test_file_sample_interval_returns_every_frame(void **state)
{
    (void)state;
    ec_err err;
    source *s = open_file("clip.mp4", 7, &err);
    assert_non_null(s);
    struct frame f;
    long n = 0, sampled = 0;
    while (source_read(s, &f, &err) == 1) {
        assert_int_equal(f.index, n);
        assert_int_equal(f.sampled, n % 7 == 0);
        if (f.sampled) {
            assert_non_null(f.img);
            sampled++;
        } else {
            assert_null(f.img);
        }
        frame_release(&f);
        n++;
    }
    assert_int_equal(n, CLIP_FRAMES);
    assert_int_equal(sampled, (CLIP_FRAMES + 6) / 7);
    struct source_stats st;
    source_stats(s, &st);
    assert_int_equal(st.decoded, CLIP_FRAMES);
    assert_int_equal(st.sampled, (uint64_t)sampled);
    source_destroy(s);
}

/* defer_rgb: sampled frames come without an image; source_frame_rgb (here from another
 * thread than the reader's, as the edge pipeline does) gives the same pixels as a direct read,
 * and frames released unconverted leak nothing (ASan). */
struct deferred_run {
    source *s;
    struct frame f[3];
    int rc[3];
};

static void *convert_main(void *arg)
{
    struct deferred_run *r = arg;
    for (int i = 0; i < 3; i++)
        r->rc[i] = source_frame_rgb(r->s, &r->f[i], NULL);
    return NULL;
}

static void test_file_deferred_rgb_matches_direct(void **state)
{
    (void)state;
    ec_err err;
    source *direct = open_file("clip.mp4", 3, &err),
           *deferred = open_file_with("clip.mp4", 3, 0, 1, &err);
    assert_non_null(direct);
    assert_non_null(deferred);
    struct deferred_run run = {.s = deferred};
    struct frame want[3];
    long n = 0, kept = 0;
    struct frame d, f;
    while (source_read(deferred, &f, &err) == 1) {
        assert_int_equal(source_read(direct, &d, &err), 1);
        assert_int_equal(f.sampled, d.sampled);
        assert_null(f.img);
        assert_true(f.sampled ? f.decoded != NULL : f.decoded == NULL);
        if (f.sampled && kept < 3 && n % 2 == 0) { /* every other sampled frame stays unconverted */
            run.f[kept] = f;
            want[kept++] = d;
        } else {
            frame_release(&f);
            frame_release(&d);
        }
        n += f.sampled;
    }
    assert_int_equal(kept, 3);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, convert_main, &run), 0);
    pthread_join(th, NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run.rc[i], 0);
        assert_null(run.f[i].decoded);
        assert_int_equal(run.f[i].img->w, want[i].img->w);
        assert_memory_equal(run.f[i].img->data, want[i].img->data,
                            (size_t)want[i].img->stride * want[i].img->h);
        assert_int_equal(source_frame_rgb(deferred, &run.f[i], NULL), 0); /* already converted */
        frame_release(&run.f[i]);
        frame_release(&want[i]);
    }
    struct source_stats a, b;
    source_stats(direct, &a);
    source_stats(deferred, &b);
    assert_int_equal(a.sampled, b.sampled);
    assert_int_equal(b.decode_errors, 0);
    source_destroy(direct);
    source_destroy(deferred);
}

static void test_file_realtime_paces_to_pts(void **state)
{
    (void)state;
    ec_err err;
    source *s = open_file_with("short.mp4", 1, 1, 0, &err);
    assert_non_null(s);
    struct frame f;
    int n = 0;
    double first_pts = 0, last_pts = 0;
    int64_t first_ms = 0, last_ms = 0;
    double t0 = clock_mono_s();
    while (source_read(s, &f, &err) == 1) {
        if (n == 0) {
            first_pts = f.pts_s;
            first_ms = f.capture_ms;
        }
        last_pts = f.pts_s;
        last_ms = f.capture_ms;
        frame_release(&f);
        n++;
    }
    double elapsed = clock_mono_s() - t0;
    assert_int_equal(n, 15);
    /* Lower bounds only: pacing sleeps, so it can never be faster than the pts. */
    double span = last_pts - first_pts;
    assert_true(span > 0.4);
    assert_true(elapsed >= span - 0.005);
    assert_true((double)(last_ms - first_ms) >= span * 1000.0 - 5.0);
    source_destroy(s);
}

static void test_file_errors_are_clear(void **state)
{
    (void)state;
    ec_err err;
    ec_err_clear(&err);
    assert_null(open_file("does-not-exist.mp4", 1, &err));
    assert_int_equal(err.code, EC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "does-not-exist.mp4"));

    ec_err_clear(&err);
    assert_null(open_file("garbage.mp4", 1, &err));
    assert_true(err.code == EC_EFORMAT || err.code == EC_EIO);
    assert_non_null(strstr(err.msg, "garbage.mp4"));

    ec_err_clear(&err);
    assert_null(open_file("truncated.mp4", 1, &err));
    assert_int_equal(err.code, EC_EFORMAT);
    assert_non_null(strstr(err.msg, "truncated.mp4"));

    struct source_opts o;
    source_opts_init(&o);
    ec_err_clear(&err);
    assert_null(source_open(&o, &err)); /* no uri */
    assert_int_equal(err.code, EC_EINVAL);
    o.uri = "x.mp4";
    o.sample_interval = -2;
    ec_err_clear(&err);
    assert_null(source_open(&o, &err));
    assert_int_equal(err.code, EC_EINVAL);
}

/* A file cut in the middle (index up front) yields the frames it holds, then ends. */
static void test_truncated_file_yields_frames_then_ends(void **state)
{
    (void)state;
    ec_err err;
    ec_err_clear(&err);
    source *s = open_file("truncated_faststart.mp4", 1, &err);
    assert_non_null(s);
    struct frame f;
    int n = 0, r;
    while ((r = source_read(s, &f, &err)) == 1) {
        assert_int_equal(f.index, n);
        frame_release(&f);
        n++;
    }
    assert_int_equal(r, 0); /* the cut is the end of the stream, not an error */
    assert_true(n > 5);
    assert_true(n < 60);
    source_destroy(s);
}

/* Damaged packets mid-stream are counted, never fatal. */
static void test_damaged_stream_counts_decode_errors(void **state)
{
    (void)state;
    ec_err err;
    ec_err_clear(&err);
    source *s = open_file("damaged.ts", 1, &err);
    assert_non_null(s);
    struct frame f;
    int n = 0, r;
    while ((r = source_read(s, &f, &err)) == 1) {
        assert_int_equal(f.index, n);
        frame_release(&f);
        n++;
    }
    assert_int_equal(r, 0);
    assert_true(n > 30);
    struct source_stats st;
    source_stats(s, &st);
    assert_true(st.decode_errors > 0);
    assert_int_equal(st.decoded, (uint64_t)n);
    source_destroy(s);
}

static void test_v4l2_missing_device_is_clear_error(void **state)
{
    (void)state;
    struct source_opts o;
    source_opts_init(&o);
    o.uri = "/dev/video-edgecam-missing";
    ec_err err;
    ec_err_clear(&err);
    assert_null(source_open(&o, &err));
    assert_int_equal(err.code, EC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "v4l2"));
    assert_non_null(strstr(err.msg, "/dev/video-edgecam-missing"));
}

static void test_interrupt_makes_read_fail(void **state)
{
    (void)state;
    ec_err err;
    source *s = open_file("clip.mp4", 1, &err);
    assert_non_null(s);
    struct frame f;
    assert_int_equal(source_read(s, &f, &err), 1);
    frame_release(&f);
    source_interrupt(s);
    ec_err_clear(&err);
    assert_int_equal(source_read(s, &f, &err), -1);
    assert_int_equal(err.code, EC_ECLOSED);
    assert_null(f.img);
    source_destroy(s);
}

static void *interrupt_later(void *arg)
{
    clock_sleep_ns(100 * 1000000ull);
    source_interrupt(arg);
    return NULL;
}

/* A reader sleeping in realtime pacing wakes up promptly on interrupt. */
static void test_interrupt_wakes_paced_reader(void **state)
{
    (void)state;
    ec_err err;
    source *s = open_file_with("clip.mp4", 1, 1, 0, &err);
    assert_non_null(s);
    pthread_t t;
    pthread_create(&t, NULL, interrupt_later, s);
    struct frame f;
    int r;
    int n = 0;
    while ((r = source_read(s, &f, &err)) == 1) {
        frame_release(&f);
        n++;
    }
    pthread_join(t, NULL);
    assert_int_equal(r, -1);
    assert_int_equal(err.code, EC_ECLOSED);
    assert_true(n < CLIP_FRAMES); /* 3 s of video cannot have been paced out in 0.1 s */
    source_destroy(s);
}

/* --- generator source --- */

struct gen_state {
    int n, limit, fail_at, gray_at;
};

static int gen_next(void *ctx, image **out, double *pts_s, ec_err *err)
{
    struct gen_state *g = ctx;
    if (g->n == g->fail_at)
        return ec_err_set(err, EC_EIO, "world exploded at %d", g->n);
    if (g->n >= g->limit)
        return 0;
    image *img = image_create(32, 24, g->n == g->gray_at ? 1 : 3);
    memset(img->data, g->n, (size_t)img->stride * img->h);
    *out = img;
    *pts_s = g->n * 0.1;
    g->n++;
    return 1;
}

static void test_generator_source(void **state)
{
    (void)state;
    struct gen_state g = {.limit = 10, .fail_at = -1, .gray_at = -1};
    struct source_opts o;
    source_opts_init(&o);
    o.gen_next = gen_next;
    o.gen_ctx = &g;
    o.sample_interval = 3;
    ec_err err;
    source *s = source_open(&o, &err);
    assert_non_null(s);
    struct frame f;
    int n = 0;
    while (source_read(s, &f, &err) == 1) {
        assert_int_equal(f.index, n);
        assert_true(fabs(f.pts_s - n * 0.1) < 1e-9);
        assert_int_equal(f.sampled, n % 3 == 0);
        if (f.sampled) {
            assert_int_equal(f.img->w, 32);
            assert_int_equal(f.img->data[0], n);
        } else {
            assert_null(f.img);
        }
        frame_release(&f);
        n++;
    }
    assert_int_equal(n, 10);
    assert_int_equal(source_read(s, &f, &err), 0);
    struct source_stats st;
    source_stats(s, &st);
    assert_int_equal(st.decoded, 10);
    assert_int_equal(st.sampled, 4);
    assert_int_equal(st.width, 32);
    source_destroy(s);

    /* Errors from the callback come back; a gray image is refused. */
    g = (struct gen_state){.limit = 10, .fail_at = 2, .gray_at = -1};
    s = source_open(&o, &err);
    assert_int_equal(source_read(s, &f, &err), 1);
    frame_release(&f);
    assert_int_equal(source_read(s, &f, &err), 1);
    frame_release(&f);
    ec_err_clear(&err);
    assert_int_equal(source_read(s, &f, &err), -1);
    assert_non_null(strstr(err.msg, "world exploded at 2"));
    source_destroy(s);

    g = (struct gen_state){.limit = 10, .fail_at = -1, .gray_at = 0};
    s = source_open(&o, &err);
    ec_err_clear(&err);
    assert_int_equal(source_read(s, &f, &err), -1);
    assert_int_equal(err.code, EC_EINVAL);
    source_destroy(s);
}

/* --- JPEG --- */

/* Smooth gradients plus a few hard-edged blocks: a photo-like test card. */
static image *test_card(int w, int h)
{
    image *img = image_create(w, h, 3);
    for (int y = 0; y < h; y++) {
        uint8_t *row = image_row(img, y);
        for (int x = 0; x < w; x++) {
            int block = ((x / 40) + (y / 40)) % 5 == 0;
            row[3 * x + 0] = (uint8_t)(block ? 220 : x * 255 / w);
            row[3 * x + 1] = (uint8_t)(block ? 30 : y * 255 / h);
            row[3 * x + 2] = (uint8_t)(block ? 90 : (x + y) * 255 / (w + h));
        }
    }
    return img;
}

static double psnr(const image *a, const image *b)
{
    double se = 0;
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < a->w * a->c; x++) {
            double d = (double)image_row(a, y)[x] - image_row(b, y)[x];
            se += d * d;
        }
    double mse = se / ((double)a->w * a->h * a->c);
    return mse == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / mse);
}

static void test_jpeg_round_trip(void **state)
{
    (void)state;
    ec_err err;
    jpeg_codec *c = jpeg_codec_create(&err);
    assert_non_null(c);
    image *img = test_card(320, 240);
    uint8_t *hi = NULL, *lo = NULL;
    size_t hi_len = 0, lo_len = 0;
    assert_int_equal(jpeg_encode(c, img, 90, &hi, &hi_len, &err), 0);
    assert_int_equal(jpeg_encode(c, img, 20, &lo, &lo_len, &err), 0);
    assert_true(hi[0] == 0xFF && hi[1] == 0xD8);
    assert_true(lo_len < hi_len);

    image *back = NULL;
    assert_int_equal(jpeg_decode(c, hi, hi_len, &back, &err), 0);
    assert_int_equal(back->w, 320);
    assert_int_equal(back->h, 240);
    assert_int_equal(back->c, 3);
    double p_hi = psnr(img, back);
    image_destroy(back);
    assert_int_equal(jpeg_decode(c, lo, lo_len, &back, &err), 0);
    double p_lo = psnr(img, back);
    image_destroy(back);
    assert_true(p_hi > 32.0);
    assert_true(p_lo > 24.0);
    assert_true(p_hi > p_lo);

    /* Gray in, RGB with equal channels out. */
    image *gray = image_create(64, 48, 1);
    for (int i = 0; i < 64 * 48; i++)
        gray->data[i] = (uint8_t)(i % 64 * 4);
    uint8_t *g = NULL;
    size_t g_len = 0;
    assert_int_equal(jpeg_encode(c, gray, 95, &g, &g_len, &err), 0);
    assert_int_equal(jpeg_decode(c, g, g_len, &back, &err), 0);
    assert_int_equal(back->c, 3);
    for (int i = 0; i < 64 * 48; i++) {
        assert_int_equal(back->data[3 * i], back->data[3 * i + 1]);
        assert_true(abs((int)back->data[3 * i] - gray->data[i]) <= 8);
    }
    image_destroy(back);
    image_destroy(gray);

    ec_err_clear(&err);
    assert_int_equal(jpeg_encode(c, img, 0, &g, &g_len, &err), -1);
    assert_int_equal(err.code, EC_EINVAL);
    free(g);
    free(hi);
    free(lo);
    image_destroy(img);
    jpeg_codec_destroy(c);
}

/* Walks the marker segments to SOF0 and writes new height/width into it. */
static void patch_sof_dims(uint8_t *buf, size_t len, int w, int h)
{
    size_t i = 2;
    while (i + 9 < len && buf[i] == 0xFF) {
        if (buf[i + 1] == 0xC0) {
            buf[i + 5] = (uint8_t)(h >> 8);
            buf[i + 6] = (uint8_t)h;
            buf[i + 7] = (uint8_t)(w >> 8);
            buf[i + 8] = (uint8_t)w;
            return;
        }
        i += 2 + (size_t)(buf[i + 2] << 8 | buf[i + 3]);
    }
    fail_msg("no SOF0 marker");
}

static void test_jpeg_rejects_bad_input(void **state)
{
    (void)state;
    ec_err err;
    jpeg_codec *c = jpeg_codec_create(&err);
    image *img = test_card(128, 96);
    uint8_t *jpg = NULL;
    size_t len = 0;
    assert_int_equal(jpeg_encode(c, img, 80, &jpg, &len, &err), 0);
    image *out = (image *)0x1;

    uint8_t junk[512];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 31 + 7);
    ec_err_clear(&err);
    assert_int_equal(jpeg_decode(c, junk, sizeof junk, &out, &err), -1);
    assert_null(out);
    assert_int_equal(err.code, EC_EFORMAT);

    /* JPEG magic, then junk; a good image right after still decodes (a libjpeg-turbo
     * 2.1 handle keeps failing after such a header error unless it is renewed). */
    junk[0] = 0xFF;
    junk[1] = 0xD8;
    assert_int_equal(jpeg_decode(c, junk, sizeof junk, &out, &err), -1);
    assert_int_equal(jpeg_decode(c, jpg, len, &out, &err), 0);
    image_destroy(out);
    assert_int_equal(jpeg_decode(c, jpg, 0, &out, &err), -1);

    /* Truncated: header fine, data cut. */
    ec_err_clear(&err);
    assert_int_equal(jpeg_decode(c, jpg, len / 2, &out, &err), -1);
    assert_null(out);
    assert_int_equal(err.code, EC_EFORMAT);

    /* Huge declared dimensions are refused before any allocation. */
    uint8_t *big = malloc(len);
    memcpy(big, jpg, len);
    patch_sof_dims(big, len, 60000, 50000);
    ec_err_clear(&err);
    assert_int_equal(jpeg_decode(c, big, len, &out, &err), -1);
    assert_int_equal(err.code, EC_EFORMAT);
    assert_non_null(strstr(err.msg, "limit"));
    /* Zero height. */
    patch_sof_dims(big, len, 128, 0);
    assert_int_equal(jpeg_decode(c, big, len, &out, &err), -1);

    /* The codec still works after all that. */
    assert_int_equal(jpeg_decode(c, jpg, len, &out, &err), 0);
    assert_int_equal(out->w, 128);
    image_destroy(out);
    free(big);
    free(jpg);
    image_destroy(img);
    jpeg_codec_destroy(c);
}

/* --- resize --- */

static void test_resize_height_dimensions(void **state)
{
    (void)state;
    ec_err err;
    image *src = test_card(640, 360);
    image *r = image_resize_height(src, 180, &err);
    assert_non_null(r);
    assert_int_equal(r->w, 320);
    assert_int_equal(r->h, 180);
    assert_int_equal(r->c, 3);
    image_destroy(r);

    r = image_resize_height(src, 240, &err); /* 426.67 -> nearest even 426 */
    assert_int_equal(r->w, 426);
    assert_int_equal(r->h, 240);
    image_destroy(r);

    image *odd = image_create(101, 50, 1);
    r = image_resize_height(odd, 33, &err); /* 66.66 -> 66 */
    assert_int_equal(r->w % 2, 0);
    assert_int_equal(r->w, 66);
    assert_int_equal(r->c, 1);
    image_destroy(r);
    image_destroy(odd);

    ec_err_clear(&err);
    assert_null(image_resize_height(src, 0, &err));
    assert_int_equal(err.code, EC_EINVAL);
    assert_null(image_resize_height(src, IMAGE_MAX_DIM + 1, &err));
    ec_err_clear(&err);
    assert_null(image_resize(src, 8, 4, &err)); /* 80x: beyond the filter's reach */
    assert_int_equal(err.code, EC_EINVAL);
    r = image_resize(src, 16, 9, &err); /* 40x is fine */
    assert_non_null(r);
    image_destroy(r);
    image_destroy(src);
}

/* Shrinking by an integer factor is an exact box average. */
static void test_resize_area_matches_box_average(void **state)
{
    (void)state;
    ec_err err;
    image *src = test_card(300, 180);
    image *r = image_resize(src, 100, 60, &err);
    assert_non_null(r);
    for (int y = 0; y < 60; y++)
        for (int x = 0; x < 100; x++)
            for (int ch = 0; ch < 3; ch++) {
                int sum = 0;
                for (int dy = 0; dy < 3; dy++)
                    for (int dx = 0; dx < 3; dx++)
                        sum += image_row(src, 3 * y + dy)[3 * (3 * x + dx) + ch];
                int want = (sum + 4) / 9;
                assert_true(abs((int)image_row(r, y)[3 * x + ch] - want) <= 1);
            }
    image_destroy(r);
    image_destroy(src);
}

static double mean_of(const image *img, int ch)
{
    double s = 0;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++)
            s += image_row(img, y)[x * img->c + ch];
    return s / ((double)img->w * img->h);
}

static void test_resize_content_sanity(void **state)
{
    (void)state;
    ec_err err;
    /* Non-integer shrink keeps the mean colour; a flat image stays flat. */
    image *src = test_card(640, 360);
    image *r = image_resize_height(src, 144, &err);
    for (int ch = 0; ch < 3; ch++)
        assert_true(fabs(mean_of(src, ch) - mean_of(r, ch)) < 1.0);
    image_destroy(r);

    image *flat = image_create(97, 61, 3);
    memset(flat->data, 77, (size_t)flat->stride * flat->h);
    r = image_resize(flat, 40, 23, &err);
    for (int i = 0; i < 40 * 23 * 3; i++)
        assert_int_equal(r->data[i], 77);
    image_destroy(r);
    r = image_resize(flat, 200, 130, &err);
    for (int i = 0; i < 200 * 130 * 3; i++)
        assert_int_equal(r->data[i], 77);
    image_destroy(r);
    image_destroy(flat);

    /* Enlarging a horizontal ramp keeps it a ramp: monotone, same ends. */
    image *ramp = image_create(16, 4, 1);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 16; x++)
            image_row(ramp, y)[x] = (uint8_t)(x * 16);
    r = image_resize(ramp, 64, 16, &err);
    for (int y = 0; y < 16; y++) {
        const uint8_t *row = image_row(r, y);
        assert_int_equal(row[0], 0);
        assert_int_equal(row[63], 240);
        for (int x = 1; x < 64; x++)
            assert_true(row[x] >= row[x - 1]);
    }
    image_destroy(r);
    image_destroy(ramp);
    image_destroy(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_reads_every_frame_like_ffprobe),
        cmocka_unit_test(test_file_rgb_matches_ffmpeg_cli),
        cmocka_unit_test(test_file_sample_interval_returns_every_frame),
        cmocka_unit_test(test_file_deferred_rgb_matches_direct),
        cmocka_unit_test(test_file_realtime_paces_to_pts),
        cmocka_unit_test(test_file_errors_are_clear),
        cmocka_unit_test(test_truncated_file_yields_frames_then_ends),
        cmocka_unit_test(test_damaged_stream_counts_decode_errors),
        cmocka_unit_test(test_v4l2_missing_device_is_clear_error),
        cmocka_unit_test(test_interrupt_makes_read_fail),
        cmocka_unit_test(test_interrupt_wakes_paced_reader),
        cmocka_unit_test(test_generator_source),
        cmocka_unit_test(test_jpeg_round_trip),
        cmocka_unit_test(test_jpeg_rejects_bad_input),
        cmocka_unit_test(test_resize_height_dimensions),
        cmocka_unit_test(test_resize_area_matches_box_average),
        cmocka_unit_test(test_resize_content_sanity),
    };
    return cmocka_run_group_tests(tests, make_clips, NULL);
}
