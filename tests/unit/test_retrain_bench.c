/* bench/bench_retrain on a tiny day -> night video with a tiny model: the table has a row per
 * window, a model compared with itself scores the same in every column (the evaluation
 * plumbing is consistent), rounds reach the store, the SVG is written, and missing model
 * files give a clear error. The real numbers come from `edgecam bench --section retrain`. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bench/bench_retrain.h"
#include "store/store.h"
#include "synth/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *ARCH =
    "{\"input\":{\"h\":64,\"w\":96,\"c\":3},\"num_classes\":4,\"layers\":["
    "{\"name\":\"c1\",\"type\":\"conv\",\"filters\":16,\"size\":3,\"stride\":2,\"bias\":0},"
    "{\"name\":\"b1\",\"type\":\"bn\"},{\"name\":\"a1\",\"type\":\"silu\"},"
    "{\"name\":\"c2\",\"type\":\"conv\",\"filters\":16,\"size\":3,\"stride\":2,\"bias\":0},"
    "{\"name\":\"b2\",\"type\":\"bn\"},{\"name\":\"a2\",\"type\":\"silu\"},"
    "{\"name\":\"c3\",\"type\":\"conv\",\"filters\":16,\"size\":3,\"stride\":2,\"bias\":0},"
    "{\"name\":\"b3\",\"type\":\"bn\"},{\"name\":\"a3\",\"type\":\"silu\"},"
    "{\"name\":\"head\",\"type\":\"conv\",\"filters\":9,\"size\":1}]}";

static char dir[64], model[128];

/* A model that has seen a few synthetic frames, so it emits some boxes. */
static void make_model(void)
{
    ec_err e = {0};
    detector *d = detector_from_model(nn_model_create(ARCH, 3, &e), &e);
    assert_non_null(d);
    struct synth_opts so;
    synth_opts_default(&so);
    so.width = 192, so.height = 128, so.frames = 40, so.seed = 99;
    synth *s = synth_create(&so, &e);
    assert_non_null(s);
    struct nn_optim_cfg cfg = {.kind = NN_OPTIM_ADAM, .lr = 0.01f};
    nn_optim *o = nn_optim_create(detector_model(d), &cfg, &e);
    image *img;
    struct det_list gt = {0};
    while (synth_next(s, &img, &gt, &e) == 1) {
        const image *b[1] = {img};
        assert_int_equal(detector_train_step(d, o, b, &gt, 1, NULL, &e), 0);
    }
    det_list_free(&gt);
    nn_optim_destroy(o);
    synth_destroy(s);
    assert_int_equal(detector_save(d, model, &e), 0);
    detector_destroy(d);
}

static void test_bench_runs_and_plots(void **state)
{
    (void)state;
    nn_set_threads(1);
    snprintf(dir, sizeof dir, "/tmp/edgecam-rbench-%d", (int)getpid());
    char cmd[160], svg[128], out_path[128], db[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(model, sizeof model, "%s/m.model", dir);
    snprintf(svg, sizeof svg, "%s/plot.svg", dir);
    snprintf(out_path, sizeof out_path, "%s/report.md", dir);
    make_model();

    struct bench_retrain_opts o;
    bench_retrain_opts_default(&o);
    o.edge_model = o.golden_model = model; /* a model against itself */
    o.svg_path = svg;
    o.work_dir = dir;
    o.width = 192, o.height = 128, o.fps = 4, o.window_s = 3;
    o.day_windows = 1, o.dusk_windows = 1, o.night_windows = 2;
    o.eval_every = 1;
    o.edge_score_thresh = 0.0f;
    o.retrain.collect_num = 6, o.retrain.select_num = 4, o.retrain.num_epoch = 1;
    o.retrain.confident_thresh = 0.0f;
    o.retrain.label_score_thresh = 0.05f;
    o.out = fopen(out_path, "w");
    assert_non_null(o.out);
    ec_err e = {0};
    int rc = bench_retrain_run(&o, &e);
    fclose(o.out);
    if (rc)
        fail_msg("bench: %s", e.msg);

    FILE *f = fopen(out_path, "r");
    char line[512];
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        double end, night, fr, cl, gd;
        if (sscanf(line, "| %lf | %lf | %lf | %lf | %lf |", &end, &night, &fr, &cl, &gd) == 5) {
            rows++;
            assert_float_equal(end, rows * 3.0, 1e-9);
            /* Same model: frozen and golden columns agree; CL only changes after a swap,
             * which cannot happen since nothing beats the golden model on its own labels. */
            assert_float_equal(fr, gd, 1e-9);
            assert_float_equal(cl, gd, 1e-9);
        }
    }
    fclose(f);
    assert_int_equal(rows, 4);

    f = fopen(svg, "r");
    assert_non_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "<svg"));
    int lines = 0;
    for (const char *p = buf; (p = strstr(p, "<polyline")); p++)
        lines++;
    assert_int_equal(lines, 3);
    assert_non_null(strstr(buf, "</svg>"));

    /* Every closed window with frames became a recorded round, none shipped. */
    snprintf(db, sizeof db, "%s/bench-retrain.db", dir);
    struct store_opts so = {.path = db};
    store *st = store_open(&so, &e);
    assert_non_null(st);
    struct retrain_round *rr = NULL;
    int nr = 0;
    assert_int_equal(store_list_retrain_rounds(st, "bench-edge", &rr, &nr, &e), 0);
    assert_int_equal(nr, 3); /* windows 1-3 closed; the last one is still open */
    for (int i = 0; i < nr; i++)
        assert_int_equal(rr[i].accepted, 0);
    free(rr);
    store_close(st);

    o.golden_model = "/nonexistent/golden.model";
    assert_int_equal(bench_retrain_run(&o, &e), -1);
    assert_int_equal(e.code, EC_ENOTFOUND);
    assert_non_null(strstr(e.msg, "MISSING"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_runs_and_plots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
