/* Model graph: JSON architecture parsing and validation, parameters, BN folding. */
#include "nn/nn_internal.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; enum nn_op op; } op_names[] = {
    {"conv", OP_CONV},       {"dwconv", OP_DWCONV},     {"bn", OP_BN},
    {"relu", OP_RELU},       {"leaky", OP_LEAKY},       {"silu", OP_SILU},
    {"maxpool", OP_MAXPOOL}, {"upsample", OP_UPSAMPLE}, {"concat", OP_CONCAT},
    {"add", OP_ADD},
};

nn_tensor *nn_tensor_create(int n, int h, int w, int c)
{
    if (n <= 0 || h <= 0 || w <= 0 || c <= 0 || (double)n * h * w * c > (double)(1u << 30))
        return NULL;
    nn_tensor *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    *t = (nn_tensor){n, h, w, c, calloc((size_t)n * h * w * c, sizeof(float))};
    if (!t->data) {
        free(t);
        return NULL;
    }
    return t;
}

void nn_tensor_destroy(nn_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    free(t);
}

size_t nn_tensor_numel(const nn_tensor *t) { return (size_t)t->n * t->h * t->w * t->c; }

int nn_find_param(const nn_model *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return i;
    return -1;
}

static int find_layer(const nn_model *m, int upto, const char *name)
{
    if (strcmp(name, "input") == 0)
        return -1;
    for (int i = 0; i < upto; i++)
        if (strcmp(m->layers[i].name, name) == 0)
            return i;
    return -2;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= NN_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* Integer field with a default and an allowed range. */
static int get_int(const cJSON *o, const char *key, int def, int lo, int hi, int *out,
                   const char *lname, ec_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (def == INT32_MIN)
            return ec_err_set(err, EC_EFORMAT, "layer %s: missing \"%s\"", lname, key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return ec_err_set(err, EC_EFORMAT, "layer %s: \"%s\" must be an integer in [%d, %d]",
                          lname, key, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

static int add_param(nn_model *m, const struct nn_layer *L, const char *suffix, int ndim,
                     const int *shape, enum nn_param_layout layout, int trainable, ec_err *err)
{
    struct nn_param *p = &m->params[m->nparams];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", L->name, suffix);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->layout = layout;
    p->trainable = trainable;
    p->data = calloc(p->numel, sizeof(float));
    p->grad = trainable ? calloc(p->numel, sizeof(float)) : NULL;
    if (!p->data || (trainable && !p->grad)) {
        free(p->data);
        free(p->grad);
        return ec_err_set(err, EC_ENOMEM, "out of memory for %s", p->name);
    }
    return m->nparams++;
}

static int parse_inputs(nn_model *m, int idx, const cJSON *jl, ec_err *err)
{
    struct nn_layer *L = &m->layers[idx];
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(jl, "from");
    if (!from) {
        L->nin = 1;
        L->in[0] = idx - 1;
        return 0;
    }
    const cJSON *one = from;
    int count = cJSON_IsArray(from) ? cJSON_GetArraySize(from) : 1;
    if (count < 1 || count > NN_MAX_IN)
        return ec_err_set(err, EC_EFORMAT, "layer %s: \"from\" needs 1..%d names", L->name,
                          NN_MAX_IN);
    for (int i = 0; i < count; i++) {
        if (cJSON_IsArray(from))
            one = cJSON_GetArrayItem(from, i);
        if (!cJSON_IsString(one))
            return ec_err_set(err, EC_EFORMAT, "layer %s: \"from\" must hold layer names",
                              L->name);
        int j = find_layer(m, idx, one->valuestring);
        if (j == -2)
            return ec_err_set(err, EC_EFORMAT, "layer %s: unknown input layer \"%.64s\"",
                              L->name, one->valuestring);
        L->in[i] = j;
    }
    L->nin = count;
    return 0;
}

static void input_shape(const nn_model *m, int j, int *h, int *w, int *c)
{
    if (j < 0) {
        *h = m->in_h, *w = m->in_w, *c = m->in_c;
    } else {
        *h = m->layers[j].h, *w = m->layers[j].w, *c = m->layers[j].c;
    }
}

/* Fills the output shape and creates the parameters of one layer. */
static int build_layer(nn_model *m, int idx, const cJSON *jl, ec_err *err)
{
    struct nn_layer *L = &m->layers[idx];
    const char *nm = L->name;
    input_shape(m, L->in[0], &L->ih, &L->iw, &L->ic);
    L->h = L->ih, L->w = L->iw, L->c = L->ic;
    L->p_weight = L->p_bias = L->p_mean = L->p_var = L->fold_bn = -1;
    L->fuse_act = OP_CONV;
    if (L->op != OP_CONCAT && L->op != OP_ADD && L->nin != 1)
        return ec_err_set(err, EC_EFORMAT, "layer %s: takes exactly one input", nm);
    switch (L->op) {
    case OP_CONV:
    case OP_DWCONV: {
        if (L->op == OP_CONV && get_int(jl, "filters", INT32_MIN, 1, NN_MAX_CHANNELS, &L->c, nm, err))
            return -1;
        if (get_int(jl, "size", INT32_MIN, 1, 15, &L->size, nm, err) ||
            get_int(jl, "stride", 1, 1, 8, &L->stride, nm, err) ||
            get_int(jl, "pad", L->size / 2, 0, L->size - 1, &L->pad, nm, err) ||
            get_int(jl, "bias", 1, 0, 1, &L->bias, nm, err))
            return -1;
        int span_h = L->ih + 2 * L->pad - L->size, span_w = L->iw + 2 * L->pad - L->size;
        if (span_h < 0 || span_w < 0)
            return ec_err_set(err, EC_EFORMAT, "layer %s: kernel larger than input", nm);
        L->h = span_h / L->stride + 1, L->w = span_w / L->stride + 1;
        if (L->op == OP_CONV) {
            int shape[4] = {L->c, L->ic, L->size, L->size};
            L->p_weight = add_param(m, L, "weight", 4, shape, PL_CONV, 1, err);
        } else {
            int shape[4] = {L->c, 1, L->size, L->size};
            L->p_weight = add_param(m, L, "weight", 4, shape, PL_DW, 1, err);
        }
        if (L->p_weight < 0)
            return -1;
        if (L->bias && (L->p_bias = add_param(m, L, "bias", 1, &L->c, PL_PLAIN, 1, err)) < 0)
            return -1;
        return 0;
    }
    case OP_BN:
        if ((L->p_weight = add_param(m, L, "weight", 1, &L->c, PL_PLAIN, 1, err)) < 0 ||
            (L->p_bias = add_param(m, L, "bias", 1, &L->c, PL_PLAIN, 1, err)) < 0 ||
            (L->p_mean = add_param(m, L, "running_mean", 1, &L->c, PL_PLAIN, 0, err)) < 0 ||
            (L->p_var = add_param(m, L, "running_var", 1, &L->c, PL_PLAIN, 0, err)) < 0)
            return -1;
        return 0;
    case OP_LEAKY: {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(jl, "slope");
        L->slope = 0.1f;
        if (s && (!cJSON_IsNumber(s) || !(s->valuedouble >= 0.0 && s->valuedouble < 1.0)))
            return ec_err_set(err, EC_EFORMAT, "layer %s: \"slope\" must be in [0, 1)", nm);
        if (s)
            L->slope = (float)s->valuedouble;
        return 0;
    }
    case OP_RELU:
    case OP_SILU:
        return 0;
    case OP_MAXPOOL: {
        if (get_int(jl, "size", INT32_MIN, 1, 15, &L->size, nm, err) ||
            get_int(jl, "stride", L->size, 1, 8, &L->stride, nm, err) ||
            get_int(jl, "pad", 0, 0, L->size / 2, &L->pad, nm, err))
            return -1;
        int span_h = L->ih + 2 * L->pad - L->size, span_w = L->iw + 2 * L->pad - L->size;
        if (span_h < 0 || span_w < 0)
            return ec_err_set(err, EC_EFORMAT, "layer %s: window larger than input", nm);
        L->h = span_h / L->stride + 1, L->w = span_w / L->stride + 1;
        return 0;
    }
    case OP_UPSAMPLE:
        L->h = L->ih * 2, L->w = L->iw * 2;
        return 0;
    case OP_CONCAT:
    case OP_ADD: {
        int c = 0;
        for (int i = 0; i < L->nin; i++) {
            int h, w, ci;
            input_shape(m, L->in[i], &h, &w, &ci);
            if (h != L->ih || w != L->iw || (L->op == OP_ADD && ci != L->ic))
                return ec_err_set(err, EC_EFORMAT, "layer %s: input shapes differ", nm);
            c += ci;
        }
        if (L->op == OP_CONCAT && c > NN_MAX_CHANNELS)
            return ec_err_set(err, EC_EFORMAT, "layer %s: too many channels", nm);
        if (L->op == OP_CONCAT)
            L->c = c;
        return 0;
    }
    }
    return ec_err_set(err, EC_EFORMAT, "layer %s: bad type", nm);
}

/* Layers reading layer j's output; the model output counts as one. */
static int layer_users(const nn_model *m, int j)
{
    int users = j == m->nlayers - 1;
    for (int k = 0; k < m->nlayers; k++)
        for (int q = 0; q < m->layers[k].nin; q++)
            users += m->layers[k].in[q] == j;
    return users;
}

/* A conv whose only consumer is the BN right after it gets the BN folded in at inference. */
static void plan_folding(nn_model *m)
{
    for (int i = 0; i < m->nlayers; i++) {
        struct nn_layer *B = &m->layers[i];
        int j = B->in[0];
        if (B->op != OP_BN || j < 0 || j != i - 1)
            continue;
        struct nn_layer *C = &m->layers[j];
        if (C->op != OP_CONV && C->op != OP_DWCONV)
            continue;
        if (layer_users(m, j) == 1) {
            C->fold_bn = i;
            B->folded = 1;
        }
    }
    /* conv [-> folded bn] -> activation, nothing else reading the conv: fuse the activation
     * into the conv's epilogue. */
    for (int i = 0; i < m->nlayers; i++) {
        struct nn_layer *A = &m->layers[i];
        int j = A->in[0];
        if ((A->op != OP_RELU && A->op != OP_LEAKY && A->op != OP_SILU) || j < 0)
            continue;
        int producer = m->layers[j].folded ? m->layers[j].in[0] : j;
        struct nn_layer *C = &m->layers[producer];
        if (C->op != OP_CONV && C->op != OP_DWCONV)
            continue;
        if (layer_users(m, j) != 1 || (producer != j && layer_users(m, producer) != 1))
            continue;
        C->fuse_act = A->op;
        C->slope_act = A->slope;
        A->fused = 1;
    }
}

static int parse_arch(nn_model *m, const cJSON *root, ec_err *err)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(in) || !cJSON_IsArray(layers))
        return ec_err_set(err, EC_EFORMAT, "architecture needs \"input\" and \"layers\"");
    if (get_int(in, "h", INT32_MIN, 1, NN_MAX_INPUT_DIM, &m->in_h, "input", err) ||
        get_int(in, "w", INT32_MIN, 1, NN_MAX_INPUT_DIM, &m->in_w, "input", err) ||
        get_int(in, "c", 3, 1, 16, &m->in_c, "input", err) ||
        get_int(root, "num_classes", 0, 0, 1000, &m->num_classes, "model", err))
        return -1;
    int n = cJSON_GetArraySize(layers);
    if (n < 1 || n > NN_MAX_LAYERS)
        return ec_err_set(err, EC_EFORMAT, "architecture needs 1..%d layers", NN_MAX_LAYERS);
    m->layers = calloc((size_t)n, sizeof *m->layers);
    m->params = calloc((size_t)n * 4, sizeof *m->params);
    if (!m->layers || !m->params)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    size_t weights = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *jl = cJSON_GetArrayItem(layers, i);
        struct nn_layer *L = &m->layers[i];
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(jl, "type");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(jl, "name");
        if (!cJSON_IsObject(jl) || !cJSON_IsString(type))
            return ec_err_set(err, EC_EFORMAT, "layer %d: needs a \"type\"", i);
        if (name && (!cJSON_IsString(name) || !valid_name(name->valuestring) ||
                     strcmp(name->valuestring, "input") == 0))
            return ec_err_set(err, EC_EFORMAT, "layer %d: bad name", i);
        if (name)
            snprintf(L->name, sizeof L->name, "%s", name->valuestring);
        else
            snprintf(L->name, sizeof L->name, "l%d", i);
        if (find_layer(m, i, L->name) != -2)
            return ec_err_set(err, EC_EFORMAT, "layer %d: duplicate name %s", i, L->name);
        size_t t;
        for (t = 0; t < sizeof op_names / sizeof op_names[0]; t++)
            if (strcmp(type->valuestring, op_names[t].name) == 0)
                break;
        if (t == sizeof op_names / sizeof op_names[0])
            return ec_err_set(err, EC_EFORMAT, "layer %s: unknown type \"%.32s\"", L->name,
                              type->valuestring);
        L->op = op_names[t].op;
        m->nlayers = i + 1;
        if (parse_inputs(m, i, jl, err) || build_layer(m, i, jl, err))
            return -1;
        if ((double)L->h * L->w * L->c > (double)(1u << 26))
            return ec_err_set(err, EC_EFORMAT, "layer %s: activation too large", L->name);
    }
    for (int p = 0; p < m->nparams; p++)
        weights += m->params[p].numel;
    if (weights > NN_MAX_PARAMS)
        return ec_err_set(err, EC_EFORMAT, "model has too many weights (%zu)", weights);
    if (m->num_classes > 0) {
        const struct nn_layer *last = &m->layers[m->nlayers - 1];
        if (last->c != 5 + m->num_classes || m->in_h % last->h || m->in_w % last->w ||
            m->in_h / last->h != m->in_w / last->w)
            return ec_err_set(err, EC_EFORMAT,
                              "detector output must have 5 + num_classes channels and an "
                              "integer stride");
    }
    plan_folding(m);
    for (int i = 0; i < m->nlayers; i++) {
        struct nn_layer *L = &m->layers[i];
        if (L->op != OP_CONV && L->op != OP_DWCONV)
            continue;
        L->fw = malloc(m->params[L->p_weight].numel * sizeof(float));
        L->fb = calloc((size_t)L->c, sizeof(float));
        if (nn_direct3x3_fits(L) &&
            !(L->dpack = malloc(nn_direct3x3_packed_floats(L) * sizeof(float))))
            return ec_err_set(err, EC_ENOMEM, "out of memory");
        if (!L->fw || !L->fb)
            return ec_err_set(err, EC_ENOMEM, "out of memory");
    }
    return 0;
}

/* Builds the graph with zeroed parameters (BN: weight 1, running_var 1). */
nn_model *nn_model_build(const char *arch_json, ec_err *err)
{
    nn_model *m = calloc(1, sizeof *m);
    if (!m) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->ws_lock, NULL);
    m->arch = strdup(arch_json);
    cJSON *root = cJSON_Parse(arch_json);
    if (!m->arch || !root) {
        ec_err_set(err, EC_EFORMAT, "architecture is not valid JSON");
        cJSON_Delete(root);
        nn_model_destroy(m);
        return NULL;
    }
    int rc = parse_arch(m, root, err);
    cJSON_Delete(root);
    if (rc) {
        ec_err_wrap(err, "architecture");
        nn_model_destroy(m);
        return NULL;
    }
    for (int i = 0; i < m->nlayers; i++) {
        struct nn_layer *L = &m->layers[i];
        if (L->op != OP_BN)
            continue;
        for (int j = 0; j < L->c; j++)
            m->params[L->p_weight].data[j] = m->params[L->p_var].data[j] = 1.0f;
    }
    return m;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

nn_model *nn_model_create(const char *arch_json, uint64_t seed, ec_err *err)
{
    nn_model *m = nn_model_build(arch_json, err);
    if (!m)
        return NULL;
    uint64_t s = seed;
    for (int i = 0; i < m->nlayers; i++) {
        struct nn_layer *L = &m->layers[i];
        if (L->op != OP_CONV && L->op != OP_DWCONV)
            continue;
        /* PyTorch's default: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) times sqrt(3) for
         * a He-like variance, which trains faster from scratch. */
        struct nn_param *w = &m->params[L->p_weight];
        int fan_in = (int)(w->numel / (size_t)w->shape[0]);
        float bound = sqrtf(3.0f / (float)fan_in);
        for (size_t k = 0; k < w->numel; k++)
            w->data[k] = bound * (2.0f * (float)(splitmix64(&s) >> 40) / (float)(1u << 24) - 1.0f);
        if (L->p_bias >= 0) {
            struct nn_param *b = &m->params[L->p_bias];
            for (size_t k = 0; k < b->numel; k++)
                b->data[k] = (1.0f / sqrtf((float)fan_in)) *
                             (2.0f * (float)(splitmix64(&s) >> 40) / (float)(1u << 24) - 1.0f);
        }
    }
    /* Detector head: start objectness and classes at a 1% prior so early training is not
     * swamped by the many negative cells. */
    const struct nn_layer *last = &m->layers[m->nlayers - 1];
    if (m->num_classes > 0 && last->op == OP_CONV && last->p_bias >= 0)
        for (int c = 0; c < 1 + m->num_classes; c++)
            m->params[last->p_bias].data[c] = -4.6f;
    nn_model_refresh_inference(m);
    return m;
}

void nn_train_state_free(nn_model *m)
{
    struct nn_train_state *ts = &m->ts;
    for (int i = 0; ts->out && i < m->nlayers; i++) {
        free(ts->out[i]);
        free(ts->grad[i]);
        free(ts->bn_mean[i]);
        free(ts->bn_invstd[i]);
        free(ts->argmax[i]);
    }
    free(ts->out);
    free(ts->grad);
    free(ts->bn_mean);
    free(ts->bn_invstd);
    free(ts->argmax);
    free(ts->input.data);
    free(ts->cols);
    memset(ts, 0, sizeof *ts);
}

void nn_model_destroy(nn_model *m)
{
    if (!m)
        return;
    nn_train_state_free(m);
    for (int i = 0; i < m->nparams; i++) {
        free(m->params[i].data);
        free(m->params[i].grad);
    }
    for (int i = 0; i < m->nlayers; i++) {
        free(m->layers[i].fw);
        free(m->layers[i].fb);
        free(m->layers[i].dpack);
    }
    while (m->ws_free) {
        struct nn_workspace *w = m->ws_free;
        m->ws_free = w->next;
        free(w->mem);
        free(w);
    }
    pthread_mutex_destroy(&m->ws_lock);
    free(m->params);
    free(m->layers);
    free(m->arch);
    free(m);
}

nn_model *nn_model_clone(const nn_model *src, ec_err *err)
{
    nn_model *m = nn_model_build(src->arch, err);
    if (!m)
        return NULL;
    for (int i = 0; i < m->nparams; i++)
        memcpy(m->params[i].data, src->params[i].data, m->params[i].numel * sizeof(float));
    nn_model_refresh_inference(m);
    return m;
}

void nn_model_refresh_inference(nn_model *m)
{
    for (int i = 0; i < m->nlayers; i++) {
        struct nn_layer *L = &m->layers[i];
        if (L->op != OP_CONV && L->op != OP_DWCONV)
            continue;
        const struct nn_param *w = &m->params[L->p_weight];
        memcpy(L->fw, w->data, w->numel * sizeof(float));
        for (int o = 0; o < L->c; o++)
            L->fb[o] = L->p_bias >= 0 ? m->params[L->p_bias].data[o] : 0.0f;
        if (L->fold_bn < 0)
            continue;
        const struct nn_layer *B = &m->layers[L->fold_bn];
        const float *g = m->params[B->p_weight].data, *b = m->params[B->p_bias].data;
        const float *rm = m->params[B->p_mean].data, *rv = m->params[B->p_var].data;
        size_t per = w->numel / (size_t)L->c;
        for (int o = 0; o < L->c; o++) {
            float scale = g[o] / sqrtf(rv[o] + NN_BN_EPS);
            if (L->op == OP_CONV)
                for (size_t k = 0; k < per; k++)
                    L->fw[o * per + k] *= scale;
            else
                for (size_t k = 0; k < per; k++)
                    L->fw[k * L->c + o] *= scale;
            L->fb[o] = (L->fb[o] - rm[o]) * scale + b[o];
        }
    }
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].dpack)
            nn_direct3x3_pack(&m->layers[i], m->layers[i].fw, m->layers[i].fb,
                              m->layers[i].dpack);
}

