/* libFuzzer target: the model file loader (safetensors + JSON architecture), as used for
 * models read from disk and models downloaded by the retrain client. */
#include "nn/nn.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ec_err err = {0};
    nn_model *m = nn_model_load_buffer(data, size, &err);
    if (!m) {
        if (!err.msg[0])
            abort(); /* an error must say why */
        return 0;
    }
    int h, w, c;
    nn_model_input_shape(m, &h, &w, &c);
    if (h < 1 || w < 1 || c < 1 || h > NN_MAX_INPUT_DIM || w > NN_MAX_INPUT_DIM)
        abort();
    /* A loaded model must run: forward one zero image when that is cheap. */
    if (nn_model_flops(m) < 2e7) {
        nn_tensor *in = nn_tensor_create(1, h, w, c);
        nn_tensor *out = in ? nn_model_forward(m, in, &err) : NULL;
        if (in && !out)
            abort();
        nn_tensor_destroy(out);
        nn_tensor_destroy(in);
    }
    nn_model_destroy(m);
    ec_err_clear(&err);
    detector *d = detector_load_buffer(data, size, &err);
    detector_destroy(d);
    return 0;
}
