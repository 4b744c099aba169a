#include "cli/cmd.h"

#include <stdio.h>

int cmd_synth(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: edgecam synth [options]\n\nthe synthetic world is tracked by issue 3; not built yet.\n");
        return EXIT_OK;
    }
    return cli_unbuilt("synth", "the synthetic world is tracked by issue 3");
}
