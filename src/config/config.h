/* One YAML file configures every edgecam process (edge, cloud, gateway, backend, demo).
 *
 * struct ec_config is plain data: fixed-size strings, numbers, enums and small arrays with
 * counts. config_defaults() fills it with the documented defaults (EdgeCam / SmartEye values);
 * config_load_*() overlays a YAML document on it and validates every value. An error names the
 * file, the line and the key path:  config.yaml:12: edge.source.interval: must be an integer >= 1 (got "abc")
 * No free is needed: the struct owns no heap memory and may be copied with memcpy. */
#ifndef EDGECAM_CONFIG_CONFIG_H
#define EDGECAM_CONFIG_CONFIG_H

#include "core/err.h"
#include "core/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_FILE_BYTES (1 << 20) /* larger files are rejected unread */
#define CONFIG_MAX_PEERS 16
#define CONFIG_MAX_BACKENDS 32
#define CONFIG_MAX_MODELS 8
#define CONFIG_ID_SIZE 33 /* ids: 1..32 of [A-Za-z0-9_-] */
#define CONFIG_NAME_SIZE 65
#define CONFIG_HOST_SIZE 256
#define CONFIG_URL_SIZE 512
#define CONFIG_PATH_SIZE 512
#define CONFIG_SECRET_SIZE 256

enum config_source_kind {
    CONFIG_SOURCE_AUTO, CONFIG_SOURCE_FILE, CONFIG_SOURCE_RTSP, CONFIG_SOURCE_V4L2, CONFIG_SOURCE_SYNTH
};
enum config_feature { CONFIG_FEATURE_PIXEL, CONFIG_FEATURE_EDGE, CONFIG_FEATURE_AREA, CONFIG_FEATURE_CORNER };
enum config_policy {
    CONFIG_POLICY_EDGE_LOCAL,
    CONFIG_POLICY_EDGE_SHORTEST,
    CONFIG_POLICY_SHORTEST_CLOUD_THRESHOLD,
    CONFIG_POLICY_EDGE_CLOUD_THRESHOLD,
    CONFIG_POLICY_EDGE_CLOUD_ASSISTED,
    CONFIG_POLICY_ALWAYS_LOCAL_FASTEST_MODEL,
    CONFIG_POLICY_ALWAYS_CLOUD_LOWEST_DELAY,
    CONFIG_POLICY_THRESHOLD_OFFLOAD,
    CONFIG_POLICY_ADAPTIVE,
};
enum config_dispatch {
    CONFIG_DISPATCH_ROUND_ROBIN, CONFIG_DISPATCH_RANDOM, CONFIG_DISPATCH_SHORTEST_QUEUE,
    CONFIG_DISPATCH_LOWEST_CPU, CONFIG_DISPATCH_LOWEST_LATENCY
};
enum config_backend_kind { CONFIG_BACKEND_EDGECAM, CONFIG_BACKEND_KSERVE };
enum config_store_kind { CONFIG_STORE_SQLITE, CONFIG_STORE_MYSQL };
enum config_retrain_where { CONFIG_RETRAIN_CLOUD, CONFIG_RETRAIN_EDGE };
enum config_optimizer { CONFIG_OPTIMIZER_SGD, CONFIG_OPTIMIZER_ADAM };
enum config_layers { CONFIG_LAYERS_HEAD, CONFIG_LAYERS_ALL };

/* Every enum above (plus enum log_level) has a table of YAML names, in value order. */
enum config_enum {
    CONFIG_ENUM_LOG_LEVEL, CONFIG_ENUM_SOURCE_KIND, CONFIG_ENUM_FEATURE, CONFIG_ENUM_POLICY,
    CONFIG_ENUM_DISPATCH, CONFIG_ENUM_BACKEND_KIND, CONFIG_ENUM_STORE_KIND,
    CONFIG_ENUM_RETRAIN_WHERE, CONFIG_ENUM_OPTIMIZER, CONFIG_ENUM_LAYERS,
    CONFIG_ENUM_COUNT
};

