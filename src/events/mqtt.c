/* MQTT detection events: a bounded queue of ready JSON payloads drained by one thread that
 * owns the libmosquitto handle (its callbacks run inside mosquitto_loop on that thread). */
#include "events/events.h"

#include "core/clock.h"
#include "core/log.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef EDGECAM_HAVE_MOSQUITTO
#include <mosquitto.h>
#endif

#define TOPIC_MAX 256
#define MAX_INFLIGHT 64 /* events handed to libmosquitto but not yet sent / acknowledged */
#define LOOP_WAIT_MS 50
#define DRAIN_S 1.0

void mqtt_publisher_opts_init(struct mqtt_publisher_opts *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 1883;
    o->topic_prefix = "edgecam";
    o->queue_size = 256;
    o->keepalive_s = 30;
    o->backoff_min_ms = 100;
    o->backoff_max_ms = 5000;
}

static int valid_edge_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= 63 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

#ifndef EDGECAM_HAVE_MOSQUITTO

struct mqtt_publisher {
    int unused;
};

mqtt_publisher *mqtt_publisher_create(const struct mqtt_publisher_opts *o, ec_err *err)
{
    (void)o;
    ec_err_set(err, EC_EUNSUPPORTED, "mqtt: built without MQTT (install libmosquitto-dev and "
                                     "rebuild to publish detection events)");
    return NULL;
}

int mqtt_publisher_publish_detections(mqtt_publisher *p, const char *edge_id, int64_t frame_index,
                                      double t, const struct det_list *dets, ec_err *err)
{
    (void)p, (void)edge_id, (void)frame_index, (void)t, (void)dets, (void)valid_edge_id;
    return ec_err_set(err, EC_EUNSUPPORTED, "mqtt: built without MQTT");
}

void mqtt_publisher_stats(mqtt_publisher *p, struct mqtt_publisher_stats *out)
{
    (void)p;
    memset(out, 0, sizeof *out);
}

int mqtt_publisher_flush(mqtt_publisher *p, int timeout_ms)
{
    (void)p, (void)timeout_ms;
    return -1;
}

void mqtt_publisher_destroy(mqtt_publisher *p) { free(p); }

#else

struct event {
    char topic[TOPIC_MAX];
    char *payload;
    size_t len;
};

struct mqtt_publisher {
    struct mqtt_publisher_opts o;
    char host[256], prefix[128], user[128], pass[256], client_id[64];
    struct mosquitto *mosq;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* new event or stop, for the thread */
    pthread_cond_t drained; /* queue emptied / acknowledged, for flush */
    struct event *ring;
    int cap, head, len;
    int stopping, connected, outstanding;
    struct mqtt_publisher_stats st;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) { mosquitto_lib_init(); }

/* ---- payload ---- */

static int keep_det(const mqtt_publisher *p, const struct det *d)
{
    if (!(d->score >= p->o.min_score) || !isfinite(d->x1) || !isfinite(d->y1) ||
        !isfinite(d->x2) || !isfinite(d->y2))
        return 0;
    if (p->o.nclasses <= 0)
        return 1;
    for (int i = 0; i < p->o.nclasses; i++)
        if (p->o.classes[i] == d->cls)
            return 1;
    return 0;
}

/* The JSON event (malloc'd), or NULL when no detection is left and empty frames are not
 * published (*kept = 0). */
static char *build_payload(const mqtt_publisher *p, const char *edge_id, int64_t frame, double t,
                           const struct det_list *dets, size_t *len, int *kept)
{
    int n = dets ? dets->n : 0;
    size_t cap = 192 + (size_t)n * 128, used;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    used = (size_t)snprintf(buf, cap, "{\"edge\":\"%s\",\"frame\":%lld,\"t\":%.3f,\"detections\":[",
                            edge_id, (long long)frame, isfinite(t) ? t : 0.0);
    *kept = 0;
    for (int i = 0; i < n; i++) {
        const struct det *d = &dets->v[i];
        if (!keep_det(p, d))
            continue;
        used += (size_t)snprintf(buf + used, cap - used,
                                 "%s{\"class\":%d,\"score\":%.4f,\"box\":[%.1f,%.1f,%.1f,%.1f]}",
                                 *kept ? "," : "", d->cls, d->score, d->x1, d->y1, d->x2 - d->x1,
                                 d->y2 - d->y1);
        (*kept)++;
    }
    used += (size_t)snprintf(buf + used, cap - used, "]}");
    if (used >= cap || (*kept == 0 && !p->o.publish_empty)) {
        free(buf);
        return NULL;
    }
    *len = used;
    return buf;
}

