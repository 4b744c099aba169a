/* src/nn detector: NMS, head loss gradient, training a small detector until it finds the
 * objects (letterbox, assignment, decoding end to end), concurrent inference, bad inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "nn/nn.h"
#include "support/box_scene.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *DET_ARCH =
    BOX_DET_ARCH_BACKBONE
    "{\"name\":\"c4\",\"type\":\"conv\",\"filters\":32,\"size\":3,\"bias\":0},"
    "{\"name\":\"b4\",\"type\":\"bn\"},{\"name\":\"a4\",\"type\":\"silu\"},"
    "{\"name\":\"head\",\"type\":\"conv\",\"filters\":7,\"size\":1}]}";

static void test_nms_is_classwise(void **state)
{
    (void)state;
    struct det_list l = {0};
    det_list_push(&l, (struct det){0, 0, 10, 10, 0.6f, 0});
    det_list_push(&l, (struct det){1, 1, 11, 11, 0.9f, 0});  /* suppresses the first */
    det_list_push(&l, (struct det){1, 1, 11, 11, 0.5f, 1});  /* other class: kept */
    det_list_push(&l, (struct det){30, 30, 40, 40, 0.7f, 0}); /* no overlap: kept */
    det_list_push(&l, (struct det){0, 0, 10, 20, 0.8f, 0});  /* IoU 0.43 with best: kept */
    nn_nms(&l, 0.5f);
    assert_int_equal(l.n, 4);
    assert_float_equal(l.v[0].score, 0.9f, 1e-6);
    assert_float_equal(l.v[1].score, 0.8f, 1e-6);
    assert_float_equal(l.v[2].score, 0.7f, 1e-6);
    assert_int_equal(l.v[3].cls, 1);
    det_list_free(&l);
}

static void test_head_loss_gradient(void **state)
{
    (void)state;
    nn_tensor *h = nn_tensor_create(2, 4, 4, 7), *g = nn_tensor_create(2, 4, 4, 7);
    uint32_t s = 5;
    for (size_t i = 0; i < nn_tensor_numel(h); i++) {
        s = s * 1664525u + 1013904223u;
        h->data[i] = (float)(s >> 8) / (float)(1u << 24) * 4.0f - 2.0f;
        /* Box channels (l, t, r, b) well away from the L1 kink, with both signs of error. */
        if (i % 7 >= 3)
            h->data[i] = h->data[i] * 0.25f + ((i / 7) % 2 ? 5.0f : -6.0f);
    }
    struct det_list gts[2] = {{0}, {0}};
    det_list_push(&gts[0], (struct det){3, 5, 20, 27, 1, 1});
    det_list_push(&gts[0], (struct det){16, 2, 30, 12, 1, 0});
    det_list_push(&gts[1], (struct det){0, 0, 31, 31, 1, 0});
    float loss = nn_head_loss(h, 8, 2, gts, g);
    assert_true(isfinite(loss) && loss > 0);
    /* Central differences on every element. */
    for (size_t i = 0; i < nn_tensor_numel(h); i++) {
        float keep = h->data[i], eps = 1e-2f;
        h->data[i] = keep + eps;
        float up = nn_head_loss(h, 8, 2, gts, NULL);
        h->data[i] = keep - eps;
        float down = nn_head_loss(h, 8, 2, gts, NULL);
        h->data[i] = keep;
        float num = (up - down) / (2 * eps);
        if (fabsf(num - g->data[i]) > 2e-3f)
            fail_msg("element %zu: numeric %g analytic %g", i, num, g->data[i]);
    }
    /* Wrong channel count is refused, not read out of bounds. */
    assert_true(isnan(nn_head_loss(h, 8, 3, gts, NULL)));
    det_list_free(&gts[0]);
    det_list_free(&gts[1]);
    nn_tensor_destroy(h);
    nn_tensor_destroy(g);
}

#define NSCENES 6
static detector *trained;
static image *scenes[NSCENES];
static struct det_list truth[NSCENES];

static int setup(void **state)
{
    (void)state;
    nn_set_threads(1);
    ec_err e = {0};
    trained = detector_from_model(nn_model_create(DET_ARCH, 11, &e), &e);
    if (!trained)
        return -1;
    box_scenes_create(scenes, truth, NSCENES);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    detector_destroy(trained);
    box_scenes_destroy(scenes, truth, NSCENES);
    return 0;
}

/* Every true box is found (IoU >= 0.5, right class) among detections with score >= 0.3. */
static int found_all(const struct det_list *dets, const struct det_list *gt)
{
    for (int i = 0; i < gt->n; i++) {
        int hit = 0;
        for (int k = 0; k < dets->n && !hit; k++)
            hit = dets->v[k].cls == gt->v[i].cls && det_iou(&dets->v[k], &gt->v[i]) >= 0.5f;
        if (!hit)
            return 0;
    }
    return 1;
}

