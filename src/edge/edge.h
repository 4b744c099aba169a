/* Edge node frame pipeline: source -> sampler -> filter -> bounded schedule queue -> workers
 * (inference through a callback: local model, peer or cloud) -> recorder -> store.
 *
 * Every frame the source returns ends in exactly one recorded outcome:
 *   Ref      not sampled, or the filter found it redundant (answered by the last key frame)
 *   Dropped  key frame refused by the full schedule queue, or still queued at a stop
 *   Timeout  key frame that waited longer than wait_thresh before a worker took it,
 *            or whose inference failed
 *   Finished key frame inferred; its detections are stored with it */
#ifndef EDGECAM_EDGE_EDGE_H
#define EDGECAM_EDGE_EDGE_H

#include "core/det.h"
#include "core/err.h"
#include "filter/filter.h"
#include "store/store.h"
#include "video/video.h"

#include <stdint.h>

#define EDGE_WHERE_MAX 64

/* What one inference produced. `dets` is cleared before each call (the worker owns it). */
struct edge_infer_result {
    struct det_list dets;
    char where[EDGE_WHERE_MAX]; /* "local", "peer:<id>", "cloud" */
    int64_t bytes_sent;
    int model_version;
};

/* Runs inference for one key frame (any worker thread; must be thread-safe).
 * Returns 0, or -1 with err set: the frame is then recorded as Timeout. */
typedef int (*edge_infer_fn)(void *ctx, const struct frame *f, struct edge_infer_result *out,
                             ec_err *err);

struct edge_pipeline_opts {
    const char *edge_id;
    struct source_opts source;
    struct filter_opts filter;
    int queue_size;      /* schedule queue capacity (key frames), >= 1 */
    int workers;         /* inference workers, >= 1 */
    double wait_thresh_s; /* a key frame queued longer than this is a Timeout; <= 0: never */
    store *store;        /* borrowed; receives one row per frame */
    int64_t max_frames;  /* stop after this many frames; 0 = until the end of the stream */
    edge_infer_fn infer;
    void *infer_ctx;
    /* Optional: called from a worker once per Finished key frame, before it is recorded
     * (MQTT detection events). Must not block; must not keep pointers past the call. */
    void (*on_finished)(void *ctx, const struct frame *f, const struct edge_infer_result *res);
    void *on_finished_ctx;
};

struct edge_pipeline_stats {
    int64_t frames_read, key_frames;
    int64_t queue_full;    /* key frames the full schedule queue refused (recorded Dropped) */
    int64_t by_outcome[OUTCOME_COUNT];
    int64_t recorded;      /* rows the store accepted */
    int64_t record_errors; /* rows the store refused, or given up at a stop while it was down */
    int64_t store_outages; /* times the store became unavailable (outcomes kept and retried) */
    int64_t store_waits;   /* outcomes that waited for room while the store was down */
};

typedef struct edge_pipeline edge_pipeline;

void edge_pipeline_opts_init(struct edge_pipeline_opts *o);
edge_pipeline *edge_pipeline_create(const struct edge_pipeline_opts *o, ec_err *err);
/* Reads until end of stream or edge_pipeline_stop, then drains every queue and records
 * every outcome before returning. Returns -1 if the source failed (frames read so far are
 * still all recorded). */
int edge_pipeline_run(edge_pipeline *p, ec_err *err);
/* Thread-safe: ends the run promptly; queued key frames are recorded as Dropped. */
void edge_pipeline_stop(edge_pipeline *p);
void edge_pipeline_stats(edge_pipeline *p, struct edge_pipeline_stats *out);
/* Key frames waiting in the schedule queue now (thread-safe). */
int edge_pipeline_queue_len(edge_pipeline *p);
void edge_pipeline_destroy(edge_pipeline *p);

/* ---- edge node: the pipeline + decision engine + local model + peers + cloud ---------- */

#include "net/net.h"
#include "policy/policy.h"

#define EDGE_MAX_PEERS POLICY_MAX_PEERS

struct edge_peer {
    const char *id;  /* peer edge id */
    const char *url; /* base URL, e.g. http://127.0.0.1:9002 */
};

struct edge_node_opts {
    struct edge_pipeline_opts pipeline; /* infer/infer_ctx are set by the node */
    const char *local_model;            /* model file of the lightweight detector */
    float score_thresh;                 /* detections below are discarded (0.25) */
    const char *listen_addr;            /* serves peers; NULL = 127.0.0.1 */
    int listen_port;                    /* 0 = ephemeral, -1 = no server */
    struct edge_peer peers[EDGE_MAX_PEERS];
    int npeers;
    const char *cloud_url;              /* cloud server or gateway; NULL = none */
    const char *cloud_model;            /* X-Edgecam-Model for the cloud; NULL = its default */
    const char *policy_name;            /* built-in policy, or NULL with policy_plugin */
    const char *policy_plugin, *policy_symbol;
    struct policy_params policy_params;
    int exchange_interval_ms;           /* peer/cloud queue polling (500) */
    struct http_client_config http;     /* timeouts, bearer token, CA */
    const char *token;                  /* bearer token required by our server; NULL = none */
    const char *tls_cert_file;          /* both set: our server speaks HTTPS (PEM files) */
    const char *tls_key_file;
    metrics *metrics;                   /* optional: edgecam_edge_* series, /metrics route */
    const char *model_lineage;          /* lineage label of edgecam_model_version; NULL = "edge" */
    /* Called (from worker threads) after every local inference of a key frame, with the
     * frame and the local model's detections: the drift collector of continuous learning
     * plugs in here. Must not keep pointers past the call. */
    void (*observe)(void *ctx, const struct frame *f, const struct det_list *dets,
                    int model_version);
    void *observe_ctx;
};

struct edge_node_stats {
    struct edge_pipeline_stats pipeline;
    int64_t by_dest[4];   /* key frames inferred per policy_dest */
    int64_t fallbacks;    /* peer/cloud chosen but unreachable or failed -> local */
    int64_t regions_sent; /* Edge-Cloud-Assisted regions re-checked by the cloud */
    int64_t bytes_sent;
};

typedef struct edge_node edge_node;

void edge_node_opts_init(struct edge_node_opts *o);
edge_node *edge_node_create(const struct edge_node_opts *o, ec_err *err);
/* Port the node serves peers on (0 when it has no server). */
uint16_t edge_node_port(const edge_node *n);
/* Runs the pipeline to the end of the stream or edge_node_stop; every frame recorded. */
int edge_node_run(edge_node *n, ec_err *err);
void edge_node_stop(edge_node *n);
void edge_node_stats(edge_node *n, struct edge_node_stats *out);
/* Installs a new local model (continuous learning); running inferences finish on the old one. */
int edge_node_swap_model(edge_node *n, const char *path, int version, ec_err *err);
void edge_node_destroy(edge_node *n);

#endif
