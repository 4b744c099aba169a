/* net wire format (detections JSON, frame metadata headers) and metrics text format. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "net/net.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_dets_round_trip(void **state)
{
    (void)state;
    struct det_list in = {0}, out = {0};
    det_list_push(&in, (struct det){10.5f, 20, 110, 220.25f, 0.9f, 0});
    det_list_push(&in, (struct det){0, 0, 1, 1, 0.0f, 999});
    det_list_push(&in, (struct det){-5, -5, 3000, 2000, 1.0f, 7});
    det_list_push(&in, (struct det){1.0f / 3, 0.1f, 123456.789f, 1e-7f, 0.123456789f, 3});
    in.v[3].y2 = 0.2f;
    ec_err e;
    char *json = wire_dets_to_json(&in, &e);
    assert_non_null(json);
    assert_non_null(strstr(json, "{\"detections\":[{\"cls\":0,\"score\":0.9,\"box\":[10.5,20,110,220.25]},"));
    assert_int_equal(wire_dets_from_json(json, strlen(json), &out, &e), 0);
    assert_int_equal(out.n, in.n);
    /* Floats survive the trip bit for bit. */
    assert_memory_equal(out.v, in.v, sizeof(struct det) * (size_t)in.n);
    free(json);

    /* Empty list is valid both ways; extra fields are kept by callers via to_cjson. */
    struct det_list empty = {0};
    json = wire_dets_to_json(&empty, &e);
    assert_string_equal(json, "{\"detections\":[]}");
    free(json);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "frame", 42);
    assert_int_equal(wire_dets_to_cjson(&in, root, &e), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "detections")), in.n);
    assert_int_equal(cJSON_GetObjectItem(root, "frame")->valueint, 42);
    cJSON_Delete(root);
    det_list_free(&in);
    det_list_free(&out);
}

static void test_dets_to_json_rejects_invalid(void **state)
{
    (void)state;
    struct det bad[] = {
        {0, 0, NAN, 1, 0.5f, 0}, {0, 0, 1, 1, INFINITY, 0}, {5, 0, 1, 1, 0.5f, 0},
        {0, 0, 1, 1, 0.5f, -1},  {0, 0, 1, 1, 1.5f, 0},     {0, 0, 1, 2e7f, 0.5f, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct det_list l = {0};
        det_list_push(&l, bad[i]);
        ec_err e;
        ec_err_clear(&e);
        assert_null(wire_dets_to_json(&l, &e));
        assert_int_equal(e.code, EC_EINVAL);
        det_list_free(&l);
    }
}

static void test_dets_from_json_rejects_hostile(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "{",
        "[]",
        "null",
        "{\"detections\":{}}",
        "{\"detections\":\"x\"}",
        "{\"dets\":[]}",
        "{\"detections\":[1]}",
        "{\"detections\":[{\"cls\":0,\"score\":NaN,\"box\":[0,0,1,1]}]}",
        "{\"detections\":[{\"cls\":0,\"score\":0.5,\"box\":[0,0,1e999,1]}]}",
        "{\"detections\":[{\"cls\":0,\"score\":0.5,\"box\":[0,0,-1e999,1]}]}",
        "{\"detections\":[{\"cls\":\"0\",\"score\":0.5,\"box\":[0,0,1,1]}]}",
        "{\"detections\":[{\"cls\":1.5,\"score\":0.5,\"box\":[0,0,1,1]}]}",
        "{\"detections\":[{\"cls\":-1,\"score\":0.5,\"box\":[0,0,1,1]}]}",
        "{\"detections\":[{\"cls\":1000,\"score\":0.5,\"box\":[0,0,1,1]}]}",
        "{\"detections\":[{\"cls\":1e300,\"score\":0.5,\"box\":[0,0,1,1]}]}",
        "{\"detections\":[{\"cls\":0,\"score\":1.01,\"box\":[0,0,1,1]}]}",
        "{\"detections\":[{\"cls\":0,\"score\":true,\"box\":[0,0,1,1]}]}",
        "{\"detections\":[{\"cls\":0,\"box\":[0,0,1,1]}]}",
        "{\"detections\":[{\"cls\":0,\"score\":0.5,\"box\":[0,0,1]}]}",
        "{\"detections\":[{\"cls\":0,\"score\":0.5,\"box\":[0,0,1,1,1]}]}",
        "{\"detections\":[{\"cls\":0,\"score\":0.5,\"box\":[0,0,\"1\",1]}]}",
        "{\"detections\":[{\"cls\":0,\"score\":0.5,\"box\":[5,0,1,1]}]}",
        "{\"detections\":[{\"cls\":0,\"score\":0.5,\"box\":[0,3,1,3]}]}",
        "{\"detections\":[{\"cls\":0,\"score\":0.5,\"box\":[0,0,1,2e6]}]}",
        "{\"detections\":[{\"cls\":0,\"score\":0.5,\"box\":{\"x\":1}}]}",
        "{\"detections\":[{\"cls\":0,\"score\":0.5,\"box\":[0,0,1,1]},null]}",
    };
    struct det_list out = {0};
    det_list_push(&out, (struct det){0, 0, 1, 1, 1, 0}); /* must survive every failure */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ec_err e;
        ec_err_clear(&e);
        int rc = wire_dets_from_json(bad[i], strlen(bad[i]), &out, &e);
        if (rc != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(e.code, EC_EFORMAT);
        assert_true(e.msg[0] != '\0');
        assert_int_equal(out.n, 1);
    }
    det_list_free(&out);
}

