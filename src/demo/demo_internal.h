/* Internal to src/demo: child processes, the record of what ran, the report. */
#ifndef EDGECAM_DEMO_INTERNAL_H
#define EDGECAM_DEMO_INTERNAL_H

#include "demo/demo.h"

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#define DEMO_PATH_MAX 1024

/* snprintf that tells truncation apart: 0, or -1 when `dst` was too small. */
int demo_fmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- child processes (demo_proc.c) ---- */
struct demo_proc {
    char name[32];
    char log_path[DEMO_PATH_MAX];
    pid_t pid;  /* 0 when not started */
    int port;
    int reaped;
    int status; /* waitpid status once reaped */
};

/* Starts `exe <sub> -c <cfg>` in its own process group, stdout and stderr appended to
 * p->log_path, stdin /dev/null, SIGTERM sent to it if the demo dies. */
int demo_proc_spawn(struct demo_proc *p, const char *exe, const char *sub, const char *cfg,
                    ec_err *err);
/* Reaps without blocking; returns 1 once the child has exited. */
int demo_proc_exited(struct demo_proc *p);
/* SIGTERM, up to grace_s for it to exit, then SIGKILL; always reaps. */
void demo_proc_stop(struct demo_proc *p, double grace_s);
/* Describes how a reaped child ended ("exit 0", "signal 9"). */
void demo_proc_describe(const struct demo_proc *p, char *out, size_t cap);
/* Waits until 127.0.0.1:p->port accepts a connection. Returns 0, 1 if the child exited
 * first, -1 on timeout (err set). */
int demo_wait_port(struct demo_proc *p, double timeout_s, ec_err *err);
/* `n` distinct free loopback ports (base 0), or base..base+n-1 after checking each is free. */
int demo_pick_ports(int base, int *ports, int n, ec_err *err);
/* The last `max` bytes of a log, for error messages. */
void demo_log_tail(const char *path, char *out, size_t max);

/* ---- what ran (demo.c) and its report (demo_report.c) ---- */
struct demo_edge_run {
    int phase, edge;          /* 0-based */
    char edge_id[32];
    char policy[64];
    char db_path[DEMO_PATH_MAX];
    char log_path[DEMO_PATH_MAX];
    int started;
    int64_t frames_read;      /* from the edge's summary line; -1 when it printed none */
    char ended[64];           /* "exit 0", "signal 9", ... */
};

struct demo_result {
    const char *out_dir;
    char video_uri[CONFIG_URL_SIZE];
    int nphases;
    struct demo_edge_run runs[DEMO_MAX_PHASES * 2];
    int nruns;
    int64_t phase_start_ms[DEMO_MAX_PHASES], phase_end_ms[DEMO_MAX_PHASES];
    char cloud_db[DEMO_PATH_MAX];
    char status[600];         /* "completed", "interrupted ...", "failed: ..." */
    double elapsed_s;
    int snapshots;
    const char *edge_model, *golden_model; /* for the reference lines of the plot */
    char ports[256];          /* "cloud 8000, gateway 8080, ..." */
    char servers[4][160];     /* "cloud: exit 0" ... how each server ended */
};

/* Scores what ran, prints the tables on `table_out`, writes report.html and the annotated
 * frames under r->out_dir. */
int demo_report_write(const struct demo_result *r, FILE *table_out, ec_err *err);

#endif
