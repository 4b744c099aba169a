#include "cli/cmd.h"

#include <stdio.h>

int cmd_eval(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: edgecam eval [options]\n\nevaluation is tracked by issue 3; not built yet.\n");
        return EXIT_OK;
    }
    return cli_unbuilt("eval", "evaluation is tracked by issue 3");
}
