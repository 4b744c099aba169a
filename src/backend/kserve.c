/* KServe v2 (Open Inference Protocol) face of the inference service, the contract an NVIDIA
 * Triton model serves behind the gateway (docs/gateway.md):
 *   input  "image"      UINT8 [1,H,W,3] RGB, binary tensor extension or JSON "data"
 *   output "detections" FP32  [N,6]     x1,y1,x2,y2,score,class in pixels of the input */
#include "backend/backend.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KSERVE_HDR_LEN "Inference-Header-Content-Length"
#define KSERVE_MAX_HEADER_BYTES (1u << 20)

static int send_json(struct http_response *resp, cJSON *root)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return http_response_error(resp, 500, "out of memory"), -1;
    return http_response_take_body(resp, text, strlen(text), "application/json");
}

static int handle_health(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req, (void)user;
    return send_json(resp, cJSON_CreateObject());
}

static int model_known(infer_service *s, const char *name)
{
    struct infer_service_status st;
    infer_service_status(s, &st);
    for (int i = 0; i < st.nmodels; i++)
        if (strcmp(st.models[i].name, name) == 0)
            return 1;
    return 0;
}

static int is_int_in(const cJSON *x, double lo, double hi)
{
    return cJSON_IsNumber(x) && x->valuedouble >= lo && x->valuedouble <= hi &&
           x->valuedouble == floor(x->valuedouble);
}

/* Finds input "image" and builds the RGB image from binary or JSON data. */
static image *read_image(const cJSON *root, const uint8_t *bin, size_t binlen, ec_err *err)
{
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    if (!cJSON_IsArray(inputs))
        return ec_err_set(err, EC_EFORMAT, "request has no inputs array"), NULL;
    size_t offset = 0;
    const cJSON *in;
    cJSON_ArrayForEach(in, inputs) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(in, "parameters");
        const cJSON *bsize = cJSON_GetObjectItemCaseSensitive(params, "binary_data_size");
        if (bsize && !is_int_in(bsize, 0, (double)binlen))
            return ec_err_set(err, EC_EFORMAT, "bad binary_data_size"), NULL;
        if (!cJSON_IsString(name) || strcmp(name->valuestring, "image") != 0) {
            offset += bsize ? (size_t)bsize->valuedouble : 0;
            continue;
        }
        const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(in, "datatype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(in, "shape");
        if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "UINT8") != 0 ||
            cJSON_GetArraySize(shape) != 4 || !is_int_in(cJSON_GetArrayItem(shape, 0), 1, 1) ||
            !is_int_in(cJSON_GetArrayItem(shape, 1), 1, IMAGE_MAX_DIM) ||
            !is_int_in(cJSON_GetArrayItem(shape, 2), 1, IMAGE_MAX_DIM) ||
            !is_int_in(cJSON_GetArrayItem(shape, 3), 3, 3))
            return ec_err_set(err, EC_EFORMAT, "input 'image' must be UINT8 [1,H,W,3] with "
                                               "H, W in 1..%d", IMAGE_MAX_DIM), NULL;
        int h = cJSON_GetArrayItem(shape, 1)->valueint, w = cJSON_GetArrayItem(shape, 2)->valueint;
        size_t row = (size_t)w * 3, npix = row * (size_t)h;
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(in, "data");
        if (bsize && ((size_t)bsize->valuedouble != npix || offset + npix > binlen))
            return ec_err_set(err, EC_EFORMAT, "input 'image': binary_data_size must be "
                                               "H*W*3 = %zu and within the body", npix), NULL;
        if (!bsize && (!cJSON_IsArray(data) || (size_t)cJSON_GetArraySize(data) != npix))
            return ec_err_set(err, EC_EFORMAT, "input 'image': needs H*W*3 = %zu values", npix), NULL;
        image *img = image_create(w, h, 3);
        if (!img)
            return ec_err_set(err, EC_ENOMEM, "out of memory"), NULL;
        if (bsize) {
            for (int y = 0; y < h; y++)
                memcpy(image_row(img, y), bin + offset + (size_t)y * row, row);
            return img;
        }
        size_t i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, data) {
            if (!is_int_in(x, 0, 255)) {
                image_destroy(img);
                return ec_err_set(err, EC_EFORMAT, "input 'image': values must be 0..255"), NULL;
            }
            image_row(img, (int)(i / row))[i % row] = (uint8_t)x->valueint;
            i++;
        }
        return img;
    }
    return ec_err_set(err, EC_EFORMAT, "request has no input named 'image'"), NULL;
}

