/* Edge nodes, a peer and a cloud inference server on loopback: each policy's decisions show in
 * the stored rows, offloaded bytes are counted, unreachable destinations fall back to local. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "edge/edge.h"
#include "support/scene.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *ARCH =
    "{\"input\":{\"h\":64,\"w\":64,\"c\":3},\"num_classes\":2,\"layers\":["
    "{\"name\":\"c1\",\"type\":\"conv\",\"filters\":8,\"size\":3,\"stride\":2,\"bias\":0},"
    "{\"name\":\"b1\",\"type\":\"bn\"},{\"name\":\"a1\",\"type\":\"silu\"},"
    "{\"name\":\"c2\",\"type\":\"conv\",\"filters\":16,\"size\":3,\"stride\":2,\"bias\":0},"
    "{\"name\":\"b2\",\"type\":\"bn\"},{\"name\":\"a2\",\"type\":\"silu\"},"
    "{\"name\":\"c3\",\"type\":\"conv\",\"filters\":16,\"size\":3,\"stride\":2},"
    "{\"name\":\"head\",\"type\":\"conv\",\"filters\":7,\"size\":1}]}";

struct world {
    char edge_model[64], golden_model[64];
    infer_service *cloud;
    http_server *cloud_srv;
    char cloud_url[64];
    edge_node *peer; /* edge-b: serves peers, its own pipeline never runs */
    char peer_url[64];
    struct scene peer_scene;
    store *st;
};

static void make_model(const char *path, uint64_t seed)
{
    nn_model *m = nn_model_create(ARCH, seed, NULL);
    assert_non_null(m);
    detector *d = detector_from_model(m, NULL);
    assert_int_equal(detector_save(d, path, NULL), 0);
    detector_destroy(d);
}

static void node_defaults(struct world *w, struct edge_node_opts *o, const char *id,
                          struct scene *sc)
{
    edge_node_opts_init(o);
    o->pipeline.edge_id = id;
    o->pipeline.source.gen_next = scene_next;
    o->pipeline.source.gen_ctx = sc;
    o->pipeline.source.sample_interval = 2;
    o->pipeline.filter.enabled = 0; /* every sampled frame is a key frame */
    o->pipeline.store = w->st;
    o->pipeline.queue_size = 8;
    o->local_model = w->edge_model;
    o->score_thresh = 0.0f; /* random weights score ~1e-4: keep every box */
    o->exchange_interval_ms = 50;
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    snprintf(w->edge_model, sizeof w->edge_model, "/tmp/edgecam-node-e-%d.model", (int)getpid());
    snprintf(w->golden_model, sizeof w->golden_model, "/tmp/edgecam-node-g-%d.model",
             (int)getpid());
    make_model(w->edge_model, 11);
    make_model(w->golden_model, 12);
    ec_err err = {0};
    struct infer_model_spec spec = {"golden", w->golden_model};
    struct infer_service_opts so = {.models = &spec, .nmodels = 1, .workers = 2, .queue_size = 16,
                                    .score_thresh = 0.0f, .role = "cloud"};
    w->cloud = infer_service_create(&so, &err);
    struct http_server_config sc = {.thread_per_connection = 1};
    w->cloud_srv = http_server_create(&sc, &err);
    assert_int_equal(infer_service_mount(w->cloud, w->cloud_srv, &err), 0);
    assert_int_equal(http_server_start(w->cloud_srv, &err), 0);
    snprintf(w->cloud_url, sizeof w->cloud_url, "http://127.0.0.1:%u",
             http_server_port(w->cloud_srv));
    struct store_opts sto = {.kind = "sqlite", .path = ":memory:"};
    w->st = store_open(&sto, &err);
    assert_non_null(w->st);
    struct edge_node_opts o;
    w->peer_scene = (struct scene){.total = 1, .move_every = 1};
    node_defaults(w, &o, "edge-b", &w->peer_scene);
    w->peer = edge_node_create(&o, &err);
    assert_non_null(w->peer);
    snprintf(w->peer_url, sizeof w->peer_url, "http://127.0.0.1:%u", edge_node_port(w->peer));
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    edge_node_destroy(w->peer);
    http_server_destroy(w->cloud_srv);
    infer_service_destroy(w->cloud);
    store_close(w->st);
    unlink(w->edge_model);
    unlink(w->golden_model);
    free(w);
    return 0;
}

/* Runs edge-a over 80 frames with `policy`; checks the outcome accounting; returns stats. */
static struct edge_node_stats run_edge_opts(struct world *w, const char *policy,
                                            const char *cloud_url, int with_peer,
                                            const struct policy_params *params)
{
    struct scene sc = {.total = 80, .move_every = 4};
    struct edge_node_opts o;
    node_defaults(w, &o, "edge-a", &sc);
    if (params)
        o.policy_params = *params;
    o.policy_name = policy;
    o.cloud_url = cloud_url;
    o.listen_port = -1;
    if (with_peer) {
        o.peers[0] = (struct edge_peer){"edge-b", w->peer_url};
        o.npeers = 1;
    }
    ec_err err = {0};
    edge_node *n = edge_node_create(&o, &err);
    assert_non_null(n);
    usleep(100000); /* let the first peer/cloud poll land */
    assert_int_equal(edge_node_run(n, &err), 0);
    struct edge_node_stats s;
    edge_node_stats(n, &s);
    edge_node_destroy(n);
    assert_int_equal(s.pipeline.frames_read, 80);
    assert_int_equal(s.pipeline.recorded, 80);
    int64_t stored = 0;
    assert_int_equal(store_count_frames(w->st, "edge-a", -1, &stored, NULL), 0);
    assert_int_equal(stored, 80);
    struct store_summary sum;
    assert_int_equal(store_summarize(w->st, "edge-a", &sum, NULL), 0);
    assert_int_equal(sum.bytes_sent, s.bytes_sent);
    return s;
}

