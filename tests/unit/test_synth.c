#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "synth/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct synth_opts small_opts(uint64_t seed, int64_t frames)
{
    struct synth_opts o;
    synth_opts_default(&o);
    o.width = 320;
    o.height = 180;
    o.frames = frames;
    o.seed = seed;
    return o;
}

static int same_boxes(const struct det_list *a, const struct det_list *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (memcmp(&a->v[i], &b->v[i], sizeof a->v[i]) != 0)
            return 0;
    return 1;
}

static size_t frame_bytes(const image *im) { return (size_t)im->stride * im->h; }

static void test_same_seed_same_frames_and_boxes(void **state)
{
    (void)state;
    struct synth_opts o = small_opts(7, 40);
    assert_int_equal(synth_drift_preset("all", &o, NULL), 0); /* noise, shift, novel too */
    struct synth_opts o2 = o;
    o2.seed = 8;
    synth *a = synth_create(&o, NULL), *b = synth_create(&o, NULL), *c = synth_create(&o2, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    struct det_list ga = {0}, gb = {0}, gc = {0};
    image *ia, *ib, *ic;
    int frames = 0, pixels_differ = 0, boxes_differ = 0;
    while (synth_next(a, &ia, &ga, NULL) == 1) {
        assert_int_equal(synth_next(b, &ib, &gb, NULL), 1);
        assert_int_equal(synth_next(c, &ic, &gc, NULL), 1);
        assert_memory_equal(ia->data, ib->data, frame_bytes(ia));
        assert_true(same_boxes(&ga, &gb));
        pixels_differ += memcmp(ia->data, ic->data, frame_bytes(ia)) != 0;
        boxes_differ += !same_boxes(&ga, &gc);
        frames++;
    }
    assert_int_equal(frames, 40);
    assert_int_equal(synth_next(b, &ib, &gb, NULL), 0);
    assert_int_equal(pixels_differ, 40);
    assert_true(boxes_differ > 30);
    det_list_free(&ga);
    det_list_free(&gb);
    det_list_free(&gc);
    synth_destroy(a);
    synth_destroy(b);
    synth_destroy(c);
}

static int pixel_differs(const image *a, const image *b, int x, int y)
{
    return memcmp(image_row(a, y) + x * 3, image_row(b, y) + x * 3, 3) != 0;
}

static int inside_any(const struct det_list *l, int x, int y)
{
    for (int i = 0; i < l->n; i++)
        if (x >= l->v[i].x1 && x < l->v[i].x2 && y >= l->v[i].y1 && y < l->v[i].y2)
            return 1;
    return 0;
}

/* Against the same world with no objects: every box is inside the frame and
 * mostly made of object pixels, its edges touch object pixels, and nothing
 * outside the boxes (kept or ignored) differs from the background. */
static void check_boxes_match_drawn_pixels(float shift)
{
    struct synth_opts o;
    synth_opts_default(&o);
    o.frames = 30;
    o.seed = 3;
    o.start.shift = o.end.shift = shift; /* same camera path with or without objects */
    struct synth_opts empty = o;
    empty.max_objects = 0;
    synth *s = synth_create(&o, NULL), *bg = synth_create(&empty, NULL);
    struct det_list gt = {0}, none = {0};
    image *im, *bgim;
    long boxes = 0;
    while (synth_next(s, &im, &gt, NULL) == 1) {
        assert_int_equal(synth_next(bg, &bgim, &none, NULL), 1);
        assert_int_equal(none.n, 0);
        const struct det_list *ign = synth_ignored(s);
        for (int i = 0; i < gt.n; i++) {
            const struct det *d = &gt.v[i];
            assert_true(d->cls >= 0 && d->cls < SYNTH_NUM_CLASSES);
            assert_true(d->x1 >= 0 && d->y1 >= 0 && d->x2 <= im->w && d->y2 <= im->h);
            assert_true(d->x2 - d->x1 >= 6 && d->y2 - d->y1 >= 6);
            int x1 = (int)d->x1, y1 = (int)d->y1, x2 = (int)d->x2, y2 = (int)d->y2;
            long diff = 0;
            int top = 0, bottom = 0, left = 0, right = 0;
            for (int y = y1; y < y2; y++)
                for (int x = x1; x < x2; x++) {
                    if (!pixel_differs(im, bgim, x, y))
                        continue;
                    diff++;
                    top |= y == y1;
                    bottom |= y == y2 - 1;
                    left |= x == x1;
                    right |= x == x2 - 1;
                }
            double need = d->cls == SYNTH_BICYCLE ? 0.15 : 0.3; /* wheels and a frame are sparse */
            if (diff < need * (x2 - x1) * (y2 - y1))
                fail_msg("cls %d box %dx%d: %ld object pixels", d->cls, x2 - x1, y2 - y1, diff);
            assert_true(top && bottom && left && right);
            boxes++;
        }
        for (int y = 0; y < im->h; y++)
            for (int x = 0; x < im->w; x++)
                if (pixel_differs(im, bgim, x, y) && !inside_any(&gt, x, y) && !inside_any(ign, x, y))
                    fail_msg("frame %lld: pixel (%d,%d) drawn outside every box", (long long)synth_frame_index(s), x, y);
    }
    assert_true(boxes > 30 * 3);
    det_list_free(&gt);
    det_list_free(&none);
    synth_destroy(s);
    synth_destroy(bg);
}

static void test_boxes_match_drawn_pixels(void **state)
{
    (void)state;
    check_boxes_match_drawn_pixels(0);
    check_boxes_match_drawn_pixels(1);
}

static void luma_stats(const image *im, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            const uint8_t *p = image_row(im, y) + x * 3;
            double l = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
            s += l;
            s2 += l * l;
        }
    double n = (double)im->w * im->h;
    *mean = s / n;
    *sd = sqrt(fmax(s2 / n - *mean * *mean, 0));
}

