/* The forwarding gateway: admission, dispatch, forwarding with one retry, backend monitor. */
#include "gateway/gateway.h"
#include "gateway/gateway_internal.h"

#include "core/clock.h"
#include "core/log.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_MAX 512
#define EWMA_ALPHA 0.2
/* Backend answers are detections JSON; anything larger is not one. */
#define MAX_ANSWER_BYTES (WIRE_MAX_JSON_BYTES + 65536)

struct backend {
    char name[GATEWAY_NAME_MAX];
    char url[URL_MAX];
    enum gateway_backend_kind kind;
    /* Idle keep-alive clients, LIFO so the warmest connection is reused first. */
    http_client **idle;
    int nidle, idle_cap;
    /* Dispatch state, under gateway.lock. */
    int in_flight, ejected, healthy, workers, pending, consecutive_failures;
    double cpu_percent, rtt_ewma_ms;
    int nmodels;
    struct { char name[GATEWAY_NAME_MAX]; double latency_ms; } models[8];
    uint64_t requests, failures, polls;
    metric *m_requests, *m_failures, *m_up, *m_seconds;
};

struct gateway {
    struct gateway_opts o;
    char bind_addr[64], default_model[GATEWAY_NAME_MAX], token[256];
    char tls_cert[URL_MAX], tls_key[URL_MAX], tls_ca[URL_MAX];
    http_server *srv;
    metrics *own_metrics, *m;
    metric *m_rejected, *m_retries, *m_in_flight, *m_requests;
    pthread_mutex_t lock;
    struct backend b[GATEWAY_MAX_BACKENDS];
    int nb;
    unsigned rr;
    uint64_t rng;
    int in_flight;
    uint64_t requests, rejected, retries, failed;
    double started_s;
    /* Monitor thread. */
    pthread_t monitor;
    int monitor_running, stopping;
    pthread_cond_t wake;
    http_client *poll_client;
};

const char *gateway_dispatch_name(enum gateway_dispatch d)
{
    static const char *const names[] = {"round_robin", "random", "least_in_flight",
                                        "lowest_cpu", "lowest_latency"};
    return (unsigned)d < sizeof names / sizeof names[0] ? names[d] : "?";
}

/* ------------------------------------------------------------------ client pool */

static http_client *client_get(gateway *g, struct backend *b, ec_err *err)
{
    pthread_mutex_lock(&g->lock);
    http_client *c = b->nidle ? b->idle[--b->nidle] : NULL;
    pthread_mutex_unlock(&g->lock);
    if (c)
        return c;
    struct http_client_config cc = {.connect_timeout_ms = g->o.connect_timeout_ms,
                                    .timeout_ms = g->o.request_timeout_ms,
                                    .max_response_bytes = MAX_ANSWER_BYTES,
                                    .bearer_token = g->token[0] ? g->token : NULL,
                                    .ca_file = g->tls_ca[0] ? g->tls_ca : NULL};
    return http_client_create(&cc, err);
}

