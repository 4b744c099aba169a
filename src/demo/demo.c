/* `edgecam demo`: starts the deployment as child processes, runs the phases, stops everything
 * in order (edges first, so every frame they read is recorded), then writes the report. */
#include "demo/demo_internal.h"

#include "core/clock.h"
#include "store/store.h"
#include "synth/synth.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_POLICIES "edge_local,edge_cloud_assisted,adaptive,always_cloud_lowest_delay"

static const char demo_yaml[] =
#include "demo/demo_config.inc"
    ;

const char *demo_default_config(void) { return demo_yaml; }

void demo_opts_default(struct demo_opts *o)
{
    *o = (struct demo_opts){.snapshots = 4, .progress_ms = 2000};
}

enum { P_CLOUD, P_GATEWAY, P_BACKEND1, P_BACKEND2, P_SERVERS, P_EDGE1 = P_SERVERS, P_EDGE2,
       P_COUNT };

struct demo {
    const struct demo_opts *o;
    char exe[DEMO_PATH_MAX];
    char run_dir[DEMO_PATH_MAX];
    char policies[DEMO_MAX_PHASES * 2][64];
    struct demo_proc procs[P_COUNT];
    struct demo_result *res;
    int64_t frames; /* video frames per phase */
    double video_s; /* video duration at its fps */
    int interrupted;
    double t0;
};

static struct ec_config child_cfg; /* large: one at a time, off the stack */

