/* edgecam gateway: the forwarding gateway (SmartEye's) in front of several backends, until
 * SIGINT/SIGTERM. Edges point their cloud_url at it instead of a single server. */
#include "cli/cmd.h"

#include "config/config.h"
#include "core/log.h"
#include "gateway/gateway.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void gateway_usage(FILE *out)
{
    fprintf(out,
            "usage: edgecam gateway [-c FILE] [--listen ADDR] [--port N] [--dispatch POLICY]\n"
            "                       [--backend NAME=URL[,kserve]]... [--default-model NAME]\n"
            "\n"
            "Forwards POST /v1/infer to the backends of the `gateway` config section by a dispatch\n"
            "policy, polls them every monitor_interval, ejects failed ones and readmits them when\n"
            "healthy, retries a failed request once elsewhere, answers 503 when saturated.\n"
            "Also serves /v1/queue, /v1/status (per backend state), /v1/health, /metrics.\n"
            "\n"
            "  -c, --config FILE      YAML configuration (defaults when absent)\n"
            "  --listen ADDR          bind address (gateway.listen.address)\n"
            "  --port N               port, 0 = any free port (gateway.listen.port)\n"
            "  --dispatch POLICY      %s\n"
            "  --backend NAME=URL[,kserve]  add a backend (repeatable)\n"
            "  --default-model NAME   KServe model for requests that name none [gateway.default_model]\n"
            "\nPrints \"listening on http://ADDR:PORT\" once ready; SIGINT/SIGTERM stop it.\n"
            "exit status: 0 clean stop, 1 runtime failure, 2 usage or configuration error.\n",
            config_enum_choices(CONFIG_ENUM_DISPATCH));
}

static int add_backend(struct config_gateway *g, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1] || g->nbackends >= CONFIG_MAX_BACKENDS ||
        (size_t)(eq - arg) >= sizeof g->backends[0].name)
        return -1;
    struct config_backend_ref *b = &g->backends[g->nbackends];
    snprintf(b->name, sizeof b->name, "%.*s", (int)(eq - arg), arg);
    const char *url = eq + 1, *comma = strchr(url, ',');
    size_t ulen = comma ? (size_t)(comma - url) : strlen(url);
    if (ulen == 0 || ulen >= sizeof b->url)
        return -1;
    snprintf(b->url, sizeof b->url, "%.*s", (int)ulen, url);
    b->kind = CONFIG_BACKEND_EDGECAM;
    if (comma) {
        int k = config_enum_parse(CONFIG_ENUM_BACKEND_KIND, comma + 1);
        if (k < 0)
            return -1;
        b->kind = (enum config_backend_kind)k;
    }
    g->nbackends++;
    return 0;
}

static int parse_args(int argc, char **argv, struct ec_config *cfg)
{
    static const struct option longopts[] = {
        {"config", required_argument, 0, 'c'},   {"listen", required_argument, 0, 'l'},
        {"port", required_argument, 0, 'p'},     {"dispatch", required_argument, 0, 'd'},
        {"backend", required_argument, 0, 'b'},  {"default-model", required_argument, 0, 'm'},
        {0, 0, 0, 0}};
    const char *file = NULL, *listen = NULL, *port = NULL, *dispatch = NULL, *model = NULL;
    struct config_gateway extra;
    memset(&extra, 0, sizeof extra);
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': file = optarg; break;
        case 'l': listen = optarg; break;
        case 'p': port = optarg; break;
        case 'd': dispatch = optarg; break;
        case 'm': model = optarg; break;
        case 'b':
            if (add_backend(&extra, optarg) != 0) {
                fprintf(stderr, "edgecam gateway: bad --backend '%s' (want NAME=URL[,kserve])\n",
                        optarg);
                return -1;
            }
            break;
        default: gateway_usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "edgecam gateway: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    ec_err err = {0};
    if (cli_load_config(file, cfg) != EXIT_OK)
        return -1;
    struct config_gateway *g = &cfg->gateway;
    if (cli_listen_override(&g->listen, "gateway", listen, port) != 0)
        return -1;
    if (dispatch) {
        int d = config_enum_parse(CONFIG_ENUM_DISPATCH, dispatch);
        if (d < 0) {
            fprintf(stderr, "edgecam gateway: --dispatch must be one of %s (got '%s')\n",
                    config_enum_choices(CONFIG_ENUM_DISPATCH), dispatch);
            return -1;
        }
        g->dispatch = (enum config_dispatch)d;
    }
    if (model)
        snprintf(g->default_model, sizeof g->default_model, "%s", model);
    for (int i = 0; i < extra.nbackends && g->nbackends < CONFIG_MAX_BACKENDS; i++)
        g->backends[g->nbackends++] = extra.backends[i];
    if (config_validate(cfg, &err) != 0) {
        fprintf(stderr, "edgecam gateway: %s\n", err.msg);
        return -1;
    }
    if (g->nbackends == 0) {
        fprintf(stderr, "edgecam gateway: no backends: set gateway.backends in the config or "
                        "pass --backend NAME=URL\n");
        return -1;
    }
    return 0;
}

