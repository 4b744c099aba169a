#include "edge/edge.h"

#include "core/bqueue.h"
#include "core/clock.h"
#include "core/log.h"
#include "edge/recorder.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_QUEUE 4096
/* Decoded frames between the reader thread (decode, sample) and the dispatch thread (colour
 * conversion, filter, decision): decoding overlaps the rest; a full queue blocks the
 * reader, as a serial loop would, so no frame is dropped here. */
#define READ_AHEAD 4

struct task {
    struct frame f;
    uint64_t enqueued_ns;
};

struct edge_pipeline {
    struct edge_pipeline_opts o;
    char edge_id[STORE_NAME_MAX];
    source *src;
    filter *flt;
    bqueue *sched;
    recorder *rec;
    pthread_t *workers;
    int nworkers;
    atomic_int stopping;
    atomic_llong frames_read, key_frames, queue_full;
    int ran;
};

void edge_pipeline_opts_init(struct edge_pipeline_opts *o)
{
    memset(o, 0, sizeof *o);
    o->edge_id = "edge-1";
    source_opts_init(&o->source);
    filter_opts_default(&o->filter);
    o->queue_size = 16;
    o->workers = 1;
    o->wait_thresh_s = 10.0;
}

static void record(edge_pipeline *p, const struct frame *f, enum frame_outcome outcome,
                   int64_t ref_index, const struct edge_infer_result *res)
{
    int64_t now = clock_wall_ms();
    struct frame_record r = {
        .edge_id = p->edge_id,
        .frame_index = f->index,
        .start_ms = f->capture_ms,
        .end_ms = now > f->capture_ms ? now : f->capture_ms,
        .where = res ? res->where : "none",
        .bytes_sent = res ? res->bytes_sent : 0,
        .outcome = outcome,
        .ref_index = ref_index,
        .model_version = res ? res->model_version : 0,
        .dets = res ? res->dets.v : NULL,
        .ndet = res ? res->dets.n : 0,
    };
    r.latency_ms = (double)(r.end_ms - r.start_ms);
    if (recorder_submit(p->rec, &r) != 0)
        log_error("edge %s: frame %lld: outcome not queued for the store", p->edge_id,
                  (long long)f->index);
}

static void run_task(edge_pipeline *p, struct task *t, struct edge_infer_result *res)
{
    if (atomic_load(&p->stopping)) {
        record(p, &t->f, OUTCOME_DROPPED, -1, NULL);
        return;
    }
    double waited = (double)(clock_mono_ns() - t->enqueued_ns) / 1e9;
    if (p->o.wait_thresh_s > 0 && waited > p->o.wait_thresh_s) {
        record(p, &t->f, OUTCOME_TIMEOUT, -1, NULL);
        return;
    }
    det_list_clear(&res->dets);
    snprintf(res->where, sizeof res->where, "local");
    res->bytes_sent = 0;
    res->model_version = 0;
    ec_err err = {0};
    if (p->o.infer(p->o.infer_ctx, &t->f, res, &err) != 0) {
        log_warn("edge %s: frame %lld: inference failed: %s", p->edge_id,
                 (long long)t->f.index, err.msg);
        record(p, &t->f, OUTCOME_TIMEOUT, -1, NULL);
        return;
    }
    if (p->o.on_finished)
        p->o.on_finished(p->o.on_finished_ctx, &t->f, res);
    record(p, &t->f, OUTCOME_FINISHED, -1, res);
}

static void *worker_main(void *arg)
{
    edge_pipeline *p = arg;
    struct edge_infer_result res = {0};
    struct task *t;
    while ((t = bqueue_pop(p->sched, -1)) != NULL) {
        run_task(p, t, &res);
        frame_release(&t->f);
        free(t);
    }
    det_list_free(&res.dets);
    return NULL;
}

