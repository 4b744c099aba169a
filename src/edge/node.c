/* The edge node: decides per key frame where inference runs and carries it out. */
#include "edge/edge.h"

#include "backend/backend.h"
#include "core/clock.h"
#include "core/log.h"
#include "edge/assist_view.h"
#include "edge/links.h"
#include "nn/nn.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REGIONS 32

struct edge_node {
    struct edge_node_opts o;
    char edge_id[STORE_NAME_MAX];
    edge_pipeline *pipe;
    infer_service *local; /* the lightweight model, also served to peers */
    policy *pol;
    links *links;
    http_server *srv;
    pthread_key_t tls;    /* per-thread http client + JPEG codec */
    pthread_mutex_t lock; /* jpeg_bpp, assist */
    double jpeg_bpp;
    int jpeg_bpp_quality;
    struct assist_memory assist; /* Edge-Cloud-Assisted: previous key frame, tracked boxes */
    atomic_llong by_dest[4], fallbacks, regions_sent, bytes_sent, bytes_received;
    /* Metrics (all NULL without a registry); fps is measured between two scrapes. */
    metric *m_infer_s[4], *m_frame_s;
    int64_t fps_frames;
    double fps_since;
};

struct thread_tools {
    http_client *http;
    jpeg_codec *jpeg;
};

static void tools_free(void *p)
{
    struct thread_tools *t = p;
    http_client_destroy(t->http);
    jpeg_codec_destroy(t->jpeg);
    free(t);
}

static struct thread_tools *tools(edge_node *n, ec_err *err)
{
    struct thread_tools *t = pthread_getspecific(n->tls);
    if (t)
        return t;
    t = calloc(1, sizeof *t);
    if (!t || !(t->http = http_client_create(&n->o.http, err)) || !(t->jpeg = jpeg_codec_create(err))) {
        if (t)
            tools_free(t);
        ec_err_set(err, EC_ENOMEM, "cannot create per-thread HTTP client / JPEG codec");
        return NULL;
    }
    pthread_setspecific(n->tls, t);
    return t;
}

void edge_node_opts_init(struct edge_node_opts *o)
{
    memset(o, 0, sizeof *o);
    edge_pipeline_opts_init(&o->pipeline);
    o->score_thresh = 0.25f;
    o->policy_name = "edge_local";
    policy_params_default(&o->policy_params);
    o->exchange_interval_ms = 500;
}

static int run_local(edge_node *n, const struct frame *f, struct edge_infer_result *out,
                     ec_err *err)
{
    const image *img = f->img;
    struct infer_run_info info;
    if (infer_service_run(n->local, NULL, img, &out->dets, &info, err) != 0)
        return -1;
    out->model_version = info.version;
    if (n->o.observe)
        n->o.observe(n->o.observe_ctx, f, &out->dets, info.version);
    snprintf(out->where, sizeof out->where, "local");
    return 0;
}

static void observe_jpeg(edge_node *n, size_t bytes, const image *img, int quality)
{
    double bpp = (double)bytes / ((double)img->w * img->h);
    pthread_mutex_lock(&n->lock);
    n->jpeg_bpp = n->jpeg_bpp_quality == quality && n->jpeg_bpp > 0
                      ? 0.8 * n->jpeg_bpp + 0.2 * bpp
                      : bpp;
    n->jpeg_bpp_quality = quality;
    pthread_mutex_unlock(&n->lock);
}

/* Resizes to `height` (0 = as is), JPEG-encodes, POSTs to /v1/infer of peer (-1 = cloud),
 * and appends the answer to `out` in the pixels of `img`. */
