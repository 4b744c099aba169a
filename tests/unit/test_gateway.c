/* The gateway over real HTTP on loopback: dispatch policies against stub backends whose load we
 * control (one process has one CPU figure, so real backends could not differ), retry, ejection,
 * saturation, and real inference backends for 404 pass-through and the kill/readmit run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "core/clock.h"
#include "gateway/gateway.h"
#include "support/pattern_frame.h"
#include "support/tiny_model.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ stub backends */

struct stub {
    char name[16];
    http_server *srv;
    char url[64];
    atomic_int hits, fail, cpu, latency_ms, hold_ms;
};

static int stub_infer(const struct http_request *req, struct http_response *resp, void *user)
{
    struct stub *s = user;
    atomic_fetch_add(&s->hits, 1);
    if (atomic_load(&s->fail))
        return http_response_error(resp, 500, "stub %s failing", s->name);
    const char *frame = http_request_header(req, "X-Edgecam-Frame");
    if (frame && strcmp(frame, "999") == 0)
        usleep((useconds_t)atomic_load(&s->hold_ms) * 1000);
    char body[128];
    snprintf(body, sizeof body, "{\"detections\":[],\"model\":\"m\",\"stub\":\"%s\"}", s->name);
    return http_response_set_body(resp, body, strlen(body), "application/json");
}

static int stub_status(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    struct stub *s = user;
    char body[256];
    snprintf(body, sizeof body,
             "{\"role\":\"backend\",\"in_flight\":0,\"pending\":0,\"workers\":1,\"cpu_percent\":%d,"
             "\"models\":[{\"name\":\"m\",\"latency_ewma_ms\":%d}]}",
             atomic_load(&s->cpu), atomic_load(&s->latency_ms));
    return http_response_set_body(resp, body, strlen(body), "application/json");
}

static void stub_start(struct stub *s, const char *name, uint16_t port)
{
    ec_err err = {0};
    snprintf(s->name, sizeof s->name, "%s", name);
    struct http_server_config sc = {.port = port, .thread_per_connection = 1};
    s->srv = http_server_create(&sc, &err);
    assert_non_null(s->srv);
    assert_int_equal(http_server_route(s->srv, "POST", "/v1/infer", 0, stub_infer, s, &err), 0);
    assert_int_equal(http_server_route(s->srv, "GET", "/v1/status", 0, stub_status, s, &err), 0);
    assert_int_equal(http_server_start(s->srv, &err), 0);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", http_server_port(s->srv));
}

static void stub_stop(struct stub *s)
{
    http_server_destroy(s->srv);
    s->srv = NULL;
}

/* ------------------------------------------------------------------ gateway + client helpers */

static gateway *gateway_on(struct stub *stubs, int n, enum gateway_dispatch d,
                           struct gateway_opts *extra)
{
    struct gateway_backend_spec specs[8];
    for (int i = 0; i < n; i++)
        specs[i] = (struct gateway_backend_spec){stubs[i].name, stubs[i].url, GATEWAY_BACKEND_EDGECAM};
    struct gateway_opts o = extra ? *extra : (struct gateway_opts){.retry = 1, .monitor_interval_s = 10};
    o.dispatch = d;
    o.backends = specs;
    o.nbackends = n;
    ec_err err = {0};
    gateway *g = gateway_create(&o, &err);
    assert_non_null(g);
    assert_int_equal(gateway_start(g, &err), 0);
    return g;
}

