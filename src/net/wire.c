/* Wire format: detections as JSON (strictly validated on the way in) and
 * frame metadata in X-Edgecam-* headers. */
#include "net/net.h"

#include "core/image.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int det_valid(const struct det *d)
{
    const float v[5] = {d->x1, d->y1, d->x2, d->y2, d->score};
    for (int i = 0; i < 5; i++)
        if (!isfinite(v[i]))
            return 0;
    return d->cls >= 0 && d->cls < WIRE_MAX_CLASSES && d->score >= 0 && d->score <= 1 &&
           d->x1 < d->x2 && d->y1 < d->y2 && fabsf(d->x1) <= WIRE_MAX_COORD &&
           fabsf(d->y1) <= WIRE_MAX_COORD && fabsf(d->x2) <= WIRE_MAX_COORD &&
           fabsf(d->y2) <= WIRE_MAX_COORD;
}

/* The shortest decimal that reads back as the same float, as a double, so the
 * JSON says 0.9 rather than 0.89999997615814209. */
static double float_for_wire(float f)
{
    char buf[32];
    for (int prec = 6; prec < 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    snprintf(buf, sizeof buf, "%.9g", (double)f);
    return strtod(buf, NULL);
}

int wire_dets_to_cjson(const struct det_list *dets, cJSON *parent, ec_err *err)
{
    if (!dets || !parent || dets->n < 0 || dets->n > WIRE_MAX_DETS)
        return ec_err_set(err, EC_EINVAL, "no detections/parent or more than %d detections",
                          WIRE_MAX_DETS);
    for (int i = 0; i < dets->n; i++)
        if (!det_valid(&dets->v[i]))
            return ec_err_set(err, EC_EINVAL, "detection %d is invalid (non-finite, bad box or class)", i);
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    for (int i = 0; i < dets->n; i++) {
        const struct det *d = &dets->v[i];
        const double box[4] = {float_for_wire(d->x1), float_for_wire(d->y1),
                               float_for_wire(d->x2), float_for_wire(d->y2)};
        cJSON *o = cJSON_CreateObject();
        cJSON *b = cJSON_CreateDoubleArray(box, 4);
        if (!o || !b || !cJSON_AddNumberToObject(o, "cls", d->cls) ||
            !cJSON_AddNumberToObject(o, "score", float_for_wire(d->score))) {
            cJSON_Delete(o);
            cJSON_Delete(b);
            cJSON_Delete(arr);
            return ec_err_set(err, EC_ENOMEM, "out of memory");
        }
        cJSON_AddItemToObject(o, "box", b);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(parent, "detections");
    if (!cJSON_AddItemToObject(parent, "detections", arr)) {
        cJSON_Delete(arr);
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    }
    return 0;
}

char *wire_dets_to_json(const struct det_list *dets, ec_err *err)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    char *text = NULL;
    if (wire_dets_to_cjson(dets, root, err) == 0) {
        text = cJSON_PrintUnformatted(root);
        if (!text)
            ec_err_set(err, EC_ENOMEM, "out of memory");
    }
    cJSON_Delete(root);
    return text;
}

static int finite_number(const cJSON *x, double *out)
{
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
        return 0;
    *out = x->valuedouble;
    return 1;
}

static int parse_det(const cJSON *o, int i, struct det *d, ec_err *err)
{
    if (!cJSON_IsObject(o))
        return ec_err_set(err, EC_EFORMAT, "detections[%d] is not an object", i);
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(o, "cls");
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(o, "score");
    const cJSON *box = cJSON_GetObjectItemCaseSensitive(o, "box");
    double c, s, v[4];
    if (!finite_number(cls, &c) || c != floor(c) || c < 0 || c >= WIRE_MAX_CLASSES)
        return ec_err_set(err, EC_EFORMAT, "detections[%d].cls must be an integer in [0,%d)", i,
                          WIRE_MAX_CLASSES);
    if (!finite_number(score, &s) || s < 0 || s > 1)
        return ec_err_set(err, EC_EFORMAT, "detections[%d].score must be a number in [0,1]", i);
    if (!cJSON_IsArray(box) || cJSON_GetArraySize(box) != 4)
        return ec_err_set(err, EC_EFORMAT, "detections[%d].box must be an array of 4 numbers", i);
    for (int k = 0; k < 4; k++)
        if (!finite_number(cJSON_GetArrayItem(box, k), &v[k]) || fabs(v[k]) > WIRE_MAX_COORD)
            return ec_err_set(err, EC_EFORMAT, "detections[%d].box[%d] must be a finite number "
                              "with |v| <= %g", i, k, (double)WIRE_MAX_COORD);
    *d = (struct det){(float)v[0], (float)v[1], (float)v[2], (float)v[3], (float)s, (int)c};
    if (!(d->x1 < d->x2 && d->y1 < d->y2))
        return ec_err_set(err, EC_EFORMAT, "detections[%d].box needs x1 < x2 and y1 < y2", i);
    return 0;
}

int wire_dets_from_cjson(const cJSON *root, struct det_list *out, ec_err *err)
{
    if (!out)
        return ec_err_set(err, EC_EINVAL, "no output list");
    if (!cJSON_IsObject(root))
        return ec_err_set(err, EC_EFORMAT, "result is not a JSON object");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "detections");
    if (!cJSON_IsArray(arr))
        return ec_err_set(err, EC_EFORMAT, "\"detections\" missing or not an array");
    /* Count without walking a hostile list past the limit. */
    int n = 0;
    for (const cJSON *x = arr->child; x; x = x->next)
        if (++n > WIRE_MAX_DETS)
            return ec_err_set(err, EC_EFORMAT, "more than %d detections", WIRE_MAX_DETS);
    int old_n = out->n, i = 0;
    for (const cJSON *x = arr->child; x; x = x->next, i++) {
        struct det d;
        int rc = parse_det(x, i, &d, err);
        if (rc == 0 && det_list_push(out, d) != 0)
            rc = ec_err_set(err, EC_ENOMEM, "out of memory");
        if (rc != 0) {
            out->n = old_n;
            return -1;
        }
    }
    return 0;
}

