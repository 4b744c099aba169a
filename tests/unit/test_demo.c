/* The demo's report pieces: percentiles, HTML/SVG escaping, box and text drawing clipped at the
 * image borders, scoring stored rows (eval_add_stored) and the whole report on a made-up run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "demo/demo_internal.h"
#include "eval/eval.h"
#include "store/store.h"
#include "synth/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Captures what a writer prints. */
struct capture {
    char *buf;
    size_t len;
    FILE *f;
};

static FILE *capture_open(struct capture *c)
{
    memset(c, 0, sizeof *c);
    return c->f = open_memstream(&c->buf, &c->len);
}

static char *capture_close(struct capture *c)
{
    fclose(c->f);
    return c->buf;
}

static void test_percentile(void **state)
{
    (void)state;
    double v[10];
    for (int i = 0; i < 10; i++)
        v[i] = i + 1;
    assert_true(demo_percentile(v, 0, 50) == 0);
    assert_true(demo_percentile(v, 10, 50) == 5);
    assert_true(demo_percentile(v, 10, 90) == 9);
    assert_true(demo_percentile(v, 10, 91) == 10);
    assert_true(demo_percentile(v, 10, 99) == 10);
    assert_true(demo_percentile(v, 10, 100) == 10);
    assert_true(demo_percentile(v, 10, 0) == 1);
    assert_true(demo_percentile(v, 10, 150) == 10);
    assert_true(demo_percentile(v, 1, 99) == 1);
}

