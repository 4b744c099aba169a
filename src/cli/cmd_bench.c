#include "cli/cmd.h"

#ifdef EDGECAM_HAVE_BENCH
#include "bench/bench.h"
#include "bench/bench_retrain.h"

#ifndef EDGECAM_SOURCE_DIR
#define EDGECAM_SOURCE_DIR "."
#endif
#include "core/log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: edgecam bench [options]\n\n"
            "Measures each stage and prints it beside a reference measured in the same run.\n\n"
            "  --section NAME   video (decode, pipeline, filter, JPEG) | models (forward ms,\n"
            "                   GFLOP/s vs torch) | policies | gateway | retrain (continuous\n"
            "                   learning, day -> night) | all                   [video]\n"
            "  --frames N       frames per generated test clip                  [600]\n"
            "  --sizes LIST     comma-separated heights                         [360,720,1080]\n"
            "  --interval N     sampling interval of the pipeline run           [edge default]\n"
            "  --threads N      measure 1..N decode / inference threads         [2]\n"
            "  --dir DIR        cache for generated clips                       [/tmp/edgecam-bench]\n"
            "policies section (each policy on the same video, cloud and peer on loopback):\n"
            "  --video URI      synth:// video                      [synth://night?frames=300]\n"
            "  --policies LIST  comma-separated subset               [all]\n"
            "  --edge-model M   lightweight model (name or path)     [models.edge]\n"
            "  --golden-model M golden model (name or path)          [models.golden]\n"
            "  --fast           no live pacing (as fast as possible)\n");
}

static int parse_sizes(const char *s, struct bench_opts *o)
{
    o->nsizes = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long h = strtol(tok, &end, 10);
        if (*end || h < 64 || h > 4320 || o->nsizes == 4)
            return -1;
        o->sizes[o->nsizes++] = (int)h;
    }
    return o->nsizes > 0 ? 0 : -1;
}

int cmd_bench(int argc, char **argv)
{
    struct bench_opts o;
    bench_opts_default(&o);
    static struct ec_config cfg;
    config_defaults(&cfg);
    o.interval = cfg.edge.source.interval; /* what an edge samples by default */
    const char *section = "video", *only = NULL, *edge_model = NULL, *golden_model = NULL;
    struct policy_run_opts po;
    policy_run_opts_default(&po);
    static const struct option longopts[] = {
        {"section", required_argument, 0, 's'}, {"frames", required_argument, 0, 'f'},
        {"sizes", required_argument, 0, 'z'},   {"interval", required_argument, 0, 'i'},
        {"threads", required_argument, 0, 't'}, {"dir", required_argument, 0, 'd'},
        {"video", required_argument, 0, 'v'},   {"policies", required_argument, 0, 'p'},
        {"edge-model", required_argument, 0, 'e'}, {"golden-model", required_argument, 0, 'g'},
        {"fast", no_argument, 0, 'F'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': section = optarg; break;
        case 'f': bad |= cli_parse_int(optarg, 2, 100000, &o.frames); break;
        case 'z': bad |= parse_sizes(optarg, &o); break;
        case 'i': bad |= cli_parse_int(optarg, 1, 1000, &o.interval); break;
        case 't': bad |= cli_parse_int(optarg, 1, 64, &o.max_threads); break;
        case 'd': o.dir = optarg; break;
        case 'v': po.video = optarg; break;
        case 'p': only = optarg; break;
        case 'e': edge_model = optarg; break;
        case 'g': golden_model = optarg; break;
        case 'F': po.realtime = 0; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: bad = 1;
        }
    }
    static const char *const sections[] = {"video", "models", "policies", "gateway", "retrain"};
    int want[5] = {0}, all = !strcmp(section, "all"), known = all;
    for (int i = 0; i < 5; i++) {
        want[i] = all || !strcmp(section, sections[i]);
        known |= want[i];
    }
    if (bad || optind < argc || !known) {
        fprintf(stderr, "edgecam bench: bad arguments\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    static char em[CONFIG_PATH_SIZE + 64], gm[CONFIG_PATH_SIZE + 64];
    if ((want[1] || want[2] || want[4]) &&
        (cli_model_path(&cfg, edge_model ? edge_model : cfg.models.edge, em, sizeof em) ||
         cli_model_path(&cfg, golden_model ? golden_model : cfg.models.golden, gm, sizeof gm))) {
        fprintf(stderr, "edgecam bench: model not found (%s, %s)\n", em, gm);
        return EXIT_USAGE;
    }
    ec_err err = {0};
    int rc = 0;
    if (want[0])
        rc = bench_video(&o, &err);
    if (rc == 0 && want[1]) {
        const char *names[] = {"edge", "golden"}, *paths[] = {em, gm};
        rc = bench_models(&o, names, paths, 2, EDGECAM_SOURCE_DIR "/tests/oracle/nn_bench.py", &err);
    }
    if (rc == 0 && want[2]) {
        po.edge_model = em;
        po.golden_model = gm;
        po.interval = o.interval;
        rc = bench_policies(&po, only, stdout, &err);
    }
    if (rc == 0 && want[3])
        rc = bench_gateway(&o, &err);
    if (rc == 0 && want[4])
        rc = bench_retrain(&o, em, gm, &err);
    if (rc != 0) {
        fprintf(stderr, "edgecam bench: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}
#else
int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_unbuilt("bench", "needs the video, filter and synth modules");
}
#endif
