/* The decision engine: for each key frame, where inference runs (local model, a peer edge, the
 * cloud, or local + cloud-assisted regions) and at what resolution and JPEG quality.
 * Policies are pure functions of measured state, so every one is testable and comparable. */
#ifndef EDGECAM_POLICY_POLICY_H
#define EDGECAM_POLICY_POLICY_H

#include "core/det.h"
#include "core/err.h"

#define POLICY_MAX_PEERS 16
#define POLICY_ABI_VERSION 1

enum policy_dest {
    POLICY_LOCAL,    /* the edge's own model */
    POLICY_PEER,     /* another edge (decision.peer) */
    POLICY_CLOUD,    /* the cloud server or gateway */
    POLICY_ASSISTED, /* local model, uncertain regions re-checked by the cloud */
};

/* EdgeCam's per-path resize + quality settings (config: edge.paths). */
enum policy_path { PATH_ANOTHER, PATH_DIRECTLY_CLOUD, PATH_LOCAL_CLOUD, PATH_ANOTHER_CLOUD, PATH_COUNT };

struct policy_quality {
    int new_height; /* 0: keep the frame's height */
    int quality;    /* JPEG quality 1..100 */
};

/* Measured state of one destination. Times in ms, bandwidth in bytes/s (0: unknown). */
struct policy_link {
    int reachable;
    int queue_len;
    double rtt_ms, bandwidth_Bps, infer_ms;
};

struct policy_state {
    int local_queue_len, local_queue_cap;
    double local_infer_ms;
    int npeers;
    struct policy_link peers[POLICY_MAX_PEERS];
    struct policy_link cloud;
    int frame_w, frame_h;
    double jpeg_bpp;     /* measured JPEG bytes per pixel at jpeg_bpp_quality (0: unknown) */
    int jpeg_bpp_quality;
};

struct policy_params {
    int queue_thresh;                      /* EdgeCam queue threshold */
    struct policy_quality paths[PATH_COUNT];
    int smarteye_local_pending_max;        /* threshold_offload_policy: 2 */
    int smarteye_downsize_height;          /* 240 */
    int adaptive_min_height, adaptive_max_height;
    int adaptive_min_quality, adaptive_max_quality;
    double adaptive_latency_target_ms;
    float assisted_low, assisted_high, assisted_max_area, assisted_iou; /* 0.2 0.6 0.1 0.3 */
    int assisted_motion_thresh; /* gray levels a pixel must change by to count as motion; 0: off */
};

struct policy_decision {
    enum policy_dest dest;
    int peer;     /* index into state.peers when dest == POLICY_PEER */
    int height;   /* resize target for offloaded frames; 0 = original */
    int quality;  /* JPEG quality for offloaded frames or regions */
    int fallback; /* 1: the policy's choice was unreachable, so this is local */
};

/* Signature of every policy, built in or loaded from a plugin (.so exporting
 * `int edgecam_policy_abi` == POLICY_ABI_VERSION and a function of this type). */
typedef int (*policy_decide_fn)(void *ctx, const struct policy_params *p,
                                const struct policy_state *s, struct policy_decision *out);

struct policy_info {
    const char *name;
    const char *origin; /* "EdgeCam", "SmartEye", "edgecam" */
    const char *summary;
};

void policy_params_default(struct policy_params *p);
/* Built-in policies, in registry order; *n gets the count. */
const struct policy_info *policy_list(int *n);

typedef struct policy policy;

/* A built-in by name, or, when plugin_path is set, `symbol` (default "edgecam_policy_decide")
 * from that shared object. */
policy *policy_create(const char *name, const char *plugin_path, const char *symbol,
                      const struct policy_params *params, ec_err *err);
/* Decides for one key frame. An unreachable choice falls back to local (fallback = 1). */
int policy_decide(policy *pol, const struct policy_state *s, struct policy_decision *out);
const char *policy_name(const policy *pol);
void policy_destroy(policy *pol);
const char *policy_dest_name(enum policy_dest d);

/* Edge-Cloud-Assisted: indices of local detections worth asking the cloud about: score in
 * [low, high), area <= max_area of the frame, IoU <= iou with every confident (>= high) box. */
int policy_assisted_regions(const struct policy_params *p, const struct det_list *local,
                            int frame_w, int frame_h, int *idx, int max_idx);

#endif
