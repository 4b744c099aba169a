/* The configuration schema (every key, its range and its documentation), the defaults,
 * enum names and struct validation. Parsing is in config_load.c, printing in config_dump.c. */
#include "config/config_schema.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(enum config_policy) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enums are stored as int");

/* ---- enum names (value order) ---- */

static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const source_kind_names[] = {"auto", "file", "rtsp", "v4l2", "synth", NULL};
static const char *const feature_names[] = {"pixel", "edge", "area", "corner", NULL};
static const char *const policy_names[] = {
    "edge_local", "edge_shortest", "shortest_cloud_threshold", "edge_cloud_threshold",
    "edge_cloud_assisted", "always_local_fastest_model", "always_cloud_lowest_delay",
    "threshold_offload_policy", "adaptive", NULL};
static const char *const dispatch_names[] = {"round_robin", "random", "shortest_queue",
                                             "lowest_cpu", "lowest_latency", NULL};
static const char *const backend_kind_names[] = {"edgecam", "kserve", NULL};
static const char *const store_kind_names[] = {"sqlite", "mysql", NULL};
static const char *const retrain_where_names[] = {"cloud", "edge", NULL};
static const char *const optimizer_names[] = {"sgd", "adam", NULL};
static const char *const layers_names[] = {"head", "all", NULL};

static const char *const *const enum_tables[CONFIG_ENUM_COUNT] = {
    log_level_names, source_kind_names, feature_names, policy_names, dispatch_names,
    backend_kind_names, store_kind_names, retrain_where_names, optimizer_names, layers_names,
};

static int enum_count(enum config_enum which)
{
    int n = 0;
    while (enum_tables[which][n])
        n++;
    return n;
}

const char *config_enum_name(enum config_enum which, int value)
{
    if ((unsigned)which >= CONFIG_ENUM_COUNT || value < 0 || value >= enum_count(which))
        return NULL;
    return enum_tables[which][value];
}

int config_enum_parse(enum config_enum which, const char *name)
{
    if ((unsigned)which >= CONFIG_ENUM_COUNT || !name)
        return -1;
    for (int i = 0; enum_tables[which][i]; i++)
        if (strcmp(enum_tables[which][i], name) == 0)
            return i;
    return -1;
}

static char enum_choices[CONFIG_ENUM_COUNT][256];
static pthread_once_t enum_choices_once = PTHREAD_ONCE_INIT;

static void build_enum_choices(void)
{
    for (int e = 0; e < CONFIG_ENUM_COUNT; e++) {
        size_t n = 0;
        for (int i = 0; enum_tables[e][i]; i++)
            n += (size_t)snprintf(enum_choices[e] + n, sizeof enum_choices[e] - n, "%s%s",
                                  i ? "|" : "", enum_tables[e][i]);
    }
}

const char *config_enum_choices(enum config_enum which)
{
    if ((unsigned)which >= CONFIG_ENUM_COUNT)
        return "";
    pthread_once(&enum_choices_once, build_enum_choices); /* callable from any thread */
    return enum_choices[which];
}

/* ---- defaults ---- */

static void copy_str(char *dst, size_t size, const char *src)
{
    memset(dst, 0, size);
    strncpy(dst, src, size - 1);
}
#define SET_STR(dst, src) copy_str((dst), sizeof(dst), (src))

static void listen_defaults(struct config_listen *l, int port)
{
    SET_STR(l->address, "127.0.0.1");
    l->port = port;
}

static void edge_defaults(struct config_edge *e)
{
    SET_STR(e->edge_id, "edge-1");
    SET_STR(e->source.uri, "synth://street");
    e->source.kind = CONFIG_SOURCE_AUTO;
    e->source.interval = 2;
    e->source.realtime = true;
    e->source.max_frames = 0;
    e->source.io_timeout_ms = 5000;
    e->source.reconnect_max = 5;
    e->source.backoff_initial_ms = 500;
    e->source.backoff_max_ms = 10000;
    e->source.decode_threads = 1;
    listen_defaults(&e->listen, 8100);
    SET_STR(e->cloud_url, "http://127.0.0.1:8000");
    e->local_queue_size = 10;
    e->offload_queue_size = 10;
    e->offload_workers = 1;
    e->frame_cache_size = 100;
    e->queue_thresh = 5;
    e->wait_thresh = 100.0;
    e->peer_exchange_interval_ms = 1000;
    e->paths.another = (struct config_path_quality){0, 90};
    e->paths.directly_cloud = (struct config_path_quality){720, 85};
    /* The assisted view at the golden model's input scale (320x192): larger is scaled down in
     * the cloud anyway; 180p q60 is what docs/policies.md measures (bytes and mAP). */
    e->paths.local_cloud = (struct config_path_quality){180, 60};
    e->paths.another_cloud = (struct config_path_quality){720, 85};
    SET_STR(e->model, "edge");
}

