#include "cli/cmd.h"

#include <stdio.h>

int cmd_backend(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: edgecam backend [options]\n\nbackend servers are tracked by issue 5; not built yet.\n");
        return EXIT_OK;
    }
    return cli_unbuilt("backend", "backend servers are tracked by issue 5");
}
