/* A tiny generator source for edge tests: a 96x64 frame with a bright square that moves every
 * `move_every` frames; `total` < 0 is an endless camera. */
#ifndef EDGECAM_TESTS_SCENE_H
#define EDGECAM_TESTS_SCENE_H

#include "core/err.h"
#include "core/image.h"

#include <stdint.h>
#include <string.h>

struct scene {
    int64_t total, next;
    int move_every;
};

static inline int scene_next(void *ctx, image **out, double *pts_s, ec_err *err)
{
    (void)err;
    struct scene *s = ctx;
    if (s->total >= 0 && s->next >= s->total)
        return 0;
    image *img = image_create(96, 64, 3);
    if (!img)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 96; x++)
            image_row(img, y)[3 * x + 2] = (uint8_t)(x + y); /* some texture */
    int x0 = (int)((s->next / s->move_every) * 7 % 64);
    for (int y = 10; y < 30; y++)
        memset(image_row(img, y) + x0 * 3, 255, 16 * 3);
    *pts_s = (double)s->next / 30.0;
    s->next++;
    *out = img;
    return 1;
}

#endif
