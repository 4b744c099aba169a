/* Cloud retraining service: labels an edge's uploaded frames with the golden model, fine-tunes
 * a copy of that edge's current model, keeps it only if it beats the old one on held-out
 * frames, versions every model and serves the files. Rounds are trained in the handler
 * thread, at most max_rounds at once and one per edge; a busy service answers 503. */
#include "retrain/retrain.h"

#include "core/clock.h"
#include "core/log.h"
#include "net/net.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_EDGES 256
#define HDR_VERSION "X-Edgecam-Model-Version"
#define HDR_SHA "X-Edgecam-Sha256"

struct edge_state {
    char edge[WIRE_ID_MAX];
    int busy;
    int next_round;
    int last_version; /* highest version of this edge's lineage */
    retrain_replay *replay;
};

struct retrain_service {
    struct retrain_service_opts o;
    char base_model[4096], model_name[WIRE_ID_MAX], models_dir[4096];
    pthread_mutex_t lock;
    int running;
    int nedges;
    struct edge_state edges[MAX_EDGES];
    struct retrain_service_stats st;
};

static int valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n >= WIRE_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
            !(s[i] >= '0' && s[i] <= '9') && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

static int lineage_of(const retrain_service *s, const char *edge, char *out, size_t cap)
{
    return (size_t)snprintf(out, cap, "%s.%s", s->model_name, edge) < cap && valid_id(out) ? 0
                                                                                           : -1;
}

/* Version v of a lineage lives at <models_dir>/<lineage>-v<v>.model; v0 is the base model. */
static void version_path(const retrain_service *s, const char *lineage, int v, char *out,
                         size_t cap)
{
    if (v == 0)
        snprintf(out, cap, "%s", s->base_model);
    else
        snprintf(out, cap, "%s/%s-v%d.model", s->models_dir, lineage, v);
}

