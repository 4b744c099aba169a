/* Ground-truth files: JSON lines, one frame per line. The reader treats the
 * file as untrusted: bounded line length, box count and frame count, and
 * every field checked. */
#include "synth/synth.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GT_MAX_COORD 1e6

int gt_write_frame(FILE *f, int64_t frame, const struct det_list *boxes, ec_err *err)
{
    fprintf(f, "{\"frame\":%" PRId64 ",\"boxes\":[", frame);
    for (int i = 0; boxes && i < boxes->n; i++) {
        const struct det *d = &boxes->v[i];
        fprintf(f, "%s[%d,%.9g,%.9g,%.9g,%.9g]", i ? "," : "", d->cls, (double)d->x1, (double)d->y1, (double)d->x2,
                (double)d->y2);
    }
    if (fputs("]}\n", f) == EOF || ferror(f))
        return ec_err_set(err, EC_EIO, "writing ground truth: %s", strerror(errno));
    return 0;
}

void gt_track_free(struct gt_track *t)
{
    for (int i = 0; i < t->nframes; i++)
        det_list_free(&t->frames[i]);
    free(t->frames);
    *t = (struct gt_track){0};
}

static int parse_box(const cJSON *b, struct det *out)
{
    if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) != 5)
        return -1;
    double v[5];
    for (int k = 0; k < 5; k++) {
        const cJSON *e = cJSON_GetArrayItem(b, k);
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || fabs(e->valuedouble) > GT_MAX_COORD)
            return -1;
        v[k] = e->valuedouble;
    }
    if (v[0] != floor(v[0]) || v[0] < 0 || v[0] >= SYNTH_NUM_CLASSES || !(v[1] < v[3]) || !(v[2] < v[4]))
        return -1;
    *out = (struct det){(float)v[1], (float)v[2], (float)v[3], (float)v[4], 1.0f, (int)v[0]};
    return 0;
}

/* Parses one NUL-terminated line into `boxes`; `frame` must be the expected frame number. */
static int parse_line(const char *line, size_t len, int64_t frame, struct det_list *boxes, ec_err *err)
{
    /* len + 1 takes in the terminating NUL: trailing garbage is rejected. */
    cJSON *root = cJSON_ParseWithLengthOpts(line, len + 1, NULL, 1);
    int rc = -1;
    if (!root || !cJSON_IsObject(root)) {
        ec_err_set(err, EC_EFORMAT, "not a JSON object");
        goto out;
    }
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(root, "frame");
    const cJSON *bx = cJSON_GetObjectItemCaseSensitive(root, "boxes");
    if (!cJSON_IsNumber(fr) || fr->valuedouble != (double)frame) {
        ec_err_set(err, EC_EFORMAT, "\"frame\" missing or not %" PRId64, frame);
        goto out;
    }
    if (!cJSON_IsArray(bx) || cJSON_GetArraySize(bx) > GT_MAX_BOXES) {
        ec_err_set(err, EC_EFORMAT, "\"boxes\" missing, not an array or over %d boxes", GT_MAX_BOXES);
        goto out;
    }
    int i = 0;
    for (const cJSON *b = bx->child; b; b = b->next, i++) {
        struct det d;
        if (parse_box(b, &d)) {
            ec_err_set(err, EC_EFORMAT, "box %d: want [cls 0..%d, x1, y1, x2, y2] with x1 < x2, y1 < y2", i,
                       SYNTH_NUM_CLASSES - 1);
            goto out;
        }
        if (det_list_push(boxes, d)) {
            ec_err_set(err, EC_ENOMEM, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

static struct det_list *track_add(struct gt_track *t)
{
    if (t->nframes == t->cap) {
        int cap = t->cap ? t->cap * 2 : 256;
        struct det_list *f = realloc(t->frames, (size_t)cap * sizeof *f);
        if (!f)
            return NULL;
        t->frames = f;
        t->cap = cap;
    }
    t->frames[t->nframes] = (struct det_list){0};
    return &t->frames[t->nframes++];
}

/* Reads one line (without its newline) into buf; returns its length, -1 at
 * end of file, -2 when longer than GT_MAX_LINE or holding a NUL byte. */
static long read_line(FILE *f, char *buf)
{
    long n = 0;
    int ch;
    while ((ch = getc(f)) != EOF && ch != '\n') {
        if (n >= GT_MAX_LINE || ch == 0)
            return -2;
        buf[n++] = (char)ch;
    }
    if (ch == EOF && n == 0)
        return -1;
    buf[n] = '\0';
    return n;
}

int gt_read(const char *path, struct gt_track *out, ec_err *err)
{
    *out = (struct gt_track){0};
    FILE *f = fopen(path, "r");
    if (!f)
        return ec_err_set(err, EC_EIO, "%s: %s", path, strerror(errno));
    char *line = malloc(GT_MAX_LINE + 1);
    if (!line) {
        fclose(f);
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    }
    int rc = 0;
    long len;
    while ((len = read_line(f, line)) != -1) {
        int64_t lineno = out->nframes + 1;
        if (len == -2) {
            rc = ec_err_set(err, EC_EFORMAT, "%s:%" PRId64 ": line longer than %d bytes or with a NUL byte", path,
                            lineno, GT_MAX_LINE);
            break;
        }
        if (out->nframes >= GT_MAX_FRAMES) {
            rc = ec_err_set(err, EC_EFORMAT, "%s: more than %d frames", path, GT_MAX_FRAMES);
            break;
        }
        struct det_list *boxes = track_add(out);
        if (!boxes) {
            rc = ec_err_set(err, EC_ENOMEM, "out of memory");
            break;
        }
        if (parse_line(line, (size_t)len, out->nframes - 1, boxes, err)) {
            rc = ec_err_wrap(err, "%s:%" PRId64, path, lineno);
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = ec_err_set(err, EC_EIO, "%s: read error", path);
    free(line);
    fclose(f);
    if (rc)
        gt_track_free(out);
    return rc;
}
