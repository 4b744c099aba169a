/* KServe v2 (Open Inference Protocol) client: our JPEG frame in, our detections out.
 * Pixels travel with the binary tensor data extension, never as JSON numbers. */
#include "gateway/gateway_internal.h"

#include "core/image.h"
#include "video/video.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KSERVE_HDR_LEN "Inference-Header-Content-Length"
#define KSERVE_MAX_HEADER_BYTES (1u << 20)

/* The JSON part of the request; the pixel bytes follow it. */
static char *request_header(int w, int h, size_t nbytes)
{
    char *text = malloc(512);
    if (!text)
        return NULL;
    snprintf(text, 512,
             "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,%d,%d,3],\"datatype\":\"UINT8\","
             "\"parameters\":{\"binary_data_size\":%zu}}],"
             "\"outputs\":[{\"name\":\"detections\",\"parameters\":{\"binary_data\":true}}]}",
             h, w, nbytes);
    return text;
}

/* Header JSON + tightly packed RGB rows. */
static uint8_t *request_body(const image *img, size_t *len)
{
    size_t row = (size_t)img->w * 3, npix = row * (size_t)img->h;
    char *hdr = request_header(img->w, img->h, npix);
    if (!hdr)
        return NULL;
    size_t hlen = strlen(hdr);
    uint8_t *body = malloc(hlen + npix);
    if (body) {
        memcpy(body, hdr, hlen);
        for (int y = 0; y < img->h; y++)
            memcpy(body + hlen + (size_t)y * row, image_row(img, y), row);
        *len = hlen + npix;
    }
    free(hdr);
    return body;
}

static int row_to_det(const float *v, struct det *d)
{
    for (int i = 0; i < 6; i++)
        if (!isfinite(v[i]) || fabsf(v[i]) > WIRE_MAX_COORD)
            return -1;
    if (!(v[0] < v[2]) || !(v[1] < v[3]) || v[4] < 0 || v[4] > 1 || v[5] < 0 ||
        v[5] >= WIRE_MAX_CLASSES || v[5] != floorf(v[5]))
        return -1;
    *d = (struct det){v[0], v[1], v[2], v[3], v[4], (int)v[5]};
    return 0;
}

/* Where the "detections" output's values are: binary section or JSON "data". */
static int read_detections(const cJSON *root, const uint8_t *bin, size_t binlen,
                           struct det_list *out, ec_err *err)
{
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(root, "outputs");
    if (!cJSON_IsArray(outputs))
        return ec_err_set(err, EC_EFORMAT, "KServe answer has no outputs array");
    size_t offset = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, outputs) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "parameters");
        const cJSON *bsize = cJSON_GetObjectItemCaseSensitive(params, "binary_data_size");
        double bs = cJSON_IsNumber(bsize) ? bsize->valuedouble : -1;
        if (cJSON_IsNumber(bsize) && (bs < 0 || bs > (double)binlen || bs != floor(bs)))
            return ec_err_set(err, EC_EFORMAT, "KServe answer: bad binary_data_size");
        if (!cJSON_IsString(name) || strcmp(name->valuestring, "detections") != 0) {
            offset += bs > 0 ? (size_t)bs : 0;
            continue;
        }
        const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(o, "datatype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
        if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "FP32") != 0 ||
            cJSON_GetArraySize(shape) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(shape, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(shape, 1)) ||
            cJSON_GetArrayItem(shape, 1)->valuedouble != 6)
            return ec_err_set(err, EC_EFORMAT, "KServe output 'detections' must be FP32 [N,6]");
        double nd = cJSON_GetArrayItem(shape, 0)->valuedouble;
        if (nd < 0 || nd > WIRE_MAX_DETS || nd != floor(nd))
            return ec_err_set(err, EC_EFORMAT, "KServe output 'detections': N must be 0..%d",
                              WIRE_MAX_DETS);
        size_t n = (size_t)nd, nvals = n * 6;
        float *vals = malloc((nvals ? nvals : 1) * sizeof *vals);
        if (!vals)
            return ec_err_set(err, EC_ENOMEM, "out of memory");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(o, "data");
        int ok = 1;
        if (bs >= 0) {
            ok = (size_t)bs == nvals * sizeof(float) && offset + (size_t)bs <= binlen;
            if (ok)
                memcpy(vals, bin + offset, nvals * sizeof(float)); /* little-endian hosts */
        } else if (cJSON_IsArray(data) && (size_t)cJSON_GetArraySize(data) == nvals) {
            size_t i = 0;
            const cJSON *x;
            cJSON_ArrayForEach(x, data) {
                ok &= cJSON_IsNumber(x);
                vals[i++] = (float)x->valuedouble;
            }
        } else {
            ok = 0;
        }
        struct det_list tmp = {0};
        for (size_t i = 0; ok && i < n; i++) {
            struct det d;
            ok = row_to_det(vals + 6 * i, &d) == 0 && det_list_push(&tmp, d) == 0;
        }
        free(vals);
        if (!ok) {
            det_list_free(&tmp);
            return ec_err_set(err, EC_EFORMAT, "KServe output 'detections': missing, short or "
                                               "invalid rows (x1<x2, y1<y2, score 0..1, class)");
        }
        for (int i = 0; i < tmp.n; i++)
            det_list_push(out, tmp.v[i]);
        det_list_free(&tmp);
        return 0;
    }
    return ec_err_set(err, EC_EFORMAT, "KServe answer has no 'detections' output");
}

