/* Edge-Cloud-Assisted upload: motion blocks, which pixels the cloud sees sharp, and how its
 * answer is merged with the local boxes (src/edge/assist_view.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "edge/assist_view.h"

#include <stdlib.h>
#include <string.h>

/* A view source whose every pixel differs from its 16x16 block's mean. */
static image *pattern(int w, int h)
{
    image *img = image_create(w, h, 3);
    assert_non_null(img);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                image_row(img, y)[x * 3 + k] = (uint8_t)(((x + y) % 2) ? 200 : 40);
    return img;
}

static int is_source_pixel(const image *view, const image *src, int x, int y)
{
    return memcmp(image_row(view, y) + x * 3, image_row(src, y) + x * 3, 3) == 0;
}

static struct det box(float x1, float y1, float x2, float y2, float score)
{
    return (struct det){.x1 = x1, .y1 = y1, .x2 = x2, .y2 = y2, .score = score, .cls = 0};
}

static void test_motion_blocks(void **st)
{
    (void)st;
    image *a = image_create(40, 32, 1), *b = image_create(40, 32, 1); /* 3 x 2 blocks */
    assert_non_null(a);
    assert_non_null(b);
    memset(a->data, 20, (size_t)a->stride * a->h);
    memset(b->data, 20, (size_t)b->stride * b->h);
    uint8_t blocks[6];
    assert_int_equal(assist_motion_blocks(a, b, 4, blocks), 0);
    for (int y = 20; y < 25; y++) /* 25 pixels in block (1, 1), 5 levels brighter */
        memset(image_row(b, y) + 20, 25, 5);
    for (int y = 0; y < 3; y++) /* 15 pixels in block (0, 0): too few */
        memset(image_row(b, y), 60, 5);
    for (int y = 16; y < 32; y++) /* the narrow last block (8 wide): 16 pixels */
        image_row(b, y)[38] = 0;
    assert_int_equal(assist_motion_blocks(a, b, 4, blocks), 2);
    const uint8_t want[6] = {0, 0, 0, 0, 1, 1};
    assert_memory_equal(blocks, want, 6);
    assert_int_equal(assist_motion_blocks(a, b, 5, blocks), 1); /* 5 levels is not > 5 */
    assert_int_equal(blocks[5], 1);
    image_destroy(a);
    image_destroy(b);
}

/* Frame 128x128, view 64x64: frame pixels halve. */
static void test_boxes_only_without_motion(void **st)
{
    (void)st;
    image *src = pattern(64, 64);
    struct det_list dets = {0};
    det_list_push(&dets, box(40, 40, 56, 56, 0.4f)); /* widened: 32..64 -> view 16..32 */
    int idx[] = {0};
    struct assist_view_in in = {.view_src = src, .frame_w = 128, .frame_h = 128, .dets = &dets,
                                .idx = idx, .nidx = 1};
    struct assist_view v;
    assert_int_equal(assist_view_build(&in, &v, NULL), 0);
    assert_false(v.whole);
    assert_int_equal(v.replace, ASSIST_REPLACE_REGIONS);
    assert_true(v.sharp[20 * 64 + 20] && is_source_pixel(v.img, src, 20, 20));
    assert_true(v.sharp[16 * 64 + 31] && !v.sharp[15 * 64 + 20] && !v.sharp[20 * 64 + 32]);
    /* Outside: the block's mean, (40 + 200) / 2. */
    assert_false(v.sharp[50 * 64 + 50]);
    assert_int_equal(image_row(v.img, 50)[50 * 3], 120);
    assist_view_free(&v);
    det_list_free(&dets);
    image_destroy(src);
}

static void test_motion_and_tracked_boxes_are_sharp(void **st)
{
    (void)st;
    image *src = pattern(64, 64);
    struct det_list dets = {0}, tracked = {0};
    det_list_push(&dets, box(8, 8, 16, 16, 0.4f)); /* view 2..10 */
    det_list_push(&tracked, box(100, 8, 108, 16, 0.9f)); /* view 48..56 x 2..10 */
    int idx[] = {0};
    uint8_t motion[16] = {0};
    motion[3 * 4 + 0] = 1; /* view block x 0..16, y 48..64 */
    struct assist_view_in in = {.view_src = src, .frame_w = 128, .frame_h = 128, .dets = &dets,
                                .idx = idx, .nidx = 1, .motion = motion, .tracked = &tracked};
    struct assist_view v;
    assert_int_equal(assist_view_build(&in, &v, NULL), 0);
    assert_false(v.whole);
    assert_int_equal(v.replace, ASSIST_REPLACE_SEEN);
    assert_true(v.sharp[5 * 64 + 5]);   /* the uncertain box */
    assert_true(v.sharp[50 * 64 + 10]); /* the moving block */
    assert_true(v.sharp[5 * 64 + 52]);  /* the tracked box */
    assert_false(v.sharp[30 * 64 + 30]);
    assert_true(is_source_pixel(v.img, src, 10, 50) && !is_source_pixel(v.img, src, 30, 30));
    assist_view_free(&v);
    det_list_free(&dets);
    det_list_free(&tracked);
    image_destroy(src);
}

