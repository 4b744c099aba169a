#include "cli/cmd.h"

#include <stdio.h>

int cmd_cloud(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: edgecam cloud [options]\n\nthe cloud server is tracked by issue 4; not built yet.\n");
        return EXIT_OK;
    }
    return cli_unbuilt("cloud", "the cloud server is tracked by issue 4");
}
