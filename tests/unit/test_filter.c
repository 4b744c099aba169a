#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/image.h"
#include "filter/filter.h"
#include "filter/imgproc.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Smooth-ish texture (gradients and blocks: edges and corners, no flat areas) plus a bright
 * square of side `s` at (x0, y0); s == 0 draws none. */
static image *scene(int w, int h, int x0, int y0, int s)
{
    image *img = image_create(w, h, 3);
    assert_non_null(img);
    for (int y = 0; y < h; y++) {
        uint8_t *r = image_row(img, y);
        for (int x = 0; x < w; x++) {
            int block = ((x / 16) + (y / 16)) & 1;
            r[3 * x] = (uint8_t)(40 + block * 60 + (x & 15));
            r[3 * x + 1] = (uint8_t)(50 + block * 50 + (y & 15));
            r[3 * x + 2] = (uint8_t)(60 + (x + y) / 8 % 40);
        }
    }
    for (int y = y0; y < y0 + s && y < h; y++)
        for (int x = x0; x < x0 + s && x < w; x++)
            memset(image_row(img, y) + 3 * x, 250, 3);
    return img;
}

static void test_feature_names(void **state)
{
    (void)state;
    for (int f = FILTER_PIXEL; f <= FILTER_CORNER; f++) {
        enum filter_feature back;
        const char *name = filter_feature_name((enum filter_feature)f);
        assert_int_equal(filter_feature_parse(name, &back), 0);
        assert_int_equal(back, f);
    }
    enum filter_feature out = FILTER_EDGE;
    assert_int_equal(filter_feature_parse("colour", &out), -1);
    assert_int_equal(filter_feature_parse(NULL, &out), -1);
    assert_int_equal(out, FILTER_EDGE);
    assert_string_equal(filter_feature_name((enum filter_feature)42), "unknown");
}

static void test_create_rejects_bad_options(void **state)
{
    (void)state;
    ec_err err;
    struct filter_opts o;
    assert_null(filter_create(NULL, &err));
    assert_int_equal(err.code, EC_EINVAL);
    const double bad[] = {0, -0.5, 1.5, NAN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        filter_opts_default(&o);
        o.diff_thresh = bad[i];
        ec_err_clear(&err);
        assert_null(filter_create(&o, &err));
        assert_int_equal(err.code, EC_EINVAL);
    }
    filter_opts_default(&o);
    o.feature = (enum filter_feature)7;
    assert_null(filter_create(&o, &err));
    assert_int_equal(err.code, EC_EINVAL);
    filter_opts_default(&o);
    filter *f = filter_create(&o, &err);
    assert_non_null(f);
    filter_destroy(f);
    filter_destroy(NULL);
}

static void test_feature_diff_rejects_bad_args(void **state)
{
    (void)state;
    image *a = scene(64, 48, 0, 0, 0), *b = scene(64, 40, 0, 0, 0), *g = image_create(64, 48, 1);
    double d = -1;
    ec_err err;
    assert_int_equal(filter_feature_diff(FILTER_PIXEL, a, b, &d, &err), -1);
    assert_int_equal(err.code, EC_EINVAL);
    assert_int_equal(filter_feature_diff(FILTER_EDGE, a, g, &d, &err), -1);
    assert_int_equal(filter_feature_diff(FILTER_AREA, NULL, a, &d, &err), -1);
    assert_int_equal(filter_feature_diff((enum filter_feature)-1, a, a, &d, &err), -1);
    assert_int_equal(filter_feature_diff(FILTER_CORNER, a, a, NULL, &err), -1);
    assert_true(d == -1);
    assert_int_equal(filter_feature_diff(FILTER_CORNER, a, a, &d, NULL), 0);
    assert_true(d == 0);
    image_destroy(a);
    image_destroy(b);
    image_destroy(g);
}

/* Every feature: identical frames -> exactly 0, a moving object -> clearly > 0 but far from the
 * whole frame (EdgeCam's corner feature was ~1 on everything). */
static void test_static_vs_moving_each_feature(void **state)
{
    (void)state;
    image *a = scene(160, 120, 30, 40, 24), *a2 = image_clone(a), *b = scene(160, 120, 60, 44, 24);
    for (int f = FILTER_PIXEL; f <= FILTER_CORNER; f++) {
        double still = -1, moving = -1;
        assert_int_equal(filter_feature_diff((enum filter_feature)f, a, a2, &still, NULL), 0);
        assert_int_equal(filter_feature_diff((enum filter_feature)f, a, b, &moving, NULL), 0);
        assert_true(still == 0);
        assert_true(moving > 0.005);
        assert_true(moving < 0.5);
    }
    image_destroy(a);
    image_destroy(a2);
    image_destroy(b);
}

/* The corner mask follows the object: a bigger motion changes more of it, and a motion of the
 * object alone does not touch corners far away from it. */
