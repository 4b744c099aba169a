/* edgecam synth: write a synthetic street video and its ground truth. */
#include "cli/cmd.h"
#include "core/clock.h"
#include "core/log.h"
#include "synth/synth.h"

#include <errno.h>
#include <getopt.h>
#include <libavutil/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void synth_usage(FILE *out)
{
    fprintf(out,
            "usage: edgecam synth -o OUT.mp4 [options]\n"
            "\n"
            "Writes a seeded synthetic street video (H.264) with exact ground-truth boxes\n"
            "(JSON lines: {\"frame\":N,\"boxes\":[[cls,x1,y1,x2,y2],...]}; classes 0 car,\n"
            "1 person, 2 bicycle, 3 bus). Same seed and options -> same frames and boxes.\n"
            "\n"
            "options:\n"
            "  -o, --output PATH    video file; the container follows the extension (.mp4, .mkv)\n"
            "      --gt PATH        ground-truth file (default: OUT without extension + .gt.jsonl)\n"
            "      --frames N       frame count (default 300)\n"
            "      --width W        even, >= 64 (default 640)\n"
            "      --height H       even, >= 64 (default 360)\n"
            "      --fps F          frames per second (default 30)\n"
            "      --seed S         world seed (default 1)\n"
            "      --objects N      objects alive at once, 0..%d (default 14)\n"
            "      --drift NAME     day, night, day-to-night, dusk, fog, noise, shift, novel, all\n"
            "      --night A[:B]    drift knob from A at the first frame to B at the last (0..1);\n"
            "      --fog A[:B]      knobs given after --drift override it\n"
            "      --noise A[:B]\n"
            "      --shift A[:B]    camera pan and jitter\n"
            "      --novel A[:B]    share of objects with unseen colours and textures\n"
            "  -q, --quiet          no progress lines\n"
            "  -h, --help           this text\n",
            SYNTH_MAX_OBJECTS);
}

/* "A" or "A:B", each 0..1. */
static int parse_knob(const char *s, float *start, float *end)
{
    char buf[64];
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    char *colon = strchr(buf, ':');
    if (colon)
        *colon = '\0';
    double a, b;
    if (cli_parse_double(buf, 0, 1, &a))
        return -1;
    b = a;
    if (colon && cli_parse_double(colon + 1, 0, 1, &b))
        return -1;
    *start = (float)a;
    *end = (float)b;
    return 0;
}

struct progress {
    double t0, last;
    int quiet;
};

static int show_progress(void *user, int64_t done, int64_t total)
{
    struct progress *p = user;
    double now = clock_mono_s();
    if (!p->quiet && (now - p->last >= 2.0 || done == total) && total >= 100) {
        fprintf(stderr, "synth: %lld/%lld frames (%.0f fps)\n", (long long)done, (long long)total,
                (double)done / (now - p->t0 + 1e-9));
        p->last = now;
    }
    return 0;
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

enum { OPT_GT = 256, OPT_FRAMES, OPT_WIDTH, OPT_HEIGHT, OPT_FPS, OPT_SEED, OPT_OBJECTS, OPT_DRIFT,
       OPT_NIGHT, OPT_FOG, OPT_NOISE, OPT_SHIFT, OPT_NOVEL };

int cmd_synth(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"gt", required_argument, 0, OPT_GT},
        {"frames", required_argument, 0, OPT_FRAMES}, {"width", required_argument, 0, OPT_WIDTH},
        {"height", required_argument, 0, OPT_HEIGHT}, {"fps", required_argument, 0, OPT_FPS},
        {"seed", required_argument, 0, OPT_SEED}, {"objects", required_argument, 0, OPT_OBJECTS},
        {"drift", required_argument, 0, OPT_DRIFT}, {"night", required_argument, 0, OPT_NIGHT},
        {"fog", required_argument, 0, OPT_FOG}, {"noise", required_argument, 0, OPT_NOISE},
        {"shift", required_argument, 0, OPT_SHIFT}, {"novel", required_argument, 0, OPT_NOVEL},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    struct synth_opts o;
    synth_opts_default(&o);
    const char *out = NULL, *gt = NULL;
    int quiet = 0, c;
    long v;
    double d;
    ec_err err = {0};
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qh", longopts, NULL)) != -1) {
        const char *bad = NULL;
        float *a = NULL, *b = NULL;
        switch (c) {
        case 'o': out = optarg; break;
        case OPT_GT: gt = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': synth_usage(stdout); return EXIT_OK;
        case OPT_FRAMES: if (cli_parse_long(optarg, 1, 100000000, &v)) bad = "--frames"; else o.frames = v; break;
        case OPT_WIDTH: if (cli_parse_long(optarg, 64, IMAGE_MAX_DIM, &v)) bad = "--width"; else o.width = (int)v; break;
        case OPT_HEIGHT: if (cli_parse_long(optarg, 64, IMAGE_MAX_DIM, &v)) bad = "--height"; else o.height = (int)v; break;
        case OPT_FPS: if (cli_parse_double(optarg, 0.01, 1000, &d)) bad = "--fps"; else o.fps = d; break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 0);
            if (errno || end == optarg || *end || optarg[0] == '-')
                bad = "--seed";
            else
                o.seed = s;
            break;
        }
        case OPT_OBJECTS: if (cli_parse_long(optarg, 0, SYNTH_MAX_OBJECTS, &v)) bad = "--objects"; else o.max_objects = (int)v; break;
        case OPT_DRIFT:
            if (synth_drift_preset(optarg, &o, &err)) {
                fprintf(stderr, "edgecam synth: %s\n", err.msg);
                return EXIT_USAGE;
            }
            break;
        case OPT_NIGHT: a = &o.start.night, b = &o.end.night; break;
        case OPT_FOG: a = &o.start.fog, b = &o.end.fog; break;
        case OPT_NOISE: a = &o.start.noise, b = &o.end.noise; break;
        case OPT_SHIFT: a = &o.start.shift, b = &o.end.shift; break;
        case OPT_NOVEL: a = &o.start.novel, b = &o.end.novel; break;
        case ':':
            fprintf(stderr, "edgecam synth: %s needs a value\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "edgecam synth: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        }
        if (a && parse_knob(optarg, a, b))
            bad = "drift knob (want A or A:B within 0..1)";
        if (bad) {
            fprintf(stderr, "edgecam synth: invalid %s value '%s'\n", bad, optarg);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "edgecam synth: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (!out) {
        fprintf(stderr, "edgecam synth: -o OUT is required (see --help)\n");
        return EXIT_USAGE;
    }
    if (o.width % 2 || o.height % 2) {
        fprintf(stderr, "edgecam synth: width and height must be even\n");
        return EXIT_USAGE;
    }
    char *gt_path = gt ? strdup(gt) : default_gt_path(out);
    if (!gt_path)
        return EXIT_RUNTIME;
    if (log_get_level() < LOG_LEVEL_DEBUG)
        av_log_set_level(AV_LOG_ERROR); /* x264's statistics are noise here */
    struct progress p = {clock_mono_s(), clock_mono_s(), quiet};
    int rc = synth_write_video(&o, out, gt_path, show_progress, &p, &err);
    if (rc) {
        fprintf(stderr, "edgecam synth: %s\n", err.msg);
        free(gt_path);
        return err.code == EC_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
    }
    printf("wrote %lld frames %dx%d at %g fps to %s, ground truth %s (%.1f s)\n", (long long)o.frames, o.width,
           o.height, o.fps, out, gt_path, clock_mono_s() - p.t0);
    free(gt_path);
    return EXIT_OK;
}
