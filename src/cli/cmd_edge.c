/* edgecam edge: one edge node until the end of its video or SIGINT/SIGTERM. */
#include "cli/cmd.h"

#include "core/clock.h"
#include "core/log.h"
#include "edge/edge.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: edgecam edge [-c FILE] [options]\n\n"
            "Runs an edge node: reads its video, drops redundant frames, and runs each key frame\n"
            "locally, on a peer edge or in the cloud as its policy decides. Every frame ends as\n"
            "one row in the store (finished, ref, timeout or dropped). Stops at the end of the\n"
            "video or on SIGINT/SIGTERM, after recording every frame read.\n\n"
            "  -c, --config FILE   YAML configuration (see configs/edgecam.example.yaml)\n"
            "      --edge-id ID    override edge.edge_id\n"
            "      --source URI    override edge.source.uri (file, rtsp://, /dev/videoN, synth://)\n"
            "      --policy NAME   override policy.name (%s)\n"
            "      --cloud URL     override edge.cloud_url\n"
            "      --port N        override edge.listen.port (0 = any free port)\n",
            config_enum_choices(CONFIG_ENUM_POLICY));
}

struct run {
    edge_node *node;
    pthread_t thread;
    atomic_int finished;
    int rc;
    ec_err err;
    double started;
};

static void *run_main(void *arg)
{
    struct run *r = arg;
    r->rc = edge_node_run(r->node, &r->err);
    atomic_store(&r->finished, 1);
    return NULL;
}

static int run_done(void *ctx) { return atomic_load(&((struct run *)ctx)->finished); }

static void run_progress(void *ctx)
{
    struct run *r = ctx;
    struct edge_node_stats s;
    edge_node_stats(r->node, &s);
    double dt = clock_mono_s() - r->started;
    log_info("progress: %lld frames (%.1f fps), %lld key, finished %lld, ref %lld, timeout %lld, "
             "dropped %lld, %lld bytes sent",
             (long long)s.pipeline.frames_read, dt > 0 ? s.pipeline.frames_read / dt : 0,
             (long long)s.pipeline.key_frames, (long long)s.pipeline.by_outcome[OUTCOME_FINISHED],
             (long long)s.pipeline.by_outcome[OUTCOME_REF],
             (long long)s.pipeline.by_outcome[OUTCOME_TIMEOUT],
             (long long)s.pipeline.by_outcome[OUTCOME_DROPPED], (long long)s.bytes_sent);
}

static void print_summary(const char *id, const struct edge_node_stats *s, double secs)
{
    printf("edge %s: %lld frames in %.1f s (%.1f fps): %lld key frames; finished %lld, ref %lld, "
           "timeout %lld, dropped %lld; decisions local %lld, peer %lld, cloud %lld, assisted "
           "%lld; %lld fallbacks; %lld bytes sent; %lld rows stored\n",
           id, (long long)s->pipeline.frames_read, secs,
           secs > 0 ? s->pipeline.frames_read / secs : 0, (long long)s->pipeline.key_frames,
           (long long)s->pipeline.by_outcome[OUTCOME_FINISHED],
           (long long)s->pipeline.by_outcome[OUTCOME_REF],
           (long long)s->pipeline.by_outcome[OUTCOME_TIMEOUT],
           (long long)s->pipeline.by_outcome[OUTCOME_DROPPED], (long long)s->by_dest[POLICY_LOCAL],
           (long long)s->by_dest[POLICY_PEER], (long long)s->by_dest[POLICY_CLOUD],
           (long long)s->by_dest[POLICY_ASSISTED], (long long)s->fallbacks,
           (long long)s->bytes_sent, (long long)s->pipeline.recorded);
}