static void client_put(gateway *g, struct backend *b, http_client *c)
{
    pthread_mutex_lock(&g->lock);
    if (b->nidle == b->idle_cap) {
        int cap = b->idle_cap ? 2 * b->idle_cap : 8;
        http_client **v = realloc(b->idle, (size_t)cap * sizeof *v);
        if (v) {
            b->idle = v;
            b->idle_cap = cap;
        }
    }
    if (b->nidle < b->idle_cap) {
        b->idle[b->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&g->lock);
    http_client_destroy(c);
}

/* ------------------------------------------------------------------ dispatch */

static uint64_t next_random(gateway *g)
{
    uint64_t x = g->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return g->rng = x;
}

static double model_latency(const struct backend *b, const char *model)
{
    for (int i = 0; i < b->nmodels; i++)
        if ((!*model && i == 0) || strcmp(b->models[i].name, model) == 0)
            if (b->models[i].latency_ms > 0)
                return b->models[i].latency_ms;
    return b->rtt_ewma_ms;
}

/* Lower is better; the policy's measure for one backend. */
static double policy_cost(const gateway *g, const struct backend *b, const char *model)
{
    switch (g->o.dispatch) {
    case GATEWAY_LEAST_IN_FLIGHT: return b->in_flight;
    case GATEWAY_LOWEST_CPU: return b->cpu_percent * 1000.0 + b->in_flight;
    case GATEWAY_LOWEST_LATENCY:
        return model_latency(b, model) * (1.0 + (double)b->in_flight / (b->workers > 0 ? b->workers : 1));
    default: return 0;
    }
}

/* Picks an admitted backend not in `tried` and counts the request on it; -1 if none.
 * A retry does not advance the rotation, so round robin stays fair around a failing backend. */
static int pick_backend(gateway *g, const char *model, const int *tried, int is_retry)
{
    pthread_mutex_lock(&g->lock);
    int cand[GATEWAY_MAX_BACKENDS], n = 0;
    unsigned start = is_retry ? g->rr : g->rr++;
    for (int k = 0; k < g->nb; k++) {
        int i = (int)((start + (unsigned)k) % (unsigned)g->nb);
        if (!g->b[i].ejected && !tried[i])
            cand[n++] = i;
    }
    int best = -1;
    if (n > 0 && g->o.dispatch == GATEWAY_RANDOM) {
        best = cand[next_random(g) % (uint64_t)n];
    } else if (n > 0) {
        /* Round robin is the rotating start; the others break ties by it. */
        best = cand[0];
        double best_cost = policy_cost(g, &g->b[best], model);
        for (int k = 1; k < n; k++) {
            double c = policy_cost(g, &g->b[cand[k]], model);
            if (c < best_cost)
                best = cand[k], best_cost = c;
        }
    }
    if (best >= 0)
        g->b[best].in_flight++;
    pthread_mutex_unlock(&g->lock);
    return best;
}

enum outcome { OUT_OK, OUT_CLIENT_ERROR, OUT_FAILED };

static void finish_on_backend(gateway *g, int i, enum outcome out, long status, double ms,
                              const char *why)
{
    struct backend *b = &g->b[i];
    int ejected_now = 0;
    pthread_mutex_lock(&g->lock);
    b->in_flight--;
    if (out == OUT_FAILED && status == 503) {
        /* Full, not broken: another backend may take it, no strike. */
    } else if (out == OUT_FAILED) {
        b->failures++;
        if (++b->consecutive_failures >= g->o.eject_after && !b->ejected)
            b->ejected = ejected_now = 1;
    } else {
        b->requests++;
        b->consecutive_failures = 0;
        b->rtt_ewma_ms = b->rtt_ewma_ms > 0 ? (1 - EWMA_ALPHA) * b->rtt_ewma_ms + EWMA_ALPHA * ms : ms;
    }
    pthread_mutex_unlock(&g->lock);
    if (out == OUT_FAILED && status != 503)
        metric_inc(b->m_failures);
    else if (out != OUT_FAILED)
        metric_inc(b->m_requests), metric_observe(b->m_seconds, ms / 1000.0);
    if (ejected_now) {
        metric_set(b->m_up, 0);
        log_warn("gateway: backend %s ejected after %d consecutive failures (%s)", b->name,
                 g->o.eject_after, why);
    }
}

/* ------------------------------------------------------------------ forwarding */

struct attempt {
    enum outcome out;
    long status;
    ec_err err;
};

static int copy_answer(struct http_response *resp, const struct http_client_result *res)
{
    resp->status = (int)res->status;
    return http_response_set_body(resp, res->body, res->body_len,
                                  res->content_type[0] ? res->content_type : "application/json");
}

static void forward_edgecam(gateway *g, struct backend *b, http_client *c,
                            const struct http_request *req, const struct wire_frame_meta *meta,
                            struct http_response *resp, struct attempt *a)
{
    struct wire_meta_headers mh;
    char url[URL_MAX + 16];
    (void)g;
    snprintf(url, sizeof url, "%s/v1/infer", b->url);
    wire_meta_to_headers(meta, &mh, NULL); /* validated on arrival */
    struct http_client_result res;
    int rc = http_client_request(c, "POST", url, mh.list, req->body, req->body_len, "image/jpeg",
                                 &res, &a->err);
    a->status = res.status;
    if (rc == 0 || (res.status >= 400 && res.status < 500)) {
        a->out = rc == 0 ? OUT_OK : OUT_CLIENT_ERROR;
        const char *ms = http_client_header(c, "X-Edgecam-Infer-Ms");
        if (copy_answer(resp, &res) != 0 || (ms && http_response_add_header(resp, "X-Edgecam-Infer-Ms", ms) != 0))
            a->out = OUT_FAILED, a->status = 500;
    } else {
        a->out = OUT_FAILED;
    }
}

static void forward_kserve(gateway *g, struct backend *b, http_client *c,
                           const struct http_request *req, const struct wire_frame_meta *meta,
                           struct http_response *resp, struct attempt *a)
{
    const char *model = meta->model[0] ? meta->model : g->default_model;
    struct det_list dets = {0};
    int w = 0, h = 0;
    double t0 = clock_mono_s();
    if (kserve_infer(c, b->url, model, req->body, req->body_len, &dets, &w, &h, &a->status,
                     &a->err) != 0) {
        int client = a->status >= 400 && a->status < 500;
        a->out = client ? OUT_CLIENT_ERROR : OUT_FAILED;
        if (client)
            http_response_error(resp, (int)a->status, "%s", a->err.msg);
        det_list_free(&dets);
        return;
    }
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    if (root && wire_dets_to_cjson(&dets, root, &a->err) == 0) {
        cJSON_AddStringToObject(root, "model", model);
        cJSON_AddNumberToObject(root, "width", w);
        cJSON_AddNumberToObject(root, "height", h);
        cJSON_AddNumberToObject(root, "infer_ms", (clock_mono_s() - t0) * 1000.0);
        text = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(root);
    det_list_free(&dets);
    a->status = 200;
    a->out = OUT_OK;
    if (!text || http_response_take_body(resp, text, strlen(text), "application/json") != 0)
        a->out = OUT_FAILED, a->status = 500;
}

static void forward_once(gateway *g, int i, const struct http_request *req,
                         const struct wire_frame_meta *meta, struct http_response *resp,
                         struct attempt *a)
{
    struct backend *b = &g->b[i];
    memset(a, 0, sizeof *a);
    double t0 = clock_mono_s();
    http_client *c = client_get(g, b, &a->err);
    if (!c) {
        a->out = OUT_FAILED;
    } else {
        if (b->kind == GATEWAY_BACKEND_KSERVE)
            forward_kserve(g, b, c, req, meta, resp, a);
        else
            forward_edgecam(g, b, c, req, meta, resp, a);
        client_put(g, b, c);
    }
    if (a->out != OUT_FAILED)
        http_response_add_header(resp, "X-Edgecam-Backend", b->name);
    finish_on_backend(g, i, a->out, a->status, (clock_mono_s() - t0) * 1000.0, a->err.msg);
}

/* Admission: a slot or a 503 at once. */
static int admit(gateway *g)
{
    pthread_mutex_lock(&g->lock);
    int ok = g->in_flight < g->o.queue_size;
    if (ok)
        g->in_flight++, g->requests++;
    else
        g->rejected++;
    int now = g->in_flight;
    pthread_mutex_unlock(&g->lock);
    metric_inc(g->m_requests);
    if (ok)
        metric_set(g->m_in_flight, now);
    else
        metric_inc(g->m_rejected);
    return ok;
}

static void release(gateway *g, int failed)
{
    pthread_mutex_lock(&g->lock);
    int now = --g->in_flight;
    g->failed += failed != 0;
    pthread_mutex_unlock(&g->lock);
    metric_set(g->m_in_flight, now);
}

static int handle_infer(const struct http_request *req, struct http_response *resp, void *user)
{
    gateway *g = user;
    struct wire_frame_meta meta;
    ec_err err = {0};
    int status;
    if (wire_frame_request(req, &meta, &status, &err) != 0)
        return http_response_error(resp, status, "%s", err.msg);
    if (!admit(g))
        return http_response_error(resp, 503, "gateway saturated: %d requests in flight "
                                              "(gateway.queue_size)", g->o.queue_size);
    int tried[GATEWAY_MAX_BACKENDS] = {0};
    struct attempt a = {.out = OUT_FAILED};
    int last = -1, attempts = g->o.retry ? 2 : 1;
    for (int k = 0; k < attempts; k++) {
        int i = pick_backend(g, meta.model, tried, k > 0);
        if (i < 0)
            break;
        if (k > 0) {
            pthread_mutex_lock(&g->lock);
            g->retries++;
            pthread_mutex_unlock(&g->lock);
            metric_inc(g->m_retries);
            log_info("gateway: retrying %s/%lld on %s after %s", meta.edge, (long long)meta.frame,
                     g->b[i].name, a.err.msg);
        }
        tried[i] = 1;
        last = i;
        forward_once(g, i, req, &meta, resp, &a);
        if (a.out != OUT_FAILED)
            break;
    }
    release(g, a.out == OUT_FAILED);
    if (a.out != OUT_FAILED)
        return 0;
    if (last < 0)
        return http_response_error(resp, 503, "no healthy backend (all %d ejected)", g->nb);
    /* Full everywhere is a 503 the edge may retry; anything else is a bad gateway. */
    return http_response_error(resp, a.status == 503 ? 503 : 502, "backend %s failed: %s",
                               g->b[last].name, a.err.msg);
}

/* ------------------------------------------------------------------ status routes */

static int send_json(struct http_response *resp, cJSON *root)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return http_response_error(resp, 500, "out of memory"), -1;
    return http_response_take_body(resp, text, strlen(text), "application/json");
}

static const char *kind_name(enum gateway_backend_kind k)
{
    return k == GATEWAY_BACKEND_KSERVE ? "kserve" : "edgecam";
}

static int handle_status(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    gateway *g = user;
    struct gateway_stats st;
    gateway_stats(g, &st);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "role", "gateway");
    cJSON_AddStringToObject(root, "dispatch", gateway_dispatch_name(g->o.dispatch));
    cJSON_AddNumberToObject(root, "in_flight", st.in_flight);
    cJSON_AddNumberToObject(root, "capacity", st.capacity);
    cJSON_AddNumberToObject(root, "requests", (double)st.requests);
    cJSON_AddNumberToObject(root, "rejected", (double)st.rejected);
    cJSON_AddNumberToObject(root, "retries", (double)st.retries);
    cJSON_AddNumberToObject(root, "failed", (double)st.failed);
    cJSON_AddNumberToObject(root, "uptime_s", clock_mono_s() - g->started_s);
    cJSON *arr = cJSON_AddArrayToObject(root, "backends");
    for (int i = 0; i < g->nb; i++) {
        struct gateway_backend_status bs;
        gateway_backend_status(g, i, &bs);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", bs.name);
        cJSON_AddStringToObject(o, "url", g->b[i].url);
        cJSON_AddStringToObject(o, "kind", kind_name(bs.kind));
        cJSON_AddBoolToObject(o, "healthy", bs.healthy);
        cJSON_AddBoolToObject(o, "ejected", bs.ejected);
        cJSON_AddNumberToObject(o, "in_flight", bs.in_flight);
        cJSON_AddNumberToObject(o, "pending", bs.pending);
        cJSON_AddNumberToObject(o, "workers", bs.workers);
        cJSON_AddNumberToObject(o, "cpu_percent", bs.cpu_percent);
        cJSON_AddNumberToObject(o, "latency_ewma_ms", bs.latency_ewma_ms);
        cJSON_AddNumberToObject(o, "rtt_ewma_ms", bs.rtt_ewma_ms);
        cJSON_AddNumberToObject(o, "requests", (double)bs.requests);
        cJSON_AddNumberToObject(o, "failures", (double)bs.failures);
        cJSON_AddNumberToObject(o, "consecutive_failures", bs.consecutive_failures);
        cJSON_AddItemToArray(arr, o);
    }
    return send_json(resp, root);
}

