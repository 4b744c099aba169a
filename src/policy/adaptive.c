/* edgecam's adaptive policy: edge first; when the local queue would miss the latency target,
 * offload at the highest resolution and JPEG quality whose expected latency (queue wait +
 * transfer at the measured bandwidth + RTT + remote inference) still meets it. When nothing
 * meets it, take the option with the lowest expected latency. */
#include "policy/builtin.h"

#include <math.h>

#define DEFAULT_BANDWIDTH_BPS 1.25e6 /* 10 Mbit/s until measured */
#define DEFAULT_BPP_Q75 0.2          /* JPEG bytes/pixel at q75 on street video until measured */

static const int height_ladder[] = {2160, 1440, 1080, 720, 540, 480, 360, 240, 180, 144};

/* JPEG size grows roughly exponentially with quality in the range used here. */
static double quality_factor(int q) { return exp(q / 25.0); }

static double jpeg_bytes(const struct policy_state *s, int h, int q)
{
    double w = s->frame_h > 0 ? (double)s->frame_w * h / s->frame_h : h * 16.0 / 9.0;
    double bpp = s->jpeg_bpp > 0 && s->jpeg_bpp_quality > 0
                     ? s->jpeg_bpp * quality_factor(q) / quality_factor(s->jpeg_bpp_quality)
                     : DEFAULT_BPP_Q75 * quality_factor(q) / quality_factor(75);
    return w * h * bpp;
}

static double offload_ms(const struct policy_link *l, double bytes)
{
    double bw = l->bandwidth_Bps > 0 ? l->bandwidth_Bps : DEFAULT_BANDWIDTH_BPS;
    return l->rtt_ms + bytes / bw * 1000.0 + (l->queue_len + 1) * l->infer_ms;
}

struct option {
    enum policy_dest dest;
    int peer, height, quality;
    double ms;
};

/* Considers one (height, quality) on the cloud and every reachable peer. */
static void consider(const struct policy_state *s, int h, int q, double target,
                     struct option *first_ok, struct option *fastest)
{
    double bytes = jpeg_bytes(s, h, q);
    for (int i = -1; i < s->npeers; i++) {
        const struct policy_link *l = i < 0 ? &s->cloud : &s->peers[i];
        if (!l->reachable)
            continue;
        struct option o = {i < 0 ? POLICY_CLOUD : POLICY_PEER, i, h, q, offload_ms(l, bytes)};
        if (o.ms <= target && first_ok->ms < 0)
            *first_ok = o;
        if (o.ms < fastest->ms)
            *fastest = o;
    }
}

int policy_adaptive(void *ctx, const struct policy_params *p, const struct policy_state *s,
                    struct policy_decision *out)
{
    (void)ctx;
    double target = p->adaptive_latency_target_ms;
    struct option local = {POLICY_LOCAL, -1, 0, 0, (s->local_queue_len + 1) * s->local_infer_ms};
    if (local.ms <= target) {
        *out = (struct policy_decision){.dest = POLICY_LOCAL, .peer = -1};
        return 0;
    }
    int max_h = p->adaptive_max_height;
    if (s->frame_h > 0 && s->frame_h < max_h)
        max_h = s->frame_h;
    struct option first_ok = {.ms = -1}, fastest = local;
    /* Fidelity order: height first, then quality, highest first. */
    int heights[sizeof height_ladder / sizeof height_ladder[0] + 1], nh = 0;
    heights[nh++] = max_h;
    for (size_t i = 0; i < sizeof height_ladder / sizeof height_ladder[0]; i++)
        if (height_ladder[i] < max_h && height_ladder[i] >= p->adaptive_min_height)
            heights[nh++] = height_ladder[i];
    for (int hi = 0; hi < nh && first_ok.ms < 0; hi++)
        for (int q = p->adaptive_max_quality; q >= p->adaptive_min_quality && first_ok.ms < 0;
             q -= 10)
            consider(s, heights[hi], q, target, &first_ok, &fastest);
    const struct option *pick = first_ok.ms >= 0 ? &first_ok : &fastest;
    *out = (struct policy_decision){.dest = pick->dest, .peer = pick->peer,
                                    .height = pick->height == s->frame_h ? 0 : pick->height,
                                    .quality = pick->quality};
    return 0;
}
