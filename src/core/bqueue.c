#include "core/bqueue.h"

#include "core/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct bqueue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    void **items;
    size_t cap, head, len;
    int closed;
    uint64_t pushed, popped, dropped;
};

bqueue *bqueue_create(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    bqueue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->items = calloc(capacity, sizeof *q->items);
    if (!q->items) {
        free(q);
        return NULL;
    }
    q->cap = capacity;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    return q;
}

void bqueue_destroy(bqueue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->items);
    free(q);
}

/* Waits on `cond` until `ready` or closed or timeout; lock held. Returns 0 if ready. */
static int wait_until(bqueue *q, pthread_cond_t *cond, int want_room, int timeout_ms)
{
    struct timespec deadline = clock_deadline_ms(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int ready = want_room ? q->len < q->cap : q->len > 0;
        if (ready)
            return 0;
        if (q->closed || timeout_ms == 0)
            return -1;
        if (timeout_ms < 0)
            pthread_cond_wait(cond, &q->lock);
        else if (pthread_cond_timedwait(cond, &q->lock, &deadline) == ETIMEDOUT)
            return (want_room ? q->len < q->cap : q->len > 0) ? 0 : -1;
    }
}

static void put_locked(bqueue *q, void *item)
{
    q->items[(q->head + q->len) % q->cap] = item;
    q->len++;
    q->pushed++;
    pthread_cond_signal(&q->not_empty);
}

int bqueue_push(bqueue *q, void *item, int timeout_ms)
{
    pthread_mutex_lock(&q->lock);
    int rc = -1;
    if (!q->closed && wait_until(q, &q->not_full, 1, timeout_ms) == 0 && !q->closed) {
        put_locked(q, item);
        rc = 0;
    } else {
        q->dropped++;
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int bqueue_try_push(bqueue *q, void *item) { return bqueue_push(q, item, 0); }

void *bqueue_pop(bqueue *q, int timeout_ms)
{
    pthread_mutex_lock(&q->lock);
    void *item = NULL;
    if (wait_until(q, &q->not_empty, 0, timeout_ms) == 0) {
        item = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        q->popped++;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    return item;
}

void bqueue_close(bqueue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

int bqueue_is_closed(bqueue *q)
{
    pthread_mutex_lock(&q->lock);
    int c = q->closed;
    pthread_mutex_unlock(&q->lock);
    return c;
}

size_t bqueue_len(bqueue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void bqueue_stats(bqueue *q, struct bqueue_stats *out)
{
    pthread_mutex_lock(&q->lock);
    *out = (struct bqueue_stats){q->len, q->cap, q->pushed, q->popped, q->dropped};
    pthread_mutex_unlock(&q->lock);
}
