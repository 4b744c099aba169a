/* Continuous learning on a day -> night synthetic video: mAP@0.5 per time window of the
 * lightweight model frozen, the same model with continuous learning (the real collector ->
 * retrain client -> loopback retrain service -> verified download -> hot swap path), and the
 * golden model, against the generator's exact ground truth. Printed as a table and an SVG. */
#include "bench/bench_retrain.h"

#include "bench/bench.h"
#include "config/config.h"
#include "core/clock.h"
#include "eval/eval.h"
#include "net/net.h"
#include "store/store.h"
#include "synth/synth.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WINDOWS 64
#define EVAL_FLOOR 0.01f

void bench_retrain_opts_default(struct bench_retrain_opts *o)
{
    memset(o, 0, sizeof *o);
    o->work_dir = "/tmp/edgecam-bench-retrain";
    o->width = 640; /* the size the models are trained on (edgecam train) */
    o->height = 360;
    /* 30 s windows of 60 frames: scenes change within a window, so a round's frames differ
     * (at 10 fps x 6 s they showed the same few cars) and a window's mAP is not one scene's. */
    o->fps = 2;
    o->window_s = 30;
    o->day_windows = 2;
    o->dusk_windows = 2;
    o->night_windows = 8;
    o->eval_every = 1;
    o->edge_score_thresh = 0.25f;
    /* What `edgecam edge`/`cloud` run by default: the retrain section's defaults. */
    struct ec_config *cfg = malloc(sizeof *cfg);
    if (cfg) {
        config_defaults(cfg);
        retrain_opts_from_config(&o->retrain, &cfg->retrain);
        free(cfg);
    } else {
        retrain_opts_default(&o->retrain);
    }
    o->seed = 7;
    o->out = stdout;
}

/* The edge's model, swapped by the client thread while the bench thread infers. */
struct slot {
    pthread_mutex_t lock;
    detector *d;
    int version;
};

static int slot_swap(void *ctx, const char *path, int version, ec_err *err)
{
    struct slot *s = ctx;
    detector *d = detector_load(path, err);
    if (!d)
        return -1;
    pthread_mutex_lock(&s->lock);
    detector *old = s->d;
    s->d = d;
    s->version = version;
    pthread_mutex_unlock(&s->lock);
    detector_destroy(old);
    return 0;
}

struct window_row {
    double night;          /* drift knob at the window's end */
    eval_acc *acc[3];      /* frozen, continuous learning, golden */
    double map[3];
    int version;           /* CL model version at the window's end */
    int rounds;            /* rounds done by the window's end */
};

static const char *const SERIES[3] = {"lightweight (frozen)", "lightweight + CL", "golden"};
static const char *const COLORS[3] = {"#d62728", "#1f77b4", "#2ca02c"};

static void write_svg(const char *path, const struct window_row *w, int nw, double window_s,
                      int first_night, FILE *log)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(log, "cannot write %s\n", path);
        return;
    }
    const double W = 720, H = 400, L = 60, R = 200, T = 30, B = 50;
    const double pw = W - L - R, ph = H - T - B;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"18\" font-size=\"14\">mAP@0.5 per %.0f s window, day -&gt; "
               "night</text>\n", L, window_s);
    if (first_night >= 0 && nw > 0) { /* shade the night */
        double x0 = L + pw * first_night / nw;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" fill=\"#eeeeff\"/>"
                   "\n<text x=\"%.1f\" y=\"%.0f\" fill=\"#666\">night</text>\n",
                x0, T, L + pw - x0, ph, x0 + 4, T + 14);
    }
    for (int k = 0; k <= 5; k++) {
        double y = T + ph - ph * k / 5.0;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n",
                L, y, L + pw, y, L - 6, y + 4, k / 5.0);
    }
    for (int i = 0; i < nw; i++) {
        double x = L + pw * (i + 0.5) / nw;
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", x,
                T + ph + 16, (i + 1) * window_s);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">video time (s, window end)"
               "</text>\n", L + pw / 2, H - 10);
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
               "stroke=\"black\"/>\n", L, T, pw, ph);
    for (int s = 0; s < 3; s++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", COLORS[s]);
        for (int i = 0; i < nw; i++) {
            double v = w[i].map[s] < 0 ? 0 : w[i].map[s];
            fprintf(f, "%.1f,%.1f ", L + pw * (i + 0.5) / nw, T + ph - ph * v);
        }
        fprintf(f, "\"/>\n");
        for (int i = 0; i < nw; i++) {
            double v = w[i].map[s] < 0 ? 0 : w[i].map[s];
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                    L + pw * (i + 0.5) / nw, T + ph - ph * v, COLORS[s]);
        }
        double ly = T + 20 + 20 * s;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" "
                   "stroke-width=\"2\"/><text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
                L + pw + 12, ly, L + pw + 32, ly, COLORS[s], L + pw + 38, ly + 4, SERIES[s]);
    }
    fprintf(f, "</svg>\n");
    fclose(f);
}

