/* Continuous learning (EdgeCam): a drift collector on the edge picks the locally inferred
 * frames the model was least sure about, a retrain client ships them to the cloud (or asks
 * it only for labels and fine-tunes locally), and the cloud's retrain service labels them
 * with the golden model, fine-tunes a copy of that edge's model, keeps it only if it beats
 * the old one on held-out frames, versions it and serves it. The edge verifies a download
 * (size, SHA-256, full load) before hot-swapping; any failure leaves the old model running.
 * Wire format: docs/protocol.md ("Retraining"); overview: docs/continuous-learning.md. */
#ifndef EDGECAM_RETRAIN_RETRAIN_H
#define EDGECAM_RETRAIN_RETRAIN_H

#include "core/det.h"
#include "core/err.h"
#include "core/image.h"
#include "nn/nn.h"

#include <stddef.h>
#include <stdint.h>

struct config_retrain;
struct frame;
struct http_server;
typedef struct store store;

#define RETRAIN_MAX_FRAMES 256            /* frames in one uploaded round */
#define RETRAIN_MAX_MODEL_BYTES (64u << 20) /* model download / upload limit */

/* Knobs of one round, mirroring the `retrain` config section. */
struct retrain_opts {
    double window_s;          /* collection window, in video seconds (frame pts) */
    int collect_num;          /* confident frames collected per window */
    int select_num;           /* of which the lowest-mean-confidence ones are sent */
    int num_epoch;
    enum nn_optim_kind optimizer;
    float lr, momentum, weight_decay;
    int head_only;            /* 1: only layers named "head*" learn (BN statistics still adapt) */
    float label_score_thresh; /* golden detections kept as labels */
    float replay_fraction;    /* share of a round's labelled frames replayed next round */
    float holdout_fraction;   /* share of new frames held out to compare old vs new */
    float confident_thresh;   /* collector: a frame needs a detection this confident */
    int batch_size;
    int replay_max;           /* replay history bound, frames */
    uint64_t seed;
};

/* EdgeCam's defaults: window 90 s, 20 -> 15 frames, 2 epochs of SGD lr 0.005 momentum 0.9
 * wd 5e-4 on every layer, labels >= 0.6, replay 0.25, holdout 0.25, confident 0.5, batch 4. */
void retrain_opts_default(struct retrain_opts *o);
void retrain_opts_from_config(struct retrain_opts *o, const struct config_retrain *c);
int retrain_opts_validate(const struct retrain_opts *o, ec_err *err);

/* ---- a round of frames ------------------------------------------------------------------ */
struct retrain_batch {
    int n;
    image **frames;      /* owned RGB copies */
    double *mean_conf;   /* per frame */
    double window_start_s;
};
void retrain_batch_destroy(struct retrain_batch *b);

/* ---- drift collector (edge) ------------------------------------------------------------- */
/* Receives each finished window's selection; takes ownership of `b`. */
typedef void (*drift_round_fn)(void *ctx, struct retrain_batch *b);

typedef struct drift_collector drift_collector;

struct drift_collector_stats {
    int64_t seen;              /* frames offered */
    int64_t collected;         /* copies kept */
    int64_t skip_unconfident;  /* no detection >= confident_thresh */
    int64_t skip_full;         /* window already had collect_num frames */
    int64_t skip_spacing;      /* closer than window / collect_num to the last copy */
    int64_t skip_error;        /* copy failed (memory) or bad frame */
    int64_t rounds;            /* windows handed on */
};

drift_collector *drift_collector_create(const struct retrain_opts *o, drift_round_fn on_round,
                                        void *ctx, ec_err *err);
/* Offers one inferred frame at video time t_s (thread-safe). A frame past the current
 * window closes it first. Copies are at least window / collect_num seconds apart.
 * Returns 1 if kept, 0 if skipped, -1 on a bad argument. */
int drift_collector_add(drift_collector *c, const image *rgb, double t_s,
                        const struct det_list *dets);
/* Adapter for edge_node_opts.observe (ctx = the collector). */
void drift_collector_observe(void *ctx, const struct frame *f, const struct det_list *dets,
                             int model_version);
/* Hands on what the open window holds (end of stream). Returns the frames handed on. */
int drift_collector_flush(drift_collector *c);
void drift_collector_stats(drift_collector *c, struct drift_collector_stats *out);
void drift_collector_destroy(drift_collector *c);

/* ---- trainer (cloud, or edge when where = edge) ----------------------------------------- */
typedef struct retrain_replay retrain_replay;
retrain_replay *retrain_replay_create(int capacity);
int retrain_replay_count(const retrain_replay *r);
void retrain_replay_destroy(retrain_replay *r);

/* Labels frames with the golden detector: out[i] gets the boxes scoring >= thresh. */
int retrain_label(const detector *golden, float thresh, const image *const frames[], int n,
                  struct det_list out[], ec_err *err);

struct retrain_result {
    int frames_used;          /* new frames + replayed frames trained on */
    int train_new, holdout, replayed;
    double map_before, map_after; /* mAP@0.5 on the held-out frames vs golden labels */
    int accepted;             /* map_after > map_before */
    double train_ms, eval_ms;
    float last_loss;
};

