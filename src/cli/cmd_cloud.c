/* edgecam cloud: the golden model for edges (and, with retraining, their labeller). */
#include "cli/cmd.h"

#include "backend/backend.h"
#include "core/log.h"
#include "net/net.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: edgecam cloud [-c FILE] [--port N]\n\n"
                 "Serves the golden model to edges and gateways: POST /v1/infer (JPEG), GET /v1/queue,\n"
                 "/v1/status, /v1/health, /metrics (docs/protocol.md). Runs until SIGINT/SIGTERM.\n\n"
                 "  -c, --config FILE   YAML configuration (section cloud, models, security)\n"
                 "      --port N        override cloud.listen.port (0 = any free port)\n");
}

int cmd_cloud(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, 0, 'c'}, {"port", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    const char *path = NULL, *port = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'P': port = optarg; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    static struct ec_config cfg;
    int rc = cli_load_config(path, &cfg);
    if (rc != EXIT_OK)
        return rc;
    if (cli_listen_override(&cfg.cloud.listen, "cloud", NULL, port) != 0)
        return EXIT_USAGE;
    ec_err err = {0};
    if (optind < argc || config_validate(&cfg, &err) != 0) {
        fprintf(stderr, "edgecam cloud: %s\n", optind < argc ? "unexpected argument" : err.msg);
        return EXIT_USAGE;
    }
    log_set_name("cloud");
    cli_block_signals();
    char model[CONFIG_PATH_SIZE + 64];
    if (cli_model_path(&cfg, cfg.cloud.model, model, sizeof model) != 0) {
        fprintf(stderr, "edgecam cloud: model not found: %s\n", model);
        return EXIT_USAGE;
    }
    const struct config_security *sec = &cfg.security;
    metrics *m = metrics_create();
    struct infer_model_spec spec = {"golden", model};
    struct infer_service_opts so = {.models = &spec, .nmodels = 1, .workers = cfg.cloud.workers,
                                    .queue_size = cfg.cloud.queue_size, .score_thresh = 0.25f,
                                    .role = "cloud", .metrics = m};
    struct http_server_config sc = {
        .bind_addr = cfg.cloud.listen.address,
        .port = (uint16_t)cfg.cloud.listen.port,
        .thread_per_connection = 1,
        .max_body_bytes = (size_t)cfg.cloud.max_body_bytes,
        .bearer_token = sec->token[0] ? sec->token : NULL,
        .tls_cert_file = sec->tls_cert[0] ? sec->tls_cert : NULL,
        .tls_key_file = sec->tls_key[0] ? sec->tls_key : NULL,
        .metrics = m,
    };
    infer_service *svc = infer_service_create(&so, &err);
    http_server *srv = svc ? http_server_create(&sc, &err) : NULL;
    store *st = NULL; /* retraining rounds and model versions */
    struct cli_cloud_retrain *cl = NULL;
    rc = EXIT_RUNTIME;
    if (!srv || infer_service_mount(svc, srv, &err) != 0 ||
        (cfg.retrain.enabled && !(st = cli_open_store(&cfg, &err))) ||
        (!(cl = cli_cloud_retrain_mount(&cfg, model, st, srv, &err)) && err.code) ||
        http_server_route(srv, "GET", "/metrics", HTTP_ROUTE_PUBLIC, metrics_http_handler, m,
                          &err) != 0 ||
        http_server_start(srv, &err) != 0) {
        fprintf(stderr, "edgecam cloud: %s\n", err.msg);
        goto out;
    }
    cli_cloud_retrain_export(cl, m);
    log_info("cloud: golden model %s on %s:%u%s", model, cfg.cloud.listen.address,
             http_server_port(srv), cl ? ", retraining edge models" : "");
    printf("cloud listening on %s:%u\n", cfg.cloud.listen.address, http_server_port(srv));
    fflush(stdout);
    cli_wait(NULL, NULL, NULL, 0);
    log_info("cloud: shutting down");
    rc = EXIT_OK;
out:
    http_server_destroy(srv);
    cli_cloud_retrain_destroy(cl);
    store_close(st);
    infer_service_destroy(svc);
    metrics_destroy(m);
    return rc;
}