static int file_exists(const char *p) { return p && access(p, R_OK) == 0; }

struct bench_state {
    const struct bench_retrain_opts *o;
    detector *frozen, *golden;
    struct slot slot;
    store *st;
    retrain_service *svc;
    http_server *srv;
    retrain_client *client;
    drift_collector *coll;
    struct window_row rows[MAX_WINDOWS];
    int nw;
};

static int start_system(struct bench_state *b, ec_err *err)
{
    const struct bench_retrain_opts *o = b->o;
    char path[4096], cloud_dir[4096], edge_dir[4096], url[64];
    if (mkdir(o->work_dir, 0755) != 0 && errno != EEXIST)
        return ec_err_set(err, EC_EIO, "cannot create %s", o->work_dir);
    snprintf(path, sizeof path, "%s/bench-retrain.db", o->work_dir);
    unlink(path); /* every run starts from version 0 */
    snprintf(cloud_dir, sizeof cloud_dir, "%s/cloud", o->work_dir);
    snprintf(edge_dir, sizeof edge_dir, "%s/edge", o->work_dir);
    struct store_opts so = {.path = path};
    if (!(b->st = store_open(&so, err)))
        return -1;
    struct retrain_service_opts so2 = {.retrain = o->retrain, .golden = b->golden,
                                       .base_model = o->edge_model, .model_name = "bench",
                                       .models_dir = cloud_dir, .store = b->st, .max_rounds = 1};
    struct http_server_config hc = {.thread_per_connection = 1, .max_body_bytes = 64u << 20,
                                    .timeout_s = 600};
    if (!(b->svc = retrain_service_create(&so2, err)) || !(b->srv = http_server_create(&hc, err)) ||
        retrain_service_mount(b->svc, b->srv, err) || http_server_start(b->srv, err))
        return -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%u", http_server_port(b->srv));
    struct retrain_client_opts co = {.retrain = o->retrain, .cloud_url = url,
                                     .edge_id = "bench-edge", .models_dir = edge_dir,
                                     .queue_size = 4, .timeout_ms = 600000, .swap = slot_swap,
                                     .swap_ctx = &b->slot};
    if (!(b->client = retrain_client_create(&co, err)))
        return -1;
    struct retrain_opts ro = o->retrain;
    ro.window_s = o->window_s;
    b->coll = drift_collector_create(&ro, retrain_client_on_round, b->client, err);
    return b->coll ? 0 : -1;
}

static void stop_system(struct bench_state *b)
{
    drift_collector_destroy(b->coll);
    retrain_client_destroy(b->client);
    http_server_destroy(b->srv);
    retrain_service_destroy(b->svc);
    store_close(b->st);
}

/* One frame: the CL model feeds the collector; every eval_every-th frame is scored. */
static int step_frame(struct bench_state *b, const image *rgb, const struct det_list *gt,
                      int64_t i, ec_err *err)
{
    const struct bench_retrain_opts *o = b->o;
    double t = (double)i / o->fps;
    int w = (int)(t / o->window_s);
    struct det_list dets = {0}, kept = {0};
    pthread_mutex_lock(&b->slot.lock);
    int rc = detector_run(b->slot.d, rgb, EVAL_FLOOR, &dets, err);
    pthread_mutex_unlock(&b->slot.lock);
    for (int k = 0; rc == 0 && k < dets.n; k++)
        if (dets.v[k].score >= o->edge_score_thresh)
            rc = det_list_push(&kept, dets.v[k]);
    int eval = i % o->eval_every == 0;
    if (rc == 0 && eval)
        rc = eval_add_frame(b->rows[w].acc[1], &dets, gt, err);
    for (int m = 0; m < 2 && rc == 0 && eval; m++) {
        det_list_clear(&dets);
        rc = detector_run(m ? b->golden : b->frozen, rgb, EVAL_FLOOR, &dets, err) ||
             eval_add_frame(b->rows[w].acc[m ? 2 : 0], &dets, gt, err);
    }
    struct drift_collector_stats before, after;
    drift_collector_stats(b->coll, &before);
    if (rc == 0)
        drift_collector_add(b->coll, rgb, t, &kept);
    drift_collector_stats(b->coll, &after);
    det_list_free(&dets);
    det_list_free(&kept);
    /* A window closed: let the round finish before the video goes on (cloud time is free). */
    if (rc == 0 && after.rounds != before.rounds && retrain_client_wait_idle(b->client, 600000))
        rc = ec_err_set(err, EC_ETIMEOUT, "retraining round did not finish");
    return rc ? -1 : 0;
}

