/* src/retrain: collector selection and windows, replay history, upload framing, SHA-256, the
 * cloud round end to end over loopback HTTP with real models (shipped when better, versioned
 * and recorded; a worse model is not shipped), edge-side training, and a bad download
 * (corrupt, truncated, oversize) leaving the old model answering, and a hot swap into a running
 * inference service while threads keep inferring. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "config/config.h"
#include "core/clock.h"
#include "net/net.h"
#include "retrain/retrain.h"
#include "store/store.h"
#include "support/box_scene.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *ARCH =
    BOX_DET_ARCH_BACKBONE
    "{\"name\":\"head_c\",\"type\":\"conv\",\"filters\":32,\"size\":3,\"bias\":0},"
    "{\"name\":\"head_b\",\"type\":\"bn\"},{\"name\":\"head_a\",\"type\":\"silu\"},"
    "{\"name\":\"head\",\"type\":\"conv\",\"filters\":7,\"size\":1}]}";

#define NSCENES 16
static image *scenes[NSCENES];
static struct det_list truth[NSCENES];
static char dir[64], golden_path[192], weak_path[192];
static detector *golden;

static detector *train(uint64_t seed, int steps)
{
    ec_err e = {0};
    detector *d = detector_from_model(nn_model_create(ARCH, seed, &e), &e);
    assert_non_null(d);
    box_train(d, scenes, truth, NSCENES, 4, steps, NULL, NULL);
    return d;
}

static int setup(void **state)
{
    (void)state;
    nn_set_threads(1);
    snprintf(dir, sizeof dir, "/tmp/edgecam-retrain-%d", (int)getpid());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd) != 0)
        return -1;
    box_scenes_create(scenes, truth, NSCENES);
    snprintf(golden_path, sizeof golden_path, "%s/golden.model", dir);
    snprintf(weak_path, sizeof weak_path, "%s/weak.model", dir);
    golden = train(11, 200);
    detector *weak = train(21, 12);
    int rc = detector_save(golden, golden_path, NULL) || detector_save(weak, weak_path, NULL);
    detector_destroy(weak);
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    detector_destroy(golden);
    box_scenes_destroy(scenes, truth, NSCENES);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static struct retrain_batch *batch_of(int first, int n)
{
    struct retrain_batch *b = calloc(1, sizeof *b);
    b->frames = calloc((size_t)n, sizeof *b->frames);
    b->mean_conf = calloc((size_t)n, sizeof *b->mean_conf);
    for (int i = 0; i < n; i++)
        b->frames[b->n++] = image_clone(scenes[(first + i) % NSCENES]);
    return b;
}

/* The edge's model slot: swap loads the file and replaces the detector under a lock. */
struct slot {
    pthread_mutex_t lock;
    detector *d;
    int version, swaps;
};