static enum gateway_dispatch dispatch_of(enum config_dispatch d)
{
    switch (d) {
    case CONFIG_DISPATCH_ROUND_ROBIN: return GATEWAY_ROUND_ROBIN;
    case CONFIG_DISPATCH_RANDOM: return GATEWAY_RANDOM;
    case CONFIG_DISPATCH_LOWEST_CPU: return GATEWAY_LOWEST_CPU;
    case CONFIG_DISPATCH_LOWEST_LATENCY: return GATEWAY_LOWEST_LATENCY;
    case CONFIG_DISPATCH_SHORTEST_QUEUE: break;
    }
    return GATEWAY_LEAST_IN_FLIGHT;
}

static int serve(const struct ec_config *cfg)
{
    const struct config_gateway *gc = &cfg->gateway;
    const struct config_security *sec = &cfg->security;
    struct gateway_backend_spec specs[CONFIG_MAX_BACKENDS];
    for (int i = 0; i < gc->nbackends; i++)
        specs[i] = (struct gateway_backend_spec){
            gc->backends[i].name, gc->backends[i].url,
            gc->backends[i].kind == CONFIG_BACKEND_KSERVE ? GATEWAY_BACKEND_KSERVE
                                                          : GATEWAY_BACKEND_EDGECAM};
    struct gateway_opts o = {
        .bind_addr = gc->listen.address, .port = (uint16_t)gc->listen.port,
        .dispatch = dispatch_of(gc->dispatch), .backends = specs, .nbackends = gc->nbackends,
        .monitor_interval_s = gc->monitor_interval, .queue_size = gc->queue_size,
        .retry = gc->retry, .eject_after = gc->eject_after,
        .connect_timeout_ms = gc->connect_timeout_ms, .request_timeout_ms = gc->request_timeout_ms,
        .default_model = gc->default_model,
        .bearer_token = sec->token[0] ? sec->token : NULL,
        .tls_cert_file = sec->tls_cert[0] ? sec->tls_cert : NULL,
        .tls_key_file = sec->tls_key[0] ? sec->tls_key : NULL,
        .tls_ca_file = sec->tls_ca[0] ? sec->tls_ca : NULL};
    ec_err err = {0};
    gateway *g = gateway_create(&o, &err);
    if (!g || gateway_start(g, &err) != 0) {
        fprintf(stderr, "edgecam gateway: %s\n", err.msg);
        gateway_destroy(g);
        return EXIT_RUNTIME;
    }
    printf("edgecam gateway: listening on http%s://%s:%u (%d backends, dispatch %s)\n",
           o.tls_cert_file ? "s" : "", o.bind_addr, gateway_port(g), gc->nbackends,
           gateway_dispatch_name(o.dispatch));
    fflush(stdout);
    int sig = cli_wait(NULL, NULL, NULL, 0);
    log_info("gateway: %s, shutting down", strsignal(sig));
    gateway_destroy(g);
    return EXIT_OK;
}

int cmd_gateway(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        gateway_usage(stdout);
        return EXIT_OK;
    }
    struct ec_config *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, "edgecam gateway: out of memory\n");
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
