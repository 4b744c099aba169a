/* Bounded multi-producer multi-consumer queue of pointers.
 * Every rejected push is counted, so nothing is dropped silently.
 * The queue never owns its items: whoever pops one owns it; after close, the
 * caller drains what is left with bqueue_pop(.., 0) and frees it. */
#ifndef EDGECAM_CORE_BQUEUE_H
#define EDGECAM_CORE_BQUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct bqueue bqueue;

struct bqueue_stats {
    size_t len, cap;
    uint64_t pushed, popped, dropped;
};

bqueue *bqueue_create(size_t capacity);
void bqueue_destroy(bqueue *q);

/* Non-blocking push. Returns 0, or -1 when full (counted as a drop) or closed. */
int bqueue_try_push(bqueue *q, void *item);
/* Waits up to timeout_ms (<0: forever) for room. -1 on timeout (counted as a drop) or closed. */
int bqueue_push(bqueue *q, void *item, int timeout_ms);
/* Waits up to timeout_ms (<0: forever, 0: no wait). Returns the item, or NULL on
 * timeout or when the queue is closed and empty. */
void *bqueue_pop(bqueue *q, int timeout_ms);
/* Wakes every waiter; later pushes fail, pops drain what is left. */
void bqueue_close(bqueue *q);
int bqueue_is_closed(bqueue *q);
size_t bqueue_len(bqueue *q);
void bqueue_stats(bqueue *q, struct bqueue_stats *out);

#endif
