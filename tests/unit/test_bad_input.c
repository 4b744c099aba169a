/* Bad input against the real inference server (the service `edgecam backend` and `edgecam
 * cloud` run) over loopback sockets: oversize bodies, uploads cut off mid-body, bad JPEGs;
 * then bad configuration text and corrupt model files. Each must give a clear error, no crash,
 * and the server must go on serving. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "config/config.h"
#include "support/infer_server.h"
#include "support/pattern_frame.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_BODY (256u << 10)

struct fx {
    struct test_infer_server net;
    char model_path[1024];
    char infer_url[128];
};

static void model_path(char *out, size_t n)
{
    const char *src = getenv("EDGECAM_SOURCE_DIR");
    snprintf(out, n, "%s/models/edge.safetensors", src ? src : ".");
}

/* 160 x 96: gradients with vertical stripes 16 pixels wide. */
static void gradient_and_stripes(int x, int y, uint8_t *p)
{
    p[0] = (uint8_t)(x + y), p[1] = (uint8_t)(2 * y), p[2] = (x / 16) % 2 ? 200 : 40;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    model_path(f->model_path, sizeof f->model_path);
    struct infer_model_spec models[] = {{"m", f->model_path}};
    struct infer_service_opts o = {.models = models, .nmodels = 1, .workers = 1, .queue_size = 8,
                                   .score_thresh = 0.25f, .role = "backend"};
    test_infer_server_start(&f->net, &(struct test_infer_server_opts){
        .service = &o,
        .server = {.thread_per_connection = 1, .max_body_bytes = MAX_BODY, .timeout_s = 5},
        .client = {.timeout_ms = 20000},
        .frame = {160, 96, 90, gradient_and_stripes}});
    snprintf(f->infer_url, sizeof f->infer_url, "%s/v1/infer", f->net.url);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    test_infer_server_stop(&f->net);
    free(f);
    return 0;
}

static const char *const FRAME_HEADERS[] = {"X-Edgecam-Edge: bad-input", "X-Edgecam-Frame: 1",
                                            NULL};

/* POSTs a body to /v1/infer; returns the status (0 when no HTTP answer came). */
static long post(struct fx *f, const void *body, size_t len, const char *ctype,
                 const char *const *headers, struct http_client_result *res)
{
    ec_err err = {0};
    http_client_request(f->net.cli, "POST", f->infer_url, headers ? headers : FRAME_HEADERS, body,
                        len, ctype ? ctype : "image/jpeg", res, &err);
    return res->status;
}

/* The server still answers a good frame with detections. */
static void assert_still_serving(struct fx *f)
{
    struct http_client_result res;
    assert_int_equal(post(f, f->net.jpeg, f->net.jpeg_len, NULL, NULL, &res), 200);
    assert_non_null(strstr((const char *)res.body, "\"detections\""));
}

static uint64_t infer_requests(struct fx *f)
{
    struct infer_service_status st;
    infer_service_status(f->net.svc, &st);
    return st.models[0].requests;
}

static int connect_loopback(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 15};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return; /* the server may stop reading once it has answered */
        p += n;
        len -= (size_t)n;
    }
}