int wire_dets_from_json(const char *text, size_t len, struct det_list *out, ec_err *err)
{
    if (!text)
        return ec_err_set(err, EC_EINVAL, "no JSON text");
    if (len > WIRE_MAX_JSON_BYTES)
        return ec_err_set(err, EC_EFORMAT, "JSON larger than %u bytes", WIRE_MAX_JSON_BYTES);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root)
        return ec_err_set(err, EC_EFORMAT, "malformed JSON");
    /* cJSON stops after the first value: anything but blanks after it is garbage. */
    while (end < text + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
        end++;
    if (end != text + len) {
        cJSON_Delete(root);
        return ec_err_set(err, EC_EFORMAT, "trailing data after JSON value");
    }
    int rc = wire_dets_from_cjson(root, out, err);
    cJSON_Delete(root);
    return rc;
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void wire_dets_rescale(struct det_list *dets, int from_w, int from_h, int to_w, int to_h)
{
    if (!dets || from_w <= 0 || from_h <= 0 || to_w <= 0 || to_h <= 0)
        return;
    float sx = (float)to_w / (float)from_w, sy = (float)to_h / (float)from_h;
    for (int i = 0; i < dets->n; i++) {
        struct det *d = &dets->v[i];
        d->x1 = clampf(d->x1 * sx, 0, (float)to_w);
        d->x2 = clampf(d->x2 * sx, 0, (float)to_w);
        d->y1 = clampf(d->y1 * sy, 0, (float)to_h);
        d->y2 = clampf(d->y2 * sy, 0, (float)to_h);
    }
}

/* ---------------------------------------------------------------- frame metadata */

static int id_valid(const char *s, int allow_empty)
{
    size_t n = strnlen(s, WIRE_ID_MAX);
    if (n == WIRE_ID_MAX || (n == 0 && !allow_empty))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

int wire_meta_validate(const struct wire_frame_meta *m, ec_err *err)
{
    if (!m)
        return ec_err_set(err, EC_EINVAL, "no frame metadata");
    if (!id_valid(m->edge, 0))
        return ec_err_set(err, EC_EFORMAT, WIRE_HDR_EDGE " must be 1-%d of [A-Za-z0-9._-]",
                          WIRE_ID_MAX - 1);
    if (!id_valid(m->model, 1))
        return ec_err_set(err, EC_EFORMAT, WIRE_HDR_MODEL " must be up to %d of [A-Za-z0-9._-]",
                          WIRE_ID_MAX - 1);
    if (m->frame < 0)
        return ec_err_set(err, EC_EFORMAT, WIRE_HDR_FRAME " must be >= 0");
    int given = m->orig_w != 0 || m->orig_h != 0;
    if (given && (m->orig_w < 1 || m->orig_w > IMAGE_MAX_DIM || m->orig_h < 1 ||
                  m->orig_h > IMAGE_MAX_DIM))
        return ec_err_set(err, EC_EFORMAT, "original size must be both given, each in 1..%d",
                          IMAGE_MAX_DIM);
    return 0;
}

int wire_meta_to_headers(const struct wire_frame_meta *m, struct wire_meta_headers *out,
                         ec_err *err)
{
    if (wire_meta_validate(m, err) != 0)
        return -1;
    int n = 0;
    snprintf(out->lines[n++], sizeof out->lines[0], WIRE_HDR_EDGE ": %s", m->edge);
    snprintf(out->lines[n++], sizeof out->lines[0], WIRE_HDR_FRAME ": %" PRId64, m->frame);
    if (m->model[0])
        snprintf(out->lines[n++], sizeof out->lines[0], WIRE_HDR_MODEL ": %s", m->model);
    if (m->orig_w) {
        snprintf(out->lines[n++], sizeof out->lines[0], WIRE_HDR_ORIG_W ": %d", m->orig_w);
        snprintf(out->lines[n++], sizeof out->lines[0], WIRE_HDR_ORIG_H ": %d", m->orig_h);
    }
    for (int i = 0; i < n; i++)
        out->list[i] = out->lines[i];
    out->list[n] = NULL;
    return 0;
}

/* Strict decimal: digits only (no sign, spaces or suffix), at most 18 of them. */
static int parse_decimal(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
        return -1;
    *out = strtoll(s, NULL, 10);
    return 0;
}

static int copy_id(const char *hdr, const char *value, char *dst, ec_err *err)
{
    if (strlen(value) >= WIRE_ID_MAX)
        return ec_err_set(err, EC_EFORMAT, "%s longer than %d bytes", hdr, WIRE_ID_MAX - 1);
    strcpy(dst, value);
    return 0;
}

int wire_meta_from_request(const struct http_request *req, struct wire_frame_meta *m, ec_err *err)
{
    memset(m, 0, sizeof *m);
    const char *edge = http_request_header(req, WIRE_HDR_EDGE);
    const char *frame = http_request_header(req, WIRE_HDR_FRAME);
    const char *model = http_request_header(req, WIRE_HDR_MODEL);
    const char *ow = http_request_header(req, WIRE_HDR_ORIG_W);
    const char *oh = http_request_header(req, WIRE_HDR_ORIG_H);
    int64_t v;
    if (!edge || !frame)
        return ec_err_set(err, EC_EFORMAT, "missing " WIRE_HDR_EDGE " or " WIRE_HDR_FRAME " header");
    if (copy_id(WIRE_HDR_EDGE, edge, m->edge, err) || (model && copy_id(WIRE_HDR_MODEL, model, m->model, err)))
        return -1;
    if (parse_decimal(frame, &v) != 0)
        return ec_err_set(err, EC_EFORMAT, WIRE_HDR_FRAME " is not a non-negative integer");
    m->frame = v;
    if (!ow != !oh)
        return ec_err_set(err, EC_EFORMAT, "give both or neither of " WIRE_HDR_ORIG_W "/Height");
    if (ow) {
        int64_t w, h;
        if (parse_decimal(ow, &w) || parse_decimal(oh, &h) || w < 1 || h < 1 ||
            w > IMAGE_MAX_DIM || h > IMAGE_MAX_DIM)
            return ec_err_set(err, EC_EFORMAT, "original size must be integers in 1..%d", IMAGE_MAX_DIM);
        m->orig_w = (int)w;
        m->orig_h = (int)h;
    }
    return wire_meta_validate(m, err);
}

int wire_frame_request(const struct http_request *req, struct wire_frame_meta *m, int *status,
                       ec_err *err)
{
    const char *ctype = http_request_header(req, "Content-Type");
    *status = 415;
    if (!ctype || strncasecmp(ctype, "image/jpeg", 10) != 0)
        return ec_err_set(err, EC_EFORMAT, "body must be image/jpeg");
    *status = 400;
    if (wire_meta_from_request(req, m, err) != 0)
        return -1;
    if (!req->body_len)
        return ec_err_set(err, EC_EFORMAT, "empty body: expected a JPEG frame");
    return 0;
}