static int offload(edge_node *n, int peer, const struct frame *f, const image *img, int height,
                   int quality, struct det_list *out, int64_t *bytes, ec_err *err)
{
    struct thread_tools *t = tools(n, err);
    if (!t)
        return -1;
    image *small = NULL;
    if (height > 0 && height < img->h && !(small = image_resize_height(img, height, err)))
        return -1;
    const image *send = small ? small : img;
    uint8_t *jpeg = NULL;
    size_t len = 0;
    int rc = jpeg_encode(t->jpeg, send, quality > 0 ? quality : 90, &jpeg, &len, err);
    if (rc == 0)
        observe_jpeg(n, len, send, quality > 0 ? quality : 90);
    struct wire_frame_meta meta = {.frame = f->index, .orig_w = img->w, .orig_h = img->h};
    snprintf(meta.edge, sizeof meta.edge, "%s", n->edge_id);
    if (peer < 0 && n->o.cloud_model)
        snprintf(meta.model, sizeof meta.model, "%s", n->o.cloud_model);
    struct wire_meta_headers hdrs;
    const struct link_target *target = links_target(n->links, peer);
    char url[LINK_URL_MAX + 16];
    snprintf(url, sizeof url, "%s/v1/infer", target->url);
    struct http_client_result res = {0};
    double t0 = clock_mono_s();
    if (rc == 0)
        rc = wire_meta_to_headers(&meta, &hdrs, err);
    if (rc == 0)
        rc = http_client_request(t->http, "POST", url, hdrs.list, jpeg, len, "image/jpeg", &res,
                                 err);
    double total_ms = (clock_mono_s() - t0) * 1000.0, server_ms = 0;
    struct det_list got = {0};
    if (rc == 0) {
        cJSON *root = cJSON_ParseWithLength((const char *)res.body, res.body_len);
        rc = root ? wire_dets_from_cjson(root, &got, err)
                  : ec_err_set(err, EC_EFORMAT, "%s: reply is not JSON", url);
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(root, "infer_ms");
        const cJSON *qm = cJSON_GetObjectItemCaseSensitive(root, "queue_ms");
        server_ms = (cJSON_IsNumber(im) ? im->valuedouble : 0) +
                    (cJSON_IsNumber(qm) ? qm->valuedouble : 0);
        cJSON_Delete(root);
    }
    links_observe(n->links, peer, rc == 0, total_ms, server_ms, len);
    if (rc == 0) {
        wire_dets_rescale(&got, send->w, send->h, img->w, img->h);
        for (int i = 0; i < got.n; i++)
            det_list_push(out, got.v[i]);
        *bytes += (int64_t)len;
        atomic_fetch_add(&n->bytes_sent, (long long)len);
    }
    atomic_fetch_add(&n->bytes_received, (long long)res.body_len);
    det_list_free(&got);
    free(jpeg);
    image_destroy(small);
    return rc;
}

/* The frame at the assisted path's height, and the blocks that moved since the previous key
 * frame (*motion NULL when there is no reference or motion is off). Every key frame becomes
 * the next one's reference, uploaded or not. */
static image *assist_prepare(edge_node *n, const struct frame *f, int height, uint8_t **motion,
                             ec_err *err)
{
    *motion = NULL;
    image *src = height > 0 && height < f->img->h ? image_resize_height(f->img, height, err)
                                                  : image_clone(f->img);
    if (!src) {
        ec_err_set(err, EC_ENOMEM, "cannot scale the region upload");
        return NULL;
    }
    int thresh = n->o.policy_params.assisted_motion_thresh;
    if (thresh <= 0 || src->c != 3)
        return src;
    image *gray = image_create(src->w, src->h, 1);
    uint8_t *blocks = calloc((size_t)assist_blocks(src->w) * assist_blocks(src->h), 1);
    if (!gray || !blocks) {
        image_destroy(gray);
        free(blocks);
        return src; /* no motion this time: the boxes alone */
    }
    image_rgb_to_gray(src, gray);
    pthread_mutex_lock(&n->lock);
    image *prev = n->assist.prev_gray;
    if (prev && prev->w == gray->w && prev->h == gray->h) {
        assist_motion_blocks(prev, gray, thresh, blocks);
        *motion = blocks;
    }
    n->assist.prev_gray = gray;
    pthread_mutex_unlock(&n->lock);
    image_destroy(prev);
    if (!*motion)
        free(blocks);
    return src;
}

