/* The edge frame pipeline: every frame read ends in exactly one stored outcome. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/clock.h"
#include "edge/edge.h"
#include "support/scene.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

struct infer_ctx {
    int sleep_ms;
    int fail_every; /* 0: never */
    atomic_int calls;
};

static int infer_square(void *ctx, const struct frame *f, struct edge_infer_result *out,
                        ec_err *err)
{
    struct infer_ctx *c = ctx;
    int n = atomic_fetch_add(&c->calls, 1) + 1;
    if (c->sleep_ms)
        clock_sleep_ns((uint64_t)c->sleep_ms * 1000000ull);
    if (c->fail_every && n % c->fail_every == 0)
        return ec_err_set(err, EC_ENET, "peer unreachable");
    /* A real answer derived from the frame: the bright square's box. */
    int minx = f->img->w, maxx = -1;
    for (int x = 0; x < f->img->w; x++)
        if (image_row(f->img, 20)[x * 3] > 128) { /* red channel: only the square */
            minx = x < minx ? x : minx;
            maxx = x;
        }
    det_list_push(&out->dets, (struct det){(float)minx, 10, (float)maxx + 1, 30, 0.9f, 0});
    out->bytes_sent = 100;
    snprintf(out->where, sizeof out->where, "cloud");
    return 0;
}

struct fixture {
    store *st;
    struct scene scene;
    struct infer_ctx ic;
    struct edge_pipeline_opts o;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    struct store_opts so = {.kind = "sqlite", .path = ":memory:"};
    fx->st = store_open(&so, NULL);
    if (!fx->st)
        return -1;
    fx->scene = (struct scene){.total = 120, .move_every = 10};
    edge_pipeline_opts_init(&fx->o);
    fx->o.edge_id = "edge-t";
    fx->o.source.gen_next = scene_next;
    fx->o.source.gen_ctx = &fx->scene;
    fx->o.source.sample_interval = 2;
    fx->o.filter.enabled = 1;
    fx->o.filter.feature = FILTER_PIXEL;
    fx->o.filter.diff_thresh = 0.01;
    fx->o.store = fx->st;
    fx->o.infer = infer_square;
    fx->o.infer_ctx = &fx->ic;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    store_close(fx->st);
    free(fx);
    return 0;
}

static int64_t count(store *st, int outcome)
{
    int64_t n = -1;
    assert_int_equal(store_count_frames(st, "edge-t", outcome, &n, NULL), 0);
    return n;
}

/* The stored rows agree with the pipeline's own counts and cover every frame read. */
static void assert_all_recorded(struct fixture *fx, edge_pipeline *p)
{
    struct edge_pipeline_stats s;
    edge_pipeline_stats(p, &s);
    int64_t sum = 0;
    for (int o = 0; o < OUTCOME_COUNT; o++) {
        sum += s.by_outcome[o];
        assert_int_equal(count(fx->st, o), s.by_outcome[o]);
    }
    assert_int_equal(sum, s.frames_read);
    assert_int_equal(count(fx->st, -1), s.frames_read);
    assert_int_equal(s.recorded, s.frames_read);
    assert_int_equal(s.record_errors, 0);
}

static void test_every_frame_one_outcome(void **state)
{
    struct fixture *fx = *state;
    edge_pipeline *p = edge_pipeline_create(&fx->o, NULL);
    assert_non_null(p);
    assert_int_equal(edge_pipeline_run(p, NULL), 0);
    struct edge_pipeline_stats s;
    edge_pipeline_stats(p, &s);
    assert_int_equal(s.frames_read, 120);
    /* The square moves 12 times; each move is a key frame, the static frames in between are Ref. */
    assert_true(s.key_frames >= 10 && s.key_frames <= 13);
    assert_int_equal(s.by_outcome[OUTCOME_FINISHED], s.key_frames);
    assert_int_equal(s.by_outcome[OUTCOME_REF], 120 - s.key_frames);
    assert_all_recorded(fx, p);

    /* Frame 0 is a key frame with the detected box; frame 1 (not sampled) refers to it. */
    struct frame_row row;
    struct det_list dets = {0};
    assert_int_equal(store_get_frame(fx->st, "edge-t", 0, &row, &dets, NULL), 0);
    assert_int_equal(row.outcome, OUTCOME_FINISHED);
    assert_string_equal(row.where, "cloud");
    assert_int_equal(row.bytes_sent, 100);
    assert_int_equal(dets.n, 1);
    assert_float_equal(dets.v[0].x1, 0.0, 1e-6);
    assert_float_equal(dets.v[0].x2, 16.0, 1e-6);
    assert_int_equal(store_get_frame(fx->st, "edge-t", 1, &row, &dets, NULL), 0);
    assert_int_equal(row.outcome, OUTCOME_REF);
    assert_int_equal(row.ref_index, 0);
    det_list_free(&dets);
    edge_pipeline_destroy(p);
}