static void test_dets_from_json_limits(void **state)
{
    (void)state;
    const char *one = "{\"cls\":1,\"score\":0.5,\"box\":[0,0,1,1]},";
    size_t one_len = strlen(one);
    for (int count = WIRE_MAX_DETS; count <= WIRE_MAX_DETS + 1; count++) {
        size_t cap = one_len * (size_t)count + 64;
        char *text = malloc(cap);
        size_t n = (size_t)sprintf(text, "{\"detections\":[");
        for (int i = 0; i < count; i++) {
            memcpy(text + n, one, one_len);
            n += one_len;
        }
        n--; /* last comma */
        n += (size_t)sprintf(text + n, "]}");
        struct det_list out = {0};
        ec_err e;
        int rc = wire_dets_from_json(text, n, &out, &e);
        if (count == WIRE_MAX_DETS) {
            assert_int_equal(rc, 0);
            assert_int_equal(out.n, WIRE_MAX_DETS);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(out.n, 0);
            assert_non_null(strstr(e.msg, "more than"));
        }
        det_list_free(&out);
        free(text);
    }
    /* Deep nesting and oversize text are refused without crashing. */
    size_t depth = 100000;
    char *deep = malloc(depth + 1);
    memset(deep, '[', depth);
    deep[depth] = '\0';
    struct det_list out = {0};
    assert_int_equal(wire_dets_from_json(deep, depth, &out, NULL), -1);
    free(deep);
    assert_int_equal(wire_dets_from_json("{}", WIRE_MAX_JSON_BYTES + 1, &out, NULL), -1);
    /* Length is honoured: trailing garbage past len is never read. */
    const char *ok = "{\"detections\":[]}GARBAGE";
    assert_int_equal(wire_dets_from_json(ok, strlen("{\"detections\":[]}"), &out, NULL), 0);
    assert_int_equal(wire_dets_from_json(ok, strlen(ok), &out, NULL), -1);
}

/* Seeded random byte mutations of a valid document: never a crash, and
 * whatever is accepted satisfies every documented invariant. */