/* Binary output unless the client asked for JSON (no binary_data flag anywhere). */
static int wants_binary(const cJSON *root)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "parameters");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "binary_data_output")))
        return 1;
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(root, "outputs")) {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "parameters");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(op, "binary_data")))
            return 1;
    }
    return 0;
}

static int answer(struct http_response *resp, const cJSON *req_root, const struct det_list *dets,
                  const struct infer_run_info *info)
{
    size_t n = (size_t)dets->n, nbytes = n * 6 * sizeof(float);
    float *vals = malloc(nbytes ? nbytes : 1);
    cJSON *root = cJSON_CreateObject();
    cJSON *outputs = cJSON_AddArrayToObject(root, "outputs");
    cJSON *o = cJSON_CreateObject();
    if (!vals || !root || !outputs || !o) {
        free(vals), cJSON_Delete(root), cJSON_Delete(o);
        return http_response_error(resp, 500, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const struct det *d = &dets->v[i];
        float row[6] = {d->x1, d->y1, d->x2, d->y2, d->score, (float)d->cls};
        memcpy(vals + 6 * i, row, sizeof row);
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(req_root, "id");
    if (cJSON_IsString(id))
        cJSON_AddStringToObject(root, "id", id->valuestring);
    char version[16];
    snprintf(version, sizeof version, "%d", info->version);
    cJSON_AddStringToObject(root, "model_name", info->model);
    cJSON_AddStringToObject(root, "model_version", version);
    cJSON_AddStringToObject(o, "name", "detections");
    cJSON_AddStringToObject(o, "datatype", "FP32");
    cJSON *shape = cJSON_AddArrayToObject(o, "shape");
    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)n));
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(6));
    cJSON_AddItemToArray(outputs, o);
    int binary = wants_binary(req_root);
    if (binary) {
        cJSON *p = cJSON_AddObjectToObject(o, "parameters");
        cJSON_AddNumberToObject(p, "binary_data_size", (double)nbytes);
    } else {
        cJSON *data = cJSON_AddArrayToObject(o, "data");
        for (size_t i = 0; i < n * 6; i++)
            cJSON_AddItemToArray(data, cJSON_CreateNumber(vals[i]));
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) {
        free(vals);
        return http_response_error(resp, 500, "out of memory");
    }
    size_t tlen = strlen(text);
    if (!binary) {
        free(vals);
        return http_response_take_body(resp, text, tlen, "application/json");
    }
    uint8_t *body = malloc(tlen + nbytes);
    if (!body) {
        free(vals), free(text);
        return http_response_error(resp, 500, "out of memory");
    }
    memcpy(body, text, tlen);
    memcpy(body + tlen, vals, nbytes); /* little-endian, as the extension specifies */
    free(vals), free(text);
    char hl[32];
    snprintf(hl, sizeof hl, "%zu", tlen);
    if (http_response_add_header(resp, KSERVE_HDR_LEN, hl) != 0) {
        free(body);
        return http_response_error(resp, 500, "out of memory");
    }
    return http_response_take_body(resp, body, tlen + nbytes, "application/octet-stream");
}

