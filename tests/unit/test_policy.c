#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "policy/policy.h"

#include <string.h>

static struct policy_state state(int local_q, int npeers)
{
    struct policy_state s = {.local_queue_len = local_q, .local_queue_cap = 16,
                             .local_infer_ms = 30, .npeers = npeers, .frame_w = 1280,
                             .frame_h = 720};
    for (int i = 0; i < npeers; i++)
        s.peers[i] = (struct policy_link){1, 0, 2, 5e6, 30};
    s.cloud = (struct policy_link){1, 0, 20, 2.5e6, 10};
    return s;
}

static struct policy_decision decide(const char *name, const struct policy_state *s)
{
    policy *pol = policy_create(name, NULL, NULL, NULL, NULL);
    assert_non_null(pol);
    struct policy_decision d;
    assert_int_equal(policy_decide(pol, s, &d), 0);
    policy_destroy(pol);
    return d;
}

static void test_registry_lists_every_policy(void **st)
{
    (void)st;
    int n;
    const struct policy_info *info = policy_list(&n);
    assert_int_equal(n, 9);
    const char *want[] = {"edge_local", "edge_shortest", "shortest_cloud_threshold",
                          "edge_cloud_threshold", "edge_cloud_assisted",
                          "always_local_fastest_model", "always_cloud_lowest_delay",
                          "threshold_offload_policy", "adaptive"};
    for (int i = 0; i < n; i++)
        assert_string_equal(info[i].name, want[i]);
    ec_err err = {0};
    assert_null(policy_create("fastest_please", NULL, NULL, NULL, &err));
    assert_int_equal(err.code, EC_EINVAL);
    assert_non_null(strstr(err.msg, "fastest_please"));
}

static void test_edge_shortest(void **st)
{
    (void)st;
    struct policy_state s = state(5, 3);
    s.peers[0].queue_len = 4;
    s.peers[1].queue_len = 1;
    s.peers[2].queue_len = 0;
    s.peers[2].reachable = 0; /* shortest but down */
    struct policy_decision d = decide("edge_shortest", &s);
    assert_int_equal(d.dest, POLICY_PEER);
    assert_int_equal(d.peer, 1);
    assert_int_equal(d.height, 480); /* the "another" path */
    assert_int_equal(d.quality, 90);
    s.local_queue_len = 1; /* tie with the best peer stays local */
    assert_int_equal(decide("edge_shortest", &s).dest, POLICY_LOCAL);
}

static void test_thresholds(void **st)
{
    (void)st;
    struct policy_state s = state(5, 2); /* default queue_thresh 4 */
    s.peers[0].queue_len = 6;
    s.peers[1].queue_len = 3;
    struct policy_decision d = decide("shortest_cloud_threshold", &s);
    assert_int_equal(d.dest, POLICY_PEER); /* peer 1 is under the threshold */
    assert_int_equal(d.peer, 1);
    s.peers[1].queue_len = 5;
    d = decide("shortest_cloud_threshold", &s);
    assert_int_equal(d.dest, POLICY_CLOUD);
    assert_int_equal(d.quality, 80); /* another_cloud path */

    assert_int_equal(decide("edge_cloud_threshold", &s).dest, POLICY_CLOUD);
    s.local_queue_len = 4;
    assert_int_equal(decide("edge_cloud_threshold", &s).dest, POLICY_LOCAL);
    assert_int_equal(decide("edge_local", &s).dest, POLICY_LOCAL);
    assert_int_equal(decide("edge_cloud_assisted", &s).dest, POLICY_ASSISTED);
}

static void test_smarteye(void **st)
{
    (void)st;
    struct policy_state s = state(2, 0);
    assert_int_equal(decide("threshold_offload_policy", &s).dest, POLICY_LOCAL);
    s.local_queue_len = 3;
    struct policy_decision d = decide("threshold_offload_policy", &s);
    assert_int_equal(d.dest, POLICY_CLOUD);
    assert_int_equal(d.height, 240);
    d = decide("always_cloud_lowest_delay", &s);
    assert_int_equal(d.dest, POLICY_CLOUD);
    assert_int_equal(d.height, 240);
    assert_int_equal(decide("always_local_fastest_model", &s).dest, POLICY_LOCAL);
}

static void test_unreachable_falls_back_to_local(void **st)
{
    (void)st;
    struct policy_state s = state(9, 0);
    s.cloud.reachable = 0;
    struct policy_decision d = decide("always_cloud_lowest_delay", &s);
    assert_int_equal(d.dest, POLICY_LOCAL);
    assert_int_equal(d.fallback, 1);
    d = decide("edge_cloud_threshold", &s);
    assert_int_equal(d.dest, POLICY_LOCAL);
    assert_int_equal(d.fallback, 1);
}

