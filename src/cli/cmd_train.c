/* edgecam train: trains a detector on the synthetic world and reports its mAP@0.5 on held-out
 * synthetic video. The committed models/edge and models/golden come from here. */
#include "cli/cmd.h"

#include "core/clock.h"
#include "core/log.h"
#include "eval/eval.h"
#include "nn/nn.h"
#include "synth/synth.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct train_opts {
    const char *arch, *init, *out, *drift;
    const char *drifts[32]; /* --drift split: one preset per 150-frame chunk, cycled */
    int ndrifts;
    int frames, every, epochs, batch, threads, eval_frames, width, height;
    float lr;
    unsigned long long seed;
};

/* Training samples are kept at half resolution: the models take 320-wide input anyway. */
struct sample {
    image *img;
    struct det_list gt;
};

static void usage(void)
{
    printf("usage: edgecam train --arch FILE.json | --init MODEL  --out MODEL [options]\n\n"
           "  --frames N        training frames, 1..100000 (default 1200)\n"
           "  --every K         keep every K-th synthetic frame, 1..1000 (default 4)\n"
           "  --epochs E        passes over the frames, 1..1000 (default 6)\n"
           "  --batch B         frames per step, 1..256 (default 8)\n"
           "  --lr X            Adam learning rate, (0, 1] (default 0.003, cosine decay)\n"
           "  --drift LIST      synth drift presets for the training video, one per chunk of\n"
           "                    150 frames, cycled (default day; e.g. night,day,dusk). 'mix' is\n"
           "                    day,night,dusk,fog,noise,shift,novel\n"
           "  --seed S          synthetic world seed (default 1)\n"
           "  --size WxH        synthetic frame size, even, >= 64 (default 640x360)\n"
           "  --threads T       conv threads, 1..64 (default 2)\n"
           "  --eval-frames N   held-out frames for mAP@0.5, 0..100000 (default 200; 0 skips)\n"
           "\nexit: 0 trained and saved, 1 runtime failure, 2 usage error\n");
}

/* synth's presets; the first MIX_COUNT are what "mix" stands for. */
static const char *const presets[] = {"day", "night", "dusk", "fog", "noise", "shift", "novel",
                                      "day-to-night", "all"};
enum { MIX_COUNT = 7, NUM_PRESETS = sizeof presets / sizeof *presets, MAX_DRIFTS = 32 };

static const char *preset_named(const char *name)
{
    for (int i = 0; i < NUM_PRESETS; i++)
        if (strcmp(name, presets[i]) == 0)
            return presets[i];
    return NULL;
}

/* Splits the --drift list; each item is a preset or "mix". */
static int parse_drifts(const char *arg, struct train_opts *o)
{
    char buf[512];
    if (strlen(arg) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", arg);
    o->ndrifts = 0;
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int mix = strcmp(t, "mix") == 0;
        for (int k = 0; k < (mix ? MIX_COUNT : 1); k++) {
            const char *p = mix ? presets[k] : preset_named(t);
            if (!p || o->ndrifts == MAX_DRIFTS)
                return -1;
            o->drifts[o->ndrifts++] = p;
        }
    }
    return o->ndrifts > 0 ? 0 : -1;
}

static int bad_value(const char *opt, const char *val)
{
    fprintf(stderr, "edgecam train: invalid %s value '%s' (see --help)\n", opt, val);
    return -1;
}