static struct edge_node_stats run_edge(struct world *w, const char *policy, const char *cloud_url,
                                       int with_peer)
{
    return run_edge_opts(w, policy, cloud_url, with_peer, NULL);
}

/* Counts stored key-frame rows of edge-a whose `where` equals w. */
static int count_where(struct world *w, const char *where)
{
    int n = 0;
    for (int64_t i = 0; i < 80; i++) {
        struct frame_row row;
        assert_int_equal(store_get_frame(w->st, "edge-a", i, &row, NULL, NULL), 0);
        n += row.outcome == OUTCOME_FINISHED && strcmp(row.where, where) == 0;
    }
    return n;
}

static void test_edge_local(void **state)
{
    struct world *w = *state;
    struct edge_node_stats s = run_edge(w, "edge_local", w->cloud_url, 1);
    assert_int_equal(s.by_dest[POLICY_LOCAL], s.pipeline.by_outcome[OUTCOME_FINISHED]);
    assert_int_equal(count_where(w, "local"), s.pipeline.by_outcome[OUTCOME_FINISHED]);
    assert_int_equal(s.bytes_sent, 0);
}

static void test_always_cloud_sends_jpeg_and_counts_bytes(void **state)
{
    struct world *w = *state;
    struct edge_node_stats s = run_edge(w, "always_cloud_lowest_delay", w->cloud_url, 0);
    int64_t finished = s.pipeline.by_outcome[OUTCOME_FINISHED];
    assert_true(finished > 0);
    assert_int_equal(count_where(w, "cloud"), finished);
    assert_int_equal(s.fallbacks, 0);
    assert_true(s.bytes_sent > finished * 200); /* a 96x64 JPEG is several hundred bytes */
    /* The cloud's boxes come back in the frame's own pixels. */
    struct frame_row row;
    struct det_list dets = {0};
    assert_int_equal(store_get_frame(w->st, "edge-a", 0, &row, &dets, NULL), 0);
    assert_true(dets.n > 0);
    for (int i = 0; i < dets.n; i++)
        assert_true(dets.v[i].x1 >= 0 && dets.v[i].x2 <= 96 && dets.v[i].y2 <= 64);
    det_list_free(&dets);
}

static void test_edge_shortest_uses_idle_peer(void **state)
{
    struct world *w = *state;
    struct edge_node_stats s = run_edge(w, "edge_shortest", NULL, 1);
    assert_true(s.by_dest[POLICY_PEER] > 0);
    assert_int_equal(count_where(w, "peer:edge-b"), s.by_dest[POLICY_PEER] - s.fallbacks);
    assert_true(s.bytes_sent > 0);
}

static void test_unreachable_cloud_falls_back_to_local(void **state)
{
    struct world *w = *state;
    struct edge_node_stats s = run_edge(w, "always_cloud_lowest_delay", "http://127.0.0.1:1", 0);
    int64_t finished = s.pipeline.by_outcome[OUTCOME_FINISHED];
    assert_true(finished > 0);
    assert_int_equal(s.fallbacks, finished);
    assert_int_equal(count_where(w, "local"), finished);
    assert_int_equal(s.bytes_sent, 0);
}

static void test_assisted_merges_cloud_regions(void **state)
{
    struct world *w = *state;
    /* Random weights give few mid-confidence boxes: widen the band so every local box is
     * re-checked, which makes the region upload and merge path run on every such frame. */
    struct policy_params p;
    policy_params_default(&p);
    p.assisted_low = 0.0f;
    p.assisted_high = 1.01f;
    p.assisted_max_area = 1.0f;
    struct edge_node_stats s = run_edge_opts(w, "edge_cloud_assisted", w->cloud_url, 0, &p);
    int64_t finished = s.pipeline.by_outcome[OUTCOME_FINISHED];
    int merged = count_where(w, "local+cloud");
    assert_int_equal(merged + count_where(w, "local"), finished);
    assert_true(merged > 0);
    assert_true(s.regions_sent >= merged);
    assert_true(s.bytes_sent > merged * 100);
    assert_int_equal(s.by_dest[POLICY_ASSISTED], finished);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_edge_local, setup, teardown),
        cmocka_unit_test_setup_teardown(test_always_cloud_sends_jpeg_and_counts_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_edge_shortest_uses_idle_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_cloud_falls_back_to_local, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_assisted_merges_cloud_regions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
