/* The edge frame pipeline: every frame read ends in exactly one stored outcome. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/clock.h"
#include "edge/edge.h"
#include "edge/recorder.h"
#include "support/scene.h"

#include <sqlite3.h>
#include <unistd.h>

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


/* ---- the recorder against a store that fails for a while: a trigger that fails at run time
 * ("integer overflow", not a constraint) makes every INSERT fail the way a lost database
 * does; dropping it heals the store ---- */

struct faulty_store {
    char dir[64], path[96];
    store *st;
    sqlite3 *admin; /* a second connection that injects and removes the fault */
};

static void faulty_open(struct faulty_store *fs)
{
    snprintf(fs->dir, sizeof fs->dir, "/tmp/edgecam-recorder-XXXXXX");
    assert_non_null(mkdtemp(fs->dir));
    snprintf(fs->path, sizeof fs->path, "%s/results.db", fs->dir);
    struct store_opts so = {.kind = "sqlite", .path = fs->path};
    fs->st = store_open(&so, NULL);
    assert_non_null(fs->st);
    assert_int_equal(sqlite3_open(fs->path, &fs->admin), SQLITE_OK);
    sqlite3_busy_timeout(fs->admin, 5000);
}

static void faulty_break(struct faulty_store *fs)
{
    assert_int_equal(sqlite3_exec(fs->admin,
                                  "CREATE TRIGGER inject_fault BEFORE INSERT ON frames BEGIN "
                                  "SELECT abs(-9223372036854775808); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
}

static void faulty_heal(struct faulty_store *fs)
{
    assert_int_equal(sqlite3_exec(fs->admin, "DROP TRIGGER inject_fault", NULL, NULL, NULL),
                     SQLITE_OK);
}

static void faulty_close(struct faulty_store *fs)
{
    sqlite3_close(fs->admin);
    store_close(fs->st);
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 0; i < 4; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s%s", fs->path, suffix[i]);
        unlink(p);
    }
    rmdir(fs->dir);
}

static struct frame_record rec_of(int64_t index)
{
    static const struct det box = {1, 2, 30, 40, 0.75f, 2};
    int finished = index % 3 == 0;
    return (struct frame_record){
        .edge_id = "edge-r", .frame_index = index, .start_ms = 1000 + index,
        .end_ms = 1010 + index, .where = finished ? "cloud" : "none",
        .bytes_sent = finished ? 50 : 0,
        .outcome = finished ? OUTCOME_FINISHED : OUTCOME_REF, .ref_index = finished ? -1 : 0,
        .model_version = finished ? 3 : 0, .latency_ms = 10, .dets = finished ? &box : NULL,
        .ndet = finished ? 1 : 0};
}

/* Polls the recorder's counters until `pred` holds (no timing is asserted: the bound only
 * keeps a broken build from hanging). */
static void wait_counts(recorder *r, int (*pred)(const struct recorder_counts *))
{
    struct recorder_counts c;
    for (int i = 0; i < 6000; i++) {
        recorder_counts(r, &c);
        if (pred(&c))
            return;
        clock_sleep_ns(10000000ull);
    }
    fail_msg("recorder never reached the expected state");
}

static int retried_twice(const struct recorder_counts *c) { return c->retries >= 2; }
static int waited_and_retried(const struct recorder_counts *c)
{
    return c->waits >= 1 && c->retries >= 1;
}

static int64_t stored_rows(struct faulty_store *fs)
{
    int64_t n = -1;
    assert_int_equal(store_count_frames(fs->st, "edge-r", -1, &n, NULL), 0);
    return n;
}

static void test_recorder_keeps_outcomes_until_the_store_is_back(void **state)
{
    (void)state;
    struct faulty_store fs;
    faulty_open(&fs);
    faulty_break(&fs);
    recorder *r = recorder_create(fs.st, "edge-r", 64);
    assert_non_null(r);
    for (int i = 0; i < 10; i++) {
        struct frame_record rec = rec_of(i);
        assert_int_equal(recorder_submit(r, &rec), 0);
    }
    wait_counts(r, retried_twice);
    struct recorder_counts c;
    recorder_counts(r, &c);
    assert_int_equal(c.recorded, 0);
    assert_int_equal(c.errors, 0); /* kept, not given up */
    assert_int_equal(c.outages, 1);
    assert_int_equal(stored_rows(&fs), 0);
    for (int i = 10; i < 20; i++) { /* more outcomes during the outage */
        struct frame_record rec = rec_of(i);
        assert_int_equal(recorder_submit(r, &rec), 0);
    }
    faulty_heal(&fs);
    recorder_flush(r);
    recorder_counts(r, &c);
    assert_int_equal(c.recorded, 20);
    assert_int_equal(c.errors, 0);
    assert_int_equal(c.already_stored, 0);
    assert_int_equal(stored_rows(&fs), 20);
    for (int i = 0; i < 20; i++) { /* each exactly as submitted, detections included */
        struct frame_row row;
        struct det_list dets = {0};
        struct frame_record want = rec_of(i);
        assert_int_equal(store_get_frame(fs.st, "edge-r", i, &row, &dets, NULL), 0);
        assert_int_equal(row.outcome, want.outcome);
        assert_int_equal(row.end_ms, want.end_ms);
        assert_int_equal(dets.n, want.ndet);
        det_list_free(&dets);
    }
    recorder_destroy(r);
    faulty_close(&fs);
}

struct submitter {
    recorder *r;
    int from, to;
};

static void *submit_range(void *arg)
{
    struct submitter *s = arg;
    for (int i = s->from; i < s->to; i++) {
        struct frame_record rec = rec_of(i);
        recorder_submit(s->r, &rec);
    }
    return NULL;
}

/* A full queue makes producers wait (counted) rather than drop outcomes. */
static void test_recorder_full_queue_waits_for_the_store(void **state)
{
    (void)state;
    struct faulty_store fs;
    faulty_open(&fs);
    faulty_break(&fs);
    recorder *r = recorder_create(fs.st, "edge-r", 4);
    /* More than a batch (128) plus the queue: whatever the recorder took into the batch it
     * retries, the queue then fills and the submitter must wait. */
    struct submitter sub = {r, 0, 200};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, submit_range, &sub), 0);
    wait_counts(r, waited_and_retried);
    struct recorder_counts c;
    recorder_counts(r, &c);
    assert_int_equal(c.recorded + c.errors, 0);
    assert_true(c.by_outcome[OUTCOME_FINISHED] + c.by_outcome[OUTCOME_REF] < 200);
    faulty_heal(&fs);
    pthread_join(th, NULL);
    recorder_flush(r);
    recorder_counts(r, &c);
    assert_int_equal(c.recorded, 200);
    assert_int_equal(c.errors, 0);
    assert_int_equal(stored_rows(&fs), 200);
    recorder_destroy(r);
    faulty_close(&fs);
}