static void test_corner_discriminates(void **state)
{
    (void)state;
    image *a = scene(200, 150, 20, 50, 30), *near = scene(200, 150, 23, 50, 30),
          *far = scene(200, 150, 120, 50, 30);
    double d_near, d_far;
    assert_int_equal(filter_feature_diff(FILTER_CORNER, a, near, &d_near, NULL), 0);
    assert_int_equal(filter_feature_diff(FILTER_CORNER, a, far, &d_far, NULL), 0);
    assert_true(d_near > 0);
    assert_true(d_far > d_near);
    assert_true(d_far < 0.2);
    image_destroy(a);
    image_destroy(near);
    image_destroy(far);
}

/* Pixel feature on frames that differ in exactly `k` pixels: the diff is k / (w*h) and the
 * decisions follow the accumulation rule. */
static void test_key_ref_accumulation(void **state)
{
    (void)state;
    const int w = 100, h = 50; /* 5000 pixels: 20 changed pixels = 0.004 */
    image *a = image_create(w, h, 3), *b = image_create(w, h, 3);
    for (int i = 0; i < 20; i++)
        memset(image_row(b, 10) + 3 * (5 + i), 200, 3);
    struct filter_opts o = {.enabled = 1, .feature = FILTER_PIXEL, .diff_thresh = 0.01};
    filter *f = filter_create(&o, NULL);
    const image *seq[] = {a, b, a, b, a, a, b, a};
    /* acc after each: first | .004 | .008 | .012 KEY | .004 | .004 (static) | .008 | .012 KEY */
    const enum filter_decision want[] = {FILTER_KEY, FILTER_REF, FILTER_REF, FILTER_KEY,
                                         FILTER_REF, FILTER_REF, FILTER_REF, FILTER_KEY};
    const double want_diff[] = {0, 0.004, 0.004, 0.004, 0.004, 0, 0.004, 0.004};
    for (int i = 0; i < 8; i++) {
        double d = -1;
        assert_int_equal(filter_push(f, seq[i], &d), want[i]);
        assert_true(fabs(d - want_diff[i]) < 1e-12);
    }
    /* A larger threshold needs more motion; a size change restarts with a key frame. */
    filter_destroy(f);
    o.diff_thresh = 0.02;
    f = filter_create(&o, NULL);
    int keys = 0;
    for (int i = 0; i < 11; i++)
        keys += filter_push(f, i & 1 ? b : a, NULL) == FILTER_KEY;
    assert_int_equal(keys, 3); /* frame 0, then every 5th change (0.004 * 5 = 0.02) */
    image *small = image_create(40, 30, 3);
    double d = -1;
    assert_int_equal(filter_push(f, small, &d), FILTER_KEY);
    assert_true(d == 0);
    assert_int_equal(filter_push(f, small, &d), FILTER_REF);
    filter_reset(f);
    assert_int_equal(filter_push(f, small, &d), FILTER_KEY);
    image_destroy(small);
    filter_destroy(f);
    image_destroy(a);
    image_destroy(b);
}

/* A copy of `src` whose rows are `pad` bytes longer than the pixels (as decoders hand out). */
static image *padded_copy(const image *src, int pad)
{
    image *img = malloc(sizeof *img);
    assert_non_null(img);
    *img = *src;
    img->stride = src->w * 3 + pad;
    img->data = malloc((size_t)img->stride * src->h);
    assert_non_null(img->data);
    for (int y = 0; y < src->h; y++) {
        memcpy(image_row(img, y), image_row(src, y), (size_t)src->w * 3);
        memset(image_row(img, y) + src->w * 3, 0xA5, (size_t)pad); /* must not be compared */
    }
    return img;
}

/* filter_push's pixel diffs (computed in place, row by row) equal the stateless feature diff
 * of each consecutive pair, on padded rows too. */
static void test_pixel_push_matches_feature_diff(void **state)
{
    (void)state;
    struct filter_opts o = {.enabled = 1, .feature = FILTER_PIXEL, .diff_thresh = 1};
    filter *f = filter_create(&o, NULL);
    image *prev = NULL;
    const int xs[] = {10, 14, 40, 40, 90, 12};
    for (int i = 0; i < 6; i++) {
        image *cur = scene(161, 97, xs[i], 20 + i, 25), *pad = padded_copy(cur, 7 * i);
        double d = -1, want = 0;
        filter_push(f, pad, &d);
        if (prev)
            assert_int_equal(filter_feature_diff(FILTER_PIXEL, prev, cur, &want, NULL), 0);
        assert_true(fabs(d - want) < 1e-12);
        assert_true(i < 2 || i == 3 || d > 0.01); /* the moved square shows */
        image_destroy(prev);
        image_destroy(pad);
        prev = cur;
    }
    image_destroy(prev);
    filter_destroy(f);
}

static void test_first_frame_key_then_static_ref(void **state)
{
    (void)state;
    image *a = scene(96, 64, 10, 10, 12);
    for (int feat = FILTER_PIXEL; feat <= FILTER_CORNER; feat++) {
        struct filter_opts o;
        filter_opts_default(&o);
        o.feature = (enum filter_feature)feat;
        filter *f = filter_create(&o, NULL);
        double d = -1;
        assert_int_equal(filter_push(f, a, &d), FILTER_KEY);
        assert_true(d == 0);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(filter_push(f, a, &d), FILTER_REF);
            assert_true(d == 0);
        }
        filter_destroy(f);
    }
    image_destroy(a);
}

