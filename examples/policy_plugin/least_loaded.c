/* Example user policy, loaded by an edge from a shared object:
 *
 *   cc -shared -fPIC -I<edgecam>/src -o least_loaded.so least_loaded.c
 *   # config:  policy: { plugin: ./least_loaded.so, plugin_symbol: least_loaded_decide }
 *
 * It sends each key frame wherever the expected wait (queue length x inference time) is
 * shortest: the local model, a reachable peer, or the cloud. A plugin exports the ABI
 * version it was built for and one function with the policy_decide_fn signature. */
#include "policy/policy.h"

int edgecam_policy_abi = POLICY_ABI_VERSION;

static double wait_ms(const struct policy_link *l) { return (l->queue_len + 1) * l->infer_ms; }

int least_loaded_decide(void *ctx, const struct policy_params *p, const struct policy_state *s,
                        struct policy_decision *out)
{
    (void)ctx;
    double best = (s->local_queue_len + 1) * s->local_infer_ms;
    *out = (struct policy_decision){.dest = POLICY_LOCAL, .peer = -1};
    for (int i = 0; i < s->npeers; i++) {
        if (s->peers[i].reachable && wait_ms(&s->peers[i]) + s->peers[i].rtt_ms < best) {
            best = wait_ms(&s->peers[i]) + s->peers[i].rtt_ms;
            *out = (struct policy_decision){POLICY_PEER, i, p->paths[PATH_ANOTHER].new_height,
                                            p->paths[PATH_ANOTHER].quality, 0};
        }
    }
    if (s->cloud.reachable && wait_ms(&s->cloud) + s->cloud.rtt_ms < best)
        *out = (struct policy_decision){POLICY_CLOUD, -1,
                                        p->paths[PATH_DIRECTLY_CLOUD].new_height,
                                        p->paths[PATH_DIRECTLY_CLOUD].quality, 0};
    return 0;
}
