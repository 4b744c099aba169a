/* The inference service core: named models with reference counts (hot swap), bounded
 * admission, per-model latency, process CPU and memory. */
#include "backend/backend.h"

#include "core/clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct model_ref {
    detector *det;
    int version;
    atomic_int refs; /* the slot holds one; each running request one */
};

struct model_slot {
    char name[INFER_NAME_MAX];
    struct model_ref *cur;
    uint64_t requests;
    double ewma_ms;
    metric *m_seconds; /* inference time histogram */
};

struct infer_service {
    struct infer_service_opts o;
    char role[16];
    pthread_mutex_t lock;
    pthread_cond_t slot_free;
    struct model_slot slots[INFER_MAX_MODELS];
    int nslots;
    int in_flight, pending;
    uint64_t rejected;
    double started_s, cpu_last_s, cpu_last_wall;
    char lineage[INFER_NAME_MAX + 64];
    metric *m_queue_seconds;
};

static void ref_release(struct model_ref *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        detector_destroy(r->det);
        free(r);
    }
}

static int valid_name(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len >= INFER_NAME_MAX)
        return 0;
    return strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

static double process_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int64_t process_rss(void)
{
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long size;
        if (fscanf(f, "%ld %ld", &size, &pages) != 2)
            pages = 0;
        fclose(f);
    }
    return (int64_t)pages * sysconf(_SC_PAGESIZE);
}

/* Queue and model state without the CPU sample (a scrape must not shorten the window the
 * gateway's status polls measure CPU over). */
static void service_snapshot(infer_service *s, struct infer_service_status *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->lock);
    out->in_flight = s->in_flight;
    out->pending = s->pending;
    out->workers = s->o.workers;
    out->capacity = s->o.queue_size;
    out->rejected = s->rejected;
    out->nmodels = s->nslots;
    for (int i = 0; i < s->nslots; i++) {
        snprintf(out->models[i].name, sizeof out->models[i].name, "%s", s->slots[i].name);
        out->models[i].version = s->slots[i].cur->version;
        out->models[i].requests = s->slots[i].requests;
    }
    pthread_mutex_unlock(&s->lock);
}

/* Scrape-time copy of the service's state into its registry. */
static void collect_metrics(metrics *m, void *ctx)
{
    infer_service *s = ctx;
    struct infer_service_status st;
    service_snapshot(s, &st);
    char l[256];
    metrics_labels(l, sizeof l, "role", s->role, NULL);
    metric_set(metrics_gauge(m, "edgecam_infer_queue_length", l,
                             "Requests waiting for an inference worker."), st.pending);
    metric_set(metrics_gauge(m, "edgecam_infer_queue_capacity", l,
                             "Requests allowed to wait; more are rejected."), st.capacity);
    metric_set(metrics_gauge(m, "edgecam_infer_in_flight", l, "Inferences running now."),
               st.in_flight);
    metric_set(metrics_gauge(m, "edgecam_infer_workers", l, "Concurrent inference limit."),
               st.workers);
    metric_set(metrics_counter(m, "edgecam_infer_rejected_total", l,
                               "Requests refused at once by the full admission queue (503)."),
               (double)st.rejected);
    for (int i = 0; i < st.nmodels; i++) {
        const char *model = st.models[i].name;
        metrics_labels(l, sizeof l, "role", s->role, "model", model, NULL);
        metric_set(metrics_counter(m, "edgecam_infer_requests_total", l,
                                   "Inferences completed, by model."),
                   (double)st.models[i].requests);
        if (metrics_labels(l, sizeof l, "role", s->role, "model", model, "lineage",
                           i == 0 && s->lineage[0] ? s->lineage : model, NULL) == 0)
            metric_set(metrics_gauge(m, "edgecam_model_version", l,
                                     "Version of the model loaded now; grows with each "
                                     "model installed."),
                       st.models[i].version);
    }
}

