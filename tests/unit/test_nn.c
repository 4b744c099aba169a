/* src/nn: layers, graph, model files and optimisers against a PyTorch oracle, plus validation
 * of corrupt model files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "nn/nn.h"
#include "nn/nn_internal.h" /* nn_direct3x3_enable */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every layer type: strided / padded / 1x1 convs, depthwise, folded and standalone BN, all
 * activations, padded max-pool, upsample, concat, residual add. */
static const char *ALL_LAYERS_ARCH =
    "{\"input\":{\"h\":16,\"w\":16,\"c\":3},\"layers\":["
    "{\"name\":\"c1\",\"type\":\"conv\",\"filters\":8,\"size\":3,\"bias\":0},"
    "{\"name\":\"bn1\",\"type\":\"bn\"},"
    "{\"name\":\"a1\",\"type\":\"silu\"},"
    "{\"name\":\"dw\",\"type\":\"dwconv\",\"size\":3,\"stride\":2,\"bias\":0},"
    "{\"name\":\"bn2\",\"type\":\"bn\"},"
    "{\"name\":\"a2\",\"type\":\"relu\"},"
    "{\"name\":\"pw\",\"type\":\"conv\",\"filters\":12,\"size\":1},"
    "{\"name\":\"a3\",\"type\":\"leaky\",\"slope\":0.1},"
    "{\"name\":\"mp\",\"type\":\"maxpool\",\"size\":3,\"stride\":2,\"pad\":1},"
    "{\"name\":\"c3\",\"type\":\"conv\",\"filters\":8,\"size\":3},"
    "{\"name\":\"up\",\"type\":\"upsample\"},"
    "{\"name\":\"cat\",\"type\":\"concat\",\"from\":[\"up\",\"a2\"]},"
    "{\"name\":\"c4\",\"type\":\"conv\",\"filters\":8,\"size\":3,\"stride\":2,\"bias\":0},"
    "{\"name\":\"up2\",\"type\":\"upsample\"},"
    "{\"name\":\"sum\",\"type\":\"add\",\"from\":[\"up2\",\"a2\"]},"
    "{\"name\":\"bn3\",\"type\":\"bn\"},"
    "{\"name\":\"dw2\",\"type\":\"dwconv\",\"size\":5},"
    "{\"name\":\"head\",\"type\":\"conv\",\"filters\":6,\"size\":1}]}";

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/edgecam-nn-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
    static char buf[4][320];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void fill_random(nn_tensor *t, uint32_t seed)
{
    for (size_t i = 0; i < nn_tensor_numel(t); i++) {
        seed = seed * 1664525u + 1013904223u;
        t->data[i] = (float)(seed >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
    }
}

static float max_abs(const nn_tensor *t)
{
    float m = 0;
    for (size_t i = 0; i < nn_tensor_numel(t); i++)
        m = fmaxf(m, fabsf(t->data[i]));
    return m;
}

/* Max |a - b| after checking equal sizes. */
static float max_diff(const nn_tensor *a, const nn_tensor *b)
{
    assert_int_equal(nn_tensor_numel(a), nn_tensor_numel(b));
    float m = 0;
    for (size_t i = 0; i < nn_tensor_numel(a); i++)
        m = fmaxf(m, fabsf(a->data[i] - b->data[i]));
    return m;
}

static nn_tensor *load_tensor(const char *path, const char *name)
{
    ec_err e = {0};
    nn_tensor *t = nn_tensors_load_one(path, name, &e);
    if (!t)
        fail_msg("%s", e.msg);
    return t;
}

/* Tensor `name` of file a vs tensor `ref_name` of file b, tolerance relative to b's scale. */
static void expect_close(const char *a_path, const char *name, const char *b_path,
                         const char *ref_name, float tol)
{
    nn_tensor *a = load_tensor(a_path, name), *b = load_tensor(b_path, ref_name);
    float scale = fmaxf(1.0f, max_abs(b)), d = max_diff(a, b);
    if (!(d <= tol * scale))
        fail_msg("%s: max abs diff %g (scale %g)", name, d, scale);
    nn_tensor_destroy(a);
    nn_tensor_destroy(b);
}

/* Runs the same sequence as tests/oracle/nn_oracle.py and compares every result. */
static void run_oracle_case(const struct nn_optim_cfg *cfg, const char *kind)
{
    ec_err e = {0};
    nn_set_threads(1);
    nn_model *m = nn_model_create(ALL_LAYERS_ARCH, 7, &e);
    assert_non_null(m);
    const char *model_path = tmp_path("model.safetensors");
    assert_int_equal(nn_model_save(m, model_path, &e), 0);
    nn_tensor *x = nn_tensor_create(2, 16, 16, 3);
    int oh, ow, oc;
    nn_model_output_shape(m, &oh, &ow, &oc);
    assert_int_equal(oh, 8);
    assert_int_equal(oc, 6);
    nn_tensor *dout = nn_tensor_create(2, oh, ow, oc);
    fill_random(x, 1);
    fill_random(dout, 2);
    const char *io_path = tmp_path("io.safetensors");
    const char *names[] = {"input", "dout"};
    const nn_tensor *ts[] = {x, dout};
    assert_int_equal(nn_tensors_save(io_path, 2, names, ts, &e), 0);

    char cmd[2048];
    const char *ref_path = tmp_path("ref.safetensors");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/oracle/nn_oracle.py %s %s %s %s %g %g %g",
             getenv("EDGECAM_SOURCE_DIR"), model_path, io_path, ref_path, kind, cfg->lr,
             cfg->momentum, cfg->weight_decay);
    assert_int_equal(system(cmd), 0);

    nn_optim *opt = nn_optim_create(m, cfg, &e);
    assert_non_null(opt);
    nn_tensor *din = nn_tensor_create(2, 16, 16, 3);
    const nn_tensor *y = nn_model_forward_train(m, x, &e);
    assert_non_null(y);
    const char *mine = tmp_path("mine.safetensors");
    const char *out_names[] = {"out", "grad.input"};
    nn_model_zero_grad(m);
    assert_int_equal(nn_model_backward(m, dout, din, &e), 0);
    const nn_tensor *outs[] = {y, din};
    assert_int_equal(nn_tensors_save(mine, 2, out_names, outs, &e), 0);
    expect_close(mine, "out", ref_path, "out", 1e-4f);
    expect_close(mine, "grad.input", ref_path, "grad.input", 1e-4f);

    const char *grads = tmp_path("grads.safetensors");
    assert_int_equal(nn_model_save_grads(m, grads, &e), 0);
    int checked = 0;
    char ref_name[128];
    for (int i = 0; i < nn_model_param_count(m); i++) {
        const char *pn = nn_model_param_name(m, i);
        if (strstr(pn, "running_"))
            continue;
        snprintf(ref_name, sizeof ref_name, "grad.%s", pn);
        expect_close(grads, pn, ref_path, ref_name, 1e-4f);
        checked++;
    }
    assert_int_equal(checked, 17); /* 7 conv weights, 4 conv biases, 3 BN x 2 */

    /* Two optimiser steps (the second uses momentum / Adam state), then every parameter. */
    assert_int_equal(nn_optim_step(opt, m, &e), 0);
    nn_model_zero_grad(m);
    assert_non_null(nn_model_forward_train(m, x, &e));
    assert_int_equal(nn_model_backward(m, dout, NULL, &e), 0);
    assert_int_equal(nn_optim_step(opt, m, &e), 0);
    const char *params = tmp_path("params.safetensors");
    assert_int_equal(nn_model_save(m, params, &e), 0);
    for (int i = 0; i < nn_model_param_count(m); i++) {
        const char *pn = nn_model_param_name(m, i);
        snprintf(ref_name, sizeof ref_name, "param.%s", pn);
        expect_close(params, pn, ref_path, ref_name, 1e-4f);
    }

    /* Inference path: BN folded into convs, running statistics. */
    nn_tensor *ev = nn_model_forward(m, x, &e);
    assert_non_null(ev);
    const char *evp = tmp_path("eval.safetensors");
    const char *ev_name[] = {"eval_out"};
    const nn_tensor *evs[] = {ev};
    assert_int_equal(nn_tensors_save(evp, 1, ev_name, evs, &e), 0);
    expect_close(evp, "eval_out", ref_path, "eval_out", 1e-4f);

    nn_tensor_destroy(ev);
    nn_tensor_destroy(din);
    nn_tensor_destroy(x);
    nn_tensor_destroy(dout);
    nn_optim_destroy(opt);
    nn_model_destroy(m);
}

