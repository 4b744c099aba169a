/* Model files made for tests: an untrained detector built from an arch JSON and a seed, saved to
 * `path` so that a service under test can load it. Include after <cmocka.h>. */
#ifndef EDGECAM_TESTS_TINY_MODEL_H
#define EDGECAM_TESTS_TINY_MODEL_H

#include "nn/nn.h"

#include <stdint.h>

/* The smallest detector the service tests serve: 64 x 64 input, 2 classes, stride 4. */
#define TINY_DET_ARCH \
    "{\"input\":{\"h\":64,\"w\":64,\"c\":3},\"num_classes\":2,\"layers\":[" \
    "{\"name\":\"c1\",\"type\":\"conv\",\"filters\":8,\"size\":3,\"stride\":2,\"bias\":0}," \
    "{\"name\":\"b1\",\"type\":\"bn\"},{\"name\":\"a1\",\"type\":\"silu\"}," \
    "{\"name\":\"c2\",\"type\":\"conv\",\"filters\":16,\"size\":3,\"stride\":2}," \
    "{\"name\":\"head\",\"type\":\"conv\",\"filters\":7,\"size\":1}]}"

static inline void tiny_model_save(const char *arch, uint64_t seed, const char *path)
{
    ec_err err = {0};
    nn_model *m = nn_model_create(arch, seed, &err);
    assert_non_null(m);
    detector *d = detector_from_model(m, &err);
    assert_non_null(d);
    assert_int_equal(detector_save(d, path, &err), 0);
    detector_destroy(d);
}

#endif
