/* net HTTP server and client over real sockets on 127.0.0.1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/clock.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- handlers */

static int h_health(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    (void)user;
    return http_response_set_body(resp, "{\"ok\":true}", 11, "application/json");
}

/* Echoes the body with the request's content type, plus what the server saw. */
static int h_echo(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)user;
    const char *ct = http_request_header(req, "Content-Type");
    http_response_add_header(resp, "X-Remote", req->remote_addr);
    http_response_add_header(resp, "X-Method", req->method);
    http_response_add_header(resp, "X-Path", req->path);
    const char *q = http_request_query(req, "name");
    if (q)
        http_response_add_header(resp, "X-Query-Name", q);
    return http_response_set_body(resp, req->body, req->body_len, ct);
}

static int h_fail(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    (void)resp;
    (void)user;
    return -1;
}

static int h_unavailable(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    (void)user;
    http_response_error(resp, 503, "queue \"full\"");
    return 0;
}

static int h_big(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    (void)user;
    size_t n = 100000;
    char *b = malloc(n);
    memset(b, 'x', n);
    return http_response_take_body(resp, b, n, "text/plain");
}

static atomic_int g_slow_done;
static int h_slow(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    (void)user;
    clock_sleep_ns(1200 * 1000000ULL);
    atomic_store(&g_slow_done, 1);
    return http_response_set_body(resp, "late", 4, "text/plain");
}

/* Parses the X-Edgecam-* headers and answers them as JSON, or 400. */
static int h_meta(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)user;
    struct wire_frame_meta m;
    ec_err e;
    if (wire_meta_from_request(req, &m, &e) != 0)
        return http_response_error(resp, 400, "%s", e.msg);
    char body[256];
    int n = snprintf(body, sizeof body, "{\"edge\":\"%s\",\"frame\":%lld,\"model\":\"%s\",\"w\":%d,\"h\":%d}",
                     m.edge, (long long)m.frame, m.model, m.orig_w, m.orig_h);
    return http_response_set_body(resp, body, (size_t)n, "application/json");
}

/* ---------------------------------------------------------------- helpers */

static http_server *start_server(const struct http_server_config *cfg, metrics *reg)
{
    ec_err e;
    http_server *s = http_server_create(cfg, &e);
    assert_non_null(s);
    assert_int_equal(http_server_route(s, "GET", "/v1/health", HTTP_ROUTE_PUBLIC, h_health, NULL, &e), 0);
    assert_int_equal(http_server_route(s, "POST", "/echo", 0, h_echo, NULL, &e), 0);
    assert_int_equal(http_server_route(s, "PUT", "/echo", 0, h_echo, NULL, &e), 0);
    assert_int_equal(http_server_route(s, "GET", "/v1/models/", HTTP_ROUTE_PREFIX, h_echo, NULL, &e), 0);
    assert_int_equal(http_server_route(s, "GET", "/fail", 0, h_fail, NULL, &e), 0);
    assert_int_equal(http_server_route(s, "GET", "/busy", 0, h_unavailable, NULL, &e), 0);
    assert_int_equal(http_server_route(s, "GET", "/big", 0, h_big, NULL, &e), 0);
    assert_int_equal(http_server_route(s, "GET", "/slow", 0, h_slow, NULL, &e), 0);
    assert_int_equal(http_server_route(s, "POST", "/meta", 0, h_meta, NULL, &e), 0);
    if (reg)
        assert_int_equal(http_server_route(s, "GET", "/metrics", HTTP_ROUTE_PUBLIC,
                                           metrics_http_handler, reg, &e), 0);
    assert_int_equal(http_server_route(s, "GET", "relative", 0, h_health, NULL, &e), -1);
    if (http_server_start(s, &e) != 0)
        fail_msg("start: %s", e.msg);
    assert_true(http_server_port(s) > 0);
    return s;
}

static void url_of(http_server *s, const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "http://127.0.0.1:%u%s", (unsigned)http_server_port(s), path);
}