static void test_oracle_sgd(void **state)
{
    (void)state;
    struct nn_optim_cfg cfg = {.kind = NN_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f,
                               .weight_decay = 5e-4f};
    run_oracle_case(&cfg, "sgd");
}

static void test_oracle_adam(void **state)
{
    (void)state;
    struct nn_optim_cfg cfg = {.kind = NN_OPTIM_ADAM, .lr = 1e-3f, .weight_decay = 1e-4f};
    run_oracle_case(&cfg, "adam");
}

/* Naive NHWC conv, weights OIHW (the file layout), padding k / 2; returns a new array. */
static double *naive_conv(const double *x, int H, int W, int C, const nn_tensor *w,
                          const nn_tensor *b, int O, int k, int S, int *OH, int *OW)
{
    *OH = (H - 1) / S + 1, *OW = (W - 1) / S + 1;
    double *y = malloc(sizeof *y * (size_t)*OH * *OW * O);
    assert_non_null(y);
    for (int oy = 0; oy < *OH; oy++)
        for (int ox = 0; ox < *OW; ox++)
            for (int o = 0; o < O; o++) {
                double acc = b->data[o];
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = oy * S - k / 2 + ky, ix = ox * S - k / 2 + kx;
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                            continue;
                        for (int c = 0; c < C; c++)
                            acc += (double)w->data[((o * C + c) * k + ky) * k + kx] *
                                   x[((size_t)iy * W + ix) * C + c];
                    }
                y[((size_t)oy * *OW + ox) * O + o] = acc;
            }
    return y;
}