static int slot_swap(void *ctx, const char *path, int version, ec_err *err)
{
    struct slot *s = ctx;
    detector *d = detector_load(path, err);
    if (!d)
        return -1;
    pthread_mutex_lock(&s->lock);
    detector_destroy(s->d);
    s->d = d;
    s->version = version;
    s->swaps++;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void slot_init(struct slot *s, const char *path)
{
    pthread_mutex_init(&s->lock, NULL);
    s->d = detector_load(path, NULL);
    assert_non_null(s->d);
    s->version = 0;
    s->swaps = 0;
}

static void slot_free(struct slot *s)
{
    detector_destroy(s->d);
    pthread_mutex_destroy(&s->lock);
}

/* The slot's detector still answers on a frame. */
static void assert_slot_answers(struct slot *s)
{
    struct det_list dets = {0};
    pthread_mutex_lock(&s->lock);
    assert_int_equal(detector_run(s->d, scenes[0], 0.01f, &dets, NULL), 0);
    pthread_mutex_unlock(&s->lock);
    det_list_free(&dets);
}

static void client_defaults(struct retrain_client_opts *co, const char *url, const char *edge,
                            struct slot *sl)
{
    memset(co, 0, sizeof *co);
    retrain_opts_default(&co->retrain);
    co->cloud_url = url;
    co->edge_id = edge;
    static char mdir[192];
    snprintf(mdir, sizeof mdir, "%s/edge-models", dir);
    co->models_dir = mdir;
    co->queue_size = 2;
    co->swap = slot_swap;
    co->swap_ctx = sl;
}

/* ---- pure logic ---- */

static void test_opts_from_config(void **state)
{
    (void)state;
    struct ec_config *cfg = calloc(1, sizeof *cfg);
    config_defaults(cfg);
    struct retrain_opts o;
    retrain_opts_from_config(&o, &cfg->retrain);
    assert_int_equal(retrain_opts_validate(&o, NULL), 0);
    assert_float_equal(o.window_s, cfg->retrain.window, 1e-9);
    assert_int_equal(o.collect_num, cfg->retrain.collect_num);
    assert_int_equal(o.select_num, cfg->retrain.select_num);
    assert_float_equal(o.lr, cfg->retrain.lr, 1e-9);
    assert_int_equal(o.num_epoch, cfg->retrain.num_epoch);
    assert_float_equal(o.replay_fraction, cfg->retrain.replay_fraction, 1e-6);
    cfg->retrain.optimizer = CONFIG_OPTIMIZER_SGD;
    cfg->retrain.layers = CONFIG_LAYERS_ALL;
    cfg->retrain.lr = 0.005;
    retrain_opts_from_config(&o, &cfg->retrain);
    assert_int_equal(o.optimizer, NN_OPTIM_SGD);
    assert_int_equal(o.head_only, 0);
    assert_float_equal(o.lr, 0.005, 1e-9);
    cfg->retrain.optimizer = CONFIG_OPTIMIZER_ADAM;
    cfg->retrain.layers = CONFIG_LAYERS_HEAD;
    cfg->retrain.collect_num = 1000; /* the config allows more than one upload holds */
    retrain_opts_from_config(&o, &cfg->retrain);
    assert_int_equal(o.optimizer, NN_OPTIM_ADAM);
    assert_int_equal(o.head_only, 1);
    ec_err e = {0};
    assert_int_equal(retrain_opts_validate(&o, &e), -1);
    assert_int_equal(e.code, EC_EINVAL);
    free(cfg);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    retrain_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    retrain_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56: 2 blocks */
    retrain_sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_frames_framing(void **state)
{
    (void)state;
    const image *in[3] = {scenes[0], scenes[1], scenes[2]};
    uint8_t *body = NULL;
    size_t len = 0;
    assert_int_equal(retrain_frames_encode(in, 3, 90, &body, &len, NULL), 0);
    image *out[4] = {0};
    int n = 0;
    assert_int_equal(retrain_frames_decode(body, len, out, 4, &n, NULL), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i]->w, 128);
        assert_int_equal(out[i]->h, 96);
        image_destroy(out[i]);
    }
    ec_err e = {0};
    /* truncated, trailing bytes, too many frames for the caller, bad magic, bad length */
    assert_int_equal(retrain_frames_decode(body, len - 7, out, 4, &n, &e), -1);
    assert_int_equal(n, 0);
    uint8_t *more = malloc(len + 1);
    memcpy(more, body, len);
    more[len] = 0;
    assert_int_equal(retrain_frames_decode(more, len + 1, out, 4, &n, &e), -1);
    assert_int_equal(retrain_frames_decode(body, len, out, 2, &n, &e), -1);
    more[0] = 'X';
    assert_int_equal(retrain_frames_decode(more, len, out, 4, &n, &e), -1);
    memcpy(more, body, len);
    more[8] = 0xff, more[9] = 0xff, more[10] = 0xff, more[11] = 0x7f;
    assert_int_equal(retrain_frames_decode(more, len, out, 4, &n, &e), -1);
    assert_int_equal(e.code, EC_EFORMAT);
    free(more);
    free(body);
}

struct rounds {
    int count;
    struct retrain_batch *last;
};

static void keep_round(void *ctx, struct retrain_batch *b)
{
    struct rounds *r = ctx;
    r->count++;
    retrain_batch_destroy(r->last);
    r->last = b;
}

static struct det_list dets_with(int n, const float *scores)
{
    struct det_list l = {0};
    for (int i = 0; i < n; i++)
        det_list_push(&l, (struct det){1, 1, 10, 10, scores[i], 0});
    return l;
}