static void test_full_queue_drops_are_recorded(void **state)
{
    struct fixture *fx = *state;
    fx->o.filter.enabled = 0; /* every sampled frame is a key frame */
    fx->o.queue_size = 1;
    fx->ic.sleep_ms = 5;
    edge_pipeline *p = edge_pipeline_create(&fx->o, NULL);
    assert_int_equal(edge_pipeline_run(p, NULL), 0);
    struct edge_pipeline_stats s;
    edge_pipeline_stats(p, &s);
    assert_int_equal(s.key_frames, 60);
    assert_true(s.by_outcome[OUTCOME_DROPPED] > 0);
    assert_int_equal(s.by_outcome[OUTCOME_FINISHED] + s.by_outcome[OUTCOME_DROPPED], 60);
    assert_all_recorded(fx, p);
    edge_pipeline_destroy(p);
}

static void test_wait_thresh_and_failures_become_timeouts(void **state)
{
    struct fixture *fx = *state;
    fx->o.filter.enabled = 0;
    fx->o.queue_size = 64;
    fx->o.wait_thresh_s = 0.004;
    fx->ic.sleep_ms = 3;
    fx->ic.fail_every = 5;
    edge_pipeline *p = edge_pipeline_create(&fx->o, NULL);
    assert_int_equal(edge_pipeline_run(p, NULL), 0);
    struct edge_pipeline_stats s;
    edge_pipeline_stats(p, &s);
    assert_true(s.by_outcome[OUTCOME_TIMEOUT] > 0);
    assert_int_equal(s.by_outcome[OUTCOME_DROPPED], 0);
    assert_int_equal(s.by_outcome[OUTCOME_FINISHED] + s.by_outcome[OUTCOME_TIMEOUT], 60);
    assert_all_recorded(fx, p);
    edge_pipeline_destroy(p);
}

static void *stop_later(void *arg)
{
    clock_sleep_ns(150000000ull);
    edge_pipeline_stop(arg);
    return NULL;
}

static void test_stop_records_everything_read(void **state)
{
    struct fixture *fx = *state;
    fx->scene.total = -1; /* endless camera */
    fx->o.workers = 2;
    fx->ic.sleep_ms = 2;
    edge_pipeline *p = edge_pipeline_create(&fx->o, NULL);
    pthread_t th;
    pthread_create(&th, NULL, stop_later, p);
    assert_int_equal(edge_pipeline_run(p, NULL), 0);
    pthread_join(th, NULL);
    struct edge_pipeline_stats s;
    edge_pipeline_stats(p, &s);
    assert_true(s.frames_read > 0);
    assert_all_recorded(fx, p);
    edge_pipeline_destroy(p);
}

static void test_max_frames_caps_an_endless_source(void **state)
{
    struct fixture *fx = *state;
    fx->scene.total = -1;
    fx->o.max_frames = 50;
    edge_pipeline *p = edge_pipeline_create(&fx->o, NULL);
    assert_int_equal(edge_pipeline_run(p, NULL), 0);
    struct edge_pipeline_stats s;
    edge_pipeline_stats(p, &s);
    assert_int_equal(s.frames_read, 50);
    assert_all_recorded(fx, p);
    edge_pipeline_destroy(p);
}

static void test_bad_options_rejected(void **state)
{
    struct fixture *fx = *state;
    ec_err err = {0};
    fx->o.workers = 0;
    assert_null(edge_pipeline_create(&fx->o, &err));
    assert_int_equal(err.code, EC_EINVAL);
    fx->o.workers = 1;
    fx->o.store = NULL;
    assert_null(edge_pipeline_create(&fx->o, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_frame_one_outcome, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_drops_are_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_thresh_and_failures_become_timeouts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_records_everything_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_frames_caps_an_endless_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options_rejected, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