static int handle_queue(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    gateway *g = user;
    pthread_mutex_lock(&g->lock);
    int pending = 0;
    for (int i = 0; i < g->nb; i++)
        pending += g->b[i].ejected ? 0 : g->b[i].pending;
    int in_flight = g->in_flight;
    pthread_mutex_unlock(&g->lock);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "pending", pending);
    cJSON_AddNumberToObject(root, "capacity", g->o.queue_size);
    cJSON_AddNumberToObject(root, "in_flight", in_flight);
    return send_json(resp, root);
}

static int handle_health(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    gateway *g = user;
    int admitted = 0;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->nb; i++)
        admitted += !g->b[i].ejected;
    pthread_mutex_unlock(&g->lock);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "ok", admitted > 0);
    cJSON_AddStringToObject(root, "role", "gateway");
    cJSON_AddNumberToObject(root, "uptime_s", clock_mono_s() - g->started_s);
    cJSON_AddNumberToObject(root, "backends_admitted", admitted);
    cJSON_AddNumberToObject(root, "backends", g->nb);
    int rc = send_json(resp, root);
    if (admitted == 0)
        resp->status = 503;
    return rc;
}

/* ------------------------------------------------------------------ monitor */

struct poll_result {
    int ok, workers, pending, nmodels;
    double cpu;
    struct { char name[GATEWAY_NAME_MAX]; double latency_ms; } models[8];
    ec_err err;
};

