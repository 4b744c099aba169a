/* libFuzzer target: everything edgecam decodes from the network.
 * The first input byte picks the decoder, the rest is its input:
 *   0: detections JSON (wire_dets_from_json), the body of every inference reply;
 *   1: a raw HTTP/1.1 byte stream sent over loopback to a real http_server (libmicrohttpd
 *      request parsing, routing, bearer auth, body limits with 413) serving the real
 *      inference service (POST /v1/infer: frame metadata headers + JPEG; KServe v2
 *      POST /v2/models/m/infer: JSON inference header + binary tensor; status routes) with a
 *      tiny model, plus PUT /v1/frames/... whose handler decodes a detections JSON body;
 *   2: a retrain frame upload (retrain_frames_decode: length-prefixed JPEGs). */
#include "backend/backend.h"
#include "core/det.h"
#include "net/net.h"
#include "retrain/retrain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define FUZZ_TOKEN "fuzztoken"
#define FUZZ_MAX_BODY 4096
#define FUZZ_MAX_FRAMES 4

/* Small enough that an inference costs microseconds. */
static const char *const TINY_ARCH =
    "{\"input\":{\"h\":8,\"w\":8,\"c\":3},\"num_classes\":1,\"layers\":["
    "{\"name\":\"c1\",\"type\":\"conv\",\"filters\":4,\"size\":3,\"stride\":2},"
    "{\"name\":\"a1\",\"type\":\"relu\"},"
    "{\"name\":\"head\",\"type\":\"conv\",\"filters\":6,\"size\":1}]}";

static http_server *server;
static infer_service *service;
static uint16_t server_port;

/* Metadata headers, then a detections JSON body (what edges decode from replies). */
static int handle_frame(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)user;
    ec_err err = {0};
    struct wire_frame_meta meta;
    if (wire_meta_from_request(req, &meta, &err) != 0)
        return http_response_error(resp, 400, "%s", err.msg), 0;
    (void)http_request_query(req, "model");
    struct det_list dets = {0};
    int rc = wire_dets_from_json((const char *)req->body, req->body_len, &dets, &err);
    det_list_free(&dets);
    if (rc != 0)
        return http_response_error(resp, 400, "%s", err.msg), 0;
    return http_response_set_body(resp, "{}", 2, "application/json");
}

/* The real inference service with a tiny model saved to a temporary file. */
static void start_service(void)
{
    ec_err err = {0};
    char path[64];
    snprintf(path, sizeof path, "/tmp/edgecam-fuzz-%d.safetensors", (int)getpid());
    nn_model *m = nn_model_create(TINY_ARCH, 1, &err);
    detector *d = m ? detector_from_model(m, &err) : NULL;
    if (!d || detector_save(d, path, &err) != 0) {
        fprintf(stderr, "fuzz_wire: cannot make the model: %s\n", err.msg);
        abort();
    }
    detector_destroy(d);
    struct infer_model_spec spec = {"m", path};
    struct infer_service_opts o = {.models = &spec, .nmodels = 1, .workers = 2,
                                   .queue_size = 4, .score_thresh = 0.25f, .role = "backend"};
    service = infer_service_create(&o, &err);
    unlink(path);
    if (!service) {
        fprintf(stderr, "fuzz_wire: %s\n", err.msg);
        abort();
    }
}

static void start_server(void)
{
    ec_err err = {0};
    start_service();
    /* Thread per connection, as the edge, cloud and backend servers run. */
    struct http_server_config sc = {.thread_per_connection = 1, .max_body_bytes = FUZZ_MAX_BODY,
                                    .timeout_s = 5, .bearer_token = FUZZ_TOKEN};
    server = http_server_create(&sc, &err);
    if (!server ||
        infer_service_mount(service, server, &err) != 0 ||
        infer_service_mount_kserve(service, server, &err) != 0 ||
        http_server_route(server, "PUT", "/v1/frames/", HTTP_ROUTE_PREFIX, handle_frame, NULL,
                          &err) != 0 ||
        http_server_start(server, &err) != 0) {
        fprintf(stderr, "fuzz_wire: cannot start the server: %s\n", err.msg);
        abort();
    }
    server_port = http_server_port(server);
}

/* Sends the bytes, half-closes, reads the reply until the server closes. The server closes
 * idle connections after 5 s: one that neither answers nor closes within 20 s after the
 * client's EOF is a bug (a hang), reported with the state of every connection to it. */
static void send_raw_http(const uint8_t *data, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        abort();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(server_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc != 0 && errno == EINTR) { /* the connection goes on: wait for its outcome */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        while (poll(&p, 1, 20000) < 0 && errno == EINTR)
            ;
        rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0 ? 0 : -1;
    }
    if (rc != 0) {
        perror("fuzz_wire: connect");
        abort();
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the server may close early (413, bad request): fine */
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue; /* libFuzzer's -timeout watchdog is a SIGALRM without SA_RESTART */
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            break;
        if (n < 0) {
            fprintf(stderr, "fuzz_wire: server neither answered nor closed (%llu connections "
                    "so far)\n", (unsigned long long)http_server_connections(server));
            char cmd[160];
            snprintf(cmd, sizeof cmd, "ss -tn state all '( sport = :%u or dport = :%u )' | "
                     "awk '{print $1}' | sort | uniq -c >&2", server_port, server_port);
            if (system(cmd) != 0)
                fprintf(stderr, "fuzz_wire: ss failed\n");
            abort();
        }
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *rest = data + 1;
    size_t len = size - 1;
    ec_err err = {0};
    switch (data[0] % 3) {
    case 0: {
        struct det_list dets = {0};
        if (wire_dets_from_json((const char *)rest, len, &dets, &err) == 0) {
            /* Whatever decodes must encode and decode back to the same count. */
            char *text = wire_dets_to_json(&dets, &err);
            struct det_list again = {0};
            if (!text || wire_dets_from_json(text, strlen(text), &again, &err) != 0 ||
                again.n != dets.n)
                abort();
            det_list_free(&again);
            free(text);
        }
        det_list_free(&dets);
        break;
    }
    case 1:
        if (!server)
            start_server();
        send_raw_http(rest, len);
        break;
    default: {
        image *frames[FUZZ_MAX_FRAMES];
        int n = 0;
        if (retrain_frames_decode(rest, len, frames, FUZZ_MAX_FRAMES, &n, &err) == 0)
            for (int i = 0; i < n; i++)
                image_destroy(frames[i]);
        break;
    }
    }
    return 0;
}
