/* Small float32 neural-network engine: NHWC tensors, a graph of named layers described by a
 * JSON architecture, weights in safetensors layout, forward/backward, SGD/Adam, and an
 * anchor-free detector (head, loss, decoding, class-wise NMS) on top of it.
 *
 * Layout: activations are NHWC. Weights are stored in files in PyTorch layout (conv OIHW,
 * depthwise C1HW) so a file is directly usable by torch; in memory conv weights are OHWI.
 *
 * Architecture JSON (see models/edge.arch.json):
 *   {"input": {"h": H, "w": W, "c": 3}, "num_classes": K (detectors only),
 *    "layers": [{"name": "c1", "type": "conv", "filters": 16, "size": 3, "stride": 2,
 *                "pad": size/2, "bias": 1, "from": "input" | "name" | ["a", "b"]}, ...]}
 * Types: conv, dwconv (size, stride, pad, bias), bn, relu, leaky (slope, default 0.1), silu,
 * maxpool (size, stride = size, pad = 0), upsample (nearest x2), concat (channels), add.
 * A layer reads the previous one unless "from" says otherwise; the last layer is the output.
 * Parameters are named "<layer>.weight", ".bias", and for bn also ".running_mean",
 * ".running_var" (PyTorch's names, eps 1e-5, momentum 0.1). */
#ifndef EDGECAM_NN_NN_H
#define EDGECAM_NN_NN_H

#include <stddef.h>
#include <stdint.h>

#include "core/det.h"
#include "core/err.h"
#include "core/image.h"

/* Limits on anything read from a model file or architecture. */
#define NN_MAX_FILE_BYTES (512u << 20)
#define NN_MAX_HEADER_BYTES (16u << 20)
#define NN_MAX_LAYERS 256
#define NN_MAX_CHANNELS 4096
#define NN_MAX_INPUT_DIM 2048
#define NN_MAX_PARAMS (64u << 20) /* floats */

/* ---- tensors ---------------------------------------------------------------------------- */
typedef struct nn_tensor {
    int n, h, w, c; /* NHWC */
    float *data;    /* owned */
} nn_tensor;

nn_tensor *nn_tensor_create(int n, int h, int w, int c); /* zero-filled; NULL on bad size/OOM */
void nn_tensor_destroy(nn_tensor *t);
size_t nn_tensor_numel(const nn_tensor *t);

/* Generic named F32 tensor files (safetensors layout). Shapes of rank 1..4 map right-aligned
 * onto (n, h, w, c); a tensor is saved as rank 4 [n, h, w, c]. */
int nn_tensors_save(const char *path, int count, const char *const names[],
                    const nn_tensor *const tensors[], ec_err *err);
nn_tensor *nn_tensors_load_one(const char *path, const char *name, ec_err *err);

/* Threads each conv of a forward may use (process-wide, default 1, at most 16). Results do not
 * depend on it. OpenBLAS itself is kept single-threaded. */
void nn_set_threads(int nthreads);

/* ---- models ----------------------------------------------------------------------------- */
typedef struct nn_model nn_model;

/* Builds a model from a JSON architecture with seeded random weights. */
nn_model *nn_model_create(const char *arch_json, uint64_t seed, ec_err *err);
/* Loads a model file: safetensors with the architecture in __metadata__["arch"].
 * Fully validated; any corruption gives NULL and an EC_EFORMAT error. */
nn_model *nn_model_load(const char *path, ec_err *err);
nn_model *nn_model_load_buffer(const void *buf, size_t len, ec_err *err);
int nn_model_save(const nn_model *m, const char *path, ec_err *err);
/* Saves the accumulated gradients instead of the parameters (same names, file layout). */
int nn_model_save_grads(const nn_model *m, const char *path, ec_err *err);
nn_model *nn_model_clone(const nn_model *m, ec_err *err);
void nn_model_destroy(nn_model *m);

const char *nn_model_arch(const nn_model *m);
void nn_model_input_shape(const nn_model *m, int *h, int *w, int *c);
void nn_model_output_shape(const nn_model *m, int *h, int *w, int *c);
int nn_model_param_count(const nn_model *m); /* named tensors, buffers included */
const char *nn_model_param_name(const nn_model *m, int i);
size_t nn_model_num_weights(const nn_model *m); /* floats */
double nn_model_flops(const nn_model *m);      /* per image, 2 * multiply-adds of conv layers */