static void policy_defaults(struct config_policy_cfg *p)
{
    p->name = CONFIG_POLICY_EDGE_SHORTEST;
    SET_STR(p->plugin_symbol, "edgecam_policy_decide");
    p->queue_thresh = 0;
    p->assisted = (struct config_assisted){0.2, 0.6, 0.1, 0.3, 4};
    p->smarteye = (struct config_smarteye){2, 240};
    p->adaptive = (struct config_adaptive){240, 1080, 50, 95, 200};
}

static void retrain_defaults(struct config_retrain *r)
{
    r->enabled = true;
    r->where = CONFIG_RETRAIN_CLOUD;
    r->window = 90.0;
    /* EdgeCam's 20 -> 15 frames, 2 epochs of SGD lr 0.005 and a quarter replayed took ~7 rounds
     * to bring a day-trained edge model within 0.1 mAP@0.5 of the golden model at night;
     * these take 2-5 (docs/continuous-learning.md, `edgecam bench --section retrain`). */
    r->collect_num = 30;
    r->select_num = 24;
    r->num_epoch = 4;
    r->optimizer = CONFIG_OPTIMIZER_ADAM;
    r->lr = 0.0005;
    r->momentum = 0.9;
    r->weight_decay = 5e-4;
    r->layers = CONFIG_LAYERS_ALL;
    r->label_score_thresh = 0.5;
    r->replay_fraction = 0.5;
    r->holdout_fraction = 0.25;
    SET_STR(r->cache_dir, "cache");
}

void config_defaults(struct ec_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->log.level = LOG_LEVEL_INFO;
    edge_defaults(&cfg->edge);
    cfg->filter = (struct config_filter){true, CONFIG_FEATURE_EDGE, 0.01};
    policy_defaults(&cfg->policy);

    listen_defaults(&cfg->cloud.listen, 8000);
    SET_STR(cfg->cloud.model, "golden");
    cfg->cloud.workers = 2;
    cfg->cloud.queue_size = 32;
    cfg->cloud.max_body_bytes = 16 << 20;

    listen_defaults(&cfg->gateway.listen, 8080);
    cfg->gateway.dispatch = CONFIG_DISPATCH_SHORTEST_QUEUE;
    cfg->gateway.monitor_interval = 1.0;
    cfg->gateway.queue_size = 64;
    cfg->gateway.retry = true;
    cfg->gateway.eject_after = 3;
    cfg->gateway.connect_timeout_ms = 1000;
    cfg->gateway.request_timeout_ms = 30000;
    SET_STR(cfg->gateway.default_model, "golden");

    listen_defaults(&cfg->backend.listen, 8200);
    cfg->backend.workers = 2;
    cfg->backend.queue_size = 32;

    cfg->store.kind = CONFIG_STORE_SQLITE;
    SET_STR(cfg->store.path, "edgecam.db");
    SET_STR(cfg->store.host, "127.0.0.1");
    cfg->store.port = 3306;
    SET_STR(cfg->store.user, "edgecam");
    SET_STR(cfg->store.database, "edgecam");

    SET_STR(cfg->models.dir, "models");
    SET_STR(cfg->models.edge, "edge");
    SET_STR(cfg->models.golden, "golden");
    retrain_defaults(&cfg->retrain);

    SET_STR(cfg->mqtt.host, "127.0.0.1");
    cfg->mqtt.port = 1883;
    SET_STR(cfg->mqtt.topic_prefix, "edgecam");
    cfg->mqtt.min_score = 0.0;
    cfg->mqtt.queue_size = 256;
}

/* ---- cross-field rules ---- */