const char *nn_model_arch(const nn_model *m) { return m->arch; }

void nn_model_input_shape(const nn_model *m, int *h, int *w, int *c)
{
    *h = m->in_h, *w = m->in_w, *c = m->in_c;
}

void nn_model_output_shape(const nn_model *m, int *h, int *w, int *c)
{
    const struct nn_layer *L = &m->layers[m->nlayers - 1];
    *h = L->h, *w = L->w, *c = L->c;
}

int nn_model_param_count(const nn_model *m) { return m->nparams; }

const char *nn_model_param_name(const nn_model *m, int i)
{
    return i >= 0 && i < m->nparams ? m->params[i].name : NULL;
}

size_t nn_model_num_weights(const nn_model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->nparams; i++)
        n += m->params[i].numel;
    return n;
}

double nn_model_flops(const nn_model *m)
{
    double f = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const struct nn_layer *L = &m->layers[i];
        if (L->op == OP_CONV)
            f += 2.0 * L->h * L->w * L->c * (double)L->size * L->size * L->ic;
        else if (L->op == OP_DWCONV)
            f += 2.0 * L->h * L->w * L->c * (double)L->size * L->size;
    }
    return f;
}

void nn_model_zero_grad(nn_model *m)
{
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].grad)
            memset(m->params[i].grad, 0, m->params[i].numel * sizeof(float));
}