/* Fine-tunes a clone of `current` on the labelled frames plus the replay history, compares
 * old vs new on held-out frames and refreshes the replay history. Returns the new detector
 * (caller owns it, also when not accepted) or NULL on error. */
detector *retrain_finetune(const struct retrain_opts *o, const detector *current,
                           const image *const frames[], const struct det_list labels[], int n,
                           retrain_replay *replay, struct retrain_result *res, ec_err *err);

/* mAP@0.5 of `d` on frames against labels (boxes scored >= 0.01). */
double retrain_eval_map(const detector *d, const image *const frames[],
                        const struct det_list labels[], int n, ec_err *err);

/* ---- cloud service ---------------------------------------------------------------------- */
typedef struct retrain_service retrain_service;

struct retrain_service_opts {
    struct retrain_opts retrain;
    const detector *golden;      /* borrowed, thread-safe to run */
    const char *base_model;      /* file every edge starts from (its version 0) */
    const char *model_name;      /* e.g. "edge-lite"; an edge's lineage is "<name>.<edge>" */
    const char *models_dir;      /* where versions are written (created if missing) */
    store *store;                /* borrowed; may be NULL (nothing recorded) */
    int max_rounds;              /* rounds trained at once (one per edge); busy -> 503 */
};

retrain_service *retrain_service_create(const struct retrain_service_opts *o, ec_err *err);
/* Routes: POST /v1/retrain (upload, train, answer), POST /v1/retrain/labels (labels only),
 * GET /v1/models/{lineage}/{version} (model file with X-Edgecam-Sha256). */
int retrain_service_mount(retrain_service *s, struct http_server *srv, ec_err *err);
struct retrain_service_stats { int64_t rounds, accepted, rejected_busy, bad_requests; };
void retrain_service_stats(retrain_service *s, struct retrain_service_stats *out);
void retrain_service_destroy(retrain_service *s);

/* ---- edge client ------------------------------------------------------------------------ */
/* Installs a verified model file (e.g. edge_node_swap_model). */
typedef int (*retrain_swap_fn)(void *ctx, const char *path, int version, ec_err *err);

struct retrain_client_opts {
    struct retrain_opts retrain;
    const char *cloud_url;      /* "http://127.0.0.1:8080" */
    const char *edge_id;
    const char *bearer_token;   /* NULL: none */
    const char *ca_file;        /* PEM CA that verifies an https cloud_url; NULL: system store */
    const char *models_dir;     /* downloads land here (created if missing) */
    const char *current_model;  /* file the edge runs now (needed when train_on_edge) */
    int current_version;        /* 0 = the base model */
    int train_on_edge;          /* where = edge: ask only for labels, fine-tune here */
    int queue_size;             /* rounds waiting; more are dropped (counted) */
    size_t max_model_bytes;     /* 0 -> RETRAIN_MAX_MODEL_BYTES */
    long timeout_ms;            /* per request; 0 -> 120000 */
    int jpeg_quality;           /* 0 -> 90 */
    retrain_swap_fn swap;       /* may be NULL at creation: see retrain_client_set_swap */
    void *swap_ctx;
    store *store;               /* train_on_edge: rounds recorded here; may be NULL */
};

typedef struct retrain_client retrain_client;

struct retrain_client_stats {
    int64_t submitted, dropped;  /* rounds queued / refused by the full queue */
    int64_t done, failed;        /* rounds completed / failed (old model kept) */
    int64_t swaps, not_better;   /* models installed / rounds whose model was not better */
    int current_version;
    double last_map_before, last_map_after;
};

retrain_client *retrain_client_create(const struct retrain_client_opts *o, ec_err *err);
/* Sets the swap target later, e.g. once the edge_node (whose observe hook needs the collector,
 * which needs this client) exists. Thread-safe. */
void retrain_client_set_swap(retrain_client *c, retrain_swap_fn swap, void *ctx);
/* Queues a round (takes ownership, also on failure). 0, or -1 when the queue is full. */
int retrain_client_submit(retrain_client *c, struct retrain_batch *b);
/* Adapter for drift_collector_create (ctx = the client). */
void retrain_client_on_round(void *ctx, struct retrain_batch *b);
/* Waits until every queued round is done; 0, or -1 on timeout. */
int retrain_client_wait_idle(retrain_client *c, int timeout_ms);
void retrain_client_stats(retrain_client *c, struct retrain_client_stats *out);
void retrain_client_destroy(retrain_client *c);

/* ---- helpers ---------------------------------------------------------------------------- */
/* SHA-256 of a buffer as 64 lower-case hex digits + NUL. */
void retrain_sha256_hex(const void *data, size_t len, char out[65]);
/* Whole-file read with a size limit (*buf malloc'd), and atomic write (temp file + rename,
 * so a reader never sees half a model). */
int retrain_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len,
                      ec_err *err);
int retrain_write_file(const char *path, const void *data, size_t len, ec_err *err);
/* Body of POST /v1/retrain: "ECR1", u32 count, then count x (u32 length, JPEG bytes), all
 * little-endian. encode: *out malloc'd. decode: frames[] get new RGB images (caller frees). */
int retrain_frames_encode(const image *const frames[], int n, int quality, uint8_t **out,
                          size_t *len, ec_err *err);
int retrain_frames_decode(const uint8_t *body, size_t len, image *frames[], int max_frames,
                          int *n, ec_err *err);

#endif
