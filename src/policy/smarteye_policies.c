/* SmartEye's three policies. Its "fastest model" is our edge model; "lowest delay" cloud
 * server selection is the gateway's job, so the edge just offloads to the cloud endpoint. */
#include "policy/builtin.h"

static void downsized(const struct policy_params *p, struct policy_decision *out)
{
    out->dest = POLICY_CLOUD;
    out->peer = -1;
    out->height = p->smarteye_downsize_height;
    out->quality = p->paths[PATH_DIRECTLY_CLOUD].quality;
}

int policy_always_local_fastest(void *ctx, const struct policy_params *p,
                                const struct policy_state *s, struct policy_decision *out)
{
    (void)ctx, (void)p, (void)s;
    *out = (struct policy_decision){.dest = POLICY_LOCAL, .peer = -1};
    return 0;
}

int policy_always_cloud_lowest_delay(void *ctx, const struct policy_params *p,
                                     const struct policy_state *s, struct policy_decision *out)
{
    (void)ctx, (void)s;
    downsized(p, out);
    return 0;
}

/* Local while at most `local_pending_max` frames wait locally, else downsize and offload. */
int policy_threshold_offload(void *ctx, const struct policy_params *p,
                             const struct policy_state *s, struct policy_decision *out)
{
    (void)ctx;
    if (s->local_queue_len <= p->smarteye_local_pending_max)
        *out = (struct policy_decision){.dest = POLICY_LOCAL, .peer = -1};
    else
        downsized(p, out);
    return 0;
}