static int make_dir(const char *path, ec_err *err)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return ec_err_set(err, EC_EIO, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

static int write_config(const char *path, const struct ec_config *c, ec_err *err)
{
    if (config_validate(c, err) != 0)
        return ec_err_wrap(err, "generated %s", path);
    FILE *f = fopen(path, "w");
    if (!f)
        return ec_err_set(err, EC_EIO, "%s: %s", path, strerror(errno));
    int rc = config_dump_yaml(c, f);
    if (fclose(f) != 0 || rc != 0)
        return ec_err_set(err, EC_EIO, "%s: write failed", path);
    return 0;
}

#define SETS(dst, ...) demo_fmt((dst), sizeof(dst), __VA_ARGS__)

/* The base of every child's configuration: the demo's, with absolute model paths. */
static void child_base(struct demo *d, const char *name, const char *db)
{
    child_cfg = *d->o->cfg;
    /* models.edge stays a name: the cloud names an edge's model lineage after it. */
    const char *path = d->o->edge_model, *slash = strrchr(path, '/');
    const char *file = slash ? slash + 1 : path;
    size_t stem = strlen(file);
    if (stem > 12 && strcmp(file + stem - 12, ".safetensors") == 0)
        stem -= 12;
    if (!slash)
        SETS(child_cfg.models.dir, ".");
    else
        SETS(child_cfg.models.dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    SETS(child_cfg.models.edge, "%.*s", (int)stem, file);
    SETS(child_cfg.models.golden, "%s", d->o->golden_model);
    child_cfg.log.file[0] = '\0';
    child_cfg.store.kind = CONFIG_STORE_SQLITE;
    SETS(child_cfg.store.path, "%s/%s", d->run_dir, db);
    SETS(child_cfg.retrain.cache_dir, "%s/%s-models", d->run_dir, name);
}

static void url_of(const struct demo *d, int which, char *out, size_t cap)
{
    snprintf(out, cap, "http://127.0.0.1:%d", d->procs[which].port);
}

static int start_proc(struct demo *d, int which, const char *sub, ec_err *err)
{
    struct demo_proc *p = &d->procs[which];
    char cfg[DEMO_PATH_MAX + 64];
    demo_fmt(cfg, sizeof cfg, "%s/%s.yaml", d->run_dir, p->name);
    demo_fmt(p->log_path, sizeof p->log_path, "%s/%s.log", d->run_dir, p->name);
    if (write_config(cfg, &child_cfg, err) != 0)
        return -1;
    return demo_proc_spawn(p, d->exe, sub, cfg, err);
}

/* A child that failed to come up: its own words from its log. */
static int child_failed(struct demo_proc *p, ec_err *err)
{
    char how[64], tail[400];
    demo_proc_describe(p, how, sizeof how);
    demo_log_tail(p->log_path, tail, sizeof tail);
    for (char *c = tail; *c; c++)
        if (*c == '\n')
            *c = ' ';
    return ec_err_set(err, EC_ENET, "%s stopped unexpectedly (%s); its log %s ends: %s",
                      p->name, how, p->log_path, tail);
}

static int wait_ready(struct demo *d, int which, ec_err *err)
{
    int rc = demo_wait_port(&d->procs[which], 60, err);
    return rc == 1 ? child_failed(&d->procs[which], err) : rc;
}

static int start_servers(struct demo *d, ec_err *err)
{
    static const char *const names[P_SERVERS] = {"cloud", "gateway", "backend-1", "backend-2"};
    for (int i = 0; i < P_SERVERS; i++)
        SETS(d->procs[i].name, "%s", names[i]);
    for (int b = P_BACKEND1; b <= P_BACKEND2; b++) {
        child_base(d, d->procs[b].name, "unused.db");
        struct config_backend *be = &child_cfg.backend;
        be->listen.port = d->procs[b].port;
        SETS(be->listen.address, "127.0.0.1");
        be->nmodels = 2; /* the first is the default model of requests naming none */
        SETS(be->models[0].name, "golden");
        SETS(be->models[0].path, "%s", d->o->golden_model);
        SETS(be->models[1].name, "edge");
        SETS(be->models[1].path, "%s", d->o->edge_model);
        if (start_proc(d, b, "backend", err) != 0)
            return -1;
    }
    child_base(d, "cloud", "cloud.db");
    SETS(child_cfg.cloud.listen.address, "127.0.0.1");
    child_cfg.cloud.listen.port = d->procs[P_CLOUD].port;
    SETS(child_cfg.cloud.model, "%s", d->o->golden_model);
    SETS(d->res->cloud_db, "%s", child_cfg.store.path);
    if (start_proc(d, P_CLOUD, "cloud", err) != 0)
        return -1;
    if (wait_ready(d, P_BACKEND1, err) || wait_ready(d, P_BACKEND2, err))
        return -1;
    child_base(d, "gateway", "unused.db");
    struct config_gateway *g = &child_cfg.gateway;
    SETS(g->listen.address, "127.0.0.1");
    g->listen.port = d->procs[P_GATEWAY].port;
    g->nbackends = 2;
    for (int i = 0; i < 2; i++) {
        SETS(g->backends[i].name, "%s", d->procs[P_BACKEND1 + i].name);
        url_of(d, P_BACKEND1 + i, g->backends[i].url, sizeof g->backends[i].url);
        g->backends[i].kind = CONFIG_BACKEND_EDGECAM;
    }
    if (start_proc(d, P_GATEWAY, "gateway", err) != 0)
        return -1;
    return wait_ready(d, P_GATEWAY, err) || wait_ready(d, P_CLOUD, err) ? -1 : 0;
}

static int start_edge(struct demo *d, int phase, int e, ec_err *err)
{
    struct demo_edge_run *run = &d->res->runs[d->res->nruns];
    int which = P_EDGE1 + e;
    struct demo_proc *p = &d->procs[which];
    memset(run, 0, sizeof *run);
    run->phase = phase;
    run->edge = e;
    run->frames_read = -1;
    SETS(run->edge_id, "edge-%d", e + 1);
    SETS(run->policy, "%s", d->policies[phase * 2 + e]);
    SETS(p->name, "phase%d-%s", phase + 1, run->edge_id);
    char db[128];
    snprintf(db, sizeof db, "phase%d-%s.db", phase + 1, run->edge_id);
    child_base(d, p->name, db);
    SETS(run->db_path, "%s", child_cfg.store.path);
    struct config_edge *ec = &child_cfg.edge;
    SETS(ec->edge_id, "%s", run->edge_id);
    SETS(ec->listen.address, "127.0.0.1");
    ec->listen.port = p->port;
    ec->npeers = 1;
    SETS(ec->peers[0].id, "edge-%d", 2 - e);
    url_of(d, P_EDGE1 + (1 - e), ec->peers[0].url, sizeof ec->peers[0].url);
    url_of(d, P_GATEWAY, ec->cloud_url, sizeof ec->cloud_url);
    url_of(d, P_CLOUD, ec->retrain_url, sizeof ec->retrain_url); /* the gateway only infers */
    SETS(ec->source.uri, "%s", d->res->video_uri);
    ec->source.kind = CONFIG_SOURCE_SYNTH;
    ec->source.max_frames = 0;
    SETS(ec->model, "%s", d->o->edge_model);
    child_cfg.policy.name = (enum config_policy)config_enum_parse(CONFIG_ENUM_POLICY, run->policy);
    if (start_proc(d, which, "edge", err) != 0)
        return -1;
    SETS(run->log_path, "%s", p->log_path);
    run->started = 1;
    d->res->nruns++;
    return 0;
}

/* "edge edge-1: 300 frames in 10.0 s ..." from the edge's summary. */
static int64_t frames_from_log(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    long long n = -1, v;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "edge ", 5) == 0 && sscanf(strchr(line, ':') ? strchr(line, ':') + 1
                                                                          : line,
                                                     " %lld frames in", &v) == 1)
            n = v;
    if (f)
        fclose(f);
    return n;
}