/* Reads one response's head and returns its status; the body (Content-Length) is skipped. */
static int read_status(int fd)
{
    char buf[8192];
    size_t len = 0;
    char *end = NULL;
    while (!end && len < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return 0;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = 0;
    if (!end || sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t body = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
    size_t have = len - (size_t)(end + 4 - buf);
    while (have < body) {
        ssize_t n = recv(fd, buf, sizeof buf < body - have ? sizeof buf : body - have, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    return status;
}

static void test_oversize_body_gets_413(void **state)
{
    struct fx *f = *state;
    uint64_t before = infer_requests(f);
    /* Far over the limit with a Content-Length: 413 before the body is read. */
    size_t huge = 8 * MAX_BODY;
    uint8_t *big = calloc(1, huge);
    assert_non_null(big);
    memcpy(big, f->net.jpeg, f->net.jpeg_len);
    struct http_client_result res;
    assert_int_equal(post(f, big, huge, NULL, NULL, &res), 413);
    assert_non_null(strstr((const char *)res.body, "too large"));
    assert_still_serving(f);

    /* Just over the limit on a keep-alive connection: drained, 413, and the same connection
     * then serves the next request. */
    int fd = connect_loopback(f->net.port);
    char head[256];
    size_t over = MAX_BODY + 1;
    int n = snprintf(head, sizeof head,
                     "POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                     "X-Edgecam-Edge: e\r\nX-Edgecam-Frame: 1\r\nContent-Length: %zu\r\n\r\n",
                     over);
    send_all(fd, head, (size_t)n);
    send_all(fd, big, over);
    assert_int_equal(read_status(fd), 413);
    const char health[] = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, health, sizeof health - 1);
    assert_int_equal(read_status(fd), 200);
    close(fd);

    /* Chunked, no length announced: cut off once past the limit. */
    fd = connect_loopback(f->net.port);
    const char chunked[] = "POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                           "X-Edgecam-Edge: e\r\nX-Edgecam-Frame: 1\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n";
    send_all(fd, chunked, sizeof chunked - 1);
    for (int i = 0; i < 3; i++) {
        n = snprintf(head, sizeof head, "%x\r\n", MAX_BODY / 2);
        send_all(fd, head, (size_t)n);
        send_all(fd, big, MAX_BODY / 2);
        send_all(fd, "\r\n", 2);
    }
    send_all(fd, "0\r\n\r\n", 5);
    assert_int_equal(read_status(fd), 413);
    close(fd);
    free(big);
    assert_still_serving(f);
    /* The handler only ever saw the two good frames. */
    assert_int_equal(infer_requests(f) - before, 2);
}

static void test_truncated_upload_is_dropped(void **state)
{
    struct fx *f = *state;
    uint64_t before = infer_requests(f);
    char head[256];
    for (int i = 0; i < 10; i++) {
        int fd = connect_loopback(f->net.port);
        int n = snprintf(head, sizeof head,
                         "POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                         "X-Edgecam-Edge: e\r\nX-Edgecam-Frame: %d\r\nContent-Length: %zu\r\n\r\n",
                         i, f->net.jpeg_len);
        send_all(fd, head, (size_t)n);
        /* then the client vanishes */
        send_all(fd, f->net.jpeg, f->net.jpeg_len / (size_t)(2 + i % 3));
        if (i % 2)
            shutdown(fd, SHUT_WR);
        close(fd);
    }
    /* A chunked upload cut inside a chunk, and one cut inside the headers. */
    int fd = connect_loopback(f->net.port);
    const char chunked[] = "POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                           "X-Edgecam-Edge: e\r\nX-Edgecam-Frame: 1\r\nTransfer-Encoding: chunked"
                           "\r\n\r\n1000\r\n";
    send_all(fd, chunked, sizeof chunked - 1);
    send_all(fd, f->net.jpeg, 100);
    close(fd);
    fd = connect_loopback(f->net.port);
    send_all(fd, "POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Le", 45);
    close(fd);
    assert_still_serving(f);
    assert_int_equal(infer_requests(f) - before, 1);
}

static void expect_400(struct fx *f, const void *body, size_t len, const char *want)
{
    struct http_client_result res;
    long status = post(f, body, len, NULL, NULL, &res);
    if (status != 400 || !strstr((const char *)res.body, want))
        fail_msg("want 400 with \"%s\", got %ld: %s", want, status, (const char *)res.body);
    assert_string_equal(res.content_type, "application/json");
}

static void test_bad_jpegs_get_clear_errors(void **state)
{
    struct fx *f = *state;
    uint64_t before = infer_requests(f);
    expect_400(f, "hello, world", 12, "not a JPEG");
    expect_400(f, f->net.jpeg, 3, "not a JPEG");
    /* Cut in the middle of the entropy-coded data, and right after the header. */
    expect_400(f, f->net.jpeg, f->net.jpeg_len / 2, "jpeg decode");
    expect_400(f, f->net.jpeg, 200, "jpeg decode");
    /* A valid header announcing 9000x9000 (over IMAGE_MAX_DIM): refused before allocating. */
    uint8_t *huge = malloc(f->net.jpeg_len);
    assert_non_null(huge);
    memcpy(huge, f->net.jpeg, f->net.jpeg_len);
    int patched = 0;
    for (size_t i = 0; i + 8 < f->net.jpeg_len; i++)
        if (huge[i] == 0xFF && huge[i + 1] == 0xC0) { /* SOF0: len(2) precision(1) h(2) w(2) */
            huge[i + 5] = 9000 >> 8, huge[i + 6] = 9000 & 0xFF;
            huge[i + 7] = 9000 >> 8, huge[i + 8] = 9000 & 0xFF;
            patched = 1;
            break;
        }
    assert_true(patched);
    expect_400(f, huge, f->net.jpeg_len, "exceeds limit");
    /* Flipped bits in the scan: rejected as corrupt, not decoded into garbage. */
    memcpy(huge, f->net.jpeg, f->net.jpeg_len);
    for (size_t i = f->net.jpeg_len / 2; i < f->net.jpeg_len / 2 + 64; i++)
        huge[i] = 0xFF;
    struct http_client_result res;
    long status = post(f, huge, f->net.jpeg_len, NULL, NULL, &res);
    assert_true(status == 400 || status == 200); /* libjpeg may resync; never a crash */
    free(huge);
    /* Not a JPEG content type, and no frame metadata. */
    assert_int_equal(post(f, f->net.jpeg, f->net.jpeg_len, "text/plain", NULL, &res), 415);
    const char *const no_meta[] = {"X-Edgecam-Edge: e", NULL};
    assert_int_equal(post(f, f->net.jpeg, f->net.jpeg_len, NULL, no_meta, &res), 400);
    assert_non_null(strstr((const char *)res.body, "X-Edgecam-Frame"));
    const char *const bad_id[] = {"X-Edgecam-Edge: ../etc", "X-Edgecam-Frame: 1", NULL};
    assert_int_equal(post(f, f->net.jpeg, f->net.jpeg_len, NULL, bad_id, &res), 400);
    assert_int_equal(post(f, NULL, 0, NULL, NULL, &res), 400);
    assert_still_serving(f);
    assert_int_equal(infer_requests(f) - before, status == 200 ? 2 : 1);
}

static void expect_config_error(const char *text, size_t len, const char *want)
{
    struct ec_config *c = malloc(sizeof *c);
    assert_non_null(c);
    config_defaults(c);
    ec_err err = {0};
    assert_int_equal(config_load_string(text, len, "bad.yaml", c, &err), -1);
    if (!strstr(err.msg, want))
        fail_msg("want \"%s\" in: %s", want, err.msg);
    free(c);
}

static void test_bad_configs_get_clear_errors(void **state)
{
    (void)state;
    expect_config_error("log:\n  level: info\0\nedge: {}\n", 30, "bad.yaml");
    expect_config_error("log:\n  file: \"\xff\xfe\"\n", 19, "bad.yaml");
    expect_config_error("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, "bad.yaml");
    expect_config_error("edge:\n  listen: {port: 70000}\n", 30, "edge.listen.port");
    expect_config_error("security:\n  tls_key: k.pem\n", 27, "must be set together");
    struct ec_config *c = malloc(sizeof *c);
    assert_non_null(c);
    ec_err err = {0};
    config_defaults(c);
    /* A directory and an endless device are not configuration files. */
    assert_int_equal(config_load_file("/tmp", c, &err), -1);
    assert_non_null(strstr(err.msg, "/tmp"));
    assert_int_equal(config_load_file("/dev/zero", c, &err), -1);
    assert_non_null(strstr(err.msg, "/dev/zero"));
    free(c);
}

static uint8_t *read_model(size_t *len)
{
    char path[1024];
    model_path(path, sizeof path);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, *len, fp), *len);
    fclose(fp);
    return buf;
}

static void expect_model_error(const uint8_t *buf, size_t len, const char *want)
{
    ec_err err = {0};
    nn_model *m = nn_model_load_buffer(buf, len, &err);
    if (m || err.code != EC_EFORMAT || !strstr(err.msg, want))
        fail_msg("len %zu: want EC_EFORMAT \"%s\", got %s (code %d)", len, want,
                 m ? "a model" : err.msg, (int)err.code);
}

static void test_corrupt_models_get_clear_errors(void **state)
{
    (void)state;
    size_t len;
    uint8_t *good = read_model(&len);
    ec_err err = {0};
    nn_model *m = nn_model_load_buffer(good, len, &err);
    assert_non_null(m); /* the committed model itself is fine */
    nn_model_destroy(m);
    uint8_t *bad = malloc(len);
    assert_non_null(bad);
    expect_model_error(good, 0, "truncated");
    expect_model_error(good, 7, "truncated");
    expect_model_error(good, 8, "header length");
    expect_model_error(good, 200, "header length");
    expect_model_error(good, len / 2, "");
    expect_model_error(good, len - 1, "");
    /* Header length pointing past the end, and a header that is not JSON. */
    memcpy(bad, good, len);
    bad[7] = 0x7f;
    expect_model_error(bad, len, "header length");
    memcpy(bad, good, len);
    memset(bad + 8, '!', 16);
    expect_model_error(bad, len, "");
    /* Weights turned into NaN. */
    memcpy(bad, good, len);
    memset(bad + len - 64, 0xff, 64);
    expect_model_error(bad, len, "non-finite");

    /* The same through a file and through the server that loads it at start. */
    char path[] = "/tmp/edgecam-bad-model-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, good, len / 3), (ssize_t)(len / 3));
    close(fd);
    assert_null(nn_model_load(path, &err));
    assert_int_equal(err.code, EC_EFORMAT);
    struct infer_model_spec spec = {"m", path};
    struct infer_service_opts o = {.models = &spec, .nmodels = 1, .workers = 1, .role = "backend"};
    ec_err_clear(&err);
    assert_null(infer_service_create(&o, &err));
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    free(bad);
    free(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_oversize_body_gets_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_upload_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_jpegs_get_clear_errors, setup, teardown),
        cmocka_unit_test(test_bad_configs_get_clear_errors),
        cmocka_unit_test(test_corrupt_models_get_clear_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