/* Sends raw bytes on a fresh connection and reads the reply until close or 2 s. */
static size_t raw_exchange(uint16_t port, const void *req, size_t req_len, char *out, size_t out_size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t sent = 0;
    while (sent < req_len) {
        ssize_t n = send(fd, (const char *)req + sent, req_len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer and close before reading it all */
        sent += (size_t)n;
    }
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, out + got, out_size - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        /* keep-alive replies do not close: stop once a full short reply is in */
        if (got == out_size - 1 || (strstr(out, "\r\n\r\n") && memchr(out, '}', got)))
            break;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

/* ---------------------------------------------------------------- tests */

static void test_routing_404_405_500(void **state)
{
    (void)state;
    http_server *s = start_server(NULL, NULL);
    http_client *c = http_client_create(NULL, NULL);
    struct http_client_result r;
    ec_err e;
    char url[256];

    url_of(s, "/v1/health", url, sizeof url);
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal((const char *)r.body, "{\"ok\":true}");
    assert_string_equal(r.content_type, "application/json");

    url_of(s, "/nope", url, sizeof url);
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), -1);
    assert_int_equal(r.status, 404);
    assert_int_equal(e.code, EC_ENET);
    assert_non_null(strstr(e.msg, "HTTP 404"));
    assert_string_equal((const char *)r.body, "{\"error\":\"no such endpoint\"}");

    url_of(s, "/echo", url, sizeof url);
    assert_int_equal(http_client_request(c, "DELETE", url, NULL, NULL, 0, NULL, &r, &e), -1);
    assert_int_equal(r.status, 405);
    assert_string_equal(http_client_header(c, "Allow"), "POST, PUT");

    /* Prefix route: the handler sees the full path and query parameters. */
    url_of(s, "/v1/models/tiny.v2?name=a%20b", url, sizeof url);
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), 0);
    assert_string_equal(http_client_header(c, "X-Path"), "/v1/models/tiny.v2");
    assert_string_equal(http_client_header(c, "X-Query-Name"), "a b");
    assert_string_equal(http_client_header(c, "X-Remote"), "127.0.0.1");
    /* Exact routes do not match longer paths. */
    url_of(s, "/v1/health/x", url, sizeof url);
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), -1);
    assert_int_equal(r.status, 404);

    url_of(s, "/fail", url, sizeof url);
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), -1);
    assert_int_equal(r.status, 500);
    assert_string_equal((const char *)r.body, "{\"error\":\"internal error\"}");

    /* Non-2xx keeps status and body; JSON error text is escaped. */
    url_of(s, "/busy", url, sizeof url);
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), -1);
    assert_int_equal(r.status, 503);
    cJSON *j = cJSON_Parse((const char *)r.body);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "error")->valuestring, "queue \"full\"");
    cJSON_Delete(j);

    /* HEAD is served by GET routes, without a body. */
    url_of(s, "/v1/health", url, sizeof url);
    assert_int_equal(http_client_request(c, "HEAD", url, NULL, NULL, 0, NULL, &r, &e), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    http_client_destroy(c);
    http_server_destroy(s);
}

static void test_binary_body_echo_and_keepalive(void **state)
{
    (void)state;
    http_server *s = start_server(NULL, NULL);
    http_client *c = http_client_create(NULL, NULL);
    size_t n = 300000;
    uint8_t *jpeg = malloc(n);
    for (size_t i = 0; i < n; i++)
        jpeg[i] = (uint8_t)(i * 131 + (i >> 8)); /* every byte value, NULs included */
    jpeg[0] = 0xFF, jpeg[1] = 0xD8, jpeg[n - 2] = 0xFF, jpeg[n - 1] = 0xD9;
    char url[256];
    url_of(s, "/echo", url, sizeof url);
    struct http_client_result r;
    ec_err e;
    for (int round = 0; round < 3; round++) {
        if (http_client_request(c, round == 1 ? "PUT" : "POST", url, NULL, jpeg, n, "image/jpeg", &r, &e) != 0)
            fail_msg("%s", e.msg);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, n);
        assert_memory_equal(r.body, jpeg, n);
        assert_string_equal(r.content_type, "image/jpeg");
        /* Keep-alive: only the first request opens a connection. */
        assert_int_equal(r.num_connects, round == 0 ? 1 : 0);
    }
    /* Empty POST body reaches the handler as empty. */
    assert_int_equal(http_client_request(c, "POST", url, NULL, NULL, 0, "image/jpeg", &r, &e), 0);
    assert_int_equal(r.body_len, 0);
    assert_int_equal(r.num_connects, 0);
    assert_int_equal(http_server_connections(s), 1);
    free(jpeg);
    http_client_destroy(c);
    http_server_destroy(s);
}

