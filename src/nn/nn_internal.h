/* Internals shared by the nn source files (model graph, kernels, file io). Not public. */
#ifndef EDGECAM_NN_INTERNAL_H
#define EDGECAM_NN_INTERNAL_H

#include "nn/nn.h"

#include <pthread.h>

#define NN_NAME_MAX 48
#define NN_MAX_THREADS 16
#define NN_MAX_IN 8
#define NN_BN_EPS 1e-5f
#define NN_BN_MOMENTUM 0.1f

enum nn_op { OP_CONV, OP_DWCONV, OP_BN, OP_RELU, OP_LEAKY, OP_SILU, OP_MAXPOOL, OP_UPSAMPLE,
             OP_CONCAT, OP_ADD };

/* How a parameter is laid out in memory versus in the file (PyTorch layout). */
enum nn_param_layout { PL_PLAIN, PL_CONV /* mem OHWI, file OIHW */, PL_DW /* mem HWC, file C1HW */ };

struct nn_param {
    char name[NN_NAME_MAX + 16];
    int ndim;
    int shape[4]; /* file shape */
    size_t numel;
    enum nn_param_layout layout;
    int trainable; /* 0 for BN running statistics */
    float *data;   /* memory layout */
    float *grad;   /* NULL for buffers */
};

struct nn_layer {
    char name[NN_NAME_MAX];
    enum nn_op op;
    int nin;
    int in[NN_MAX_IN]; /* layer indices; -1 is the model input */
    int size, stride, pad, bias;
    float slope;
    int h, w, c;    /* output shape (per image) */
    int ih, iw, ic; /* shape of the first input */
    int p_weight, p_bias, p_mean, p_var; /* param indices or -1 */
    int fold_bn;   /* conv/dwconv: BN layer folded into it at inference, else -1 */
    int folded;    /* bn: folded into its producer at inference */
    enum nn_op fuse_act; /* conv: activation applied in its epilogue at inference (OP_CONV: none) */
    float slope_act;
    int fused;     /* activation: done by the conv before it at inference */
    float *fw, *fb; /* inference weights/bias (BN folded); fb always allocated for convs */
    float *dpack;   /* fw and fb packed for nn_conv3x3.c, or NULL when it does not apply */
};

/* Activations kept by the training forward. */
struct nn_train_state {
    int n;
    nn_tensor input;   /* copy of the input */
    float **out;       /* per layer */
    float **grad;      /* per layer, d(loss)/d(out) */
    float **bn_mean, **bn_invstd;
    int32_t **argmax;  /* maxpool */
    nn_tensor result;  /* view of the last output */
    float *cols;       /* im2col scratch */
    int threads;       /* nn_threads() when cols was sized */
};

/* Inference scratch, reused across calls; one per concurrent caller. */
struct nn_workspace {
    struct nn_workspace *next;
    size_t cap; /* floats */
    float *mem;
};

struct nn_model {
    char *arch;       /* JSON text */
    int in_h, in_w, in_c;
    int num_classes;  /* 0 when not a detector */
    int nlayers;
    struct nn_layer *layers;
    int nparams;
    struct nn_param *params;
    struct nn_train_state ts;
    pthread_mutex_t ws_lock;
    struct nn_workspace *ws_free;
};

/* nn_model.c */
int nn_find_param(const nn_model *m, const char *name);
/* Graph with zeroed parameters (BN weight and running_var 1). */
nn_model *nn_model_build(const char *arch_json, ec_err *err);
void nn_train_state_free(nn_model *m);

/* nn_layers.c: kernels on NHWC data; n images of the given per-image shape. */
void nn_conv_forward(const struct nn_layer *L, int n, const float *x, const float *w,
                     const float *b, float *y, float *cols, int fuse, int threads);
void nn_conv_backward(const struct nn_layer *L, int n, const float *x, const float *w,
                      const float *dy, float *dx, float *dw, float *db, float *cols);
size_t nn_conv_scratch(const struct nn_layer *L, int train, int threads); /* floats */
int nn_threads(void);
void nn_dwconv_forward(const struct nn_layer *L, int n, const float *x, const float *w,
                       const float *b, float *y);
void nn_dwconv_backward(const struct nn_layer *L, int n, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db);
int nn_bn_forward_train(size_t rows, int c, const float *x, const float *g, const float *b,
                         float *rmean, float *rvar, float *mean, float *invstd, float *y);
int nn_bn_backward(size_t rows, int c, const float *x, const float *g, const float *mean,
                    const float *invstd, const float *dy, float *dx, float *dg, float *db);
void nn_bn_forward_eval(size_t rows, int c, const float *x, const float *g, const float *b,
                        const float *rmean, const float *rvar, float *y);
void nn_act_forward(enum nn_op op, float slope, size_t count, const float *x, float *y);
void nn_act_backward(enum nn_op op, float slope, size_t count, const float *x, const float *dy,
                     float *dx);
void nn_maxpool_forward(const struct nn_layer *L, int n, const float *x, float *y,
                        int32_t *argmax);
void nn_maxpool_backward(const struct nn_layer *L, int n, const float *dy,
                         const int32_t *argmax, float *dx);
void nn_upsample_forward(const struct nn_layer *L, int n, const float *x, float *y);
void nn_upsample_backward(const struct nn_layer *L, int n, const float *dy, float *dx);

/* nn_conv3x3.c: direct 3x3 inference convs on AVX-512 CPUs (no im2col). */
int nn_direct3x3_fits(const struct nn_layer *L); /* shape and CPU: allocate dpack */
int nn_direct3x3_active(const struct nn_layer *L); /* dpack set and not switched off */
void nn_direct3x3_enable(int on); /* tests compare both paths; on by default */
size_t nn_direct3x3_packed_floats(const struct nn_layer *L);
void nn_direct3x3_pack(const struct nn_layer *L, const float *w, const float *b, float *packed);
size_t nn_direct3x3_scratch(const struct nn_layer *L); /* floats per thread */
/* Output rows [oy0, oy1) of one image, bias included, no activation. */
void nn_direct3x3_rows(const struct nn_layer *L, const float *x, const float *packed, int oy0,
                       int oy1, float *y, float *scratch);

/* nn_io.c */
struct nn_st_entry {
    char name[NN_NAME_MAX + 16];
    int ndim;
    int64_t shape[8];
    size_t begin, end; /* byte offsets inside the data section */
};
struct nn_st_file {
    uint8_t *buf; /* whole file */
    size_t len;
    const uint8_t *data; /* data section */
    size_t data_len;
    int nentries;
    struct nn_st_entry *entries;
    char *arch; /* __metadata__.arch, or NULL */
};
int nn_st_parse(const void *buf, size_t len, struct nn_st_file *f, ec_err *err);
int nn_st_read_file(const char *path, struct nn_st_file *f, ec_err *err);
void nn_st_free(struct nn_st_file *f);
struct nn_st_out {
    const char *name;
    int ndim;
    const int *shape;
    const float *data; /* file layout */
    size_t numel;
};
int nn_st_write(const char *path, const char *arch, const struct nn_st_out *t, int count,
                ec_err *err);
void nn_param_to_file(const struct nn_param *p, const float *mem, float *file);
void nn_param_from_file(const struct nn_param *p, const float *file, float *mem);

#endif