/* Maps the configuration onto the node's options (strings stay owned by cfg). */
static void node_opts_from_config(const struct ec_config *cfg, struct edge_node_opts *o)
{
    const struct config_edge *e = &cfg->edge;
    const struct config_policy_cfg *p = &cfg->policy;
    o->pipeline.edge_id = e->edge_id;
    o->pipeline.filter.enabled = cfg->filter.diff_flag;
    o->pipeline.filter.feature = (enum filter_feature)cfg->filter.feature;
    o->pipeline.filter.diff_thresh = cfg->filter.diff_thresh;
    o->pipeline.queue_size = e->local_queue_size;
    o->pipeline.workers = e->offload_workers > 0 ? e->offload_workers : 1;
    o->pipeline.wait_thresh_s = e->wait_thresh;
    o->pipeline.max_frames = e->source.max_frames;
    o->listen_addr = e->listen.address;
    o->listen_port = e->listen.port;
    for (int i = 0; i < e->npeers; i++)
        o->peers[i] = (struct edge_peer){e->peers[i].id, e->peers[i].url};
    o->npeers = e->npeers;
    o->cloud_url = e->cloud_url[0] ? e->cloud_url : NULL;
    o->policy_name = config_enum_name(CONFIG_ENUM_POLICY, p->name);
    o->policy_plugin = p->plugin[0] ? p->plugin : NULL;
    o->policy_symbol = p->plugin_symbol[0] ? p->plugin_symbol : NULL;
    struct policy_params *pp = &o->policy_params;
    pp->queue_thresh = p->queue_thresh > 0 ? p->queue_thresh : e->queue_thresh;
    const struct config_path_quality *paths[PATH_COUNT] = {
        &e->paths.another, &e->paths.directly_cloud, &e->paths.local_cloud,
        &e->paths.another_cloud};
    for (int i = 0; i < PATH_COUNT; i++)
        pp->paths[i] = (struct policy_quality){paths[i]->new_height, paths[i]->quality};
    pp->smarteye_local_pending_max = p->smarteye.local_pending_max;
    pp->smarteye_downsize_height = p->smarteye.downsize_height;
    pp->adaptive_min_height = p->adaptive.min_height;
    pp->adaptive_max_height = p->adaptive.max_height;
    pp->adaptive_min_quality = p->adaptive.min_quality;
    pp->adaptive_max_quality = p->adaptive.max_quality;
    pp->adaptive_latency_target_ms = p->adaptive.latency_target_ms;
    pp->assisted_low = (float)p->assisted.low;
    pp->assisted_high = (float)p->assisted.high;
    pp->assisted_max_area = (float)p->assisted.max_area;
    pp->assisted_iou = (float)p->assisted.iou;
    pp->assisted_motion_thresh = p->assisted.motion_thresh;
    o->exchange_interval_ms = e->peer_exchange_interval_ms;
    o->token = cfg->security.token[0] ? cfg->security.token : NULL;
    o->http.bearer_token = o->token;
    o->http.ca_file = cfg->security.tls_ca[0] ? cfg->security.tls_ca : NULL;
    o->tls_cert_file = cfg->security.tls_cert[0] ? cfg->security.tls_cert : NULL;
    o->tls_key_file = cfg->security.tls_key[0] ? cfg->security.tls_key : NULL;
}

