/* The setup the backend, KServe and bad-input tests share: an inference service behind a real
 * HTTP server on a loopback port the kernel picks, a client for it, and a test frame (with each
 * test's own pattern) ready to upload as JPEG. Include after <cmocka.h>. */
#ifndef EDGECAM_TESTS_INFER_SERVER_H
#define EDGECAM_TESTS_INFER_SERVER_H

#include "backend/backend.h"
#include "support/pattern_frame.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct test_infer_server_opts {
    const struct infer_service_opts *service;
    struct http_server_config server; /* the port is ignored: always ephemeral */
    struct http_client_config client;
    int kserve;                       /* also mount the KServe v2 routes */
    struct {
        int w, h, jpeg_quality;
        pattern_pixel_fn pixel;
    } frame;
};

struct test_infer_server {
    infer_service *svc;
    http_server *srv;
    http_client *cli;
    uint16_t port;
    char url[64]; /* http://127.0.0.1:<port> */
    image *frame;
    uint8_t *jpeg; /* `frame` encoded */
    size_t jpeg_len;
};

static inline void test_infer_server_start(struct test_infer_server *t,
                                           const struct test_infer_server_opts *o)
{
    ec_err err = {0};
    t->svc = infer_service_create(o->service, &err);
    if (!t->svc)
        fail_msg("infer_service_create: %s", err.msg);
    struct http_server_config sc = o->server;
    sc.port = 0;
    t->srv = http_server_create(&sc, &err);
    assert_non_null(t->srv);
    assert_int_equal(infer_service_mount(t->svc, t->srv, &err), 0);
    if (o->kserve)
        assert_int_equal(infer_service_mount_kserve(t->svc, t->srv, &err), 0);
    assert_int_equal(http_server_start(t->srv, &err), 0);
    t->port = http_server_port(t->srv);
    snprintf(t->url, sizeof t->url, "http://127.0.0.1:%u", t->port);
    t->cli = http_client_create(&o->client, &err);
    assert_non_null(t->cli);
    t->frame = pattern_frame_create(o->frame.w, o->frame.h, o->frame.pixel);
    jpeg_encode_or_fail(t->frame, o->frame.jpeg_quality, &t->jpeg, &t->jpeg_len);
}

static inline void test_infer_server_stop(struct test_infer_server *t)
{
    http_client_destroy(t->cli);
    http_server_destroy(t->srv);
    infer_service_destroy(t->svc);
    image_destroy(t->frame);
    free(t->jpeg);
}

#endif
