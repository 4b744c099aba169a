#include "cli/cmd.h"

#ifdef EDGECAM_HAVE_BENCH
#include "bench/bench.h"
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
            "  --section NAME   video (decode, pipeline, filter, JPEG) | all   [all]\n"
            "  --frames N       frames per generated test clip                  [600]\n"
            "  --sizes LIST     comma-separated heights                         [360,720,1080]\n"
            "  --interval N     sampling interval of the pipeline run           [1]\n"
            "  --threads N      measure 1..N decode threads                     [2]\n"
            "  --dir DIR        cache for generated clips                       [/tmp/edgecam-bench]\n");
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

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    struct bench_opts o;
    bench_opts_default(&o);
    const char *section = "all";
    static const struct option longopts[] = {
        {"section", required_argument, 0, 's'}, {"frames", required_argument, 0, 'f'},
        {"sizes", required_argument, 0, 'z'},   {"interval", required_argument, 0, 'i'},
        {"threads", required_argument, 0, 't'}, {"dir", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': section = optarg; break;
        case 'f': bad |= parse_int(optarg, 2, 100000, &o.frames); break;
        case 'z': bad |= parse_sizes(optarg, &o); break;
        case 'i': bad |= parse_int(optarg, 1, 1000, &o.interval); break;
        case 't': bad |= parse_int(optarg, 1, 64, &o.max_threads); break;
        case 'd': o.dir = optarg; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: bad = 1;
        }
    }
    if (bad || optind < argc || (strcmp(section, "video") && strcmp(section, "all"))) {
        fprintf(stderr, "edgecam bench: bad arguments\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    ec_err err = {0};
    if (bench_video(&o, &err) != 0) {
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
