/* The demo's report: every stored frame scored against the synthetic ground truth, grouped
 * per phase and edge, per policy and per edge; retrain rounds from the stores; a text table,
 * report.html with SVG plots, and annotated JPEG frames. */
#include "demo/demo_internal.h"

#include "eval/eval.h"
#include "nn/nn.h"
#include "store/store.h"
#include "synth/synth.h"
#include "video/video.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WINDOWS 10
#define MAX_SNAPS 32
#define MAX_GROUPS (DEMO_MAX_PHASES * 2)
#define REF_FRAMES 120   /* frames the reference models are run on, spread over the video */
#define REF_THRESH 0.25f /* the score threshold of edges and servers */

/* A row of a table: one run (phase + edge), one policy or one edge. */
struct group {
    char label[96];
    eval_acc *acc;
    double *lat;             /* latencies of Finished frames, ms */
    size_t nlat, cap;
    int64_t frames, rows, by_outcome[OUTCOME_COUNT], bytes;
    double span_s;           /* wall time covered by the rows (first start to last end) */
    int rounds, accepted;
    double before_sum, after_sum;
    int nruns;
    char check[32];          /* frames read vs rows stored */
};

struct run_data {
    struct group g;
    double win_x[WINDOWS], win_map[WINDOWS];
};

struct report {
    const struct demo_result *r;
    struct synth_opts so;
    struct det_list *gt;
    image *snap[MAX_SNAPS];
    int64_t snap_index[MAX_SNAPS];
    int nsnap;
    struct run_data runs[MAX_GROUPS];
    /* The bundled models run in-process on every ref_stride-th frame, no network: the
     * frozen edge model (no continuous learning) and the golden model, per window. */
    int ref_stride, ref_ok;
    double ref_x[WINDOWS], ref_map[2][WINDOWS];
    struct group policies[MAX_GROUPS], edges[MAX_GROUPS];
    int npolicies, nedges;
    struct retrain_round *rounds;
    char (*round_phase)[16];
    int nrounds;
    char snap_files[MAX_GROUPS][MAX_SNAPS][128];
    int nsnap_files[MAX_GROUPS];
};

static int group_add_latency(struct group *g, double v, ec_err *err)
{
    if (g->nlat == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        double *nv = realloc(g->lat, cap * sizeof *nv);
        if (!nv)
            return ec_err_set(err, EC_ENOMEM, "out of memory");
        g->lat = nv;
        g->cap = cap;
    }
    g->lat[g->nlat++] = v;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static struct group *find_group(struct group *gs, int *n, const char *label, ec_err *err)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(gs[i].label, label) == 0)
            return &gs[i];
    struct group *g = &gs[(*n)++];
    memset(g, 0, sizeof *g);
    snprintf(g->label, sizeof g->label, "%s", label);
    if (!(g->acc = eval_create(SYNTH_NUM_CLASSES))) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    return g;
}

struct reference {
    detector *det[2]; /* frozen edge model, golden model */
    eval_acc *acc[2][WINDOWS];
    struct det_list out;
};

/* Loads the reference models; without them (e.g. a file gone) the plot just lacks them. */
static int reference_open(struct report *rp, struct reference *ref)
{
    memset(ref, 0, sizeof *ref);
    const char *paths[2] = {rp->r->edge_model, rp->r->golden_model};
    rp->ref_stride = rp->so.frames > REF_FRAMES ? (int)(rp->so.frames / REF_FRAMES) : 1;
    rp->ref_ok = 1;
    for (int m = 0; m < 2; m++) {
        if (!paths[m] || !(ref->det[m] = detector_load(paths[m], NULL)))
            rp->ref_ok = 0;
        for (int w = 0; w < WINDOWS; w++)
            if (!(ref->acc[m][w] = eval_create(SYNTH_NUM_CLASSES)))
                rp->ref_ok = 0;
    }
    return 0;
}

static int reference_frame(struct report *rp, struct reference *ref, const image *img,
                           int64_t i, ec_err *err)
{
    int w = (int)(i * WINDOWS / rp->so.frames);
    for (int m = 0; m < 2; m++) {
        det_list_clear(&ref->out);
        if (detector_run(ref->det[m], img, REF_THRESH, &ref->out, err) != 0 ||
            eval_add_frame(ref->acc[m][w], &ref->out, &rp->gt[i], err) != 0)
            return -1;
    }
    return 0;
}