static void test_html_escape(void **state)
{
    (void)state;
    struct capture c;
    demo_html_escape(capture_open(&c), "<a href='x'>&\"ok\"</a>");
    char *s = capture_close(&c);
    assert_string_equal(s, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;ok&quot;&lt;/a&gt;");
    free(s);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_svg_escapes_and_gaps(void **state)
{
    (void)state;
    double x[5] = {0, 1, 2, 3, 4}, y[5] = {0.5, 0.6, -1, 0.7, 0.8};
    struct demo_series s = {"edge <1> & co", x, y, 5, 1};
    struct capture c;
    demo_svg_lines(capture_open(&c), "<script>alert(1)</script>", "x & y", "y", &s, 1, 0, 1);
    char *out = capture_close(&c);
    assert_null(strstr(out, "<script>"));
    assert_non_null(strstr(out, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(out, "edge &lt;1&gt; &amp; co"));
    assert_non_null(strstr(out, "x &amp; y"));
    assert_int_equal(count(out, "<polyline"), 2); /* the gap splits the line */
    assert_int_equal(count(out, "stroke-dasharray"), 2);
    assert_int_equal(count(out, "<svg"), 1);
    assert_int_equal(count(out, "</svg>"), 1);
    free(out);

    const char *labels[2] = {"a\"b", "c"};
    double v[2] = {10, NAN};
    demo_svg_bars(capture_open(&c), "bars", "bytes", labels, v, 2);
    out = capture_close(&c);
    assert_non_null(strstr(out, "a&quot;b"));
    assert_null(strstr(out, "nan"));
    assert_int_equal(count(out, "<rect x="), 1 + 2 + 2); /* plot frame, 2 bars, 2 swatches */
    free(out);
}

static int painted(const image *img, int x, int y, const uint8_t rgb[3])
{
    return memcmp(image_row(img, y) + x * 3, rgb, 3) == 0;
}

static int unpainted_count(const image *img)
{
    int n = 0;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w * 3; x++)
            n += image_row(img, y)[x] == 0;
    return n;
}

static void test_box_clipped(void **state)
{
    (void)state;
    static const uint8_t red[3] = {255, 0, 0};
    image *img = image_create(20, 10, 3);
    memset(img->data, 0, (size_t)img->stride * img->h);
    /* Entirely outside, empty, inverted or non-finite: nothing drawn. */
    demo_draw_box(img, 100, 100, 200, 200, red, 2);
    demo_draw_box(img, -50, -50, -10, -10, red, 2);
    demo_draw_box(img, 5, 5, 5, 8, red, 2);
    demo_draw_box(img, 8, 5, 4, 8, red, 2);
    demo_draw_box(img, NAN, 1, 5, 5, red, 1);
    demo_draw_box(img, 1, 1, INFINITY, 5, red, 1);
    demo_draw_box(img, 1, 1, 5, 5, red, 0);
    assert_int_equal(unpainted_count(img), 20 * 10 * 3);
    /* Over every border: only the parts inside are drawn, the middle stays. */
    demo_draw_box(img, -5, -5, 1e30f, 1e30f, red, 1);
    assert_int_equal(unpainted_count(img), 20 * 10 * 3);
    demo_draw_box(img, 15, 2, 25, 8, red, 1);
    assert_true(painted(img, 15, 2, red));  /* top-left corner */
    assert_true(painted(img, 19, 2, red));  /* top edge, clipped at the right border */
    assert_true(painted(img, 15, 7, red));  /* bottom edge is the last row inside */
    assert_false(painted(img, 16, 4, red)); /* inside stays */
    assert_false(painted(img, 14, 2, red));
    image_destroy(img);

    img = image_create(20, 10, 3);
    memset(img->data, 0, (size_t)img->stride * img->h);
    demo_draw_box(img, -3, -3, 10, 6, red, 2);
    assert_true(painted(img, 0, 4, red)); /* bottom edge rows 4-5 */
    assert_true(painted(img, 9, 0, red)); /* right edge columns 8-9 */
    assert_false(painted(img, 3, 2, red));
    image_destroy(img);
}

static void test_text_clipped(void **state)
{
    (void)state;
    static const uint8_t green[3] = {0, 255, 0};
    image *img = image_create(16, 8, 3);
    memset(img->data, 7, (size_t)img->stride * img->h);
    demo_draw_text(img, -30, -30, "CAR", green, 2); /* entirely outside: unchanged */
    for (int i = 0; i < img->stride * img->h; i++)
        assert_int_equal(img->data[i], 7);
    demo_draw_text(img, 10, 4, "car 0.99 (x)", green, 3); /* runs off right and bottom */
    demo_draw_text(img, -5, -2, "1", green, 1);
    /* '1' at (-5,-2), scale 1: its stem column x = -4 is outside; "c" of "car" starts at x=10. */
    assert_true(painted(img, 13, 4, green));  /* top row of 'C' (011: columns 1-2, scale 3) */
    assert_false(painted(img, 11, 4, green)); /* its column 0 is the dark backing */
    assert_false(painted(img, 0, 7, green));
    struct det_list dets = {0};
    det_list_push(&dets, (struct det){-10, -10, 30, 30, 0.5f, 1});
    det_list_push(&dets, (struct det){NAN, 2, 4, 6, 0.5f, 99});
    demo_draw_dets(img, &dets); /* off-image boxes, an unknown class, a NaN: no crash */
    det_list_free(&dets);
    image_destroy(img);
}

static void test_embedded_config(void **state)
{
    (void)state;
    static struct ec_config cfg;
    config_defaults(&cfg);
    const char *text = demo_default_config();
    ec_err err = {0};
    assert_int_equal(config_load_string(text, strlen(text), "demo", &cfg, &err), 0);
    struct synth_opts so;
    assert_int_equal(synth_opts_from_uri(cfg.edge.source.uri, &so, &err), 0);
    assert_true(so.frames > 0); /* the demo scores a finite video */
    assert_true(cfg.retrain.enabled);
}

/* A made-up edge run: frames 0..n-1 of a synthetic video, even frames Finished with the ground
 * truth as detections (latency 10 * (i + 1) ms), odd frames Ref to the previous one. */
static void fill_store(store *st, const struct det_list *gt, int n)
{
    for (int i = 0; i < n; i++) {
        int key = i % 2 == 0;
        struct det_list d = {0};
        for (int k = 0; key && k < gt[i].n; k++) {
            struct det x = gt[i].v[k];
            x.score = 0.9f;
            det_list_push(&d, x);
        }
        struct frame_record r = {
            .edge_id = "edge-1", .frame_index = i, .start_ms = 1000 * i,
            .end_ms = 1000 * i + (key ? 10 * (i + 1) : 0), .where = key ? "local" : "none",
            .bytes_sent = key ? 100 : 0, .outcome = key ? OUTCOME_FINISHED : OUTCOME_REF,
            .ref_index = key ? -1 : i - 1, .dets = d.v, .ndet = d.n,
        };
        assert_int_equal(store_put_frames(st, &r, 1, NULL), 0);
        det_list_free(&d);
    }
}

static struct det_list *ground_truth(const char *uri, int n)
{
    struct synth_opts so;
    assert_int_equal(synth_opts_from_uri(uri, &so, NULL), 0);
    synth *s = synth_create(&so, NULL);
    struct det_list *gt = calloc((size_t)n, sizeof *gt);
    image *img;
    for (int i = 0; i < n; i++)
        assert_int_equal(synth_next(s, &img, &gt[i], NULL), 1);
    synth_destroy(s);
    return gt;
}

static void test_eval_add_stored(void **state)
{
    (void)state;
    const char *uri = "synth://day?frames=6&width=160&height=90&seed=3";
    struct det_list *gt = ground_truth(uri, 6);
    struct store_opts so = {.kind = "sqlite", .path = ":memory:"};
    store *st = store_open(&so, NULL);
    fill_store(st, gt, 6);
    /* Key frames are exact; a Ref frame is scored with its key frame's boxes, so frame 1
     * alone (answered by frame 0) scores below 1 unless nothing moved. */
    eval_acc *acc = eval_create(SYNTH_NUM_CLASSES);
    assert_int_equal(eval_add_stored(acc, st, "edge-1", 0, 1, gt, NULL), 0);
    assert_true(fabs(eval_map(acc, 0.5) - 1.0) < 1e-9);
    eval_destroy(acc);
    acc = eval_create(SYNTH_NUM_CLASSES);
    assert_int_equal(eval_add_stored(acc, st, "edge-1", 0, 6, gt, NULL), 0);
    assert_int_equal(eval_num_frames(acc), 6);
    eval_destroy(acc);
    /* A frame without a row is an error. */
    acc = eval_create(SYNTH_NUM_CLASSES);
    ec_err err = {0};
    assert_int_equal(eval_add_stored(acc, st, "edge-1", 4, 3, gt, &err), -1);
    assert_int_equal(err.code, EC_ENOTFOUND);
    eval_destroy(acc);
    store_close(st);
    for (int i = 0; i < 6; i++)
        det_list_free(&gt[i]);
    free(gt);
}

static void test_report(void **state)
{
    (void)state;
    char dir[] = "/tmp/edgecam-test-demo-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static struct demo_result r;
    memset(&r, 0, sizeof r);
    r.out_dir = dir;
    snprintf(r.video_uri, sizeof r.video_uri, "synth://day?frames=10&width=160&height=90&seed=3");
    r.nphases = 1;
    r.nruns = 1;
    r.snapshots = 2;
    snprintf(r.status, sizeof r.status, "completed <ok>");
    struct demo_edge_run *run = &r.runs[0];
    snprintf(run->edge_id, sizeof run->edge_id, "edge-1");
    snprintf(run->policy, sizeof run->policy, "edge_local");
    snprintf(run->db_path, sizeof run->db_path, "%s/e.db", dir);
    run->frames_read = 10;
    run->started = 1;

    struct det_list *gt = ground_truth(r.video_uri, 10);
    struct store_opts so = {.kind = "sqlite", .path = run->db_path};
    store *st = store_open(&so, NULL);
    fill_store(st, gt, 10);
    store_close(st);

    struct capture c;
    ec_err err = {0};
    assert_int_equal(demo_report_write(&r, capture_open(&c), &err), 0);
    char *out = capture_close(&c);
    /* Latencies of the 5 finished frames: 10, 30, 50, 70, 90 ms -> p50 50, p90 90, p99 90. */
    assert_non_null(strstr(out, "edge_local"));
    assert_non_null(strstr(out, "     10     5     5    0    0"));
    assert_non_null(strstr(out, "   50.0    90.0    90.0"));
    assert_non_null(strstr(out, "500")); /* bytes sent */
    assert_non_null(strstr(out, "ok"));
    free(out);

    char path[512];
    snprintf(path, sizeof path, "%s/report.html", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char html[1 << 16];
    size_t n = fread(html, 1, sizeof html - 1, f);
    html[n] = '\0';
    fclose(f);
    assert_non_null(strstr(html, "completed &lt;ok&gt;"));
    assert_non_null(strstr(html, "<td>edge_local</td>"));
    assert_non_null(strstr(html, "frames/phase1-edge-1-000002.jpg"));
    snprintf(path, sizeof path, "%s/frames/phase1-edge-1-000007.jpg", dir);
    assert_int_equal(access(path, R_OK), 0);

    for (int i = 0; i < 10; i++)
        det_list_free(&gt[i]);
    free(gt);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile),       cmocka_unit_test(test_html_escape),
        cmocka_unit_test(test_svg_escapes_and_gaps), cmocka_unit_test(test_box_clipped),
        cmocka_unit_test(test_text_clipped),     cmocka_unit_test(test_embedded_config),
        cmocka_unit_test(test_eval_add_stored),  cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