int mqtt_publisher_publish_detections(mqtt_publisher *p, const char *edge_id, int64_t frame_index,
                                      double t, const struct det_list *dets, ec_err *err)
{
    if (!valid_edge_id(edge_id))
        return ec_err_set(err, EC_EINVAL, "mqtt: edge id must be 1..63 of [A-Za-z0-9._-]");
    pthread_mutex_lock(&p->lock);
    int full = p->len == p->cap || p->stopping;
    if (full) /* the broker is slow or away: do not even format it */
        p->st.dropped++;
    pthread_mutex_unlock(&p->lock);
    if (full)
        return ec_err_set(err, EC_EFULL, "mqtt: event dropped (queue full)");
    size_t len = 0;
    int kept = 0;
    char *payload = build_payload(p, edge_id, frame_index, t, dets, &len, &kept);
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    if (!payload && kept == 0 && !p->o.publish_empty) {
        p->st.filtered++;
    } else if (!payload || p->len == p->cap || p->stopping) {
        p->st.dropped++;
        rc = ec_err_set(err, payload ? EC_EFULL : EC_ENOMEM, "mqtt: event dropped (%s)",
                        payload ? "queue full" : "out of memory");
        free(payload);
    } else {
        struct event *e = &p->ring[(p->head + p->len++) % p->cap];
        snprintf(e->topic, sizeof e->topic, "%s/%s/detections", p->prefix, edge_id);
        e->payload = payload;
        e->len = len;
        p->st.queued++;
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* ---- the network thread ---- */

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    mqtt_publisher *p = obj;
    pthread_mutex_lock(&p->lock);
    p->connected = rc == 0;
    p->st.connects += rc == 0;
    pthread_mutex_unlock(&p->lock);
    if (rc == 0)
        log_info("mqtt: connected to %s:%d", p->host, p->o.port);
    else
        log_warn("mqtt: broker %s:%d refused the connection: %s", p->host, p->o.port,
                 mosquitto_connack_string(rc));
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    (void)m, (void)rc;
    mqtt_publisher *p = obj;
    pthread_mutex_lock(&p->lock);
    p->connected = 0;
    p->outstanding = 0; /* libmosquitto resends or forgets them; stop waiting for acks */
    pthread_cond_broadcast(&p->drained);
    pthread_mutex_unlock(&p->lock);
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m, (void)mid;
    mqtt_publisher *p = obj;
    pthread_mutex_lock(&p->lock);
    p->st.published++;
    if (p->outstanding > 0)
        p->outstanding--;
    if (p->len == 0 && p->outstanding == 0)
        pthread_cond_broadcast(&p->drained);
    pthread_mutex_unlock(&p->lock);
}

/* Hands queued events to libmosquitto while connected and under the in-flight bound.
 * Returns 1 when more could be sent at once. */
static int send_queued(mqtt_publisher *p)
{
    for (;;) {
        pthread_mutex_lock(&p->lock);
        if (!p->connected || p->len == 0 || p->outstanding >= MAX_INFLIGHT) {
            int more = p->connected && p->len > 0 && p->outstanding < MAX_INFLIGHT;
            pthread_mutex_unlock(&p->lock);
            return more;
        }
        struct event e = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        p->outstanding++;
        pthread_mutex_unlock(&p->lock);
        int rc = mosquitto_publish(p->mosq, NULL, e.topic, (int)e.len, e.payload, p->o.qos, false);
        free(e.payload);
        if (rc != MOSQ_ERR_SUCCESS) {
            pthread_mutex_lock(&p->lock);
            p->st.failed++;
            if (p->outstanding > 0)
                p->outstanding--;
            pthread_mutex_unlock(&p->lock);
            return 0;
        }
    }
}

/* Sleeps until `until` (monotonic s) or a stop. */
static void wait_until(mqtt_publisher *p, double until)
{
    pthread_mutex_lock(&p->lock);
    while (!p->stopping && clock_mono_s() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double left = until - clock_mono_s();
        long ns = (long)((left > 0.05 ? 0.05 : left > 0 ? left : 0) * 1e9);
        ts.tv_nsec += ns;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->wake, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
}

static int is_stopping(mqtt_publisher *p)
{
    pthread_mutex_lock(&p->lock);
    int s = p->stopping;
    pthread_mutex_unlock(&p->lock);
    return s;
}

static void *publisher_main(void *arg)
{
    mqtt_publisher *p = arg;
    int socket_open = 0, ever = 0, warned = 0;
    int backoff_ms = p->o.backoff_min_ms;
    double next_try = 0;
    while (!is_stopping(p)) {
        if (!socket_open) {
            wait_until(p, next_try);
            if (is_stopping(p))
                break;
            int rc = ever ? mosquitto_reconnect_async(p->mosq)
                          : mosquitto_connect_async(p->mosq, p->host, p->o.port, p->o.keepalive_s);
            ever = 1;
            if (rc != MOSQ_ERR_SUCCESS) {
                if (!warned++)
                    log_warn("mqtt: cannot reach broker %s:%d (%s); retrying with backoff",
                             p->host, p->o.port, mosquitto_strerror(rc));
                next_try = clock_mono_s() + backoff_ms / 1000.0;
                backoff_ms = backoff_ms * 2 > p->o.backoff_max_ms ? p->o.backoff_max_ms
                                                                  : backoff_ms * 2;
                continue;
            }
            socket_open = 1;
        }
        int more = send_queued(p);
        int rc = mosquitto_loop(p->mosq, more ? 0 : LOOP_WAIT_MS, 1);
        pthread_mutex_lock(&p->lock);
        int connected = p->connected;
        pthread_mutex_unlock(&p->lock);
        if (connected) {
            backoff_ms = p->o.backoff_min_ms;
            warned = 0;
        }
        if (rc != MOSQ_ERR_SUCCESS) {
            on_disconnect(p->mosq, p, rc);
            if (!warned++)
                log_warn("mqtt: connection to %s:%d lost (%s); reconnecting with backoff",
                         p->host, p->o.port, mosquitto_strerror(rc));
            socket_open = 0;
            next_try = clock_mono_s() + backoff_ms / 1000.0;
            backoff_ms = backoff_ms * 2 > p->o.backoff_max_ms ? p->o.backoff_max_ms : backoff_ms * 2;
        }
    }
    /* Stopping: send what is queued while the broker is there, for a bounded time. */
    double deadline = clock_mono_s() + DRAIN_S;
    while (socket_open && clock_mono_s() < deadline) {
        send_queued(p);
        pthread_mutex_lock(&p->lock);
        int done = !p->connected || (p->len == 0 && p->outstanding == 0);
        pthread_mutex_unlock(&p->lock);
        if (done || mosquitto_loop(p->mosq, 10, 1) != MOSQ_ERR_SUCCESS)
            break;
    }
    if (socket_open) {
        mosquitto_disconnect(p->mosq);
        mosquitto_loop(p->mosq, 10, 1);
    }
    return NULL;
}

/* ---- metrics ---- */

static void collect_metrics(metrics *m, void *ctx)
{
    struct mqtt_publisher_stats s;
    mqtt_publisher_stats(ctx, &s);
    struct { const char *name, *help; int64_t v; } c[] = {
        {"edgecam_mqtt_published_total", "Detection events sent (QoS 0) or acknowledged (QoS 1).",
         s.published},
        {"edgecam_mqtt_dropped_total", "Detection events dropped: event queue full or left at stop.",
         s.dropped},
        {"edgecam_mqtt_filtered_total", "Finished frames not published: no detection passed the "
                                        "filters.", s.filtered},
        {"edgecam_mqtt_publish_failures_total", "Publish calls refused (connection lost).",
         s.failed},
        {"edgecam_mqtt_connects_total", "Successful connections to the broker.", s.connects},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        metric_set(metrics_counter(m, c[i].name, NULL, c[i].help), (double)c[i].v);
    metric_set(metrics_gauge(m, "edgecam_mqtt_queue_length", NULL, "Detection events waiting."),
               s.queue_len);
    metric_set(metrics_gauge(m, "edgecam_mqtt_connected", NULL, "1 while connected to the broker."),
               s.connected);
}

/* ---- lifecycle ---- */

static int copy_opt(char *dst, size_t size, const char *src, const char *def, const char *what,
                    ec_err *err)
{
    src = src && *src ? src : def;
    if (strlen(src) >= size)
        return ec_err_set(err, EC_EINVAL, "mqtt: %s longer than %zu bytes", what, size - 1);
    snprintf(dst, size, "%s", src);
    return 0;
}

static mqtt_publisher *fail_create(mqtt_publisher *p)
{
    if (p->mosq)
        mosquitto_destroy(p->mosq);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->drained);
    free(p->ring);
    free(p);
    return NULL;
}

mqtt_publisher *mqtt_publisher_create(const struct mqtt_publisher_opts *o, ec_err *err)
{
    static atomic_int serial;
    if (o->qos < 0 || o->qos > 1 || o->port < 0 || o->port > 65535 || o->nclasses < 0 ||
        o->nclasses > MQTT_MAX_CLASS_FILTER || o->queue_size < 0) {
        ec_err_set(err, EC_EINVAL, "mqtt: qos must be 0 or 1, port 1..65535, at most %d classes",
                   MQTT_MAX_CLASS_FILTER);
        return NULL;
    }
    mqtt_publisher *p = calloc(1, sizeof *p);
    if (!p) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    p->o = *o;
    p->o.port = o->port ? o->port : 1883;
    p->o.keepalive_s = o->keepalive_s > 0 ? o->keepalive_s : 30;
    p->o.backoff_min_ms = o->backoff_min_ms > 0 ? o->backoff_min_ms : 100;
    p->o.backoff_max_ms = o->backoff_max_ms >= p->o.backoff_min_ms ? o->backoff_max_ms : 5000;
    p->cap = o->queue_size > 0 ? o->queue_size : 256;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->drained, NULL);
    char id[64];
    snprintf(id, sizeof id, "edgecam-%d-%d", (int)getpid(), atomic_fetch_add(&serial, 1));
    if (copy_opt(p->host, sizeof p->host, o->host, "127.0.0.1", "host", err) != 0 ||
        copy_opt(p->prefix, sizeof p->prefix, o->topic_prefix, "edgecam", "topic_prefix", err) ||
        copy_opt(p->user, sizeof p->user, o->username, "", "username", err) != 0 ||
        copy_opt(p->pass, sizeof p->pass, o->password, "", "password", err) != 0 ||
        copy_opt(p->client_id, sizeof p->client_id, o->client_id, id, "client_id", err) != 0)
        return fail_create(p);
    if (strpbrk(p->prefix, "+#")) {
        ec_err_set(err, EC_EINVAL, "mqtt: topic_prefix must not hold '+' or '#'");
        return fail_create(p);
    }
    pthread_once(&lib_once, lib_init);
    if (!(p->ring = calloc((size_t)p->cap, sizeof *p->ring)) ||
        !(p->mosq = mosquitto_new(p->client_id, true, p))) {
        ec_err_set(err, EC_ENOMEM, "mqtt: cannot create the client");
        return fail_create(p);
    }
    mosquitto_connect_callback_set(p->mosq, on_connect);
    mosquitto_publish_callback_set(p->mosq, on_publish);
    if (p->user[0] &&
        mosquitto_username_pw_set(p->mosq, p->user, p->pass[0] ? p->pass : NULL) != MOSQ_ERR_SUCCESS) {
        ec_err_set(err, EC_EINVAL, "mqtt: bad username or password");
        return fail_create(p);
    }
    if (pthread_create(&p->thread, NULL, publisher_main, p) != 0) {
        ec_err_set(err, EC_ENOMEM, "mqtt: cannot start the publisher thread");
        return fail_create(p);
    }
    if (o->metrics && metrics_add_collector(o->metrics, collect_metrics, p) != 0)
        p->o.metrics = NULL; /* events still flow; only their metrics are missing */
    return p;
}

void mqtt_publisher_stats(mqtt_publisher *p, struct mqtt_publisher_stats *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->st;
    out->queue_len = p->len;
    out->connected = p->connected;
    pthread_mutex_unlock(&p->lock);
}

int mqtt_publisher_flush(mqtt_publisher *p, int timeout_ms)
{
    double until = clock_mono_s() + timeout_ms / 1000.0;
    pthread_mutex_lock(&p->lock);
    while ((p->len > 0 || p->outstanding > 0) && clock_mono_s() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->drained, &p->lock, &ts);
    }
    int rc = p->len == 0 && p->outstanding == 0 ? 0 : -1;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void mqtt_publisher_destroy(mqtt_publisher *p)
{
    if (!p)
        return;
    metrics_remove_collector(p->o.metrics, collect_metrics, p);
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    for (; p->len > 0; p->len--, p->head = (p->head + 1) % p->cap) {
        free(p->ring[p->head].payload);
        p->st.dropped++;
    }
    fail_create(p);
}

#endif