static void reference_close(struct report *rp, struct reference *ref)
{
    for (int m = 0; m < 2; m++) {
        for (int w = 0; w < WINDOWS; w++) {
            rp->ref_map[m][w] = rp->ref_ok ? eval_map(ref->acc[m][w], 0.5) : -1;
            eval_destroy(ref->acc[m][w]);
        }
        detector_destroy(ref->det[m]);
    }
    for (int w = 0; w < WINDOWS; w++) {
        int64_t a = rp->so.frames * w / WINDOWS, b = rp->so.frames * (w + 1) / WINDOWS;
        rp->ref_x[w] = (double)(a + b) / 2 / rp->so.fps;
    }
    det_list_free(&ref->out);
}

/* Renders the video once: ground truth of every frame and copies of the snapshot frames. */
static int render_video(struct report *rp, ec_err *err)
{
    const struct demo_result *r = rp->r;
    if (synth_opts_from_uri(r->video_uri, &rp->so, err) != 0)
        return -1;
    int64_t n = rp->so.frames;
    rp->nsnap = r->snapshots < 0 ? 0 : r->snapshots > MAX_SNAPS ? MAX_SNAPS : r->snapshots;
    for (int s = 0; s < rp->nsnap; s++)
        rp->snap_index[s] = (2 * s + 1) * n / (2 * rp->nsnap);
    if (!(rp->gt = calloc((size_t)n, sizeof *rp->gt)))
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    synth *s = synth_create(&rp->so, err);
    if (!s)
        return -1;
    struct reference ref;
    int rc = reference_open(rp, &ref);
    image *img;
    for (int64_t i = 0, k = 0; i < n && rc == 0; i++) {
        if (synth_next(s, &img, &rp->gt[i], err) != 1) {
            rc = ec_err_set(err, EC_EIO, "synthetic video ended at frame %lld", (long long)i);
            break;
        }
        if (k < rp->nsnap && rp->snap_index[k] == i && !(rp->snap[k++] = image_clone(img)))
            rc = ec_err_set(err, EC_ENOMEM, "out of memory");
        if (rc == 0 && rp->ref_ok && i % rp->ref_stride == 0)
            rc = reference_frame(rp, &ref, img, i, err);
    }
    synth_destroy(s);
    reference_close(rp, &ref);
    return rc;
}

/* The answer an edge gave for frame i: its detections or its key frame's for a Ref. */
static int frame_answer(store *st, const char *edge, int64_t i, struct det_list *dets,
                        ec_err *err)
{
    struct frame_row row;
    if (store_get_frame(st, edge, i, &row, dets, err) != 0)
        return -1;
    if (row.outcome == OUTCOME_REF && row.ref_index >= 0)
        return store_get_frame(st, edge, row.ref_index, &row, dets, err);
    return 0;
}

static int write_snapshots(struct report *rp, int ri, store *st, int64_t n, ec_err *err)
{
    const struct demo_edge_run *run = &rp->r->runs[ri];
    char dir[DEMO_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/frames", rp->r->out_dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return ec_err_set(err, EC_EIO, "%s: %s", dir, strerror(errno));
    jpeg_codec *jc = jpeg_codec_create(err);
    struct det_list dets = {0};
    int rc = jc ? 0 : -1;
    static const uint8_t white[3] = {255, 255, 255};
    for (int s = 0; s < rp->nsnap && rc == 0 && rp->snap_index[s] < n; s++) {
        int64_t i = rp->snap_index[s];
        image *img = image_clone(rp->snap[s]);
        uint8_t *jpg = NULL;
        size_t len = 0;
        if (!img) {
            rc = ec_err_set(err, EC_ENOMEM, "out of memory");
            break;
        }
        for (int k = 0; k < rp->gt[i].n; k++) { /* ground truth: thin white */
            const struct det *g = &rp->gt[i].v[k];
            demo_draw_box(img, g->x1, g->y1, g->x2, g->y2, white, 1);
        }
        char name[128], path[DEMO_PATH_MAX + 160], caption[96];
        snprintf(name, sizeof name, "frames/phase%d-%s-%06lld.jpg", run->phase + 1,
                 run->edge_id, (long long)i);
        snprintf(path, sizeof path, "%s/%s", rp->r->out_dir, name);
        snprintf(caption, sizeof caption, "%s %s frame %lld", run->edge_id, run->policy,
                 (long long)i);
        if ((rc = frame_answer(st, run->edge_id, i, &dets, err)) == 0) {
            demo_draw_dets(img, &dets);
            demo_draw_text(img, 4, img->h - 16, caption, white, 2);
            rc = jpeg_encode(jc, img, 90, &jpg, &len, err);
        }
        if (rc == 0) {
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(jpg, 1, len, f) != len)
                rc = ec_err_set(err, EC_EIO, "%s: cannot write", path);
            if (f && fclose(f) != 0 && rc == 0)
                rc = ec_err_set(err, EC_EIO, "%s: cannot write", path);
            snprintf(rp->snap_files[ri][rp->nsnap_files[ri]++], 128, "%s", name);
        }
        free(jpg);
        image_destroy(img);
    }
    det_list_free(&dets);
    jpeg_codec_destroy(jc);
    return rc;
}