/* Render frame `at` of seed 5 under one constant drift. */
static image *render_with(struct synth_drift d, int at, struct det_list *gt)
{
    struct synth_opts o = small_opts(5, 0);
    o.start = o.end = d;
    synth *s = synth_create(&o, NULL);
    image *im = NULL;
    for (int i = 0; i <= at; i++)
        assert_int_equal(synth_next(s, &im, gt, NULL), 1);
    image *copy = image_clone(im);
    synth_destroy(s);
    return copy;
}

static void test_drift_knobs_change_pixels_not_world(void **state)
{
    (void)state;
    struct det_list g_day = {0}, g = {0};
    image *day = render_with((struct synth_drift){0}, 12, &g_day);
    double dm, dsd, m, sd;
    luma_stats(day, &dm, &dsd);

    image *night = render_with((struct synth_drift){.night = 1}, 12, &g);
    luma_stats(night, &m, &sd);
    assert_true(m < 0.5 * dm);
    assert_true(same_boxes(&g, &g_day));
    /* Bluer: blue dominates red on average at night, not by day. */
    long r = 0, b = 0;
    for (int y = 0; y < night->h; y++)
        for (int x = 0; x < night->w; x++) {
            r += image_row(night, y)[x * 3];
            b += image_row(night, y)[x * 3 + 2];
        }
    assert_true(b > r);

    image *fog = render_with((struct synth_drift){.fog = 1}, 12, &g);
    luma_stats(fog, &m, &sd);
    assert_true(sd < 0.6 * dsd);
    assert_true(same_boxes(&g, &g_day));

    image *noisy = render_with((struct synth_drift){.noise = 1}, 12, &g);
    double mad = 0;
    for (size_t i = 0; i < frame_bytes(day); i++)
        mad += fabs((double)noisy->data[i] - day->data[i]);
    mad /= (double)frame_bytes(day);
    assert_true(mad > 8);
    assert_true(same_boxes(&g, &g_day));

    image *novel = render_with((struct synth_drift){.novel = 1}, 12, &g);
    assert_true(same_boxes(&g, &g_day));
    assert_memory_not_equal(novel->data, day->data, frame_bytes(day));

    image_destroy(day);
    image_destroy(night);
    image_destroy(fog);
    image_destroy(noisy);
    image_destroy(novel);
    det_list_free(&g_day);
    det_list_free(&g);
}