static int parse_args(int argc, char **argv, struct train_opts *o)
{
    *o = (struct train_opts){.frames = 1200, .every = 4, .epochs = 6, .batch = 8, .threads = 2,
                             .eval_frames = 200, .width = 640, .height = 360, .lr = 0.003f,
                             .seed = 1, .drift = "day", .drifts = {"day"}, .ndrifts = 1};
    static const struct option longopts[] = {
        {"arch", 1, 0, 'a'},   {"init", 1, 0, 'i'},   {"out", 1, 0, 'o'},
        {"frames", 1, 0, 'f'}, {"every", 1, 0, 'k'},  {"epochs", 1, 0, 'e'},
        {"batch", 1, 0, 'b'},  {"lr", 1, 0, 'l'},     {"drift", 1, 0, 'd'},
        {"seed", 1, 0, 's'},   {"size", 1, 0, 'z'},   {"threads", 1, 0, 't'},
        {"eval-frames", 1, 0, 'v'}, {0, 0, 0, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'a': o->arch = optarg; break;
        case 'i': o->init = optarg; break;
        case 'o': o->out = optarg; break;
        case 'f': if (cli_parse_int(optarg, 1, 100000, &o->frames)) return bad_value("--frames", optarg); break;
        case 'k': if (cli_parse_int(optarg, 1, 1000, &o->every)) return bad_value("--every", optarg); break;
        case 'e': if (cli_parse_int(optarg, 1, 1000, &o->epochs)) return bad_value("--epochs", optarg); break;
        case 'b': if (cli_parse_int(optarg, 1, 256, &o->batch)) return bad_value("--batch", optarg); break;
        case 't': if (cli_parse_int(optarg, 1, 64, &o->threads)) return bad_value("--threads", optarg); break;
        case 'v': if (cli_parse_int(optarg, 0, 100000, &o->eval_frames)) return bad_value("--eval-frames", optarg); break;
        case 'l':
            errno = 0;
            o->lr = strtof(optarg, &end);
            if (errno || end == optarg || *end || !(o->lr > 0 && o->lr <= 1))
                return bad_value("--lr", optarg);
            break;
        case 'd':
            o->drift = optarg;
            if (parse_drifts(optarg, o))
                return bad_value("--drift", optarg);
            break;
        case 's':
            errno = 0;
            o->seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return bad_value("--seed", optarg);
            break;
        case 'z':
            if (sscanf(optarg, "%dx%d%c", &o->width, &o->height, &(char){0}) != 2 ||
                o->width < 64 || o->height < 64 || o->width > IMAGE_MAX_DIM ||
                o->height > IMAGE_MAX_DIM || (o->width | o->height) & 1)
                return bad_value("--size", optarg);
            break;
        case ':':
            fprintf(stderr, "edgecam train: %s needs a value\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "edgecam train: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "edgecam train: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if ((!o->arch) == (!o->init) || !o->out) {
        fprintf(stderr, "edgecam train: give exactly one of --arch and --init, and --out\n");
        return -1;
    }
    return 0;
}

static char *read_text(const char *path, ec_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ec_err_set(err, EC_EIO, "%s: cannot open", path);
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n >= (1 << 20) - 1) {
        free(buf);
        ec_err_set(err, EC_EFORMAT, "%s: empty, unreadable or larger than 1 MiB", path);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* 2x2 box filter to half size; boxes scale by 0.5. */
static image *half_size(const image *src)
{
    image *dst = image_create(src->w / 2, src->h / 2, 3);
    if (!dst)
        return NULL;
    for (int y = 0; y < dst->h; y++) {
        const uint8_t *a = image_row(src, 2 * y), *b = image_row(src, 2 * y + 1);
        uint8_t *d = image_row(dst, y);
        for (int x = 0; x < dst->w * 3; x++) {
            int xx = (x / 3) * 6 + x % 3;
            d[x] = (uint8_t)((a[xx] + a[xx + 3] + b[xx] + b[xx + 3] + 2) / 4);
        }
    }
    return dst;
}

/* Renders `count` samples (every `every`-th frame), one synthetic video per preset chunk. */
static int make_samples(const struct train_opts *o, uint64_t seed, int count,
                        struct sample *out, ec_err *err)
{
    int made = 0, chunk = 0;
    while (made < count) {
        struct synth_opts so;
        synth_opts_default(&so);
        so.width = o->width, so.height = o->height, so.seed = seed + (uint64_t)chunk * 7919;
        int take = count - made < 150 ? count - made : 150;
        so.frames = (int64_t)take * o->every;
        const char *preset = o->drifts[chunk % o->ndrifts];
        if (synth_drift_preset(preset, &so, err))
            return -1;
        synth *s = synth_create(&so, err);
        if (!s)
            return -1;
        image *frame;
        struct det_list gt = {0};
        for (int64_t i = 0; made < count; i++) {
            int r = synth_next(s, &frame, &gt, err);
            if (r <= 0) {
                if (r < 0) {
                    synth_destroy(s);
                    det_list_free(&gt);
                    return -1;
                }
                break;
            }
            if (i % o->every)
                continue;
            out[made].img = half_size(frame);
            memset(&out[made].gt, 0, sizeof out[made].gt);
            for (int k = 0; k < gt.n; k++) {
                struct det b = gt.v[k];
                b.x1 *= 0.5f, b.y1 *= 0.5f, b.x2 *= 0.5f, b.y2 *= 0.5f;
                det_list_push(&out[made].gt, b);
            }
            if (!out[made].img) {
                synth_destroy(s);
                det_list_free(&gt);
                return ec_err_set(err, EC_ENOMEM, "out of memory");
            }
            made++;
        }
        synth_destroy(s);
        det_list_free(&gt);
        chunk++;
    }
    return 0;
}

static void free_samples(struct sample *s, int n)
{
    for (int i = 0; s && i < n; i++) {
        image_destroy(s[i].img);
        det_list_free(&s[i].gt);
    }
    free(s);
}

/* Mirrors image and boxes (in place on a copy) for augmentation. */
static void hflip(image *img, struct det_list *gt)
{
    for (int y = 0; y < img->h; y++) {
        uint8_t *r = image_row(img, y);
        for (int x = 0; x < img->w / 2; x++)
            for (int c = 0; c < 3; c++) {
                uint8_t t = r[x * 3 + c];
                r[x * 3 + c] = r[(img->w - 1 - x) * 3 + c];
                r[(img->w - 1 - x) * 3 + c] = t;
            }
    }
    for (int k = 0; k < gt->n; k++) {
        float x1 = gt->v[k].x1;
        gt->v[k].x1 = (float)img->w - gt->v[k].x2;
        gt->v[k].x2 = (float)img->w - x1;
    }
}

static double evaluate(const detector *d, const struct sample *s, int n, ec_err *err)
{
    eval_acc *acc = eval_create(detector_num_classes(d));
    struct det_list dets = {0};
    double map = -1;
    int i;
    for (i = 0; acc && i < n; i++) {
        det_list_clear(&dets);
        if (detector_run(d, s[i].img, 0.05f, &dets, err) || eval_add_frame(acc, &dets, &s[i].gt, err))
            break;
    }
    if (acc && i == n)
        map = eval_map(acc, 0.5);
    det_list_free(&dets);
    eval_destroy(acc);
    return map;
}

static int train_epochs(detector *d, const struct train_opts *o, struct sample *train,
                        ec_err *err)
{
    struct nn_optim_cfg cfg = {.kind = NN_OPTIM_ADAM, .lr = o->lr, .weight_decay = 5e-5f};
    nn_optim *opt = nn_optim_create(detector_model(d), &cfg, err);
    if (!opt)
        return -1;
    int *order = malloc(sizeof(int) * (size_t)o->frames);
    const image **batch = calloc((size_t)o->batch, sizeof *batch);
    image **flipped = calloc((size_t)o->batch, sizeof *flipped);
    struct det_list *gts = calloc((size_t)o->batch, sizeof *gts);
    int rc = (order && batch && flipped && gts) ? 0 : ec_err_set(err, EC_ENOMEM, "out of memory");
    uint64_t rng = o->seed * 2654435761ull + 1;
    int steps = o->epochs * ((o->frames + o->batch - 1) / o->batch), step = 0;
    for (int i = 0; rc == 0 && i < o->frames; i++)
        order[i] = i;
    for (int ep = 0; rc == 0 && ep < o->epochs; ep++) {
        for (int i = o->frames - 1; i > 0; i--) { /* shuffle */
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            int j = (int)((rng >> 33) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        double sum = 0, t0 = clock_mono_s();
        int nsteps = 0;
        for (int b0 = 0; rc == 0 && b0 < o->frames; b0 += o->batch, step++) {
            int n = o->frames - b0 < o->batch ? o->frames - b0 : o->batch;
            for (int k = 0; k < n; k++) {
                const struct sample *s = &train[order[b0 + k]];
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                det_list_clear(&gts[k]);
                for (int q = 0; q < s->gt.n; q++)
                    det_list_push(&gts[k], s->gt.v[q]);
                batch[k] = s->img;
                if ((rng >> 40) & 1) {
                    image_destroy(flipped[k]);
                    flipped[k] = image_clone(s->img);
                    if (flipped[k]) {
                        hflip(flipped[k], &gts[k]);
                        batch[k] = flipped[k];
                    } else {
                        for (int q = 0; q < s->gt.n; q++)
                            gts[k].v[q] = s->gt.v[q];
                    }
                }
            }
            /* Cosine decay to 5% of the initial rate. */
            float lr = o->lr * (0.05f + 0.95f * 0.5f * (1.0f + cosf(3.14159265f * step / steps)));
            nn_optim_set_lr(opt, lr);
            float loss;
            rc = detector_train_step(d, opt, batch, gts, n, &loss, err);
            sum += loss;
            nsteps++;
        }
        log_info("epoch %d/%d: mean loss %.4f, %.1f s", ep + 1, o->epochs, sum / nsteps,
                 clock_mono_s() - t0);
    }
    for (int k = 0; gts && flipped && k < o->batch; k++) {
        det_list_free(&gts[k]);
        image_destroy(flipped[k]);
    }
    free(gts);
    free(flipped);
    free(batch);
    free(order);
    nn_optim_destroy(opt);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage();
        return EXIT_OK;
    }
    struct train_opts o;
    if (parse_args(argc, argv, &o))
        return EXIT_USAGE;
    nn_set_threads(o.threads);
    ec_err err = {0};
    detector *d = NULL;
    struct sample *train = calloc((size_t)o.frames, sizeof *train);
    struct sample *held = calloc((size_t)o.eval_frames + 1, sizeof *held);
    int rc = EXIT_RUNTIME;
    if (o.arch) {
        char *arch = read_text(o.arch, &err);
        d = arch ? detector_from_model(nn_model_create(arch, o.seed, &err), &err) : NULL;
        free(arch);
    } else {
        d = detector_load(o.init, &err);
    }
    if (!d || !train || !held)
        goto out;
    double t0 = clock_mono_s();
    if (make_samples(&o, o.seed, o.frames, train, &err) ||
        make_samples(&o, o.seed + 1000003, o.eval_frames, held, &err))
        goto out;
    log_info("rendered %d training and %d held-out frames in %.1f s", o.frames, o.eval_frames,
             clock_mono_s() - t0);
    if (train_epochs(d, &o, train, &err))
        goto out;
    if (detector_save(d, o.out, &err))
        goto out;
    if (o.eval_frames > 0) {
        double map = evaluate(d, held, o.eval_frames, &err);
        if (map < -0.5 && err.code != EC_OK)
            goto out;
        printf("mAP@0.5 on %d held-out frames (%s): %.3f\n", o.eval_frames, o.drift, map);
    }
    printf("saved %s (%.1f s)\n", o.out, clock_mono_s() - t0);
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK)
        fprintf(stderr, "edgecam train: %s\n", err.msg);
    free_samples(train, o.frames);
    free_samples(held, o.eval_frames);
    detector_destroy(d);
    return rc;
}
