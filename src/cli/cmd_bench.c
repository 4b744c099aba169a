#include "cli/cmd.h"

#include <stdio.h>

int cmd_bench(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: edgecam bench [options]\n\nbenchmarks are tracked by issues 2 and 3; not built yet.\n");
        return EXIT_OK;
    }
    return cli_unbuilt("bench", "benchmarks are tracked by issues 2 and 3");
}