edge_pipeline *edge_pipeline_create(const struct edge_pipeline_opts *o, ec_err *err)
{
    if (!o->edge_id || !o->edge_id[0] || strlen(o->edge_id) >= STORE_NAME_MAX)
        return ec_err_set(err, EC_EINVAL, "edge id must be 1..%d bytes", STORE_NAME_MAX - 1),
               NULL;
    if (o->queue_size < 1 || o->workers < 1 || !o->store || !o->infer) {
        ec_err_set(err, EC_EINVAL, "edge pipeline needs queue_size >= 1, workers >= 1, a store "
                                   "and an inference function");
        return NULL;
    }
    edge_pipeline *p = calloc(1, sizeof *p);
    if (!p) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    p->o = *o;
    snprintf(p->edge_id, sizeof p->edge_id, "%s", o->edge_id);
    p->o.edge_id = p->edge_id;
    struct source_opts so = o->source;
    so.defer_rgb = 1; /* converted by the dispatch thread: decoding overlaps it */
    if (!(p->flt = filter_create(&o->filter, err)) || !(p->src = source_open(&so, err))) {
        edge_pipeline_destroy(p);
        return NULL;
    }
    p->sched = bqueue_create((size_t)o->queue_size);
    p->workers = calloc((size_t)o->workers, sizeof *p->workers);
    p->rec = recorder_create(o->store, p->edge_id, RECORD_QUEUE);
    if (!p->sched || !p->workers || !p->rec) {
        edge_pipeline_destroy(p);
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    return p;
}

/* Decides one frame from the source: Ref, Dropped, or queued as a key frame. */
static void dispatch_frame(edge_pipeline *p, struct frame *f, int64_t *last_key)
{
    atomic_fetch_add(&p->frames_read, 1);
    if (f->sampled && source_frame_rgb(p->src, f, NULL) != 0) /* unsampled now: Ref or Dropped */
        log_warn("edge %s: frame %lld: bad decoded picture", p->edge_id, (long long)f->index);
    int key = f->sampled && filter_push(p->flt, f->img, NULL) == FILTER_KEY;
    if (!key) {
        if (*last_key >= 0)
            record(p, f, OUTCOME_REF, *last_key, NULL);
        else /* nothing analysed yet to answer it with */
            record(p, f, OUTCOME_DROPPED, -1, NULL);
        frame_release(f);
        return;
    }
    *last_key = f->index;
    atomic_fetch_add(&p->key_frames, 1);
    struct task *t = malloc(sizeof *t);
    if (t) {
        t->f = *f;
        t->enqueued_ns = clock_mono_ns();
        if (bqueue_try_push(p->sched, t) == 0)
            return;
        free(t);
    }
    atomic_fetch_add(&p->queue_full, 1);
    record(p, f, OUTCOME_DROPPED, -1, NULL);
    frame_release(f);
}

struct reader {
    edge_pipeline *p;
    bqueue *frames;
    int rc; /* 0: end of video or stopped; -1: the source failed (err) */
    ec_err err;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    edge_pipeline *p = r->p;
    for (int64_t n = 0; !atomic_load(&p->stopping) && (p->o.max_frames <= 0 || n < p->o.max_frames);
         n++) {
        struct frame *f = malloc(sizeof *f);
        if (!f) {
            r->rc = ec_err_set(&r->err, EC_ENOMEM, "out of memory reading a frame");
            break;
        }
        int got = source_read(p->src, f, &r->err);
        if (got == 1 && bqueue_push(r->frames, f, -1) == 0)
            continue;
        if (got == 1) /* cannot happen: only this thread closes the queue */
            frame_release(f);
        free(f);
        if (got < 0 && !atomic_load(&p->stopping))
            r->rc = -1;
        break;
    }
    bqueue_close(r->frames);
    return NULL;
}

/* The dispatch side: every frame the reader produced gets an outcome, also after a stop. */
static int dispatch_all(edge_pipeline *p, ec_err *err)
{
    struct reader r = {.p = p, .frames = bqueue_create(READ_AHEAD)};
    pthread_t th;
    if (!r.frames || pthread_create(&th, NULL, reader_main, &r) != 0) {
        bqueue_destroy(r.frames);
        return ec_err_set(err, EC_ENOMEM, "cannot start the frame reader");
    }
    int64_t last_key = -1;
    struct frame *f;
    while ((f = bqueue_pop(r.frames, -1)) != NULL) {
        dispatch_frame(p, f, &last_key);
        free(f);
    }
    pthread_join(th, NULL);
    bqueue_destroy(r.frames);
    if (r.rc != 0 && err)
        *err = r.err;
    return r.rc;
}

int edge_pipeline_run(edge_pipeline *p, ec_err *err)
{
    if (p->ran)
        return ec_err_set(err, EC_EINVAL, "edge pipeline already ran");
    p->ran = 1;
    for (; p->nworkers < p->o.workers; p->nworkers++)
        if (pthread_create(&p->workers[p->nworkers], NULL, worker_main, p) != 0)
            break;
    int rc = 0;
    if (p->nworkers == 0)
        rc = ec_err_set(err, EC_ENOMEM, "cannot start inference workers");
    if (rc == 0)
        rc = dispatch_all(p, err); /* on a source failure: drains and records what was read */
    bqueue_close(p->sched);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i], NULL);
    struct task *t; /* only left when no worker could start */
    while ((t = bqueue_pop(p->sched, 0)) != NULL) {
        record(p, &t->f, OUTCOME_DROPPED, -1, NULL);
        frame_release(&t->f);
        free(t);
    }
    recorder_flush(p->rec);
    return rc;
}

void edge_pipeline_stop(edge_pipeline *p)
{
    atomic_store(&p->stopping, 1);
    source_interrupt(p->src);
    recorder_drain(p->rec); /* a dead store must not hold the stop up forever */
}

void edge_pipeline_stats(edge_pipeline *p, struct edge_pipeline_stats *out)
{
    struct recorder_counts c;
    recorder_counts(p->rec, &c);
    memset(out, 0, sizeof *out);
    out->frames_read = atomic_load(&p->frames_read);
    out->key_frames = atomic_load(&p->key_frames);
    out->queue_full = atomic_load(&p->queue_full);
    memcpy(out->by_outcome, c.by_outcome, sizeof c.by_outcome);
    out->recorded = c.recorded;
    out->record_errors = c.errors;
    out->store_outages = c.outages;
    out->store_waits = c.waits;
}

int edge_pipeline_queue_len(edge_pipeline *p) { return (int)bqueue_len(p->sched); }

void edge_pipeline_destroy(edge_pipeline *p)
{
    if (!p)
        return;
    recorder_destroy(p->rec);
    source_destroy(p->src);
    filter_destroy(p->flt);
    bqueue_destroy(p->sched);
    free(p->workers);
    free(p);
}
