/* Edge side of continuous learning: one thread takes the collector's rounds from a bounded
 * queue, uploads them, and installs the model that comes back only after checking it
 * (size, SHA-256, a full load). Any failure keeps the old model and is counted. With
 * train_on_edge the cloud only labels the frames and the same trainer runs here. */
#include "retrain/retrain.h"

#include "core/bqueue.h"
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

struct retrain_client {
    struct retrain_client_opts o;
    char cloud_url[1024], edge_id[WIRE_ID_MAX], token[256], models_dir[4000], ca_file[4096];
    bqueue *q;
    pthread_t thread;
    int started;
    int stopping; /* atomic: destroy skips the rounds still queued */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int64_t pending; /* queued or in progress */
    struct retrain_client_stats st;
    /* Owned by the worker thread. */
    detector *cur;       /* train_on_edge: the model the edge runs */
    retrain_replay *replay;
    int round;
};

static void *client_main(void *arg);

retrain_client *retrain_client_create(const struct retrain_client_opts *o, ec_err *err)
{
    if (retrain_opts_validate(&o->retrain, err))
        return NULL;
    if (!o->cloud_url || !o->edge_id || !o->models_dir ||
        strlen(o->cloud_url) >= 1024 || strlen(o->edge_id) >= WIRE_ID_MAX ||
        strlen(o->models_dir) >= 4000 || (o->bearer_token && strlen(o->bearer_token) >= 256) ||
        (o->ca_file && strlen(o->ca_file) >= 4096) ||
        (o->train_on_edge && !o->current_model) || o->current_version < 0) {
        ec_err_set(err, EC_EINVAL, "retrain client needs cloud_url, edge_id, models_dir "
                                   "(and current_model to train on the edge)");
        return NULL;
    }
    if (mkdir(o->models_dir, 0755) != 0 && errno != EEXIST) {
        ec_err_set(err, EC_EIO, "cannot create %s", o->models_dir);
        return NULL;
    }
    retrain_client *c = calloc(1, sizeof *c);
    if (!c) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    c->o = *o;
    snprintf(c->cloud_url, sizeof c->cloud_url, "%s", o->cloud_url);
    snprintf(c->edge_id, sizeof c->edge_id, "%s", o->edge_id);
    snprintf(c->token, sizeof c->token, "%s", o->bearer_token ? o->bearer_token : "");
    snprintf(c->ca_file, sizeof c->ca_file, "%s", o->ca_file ? o->ca_file : "");
    snprintf(c->models_dir, sizeof c->models_dir, "%s", o->models_dir);
    if (c->o.max_model_bytes == 0 || c->o.max_model_bytes > RETRAIN_MAX_MODEL_BYTES)
        c->o.max_model_bytes = RETRAIN_MAX_MODEL_BYTES;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = 120000;
    if (c->o.jpeg_quality < 1 || c->o.jpeg_quality > 100)
        c->o.jpeg_quality = 90;
    c->st.current_version = o->current_version;
    c->st.last_map_before = c->st.last_map_after = -1;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->idle, NULL);
    c->q = bqueue_create((size_t)(o->queue_size > 0 ? o->queue_size : 2));
    if (c->q && o->train_on_edge) {
        c->cur = detector_load(o->current_model, err);
        c->replay = retrain_replay_create(o->retrain.replay_max);
        if (!c->cur || !c->replay)
            goto fail;
    }
    if (!c->q || pthread_create(&c->thread, NULL, client_main, c) != 0) {
        ec_err_set(err, EC_ENOMEM, "cannot start the retrain client");
        goto fail;
    }
    c->started = 1;
    return c;
fail:
    retrain_client_destroy(c);
    return NULL;
}

void retrain_client_set_swap(retrain_client *c, retrain_swap_fn swap, void *ctx)
{
    pthread_mutex_lock(&c->lock);
    c->o.swap = swap;
    c->o.swap_ctx = ctx;
    pthread_mutex_unlock(&c->lock);
}

