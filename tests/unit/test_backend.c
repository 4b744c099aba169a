/* The inference service over real HTTP on loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "support/infer_server.h"
#include "support/pattern_frame.h"
#include "support/tiny_model.h"
#include "video/video.h"

#include <cjson/cJSON.h>
#include <pthread.h>
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

struct fx {
    struct test_infer_server net;
    char path_a[64], path_b[64];
};

/* A frame with structure: gradient plus a bright block. */
static void gradient_and_block(int x, int y, uint8_t *p)
{
    p[0] = (uint8_t)(x * 2), p[1] = (uint8_t)(y * 3), p[2] = 80;
    if (x > 30 && x < 60 && y > 20 && y < 40)
        p[0] = p[1] = p[2] = 250;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->path_a, sizeof f->path_a, "/tmp/edgecam-backend-a-%d.model", (int)getpid());
    snprintf(f->path_b, sizeof f->path_b, "/tmp/edgecam-backend-b-%d.model", (int)getpid());
    tiny_model_save(ARCH, 1, f->path_a);
    tiny_model_save(ARCH, 2, f->path_b);
    struct infer_model_spec models[] = {{"a", f->path_a}, {"b", f->path_b}};
    struct infer_service_opts o = {.models = models, .nmodels = 2, .workers = 2, .queue_size = 4,
                                   .score_thresh = 0.0f, .role = "backend"};
    test_infer_server_start(&f->net, &(struct test_infer_server_opts){
        .service = &o, .server = {.thread_per_connection = 1},
        .frame = {96, 64, 95, gradient_and_block}});
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    test_infer_server_stop(&f->net);
    unlink(f->path_a);
    unlink(f->path_b);
    free(f);
    return 0;
}

static int post(struct fx *f, const char *model, const void *body, size_t len, const char *ctype,
                struct http_client_result *res)
{
    char url[160], mh[96];
    snprintf(url, sizeof url, "%s/v1/infer", f->net.url);
    snprintf(mh, sizeof mh, "X-Edgecam-Model: %s", model);
    const char *hdrs[] = {"X-Edgecam-Edge: edge-1", "X-Edgecam-Frame: 7", mh, NULL};
    return http_client_request(f->net.cli, "POST", url, hdrs, body, len, ctype, res, NULL);
}

static void test_infer_matches_in_process_run(void **state)
{
    struct fx *f = *state;
    struct http_client_result res;
    assert_int_equal(post(f, "a", f->net.jpeg, f->net.jpeg_len, "image/jpeg", &res), 0);
    assert_int_equal(res.status, 200);
    cJSON *root = cJSON_ParseWithLength((const char *)res.body, res.body_len);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(root, "model")->valuestring, "a");
    assert_int_equal(cJSON_GetObjectItem(root, "width")->valueint, 96);
    struct det_list remote = {0}, local = {0};
    assert_int_equal(wire_dets_from_cjson(root, &remote, NULL), 0);
    cJSON_Delete(root);

    /* Same decoded pixels, same model file, in process. */
    ec_err err = {0};
    jpeg_codec *c = jpeg_codec_create(&err);
    image *img = NULL;
    assert_int_equal(jpeg_decode(c, f->net.jpeg, f->net.jpeg_len, &img, &err), 0);
    detector *d = detector_load(f->path_a, &err);
    assert_int_equal(detector_run(d, img, 0.0f, &local, &err), 0);
    assert_true(local.n > 0);
    assert_int_equal(remote.n, local.n);
    for (int i = 0; i < local.n; i++) {
        assert_int_equal(remote.v[i].cls, local.v[i].cls);
        assert_float_equal(remote.v[i].score, local.v[i].score, 1e-4);
        assert_float_equal(remote.v[i].x1, local.v[i].x1, 1e-2);
        assert_float_equal(remote.v[i].y2, local.v[i].y2, 1e-2);
    }
    detector_destroy(d);
    image_destroy(img);
    jpeg_codec_destroy(c);
    det_list_free(&remote);
    det_list_free(&local);
}

static void test_bad_requests(void **state)
{
    struct fx *f = *state;
    struct http_client_result res;
    assert_int_equal(post(f, "nope", f->net.jpeg, f->net.jpeg_len, "image/jpeg", &res), -1);
    assert_int_equal(res.status, 404);
    assert_non_null(strstr((const char *)res.body, "unknown model 'nope'"));
    assert_int_equal(post(f, "a", f->net.jpeg, f->net.jpeg_len, "text/plain", &res), -1);
    assert_int_equal(res.status, 415);
    assert_int_equal(post(f, "a", "\xff\xd8garbage", 9, "image/jpeg", &res), -1);
    assert_int_equal(res.status, 400);
    assert_int_equal(post(f, "a", f->net.jpeg, f->net.jpeg_len / 2, "image/jpeg", &res), -1);
    assert_int_equal(res.status, 400);
    /* The server is still fine. */
    assert_int_equal(post(f, "b", f->net.jpeg, f->net.jpeg_len, "image/jpeg", &res), 0);
    assert_int_equal(res.status, 200);
}