static void test_train_until_it_detects(void **state)
{
    (void)state;
    ec_err e = {0};
    struct det_list dets = {0};
    assert_int_equal(detector_run(trained, scenes[0], 0.3f, &dets, &e), 0);
    assert_false(found_all(&dets, &truth[0])); /* untrained: finds nothing useful */
    float first = 0, loss = 0;
    box_train(trained, scenes, truth, NSCENES, 3, 160, &first, &loss);
    assert_true(loss < first * 0.3f);
    int ok = 0;
    for (int i = 0; i < NSCENES; i++) {
        det_list_clear(&dets);
        assert_int_equal(detector_run(trained, scenes[i], 0.3f, &dets, &e), 0);
        for (int k = 0; k < dets.n; k++) {
            assert_true(dets.v[k].x1 >= 0 && dets.v[k].x2 <= 128 && dets.v[k].y2 <= 96);
            assert_true(dets.v[k].score >= 0.3f && dets.v[k].score <= 1.0f);
        }
        ok += found_all(&dets, &truth[i]);
    }
    if (ok < NSCENES - 1)
        fail_msg("only %d of %d scenes fully detected (loss %g -> %g)", ok, NSCENES, first, loss);
    det_list_free(&dets);

    /* Saved and reloaded (BN folded again on load) gives the same detections. */
    char path[] = "/tmp/edgecam-det-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    assert_int_equal(detector_save(trained, path, &e), 0);
    detector *back = detector_load(path, &e);
    unlink(path);
    assert_non_null(back);
    struct det_list a = {0}, b = {0};
    detector_run(trained, scenes[1], 0.3f, &a, &e);
    detector_run(back, scenes[1], 0.3f, &b, &e);
    assert_int_equal(a.n, b.n);
    for (int k = 0; k < a.n; k++)
        assert_float_equal(a.v[k].x1, b.v[k].x1, 1e-4);
    det_list_free(&a);
    det_list_free(&b);
    detector_destroy(back);
}

struct runner {
    const detector *d;
    const image *img;
    struct det_list out;
    int rc;
};

static void *run_many(void *arg)
{
    struct runner *r = arg;
    for (int i = 0; i < 20; i++) {
        det_list_clear(&r->out);
        r->rc |= detector_run(r->d, r->img, 0.3f, &r->out, NULL);
    }
    return NULL;
}

static void test_concurrent_runs_match(void **state)
{
    (void)state;
    ec_err e = {0};
    struct det_list ref = {0};
    assert_int_equal(detector_run(trained, scenes[2], 0.3f, &ref, &e), 0);
    struct runner r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct runner){trained, scenes[2], {0}, 0};
        pthread_create(&th[i], NULL, run_many, &r[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].rc, 0);
        assert_int_equal(r[i].out.n, ref.n);
        assert_memory_equal(r[i].out.v, ref.v, (size_t)ref.n * sizeof *ref.v);
        det_list_free(&r[i].out);
    }
    det_list_free(&ref);
}

static void test_threads_give_identical_output(void **state)
{
    (void)state;
    ec_err e = {0};
    /* 160 x 160 so that the convs are big enough to be split; every conv path: the stem's
     * direct conv, a 1x1 (sgemm) and a strided 3x3 (AVX-512 direct where the CPU has it). */
    nn_model *m = nn_model_create(
        "{\"input\":{\"h\":160,\"w\":160,\"c\":3},\"layers\":["
        "{\"type\":\"conv\",\"filters\":32,\"size\":3},{\"type\":\"silu\"},"
        "{\"type\":\"conv\",\"filters\":32,\"size\":1},{\"type\":\"relu\"},"
        "{\"type\":\"conv\",\"filters\":48,\"size\":3,\"stride\":2},{\"type\":\"silu\"}]}",
        3, &e);
    assert_non_null(m);
    nn_tensor *x = nn_tensor_create(2, 160, 160, 3);
    for (size_t i = 0; i < nn_tensor_numel(x); i++)
        x->data[i] = (float)(i % 97) / 97.0f;
    nn_set_threads(1);
    nn_tensor *a = nn_model_forward(m, x, &e);
    nn_set_threads(3);
    nn_tensor *b = nn_model_forward(m, x, &e);
    nn_set_threads(1);
    assert_true(a && b);
    assert_memory_equal(a->data, b->data, nn_tensor_numel(a) * sizeof(float));
    nn_tensor_destroy(a);
    nn_tensor_destroy(b);
    nn_tensor_destroy(x);
    nn_model_destroy(m);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    ec_err e = {0};
    image *gray = image_create(32, 32, 1);
    struct det_list d = {0};
    assert_int_equal(detector_run(trained, gray, 0.3f, &d, &e), -1);
    assert_int_equal(e.code, EC_EINVAL);
    image_destroy(gray);
    /* A plain model (no num_classes) is not a detector. */
    nn_model *m = nn_model_create("{\"input\":{\"h\":8,\"w\":8},\"layers\":[{\"type\":\"relu\"}]}", 1, &e);
    assert_non_null(m);
    assert_null(detector_from_model(m, &e));
    assert_int_equal(e.code, EC_EFORMAT);
    assert_null(detector_load("/nonexistent/model.safetensors", &e));
    assert_int_equal(e.code, EC_EIO);
    /* Clone is independent of the original. */
    detector *c = detector_clone(trained, &e);
    assert_non_null(c);
    assert_int_equal(detector_num_classes(c), 2);
    detector_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nms_is_classwise),
        cmocka_unit_test(test_head_loss_gradient),
        cmocka_unit_test(test_train_until_it_detects),
        cmocka_unit_test(test_concurrent_runs_match),
        cmocka_unit_test(test_threads_give_identical_output),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