/* Sends one frame; returns the HTTP status, copies the answering backend's name. */
static long send_frame(http_client *c, uint16_t port, const char *model, int frame,
                       const void *body, size_t len, char *backend, size_t cap)
{
    char url[64], fh[48], mh[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/infer", port);
    snprintf(fh, sizeof fh, "X-Edgecam-Frame: %d", frame);
    snprintf(mh, sizeof mh, "X-Edgecam-Model: %s", model ? model : "");
    const char *hdrs[] = {"X-Edgecam-Edge: edge-1", fh, model ? mh : NULL, NULL};
    struct http_client_result res;
    http_client_request(c, "POST", url, hdrs, body ? body : "x", body ? len : 1, "image/jpeg",
                        &res, NULL);
    if (backend) {
        const char *b = http_client_header(c, "X-Edgecam-Backend");
        snprintf(backend, cap, "%s", b ? b : "");
    }
    return res.status;
}

static http_client *client(void)
{
    struct http_client_config cc = {0};
    http_client *c = http_client_create(&cc, NULL);
    assert_non_null(c);
    return c;
}

static struct gateway_backend_status bstatus(gateway *g, int i)
{
    struct gateway_backend_status st;
    assert_int_equal(gateway_backend_status(g, i, &st), 0);
    return st;
}

/* ------------------------------------------------------------------ policies */

static void test_round_robin_alternates(void **state)
{
    (void)state;
    struct stub s[3] = {0};
    stub_start(&s[0], "a", 0), stub_start(&s[1], "b", 0), stub_start(&s[2], "c", 0);
    gateway *g = gateway_on(s, 3, GATEWAY_ROUND_ROBIN, NULL);
    http_client *c = client();
    char prev[16] = "", cur[16];
    for (int i = 0; i < 9; i++) {
        assert_int_equal(send_frame(c, gateway_port(g), NULL, i, NULL, 0, cur, sizeof cur), 200);
        assert_string_not_equal(cur, prev);
        snprintf(prev, sizeof prev, "%s", cur);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(atomic_load(&s[i].hits), 3);
        assert_int_equal(bstatus(g, i).requests, 3);
    }
    http_client_destroy(c);
    gateway_destroy(g);
    for (int i = 0; i < 3; i++)
        stub_stop(&s[i]);
}

static void test_random_uses_every_backend(void **state)
{
    (void)state;
    struct stub s[2] = {0};
    stub_start(&s[0], "a", 0), stub_start(&s[1], "b", 0);
    struct gateway_opts o = {.retry = 1, .monitor_interval_s = 10, .seed = 42};
    gateway *g = gateway_on(s, 2, GATEWAY_RANDOM, &o);
    http_client *c = client();
    int switches = 0;
    char prev[16] = "", cur[16];
    for (int i = 0; i < 40; i++) {
        assert_int_equal(send_frame(c, gateway_port(g), NULL, i, NULL, 0, cur, sizeof cur), 200);
        switches += i > 0 && strcmp(cur, prev) != 0;
        snprintf(prev, sizeof prev, "%s", cur);
    }
    assert_true(atomic_load(&s[0].hits) >= 8 && atomic_load(&s[1].hits) >= 8);
    assert_int_equal(atomic_load(&s[0].hits) + atomic_load(&s[1].hits), 40);
    /* Not round robin in disguise: strict alternation would switch 39 times. */
    assert_true(switches < 39);
    http_client_destroy(c);
    gateway_destroy(g);
    stub_stop(&s[0]), stub_stop(&s[1]);
}

struct held {
    uint16_t port;
    long status;
};

static void *send_held(void *arg)
{
    struct held *h = arg;
    http_client *c = client();
    h->status = send_frame(c, h->port, NULL, 999, NULL, 0, NULL, 0);
    http_client_destroy(c);
    return NULL;
}

static void wait_in_flight(gateway *g, int n)
{
    struct gateway_stats st;
    double t0 = clock_mono_s();
    do {
        usleep(2000);
        gateway_stats(g, &st);
    } while (st.in_flight < n && clock_mono_s() - t0 < 5);
    assert_int_equal(st.in_flight, n);
}

static void test_least_in_flight_avoids_busy_backend(void **state)
{
    (void)state;
    struct stub s[2] = {0};
    stub_start(&s[0], "a", 0), stub_start(&s[1], "b", 0);
    atomic_store(&s[0].hold_ms, 1500), atomic_store(&s[1].hold_ms, 1500);
    gateway *g = gateway_on(s, 2, GATEWAY_LEAST_IN_FLIGHT, NULL);
    struct held h = {.port = gateway_port(g)};
    pthread_t t;
    pthread_create(&t, NULL, send_held, &h);
    wait_in_flight(g, 1);
    int busy = bstatus(g, 0).in_flight == 1 ? 0 : 1;
    assert_int_equal(bstatus(g, busy).in_flight, 1);
    http_client *c = client();
    char cur[16];
    for (int i = 0; i < 6; i++) {
        assert_int_equal(send_frame(c, gateway_port(g), NULL, i, NULL, 0, cur, sizeof cur), 200);
        assert_string_equal(cur, s[1 - busy].name);
    }
    pthread_join(t, NULL);
    assert_int_equal(h.status, 200);
    assert_int_equal(atomic_load(&s[busy].hits), 1);
    http_client_destroy(c);
    gateway_destroy(g);
    stub_stop(&s[0]), stub_stop(&s[1]);
}

/* Waits until the monitor has polled every backend again after a change. */
static void wait_polls(gateway *g, int n)
{
    uint64_t before[8];
    for (int i = 0; i < n; i++)
        before[i] = bstatus(g, i).polls;
    double t0 = clock_mono_s();
    for (int i = 0; i < n; i++)
        while (bstatus(g, i).polls < before[i] + 2 && clock_mono_s() - t0 < 5)
            usleep(2000);
    for (int i = 0; i < n; i++)
        assert_true(bstatus(g, i).polls >= before[i] + 2);
}

static void expect_all_to(gateway *g, const char *name, int n)
{
    http_client *c = client();
    char cur[16];
    for (int i = 0; i < n; i++) {
        assert_int_equal(send_frame(c, gateway_port(g), NULL, i, NULL, 0, cur, sizeof cur), 200);
        assert_string_equal(cur, name);
    }
    http_client_destroy(c);
}

static void test_lowest_cpu_follows_polls(void **state)
{
    (void)state;
    struct stub s[2] = {0};
    stub_start(&s[0], "a", 0), stub_start(&s[1], "b", 0);
    atomic_store(&s[0].cpu, 90), atomic_store(&s[1].cpu, 10);
    struct gateway_opts o = {.retry = 1, .monitor_interval_s = 0.02};
    gateway *g = gateway_on(s, 2, GATEWAY_LOWEST_CPU, &o);
    assert_true(bstatus(g, 0).cpu_percent == 90.0);
    expect_all_to(g, "b", 6);
    atomic_store(&s[0].cpu, 5), atomic_store(&s[1].cpu, 80);
    wait_polls(g, 2);
    expect_all_to(g, "a", 6);
    gateway_destroy(g);
    stub_stop(&s[0]), stub_stop(&s[1]);
}

static void test_lowest_latency_follows_polls(void **state)
{
    (void)state;
    struct stub s[2] = {0};
    stub_start(&s[0], "a", 0), stub_start(&s[1], "b", 0);
    atomic_store(&s[0].latency_ms, 4), atomic_store(&s[1].latency_ms, 40);
    struct gateway_opts o = {.retry = 1, .monitor_interval_s = 0.02};
    gateway *g = gateway_on(s, 2, GATEWAY_LOWEST_LATENCY, &o);
    expect_all_to(g, "a", 6);
    assert_true(bstatus(g, 1).latency_ewma_ms == 40.0);
    atomic_store(&s[0].latency_ms, 50);
    wait_polls(g, 2);
    expect_all_to(g, "b", 6);
    gateway_destroy(g);
    stub_stop(&s[0]), stub_stop(&s[1]);
}

/* ------------------------------------------------------------------ failures */

static void test_retry_on_5xx_without_ejection(void **state)
{
    (void)state;
    struct stub s[2] = {0};
    stub_start(&s[0], "a", 0), stub_start(&s[1], "b", 0);
    atomic_store(&s[0].fail, 1);
    struct gateway_opts o = {.retry = 1, .monitor_interval_s = 10, .eject_after = 100};
    gateway *g = gateway_on(s, 2, GATEWAY_ROUND_ROBIN, &o);
    http_client *c = client();
    char cur[16];
    for (int i = 0; i < 6; i++) {
        assert_int_equal(send_frame(c, gateway_port(g), NULL, i, NULL, 0, cur, sizeof cur), 200);
        assert_string_equal(cur, "b");
    }
    struct gateway_stats st;
    gateway_stats(g, &st);
    assert_int_equal(st.retries, 3); /* every other request started on a */
    assert_int_equal(bstatus(g, 0).failures, 3);
    assert_int_equal(bstatus(g, 0).ejected, 0);
    assert_int_equal(atomic_load(&s[1].hits), 6);
    http_client_destroy(c);
    gateway_destroy(g);

    /* Without retry the 5xx reaches the edge as a 502. */
    struct gateway_opts o2 = {.retry = 0, .monitor_interval_s = 10, .eject_after = 100};
    g = gateway_on(s, 2, GATEWAY_ROUND_ROBIN, &o2);
    c = client();
    long st0 = send_frame(c, gateway_port(g), NULL, 0, NULL, 0, NULL, 0);
    long st1 = send_frame(c, gateway_port(g), NULL, 1, NULL, 0, NULL, 0);
    assert_true((st0 == 502 && st1 == 200) || (st0 == 200 && st1 == 502));
    http_client_destroy(c);
    gateway_destroy(g);
    stub_stop(&s[0]), stub_stop(&s[1]);
}

static void test_retry_when_backend_down_then_eject(void **state)
{
    (void)state;
    struct stub s[2] = {0};
    stub_start(&s[0], "a", 0), stub_start(&s[1], "b", 0);
    struct gateway_opts o = {.retry = 1, .monitor_interval_s = 30, .eject_after = 2};
    gateway *g = gateway_on(s, 2, GATEWAY_ROUND_ROBIN, &o);
    stub_stop(&s[0]); /* the gateway polled it healthy; now nothing listens there */
    http_client *c = client();
    char cur[16];
    for (int i = 0; i < 8; i++) {
        assert_int_equal(send_frame(c, gateway_port(g), NULL, i, NULL, 0, cur, sizeof cur), 200);
        assert_string_equal(cur, "b");
    }
    struct gateway_stats st;
    gateway_stats(g, &st);
    assert_int_equal(st.retries, 2); /* then a was ejected and no longer tried */
    assert_int_equal(bstatus(g, 0).failures, 2);
    assert_int_equal(bstatus(g, 0).ejected, 1);
    http_client_destroy(c);
    gateway_destroy(g);
    stub_stop(&s[1]);
}

static void test_saturation_answers_503(void **state)
{
    (void)state;
    struct stub s[1] = {0};
    stub_start(&s[0], "a", 0);
    atomic_store(&s[0].hold_ms, 1000);
    struct gateway_opts o = {.retry = 1, .monitor_interval_s = 10, .queue_size = 2};
    gateway *g = gateway_on(s, 1, GATEWAY_LEAST_IN_FLIGHT, &o);
    struct held h[2] = {{.port = gateway_port(g)}, {.port = gateway_port(g)}};
    pthread_t t[2];
    pthread_create(&t[0], NULL, send_held, &h[0]);
    pthread_create(&t[1], NULL, send_held, &h[1]);
    wait_in_flight(g, 2);
    http_client *c = client();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/infer", gateway_port(g));
    const char *hdrs[] = {"X-Edgecam-Edge: e", "X-Edgecam-Frame: 5", NULL};
    struct http_client_result res;
    ec_err err = {0};
    assert_int_equal(http_client_request(c, "POST", url, hdrs, "x", 1, "image/jpeg", &res, &err), -1);
    assert_int_equal(res.status, 503);
    assert_non_null(strstr((const char *)res.body, "\"error\""));
    assert_non_null(strstr((const char *)res.body, "saturated"));
    pthread_join(t[0], NULL), pthread_join(t[1], NULL);
    assert_int_equal(h[0].status, 200);
    assert_int_equal(h[1].status, 200);
    struct gateway_stats st;
    gateway_stats(g, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(send_frame(c, gateway_port(g), NULL, 6, NULL, 0, NULL, 0), 200);
    http_client_destroy(c);
    gateway_destroy(g);
    stub_stop(&s[0]);
}

static void test_bad_requests_rejected_at_the_gateway(void **state)
{
    (void)state;
    struct stub s[1] = {0};
    stub_start(&s[0], "a", 0);
    gateway *g = gateway_on(s, 1, GATEWAY_ROUND_ROBIN, NULL);
    http_client *c = client();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/infer", gateway_port(g));
    struct http_client_result res;
    const char *no_edge[] = {"X-Edgecam-Frame: 5", NULL};
    http_client_request(c, "POST", url, no_edge, "x", 1, "image/jpeg", &res, NULL);
    assert_int_equal(res.status, 400);
    const char *ok[] = {"X-Edgecam-Edge: e", "X-Edgecam-Frame: 5", NULL};
    http_client_request(c, "POST", url, ok, "x", 1, "text/plain", &res, NULL);
    assert_int_equal(res.status, 415);
    assert_int_equal(atomic_load(&s[0].hits), 0);
    /* Status routes answer JSON with the per-backend state. */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/status", gateway_port(g));
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &res, NULL), 0);
    cJSON *root = cJSON_ParseWithLength((const char *)res.body, res.body_len);
    cJSON *b0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "backends"), 0);
    assert_string_equal(cJSON_GetObjectItem(b0, "name")->valuestring, "a");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b0, "healthy")));
    cJSON_Delete(root);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", gateway_port(g));
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &res, NULL), 0);
    assert_non_null(strstr((const char *)res.body, "edgecam_gateway_backend_up{backend=\"a\"} 1"));
    http_client_destroy(c);
    gateway_destroy(g);
    stub_stop(&s[0]);
}