/* One case: input (13 x W x min(C, 16)) -> [1x1 conv to C channels when C > 16] -> 3x3 conv
 * (O, stride S) -> SiLU, against naive_conv on the saved weights. */
static void check_conv_case(int O, int S, int C, int W, uint64_t seed)
{
    const int H = 13, IC = C > 16 ? 16 : C;
    char arch[600], pre[160] = "";
    if (C > 16)
        snprintf(pre, sizeof pre,
                 "{\"name\":\"pre\",\"type\":\"conv\",\"filters\":%d,\"size\":1},", C);
    snprintf(arch, sizeof arch,
             "{\"input\":{\"h\":%d,\"w\":%d,\"c\":%d},\"layers\":[%s"
             "{\"name\":\"c\",\"type\":\"conv\",\"filters\":%d,\"size\":3,"
             "\"stride\":%d},{\"name\":\"a\",\"type\":\"silu\"}]}",
             H, W, IC, pre, O, S);
    ec_err e = {0};
    nn_model *m = nn_model_create(arch, seed, &e);
    if (!m)
        fail_msg("%s", e.msg);
    const char *path = tmp_path("direct.safetensors");
    assert_int_equal(nn_model_save(m, path, &e), 0);
    nn_tensor *in = nn_tensor_create(1, H, W, IC);
    fill_random(in, (uint32_t)seed);
    double *x = malloc(sizeof *x * nn_tensor_numel(in));
    assert_non_null(x);
    for (size_t i = 0; i < nn_tensor_numel(in); i++)
        x[i] = in->data[i];
    int oh, ow;
    if (C > 16) {
        nn_tensor *pw = load_tensor(path, "pre.weight"), *pb = load_tensor(path, "pre.bias");
        double *px = naive_conv(x, H, W, IC, pw, pb, C, 1, 1, &oh, &ow);
        free(x);
        x = px;
        nn_tensor_destroy(pw);
        nn_tensor_destroy(pb);
    }
    nn_tensor *w = load_tensor(path, "c.weight"), *b = load_tensor(path, "c.bias");
    double *want = naive_conv(x, H, W, C, w, b, O, 3, S, &oh, &ow);
    nn_tensor *out = nn_model_forward(m, in, &e);
    assert_non_null(out);
    assert_int_equal(out->h, oh);
    assert_int_equal(out->w, ow);
    assert_int_equal(out->c, O);
    float worst = 0;
    for (size_t i = 0; i < (size_t)oh * ow * O; i++) {
        double v = want[i] / (1.0 + exp(-want[i]));
        worst = fmaxf(worst, (float)fabs(out->data[i] - v));
    }
    if (!(worst <= 2e-5f))
        fail_msg("O=%d stride %d C=%d: max abs diff %g", O, S, C, worst);
    free(x);
    free(want);
    nn_tensor_destroy(out);
    nn_tensor_destroy(in);
    nn_tensor_destroy(w);
    nn_tensor_destroy(b);
    nn_model_destroy(m);
}

/* The inference conv paths against a naive conv, with an activation fused at inference: the
 * stem's direct path (3-4 input channels: register tiles of 4 pixels x 16 channels), the
 * AVX-512 direct 3x3 path (>= 8 input channels, where the CPU has it: tiles of 5 or 6 pixels
 * x 32 channels over zero-padded rows) and, with that switched off, im2col + sgemm. Channel
 * counts around the tile widths, strides 1 and 2, partial tiles at the row ends. */