static void poll_edgecam(gateway *g, const struct backend *b, struct poll_result *p)
{
    char url[URL_MAX + 16];
    snprintf(url, sizeof url, "%s/v1/status", b->url);
    struct http_client_result res;
    if (http_client_request(g->poll_client, "GET", url, NULL, NULL, 0, NULL, &res, &p->err) != 0)
        return;
    cJSON *root = cJSON_ParseWithLength((const char *)res.body, res.body_len);
    const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(root, "cpu_percent");
    const cJSON *workers = cJSON_GetObjectItemCaseSensitive(root, "workers");
    const cJSON *pending = cJSON_GetObjectItemCaseSensitive(root, "pending");
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
    if (!cJSON_IsNumber(cpu) || !cJSON_IsNumber(workers) || !cJSON_IsNumber(pending)) {
        ec_err_set(&p->err, EC_EFORMAT, "%s: not a backend status", url);
        cJSON_Delete(root);
        return;
    }
    p->ok = 1;
    p->cpu = cpu->valuedouble >= 0 ? cpu->valuedouble : 0;
    p->workers = workers->valueint;
    p->pending = pending->valueint;
    const cJSON *m;
    cJSON_ArrayForEach(m, models) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(m, "latency_ewma_ms");
        if (p->nmodels < 8 && cJSON_IsString(name) && cJSON_IsNumber(lat)) {
            snprintf(p->models[p->nmodels].name, GATEWAY_NAME_MAX, "%s", name->valuestring);
            p->models[p->nmodels++].latency_ms = lat->valuedouble;
        }
    }
    cJSON_Delete(root);
}

