#include "policy/policy.h"

#include "policy/builtin.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct builtin {
    struct policy_info info;
    policy_decide_fn decide;
};

static const struct builtin builtins[] = {
    {{"edge_local", "EdgeCam", "always the local model"}, policy_edge_local},
    {{"edge_shortest", "EdgeCam", "local or the peer edge with the shortest queue"},
     policy_edge_shortest},
    {{"shortest_cloud_threshold", "EdgeCam",
      "cloud when every edge queue is over queue_thresh, else the shortest queue"},
     policy_shortest_cloud_threshold},
    {{"edge_cloud_threshold", "EdgeCam", "cloud when the local queue is over queue_thresh"},
     policy_edge_cloud_threshold},
    {{"edge_cloud_assisted", "EdgeCam",
      "local model; uncertain regions re-checked by the cloud and merged with NMS"},
     policy_edge_cloud_assisted},
    {{"always_local_fastest_model", "SmartEye", "always the local (fastest) model"},
     policy_always_local_fastest},
    {{"always_cloud_lowest_delay", "SmartEye", "downsize (240p) and offload every frame"},
     policy_always_cloud_lowest_delay},
    {{"threshold_offload_policy", "SmartEye",
      "local while <= local_pending_max frames wait, else downsize and offload"},
     policy_threshold_offload},
    {{"adaptive", "edgecam",
      "edge first; offload at the best resolution/quality that meets the latency target"},
     policy_adaptive},
};
#define NBUILTINS ((int)(sizeof builtins / sizeof builtins[0]))

struct policy {
    char name[128];
    policy_decide_fn decide;
    struct policy_params params;
    void *dl; /* plugin handle, or NULL */
};

void policy_params_default(struct policy_params *p)
{
    *p = (struct policy_params){
        .queue_thresh = 4,
        .paths = {{480, 90}, {0, 90}, {480, 80}, {480, 80}},
        .smarteye_local_pending_max = 2,
        .smarteye_downsize_height = 240,
        .adaptive_min_height = 240,
        .adaptive_max_height = 1080,
        .adaptive_min_quality = 50,
        .adaptive_max_quality = 90,
        .adaptive_latency_target_ms = 200,
        .assisted_low = 0.2f,
        .assisted_high = 0.6f,
        .assisted_max_area = 0.1f,
        .assisted_iou = 0.3f,
        .assisted_motion_thresh = 4,
    };
}

const struct policy_info *policy_list(int *n)
{
    static struct policy_info infos[NBUILTINS];
    for (int i = 0; i < NBUILTINS; i++)
        infos[i] = builtins[i].info;
    *n = NBUILTINS;
    return infos;
}

static int load_plugin(policy *pol, const char *path, const char *symbol, ec_err *err)
{
    pol->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!pol->dl)
        return ec_err_set(err, EC_ENOTFOUND, "policy plugin %s: %s", path, dlerror());
    const int *abi = dlsym(pol->dl, "edgecam_policy_abi");
    if (!abi || *abi != POLICY_ABI_VERSION)
        return ec_err_set(err, EC_EUNSUPPORTED,
                          "policy plugin %s: needs `int edgecam_policy_abi = %d` (found %s)", path,
                          POLICY_ABI_VERSION, abi ? "another version" : "none");
    const char *sym = symbol && *symbol ? symbol : "edgecam_policy_decide";
    void *fn = dlsym(pol->dl, sym);
    if (!fn)
        return ec_err_set(err, EC_ENOTFOUND, "policy plugin %s: no symbol %s", path, sym);
    memcpy(&pol->decide, &fn, sizeof fn); /* object -> function pointer, as POSIX allows */
    snprintf(pol->name, sizeof pol->name, "plugin:%s", sym);
    return 0;
}

policy *policy_create(const char *name, const char *plugin_path, const char *symbol,
                      const struct policy_params *params, ec_err *err)
{
    policy *pol = calloc(1, sizeof *pol);
    if (!pol) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    if (params)
        pol->params = *params;
    else
        policy_params_default(&pol->params);
    if (plugin_path && *plugin_path) {
        if (load_plugin(pol, plugin_path, symbol, err) != 0) {
            policy_destroy(pol);
            return NULL;
        }
        return pol;
    }
    for (int i = 0; i < NBUILTINS; i++) {
        if (name && strcmp(name, builtins[i].info.name) == 0) {
            pol->decide = builtins[i].decide;
            snprintf(pol->name, sizeof pol->name, "%s", name);
            return pol;
        }
    }
    ec_err_set(err, EC_EINVAL, "unknown policy '%s'", name ? name : "(null)");
    policy_destroy(pol);
    return NULL;
}

static int dest_reachable(const struct policy_state *s, const struct policy_decision *d)
{
    switch (d->dest) {
    case POLICY_PEER:
        return d->peer >= 0 && d->peer < s->npeers && s->peers[d->peer].reachable;
    case POLICY_CLOUD:
        return s->cloud.reachable;
    default: /* assisted degrades by itself: no regions are sent while the cloud is down */
        return 1;
    }
}

int policy_decide(policy *pol, const struct policy_state *s, struct policy_decision *out)
{
    *out = (struct policy_decision){.dest = POLICY_LOCAL, .peer = -1};
    if (pol->decide(NULL, &pol->params, s, out) != 0 || (unsigned)out->dest > POLICY_ASSISTED) {
        *out = (struct policy_decision){.dest = POLICY_LOCAL, .peer = -1, .fallback = 1};
        return -1;
    }
    if (!dest_reachable(s, out))
        *out = (struct policy_decision){.dest = POLICY_LOCAL, .peer = -1, .fallback = 1};
    if (out->quality < 1 || out->quality > 100)
        out->quality = out->quality < 1 ? 75 : 100;
    if (out->height < 0)
        out->height = 0;
    return 0;
}

const char *policy_name(const policy *pol) { return pol->name; }

void policy_destroy(policy *pol)
{
    if (!pol)
        return;
    if (pol->dl)
        dlclose(pol->dl);
    free(pol);
}

const char *policy_dest_name(enum policy_dest d)
{
    static const char *names[] = {"local", "peer", "cloud", "assisted"};
    return (unsigned)d <= POLICY_ASSISTED ? names[d] : "unknown";
}

int policy_assisted_regions(const struct policy_params *p, const struct det_list *local,
                            int frame_w, int frame_h, int *idx, int max_idx)
{
    float frame_area = (float)frame_w * (float)frame_h;
    int n = 0;
    for (int i = 0; i < local->n && n < max_idx; i++) {
        const struct det *d = &local->v[i];
        if (d->score < p->assisted_low || d->score >= p->assisted_high ||
            det_area(d) > p->assisted_max_area * frame_area)
            continue;
        int overlaps = 0;
        for (int j = 0; j < local->n && !overlaps; j++)
            overlaps = local->v[j].score >= p->assisted_high &&
                       det_iou(d, &local->v[j]) > p->assisted_iou;
        if (!overlaps)
            idx[n++] = i;
    }
    return n;
}