static void test_dets_from_json_mutations(void **state)
{
    (void)state;
    const char *base = "{\"detections\":[{\"cls\":3,\"score\":0.75,\"box\":[1.5,2,30,40]},"
                       "{\"cls\":0,\"score\":1,\"box\":[0,0,640,480]}],\"model\":\"tiny\"}";
    const char alphabet[] = "0123456789.-+eE,:[]{}\" \\naNIfinty\x00\xff";
    size_t n = strlen(base);
    char buf[256];
    unsigned seed = 12345;
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, base, n);
        int edits = 1 + (int)(rand_r(&seed) % 3);
        for (int k = 0; k < edits; k++)
            buf[rand_r(&seed) % n] = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
        struct det_list out = {0};
        if (wire_dets_from_json(buf, n, &out, NULL) == 0) {
            accepted++;
            assert_true(out.n <= 2);
            for (int i = 0; i < out.n; i++) {
                const struct det *d = &out.v[i];
                assert_true(d->cls >= 0 && d->cls < WIRE_MAX_CLASSES);
                assert_true(d->score >= 0 && d->score <= 1);
                assert_true(d->x1 < d->x2 && d->y1 < d->y2);
                assert_true(isfinite(d->x1) && isfinite(d->y1) && isfinite(d->x2) && isfinite(d->y2));
            }
        }
        det_list_free(&out);
    }
    /* Many mutations hit digits and stay valid; most others break the document. */
    assert_true(accepted > 100 && accepted < 20000);
}

static void test_dets_rescale(void **state)
{
    (void)state;
    struct det_list l = {0};
    det_list_push(&l, (struct det){32, 24, 64, 48, 0.5f, 1});
    det_list_push(&l, (struct det){300, 200, 330, 250, 0.5f, 1}); /* past the edge: clamped */
    wire_dets_rescale(&l, 320, 240, 1280, 720);
    assert_float_equal(l.v[0].x1, 128, 1e-4);
    assert_float_equal(l.v[0].y1, 72, 1e-4);
    assert_float_equal(l.v[0].x2, 256, 1e-4);
    assert_float_equal(l.v[0].y2, 144, 1e-4);
    assert_float_equal(l.v[1].x2, 1280, 1e-4);
    assert_float_equal(l.v[1].y2, 720, 1e-4);
    det_list_free(&l);
}

static void test_meta_headers(void **state)
{
    (void)state;
    struct wire_frame_meta m = {.edge = "edge-1", .frame = 1234567890123LL, .model = "yolo.tiny",
                                .orig_w = 1920, .orig_h = 1080};
    struct wire_meta_headers h;
    assert_int_equal(wire_meta_to_headers(&m, &h, NULL), 0);
    assert_string_equal(h.list[0], "X-Edgecam-Edge: edge-1");
    assert_string_equal(h.list[1], "X-Edgecam-Frame: 1234567890123");
    assert_string_equal(h.list[2], "X-Edgecam-Model: yolo.tiny");
    assert_string_equal(h.list[3], "X-Edgecam-Orig-Width: 1920");
    assert_string_equal(h.list[4], "X-Edgecam-Orig-Height: 1080");
    assert_null(h.list[5]);

    struct wire_frame_meta minimal = {.edge = "e", .frame = 0};
    assert_int_equal(wire_meta_to_headers(&minimal, &h, NULL), 0);
    assert_null(h.list[2]);

    struct wire_frame_meta bad[] = {
        {.edge = "", .frame = 1},
        {.edge = "a b", .frame = 1},
        {.edge = "a\r\nX-Evil: 1", .frame = 1},
        {.edge = "e", .frame = -1},
        {.edge = "e", .frame = 1, .model = "../../etc/passwd"},
        {.edge = "e", .frame = 1, .orig_w = 640},
        {.edge = "e", .frame = 1, .orig_w = 9000, .orig_h = 10},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ec_err e;
        assert_int_equal(wire_meta_to_headers(&bad[i], &h, &e), -1);
        assert_int_equal(e.code, EC_EFORMAT);
    }
}

