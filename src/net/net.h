/* HTTP/1.1 server (libmicrohttpd) and client (libcurl), the JSON/header wire
 * format shared by edges, cloud, gateway and backends, and a small Prometheus
 * metrics registry. Conventions are documented in docs/protocol.md. */
#ifndef EDGECAM_NET_NET_H
#define EDGECAM_NET_NET_H

#include "core/det.h"
#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

struct cJSON;
typedef struct metrics metrics; /* Prometheus registry, see the end of this file */
typedef struct metric metric;

/* ---------------------------------------------------------------- server */

typedef struct http_server http_server;

struct http_server_config {
    const char *bind_addr;       /* IPv4 or IPv6 literal; NULL -> "127.0.0.1" */
    uint16_t port;               /* 0 -> ephemeral, see http_server_port */
    /* Handlers run on MHD's polling threads: a slow handler delays the other
     * connections of its thread. Blocking handlers (inference) want
     * thread_per_connection (bounded by max_connections) instead of a pool. */
    int threads;                 /* polling thread pool size; <= 0 -> 4 */
    int thread_per_connection;   /* 1: one thread per connection, `threads` ignored */
    size_t max_body_bytes;       /* larger request bodies get 413; 0 -> 16 MiB */
    unsigned timeout_s;          /* idle connection timeout; 0 -> 30 */
    unsigned max_connections;    /* 0 -> 256 */
    const char *bearer_token;    /* NULL or "" -> no auth */
    const char *tls_cert_file;   /* both set -> HTTPS (PEM files) */
    const char *tls_key_file;
    /* Optional, outlives the server: edgecam_http_requests_total{route,code} and
     * edgecam_http_request_seconds{route} histograms. */
    metrics *metrics;
};

/* What a handler sees. Every pointer is valid only during the handler call. */
struct http_request {
    const char *method;
    const char *path;            /* decoded, without the query string */
    const uint8_t *body;         /* NULL when empty; not NUL-terminated */
    size_t body_len;
    char remote_addr[64];        /* "127.0.0.1" */
    void *conn_;                 /* internal */
};

#define HTTP_MAX_RESP_HEADERS 16

/* What a handler fills. Starts as 200, no body. The server frees everything. */
struct http_response {
    int status;
    char content_type[96];
    uint8_t *body;               /* malloc'd, owned by the response */
    size_t body_len;
    int nheaders;
    char *header_names[HTTP_MAX_RESP_HEADERS];
    char *header_values[HTTP_MAX_RESP_HEADERS];
};

/* Returns 0, or -1 to answer 500 unless the handler already set an error status. */
typedef int (*http_handler_fn)(const struct http_request *req, struct http_response *resp,
                               void *user);

enum {
    HTTP_ROUTE_PREFIX = 1 << 0, /* path is a prefix ("/v1/models/") rather than exact */
    HTTP_ROUTE_PUBLIC = 1 << 1, /* no bearer token needed (health, metrics) */
};

http_server *http_server_create(const struct http_server_config *cfg, ec_err *err);
/* Adds a route (before start). method NULL matches any method; GET also matches HEAD.
 * First registered match wins; a path match with the wrong method answers 405. */
int http_server_route(http_server *s, const char *method, const char *path, int flags,
                      http_handler_fn fn, void *user, ec_err *err);
int http_server_start(http_server *s, ec_err *err);
/* The bound port (the real one when configured with 0); 0 before start. */
uint16_t http_server_port(const http_server *s);
/* TCP connections accepted since start (keep-alive makes this < requests). */
uint64_t http_server_connections(const http_server *s);
/* Stops accepting, waits for in-flight handlers, frees everything. NULL is fine. */
void http_server_destroy(http_server *s);

/* Request accessors (case-insensitive header names). NULL when absent. */
const char *http_request_header(const struct http_request *req, const char *name);
const char *http_request_query(const struct http_request *req, const char *key);

/* Response helpers; each returns 0 or -1 (out of memory / invalid header). */
int http_response_set_body(struct http_response *resp, const void *data, size_t len,
                           const char *content_type);
/* Takes ownership of a malloc'd buffer (freed even on failure). */
int http_response_take_body(struct http_response *resp, void *data, size_t len,
                            const char *content_type);
