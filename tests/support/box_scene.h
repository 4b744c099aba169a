/* Synthetic box scenes for detector tests: 128 x 96 frames (letterboxed into 64 x 64) with a
 * noisy background and two boxes, red for class 0 and blue for class 1, with their ground truth;
 * and the training loop that teaches a small detector to find them. Include after <cmocka.h>. */
#ifndef EDGECAM_TESTS_BOX_SCENE_H
#define EDGECAM_TESTS_BOX_SCENE_H

#include "core/det.h"
#include "core/image.h"
#include "nn/nn.h"

#include <stdint.h>

/* The backbone of the detectors trained on these scenes (64 x 64 input, 2 classes, stride 8):
 * an arch JSON prefix to which each test appends its own last layers. */
#define BOX_DET_ARCH_BACKBONE \
    "{\"input\":{\"h\":64,\"w\":64,\"c\":3},\"num_classes\":2,\"layers\":[" \
    "{\"name\":\"c1\",\"type\":\"conv\",\"filters\":16,\"size\":3,\"stride\":2,\"bias\":0}," \
    "{\"name\":\"b1\",\"type\":\"bn\"},{\"name\":\"a1\",\"type\":\"silu\"}," \
    "{\"name\":\"c2\",\"type\":\"conv\",\"filters\":32,\"size\":3,\"stride\":2,\"bias\":0}," \
    "{\"name\":\"b2\",\"type\":\"bn\"},{\"name\":\"a2\",\"type\":\"silu\"}," \
    "{\"name\":\"c3\",\"type\":\"conv\",\"filters\":32,\"size\":3,\"stride\":2,\"bias\":0}," \
    "{\"name\":\"b3\",\"type\":\"bn\"},{\"name\":\"a3\",\"type\":\"silu\"},"

static inline image *box_scene(uint32_t seed, struct det_list *gt)
{
    image *img = image_create(128, 96, 3);
    assert_non_null(img);
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w * 3; x++) {
            seed = seed * 1664525u + 1013904223u;
            image_row(img, y)[x] = (uint8_t)(50 + (seed >> 27));
        }
    for (int k = 0; k < 2; k++) {
        seed = seed * 1664525u + 1013904223u;
        int w = 20 + (int)((seed >> 8) % 24), h = 20 + (int)((seed >> 16) % 20);
        int x = k * 64 + (int)((seed >> 4) % (unsigned)(64 - w));
        int y = (int)((seed >> 20) % (unsigned)(96 - h));
        int cls = (int)((seed >> 30) & 1);
        for (int yy = y; yy < y + h; yy++)
            for (int xx = x; xx < x + w; xx++) {
                uint8_t *p = image_row(img, yy) + xx * 3;
                p[0] = cls ? 40 : 210, p[1] = 40, p[2] = cls ? 210 : 40;
            }
        det_list_push(gt, (struct det){(float)x, (float)y, (float)(x + w), (float)(y + h), 1, cls});
    }
    return img;
}

/* Scenes 0..n-1 of the fixed test set, with their truth. */
static inline void box_scenes_create(image *scenes[], struct det_list truth[], int n)
{
    for (int i = 0; i < n; i++)
        scenes[i] = box_scene(100 + (uint32_t)i * 7919, &truth[i]);
}

static inline void box_scenes_destroy(image *scenes[], struct det_list truth[], int n)
{
    for (int i = 0; i < n; i++) {
        image_destroy(scenes[i]);
        det_list_free(&truth[i]);
    }
}

/* `steps` Adam steps (lr 0.01) on batches of `batch` scenes taken in turn; the first and last
 * step's loss go to *first / *last when not NULL. */
static inline void box_train(detector *d, image *const scenes[], const struct det_list truth[],
                             int nscenes, int batch, int steps, float *first, float *last)
{
    ec_err e = {0};
    struct nn_optim_cfg cfg = {.kind = NN_OPTIM_ADAM, .lr = 0.01f};
    nn_optim *o = nn_optim_create(detector_model(d), &cfg, &e);
    assert_non_null(o);
    const image *imgs[16];
    struct det_list gts[16];
    assert_true(batch >= 1 && batch <= 16);
    float loss = 0;
    for (int step = 0; step < steps; step++) {
        for (int k = 0; k < batch; k++) {
            int i = (step * batch + k) % nscenes;
            imgs[k] = scenes[i];
            gts[k] = truth[i];
        }
        assert_int_equal(detector_train_step(d, o, imgs, gts, batch, &loss, &e), 0);
        if (step == 0 && first)
            *first = loss;
    }
    if (last)
        *last = loss;
    nn_optim_destroy(o);
}

#endif