static void test_oversize_body_413_server_survives(void **state)
{
    (void)state;
    struct http_server_config cfg = {.max_body_bytes = 65536};
    http_server *s = start_server(&cfg, NULL);
    http_client *c = http_client_create(NULL, NULL);
    char url[256];
    url_of(s, "/echo", url, sizeof url);
    size_t n = 4u << 20;
    uint8_t *big = calloc(1, n);
    struct http_client_result r;
    ec_err e;
    /* Big body: the client asks first (Expect: 100-continue) and the server
     * refuses from the headers alone; the body is never sent. */
    if (http_client_request(c, "POST", url, NULL, big, n, "image/jpeg", &r, &e) != -1 || r.status != 413)
        fail_msg("want 413, got status %ld: %s", r.status, e.msg);
    assert_non_null(strstr((const char *)r.body, "too large"));
    /* Moderately over the limit, no Expect: drained, 413, and the connection
     * is kept for the next request. */
    if (http_client_request(c, "POST", url, NULL, big, 200000, "image/jpeg", &r, &e) != -1 || r.status != 413)
        fail_msg("want 413, got status %ld: %s", r.status, e.msg);
    /* Exactly at the limit is fine; the server is still up. */
    assert_int_equal(http_client_request(c, "POST", url, NULL, big, 65536, "image/jpeg", &r, &e), 0);
    assert_int_equal(r.body_len, 65536);
    assert_int_equal(r.num_connects, 0);

    uint16_t port = http_server_port(s);
    char reply_early[4096];
    /* A huge declared body is refused at once, before any of it arrives. */
    raw_exchange(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n", 60,
                 reply_early, sizeof reply_early);
    assert_non_null(strstr(reply_early, "HTTP/1.1 413"));
    /* Chunked upload with no Content-Length, over the limit: drained, then 413. */
    size_t chunk = 16384, nchunks = 6;
    size_t cap = 512 + nchunks * (chunk + 16);
    char *raw = malloc(cap), reply[4096];
    size_t len = (size_t)sprintf(raw, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t i = 0; i < nchunks; i++) {
        len += (size_t)sprintf(raw + len, "%zx\r\n", chunk);
        memset(raw + len, 'a', chunk);
        len += chunk;
        len += (size_t)sprintf(raw + len, "\r\n");
    }
    len += (size_t)sprintf(raw + len, "0\r\n\r\n");
    raw_exchange(port, raw, len, reply, sizeof reply);
    assert_non_null(strstr(reply, "HTTP/1.1 413"));
    /* A small chunked upload is accumulated and echoed. */
    len = (size_t)sprintf(raw, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                               "Content-Type: application/json\r\nConnection: close\r\n\r\n"
                               "5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n");
    raw_exchange(port, raw, len, reply, sizeof reply);
    assert_non_null(strstr(reply, "HTTP/1.1 200"));
    assert_non_null(strstr(reply, "\r\n\r\n{\"a\":1}"));
    /* Malformed Content-Length: a 400, never a crash. */
    len = (size_t)sprintf(raw, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\nhello");
    raw_exchange(port, raw, len, reply, sizeof reply);
    assert_non_null(strstr(reply, "HTTP/1.1 400"));
    len = (size_t)sprintf(raw, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n");
    raw_exchange(port, raw, len, reply, sizeof reply);
    assert_true(strstr(reply, "HTTP/1.1 400") || strstr(reply, "HTTP/1.1 413"));

    /* POST without Content-Length or chunking has an empty body. */
    len = (size_t)sprintf(raw, "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    raw_exchange(port, raw, len, reply, sizeof reply);
    assert_non_null(strstr(reply, "HTTP/1.1 200"));
    assert_non_null(strcasestr(reply, "Content-Length: 0\r\n"));

    url_of(s, "/v1/health", url, sizeof url);
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), 0);
    free(raw);
    free(big);
    http_client_destroy(c);
    http_server_destroy(s);
}

static void test_bearer_token(void **state)
{
    (void)state;
    struct http_server_config cfg = {.bearer_token = "s3cret-token"};
    http_server *s = start_server(&cfg, NULL);
    char url[256];
    url_of(s, "/echo", url, sizeof url);
    struct http_client_result r;
    ec_err e;

    http_client *anon = http_client_create(NULL, NULL);
    assert_int_equal(http_client_request(anon, "POST", url, NULL, "x", 1, NULL, &r, &e), -1);
    assert_int_equal(r.status, 401);
    assert_string_equal(http_client_header(anon, "WWW-Authenticate"), "Bearer realm=\"edgecam\"");
    /* Public routes need no token. */
    char health[256];
    url_of(s, "/v1/health", health, sizeof health);
    assert_int_equal(http_client_request(anon, "GET", health, NULL, NULL, 0, NULL, &r, &e), 0);
    http_client_destroy(anon);

    const char *wrong[] = {"s3cret-tokeX", "s3cret-token2", "s3cret", ""};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        char hdr[128];
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", wrong[i]);
        const char *hdrs[] = {hdr, NULL};
        http_client *c = http_client_create(NULL, NULL);
        assert_int_equal(http_client_request(c, "POST", url, hdrs, "x", 1, NULL, &r, &e), -1);
        assert_int_equal(r.status, 401);
        http_client_destroy(c);
    }
    struct http_client_config cc = {.bearer_token = "s3cret-token"};
    http_client *ok = http_client_create(&cc, NULL);
    assert_int_equal(http_client_request(ok, "POST", url, NULL, "x", 1, "text/plain", &r, &e), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal((const char *)r.body, "x");
    http_client_destroy(ok);
    http_server_destroy(s);
}

static void test_client_timeout_and_stop_waits(void **state)
{
    (void)state;
    http_server *s = start_server(NULL, NULL);
    struct http_client_config cc = {.timeout_ms = 200};
    http_client *c = http_client_create(&cc, NULL);
    char url[256];
    url_of(s, "/slow", url, sizeof url);
    struct http_client_result r;
    ec_err e;
    atomic_store(&g_slow_done, 0);
    double t0 = clock_mono_s();
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), -1);
    double took = clock_mono_s() - t0;
    assert_int_equal(e.code, EC_ETIMEOUT);
    assert_true(took < 1.0); /* gave up well before the handler answered */
    /* The handler is still running: destroy must wait for it. */
    assert_int_equal(atomic_load(&g_slow_done), 0);
    http_server_destroy(s);
    assert_int_equal(atomic_load(&g_slow_done), 1);
    http_client_destroy(c);
}

