/* Continuous learning as the edge and cloud processes run it: on the edge a drift collector
 * feeds a retrain client whose new models are hot-swapped into the node; in the cloud the
 * retrain service is mounted next to the golden model's inference routes. */
#include "cli/cmd.h"

#include "core/log.h"
#include "retrain/retrain.h"

#include <stdio.h>
#include <stdlib.h>

/* A round that is training when the video ends may take a while: wait for it, bounded. */
#define EDGE_RETRAIN_DRAIN_MS 120000
#define EDGE_RETRAIN_STOP_MS 10000

struct cli_edge_retrain {
    retrain_client *client;
    drift_collector *collector;
    const char *edge_id;
    char lineage[2 * CONFIG_PATH_SIZE]; /* "<models.edge>.<edge_id>", as the cloud names it */
    metrics *metrics;
};

/* Scrape-time copy of the round counters (docs/observability.md). */
static void collect_edge_retrain(metrics *m, void *ctx)
{
    struct cli_edge_retrain *r = ctx;
    struct retrain_client_stats s;
    struct drift_collector_stats d;
    retrain_client_stats(r->client, &s);
    drift_collector_stats(r->collector, &d);
    struct { const char *result; int64_t v; } rounds[] = {
        {"done", s.done}, {"failed", s.failed}, {"dropped", s.dropped}};
    char l[256];
    for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++) {
        metrics_labels(l, sizeof l, "edge", r->edge_id, "result", rounds[i].result, NULL);
        metric_set(metrics_counter(m, "edgecam_retrain_rounds_total", l,
                                   "Retraining rounds by result (dropped: the round queue was "
                                   "full)."),
                   (double)rounds[i].v);
    }
    metrics_labels(l, sizeof l, "edge", r->edge_id, NULL);
    metric_set(metrics_counter(m, "edgecam_retrain_models_installed_total", l,
                               "New models hot-swapped into the edge."), (double)s.swaps);
    metric_set(metrics_counter(m, "edgecam_retrain_not_better_total", l,
                               "Rounds whose new model did not beat the running one."),
               (double)s.not_better);
    metric_set(metrics_counter(m, "edgecam_retrain_frames_collected_total", l,
                               "Frames the drift collector kept for labelling."),
               (double)d.collected);
}

static int swap_into_node(void *ctx, const char *path, int version, ec_err *err)
{
    return edge_node_swap_model(ctx, path, version, err);
}

struct cli_edge_retrain *cli_edge_retrain_create(const struct ec_config *cfg, const char *model,
                                                 store *st, struct edge_node_opts *node_opts,
                                                 ec_err *err)
{
    const char *url = cfg->edge.retrain_url[0] ? cfg->edge.retrain_url : cfg->edge.cloud_url;
    if (!cfg->retrain.enabled || !url[0])
        return NULL;
    struct cli_edge_retrain *r = calloc(1, sizeof *r);
    if (!r) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    struct retrain_client_opts co = {
        .cloud_url = url,
        .edge_id = cfg->edge.edge_id,
        .bearer_token = cfg->security.token[0] ? cfg->security.token : NULL,
        .ca_file = cfg->security.tls_ca[0] ? cfg->security.tls_ca : NULL,
        .models_dir = cfg->retrain.cache_dir,
        .current_model = model,
        .train_on_edge = cfg->retrain.where == CONFIG_RETRAIN_EDGE,
        .queue_size = 2,
        .store = st,
    };
    retrain_opts_from_config(&co.retrain, &cfg->retrain);
    r->edge_id = cfg->edge.edge_id;
    if (!(r->client = retrain_client_create(&co, err)) ||
        !(r->collector = drift_collector_create(&co.retrain, retrain_client_on_round, r->client,
                                                err))) {
        cli_edge_retrain_destroy(r, 0);
        return NULL;
    }
    node_opts->observe = drift_collector_observe;
    node_opts->observe_ctx = r->collector;
    snprintf(r->lineage, sizeof r->lineage, "%s.%s", cfg->models.edge, cfg->edge.edge_id);
    node_opts->model_lineage = r->lineage;
    if (node_opts->metrics && metrics_add_collector(node_opts->metrics, collect_edge_retrain, r) == 0)
        r->metrics = node_opts->metrics;
    log_info("edge %s: continuous learning on (%s, window %.0f s, %d -> %d frames, train on %s)",
             cfg->edge.edge_id, url, cfg->retrain.window, cfg->retrain.collect_num,
             cfg->retrain.select_num, co.train_on_edge ? "edge" : "cloud");
    return r;
}

