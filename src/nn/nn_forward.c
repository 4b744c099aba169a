/* Graph execution: inference forward (folded BN, per-call scratch), training forward that keeps
 * activations, and backward. */
#include "nn/nn_internal.h"

#include <stdlib.h>
#include <string.h>

static size_t layer_numel(const struct nn_layer *L, int n) { return (size_t)n * L->h * L->w * L->c; }

static size_t max_scratch(const nn_model *m, int train, int threads)
{
    size_t s = 1;
    for (int i = 0; i < m->nlayers; i++) {
        size_t k = nn_conv_scratch(&m->layers[i], train, threads);
        s = k > s ? k : s;
    }
    return s;
}

static int check_input(const nn_model *m, const nn_tensor *in, ec_err *err)
{
    if (!in || !in->data || in->n < 1 || in->h != m->in_h || in->w != m->in_w ||
        in->c != m->in_c)
        return ec_err_set(err, EC_EINVAL, "input must be N x %d x %d x %d (NHWC)", m->in_h,
                          m->in_w, m->in_c);
    return 0;
}

static void concat_forward(const nn_model *m, const struct nn_layer *L, int n,
                           float *const *outs, const float *input, float *y)
{
    size_t px = (size_t)n * L->h * L->w;
    int off = 0;
    for (int k = 0; k < L->nin; k++) {
        int j = L->in[k];
        int c = j < 0 ? m->in_c : m->layers[j].c;
        const float *x = j < 0 ? input : outs[j];
        for (size_t p = 0; p < px; p++)
            memcpy(y + p * L->c + off, x + p * c, (size_t)c * sizeof(float));
        off += c;
    }
}

static void add_forward(const struct nn_layer *L, int n, float *const *outs, const float *input,
                        float *y)
{
    size_t cnt = layer_numel(L, n);
    for (int k = 0; k < L->nin; k++) {
        const float *x = L->in[k] < 0 ? input : outs[L->in[k]];
        if (k == 0)
            memcpy(y, x, cnt * sizeof(float));
        else
            for (size_t i = 0; i < cnt; i++)
                y[i] += x[i];
    }
}

/* Runs layer i. `train`: batch-stat BN and recorded maxpool indices. */
static int run_layer(nn_model *m, int i, int n, float *const *outs, const float *input,
                     float *cols, int train, int threads, ec_err *err)
{
    const struct nn_layer *L = &m->layers[i];
    const float *x = L->in[0] < 0 ? input : outs[L->in[0]];
    float *y = outs[i];
    size_t cnt = layer_numel(L, n);
    const struct nn_param *P = m->params;
    switch (L->op) {
    case OP_CONV:
        if (train)
            nn_conv_forward(L, n, x, P[L->p_weight].data,
                            L->p_bias >= 0 ? P[L->p_bias].data : NULL, y, cols, 0, threads);
        else
            nn_conv_forward(L, n, x, L->fw, L->fb, y, cols, 1, threads);
        break;
    case OP_DWCONV:
        if (train)
            nn_dwconv_forward(L, n, x, P[L->p_weight].data,
                              L->p_bias >= 0 ? P[L->p_bias].data : NULL, y);
        else {
            nn_dwconv_forward(L, n, x, L->fw, L->fb, y);
            if (L->fuse_act != OP_CONV)
                nn_act_forward(L->fuse_act, L->slope_act, cnt, y, y);
        }
        break;
    case OP_BN:
        if (train) {
            if (nn_bn_forward_train(cnt / (size_t)L->c, L->c, x, P[L->p_weight].data,
                                    P[L->p_bias].data, P[L->p_mean].data, P[L->p_var].data,
                                    m->ts.bn_mean[i], m->ts.bn_invstd[i], y))
                return ec_err_set(err, EC_ENOMEM, "out of memory");
        } else if (!L->folded) {
            nn_bn_forward_eval(cnt / (size_t)L->c, L->c, x, P[L->p_weight].data,
                               P[L->p_bias].data, P[L->p_mean].data, P[L->p_var].data, y);
        }
        break;
    case OP_RELU:
    case OP_LEAKY:
    case OP_SILU:
        if (train || !L->fused)
            nn_act_forward(L->op, L->slope, cnt, x, y);
        break;
    case OP_MAXPOOL:
        nn_maxpool_forward(L, n, x, y, train ? m->ts.argmax[i] : NULL);
        break;
    case OP_UPSAMPLE:
        nn_upsample_forward(L, n, x, y);
        break;
    case OP_CONCAT:
        concat_forward(m, L, n, outs, input, y);
        break;
    case OP_ADD:
        add_forward(L, n, outs, input, y);
        break;
    }
    return 0;
}

