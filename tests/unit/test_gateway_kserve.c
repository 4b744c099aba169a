/* KServe v2: our backend's /v2 routes (the contract a Triton model must meet) and the gateway
 * forwarding to a `kind: kserve` backend end to end, on loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "core/clock.h"
#include "gateway/gateway.h"
#include "support/infer_server.h"
#include "support/pattern_frame.h"
#include "support/tiny_model.h"
#include "video/video.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *ARCH =
    "{\"input\":{\"h\":64,\"w\":64,\"c\":3},\"num_classes\":3,\"layers\":["
    "{\"name\":\"c1\",\"type\":\"conv\",\"filters\":8,\"size\":3,\"stride\":2,\"bias\":0},"
    "{\"name\":\"b1\",\"type\":\"bn\"},{\"name\":\"a1\",\"type\":\"silu\"},"
    "{\"name\":\"c2\",\"type\":\"conv\",\"filters\":16,\"size\":3,\"stride\":2},"
    "{\"name\":\"head\",\"type\":\"conv\",\"filters\":8,\"size\":1}]}";

struct fx {
    struct test_infer_server net;
    char path[64];
};

/* 24 x 16: gradients with a bright vertical band. */
static void gradient_and_band(int x, int y, uint8_t *p)
{
    p[0] = (uint8_t)(x * 10), p[1] = (uint8_t)(y * 15), p[2] = (x > 8 && x < 16) ? 250 : 20;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/edgecam-gwk-%d.model", (int)getpid());
    tiny_model_save(ARCH, 11, f->path);
    struct infer_model_spec models[] = {{"m", f->path}};
    struct infer_service_opts o = {.models = models, .nmodels = 1, .workers = 2, .queue_size = 8,
                                   .score_thresh = 0.0f, .role = "backend"};
    test_infer_server_start(&f->net, &(struct test_infer_server_opts){
        .service = &o, .server = {.thread_per_connection = 1}, .kserve = 1,
        .frame = {24, 16, 92, gradient_and_band}});
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    test_infer_server_stop(&f->net);
    unlink(f->path);
    free(f);
    return 0;
}

static long get(struct fx *f, const char *path)
{
    char url[160];
    snprintf(url, sizeof url, "%s%s", f->net.url, path);
    struct http_client_result res;
    http_client_request(f->net.cli, "GET", url, NULL, NULL, 0, NULL, &res, NULL);
    return res.status;
}

static long post_v2(struct fx *f, const char *model, const char *json, const void *bin,
                    size_t binlen, long hdr_len, struct http_client_result *res)
{
    char url[160], hl[64];
    snprintf(url, sizeof url, "%s/v2/models/%s/infer", f->net.url, model);
    size_t jl = strlen(json);
    uint8_t *body = malloc(jl + binlen + 1);
    memcpy(body, json, jl);
    if (binlen)
        memcpy(body + jl, bin, binlen);
    snprintf(hl, sizeof hl, "Inference-Header-Content-Length: %ld", hdr_len >= 0 ? hdr_len : (long)jl);
    const char *hdrs[] = {hl, NULL};
    http_client_request(f->net.cli, "POST", url, bin || hdr_len >= 0 ? hdrs : NULL, body,
                        jl + binlen, "application/octet-stream", res, NULL);
    free(body);
    return res->status;
}

static void test_kserve_routes_and_json_tensors(void **state)
{
    struct fx *f = *state;
    assert_int_equal(get(f, "/v2/health/ready"), 200);
    assert_int_equal(get(f, "/v2/health/live"), 200);
    assert_int_equal(get(f, "/v2/models/m/ready"), 200);
    assert_int_equal(get(f, "/v2/models/zz/ready"), 404);
    assert_int_equal(get(f, "/v2/models/m"), 200);
    assert_int_equal(get(f, "/v2/models/m/infer"), 405);

    /* JSON data, JSON answer: 24x16 image as numbers. */
    cJSON *req = cJSON_CreateObject();
    cJSON *inputs = cJSON_AddArrayToObject(req, "inputs");
    cJSON *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "name", "image");
    cJSON_AddStringToObject(in, "datatype", "UINT8");
    int shape[] = {1, 16, 24, 3};
    cJSON_AddItemToObject(in, "shape", cJSON_CreateIntArray(shape, 4));
    cJSON *data = cJSON_AddArrayToObject(in, "data");
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 72; x++)
            cJSON_AddItemToArray(data, cJSON_CreateNumber(image_row(f->net.frame, y)[x]));
    cJSON_AddItemToArray(inputs, in);
    char *json = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    struct http_client_result res;
    assert_int_equal(post_v2(f, "m", json, NULL, 0, -1, &res), 200);
    free(json);
    cJSON *ans = cJSON_ParseWithLength((const char *)res.body, res.body_len);
    assert_non_null(ans);
    cJSON *out = cJSON_GetArrayItem(cJSON_GetObjectItem(ans, "outputs"), 0);
    assert_string_equal(cJSON_GetObjectItem(out, "name")->valuestring, "detections");
    assert_string_equal(cJSON_GetObjectItem(out, "datatype")->valuestring, "FP32");
    int n = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "shape"), 0)->valueint;
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "data")), 6 * n);
    struct det_list local = {0};
    assert_int_equal(infer_service_run(f->net.svc, "m", f->net.frame, &local, NULL, NULL), 0);
    assert_int_equal(n, local.n);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        const cJSON *d = cJSON_GetObjectItem(out, "data");
        assert_true(fabs(cJSON_GetArrayItem(d, 6 * i)->valuedouble - local.v[i].x1) < 1e-3);
        assert_true(fabs(cJSON_GetArrayItem(d, 6 * i + 4)->valuedouble - local.v[i].score) < 1e-6);
        assert_int_equal(cJSON_GetArrayItem(d, 6 * i + 5)->valueint, local.v[i].cls);
    }
    det_list_free(&local);
    cJSON_Delete(ans);
}

