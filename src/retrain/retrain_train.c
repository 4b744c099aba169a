/* The trainer shared by the cloud service and by edges that retrain locally: golden labels,
 * held-out split, fine-tuning of a clone, old-vs-new comparison, replay history. */
#include "retrain/retrain.h"

#include "core/clock.h"
#include "core/log.h"
#include "eval/eval.h"
#include "nn/nn_internal.h" /* head-only training flips nn_param.trainable (no public API) */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_SCORE_FLOOR 0.01f
/* Held-out frames of past rounds kept to judge the next candidates: a round holds out only a
 * few frames (4 of EdgeCam's 15), too few to tell a better model from a lucky one, and a
 * worse model shipped costs the edge a whole window. */
#define VALIDATION_HISTORY 12

struct retrain_replay {
    int cap, n;
    image **frames;
    struct det_list *labels;
    uint64_t rng;
    int vn; /* validation history, oldest first, <= VALIDATION_HISTORY */
    image *vframes[VALIDATION_HISTORY];
    struct det_list vlabels[VALIDATION_HISTORY];
};

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void shuffle(int *v, int n, uint64_t *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_next(rng) % (uint64_t)(i + 1));
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

retrain_replay *retrain_replay_create(int capacity)
{
    if (capacity < 0 || capacity > 4096)
        return NULL;
    retrain_replay *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cap = capacity;
    r->rng = 0x5eed;
    if (capacity > 0 && (!(r->frames = calloc((size_t)capacity, sizeof *r->frames)) ||
                         !(r->labels = calloc((size_t)capacity, sizeof *r->labels)))) {
        retrain_replay_destroy(r);
        return NULL;
    }
    return r;
}

int retrain_replay_count(const retrain_replay *r) { return r ? r->n : 0; }

static void replay_clear(retrain_replay *r)
{
    for (int i = 0; i < r->n; i++) {
        image_destroy(r->frames[i]);
        det_list_free(&r->labels[i]);
    }
    r->n = 0;
}

void retrain_replay_destroy(retrain_replay *r)
{
    if (!r)
        return;
    replay_clear(r);
    for (int i = 0; i < r->vn; i++) {
        image_destroy(r->vframes[i]);
        det_list_free(&r->vlabels[i]);
    }
    free(r->frames);
    free(r->labels);
    free(r);
}

static int copy_labels(struct det_list *dst, const struct det_list *src)
{
    memset(dst, 0, sizeof *dst);
    for (int i = 0; i < src->n; i++)
        if (det_list_push(dst, src->v[i])) {
            det_list_free(dst);
            return -1;
        }
    return 0;
}

/* The next history: a random `fraction` of this round's training frames (new and replayed),
 * so old scenes fade out geometrically instead of being forgotten at once. */
static void replay_refresh(retrain_replay *r, float fraction, const image *const frames[],
                           const struct det_list labels[], int n)
{
    int want = (int)ceilf(fraction * (float)n);
    if (want > r->cap)
        want = r->cap;
    int *idx = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    image **nf = calloc((size_t)(want > 0 ? want : 1), sizeof *nf);
    struct det_list *nl = calloc((size_t)(want > 0 ? want : 1), sizeof *nl);
    int got = 0;
    if (idx && nf && nl) {
        for (int i = 0; i < n; i++)
            idx[i] = i;
        shuffle(idx, n, &r->rng);
        for (int i = 0; i < want; i++) {
            image *c = image_clone(frames[idx[i]]);
            if (!c || copy_labels(&nl[got], &labels[idx[i]])) {
                image_destroy(c);
                break;
            }
            nf[got++] = c;
        }
    }
    replay_clear(r);
    for (int i = 0; i < got; i++) {
        r->frames[i] = nf[i];
        r->labels[i] = nl[i];
    }
    r->n = got;
    free(idx);
    free(nf);
    free(nl);
}