static void test_status_and_hot_swap(void **state)
{
    struct fx *f = *state;
    struct http_client_result res;
    assert_int_equal(post(f, "a", f->net.jpeg, f->net.jpeg_len, "image/jpeg", &res), 0);
    char first[8192];
    snprintf(first, sizeof first, "%.*s", (int)res.body_len, (const char *)res.body);

    ec_err err = {0};
    detector *d = detector_load(f->path_b, &err);
    assert_int_equal(infer_service_swap(f->net.svc, "a", d, 2, &err), 0);
    assert_int_equal(post(f, "a", f->net.jpeg, f->net.jpeg_len, "image/jpeg", &res), 0);
    cJSON *root = cJSON_ParseWithLength((const char *)res.body, res.body_len);
    assert_int_equal(cJSON_GetObjectItem(root, "model_version")->valueint, 2);
    cJSON_Delete(root);
    assert_true(strstr(first, "\"model_version\":1") != NULL);

    char url[160];
    snprintf(url, sizeof url, "%s/v1/status", f->net.url);
    assert_int_equal(
        http_client_request(f->net.cli, "GET", url, NULL, NULL, 0, NULL, &res, NULL), 0);
    root = cJSON_ParseWithLength((const char *)res.body, res.body_len);
    cJSON *models = cJSON_GetObjectItem(root, "models");
    assert_int_equal(cJSON_GetArraySize(models), 2);
    cJSON *a = cJSON_GetArrayItem(models, 0);
    assert_string_equal(cJSON_GetObjectItem(a, "name")->valuestring, "a");
    assert_int_equal(cJSON_GetObjectItem(a, "requests")->valueint, 2);
    assert_true(cJSON_GetObjectItem(a, "latency_ewma_ms")->valuedouble > 0);
    assert_true(cJSON_GetObjectItem(root, "rss_bytes")->valuedouble > 1e6);
    assert_int_equal(cJSON_GetObjectItem(root, "workers")->valueint, 2);
    cJSON_Delete(root);
    snprintf(url, sizeof url, "%s/v1/health", f->net.url);
    assert_int_equal(
        http_client_request(f->net.cli, "GET", url, NULL, NULL, 0, NULL, &res, NULL), 0);
    assert_non_null(strstr((const char *)res.body, "\"role\":\"backend\""));
}

struct burst {
    struct fx *f;
    int ok, busy, other;
};

static void *burst_main(void *arg)
{
    struct burst *b = arg;
    http_client *cli = http_client_create(&(struct http_client_config){0}, NULL);
    char url[160];
    snprintf(url, sizeof url, "%s/v1/infer", b->f->net.url);
    const char *hdrs[] = {"X-Edgecam-Edge: e", "X-Edgecam-Frame: 1", NULL};
    for (int i = 0; i < 10; i++) {
        struct http_client_result res;
        http_client_request(cli, "POST", url, hdrs, b->f->net.jpeg, b->f->net.jpeg_len,
                            "image/jpeg", &res, NULL);
        if (res.status == 200)
            b->ok++;
        else if (res.status == 503)
            b->busy++;
        else
            b->other++;
    }
    http_client_destroy(cli);
    return NULL;
}

/* Concurrent load: every request is answered 200 or 503, and 503s match the rejected count. */
static void test_bounded_admission_accounts_every_request(void **state)
{
    struct fx *f = *state;
    struct infer_service_status before, after;
    infer_service_status(f->net.svc, &before);
    struct burst b[6] = {0};
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        b[i].f = f;
        pthread_create(&th[i], NULL, burst_main, &b[i]);
    }
    int ok = 0, busy = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ok += b[i].ok;
        busy += b[i].busy;
        assert_int_equal(b[i].other, 0);
    }
    assert_int_equal(ok + busy, 60);
    infer_service_status(f->net.svc, &after);
    assert_int_equal((int)(after.rejected - before.rejected), busy);
    assert_int_equal(after.in_flight, 0);
    assert_int_equal(after.pending, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_infer_matches_in_process_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_hot_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_admission_accounts_every_request, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