static void test_collector_selects_least_confident(void **state)
{
    (void)state;
    struct retrain_opts o;
    retrain_opts_default(&o);
    o.window_s = 10;
    o.collect_num = 4;
    o.select_num = 2;
    o.confident_thresh = 0.5f;
    struct rounds r = {0};
    drift_collector *c = drift_collector_create(&o, keep_round, &r, NULL);
    assert_non_null(c);
    /* Mean confidences 0.7, 0.55, 0.95, 0.6; frames at least 10 / 4 = 2.5 s apart. */
    const float a[] = {0.9f, 0.5f}, b[] = {0.4f, 0.3f}, cc[] = {0.6f, 0.5f}, d[] = {0.95f},
                e[] = {0.6f};
    struct det_list l[5] = {dets_with(2, a), dets_with(2, b), dets_with(2, cc), dets_with(1, d),
                            dets_with(1, e)};
    struct det_list none = {0};
    assert_int_equal(drift_collector_add(c, scenes[0], 0.0, &l[0]), 1);
    assert_int_equal(drift_collector_add(c, scenes[1], 1.0, &l[1]), 0);  /* not confident */
    assert_int_equal(drift_collector_add(c, scenes[2], 2.0, &none), 0);   /* no detection */
    assert_int_equal(drift_collector_add(c, scenes[3], 2.5, &l[2]), 1);
    assert_int_equal(drift_collector_add(c, scenes[4], 3.0, &l[0]), 0);  /* too close */
    assert_int_equal(drift_collector_add(c, scenes[5], 5.0, &l[3]), 1);
    assert_int_equal(drift_collector_add(c, scenes[6], 7.5, &l[4]), 1);
    assert_int_equal(drift_collector_add(c, scenes[7], 9.9, &l[0]), 0);  /* full */
    assert_int_equal(r.count, 0);
    /* The first frame at or past 10 s closes the window: the two least confident go. */
    assert_int_equal(drift_collector_add(c, scenes[8], 10.5, &l[3]), 1);
    assert_int_equal(r.count, 1);
    assert_int_equal(r.last->n, 2);
    assert_float_equal(r.last->mean_conf[0], 0.55, 1e-6);
    assert_float_equal(r.last->mean_conf[1], 0.6, 1e-6);
    assert_memory_equal(r.last->frames[0]->data, scenes[3]->data, (size_t)128 * 96 * 3);
    assert_memory_equal(r.last->frames[1]->data, scenes[6]->data, (size_t)128 * 96 * 3);
    assert_float_equal(r.last->window_start_s, 0.0, 1e-9);
    struct drift_collector_stats st;
    drift_collector_stats(c, &st);
    assert_int_equal(st.seen, 9);
    assert_int_equal(st.collected, 5);
    assert_int_equal(st.skip_unconfident, 2);
    assert_int_equal(st.skip_spacing, 1);
    assert_int_equal(st.skip_full, 1);
    assert_int_equal(st.rounds, 1);
    /* A gap of several windows: the next window starts on the grid (30 s), not at 35 s. */
    assert_int_equal(drift_collector_add(c, scenes[9], 35.0, &l[0]), 1);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.last->n, 1);
    assert_float_equal(r.last->window_start_s, 10.0, 1e-9);
    assert_int_equal(drift_collector_add(c, scenes[10], 39.9, &l[2]), 1);
    assert_int_equal(r.count, 2);
    assert_int_equal(drift_collector_flush(c), 2);
    assert_int_equal(r.count, 3);
    assert_float_equal(r.last->window_start_s, 30.0, 1e-9);
    assert_int_equal(drift_collector_flush(c), 0); /* empty: nothing handed on */
    assert_int_equal(r.count, 3);
    for (int i = 0; i < 5; i++)
        det_list_free(&l[i]);
    drift_collector_destroy(c);
    retrain_batch_destroy(r.last);

    o.select_num = 5; /* > collect_num */
    ec_err err = {0};
    assert_null(drift_collector_create(&o, keep_round, &r, &err));
    assert_int_equal(err.code, EC_EINVAL);
}

static void test_finetune_and_replay(void **state)
{
    (void)state;
    struct retrain_opts o;
    retrain_opts_default(&o);
    o.num_epoch = 1;
    o.replay_max = 2;
    retrain_replay *rp = retrain_replay_create(o.replay_max);
    detector *weak = detector_load(weak_path, NULL);
    const image *f[8];
    struct det_list labels[8] = {{0}};
    for (int i = 0; i < 8; i++)
        f[i] = scenes[i];
    assert_int_equal(retrain_label(golden, 0.6f, f, 8, labels, NULL), 0);
    int boxes = 0;
    for (int i = 0; i < 8; i++)
        boxes += labels[i].n;
    assert_true(boxes >= 12); /* the golden model sees most of the 16 boxes */
    struct retrain_result res;
    detector *cand = retrain_finetune(&o, weak, f, labels, 8, rp, &res, NULL);
    assert_non_null(cand);
    assert_int_equal(res.holdout, 2);
    assert_int_equal(res.train_new, 6);
    assert_int_equal(res.replayed, 0);
    assert_int_equal(res.frames_used, 6);
    assert_int_equal(retrain_replay_count(rp), 2); /* ceil(0.25 * 6) = 2 <= replay_max */
    detector_destroy(cand);
    /* The next round mixes the history in. */
    cand = retrain_finetune(&o, weak, f + 4, labels + 4, 4, rp, &res, NULL);
    assert_non_null(cand);
    assert_int_equal(res.holdout, 1);
    assert_int_equal(res.replayed, 2);
    assert_int_equal(res.frames_used, 5);
    assert_int_equal(retrain_replay_count(rp), 2);
    detector_destroy(cand);
    /* The golden model against its own labels is perfect, so nothing can beat it. */
    cand = retrain_finetune(&o, golden, f, labels, 8, NULL, &res, NULL);
    assert_non_null(cand);
    assert_float_equal(res.map_before, 1.0, 1e-9);
    assert_false(res.accepted);
    detector_destroy(cand);
    ec_err e = {0};
    assert_null(retrain_finetune(&o, weak, f, labels, 1, rp, &res, &e));
    assert_int_equal(e.code, EC_EINVAL);
    for (int i = 0; i < 8; i++)
        det_list_free(&labels[i]);
    detector_destroy(weak);
    retrain_replay_destroy(rp);
}