/* Appends this round's held-out frames to the validation history, dropping the oldest. */
static void validation_push(retrain_replay *r, const image *const frames[],
                            const struct det_list labels[], int n)
{
    for (int i = 0; i < n; i++) {
        image *c = image_clone(frames[i]);
        struct det_list l;
        if (!c || copy_labels(&l, &labels[i])) {
            image_destroy(c);
            return; /* out of memory: the history just stays shorter */
        }
        if (r->vn == VALIDATION_HISTORY) {
            image_destroy(r->vframes[0]);
            det_list_free(&r->vlabels[0]);
            memmove(r->vframes, r->vframes + 1, sizeof *r->vframes * (VALIDATION_HISTORY - 1));
            memmove(r->vlabels, r->vlabels + 1, sizeof *r->vlabels * (VALIDATION_HISTORY - 1));
            r->vn--;
        }
        r->vframes[r->vn] = c;
        r->vlabels[r->vn++] = l;
    }
}

int retrain_label(const detector *golden, float thresh, const image *const frames[], int n,
                  struct det_list out[], ec_err *err)
{
    for (int i = 0; i < n; i++) {
        det_list_clear(&out[i]);
        if (detector_run(golden, frames[i], thresh, &out[i], err))
            return ec_err_wrap(err, "labelling frame %d", i);
    }
    return 0;
}

double retrain_eval_map(const detector *d, const image *const frames[],
                        const struct det_list labels[], int n, ec_err *err)
{
    eval_acc *acc = eval_create(detector_num_classes(d));
    if (!acc) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return -2;
    }
    struct det_list dets = {0};
    double map = -2;
    int i;
    for (i = 0; i < n; i++) {
        det_list_clear(&dets);
        if (detector_run(d, frames[i], EVAL_SCORE_FLOOR, &dets, err) ||
            eval_add_frame(acc, &dets, &labels[i], err))
            break;
    }
    if (i == n)
        map = eval_map(acc, 0.5);
    det_list_free(&dets);
    eval_destroy(acc);
    return map;
}

/* Head-only: every parameter outside layers named "head*" is frozen. */
static void freeze_backbone(nn_model *m)
{
    for (int i = 0; i < m->nparams; i++)
        if (strncmp(m->params[i].name, "head", 4) != 0)
            m->params[i].trainable = 0;
}

/* A mirrored copy of a frame and its boxes: a round has few frames, and a street seen in a
 * mirror is still a street, so half of the steps see the mirror (as `edgecam train`). */
static image *mirror(const image *src, const struct det_list *in, struct det_list *out)
{
    image *img = image_clone(src);
    if (!img || copy_labels(out, in)) {
        image_destroy(img);
        return NULL;
    }
    for (int y = 0; y < img->h; y++) {
        uint8_t *r = image_row(img, y);
        for (int x = 0; x < img->w / 2; x++)
            for (int c = 0; c < img->c; c++) {
                uint8_t t = r[x * img->c + c];
                r[x * img->c + c] = r[(img->w - 1 - x) * img->c + c];
                r[(img->w - 1 - x) * img->c + c] = t;
            }
    }
    for (int k = 0; k < out->n; k++) {
        float x1 = out->v[k].x1;
        out->v[k].x1 = (float)img->w - out->v[k].x2;
        out->v[k].x2 = (float)img->w - x1;
    }
    return img;
}