static int run_video(struct bench_state *b, ec_err *err)
{
    const struct bench_retrain_opts *o = b->o;
    int per_window = (int)(o->window_s * o->fps + 0.5);
    int phases[3] = {o->day_windows, o->dusk_windows, o->night_windows};
    float night[3][2] = {{0, 0}, {0, 1}, {1, 1}};
    struct det_list gt = {0};
    int64_t i = 0;
    for (int p = 0; p < 3; p++) {
        if (phases[p] == 0)
            continue;
        struct synth_opts so;
        synth_opts_default(&so);
        so.width = o->width, so.height = o->height, so.fps = o->fps;
        so.frames = (int64_t)phases[p] * per_window;
        so.seed = o->seed + (uint64_t)p;
        memset(&so.start, 0, sizeof so.start);
        memset(&so.end, 0, sizeof so.end);
        so.start.night = night[p][0], so.end.night = night[p][1];
        synth *s = synth_create(&so, err);
        if (!s)
            return -1;
        image *img;
        int r;
        while ((r = synth_next(s, &img, &gt, err)) == 1) {
            int w = (int)((double)i / o->fps / o->window_s);
            b->rows[w].night = synth_drift_at(&so, synth_frame_index(s) - 1).night;
            if (step_frame(b, img, &gt, i, err)) {
                r = -1;
                break;
            }
            struct retrain_client_stats cs;
            retrain_client_stats(b->client, &cs);
            b->rows[w].rounds = (int)(cs.done + cs.failed);
            b->rows[w].version = b->slot.version;
            i++;
        }
        synth_destroy(s);
        if (r < 0) {
            det_list_free(&gt);
            return -1;
        }
    }
    det_list_free(&gt);
    return 0;
}

static void print_report(struct bench_state *b, double secs)
{
    const struct bench_retrain_opts *o = b->o;
    FILE *out = o->out;
    /* The first window that is night throughout (after the ramp). */
    int first_night = o->night_windows > 0 ? o->day_windows + o->dusk_windows : -1;
    for (int w = 0; w < b->nw; w++)
        for (int m = 0; m < 3; m++)
            b->rows[w].map[m] = eval_map(b->rows[w].acc[m], 0.5);
    fprintf(out, "\n## Continuous learning, day -> night (%dx%d, %.0f fps, %.0f s windows; "
                 "%d day, %d ramp, %d night)\n",
            o->width, o->height, o->fps, o->window_s, o->day_windows, o->dusk_windows,
            o->night_windows);
    fprintf(out, "retrain: collect %d -> select %d per window, %d epochs %s lr %g, %s layers, "
                 "labels >= %g, replay %g, holdout %g\n\n",
            o->retrain.collect_num, o->retrain.select_num, o->retrain.num_epoch,
            o->retrain.optimizer == NN_OPTIM_ADAM ? "Adam" : "SGD", o->retrain.lr,
            o->retrain.head_only ? "head" : "all", o->retrain.label_score_thresh,
            o->retrain.replay_fraction, o->retrain.holdout_fraction);
    fprintf(out, "| window end (s) | night | frozen | with CL | golden | CL gap | frozen gap | "
                 "CL model | rounds |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int w = 0; w < b->nw; w++) {
        const struct window_row *r = &b->rows[w];
        fprintf(out, "| %.0f | %.2f | %.3f | %.3f | %.3f | %.3f | %.3f | v%d | %d |\n",
                (w + 1) * o->window_s, r->night, r->map[0], r->map[1], r->map[2],
                r->map[2] - r->map[1], r->map[2] - r->map[0], r->version, r->rounds);
    }
    /* Bars: from 5 rounds after night falls, CL within 0.1 of golden; frozen gap > 0.2. */
    if (first_night >= 0) {
        int from = first_night + 5 < b->nw ? first_night + 5 : b->nw - 1;
        double cl_worst = 0, cl_sum = 0, fr_best = 1e9;
        int recovered_at = -1, counted = 0;
        for (int w = first_night; w < b->nw; w++) {
            double cg = b->rows[w].map[2] - b->rows[w].map[1];
            double fg = b->rows[w].map[2] - b->rows[w].map[0];
            if (recovered_at < 0 && cg <= 0.1)
                recovered_at = w - first_night;
            if (w >= from) {
                cl_worst = cg > cl_worst ? cg : cl_worst;
                cl_sum += cg;
                counted++;
            }
            if (fg < fr_best)
                fr_best = fg;
        }
        double cl_mean = counted ? cl_sum / counted : 0;
        fprintf(out, "\nbar 1: with CL within 0.1 mAP@0.5 of golden within 5 rounds of full night "
                     "(windows %d..%d): mean gap %.3f -> %s, worst window gap %.3f -> %s; first "
                     "window within 0.1: %d windows (= rounds) into the night\n",
                from + 1, b->nw, cl_mean, cl_mean <= 0.1 ? "PASS" : "FAIL", cl_worst,
                cl_worst <= 0.1 ? "PASS" : "FAIL", recovered_at);
        fprintf(out, "bar 2: without CL the night gap stays above 0.2: smallest window gap %.3f "
                     "-> %s\n", fr_best, fr_best > 0.2 ? "PASS" : "FAIL");
    }
    struct retrain_round *rows = NULL;
    int n = 0;
    if (store_list_retrain_rounds(b->st, "bench-edge", &rows, &n, NULL) == 0 && n > 0) {
        fprintf(out, "\n| round | frames | mAP before | mAP after (held-out) | shipped | "
                     "version | label ms | train ms |\n|---|---|---|---|---|---|---|---|\n");
        for (int i = 0; i < n; i++)
            fprintf(out, "| %d | %d | %.3f | %.3f | %s | v%d | %.0f | %.0f |\n", rows[i].round,
                    rows[i].frames_used, rows[i].map_before, rows[i].map_after,
                    rows[i].accepted ? "yes" : "no", rows[i].model_version, rows[i].label_ms,
                    rows[i].train_ms);
    }
    free(rows);
    fprintf(out, "\nbench time %.1f s\n", secs);
    if (o->svg_path) {
        write_svg(o->svg_path, b->rows, b->nw, o->window_s, first_night, out);
        fprintf(out, "plot: %s\n", o->svg_path);
    }
}