/* Uncertain boxes over 30% of the frame: the model is confused, its boxes are left out. */
static void test_confused_model_shows_motion_only(void **st)
{
    (void)st;
    image *src = pattern(64, 64);
    struct det_list dets = {0};
    det_list_push(&dets, box(16, 16, 80, 80, 0.4f)); /* widened: most of the frame */
    int idx[] = {0};
    uint8_t motion[16] = {0};
    motion[0] = 1;
    struct assist_view_in in = {.view_src = src, .frame_w = 128, .frame_h = 128, .dets = &dets,
                                .idx = idx, .nidx = 1, .motion = motion};
    struct assist_view v;
    assert_int_equal(assist_view_build(&in, &v, NULL), 0);
    assert_false(v.whole);
    assert_int_equal(v.replace, ASSIST_REPLACE_ALL);
    assert_true(v.sharp[5 * 64 + 5]);
    assert_false(v.sharp[24 * 64 + 24]); /* inside the box, not moving */
    assist_view_free(&v);

    /* Without a reference frame the whole frame goes, as it does with nothing moving. */
    in.motion = NULL;
    assert_int_equal(assist_view_build(&in, &v, NULL), 0);
    assert_true(v.whole);
    assert_int_equal(v.replace, ASSIST_REPLACE_ALL);
    assist_view_free(&v);
    memset(motion, 0, sizeof motion);
    in.motion = motion;
    assert_int_equal(assist_view_build(&in, &v, NULL), 0);
    assert_true(v.whole);
    assert_true(is_source_pixel(v.img, src, 30, 30) && v.sharp[30 * 64 + 30]);
    assist_view_free(&v);
    det_list_free(&dets);
    image_destroy(src);
}

static void test_most_of_the_frame_moving_sends_it_whole(void **st)
{
    (void)st;
    image *src = pattern(64, 64);
    struct det_list dets = {0};
    det_list_push(&dets, box(8, 8, 16, 16, 0.4f));
    int idx[] = {0};
    uint8_t motion[16];
    memset(motion, 1, sizeof motion);
    motion[15] = motion[14] = 0; /* 87.5% moving */
    struct assist_view_in in = {.view_src = src, .frame_w = 128, .frame_h = 128, .dets = &dets,
                                .idx = idx, .nidx = 1, .motion = motion};
    struct assist_view v;
    assert_int_equal(assist_view_build(&in, &v, NULL), 0);
    assert_true(v.whole);
    assert_int_equal(v.replace, ASSIST_REPLACE_ALL);
    assert_true(is_source_pixel(v.img, src, 60, 60));
    assist_view_free(&v);
    motion[13] = motion[12] = 0; /* 75% */
    assert_int_equal(assist_view_build(&in, &v, NULL), 0);
    assert_false(v.whole);
    assist_view_free(&v);
    det_list_free(&dets);
    image_destroy(src);
}

/* Local: uncertain A, confident B on a moving block, confident C elsewhere; the cloud says D. */
static void test_merge_replaces_what_the_cloud_saw(void **st)
{
    (void)st;
    image *src = pattern(64, 64);
    struct det_list dets = {0}, cloud = {0}, out = {0};
    det_list_push(&dets, box(8, 8, 16, 16, 0.4f));      /* A */
    det_list_push(&dets, box(4, 100, 24, 120, 0.9f));   /* B: centre view (7, 55) */
    det_list_push(&dets, box(90, 90, 120, 120, 0.8f));  /* C: centre view (52, 52) */
    det_list_push(&cloud, box(60, 20, 70, 40, 0.7f));   /* D */
    int idx[] = {0};
    uint8_t motion[16] = {0};
    motion[3 * 4 + 0] = 1;
    struct assist_view_in in = {.view_src = src, .frame_w = 128, .frame_h = 128, .dets = &dets,
                                .idx = idx, .nidx = 1, .motion = motion};
    struct assist_view v;
    assert_int_equal(assist_view_build(&in, &v, NULL), 0);
    assert_int_equal(assist_merge(&in, &v, &cloud, &out), 0);
    assert_int_equal(out.n, 2); /* C, D */
    assert_true(out.v[0].score == 0.8f && out.v[1].score == 0.7f);
    assist_view_free(&v);

    in.motion = NULL; /* EdgeCam's rule: only A is replaced */
    assert_int_equal(assist_view_build(&in, &v, NULL), 0);
    assert_int_equal(assist_merge(&in, &v, &cloud, &out), 0);
    assert_int_equal(out.n, 3);
    assist_view_free(&v);

    v = (struct assist_view){.replace = ASSIST_REPLACE_ALL, .img = NULL};
    assert_int_equal(assist_merge(&in, &v, &cloud, &out), 0);
    assert_int_equal(out.n, 1);
    assert_true(out.v[0].score == 0.7f);
    det_list_free(&dets);
    det_list_free(&cloud);
    det_list_free(&out);
    image_destroy(src);
}

static void test_track_keeps_confident_cloud_boxes(void **st)
{
    (void)st;
    struct assist_memory m = {0};
    struct det_list cloud = {0};
    det_list_push(&cloud, box(0, 0, 10, 10, 0.9f));
    det_list_push(&cloud, box(0, 0, 10, 10, ASSIST_TRACK_SCORE - 0.01f));
    assert_int_equal(assist_track(&m, &cloud), 0);
    assert_int_equal(m.tracked.n, 1);
    det_list_clear(&cloud);
    assert_int_equal(assist_track(&m, &cloud), 0); /* the last answer replaces the one before */
    assert_int_equal(m.tracked.n, 0);
    det_list_free(&cloud);
    assist_memory_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_motion_blocks),
        cmocka_unit_test(test_boxes_only_without_motion),
        cmocka_unit_test(test_motion_and_tracked_boxes_are_sharp),
        cmocka_unit_test(test_confused_model_shows_motion_only),
        cmocka_unit_test(test_most_of_the_frame_moving_sends_it_whole),
        cmocka_unit_test(test_merge_replaces_what_the_cloud_saw),
        cmocka_unit_test(test_track_keeps_confident_cloud_boxes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
