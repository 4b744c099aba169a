/* Forwarding gateway (SmartEye's, done properly): serves the same POST /v1/infer contract as a
 * backend, so an edge cannot tell it from one, and spreads requests over several backends by a
 * dispatch policy. A monitor thread polls every backend each monitor interval; a backend is
 * ejected after `eject_after` consecutive failed requests or one failed poll, and readmitted
 * after a healthy poll. A request that fails on connection or with a 5xx is retried once on
 * another backend; 4xx answers (unknown model, bad frame) pass through unchanged.
 * Admission is bounded: beyond `queue_size` requests in flight the gateway answers 503 at once.
 *
 * Backends speak either our protocol (POST /v1/infer, GET /v1/status) or KServe v2 (NVIDIA
 * Triton): the gateway then decodes the JPEG and sends a UINT8 [1,H,W,3] "image" tensor with the
 * binary tensor extension, and reads an FP32 [N,6] "detections" tensor (docs/gateway.md). */
#ifndef EDGECAM_GATEWAY_GATEWAY_H
#define EDGECAM_GATEWAY_GATEWAY_H

#include "core/err.h"
#include "net/net.h"

#include <stdint.h>

#define GATEWAY_MAX_BACKENDS 32
#define GATEWAY_NAME_MAX 64

enum gateway_dispatch {
    GATEWAY_ROUND_ROBIN,
    GATEWAY_RANDOM,
    GATEWAY_LEAST_IN_FLIGHT, /* SmartEye "shortest queue": fewest requests this gateway has open */
    GATEWAY_LOWEST_CPU,      /* cpu_percent of the last poll; ties -> fewest in flight */
    GATEWAY_LOWEST_LATENCY,  /* latency EWMA x (1 + in flight / workers) */
};

enum gateway_backend_kind { GATEWAY_BACKEND_EDGECAM, GATEWAY_BACKEND_KSERVE };

struct gateway_backend_spec {
    const char *name; /* for status, logs and the X-Edgecam-Backend answer header */
    const char *url;  /* base URL, e.g. "http://127.0.0.1:8200" */
    enum gateway_backend_kind kind;
};

struct gateway_opts {
    const char *bind_addr;  /* NULL -> 127.0.0.1 */
    uint16_t port;          /* 0 -> ephemeral (gateway_port) */
    enum gateway_dispatch dispatch;
    const struct gateway_backend_spec *backends;
    int nbackends;           /* 1..GATEWAY_MAX_BACKENDS */
    double monitor_interval_s; /* <= 0 -> 1.0 */
    int queue_size;          /* requests in flight before 503; <= 0 -> 64 */
    int retry;               /* retry once on another backend */
    int eject_after;         /* consecutive request failures; <= 0 -> 3 */
    long connect_timeout_ms; /* to backends; <= 0 -> 1000 */
    long request_timeout_ms; /* whole forwarded request; <= 0 -> 30000 */
    size_t max_body_bytes;   /* frame size limit; 0 -> 16 MiB */
    const char *default_model; /* KServe model when a request names none; NULL -> "default" */
    const char *bearer_token;  /* required from edges and sent to backends; NULL -> none */
    const char *tls_cert_file, *tls_key_file, *tls_ca_file;
    uint64_t seed;             /* random policy */
    metrics *metrics;          /* optional; NULL -> the gateway keeps its own for /metrics */
};

struct gateway_backend_status {
    char name[GATEWAY_NAME_MAX];
    enum gateway_backend_kind kind;
    int healthy;           /* last poll succeeded */
    int ejected;           /* not chosen until a healthy poll */
    int in_flight;         /* requests this gateway has open on it */
    int workers, pending;  /* from the last poll (edgecam kind) */
    double cpu_percent;    /* from the last poll */
    double latency_ewma_ms; /* backend-reported model latency, else measured round trip */
    double rtt_ewma_ms;     /* round trip measured by the gateway */
    uint64_t requests;      /* answered 2xx/4xx */
    uint64_t failures;      /* connection failures and 5xx */
    int consecutive_failures;
    uint64_t polls;
};

struct gateway_stats {
    int in_flight, capacity;
    uint64_t requests, rejected, retries, failed; /* failed: answered 5xx after retry */
};

typedef struct gateway gateway;

gateway *gateway_create(const struct gateway_opts *o, ec_err *err);
/* Binds the port, starts the monitor (it polls once before returning). */
int gateway_start(gateway *g, ec_err *err);
uint16_t gateway_port(const gateway *g);
/* Stops accepting, waits for open requests, stops the monitor. Safe to call twice. */
void gateway_stop(gateway *g);
void gateway_destroy(gateway *g);

int gateway_backend_count(const gateway *g);
int gateway_backend_status(gateway *g, int i, struct gateway_backend_status *out);
void gateway_stats(gateway *g, struct gateway_stats *out);

const char *gateway_dispatch_name(enum gateway_dispatch d);

#endif