static int parse_answer(http_client *c, const struct http_client_result *res,
                        struct det_list *out, ec_err *err)
{
    size_t hlen = res->body_len;
    const char *hv = http_client_header(c, KSERVE_HDR_LEN);
    if (hv) {
        char *end;
        unsigned long long v = strtoull(hv, &end, 10);
        if (end == hv || *end || v > res->body_len)
            return ec_err_set(err, EC_EFORMAT, "KServe answer: bad %s", KSERVE_HDR_LEN);
        hlen = (size_t)v;
    }
    if (hlen > KSERVE_MAX_HEADER_BYTES)
        return ec_err_set(err, EC_EFORMAT, "KServe answer header over %u bytes",
                          KSERVE_MAX_HEADER_BYTES);
    cJSON *root = cJSON_ParseWithLength((const char *)res->body, hlen);
    if (!root)
        return ec_err_set(err, EC_EFORMAT, "KServe answer is not JSON");
    int rc = read_detections(root, res->body + hlen, res->body_len - hlen, out, err);
    cJSON_Delete(root);
    return rc;
}

/* The server's {"error": "..."} message if there is one, else the client's. */
static void server_error(const struct http_client_result *res, ec_err *err)
{
    cJSON *root = cJSON_ParseWithLength((const char *)res->body, res->body_len);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsString(msg))
        ec_err_set(err, EC_ENET, "%s", msg->valuestring);
    cJSON_Delete(root);
}

int kserve_infer(http_client *c, const char *base_url, const char *model, const uint8_t *jpeg,
                 size_t len, struct det_list *out, int *w, int *h, long *status, ec_err *err)
{
    *status = 400;
    jpeg_codec *codec = jpeg_codec_create(err);
    image *img = NULL;
    if (!codec || jpeg_decode(codec, jpeg, len, &img, err) != 0) {
        jpeg_codec_destroy(codec);
        return -1;
    }
    jpeg_codec_destroy(codec);
    size_t blen = 0;
    uint8_t *body = request_body(img, &blen);
    *w = img->w;
    *h = img->h;
    size_t hdr_len = body ? blen - (size_t)img->w * img->h * 3 : 0;
    image_destroy(img);
    if (!body) {
        *status = 500;
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    }
    char url[1024], hdr[64];
    snprintf(url, sizeof url, "%s/v2/models/%s/infer", base_url, model);
    snprintf(hdr, sizeof hdr, KSERVE_HDR_LEN ": %zu", hdr_len);
    const char *headers[] = {hdr, NULL};
    struct http_client_result res;
    int rc = http_client_request(c, "POST", url, headers, body, blen, "application/octet-stream",
                                 &res, err);
    free(body);
    *status = res.status;
    if (rc != 0) {
        if (res.status)
            server_error(&res, err);
        return -1;
    }
    if (parse_answer(c, &res, out, err) != 0) {
        *status = 502;
        return -1;
    }
    return 0;
}

int kserve_ready(http_client *c, const char *base_url, const char *model, ec_err *err)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/v2/health/ready", base_url);
    if (http_client_request(c, "GET", url, NULL, NULL, 0, NULL, NULL, err) != 0)
        return -1;
    if (!model)
        return 0;
    snprintf(url, sizeof url, "%s/v2/models/%s/ready", base_url, model);
    return http_client_request(c, "GET", url, NULL, NULL, 0, NULL, NULL, err);
}