/* Outcomes, bytes, latencies and time span of one run's rows, into every group it joins. */
static int scan_rows(store *st, const char *edge, int64_t n, struct group **gs, int ng,
                     ec_err *err)
{
    int64_t first = INT64_MAX, last = INT64_MIN;
    for (int64_t i = 0; i < n; i++) {
        struct frame_row row;
        if (store_get_frame(st, edge, i, &row, NULL, err) != 0)
            return ec_err_wrap(err, "%s frame %lld", edge, (long long)i);
        first = row.start_ms < first ? row.start_ms : first;
        last = row.end_ms > last ? row.end_ms : last;
        for (int k = 0; k < ng; k++) {
            gs[k]->by_outcome[row.outcome]++;
            gs[k]->bytes += row.bytes_sent;
            if (row.outcome == OUTCOME_FINISHED &&
                group_add_latency(gs[k], (double)(row.end_ms - row.start_ms), err) != 0)
                return -1;
        }
    }
    for (int k = 0; k < ng; k++) {
        gs[k]->frames += n;
        gs[k]->span_s += n > 0 ? (double)(last - first) / 1000.0 : 0;
        gs[k]->nruns++;
    }
    return 0;
}

static int score_run(struct report *rp, int ri, ec_err *err)
{
    const struct demo_edge_run *run = &rp->r->runs[ri];
    struct run_data *rd = &rp->runs[ri];
    snprintf(rd->g.label, sizeof rd->g.label, "%d %s %s", run->phase + 1, run->edge_id,
             run->policy);
    if (!(rd->g.acc = eval_create(SYNTH_NUM_CLASSES)))
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    for (int w = 0; w < WINDOWS; w++)
        rd->win_map[w] = -1;
    struct group *gp = find_group(rp->policies, &rp->npolicies, run->policy, err);
    struct group *ge = gp ? find_group(rp->edges, &rp->nedges, run->edge_id, err) : NULL;
    if (!ge)
        return -1;
    struct store_opts so = {.kind = "sqlite", .path = run->db_path};
    store *st = access(run->db_path, R_OK) == 0 ? store_open(&so, err) : NULL;
    if (!st) {
        snprintf(rd->g.check, sizeof rd->g.check, "no store");
        return 0; /* the edge never got going: its row says so */
    }
    int64_t rows = 0, n;
    int rc = store_count_frames(st, run->edge_id, -1, &rows, err);
    n = run->frames_read >= 0 ? run->frames_read : rows;
    n = n > rp->so.frames ? rp->so.frames : n;
    rd->g.rows = rows;
    snprintf(rd->g.check, sizeof rd->g.check, "%s",
             run->frames_read < 0 ? "no summary" : rows == run->frames_read ? "ok" : "MISMATCH");
    struct group *gs[] = {&rd->g, gp, ge};
    if (rc == 0)
        rc = scan_rows(st, run->edge_id, n, gs, 3, err);
    for (int k = 0; rc == 0 && k < 3; k++)
        rc = eval_add_stored(gs[k]->acc, st, run->edge_id, 0, n, rp->gt, err);
    for (int w = 0; rc == 0 && w < WINDOWS; w++) {
        int64_t a = rp->so.frames * w / WINDOWS, b = rp->so.frames * (w + 1) / WINDOWS;
        rd->win_x[w] = (double)(a + b) / 2 / rp->so.fps;
        if (b > n)
            break;
        eval_acc *acc = eval_create(SYNTH_NUM_CLASSES);
        rc = acc ? eval_add_stored(acc, st, run->edge_id, a, b - a, rp->gt + a, err)
                 : ec_err_set(err, EC_ENOMEM, "out of memory");
        rd->win_map[w] = rc == 0 ? eval_map(acc, 0.5) : -1;
        eval_destroy(acc);
    }
    if (rc == 0)
        rc = write_snapshots(rp, ri, st, n, err);
    store_close(st);
    if (rc != 0 && err && err->code != EC_ENOMEM && err->code != EC_EIO) {
        /* A broken run (e.g. a row missing) is flagged in its row; the rest is reported. */
        fprintf(stderr, "demo: report: %s: %s\n", run->db_path, err->msg);
        snprintf(rd->g.check, sizeof rd->g.check, "ERROR (see stderr)");
        return 0;
    }
    return rc == 0 ? 0 : ec_err_wrap(err, "scoring %s", run->db_path);
}