static void test_kserve_rejects_malformed_tensors(void **state)
{
    struct fx *f = *state;
    uint8_t px[4 * 4 * 3] = {0};
    struct http_client_result res;
    const char *good = "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4,3],\"datatype\":\"UINT8\","
                       "\"parameters\":{\"binary_data_size\":48}}]}";
    assert_int_equal(post_v2(f, "m", good, px, sizeof px, -1, &res), 200);
    /* JSON answer */
    assert_null(http_client_header(f->net.cli, "Inference-Header-Content-Length"));
    const char *bin_out = "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4,3],\"datatype\":\"UINT8\","
                          "\"parameters\":{\"binary_data_size\":48}}],\"outputs\":[{\"name\":"
                          "\"detections\",\"parameters\":{\"binary_data\":true}}]}";
    assert_int_equal(post_v2(f, "m", bin_out, px, sizeof px, -1, &res), 200);
    const char *hl = http_client_header(f->net.cli, "Inference-Header-Content-Length");
    assert_non_null(hl);
    cJSON *ans = cJSON_ParseWithLength((const char *)res.body, (size_t)atol(hl));
    cJSON *out = cJSON_GetArrayItem(cJSON_GetObjectItem(ans, "outputs"), 0);
    int n = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "shape"), 0)->valueint;
    assert_int_equal((size_t)atol(hl) + (size_t)n * 24, res.body_len);
    cJSON_Delete(ans);
    assert_int_equal(post_v2(f, "nope", good, px, sizeof px, -1, &res), 404);
    assert_non_null(strstr((const char *)res.body, "unknown model 'nope'"));
    /* Too few pixel bytes for the declared shape. */
    assert_int_equal(post_v2(f, "m", good, px, 40, -1, &res), 400);
    const char *four_ch = "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,3,4],\"datatype\":\"UINT8\","
                          "\"parameters\":{\"binary_data_size\":48}}]}";
    assert_int_equal(post_v2(f, "m", four_ch, px, sizeof px, -1, &res), 400);
    const char *fp = "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4,4,3],\"datatype\":\"FP32\","
                     "\"parameters\":{\"binary_data_size\":48}}]}";
    assert_int_equal(post_v2(f, "m", fp, px, sizeof px, -1, &res), 400);
    const char *huge = "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,100000,4,3],\"datatype\":\"UINT8\","
                       "\"parameters\":{\"binary_data_size\":48}}]}";
    assert_int_equal(post_v2(f, "m", huge, px, sizeof px, -1, &res), 400);
    /* Header length past the body, and a header that is not JSON. */
    assert_int_equal(post_v2(f, "m", good, px, sizeof px, 100000, &res), 400);
    assert_int_equal(post_v2(f, "m", "[1,2,3]", NULL, 0, -1, &res), 400);
    assert_int_equal(post_v2(f, "m", "{\"inputs\":[]}", NULL, 0, -1, &res), 400);
}

static gateway *kserve_gateway(struct fx *f, const char *url)
{
    struct gateway_backend_spec spec = {"triton", url, GATEWAY_BACKEND_KSERVE};
    struct gateway_opts o = {.backends = &spec, .nbackends = 1, .retry = 1,
                             .monitor_interval_s = 0.05, .default_model = "m", .eject_after = 1};
    ec_err err = {0};
    gateway *g = gateway_create(&o, &err);
    assert_non_null(g);
    assert_int_equal(gateway_start(g, &err), 0);
    (void)f;
    return g;
}