static int fail(struct check_fail *f, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct check_fail *f, const char *key, const char *fmt, ...)
{
    f->key = key;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_source(const void *obj, struct check_fail *f)
{
    const struct config_source *s = obj;
    if (s->backoff_initial_ms > s->backoff_max_ms)
        return fail(f, "backoff_initial_ms", "must be <= backoff_max_ms (got %d > %d)",
                    s->backoff_initial_ms, s->backoff_max_ms);
    return 0;
}

static int check_edge(const void *obj, struct check_fail *f)
{
    const struct config_edge *e = obj;
    if (e->queue_thresh > e->local_queue_size)
        return fail(f, "queue_thresh", "must be <= local_queue_size (got %d > %d)",
                    e->queue_thresh, e->local_queue_size);
    for (int i = 0; i < e->npeers; i++) {
        if (strcmp(e->peers[i].id, e->edge_id) == 0)
            return fail(f, "peers", "peer %d has this node's own edge_id \"%s\"", i, e->edge_id);
        for (int j = 0; j < i; j++)
            if (strcmp(e->peers[i].id, e->peers[j].id) == 0)
                return fail(f, "peers", "peers %d and %d have the same id \"%s\"", j, i,
                            e->peers[i].id);
    }
    return 0;
}

static int check_assisted(const void *obj, struct check_fail *f)
{
    const struct config_assisted *a = obj;
    if (a->low > a->high)
        return fail(f, "low", "must be <= high (got %g > %g)", a->low, a->high);
    return 0;
}

static int check_adaptive(const void *obj, struct check_fail *f)
{
    const struct config_adaptive *a = obj;
    if (a->min_height > a->max_height)
        return fail(f, "min_height", "must be <= max_height (got %d > %d)", a->min_height,
                    a->max_height);
    if (a->min_quality > a->max_quality)
        return fail(f, "min_quality", "must be <= max_quality (got %d > %d)", a->min_quality,
                    a->max_quality);
    return 0;
}

/* Entries of a list of named structs must have distinct names (the first field). */
static int check_unique_names(const char *first, int count, size_t stride, size_t name_size,
                              const char *what, struct check_fail *f)
{
    for (int i = 0; i < count; i++)
        for (int j = 0; j < i; j++)
            if (strncmp(first + (size_t)i * stride, first + (size_t)j * stride, name_size) == 0)
                return fail(f, what, "entries %d and %d have the same name \"%.64s\"", j, i,
                            first + (size_t)i * stride);
    return 0;
}

static int check_gateway(const void *obj, struct check_fail *f)
{
    const struct config_gateway *g = obj;
    return check_unique_names(g->backends[0].name, g->nbackends, sizeof g->backends[0],
                              sizeof g->backends[0].name, "backends", f);
}

static int check_backend(const void *obj, struct check_fail *f)
{
    const struct config_backend *b = obj;
    return check_unique_names(b->models[0].name, b->nmodels, sizeof b->models[0],
                              sizeof b->models[0].name, "models", f);
}

static int check_retrain(const void *obj, struct check_fail *f)
{
    const struct config_retrain *r = obj;
    if (r->select_num > r->collect_num)
        return fail(f, "select_num", "must be <= collect_num (got %d > %d)", r->select_num,
                    r->collect_num);
    return 0;
}

static int check_security(const void *obj, struct check_fail *f)
{
    const struct config_security *s = obj;
    if (!s->tls_cert[0] != !s->tls_key[0])
        return fail(f, s->tls_cert[0] ? "tls_key" : "tls_cert",
                    "tls_cert and tls_key must be set together");
    return 0;
}

/* ---- the schema ---- */

#define NOMAX 1e300 /* numeric field without an upper bound */

#define F_INT(T, m, lo, hi, d) \
    {.key = #m, .type = FT_INT, .offset = offsetof(T, m), .min = (lo), .max = (hi), .doc = (d)}
#define F_DBL(T, m, lo, hi, d) \
    {.key = #m, .type = FT_DOUBLE, .offset = offsetof(T, m), .min = (lo), .max = (hi), .doc = (d)}
#define F_BOOL(T, m, d) {.key = #m, .type = FT_BOOL, .offset = offsetof(T, m), .doc = (d)}
#define F_STRX(T, m, ty, fl, d) \
    {.key = #m, .type = (ty), .offset = offsetof(T, m), .size = sizeof(((T *)0)->m), \
     .flags = (fl), .doc = (d)}
#define F_STR(T, m, d) F_STRX(T, m, FT_STRING, 0, d)
#define F_ENUM(T, m, e, d) \
    {.key = #m, .type = FT_ENUM, .offset = offsetof(T, m), .enum_id = (e), .doc = (d)}
#define F_SECT(T, m, kids, chk, d) \
    {.key = #m, .type = FT_SECTION, .offset = offsetof(T, m), .children = (kids), \
     .check = (chk), .doc = (d)}
#define F_LIST(T, m, n, kids, d) \
    {.key = #m, .type = FT_LIST, .offset = offsetof(T, m), .size = sizeof(((T *)0)->m[0]), \
     .max = sizeof(((T *)0)->m) / sizeof(((T *)0)->m[0]), .count_offset = offsetof(T, n), \
     .children = (kids), .doc = (d)}
#define F_END {.key = NULL}

static const struct field listen_fields[] = {
    F_STR(struct config_listen, address,
          "Address to bind; 127.0.0.1 keeps the service on loopback, 0.0.0.0 exposes it."),
    F_INT(struct config_listen, port, 0, 65535, "TCP port (0 = pick a free port)."),
    F_END,
};

static const struct field path_quality_fields[] = {
    F_INT(struct config_path_quality, new_height, 0, 4320,
          "Resize frames to this height before sending (0 = keep the source height)."),
    F_INT(struct config_path_quality, quality, 1, 100, "JPEG quality 1..100."),
    F_END,
};

static const struct field log_fields[] = {
    F_ENUM(struct config_log, level, CONFIG_ENUM_LOG_LEVEL,
           "Least severe message printed. [--log-level on the command line wins]"),
    F_STR(struct config_log, file, "Also append log lines to this file (\"\" = stderr only)."),
    F_END,
};

static const struct field source_fields[] = {
    F_STR(struct config_source, uri,
          "Video to read: a file path, rtsp://user:pass@host/path, /dev/videoN or synth://NAME. "
          "[EdgeCam: source.video_path, source.rtsp.{flag,account,password,ip_address,channel}]"),
    F_ENUM(struct config_source, kind, CONFIG_ENUM_SOURCE_KIND,
           "How to open uri; auto guesses from its form."),
    F_INT(struct config_source, interval, 1, 10000,
          "Sample every Nth decoded frame. [EdgeCam: interval]"),
    F_BOOL(struct config_source, realtime,
           "Pace file and synthetic sources at their frame rate, like a live camera."),
    F_INT(struct config_source, max_frames, 0, INT_MAX,
          "Stop after this many frames (0 = until the end). [EdgeCam: source.max_count]"),
    F_INT(struct config_source, io_timeout_ms, 1, 3600000,
          "Give up on a read or connect that blocks longer than this."),
    F_INT(struct config_source, reconnect_max, 0, 1000000,
          "Reconnect attempts after a live source fails (0 = never)."),
    F_INT(struct config_source, backoff_initial_ms, 1, 3600000,
          "First wait before reconnecting; doubles after each failure."),
    F_INT(struct config_source, backoff_max_ms, 1, 3600000, "Longest wait between reconnects."),
    F_INT(struct config_source, decode_threads, 1, 64, "FFmpeg decoder threads; colour conversion and the filter run in another thread beside them (docs/performance.md)."),
    F_END,
};

static const struct field peer_fields[] = {
    F_STRX(struct config_peer, id, FT_ID, FIELD_REQUIRED, "peer edge_id"),
    F_STRX(struct config_peer, url, FT_URL, FIELD_REQUIRED, "peer base URL, http://host:port"),
    F_END,
};

static const struct field paths_fields[] = {
    F_SECT(struct config_paths, another, path_quality_fields, NULL,
           "Frame offloaded to a peer edge. [EdgeCam: new_height.another, quality.another]"),
    F_SECT(struct config_paths, directly_cloud, path_quality_fields, NULL,
           "Frame sent to the cloud without local inference. "
           "[EdgeCam: new_height.directly_cloud, quality.directly_cloud]"),
    F_SECT(struct config_paths, local_cloud, path_quality_fields, NULL,
           "Frame sent to the cloud after local inference (assisted). "
           "[EdgeCam: new_height.local_cloud, quality.local_cloud]"),
    F_SECT(struct config_paths, another_cloud, path_quality_fields, NULL,
           "A peer's frame forwarded to the cloud. "
           "[EdgeCam: new_height.another_cloud, quality.another_cloud]"),
    F_END,
};

static const struct field edge_fields[] = {
    F_STRX(struct config_edge, edge_id, FT_ID, 0,
           "This node's id: 1..32 of [A-Za-z0-9_-]. [EdgeCam: edge_id]"),
    F_SECT(struct config_edge, source, source_fields, check_source, "Video input."),
    F_SECT(struct config_edge, listen, listen_fields, NULL,
           "Where peers reach this edge (offloaded frames, queue status)."),
    F_LIST(struct config_edge, peers, npeers, peer_fields,
           "Other edge nodes frames may be offloaded to (at most 16). "
           "[EdgeCam: destinations, edge_num]"),
    F_STRX(struct config_edge, cloud_url, FT_URL, 0,
           "Cloud server or gateway base URL (\"\" = no cloud). [EdgeCam: server_ip]"),
    F_STRX(struct config_edge, retrain_url, FT_URL, 0,
           "Cloud server that labels and retrains (\"\" = cloud_url); set it when cloud_url "
           "points at a gateway."),
    F_INT(struct config_edge, local_queue_size, 1, 100000,
          "Frames waiting for local inference. [EdgeCam: local_queue_maxsize]"),
    F_INT(struct config_edge, offload_queue_size, 1, 100000, "Frames waiting to be offloaded."),
    F_INT(struct config_edge, offload_workers, 1, 256,
          "Concurrent offload requests. [EdgeCam: offloading_max_worker]"),
    F_INT(struct config_edge, frame_cache_size, 1, 100000,
          "Decoded frames buffered between reader and filter. [EdgeCam: frame_cache_maxsize]"),
    F_INT(struct config_edge, queue_thresh, 0, 100000,
          "Local queue length above which the threshold policies offload. [EdgeCam: queue_thresh]"),
    F_DBL(struct config_edge, wait_thresh, 0.001, 86400,
          "Seconds a frame may wait before it is recorded as Timeout. [EdgeCam: wait_thresh]"),
    F_INT(struct config_edge, peer_exchange_interval_ms, 10, 3600000,
          "How often queue lengths are exchanged with peers."),
    F_SECT(struct config_edge, paths, paths_fields, NULL,
           "Resize and JPEG quality per offloading path."),
    F_STR(struct config_edge, model,
          "Edge model: a name in models.dir or a path. [EdgeCam: small_model_name]"),
    F_END,
};

static const struct field filter_fields[] = {
    F_BOOL(struct config_filter, diff_flag,
           "Drop frames too similar to the last key frame. [EdgeCam: diff_flag]"),
    F_ENUM(struct config_filter, feature, CONFIG_ENUM_FEATURE,
           "Difference feature. [EdgeCam: feature]"),
    F_DBL(struct config_filter, diff_thresh, 0, 1,
          "Accumulated difference (fraction of the frame) that makes a key frame. "
          "[EdgeCam: diff_thresh]"),
    F_END,
};

static const struct field assisted_fields[] = {
    F_DBL(struct config_assisted, low, 0, 1, "Lowest score of an uncertain box."),
    F_DBL(struct config_assisted, high, 0, 1, "Score from which a box is confident."),
    F_DBL(struct config_assisted, max_area, 0, 1,
          "Largest uncertain box, as a fraction of the frame area."),
    F_DBL(struct config_assisted, iou, 0, 1,
          "Uncertain boxes overlapping a confident box more than this are dropped."),
    F_INT(struct config_assisted, motion_thresh, 0, 255,
          "Gray levels a pixel must change by since the previous key frame to count as motion; "
          "moving 16x16 blocks are shown to the cloud too. 0 = the uncertain boxes only."),
    F_END,
};

static const struct field smarteye_fields[] = {
    F_INT(struct config_smarteye, local_pending_max, 0, 100000,
          "threshold_offload_policy: run locally while at most this many frames are pending. "
          "[SmartEye: threshold 2]"),
    F_INT(struct config_smarteye, downsize_height, 16, 4320,
          "Height offloaded frames are downsized to. [SmartEye: 240p]"),
    F_END,
};

static const struct field adaptive_fields[] = {
    F_INT(struct config_adaptive, min_height, 16, 4320, "Smallest height the policy may pick."),
    F_INT(struct config_adaptive, max_height, 16, 4320, "Largest height the policy may pick."),
    F_INT(struct config_adaptive, min_quality, 1, 100, "Lowest JPEG quality."),
    F_INT(struct config_adaptive, max_quality, 1, 100, "Highest JPEG quality."),
    F_INT(struct config_adaptive, latency_target_ms, 1, 600000,
          "End-to-end latency the policy aims for."),
    F_END,
};

static const struct field policy_fields[] = {
    F_ENUM(struct config_policy_cfg, name, CONFIG_ENUM_POLICY,
           "Scheduling policy. [EdgeCam: policy; SmartEye: policy]"),
    F_STR(struct config_policy_cfg, plugin,
          "Shared object with a custom policy (\"\" = built-in policy by name)."),
    F_STRX(struct config_policy_cfg, plugin_symbol, FT_ID, 0,
           "Symbol the plugin exports."),
    F_INT(struct config_policy_cfg, queue_thresh, 0, 100000,
          "Queue threshold of the *_threshold policies; 0 = use edge.queue_thresh."),
    F_SECT(struct config_policy_cfg, assisted, assisted_fields, check_assisted,
           "edge_cloud_assisted parameters. [EdgeCam: fixed 0.2/0.6/0.1/0.3]"),
    F_SECT(struct config_policy_cfg, smarteye, smarteye_fields, NULL,
           "SmartEye policy parameters."),
    F_SECT(struct config_policy_cfg, adaptive, adaptive_fields, check_adaptive,
           "Bounds of the adaptive policy."),
    F_END,
};

static const struct field cloud_fields[] = {
    F_SECT(struct config_cloud, listen, listen_fields, NULL, "Where edges reach the cloud."),
    F_STR(struct config_cloud, model,
          "Golden model: a name in models.dir or a path. [EdgeCam: large_model_name]"),
    F_INT(struct config_cloud, workers, 1, 256, "Inference threads."),
    F_INT(struct config_cloud, queue_size, 1, 100000,
          "Requests waiting for inference; more are refused (503)."),
    F_INT(struct config_cloud, max_body_bytes, 1024, 1 << 30, "Largest request body accepted."),
    F_END,
};

static const struct field backend_ref_fields[] = {
    F_STRX(struct config_backend_ref, name, FT_ID, FIELD_REQUIRED, "backend name"),
    F_STRX(struct config_backend_ref, url, FT_URL, FIELD_REQUIRED, "backend base URL"),
    F_ENUM(struct config_backend_ref, kind, CONFIG_ENUM_BACKEND_KIND,
           "protocol: edgecam backend or KServe v2 (Triton)"),
    F_END,
};

static const struct field gateway_fields[] = {
    F_SECT(struct config_gateway, listen, listen_fields, NULL, "Where edges reach the gateway."),
    F_ENUM(struct config_gateway, dispatch, CONFIG_ENUM_DISPATCH,
           "How a backend is chosen per request. [SmartEye: gateway policy]"),
    F_DBL(struct config_gateway, monitor_interval, 0.01, 3600,
          "Seconds between backend health/load polls. [SmartEye: monitor interval]"),
    F_INT(struct config_gateway, queue_size, 1, 100000, "Requests in flight before 503."),
    F_BOOL(struct config_gateway, retry, "Retry a failed request once on another backend."),
    F_INT(struct config_gateway, eject_after, 1, 1000,
          "Consecutive failed requests after which a backend is ejected until a health poll "
          "succeeds."),
    F_INT(struct config_gateway, connect_timeout_ms, 1, 600000, "Connect timeout to a backend."),
    F_INT(struct config_gateway, request_timeout_ms, 1, 3600000,
          "Time limit of one forwarded request."),
    F_STRX(struct config_gateway, default_model, FT_ID, 0,
           "Model asked of KServe backends when a request names none."),
    F_LIST(struct config_gateway, backends, nbackends, backend_ref_fields,
           "Backend inference servers (at most 32). [SmartEye: backend server list]"),
    F_END,
};

static const struct field model_ref_fields[] = {
    F_STRX(struct config_model_ref, name, FT_ID, FIELD_REQUIRED, "model name requests use"),
    F_STRX(struct config_model_ref, path, FT_STRING, FIELD_REQUIRED, "model file"),
    F_END,
};

static const struct field backend_fields[] = {
    F_SECT(struct config_backend, listen, listen_fields, NULL, "Where the gateway reaches it."),
    F_INT(struct config_backend, workers, 1, 256, "Inference threads."),
    F_INT(struct config_backend, queue_size, 1, 100000, "Requests waiting before 503."),
    F_LIST(struct config_backend, models, nmodels, model_ref_fields,
           "Models loaded at start; each request names one (at most 8). "
           "[SmartEye: backend model list]"),
    F_END,
};

static const struct field store_fields[] = {
    F_ENUM(struct config_store, kind, CONFIG_ENUM_STORE_KIND,
           "Result database. [EdgeCam: MySQL only]"),
    F_STR(struct config_store, path, "SQLite file."),
    F_STR(struct config_store, host, "MySQL host. [EdgeCam: connection.host]"),
    F_INT(struct config_store, port, 1, 65535, "MySQL port. [EdgeCam: connection.port]"),
    F_STR(struct config_store, user, "MySQL user. [EdgeCam: connection.user]"),
    F_STRX(struct config_store, password, FT_STRING, FIELD_SECRET,
           "MySQL password. [EdgeCam: connection.password]"),
    F_STR(struct config_store, database, "MySQL database (EdgeCam used one table per edge)."),
    F_END,
};

static const struct field models_fields[] = {
    F_STR(struct config_models, dir, "Folder model names are looked up in."),
    F_STR(struct config_models, edge, "Default lightweight edge model."),
    F_STR(struct config_models, golden, "Default golden (cloud) model that labels drift frames."),
    F_END,
};

static const struct field retrain_fields[] = {
    F_BOOL(struct config_retrain, enabled, "Continuous learning on. [EdgeCam: retrain.flag]"),
    F_ENUM(struct config_retrain, where, CONFIG_ENUM_RETRAIN_WHERE,
           "Where fine-tuning runs (the golden model always labels in the cloud)."),
    F_DBL(struct config_retrain, window, 1, 86400,
          "Seconds per collection window. [EdgeCam: retrain.window]"),
    F_INT(struct config_retrain, collect_num, 1, 100000,
          "Frames with confident detections collected per window. [EdgeCam: collect_num, 20]"),
    F_INT(struct config_retrain, select_num, 1, 100000,
          "Least confident collected frames sent for labelling. [EdgeCam: select_num, 15]"),
    F_INT(struct config_retrain, num_epoch, 1, 1000, "Fine-tuning epochs. [EdgeCam: num_epoch, 2]"),
    F_ENUM(struct config_retrain, optimizer, CONFIG_ENUM_OPTIMIZER, "Optimizer. [EdgeCam: sgd]"),
    F_DBL(struct config_retrain, lr, 1e-9, 10, "Learning rate. [EdgeCam: 0.005]"),
    F_DBL(struct config_retrain, momentum, 0, 0.999999, "SGD momentum. [EdgeCam: 0.9]"),
    F_DBL(struct config_retrain, weight_decay, 0, 1, "Weight decay. [EdgeCam: 5e-4]"),
    F_ENUM(struct config_retrain, layers, CONFIG_ENUM_LAYERS,
           "Layers trained: the detection head only, or all. [EdgeCam: all]"),
    F_DBL(struct config_retrain, label_score_thresh, 0, 1,
          "Golden-model boxes at or above this score become labels. [EdgeCam: 0.6]"),
    F_DBL(struct config_retrain, replay_fraction, 0, 1,
          "Fraction of labelled frames kept as replay history. [EdgeCam: a quarter]"),
    F_DBL(struct config_retrain, holdout_fraction, 0, 0.9,
          "Fraction held out to check the new model before it is swapped in."),
    F_STR(struct config_retrain, cache_dir,
          "Folder for collected frames, labels and replay history. [EdgeCam: retrain.cache_path]"),
    F_END,
};

static const struct field security_fields[] = {
    F_STRX(struct config_security, token, FT_STRING, FIELD_SECRET,
           "Bearer token required on every request (\"\" = no authentication)."),
    F_STR(struct config_security, tls_cert, "PEM certificate; set with tls_key to serve HTTPS."),
    F_STR(struct config_security, tls_key, "PEM private key."),
    F_STR(struct config_security, tls_ca, "CA bundle clients verify servers with."),
    F_END,
};

static int check_mqtt(const void *obj, struct check_fail *f)
{
    const struct config_mqtt *m = obj;
    if (m->enabled && !m->host[0])
        return fail(f, "host", "must be set when mqtt.enabled is true");
    /* The prefix starts every topic: MQTT wildcards and empty levels would break them. */
    if (!m->topic_prefix[0] || strpbrk(m->topic_prefix, "+#") ||
        m->topic_prefix[0] == '/' || m->topic_prefix[strlen(m->topic_prefix) - 1] == '/')
        return fail(f, "topic_prefix", "must be a non-empty topic without '+', '#' or a "
                                       "leading/trailing '/'");
    return 0;
}

static const struct field mqtt_fields[] = {
    F_BOOL(struct config_mqtt, enabled,
           "Publish each finished frame's detections to an MQTT broker (needs a build with "
           "libmosquitto)."),
    F_STR(struct config_mqtt, host, "Broker host."),
    F_INT(struct config_mqtt, port, 1, 65535, "Broker port."),
    F_STR(struct config_mqtt, topic_prefix, "Topics are <topic_prefix>/<edge_id>/detections."),
    F_INT(struct config_mqtt, qos, 0, 1, "MQTT QoS of published events (0 or 1)."),
    F_STR(struct config_mqtt, username, "Broker user (\"\" = anonymous)."),
    F_STRX(struct config_mqtt, password, FT_STRING, FIELD_SECRET, "Broker password."),
    F_DBL(struct config_mqtt, min_score, 0, 1,
          "Detections below this score are left out; frames left with none are not published."),
    F_INT(struct config_mqtt, queue_size, 1, 100000,
          "Events waiting for the broker; more are dropped (counted)."),
    F_END,
};

const struct field config_root_fields[] = {
    F_SECT(struct ec_config, log, log_fields, NULL, "Logging."),
    F_SECT(struct ec_config, edge, edge_fields, check_edge,
           "Edge node: `edgecam edge`. [EdgeCam: client; SmartEye: edge]"),
    F_SECT(struct ec_config, filter, filter_fields, NULL, "Redundant-frame filter on the edge."),
    F_SECT(struct ec_config, policy, policy_fields, NULL, "Where each key frame is inferred."),
    F_SECT(struct ec_config, cloud, cloud_fields, NULL,
           "Cloud server: `edgecam cloud`. [EdgeCam: server]"),
    F_SECT(struct ec_config, gateway, gateway_fields, check_gateway,
           "Forwarding gateway: `edgecam gateway`. [SmartEye: gateway]"),
    F_SECT(struct ec_config, backend, backend_fields, check_backend,
           "Backend inference server: `edgecam backend`. [SmartEye: backend]"),
    F_SECT(struct ec_config, store, store_fields, NULL, "Where per-frame results are stored."),
    F_SECT(struct ec_config, models, models_fields, NULL, "Model files."),
    F_SECT(struct ec_config, retrain, retrain_fields, check_retrain,
           "Continuous learning. [EdgeCam: retrain]"),
    F_SECT(struct ec_config, security, security_fields, check_security,
           "Authentication and TLS for every HTTP endpoint."),
    F_SECT(struct ec_config, mqtt, mqtt_fields, check_mqtt,
           "Optional MQTT detection events for home automation."),
    F_END,
};

/* ---- value checks ---- */

void field_describe(const struct field *f, char *buf, size_t n)
{
    switch (f->type) {
    case FT_INT:
    case FT_DOUBLE: {
        const char *what = f->type == FT_INT ? "an integer" : "a number";
        if (f->max >= NOMAX || (f->type == FT_INT && f->max >= INT_MAX))
            snprintf(buf, n, "must be %s >= %.15g", what, f->min);
        else
            snprintf(buf, n, "must be %s in [%.15g, %.15g]", what, f->min, f->max);
        break;
    }
    case FT_BOOL: snprintf(buf, n, "must be true or false"); break;
    case FT_ENUM: snprintf(buf, n, "must be one of %s", config_enum_choices(f->enum_id)); break;
    case FT_ID:
        snprintf(buf, n, "must be 1 to %zu characters of [A-Za-z0-9_-]", f->size - 1);
        break;
    case FT_URL:
        snprintf(buf, n, "must be an http:// or https:// URL of at most %zu characters",
                 f->size - 1);
        break;
    case FT_STRING:
        snprintf(buf, n, "must be a string of at most %zu characters, no control characters",
                 f->size - 1);
        break;
    case FT_SECTION: snprintf(buf, n, "must be a mapping"); break;
    case FT_LIST: snprintf(buf, n, "must be a list of at most %.0f entries", f->max); break;
    }
}

bool field_int_ok(const struct field *f, long long v)
{
    return v >= f->min && v <= f->max && v >= INT_MIN && v <= INT_MAX;
}

bool field_double_ok(const struct field *f, double v)
{
    return isfinite(v) && v >= f->min && v <= f->max;
}

static bool id_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-';
}

bool field_string_ok(const struct field *f, const char *s, size_t len)
{
    if (len >= f->size)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (f->type == FT_ID && !id_char(c))
            return false;
    }
    if (f->type == FT_ID)
        return len > 0;
    if (f->type == FT_URL && len > 0)
        return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
    return true;
}

void field_quote(char *buf, size_t n, const char *text, size_t len)
{
    size_t o = 0, limit = 48;
    if (n < 8)
        return;
    buf[o++] = '"';
    for (size_t i = 0; i < len && i < limit && o + 6 < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, n - o, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (len > limit && o + 5 < n)
        o += (size_t)snprintf(buf + o, n - o, "...");
    buf[o++] = '"';
    buf[o] = '\0';
}

size_t path_push(char *path, size_t n, const char *key)
{
    size_t old = strlen(path);
    snprintf(path + old, n - old, "%s%.64s", old ? "." : "", key);
    return old;
}

size_t path_push_index(char *path, size_t n, int index)
{
    size_t old = strlen(path);
    snprintf(path + old, n - old, "[%d]", index);
    return old;
}

/* ---- struct validation ---- */

static int value_validate(const struct field *f, const void *p, char *msg, size_t msgsz)
{
    char want[160], got[80];
    got[0] = '\0';
    switch (f->type) {
    case FT_INT:
        if (field_int_ok(f, *(const int *)p))
            return 0;
        snprintf(got, sizeof got, "%d", *(const int *)p);
        break;
    case FT_DOUBLE:
        if (field_double_ok(f, *(const double *)p))
            return 0;
        snprintf(got, sizeof got, "%.17g", *(const double *)p);
        break;
    case FT_BOOL: return 0;
    case FT_ENUM:
        if (config_enum_name(f->enum_id, *(const int *)p))
            return 0;
        snprintf(got, sizeof got, "%d", *(const int *)p);
        break;
    case FT_STRING:
    case FT_ID:
    case FT_URL: {
        const char *s = p;
        size_t len = strnlen(s, f->size);
        if (field_string_ok(f, s, len))
            return 0;
        field_quote(got, sizeof got, s, len);
        break;
    }
    default: return 0;
    }
    field_describe(f, want, sizeof want);
    snprintf(msg, msgsz, "%s (got %s)", want, got);
    return -1;
}

const char *fields_missing_required(const struct field *fields, const char *elem)
{
    for (const struct field *c = fields; c->key; c++)
        if ((c->flags & FIELD_REQUIRED) && !elem[c->offset])
            return c->key;
    return NULL;
}

static int list_validate(const struct field *f, const char *base, char *path, size_t pathsz,
                         char *msg, size_t msgsz)
{
    int count = *(const int *)(base + f->count_offset);
    if (count < 0 || count > f->max) {
        snprintf(msg, msgsz, "too many entries (%d, at most %.0f)", count, f->max);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        size_t old = path_push_index(path, pathsz, i);
        const char *elem = base + f->offset + (size_t)i * f->size;
        if (fields_validate(f->children, elem, path, pathsz, msg, msgsz) != 0)
            return -1;
        const char *missing = fields_missing_required(f->children, elem);
        if (missing) {
            path_push(path, pathsz, missing);
            snprintf(msg, msgsz, "required key missing");
            return -1;
        }
        path[old] = '\0';
    }
    return 0;
}

int fields_validate(const struct field *fields, const void *obj, char *path, size_t pathsz,
                    char *msg, size_t msgsz)
{
    const char *base = obj;
    for (const struct field *f = fields; f->key; f++) {
        size_t old = path_push(path, pathsz, f->key);
        int rc = 0;
        if (f->type == FT_SECTION) {
            rc = fields_validate(f->children, base + f->offset, path, pathsz, msg, msgsz);
            struct check_fail fail;
            if (rc == 0 && f->check && f->check(base + f->offset, &fail) != 0) {
                path_push(path, pathsz, fail.key);
                snprintf(msg, msgsz, "%s", fail.msg);
                rc = -1;
            }
        } else if (f->type == FT_LIST) {
            rc = list_validate(f, base, path, pathsz, msg, msgsz);
        } else {
            rc = value_validate(f, base + f->offset, msg, msgsz);
        }
        if (rc != 0)
            return -1;
        path[old] = '\0';
    }
    return 0;
}

int config_validate(const struct ec_config *cfg, ec_err *err)
{
    char path[256] = "", msg[400];
    if (fields_validate(config_root_fields, cfg, path, sizeof path, msg, sizeof msg) != 0)
        return ec_err_set(err, EC_EINVAL, "%s: %s", path, msg);
    return 0;
}
