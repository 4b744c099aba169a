/* Internal to the edge: a thread that writes frame outcomes to the store in batches.
 *
 * Its queue is bounded and applies back-pressure (producers wait) instead of dropping: an
 * outcome record is never lost for want of room. While the store is unavailable (a database
 * restart, a lost connection, a locked file) the batch being written is kept and retried
 * with exponential backoff, and new outcomes wait in the queue; once the queue is full the
 * pipeline waits too (counted in `waits`, logged), so no frame is read that cannot be
 * recorded. Rows an earlier attempt did store (a COMMIT whose answer was lost) are
 * recognised and not counted as failures; nothing is ever stored twice.
 *
 * Only at shutdown (recorder_drain, recorder_flush, recorder_destroy) does the recorder give
 * up on a store that stays unavailable: after drain_ms it counts the rows still waiting as
 * errors and logs them, so a stop never hangs on a dead database. */
#ifndef EDGECAM_EDGE_RECORDER_H
#define EDGECAM_EDGE_RECORDER_H

#include "core/det.h"
#include "store/store.h"

#include <stdint.h>

#define RECORDER_DRAIN_MS 15000 /* how long a stop waits for an unavailable store */

typedef struct recorder recorder;

struct recorder_counts {
    int64_t by_outcome[OUTCOME_COUNT]; /* submitted */
    int64_t recorded;       /* rows in the store (including already_stored) */
    int64_t errors;         /* rows refused by the store, or given up at shutdown (logged) */
    int64_t already_stored; /* rows found stored by an earlier attempt whose answer was lost */
    int64_t outages;        /* times the store became unavailable */
    int64_t retries;        /* failed attempts retried while it was */
    int64_t waits;          /* submits that found the queue full and waited for the store */
};

recorder *recorder_create(store *s, const char *edge_id, int capacity);
/* How long the shutdown waits for an unavailable store (default RECORDER_DRAIN_MS). */
void recorder_set_drain_ms(recorder *r, int ms);
/* Copies `rec` (and its detections). Blocks while the queue is full. */
int recorder_submit(recorder *r, const struct frame_record *rec);
void recorder_counts(recorder *r, struct recorder_counts *out);
/* Starts the shutdown clock (thread-safe, idempotent): from now on a store that stays
 * unavailable for drain_ms makes the recorder give up instead of retrying. */
void recorder_drain(recorder *r);
/* recorder_drain, then waits until every submitted record has been written or given up. */
void recorder_flush(recorder *r);
/* Flushes everything submitted, stops the thread, frees. */
void recorder_destroy(recorder *r);

#endif