/* ---- the cloud round over loopback ---- */

struct cloud {
    store *st;
    retrain_service *svc;
    http_server *srv;
    char url[64];
};

static void cloud_start(struct cloud *c, const char *base, const char *name,
                        const struct retrain_opts *ro)
{
    char dbpath[256], mdir[256];
    snprintf(dbpath, sizeof dbpath, "%s/%s.db", dir, name);
    snprintf(mdir, sizeof mdir, "%s/cloud-%s", dir, name);
    struct store_opts so = {.path = dbpath};
    ec_err e = {0};
    c->st = store_open(&so, &e);
    assert_non_null(c->st);
    struct retrain_service_opts o = {.retrain = *ro, .golden = golden, .base_model = base,
                                     .model_name = "lite", .models_dir = mdir, .store = c->st,
                                     .max_rounds = 1};
    c->svc = retrain_service_create(&o, &e);
    assert_non_null(c->svc);
    struct http_server_config hc = {.thread_per_connection = 1};
    c->srv = http_server_create(&hc, &e);
    assert_non_null(c->srv);
    assert_int_equal(retrain_service_mount(c->svc, c->srv, &e), 0);
    assert_int_equal(http_server_start(c->srv, &e), 0);
    snprintf(c->url, sizeof c->url, "http://127.0.0.1:%u", http_server_port(c->srv));
}

static void cloud_stop(struct cloud *c)
{
    http_server_destroy(c->srv);
    retrain_service_destroy(c->svc);
    store_close(c->st);
}

static struct retrain_opts learning_opts(void)
{
    struct retrain_opts ro;
    retrain_opts_default(&ro);
    ro.optimizer = NN_OPTIM_ADAM;
    ro.lr = 0.01f;
    ro.num_epoch = 6;
    return ro;
}

static void test_cloud_round_ships_better_model(void **state)
{
    (void)state;
    struct retrain_opts ro = learning_opts();
    struct cloud cl;
    cloud_start(&cl, weak_path, "better", &ro);
    struct slot sl;
    slot_init(&sl, weak_path);
    struct retrain_client_opts co;
    client_defaults(&co, cl.url, "edge-1", &sl);
    ec_err e = {0};
    retrain_client *rc = retrain_client_create(&co, &e);
    assert_non_null(rc);
    assert_int_equal(retrain_client_submit(rc, batch_of(0, 12)), 0);
    assert_int_equal(retrain_client_wait_idle(rc, 100000), 0);
    struct retrain_client_stats st;
    retrain_client_stats(rc, &st);
    assert_int_equal(st.done, 1);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.swaps, 1);
    assert_int_equal(st.current_version, 1);
    assert_true(st.last_map_after > st.last_map_before);
    assert_int_equal(sl.version, 1);
    assert_slot_answers(&sl);

    /* Versioned and recorded: base v0 and v1 with its digest, and the round. */
    struct model_version mv;
    assert_int_equal(store_get_model_version(cl.st, "lite.edge-1", -1, &mv, &e), 0);
    assert_int_equal(mv.version, 1);
    assert_float_equal(mv.map50, st.last_map_after, 1e-9);
    uint8_t *buf = NULL;
    size_t len = 0;
    char path[256], sha[65];
    snprintf(path, sizeof path, "%s/edge-models/edge-1-v1.model", dir);
    assert_int_equal(retrain_read_file(path, RETRAIN_MAX_MODEL_BYTES, &buf, &len, &e), 0);
    retrain_sha256_hex(buf, len, sha);
    assert_string_equal(sha, mv.sha256);
    free(buf);
    assert_int_equal(store_get_model_version(cl.st, "lite.edge-1", 0, &mv, &e), 0);
    struct retrain_round *rows = NULL;
    int n = 0;
    assert_int_equal(store_list_retrain_rounds(cl.st, "edge-1", &rows, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].round, 0);
    assert_int_equal(rows[0].accepted, 1);
    assert_int_equal(rows[0].model_version, 1);
    assert_int_equal(rows[0].frames_used, 9); /* 12 - 3 held out */
    assert_true(rows[0].train_ms > 0 && rows[0].label_ms > 0);
    free(rows);

    /* A second round starts from v1 (the edge reports it) and mixes in the replay. */
    assert_int_equal(retrain_client_submit(rc, batch_of(4, 8)), 0);
    assert_int_equal(retrain_client_wait_idle(rc, 100000), 0);
    retrain_client_stats(rc, &st);
    assert_int_equal(st.done, 2);
    assert_int_equal(store_list_retrain_rounds(cl.st, "edge-1", &rows, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[1].round, 1);
    assert_int_equal(rows[1].model_version, 2);
    assert_int_equal(rows[1].frames_used, 6 + 3); /* 8 - 2 held out + ceil(9 / 4) replayed */
    free(rows);
    retrain_client_destroy(rc);
    slot_free(&sl);
    cloud_stop(&cl);
}

