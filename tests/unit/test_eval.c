#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "eval/eval.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct det box(int cls, float x1, float y1, float x2, float y2, float score)
{
    return (struct det){x1, y1, x2, y2, score, cls};
}

/* Worked by hand: GT A, B (frame 0), C (frame 1); detections 0.9 on A (TP),
 * 0.8 nowhere (FP), 0.7 on C (TP). Recall 1/3, 1/3, 2/3; precision envelope
 * 1, 2/3, 2/3. Of the 101 recall points, 0..0.33 (34) get 1, 0.34..0.66 (33)
 * get 2/3, the rest 0: AP = (34 + 22) / 101. */
static void test_ap_hand_computed(void **state)
{
    (void)state;
    eval_acc *acc = eval_create(2);
    struct det_list gt = {0}, dt = {0};
    det_list_push(&gt, box(0, 0, 0, 10, 10, 1));
    det_list_push(&gt, box(0, 20, 20, 30, 30, 1));
    det_list_push(&dt, box(0, 0, 0, 10, 10, 0.9f));
    det_list_push(&dt, box(0, 50, 50, 60, 60, 0.8f));
    assert_int_equal(eval_add_frame(acc, &dt, &gt, NULL), 0);
    det_list_clear(&gt);
    det_list_clear(&dt);
    det_list_push(&gt, box(0, 100, 100, 140, 120, 1));
    det_list_push(&dt, box(0, 100, 100, 140, 120, 0.7f));
    assert_int_equal(eval_add_frame(acc, &dt, &gt, NULL), 0);
    assert_int_equal(eval_num_gt(acc, 0), 3);
    assert_int_equal(eval_num_gt(acc, 1), 0);
    assert_true(fabs(eval_ap(acc, 0, 0.5) - 56.0 / 101.0) < 1e-12);
    assert_true(eval_ap(acc, 1, 0.5) < 0); /* no ground truth: excluded */
    assert_true(fabs(eval_map(acc, 0.5) - 56.0 / 101.0) < 1e-12);
    /* Exact boxes: every threshold gives the same AP. */
    assert_true(fabs(eval_map_coco(acc) - 56.0 / 101.0) < 1e-12);

    struct eval_pr pr;
    assert_int_equal(eval_pr_at(acc, -1, 0.5, 0.75f, &pr, NULL), 0);
    assert_int_equal(pr.tp, 1);
    assert_int_equal(pr.fp, 1);
    assert_int_equal(pr.fn, 2);
    assert_true(fabs(pr.precision - 0.5) < 1e-12);
    assert_true(fabs(pr.recall - 1.0 / 3) < 1e-12);
    assert_int_equal(eval_pr_at(acc, 0, 0.5, 0.0f, &pr, NULL), 0);
    assert_int_equal(pr.tp, 2);
    assert_int_equal(pr.fn, 1);
    assert_int_equal(eval_pr_at(acc, 7, 0.5, 0.0f, &pr, NULL), -1);
    det_list_free(&gt);
    det_list_free(&dt);
    eval_destroy(acc);
}

/* IoU thresholds, duplicates, class separation and a class with no hits. */
static void test_thresholds_duplicates_classes(void **state)
{
    (void)state;
    eval_acc *acc = eval_create(3);
    struct det_list gt = {0}, dt = {0};
    det_list_push(&gt, box(0, 0, 0, 100, 100, 1));
    det_list_push(&gt, box(2, 0, 0, 50, 50, 1));
    /* IoU 0.6 with the class-0 box: a hit at .5/.55/.6, a miss above. */
    det_list_push(&dt, box(0, 0, 0, 100, 60, 0.9f));
    det_list_push(&dt, box(0, 0, 0, 100, 100, 0.5f)); /* duplicate at .5: FP */
    det_list_push(&dt, box(1, 0, 0, 50, 50, 0.99f));  /* right place, wrong class */
    assert_int_equal(eval_add_frame(acc, &dt, &gt, NULL), 0);
    assert_true(fabs(eval_ap(acc, 0, 0.5) - 1.0) < 1e-12);
    /* At .75 the first detection misses, the second hits: precision 1/2 up to recall 1. */
    assert_true(fabs(eval_ap(acc, 0, 0.75) - 0.5) < 1e-9);
    assert_true(eval_ap(acc, 2, 0.5) == 0.0);
    assert_true(eval_ap(acc, 1, 0.5) < 0);
    assert_true(fabs(eval_map(acc, 0.5) - 0.5) < 1e-12);
    /* Class 0: AP 1 at .5,.55,.6 and .5 at .65..95 -> (3 + 3.5) / 10; class 2: 0. */
    assert_true(fabs(eval_map_coco(acc) - 0.65 / 2) < 1e-9);
    det_list_free(&gt);
    det_list_free(&dt);
    eval_destroy(acc);
}

static void test_rejects_bad_input(void **state)
{
    (void)state;
    assert_null(eval_create(0));
    eval_acc *acc = eval_create(2);
    struct det_list l = {0};
    ec_err err;
    det_list_push(&l, box(2, 0, 0, 1, 1, 1));
    assert_int_equal(eval_add_frame(acc, &l, NULL, &err), -1);
    assert_int_equal(err.code, EC_EINVAL);
    det_list_clear(&l);
    det_list_push(&l, box(0, 5, 0, 1, 1, 1));
    assert_int_equal(eval_add_frame(acc, NULL, &l, &err), -1);
    det_list_clear(&l);
    det_list_push(&l, box(0, 0, 0, NAN, 1, 1));
    assert_int_equal(eval_add_frame(acc, &l, NULL, &err), -1);
    assert_int_equal(eval_num_frames(acc), 0);
    assert_true(eval_map(acc, 0.5) < 0);
    det_list_free(&l);
    eval_destroy(acc);
}