/* Installs a model file through the swap target. */
static int call_swap(retrain_client *c, const char *path, int version, ec_err *err)
{
    pthread_mutex_lock(&c->lock);
    retrain_swap_fn fn = c->o.swap;
    void *ctx = c->o.swap_ctx;
    pthread_mutex_unlock(&c->lock);
    if (!fn)
        return ec_err_set(err, EC_EINVAL, "no swap target set");
    return fn(ctx, path, version, err);
}

int retrain_client_submit(retrain_client *c, struct retrain_batch *b)
{
    pthread_mutex_lock(&c->lock);
    c->pending++;
    pthread_mutex_unlock(&c->lock);
    if (b && bqueue_try_push(c->q, b) == 0) {
        pthread_mutex_lock(&c->lock);
        c->st.submitted++;
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    retrain_batch_destroy(b);
    pthread_mutex_lock(&c->lock);
    c->pending--;
    c->st.dropped++;
    pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->lock);
    log_warn("retrain: round dropped (queue full)");
    return -1;
}

void retrain_client_on_round(void *ctx, struct retrain_batch *b) { retrain_client_submit(ctx, b); }

int retrain_client_wait_idle(retrain_client *c, int timeout_ms)
{
    struct timespec dl = clock_deadline_ms(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    while (c->pending > 0 && rc == 0)
        if (pthread_cond_timedwait(&c->idle, &c->lock, &dl) == ETIMEDOUT)
            rc = -1;
    if (c->pending == 0)
        rc = 0;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void retrain_client_stats(retrain_client *c, struct retrain_client_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    pthread_mutex_unlock(&c->lock);
}

/* ---- worker ---- */

static int post_frames(retrain_client *c, http_client *hc, const char *route,
                       const struct retrain_batch *b, struct http_client_result *res, ec_err *err)
{
    uint8_t *body = NULL;
    size_t len = 0;
    if (retrain_frames_encode((const image *const *)b->frames, b->n, c->o.jpeg_quality, &body,
                              &len, err))
        return -1;
    char url[1200], h_edge[128], h_ver[64];
    snprintf(url, sizeof url, "%s%s", c->cloud_url, route);
    snprintf(h_edge, sizeof h_edge, "%s: %s", WIRE_HDR_EDGE, c->edge_id);
    pthread_mutex_lock(&c->lock);
    snprintf(h_ver, sizeof h_ver, "X-Edgecam-Model-Version: %d", c->st.current_version);
    pthread_mutex_unlock(&c->lock);
    const char *hdrs[] = {h_edge, h_ver, NULL};
    int rc = http_client_request(hc, "POST", url, hdrs, body, len, "application/octet-stream", res,
                                 err);
    free(body);
    return rc;
}

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int safe_route(const char *u)
{
    if (!u || strncmp(u, "/v1/models/", 11) != 0 || strlen(u) > 200)
        return 0;
    for (const char *p = u; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return strstr(u, "..") == NULL;
}

static int install(retrain_client *c, const uint8_t *buf, size_t len, int version, ec_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s-v%d.model", c->models_dir, c->edge_id, version);
    if (retrain_write_file(path, buf, len, err) || call_swap(c, path, version, err))
        return ec_err_wrap(err, "installing v%d", version);
    pthread_mutex_lock(&c->lock);
    c->st.current_version = version;
    c->st.swaps++;
    pthread_mutex_unlock(&c->lock);
    log_info("retrain: %s now runs model v%d", c->edge_id, version);
    return 0;
}

/* Downloads, verifies and installs the model a round produced. */
static int fetch_model(retrain_client *c, http_client *hc, const char *route, const char *sha,
                       double size, int version, ec_err *err)
{
    char url[1400];
    snprintf(url, sizeof url, "%s%s", c->cloud_url, route);
    struct http_client_result res;
    if (http_client_request(hc, "GET", url, NULL, NULL, 0, NULL, &res, err))
        return ec_err_wrap(err, "downloading v%d", version);
    if (res.body_len > c->o.max_model_bytes || (double)res.body_len != size)
        return ec_err_set(err, EC_EFORMAT, "model v%d: %zu bytes, announced %.0f", version,
                          res.body_len, size);
    char got[65];
    retrain_sha256_hex(res.body, res.body_len, got);
    if (strcmp(got, sha) != 0)
        return ec_err_set(err, EC_EFORMAT, "model v%d: SHA-256 mismatch", version);
    detector *d = detector_load_buffer(res.body, res.body_len, err);
    if (!d)
        return ec_err_wrap(err, "model v%d does not load", version);
    detector_destroy(d);
    return install(c, res.body, res.body_len, version, err);
}

static int cloud_round(retrain_client *c, http_client *hc, const struct retrain_batch *b,
                       ec_err *err)
{
    struct http_client_result res;
    if (post_frames(c, hc, "/v1/retrain", b, &res, err))
        return ec_err_wrap(err, "upload");
    cJSON *root = cJSON_ParseWithLength((const char *)res.body, res.body_len);
    if (!root)
        return ec_err_set(err, EC_EFORMAT, "retrain answer is not JSON");
    const cJSON *acc = cJSON_GetObjectItem(root, "accepted");
    const cJSON *ver = cJSON_GetObjectItem(root, "version");
    const cJSON *mb = cJSON_GetObjectItem(root, "map_before");
    const cJSON *ma = cJSON_GetObjectItem(root, "map_after");
    int rc = 0;
    if (!cJSON_IsBool(acc) || !cJSON_IsNumber(ver) || ver->valuedouble < 1 ||
        ver->valuedouble > 1e9 || ver->valuedouble != (int)ver->valuedouble) {
        rc = ec_err_set(err, EC_EFORMAT, "retrain answer lacks accepted/version");
        goto out;
    }
    pthread_mutex_lock(&c->lock);
    c->st.last_map_before = cJSON_IsNumber(mb) ? mb->valuedouble : -1;
    c->st.last_map_after = cJSON_IsNumber(ma) ? ma->valuedouble : -1;
    if (!cJSON_IsTrue(acc))
        c->st.not_better++;
    pthread_mutex_unlock(&c->lock);
    if (cJSON_IsTrue(acc)) {
        const char *url = cJSON_GetStringValue(cJSON_GetObjectItem(root, "url"));
        const char *sha = cJSON_GetStringValue(cJSON_GetObjectItem(root, "sha256"));
        const cJSON *size = cJSON_GetObjectItem(root, "size");
        if (!safe_route(url) || !is_hex64(sha) || !cJSON_IsNumber(size))
            rc = ec_err_set(err, EC_EFORMAT, "retrain answer: bad url, sha256 or size");
        else
            rc = fetch_model(c, hc, url, sha, size->valuedouble, (int)ver->valuedouble, err);
    }
out:
    cJSON_Delete(root);
    return rc;
}

static int parse_labels(const struct http_client_result *res, struct det_list *labels, int n,
                        ec_err *err)
{
    cJSON *root = cJSON_ParseWithLength((const char *)res->body, res->body_len);
    const cJSON *arr = root ? cJSON_GetObjectItem(root, "labels") : NULL;
    int rc = 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n)
        rc = ec_err_set(err, EC_EFORMAT, "labels answer: want an array of %d", n);
    for (int i = 0; i < n && rc == 0; i++)
        rc = wire_dets_from_cjson(cJSON_GetArrayItem(arr, i), &labels[i], err);
    cJSON_Delete(root);
    return rc;
}

static int edge_round(retrain_client *c, http_client *hc, const struct retrain_batch *b,
                      ec_err *err)
{
    struct http_client_result res;
    double t0 = clock_mono_s();
    int64_t started = clock_wall_ms();
    if (post_frames(c, hc, "/v1/retrain/labels", b, &res, err))
        return ec_err_wrap(err, "labels");
    struct det_list *labels = calloc((size_t)b->n, sizeof *labels);
    if (!labels)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    int rc = parse_labels(&res, labels, b->n, err);
    double label_ms = (clock_mono_s() - t0) * 1e3;
    struct retrain_result rr;
    detector *cand = NULL;
    if (rc == 0)
        cand = retrain_finetune(&c->o.retrain, c->cur, (const image *const *)b->frames, labels,
                                b->n, c->replay, &rr, err);
    for (int i = 0; i < b->n; i++)
        det_list_free(&labels[i]);
    free(labels);
    if (!cand)
        return -1;
    pthread_mutex_lock(&c->lock);
    int version = c->st.current_version + 1;
    c->st.last_map_before = rr.map_before;
    c->st.last_map_after = rr.map_after;
    if (!rr.accepted)
        c->st.not_better++;
    pthread_mutex_unlock(&c->lock);
    if (rr.accepted) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s-v%d.model", c->models_dir, c->edge_id, version);
        if (detector_save(cand, path, err) || call_swap(c, path, version, err)) {
            detector_destroy(cand);
            return ec_err_wrap(err, "installing v%d", version);
        }
        detector_destroy(c->cur);
        c->cur = cand;
        pthread_mutex_lock(&c->lock);
        c->st.current_version = version;
        c->st.swaps++;
        pthread_mutex_unlock(&c->lock);
    } else {
        detector_destroy(cand);
    }
    if (c->o.store) {
        struct retrain_round r = {.round = c->round, .frames_used = rr.frames_used,
                                  .map_before = rr.map_before, .map_after = rr.map_after,
                                  .model_version = rr.accepted ? version : version - 1,
                                  .started_ms = started,
                                  .label_ms = label_ms, .train_ms = rr.train_ms,
                                  .accepted = rr.accepted};
        snprintf(r.edge_id, sizeof r.edge_id, "%s", c->edge_id);
        if (store_put_retrain_round(c->o.store, &r, err))
            log_warn("retrain: recording round %d: %s", c->round, err->msg);
        ec_err_clear(err);
    }
    c->round++;
    return 0;
}

static void *client_main(void *arg)
{
    retrain_client *c = arg;
    struct http_client_config hcfg = {.timeout_ms = c->o.timeout_ms,
                                      .max_response_bytes = c->o.max_model_bytes,
                                      .bearer_token = c->token[0] ? c->token : NULL,
                                      .ca_file = c->ca_file[0] ? c->ca_file : NULL};
    ec_err err = {0};
    http_client *hc = http_client_create(&hcfg, &err);
    if (!hc)
        log_error("retrain: %s", err.msg);
    struct retrain_batch *b;
    while ((b = bqueue_pop(c->q, -1))) {
        ec_err_clear(&err);
        int rc = !hc || __atomic_load_n(&c->stopping, __ATOMIC_ACQUIRE) ? -1
                 : c->o.train_on_edge ? edge_round(c, hc, b, &err)
                                      : cloud_round(c, hc, b, &err);
        if (rc && err.code != EC_OK)
            log_warn("retrain: round failed, keeping the old model: %s", err.msg);
        retrain_batch_destroy(b);
        pthread_mutex_lock(&c->lock);
        if (rc)
            c->st.failed++;
        else
            c->st.done++;
        c->pending--;
        pthread_cond_broadcast(&c->idle);
        pthread_mutex_unlock(&c->lock);
    }
    http_client_destroy(hc);
    return NULL;
}

void retrain_client_destroy(retrain_client *c)
{
    if (!c)
        return;
    __atomic_store_n(&c->stopping, 1, __ATOMIC_RELEASE);
    if (c->q)
        bqueue_close(c->q);
    if (c->started)
        pthread_join(c->thread, NULL);
    if (c->q) {
        struct retrain_batch *b;
        while ((b = bqueue_pop(c->q, 0)))
            retrain_batch_destroy(b);
        bqueue_destroy(c->q);
    }
    detector_destroy(c->cur);
    retrain_replay_destroy(c->replay);
    pthread_cond_destroy(&c->idle);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
