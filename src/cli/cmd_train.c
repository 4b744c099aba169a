#include "cli/cmd.h"

#include <stdio.h>

int cmd_train(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: edgecam train [options]\n\nthe trainer is tracked by issue 3; not built yet.\n");
        return EXIT_OK;
    }
    return cli_unbuilt("train", "the trainer is tracked by issue 3");
}