static void test_adaptive(void **st)
{
    (void)st;
    struct policy_state s = state(2, 0); /* 3 x 30 ms locally: meets 200 ms */
    assert_int_equal(decide("adaptive", &s).dest, POLICY_LOCAL);

    s.local_queue_len = 10; /* 330 ms locally: offload */
    s.jpeg_bpp = 0.2;
    s.jpeg_bpp_quality = 75;
    struct policy_decision fast = decide("adaptive", &s);
    assert_int_equal(fast.dest, POLICY_CLOUD);
    s.cloud.bandwidth_Bps = 2.5e5; /* 2 Mbit/s: must shrink */
    struct policy_decision slow = decide("adaptive", &s);
    assert_int_equal(slow.dest, POLICY_CLOUD);
    int fast_h = fast.height ? fast.height : s.frame_h, slow_h = slow.height ? slow.height : s.frame_h;
    assert_true(slow_h < fast_h || (slow_h == fast_h && slow.quality < fast.quality));
    assert_true(slow_h >= 240 && slow.quality >= 50);

    s.cloud.bandwidth_Bps = 1e3; /* hopeless link: the fastest option, which is local */
    assert_int_equal(decide("adaptive", &s).dest, POLICY_LOCAL);
    s.cloud.reachable = 0;
    s.npeers = 1;
    s.peers[0] = (struct policy_link){1, 0, 1, 1e8, 20}; /* idle fast peer */
    assert_int_equal(decide("adaptive", &s).dest, POLICY_PEER);
}

static void test_assisted_regions(void **st)
{
    (void)st;
    struct policy_params p;
    policy_params_default(&p);
    struct det_list l = {0};
    det_list_push(&l, (struct det){0, 0, 50, 50, 0.9f, 0});     /* confident */
    det_list_push(&l, (struct det){5, 5, 50, 50, 0.4f, 0});     /* overlaps the confident box */
    det_list_push(&l, (struct det){100, 100, 140, 140, 0.4f, 1}); /* uncertain, small: sent */
    det_list_push(&l, (struct det){100, 100, 140, 140, 0.1f, 1}); /* too unsure */
    det_list_push(&l, (struct det){0, 0, 300, 300, 0.5f, 2});  /* > 10% of 640x480 */
    det_list_push(&l, (struct det){200, 10, 220, 30, 0.2f, 3}); /* low bound is inclusive */
    det_list_push(&l, (struct det){300, 10, 320, 30, 0.6f, 3}); /* high bound is exclusive */
    int idx[8];
    int n = policy_assisted_regions(&p, &l, 640, 480, idx, 8);
    assert_int_equal(n, 2);
    assert_int_equal(idx[0], 2);
    assert_int_equal(idx[1], 5);
    assert_int_equal(policy_assisted_regions(&p, &l, 640, 480, idx, 1), 1);
    det_list_free(&l);
}

static void test_plugin(void **st)
{
    (void)st;
    ec_err err = {0};
    policy *pol = policy_create(NULL, PLUGIN_OK, "least_loaded_decide", NULL, &err);
    assert_non_null(pol);
    assert_string_equal(policy_name(pol), "plugin:least_loaded_decide");
    struct policy_state s = state(8, 1);
    s.peers[0].queue_len = 0; /* 30 + 2 ms beats local 270 ms and cloud 10 + 20 ms? no: cloud wins */
    struct policy_decision d;
    assert_int_equal(policy_decide(pol, &s, &d), 0);
    assert_int_equal(d.dest, POLICY_CLOUD);
    s.cloud.reachable = 0;
    assert_int_equal(policy_decide(pol, &s, &d), 0);
    assert_int_equal(d.dest, POLICY_PEER);
    policy_destroy(pol);

    assert_null(policy_create(NULL, PLUGIN_BAD, NULL, NULL, &err));
    assert_int_equal(err.code, EC_EUNSUPPORTED);
    assert_null(policy_create(NULL, PLUGIN_OK, "no_such_symbol", NULL, &err));
    assert_non_null(strstr(err.msg, "no_such_symbol"));
    assert_null(policy_create(NULL, "/nonexistent/policy.so", NULL, NULL, &err));
    assert_int_equal(err.code, EC_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_lists_every_policy),
        cmocka_unit_test(test_edge_shortest),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_smarteye),
        cmocka_unit_test(test_unreachable_falls_back_to_local),
        cmocka_unit_test(test_adaptive),
        cmocka_unit_test(test_assisted_regions),
        cmocka_unit_test(test_plugin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
