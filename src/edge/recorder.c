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
#define RETRY_FIRST_MS 50
#define RETRY_MAX_MS 2000
#define OUTAGE_LOG_EVERY_S 30.0

struct record {
    struct frame_record rec;
    char where[64];
    struct det *dets;
};

struct recorder {
    store *store;
    char edge_id[STORE_NAME_MAX];
    bqueue *q;
    int capacity;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t written; /* counts changed */
    pthread_cond_t wake;    /* a drain began: cut a backoff short */
    struct recorder_counts counts;
    int drain_ms, draining;
    uint64_t drain_deadline_ns;
    int full_logged;        /* the queue-full warning of this outage was logged */
    /* recorder thread only */
    int unavailable;
    double outage_started_s, outage_logged_s;
    ec_err outage_err; /* why the store is unavailable */
};

enum put_result { PUT_OK, PUT_REFUSED, PUT_GAVE_UP };

static void record_free(struct record *r)
{
    free(r->dets);
    free(r);
}

static int drain_expired(recorder *r)
{
    pthread_mutex_lock(&r->lock);
    int expired = r->draining && clock_mono_ns() >= r->drain_deadline_ns;
    pthread_mutex_unlock(&r->lock);
    return expired;
}

/* Sleeps `ms`, or less when a drain begins or its deadline comes first. */
static void wait_backoff(recorder *r, int ms)
{
    pthread_mutex_lock(&r->lock);
    if (r->draining) {
        uint64_t now = clock_mono_ns();
        int64_t left_ms = r->drain_deadline_ns > now
                              ? (int64_t)((r->drain_deadline_ns - now) / 1000000u) + 1
                              : 0;
        if (left_ms < ms)
            ms = (int)left_ms;
    }
    if (ms > 0) {
        int was_draining = r->draining;
        struct timespec until = clock_deadline_ms(ms);
        while (r->draining == was_draining &&
               pthread_cond_timedwait(&r->wake, &r->lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&r->lock);
}

static void note_unavailable(recorder *r, const ec_err *err)
{
    double now = clock_mono_s();
    pthread_mutex_lock(&r->lock);
    r->counts.retries++;
    if (!r->unavailable)
        r->counts.outages++;
    size_t waiting = bqueue_len(r->q);
    pthread_mutex_unlock(&r->lock);
    r->outage_err = *err;
    if (!r->unavailable) {
        r->unavailable = 1;
        r->outage_started_s = r->outage_logged_s = now;
        log_warn("recorder %s: store unavailable (%s); keeping outcomes (up to %d queued) and "
                 "retrying", r->edge_id, err->msg, r->capacity);
    } else if (now - r->outage_logged_s >= OUTAGE_LOG_EVERY_S) {
        r->outage_logged_s = now;
        log_warn("recorder %s: store unavailable for %.0f s (%s); %zu outcomes waiting",
                 r->edge_id, now - r->outage_started_s, err->msg, waiting);
    }
}

static void note_available(recorder *r)
{
    if (!r->unavailable)
        return;
    r->unavailable = 0;
    pthread_mutex_lock(&r->lock);
    r->full_logged = 0;
    int64_t retries = r->counts.retries;
    size_t waiting = bqueue_len(r->q);
    pthread_mutex_unlock(&r->lock);
    log_info("recorder %s: store back after %.1f s (%lld retries so far); writing %zu waiting "
             "outcomes", r->edge_id, clock_mono_s() - r->outage_started_s, (long long)retries,
             waiting);
}

/* Stores recs[0..n) in one transaction, retrying with backoff while the store is
 * unavailable. PUT_REFUSED: the store refused the rows themselves (err set). */
static enum put_result put_with_retry(recorder *r, const struct frame_record *recs, int n,
                                      ec_err *err)
{
    int backoff_ms = RETRY_FIRST_MS;
    for (;;) {
        /* Past the shutdown deadline a store known to be down is not tried again. */
        if (!(r->unavailable && drain_expired(r))) {
            if (store_put_frames(r->store, recs, n, err) == 0) {
                note_available(r);
                return PUT_OK;
            }
            if (err->code == EC_EINVAL) {
                note_available(r); /* it answered: it is up */
                return PUT_REFUSED;
            }
            note_unavailable(r, err);
        }
        if (drain_expired(r))
            return PUT_GAVE_UP;
        wait_backoff(r, backoff_ms);
        backoff_ms = backoff_ms * 2 < RETRY_MAX_MS ? backoff_ms * 2 : RETRY_MAX_MS;
    }
}

/* A row refused as "already stored" is ours when the stored row is this very record: an
 * earlier attempt committed it but its answer was lost with the connection. */
static int stored_by_earlier_attempt(recorder *r, const struct frame_record *rec)
{
    struct frame_row row;
    ec_err err = {0};
    if (store_get_frame(r->store, rec->edge_id, rec->frame_index, &row, NULL, &err) != 0)
        return 0;
    return row.outcome == rec->outcome && row.start_ms == rec->start_ms &&
           row.end_ms == rec->end_ms && row.bytes_sent == rec->bytes_sent &&
           row.model_version == rec->model_version &&
           row.ref_index == (rec->outcome == OUTCOME_REF ? rec->ref_index : -1) &&
           strcmp(row.where, rec->where) == 0;
}

/* Writes one batch. A refused batch is written one row at a time so a single bad row cannot
 * take its neighbours with it. Returns rows now in the store; *already counts those an
 * earlier attempt had stored. */
static int write_batch(recorder *r, const struct frame_record *recs, int n, int *already)
{
    ec_err err = {0};
    *already = 0;
    enum put_result res = put_with_retry(r, recs, n, &err);
    if (res == PUT_OK)
        return n;
    if (res == PUT_GAVE_UP) {
        log_error("recorder %s: store still unavailable at shutdown: %d outcomes (frames %lld.."
                  "%lld) not stored: %s", r->edge_id, n, (long long)recs[0].frame_index,
                  (long long)recs[n - 1].frame_index, r->outage_err.msg);
        return 0;
    }
    int ok = 0;
    for (int i = 0; i < n; i++) {
        res = n == 1 ? PUT_REFUSED : put_with_retry(r, &recs[i], 1, &err);
        if (res == PUT_OK) {
            ok++;
        } else if (res == PUT_REFUSED && stored_by_earlier_attempt(r, &recs[i])) {
            ok++;
            (*already)++;
        } else {
            log_error("recorder %s: frame %lld not stored: %s", r->edge_id,
                      (long long)recs[i].frame_index,
                      res == PUT_GAVE_UP ? r->outage_err.msg : err.msg);
        }
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
        int already = 0;
        int ok = write_batch(r, recs, n, &already);
        pthread_mutex_lock(&r->lock);
        r->counts.recorded += ok;
        r->counts.errors += n - ok;
        r->counts.already_stored += already;
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
    r->capacity = capacity > 0 ? capacity : 1024;
    r->drain_ms = RECORDER_DRAIN_MS;
    r->q = bqueue_create((size_t)r->capacity);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->written, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (!r->q || pthread_create(&r->thread, NULL, recorder_main, r) != 0) {
        bqueue_destroy(r->q);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->written);
        pthread_cond_destroy(&r->wake);
        free(r);
        return NULL;
    }
    return r;
}

void recorder_set_drain_ms(recorder *r, int ms)
{
    pthread_mutex_lock(&r->lock);
    r->drain_ms = ms > 0 ? ms : 0;
    pthread_mutex_unlock(&r->lock);
}

/* Counts (and logs once per outage) a submit that must wait for room. */
static void note_full(recorder *r)
{
    pthread_mutex_lock(&r->lock);
    r->counts.waits++;
    int first = !r->full_logged;
    r->full_logged = 1;
    pthread_mutex_unlock(&r->lock);
    if (first)
        log_warn("recorder %s: %d outcomes waiting for the store: the pipeline waits until "
                 "they are written", r->edge_id, r->capacity);
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
    if (bqueue_len(r->q) >= (size_t)r->capacity)
        note_full(r);
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

void recorder_drain(recorder *r)
{
    pthread_mutex_lock(&r->lock);
    if (!r->draining) {
        r->draining = 1;
        r->drain_deadline_ns = clock_mono_ns() + (uint64_t)r->drain_ms * 1000000u;
        pthread_cond_broadcast(&r->wake);
    }
    pthread_mutex_unlock(&r->lock);
}

void recorder_flush(recorder *r)
{
    recorder_drain(r);
    pthread_mutex_lock(&r->lock);
    while (r->counts.recorded + r->counts.errors < submitted(&r->counts))
        pthread_cond_wait(&r->written, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

void recorder_destroy(recorder *r)
{
    if (!r)
        return;
    recorder_drain(r);
    bqueue_close(r->q);
    pthread_join(r->thread, NULL);
    bqueue_destroy(r->q);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->written);
    pthread_cond_destroy(&r->wake);
    free(r);
}