static void poll_backend(gateway *g, int i)
{
    struct backend *b = &g->b[i];
    struct poll_result p;
    memset(&p, 0, sizeof p);
    if (b->kind == GATEWAY_BACKEND_KSERVE)
        p.ok = kserve_ready(g->poll_client, b->url, g->default_model, &p.err) == 0;
    else
        poll_edgecam(g, b, &p);
    pthread_mutex_lock(&g->lock);
    int was_ejected = b->ejected, was_healthy = b->healthy;
    b->polls++;
    b->healthy = p.ok;
    b->ejected = !p.ok;
    if (p.ok) {
        b->consecutive_failures = 0;
        if (b->kind == GATEWAY_BACKEND_EDGECAM) {
            b->cpu_percent = p.cpu;
            b->workers = p.workers;
            b->pending = p.pending;
            b->nmodels = p.nmodels;
            memcpy(b->models, p.models, sizeof b->models);
        }
    }
    pthread_mutex_unlock(&g->lock);
    metric_set(b->m_up, p.ok);
    if (p.ok && was_ejected)
        log_info("gateway: backend %s healthy again, readmitted", b->name);
    else if (!p.ok && (was_healthy || !was_ejected))
        log_warn("gateway: backend %s failed its health poll, ejected: %s", b->name, p.err.msg);
}

