/* filter_tool: test driver for the filter oracle cross-check (tests/oracle/filter_oracle.py):
 *   filter_tool diff A.ppm B.ppm           -> "pixel edge area corner" diffs, one line
 *   filter_tool dump OP IN.ppm OUT.pgm     -> intermediate map, OP = gray|blur|canny|harris
 *   filter_tool bench W H FRAMES [PPM...]  -> filter fps per feature (CPU time) on synthetic
 *                                             moving frames, or on the given frames, cycled */
#include "core/image.h"
#include "filter/filter.h"
#include "filter/imgproc.h"

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

static int read_token(FILE *f, int *out)
{
    int c;
    do {
        c = fgetc(f);
        if (c == '#')
            while (c != '\n' && c != EOF)
                c = fgetc(f);
    } while (c == ' ' || c == '\n' || c == '\r' || c == '\t');
    int v = 0, n = 0;
    while (c >= '0' && c <= '9' && n < 6) {
        v = v * 10 + (c - '0');
        n++;
        c = fgetc(f);
    }
    *out = v;
    return n > 0 ? 0 : -1;
}

static image *read_ppm(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    image *img = NULL;
    int w, h, maxval;
    if (fgetc(f) == 'P' && fgetc(f) == '6' && read_token(f, &w) == 0 && read_token(f, &h) == 0 &&
        read_token(f, &maxval) == 0 && maxval == 255) {
        img = image_create(w, h, 3);
        if (img && fread(img->data, 1, (size_t)w * (size_t)h * 3, f) != (size_t)w * (size_t)h * 3) {
            image_destroy(img);
            img = NULL;
        }
    }
    fclose(f);
    return img;
}

static int write_pgm(const char *path, const uint8_t *data, int w, int h)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fprintf(f, "P5\n%d %d\n255\n", w, h);
    size_t n = (size_t)w * (size_t)h;
    int ok = fwrite(data, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static int cmd_diff(const char *pa, const char *pb)
{
    image *a = read_ppm(pa), *b = read_ppm(pb);
    if (!a || !b) {
        fprintf(stderr, "filter_tool: cannot read %s or %s\n", pa, pb);
        image_destroy(a);
        image_destroy(b);
        return 1;
    }
    int rc = 0;
    for (int feat = FILTER_PIXEL; feat <= FILTER_CORNER; feat++) {
        double d = -1;
        ec_err err;
        if (filter_feature_diff((enum filter_feature)feat, a, b, &d, &err) < 0) {
            fprintf(stderr, "filter_tool: %s\n", err.msg);
            rc = 1;
        }
        printf("%s%.9f", feat ? " " : "", d);
    }
    printf("\n");
    image_destroy(a);
    image_destroy(b);
    return rc;
}

static int cmd_dump(const char *op, const char *in, const char *out)
{
    image *img = read_ppm(in);
    if (!img)
        return 1;
    int w = img->w, h = img->h;
    size_t n = (size_t)w * (size_t)h;
    ip_ws *ws = ip_ws_create(w, h);
    uint8_t *gray = malloc(n), *res = malloc(n);
    gray_from_rgb(img->data, (size_t)img->stride, w, h, gray, (size_t)w);
    int rc = 0;
    if (strcmp(op, "gray") == 0) {
        memcpy(res, gray, n);
    } else if (strcmp(op, "blur") == 0) {
        ip_gauss11(ws, gray, res);
    } else if (strcmp(op, "canny") == 0) {
        uint8_t *blur = malloc(n);
        ip_gauss11(ws, gray, blur);
        ip_canny(ws, blur, 50, 255, res);
        free(blur);
    } else if (strcmp(op, "harris") == 0) {
        ip_harris_mask(ws, gray, FILTER_CORNER_REL, res);
    } else {
        rc = 1;
    }
    if (rc == 0)
        rc = write_pgm(out, res, w, h) == 0 ? 0 : 1;
    free(gray);
    free(res);
    ip_ws_destroy(ws);
    image_destroy(img);
    return rc;
}

/* A textured background with a bright square moving 4 px per frame. */
static void synth_frame(image *img, int t)
{
    for (int y = 0; y < img->h; y++) {
        uint8_t *r = image_row(img, y);
        for (int x = 0; x < img->w; x++) {
            r[3 * x] = (uint8_t)((x * 7 + y * 3) & 255);
            r[3 * x + 1] = (uint8_t)(((x >> 4) ^ (y >> 4)) * 37);
            r[3 * x + 2] = (uint8_t)((x * y) >> 6);
        }
    }
    int s = img->h / 6, x0 = (t * 4) % (img->w - s), y0 = img->h / 3;
    for (int y = y0; y < y0 + s; y++)
        memset(image_row(img, y) + 3 * x0, 250, 3 * (size_t)s);
}

/* CPU time of this thread: the machine is shared, wall time would measure the neighbours. */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Frames from PPM files (cycled) if any are given, else 8 synthetic ones. */
static int cmd_bench(int w, int h, int frames, int nfiles, char **files)
{
    image *img[8];
    int nimg = nfiles > 0 ? (nfiles < 8 ? nfiles : 8) : 8;
    for (int i = 0; i < nimg; i++) {
        img[i] = nfiles > 0 ? read_ppm(files[i]) : image_create(w, h, 3);
        if (!img[i] || (nfiles > 0 && (img[i]->w != img[0]->w || img[i]->h != img[0]->h)))
            return 1;
        if (nfiles == 0)
            synth_frame(img[i], i);
    }
    w = img[0]->w;
    h = img[0]->h;
    for (int feat = FILTER_PIXEL; feat <= FILTER_CORNER; feat++) {
        struct filter_opts o;
        filter_opts_default(&o);
        o.feature = (enum filter_feature)feat;
        filter *f = filter_create(&o, NULL);
        int keys = 0;
        filter_push(f, img[0], NULL);
        double t0 = thread_cpu_s();
        for (int i = 0; i < frames; i++)
            keys += filter_push(f, img[(i + 1) % nimg], NULL) == FILTER_KEY;
        double dt = thread_cpu_s() - t0;
        printf("%dx%d %-6s %8.1f fps (CPU time; %d key of %d)\n", w, h,
               filter_feature_name(o.feature), frames / dt, keys, frames);
        filter_destroy(f);
    }
    for (int i = 0; i < nimg; i++)
        image_destroy(img[i]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "diff") == 0)
        return cmd_diff(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "dump") == 0)
        return cmd_dump(argv[2], argv[3], argv[4]);
    if (argc >= 5 && strcmp(argv[1], "bench") == 0)
        return cmd_bench(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), argc - 5, argv + 5);
    fprintf(stderr, "usage: filter_tool diff A.ppm B.ppm | dump gray|blur|canny|harris IN.ppm "
                    "OUT.pgm | bench W H FRAMES [FRAME.ppm...]\n");
    return 2;
}