static void test_worse_model_not_shipped(void **state)
{
    (void)state;
    /* The edge already runs the golden model: a fine-tuned copy cannot beat it on golden
     * labels (it scores 1.0), so the round is versioned and recorded but not shipped. */
    struct retrain_opts ro = learning_opts();
    ro.lr = 0.05f; /* and a rough step makes it worse still */
    struct cloud cl;
    cloud_start(&cl, golden_path, "worse", &ro);
    struct slot sl;
    slot_init(&sl, golden_path);
    struct retrain_client_opts co;
    client_defaults(&co, cl.url, "edge-2", &sl);
    retrain_client *rc = retrain_client_create(&co, NULL);
    assert_non_null(rc);
    assert_int_equal(retrain_client_submit(rc, batch_of(0, 8)), 0);
    assert_int_equal(retrain_client_wait_idle(rc, 100000), 0);
    struct retrain_client_stats st;
    retrain_client_stats(rc, &st);
    assert_int_equal(st.done, 1);
    assert_int_equal(st.not_better, 1);
    assert_int_equal(st.swaps, 0);
    assert_int_equal(st.current_version, 0);
    assert_float_equal(st.last_map_before, 1.0, 1e-9);
    assert_true(st.last_map_after < 1.0);
    assert_int_equal(sl.swaps, 0);
    struct retrain_round *rows = NULL;
    int n = 0;
    assert_int_equal(store_list_retrain_rounds(cl.st, "edge-2", &rows, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].accepted, 0);
    assert_int_equal(rows[0].model_version, 1);
    free(rows);
    struct model_version mv;
    assert_int_equal(store_get_model_version(cl.st, "lite.edge-2", 1, &mv, NULL), 0);
    retrain_client_destroy(rc);
    slot_free(&sl);
    cloud_stop(&cl);
}

static void test_train_on_edge(void **state)
{
    (void)state;
    struct retrain_opts ro = learning_opts();
    ro.num_epoch = 10; /* half the steps see mirrored frames: give the tiny model time */
    struct cloud cl;
    cloud_start(&cl, weak_path, "edgetrain", &ro);
    struct slot sl;
    slot_init(&sl, weak_path);
    struct retrain_client_opts co;
    client_defaults(&co, cl.url, "edge-3", &sl);
    co.retrain = ro;
    co.train_on_edge = 1;
    co.current_model = weak_path;
    char dbpath[256];
    snprintf(dbpath, sizeof dbpath, "%s/edge3.db", dir);
    struct store_opts so = {.path = dbpath};
    co.store = store_open(&so, NULL);
    assert_non_null(co.store);
    retrain_client *rc = retrain_client_create(&co, NULL);
    assert_non_null(rc);
    assert_int_equal(retrain_client_submit(rc, batch_of(0, 12)), 0);
    assert_int_equal(retrain_client_wait_idle(rc, 100000), 0);
    struct retrain_client_stats st;
    retrain_client_stats(rc, &st);
    print_message("edge-side round: held-out mAP@0.5 %.3f -> %.3f\n", st.last_map_before,
                  st.last_map_after);
    assert_int_equal(st.done, 1);
    assert_int_equal(st.swaps, 1);
    assert_int_equal(sl.version, 1);
    struct retrain_service_stats ss;
    retrain_service_stats(cl.svc, &ss);
    assert_int_equal(ss.rounds, 0); /* the cloud only labelled */
    struct retrain_round *rows = NULL;
    int n = 0;
    assert_int_equal(store_list_retrain_rounds(co.store, "edge-3", &rows, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].accepted, 1);
    free(rows);
    retrain_client_destroy(rc);
    store_close(co.store);
    slot_free(&sl);
    cloud_stop(&cl);
}

