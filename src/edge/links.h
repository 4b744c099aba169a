/* Internal to the edge: measured state of the peers and the cloud, refreshed by polling their
 * GET /v1/queue every interval and by every offload's timing. */
#ifndef EDGECAM_EDGE_LINKS_H
#define EDGECAM_EDGE_LINKS_H

#include "net/net.h"
#include "policy/policy.h"

#include <pthread.h>

#define LINKS_MAX (POLICY_MAX_PEERS + 1) /* peers, then the cloud last */
#define LINK_URL_MAX 256

struct link_target {
    char id[48]; /* edge ids are short; "peer:<id>" must fit a stored "where" */
    char url[LINK_URL_MAX]; /* base URL, no trailing slash */
};

typedef struct links links;

/* `cloud` may be NULL (no cloud configured: it is never reachable). */
links *links_create(const struct link_target *peers, int npeers, const struct link_target *cloud,
                    const struct http_client_config *cc, int interval_ms);
/* Starts the polling thread; the first poll happens at once. */
int links_start(links *l);
/* Fills the peer and cloud parts of a policy state. */
void links_snapshot(links *l, struct policy_state *s);
/* Index -1 is the cloud. */
const struct link_target *links_target(links *l, int peer);
/* After an offload: total time, server-reported queue+inference time, bytes sent. */
void links_observe(links *l, int peer, int ok, double total_ms, double server_ms, size_t bytes);
void links_destroy(links *l);

#endif
