/* Internal to the edge: a thread that writes frame outcomes to the store in batches.
 * Its queue is bounded and applies back-pressure (producers wait) instead of dropping:
 * an outcome record is never lost for want of room. */
#ifndef EDGECAM_EDGE_RECORDER_H
#define EDGECAM_EDGE_RECORDER_H

#include "core/det.h"
#include "store/store.h"

#include <stdint.h>

typedef struct recorder recorder;

struct recorder_counts {
    int64_t by_outcome[OUTCOME_COUNT]; /* submitted */
    int64_t recorded, errors;
};

recorder *recorder_create(store *s, const char *edge_id, int capacity);
/* Copies `rec` (and its detections). Blocks while the queue is full. */
int recorder_submit(recorder *r, const struct frame_record *rec);
void recorder_counts(recorder *r, struct recorder_counts *out);
/* Waits until every submitted record has been written (or refused by the store). */
void recorder_flush(recorder *r);
/* Flushes everything submitted, stops the thread, frees. */
void recorder_destroy(recorder *r);

#endif