static void test_service_rejects_bad_uploads(void **state)
{
    (void)state;
    struct retrain_opts ro = learning_opts();
    struct cloud cl;
    cloud_start(&cl, weak_path, "bad", &ro);
    http_client *hc = http_client_create(&(struct http_client_config){0}, NULL);
    struct http_client_result res;
    char url[128];
    snprintf(url, sizeof url, "%s/v1/retrain", cl.url);
    const char *hdrs[] = {"X-Edgecam-Edge: e1", "X-Edgecam-Model-Version: 0", NULL};
    const char *nover[] = {"X-Edgecam-Edge: e1", NULL};
    const char *future[] = {"X-Edgecam-Edge: e1", "X-Edgecam-Model-Version: 7", NULL};
    ec_err e = {0};
    assert_int_equal(http_client_request(hc, "POST", url, hdrs, "junk", 4, NULL, &res, &e), -1);
    assert_int_equal(res.status, 400);
    assert_int_equal(http_client_request(hc, "POST", url, nover, "junk", 4, NULL, &res, &e), -1);
    assert_int_equal(res.status, 400);
    uint8_t *body = NULL;
    size_t len = 0;
    const image *two[2] = {scenes[0], scenes[1]};
    assert_int_equal(retrain_frames_encode(two, 2, 90, &body, &len, NULL), 0);
    assert_int_equal(http_client_request(hc, "POST", url, future, body, len, NULL, &res, &e), -1);
    assert_int_equal(res.status, 404); /* the cloud never made version 7 */
    free(body);
    snprintf(url, sizeof url, "%s/v1/models/lite.e1/9", cl.url);
    assert_int_equal(http_client_request(hc, "GET", url, NULL, NULL, 0, NULL, &res, &e), -1);
    assert_int_equal(res.status, 404);
    snprintf(url, sizeof url, "%s/v1/models/other.e1/0", cl.url);
    assert_int_equal(http_client_request(hc, "GET", url, NULL, NULL, 0, NULL, &res, &e), -1);
    assert_int_equal(res.status, 404);
    snprintf(url, sizeof url, "%s/v1/models/lite.e1/0", cl.url); /* the base model */
    assert_int_equal(http_client_request(hc, "GET", url, NULL, NULL, 0, NULL, &res, &e), 0);
    char sha[65];
    retrain_sha256_hex(res.body, res.body_len, sha);
    assert_string_equal(http_client_header(hc, "X-Edgecam-Sha256"), sha);
    struct retrain_service_stats ss;
    retrain_service_stats(cl.svc, &ss);
    assert_int_equal(ss.bad_requests, 2);
    http_client_destroy(hc);
    cloud_stop(&cl);
}

/* ---- bad downloads: a fake cloud that announces one model and serves another ---- */

enum bad_kind { BAD_TRUNCATED, BAD_CORRUPT, BAD_OVERSIZE, GOOD };

struct fake {
    enum bad_kind kind;
    uint8_t *model;
    size_t len;
    char sha[65];
    int version;
};

static int fake_retrain(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    struct fake *f = user;
    char json[512];
    size_t announced = f->kind == BAD_OVERSIZE ? f->len * 2 : f->len;
    char sha[65];
    if (f->kind == BAD_CORRUPT) { /* digest of the corrupt bytes: only loading catches it */
        uint8_t *c = malloc(f->len);
        memcpy(c, f->model, f->len);
        memset(c + 8, '#', 16);
        retrain_sha256_hex(c, f->len, sha);
        free(c);
    } else {
        memcpy(sha, f->sha, 65);
    }
    snprintf(json, sizeof json,
             "{\"accepted\":true,\"version\":%d,\"url\":\"/v1/models/lite.e/%d\","
             "\"sha256\":\"%s\",\"size\":%zu,\"map_before\":0.1,\"map_after\":0.5}",
             f->version, f->version, sha, announced);
    return http_response_set_body(resp, json, strlen(json), "application/json");
}

static int fake_model(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    struct fake *f = user;
    if (f->kind == BAD_TRUNCATED)
        return http_response_set_body(resp, f->model, f->len / 2, "application/octet-stream");
    if (f->kind == BAD_OVERSIZE) {
        uint8_t *big = calloc(2, f->len);
        memcpy(big, f->model, f->len);
        return http_response_take_body(resp, big, f->len * 2, "application/octet-stream");
    }
    uint8_t *c = malloc(f->len);
    memcpy(c, f->model, f->len);
    if (f->kind == BAD_CORRUPT)
        memset(c + 8, '#', 16);
    return http_response_take_body(resp, c, f->len, "application/octet-stream");
}