static struct nn_workspace *workspace_take(nn_model *m, size_t floats)
{
    pthread_mutex_lock(&m->ws_lock);
    struct nn_workspace *w = m->ws_free;
    if (w)
        m->ws_free = w->next;
    pthread_mutex_unlock(&m->ws_lock);
    if (!w && !(w = calloc(1, sizeof *w)))
        return NULL;
    if (w->cap < floats) {
        free(w->mem);
        w->cap = 0;
        if (!(w->mem = malloc(floats * sizeof(float)))) {
            free(w);
            return NULL;
        }
        w->cap = floats;
    }
    return w;
}

static void workspace_give(nn_model *m, struct nn_workspace *w)
{
    pthread_mutex_lock(&m->ws_lock);
    w->next = m->ws_free;
    m->ws_free = w;
    pthread_mutex_unlock(&m->ws_lock);
}

nn_tensor *nn_model_forward(const nn_model *cm, const nn_tensor *in, ec_err *err)
{
    if (check_input(cm, in, err))
        return NULL;
    /* Weights stay read-only; only the workspace pool (behind its lock) is touched. */
    nn_model *m = (nn_model *)cm;
    int n = in->n, threads = nn_threads();
    size_t scratch = max_scratch(m, 0, threads), need = scratch;
    for (int i = 0; i < m->nlayers; i++)
        if (!(m->layers[i].folded || m->layers[i].fused))
            need += (layer_numel(&m->layers[i], n) + 15) & ~(size_t)15;
    float **outs = calloc((size_t)m->nlayers, sizeof *outs);
    struct nn_workspace *ws = outs ? workspace_take(m, need) : NULL;
    if (!ws) {
        free(outs);
        ec_err_set(err, EC_ENOMEM, "out of memory in forward");
        return NULL;
    }
    float *cols = ws->mem, *next = ws->mem + scratch;
    for (int i = 0; i < m->nlayers; i++) {
        const struct nn_layer *L = &m->layers[i];
        if (L->folded || L->fused) {
            outs[i] = outs[L->in[0]]; /* the conv before already applied it */
            continue;
        }
        outs[i] = next;
        next += (layer_numel(L, n) + 15) & ~(size_t)15;
        run_layer(m, i, n, outs, in->data, cols, 0, threads, NULL); /* cannot fail here */
    }
    const struct nn_layer *L = &m->layers[m->nlayers - 1];
    nn_tensor *result = nn_tensor_create(n, L->h, L->w, L->c);
    if (result)
        memcpy(result->data, outs[m->nlayers - 1], nn_tensor_numel(result) * sizeof(float));
    else
        ec_err_set(err, EC_ENOMEM, "out of memory in forward");
    workspace_give(m, ws);
    free(outs);
    return result;
}

static int alloc_train_state(nn_model *m, int n)
{
    struct nn_train_state *ts = &m->ts;
    if (ts->out && ts->n == n && ts->threads == nn_threads())
        return 0;
    nn_train_state_free(m);
    size_t nl = (size_t)m->nlayers;
    ts->out = calloc(nl, sizeof *ts->out);
    ts->grad = calloc(nl, sizeof *ts->grad);
    ts->bn_mean = calloc(nl, sizeof *ts->bn_mean);
    ts->bn_invstd = calloc(nl, sizeof *ts->bn_invstd);
    ts->argmax = calloc(nl, sizeof *ts->argmax);
    ts->threads = nn_threads();
    ts->cols = malloc(max_scratch(m, 1, ts->threads) * sizeof(float));
    ts->input.data = malloc((size_t)n * m->in_h * m->in_w * m->in_c * sizeof(float));
    if (!ts->out || !ts->grad || !ts->bn_mean || !ts->bn_invstd || !ts->argmax || !ts->cols ||
        !ts->input.data)
        goto fail;
    ts->n = n;
    for (size_t i = 0; i < nl; i++) {
        const struct nn_layer *L = &m->layers[i];
        size_t cnt = layer_numel(L, n);
        ts->out[i] = malloc(cnt * sizeof(float));
        ts->grad[i] = malloc(cnt * sizeof(float));
        if (!ts->out[i] || !ts->grad[i])
            goto fail;
        if (L->op == OP_BN) {
            ts->bn_mean[i] = malloc((size_t)L->c * sizeof(float));
            ts->bn_invstd[i] = malloc((size_t)L->c * sizeof(float));
            if (!ts->bn_mean[i] || !ts->bn_invstd[i])
                goto fail;
        }
        if (L->op == OP_MAXPOOL && !(ts->argmax[i] = malloc(cnt * sizeof(int32_t))))
            goto fail;
    }
    return 0;
fail:
    nn_train_state_free(m);
    return -1;
}