static void *slow_request_thread(void *arg)
{
    http_client *c = http_client_create(NULL, NULL);
    struct http_client_result r;
    long ok = http_client_request(c, "GET", arg, NULL, NULL, 0, NULL, &r, NULL) == 0 &&
              strcmp((const char *)r.body, "late") == 0;
    http_client_destroy(c);
    return (void *)ok;
}

/* With a thread per connection, a blocking handler does not hold up others. */
static void test_thread_per_connection(void **state)
{
    (void)state;
    struct http_server_config cfg = {.thread_per_connection = 1};
    http_server *s = start_server(&cfg, NULL);
    char slow[256], fast[256];
    url_of(s, "/slow", slow, sizeof slow);
    url_of(s, "/v1/health", fast, sizeof fast);
    atomic_store(&g_slow_done, 0);
    pthread_t t;
    pthread_create(&t, NULL, slow_request_thread, slow);
    clock_sleep_ns(100 * 1000000ULL); /* let the slow handler start */
    http_client *c = http_client_create(NULL, NULL);
    struct http_client_result r;
    for (int i = 0; i < 5; i++)
        assert_int_equal(http_client_request(c, "GET", fast, NULL, NULL, 0, NULL, &r, NULL), 0);
    assert_int_equal(atomic_load(&g_slow_done), 0); /* answered while the slow one runs */
    void *ok;
    pthread_join(t, &ok);
    assert_true(ok != NULL);
    http_client_destroy(c);
    http_server_destroy(s);
}

