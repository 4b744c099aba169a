/* Drift collector: per window, up to collect_num frames with a confident detection are
 * copied, at least window / collect_num seconds apart so they span the window instead of its
 * first seconds (neighbouring frames show the same objects); when the window closes the
 * select_num with the lowest mean confidence are handed on (the frames the model is least
 * sure about are the ones worth labelling). */
#include "retrain/retrain.h"

#include "core/log.h"
#include "video/video.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct drift_collector {
    struct retrain_opts opts;
    drift_round_fn on_round;
    void *ctx;
    pthread_mutex_t lock;
    int open;                /* a window has started */
    double window_start;
    double last_kept;        /* time of the last copy in this window */
    int n;                   /* frames held, <= collect_num */
    image **frames;
    double *conf;
    struct drift_collector_stats st;
};

drift_collector *drift_collector_create(const struct retrain_opts *o, drift_round_fn on_round,
                                        void *ctx, ec_err *err)
{
    if (retrain_opts_validate(o, err))
        return NULL;
    if (!on_round) {
        ec_err_set(err, EC_EINVAL, "drift collector needs a round callback");
        return NULL;
    }
    drift_collector *c = calloc(1, sizeof *c);
    if (c) {
        c->frames = calloc((size_t)o->collect_num, sizeof *c->frames);
        c->conf = calloc((size_t)o->collect_num, sizeof *c->conf);
    }
    if (!c || !c->frames || !c->conf) {
        if (c)
            free(c->frames), free(c->conf), free(c);
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    c->opts = *o;
    c->on_round = on_round;
    c->ctx = ctx;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static int by_conf(const void *a, const void *b, void *confs)
{
    const double *cf = confs;
    int ia = *(const int *)a, ib = *(const int *)b;
    return cf[ia] < cf[ib] ? -1 : cf[ia] > cf[ib] ? 1 : ia - ib;
}

/* Sorts indices by confidence (insertion sort: at most collect_num items, stable). */
static void sort_indices(int *idx, int n, const double *conf)
{
    for (int i = 1; i < n; i++) {
        int v = idx[i], j = i - 1;
        while (j >= 0 && by_conf(&idx[j], &v, (void *)conf) > 0) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = v;
    }
}

/* Builds the window's selection and empties it. Called with the lock held. */
static struct retrain_batch *close_window(drift_collector *c)
{
    struct retrain_batch *b = NULL;
    int idx[RETRAIN_MAX_FRAMES];
    int keep = c->n < c->opts.select_num ? c->n : c->opts.select_num;
    if (keep > 0 && (b = calloc(1, sizeof *b)) &&
        (!(b->frames = calloc((size_t)keep, sizeof *b->frames)) ||
         !(b->mean_conf = calloc((size_t)keep, sizeof *b->mean_conf)))) {
        free(b->frames);
        free(b);
        b = NULL;
    }
    for (int i = 0; i < c->n; i++)
        idx[i] = i;
    sort_indices(idx, c->n, c->conf);
    for (int i = 0; i < c->n; i++) {
        int k = idx[i];
        if (b && i < keep) {
            b->frames[b->n] = c->frames[k];
            b->mean_conf[b->n++] = c->conf[k];
        } else {
            image_destroy(c->frames[k]);
        }
        c->frames[k] = NULL;
    }
    if (keep > 0 && !b)
        c->st.skip_error += c->n;
    if (b) {
        b->window_start_s = c->window_start;
        c->st.rounds++;
    }
    c->n = 0;
    return b;
}

static void hand_on(drift_collector *c, struct retrain_batch *b)
{
    if (b)
        c->on_round(c->ctx, b); /* outside the lock: the client may block briefly */
}

int drift_collector_add(drift_collector *c, const image *rgb, double t_s,
                        const struct det_list *dets)
{
    if (!c || !rgb || !dets || rgb->c != 3 || rgb->w < 1 || rgb->h < 1)
        return -1;
    double sum = 0, best = 0;
    for (int i = 0; i < dets->n; i++) {
        sum += dets->v[i].score;
        if (dets->v[i].score > best)
            best = dets->v[i].score;
    }
    struct retrain_batch *closed = NULL;
    int kept = 0;
    pthread_mutex_lock(&c->lock);
    c->st.seen++;
    if (!c->open) {
        c->open = 1;
        c->window_start = t_s;
    } else if (t_s >= c->window_start + c->opts.window_s) {
        closed = close_window(c);
        /* Windows are aligned on the first one, so gaps do not shift them. */
        double k = (t_s - c->window_start) / c->opts.window_s;
        c->window_start += (double)(int64_t)k * c->opts.window_s;
    }
    if (dets->n == 0 || best < c->opts.confident_thresh) {
        c->st.skip_unconfident++;
    } else if (c->n >= c->opts.collect_num) {
        c->st.skip_full++;
    } else if (c->n > 0 && t_s < c->last_kept + c->opts.window_s / c->opts.collect_num) {
        c->st.skip_spacing++;
    } else {
        image *copy = image_clone(rgb);
        if (!copy) {
            c->st.skip_error++;
        } else {
            c->frames[c->n] = copy;
            c->conf[c->n++] = sum / dets->n;
            c->last_kept = t_s;
            c->st.collected++;
            kept = 1;
        }
    }
    pthread_mutex_unlock(&c->lock);
    hand_on(c, closed);
    return kept;
}

void drift_collector_observe(void *ctx, const struct frame *f, const struct det_list *dets,
                             int model_version)
{
    (void)model_version;
    if (f && f->img)
        drift_collector_add(ctx, f->img, f->pts_s, dets);
}

int drift_collector_flush(drift_collector *c)
{
    pthread_mutex_lock(&c->lock);
    struct retrain_batch *b = close_window(c);
    c->open = 0;
    pthread_mutex_unlock(&c->lock);
    int n = b ? b->n : 0;
    hand_on(c, b);
    return n;
}

void drift_collector_stats(drift_collector *c, struct drift_collector_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    pthread_mutex_unlock(&c->lock);
}

void drift_collector_destroy(drift_collector *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        image_destroy(c->frames[i]);
    free(c->frames);
    free(c->conf);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
