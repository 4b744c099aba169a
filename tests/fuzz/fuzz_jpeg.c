/* libFuzzer target: JPEG input (frames arriving at inference servers, retrain uploads).
 * A decoded image must have sane dimensions and survive a resize and a re-encode. */
#include "video/video.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jpeg_codec *codec;
    ec_err err = {0};
    if (!codec && !(codec = jpeg_codec_create(&err)))
        abort();
    image *img = NULL;
    if (jpeg_decode(codec, data, size, &img, &err) != 0) {
        if (img || !err.msg[0])
            abort(); /* a failure must leave no image and say why */
        return 0;
    }
    if (!img || img->w < 1 || img->h < 1 || img->w > IMAGE_MAX_DIM || img->h > IMAGE_MAX_DIM ||
        img->c != 3)
        abort();
    /* The edge's next steps on a frame: downsize, re-encode (bounded to keep execs fast). */
    if (img->h >= 2 && img->w <= 1024 && img->h <= 1024) {
        image *small = image_resize_height(img, img->h / 2 > 0 ? img->h / 2 : 1, &err);
        uint8_t *jpg = NULL;
        size_t len = 0;
        if (small && jpeg_encode(codec, small, 75, &jpg, &len, &err) != 0)
            abort();
        free(jpg);
        image_destroy(small);
    }
    image_destroy(img);
    return 0;
}