/* With camera shift the frame is the unshifted one translated (same world). */
static void test_shift_translates_view(void **state)
{
    (void)state;
    struct synth_opts o = small_opts(11, 60), os = o;
    os.start.shift = os.end.shift = 1;
    synth *a = synth_create(&o, NULL), *b = synth_create(&os, NULL);
    image *ia, *ib;
    int M = 16, moved = 0;
    for (int f = 0; f < 60; f++) {
        assert_int_equal(synth_next(a, &ia, NULL, NULL), 1);
        assert_int_equal(synth_next(b, &ib, NULL, NULL), 1);
        if (f % 10)
            continue;
        int found = 0;
        for (int dy = -M; dy <= M && !found; dy++)
            for (int dx = -M; dx <= M && !found; dx++) {
                int ok = 1;
                for (int y = M; y < ia->h - M && ok; y++)
                    ok = memcmp(image_row(ib, y) + M * 3, image_row(ia, y + dy) + (M + dx) * 3,
                                (size_t)(ia->w - 2 * M) * 3) == 0;
                if (ok) {
                    found = 1;
                    moved += dx != 0 || dy != 0;
                }
            }
        assert_true(found);
    }
    assert_true(moved >= 3);
    synth_destroy(a);
    synth_destroy(b);
}

static int boxes_overlap(const struct det *a, const struct det *b)
{
    return a->x1 < b->x2 && b->x1 < a->x2 && a->y1 < b->y2 && b->y1 < a->y2;
}

static void test_all_classes_occlusion_and_schedule(void **state)
{
    (void)state;
    struct synth_opts o = small_opts(21, 300);
    assert_int_equal(synth_drift_preset("day-to-night", &o, NULL), 0);
    struct synth_drift mid = synth_drift_at(&o, 150);
    assert_true(fabs(mid.night - 150.0 / 299) < 1e-6);
    assert_true(synth_drift_at(&o, 0).night == 0 && synth_drift_at(&o, 299).night == 1);
    synth *s = synth_create(&o, NULL);
    struct det_list gt = {0};
    image *im;
    long per_class[SYNTH_NUM_CLASSES] = {0}, total = 0, ignored = 0, overlaps = 0;
    double first_luma = 0, last_luma = 0, sd;
    while (synth_next(s, &im, &gt, NULL) == 1) {
        for (int i = 0; i < gt.n; i++) {
            per_class[gt.v[i].cls]++;
            for (int j = i + 1; j < gt.n; j++)
                overlaps += boxes_overlap(&gt.v[i], &gt.v[j]);
        }
        total += gt.n;
        ignored += synth_ignored(s)->n;
        if (synth_frame_index(s) == 1)
            luma_stats(im, &first_luma, &sd);
        last_luma = 0;
        if (synth_frame_index(s) == 300)
            luma_stats(im, &last_luma, &sd);
    }
    for (int c = 0; c < SYNTH_NUM_CLASSES; c++) {
        assert_non_null(synth_class_name(c));
        assert_true(per_class[c] > 20);
    }
    assert_null(synth_class_name(SYNTH_NUM_CLASSES));
    assert_true(total > 3 * 300);
    assert_true(ignored > 0);
    assert_true(overlaps > 50);
    assert_true(last_luma < 0.5 * first_luma);
    det_list_free(&gt);
    synth_destroy(s);
}

static void test_rejects_bad_options(void **state)
{
    (void)state;
    ec_err err;
    struct synth_opts o = small_opts(1, 10);
    o.width = 321;
    assert_null(synth_create(&o, &err));
    assert_int_equal(err.code, EC_EINVAL);
    o = small_opts(1, 10);
    o.fps = 0;
    assert_null(synth_create(&o, &err));
    o = small_opts(1, 10);
    o.end.fog = 1.5f;
    assert_null(synth_create(&o, &err));
    o = small_opts(1, 10);
    o.start.night = NAN;
    assert_null(synth_create(&o, &err));
    o = small_opts(1, 10);
    o.max_objects = SYNTH_MAX_OBJECTS + 1;
    assert_null(synth_create(&o, &err));
    o = small_opts(1, 10);
    o.height = IMAGE_MAX_DIM + 2;
    assert_null(synth_create(&o, &err));
    assert_int_equal(synth_drift_preset("sunset", &o, &err), -1);
    assert_int_equal(err.code, EC_EINVAL);
    o = small_opts(1, 0);
    assert_int_equal(synth_write_video(&o, "/tmp/x.mp4", NULL, NULL, NULL, &err), -1);
}