/* Uploads the view of in->view_src and merges the cloud's answer into out->dets. */
static int assist_offload(edge_node *n, const struct frame *f, int quality,
                          struct assist_view_in *in, struct edge_infer_result *out, ec_err *err)
{
    struct assist_view view;
    struct det_list cloud = {0}, merged = {0};
    pthread_mutex_lock(&n->lock);
    struct det_list tracked = {0};
    for (int i = 0; i < n->assist.tracked.n; i++)
        det_list_push(&tracked, n->assist.tracked.v[i]);
    pthread_mutex_unlock(&n->lock);
    in->tracked = &tracked;
    int rc = assist_view_build(in, &view, err);
    if (rc == 0)
        rc = offload(n, -1, f, view.img, 0, quality, &cloud, &out->bytes_sent, err);
    if (rc == 0) { /* the view's pixels -> the frame's */
        wire_dets_rescale(&cloud, view.img->w, view.img->h, f->img->w, f->img->h);
        rc = assist_merge(in, &view, &cloud, &merged);
        if (rc != 0)
            ec_err_set(err, EC_ENOMEM, "cannot merge the cloud's answer");
    }
    if (rc == 0) {
        pthread_mutex_lock(&n->lock);
        assist_track(&n->assist, &cloud);
        pthread_mutex_unlock(&n->lock);
        det_list_free(&out->dets);
        out->dets = merged;
        merged = (struct det_list){0};
    }
    assist_view_free(&view);
    det_list_free(&tracked);
    det_list_free(&cloud);
    det_list_free(&merged);
    return rc;
}

/* Edge-Cloud-Assisted: local model; when it is uncertain the cloud looks at a view of the
 * frame (src/edge/assist_view.c) and its answer replaces the local boxes it covers. */
static int run_assisted(edge_node *n, const struct frame *f, const struct policy_decision *d,
                        const struct policy_state *s, struct edge_infer_result *out, ec_err *err)
{
    if (run_local(n, f, out, err) != 0)
        return -1;
    int idx[MAX_REGIONS];
    int nreg = policy_assisted_regions(&n->o.policy_params, &out->dets, f->img->w, f->img->h, idx,
                                       MAX_REGIONS);
    ec_err oerr = {0};
    uint8_t *motion = NULL;
    image *src = assist_prepare(n, f, d->height, &motion, &oerr);
    int rc = src ? 0 : -1;
    if (rc == 0 && nreg > 0 && s->cloud.reachable) {
        struct assist_view_in in = {.view_src = src, .frame_w = f->img->w, .frame_h = f->img->h,
                                    .dets = &out->dets, .idx = idx, .nidx = nreg,
                                    .motion = motion};
        rc = assist_offload(n, f, d->quality, &in, out, &oerr);
        if (rc == 0) {
            atomic_fetch_add(&n->regions_sent, nreg);
            snprintf(out->where, sizeof out->where, "local+cloud");
        }
    }
    image_destroy(src);
    free(motion);
    if (rc != 0) { /* keep the local answer */
        log_warn("edge %s: frame %lld: assisted regions not checked (%s)", n->edge_id,
                 (long long)f->index, oerr.msg);
        atomic_fetch_add(&n->fallbacks, 1);
    }
    return 0;
}

static void build_state(edge_node *n, const struct frame *f, struct policy_state *s)
{
    memset(s, 0, sizeof *s);
    struct infer_service_status st;
    infer_service_status(n->local, &st);
    s->local_queue_len = edge_pipeline_queue_len(n->pipe) + st.pending + st.in_flight;
    s->local_queue_cap = n->o.pipeline.queue_size;
    s->local_infer_ms = st.nmodels ? st.models[0].latency_ewma_ms : 0;
    links_snapshot(n->links, s);
    s->frame_w = f->img->w;
    s->frame_h = f->img->h;
    pthread_mutex_lock(&n->lock);
    s->jpeg_bpp = n->jpeg_bpp;
    s->jpeg_bpp_quality = n->jpeg_bpp_quality;
    pthread_mutex_unlock(&n->lock);
}

static int node_decide_and_infer(edge_node *n, const struct frame *f,
                                 struct edge_infer_result *out, ec_err *err, int *dest);