/* Retrain rounds recorded by the cloud (and by edges that train themselves). */
static int collect_rounds(struct report *rp, const char *db, ec_err *err)
{
    if (!db[0] || access(db, R_OK) != 0)
        return 0;
    struct store_opts so = {.kind = "sqlite", .path = db};
    store *st = store_open(&so, err);
    struct retrain_round *rows = NULL;
    int n = 0;
    if (!st || store_list_retrain_rounds(st, NULL, &rows, &n, err) != 0) {
        store_close(st);
        return ec_err_wrap(err, "retrain rounds in %s", db);
    }
    store_close(st);
    if (n == 0)
        return 0;
    struct retrain_round *all = realloc(rp->rounds, (size_t)(rp->nrounds + n) * sizeof *all);
    char(*ph)[16] = all ? realloc(rp->round_phase, (size_t)(rp->nrounds + n) * sizeof *ph) : NULL;
    if (all)
        rp->rounds = all;
    if (ph)
        rp->round_phase = ph;
    if (!all || !ph) {
        free(rows);
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    }
    memcpy(all + rp->nrounds, rows, (size_t)n * sizeof *rows);
    free(rows);
    rp->nrounds += n;
    return 0;
}

/* Gives each round to the run of its edge whose phase was running when it started. */
static void attribute_rounds(struct report *rp)
{
    const struct demo_result *r = rp->r;
    for (int i = 0; i < rp->nrounds; i++) {
        const struct retrain_round *rr = &rp->rounds[i];
        snprintf(rp->round_phase[i], sizeof rp->round_phase[i], "-");
        for (int k = 0; k < r->nruns; k++) {
            const struct demo_edge_run *run = &r->runs[k];
            if (strcmp(run->edge_id, rr->edge_id) != 0 ||
                rr->started_ms < r->phase_start_ms[run->phase] ||
                rr->started_ms > r->phase_end_ms[run->phase])
                continue;
            snprintf(rp->round_phase[i], sizeof rp->round_phase[i], "%d", run->phase + 1);
            struct group *gs[] = {&rp->runs[k].g, NULL, NULL};
            for (int p = 0; p < rp->npolicies; p++)
                if (strcmp(rp->policies[p].label, run->policy) == 0)
                    gs[1] = &rp->policies[p];
            for (int e = 0; e < rp->nedges; e++)
                if (strcmp(rp->edges[e].label, run->edge_id) == 0)
                    gs[2] = &rp->edges[e];
            for (int g = 0; g < 3; g++) {
                if (!gs[g])
                    continue;
                gs[g]->rounds++;
                gs[g]->accepted += rr->accepted;
                gs[g]->before_sum += rr->map_before;
                gs[g]->after_sum += rr->map_after;
            }
            break;
        }
    }
}

/* ---- output ------------------------------------------------------------------------------- */

struct figures {
    double map, p50, p90, p99, fps;
};

