#include "cli/cmd.h"

#include <stdio.h>

int cmd_gateway(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: edgecam gateway [options]\n\nthe gateway is tracked by issue 5; not built yet.\n");
        return EXIT_OK;
    }
    return cli_unbuilt("gateway", "the gateway is tracked by issue 5");
}