/* Times every key frame's inference by destination, and its age at the answer. */
static int node_infer(void *ctx, const struct frame *f, struct edge_infer_result *out, ec_err *err)
{
    edge_node *n = ctx;
    double t0 = clock_mono_s();
    int dest = POLICY_LOCAL;
    int rc = node_decide_and_infer(n, f, out, err, &dest);
    if (rc == 0) {
        metric_observe(n->m_infer_s[dest], clock_mono_s() - t0);
        int64_t age_ms = clock_wall_ms() - f->capture_ms;
        metric_observe(n->m_frame_s, age_ms > 0 ? (double)age_ms / 1000.0 : 0);
    }
    return rc;
}

static int node_decide_and_infer(edge_node *n, const struct frame *f,
                                 struct edge_infer_result *out, ec_err *err, int *dest)
{
    struct policy_state s;
    struct policy_decision d;
    build_state(n, f, &s);
    policy_decide(n->pol, &s, &d);
    if (d.fallback)
        atomic_fetch_add(&n->fallbacks, 1);
    atomic_fetch_add(&n->by_dest[d.dest], 1);
    *dest = d.dest;
    if (d.dest == POLICY_ASSISTED)
        return run_assisted(n, f, &d, &s, out, err);
    if (d.dest == POLICY_LOCAL)
        return run_local(n, f, out, err);
    int peer = d.dest == POLICY_PEER ? d.peer : -1;
    ec_err oerr = {0};
    if (offload(n, peer, f, f->img, d.height, d.quality, &out->dets, &out->bytes_sent, &oerr) == 0) {
        if (peer >= 0)
            snprintf(out->where, sizeof out->where, "peer:%s", links_target(n->links, peer)->id);
        else
            snprintf(out->where, sizeof out->where, "cloud");
        return 0;
    }
    /* The peer or cloud failed mid-request: answer locally, and say so. */
    log_warn("edge %s: frame %lld: %s failed (%s); running locally", n->edge_id,
             (long long)f->index, peer >= 0 ? "peer" : "cloud", oerr.msg);
    atomic_fetch_add(&n->fallbacks, 1);
    det_list_clear(&out->dets);
    return run_local(n, f, out, err);
}

/* GET /v1/queue on an edge: key frames waiting in its pipeline plus peer requests. */
static int handle_queue(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    edge_node *n = user;
    struct infer_service_status st;
    infer_service_status(n->local, &st);
    char body[160];
    int len = snprintf(body, sizeof body,
                       "{\"pending\":%d,\"capacity\":%d,\"in_flight\":%d,\"workers\":%d}",
                       edge_pipeline_queue_len(n->pipe) + st.pending, n->o.pipeline.queue_size,
                       st.in_flight, st.workers);
    return http_response_set_body(resp, body, (size_t)len, "application/json");
}

static int start_server(edge_node *n, ec_err *err)
{
    struct http_server_config sc = {
        .bind_addr = n->o.listen_addr,
        .port = (uint16_t)n->o.listen_port,
        .thread_per_connection = 1,
        .bearer_token = n->o.token,
        .tls_cert_file = n->o.tls_cert_file,
        .tls_key_file = n->o.tls_key_file,
        .metrics = n->o.metrics,
    };
    if (!(n->srv = http_server_create(&sc, err)) ||
        http_server_route(n->srv, "GET", "/v1/queue", 0, handle_queue, n, err) != 0 ||
        infer_service_mount(n->local, n->srv, err) != 0)
        return -1;
    if (n->o.metrics &&
        http_server_route(n->srv, "GET", "/metrics", HTTP_ROUTE_PUBLIC, metrics_http_handler,
                          n->o.metrics, err) != 0)
        return -1;
    return http_server_start(n->srv, err);
}