static void test_gateway_to_kserve_backend_end_to_end(void **state)
{
    struct fx *f = *state;
    gateway *g = kserve_gateway(f, f->net.url);
    struct gateway_backend_status bs;
    gateway_backend_status(g, 0, &bs);
    assert_true(bs.healthy && !bs.ejected && bs.polls >= 1);

    char gurl[96], burl[96];
    snprintf(gurl, sizeof gurl, "http://127.0.0.1:%u/v1/infer", gateway_port(g));
    snprintf(burl, sizeof burl, "%s/v1/infer", f->net.url);
    const char *hdrs[] = {"X-Edgecam-Edge: edge-1", "X-Edgecam-Frame: 3", NULL};
    struct http_client_result res;
    struct det_list via = {0}, direct = {0};
    assert_int_equal(http_client_request(f->net.cli, "POST", gurl, hdrs, f->net.jpeg,
                                         f->net.jpeg_len, "image/jpeg", &res, NULL), 0);
    assert_string_equal(http_client_header(f->net.cli, "X-Edgecam-Backend"), "triton");
    cJSON *root = cJSON_ParseWithLength((const char *)res.body, res.body_len);
    assert_string_equal(cJSON_GetObjectItem(root, "model")->valuestring, "m");
    assert_int_equal(cJSON_GetObjectItem(root, "width")->valueint, 24);
    assert_int_equal(wire_dets_from_cjson(root, &via, NULL), 0);
    cJSON_Delete(root);
    assert_int_equal(http_client_request(f->net.cli, "POST", burl, hdrs, f->net.jpeg,
                                         f->net.jpeg_len, "image/jpeg", &res, NULL), 0);
    assert_int_equal(wire_dets_from_json((const char *)res.body, res.body_len, &direct, NULL), 0);
    /* Same decoder, same pixels, same model: the same detections. */
    assert_true(via.n > 0);
    assert_int_equal(via.n, direct.n);
    for (int i = 0; i < via.n; i++) {
        assert_true(fabsf(via.v[i].x1 - direct.v[i].x1) < 1e-3f);
        assert_true(fabsf(via.v[i].y2 - direct.v[i].y2) < 1e-3f);
        assert_true(fabsf(via.v[i].score - direct.v[i].score) < 1e-5f);
        assert_int_equal(via.v[i].cls, direct.v[i].cls);
    }
    det_list_free(&via);
    det_list_free(&direct);

    /* Unknown model: the server's 404 and message reach the edge, no retry, no ejection. */
    const char *bad[] = {"X-Edgecam-Edge: edge-1", "X-Edgecam-Frame: 4", "X-Edgecam-Model: nope", NULL};
    http_client_request(f->net.cli, "POST", gurl, bad, f->net.jpeg, f->net.jpeg_len, "image/jpeg",
                        &res, NULL);
    assert_int_equal(res.status, 404);
    assert_non_null(strstr((const char *)res.body, "unknown model 'nope'"));
    /* Not a JPEG: 400 before anything is sent. */
    http_client_request(f->net.cli, "POST", gurl, hdrs, "notjpeg", 7, "image/jpeg", &res, NULL);
    assert_int_equal(res.status, 400);
    gateway_backend_status(g, 0, &bs);
    assert_int_equal(bs.failures, 0);
    assert_int_equal(bs.ejected, 0);
    gateway_destroy(g);
}

static void test_kserve_backend_down_is_ejected(void **state)
{
    struct fx *f = *state;
    gateway *g = kserve_gateway(f, "http://127.0.0.1:1");
    struct gateway_backend_status bs;
    gateway_backend_status(g, 0, &bs);
    assert_int_equal(bs.healthy, 0);
    assert_int_equal(bs.ejected, 1);
    char gurl[96];
    snprintf(gurl, sizeof gurl, "http://127.0.0.1:%u/v1/infer", gateway_port(g));
    const char *hdrs[] = {"X-Edgecam-Edge: edge-1", "X-Edgecam-Frame: 3", NULL};
    struct http_client_result res;
    http_client_request(f->net.cli, "POST", gurl, hdrs, f->net.jpeg, f->net.jpeg_len, "image/jpeg",
                        &res, NULL);
    assert_int_equal(res.status, 503);
    assert_non_null(strstr((const char *)res.body, "no healthy backend"));
    snprintf(gurl, sizeof gurl, "http://127.0.0.1:%u/v1/health", gateway_port(g));
    http_client_request(f->net.cli, "GET", gurl, NULL, NULL, 0, NULL, &res, NULL);
    assert_int_equal(res.status, 503);
    gateway_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kserve_routes_and_json_tensors),
        cmocka_unit_test(test_kserve_rejects_malformed_tensors),
        cmocka_unit_test(test_gateway_to_kserve_backend_end_to_end),
        cmocka_unit_test(test_kserve_backend_down_is_ejected),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
