/* edgecam config check|show|defaults: validate a configuration file or print one. */
#include "cli/cmd.h"
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void config_usage(FILE *out)
{
    fprintf(out,
            "usage: edgecam config check FILE...   validate files; prints \"ok\" or the first error\n"
            "       edgecam config show [--show-secrets] FILE\n"
            "                                      print FILE merged over the defaults, as YAML;\n"
            "                                      secrets (security.token, store.password, URL\n"
            "                                      passwords) print as <redacted> unless asked\n"
            "       edgecam config defaults        print every key with its default and meaning\n"
            "\nexit status: 0 valid, 2 invalid file or usage error, 1 output error.\n");
}

/* Loads path over the defaults into a heap struct (it is tens of KiB). */
static struct ec_config *load_or_report(const char *path)
{
    struct ec_config *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, "edgecam config: out of memory\n");
        return NULL;
    }
    ec_err err;
    ec_err_clear(&err);
    config_defaults(cfg);
    if (path && config_load_file(path, cfg, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        free(cfg);
        return NULL;
    }
    return cfg;
}

static int config_check(int argc, char **argv)
{
    if (argc < 1) {
        config_usage(stderr);
        return EXIT_USAGE;
    }
    int rc = EXIT_OK;
    for (int i = 0; i < argc; i++) {
        struct ec_config *cfg = load_or_report(argv[i]);
        if (!cfg) {
            rc = EXIT_USAGE;
            continue;
        }
        free(cfg);
        if (argc > 1)
            printf("%s: ok\n", argv[i]);
        else
            printf("ok\n");
    }
    return rc;
}

static int config_print(const char *path, unsigned flags)
{
    struct ec_config *cfg = load_or_report(path);
    if (!cfg)
        return EXIT_USAGE;
    int rc = config_dump_yaml_opts(cfg, stdout, flags) == 0 ? EXIT_OK : EXIT_RUNTIME;
    free(cfg);
    return rc;
}

int cmd_config(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        config_usage(stdout);
        return EXIT_OK;
    }
    if (argc < 2) {
        config_usage(stderr);
        return EXIT_USAGE;
    }
    const char *action = argv[1];
    if (strcmp(action, "check") == 0)
        return config_check(argc - 2, argv + 2);
    if (strcmp(action, "show") == 0 && argc == 3 && argv[2][0] != '-')
        return config_print(argv[2], CONFIG_DUMP_REDACT);
    if (strcmp(action, "show") == 0 && argc == 4 && strcmp(argv[2], "--show-secrets") == 0)
        return config_print(argv[3], 0);
    if (strcmp(action, "defaults") == 0 && argc == 2)
        return config_print(NULL, 0);
    fprintf(stderr, "edgecam config: unknown action or wrong arguments '%s'\n", action);
    config_usage(stderr);
    return EXIT_USAGE;
}