struct progress {
    store *st[2];
};

static void print_progress(struct demo *d, int phase, struct progress *pg, double phase_t0)
{
    fprintf(stderr, "demo: phase %d/%d (edge-1 %s, edge-2 %s) %.0f s:", phase + 1,
            d->res->nphases, d->policies[phase * 2], d->policies[phase * 2 + 1],
            clock_mono_s() - phase_t0);
    for (int e = 0; e < 2; e++) {
        const struct demo_edge_run *run = &d->res->runs[d->res->nruns - 2 + e];
        /* Only once the edge serves: it has created its store's schema by then. */
        if (!pg->st[e] && demo_wait_port(&d->procs[P_EDGE1 + e], 0, NULL) == 0) {
            struct store_opts so = {.kind = "sqlite", .path = run->db_path};
            pg->st[e] = store_open(&so, NULL);
        }
        int64_t n = 0;
        if (pg->st[e])
            store_count_frames(pg->st[e], run->edge_id, -1, &n, NULL);
        fprintf(stderr, " %s %lld/%lld frames%s", run->edge_id, (long long)n,
                (long long)d->frames, demo_proc_exited(&d->procs[P_EDGE1 + e]) ? " (done)" : "");
    }
    fprintf(stderr, "; elapsed %.0f s\n", clock_mono_s() - d->t0);
}

static int check_servers(struct demo *d, ec_err *err)
{
    for (int i = 0; i < P_SERVERS; i++)
        if (demo_proc_exited(&d->procs[i]))
            return child_failed(&d->procs[i], err);
    return 0;
}

/* Waits for both edges of a phase to reach the end of the video. Returns 0, 1 on a signal,
 * -1 on an error (a server died, the phase ran too long). */
static int run_phase(struct demo *d, int phase, ec_err *err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    double t0 = clock_mono_s(), last = t0;
    /* Slack for startup and the edges' end-of-video retrain drain (up to 2 minutes). */
    double timeout = d->o->phase_timeout_s > 0 ? d->o->phase_timeout_s : d->video_s * 3 + 180;
    struct progress pg = {{0}};
    int rc = 0;
    for (;;) {
        struct timespec ts = {0, 100000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0) {
            fprintf(stderr, "demo: %s: stopping the edges (every frame read is recorded), then "
                            "the servers\n", strsignal(sig));
            d->interrupted = sig;
            rc = 1;
            break;
        }
        if (demo_proc_exited(&d->procs[P_EDGE1]) && demo_proc_exited(&d->procs[P_EDGE2]))
            break;
        if ((rc = check_servers(d, err)) != 0)
            break;
        if (clock_mono_s() - t0 > timeout) {
            rc = ec_err_set(err, EC_ETIMEOUT, "phase %d still running after %.0f s", phase + 1,
                            timeout);
            break;
        }
        if (d->o->progress_ms > 0 && (clock_mono_s() - last) * 1000 >= d->o->progress_ms) {
            print_progress(d, phase, &pg, t0);
            last = clock_mono_s();
        }
    }
    for (int e = 0; e < 2; e++) {
        demo_proc_stop(&d->procs[P_EDGE1 + e], 30);
        store_close(pg.st[e]);
    }
    return rc;
}

static void finish_phase(struct demo *d)
{
    for (int e = 0; e < 2; e++) {
        struct demo_edge_run *run = &d->res->runs[d->res->nruns - 2 + e];
        demo_proc_describe(&d->procs[P_EDGE1 + e], run->ended, sizeof run->ended);
        run->frames_read = frames_from_log(run->log_path);
        fprintf(stderr, "demo: phase %d %s (%s): %lld frames, %s\n", run->phase + 1,
                run->edge_id, run->policy, (long long)run->frames_read, run->ended);
    }
}