/* ------------------------------------------------------------------ real backends */

struct real {
    infer_service *svc;
    http_server *srv;
    uint16_t port;
    char name[16], url[64];
};

static char model_path[64];

static int setup_model(void **state)
{
    (void)state;
    snprintf(model_path, sizeof model_path, "/tmp/edgecam-gw-%d.model", (int)getpid());
    tiny_model_save(TINY_DET_ARCH, 3, model_path);
    return 0;
}

static int teardown_model(void **state)
{
    (void)state;
    unlink(model_path);
    return 0;
}

static void real_listen(struct real *r)
{
    ec_err err = {0};
    struct http_server_config sc = {.port = r->port, .thread_per_connection = 1};
    r->srv = http_server_create(&sc, &err);
    assert_non_null(r->srv);
    assert_int_equal(infer_service_mount(r->svc, r->srv, &err), 0);
    assert_int_equal(http_server_start(r->srv, &err), 0);
    r->port = http_server_port(r->srv);
}

static void real_start(struct real *r, const char *name)
{
    struct infer_model_spec models[] = {{"m", model_path}};
    struct infer_service_opts o = {.models = models, .nmodels = 1, .workers = 2, .queue_size = 16,
                                   .score_thresh = 0.0f, .role = "backend"};
    ec_err err = {0};
    r->svc = infer_service_create(&o, &err);
    assert_non_null(r->svc);
    real_listen(r);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->url, sizeof r->url, "http://127.0.0.1:%u", r->port);
}