static int parse_args(int argc, char **argv, struct ec_config *cfg)
{
    static const struct option longopts[] = {
        {"config", required_argument, 0, 'c'}, {"edge-id", required_argument, 0, 'i'},
        {"source", required_argument, 0, 's'}, {"policy", required_argument, 0, 'p'},
        {"cloud", required_argument, 0, 'u'},  {"port", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    const char *path = NULL, *ov[6] = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'i': ov[0] = optarg; break;
        case 's': ov[1] = optarg; break;
        case 'p': ov[2] = optarg; break;
        case 'u': ov[3] = optarg; break;
        case 'P': ov[4] = optarg; break;
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    int rc = cli_load_config(path, cfg);
    if (rc != EXIT_OK)
        return rc;
    if (ov[0])
        snprintf(cfg->edge.edge_id, sizeof cfg->edge.edge_id, "%s", ov[0]);
    if (ov[1]) {
        snprintf(cfg->edge.source.uri, sizeof cfg->edge.source.uri, "%s", ov[1]);
        cfg->edge.source.kind = CONFIG_SOURCE_AUTO;
    }
    if (ov[2] && (int)(cfg->policy.name = config_enum_parse(CONFIG_ENUM_POLICY, ov[2])) < 0) {
        fprintf(stderr, "edgecam edge: unknown policy '%s' (%s)\n", ov[2],
                config_enum_choices(CONFIG_ENUM_POLICY));
        return EXIT_USAGE;
    }
    if (ov[3])
        snprintf(cfg->edge.cloud_url, sizeof cfg->edge.cloud_url, "%s", ov[3]);
    if (cli_listen_override(&cfg->edge.listen, "edge", NULL, ov[4]) != 0)
        return EXIT_USAGE;
    ec_err err = {0};
    if (config_validate(cfg, &err) != 0) {
        fprintf(stderr, "edgecam edge: %s\n", err.msg);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int cmd_edge(int argc, char **argv)
{
    static struct ec_config cfg; /* large: keep it off the stack */
    int rc = parse_args(argc, argv, &cfg);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    log_set_name(cfg.edge.edge_id);
    cli_block_signals();

    ec_err err = {0};
    char model[CONFIG_PATH_SIZE + 64];
    if (cli_model_path(&cfg, cfg.edge.model[0] ? cfg.edge.model : cfg.models.edge, model,
                       sizeof model) != 0) {
        fprintf(stderr, "edgecam edge: model not found: %s\n", model);
        return EXIT_USAGE;
    }
    struct edge_node_opts o;
    edge_node_opts_init(&o);
    node_opts_from_config(&cfg, &o);
    o.local_model = model;
    void *gen = NULL;
    store *st = NULL;
    edge_node *node = NULL;
    struct cli_edge_retrain *cl = NULL;
    struct cli_mqtt *mq = NULL;
    metrics *reg = o.metrics = metrics_create(); /* served on the peer port's /metrics */
    rc = EXIT_RUNTIME;
    if (cli_source_opts(&cfg.edge.source, &o.pipeline.source, &gen, &err) != 0 ||
        !(st = o.pipeline.store = cli_open_store(&cfg, &err)) ||
        (!(cl = cli_edge_retrain_create(&cfg, model, st, &o, &err)) && err.code) ||
        (!(mq = cli_mqtt_create(&cfg, &o, &err)) && err.code) ||
        !(node = edge_node_create(&o, &err))) {
        fprintf(stderr, "edgecam edge: %s\n", err.msg);
        goto out;
    }
    log_info("edge %s: policy %s, serving peers on port %u, cloud %s", cfg.edge.edge_id,
             o.policy_name ? o.policy_name : o.policy_plugin, edge_node_port(node),
             o.cloud_url ? o.cloud_url : "(none)");
    cli_edge_retrain_attach(cl, node);
    struct run r = {.node = node, .started = clock_mono_s()};
    pthread_create(&r.thread, NULL, run_main, &r);
    int sig = cli_wait(run_done, run_progress, &r, 5000);
    if (sig != 0) {
        log_info("edge %s: stopping: recording every frame read", cfg.edge.edge_id);
        edge_node_stop(node);
    }
    pthread_join(r.thread, NULL);
    cli_edge_retrain_destroy(cl, sig == 0); /* before the node: it may swap into it */
    cl = NULL;
    struct edge_node_stats s;
    edge_node_stats(node, &s);
    print_summary(cfg.edge.edge_id, &s, clock_mono_s() - r.started);
    if (r.rc != 0)
        fprintf(stderr, "edgecam edge: source failed: %s\n", r.err.msg);
    rc = r.rc == 0 && s.pipeline.record_errors == 0 ? EXIT_OK : EXIT_RUNTIME;
out:
    cli_edge_retrain_destroy(cl, 0);
    edge_node_destroy(node);
    cli_mqtt_destroy(mq); /* after the node: its workers publish */
    metrics_destroy(reg);
    store_close(st);
    cli_source_free(gen);
    return rc;
}
