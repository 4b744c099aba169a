/* edgecam backend: a multi-model inference server (SmartEye's backend) speaking our protocol
 * (/v1 routes) and KServe v2 (/v2 routes), until SIGINT/SIGTERM. */
#include "cli/cmd.h"

#include "backend/backend.h"
#include "config/config.h"
#include "core/log.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void backend_usage(FILE *out)
{
    fprintf(out,
            "usage: edgecam backend [-c FILE] [--listen ADDR] [--port N] [--model NAME=PATH]...\n"
            "\n"
            "Serves the models of the `backend` config section: POST /v1/infer (JPEG body, model\n"
            "named by X-Edgecam-Model), /v1/queue, /v1/status, /v1/health, /metrics, and the\n"
            "KServe v2 routes /v2/health/ready, /v2/models/NAME[/ready|/infer] (docs/gateway.md).\n"
            "\n"
            "  -c, --config FILE   YAML configuration (defaults when absent)\n"
            "  --listen ADDR       bind address (backend.listen.address)\n"
            "  --port N            port, 0 = any free port (backend.listen.port)\n"
            "  --model NAME=PATH   add a model (repeatable; the first model is the default)\n"
            "\nPrints \"listening on http://ADDR:PORT\" once ready; SIGINT/SIGTERM stop it.\n"
            "exit status: 0 clean stop, 1 runtime failure, 2 usage or configuration error.\n");
}

static int add_model(struct config_backend *b, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1] || b->nmodels >= CONFIG_MAX_MODELS ||
        (size_t)(eq - arg) >= sizeof b->models[0].name || strlen(eq + 1) >= sizeof b->models[0].path)
        return -1;
    struct config_model_ref *m = &b->models[b->nmodels++];
    snprintf(m->name, sizeof m->name, "%.*s", (int)(eq - arg), arg);
    snprintf(m->path, sizeof m->path, "%s", eq + 1);
    return 0;
}

/* A model path as given, else looked up in models.dir. */
static void resolve_path(const struct ec_config *cfg, const char *path, char *out, size_t cap)
{
    if (path[0] == '/' || access(path, R_OK) == 0 || !cfg->models.dir[0])
        snprintf(out, cap, "%s", path);
    else
        snprintf(out, cap, "%s/%s", cfg->models.dir, path);
}

static int parse_args(int argc, char **argv, struct ec_config *cfg)
{
    static const struct option longopts[] = {
        {"config", required_argument, 0, 'c'}, {"listen", required_argument, 0, 'l'},
        {"port", required_argument, 0, 'p'},   {"model", required_argument, 0, 'm'},
        {0, 0, 0, 0}};
    const char *file = NULL, *listen = NULL, *port = NULL;
    struct config_backend extra = {0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': file = optarg; break;
        case 'l': listen = optarg; break;
        case 'p': port = optarg; break;
        case 'm':
            if (add_model(&extra, optarg) != 0) {
                fprintf(stderr, "edgecam backend: bad --model '%s' (want NAME=PATH)\n", optarg);
                return -1;
            }
            break;
        default: backend_usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "edgecam backend: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    ec_err err = {0};
    if (cli_load_config(file, cfg) != EXIT_OK)
        return -1;
    if (cli_listen_override(&cfg->backend.listen, "backend", listen, port) != 0)
        return -1;
    for (int i = 0; i < extra.nmodels && cfg->backend.nmodels < CONFIG_MAX_MODELS; i++)
        cfg->backend.models[cfg->backend.nmodels++] = extra.models[i];
    if (config_validate(cfg, &err) != 0) {
        fprintf(stderr, "edgecam backend: %s\n", err.msg);
        return -1;
    }
    if (cfg->backend.nmodels == 0) {
        fprintf(stderr, "edgecam backend: no models: set backend.models in the config or pass "
                        "--model NAME=PATH\n");
        return -1;
    }
    return 0;
}

static int serve(const struct ec_config *cfg)
{
    const struct config_backend *b = &cfg->backend;
    char paths[CONFIG_MAX_MODELS][CONFIG_PATH_SIZE + CONFIG_PATH_SIZE];
    struct infer_model_spec specs[CONFIG_MAX_MODELS];
    for (int i = 0; i < b->nmodels; i++) {
        resolve_path(cfg, b->models[i].path, paths[i], sizeof paths[i]);
        specs[i] = (struct infer_model_spec){b->models[i].name, paths[i]};
    }
    ec_err err = {0};
    metrics *m = metrics_create();
    struct infer_service_opts so = {.models = specs, .nmodels = b->nmodels, .workers = b->workers,
                                    .queue_size = b->queue_size, .score_thresh = 0.25f,
                                    .role = "backend", .metrics = m};
    infer_service *svc = m ? infer_service_create(&so, &err) : NULL;
    const struct config_security *sec = &cfg->security;
    struct http_server_config sc = {
        .bind_addr = b->listen.address, .port = (uint16_t)b->listen.port,
        .thread_per_connection = 1, .max_connections = (unsigned)(b->workers + b->queue_size + 64),
        .bearer_token = sec->token, .tls_cert_file = sec->tls_cert[0] ? sec->tls_cert : NULL,
        .tls_key_file = sec->tls_key[0] ? sec->tls_key : NULL, .metrics = m};
    http_server *srv = svc ? http_server_create(&sc, &err) : NULL;
    int rc = EXIT_RUNTIME;
    if (srv && infer_service_mount(svc, srv, &err) == 0 &&
        infer_service_mount_kserve(svc, srv, &err) == 0 &&
        http_server_route(srv, "GET", "/metrics", HTTP_ROUTE_PUBLIC, metrics_http_handler, m, &err) == 0 &&
        http_server_start(srv, &err) == 0) {
        printf("edgecam backend: listening on http%s://%s:%u (%d models, %d workers)\n",
               sc.tls_cert_file ? "s" : "", b->listen.address, http_server_port(srv), b->nmodels,
               b->workers);
        fflush(stdout);
        int sig = cli_wait(NULL, NULL, NULL, 0);
        log_info("backend: %s, shutting down", strsignal(sig));
        rc = EXIT_OK;
    } else {
        fprintf(stderr, "edgecam backend: %s\n", err.msg[0] ? err.msg : "out of memory");
    }
    http_server_destroy(srv);
    infer_service_destroy(svc);
    metrics_destroy(m);
    return rc;
}

int cmd_backend(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        backend_usage(stdout);
        return EXIT_OK;
    }
    struct ec_config *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, "edgecam backend: out of memory\n");
        return EXIT_RUNTIME;
    }
    if (parse_args(argc, argv, cfg) != 0) {
        free(cfg);
        return EXIT_USAGE;
    }
    cli_block_signals(); /* before any thread starts, so only cli_wait sees them */
    int rc = serve(cfg);
    free(cfg);
    return rc;
}