static int run_phases(struct demo *d, ec_err *err)
{
    for (int k = 0; k < d->res->nphases; k++) {
        d->res->phase_start_ms[k] = clock_wall_ms();
        int rc = 0;
        if (start_edge(d, k, 0, err) != 0 || start_edge(d, k, 1, err) != 0)
            rc = -1;
        if (rc == 0)
            rc = run_phase(d, k, err);
        else
            for (int e = 0; e < 2; e++)
                demo_proc_stop(&d->procs[P_EDGE1 + e], 30);
        d->res->phase_end_ms[k] = clock_wall_ms();
        if (d->res->nruns >= 2 && d->res->runs[d->res->nruns - 1].phase == k) {
            finish_phase(d);
            for (int e = 0; rc == 0 && e < 2; e++) {
                const struct demo_edge_run *run = &d->res->runs[d->res->nruns - 2 + e];
                if (strcmp(run->ended, "exit 0") != 0)
                    rc = ec_err_set(err, EC_EIO, "phase %d %s ended with %s; see %s", k + 1,
                                    run->edge_id, run->ended, run->log_path);
            }
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void stop_all(struct demo *d)
{
    for (int i = P_EDGE1; i < P_COUNT; i++)
        demo_proc_stop(&d->procs[i], 30);
    static const int order[] = {P_GATEWAY, P_BACKEND1, P_BACKEND2, P_CLOUD};
    for (int i = 0; i < 4; i++)
        demo_proc_stop(&d->procs[order[i]], 15);
}

/* Policies in pairs, checked against the built-in names. */
static int parse_policies(struct demo *d, ec_err *err)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", d->o->policies ? d->o->policies : DEFAULT_POLICIES);
    int n = 0;
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n >= DEMO_MAX_PHASES * 2)
            return ec_err_set(err, EC_EINVAL, "at most %d policies (%d phases)",
                              DEMO_MAX_PHASES * 2, DEMO_MAX_PHASES);
        if (config_enum_parse(CONFIG_ENUM_POLICY, t) < 0)
            return ec_err_set(err, EC_EINVAL, "unknown policy '%s' (%s)", t,
                              config_enum_choices(CONFIG_ENUM_POLICY));
        SETS(d->policies[n++], "%s", t);
    }
    if (n == 0 || n % 2 != 0)
        return ec_err_set(err, EC_EINVAL, "policies come in pairs (edge-1,edge-2 per phase); "
                                          "got %d", n);
    d->res->nphases = n / 2;
    return 0;
}

/* The video of every phase: the configured synth:// URI, with frames= when asked. */
static int choose_video(struct demo *d, ec_err *err)
{
    const char *uri = d->o->cfg->edge.source.uri;
    char *v = d->res->video_uri;
    size_t cap = sizeof d->res->video_uri;
    if (SETS(d->res->video_uri, "%s", uri) != 0)
        return ec_err_set(err, EC_EINVAL, "edge.source.uri too long");
    if (d->o->frames > 0) { /* replace frames= (the last of repeated keys wins anyway) */
        char *q = strchr(v, '?'), *save, rest[CONFIG_URL_SIZE] = "";
        size_t len = 0;
        if (q) {
            *q = '\0';
            for (char *kv = strtok_r(q + 1, "&", &save); kv; kv = strtok_r(NULL, "&", &save))
                if (strncmp(kv, "frames=", 7) != 0 && len < sizeof rest)
                    len += (size_t)snprintf(rest + len, sizeof rest - len, "%s&", kv);
        }
        if (len >= sizeof rest || demo_fmt(v + strlen(v), cap - strlen(v), "?%sframes=%d", rest,
                                           d->o->frames) != 0)
            return ec_err_set(err, EC_EINVAL, "edge.source.uri too long");
    }
    struct synth_opts so;
    if (synth_opts_from_uri(d->res->video_uri, &so, err) != 0)
        return ec_err_wrap(err, "the demo scores a synthetic video (edge.source.uri)");
    if (so.frames <= 0)
        return ec_err_set(err, EC_EINVAL, "the demo needs a finite video: add frames=N to %s",
                          d->res->video_uri);
    d->frames = so.frames;
    d->video_s = (double)so.frames / so.fps;
    return 0;
}