static int train_epochs(const struct retrain_opts *o, detector *cand, const image *const tf[],
                        const struct det_list tl[], int nt, uint64_t *rng, float *loss,
                        ec_err *err)
{
    nn_model *m = detector_model(cand);
    if (o->head_only)
        freeze_backbone(m);
    struct nn_optim_cfg oc = {.kind = o->optimizer, .lr = o->lr, .momentum = o->momentum,
                              .weight_decay = o->weight_decay};
    nn_optim *opt = nn_optim_create(m, &oc, err);
    int *order = malloc(sizeof(int) * (size_t)nt);
    const image **bi = malloc(sizeof(*bi) * (size_t)o->batch_size);
    struct det_list *bl = malloc(sizeof(*bl) * (size_t)o->batch_size);
    image **flip = calloc((size_t)o->batch_size, sizeof *flip);
    struct det_list *flip_l = calloc((size_t)o->batch_size, sizeof *flip_l);
    int rc = -1;
    if (!opt || !order || !bi || !bl || !flip || !flip_l) {
        if (opt)
            ec_err_set(err, EC_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < nt; i++)
        order[i] = i;
    for (int ep = 0; ep < o->num_epoch; ep++) {
        shuffle(order, nt, rng);
        for (int s = 0; s < nt; s += o->batch_size) {
            int bn = nt - s < o->batch_size ? nt - s : o->batch_size;
            for (int k = 0; k < bn; k++) {
                int j = order[s + k];
                image_destroy(flip[k]);
                det_list_free(&flip_l[k]);
                flip[k] = (rng_next(rng) & 1) ? mirror(tf[j], &tl[j], &flip_l[k]) : NULL;
                bi[k] = flip[k] ? flip[k] : tf[j];
                bl[k] = flip[k] ? flip_l[k] : tl[j]; /* shallow: read only */
            }
            if (detector_train_step(cand, opt, bi, bl, bn, loss, err))
                goto out;
        }
    }
    rc = 0;
out:
    for (int k = 0; flip && flip_l && k < o->batch_size; k++) {
        image_destroy(flip[k]);
        det_list_free(&flip_l[k]);
    }
    free(flip);
    free(flip_l);
    nn_optim_destroy(opt);
    free(order);
    free(bi);
    free(bl);
    return rc;
}

detector *retrain_finetune(const struct retrain_opts *o, const detector *current,
                           const image *const frames[], const struct det_list labels[], int n,
                           retrain_replay *replay, struct retrain_result *res, ec_err *err)
{
    memset(res, 0, sizeof *res);
    if (retrain_opts_validate(o, err))
        return NULL;
    if (n < 2 || n > RETRAIN_MAX_FRAMES) {
        ec_err_set(err, EC_EINVAL, "a round needs 2..%d frames, got %d", RETRAIN_MAX_FRAMES, n);
        return NULL;
    }
    uint64_t rng = o->seed ^ ((uint64_t)n << 32) ^ (replay ? replay->rng : 0);
    int nhold = (int)lroundf(o->holdout_fraction * (float)n);
    nhold = nhold < 1 ? 1 : nhold > n - 1 ? n - 1 : nhold;
    int nrep = replay ? replay->n : 0;
    int nt = n - nhold + nrep, nval = nhold + (replay ? replay->vn : 0);
    int *idx = malloc(sizeof(int) * (size_t)n);
    const image **hf = malloc(sizeof(*hf) * (size_t)nval);
    struct det_list *hl = malloc(sizeof(*hl) * (size_t)nval);
    const image **tf = malloc(sizeof(*tf) * (size_t)nt);
    struct det_list *tl = malloc(sizeof(*tl) * (size_t)nt);
    detector *cand = NULL;
    if (!idx || !hf || !hl || !tf || !tl) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++)
        idx[i] = i;
    shuffle(idx, n, &rng);
    for (int i = 0; i < nhold; i++)
        hf[i] = frames[idx[i]], hl[i] = labels[idx[i]];
    for (int i = nhold; i < n; i++)
        tf[i - nhold] = frames[idx[i]], tl[i - nhold] = labels[idx[i]];
    for (int i = 0; i < nrep; i++)
        tf[n - nhold + i] = replay->frames[i], tl[n - nhold + i] = replay->labels[i];
    for (int i = nhold; i < nval; i++)
        hf[i] = replay->vframes[i - nhold], hl[i] = replay->vlabels[i - nhold];
    res->train_new = n - nhold;
    res->holdout = nhold;
    res->replayed = nrep;
    res->frames_used = nt;

    if (!(cand = detector_clone(current, err)))
        goto fail;
    double t0 = clock_mono_s();
    if (train_epochs(o, cand, tf, tl, nt, &rng, &res->last_loss, err))
        goto fail;
    double t1 = clock_mono_s();
    /* Old vs new on this round's held-out frames and the recent rounds' (never trained on). */
    res->map_before = retrain_eval_map(current, hf, hl, nval, err);
    res->map_after = retrain_eval_map(cand, hf, hl, nval, err);
    if (res->map_before < -1.5 || res->map_after < -1.5)
        goto fail;
    res->train_ms = (t1 - t0) * 1e3;
    res->eval_ms = (clock_mono_s() - t1) * 1e3;
    /* Held-out frames without any label cannot tell the models apart: keep the old one. */
    res->accepted = res->map_before >= 0 && res->map_after > res->map_before;
    if (replay) {
        replay_refresh(replay, o->replay_fraction, tf, tl, nt);
        validation_push(replay, hf, hl, nhold);
    }
    free(idx), free(hf), free(hl), free(tf), free(tl);
    return cand;
fail:
    detector_destroy(cand);
    free(idx), free(hf), free(hl), free(tf), free(tl);
    return NULL;
}
