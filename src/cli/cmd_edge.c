#include "cli/cmd.h"

#include <stdio.h>

int cmd_edge(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: edgecam edge [options]\n\nthe edge node is tracked by issue 4; not built yet.\n");
        return EXIT_OK;
    }
    return cli_unbuilt("edge", "the edge node is tracked by issue 4");
}