int bench_retrain_run(const struct bench_retrain_opts *o, ec_err *err)
{
    if (!file_exists(o->edge_model) || !file_exists(o->golden_model))
        return ec_err_set(err, EC_ENOTFOUND,
                          "retrain bench needs trained models: edge '%s' %s, golden '%s' %s "
                          "(make them with `edgecam train`)",
                          o->edge_model ? o->edge_model : "(none)",
                          file_exists(o->edge_model) ? "found" : "MISSING",
                          o->golden_model ? o->golden_model : "(none)",
                          file_exists(o->golden_model) ? "found" : "MISSING");
    struct bench_state *b = calloc(1, sizeof *b);
    if (!b)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    b->o = o;
    b->nw = o->day_windows + o->dusk_windows + o->night_windows;
    int rc = -1;
    pthread_mutex_init(&b->slot.lock, NULL);
    if (b->nw < 1 || b->nw > MAX_WINDOWS || o->eval_every < 1 || !(o->fps > 0) ||
        !(o->window_s * o->fps >= 1)) {
        ec_err_set(err, EC_EINVAL, "bad bench windows");
        goto out;
    }
    if (!(b->golden = detector_load(o->golden_model, err)) ||
        !(b->frozen = detector_load(o->edge_model, err)) ||
        !(b->slot.d = detector_load(o->edge_model, err)))
        goto out;
    for (int w = 0; w < b->nw; w++)
        for (int m = 0; m < 3; m++)
            if (!(b->rows[w].acc[m] = eval_create(detector_num_classes(b->golden)))) {
                ec_err_set(err, EC_ENOMEM, "out of memory");
                goto out;
            }
    double t0 = clock_mono_s();
    if (start_system(b, err) || run_video(b, err))
        goto out;
    print_report(b, clock_mono_s() - t0);
    rc = 0;
out:
    stop_system(b);
    for (int w = 0; w < b->nw && w < MAX_WINDOWS; w++)
        for (int m = 0; m < 3; m++)
            eval_destroy(b->rows[w].acc[m]);
    detector_destroy(b->golden);
    detector_destroy(b->frozen);
    detector_destroy(b->slot.d);
    pthread_mutex_destroy(&b->slot.lock);
    free(b);
    return rc;
}

int bench_retrain(const struct bench_opts *bo, const char *edge_model, const char *golden_model,
                  ec_err *err)
{
    char svg[4096], work[4096];
    struct bench_retrain_opts o;
    bench_retrain_opts_default(&o);
    o.edge_model = edge_model;
    o.golden_model = golden_model;
    const char *d = bo && bo->dir ? bo->dir : "/tmp";
    snprintf(svg, sizeof svg, "%s/retrain-day-night.svg", d);
    snprintf(work, sizeof work, "%s/retrain-work", d);
    o.svg_path = svg;
    o.work_dir = work;
    if (bo && bo->out)
        o.out = bo->out;
    return bench_retrain_run(&o, err);
}