/* At shutdown a store that stays down is given up on after drain_ms: counted, not hung. */
static void test_recorder_gives_up_on_a_dead_store_at_shutdown(void **state)
{
    (void)state;
    struct faulty_store fs;
    faulty_open(&fs);
    faulty_break(&fs);
    recorder *r = recorder_create(fs.st, "edge-r", 64);
    recorder_set_drain_ms(r, 100);
    for (int i = 0; i < 5; i++) {
        struct frame_record rec = rec_of(i);
        assert_int_equal(recorder_submit(r, &rec), 0);
    }
    recorder_flush(r);
    struct recorder_counts c;
    recorder_counts(r, &c);
    assert_int_equal(c.recorded, 0);
    assert_int_equal(c.errors, 5);
    assert_true(c.retries >= 1);
    recorder_destroy(r);
    faulty_heal(&fs);
    assert_int_equal(stored_rows(&fs), 0);
    faulty_close(&fs);
}

/* Rows an earlier attempt stored (a COMMIT whose answer was lost) are recognised and kept
 * once; a different outcome for a stored frame is still refused. */
static void test_recorder_recognises_rows_already_stored(void **state)
{
    (void)state;
    struct faulty_store fs;
    faulty_open(&fs);
    struct frame_record early[2] = {rec_of(1), rec_of(3)};
    assert_int_equal(store_put_frames(fs.st, early, 2, NULL), 0);
    struct frame_record clash = rec_of(4);
    clash.end_ms += 1; /* frame 4 stored with another outcome time: a real conflict */
    assert_int_equal(store_put_frames(fs.st, &clash, 1, NULL), 0);
    recorder *r = recorder_create(fs.st, "edge-r", 64);
    for (int i = 0; i < 6; i++) {
        struct frame_record rec = rec_of(i);
        assert_int_equal(recorder_submit(r, &rec), 0);
    }
    recorder_flush(r);
    struct recorder_counts c;
    recorder_counts(r, &c);
    assert_int_equal(c.recorded, 5);
    assert_int_equal(c.already_stored, 2);
    assert_int_equal(c.errors, 1);
    assert_int_equal(stored_rows(&fs), 6);
    struct frame_row row;
    assert_int_equal(store_get_frame(fs.st, "edge-r", 4, &row, NULL, NULL), 0);
    assert_int_equal(row.end_ms, clash.end_ms); /* the first row is never overwritten */
    recorder_destroy(r);
    faulty_close(&fs);
}

struct healer {
    edge_pipeline *p;
    struct faulty_store *fs;
    int64_t frames;
};

/* Heals the store once every frame was read and the recorder met the fault. */
static void *heal_after_reading(void *arg)
{
    struct healer *h = arg;
    struct edge_pipeline_stats s;
    for (int i = 0; i < 6000; i++) {
        edge_pipeline_stats(h->p, &s);
        if (s.frames_read >= h->frames && s.store_outages >= 1)
            break;
        clock_sleep_ns(10000000ull);
    }
    faulty_heal(h->fs);
    return NULL;
}

/* The whole pipeline over a store that is down while the video is read: every frame still
 * ends in exactly one stored outcome once it is back. */
static void test_pipeline_outcomes_survive_a_store_outage(void **state)
{
    struct fixture *fx = *state;
    struct faulty_store fs;
    faulty_open(&fs);
    faulty_break(&fs);
    store_close(fx->st);
    fx->st = fs.st;
    fx->o.store = fs.st;
    fx->o.edge_id = "edge-t";
    edge_pipeline *p = edge_pipeline_create(&fx->o, NULL);
    assert_non_null(p);
    struct healer h = {p, &fs, 120};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, heal_after_reading, &h), 0);
    assert_int_equal(edge_pipeline_run(p, NULL), 0);
    pthread_join(th, NULL);
    assert_all_recorded(fx, p);
    struct edge_pipeline_stats s;
    edge_pipeline_stats(p, &s);
    assert_int_equal(s.store_outages, 1);
    assert_int_equal(s.store_waits, 0); /* 120 outcomes fit the queue */
    edge_pipeline_destroy(p);
    fx->st = NULL; /* closed by faulty_close */
    faulty_close(&fs);
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
        cmocka_unit_test(test_recorder_keeps_outcomes_until_the_store_is_back),
        cmocka_unit_test(test_recorder_full_queue_waits_for_the_store),
        cmocka_unit_test(test_recorder_gives_up_on_a_dead_store_at_shutdown),
        cmocka_unit_test(test_recorder_recognises_rows_already_stored),
        cmocka_unit_test_setup_teardown(test_pipeline_outcomes_survive_a_store_outage, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
