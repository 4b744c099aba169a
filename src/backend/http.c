/* HTTP face of the inference service (docs/protocol.md). */
#include "backend/backend.h"

#include "video/video.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int send_json(struct http_response *resp, cJSON *root)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return http_response_error(resp, 500, "out of memory"), -1;
    return http_response_take_body(resp, text, strlen(text), "application/json");
}

static int status_for(enum ec_errcode code)
{
    switch (code) {
    case EC_ENOTFOUND: return 404;
    case EC_EFULL: return 503;
    case EC_EFORMAT:
    case EC_EINVAL: return 400;
    default: return 500;
    }
}

static cJSON *infer_reply(const struct det_list *dets, const struct infer_run_info *info,
                          const image *img)
{
    cJSON *root = cJSON_CreateObject();
    if (!root || wire_dets_to_cjson(dets, root, NULL) != 0) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddStringToObject(root, "model", info->model);
    cJSON_AddNumberToObject(root, "model_version", info->version);
    cJSON_AddNumberToObject(root, "width", img->w);
    cJSON_AddNumberToObject(root, "height", img->h);
    cJSON_AddNumberToObject(root, "infer_ms", info->infer_ms);
    cJSON_AddNumberToObject(root, "queue_ms", info->queue_ms);
    return root;
}

static int handle_infer(const struct http_request *req, struct http_response *resp, void *user)
{
    infer_service *s = user;
    struct wire_frame_meta meta;
    ec_err err = {0};
    int status;
    if (wire_frame_request(req, &meta, &status, &err) != 0)
        return http_response_error(resp, status, "%s", err.msg);
    jpeg_codec *codec = jpeg_codec_create(&err);
    image *img = NULL;
    if (!codec || jpeg_decode(codec, req->body, req->body_len, &img, &err) != 0) {
        jpeg_codec_destroy(codec);
        return http_response_error(resp, codec ? 400 : 500, "%s", err.msg);
    }
    jpeg_codec_destroy(codec);
    struct det_list dets = {0};
    struct infer_run_info info;
    int rc;
    if (infer_service_run(s, meta.model, img, &dets, &info, &err) != 0) {
        rc = http_response_error(resp, status_for(err.code), "%s", err.msg);
    } else {
        char ms[32];
        snprintf(ms, sizeof ms, "%.3f", info.infer_ms);
        http_response_add_header(resp, "X-Edgecam-Infer-Ms", ms);
        rc = send_json(resp, infer_reply(&dets, &info, img));
    }
    det_list_free(&dets);
    image_destroy(img);
    return rc;
}

static int handle_queue(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    struct infer_service_status st;
    infer_service_status(user, &st);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "pending", st.pending);
    cJSON_AddNumberToObject(root, "capacity", st.capacity);
    cJSON_AddNumberToObject(root, "in_flight", st.in_flight);
    cJSON_AddNumberToObject(root, "workers", st.workers);
    return send_json(resp, root);
}

static int handle_status(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    infer_service *s = user;
    struct infer_service_status st;
    infer_service_status(s, &st);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "role", infer_service_role(s));
    cJSON_AddNumberToObject(root, "in_flight", st.in_flight);
    cJSON_AddNumberToObject(root, "pending", st.pending);
    cJSON_AddNumberToObject(root, "capacity", st.capacity);
    cJSON_AddNumberToObject(root, "workers", st.workers);
    cJSON_AddNumberToObject(root, "rejected", (double)st.rejected);
    cJSON_AddNumberToObject(root, "cpu_percent", st.cpu_percent);
    cJSON_AddNumberToObject(root, "rss_bytes", (double)st.rss_bytes);
    cJSON_AddNumberToObject(root, "uptime_s", st.uptime_s);
    cJSON *models = cJSON_AddArrayToObject(root, "models");
    for (int i = 0; i < st.nmodels; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "name", st.models[i].name);
        cJSON_AddNumberToObject(m, "version", st.models[i].version);
        cJSON_AddNumberToObject(m, "requests", (double)st.models[i].requests);
        cJSON_AddNumberToObject(m, "latency_ewma_ms", st.models[i].latency_ewma_ms);
        cJSON_AddItemToArray(models, m);
    }
    return send_json(resp, root);
}

static int handle_health(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    infer_service *s = user;
    struct infer_service_status st;
    infer_service_status(s, &st);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "ok", 1);
    cJSON_AddStringToObject(root, "role", infer_service_role(s));
    cJSON_AddNumberToObject(root, "uptime_s", st.uptime_s);
    return send_json(resp, root);
}

int infer_service_mount(infer_service *s, http_server *srv, ec_err *err)
{
    if (http_server_route(srv, "POST", "/v1/infer", 0, handle_infer, s, err) != 0 ||
        http_server_route(srv, "GET", "/v1/queue", 0, handle_queue, s, err) != 0 ||
        http_server_route(srv, "GET", "/v1/status", 0, handle_status, s, err) != 0 ||
        http_server_route(srv, "GET", "/v1/health", HTTP_ROUTE_PUBLIC, handle_health, s, err) != 0)
        return -1;
    return 0;
}