static int prepare(struct demo *d, ec_err *err)
{
    const struct demo_opts *o = d->o;
    if (access(o->edge_model, R_OK) != 0 || access(o->golden_model, R_OK) != 0)
        return ec_err_set(err, EC_ENOTFOUND, "model file missing: %s",
                          access(o->edge_model, R_OK) != 0 ? o->edge_model : o->golden_model);
    SETS(d->exe, "%s", o->exe ? o->exe : "/proc/self/exe");
    if (access(d->exe, X_OK) != 0)
        return ec_err_set(err, EC_ENOTFOUND, "cannot run %s", d->exe);
    if (parse_policies(d, err) != 0 || choose_video(d, err) != 0)
        return -1;
    int ports[P_COUNT];
    if (demo_pick_ports(o->base_port, ports, P_COUNT, err) != 0)
        return -1;
    int len = 0;
    static const char *const roles[P_COUNT] = {"cloud", "gateway", "backend-1", "backend-2",
                                               "edge-1", "edge-2"};
    for (int i = 0; i < P_COUNT; i++) {
        d->procs[i].port = ports[i];
        len += snprintf(d->res->ports + len, sizeof d->res->ports - (size_t)len, "%s%s %d",
                        i ? ", " : "", roles[i], ports[i]);
    }
    if (make_dir(d->res->out_dir, err) != 0)
        return -1;
    SETS(d->run_dir, "%s/run", d->res->out_dir);
    /* Stores refuse a frame stored twice: a second run needs its own directory. */
    if (mkdir(d->run_dir, 0755) != 0)
        return errno == EEXIST ? ec_err_set(err, EC_EINVAL, "%s already holds a demo run: "
                                            "choose another --out", d->res->out_dir)
                               : ec_err_set(err, EC_EIO, "cannot create %s: %s", d->run_dir,
                                            strerror(errno));
    return 0;
}

int demo_run(const struct demo_opts *o, ec_err *err)
{
    static struct demo_result res;
    ec_err local_err = {0};
    if (!err)
        err = &local_err;
    struct demo d = {.o = o, .res = &res, .t0 = clock_mono_s()};
    memset(&res, 0, sizeof res);
    res.snapshots = o->snapshots;
    res.edge_model = o->edge_model;
    res.golden_model = o->golden_model;
    char out_dir[DEMO_PATH_MAX];
    if (o->out_dir) {
        if (strlen(o->out_dir) > 600)
            return ec_err_set(err, EC_EINVAL, "output directory name too long");
        SETS(out_dir, "%s", o->out_dir);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(out_dir, sizeof out_dir, "edgecam-demo-%Y%m%d-%H%M%S", &tm);
    }
    res.out_dir = out_dir;
    if (prepare(&d, err) != 0)
        return -1;
    fprintf(stderr, "demo: output in %s; ports: %s\n", out_dir, res.ports);
    fprintf(stderr, "demo: starting cloud, gateway and 2 backends\n");
    int rc = start_servers(&d, err);
    if (rc == 0) {
        fprintf(stderr, "demo: servers up after %.1f s; %d phases of %lld frames (%s)\n",
                clock_mono_s() - d.t0, res.nphases, (long long)d.frames, res.video_uri);
        rc = run_phases(&d, err);
    }
    stop_all(&d);
    for (int i = 0; i < P_SERVERS; i++) { /* a clean stop is exit 0 */
        char how[64];
        demo_proc_describe(&d.procs[i], how, sizeof how);
        SETS(res.servers[i], "%s (port %d): %s", d.procs[i].name, d.procs[i].port, how);
        if (rc >= 0 && d.procs[i].pid > 0 && strcmp(how, "exit 0") != 0)
            rc = ec_err_set(err, EC_EIO, "%s ended with %s when stopped; see %s", d.procs[i].name,
                            how, d.procs[i].log_path);
    }
    res.elapsed_s = clock_mono_s() - d.t0;
    if (rc == 0)
        SETS(res.status, "completed");
    else if (rc > 0)
        SETS(res.status, "interrupted by %s", strsignal(d.interrupted));
    else
        SETS(res.status, "failed: %s", err->msg);
    if (res.nruns == 0)
        return rc;
    fprintf(stderr, "demo: all processes stopped after %.1f s; scoring against the ground "
                    "truth\n", res.elapsed_s);
    ec_err rerr = {0};
    if (demo_report_write(&res, stdout, &rerr) != 0) {
        if (rc < 0)
            fprintf(stderr, "demo: report: %s\n", rerr.msg);
        else
            *err = rerr;
        return -1;
    }
    return rc;
}