static struct figures figures_of(struct group *g)
{
    struct figures f = {.map = g->acc && g->frames ? eval_map(g->acc, 0.5) : -1};
    qsort(g->lat, g->nlat, sizeof *g->lat, cmp_double);
    f.p50 = demo_percentile(g->lat, g->nlat, 50);
    f.p90 = demo_percentile(g->lat, g->nlat, 90);
    f.p99 = demo_percentile(g->lat, g->nlat, 99);
    f.fps = g->span_s > 0 ? (double)g->frames / g->span_s : 0;
    return f;
}

static const char *const columns[] = {"frames", "finished", "ref (filtered)", "timeout",
                                      "dropped", "mAP@0.5", "p50 ms", "p90 ms", "p99 ms", "fps",
                                      "bytes sent", "retrain rounds (accepted)",
                                      "mAP before -> after"};

static void text_table(FILE *out, const char *title, const char *key, struct group *gs, int n)
{
    fprintf(out, "\n== %s\n%-36s %6s %5s %5s %4s %4s %7s %7s %7s %7s %5s %11s %9s %13s\n", title,
            key, "frames", "fin", "ref", "tmo", "drop", "mAP@0.5", "p50ms", "p90ms", "p99ms",
            "fps", "bytes_sent", "retrain", "mAP_bef->aft");
    for (int i = 0; i < n; i++) {
        struct group *g = &gs[i];
        struct figures f = figures_of(g);
        char rt[32] = "-", ba[32] = "-";
        snprintf(rt, sizeof rt, "%d (%d)", g->rounds, g->accepted);
        if (g->rounds)
            snprintf(ba, sizeof ba, "%.3f->%.3f", g->before_sum / g->rounds,
                     g->after_sum / g->rounds);
        fprintf(out, "%-36s %6lld %5lld %5lld %4lld %4lld %7.3f %7.1f %7.1f %7.1f %5.1f %11lld "
                     "%9s %13s\n",
                g->label, (long long)g->frames, (long long)g->by_outcome[OUTCOME_FINISHED],
                (long long)g->by_outcome[OUTCOME_REF], (long long)g->by_outcome[OUTCOME_TIMEOUT],
                (long long)g->by_outcome[OUTCOME_DROPPED], f.map, f.p50, f.p90, f.p99, f.fps,
                (long long)g->bytes, rt, ba);
    }
}