void cli_edge_retrain_attach(struct cli_edge_retrain *r, edge_node *node)
{
    if (r)
        retrain_client_set_swap(r->client, swap_into_node, node);
}

void cli_edge_retrain_destroy(struct cli_edge_retrain *r, int end_of_video)
{
    if (!r)
        return;
    if (r->collector && r->client) {
        /* At the end of the video the open window is a round too; on a signal it is dropped. */
        if (end_of_video)
            drift_collector_flush(r->collector);
        int wait_ms = end_of_video ? EDGE_RETRAIN_DRAIN_MS : EDGE_RETRAIN_STOP_MS;
        if (retrain_client_wait_idle(r->client, wait_ms) != 0)
            log_warn("edge %s: a retraining round did not finish in %d s; abandoned", r->edge_id,
                     wait_ms / 1000);
        struct retrain_client_stats s;
        retrain_client_stats(r->client, &s);
        printf("edge %s: retraining: %lld rounds done, %lld failed, %lld dropped, %lld models "
               "installed, running version %d\n",
               r->edge_id, (long long)s.done, (long long)s.failed, (long long)s.dropped,
               (long long)s.swaps, s.current_version);
    }
    metrics_remove_collector(r->metrics, collect_edge_retrain, r);
    drift_collector_destroy(r->collector);
    retrain_client_destroy(r->client);
    free(r);
}

struct cli_cloud_retrain {
    detector *golden;
    retrain_service *service;
    metrics *metrics;
};

static void collect_cloud_retrain(metrics *m, void *ctx)
{
    struct cli_cloud_retrain *r = ctx;
    struct retrain_service_stats s;
    retrain_service_stats(r->service, &s);
    metric_set(metrics_counter(m, "edgecam_retrain_service_rounds_total", NULL,
                               "Retraining rounds the cloud trained or labelled."),
               (double)s.rounds);
    metric_set(metrics_counter(m, "edgecam_retrain_service_rejected_busy_total", NULL,
                               "Rounds refused with 503: max_rounds already training."),
               (double)s.rejected_busy);
    metric_set(metrics_counter(m, "edgecam_retrain_service_bad_requests_total", NULL,
                               "Malformed retraining uploads refused."),
               (double)s.bad_requests);
}

void cli_cloud_retrain_export(struct cli_cloud_retrain *r, metrics *m)
{
    if (r && m && !r->metrics && metrics_add_collector(m, collect_cloud_retrain, r) == 0)
        r->metrics = m;
}

struct cli_cloud_retrain *cli_cloud_retrain_mount(const struct ec_config *cfg,
                                                  const char *golden_model, store *st,
                                                  http_server *srv, ec_err *err)
{
    if (!cfg->retrain.enabled)
        return NULL;
    char base[CONFIG_PATH_SIZE + 64];
    if (cli_model_path(cfg, cfg->models.edge, base, sizeof base) != 0) {
        ec_err_set(err, EC_ENOTFOUND, "retraining needs the edge base model: %s not found", base);
        return NULL;
    }
    struct cli_cloud_retrain *r = calloc(1, sizeof *r);
    if (!r) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    struct retrain_service_opts so = {
        .base_model = base,
        .model_name = cfg->models.edge,
        .models_dir = cfg->retrain.cache_dir,
        .store = st,
        .max_rounds = cfg->cloud.workers,
    };
    retrain_opts_from_config(&so.retrain, &cfg->retrain);
    if (!(so.golden = r->golden = detector_load(golden_model, err)) ||
        !(r->service = retrain_service_create(&so, err)) ||
        retrain_service_mount(r->service, srv, err) != 0) {
        cli_cloud_retrain_destroy(r);
        return NULL;
    }
    return r;
}

void cli_cloud_retrain_destroy(struct cli_cloud_retrain *r)
{
    if (!r)
        return;
    metrics_remove_collector(r->metrics, collect_cloud_retrain, r);
    retrain_service_destroy(r->service);
    detector_destroy(r->golden);
    free(r);
}
