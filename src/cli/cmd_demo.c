#include "cli/cmd.h"

#include <stdio.h>

int cmd_demo(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: edgecam demo [options]\n\nthe demo is tracked by issue 7; not built yet.\n");
        return EXIT_OK;
    }
    return cli_unbuilt("demo", "the demo is tracked by issue 7");
}
