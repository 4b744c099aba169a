/* Internal to src/backend: what the HTTP handlers need from the service core. */
#ifndef EDGECAM_BACKEND_SERVICE_INTERNAL_H
#define EDGECAM_BACKEND_SERVICE_INTERNAL_H

#include "backend/backend.h"

struct service_info {
    char model[INFER_NAME_MAX];
    int version;
    double queue_ms, infer_ms;
};

/* Admission, inference on a referenced model, latency bookkeeping; fills `info`. */
int service_infer(infer_service *s, const char *model, const image *rgb, struct det_list *out,
                  struct service_info *info, ec_err *err);
const char *service_role(const infer_service *s);

#endif