static void test_opts_from_uri(void **state)
{
    (void)state;
    struct synth_opts o;
    ec_err err;
    assert_int_equal(synth_opts_from_uri("synth://day-to-night?frames=10&width=320&height=180&seed=9", &o, &err), 0);
    assert_int_equal(o.frames, 10);
    assert_int_equal(o.width, 320);
    assert_int_equal(o.height, 180);
    assert_true(o.seed == 9);
    assert_true(o.start.night == 0 && o.end.night == 1);
    synth *s = synth_create(&o, &err);
    assert_non_null(s);
    synth_destroy(s);
    assert_int_equal(synth_opts_from_uri("synth://street", &o, &err), 0);
    assert_true(o.end.night == 0 && o.width == 640);
    assert_int_equal(synth_opts_from_uri("synth://moon", &o, &err), -1);
    assert_int_equal(synth_opts_from_uri("synth://day?fps=abc", &o, &err), -1);
    assert_int_equal(synth_opts_from_uri("synth://day?colour=red", &o, &err), -1);
    assert_int_equal(synth_opts_from_uri("file.mp4", &o, &err), -1);
    assert_int_equal(err.code, EC_EINVAL);
}

static void test_generator_adapter(void **state)
{
    (void)state;
    struct synth_opts o = small_opts(4, 5);
    o.fps = 25;
    synth *a = synth_create(&o, NULL), *b = synth_create(&o, NULL);
    struct det_list gt = {0};
    image *ia, *ib;
    double pts;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(synth_gen_next(a, &ia, &pts, NULL), 1);
        assert_int_equal(synth_next(b, &ib, &gt, NULL), 1);
        assert_true(fabs(pts - i / 25.0) < 1e-12);
        assert_memory_equal(ia->data, ib->data, frame_bytes(ia));
        assert_true(same_boxes(synth_last_gt(a), &gt));
        assert_ptr_not_equal(ia, ib); /* a copy the caller owns */
        image_destroy(ia);
    }
    assert_int_equal(synth_gen_next(a, &ia, &pts, NULL), 0);
    assert_null(ia);
    det_list_free(&gt);
    synth_destroy(a);
    synth_destroy(b);
}

static int count_progress(void *user, int64_t done, int64_t total)
{
    int *calls = user;
    (*calls)++;
    return done > total; /* never stops */
}