infer_service *infer_service_create(const struct infer_service_opts *o, ec_err *err)
{
    if (o->nmodels < 1 || o->nmodels > INFER_MAX_MODELS || o->workers < 1 || o->queue_size < 0) {
        ec_err_set(err, EC_EINVAL, "inference service needs 1..%d models, workers >= 1 and "
                                   "queue_size >= 0", INFER_MAX_MODELS);
        return NULL;
    }
    infer_service *s = calloc(1, sizeof *s);
    if (!s) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    s->o = *o;
    s->o.models = NULL;
    snprintf(s->role, sizeof s->role, "%s", o->role ? o->role : "backend");
    snprintf(s->lineage, sizeof s->lineage, "%s", o->lineage ? o->lineage : "");
    s->o.lineage = NULL;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->slot_free, NULL);
    s->started_s = s->cpu_last_wall = clock_mono_s();
    s->cpu_last_s = process_cpu_s();
    for (int i = 0; i < o->nmodels; i++) {
        const struct infer_model_spec *m = &o->models[i];
        if (!valid_name(m->name)) {
            ec_err_set(err, EC_EINVAL, "model name '%s' must be 1..63 of [A-Za-z0-9._-]",
                       m->name ? m->name : "");
            infer_service_destroy(s);
            return NULL;
        }
        detector *d = detector_load(m->path, err);
        if (!d || infer_service_swap(s, m->name, d, 1, err) != 0) {
            ec_err_wrap(err, "model %s", m->name);
            infer_service_destroy(s);
            return NULL;
        }
    }
    if (o->metrics) {
        char l[64];
        metrics_labels(l, sizeof l, "role", s->role, NULL);
        s->m_queue_seconds = metrics_histogram(o->metrics, "edgecam_infer_queue_seconds", l,
                                               "Time a request waited for a worker.", NULL, 0);
        if (metrics_add_collector(o->metrics, collect_metrics, s) != 0) {
            s->o.metrics = NULL; /* not registered: nothing to remove */
            infer_service_destroy(s);
            ec_err_set(err, EC_EFULL, "metrics registry: too many collectors");
            return NULL;
        }
    }
    return s;
}

static struct model_slot *find_slot(infer_service *s, const char *name)
{
    if (!name || !*name)
        return s->nslots ? &s->slots[0] : NULL;
    for (int i = 0; i < s->nslots; i++)
        if (strcmp(s->slots[i].name, name) == 0)
            return &s->slots[i];
    return NULL;
}

int infer_service_swap(infer_service *s, const char *name, detector *d, int version, ec_err *err)
{
    struct model_ref *r = calloc(1, sizeof *r);
    if (!r || !valid_name(name)) {
        free(r);
        detector_destroy(d);
        return ec_err_set(err, EC_EINVAL, "cannot install model '%s'", name ? name : "");
    }
    r->det = d;
    r->version = version;
    atomic_init(&r->refs, 1);
    pthread_mutex_lock(&s->lock);
    struct model_slot *slot = find_slot(s, name);
    if (!slot && s->nslots < INFER_MAX_MODELS) {
        slot = &s->slots[s->nslots++];
        snprintf(slot->name, sizeof slot->name, "%s", name);
        char l[160];
        metrics_labels(l, sizeof l, "role", s->role, "model", name, NULL);
        slot->m_seconds = metrics_histogram(s->o.metrics, "edgecam_infer_seconds", l,
                                            "Inference time, by model.", NULL, 0);
    }
    struct model_ref *old = NULL;
    if (slot) {
        old = slot->cur;
        slot->cur = r;
    }
    pthread_mutex_unlock(&s->lock);
    if (!slot) {
        ref_release(r);
        return ec_err_set(err, EC_EFULL, "too many models (max %d)", INFER_MAX_MODELS);
    }
    ref_release(old);
    return 0;
}