struct config_listen {
    char address[CONFIG_HOST_SIZE];
    int port; /* 0 = any free port (tests) */
};

/* Per offloading path resize + JPEG quality (EdgeCam new_height.* / quality.*). */
struct config_path_quality {
    int new_height; /* 0 = keep the source height */
    int quality;    /* JPEG quality 1..100 */
};

/* another: frame sent to a peer edge; directly_cloud: sent to the cloud without local
 * inference; local_cloud: sent to the cloud after local inference (assisted);
 * another_cloud: a peer's frame forwarded to the cloud. */
struct config_paths {
    struct config_path_quality another, directly_cloud, local_cloud, another_cloud;
};

struct config_peer {
    char id[CONFIG_ID_SIZE];
    char url[CONFIG_URL_SIZE];
};

struct config_backend_ref {
    char name[CONFIG_NAME_SIZE];
    char url[CONFIG_URL_SIZE];
    enum config_backend_kind kind;
};

struct config_model_ref {
    char name[CONFIG_NAME_SIZE];
    char path[CONFIG_PATH_SIZE];
};

struct config_log {
    enum log_level level;
    char file[CONFIG_PATH_SIZE]; /* "" = stderr only */
};

struct config_source {
    char uri[CONFIG_URL_SIZE];
    enum config_source_kind kind;
    int interval; /* sample every Nth frame */
    bool realtime;
    int max_frames; /* 0 = until end of stream */
    int io_timeout_ms;
    int reconnect_max; /* 0 = never reconnect */
    int backoff_initial_ms;
    int backoff_max_ms;
    int decode_threads;
};

struct config_edge {
    char edge_id[CONFIG_ID_SIZE];
    struct config_source source;
    struct config_listen listen;
    struct config_peer peers[CONFIG_MAX_PEERS];
    int npeers;
    char cloud_url[CONFIG_URL_SIZE];
    char retrain_url[CONFIG_URL_SIZE]; /* "" = cloud_url */
    int local_queue_size;
    int offload_queue_size;
    int offload_workers;
    int frame_cache_size;
    int queue_thresh;
    double wait_thresh; /* seconds */
    int peer_exchange_interval_ms;
    struct config_paths paths;
    char model[CONFIG_PATH_SIZE];
};

struct config_filter {
    bool diff_flag;
    enum config_feature feature;
    double diff_thresh;
};

/* Edge-Cloud-Assisted: boxes with score in [low, high), area <= max_area of the frame and
 * IoU <= iou with every confident box are re-checked by the cloud. */
struct config_assisted {
    double low, high, max_area, iou;
    int motion_thresh; /* gray levels; 0: regions from the local boxes only */
};

struct config_smarteye {
    int local_pending_max; /* threshold_offload_policy: local pending <= this -> local */
    int downsize_height;   /* height frames are downsized to before offloading */
};

/* Bounds the adaptive policy picks resolution and quality within. */
struct config_adaptive {
    int min_height, max_height, min_quality, max_quality, latency_target_ms;
};

struct config_policy_cfg {
    enum config_policy name;
    char plugin[CONFIG_PATH_SIZE]; /* "" = built-in policy */
    char plugin_symbol[CONFIG_NAME_SIZE];
    int queue_thresh; /* 0 = use edge.queue_thresh */
    struct config_assisted assisted;
    struct config_smarteye smarteye;
    struct config_adaptive adaptive;
};

struct config_cloud {
    struct config_listen listen;
    char model[CONFIG_PATH_SIZE];
    int workers;
    int queue_size;
    int max_body_bytes;
};

struct config_gateway {
    struct config_listen listen;
    enum config_dispatch dispatch;
    double monitor_interval; /* seconds */
    int queue_size;
    bool retry;
    int eject_after;        /* consecutive failed requests before a backend is ejected */
    int connect_timeout_ms; /* to a backend */
    int request_timeout_ms; /* a whole forwarded request */
    char default_model[CONFIG_NAME_SIZE]; /* KServe model when a request names none */
    struct config_backend_ref backends[CONFIG_MAX_BACKENDS];
    int nbackends;
};

