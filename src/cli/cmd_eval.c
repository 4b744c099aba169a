/* edgecam eval: scores a detector on a video against exact ground truth - a synth:// URI (boxes
 * straight from the generator) or a video file with its ground-truth JSON lines (as written by
 * `edgecam synth`). Prints mAP@0.5 and COCO mAP@[.5:.95] (src/eval). */
#include "cli/cmd.h"

#include "core/clock.h"
#include "core/log.h"
#include "eval/eval.h"
#include "nn/nn.h"
#include "synth/synth.h"
#include "video/video.h"

#include <errno.h>
#include <getopt.h>
#include <libavutil/log.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_MAX_SYNTH_FRAMES 1000000

struct eval_opts {
    const char *model, *video, *gt, *config;
    float score_thresh;
    int every, threads;
};

static void eval_usage(FILE *out)
{
    fprintf(out,
            "usage: edgecam eval --model MODEL --video SOURCE [options]\n"
            "\n"
            "Runs a detector over a video and scores it against exact ground truth:\n"
            "mAP@0.5 and COCO mAP@[.5:.95] (101-point interpolation, as pycocotools).\n"
            "\n"
            "options:\n"
            "  -m, --model MODEL      model file (.safetensors), or a name under models.dir\n"
            "                         (e.g. edge, golden)\n"
            "  -v, --video SOURCE     synth://<drift>?frames=N&seed=S[&width=W&height=H&objects=K]\n"
            "                         (ground truth from the generator; drift: day, night, dusk,\n"
            "                         day-to-night, fog, noise, shift, novel, all), or a video file\n"
            "                         written by `edgecam synth`\n"
            "      --gt PATH          ground truth of a video file (default: VIDEO without its\n"
            "                         extension + .gt.jsonl, as `edgecam synth` names it)\n"
            "      --every K          score every K-th frame (default 1)\n"
            "      --score-thresh X   lowest detection score kept, 0..1 (default 0.01)\n"
            "      --threads T        inference threads, 1..64 (default 2)\n"
            "  -c, --config FILE      configuration (for models.dir)\n"
            "  -h, --help             this text\n"
            "\n"
            "exit: 0 scored, 1 runtime failure (unreadable model or video), 2 usage error\n");
}

enum { OPT_GT = 256, OPT_EVERY, OPT_THRESH, OPT_THREADS };

static int parse_args(int argc, char **argv, struct eval_opts *o)
{
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},   {"video", required_argument, 0, 'v'},
        {"gt", required_argument, 0, OPT_GT},   {"every", required_argument, 0, OPT_EVERY},
        {"score-thresh", required_argument, 0, OPT_THRESH},
        {"threads", required_argument, 0, OPT_THREADS},
        {"config", required_argument, 0, 'c'},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    *o = (struct eval_opts){.score_thresh = 0.01f, .every = 1, .threads = 2};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:v:c:h", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'v': o->video = optarg; break;
        case 'c': o->config = optarg; break;
        case OPT_GT: o->gt = optarg; break;
        case OPT_EVERY: if (cli_parse_int(optarg, 1, 1000000, &o->every)) bad = "--every"; break;
        case OPT_THRESH: if (cli_parse_float(optarg, 0, 1, &o->score_thresh)) bad = "--score-thresh"; break;
        case OPT_THREADS: if (cli_parse_int(optarg, 1, 64, &o->threads)) bad = "--threads"; break;
        case ':':
            fprintf(stderr, "edgecam eval: %s needs a value\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "edgecam eval: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "edgecam eval: invalid %s value '%s'\n", bad, optarg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "edgecam eval: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!o->model || !o->video) {
        fprintf(stderr, "edgecam eval: --model and --video are required (see --help)\n");
        return -1;
    }
    return 0;
}

/* The accumulation shared by both kinds of source. */
struct scorer {
    const detector *d;
    eval_acc *acc;
    const struct eval_opts *o;
    struct det_list dets;
    long seen, scored, gt_boxes, det_boxes;
    double t0, last_log;
};

static int score_frame(struct scorer *s, const image *img, const struct det_list *gt,
                       ec_err *err)
{
    if (s->seen++ % s->o->every)
        return 0;
    det_list_clear(&s->dets);
    if (detector_run(s->d, img, s->o->score_thresh, &s->dets, err) ||
        eval_add_frame(s->acc, &s->dets, gt, err))
        return ec_err_wrap(err, "frame %ld", s->seen - 1);
    s->scored++;
    s->gt_boxes += gt ? gt->n : 0;
    s->det_boxes += s->dets.n;
    double now = clock_mono_s();
    if (now - s->last_log >= 10) {
        log_info("eval: %ld frames scored (%.0f ms/frame)", s->scored,
                 1e3 * (now - s->t0) / (double)s->scored);
        s->last_log = now;
    }
    return 0;
}