static void real_stop(struct real *r)
{
    http_server_destroy(r->srv);
    infer_service_destroy(r->svc);
}

static uint64_t served(struct real *r)
{
    struct infer_service_status st;
    infer_service_status(r->svc, &st);
    return st.models[0].requests;
}

static void gradient_and_band(int x, int y, uint8_t *p)
{
    p[0] = (uint8_t)(x * 3), p[1] = (uint8_t)(y * 4), p[2] = (x > 20 && x < 50) ? 240 : 30;
}

static uint8_t *make_jpeg(size_t *len)
{
    uint8_t *out = NULL;
    pattern_frame_jpeg(80, 60, gradient_and_band, 90, &out, len);
    return out;
}

static gateway *gateway_on_real(struct real *r, int n, enum gateway_dispatch d, double interval,
                                int eject_after)
{
    struct stub fake[3];
    for (int i = 0; i < n; i++) {
        snprintf(fake[i].name, sizeof fake[i].name, "%s", r[i].name);
        snprintf(fake[i].url, sizeof fake[i].url, "%s", r[i].url);
    }
    struct gateway_opts o = {.retry = 1, .monitor_interval_s = interval, .eject_after = eject_after};
    return gateway_on(fake, n, d, &o);
}

static void test_unknown_model_404_passes_through(void **state)
{
    (void)state;
    struct real r[2] = {0};
    real_start(&r[0], "r0"), real_start(&r[1], "r1");
    gateway *g = gateway_on_real(r, 2, GATEWAY_ROUND_ROBIN, 10, 3);
    size_t len;
    uint8_t *jpeg = make_jpeg(&len);
    http_client *c = client();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/infer", gateway_port(g));
    const char *hdrs[] = {"X-Edgecam-Edge: e", "X-Edgecam-Frame: 1", "X-Edgecam-Model: nope", NULL};
    struct http_client_result res;
    assert_int_equal(http_client_request(c, "POST", url, hdrs, jpeg, len, "image/jpeg", &res, NULL), -1);
    assert_int_equal(res.status, 404);
    assert_non_null(strstr((const char *)res.body, "unknown model 'nope'"));
    struct gateway_stats st;
    gateway_stats(g, &st);
    assert_int_equal(st.retries, 0);
    assert_int_equal(bstatus(g, 0).failures + bstatus(g, 1).failures, 0);
    /* The known model answers with detections, through the same path. */
    const char *known[] = {"X-Edgecam-Edge: e", "X-Edgecam-Frame: 2", "X-Edgecam-Model: m", NULL};
    assert_int_equal(http_client_request(c, "POST", url, known, jpeg, len, "image/jpeg", &res, NULL), 0);
    struct det_list dets = {0};
    assert_int_equal(wire_dets_from_json((const char *)res.body, res.body_len, &dets, NULL), 0);
    assert_true(dets.n > 0); /* random weights, threshold 0: boxes everywhere */
    det_list_free(&dets);
    free(jpeg);
    http_client_destroy(c);
    gateway_destroy(g);
    real_stop(&r[0]), real_stop(&r[1]);
}