static void test_metrics_text_format(void **state)
{
    (void)state;
    metrics *m = metrics_create();
    metric *req_ok = metrics_counter(m, "edgecam_requests_total", "code=\"200\"", "Requests served.");
    metric *req_bad = metrics_counter(m, "edgecam_requests_total", "code=\"404\"", "Requests served.");
    metric *q = metrics_gauge(m, "edgecam_queue_len", NULL, "Frames waiting.\nSecond line");
    double bounds[] = {0.01, 0.1, 1};
    metric *lat = metrics_histogram(m, "edgecam_infer_seconds", "model=\"tiny\"", "Latency.", bounds, 3);
    assert_non_null(req_ok);
    assert_non_null(req_bad);
    assert_non_null(q);
    assert_non_null(lat);
    /* Same family+labels returns the same series; type clash or bad names fail. */
    assert_ptr_equal(metrics_counter(m, "edgecam_requests_total", "code=\"200\"", NULL), req_ok);
    assert_null(metrics_gauge(m, "edgecam_requests_total", "code=\"500\"", NULL));
    assert_null(metrics_counter(m, "9bad", NULL, NULL));
    assert_null(metrics_counter(m, "bad-name", NULL, NULL));
    assert_null(metrics_counter(m, "ok", "code=200", NULL));
    assert_null(metrics_counter(m, "ok", "code=\"2\nx\"", NULL));
    assert_null(metrics_counter(m, "ok", "a=\"1\"b=\"2\"", NULL));
    double unsorted[] = {1, 0.5};
    assert_null(metrics_histogram(m, "h", NULL, NULL, unsorted, 2));

    metric_inc(req_ok);
    metric_add(req_ok, 2.5);
    metric_add(req_ok, -10); /* ignored: counters never go down */
    metric_inc(req_bad);
    metric_set(q, 7);
    metric_add(q, -2);
    metric_observe(lat, 0.005);
    metric_observe(lat, 0.05);
    metric_observe(lat, 0.1); /* le is inclusive */
    metric_observe(lat, 3);
    assert_float_equal(metric_value(req_ok), 3.5, 1e-12);
    assert_float_equal(metric_value(q), 5, 1e-12);
    assert_float_equal(metric_value(lat), 4, 1e-12);

    size_t len;
    char *text = metrics_render(m, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    const char *expect =
        "# HELP edgecam_requests_total Requests served.\n"
        "# TYPE edgecam_requests_total counter\n"
        "edgecam_requests_total{code=\"200\"} 3.5\n"
        "edgecam_requests_total{code=\"404\"} 1\n"
        "# HELP edgecam_queue_len Frames waiting.\\nSecond line\n"
        "# TYPE edgecam_queue_len gauge\n"
        "edgecam_queue_len 5\n"
        "# HELP edgecam_infer_seconds Latency.\n"
        "# TYPE edgecam_infer_seconds histogram\n"
        "edgecam_infer_seconds_bucket{model=\"tiny\",le=\"0.01\"} 1\n"
        "edgecam_infer_seconds_bucket{model=\"tiny\",le=\"0.1\"} 3\n"
        "edgecam_infer_seconds_bucket{model=\"tiny\",le=\"1\"} 3\n"
        "edgecam_infer_seconds_bucket{model=\"tiny\",le=\"+Inf\"} 4\n"
        "edgecam_infer_seconds_sum{model=\"tiny\"} 3.155\n"
        "edgecam_infer_seconds_count{model=\"tiny\"} 4\n";
    assert_string_equal(text, expect);
    free(text);
    metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dets_round_trip),
        cmocka_unit_test(test_dets_to_json_rejects_invalid),
        cmocka_unit_test(test_dets_from_json_rejects_hostile),
        cmocka_unit_test(test_dets_from_json_limits),
        cmocka_unit_test(test_dets_from_json_mutations),
        cmocka_unit_test(test_dets_rescale),
        cmocka_unit_test(test_meta_headers),
        cmocka_unit_test(test_metrics_text_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