static void html_table(FILE *out, const char *title, const char *key, struct group *gs, int n)
{
    fputs("<h2>", out);
    demo_html_escape(out, title);
    fputs("</h2>\n<table>\n<tr><th>", out);
    demo_html_escape(out, key);
    for (size_t c = 0; c < sizeof columns / sizeof columns[0]; c++)
        fprintf(out, "</th><th>%s", columns[c]);
    fputs("</th></tr>\n", out);
    for (int i = 0; i < n; i++) {
        struct group *g = &gs[i];
        struct figures f = figures_of(g);
        fputs("<tr><td>", out);
        demo_html_escape(out, g->label);
        fprintf(out, "</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td>"
                     "<td>%.3f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td>"
                     "<td>%lld</td><td>%d (%d)</td><td>",
                (long long)g->frames, (long long)g->by_outcome[OUTCOME_FINISHED],
                (long long)g->by_outcome[OUTCOME_REF], (long long)g->by_outcome[OUTCOME_TIMEOUT],
                (long long)g->by_outcome[OUTCOME_DROPPED], f.map, f.p50, f.p90, f.p99, f.fps,
                (long long)g->bytes, g->rounds, g->accepted);
        if (g->rounds)
            fprintf(out, "%.3f &rarr; %.3f", g->before_sum / g->rounds, g->after_sum / g->rounds);
        else
            fputs("-", out);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
}

static void print_windows(FILE *out, const char *label, const double *map)
{
    fprintf(out, "%-36s", label);
    for (int w = 0; w < WINDOWS; w++)
        map[w] < 0 ? fprintf(out, " %5s", "-") : fprintf(out, " %5.2f", map[w]);
    fputc('\n', out);
}

/* mAP@0.5 per tenth of the video: the drift, and what offloading and retraining recover. */
static void text_windows(FILE *out, const struct report *rp)
{
    fprintf(out, "\n== mAP@0.5 per tenth of the video (day -> night)\n");
    for (int i = 0; i < rp->r->nruns; i++)
        print_windows(out, rp->runs[i].g.label, rp->runs[i].win_map);
    if (rp->ref_ok) {
        print_windows(out, "reference: frozen edge model", rp->ref_map[0]);
        print_windows(out, "reference: golden model", rp->ref_map[1]);
    }
}

static void text_rounds(FILE *out, const struct report *rp)
{
    fprintf(out, "\n== retrain rounds (%d)\n", rp->nrounds);
    if (rp->nrounds)
        fprintf(out, "%-5s %-10s %5s %6s %10s %9s %7s %8s %8s\n", "phase", "edge", "round",
                "frames", "mAP_before", "mAP_after", "version", "accepted", "train_ms");
    for (int i = 0; i < rp->nrounds; i++) {
        const struct retrain_round *r = &rp->rounds[i];
        fprintf(out, "%-5s %-10s %5d %6d %10.3f %9.3f %7d %8s %8.0f\n", rp->round_phase[i],
                r->edge_id, r->round, r->frames_used, r->map_before, r->map_after,
                r->model_version, r->accepted ? "yes" : "no", r->train_ms);
    }
}

static void html_rounds(FILE *out, const struct report *rp)
{
    fprintf(out, "<h2>Retrain rounds (%d)</h2>\n", rp->nrounds);
    if (!rp->nrounds) {
        fputs("<p>No retrain round was recorded (retraining off, or no collection window "
              "closed).</p>\n", out);
        return;
    }
    fputs("<table>\n<tr><th>phase</th><th>edge</th><th>round</th><th>frames</th><th>mAP "
          "before</th><th>mAP after</th><th>version</th><th>accepted</th><th>label ms</th>"
          "<th>train ms</th></tr>\n", out);
    for (int i = 0; i < rp->nrounds; i++) {
        const struct retrain_round *r = &rp->rounds[i];
        fputs("<tr><td>", out);
        demo_html_escape(out, rp->round_phase[i]);
        fputs("</td><td>", out);
        demo_html_escape(out, r->edge_id);
        fprintf(out, "</td><td>%d</td><td>%d</td><td>%.3f</td><td>%.3f</td><td>%d</td>"
                     "<td>%s</td><td>%.0f</td><td>%.0f</td></tr>\n",
                r->round, r->frames_used, r->map_before, r->map_after, r->model_version,
                r->accepted ? "yes" : "no", r->label_ms, r->train_ms);
    }
    fputs("</table>\n", out);
}

static void html_plots(FILE *out, struct report *rp)
{
    const struct demo_result *r = rp->r;
    struct demo_series s[MAX_GROUPS];
    fputs("<h2>Accuracy over the video</h2>\n<p>mAP@0.5 of each edge's answers per tenth of "
          "the video (day at the left, night at the right): the drift shows as a fall, "
          "continuous learning as a recovery.</p>\n", out);
    struct demo_series ls[MAX_GROUPS + 2];
    int nl = 0;
    for (int i = 0; i < r->nruns; i++)
        ls[nl++] = (struct demo_series){rp->runs[i].g.label, rp->runs[i].win_x,
                                        rp->runs[i].win_map, WINDOWS, 0};
    if (rp->ref_ok) {
        ls[nl++] = (struct demo_series){"reference: frozen edge model", rp->ref_x,
                                        rp->ref_map[0], WINDOWS, 1};
        ls[nl++] = (struct demo_series){"reference: golden model", rp->ref_x, rp->ref_map[1],
                                        WINDOWS, 1};
        fprintf(out, "<p>The references run the bundled models in-process on every %d%s frame "
                     "(no network, no filter, no retraining): the frozen edge model shows the "
                     "drift alone, the golden model what the cloud could answer. An edge above "
                     "the frozen line is gaining from offloading or continuous learning.</p>\n",
                rp->ref_stride, rp->ref_stride == 1 ? "" : "th");
    }
    demo_svg_lines(out, "mAP@0.5 per window", "video time (s)", "mAP@0.5", ls, nl, 0, 1);

    fputs("<h2>Latency</h2>\n<p>Cumulative distribution of frame latency (stored end - start) "
          "of the frames each policy inferred.</p>\n", out);
    double *xs[MAX_GROUPS] = {0}, *ys[MAX_GROUPS] = {0};
    for (int p = 0; p < rp->npolicies; p++) {
        struct group *g = &rp->policies[p];
        int n = g->nlat > 200 ? 200 : (int)g->nlat;
        xs[p] = calloc((size_t)n + 1, sizeof(double));
        ys[p] = calloc((size_t)n + 1, sizeof(double));
        qsort(g->lat, g->nlat, sizeof *g->lat, cmp_double);
        for (int i = 0; xs[p] && ys[p] && i < n; i++) {
            size_t k = (size_t)((double)(i + 1) / n * (double)g->nlat) - 1;
            xs[p][i] = g->lat[k];
            ys[p][i] = (double)(k + 1) / (double)g->nlat;
        }
        s[p] = (struct demo_series){g->label, xs[p], ys[p], xs[p] && ys[p] ? n : 0, 0};
    }
    demo_svg_lines(out, "latency CDF per policy", "latency (ms)", "fraction of frames", s,
                   rp->npolicies, 0, 1);
    for (int p = 0; p < rp->npolicies; p++) {
        free(xs[p]);
        free(ys[p]);
    }
    const char *labels[MAX_GROUPS];
    double v[MAX_GROUPS];
    for (int p = 0; p < rp->npolicies; p++) {
        labels[p] = rp->policies[p].label;
        v[p] = (double)rp->policies[p].bytes;
    }
    fputs("<h2>Bandwidth and accuracy per policy</h2>\n", out);
    demo_svg_bars(out, "bytes sent per policy", "bytes", labels, v, rp->npolicies);
    for (int p = 0; p < rp->npolicies; p++)
        v[p] = figures_of(&rp->policies[p]).map;
    demo_svg_bars(out, "mAP@0.5 per policy", "mAP@0.5", labels, v, rp->npolicies);
}

static void html_frames(FILE *out, const struct report *rp)
{
    fputs("<h2>Annotated frames</h2>\n<p>Each edge's answer for the frame (box colour = class: "
          "car red, person green, bicycle yellow, bus blue; label = class and score); thin white "
          "boxes are the ground truth.</p>\n", out);
    for (int i = 0; i < rp->r->nruns; i++)
        for (int k = 0; k < rp->nsnap_files[i]; k++) {
            fputs("<a href=\"", out);
            demo_html_escape(out, rp->snap_files[i][k]);
            fputs("\"><img width=\"320\" src=\"", out);
            demo_html_escape(out, rp->snap_files[i][k]);
            fputs("\" alt=\"", out);
            demo_html_escape(out, rp->snap_files[i][k]);
            fputs("\"></a>\n", out);
        }
}

static int write_html(struct report *rp, ec_err *err)
{
    const struct demo_result *r = rp->r;
    char path[DEMO_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/report.html", r->out_dir);
    FILE *out = fopen(path, "w");
    if (!out)
        return ec_err_set(err, EC_EIO, "%s: %s", path, strerror(errno));
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>edgecam demo report"
          "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
          "collapse}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
          "td:first-child{text-align:left}svg{margin:0.5em 0;display:block}</style></head>\n"
          "<body>\n<h1>edgecam demo report</h1>\n<p>Status: <b>", out);
    demo_html_escape(out, r->status);
    fprintf(out, "</b>; %d phases, %.1f s in all. Video <code>", r->nphases, r->elapsed_s);
    demo_html_escape(out, r->video_uri);
    fputs("</code> (every phase replays it). Ports: ", out);
    demo_html_escape(out, r->ports);
    fputs(". Logs, generated configurations and stores are in <code>run/</code>.</p>\n", out);
    fputs("<p>Servers, and how they ended: ", out);
    for (int i = 0; i < 4 && r->servers[i][0]; i++) {
        fputs(i ? "; " : "", out);
        demo_html_escape(out, r->servers[i]);
    }
    fputs(". Edges:", out);
    for (int i = 0; i < r->nruns; i++) {
        char line[256];
        snprintf(line, sizeof line, " phase %d %s (%s): %lld frames read, %s%s", r->runs[i].phase + 1,
                 r->runs[i].edge_id, r->runs[i].policy, (long long)r->runs[i].frames_read,
                 r->runs[i].ended, i + 1 < r->nruns ? ";" : ".");
        demo_html_escape(out, line);
    }
    fputs("</p>\n", out);
    html_table(out, "Per policy", "policy", rp->policies, rp->npolicies);
    html_table(out, "Per edge", "edge", rp->edges, rp->nedges);
    struct group runs[MAX_GROUPS];
    for (int i = 0; i < r->nruns; i++)
        runs[i] = rp->runs[i].g;
    html_table(out, "Per phase and edge", "phase edge policy", runs, r->nruns);
    html_rounds(out, rp);
    html_plots(out, rp);
    html_frames(out, rp);
    fputs("<h2>How to read this</h2>\n<p>Every frame an edge read has one row: finished "
          "(inferred), ref (not sampled or filtered as redundant: answered by the last key "
          "frame), timeout or dropped. mAP@0.5 scores each frame's answer against the synthetic "
          "world's exact ground truth. Latency percentiles cover finished frames; fps is frames "
          "over the wall time the rows span; bytes are what the edge sent to peers and the "
          "cloud. Retrain rounds: the cloud labels an edge's least confident frames with the "
          "golden model, fine-tunes, and ships the model only when it beats the old one on "
          "held-out frames (mAP before -> after).</p>\n</body></html>\n", out);
    if (fclose(out) != 0)
        return ec_err_set(err, EC_EIO, "%s: write failed", path);
    return 0;
}

static void report_free(struct report *rp)
{
    for (int64_t i = 0; rp->gt && i < rp->so.frames; i++)
        det_list_free(&rp->gt[i]);
    free(rp->gt);
    for (int s = 0; s < rp->nsnap; s++)
        image_destroy(rp->snap[s]);
    struct group *all[3] = {rp->policies, rp->edges, NULL};
    int counts[2] = {rp->npolicies, rp->nedges};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < counts[k]; i++) {
            eval_destroy(all[k][i].acc);
            free(all[k][i].lat);
        }
    for (int i = 0; i < MAX_GROUPS; i++) {
        eval_destroy(rp->runs[i].g.acc);
        free(rp->runs[i].g.lat);
    }
    free(rp->rounds);
    free(rp->round_phase);
}

