/* Internal: the built-in policies' decide functions (one file each family). */
#ifndef EDGECAM_POLICY_BUILTIN_H
#define EDGECAM_POLICY_BUILTIN_H

#include "policy/policy.h"

int policy_edge_local(void *ctx, const struct policy_params *p, const struct policy_state *s,
                      struct policy_decision *out);
int policy_edge_shortest(void *ctx, const struct policy_params *p, const struct policy_state *s,
                         struct policy_decision *out);
int policy_shortest_cloud_threshold(void *ctx, const struct policy_params *p,
                                    const struct policy_state *s, struct policy_decision *out);
int policy_edge_cloud_threshold(void *ctx, const struct policy_params *p,
                                const struct policy_state *s, struct policy_decision *out);
int policy_edge_cloud_assisted(void *ctx, const struct policy_params *p,
                               const struct policy_state *s, struct policy_decision *out);
int policy_always_local_fastest(void *ctx, const struct policy_params *p,
                                const struct policy_state *s, struct policy_decision *out);
int policy_always_cloud_lowest_delay(void *ctx, const struct policy_params *p,
                                     const struct policy_state *s, struct policy_decision *out);
int policy_threshold_offload(void *ctx, const struct policy_params *p,
                             const struct policy_state *s, struct policy_decision *out);
int policy_adaptive(void *ctx, const struct policy_params *p, const struct policy_state *s,
                    struct policy_decision *out);

#endif