static void check_conv_cases(void)
{
    const int cases[][4] = {{8, 1, 3, 23},  {16, 2, 3, 23},  {24, 2, 4, 23}, /* O, stride, C, W */
                            {40, 1, 3, 23}, {16, 1, 8, 23},  {32, 2, 16, 23},
                            {48, 1, 24, 23}, {8, 2, 32, 23}, {64, 1, 64, 23},
                            {40, 2, 12, 23}, {32, 1, 16, 20}, {48, 2, 24, 40}, /* 5-pixel tiles */
                            {16, 1, 8, 30}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
        check_conv_case(cases[t][0], cases[t][1], cases[t][2], cases[t][3], 77 + t);
}

static void test_direct_conv_matches_naive(void **state)
{
    (void)state;
    check_conv_cases();
    nn_direct3x3_enable(0);
    check_conv_cases();
    nn_direct3x3_enable(1);
}

static void test_save_load_clone_roundtrip(void **state)
{
    (void)state;
    ec_err e = {0};
    nn_model *m = nn_model_create(ALL_LAYERS_ARCH, 3, &e);
    assert_non_null(m);
    const char *p = tmp_path("rt.safetensors");
    assert_int_equal(nn_model_save(m, p, &e), 0);
    nn_model *l = nn_model_load(p, &e);
    assert_non_null(l);
    nn_model *c = nn_model_clone(l, &e);
    assert_non_null(c);
    assert_string_equal(nn_model_arch(l), nn_model_arch(m));
    nn_tensor *x = nn_tensor_create(1, 16, 16, 3);
    fill_random(x, 9);
    nn_tensor *a = nn_model_forward(m, x, &e), *b = nn_model_forward(l, x, &e),
              *cc = nn_model_forward(c, x, &e);
    assert_true(a && b && cc);
    assert_true(max_abs(a) > 0.0f);
    assert_memory_equal(a->data, b->data, nn_tensor_numel(a) * sizeof(float));
    assert_memory_equal(a->data, cc->data, nn_tensor_numel(a) * sizeof(float));
    /* Training the clone leaves the original untouched. */
    struct nn_optim_cfg cfg = {.kind = NN_OPTIM_SGD, .lr = 0.1f};
    nn_optim *o = nn_optim_create(c, &cfg, &e);
    nn_tensor *d = nn_tensor_create(1, 8, 8, 6);
    fill_random(d, 4);
    assert_non_null(nn_model_forward_train(c, x, &e));
    assert_int_equal(nn_model_backward(c, d, NULL, &e), 0);
    assert_int_equal(nn_optim_step(o, c, &e), 0);
    nn_tensor *a2 = nn_model_forward(l, x, &e), *c2 = nn_model_forward(c, x, &e);
    assert_memory_equal(a->data, a2->data, nn_tensor_numel(a) * sizeof(float));
    assert_true(max_diff(a, c2) > 1e-3f);
    nn_tensor_destroy(d);
    nn_tensor_destroy(a2);
    nn_tensor_destroy(c2);
    nn_optim_destroy(o);
    nn_tensor_destroy(a);
    nn_tensor_destroy(b);
    nn_tensor_destroy(cc);
    nn_tensor_destroy(x);
    nn_model_destroy(c);
    nn_model_destroy(l);
    nn_model_destroy(m);
}

/* ---- corrupt files ------------------------------------------------------------------------ */
static const char *SMALL_ARCH =
    "{\"input\":{\"h\":4,\"w\":4,\"c\":1},\"layers\":["
    "{\"name\":\"c\",\"type\":\"conv\",\"filters\":2,\"size\":1},"
    "{\"name\":\"b\",\"type\":\"bn\"}]}";

struct blob {
    uint8_t *p;
    size_t n;
};

static struct blob read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct blob b = {malloc(1 << 16), 0};
    b.n = fread(b.p, 1, 1 << 16, f);
    fclose(f);
    return b;
}

