/* Edges under a given policy, with a cloud on loopback, scored against the synthetic world's
 * exact ground truth. Shared by `edgecam bench --section policies` and the policies
 * integration test (tests/integration/policies.cmake). */
#include "bench/bench.h"

#include "backend/backend.h"
#include "core/clock.h"
#include "edge/edge.h"
#include "eval/eval.h"
#include "synth/synth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SCORE_THRESH 0.1f /* low, so mAP sees the whole precision/recall curve */
#define START_TRIES 5     /* free loopback ports can be taken between probe and bind */

void policy_run_opts_default(struct policy_run_opts *o)
{
    *o = (struct policy_run_opts){
        .edge_model = "models/edge.safetensors",
        .golden_model = "models/golden.safetensors",
        .video = "synth://night?frames=300",
        .interval = 2,
        .realtime = 1,
        .filter_enabled = 1,
        .diff_thresh = 0.01,
        .queue_size = 8,
        .workers = 1,
        .wait_thresh_s = 2.0,
    };
    policy_params_default(&o->params);
    /* The configuration's defaults (configs/edgecam.example.yaml): 720p q85 straight to the
     * cloud; Edge-Cloud-Assisted's views at 180p q60, the golden model's own input scale
     * (docs/policies.md); always_cloud_lowest_delay downsizes to 240p. */
    o->params.paths[PATH_DIRECTLY_CLOUD] = (struct policy_quality){720, 85};
    o->params.paths[PATH_LOCAL_CLOUD] = (struct policy_quality){180, 60};
    o->params.paths[PATH_ANOTHER_CLOUD] = (struct policy_quality){720, 85};
}

struct edge_run {
    const char *id;
    synth *video;
    edge_node *node;
    struct synth_opts so;
    struct edge_node_stats stats;
    double secs;
    int rc;
    ec_err err;
};

struct rig {
    infer_service *cloud;
    http_server *srv;
    char cloud_url[64], url[2][64];
    struct edge_run edge[2]; /* edge-a, edge-b */
    store *st;
};

static void rig_stop_edges(struct rig *r)
{
    for (int i = 0; i < 2; i++) {
        edge_node_destroy(r->edge[i].node);
        synth_destroy(r->edge[i].video);
        r->edge[i].node = NULL;
        r->edge[i].video = NULL;
    }
}

static void rig_stop(struct rig *r)
{
    rig_stop_edges(r);
    http_server_destroy(r->srv);
    infer_service_destroy(r->cloud);
    store_close(r->st);
}

/* A loopback port that was free a moment ago (0 if none could be found). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void edge_opts(const struct rig *r, const struct policy_run_opts *o, int i,
                      const char *policy, struct edge_node_opts *no)
{
    const struct edge_run *e = &r->edge[i];
    edge_node_opts_init(no);
    no->pipeline.edge_id = e->id;
    no->pipeline.store = r->st;
    no->pipeline.source.gen_next = synth_gen_next;
    no->pipeline.source.gen_ctx = e->video;
    no->pipeline.source.sample_interval = o->interval;
    no->pipeline.source.realtime = i == 0 ? o->realtime : 1;
    no->pipeline.filter.enabled = o->filter_enabled;
    no->pipeline.filter.diff_thresh = o->diff_thresh;
    no->pipeline.queue_size = o->queue_size;
    no->pipeline.workers = o->workers;
    no->pipeline.wait_thresh_s = o->wait_thresh_s;
    no->local_model = o->edge_model;
    no->score_thresh = SCORE_THRESH;
    no->cloud_url = r->cloud_url;
    no->policy_name = policy;
    no->policy_params = o->params;
    no->exchange_interval_ms = 200;
}

/* Both edge nodes: edge-a peers with edge-b; with both_edges, edge-b peers with edge-a too
 * (so each needs the other's port before either exists: probe free ports, retry on a race). */
static int start_edges(struct rig *r, const struct policy_run_opts *o, const char *policy,
                       ec_err *err)
{
    for (int attempt = 0; attempt < START_TRIES; attempt++) {
        rig_stop_edges(r);
        int port[2] = {o->both_edges ? free_port() : -1, free_port()};
        for (int i = 0; i < 2; i++) {
            struct synth_opts *so = &r->edge[i].so;
            if (!(r->edge[i].video = synth_create(so, err)))
                return -1;
            snprintf(r->url[i], sizeof r->url[i], "http://127.0.0.1:%d", port[i]);
        }
        int ok = 1;
        for (int i = 1; i >= 0 && ok; i--) { /* edge-b first: it serves edge-a */
            struct edge_node_opts no;
            edge_opts(r, o, i, policy, &no);
            no.listen_port = port[i];
            if (i == 0 || o->both_edges) {
                no.peers[0] = (struct edge_peer){r->edge[!i].id, r->url[!i]};
                no.npeers = 1;
            }
            ok = (r->edge[i].node = edge_node_create(&no, err)) != NULL;
        }
        if (ok)
            return 0;
    }
    return -1;
}