const nn_tensor *nn_model_forward_train(nn_model *m, const nn_tensor *in, ec_err *err)
{
    if (check_input(m, in, err))
        return NULL;
    if (alloc_train_state(m, in->n)) {
        ec_err_set(err, EC_ENOMEM, "out of memory for training activations");
        return NULL;
    }
    struct nn_train_state *ts = &m->ts;
    ts->input.n = in->n, ts->input.h = in->h, ts->input.w = in->w, ts->input.c = in->c;
    memcpy(ts->input.data, in->data, nn_tensor_numel(in) * sizeof(float));
    for (int i = 0; i < m->nlayers; i++)
        if (run_layer(m, i, in->n, ts->out, ts->input.data, ts->cols, 1, ts->threads, err))
            return NULL;
    const struct nn_layer *L = &m->layers[m->nlayers - 1];
    ts->result = (nn_tensor){in->n, L->h, L->w, L->c, ts->out[m->nlayers - 1]};
    return &ts->result;
}

static void concat_backward(const nn_model *m, const struct nn_layer *L, int n, const float *dy,
                            float *dinput)
{
    size_t px = (size_t)n * L->h * L->w;
    int off = 0;
    for (int k = 0; k < L->nin; k++) {
        int j = L->in[k];
        int c = j < 0 ? m->in_c : m->layers[j].c;
        float *dx = j < 0 ? dinput : m->ts.grad[j];
        for (size_t p = 0; dx && p < px; p++)
            for (int q = 0; q < c; q++)
                dx[p * c + q] += dy[p * L->c + off + q];
        off += c;
    }
}

static int backward_layer(nn_model *m, int i, float *dinput)
{
    struct nn_train_state *ts = &m->ts;
    const struct nn_layer *L = &m->layers[i];
    int n = ts->n, j = L->in[0];
    const float *x = j < 0 ? ts->input.data : ts->out[j];
    float *dx = j < 0 ? dinput : ts->grad[j];
    const float *dy = ts->grad[i];
    size_t cnt = layer_numel(L, n);
    struct nn_param *P = m->params;
    float *gb = L->p_bias >= 0 ? P[L->p_bias].grad : NULL;
    switch (L->op) {
    case OP_CONV:
        nn_conv_backward(L, n, x, P[L->p_weight].data, dy, dx, P[L->p_weight].grad, gb,
                         ts->cols);
        break;
    case OP_DWCONV:
        nn_dwconv_backward(L, n, x, P[L->p_weight].data, dy, dx, P[L->p_weight].grad, gb);
        break;
    case OP_BN:
        return nn_bn_backward(cnt / (size_t)L->c, L->c, x, P[L->p_weight].data, ts->bn_mean[i],
                              ts->bn_invstd[i], dy, dx, P[L->p_weight].grad, gb);
    case OP_RELU:
    case OP_LEAKY:
    case OP_SILU:
        if (dx)
            nn_act_backward(L->op, L->slope, cnt, x, dy, dx);
        break;
    case OP_MAXPOOL:
        if (dx)
            nn_maxpool_backward(L, n, dy, ts->argmax[i], dx);
        break;
    case OP_UPSAMPLE:
        if (dx)
            nn_upsample_backward(L, n, dy, dx);
        break;
    case OP_CONCAT:
        concat_backward(m, L, n, dy, dinput);
        break;
    case OP_ADD:
        for (int k = 0; k < L->nin; k++) {
            float *d = L->in[k] < 0 ? dinput : ts->grad[L->in[k]];
            for (size_t q = 0; d && q < cnt; q++)
                d[q] += dy[q];
        }
        break;
    }
    return 0;
}

int nn_model_backward(nn_model *m, const nn_tensor *dout, nn_tensor *din, ec_err *err)
{
    struct nn_train_state *ts = &m->ts;
    if (!ts->out || !ts->result.data)
        return ec_err_set(err, EC_EINVAL, "backward needs a training forward first");
    if (!dout || dout->n != ts->result.n || dout->h != ts->result.h ||
        dout->w != ts->result.w || dout->c != ts->result.c)
        return ec_err_set(err, EC_EINVAL, "output gradient shape does not match the output");
    if (din && (din->n != ts->n || din->h != m->in_h || din->w != m->in_w || din->c != m->in_c))
        return ec_err_set(err, EC_EINVAL, "input gradient shape does not match the input");
    for (int i = 0; i < m->nlayers; i++)
        memset(ts->grad[i], 0, layer_numel(&m->layers[i], ts->n) * sizeof(float));
    if (din)
        memset(din->data, 0, nn_tensor_numel(din) * sizeof(float));
    memcpy(ts->grad[m->nlayers - 1], dout->data, nn_tensor_numel(dout) * sizeof(float));
    for (int i = m->nlayers - 1; i >= 0; i--)
        if (backward_layer(m, i, din ? din->data : NULL))
            return ec_err_set(err, EC_ENOMEM, "out of memory in backward");
    return 0;
}
