/* Subcommands of the edgecam binary. Each returns the process exit code:
 * 0 ok, 1 runtime failure, 2 usage or configuration error, 3 not built. */
#ifndef EDGECAM_CLI_CMD_H
#define EDGECAM_CLI_CMD_H

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_UNBUILT = 3 };

int cmd_edge(int argc, char **argv);
int cmd_cloud(int argc, char **argv);
int cmd_gateway(int argc, char **argv);
int cmd_backend(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_config(int argc, char **argv);

/* True if argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);
/* Prints that a subcommand is not built yet and which issue tracks it; returns EXIT_UNBUILT. */
int cli_unbuilt(const char *name, const char *what);

#endif