static int rig_start(struct rig *r, const struct policy_run_opts *o, const struct synth_opts *so,
                     const char *policy, ec_err *err)
{
    memset(r, 0, sizeof *r);
    r->edge[0].id = "edge-a";
    r->edge[1].id = "edge-b";
    r->edge[0].so = *so;
    r->edge[1].so = *so;
    r->edge[1].so.seed = so->seed + 1;
    if (o->both_edges && o->video_b && synth_opts_from_uri(o->video_b, &r->edge[1].so, err) != 0)
        return -1;
    if (o->both_edges && r->edge[1].so.frames <= 0)
        return ec_err_set(err, EC_EINVAL, "edge-b needs a finite video (frames=N)");
    if (!o->both_edges)
        r->edge[1].so.frames = 1; /* never run: it only serves edge-a */
    struct infer_model_spec spec = {"golden", o->golden_model};
    struct infer_service_opts so_cloud = {.models = &spec, .nmodels = 1, .workers = 1,
                                          .queue_size = 32, .score_thresh = SCORE_THRESH,
                                          .role = "cloud"};
    struct http_server_config sc = {.thread_per_connection = 1};
    struct store_opts sto = {.kind = "sqlite", .path = ":memory:"};
    if (!(r->cloud = infer_service_create(&so_cloud, err)) ||
        !(r->srv = http_server_create(&sc, err)) || infer_service_mount(r->cloud, r->srv, err) ||
        http_server_start(r->srv, err) || !(r->st = store_open(&sto, err)))
        return -1;
    snprintf(r->cloud_url, sizeof r->cloud_url, "http://127.0.0.1:%u", http_server_port(r->srv));
    return start_edges(r, o, policy, err);
}

/* Ground truth of every frame of the video (the world is deterministic per seed). */
static struct det_list *ground_truth(const struct synth_opts *so, ec_err *err)
{
    struct det_list *gt = calloc((size_t)so->frames, sizeof *gt);
    synth *s = gt ? synth_create(so, err) : NULL;
    if (!s) {
        free(gt);
        return NULL;
    }
    image *img;
    for (int64_t i = 0; i < so->frames && synth_next(s, &img, &gt[i], err) == 1; i++) {
    }
    synth_destroy(s);
    return gt;
}

static void free_ground_truth(struct det_list *gt, int64_t frames)
{
    for (int64_t i = 0; gt && i < frames; i++)
        det_list_free(&gt[i]);
    free(gt);
}

/* Adds every frame's answer: its own detections, or its key frame's for a Ref. A frame
 * missing from the store is an error (EC_ENOTFOUND). */
static int score_rows(store *st, const char *edge, const struct det_list *gt, int64_t frames,
                      struct policy_run_result *out, ec_err *err)
{
    eval_acc *acc = eval_create(SYNTH_NUM_CLASSES);
    struct det_list dets = {0}, key = {0};
    int64_t key_index = -1;
    int rc = acc ? 0 : ec_err_set(err, EC_ENOMEM, "out of memory");
    for (int64_t i = 0; i < frames && rc == 0; i++) {
        struct frame_row row;
        rc = store_get_frame(st, edge, i, &row, &dets, err);
        out->det_rows += rc == 0 && dets.n > 0;
        if (rc == 0 && row.outcome == OUTCOME_REF && row.ref_index != key_index) {
            struct frame_row kr;
            rc = store_get_frame(st, edge, row.ref_index, &kr, &key, err);
            key_index = row.ref_index;
        }
        if (rc == 0)
            rc = eval_add_frame(acc, row.outcome == OUTCOME_REF ? &key : &dets, &gt[i], err);
    }
    out->map50 = rc == 0 ? eval_map(acc, 0.5) : -1;
    det_list_free(&dets);
    det_list_free(&key);
    eval_destroy(acc);
    return rc ? ec_err_wrap(err, "%s", edge) : 0;
}

static void *run_edge(void *arg)
{
    struct edge_run *e = arg;
    double t0 = clock_mono_s();
    e->rc = edge_node_run(e->node, &e->err);
    e->secs = clock_mono_s() - t0;
    edge_node_stats(e->node, &e->stats);
    return NULL;
}