static void test_bad_download_keeps_old_model(void **state)
{
    (void)state;
    struct fake f = {0};
    assert_int_equal(retrain_read_file(golden_path, RETRAIN_MAX_MODEL_BYTES, &f.model, &f.len,
                                       NULL), 0);
    retrain_sha256_hex(f.model, f.len, f.sha);
    http_server *srv = http_server_create(&(struct http_server_config){0}, NULL);
    assert_non_null(srv);
    assert_int_equal(http_server_route(srv, "POST", "/v1/retrain", 0, fake_retrain, &f, NULL), 0);
    assert_int_equal(http_server_route(srv, "GET", "/v1/models/", HTTP_ROUTE_PREFIX, fake_model,
                                       &f, NULL), 0);
    assert_int_equal(http_server_start(srv, NULL), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", http_server_port(srv));
    struct slot sl;
    slot_init(&sl, weak_path);
    struct retrain_client_opts co;
    client_defaults(&co, url, "edge-x", &sl);
    co.max_model_bytes = f.len + f.len / 2; /* the oversize body is refused while reading */
    retrain_client *rc = retrain_client_create(&co, NULL);
    assert_non_null(rc);
    const enum bad_kind kinds[] = {BAD_TRUNCATED, BAD_CORRUPT, BAD_OVERSIZE};
    for (int k = 0; k < 3; k++) {
        f.kind = kinds[k];
        f.version = 5 + k;
        assert_int_equal(retrain_client_submit(rc, batch_of(k, 2)), 0);
        assert_int_equal(retrain_client_wait_idle(rc, 30000), 0);
        struct retrain_client_stats st;
        retrain_client_stats(rc, &st);
        assert_int_equal(st.failed, k + 1);
        assert_int_equal(st.swaps, 0);
        assert_int_equal(st.current_version, 0);
        assert_int_equal(sl.swaps, 0);
        assert_slot_answers(&sl);
    }
    f.kind = GOOD; /* and the same path then installs a good one */
    f.version = 9;
    assert_int_equal(retrain_client_submit(rc, batch_of(0, 2)), 0);
    assert_int_equal(retrain_client_wait_idle(rc, 30000), 0);
    assert_int_equal(sl.swaps, 1);
    assert_int_equal(sl.version, 9);
    assert_slot_answers(&sl);
    retrain_client_destroy(rc);
    slot_free(&sl);
    http_server_destroy(srv);
    free(f.model);
}

/* ---- hot swap while inferring ---- */

struct infer_loop {
    infer_service *svc;
    int stop; /* atomic */
    int runs, errors, first_version, last_version;
};

static void *infer_thread(void *arg)
{
    struct infer_loop *l = arg;
    struct det_list dets = {0};
    struct infer_run_info info;
    int i = 0;
    l->first_version = -1;
    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        det_list_clear(&dets);
        ec_err e = {0};
        if (infer_service_run(l->svc, "edge", scenes[i++ % NSCENES], &dets, &info, &e)) {
            fprintf(stderr, "inference failed: %s\n", e.msg);
            l->errors++;
            continue;
        }
        if (l->first_version < 0)
            l->first_version = info.version;
        if (info.version < l->last_version) {
            fprintf(stderr, "version went back from %d to %d\n", l->last_version, info.version);
            l->errors++;
        } /* never back to the old model */
        l->last_version = info.version;
        l->runs++;
    }
    det_list_free(&dets);
    return NULL;
}

static int service_swap(void *ctx, const char *path, int version, ec_err *err)
{
    detector *d = detector_load(path, err);
    return d ? infer_service_swap(ctx, "edge", d, version, err) : -1;
}

static void test_hot_swap_while_inferring(void **state)
{
    (void)state;
    struct infer_model_spec spec = {.name = "edge", .path = weak_path};
    struct infer_service_opts io = {.models = &spec, .nmodels = 1, .workers = 2,
                                    .queue_size = 4, .score_thresh = 0.3f, .role = "edge"};
    infer_service *svc = infer_service_create(&io, NULL);
    assert_non_null(svc);
    struct fake f = {.kind = GOOD, .version = 3};
    assert_int_equal(retrain_read_file(golden_path, RETRAIN_MAX_MODEL_BYTES, &f.model, &f.len,
                                       NULL), 0);
    retrain_sha256_hex(f.model, f.len, f.sha);
    http_server *srv = http_server_create(&(struct http_server_config){0}, NULL);
    assert_int_equal(http_server_route(srv, "POST", "/v1/retrain", 0, fake_retrain, &f, NULL), 0);
    assert_int_equal(http_server_route(srv, "GET", "/v1/models/", HTTP_ROUTE_PREFIX, fake_model,
                                       &f, NULL), 0);
    assert_int_equal(http_server_start(srv, NULL), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", http_server_port(srv));

    struct infer_loop loops[2] = {{.svc = svc}, {.svc = svc}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, infer_thread, &loops[i]), 0);
    struct retrain_client_opts co;
    client_defaults(&co, url, "edge-s", NULL);
    co.swap = NULL; /* set after creation, as an edge does once its node exists */
    co.swap_ctx = NULL;
    retrain_client *rc = retrain_client_create(&co, NULL);
    assert_non_null(rc);
    retrain_client_set_swap(rc, service_swap, svc);
    usleep(50000);
    assert_int_equal(retrain_client_submit(rc, batch_of(0, 2)), 0);
    assert_int_equal(retrain_client_wait_idle(rc, 30000), 0);
    usleep(50000);
    for (int i = 0; i < 2; i++) {
        __atomic_store_n(&loops[i].stop, 1, __ATOMIC_RELEASE);
        pthread_join(th[i], NULL);
    }
    struct retrain_client_stats st;
    retrain_client_stats(rc, &st);
    assert_int_equal(st.swaps, 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(loops[i].errors, 0);
        assert_true(loops[i].first_version >= 0 && loops[i].first_version < 3); /* the old model */
        assert_int_equal(loops[i].last_version, 3);
        assert_true(loops[i].runs > 2);
    }
    /* The swapped-in model is the golden one: it now finds the boxes. */
    struct det_list dets = {0};
    assert_int_equal(infer_service_run(svc, "edge", scenes[0], &dets, NULL, NULL), 0);
    assert_true(dets.n >= 1);
    det_list_free(&dets);
    retrain_client_destroy(rc);
    http_server_destroy(srv);
    infer_service_destroy(svc);
    free(f.model);
}

