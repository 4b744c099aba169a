/* edgecam: one binary, one subcommand per process role. */
#include "cli/cmd.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>

#ifndef EDGECAM_VERSION
#define EDGECAM_VERSION "0.1.0"
#endif

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct subcommand commands[] = {
    {"edge", cmd_edge, "run an edge node: read video, filter, schedule and infer"},
    {"cloud", cmd_cloud, "run the cloud server: golden-model inference and retraining"},
    {"gateway", cmd_gateway, "run the forwarding gateway in front of backend servers"},
    {"backend", cmd_backend, "run a backend inference server"},
    {"demo", cmd_demo, "start a whole deployment on loopback and print a report"},
    {"train", cmd_train, "train a detector on synthetic data"},
    {"eval", cmd_eval, "evaluate a detector (mAP) on a video with ground truth"},
    {"bench", cmd_bench, "measure decode, filter, JPEG and inference speed"},
    {"synth", cmd_synth, "write a synthetic street video with ground truth"},
    {"config", cmd_config, "check a configuration file (or print the defaults)"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out,
            "usage: edgecam [--log-level error|warn|info|debug] <command> [options]\n"
            "       edgecam <command> --help\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

int cli_unbuilt(const char *name, const char *what)
{
    fprintf(stderr, "edgecam %s: not built yet (%s)\n", name, what);
    return EXIT_UNBUILT;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            enum log_level lvl;
            if (log_level_parse(argv[++i], &lvl) != 0) {
                fprintf(stderr, "edgecam: unknown log level '%s'\n", argv[i]);
                return EXIT_USAGE;
            }
            cli_set_log_level(lvl);
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("edgecam %s\n", EDGECAM_VERSION);
            return EXIT_OK;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else {
            fprintf(stderr, "edgecam: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    for (size_t c = 0; c < NCOMMANDS; c++)
        if (strcmp(argv[i], commands[c].name) == 0)
            return commands[c].run(argc - i, argv + i);
    fprintf(stderr, "edgecam: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return EXIT_USAGE;
}
