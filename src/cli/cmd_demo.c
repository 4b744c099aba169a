/* edgecam demo: the whole deployment on loopback, then a report (src/demo, docs/demo.md). */
#include "cli/cmd.h"

#include <stdio.h>

#ifdef EDGECAM_HAVE_DEMO
#include "demo/demo.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: edgecam demo [options]\n\n"
            "Starts a cloud, a gateway, 2 backends and 2 edges on 127.0.0.1, each a child process\n"
            "of this binary with a generated configuration, on a synthetic street video drifting\n"
            "from day to night. The two edges offload to the gateway, are each other's peers and\n"
            "retrain through the cloud; each phase runs them with a different pair of policies.\n"
            "Shows progress on stderr, then prints per-policy / per-edge mAP@0.5, latency\n"
            "percentiles, fps, bytes, filtered/dropped/timeout frames and retrain rounds, and\n"
            "writes report.html (plots), annotated JPEG frames and run/ (configs, logs, stores).\n"
            "SIGINT/SIGTERM stop it early: children are stopped in order and the report of what\n"
            "ran is still written.\n\n"
            "  -c, --config FILE    demo configuration (default: the embedded configs/demo.yaml)\n"
            "  -o, --out DIR        output directory (default ./edgecam-demo-<date>-<time>)\n"
            "      --policies LIST  comma-separated policies in pairs, one pair (edge-1,edge-2)\n"
            "                       per phase (default edge_local,edge_cloud_assisted,adaptive,\n"
            "                       always_cloud_lowest_delay); names: %s\n"
            "      --frames N       video frames per phase (default: the config's, 600 = 60 s)\n"
            "      --quick          a short run for tests: 40 frames per phase, 1 training epoch,\n"
            "                       2 snapshots\n"
            "      --base-port N    ports N..N+5 (cloud, gateway, backends, edges); 0 = free ports\n"
            "      --snapshots N    annotated frames per edge and phase (default 4)\n\n"
            "exit status: 0 done (also when stopped by a signal), 1 a process failed,\n"
            "2 usage or configuration error (unknown policy, missing model, busy port).\n",
            config_enum_choices(CONFIG_ENUM_POLICY));
}

struct demo_args {
    const char *config;
    int quick, frames_set, snaps_set;
};

static int parse_args(int argc, char **argv, struct demo_opts *o, struct demo_args *a)
{
    static const struct option longopts[] = {
        {"config", required_argument, 0, 'c'},  {"out", required_argument, 0, 'o'},
        {"policies", required_argument, 0, 'p'}, {"frames", required_argument, 0, 'f'},
        {"quick", no_argument, 0, 'q'},         {"base-port", required_argument, 0, 'b'},
        {"snapshots", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': a->config = optarg; break;
        case 'o': o->out_dir = optarg; break;
        case 'p': o->policies = optarg; break;
        case 'f': bad |= cli_parse_int(optarg, 1, 1000000, &o->frames); a->frames_set = 1; break;
        case 'q': a->quick = 1; break;
        case 'b': bad |= cli_parse_int(optarg, 0, 65530, &o->base_port); break;
        case 's': bad |= cli_parse_int(optarg, 0, 32, &o->snapshots); a->snaps_set = 1; break;
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (bad || optind < argc) {
        fprintf(stderr, "edgecam demo: %s\n", bad ? "bad option value (see --help)"
                                                  : "unexpected argument");
        return EXIT_USAGE;
    }
    if (a->quick) {
        if (!a->frames_set)
            o->frames = 40;
        if (!a->snaps_set)
            o->snapshots = 2;
    }
    return EXIT_OK;
}

static int load_config(const char *path, struct ec_config *cfg)
{
    if (path)
        return cli_load_config(path, cfg);
    config_defaults(cfg);
    ec_err err = {0};
    const char *text = demo_default_config();
    if (config_load_string(text, strlen(text), "embedded demo config", cfg, &err) != 0) {
        fprintf(stderr, "edgecam demo: %s\n", err.msg);
        return EXIT_USAGE;
    }
    log_set_level(cfg->log.level);
    return EXIT_OK;
}

/* A model named in the config, as an absolute path (children run elsewhere). */
static int find_model(const struct ec_config *cfg, const char *name, char *out, size_t cap)
{
    char found[PATH_MAX + 64];
    if (cli_model_path(cfg, name, found, sizeof found) != 0) {
        fprintf(stderr, "edgecam demo: model file missing: %s (set models.dir, or run from the "
                        "source tree)\n", found);
        return -1;
    }
    char abs[PATH_MAX];
    const char *use = realpath(found, abs) ? abs : found;
    if (strlen(use) >= cap) {
        fprintf(stderr, "edgecam demo: model path too long: %s\n", use);
        return -1;
    }
    memcpy(out, use, strlen(use) + 1);
    return 0;
}

int cmd_demo(int argc, char **argv)
{
    static struct ec_config cfg;
    struct demo_opts o;
    struct demo_args a = {0};
    demo_opts_default(&o);
    int rc = parse_args(argc, argv, &o, &a);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if ((rc = load_config(a.config, &cfg)) != EXIT_OK)
        return rc;
    if (a.quick)
        cfg.retrain.num_epoch = 1;
    static char edge_model[PATH_MAX], golden_model[PATH_MAX];
    if (find_model(&cfg, cfg.edge.model[0] ? cfg.edge.model : cfg.models.edge, edge_model,
                   sizeof edge_model) != 0 ||
        find_model(&cfg, cfg.cloud.model[0] ? cfg.cloud.model : cfg.models.golden, golden_model,
                   sizeof golden_model) != 0)
        return EXIT_USAGE;
    o.cfg = &cfg;
    o.edge_model = edge_model;
    o.golden_model = golden_model;
    cli_block_signals();
    ec_err err = {0};
    rc = demo_run(&o, &err);
    if (rc < 0) {
        fprintf(stderr, "edgecam demo: %s\n", err.msg);
        return err.code == EC_EINVAL || err.code == EC_ENOTFOUND ? EXIT_USAGE : EXIT_RUNTIME;
    }
    return EXIT_OK;
}

#else

int cmd_demo(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: edgecam demo [options]\n\nthe demo module is not built.\n");
        return EXIT_OK;
    }
    return cli_unbuilt("demo", "the demo module (src/demo) is not built");
}

#endif
