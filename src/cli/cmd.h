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

/* ---- shared plumbing of the process subcommands (cli_util.c) ---- */

#include "config/config.h"
#include "core/log.h"
#include "store/store.h"
#include "video/video.h"

#include <signal.h>

/* The --log-level given before the subcommand: it wins over log.level of any config. */
void cli_set_log_level(enum log_level lvl);
/* Whole-string number parsing for options: 0, or -1 when s is not a number in [lo, hi]. */
int cli_parse_long(const char *s, long lo, long hi, long *out);
int cli_parse_int(const char *s, long lo, long hi, int *out);
int cli_parse_double(const char *s, double lo, double hi, double *out);
int cli_parse_float(const char *s, float lo, float hi, float *out);

/* Applies --listen ADDR / --port N (either may be NULL) to a server's listen section; prints
 * the error naming `cmd` and returns -1 on a bad port. */
int cli_listen_override(struct config_listen *l, const char *cmd, const char *addr,
                        const char *port);

/* Loads `path` over the defaults (NULL: defaults only), validates, applies log settings.
 * Prints the error and returns EXIT_USAGE on failure. */
int cli_load_config(const char *path, struct ec_config *cfg);
/* A model named in the config: a path as given if it exists, else <models.dir>/<name>.safetensors,
 * else the same under the bundled models of the source tree. */
int cli_model_path(const struct ec_config *cfg, const char *name, char *out, size_t cap);
/* Opens the configured store. */
store *cli_open_store(const struct ec_config *cfg, ec_err *err);
/* Source options from the config; a synth:// source gets a generator whose state lives in
 * *gen_state (release with cli_source_free). */
int cli_source_opts(const struct config_source *src, struct source_opts *out, void **gen_state,
                    ec_err *err);
void cli_source_free(void *gen_state);

/* Blocks SIGINT/SIGTERM in the calling thread (call before starting threads). */
void cli_block_signals(void);
/* Waits for SIGINT/SIGTERM or until done() returns non-zero, calling progress() every
 * interval_ms. Returns the signal number, or 0 when done. */
int cli_wait(int (*done)(void *ctx), void (*progress)(void *ctx), void *ctx, int interval_ms);

/* ---- continuous learning in the processes (cli_retrain.c) ---- */

#include "edge/edge.h"
#include "net/net.h"

/* Edge side: NULL with err clear when retraining is off or there is no cloud; otherwise the
 * collector is hooked into node_opts (observe). Attach the node once it exists; destroy after
 * the node stopped (end_of_video: the open window is sent and the last round awaited). */
struct cli_edge_retrain;
struct cli_edge_retrain *cli_edge_retrain_create(const struct ec_config *cfg, const char *model,
                                                 store *st, struct edge_node_opts *node_opts,
                                                 ec_err *err);
void cli_edge_retrain_attach(struct cli_edge_retrain *r, edge_node *node);
void cli_edge_retrain_destroy(struct cli_edge_retrain *r, int end_of_video);

/* Cloud side: mounts /v1/retrain, /v1/retrain/labels and /v1/models on srv (NULL with err
 * clear when retraining is off). Destroy after the server stopped. */
struct cli_cloud_retrain;
struct cli_cloud_retrain *cli_cloud_retrain_mount(const struct ec_config *cfg,
                                                  const char *golden_model, store *st,
                                                  http_server *srv, ec_err *err);
void cli_cloud_retrain_destroy(struct cli_cloud_retrain *r);
/* Exports edgecam_retrain_service_* into m (NULL r is fine); undone by destroy. */
void cli_cloud_retrain_export(struct cli_cloud_retrain *r, metrics *m);

/* ---- MQTT detection events on the edge (cli_events.c) ---- */

/* NULL with err clear when mqtt.enabled is false; NULL with err set when the publisher cannot
 * start (EC_EUNSUPPORTED: "built without MQTT"). Otherwise hooks node_opts->pipeline.on_finished
 * (and exports edgecam_mqtt_* into node_opts->metrics). Destroy after the node. */
struct cli_mqtt;
struct cli_mqtt *cli_mqtt_create(const struct ec_config *cfg, struct edge_node_opts *node_opts,
                                 ec_err *err);
void cli_mqtt_destroy(struct cli_mqtt *q);

#endif
