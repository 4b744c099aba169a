#include "edge/recorder.h"

#include "core/bqueue.h"
#include "core/clock.h"
#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 128
#define BATCH_WAIT_MS 50
#define STORE_RETRIES 3

struct record {
    struct frame_record rec;
    char where[64];
    struct det *dets;
};

struct recorder {
    store *store;
    char edge_id[STORE_NAME_MAX];
    bqueue *q;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t written;
    struct recorder_counts counts;
};

static void record_free(struct record *r)
{
    free(r->dets);
    free(r);
}

/* Writes one batch; on failure retries, then falls back to one row at a time so a single
 * bad row cannot take its neighbours with it. Returns rows stored. */
static int write_batch(recorder *r, struct frame_record *recs, int n)
{
    ec_err err = {0};
    for (int attempt = 0; attempt < STORE_RETRIES; attempt++) {
        if (store_put_frames(r->store, recs, n, &err) == 0)
            return n;
        clock_sleep_ns(20000000ull << attempt);
    }
    int ok = 0;
    for (int i = 0; i < n; i++) {
        if (store_put_frames(r->store, &recs[i], 1, &err) == 0)
            ok++;
        else
            log_error("recorder: frame %lld of %s not stored: %s", (long long)recs[i].frame_index,
                      r->edge_id, err.msg);
    }
    return ok;
}

static void *recorder_main(void *arg)
{
    recorder *r = arg;
    struct record *batch[BATCH_MAX];
    struct frame_record recs[BATCH_MAX];
    for (;;) {
        struct record *first = bqueue_pop(r->q, -1);
        if (!first)
            break; /* closed and drained */
        int n = 0;
        batch[n++] = first;
        struct record *next;
        while (n < BATCH_MAX && (next = bqueue_pop(r->q, n < 8 ? BATCH_WAIT_MS : 0)) != NULL)
            batch[n++] = next;
        for (int i = 0; i < n; i++)
            recs[i] = batch[i]->rec;
        int ok = write_batch(r, recs, n);
        pthread_mutex_lock(&r->lock);
        r->counts.recorded += ok;
        r->counts.errors += n - ok;
        pthread_cond_broadcast(&r->written);
        pthread_mutex_unlock(&r->lock);
        for (int i = 0; i < n; i++)
            record_free(batch[i]);
    }
    return NULL;
}

recorder *recorder_create(store *s, const char *edge_id, int capacity)
{
    recorder *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->store = s;
    snprintf(r->edge_id, sizeof r->edge_id, "%s", edge_id);
    r->q = bqueue_create((size_t)(capacity > 0 ? capacity : 1024));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->written, NULL);
    if (!r->q || pthread_create(&r->thread, NULL, recorder_main, r) != 0) {
        bqueue_destroy(r->q);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->written);
        free(r);
        return NULL;
    }
    return r;
}

int recorder_submit(recorder *r, const struct frame_record *rec)
{
    struct record *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->rec = *rec;
    c->rec.edge_id = r->edge_id;
    snprintf(c->where, sizeof c->where, "%s", rec->where ? rec->where : "none");
    c->rec.where = c->where;
    if (rec->ndet > 0) {
        c->dets = malloc((size_t)rec->ndet * sizeof *c->dets);
        if (!c->dets) {
            free(c);
            return -1;
        }
        memcpy(c->dets, rec->dets, (size_t)rec->ndet * sizeof *c->dets);
    }
    c->rec.dets = c->dets;
    enum frame_outcome outcome = rec->outcome;
    if (bqueue_push(r->q, c, -1) != 0) { /* only after destroy began */
        record_free(c);
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    r->counts.by_outcome[outcome]++;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

void recorder_counts(recorder *r, struct recorder_counts *out)
{
    pthread_mutex_lock(&r->lock);
    *out = r->counts;
    pthread_mutex_unlock(&r->lock);
}

static int64_t submitted(const struct recorder_counts *c)
{
    int64_t n = 0;
    for (int i = 0; i < OUTCOME_COUNT; i++)
        n += c->by_outcome[i];
    return n;
}

void recorder_flush(recorder *r)
{
    pthread_mutex_lock(&r->lock);
    while (r->counts.recorded + r->counts.errors < submitted(&r->counts))
        pthread_cond_wait(&r->written, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

void recorder_destroy(recorder *r)
{
    if (!r)
        return;
    bqueue_close(r->q);
    pthread_join(r->thread, NULL);
    bqueue_destroy(r->q);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->written);
    free(r);
}
