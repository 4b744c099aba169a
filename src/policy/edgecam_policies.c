/* EdgeCam's five offloading policies. */
#include "policy/builtin.h"

static void go(struct policy_decision *out, enum policy_dest dest, int peer,
               const struct policy_quality *q)
{
    out->dest = dest;
    out->peer = peer;
    out->height = q ? q->new_height : 0;
    out->quality = q ? q->quality : 0;
}

int policy_edge_local(void *ctx, const struct policy_params *p, const struct policy_state *s,
                      struct policy_decision *out)
{
    (void)ctx, (void)p, (void)s;
    go(out, POLICY_LOCAL, -1, NULL);
    return 0;
}

/* Reachable peer with the shortest queue, or -1. */
static int shortest_peer(const struct policy_state *s)
{
    int best = -1;
    for (int i = 0; i < s->npeers; i++)
        if (s->peers[i].reachable &&
            (best < 0 || s->peers[i].queue_len < s->peers[best].queue_len))
            best = i;
    return best;
}

/* The local queue or the shortest peer queue; ties stay local (no transfer). */
int policy_edge_shortest(void *ctx, const struct policy_params *p, const struct policy_state *s,
                         struct policy_decision *out)
{
    (void)ctx;
    int peer = shortest_peer(s);
    if (peer >= 0 && s->peers[peer].queue_len < s->local_queue_len)
        go(out, POLICY_PEER, peer, &p->paths[PATH_ANOTHER]);
    else
        go(out, POLICY_LOCAL, -1, NULL);
    return 0;
}

/* Every edge queue (local and reachable peers) over the threshold -> cloud; else shortest. */
int policy_shortest_cloud_threshold(void *ctx, const struct policy_params *p,
                                    const struct policy_state *s, struct policy_decision *out)
{
    int all_over = s->local_queue_len > p->queue_thresh;
    for (int i = 0; i < s->npeers && all_over; i++)
        if (s->peers[i].reachable && s->peers[i].queue_len <= p->queue_thresh)
            all_over = 0;
    if (all_over) {
        go(out, POLICY_CLOUD, -1, &p->paths[PATH_ANOTHER_CLOUD]);
        return 0;
    }
    return policy_edge_shortest(ctx, p, s, out);
}

/* Local queue over the threshold -> cloud; else local. */
int policy_edge_cloud_threshold(void *ctx, const struct policy_params *p,
                                const struct policy_state *s, struct policy_decision *out)
{
    (void)ctx;
    if (s->local_queue_len > p->queue_thresh)
        go(out, POLICY_CLOUD, -1, &p->paths[PATH_LOCAL_CLOUD]);
    else
        go(out, POLICY_LOCAL, -1, NULL);
    return 0;
}

/* Local inference; the edge then sends uncertain regions (policy_assisted_regions) to the cloud. */
int policy_edge_cloud_assisted(void *ctx, const struct policy_params *p,
                               const struct policy_state *s, struct policy_decision *out)
{
    (void)ctx, (void)s;
    go(out, POLICY_ASSISTED, -1, &p->paths[PATH_LOCAL_CLOUD]);
    return 0;
}
