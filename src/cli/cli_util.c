/* Plumbing shared by the process subcommands: config, models, store, sources, signals. */
#include "cli/cmd.h"

#include "core/log.h"
#include "synth/synth.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef EDGECAM_SOURCE_DIR
#define EDGECAM_SOURCE_DIR "."
#endif

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_int(const char *s, long lo, long hi, int *out)
{
    long v;
    if (lo < INT_MIN || hi > INT_MAX || cli_parse_long(s, lo, hi, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int cli_parse_float(const char *s, float lo, float hi, float *out)
{
    double v;
    if (cli_parse_double(s, lo, hi, &v) != 0)
        return -1;
    *out = (float)v;
    return 0;
}

int cli_listen_override(struct config_listen *l, const char *cmd, const char *addr,
                        const char *port)
{
    if (addr)
        snprintf(l->address, sizeof l->address, "%s", addr);
    if (port && cli_parse_int(port, 0, 65535, &l->port) != 0) {
        fprintf(stderr, "edgecam %s: --port must be 0..65535 (got '%s')\n", cmd, port);
        return -1;
    }
    return 0;
}

static int cmdline_log_level = -1;

void cli_set_log_level(enum log_level lvl)
{
    cmdline_log_level = (int)lvl;
    log_set_level(lvl);
}

int cli_load_config(const char *path, struct ec_config *cfg)
{
    config_defaults(cfg);
    ec_err err = {0};
    if (path && config_load_file(path, cfg, &err) != 0) {
        fprintf(stderr, "edgecam: %s\n", err.msg);
        return EXIT_USAGE;
    }
    if (cmdline_log_level >= 0)
        cfg->log.level = (enum log_level)cmdline_log_level;
    log_set_level(cfg->log.level);
    if (cfg->log.file[0] && log_set_file(cfg->log.file, &err) != 0) {
        fprintf(stderr, "edgecam: %s\n", err.msg);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static int readable(const char *p) { return access(p, R_OK) == 0; }

int cli_model_path(const struct ec_config *cfg, const char *name, char *out, size_t cap)
{
    if (readable(name)) {
        snprintf(out, cap, "%s", name);
        return 0;
    }
    snprintf(out, cap, "%s/%s.safetensors", cfg->models.dir, name);
    if (readable(out))
        return 0;
    if (cfg->models.dir[0] != '/') {
        snprintf(out, cap, "%s/%s/%s.safetensors", EDGECAM_SOURCE_DIR, cfg->models.dir, name);
        if (readable(out))
            return 0;
    }
    snprintf(out, cap, "%s/%s.safetensors", cfg->models.dir, name);
    return -1;
}

store *cli_open_store(const struct ec_config *cfg, ec_err *err)
{
    const struct config_store *c = &cfg->store;
    struct store_opts o = {
        .kind = c->kind == CONFIG_STORE_MYSQL ? "mysql" : "sqlite",
        .path = c->path,
        .host = c->host,
        .port = c->port,
        .user = c->user,
        .password = c->password,
        .database = c->database,
    };
    return store_open(&o, err);
}

int cli_source_opts(const struct config_source *src, struct source_opts *out, void **gen_state,
                    ec_err *err)
{
    static const enum source_kind kinds[] = {
        [CONFIG_SOURCE_AUTO] = SOURCE_AUTO, [CONFIG_SOURCE_FILE] = SOURCE_FILE,
        [CONFIG_SOURCE_RTSP] = SOURCE_RTSP, [CONFIG_SOURCE_V4L2] = SOURCE_V4L2,
        [CONFIG_SOURCE_SYNTH] = SOURCE_GENERATOR,
    };
    source_opts_init(out);
    *gen_state = NULL;
    out->kind = kinds[src->kind];
    out->uri = src->uri;
    out->sample_interval = src->interval;
    out->realtime = src->realtime;
    out->io_timeout_ms = src->io_timeout_ms;
    out->reconnect_max = src->reconnect_max == 0 ? 0 : src->reconnect_max;
    out->backoff_initial_ms = src->backoff_initial_ms;
    out->backoff_max_ms = src->backoff_max_ms;
    out->decode_threads = src->decode_threads;
    if (src->kind == CONFIG_SOURCE_SYNTH ||
        (src->kind == CONFIG_SOURCE_AUTO && strncmp(src->uri, "synth:", 6) == 0)) {
        struct synth_opts so;
        if (synth_opts_from_uri(src->uri, &so, err) != 0)
            return -1;
        synth *s = synth_create(&so, err);
        if (!s)
            return -1;
        out->kind = SOURCE_GENERATOR;
        out->gen_next = synth_gen_next;
        out->gen_ctx = s;
        *gen_state = s;
    }
    return 0;
}

void cli_source_free(void *gen_state) { synth_destroy(gen_state); }

void cli_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int cli_wait(int (*done)(void *ctx), void (*progress)(void *ctx), void *ctx, int interval_ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    const int tick_ms = 100;
    for (int waited = 0;; waited += tick_ms) {
        struct timespec ts = {0, tick_ms * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0)
            return sig;
        if (done && done(ctx))
            return 0;
        if (progress && interval_ms > 0 && waited > 0 && waited % interval_ms == 0)
            progress(ctx);
    }
}