struct config_backend {
    struct config_listen listen;
    int workers;
    int queue_size;
    struct config_model_ref models[CONFIG_MAX_MODELS];
    int nmodels;
};

struct config_store {
    enum config_store_kind kind;
    char path[CONFIG_PATH_SIZE];
    char host[CONFIG_HOST_SIZE];
    int port;
    char user[CONFIG_NAME_SIZE];
    char password[CONFIG_SECRET_SIZE];
    char database[CONFIG_NAME_SIZE];
};

struct config_models {
    char dir[CONFIG_PATH_SIZE];
    char edge[CONFIG_PATH_SIZE];
    char golden[CONFIG_PATH_SIZE];
};

struct config_retrain {
    bool enabled;
    enum config_retrain_where where;
    double window; /* seconds */
    int collect_num;
    int select_num;
    int num_epoch;
    enum config_optimizer optimizer;
    double lr, momentum, weight_decay;
    enum config_layers layers;
    double label_score_thresh;
    double replay_fraction;
    double holdout_fraction;
    char cache_dir[CONFIG_PATH_SIZE];
};

struct config_security {
    char token[CONFIG_SECRET_SIZE];
    char tls_cert[CONFIG_PATH_SIZE];
    char tls_key[CONFIG_PATH_SIZE];
    char tls_ca[CONFIG_PATH_SIZE];
};

/* Optional MQTT publication of detection events from edges (docs/observability.md). */
struct config_mqtt {
    bool enabled;
    char host[CONFIG_HOST_SIZE];
    int port;
    char topic_prefix[CONFIG_NAME_SIZE];
    int qos; /* 0 or 1 */
    char username[CONFIG_NAME_SIZE];
    char password[CONFIG_SECRET_SIZE];
    double min_score;
    int queue_size;
};

struct ec_config {
    struct config_log log;
    struct config_edge edge;
    struct config_filter filter;
    struct config_policy_cfg policy;
    struct config_cloud cloud;
    struct config_gateway gateway;
    struct config_backend backend;
    struct config_store store;
    struct config_models models;
    struct config_retrain retrain;
    struct config_security security;
    struct config_mqtt mqtt;
};

/* Fills every field with its documented default (zeroes padding too, so memcmp compares). */
void config_defaults(struct ec_config *cfg);

/* Overlays a YAML file / buffer on `cfg` (call config_defaults first) and validates it.
 * `name` labels error messages (usually the path). On error `cfg` may be partly updated.
 * Returns 0 or -1 with err set (EC_EIO, EC_EFORMAT for YAML syntax, EC_EINVAL for values). */
int config_load_file(const char *path, struct ec_config *cfg, ec_err *err);
int config_load_string(const char *text, size_t len, const char *name, struct ec_config *cfg,
                       ec_err *err);

/* Checks ranges, enums, ids and cross-field rules of a struct built in code (e.g. after
 * command-line overrides). The message names the key path, without a line. */
int config_validate(const struct ec_config *cfg, ec_err *err);

/* Writes a complete, commented YAML document with the current values; it loads back to an
 * identical struct. Returns 0, or -1 on a write error. */
int config_dump_yaml(const struct ec_config *cfg, FILE *out);
/* CONFIG_DUMP_REDACT: secrets (security.token, store.password and the password of any
 * user:password@ URL) are written as "<redacted>" when set, so the output is safe to paste
 * into a bug report; it then no longer loads back to the same struct. */
#define CONFIG_DUMP_REDACT 1u
int config_dump_yaml_opts(const struct ec_config *cfg, FILE *out, unsigned flags);

/* YAML name of an enum value (NULL if out of range) and the reverse (-1 if unknown). */
const char *config_enum_name(enum config_enum which, int value);
int config_enum_parse(enum config_enum which, const char *name);
/* "a|b|c": the accepted names, for usage and error messages. */
const char *config_enum_choices(enum config_enum which);

#endif
