/* SGD with momentum and Adam, following torch.optim (weight decay added to the gradient). */
#include "nn/nn_internal.h"

#include <math.h>
#include <stdlib.h>

struct nn_optim {
    struct nn_optim_cfg cfg;
    int nparams;
    size_t total;  /* floats over trainable params, to check the model matches */
    float **m, **v; /* per param state (v only for Adam) */
    long step;
};

nn_optim *nn_optim_create(const nn_model *m, const struct nn_optim_cfg *cfg, ec_err *err)
{
    if (!(cfg->lr > 0) || cfg->momentum < 0 || cfg->momentum >= 1 || cfg->weight_decay < 0 ||
        (cfg->kind != NN_OPTIM_SGD && cfg->kind != NN_OPTIM_ADAM)) {
        ec_err_set(err, EC_EINVAL, "bad optimiser settings");
        return NULL;
    }
    nn_optim *o = calloc(1, sizeof *o);
    if (!o)
        goto oom;
    o->cfg = *cfg;
    if (o->cfg.beta1 == 0)
        o->cfg.beta1 = 0.9f;
    if (o->cfg.beta2 == 0)
        o->cfg.beta2 = 0.999f;
    if (o->cfg.eps == 0)
        o->cfg.eps = 1e-8f;
    o->nparams = m->nparams;
    o->m = calloc((size_t)m->nparams, sizeof *o->m);
    o->v = calloc((size_t)m->nparams, sizeof *o->v);
    if (!o->m || !o->v)
        goto oom;
    for (int i = 0; i < m->nparams; i++) {
        const struct nn_param *p = &m->params[i];
        if (!p->trainable)
            continue;
        o->total += p->numel;
        o->m[i] = calloc(p->numel, sizeof(float));
        if (!o->m[i] || (cfg->kind == NN_OPTIM_ADAM && !(o->v[i] = calloc(p->numel, sizeof(float)))))
            goto oom;
    }
    return o;
oom:
    nn_optim_destroy(o);
    ec_err_set(err, EC_ENOMEM, "out of memory for optimiser state");
    return NULL;
}

void nn_optim_destroy(nn_optim *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->nparams; i++) {
        if (o->m)
            free(o->m[i]);
        if (o->v)
            free(o->v[i]);
    }
    free(o->m);
    free(o->v);
    free(o);
}

void nn_optim_set_lr(nn_optim *o, float lr) { o->cfg.lr = lr; }

static void sgd_update(const struct nn_optim_cfg *c, long step, struct nn_param *p, float *buf)
{
    for (size_t k = 0; k < p->numel; k++) {
        float g = p->grad[k] + c->weight_decay * p->data[k];
        if (c->momentum > 0) {
            /* torch starts the buffer at the first gradient (no dampening). */
            buf[k] = step == 1 ? g : c->momentum * buf[k] + g;
            g = buf[k];
        }
        p->data[k] -= c->lr * g;
    }
}

static void adam_update(const struct nn_optim_cfg *c, long step, struct nn_param *p, float *m,
                        float *v)
{
    float bc1 = 1.0f - powf(c->beta1, (float)step);
    float bc2_sqrt = sqrtf(1.0f - powf(c->beta2, (float)step));
    float step_size = c->lr / bc1;
    for (size_t k = 0; k < p->numel; k++) {
        float g = p->grad[k] + c->weight_decay * p->data[k];
        m[k] = c->beta1 * m[k] + (1.0f - c->beta1) * g;
        v[k] = c->beta2 * v[k] + (1.0f - c->beta2) * g * g;
        float denom = sqrtf(v[k]) / bc2_sqrt + c->eps;
        p->data[k] -= step_size * m[k] / denom;
    }
}

int nn_optim_step(nn_optim *o, nn_model *m, ec_err *err)
{
    size_t total = 0;
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].trainable)
            total += m->params[i].numel;
    if (m->nparams != o->nparams || total != o->total)
        return ec_err_set(err, EC_EINVAL, "optimiser was created for another model");
    o->step++;
    for (int i = 0; i < m->nparams; i++) {
        struct nn_param *p = &m->params[i];
        if (!p->trainable)
            continue;
        if (o->cfg.kind == NN_OPTIM_SGD)
            sgd_update(&o->cfg, o->step, p, o->m[i]);
        else
            adam_update(&o->cfg, o->step, p, o->m[i], o->v[i]);
    }
    nn_model_refresh_inference(m);
    return 0;
}