static void test_disabled_and_invalid_frames_are_key(void **state)
{
    (void)state;
    image *a = scene(64, 48, 5, 5, 8), *g = image_create(64, 48, 1);
    struct filter_opts o;
    filter_opts_default(&o);
    o.enabled = 0;
    filter *f = filter_create(&o, NULL);
    double d = -1;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(filter_push(f, a, &d), FILTER_KEY);
        assert_true(d == 0);
    }
    filter_destroy(f);
    filter_opts_default(&o);
    f = filter_create(&o, NULL);
    assert_int_equal(filter_push(f, a, NULL), FILTER_KEY);
    assert_int_equal(filter_push(f, a, NULL), FILTER_REF);
    assert_int_equal(filter_push(f, g, &d), FILTER_KEY); /* gray: not a valid RGB frame */
    assert_int_equal(filter_push(f, NULL, &d), FILTER_KEY);
    assert_int_equal(filter_push(f, a, NULL), FILTER_REF); /* state kept */
    filter_destroy(f);
    image_destroy(a);
    image_destroy(g);
}

/* contourArea of findContours(RETR_EXTERNAL) on hand-made masks (pixel-centre polygons). */
static void test_contour_area(void **state)
{
    (void)state;
    const int w = 40, h = 30;
    uint8_t *m = calloc((size_t)w * h, 1);
    ip_ws *ws = ip_ws_create(w, h);
    assert_true(ip_max_contour_area(ws, m) == 0);
    m[5 * w + 5] = 1; /* a lone pixel has area 0 */
    assert_true(ip_max_contour_area(ws, m) == 0);
    for (int y = 2; y < 7; y++) /* 10 x 5 block: (10-1) * (5-1) */
        memset(m + y * w + 12, 1, 10);
    assert_true(ip_max_contour_area(ws, m) == 36);
    memset(m, 0, (size_t)w * h);
    for (int y = 10; y < 30; y++) /* 20 x 20 frame touching the image border, 2 px thick */
        for (int x = 20; x < 40; x++)
            m[y * w + x] = (y < 12 || y > 27 || x < 22 || x > 37);
    for (int y = 15; y < 20; y++) /* a block inside its hole does not count as bigger */
        memset(m + y * w + 25, 1, 8);
    assert_true(ip_max_contour_area(ws, m) == 19 * 19);
    for (int i = 0; i < 9; i++) /* a diagonal line encloses nothing */
        m[i * w + i] = 1;
    assert_true(ip_max_contour_area(ws, m) == 19 * 19);
    ip_ws_destroy(ws);
    free(m);
}

/* Every border rule on tiny frames: defined results in [0, 1], identical frames give 0. */
static void test_tiny_frames(void **state)
{
    (void)state;
    const int sizes[][2] = {{1, 1}, {2, 1}, {1, 2}, {3, 2}, {2, 7}, {5, 5}, {11, 3}, {4, 12}};
    unsigned seed = 12345;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        image *a = image_create(sizes[i][0], sizes[i][1], 3), *b = image_clone(a);
        for (int k = 0; k < a->stride * a->h; k++) {
            seed = seed * 1103515245u + 12345u;
            a->data[k] = (uint8_t)(seed >> 16);
            b->data[k] = (uint8_t)(255 - a->data[k]);
        }
        for (int f = FILTER_PIXEL; f <= FILTER_CORNER; f++) {
            double d = -1, same = -1;
            assert_int_equal(filter_feature_diff((enum filter_feature)f, a, b, &d, NULL), 0);
            assert_int_equal(filter_feature_diff((enum filter_feature)f, a, a, &same, NULL), 0);
            assert_true(d >= 0 && d <= 1);
            assert_true(same == 0);
        }
        image_destroy(a);
        image_destroy(b);
    }
}

static void test_gauss_kernel_sums_to_one(void **state)
{
    (void)state;
    uint16_t k[11];
    ip_gauss_kernel_q8(11, k);
    int sum = 0;
    for (int i = 0; i < 11; i++) {
        sum += k[i];
        assert_int_equal(k[i], k[10 - i]);
        if (i > 0 && i <= 5)
            assert_true(k[i] >= k[i - 1]);
    }
    assert_int_equal(sum, 256);
    assert_int_equal(k[0], 2); /* 256 * N(5; sigma 2) / sum = 2.26 */
    assert_int_equal(k[5], 52);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feature_names),
        cmocka_unit_test(test_create_rejects_bad_options),
        cmocka_unit_test(test_feature_diff_rejects_bad_args),
        cmocka_unit_test(test_static_vs_moving_each_feature),
        cmocka_unit_test(test_corner_discriminates),
        cmocka_unit_test(test_key_ref_accumulation),
        cmocka_unit_test(test_pixel_push_matches_feature_diff),
        cmocka_unit_test(test_first_frame_key_then_static_ref),
        cmocka_unit_test(test_disabled_and_invalid_frames_are_key),
        cmocka_unit_test(test_contour_area),
        cmocka_unit_test(test_tiny_frames),
        cmocka_unit_test(test_gauss_kernel_sums_to_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