static int handle_infer(infer_service *s, const char *model, const struct http_request *req,
                        struct http_response *resp)
{
    size_t hlen = req->body_len;
    const char *hv = http_request_header(req, KSERVE_HDR_LEN);
    if (hv) {
        char *end;
        unsigned long long v = strtoull(hv, &end, 10);
        if (end == hv || *end || v > req->body_len)
            return http_response_error(resp, 400, "bad %s header", KSERVE_HDR_LEN);
        hlen = (size_t)v;
    }
    if (hlen == 0 || hlen > KSERVE_MAX_HEADER_BYTES)
        return http_response_error(resp, 400, "inference header must be 1..%u bytes of JSON",
                                   KSERVE_MAX_HEADER_BYTES);
    cJSON *root = cJSON_ParseWithLength((const char *)req->body, hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return http_response_error(resp, 400, "inference header is not a JSON object");
    }
    ec_err err = {0};
    image *img = read_image(root, req->body + hlen, req->body_len - hlen, &err);
    if (!img) {
        cJSON_Delete(root);
        return http_response_error(resp, err.code == EC_ENOMEM ? 500 : 400, "%s", err.msg);
    }
    struct det_list dets = {0};
    struct infer_run_info info;
    int rc;
    if (infer_service_run(s, model, img, &dets, &info, &err) != 0) {
        int status = err.code == EC_ENOTFOUND ? 404 : err.code == EC_EFULL ? 503 : 500;
        rc = http_response_error(resp, status, "%s", err.msg);
    } else {
        rc = answer(resp, root, &dets, &info);
    }
    det_list_free(&dets);
    image_destroy(img);
    cJSON_Delete(root);
    return rc;
}

static int handle_metadata(infer_service *s, const char *model, struct http_response *resp)
{
    (void)s;
    char text[768];
    snprintf(text, sizeof text,
             "{\"name\":\"%s\",\"platform\":\"edgecam\","
             "\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[1,-1,-1,3]}],"
             "\"outputs\":[{\"name\":\"detections\",\"datatype\":\"FP32\",\"shape\":[-1,6]}]}",
             model);
    return http_response_set_body(resp, text, strlen(text), "application/json");
}

/* /v2/models/{model}[/ready | /infer] */
static int handle_models(const struct http_request *req, struct http_response *resp, void *user)
{
    infer_service *s = user;
    const char *name = req->path + strlen("/v2/models/");
    const char *slash = strchr(name, '/');
    size_t nlen = slash ? (size_t)(slash - name) : strlen(name);
    const char *rest = slash ? slash : "";
    char model[INFER_NAME_MAX];
    if (nlen == 0 || nlen >= sizeof model)
        return http_response_error(resp, 404, "no such model");
    memcpy(model, name, nlen);
    model[nlen] = '\0';
    int is_get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    int is_post = strcmp(req->method, "POST") == 0;
    if (strcmp(rest, "/infer") == 0 && is_post)
        return handle_infer(s, model, req, resp);
    if ((strcmp(rest, "/ready") == 0 || !*rest) && is_get) {
        if (!model_known(s, model))
            return http_response_error(resp, 404, "unknown model '%s'", model);
        return *rest ? send_json(resp, cJSON_CreateObject()) : handle_metadata(s, model, resp);
    }
    if (strcmp(rest, "/infer") == 0 || strcmp(rest, "/ready") == 0 || !*rest) {
        http_response_add_header(resp, "Allow", *rest && rest[1] == 'i' ? "POST" : "GET, HEAD");
        return http_response_error(resp, 405, "method not allowed");
    }
    return http_response_error(resp, 404, "no such endpoint");
}

int infer_service_mount_kserve(infer_service *s, http_server *srv, ec_err *err)
{
    if (http_server_route(srv, "GET", "/v2/health/ready", HTTP_ROUTE_PUBLIC, handle_health, s, err) != 0 ||
        http_server_route(srv, "GET", "/v2/health/live", HTTP_ROUTE_PUBLIC, handle_health, s, err) != 0 ||
        http_server_route(srv, NULL, "/v2/models/", HTTP_ROUTE_PREFIX, handle_models, s, err) != 0)
        return -1;
    return 0;
}