/* A file with a hand-written header (the arch JSON escaped inside) and `data_len` bytes of 0.5. */
static struct blob make_file(const char *tensors_json, size_t data_len)
{
    char header[8192];
    char arch_esc[2048];
    size_t k = 0;
    for (const char *s = SMALL_ARCH; *s; s++) {
        if (*s == '"')
            arch_esc[k++] = '\\';
        arch_esc[k++] = *s;
    }
    arch_esc[k] = 0;
    int hl = snprintf(header, sizeof header, "{\"__metadata__\":{\"arch\":\"%s\"},%s}", arch_esc,
                      tensors_json);
    struct blob b = {malloc(8 + (size_t)hl + data_len + 1), 8 + (size_t)hl + data_len};
    for (int i = 0; i < 8; i++)
        b.p[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b.p + 8, header, (size_t)hl);
    float half = 0.5f;
    for (size_t i = 0; i + 4 <= data_len; i += 4)
        memcpy(b.p + 8 + hl + i, &half, 4);
    return b;
}

#define GOOD_TENSORS(w_off, extra)                                                               \
    "\"c.weight\":{\"dtype\":\"F32\",\"shape\":[2,1,1,1],\"data_offsets\":[" w_off "]},"          \
    "\"c.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"                        \
    "\"b.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"                     \
    "\"b.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"                       \
    "\"b.running_mean\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,40]},"               \
    "\"b.running_var\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[40,48]}" extra

static void expect_reject(struct blob b, const char *needle)
{
    ec_err e = {0};
    nn_model *m = nn_model_load_buffer(b.p, b.n, &e);
    if (m)
        fail_msg("accepted a file that should fail with \"%s\"", needle);
    assert_int_equal(e.code, EC_EFORMAT);
    if (!strstr(e.msg, needle))
        fail_msg("error \"%s\" lacks \"%s\"", e.msg, needle);
    free(b.p);
}

static void test_load_rejects_corrupt_files(void **state)
{
    (void)state;
    ec_err e = {0};
    /* The hand-made good file loads, so every rejection below is due to its one defect. */
    struct blob good = make_file(GOOD_TENSORS("0,8", ""), 48);
    nn_model *m = nn_model_load_buffer(good.p, good.n, &e);
    if (!m)
        fail_msg("%s", e.msg);
    nn_model_destroy(m);

    for (size_t cut = 0; cut < good.n; cut += 7) { /* every truncation is an error, no crash */
        ec_err e2 = {0};
        assert_null(nn_model_load_buffer(good.p, cut, &e2));
        assert_int_equal(e2.code, EC_EFORMAT);
    }
    struct blob bad = {malloc(good.n), good.n};
    memcpy(bad.p, good.p, good.n);
    bad.p[7] = 0x40; /* header length ~ 2^62 */
    expect_reject(bad, "bad header length");
    bad = (struct blob){malloc(good.n), good.n};
    memcpy(bad.p, good.p, good.n);
    bad.p[8] = (uint8_t)'#'; /* break the JSON */
    expect_reject(bad, "JSON");
    free(good.p);

    expect_reject(make_file(GOOD_TENSORS("0,8", ""), 40), "out of range");
    expect_reject(make_file(GOOD_TENSORS("8,16", ""), 48), "overlap");
    expect_reject(make_file(GOOD_TENSORS("0,12", ""), 48), "byte size");
    expect_reject(make_file(GOOD_TENSORS("0,8", ",\"x\":{\"dtype\":\"F32\",\"shape\":[1],"
                                                "\"data_offsets\":[48,52]}"), 52),
                  "not in the architecture");
    expect_reject(make_file(GOOD_TENSORS("0,8", ",\"x\":{\"dtype\":\"F16\",\"shape\":[2],"
                                                "\"data_offsets\":[48,52]}"), 52),
                  "only F32");
    /* shape differs from the architecture: [1,2,1,1] instead of [2,1,1,1] */
    expect_reject(make_file("\"c.weight\":{\"dtype\":\"F32\",\"shape\":[1,2,1,1],\"data_offsets\":[0,8]},"
                            "\"c.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                            "\"b.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
                            "\"b.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
                            "\"b.running_mean\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,40]},"
                            "\"b.running_var\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[40,48]}",
                            48),
                  "shape differs");
    /* missing tensor */
    expect_reject(make_file("\"c.weight\":{\"dtype\":\"F32\",\"shape\":[2,1,1,1],\"data_offsets\":[0,8]}",
                            8),
                  "architecture needs");
    /* NaN weight */
    struct blob nanf = make_file(GOOD_TENSORS("0,8", ""), 48);
    float nan = NAN;
    memcpy(nanf.p + nanf.n - 48, &nan, 4);
    expect_reject(nanf, "non-finite");

    /* Architecture errors. */
    const char *bad_arch[][2] = {
        {"{\"input\":{\"h\":4,\"w\":4},\"layers\":[{\"type\":\"warp\"}]}", "unknown type"},
        {"{\"input\":{\"h\":4,\"w\":4},\"layers\":[{\"type\":\"conv\",\"size\":3}]}", "filters"},
        {"{\"input\":{\"h\":4,\"w\":4},\"layers\":[{\"type\":\"relu\",\"from\":\"zz\"}]}",
         "unknown input"},
        {"{\"input\":{\"h\":4,\"w\":4},\"layers\":[{\"type\":\"conv\",\"filters\":2,\"size\":9,\"pad\":0}]}",
         "larger than input"},
        {"{\"input\":{\"h\":4,\"w\":4},\"layers\":[{\"name\":\"a\",\"type\":\"relu\"},"
         "{\"name\":\"b\",\"type\":\"maxpool\",\"size\":2},"
         "{\"type\":\"add\",\"from\":[\"a\",\"b\"]}]}",
         "shapes differ"},
        {"{\"input\":{\"h\":99999,\"w\":4},\"layers\":[{\"type\":\"relu\"}]}", "integer in"},
        {"[1,2]", "architecture needs"},
        {"{\"input\":{\"h\":8,\"w\":8},\"num_classes\":2,\"layers\":[{\"type\":\"conv\","
         "\"filters\":6,\"size\":1}]}",
         "5 + num_classes"},
    };
    for (size_t i = 0; i < sizeof bad_arch / sizeof bad_arch[0]; i++) {
        ec_err e3 = {0};
        nn_model *bm = nn_model_create(bad_arch[i][0], 1, &e3);
        if (bm)
            fail_msg("accepted arch %zu", i);
        assert_int_equal(e3.code, EC_EFORMAT);
        if (!strstr(e3.msg, bad_arch[i][1]))
            fail_msg("arch %zu: error \"%s\" lacks \"%s\"", i, e3.msg, bad_arch[i][1]);
    }

    /* A file on disk: missing path is EC_EIO; a saved file reloads. */
    assert_null(nn_model_load(tmp_path("nope.safetensors"), &e));
    assert_int_equal(e.code, EC_EIO);
    nn_model *sm = nn_model_create(SMALL_ARCH, 1, &e);
    assert_int_equal(nn_model_save(sm, tmp_path("small.safetensors"), &e), 0);
    struct blob disk = read_all(tmp_path("small.safetensors"));
    nn_model *back = nn_model_load_buffer(disk.p, disk.n, &e);
    assert_non_null(back);
    nn_model_destroy(back);
    nn_model_destroy(sm);
    free(disk.p);
}

