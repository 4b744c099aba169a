/* Each built-in policy in turn, with the committed edge and golden models: a cloud and two
 * edges on loopback, both edges running at once on a short night video, each the other's
 * peer. Per policy and edge: every frame read has exactly one stored outcome, detections are
 * stored, offloaded bytes are counted (stored rows == the node's counter; > 0 where the policy
 * must offload, 0 for the local ones). Across policies: Edge-Cloud-Assisted beats Edge-Local
 * on mAP@0.5 at night, where the day-only edge model is nearly blind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bench/bench.h"

#include <stdio.h>
#include <string.h>

#define FRAMES 40
#define VIDEO "synth://night?frames=40&width=320&height=180"
/* An empty street: after its first key frame the filter finds nothing new, so edge-b's queue
 * stays empty however slow the machine (sanitizers) and edge-a's is the longer one. */
#define VIDEO_IDLE "synth://night?frames=40&width=320&height=180&objects=0&seed=2"
#define MAP_MARGIN 0.1 /* assisted over local; measured ~0.65 vs ~0.01 */

enum offload { NEVER, MUST, MAY };

struct policy_case {
    const char *name;
    enum offload offload;
};

/* The threshold policies get thresholds below any queue length (see run_policy), so they must
 * offload; their thresholds themselves are covered by tests/unit/test_policy.c. */
static struct policy_case cases[] = {
    {"edge_local", NEVER},
    {"edge_shortest", MUST}, /* edge-a unpaced, edge-b idle: edge-a sends it frames */
    {"shortest_cloud_threshold", MUST},
    {"edge_cloud_threshold", MUST},
    {"edge_cloud_assisted", MUST}, /* night: the edge model is unsure of many boxes */
    {"always_local_fastest_model", NEVER},
    {"always_cloud_lowest_delay", MUST},
    {"threshold_offload_policy", MUST},
    {"adaptive", MAY}, /* only when local inference would miss its latency target */
};

static double map_local[2] = {-1, -1}, map_assisted[2] = {-1, -1};

static void check_edge(const struct policy_case *c, int edge, const struct policy_run_result *r)
{
    print_message("%-28s edge-%c: mAP %.3f, %ld rows (fin %ld ref %ld tmo %ld drop %ld), "
                  "%ld with detections, local/peer/cloud/assisted %ld/%ld/%ld/%ld, "
                  "%ld fallbacks, %lld bytes\n",
                  c->name, 'a' + edge, r->map50, r->frames, r->finished, r->ref, r->timeout,
                  r->dropped, r->det_rows, r->by_dest[0], r->by_dest[1], r->by_dest[2],
                  r->by_dest[3], r->fallbacks, r->bytes_stored);
    /* Every frame read: one row (the store refuses a second), found by index 0..N-1. */
    assert_int_equal(r->frames_read, FRAMES);
    assert_int_equal(r->frames, FRAMES);
    assert_int_equal(r->finished + r->ref + r->timeout + r->dropped, FRAMES);
    assert_true(r->finished > 0);
    int idle_peer = !strcmp(c->name, "edge_shortest") && edge == 1;
    if (!idle_peer) /* an empty street may rightly have no detections */
        assert_true(r->det_rows > 0);
    assert_int_equal(r->bytes_stored, r->bytes_counted);
    long remote = r->by_dest[1] + r->by_dest[2];
    enum offload k = idle_peer ? MAY : c->offload;
    switch (k) {
    case NEVER:
        assert_int_equal(remote + r->by_dest[3], 0);
        assert_int_equal(r->bytes_stored, 0);
        break;
    case MUST:
        assert_true(r->bytes_stored > 0);
        break;
    case MAY: /* loopback offloads succeed, so bytes follow the decisions */
        if (remote > r->fallbacks)
            assert_true(r->bytes_stored > 0);
        if (remote == 0)
            assert_int_equal(r->bytes_stored, 0);
        break;
    }
    if (!strcmp(c->name, "edge_cloud_assisted"))
        assert_true(r->regions_sent > 0 && r->by_dest[3] > 0);
    if (!strcmp(c->name, "edge_shortest") && edge == 0)
        assert_true(r->by_dest[1] > 0); /* the peer path, edge-a -> edge-b */
}

static void run_policy(void **state)
{
    const struct policy_case *c = *state;
    struct policy_run_opts o;
    policy_run_opts_default(&o);
    o.edge_model = EDGECAM_MODELS_DIR "/edge.safetensors";
    o.golden_model = EDGECAM_MODELS_DIR "/golden.safetensors";
    o.video = VIDEO;
    o.both_edges = 1;
    o.wait_thresh_s = 30; /* sanitizers on a loaded machine: no Timeouts from slowness */
    o.params.queue_thresh = -1;
    o.params.smarteye_local_pending_max = -1;
    if (!strcmp(c->name, "edge_shortest")) {
        o.realtime = 0; /* edge-a reads as fast as it can */
        o.video_b = VIDEO_IDLE;
    }
    struct policy_run_result r[2];
    ec_err err = {0};
    if (policy_run(&o, c->name, r, &err) != 0)
        fail_msg("%s: %s", c->name, err.msg);
    for (int e = 0; e < 2; e++) {
        check_edge(c, e, &r[e]);
        if (!strcmp(c->name, "edge_local"))
            map_local[e] = r[e].map50;
        if (!strcmp(c->name, "edge_cloud_assisted"))
            map_assisted[e] = r[e].map50;
    }
}

static void assisted_beats_local_at_night(void **state)
{
    (void)state;
    for (int e = 0; e < 2; e++) {
        assert_true(map_local[e] >= 0 && map_assisted[e] >= 0); /* both ran above */
        print_message("edge-%c night mAP@0.5: local %.3f, assisted %.3f\n", 'a' + e,
                      map_local[e], map_assisted[e]);
        assert_true(map_assisted[e] > map_local[e] + MAP_MARGIN);
    }
}

int main(void)
{
    struct CMUnitTest tests[sizeof cases / sizeof cases[0] + 1];
    int n = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tests[n++] = (struct CMUnitTest){cases[i].name, run_policy, NULL, NULL, &cases[i]};
    tests[n++] = (struct CMUnitTest){"assisted_beats_local_at_night",
                                     assisted_beats_local_at_night, NULL, NULL, NULL};
    return _cmocka_run_group_tests("policies", tests, (size_t)n, NULL, NULL);
}