/* Waits for a worker slot and takes a reference to the model. */
static int service_admit(infer_service *s, const char *model, struct model_ref **ref, int *slot_idx,
                  ec_err *err)
{
    pthread_mutex_lock(&s->lock);
    struct model_slot *slot = find_slot(s, model);
    if (!slot) {
        pthread_mutex_unlock(&s->lock);
        return ec_err_set(err, EC_ENOTFOUND, "unknown model '%s'", model);
    }
    if (s->in_flight >= s->o.workers && s->pending >= s->o.queue_size) {
        s->rejected++;
        pthread_mutex_unlock(&s->lock);
        return ec_err_set(err, EC_EFULL, "queue full (%d waiting)", s->pending);
    }
    s->pending++;
    while (s->in_flight >= s->o.workers)
        pthread_cond_wait(&s->slot_free, &s->lock);
    s->pending--;
    s->in_flight++;
    slot = find_slot(s, model); /* a swap may have happened while waiting */
    *ref = slot->cur;
    atomic_fetch_add(&(*ref)->refs, 1);
    *slot_idx = (int)(slot - s->slots);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void service_release(infer_service *s, struct model_ref *ref, int slot_idx, double infer_ms)
{
    pthread_mutex_lock(&s->lock);
    s->in_flight--;
    struct model_slot *slot = &s->slots[slot_idx];
    slot->ewma_ms = slot->requests ? 0.8 * slot->ewma_ms + 0.2 * infer_ms : infer_ms;
    slot->requests++;
    pthread_cond_signal(&s->slot_free);
    pthread_mutex_unlock(&s->lock);
    ref_release(ref);
}

const char *infer_service_role(const infer_service *s) { return s->role; }

int infer_service_run(infer_service *s, const char *model, const image *rgb, struct det_list *out,
                      struct infer_run_info *info, ec_err *err)
{
    struct model_ref *ref = NULL;
    int idx = 0;
    double t0 = clock_mono_s();
    if (service_admit(s, model, &ref, &idx, err) != 0)
        return -1;
    double t1 = clock_mono_s();
    int rc = detector_run(ref->det, rgb, s->o.score_thresh, out, err);
    double ms = (clock_mono_s() - t1) * 1000.0;
    if (info) {
        info->queue_ms = (t1 - t0) * 1000.0;
        info->infer_ms = ms;
        info->version = ref->version;
        snprintf(info->model, sizeof info->model, "%s", s->slots[idx].name);
    }
    service_release(s, ref, idx, ms);
    metric_observe(s->m_queue_seconds, t1 - t0);
    metric_observe(s->slots[idx].m_seconds, ms / 1000.0);
    return rc;
}


void infer_service_status(infer_service *s, struct infer_service_status *out)
{
    memset(out, 0, sizeof *out);
    double now = clock_mono_s(), cpu = process_cpu_s();
    pthread_mutex_lock(&s->lock);
    out->in_flight = s->in_flight;
    out->pending = s->pending;
    out->workers = s->o.workers;
    out->capacity = s->o.queue_size;
    out->rejected = s->rejected;
    double dt = now - s->cpu_last_wall;
    out->cpu_percent = dt > 0 ? 100.0 * (cpu - s->cpu_last_s) / dt : 0;
    s->cpu_last_s = cpu;
    s->cpu_last_wall = now;
    out->uptime_s = now - s->started_s;
    out->nmodels = s->nslots;
    for (int i = 0; i < s->nslots; i++) {
        struct infer_model_status *m = &out->models[i];
        snprintf(m->name, sizeof m->name, "%s", s->slots[i].name);
        m->version = s->slots[i].cur->version;
        m->requests = s->slots[i].requests;
        m->latency_ewma_ms = s->slots[i].ewma_ms;
    }
    pthread_mutex_unlock(&s->lock);
    out->rss_bytes = process_rss();
}

void infer_service_destroy(infer_service *s)
{
    if (!s)
        return;
    metrics_remove_collector(s->o.metrics, collect_metrics, s);
    for (int i = 0; i < s->nslots; i++)
        ref_release(s->slots[i].cur);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->slot_free);
    free(s);
}