static void test_video_written_and_decodable(void **state)
{
    (void)state;
    char dir[] = "/tmp/edgecam-synth-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char video[256], gtp[256], cmd[1024];
    snprintf(video, sizeof video, "%s/out.mp4", dir);
    snprintf(gtp, sizeof gtp, "%s/out.gt.jsonl", dir);
    struct synth_opts o = small_opts(9, 24);
    int calls = 0;
    ec_err err = {0};
    if (synth_write_video(&o, video, gtp, count_progress, &calls, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(calls, 24);

    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -select_streams v:0 -count_frames -show_entries "
             "stream=nb_read_frames,codec_name,width,height,pix_fmt -of default=nw=1 %s",
             video);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[1024] = {0};
    size_t n = fread(out, 1, sizeof out - 1, p);
    assert_int_equal(pclose(p), 0);
    assert_true(n > 0);
    assert_non_null(strstr(out, "codec_name=h264"));
    assert_non_null(strstr(out, "width=320"));
    assert_non_null(strstr(out, "height=180"));
    assert_non_null(strstr(out, "pix_fmt=yuv420p"));
    assert_non_null(strstr(out, "nb_read_frames=24"));

    struct gt_track t;
    if (gt_read(gtp, &t, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(t.nframes, 24);
    synth *s = synth_create(&o, NULL);
    struct det_list gt = {0};
    image *im;
    for (int i = 0; i < 24; i++) {
        assert_int_equal(synth_next(s, &im, &gt, NULL), 1);
        assert_true(same_boxes(&t.frames[i], &gt));
    }
    det_list_free(&gt);
    synth_destroy(s);
    gt_track_free(&t);

    /* No container for this name: a clear error, no crash. */
    snprintf(video, sizeof video, "%s/out.nosuchformat", dir);
    assert_int_equal(synth_write_video(&o, video, NULL, NULL, NULL, &err), -1);
    assert_int_equal(err.code, EC_EINVAL);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static int read_text(const char *text, size_t len, struct gt_track *t, ec_err *err)
{
    char path[] = "/tmp/edgecam-gt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    int rc = gt_read(path, t, err);
    unlink(path);
    return rc;
}

static void test_gt_reader_validates(void **state)
{
    (void)state;
    struct gt_track t;
    ec_err err;
    const char *good = "{\"frame\":0,\"boxes\":[[0,1,2,30,40],[3,5.5,6,7,8]]}\n{\"frame\":1,\"boxes\":[]}\n"
                       "{\"frame\":2,\"boxes\":[[1,0,0,1,1]]}";
    assert_int_equal(read_text(good, strlen(good), &t, &err), 0);
    assert_int_equal(t.nframes, 3);
    assert_int_equal(t.frames[0].n, 2);
    assert_int_equal(t.frames[0].v[1].cls, 3);
    assert_true(t.frames[0].v[1].x1 == 5.5f);
    assert_int_equal(t.frames[1].n, 0);
    gt_track_free(&t);

    static const char *bad[] = {
        "not json\n",
        "{\"frame\":1,\"boxes\":[]}\n",
        "{\"frame\":0}\n",
        "[0,1]\n",
        "{\"frame\":0,\"boxes\":[[4,0,0,1,1]]}\n",
        "{\"frame\":0,\"boxes\":[[-1,0,0,1,1]]}\n",
        "{\"frame\":0,\"boxes\":[[0.5,0,0,1,1]]}\n",
        "{\"frame\":0,\"boxes\":[[0,5,0,1,1]]}\n",
        "{\"frame\":0,\"boxes\":[[0,0,3,1,3]]}\n",
        "{\"frame\":0,\"boxes\":[[0,0,0,1]]}\n",
        "{\"frame\":0,\"boxes\":[[0,\"a\",0,1,1]]}\n",
        "{\"frame\":0,\"boxes\":[[0,0,0,1e300,1]]}\n",
        "{\"frame\":0,\"boxes\":{}}\n",
        "{\"frame\":0,\"boxes\":[]} trailing\n",
        "\n",
        "{\"frame\":0,\"boxes\":[]}\n{\"frame\":0,\"boxes\":[]}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ec_err_clear(&err);
        if (read_text(bad[i], strlen(bad[i]), &t, &err) != -1)
            fail_msg("accepted bad case %zu: %s", i, bad[i]);
        assert_int_equal(err.code, EC_EFORMAT);
        assert_null(t.frames);
    }
    /* The error names the line. */
    const char *second = bad[sizeof bad / sizeof bad[0] - 1];
    assert_int_equal(read_text(second, strlen(second), &t, &err), -1);
    assert_non_null(strstr(err.msg, ":2:"));

    /* A NUL byte and an over-long line. */
    const char nul[] = "{\"frame\":0,\"boxes\":[]}\0x\n";
    assert_int_equal(read_text(nul, sizeof nul - 1, &t, &err), -1);
    size_t big = GT_MAX_LINE + 16;
    char *longline = malloc(big);
    memset(longline, ' ', big);
    memcpy(longline, "{\"frame\":0,\"boxes\":[]}", 22);
    longline[big - 1] = '\n';
    assert_int_equal(read_text(longline, big, &t, &err), -1);
    assert_int_equal(err.code, EC_EFORMAT);
    free(longline);

    assert_int_equal(gt_read("/nonexistent/gt.jsonl", &t, &err), -1);
    assert_int_equal(err.code, EC_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_frames_and_boxes),
        cmocka_unit_test(test_boxes_match_drawn_pixels),
        cmocka_unit_test(test_drift_knobs_change_pixels_not_world),
        cmocka_unit_test(test_shift_translates_view),
        cmocka_unit_test(test_all_classes_occlusion_and_schedule),
        cmocka_unit_test(test_rejects_bad_options),
        cmocka_unit_test(test_opts_from_uri),
        cmocka_unit_test(test_generator_adapter),
        cmocka_unit_test(test_video_written_and_decodable),
        cmocka_unit_test(test_gt_reader_validates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
