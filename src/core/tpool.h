/* Fixed-size thread pool over a bounded task queue. */
#ifndef EDGECAM_CORE_TPOOL_H
#define EDGECAM_CORE_TPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct tpool tpool;
typedef void (*tpool_fn)(void *arg);

tpool *tpool_create(int nthreads, size_t queue_capacity);
/* Returns 0, or -1 if the queue is full (counted) or the pool is shutting down. */
int tpool_submit(tpool *p, tpool_fn fn, void *arg);
/* Blocks until every submitted task has finished. */
void tpool_wait_idle(tpool *p);
/* Runs every queued task, joins the threads, frees the pool. */
void tpool_destroy(tpool *p);
uint64_t tpool_rejected(tpool *p);
int tpool_threads(const tpool *p);

#endif