static void test_connection_refused_and_bad_args(void **state)
{
    (void)state;
    /* A port that was just free and has no listener. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/health", (unsigned)ntohs(a.sin_port));
    http_client *c = http_client_create(NULL, NULL);
    struct http_client_result r;
    ec_err e;
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), -1);
    assert_int_equal(e.code, EC_ENET);
    assert_non_null(strstr(e.msg, "refused"));
    assert_int_equal(r.status, 0);
    const char *evil[] = {"X-A: 1\r\nX-B: 2", NULL};
    assert_int_equal(http_client_request(c, "GET", url, evil, NULL, 0, NULL, &r, &e), -1);
    assert_int_equal(e.code, EC_EINVAL);
    assert_int_equal(http_client_request(c, "GET", "ftp://127.0.0.1/x", NULL, NULL, 0, NULL, &r, &e), -1);
    http_client_destroy(c);

    /* Bad server configs fail clearly. */
    struct http_server_config bad_addr = {.bind_addr = "localhost"};
    http_server *s = http_server_create(&bad_addr, &e);
    assert_non_null(s);
    assert_int_equal(http_server_start(s, &e), -1);
    assert_int_equal(e.code, EC_EINVAL);
    http_server_destroy(s);
    struct http_server_config half_tls = {.tls_cert_file = "/nonexistent.pem"};
    assert_null(http_server_create(&half_tls, &e));
    assert_int_equal(e.code, EC_EINVAL);
    /* Port already in use. */
    s = start_server(NULL, NULL);
    struct http_server_config same = {.port = http_server_port(s)};
    http_server *s2 = http_server_create(&same, &e);
    assert_int_equal(http_server_start(s2, &e), -1);
    assert_int_equal(e.code, EC_ENET);
    http_server_destroy(s2);
    http_server_destroy(s);
}

/* An idle connection is closed by the server after timeout_s. */
static void test_idle_connection_timeout(void **state)
{
    (void)state;
    struct http_server_config cfg = {.timeout_s = 1};
    http_server *s = start_server(&cfg, NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(http_server_port(s))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 6};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    send(fd, "GET /v1/he", 10, MSG_NOSIGNAL); /* a request that never completes */
    double t0 = clock_mono_s();
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    double took = clock_mono_s() - t0;
    close(fd);
    assert_true(n <= 0);   /* closed, no reply */
    assert_true(took < 5); /* by the server, not by our receive timeout */
    assert_true(took > 0.5);
    http_server_destroy(s);
}

static void test_ipv6_loopback(void **state)
{
    (void)state;
    struct http_server_config cfg = {.bind_addr = "::1"};
    ec_err e;
    http_server *s = http_server_create(&cfg, &e);
    assert_int_equal(http_server_route(s, "GET", "/v1/health", 0, h_health, NULL, &e), 0);
    if (http_server_start(s, &e) != 0) { /* no IPv6 in this sandbox */
        http_server_destroy(s);
        skip();
    }
    char url[128];
    snprintf(url, sizeof url, "http://[::1]:%u/v1/health", (unsigned)http_server_port(s));
    http_client *c = http_client_create(NULL, NULL);
    struct http_client_result r;
    if (http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e) != 0)
        fail_msg("%s", e.msg);
    assert_string_equal((const char *)r.body, "{\"ok\":true}");
    http_client_destroy(c);
    http_server_destroy(s);
}

static void test_response_size_limit(void **state)
{
    (void)state;
    http_server *s = start_server(NULL, NULL);
    struct http_client_config cc = {.max_response_bytes = 1000};
    http_client *c = http_client_create(&cc, NULL);
    char url[256];
    url_of(s, "/big", url, sizeof url);
    struct http_client_result r;
    ec_err e;
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), -1);
    assert_int_equal(e.code, EC_EFORMAT);
    assert_non_null(strstr(e.msg, "larger than 1000"));
    /* The handle stays usable. */
    url_of(s, "/v1/health", url, sizeof url);
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), 0);
    http_client_destroy(c);
    http_server_destroy(s);
}

