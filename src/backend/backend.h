/* Inference service: loads named detectors and answers POST /v1/infer (JPEG body, the model
 * named by X-Edgecam-Model) with detections. A backend server (SmartEye) is this service on its
 * own HTTP server; the cloud server mounts the same service for its golden model.
 *
 * Admission is bounded: at most `workers` inferences run at once and at most `queue_size` wait;
 * beyond that a request gets 503 at once (the gateway then tries another backend).
 * Models can be hot-swapped while requests run: a request keeps the model it started with. */
#ifndef EDGECAM_BACKEND_BACKEND_H
#define EDGECAM_BACKEND_BACKEND_H

#include "core/det.h"
#include "core/err.h"
#include "core/image.h"
#include "net/net.h"
#include "nn/nn.h"

#define INFER_MAX_MODELS 8
#define INFER_NAME_MAX 64

struct infer_model_spec {
    const char *name; /* [A-Za-z0-9._-]{1,63} */
    const char *path; /* model file */
};

struct infer_service_opts {
    const struct infer_model_spec *models;
    int nmodels;           /* 1..INFER_MAX_MODELS; the first is the default */
    int workers;           /* concurrent inferences, >= 1 */
    int queue_size;        /* requests allowed to wait, >= 0 */
    float score_thresh;    /* detections below are not returned */
    const char *role;      /* "backend" or "cloud", reported by /v1/health */
    /* Optional: queue, in-flight, rejected, requests, latency and model version series
     * labelled role/model (docs/observability.md). */
    metrics *metrics;
    const char *lineage;   /* lineage label of the first model's version; NULL = its name */
};

struct infer_model_status {
    char name[INFER_NAME_MAX];
    int version;
    uint64_t requests;
    double latency_ewma_ms; /* inference time, EWMA alpha 0.2 */
};

struct infer_service_status {
    int in_flight, pending, workers, capacity;
    uint64_t rejected; /* 503 answers for a full queue */
    double cpu_percent; /* process CPU since the previous status call (100 = one core) */
    int64_t rss_bytes;
    double uptime_s;
    int nmodels;
    struct infer_model_status models[INFER_MAX_MODELS];
};

typedef struct infer_service infer_service;

infer_service *infer_service_create(const struct infer_service_opts *o, ec_err *err);
/* Routes: POST /v1/infer, GET /v1/queue, GET /v1/status, GET /v1/health (public). */
int infer_service_mount(infer_service *s, http_server *srv, ec_err *err);
/* What one inference used and cost. */
struct infer_run_info {
    char model[INFER_NAME_MAX];
    int version;
    double queue_ms, infer_ms;
};

/* In-process inference with the same admission rules (model NULL or "" = default); appends to
 * `out`; `info` may be NULL. EC_ENOTFOUND for an unknown model, EC_EFULL when the queue is full. */
int infer_service_run(infer_service *s, const char *model, const image *rgb, struct det_list *out,
                      struct infer_run_info *info, ec_err *err);
/* The role given at creation ("backend", "cloud", "edge"). */
const char *infer_service_role(const infer_service *s);
/* Replaces model `name` (or adds it) with `d`, taking ownership; requests already running
 * finish on the old one. */
int infer_service_swap(infer_service *s, const char *name, detector *d, int version, ec_err *err);
void infer_service_status(infer_service *s, struct infer_service_status *out);
void infer_service_destroy(infer_service *s);

/* KServe v2 routes (docs/gateway.md), so the gateway can treat us like a Triton server:
 * GET /v2/health/ready|live (public), GET /v2/models/{m} and /v2/models/{m}/ready,
 * POST /v2/models/{m}/infer (input "image" UINT8 [1,H,W,3], output "detections" FP32 [N,6]). */
int infer_service_mount_kserve(infer_service *s, http_server *srv, ec_err *err);

#endif