struct load {
    uint16_t port;
    const uint8_t *jpeg;
    size_t len;
    int n, ok;
    atomic_int *sent;
};

static void *load_main(void *arg)
{
    struct load *l = arg;
    http_client *c = client();
    for (int i = 0; i < l->n; i++) {
        l->ok += send_frame(c, l->port, "m", i, l->jpeg, l->len, NULL, 0) == 200;
        atomic_fetch_add(l->sent, 1);
        usleep(3000);
    }
    http_client_destroy(c);
    return NULL;
}

static void test_kill_backend_mid_run_then_readmit(void **state)
{
    (void)state;
    struct real r[3] = {0};
    real_start(&r[0], "r0"), real_start(&r[1], "r1"), real_start(&r[2], "r2");
    gateway *g = gateway_on_real(r, 3, GATEWAY_ROUND_ROBIN, 0.05, 1);
    size_t len;
    uint8_t *jpeg = make_jpeg(&len);
    atomic_int sent = 0;
    struct load l[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        l[i] = (struct load){gateway_port(g), jpeg, len, 60, 0, &sent};
        pthread_create(&t[i], NULL, load_main, &l[i]);
    }
    while (atomic_load(&sent) < 30)
        usleep(1000);
    http_server_destroy(r[1].srv); /* kill r1 mid-run: in-flight requests finish first */
    r[1].srv = NULL;
    uint64_t r1_at_kill = served(&r[1]), others_at_kill = served(&r[0]) + served(&r[2]);
    pthread_join(t[0], NULL), pthread_join(t[1], NULL);
    assert_int_equal(l[0].ok + l[1].ok, 120); /* no request lost */
    assert_int_equal(served(&r[1]), r1_at_kill);
    assert_true(r1_at_kill >= 5);
    assert_true(served(&r[0]) + served(&r[2]) > others_at_kill + 40); /* traffic moved */
    assert_int_equal(bstatus(g, 1).ejected, 1);

    /* Restart on the same port: the next healthy poll readmits it. */
    real_listen(&r[1]);
    double t0 = clock_mono_s();
    while (bstatus(g, 1).ejected && clock_mono_s() - t0 < 5)
        usleep(5000);
    assert_int_equal(bstatus(g, 1).ejected, 0);
    http_client *c = client();
    for (int i = 0; i < 9; i++)
        assert_int_equal(send_frame(c, gateway_port(g), "m", i, jpeg, len, NULL, 0), 200);
    assert_true(served(&r[1]) >= r1_at_kill + 3);
    http_client_destroy(c);
    free(jpeg);
    gateway_destroy(g);
    real_stop(&r[0]), real_stop(&r[1]), real_stop(&r[2]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_robin_alternates),
        cmocka_unit_test(test_random_uses_every_backend),
        cmocka_unit_test(test_least_in_flight_avoids_busy_backend),
        cmocka_unit_test(test_lowest_cpu_follows_polls),
        cmocka_unit_test(test_lowest_latency_follows_polls),
        cmocka_unit_test(test_retry_on_5xx_without_ejection),
        cmocka_unit_test(test_retry_when_backend_down_then_eject),
        cmocka_unit_test(test_saturation_answers_503),
        cmocka_unit_test(test_bad_requests_rejected_at_the_gateway),
        cmocka_unit_test(test_unknown_model_404_passes_through),
        cmocka_unit_test(test_kill_backend_mid_run_then_readmit),
    };
    return cmocka_run_group_tests(tests, setup_model, teardown_model);
}