retrain_service *retrain_service_create(const struct retrain_service_opts *o, ec_err *err)
{
    if (retrain_opts_validate(&o->retrain, err))
        return NULL;
    if (!o->golden || !o->base_model || !o->model_name || !o->models_dir ||
        !valid_id(o->model_name) || strlen(o->base_model) >= 4096 ||
        strlen(o->models_dir) >= 4000) {
        ec_err_set(err, EC_EINVAL, "retrain service needs golden, base_model, a model_name of "
                                   "[A-Za-z0-9._-] and models_dir");
        return NULL;
    }
    if (mkdir(o->models_dir, 0755) != 0 && errno != EEXIST) {
        ec_err_set(err, EC_EIO, "cannot create %s", o->models_dir);
        return NULL;
    }
    retrain_service *s = calloc(1, sizeof *s);
    if (!s) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    s->o = *o;
    snprintf(s->base_model, sizeof s->base_model, "%s", o->base_model);
    snprintf(s->model_name, sizeof s->model_name, "%s", o->model_name);
    snprintf(s->models_dir, sizeof s->models_dir, "%s", o->models_dir);
    if (s->o.max_rounds < 1)
        s->o.max_rounds = 1;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

/* Finds or adds the edge's state and marks it busy; NULL when busy or full (503). */
static struct edge_state *claim_edge(retrain_service *s, const char *edge)
{
    struct edge_state *e = NULL;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->nedges && !e; i++)
        if (strcmp(s->edges[i].edge, edge) == 0)
            e = &s->edges[i];
    if (!e && s->nedges < MAX_EDGES) {
        e = &s->edges[s->nedges];
        memset(e, 0, sizeof *e);
        snprintf(e->edge, sizeof e->edge, "%s", edge);
        e->next_round = -1; /* read from the store on first use */
        e->last_version = -1;
        if ((e->replay = retrain_replay_create(s->o.retrain.replay_max)))
            s->nedges++;
        else
            e = NULL;
    }
    if (e && (e->busy || s->running >= s->o.max_rounds))
        e = NULL;
    if (e) {
        e->busy = 1;
        s->running++;
    } else {
        s->st.rejected_busy++;
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

static void release_edge(retrain_service *s, struct edge_state *e)
{
    pthread_mutex_lock(&s->lock);
    e->busy = 0;
    s->running--;
    pthread_mutex_unlock(&s->lock);
}

/* Fills next_round / last_version from the store (or from 0) the first time. */
static void load_counters(retrain_service *s, struct edge_state *e, const char *lineage)
{
    if (e->next_round >= 0)
        return;
    e->next_round = 0;
    e->last_version = 0;
    if (!s->o.store)
        return;
    struct retrain_round *rows = NULL;
    int n = 0;
    if (store_list_retrain_rounds(s->o.store, e->edge, &rows, &n, NULL) == 0) {
        for (int i = 0; i < n; i++)
            if (rows[i].round >= e->next_round)
                e->next_round = rows[i].round + 1;
        free(rows);
    }
    struct model_version mv;
    if (store_get_model_version(s->o.store, lineage, -1, &mv, NULL) == 0)
        e->last_version = mv.version;
}

static int record_version(retrain_service *s, const char *lineage, int version, const char *path,
                          const uint8_t *buf, size_t len, double map50, ec_err *err)
{
    if (!s->o.store)
        return 0;
    struct model_version mv = {0};
    snprintf(mv.name, sizeof mv.name, "%s", lineage);
    mv.version = version;
    mv.created_ms = clock_wall_ms();
    size_t plen = strlen(path);
    if (plen >= sizeof mv.path) /* a cut path would point at another file */
        return ec_err_set(err, EC_EINVAL, "model path longer than %zu bytes: %s",
                          sizeof mv.path - 1, path);
    memcpy(mv.path, path, plen + 1);
    retrain_sha256_hex(buf, len, mv.sha256);
    mv.map50 = map50 >= 0 && map50 <= 1 ? map50 : -1;
    return store_put_model_version(s->o.store, &mv, err);
}

struct upload {
    char edge[WIRE_ID_MAX];
    int version;
    image *frames[RETRAIN_MAX_FRAMES];
    int n;
    struct det_list labels[RETRAIN_MAX_FRAMES];
};

static void upload_free(struct upload *u)
{
    for (int i = 0; i < u->n; i++) {
        image_destroy(u->frames[i]);
        det_list_free(&u->labels[i]);
    }
    free(u);
}

/* Parses headers and body and labels the frames; answers 4xx itself on bad input. */
static struct upload *read_upload(retrain_service *s, const struct http_request *req,
                                  struct http_response *resp, double *label_ms)
{
    const char *edge = http_request_header(req, WIRE_HDR_EDGE);
    const char *ver = http_request_header(req, HDR_VERSION);
    char *end = NULL;
    long v = ver ? strtol(ver, &end, 10) : -1;
    if (!edge || !valid_id(edge) || !ver || *ver == '\0' || *end != '\0' || v < 0 ||
        v > 1000000000) {
        http_response_error(resp, 400, "need %s ([A-Za-z0-9._-]{1,63}) and %s (>= 0)",
                            WIRE_HDR_EDGE, HDR_VERSION);
        return NULL;
    }
    struct upload *u = calloc(1, sizeof *u);
    if (!u) {
        http_response_error(resp, 500, "out of memory");
        return NULL;
    }
    snprintf(u->edge, sizeof u->edge, "%s", edge);
    u->version = (int)v;
    ec_err err = {0};
    if (retrain_frames_decode(req->body, req->body_len, u->frames, RETRAIN_MAX_FRAMES, &u->n,
                              &err)) {
        http_response_error(resp, 400, "%s", err.msg);
        upload_free(u);
        return NULL;
    }
    double t0 = clock_mono_s();
    if (retrain_label(s->o.golden, s->o.retrain.label_score_thresh,
                      (const image *const *)u->frames, u->n, u->labels, &err)) {
        http_response_error(resp, 500, "%s", err.msg);
        upload_free(u);
        return NULL;
    }
    *label_ms = (clock_mono_s() - t0) * 1e3;
    return u;
}

static int answer_json(struct http_response *resp, cJSON *root)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return http_response_error(resp, 500, "out of memory");
    return http_response_take_body(resp, text, strlen(text), "application/json");
}

static int handle_labels(const struct http_request *req, struct http_response *resp, void *user)
{
    retrain_service *s = user;
    double label_ms = 0;
    struct upload *u = read_upload(s, req, resp, &label_ms);
    if (!u) {
        pthread_mutex_lock(&s->lock);
        s->st.bad_requests++;
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "labels") : NULL;
    int rc = arr ? 0 : -1;
    for (int i = 0; i < u->n && rc == 0; i++) {
        cJSON *item = cJSON_CreateObject();
        if (!item || !cJSON_AddItemToArray(arr, item) || wire_dets_to_cjson(&u->labels[i], item, NULL))
            rc = -1;
    }
    if (root)
        cJSON_AddNumberToObject(root, "label_ms", label_ms);
    upload_free(u);
    if (rc) {
        cJSON_Delete(root);
        return http_response_error(resp, 500, "out of memory");
    }
    return answer_json(resp, root);
}

/* Trains one round for a claimed edge; fills the JSON answer or an error. */
static int run_round(retrain_service *s, struct edge_state *e, struct upload *u, double label_ms,
                     cJSON *out, ec_err *err)
{
    char lineage[WIRE_ID_MAX], cur_path[4200], new_path[4200];
    if (lineage_of(s, u->edge, lineage, sizeof lineage))
        return ec_err_set(err, EC_EINVAL, "edge id too long for a model name");
    load_counters(s, e, lineage);
    if (u->version > e->last_version)
        return ec_err_set(err, EC_ENOTFOUND, "edge runs version %d, the cloud has up to %d",
                          u->version, e->last_version);
    version_path(s, lineage, u->version, cur_path, sizeof cur_path);
    int64_t started = clock_wall_ms();
    detector *cur = detector_load(cur_path, err);
    if (!cur)
        return ec_err_wrap(err, "model %s v%d", lineage, u->version);
    struct retrain_result res;
    detector *cand = retrain_finetune(&s->o.retrain, cur, (const image *const *)u->frames,
                                      u->labels, u->n, e->replay, &res, err);
    detector_destroy(cur);
    if (!cand)
        return -1;
    /* Every model is versioned, shipped or not. */
    int version = e->last_version + 1;
    version_path(s, lineage, version, new_path, sizeof new_path);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = detector_save(cand, new_path, err);
    detector_destroy(cand);
    if (rc == 0)
        rc = retrain_read_file(new_path, RETRAIN_MAX_MODEL_BYTES, &buf, &len, err);
    if (rc == 0 && e->last_version == 0 && s->o.store) {
        uint8_t *bb = NULL;
        size_t bl = 0;
        struct model_version mv;
        if (store_get_model_version(s->o.store, lineage, 0, &mv, NULL) != 0 &&
            retrain_read_file(s->base_model, RETRAIN_MAX_MODEL_BYTES, &bb, &bl, NULL) == 0)
            record_version(s, lineage, 0, s->base_model, bb, bl, -1, NULL);
        free(bb);
    }
    if (rc == 0)
        rc = record_version(s, lineage, version, new_path, buf, len, res.map_after, err);
    if (rc) {
        free(buf);
        return -1;
    }
    e->last_version = version;
    char sha[65];
    retrain_sha256_hex(buf, len, sha);
    free(buf);
    int round = e->next_round++;
    if (s->o.store) {
        struct retrain_round r = {0};
        snprintf(r.edge_id, sizeof r.edge_id, "%s", u->edge);
        r.round = round;
        r.frames_used = res.frames_used;
        r.map_before = res.map_before;
        r.map_after = res.map_after;
        r.model_version = version;
        r.started_ms = started;
        r.label_ms = label_ms;
        r.train_ms = res.train_ms;
        r.accepted = res.accepted;
        if (store_put_retrain_round(s->o.store, &r, err))
            log_warn("retrain: recording round %d of %s: %s", round, u->edge, err->msg);
        ec_err_clear(err);
    }
    char url[256];
    snprintf(url, sizeof url, "/v1/models/%s/%d", lineage, version);
    cJSON_AddStringToObject(out, "edge", u->edge);
    cJSON_AddNumberToObject(out, "round", round);
    cJSON_AddBoolToObject(out, "accepted", res.accepted);
    cJSON_AddNumberToObject(out, "version", version);
    cJSON_AddNumberToObject(out, "current_version", res.accepted ? version : u->version);
    cJSON_AddStringToObject(out, "model", lineage);
    if (res.accepted) {
        cJSON_AddStringToObject(out, "url", url);
        cJSON_AddStringToObject(out, "sha256", sha);
        cJSON_AddNumberToObject(out, "size", (double)len);
    }
    cJSON_AddNumberToObject(out, "map_before", res.map_before);
    cJSON_AddNumberToObject(out, "map_after", res.map_after);
    cJSON_AddNumberToObject(out, "frames_used", res.frames_used);
    cJSON_AddNumberToObject(out, "holdout", res.holdout);
    cJSON_AddNumberToObject(out, "replayed", res.replayed);
    cJSON_AddNumberToObject(out, "label_ms", label_ms);
    cJSON_AddNumberToObject(out, "train_ms", res.train_ms);
    log_info("retrain: %s round %d: v%d mAP@0.5 %.3f -> %.3f on %d held-out, %s", u->edge, round,
             version, res.map_before, res.map_after, res.holdout,
             res.accepted ? "shipped" : "kept old");
    return 0;
}

static int handle_retrain(const struct http_request *req, struct http_response *resp, void *user)
{
    retrain_service *s = user;
    const char *edge = http_request_header(req, WIRE_HDR_EDGE);
    if (!edge || !valid_id(edge)) {
        pthread_mutex_lock(&s->lock);
        s->st.bad_requests++;
        pthread_mutex_unlock(&s->lock);
        return http_response_error(resp, 400, "need %s ([A-Za-z0-9._-]{1,63})", WIRE_HDR_EDGE);
    }
    struct edge_state *e = claim_edge(s, edge);
    if (!e) {
        http_response_add_header(resp, "Retry-After", "5");
        return http_response_error(resp, 503, "retraining busy");
    }
    double label_ms = 0;
    struct upload *u = read_upload(s, req, resp, &label_ms);
    if (!u) {
        release_edge(s, e);
        pthread_mutex_lock(&s->lock);
        s->st.bad_requests++;
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    ec_err err = {0};
    cJSON *out = cJSON_CreateObject();
    int rc = out ? run_round(s, e, u, label_ms, out, &err)
                 : ec_err_set(&err, EC_ENOMEM, "out of memory");
    int accepted = rc == 0 && cJSON_IsTrue(cJSON_GetObjectItem(out, "accepted"));
    release_edge(s, e);
    upload_free(u);
    pthread_mutex_lock(&s->lock);
    if (rc == 0)
        s->st.rounds++, s->st.accepted += accepted;
    pthread_mutex_unlock(&s->lock);
    if (rc) {
        cJSON_Delete(out);
        log_warn("retrain: round for %s failed: %s", edge, err.msg);
        return http_response_error(resp, err.code == EC_ENOTFOUND ? 404
                                         : err.code == EC_EINVAL || err.code == EC_EFORMAT ? 400
                                                                                           : 500,
                                   "%s", err.msg);
    }
    return answer_json(resp, out);
}

/* GET /v1/models/{lineage}/{version} */
static int handle_model(const struct http_request *req, struct http_response *resp, void *user)
{
    retrain_service *s = user;
    const char *rest = req->path + strlen("/v1/models/");
    const char *slash = strchr(rest, '/');
    char lineage[WIRE_ID_MAX], path[4200];
    char *end = NULL;
    if (!slash || (size_t)(slash - rest) >= sizeof lineage)
        return http_response_error(resp, 404, "no such model");
    memcpy(lineage, rest, (size_t)(slash - rest));
    lineage[slash - rest] = '\0';
    long v = strtol(slash + 1, &end, 10);
    size_t np = strlen(s->model_name);
    if (!valid_id(lineage) || slash[1] == '\0' || *end != '\0' || v < 0 || v > 1000000000 ||
        strncmp(lineage, s->model_name, np) != 0 || lineage[np] != '.')
        return http_response_error(resp, 404, "no such model");
    version_path(s, lineage, (int)v, path, sizeof path);
    uint8_t *buf = NULL;
    size_t len = 0;
    ec_err err = {0};
    if (retrain_read_file(path, RETRAIN_MAX_MODEL_BYTES, &buf, &len, &err))
        return http_response_error(resp, err.code == EC_ENOTFOUND ? 404 : 500, "model %s v%ld: %s",
                                   lineage, v, err.code == EC_ENOTFOUND ? "not found" : err.msg);
    char sha[65];
    retrain_sha256_hex(buf, len, sha);
    if (http_response_add_header(resp, HDR_SHA, sha)) {
        free(buf);
        return http_response_error(resp, 500, "out of memory");
    }
    return http_response_take_body(resp, buf, len, "application/octet-stream");
}

int retrain_service_mount(retrain_service *s, struct http_server *srv, ec_err *err)
{
    if (http_server_route(srv, "POST", "/v1/retrain/labels", 0, handle_labels, s, err) ||
        http_server_route(srv, "POST", "/v1/retrain", 0, handle_retrain, s, err) ||
        http_server_route(srv, "GET", "/v1/models/", HTTP_ROUTE_PREFIX, handle_model, s, err))
        return -1;
    return 0;
}

void retrain_service_stats(retrain_service *s, struct retrain_service_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->st;
    pthread_mutex_unlock(&s->lock);
}

void retrain_service_destroy(retrain_service *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nedges; i++)
        retrain_replay_destroy(s->edges[i].replay);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