/* Sets status and a JSON body {"error": "<message>"}. */
int http_response_error(struct http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int http_response_add_header(struct http_response *resp, const char *name, const char *value);

/* ---------------------------------------------------------------- client */

/* One client per thread: it keeps its connection alive between requests. */
typedef struct http_client http_client;

struct http_client_config {
    long connect_timeout_ms;     /* 0 -> 3000 */
    long timeout_ms;             /* whole request; 0 -> 30000 */
    size_t max_response_bytes;   /* 0 -> 64 MiB */
    const char *bearer_token;    /* NULL -> none */
    const char *ca_file;         /* PEM CA for https; NULL -> system store */
};

/* Valid until the next request on the same client or its destruction. */
struct http_client_result {
    long status;                 /* 0 if no response arrived */
    const char *content_type;    /* "" when absent */
    const uint8_t *body;         /* NUL-terminated for convenience; never NULL */
    size_t body_len;
    long num_connects;           /* new connections this request needed (0 = reused) */
    double total_s;
};

http_client *http_client_create(const struct http_client_config *cfg, ec_err *err);
/* Sends one request. headers: NULL-terminated "Name: value" strings or NULL.
 * Errors: EC_ENET refused / reset / non-2xx (status and body kept in `res`),
 * EC_ETIMEOUT, EC_EFORMAT response larger than max_response_bytes. */
int http_client_request(http_client *c, const char *method, const char *url,
                        const char *const *headers, const void *body, size_t body_len,
                        const char *content_type, struct http_client_result *res, ec_err *err);
/* A header of the last response, NULL when absent. */
const char *http_client_header(http_client *c, const char *name);
void http_client_destroy(http_client *c);

/* ---------------------------------------------------------------- wire format */

#define WIRE_MAX_DETS 4096
#define WIRE_MAX_CLASSES 1000
#define WIRE_MAX_COORD 1.0e6f
#define WIRE_MAX_JSON_BYTES (4u << 20)

/* {"detections":[{"cls":0,"score":0.9,"box":[x1,y1,x2,y2]}, ...]}.
 * to_cjson builds the array under `parent` (so callers can add fields). */
int wire_dets_to_cjson(const struct det_list *dets, struct cJSON *parent, ec_err *err);
char *wire_dets_to_json(const struct det_list *dets, ec_err *err); /* malloc'd */
/* Strict: object with a "detections" array of at most WIRE_MAX_DETS entries, each
 * with integral cls in [0, WIRE_MAX_CLASSES), finite score in [0,1], box of 4 finite
 * numbers with x1 < x2, y1 < y2, |v| <= WIRE_MAX_COORD. Appends to `out`
 * (left unchanged on error). */
int wire_dets_from_cjson(const struct cJSON *root, struct det_list *out, ec_err *err);
int wire_dets_from_json(const char *text, size_t len, struct det_list *out, ec_err *err);
/* Scales boxes from a (from_w x from_h) inferred image back to (to_w x to_h), clamped. */
void wire_dets_rescale(struct det_list *dets, int from_w, int from_h, int to_w, int to_h);

#define WIRE_ID_MAX 64
#define WIRE_HDR_EDGE "X-Edgecam-Edge"
#define WIRE_HDR_FRAME "X-Edgecam-Frame"
#define WIRE_HDR_MODEL "X-Edgecam-Model"
#define WIRE_HDR_ORIG_W "X-Edgecam-Orig-Width"
#define WIRE_HDR_ORIG_H "X-Edgecam-Orig-Height"

/* Metadata of a frame travelling as a JPEG body. */
struct wire_frame_meta {
    char edge[WIRE_ID_MAX];   /* [A-Za-z0-9._-]{1,63}, required */
    int64_t frame;            /* >= 0, required */
    char model[WIRE_ID_MAX];  /* same charset, optional: "" = server default */
    int orig_w, orig_h;       /* 1..IMAGE_MAX_DIM, optional together: 0 = not given */
};

/* Header lines ready for http_client_request: list is NULL-terminated. */
struct wire_meta_headers {
    char lines[5][WIRE_ID_MAX + 32];
    const char *list[6];
};

int wire_meta_validate(const struct wire_frame_meta *m, ec_err *err);
int wire_meta_to_headers(const struct wire_frame_meta *m, struct wire_meta_headers *out,
                         ec_err *err);
int wire_meta_from_request(const struct http_request *req, struct wire_frame_meta *m,
                           ec_err *err);
/* A frame upload (POST /v1/infer): Content-Type image/jpeg, a non-empty body and valid frame
 * headers. On failure: -1, *err, and the HTTP status to answer with in *status (415 or 400). */
int wire_frame_request(const struct http_request *req, struct wire_frame_meta *m, int *status,
                       ec_err *err);

/* ---------------------------------------------------------------- metrics */

/* Prometheus text format 0.0.4. Metrics live as long as their registry;
 * updates are lock-free (counters, gauges) or take a per-histogram lock. */

metrics *metrics_create(void);
void metrics_destroy(metrics *m);
/* Get or create. name: [a-zA-Z_:][a-zA-Z0-9_:]*; labels: NULL or `k="v",k2="v2"`.
 * NULL on invalid names/labels, type clash with an existing family, or no memory. */
metric *metrics_counter(metrics *m, const char *name, const char *labels, const char *help);
metric *metrics_gauge(metrics *m, const char *name, const char *labels, const char *help);
/* bounds: strictly increasing upper bounds (le), +Inf is implicit. NULL -> latency
 * defaults in seconds (0.005 .. 10). */
metric *metrics_histogram(metrics *m, const char *name, const char *labels, const char *help,
                          const double *bounds, int nbounds);

void metric_inc(metric *c);
void metric_add(metric *c, double v);     /* counters: v >= 0; gauges: any */
/* Gauges; counters too, for a collector copying a module's own total: a counter keeps
 * the larger of its value and v. */
void metric_set(metric *g, double v);
void metric_observe(metric *h, double v); /* histograms */
double metric_value(metric *x);           /* counter/gauge value, histogram count */

/* Builds a label string `k="v",k2="v2"` from NULL-terminated name/value pairs, escaping
 * backslash, double quote and newline in values. 0, or -1 (buf = "") when a name is not
 * [a-zA-Z_][a-zA-Z0-9_]* or the result does not fit. */
int metrics_labels(char *buf, size_t size, ...);

/* A collector runs at the start of every render (scrape), outside the registry lock: it
 * copies a module's own counters and queue lengths into metrics. Collectors run one scrape
 * at a time. remove waits for a running scrape, so ctx may be freed right after it. */
typedef void (*metrics_collector_fn)(metrics *m, void *ctx);
int metrics_add_collector(metrics *m, metrics_collector_fn fn, void *ctx); /* -1: full */
void metrics_remove_collector(metrics *m, metrics_collector_fn fn, void *ctx);

/* The whole registry as text (malloc'd, NUL-terminated); NULL on no memory. */
char *metrics_render(metrics *m, size_t *len);
/* Route handler serving metrics_render; user = metrics *. */
int metrics_http_handler(const struct http_request *req, struct http_response *resp, void *user);

#endif
