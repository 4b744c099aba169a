#include "core/tpool.h"

#include "core/bqueue.h"

#include <pthread.h>
#include <stdlib.h>

struct task {
    tpool_fn fn;
    void *arg;
};

struct tpool {
    bqueue *tasks;
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    size_t active; /* submitted and not yet finished */
};

static void *worker_main(void *arg)
{
    tpool *p = arg;
    struct task *t;
    while ((t = bqueue_pop(p->tasks, -1)) != NULL) {
        t->fn(t->arg);
        free(t);
        pthread_mutex_lock(&p->lock);
        if (--p->active == 0)
            pthread_cond_broadcast(&p->idle);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

tpool *tpool_create(int nthreads, size_t queue_capacity)
{
    if (nthreads < 1)
        return NULL;
    tpool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->tasks = bqueue_create(queue_capacity);
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->tasks || !p->threads) {
        bqueue_destroy(p->tasks);
        free(p->threads);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->idle, NULL);
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
            break;
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        tpool_destroy(p);
        return NULL;
    }
    return p;
}

int tpool_submit(tpool *p, tpool_fn fn, void *arg)
{
    struct task *t = malloc(sizeof *t);
    if (!t)
        return -1;
    *t = (struct task){fn, arg};
    pthread_mutex_lock(&p->lock);
    p->active++;
    pthread_mutex_unlock(&p->lock);
    if (bqueue_try_push(p->tasks, t) != 0) {
        free(t);
        pthread_mutex_lock(&p->lock);
        if (--p->active == 0)
            pthread_cond_broadcast(&p->idle);
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    return 0;
}

void tpool_wait_idle(tpool *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->active > 0)
        pthread_cond_wait(&p->idle, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void tpool_destroy(tpool *p)
{
    if (!p)
        return;
    bqueue_close(p->tasks);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    bqueue_destroy(p->tasks);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->idle);
    free(p->threads);
    free(p);
}

uint64_t tpool_rejected(tpool *p)
{
    struct bqueue_stats s;
    bqueue_stats(p->tasks, &s);
    return s.dropped;
}

int tpool_threads(const tpool *p) { return p->nthreads; }