static void test_frame_meta_over_http(void **state)
{
    (void)state;
    http_server *s = start_server(NULL, NULL);
    http_client *c = http_client_create(NULL, NULL);
    char url[256];
    url_of(s, "/meta", url, sizeof url);
    struct http_client_result r;
    ec_err e;
    struct wire_frame_meta m = {.edge = "edge-2", .frame = 77, .model = "tiny", .orig_w = 1280, .orig_h = 720};
    struct wire_meta_headers h;
    assert_int_equal(wire_meta_to_headers(&m, &h, &e), 0);
    assert_int_equal(http_client_request(c, "POST", url, h.list, "\xff\xd8", 2, "image/jpeg", &r, &e), 0);
    assert_string_equal((const char *)r.body,
                        "{\"edge\":\"edge-2\",\"frame\":77,\"model\":\"tiny\",\"w\":1280,\"h\":720}");
    const char *bad[][3] = {
        {"X-Edgecam-Edge: e1", "X-Edgecam-Frame: -3", NULL},
        {"X-Edgecam-Edge: e1", "X-Edgecam-Frame: 12x", NULL},
        {"X-Edgecam-Edge: e/1", "X-Edgecam-Frame: 1", NULL},
        {"X-Edgecam-Frame: 1", "X-Edgecam-Orig-Width: 640", NULL},
        {"X-Edgecam-Edge: e1", "X-Edgecam-Frame: 99999999999999999999", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(http_client_request(c, "POST", url, bad[i], "x", 1, "image/jpeg", &r, &e), -1);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr((const char *)r.body, "\"error\""));
    }
    const char *no_h[] = {"X-Edgecam-Edge: e1", "X-Edgecam-Frame: 1", "X-Edgecam-Orig-Width: 640", NULL};
    assert_int_equal(http_client_request(c, "POST", url, no_h, "x", 1, "image/jpeg", &r, &e), -1);
    assert_int_equal(r.status, 400);
    http_client_destroy(c);
    http_server_destroy(s);
}

#define NCLIENTS 8
#define PER_CLIENT 40

struct client_job {
    char url[256];
    int id;
    int ok;
    long connects;
    metric *latency;
    metric *requests;
};

static void *client_thread(void *arg)
{
    struct client_job *j = arg;
    http_client *c = http_client_create(NULL, NULL);
    for (int i = 0; i < PER_CLIENT; i++) {
        char body[64];
        int n = snprintf(body, sizeof body, "client %d request %d", j->id, i);
        struct http_client_result r;
        double t0 = clock_mono_s();
        if (http_client_request(c, "POST", j->url, NULL, body, (size_t)n, "text/plain", &r, NULL) == 0 &&
            r.body_len == (size_t)n && memcmp(r.body, body, (size_t)n) == 0)
            j->ok++;
        j->connects += r.num_connects;
        metric_observe(j->latency, clock_mono_s() - t0);
        metric_inc(j->requests);
    }
    http_client_destroy(c);
    return NULL;
}

static void test_concurrent_clients_and_metrics(void **state)
{
    (void)state;
    metrics *reg = metrics_create();
    struct http_server_config cfg = {.threads = 2, .metrics = reg};
    http_server *s = start_server(&cfg, reg);
    metric *lat = metrics_histogram(reg, "edgecam_test_request_seconds", NULL, "Client latency.", NULL, 0);
    metric *req = metrics_counter(reg, "edgecam_test_requests_total", NULL, "Requests sent.");
    struct client_job jobs[NCLIENTS];
    pthread_t t[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        jobs[i] = (struct client_job){.id = i, .latency = lat, .requests = req};
        url_of(s, "/echo", jobs[i].url, sizeof jobs[i].url);
        pthread_create(&t[i], NULL, client_thread, &jobs[i]);
    }
    for (int i = 0; i < NCLIENTS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < NCLIENTS; i++) {
        assert_int_equal(jobs[i].ok, PER_CLIENT);
        assert_int_equal(jobs[i].connects, 1); /* one connection per client, reused */
    }
    assert_int_equal(http_server_connections(s), NCLIENTS);
    assert_float_equal(metric_value(req), NCLIENTS * PER_CLIENT, 0);

    /* The registry served over HTTP, as Prometheus scrapes it. */
    http_client *c = http_client_create(NULL, NULL);
    char url[256];
    url_of(s, "/metrics", url, sizeof url);
    struct http_client_result r;
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, NULL), 0);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    char line[128];
    snprintf(line, sizeof line, "\nedgecam_test_requests_total %d\n", NCLIENTS * PER_CLIENT);
    assert_non_null(strstr((const char *)r.body, line));
    snprintf(line, sizeof line, "edgecam_test_request_seconds_bucket{le=\"+Inf\"} %d\n", NCLIENTS * PER_CLIENT);
    assert_non_null(strstr((const char *)r.body, line));
    assert_non_null(strstr((const char *)r.body, "# TYPE edgecam_test_request_seconds histogram\n"));
    /* The server's own accounting: every echo, by route and status. */
    snprintf(line, sizeof line, "edgecam_http_requests_total{route=\"POST /echo\",code=\"200\"} %d\n",
             NCLIENTS * PER_CLIENT);
    assert_non_null(strstr((const char *)r.body, line));
    snprintf(line, sizeof line, "edgecam_http_request_seconds_count{route=\"POST /echo\"} %d\n",
             NCLIENTS * PER_CLIENT);
    assert_non_null(strstr((const char *)r.body, line));
    url_of(s, "/nope", url, sizeof url);
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, NULL), -1);
    metric *unmatched = metrics_counter(reg, "edgecam_http_requests_total",
                                        "route=\"unmatched\",code=\"404\"", NULL);
    assert_float_equal(metric_value(unmatched), 1, 0);
    http_client_destroy(c);
    http_server_destroy(s);
    metrics_destroy(reg);
}