/* Scrape-time copy of the node's counters into its registry (docs/observability.md). */
static void collect_metrics(metrics *m, void *ctx)
{
    edge_node *n = ctx;
    struct edge_node_stats s;
    edge_node_stats(n, &s);
    char l[192];
    metrics_labels(l, sizeof l, "edge", n->edge_id, NULL);
    const struct edge_pipeline_stats *p = &s.pipeline;
    struct { const char *name, *help; int64_t v; } counters[] = {
        {"edgecam_edge_frames_total", "Frames read from the source.", p->frames_read},
        {"edgecam_edge_key_frames_total", "Frames the filter passed on for inference.",
         p->key_frames},
        {"edgecam_edge_queue_dropped_total",
         "Key frames refused by the full schedule queue (recorded as dropped).", p->queue_full},
        {"edgecam_edge_recorded_total", "Outcome rows the store accepted.", p->recorded},
        {"edgecam_edge_record_errors_total", "Outcome rows the store refused after retries.",
         p->record_errors},
        {"edgecam_edge_store_outages_total",
         "Times the store became unavailable (outcomes kept and retried).", p->store_outages},
        {"edgecam_edge_store_waits_total",
         "Outcomes that waited for room while the store was down.", p->store_waits},
        {"edgecam_edge_fallbacks_total", "Peer or cloud chosen but unusable: ran locally.",
         s.fallbacks},
        {"edgecam_edge_regions_sent_total", "Edge-Cloud-Assisted regions re-checked by the cloud.",
         s.regions_sent},
        {"edgecam_edge_sent_bytes_total", "JPEG bytes offloaded to peers and the cloud.",
         s.bytes_sent},
        {"edgecam_edge_received_bytes_total", "Reply bytes received from peers and the cloud.",
         atomic_load(&n->bytes_received)},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        metric_set(metrics_counter(m, counters[i].name, l, counters[i].help), (double)counters[i].v);
    char ol[224];
    for (int o = 0; o < OUTCOME_COUNT; o++) {
        metrics_labels(ol, sizeof ol, "edge", n->edge_id, "outcome", frame_outcome_name(o), NULL);
        metric_set(metrics_counter(m, "edgecam_edge_outcomes_total", ol,
                                   "Frames by recorded outcome (finished, ref, timeout, dropped)."),
                   (double)p->by_outcome[o]);
    }
    for (int d = 0; d < 4; d++) {
        metrics_labels(ol, sizeof ol, "edge", n->edge_id, "dest", policy_dest_name(d), NULL);
        metric_set(metrics_counter(m, "edgecam_edge_decisions_total", ol,
                                   "Key frames by where the policy sent them."),
                   (double)s.by_dest[d]);
    }
    metric_set(metrics_gauge(m, "edgecam_edge_queue_length", l,
                             "Key frames waiting in the schedule queue."),
               edge_pipeline_queue_len(n->pipe));
    metric_set(metrics_gauge(m, "edgecam_edge_queue_capacity", l, "Schedule queue capacity."),
               n->o.pipeline.queue_size);
    double now = clock_mono_s();
    if (now > n->fps_since)
        metric_set(metrics_gauge(m, "edgecam_edge_fps", l,
                                 "Frames read per second since the previous scrape."),
                   (double)(p->frames_read - n->fps_frames) / (now - n->fps_since));
    n->fps_frames = p->frames_read;
    n->fps_since = now;
}

static int register_metrics(edge_node *n, ec_err *err)
{
    metrics *m = n->o.metrics;
    char l[224];
    for (int d = 0; d < 4; d++) {
        metrics_labels(l, sizeof l, "edge", n->edge_id, "dest", policy_dest_name(d), NULL);
        n->m_infer_s[d] = metrics_histogram(m, "edgecam_edge_infer_seconds", l,
                                            "Decision plus inference time of a key frame, by "
                                            "where it ran.", NULL, 0);
    }
    metrics_labels(l, sizeof l, "edge", n->edge_id, NULL);
    n->m_frame_s = metrics_histogram(m, "edgecam_edge_frame_latency_seconds", l,
                                     "Capture to detections of a key frame.", NULL, 0);
    n->fps_since = clock_mono_s();
    if (metrics_add_collector(m, collect_metrics, n) != 0) {
        n->o.metrics = NULL; /* not registered: nothing to remove */
        return ec_err_set(err, EC_EFULL, "metrics registry: too many collectors");
    }
    return 0;
}

static links *create_links(const struct edge_node_opts *o, ec_err *err)
{
    struct link_target peers[EDGE_MAX_PEERS], cloud;
    for (int i = 0; i < o->npeers; i++) {
        if (!o->peers[i].id || !o->peers[i].url || strlen(o->peers[i].url) >= LINK_URL_MAX) {
            ec_err_set(err, EC_EINVAL, "peer %d needs an id and a url shorter than %d", i,
                       LINK_URL_MAX);
            return NULL;
        }
        snprintf(peers[i].id, sizeof peers[i].id, "%s", o->peers[i].id);
        snprintf(peers[i].url, sizeof peers[i].url, "%s", o->peers[i].url);
    }
    if (o->cloud_url) {
        snprintf(cloud.id, sizeof cloud.id, "cloud");
        snprintf(cloud.url, sizeof cloud.url, "%s", o->cloud_url);
    }
    links *l = links_create(peers, o->npeers, o->cloud_url ? &cloud : NULL, &o->http,
                            o->exchange_interval_ms);
    if (!l)
        ec_err_set(err, EC_EINVAL, "bad peer list (at most %d peers)", EDGE_MAX_PEERS);
    return l;
}

edge_node *edge_node_create(const struct edge_node_opts *o, ec_err *err)
{
    if (o->npeers < 0 || o->npeers > EDGE_MAX_PEERS || !o->local_model) {
        ec_err_set(err, EC_EINVAL, "edge node needs a local model and at most %d peers",
                   EDGE_MAX_PEERS);
        return NULL;
    }
    edge_node *n = calloc(1, sizeof *n);
    if (!n) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    n->o = *o;
    snprintf(n->edge_id, sizeof n->edge_id, "%s", o->pipeline.edge_id ? o->pipeline.edge_id : "");
    pthread_mutex_init(&n->lock, NULL);
    pthread_key_create(&n->tls, tools_free);
    struct infer_model_spec spec = {"edge", o->local_model};
    struct infer_service_opts so = {.models = &spec, .nmodels = 1,
                                    .workers = o->pipeline.workers > 0 ? o->pipeline.workers : 1,
                                    .queue_size = 64, .score_thresh = o->score_thresh,
                                    .role = "edge", .metrics = o->metrics,
                                    .lineage = o->model_lineage ? o->model_lineage : "edge"};
    struct edge_pipeline_opts po = o->pipeline;
    po.infer = node_infer;
    po.infer_ctx = n;
    if (!(n->local = infer_service_create(&so, err)) ||
        !(n->pol = policy_create(o->policy_name, o->policy_plugin, o->policy_symbol,
                                 &o->policy_params, err)) ||
        !(n->links = create_links(o, err)) || !(n->pipe = edge_pipeline_create(&po, err)) ||
        (o->metrics && register_metrics(n, err) != 0) ||
        (o->listen_port >= 0 && start_server(n, err) != 0) || links_start(n->links) != 0) {
        edge_node_destroy(n);
        return NULL;
    }
    return n;
}

uint16_t edge_node_port(const edge_node *n) { return n->srv ? http_server_port(n->srv) : 0; }

int edge_node_run(edge_node *n, ec_err *err) { return edge_pipeline_run(n->pipe, err); }

void edge_node_stop(edge_node *n) { edge_pipeline_stop(n->pipe); }

void edge_node_stats(edge_node *n, struct edge_node_stats *out)
{
    memset(out, 0, sizeof *out);
    edge_pipeline_stats(n->pipe, &out->pipeline);
    for (int i = 0; i < 4; i++)
        out->by_dest[i] = atomic_load(&n->by_dest[i]);
    out->fallbacks = atomic_load(&n->fallbacks);
    out->regions_sent = atomic_load(&n->regions_sent);
    out->bytes_sent = atomic_load(&n->bytes_sent);
}

int edge_node_swap_model(edge_node *n, const char *path, int version, ec_err *err)
{
    detector *d = detector_load(path, err);
    if (!d)
        return -1;
    return infer_service_swap(n->local, "edge", d, version, err);
}

void edge_node_destroy(edge_node *n)
{
    if (!n)
        return;
    metrics_remove_collector(n->o.metrics, collect_metrics, n);
    links_destroy(n->links);
    http_server_destroy(n->srv); /* before the service its handlers use */
    edge_pipeline_destroy(n->pipe);
    policy_destroy(n->pol);
    infer_service_destroy(n->local);
    struct thread_tools *t = pthread_getspecific(n->tls);
    if (t)
        tools_free(t);
    pthread_key_delete(n->tls);
    assist_memory_free(&n->assist);
    pthread_mutex_destroy(&n->lock);
    free(n);
}
