/* One edge under a given policy, with a cloud and a peer edge on loopback, scored against the
 * synthetic world's exact ground truth. Shared by `edgecam bench --section policies` and the
 * edge/cloud integration test. */
#include "bench/bench.h"

#include "backend/backend.h"
#include "core/clock.h"
#include "edge/edge.h"
#include "eval/eval.h"
#include "synth/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCORE_THRESH 0.1f /* low, so mAP sees the whole precision/recall curve */

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
}

struct rig {
    infer_service *cloud;
    http_server *srv;
    char cloud_url[64], peer_url[64];
    synth *peer_video;
    edge_node *peer;
    store *st;
};

static void rig_stop(struct rig *r)
{
    edge_node_destroy(r->peer);
    synth_destroy(r->peer_video);
    http_server_destroy(r->srv);
    infer_service_destroy(r->cloud);
    store_close(r->st);
}

static int rig_start(struct rig *r, const struct policy_run_opts *o, ec_err *err)
{
    memset(r, 0, sizeof *r);
    struct infer_model_spec spec = {"golden", o->golden_model};
    struct infer_service_opts so = {.models = &spec, .nmodels = 1, .workers = 1,
                                    .queue_size = 32, .score_thresh = SCORE_THRESH,
                                    .role = "cloud"};
    struct http_server_config sc = {.thread_per_connection = 1};
    struct store_opts sto = {.kind = "sqlite", .path = ":memory:"};
    if (!(r->cloud = infer_service_create(&so, err)) || !(r->srv = http_server_create(&sc, err)) ||
        infer_service_mount(r->cloud, r->srv, err) || http_server_start(r->srv, err) ||
        !(r->st = store_open(&sto, err)))
        return -1;
    snprintf(r->cloud_url, sizeof r->cloud_url, "http://127.0.0.1:%u", http_server_port(r->srv));
    /* The peer only serves other edges; its own one-frame video is never run. */
    struct synth_opts vo;
    synth_opts_default(&vo);
    vo.frames = 1;
    struct edge_node_opts no;
    edge_node_opts_init(&no);
    no.pipeline.edge_id = "edge-peer";
    no.pipeline.store = r->st;
    no.pipeline.source.gen_next = synth_gen_next;
    no.local_model = o->edge_model;
    no.score_thresh = SCORE_THRESH;
    if (!(r->peer_video = synth_create(&vo, err)))
        return -1;
    no.pipeline.source.gen_ctx = r->peer_video;
    if (!(r->peer = edge_node_create(&no, err)))
        return -1;
    snprintf(r->peer_url, sizeof r->peer_url, "http://127.0.0.1:%u", edge_node_port(r->peer));
    return 0;
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

/* Adds every frame's answer: its own detections, or its key frame's for a Ref. */
static int score_rows(store *st, const struct det_list *gt, int64_t frames, double *map50,
                      ec_err *err)
{
    eval_acc *acc = eval_create(SYNTH_NUM_CLASSES);
    struct det_list dets = {0}, key = {0};
    int64_t key_index = -1;
    int rc = acc ? 0 : ec_err_set(err, EC_ENOMEM, "out of memory");
    for (int64_t i = 0; i < frames && rc == 0; i++) {
        struct frame_row row;
        rc = store_get_frame(st, "edge-a", i, &row, &dets, err);
        if (rc == 0 && row.outcome == OUTCOME_REF && row.ref_index != key_index) {
            struct frame_row kr;
            rc = store_get_frame(st, "edge-a", row.ref_index, &kr, &key, err);
            key_index = row.ref_index;
        }
        if (rc == 0)
            rc = eval_add_frame(acc, row.outcome == OUTCOME_REF ? &key : &dets, &gt[i], err);
    }
    *map50 = rc == 0 ? eval_map(acc, 0.5) : -1;
    det_list_free(&dets);
    det_list_free(&key);
    eval_destroy(acc);
    return rc;
}

static int run_edge(struct rig *r, const struct policy_run_opts *o, const struct synth_opts *so,
                    const char *policy, struct edge_node_stats *stats, double *secs, ec_err *err)
{
    synth *video = synth_create(so, err);
    if (!video)
        return -1;
    struct edge_node_opts no;
    edge_node_opts_init(&no);
    no.pipeline.edge_id = "edge-a";
    no.pipeline.store = r->st;
    no.pipeline.source.gen_next = synth_gen_next;
    no.pipeline.source.gen_ctx = video;
    no.pipeline.source.sample_interval = o->interval;
    no.pipeline.source.realtime = o->realtime;
    no.pipeline.filter.enabled = o->filter_enabled;
    no.pipeline.filter.diff_thresh = o->diff_thresh;
    no.pipeline.queue_size = o->queue_size;
    no.pipeline.workers = o->workers;
    no.pipeline.wait_thresh_s = o->wait_thresh_s;
    no.local_model = o->edge_model;
    no.score_thresh = SCORE_THRESH;
    no.listen_port = -1;
    no.peers[0] = (struct edge_peer){"edge-peer", r->peer_url};
    no.npeers = 1;
    no.cloud_url = r->cloud_url;
    no.policy_name = policy;
    no.exchange_interval_ms = 200;
    edge_node *n = edge_node_create(&no, err);
    int rc = -1;
    if (n) {
        clock_sleep_ns(300000000ull); /* first peer/cloud poll */
        double t0 = clock_mono_s();
        rc = edge_node_run(n, err);
        *secs = clock_mono_s() - t0;
        edge_node_stats(n, stats);
    }
    edge_node_destroy(n);
    synth_destroy(video);
    return rc;
}

int policy_run(const struct policy_run_opts *o, const char *policy, struct policy_run_result *out,
               ec_err *err)
{
    struct synth_opts so;
    if (synth_opts_from_uri(o->video, &so, err) != 0)
        return -1;
    if (so.frames <= 0)
        return ec_err_set(err, EC_EINVAL, "policy run needs a finite video (frames=N)");
    struct rig r;
    struct det_list *gt = NULL;
    struct edge_node_stats s;
    double secs = 0;
    int rc = -1;
    if (rig_start(&r, o, err) == 0 && (gt = ground_truth(&so, err)) &&
        run_edge(&r, o, &so, policy, &s, &secs, err) == 0 &&
        score_rows(r.st, gt, so.frames, &out->map50, err) == 0) {
        struct store_summary sum;
        rc = store_summarize(r.st, "edge-a", &sum, err);
        out->frames = (long)sum.frames;
        out->finished = (long)sum.by_outcome[OUTCOME_FINISHED];
        out->ref = (long)sum.by_outcome[OUTCOME_REF];
        out->timeout = (long)sum.by_outcome[OUTCOME_TIMEOUT];
        out->dropped = (long)sum.by_outcome[OUTCOME_DROPPED];
        out->p50_ms = sum.latency_p50_ms;
        out->p99_ms = sum.latency_p99_ms;
        out->fps = secs > 0 ? sum.frames / secs : 0;
        out->bytes_per_frame = sum.frames ? (double)sum.bytes_sent / sum.frames : 0;
        out->fallbacks = (long)s.fallbacks;
    }
    for (int64_t i = 0; gt && i < so.frames; i++)
        det_list_free(&gt[i]);
    free(gt);
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
        struct policy_run_result r;
        if (policy_run(o, info[i].name, &r, err) != 0)
            return ec_err_wrap(err, "policy %s", info[i].name);
        fprintf(out, "%-28s %7.3f %6ld %5ld %5ld %5ld %5ld %8.1f %8.1f %6.1f %10.0f\n",
                info[i].name, r.map50, r.frames, r.finished, r.ref, r.timeout, r.dropped,
                r.p50_ms, r.p99_ms, r.fps, r.bytes_per_frame);
        fflush(out);
    }
    return 0;
}