/* Runs edge-a here and edge-b (when both_edges) on a thread, at the same time. */
static int run_edges(struct rig *r, int both, ec_err *err)
{
    clock_sleep_ns(300000000ull); /* first peer/cloud poll */
    pthread_t tb;
    int threaded = both && pthread_create(&tb, NULL, run_edge, &r->edge[1]) == 0;
    if (both && !threaded)
        return ec_err_set(err, EC_ENOMEM, "cannot start edge-b");
    run_edge(&r->edge[0]);
    if (threaded)
        pthread_join(tb, NULL);
    for (int i = 0; i < 1 + both; i++)
        if (r->edge[i].rc != 0) {
            if (err)
                *err = r->edge[i].err;
            return ec_err_wrap(err, "%s", r->edge[i].id);
        }
    return 0;
}

static int summarize(struct rig *r, int i, struct policy_run_result *out, ec_err *err)
{
    const struct edge_run *e = &r->edge[i];
    struct det_list *gt = ground_truth(&e->so, err);
    memset(out, 0, sizeof *out);
    struct store_summary sum;
    if (!gt || score_rows(r->st, e->id, gt, e->stats.pipeline.frames_read, out, err) != 0 ||
        store_summarize(r->st, e->id, &sum, err) != 0) {
        free_ground_truth(gt, e->so.frames);
        return -1;
    }
    free_ground_truth(gt, e->so.frames);
    out->frames = (long)sum.frames;
    out->finished = (long)sum.by_outcome[OUTCOME_FINISHED];
    out->ref = (long)sum.by_outcome[OUTCOME_REF];
    out->timeout = (long)sum.by_outcome[OUTCOME_TIMEOUT];
    out->dropped = (long)sum.by_outcome[OUTCOME_DROPPED];
    out->p50_ms = sum.latency_p50_ms;
    out->p99_ms = sum.latency_p99_ms;
    out->fps = e->secs > 0 ? sum.frames / e->secs : 0;
    out->bytes_per_frame = sum.frames ? (double)sum.bytes_sent / sum.frames : 0;
    out->bytes_stored = sum.bytes_sent;
    out->bytes_counted = e->stats.bytes_sent;
    out->fallbacks = (long)e->stats.fallbacks;
    out->frames_read = (long)e->stats.pipeline.frames_read;
    for (int d = 0; d < 4; d++)
        out->by_dest[d] = (long)e->stats.by_dest[d];
    out->regions_sent = (long)e->stats.regions_sent;
    return 0;
}

int policy_run(const struct policy_run_opts *o, const char *policy,
               struct policy_run_result out[2], ec_err *err)
{
    struct synth_opts so;
    if (synth_opts_from_uri(o->video, &so, err) != 0)
        return -1;
    if (so.frames <= 0)
        return ec_err_set(err, EC_EINVAL, "policy run needs a finite video (frames=N)");
    struct rig r;
    int rc = rig_start(&r, o, &so, policy, err);
    if (rc == 0)
        rc = run_edges(&r, o->both_edges, err);
    for (int i = 0; rc == 0 && i < 1 + (o->both_edges != 0); i++)
        rc = summarize(&r, i, &out[i], err);
    rig_stop(&r);
    return rc;
}

int bench_policies(const struct policy_run_opts *o, const char *only, FILE *out, ec_err *err)
{
    int n;
    const struct policy_info *info = policy_list(&n);
    fprintf(out, "== policies on %s (interval %d, filter %s, %s)\n", o->video, o->interval,
            o->filter_enabled ? "on" : "off", o->realtime ? "live pacing" : "as fast as possible");
    fprintf(out, "%-28s %7s %6s %5s %5s %5s %5s %8s %8s %6s %10s\n", "policy", "mAP@0.5", "frames",
            "fin", "ref", "tmo", "drop", "p50_ms", "p99_ms", "fps", "bytes/frm");
    for (int i = 0; i < n; i++) {
        if (only && *only && !strstr(only, info[i].name))
            continue;
        struct policy_run_result r[2];
        if (policy_run(o, info[i].name, r, err) != 0)
            return ec_err_wrap(err, "policy %s", info[i].name);
        fprintf(out, "%-28s %7.3f %6ld %5ld %5ld %5ld %5ld %8.1f %8.1f %6.1f %10.0f\n",
                info[i].name, r[0].map50, r[0].frames, r[0].finished, r[0].ref, r[0].timeout,
                r[0].dropped, r[0].p50_ms, r[0].p99_ms, r[0].fps, r[0].bytes_per_frame);
        fflush(out);
    }
    return 0;
}