/* Returns 0, or the exit code of a failure (message in err). */
static int run_synth(struct scorer *s, const char *uri, ec_err *err)
{
    struct synth_opts so;
    if (synth_opts_from_uri(uri, &so, err))
        return EXIT_USAGE;
    if (so.frames < 1 || so.frames > EVAL_MAX_SYNTH_FRAMES) {
        ec_err_set(err, EC_EINVAL, "synth uri: frames must be 1..%d for eval (got %lld)",
                   EVAL_MAX_SYNTH_FRAMES, (long long)so.frames);
        return EXIT_USAGE;
    }
    synth *sy = synth_create(&so, err);
    if (!sy)
        return EXIT_USAGE;
    image *img;
    struct det_list gt = {0};
    int r;
    while ((r = synth_next(sy, &img, &gt, err)) == 1)
        if (score_frame(s, img, &gt, err)) {
            r = -1;
            break;
        }
    det_list_free(&gt);
    synth_destroy(sy);
    return r < 0 ? EXIT_RUNTIME : 0;
}

static char *default_gt_path(const char *video)
{
    size_t n = strlen(video);
    const char *dot = strrchr(video, '.'), *slash = strrchr(video, '/');
    if (dot && (!slash || dot > slash))
        n = (size_t)(dot - video);
    char *p = malloc(n + sizeof ".gt.jsonl");
    if (p) {
        memcpy(p, video, n);
        strcpy(p + n, ".gt.jsonl");
    }
    return p;
}

static int run_file(struct scorer *s, const char *path, const char *gt_path, ec_err *err)
{
    char *own = gt_path ? NULL : default_gt_path(path);
    struct gt_track track = {0};
    source *src = NULL;
    int rc = EXIT_RUNTIME;
    if (!gt_path && !(gt_path = own)) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        goto out;
    }
    if (gt_read(gt_path, &track, err)) /* the message names the file */
        goto out;
    struct source_opts so;
    source_opts_init(&so);
    so.kind = SOURCE_FILE;
    so.uri = path;
    if (log_get_level() < LOG_LEVEL_DEBUG)
        av_log_set_level(AV_LOG_ERROR);
    if (!(src = source_open(&so, err)))
        goto out;
    struct frame f;
    int r;
    while ((r = source_read(src, &f, err)) == 1) {
        if (f.index >= track.nframes) {
            ec_err_set(err, EC_EFORMAT, "%s has more frames than its ground truth %s (%d)",
                       path, gt_path, track.nframes);
            frame_release(&f);
            goto out;
        }
        int bad = f.img && score_frame(s, f.img, &track.frames[f.index], err);
        frame_release(&f);
        if (bad)
            goto out;
    }
    if (r < 0)
        goto out;
    if (s->seen < track.nframes)
        log_warn("eval: %s ended after %ld of the %d frames its ground truth has", path,
                 s->seen, track.nframes);
    rc = 0;
out:
    source_destroy(src);
    gt_track_free(&track);
    free(own);
    return rc;
}

static void print_report(const struct scorer *s, const char *model, const char *video)
{
    double secs = clock_mono_s() - s->t0;
    printf("model %s on %s\n", model, video);
    printf("frames scored: %ld of %ld, ground-truth boxes: %ld, detections >= %g: %ld "
           "(%.1f s, %.1f ms/frame)\n",
           s->scored, s->seen, s->gt_boxes, (double)s->o->score_thresh, s->det_boxes, secs,
           s->scored ? 1e3 * secs / (double)s->scored : 0.0);
    printf("AP@0.5 per class:");
    for (int c = 0; c < eval_num_classes(s->acc); c++) {
        const char *name = synth_class_name(c);
        double ap = eval_ap(s->acc, c, 0.5);
        if (ap < 0)
            printf(" %s -", name ? name : "?");
        else
            printf(" %s %.3f", name ? name : "?", ap);
    }
    printf("\nmAP@0.5: %.4f\nmAP@[.5:.95]: %.4f\n", eval_map(s->acc, 0.5), eval_map_coco(s->acc));
}

int cmd_eval(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        eval_usage(stdout);
        return EXIT_OK;
    }
    struct eval_opts o;
    if (parse_args(argc, argv, &o))
        return EXIT_USAGE;
    struct ec_config cfg;
    int rc = cli_load_config(o.config, &cfg);
    if (rc != EXIT_OK)
        return rc;
    char model[4096];
    if (cli_model_path(&cfg, o.model, model, sizeof model)) {
        fprintf(stderr, "edgecam eval: model '%s' not found (nor %s)\n", o.model, model);
        return EXIT_RUNTIME;
    }
    nn_set_threads(o.threads);
    ec_err err = {0};
    struct scorer s = {.o = &o, .t0 = clock_mono_s()};
    s.last_log = s.t0;
    if (!(s.d = detector_load(model, &err))) {
        fprintf(stderr, "edgecam eval: %s: %s\n", model, err.msg);
        return EXIT_RUNTIME;
    }
    if (!(s.acc = eval_create(detector_num_classes(s.d)))) {
        detector_destroy((detector *)s.d);
        fprintf(stderr, "edgecam eval: out of memory\n");
        return EXIT_RUNTIME;
    }
    if (strncmp(o.video, "synth:", 6) == 0)
        rc = run_synth(&s, o.video, &err);
    else
        rc = run_file(&s, o.video, o.gt, &err);
    if (rc == 0 && s.scored == 0) {
        ec_err_set(&err, EC_EINVAL, "no frame was scored");
        rc = EXIT_RUNTIME;
    }
    if (rc == 0)
        print_report(&s, model, o.video);
    else
        fprintf(stderr, "edgecam eval: %s\n", err.msg);
    det_list_free(&s.dets);
    eval_destroy(s.acc);
    detector_destroy((detector *)s.d);
    return rc;
}
