/* Test frames with a known pattern: each test passes its own pixel function (the assertions of
 * some tests depend on the exact pixels), and the frame can be JPEG-encoded for upload.
 * Include after <cmocka.h>. */
#ifndef EDGECAM_TESTS_PATTERN_FRAME_H
#define EDGECAM_TESTS_PATTERN_FRAME_H

#include "core/image.h"
#include "video/video.h"

#include <stddef.h>
#include <stdint.h>

/* Sets the RGB value of pixel (x, y). */
typedef void (*pattern_pixel_fn)(int x, int y, uint8_t *rgb);

static inline image *pattern_frame_create(int w, int h, pattern_pixel_fn pixel)
{
    image *img = image_create(w, h, 3);
    assert_non_null(img);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            pixel(x, y, image_row(img, y) + 3 * x);
    return img;
}

/* JPEG of `img` at `quality` into a malloc'd buffer (*jpeg, *len). */
static inline void jpeg_encode_or_fail(const image *img, int quality, uint8_t **jpeg, size_t *len)
{
    ec_err err = {0};
    jpeg_codec *c = jpeg_codec_create(&err);
    assert_non_null(c);
    assert_int_equal(jpeg_encode(c, img, quality, jpeg, len, &err), 0);
    jpeg_codec_destroy(c);
}

/* A whole test frame straight to JPEG. */
static inline void pattern_frame_jpeg(int w, int h, pattern_pixel_fn pixel, int quality, uint8_t **jpeg,
                                   size_t *len)
{
    image *img = pattern_frame_create(w, h, pixel);
    jpeg_encode_or_fail(img, quality, jpeg, len);
    image_destroy(img);
}

#endif
