#include "cli/cmd.h"

#include <stdio.h>

int cmd_config(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: edgecam config [options]\n\nconfiguration is tracked by issue 2; not built yet.\n");
        return EXIT_OK;
    }
    return cli_unbuilt("config", "configuration is tracked by issue 2");
}
