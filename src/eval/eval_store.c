/* Scores the rows of a results store: what an edge answered for each frame it read. */
#include "eval/eval.h"

#include "store/store.h"

int eval_add_stored(eval_acc *acc, store *st, const char *edge_id, int64_t first, int64_t n,
                    const struct det_list *gt, ec_err *err)
{
    struct det_list dets = {0}, key = {0};
    int64_t key_index = -1;
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        struct frame_row row;
        rc = store_get_frame(st, edge_id, first + i, &row, &dets, err);
        if (rc == 0 && row.outcome == OUTCOME_REF && row.ref_index != key_index) {
            struct frame_row kr;
            rc = store_get_frame(st, edge_id, row.ref_index, &kr, &key, err);
            key_index = row.ref_index;
        }
        if (rc == 0)
            rc = eval_add_frame(acc, row.outcome == OUTCOME_REF ? &key : &dets, &gt[i], err);
    }
    det_list_free(&dets);
    det_list_free(&key);
    return rc;
}
