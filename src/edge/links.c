#include "edge/links.h"

#include "core/clock.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EWMA 0.3

struct link_state {
    struct link_target t;
    int configured, reachable, queue_len;
    double rtt_ms, bw_Bps, infer_ms;
};

struct links {
    pthread_mutex_t lock;
    struct link_state s[LINKS_MAX]; /* [0, npeers) peers, [LINKS_MAX - 1] cloud */
    int npeers;
    struct http_client_config cc;
    int interval_ms;
    pthread_t thread;
    int started;
    atomic_int stop;
};

static struct link_state *state_of(links *l, int peer)
{
    return peer < 0 ? &l->s[LINKS_MAX - 1] : &l->s[peer];
}

static double ewma(double old, double sample) { return old > 0 ? old + EWMA * (sample - old) : sample; }

links *links_create(const struct link_target *peers, int npeers, const struct link_target *cloud,
                    const struct http_client_config *cc, int interval_ms)
{
    if (npeers < 0 || npeers > POLICY_MAX_PEERS)
        return NULL;
    links *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    pthread_mutex_init(&l->lock, NULL);
    l->npeers = npeers;
    l->cc = *cc;
    l->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    for (int i = 0; i < npeers; i++)
        l->s[i] = (struct link_state){.t = peers[i], .configured = 1};
    if (cloud)
        l->s[LINKS_MAX - 1] = (struct link_state){.t = *cloud, .configured = 1};
    return l;
}

/* GET /v1/queue: reachability, queue length and a pure round-trip time. */
static void poll_one(links *l, http_client *c, int peer)
{
    struct link_state *st = state_of(l, peer);
    char url[LINK_URL_MAX + 16];
    snprintf(url, sizeof url, "%s/v1/queue", st->t.url);
    struct http_client_result res;
    int ok = http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &res, NULL) == 0;
    int queue = 0;
    if (ok) {
        cJSON *root = cJSON_ParseWithLength((const char *)res.body, res.body_len);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "pending");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "in_flight");
        ok = cJSON_IsNumber(p) && cJSON_IsNumber(f);
        if (ok)
            queue = (int)(p->valuedouble + f->valuedouble);
        cJSON_Delete(root);
    }
    pthread_mutex_lock(&l->lock);
    st->reachable = ok;
    if (ok) {
        st->queue_len = queue;
        st->rtt_ms = ewma(st->rtt_ms, res.total_s * 1000.0);
    }
    pthread_mutex_unlock(&l->lock);
}

static void *poll_main(void *arg)
{
    links *l = arg;
    http_client *c = http_client_create(&l->cc, NULL);
    while (c && !atomic_load(&l->stop)) {
        for (int i = -1; i < l->npeers && !atomic_load(&l->stop); i++)
            if (state_of(l, i)->configured)
                poll_one(l, c, i);
        for (int waited = 0; waited < l->interval_ms && !atomic_load(&l->stop); waited += 20)
            clock_sleep_ns(20000000ull);
    }
    http_client_destroy(c);
    return NULL;
}

int links_start(links *l)
{
    if (pthread_create(&l->thread, NULL, poll_main, l) != 0)
        return -1;
    l->started = 1;
    return 0;
}

void links_snapshot(links *l, struct policy_state *s)
{
    pthread_mutex_lock(&l->lock);
    s->npeers = l->npeers;
    for (int i = -1; i < l->npeers; i++) {
        const struct link_state *st = state_of(l, i);
        struct policy_link *pl = i < 0 ? &s->cloud : &s->peers[i];
        *pl = (struct policy_link){st->reachable, st->queue_len, st->rtt_ms, st->bw_Bps,
                                   st->infer_ms};
    }
    pthread_mutex_unlock(&l->lock);
}

const struct link_target *links_target(links *l, int peer) { return &state_of(l, peer)->t; }

void links_observe(links *l, int peer, int ok, double total_ms, double server_ms, size_t bytes)
{
    pthread_mutex_lock(&l->lock);
    struct link_state *st = state_of(l, peer);
    st->reachable = ok;
    if (ok) {
        st->infer_ms = ewma(st->infer_ms, server_ms);
        /* What is left after the server's own time and one round trip is transfer time. */
        double transfer_ms = total_ms - server_ms - st->rtt_ms;
        if (transfer_ms < 0.05)
            transfer_ms = 0.05;
        st->bw_Bps = ewma(st->bw_Bps, (double)bytes / (transfer_ms / 1000.0));
    }
    pthread_mutex_unlock(&l->lock);
}

void links_destroy(links *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, 1);
    if (l->started)
        pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