/* Byte flips anywhere in a valid file: each load either succeeds or fails cleanly (run under
 * ASan/UBSan this is the no-crash guarantee). */
static void test_load_survives_random_corruption(void **state)
{
    (void)state;
    ec_err e = {0};
    nn_model *m = nn_model_create(SMALL_ARCH, 1, &e);
    assert_int_equal(nn_model_save(m, tmp_path("fuzz.safetensors"), &e), 0);
    nn_model_destroy(m);
    struct blob good = read_all(tmp_path("fuzz.safetensors"));
    uint8_t *buf = malloc(good.n);
    uint32_t seed = 12345;
    int rejected = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, good.p, good.n);
        int flips = 1 + iter % 4;
        for (int f = 0; f < flips; f++) {
            seed = seed * 1664525u + 1013904223u;
            /* Mostly the 8-byte length and the JSON header, sometimes the data. */
            size_t pos = (seed >> 8) % (iter % 3 ? good.n - 48 : good.n);
            seed = seed * 1664525u + 1013904223u;
            buf[pos] = (uint8_t)(seed >> 24);
        }
        ec_err fe = {0};
        nn_model *fm = nn_model_load_buffer(buf, good.n, &fe);
        if (fm) {
            nn_tensor *x = nn_tensor_create(1, 4, 4, 1);
            nn_tensor_destroy(nn_model_forward(fm, x, &fe));
            nn_tensor_destroy(x);
            nn_model_destroy(fm);
        } else {
            assert_true(fe.code == EC_EFORMAT || fe.code == EC_ENOMEM);
            assert_true(fe.msg[0] != 0);
            rejected++;
        }
    }
    assert_true(rejected > 1000);
    free(buf);
    free(good.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle_sgd),
        cmocka_unit_test(test_oracle_adam),
        cmocka_unit_test(test_direct_conv_matches_naive),
        cmocka_unit_test(test_save_load_clone_roundtrip),
        cmocka_unit_test(test_load_rejects_corrupt_files),
        cmocka_unit_test(test_load_survives_random_corruption),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