/* ---- a busy service answers 503 at once ---- */

struct long_round {
    const char *url;
    long status;
};

static void *post_long_round(void *arg)
{
    struct long_round *lr = arg;
    http_client *hc = http_client_create(&(struct http_client_config){.timeout_ms = 200000}, NULL);
    const image *f[12];
    for (int i = 0; i < 12; i++)
        f[i] = scenes[i];
    uint8_t *body = NULL;
    size_t len = 0;
    retrain_frames_encode(f, 12, 90, &body, &len, NULL);
    const char *hdrs[] = {"X-Edgecam-Edge: slow", "X-Edgecam-Model-Version: 0", NULL};
    struct http_client_result res;
    http_client_request(hc, "POST", lr->url, hdrs, body, len, NULL, &res, NULL);
    lr->status = res.status;
    free(body);
    http_client_destroy(hc);
    return NULL;
}

static void test_busy_service_answers_503(void **state)
{
    (void)state;
    struct retrain_opts ro = learning_opts();
    ro.num_epoch = 80; /* a round of ~0.5 s (much more under sanitizers) */
    struct cloud cl;
    cloud_start(&cl, weak_path, "busy", &ro);
    char url[128];
    snprintf(url, sizeof url, "%s/v1/retrain", cl.url);
    struct long_round lr = {.url = url};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, post_long_round, &lr), 0);
    usleep(150000);
    http_client *hc = http_client_create(&(struct http_client_config){0}, NULL);
    uint8_t *body = NULL;
    size_t len = 0;
    const image *two[2] = {scenes[0], scenes[1]};
    assert_int_equal(retrain_frames_encode(two, 2, 90, &body, &len, NULL), 0);
    const char *same[] = {"X-Edgecam-Edge: slow", "X-Edgecam-Model-Version: 0", NULL};
    const char *other[] = {"X-Edgecam-Edge: other", "X-Edgecam-Model-Version: 0", NULL};
    struct http_client_result res;
    double t0 = clock_mono_s();
    assert_int_equal(http_client_request(hc, "POST", url, same, body, len, NULL, &res, NULL), -1);
    assert_int_equal(res.status, 503); /* one round per edge */
    assert_string_equal(http_client_header(hc, "Retry-After"), "5");
    assert_int_equal(http_client_request(hc, "POST", url, other, body, len, NULL, &res, NULL), -1);
    assert_int_equal(res.status, 503); /* max_rounds = 1 */
    assert_true(clock_mono_s() - t0 < 1.0); /* refused at once, not queued behind the round */
    pthread_join(th, NULL);
    assert_int_equal(lr.status, 200);
    struct retrain_service_stats ss;
    retrain_service_stats(cl.svc, &ss);
    assert_int_equal(ss.rejected_busy, 2);
    assert_int_equal(ss.rounds, 1);
    free(body);
    http_client_destroy(hc);
    cloud_stop(&cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_opts_from_config),
        cmocka_unit_test(test_frames_framing),
        cmocka_unit_test(test_collector_selects_least_confident),
        cmocka_unit_test(test_finetune_and_replay),
        cmocka_unit_test(test_cloud_round_ships_better_model),
        cmocka_unit_test(test_worse_model_not_shipped),
        cmocka_unit_test(test_train_on_edge),
        cmocka_unit_test(test_service_rejects_bad_uploads),
        cmocka_unit_test(test_bad_download_keeps_old_model),
        cmocka_unit_test(test_hot_swap_while_inferring),
        cmocka_unit_test(test_busy_service_answers_503),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