/* splitmix64: reproducible random cases. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

static void write_boxes(FILE *f, const struct det_list *l, int with_score)
{
    for (int i = 0; i < l->n; i++) {
        const struct det *d = &l->v[i];
        fprintf(f, "%s[%d,%.17g,%.17g,%.17g,%.17g", i ? "," : "", d->cls, (double)d->x1, (double)d->y1,
                (double)d->x2, (double)d->y2);
        if (with_score)
            fprintf(f, ",%.17g", (double)d->score);
        fputc(']', f);
    }
}

/* A random case: ground truth, jittered true detections (IoU spread over the
 * thresholds), duplicates, false positives, some classes sparse. */
static void random_case(uint64_t seed, int nframes, int ncls, eval_acc *acc, FILE *json)
{
    uint64_t s = seed;
    fprintf(json, "{\"num_classes\":%d,\"frames\":[", ncls);
    for (int f = 0; f < nframes; f++) {
        struct det_list gt = {0}, dt = {0};
        int ngt = (int)(rng_unit(&s) * 9);
        for (int i = 0; i < ngt; i++) {
            float x = (float)(rng_unit(&s) * 500), y = (float)(rng_unit(&s) * 300);
            float w = (float)(8 + rng_unit(&s) * 120), h = (float)(8 + rng_unit(&s) * 90);
            int cls = (int)(rng_unit(&s) * ncls * rng_unit(&s) * 1.2) % ncls;
            det_list_push(&gt, box(cls, x, y, x + w, y + h, 1));
            int copies = rng_unit(&s) < 0.8 ? 1 + (rng_unit(&s) < 0.15) : 0;
            for (int k = 0; k < copies; k++) {
                float j = (float)(rng_unit(&s) * 0.35);
                float dx = (float)((rng_unit(&s) - 0.5) * 2 * j * w), dy = (float)((rng_unit(&s) - 0.5) * 2 * j * h);
                float sw = (float)(1 + (rng_unit(&s) - 0.5) * j), sh = (float)(1 + (rng_unit(&s) - 0.5) * j);
                int c2 = rng_unit(&s) < 0.05 ? (cls + 1) % ncls : cls;
                det_list_push(&dt, box(c2, x + dx, y + dy, x + dx + w * sw, y + dy + h * sh,
                                       (float)rng_unit(&s)));
            }
        }
        int nfp = (int)(rng_unit(&s) * 4);
        for (int i = 0; i < nfp; i++) {
            float x = (float)(rng_unit(&s) * 500), y = (float)(rng_unit(&s) * 300);
            det_list_push(&dt, box((int)(rng_unit(&s) * ncls), x, y, x + (float)(5 + rng_unit(&s) * 80),
                                   y + (float)(5 + rng_unit(&s) * 60), (float)(rng_unit(&s) * 0.7)));
        }
        /* Tied scores exercise the stable ordering. */
        if (dt.n >= 2 && rng_unit(&s) < 0.2)
            dt.v[1].score = dt.v[0].score;
        assert_int_equal(eval_add_frame(acc, &dt, &gt, NULL), 0);
        fprintf(json, "%s{\"gt\":[", f ? "," : "");
        write_boxes(json, &gt, 0);
        fprintf(json, "],\"dt\":[");
        write_boxes(json, &dt, 1);
        fprintf(json, "]}");
        det_list_free(&gt);
        det_list_free(&dt);
    }
    fprintf(json, "]}\n");
}

static void test_matches_python_reference(void **state)
{
    (void)state;
    const char *src = getenv("EDGECAM_SOURCE_DIR");
    assert_non_null(src);
    const int ncls = 4;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        char path[] = "/tmp/edgecam-eval-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        FILE *json = fdopen(fd, "w");
        eval_acc *acc = eval_create(ncls);
        random_case(seed * 7919, 40 + (int)seed * 10, ncls, acc, json);
        fclose(json);
        long total_gt = 0;
        for (int c = 0; c < ncls; c++)
            total_gt += eval_num_gt(acc, c);
        assert_true(total_gt >= 150);

        char cmd[2048];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/oracle/eval_coco.py %s", src, path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char line[256];
        int seen = 0;
        double any_ap_sum = 0;
        while (fgets(line, sizeof line, p)) {
            int c, t;
            double v;
            if (sscanf(line, "ap %d %d %lf", &c, &t, &v) == 3) {
                double mine = eval_ap(acc, c, eval_coco_threshold(t));
                if (fabs(mine - v) > 1e-6)
                    fail_msg("seed %d class %d thr %d: C %.9f python %.9f", (int)seed, c, t, mine, v);
                any_ap_sum += v > 0 ? v : 0;
                seen++;
            } else if (sscanf(line, "map50 %lf", &v) == 1) {
                assert_true(fabs(eval_map(acc, 0.5) - v) < 1e-6);
                seen++;
            } else if (sscanf(line, "map %lf", &v) == 1) {
                assert_true(fabs(eval_map_coco(acc) - v) < 1e-6);
                seen++;
            }
        }
        assert_int_equal(pclose(p), 0);
        assert_int_equal(seen, ncls * EVAL_COCO_THRESHOLDS + 2);
        assert_true(any_ap_sum > 1.0); /* a meaningful case, not all zeros */
        unlink(path);
        eval_destroy(acc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ap_hand_computed),
        cmocka_unit_test(test_thresholds_duplicates_classes),
        cmocka_unit_test(test_rejects_bad_input),
        cmocka_unit_test(test_matches_python_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