/* HTTPS with a self-signed certificate made by openssl now. */
static void test_tls(void **state)
{
    (void)state;
    char dir[] = "/tmp/edgecam-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[1024], cert[128], key[128], other[128], other_key[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(other, sizeof other, "%s/other.pem", dir);
    snprintf(other_key, sizeof other_key, "%s/other-key.pem", dir);
#define OPENSSL_SELF_SIGNED                                                                        \
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "          \
    "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1"
    snprintf(cmd, sizeof cmd, OPENSSL_SELF_SIGNED, key, cert);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, OPENSSL_SELF_SIGNED, other_key, other);
    if (rc != 0 || system(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        (void)system(cmd);
        skip();
    }
    struct http_server_config cfg = {.tls_cert_file = cert, .tls_key_file = key, .bearer_token = "t"};
    http_server *s = start_server(&cfg, NULL);
    char url[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/echo", (unsigned)http_server_port(s));
    struct http_client_result r;
    ec_err e;
    struct http_client_config cc = {.ca_file = cert, .bearer_token = "t"};
    http_client *c = http_client_create(&cc, NULL);
    for (int i = 0; i < 2; i++) {
        if (http_client_request(c, "POST", url, NULL, "secret", 6, "text/plain", &r, &e) != 0)
            fail_msg("%s", e.msg);
        assert_string_equal((const char *)r.body, "secret");
        assert_int_equal(r.num_connects, i == 0 ? 1 : 0);
    }
    http_client_destroy(c);
    /* Another CA (same name, other key) does not vouch for this certificate. */
    struct http_client_config untrusted = {.bearer_token = "t", .ca_file = other};
    c = http_client_create(&untrusted, NULL);
    assert_int_equal(http_client_request(c, "POST", url, NULL, "x", 1, NULL, &r, &e), -1);
    if (e.code != EC_ENET || r.status != 0)
        fail_msg("want a TLS failure, got status %ld: %s", r.status, e.msg);
    http_client_destroy(c);
    /* Plain HTTP to the TLS port gets no HTTP answer. */
    c = http_client_create(NULL, NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/health", (unsigned)http_server_port(s));
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &r, &e), -1);
    http_client_destroy(c);
    http_server_destroy(s);
    /* A key that is not a key fails at start, saying why. */
    struct http_server_config wrong_key = {.tls_cert_file = cert, .tls_key_file = cert};
    s = http_server_create(&wrong_key, &e);
    assert_non_null(s);
    assert_int_equal(http_server_start(s, &e), -1);
    assert_int_equal(e.code, EC_ENET);
    assert_true(strlen(e.msg) > strlen("cannot start http server on 127.0.0.1:0: "));
    http_server_destroy(s);
    /* A missing key file is a clear error at create time. */
    struct http_server_config broken = {.tls_cert_file = cert, .tls_key_file = "/nonexistent/key.pem"};
    assert_null(http_server_create(&broken, &e));
    assert_int_equal(e.code, EC_EIO);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_404_405_500),
        cmocka_unit_test(test_binary_body_echo_and_keepalive),
        cmocka_unit_test(test_oversize_body_413_server_survives),
        cmocka_unit_test(test_bearer_token),
        cmocka_unit_test(test_client_timeout_and_stop_waits),
        cmocka_unit_test(test_thread_per_connection),
        cmocka_unit_test(test_connection_refused_and_bad_args),
        cmocka_unit_test(test_idle_connection_timeout),
        cmocka_unit_test(test_ipv6_loopback),
        cmocka_unit_test(test_response_size_limit),
        cmocka_unit_test(test_frame_meta_over_http),
        cmocka_unit_test(test_concurrent_clients_and_metrics),
        cmocka_unit_test(test_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
