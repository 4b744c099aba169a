/* The committed detectors (models/edge, models/golden, made by `edgecam train`) load, and find
 * the objects of held-out synthetic video: mAP@0.5 against its exact ground truth. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "eval/eval.h"
#include "nn/nn.h"
#include "synth/synth.h"

#include <stdio.h>
#include <stdlib.h>

/* mAP@0.5 of `model` on `frames` frames (every 4th) of a synthetic video with a drift preset.
 * Seeds differ from the training seeds (1, 2) and the trainer's held-out seeds. */
static detector *load_model(const char *model)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", getenv("EDGECAM_SOURCE_DIR"), model);
    ec_err e = {0};
    detector *d = detector_load(path, &e);
    if (!d)
        fail_msg("%s", e.msg);
    return d;
}

static double map_of(const detector *d, const char *model, const char *preset, int frames)
{
    ec_err e = {0};
    struct synth_opts so;
    synth_opts_default(&so);
    so.seed = 424242;
    so.frames = frames * 4;
    assert_int_equal(synth_drift_preset(preset, &so, &e), 0);
    synth *s = synth_create(&so, &e);
    assert_non_null(s);
    eval_acc *acc = eval_create(detector_num_classes(d));
    image *frame;
    struct det_list gt = {0}, dets = {0};
    for (int i = 0; synth_next(s, &frame, &gt, &e) == 1; i++) {
        if (i % 4)
            continue;
        det_list_clear(&dets);
        assert_int_equal(detector_run(d, frame, 0.05f, &dets, &e), 0);
        assert_int_equal(eval_add_frame(acc, &dets, &gt, &e), 0);
    }
    double map = eval_map(acc, 0.5);
    print_message("%s on %s: mAP@0.5 %.3f over %d frames\n", model, preset, map,
                  eval_num_frames(acc));
    det_list_free(&gt);
    det_list_free(&dets);
    eval_destroy(acc);
    synth_destroy(s);
    return map;
}

static double map_on(const char *model, const char *preset, int frames)
{
    detector *d = load_model(model);
    double map = map_of(d, model, preset, frames);
    detector_destroy(d);
    return map;
}

static void test_edge_model_detects_day_scenes(void **state)
{
    (void)state;
    assert_true(map_on("edge.safetensors", "day", 40) >= 0.75);
}

/* The golden model is trained on every drift preset: it must stay accurate at night and beat
 * the day-only edge model there (that gap is what continuous learning closes). */
static void test_golden_model_beats_edge_under_drift(void **state)
{
    (void)state;
    assert_true(map_on("golden.safetensors", "day", 40) >= 0.75);
    double golden = map_on("golden.safetensors", "night", 40);
    double edge = map_on("edge.safetensors", "night", 40);
    assert_true(golden >= 0.6);
    assert_true(golden > edge);
}

/* Continuous learning in miniature: a clone of the edge model fine-tuned with SGD (momentum 0.9,
 * wd 5e-4 as EdgeCam; lr 0.01 and 8 epochs, since EdgeCam's 0.005 x 2 epochs moves it little)
 * on 16 night frames labelled by the golden model gets clearly better at night (measured
 * 0.03 -> 0.27 mAP@0.5); the original is untouched. */
static void test_finetune_on_golden_labels_closes_the_gap(void **state)
{
    (void)state;
    ec_err e = {0};
    detector *edge = load_model("edge.safetensors"), *golden = load_model("golden.safetensors");
    detector *tuned = detector_clone(edge, &e);
    assert_non_null(tuned);
    enum { N = 16 };
    struct synth_opts so;
    synth_opts_default(&so);
    so.seed = 777, so.frames = N * 10;
    assert_int_equal(synth_drift_preset("night", &so, &e), 0);
    synth *s = synth_create(&so, &e);
    image *frames[N], *f;
    struct det_list labels[N] = {{0}};
    int n = 0;
    for (int i = 0; n < N && synth_next(s, &f, NULL, &e) == 1; i++) {
        if (i % 10)
            continue;
        frames[n] = image_clone(f);
        assert_int_equal(detector_run(golden, frames[n], 0.6f, &labels[n], &e), 0);
        n++;
    }
    synth_destroy(s);
    struct nn_optim_cfg cfg = {.kind = NN_OPTIM_SGD, .lr = 0.01f, .momentum = 0.9f,
                               .weight_decay = 5e-4f};
    nn_optim *o = nn_optim_create(detector_model(tuned), &cfg, &e);
    for (int epoch = 0; epoch < 8; epoch++)
        for (int b = 0; b < N; b += 4)
            assert_int_equal(detector_train_step(tuned, o, (const image *const *)&frames[b],
                                                 &labels[b], 4, NULL, &e), 0);
    double before = map_of(edge, "edge", "night", 30), after = map_of(tuned, "tuned", "night", 30);
    assert_true(after > before + 0.1);
    nn_optim_destroy(o);
    for (int i = 0; i < n; i++) {
        image_destroy(frames[i]);
        det_list_free(&labels[i]);
    }
    detector_destroy(tuned);
    detector_destroy(golden);
    detector_destroy(edge);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_model_detects_day_scenes),
        cmocka_unit_test(test_golden_model_beats_edge_under_drift),
        cmocka_unit_test(test_finetune_on_golden_labels_closes_the_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