static void *monitor_main(void *arg)
{
    gateway *g = arg;
    /* gateway_start has just polled: wait first. */
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        struct timespec until = clock_deadline_ms((int64_t)(g->o.monitor_interval_s * 1000.0));
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
        if (g->stopping)
            break;
        pthread_mutex_unlock(&g->lock);
        for (int i = 0; i < g->nb; i++)
            poll_backend(g, i);
        pthread_mutex_lock(&g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

/* ------------------------------------------------------------------ lifecycle */

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static int init_backend(gateway *g, int i, const struct gateway_backend_spec *s, ec_err *err)
{
    struct backend *b = &g->b[i];
    if (!s->name || !*s->name || strlen(s->name) >= GATEWAY_NAME_MAX)
        return ec_err_set(err, EC_EINVAL, "backend %d: name must be 1..%d characters", i,
                          GATEWAY_NAME_MAX - 1);
    if (!s->url || (strncmp(s->url, "http://", 7) && strncmp(s->url, "https://", 8)) ||
        strlen(s->url) >= URL_MAX)
        return ec_err_set(err, EC_EINVAL, "backend %s: url must be http(s)://... (got '%s')",
                          s->name, s->url ? s->url : "");
    copy_str(b->name, sizeof b->name, s->name);
    copy_str(b->url, sizeof b->url, s->url);
    size_t n = strlen(b->url);
    while (n > 0 && b->url[n - 1] == '/')
        b->url[--n] = '\0';
    b->kind = s->kind;
    b->healthy = 1; /* until the first poll says otherwise */
    b->workers = 1;
    char labels[GATEWAY_NAME_MAX + 16];
    snprintf(labels, sizeof labels, "backend=\"%s\"", b->name);
    b->m_requests = metrics_counter(g->m, "edgecam_gateway_backend_requests_total", labels,
                                    "Requests a backend answered (2xx and 4xx).");
    b->m_failures = metrics_counter(g->m, "edgecam_gateway_backend_failures_total", labels,
                                    "Connection failures and 5xx answers of a backend.");
    b->m_up = metrics_gauge(g->m, "edgecam_gateway_backend_up", labels,
                            "1 while the backend is admitted, 0 while ejected.");
    b->m_seconds = metrics_histogram(g->m, "edgecam_gateway_backend_request_seconds", labels,
                                     "Forwarding round trip of answered requests, by backend.",
                                     NULL, 0);
    if (!b->m_requests || !b->m_failures || !b->m_up || !b->m_seconds)
        return ec_err_set(err, EC_EINVAL, "backend %s: name not usable as a metric label", b->name);
    metric_set(b->m_up, 1);
    return 0;
}

gateway *gateway_create(const struct gateway_opts *o, ec_err *err)
{
    if (!o || o->nbackends < 1 || o->nbackends > GATEWAY_MAX_BACKENDS || !o->backends) {
        ec_err_set(err, EC_EINVAL, "gateway needs 1..%d backends", GATEWAY_MAX_BACKENDS);
        return NULL;
    }
    if ((unsigned)o->dispatch > GATEWAY_LOWEST_LATENCY) {
        ec_err_set(err, EC_EINVAL, "unknown dispatch policy %d", (int)o->dispatch);
        return NULL;
    }
    gateway *g = calloc(1, sizeof *g);
    if (!g) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    g->o = *o;
    g->o.backends = NULL;
    if (g->o.monitor_interval_s <= 0)
        g->o.monitor_interval_s = 1.0;
    if (g->o.queue_size <= 0)
        g->o.queue_size = 64;
    if (g->o.eject_after <= 0)
        g->o.eject_after = 3;
    if (g->o.connect_timeout_ms <= 0)
        g->o.connect_timeout_ms = 1000;
    if (g->o.request_timeout_ms <= 0)
        g->o.request_timeout_ms = 30000;
    copy_str(g->bind_addr, sizeof g->bind_addr, o->bind_addr ? o->bind_addr : "127.0.0.1");
    copy_str(g->default_model, sizeof g->default_model, o->default_model ? o->default_model : "default");
    copy_str(g->token, sizeof g->token, o->bearer_token);
    copy_str(g->tls_cert, sizeof g->tls_cert, o->tls_cert_file);
    copy_str(g->tls_key, sizeof g->tls_key, o->tls_key_file);
    copy_str(g->tls_ca, sizeof g->tls_ca, o->tls_ca_file);
    g->rng = o->seed ? o->seed : 0x9e3779b97f4a7c15ull;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    g->started_s = clock_mono_s();
    g->m = o->metrics;
    if (!g->m)
        g->m = g->own_metrics = metrics_create();
    g->m_rejected = metrics_counter(g->m, "edgecam_gateway_rejected_total", NULL,
                                    "Requests answered 503 because the gateway was saturated.");
    g->m_retries = metrics_counter(g->m, "edgecam_gateway_retries_total", NULL,
                                   "Requests retried on another backend.");
    g->m_in_flight = metrics_gauge(g->m, "edgecam_gateway_in_flight", NULL,
                                   "Requests the gateway is forwarding now.");
    g->m_requests = metrics_counter(g->m, "edgecam_gateway_requests_total", NULL,
                                    "Inference requests received (admitted or rejected).");
    metric_set(metrics_gauge(g->m, "edgecam_gateway_queue_capacity", NULL,
                             "Requests forwarded at once; more get 503 (gateway.queue_size)."),
               g->o.queue_size);
    if (!g->m || !g->m_rejected || !g->m_retries || !g->m_in_flight || !g->m_requests) {
        ec_err_set(err, EC_ENOMEM, "gateway metrics");
        gateway_destroy(g);
        return NULL;
    }
    for (int i = 0; i < o->nbackends; i++, g->nb++)
        if (init_backend(g, i, &o->backends[i], err) != 0) {
            gateway_destroy(g);
            return NULL;
        }
    struct http_client_config pc = {.connect_timeout_ms = g->o.connect_timeout_ms,
                                    .timeout_ms = 2000 + (long)(g->o.monitor_interval_s * 1000),
                                    .max_response_bytes = 1u << 20,
                                    .bearer_token = g->token[0] ? g->token : NULL,
                                    .ca_file = g->tls_ca[0] ? g->tls_ca : NULL};
    g->poll_client = http_client_create(&pc, err);
    if (!g->poll_client) {
        gateway_destroy(g);
        return NULL;
    }
    return g;
}

int gateway_start(gateway *g, ec_err *err)
{
    unsigned maxconn = (unsigned)g->o.queue_size + 64;
    struct http_server_config sc = {.bind_addr = g->bind_addr, .port = g->o.port,
                                    .thread_per_connection = 1,
                                    .max_body_bytes = g->o.max_body_bytes,
                                    .max_connections = maxconn < 256 ? 256 : maxconn,
                                    .bearer_token = g->token[0] ? g->token : NULL,
                                    .tls_cert_file = g->tls_cert[0] ? g->tls_cert : NULL,
                                    .tls_key_file = g->tls_key[0] ? g->tls_key : NULL,
                                    .metrics = g->m};
    g->srv = http_server_create(&sc, err);
    if (!g->srv ||
        http_server_route(g->srv, "POST", "/v1/infer", 0, handle_infer, g, err) != 0 ||
        http_server_route(g->srv, "GET", "/v1/queue", 0, handle_queue, g, err) != 0 ||
        http_server_route(g->srv, "GET", "/v1/status", 0, handle_status, g, err) != 0 ||
        http_server_route(g->srv, "GET", "/v1/health", HTTP_ROUTE_PUBLIC, handle_health, g, err) != 0 ||
        http_server_route(g->srv, "GET", "/metrics", HTTP_ROUTE_PUBLIC, metrics_http_handler, g->m, err) != 0) {
        http_server_destroy(g->srv);
        g->srv = NULL;
        return -1;
    }
    /* Know the backends before the first request. */
    for (int i = 0; i < g->nb; i++)
        poll_backend(g, i);
    if (http_server_start(g->srv, err) != 0) {
        http_server_destroy(g->srv);
        g->srv = NULL;
        return ec_err_wrap(err, "gateway");
    }
    if (pthread_create(&g->monitor, NULL, monitor_main, g) != 0) {
        http_server_destroy(g->srv);
        g->srv = NULL;
        return ec_err_set(err, EC_ENOMEM, "cannot start the monitor thread");
    }
    g->monitor_running = 1;
    log_info("gateway: listening on %s:%u, %d backends, dispatch %s", g->bind_addr,
             http_server_port(g->srv), g->nb, gateway_dispatch_name(g->o.dispatch));
    return 0;
}

uint16_t gateway_port(const gateway *g) { return g->srv ? http_server_port(g->srv) : 0; }

void gateway_stop(gateway *g)
{
    if (!g)
        return;
    http_server_destroy(g->srv);
    g->srv = NULL;
    if (g->monitor_running) {
        pthread_mutex_lock(&g->lock);
        g->stopping = 1;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->monitor, NULL);
        g->monitor_running = 0;
    }
}

void gateway_destroy(gateway *g)
{
    if (!g)
        return;
    gateway_stop(g);
    for (int i = 0; i < g->nb; i++) {
        for (int k = 0; k < g->b[i].nidle; k++)
            http_client_destroy(g->b[i].idle[k]);
        free(g->b[i].idle);
    }
    http_client_destroy(g->poll_client);
    metrics_destroy(g->own_metrics);
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->wake);
    free(g);
}