/* Inference: BN folded into convs, weights read-only, per-call scratch: safe for concurrent
 * callers on one model. Returns a new tensor the caller destroys. */
nn_tensor *nn_model_forward(const nn_model *m, const nn_tensor *in, ec_err *err);
/* Training forward: batch statistics (running stats updated), activations kept in the model
 * for nn_model_backward. Returns a tensor owned by the model (valid until the next call).
 * Not thread-safe. */
const nn_tensor *nn_model_forward_train(nn_model *m, const nn_tensor *in, ec_err *err);
/* Back-propagates d(loss)/d(output) through the last training forward; accumulates into the
 * parameter gradients. `din` (may be NULL) receives d(loss)/d(input), same shape as input. */
int nn_model_backward(nn_model *m, const nn_tensor *dout, nn_tensor *din, ec_err *err);
void nn_model_zero_grad(nn_model *m);
/* Recomputes the folded inference weights; call after changing parameters directly
 * (nn_optim_step does it itself). */
void nn_model_refresh_inference(nn_model *m);

/* ---- optimisers (PyTorch semantics: L2 weight decay added to the gradient) -------------- */
enum nn_optim_kind { NN_OPTIM_SGD, NN_OPTIM_ADAM };
struct nn_optim_cfg {
    enum nn_optim_kind kind;
    float lr;
    float momentum;     /* SGD */
    float weight_decay;
    float beta1, beta2, eps; /* Adam; 0 means PyTorch defaults 0.9, 0.999, 1e-8 */
};
typedef struct nn_optim nn_optim;
nn_optim *nn_optim_create(const nn_model *m, const struct nn_optim_cfg *cfg, ec_err *err);
/* One update of every trainable parameter from its gradient; refreshes inference weights. */
int nn_optim_step(nn_optim *o, nn_model *m, ec_err *err);
void nn_optim_set_lr(nn_optim *o, float lr);
void nn_optim_destroy(nn_optim *o);

/* ---- detector --------------------------------------------------------------------------- */
/* The model's output (stride s = input / output size) has 5 + num_classes channels per cell:
 * objectness logit, class logits, then l, t, r, b as log(distance / s) from the cell centre. */
typedef struct detector detector;

detector *detector_load(const char *path, ec_err *err);
detector *detector_load_buffer(const void *buf, size_t len, ec_err *err);
/* Takes ownership of `m` (destroyed on failure too). The arch must set "num_classes". */
detector *detector_from_model(nn_model *m, ec_err *err);
detector *detector_clone(const detector *d, ec_err *err);
int detector_save(const detector *d, const char *path, ec_err *err);
void detector_destroy(detector *d);
nn_model *detector_model(detector *d);
int detector_num_classes(const detector *d);

/* Letterboxes `rgb` to the model size, runs it, decodes boxes with score >= score_thresh into
 * `out` (appended, original-frame pixels) and applies class-wise NMS (IoU 0.5).
 * Thread-safe for concurrent callers on one detector. */
int detector_run(const detector *d, const image *rgb, float score_thresh, struct det_list *out,
                 ec_err *err);
/* One optimisation step on a batch of n RGB frames with their ground-truth boxes
 * (original-frame pixels). Writes the mean loss to *loss if not NULL. */
int detector_train_step(detector *d, nn_optim *o, const image *const imgs[],
                        const struct det_list gts[], int n, float *loss, ec_err *err);

/* Head loss on a raw head output (NHWC, 5 + num_classes channels) with ground truth in model
 * input pixels, one det_list per image. Writes d(loss)/d(head) to `grad` if not NULL. */
float nn_head_loss(const nn_tensor *head, int stride, int num_classes,
                   const struct det_list gts[], nn_tensor *grad);
/* Class-wise greedy NMS in place: keeps the highest-scoring boxes, drops any box whose IoU with
 * a kept box of the same class exceeds iou_thresh. Output sorted by descending score. */
void nn_nms(struct det_list *l, float iou_thresh);

#endif