int demo_report_write(const struct demo_result *r, FILE *table_out, ec_err *err)
{
    static struct report rp;
    memset(&rp, 0, sizeof rp);
    rp.r = r;
    int rc = render_video(&rp, err);
    for (int i = 0; rc == 0 && i < r->nruns; i++)
        rc = score_run(&rp, i, err);
    if (rc == 0)
        rc = collect_rounds(&rp, r->cloud_db, err);
    for (int i = 0; rc == 0 && i < r->nruns; i++)
        rc = collect_rounds(&rp, r->runs[i].db_path, err);
    if (rc == 0) {
        attribute_rounds(&rp);
        fprintf(table_out, "edgecam demo: %s; %d phases, %.1f s; video %s\n", r->status,
                r->nphases, r->elapsed_s, r->video_uri);
        text_table(table_out, "per policy", "policy", rp.policies, rp.npolicies);
        text_table(table_out, "per edge", "edge", rp.edges, rp.nedges);
        struct group runs[MAX_GROUPS];
        for (int i = 0; i < r->nruns; i++)
            runs[i] = rp.runs[i].g;
        text_table(table_out, "per phase and edge", "phase edge policy", runs, r->nruns);
        fprintf(table_out, "\n%-36s %10s %12s %s\n", "phase edge policy", "rows", "frames read",
                "check");
        for (int i = 0; i < r->nruns; i++)
            fprintf(table_out, "%-36s %10lld %12lld %s\n", rp.runs[i].g.label,
                    (long long)rp.runs[i].g.rows, (long long)r->runs[i].frames_read,
                    rp.runs[i].g.check);
        text_windows(table_out, &rp);
        text_rounds(table_out, &rp);
        rc = write_html(&rp, err);
        fprintf(table_out, "\nreport: %s/report.html\n", r->out_dir);
        fflush(table_out);
    }
    report_free(&rp);
    return rc;
}