int gateway_backend_count(const gateway *g) { return g->nb; }

int gateway_backend_status(gateway *g, int i, struct gateway_backend_status *out)
{
    memset(out, 0, sizeof *out);
    if (i < 0 || i >= g->nb)
        return -1;
    const struct backend *b = &g->b[i];
    pthread_mutex_lock(&g->lock);
    copy_str(out->name, sizeof out->name, b->name);
    out->kind = b->kind;
    out->healthy = b->healthy;
    out->ejected = b->ejected;
    out->in_flight = b->in_flight;
    out->workers = b->workers;
    out->pending = b->pending;
    out->cpu_percent = b->cpu_percent;
    out->latency_ewma_ms = model_latency(b, "");
    out->rtt_ewma_ms = b->rtt_ewma_ms;
    out->requests = b->requests;
    out->failures = b->failures;
    out->consecutive_failures = b->consecutive_failures;
    out->polls = b->polls;
    pthread_mutex_unlock(&g->lock);
    return 0;
}

void gateway_stats(gateway *g, struct gateway_stats *out)
{
    pthread_mutex_lock(&g->lock);
    out->in_flight = g->in_flight;
    out->capacity = g->o.queue_size;
    out->requests = g->requests;
    out->rejected = g->rejected;
    out->retries = g->retries;
    out->failed = g->failed;
    pthread_mutex_unlock(&g->lock);
}
