/* Internal to src/gateway: the KServe v2 client used for `kind: kserve` backends. */
#ifndef EDGECAM_GATEWAY_GATEWAY_INTERNAL_H
#define EDGECAM_GATEWAY_GATEWAY_INTERNAL_H

#include "core/det.h"
#include "core/err.h"
#include "net/net.h"

#include <stddef.h>
#include <stdint.h>

/* Decodes the JPEG, POSTs it as tensor "image" UINT8 [1,H,W,3] (binary tensor extension) to
 * base_url/v2/models/{model}/infer and reads tensor "detections" FP32 [N,6]. Returns 0 with
 * `out`, *w, *h filled; or -1 with *status: 0 no answer, 400 undecodable JPEG, 502 malformed
 * answer, else the server's HTTP status (err holds its message). */
int kserve_infer(http_client *c, const char *base_url, const char *model, const uint8_t *jpeg,
                 size_t len, struct det_list *out, int *w, int *h, long *status, ec_err *err);
/* GET /v2/health/ready and, when model is not NULL, /v2/models/{model}/ready. */
int kserve_ready(http_client *c, const char *base_url, const char *model, ec_err *err);

#endif
