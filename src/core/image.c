#include "core/image.h"

#include "core/compiler.h"

#include <stdlib.h>
#include <string.h>

static image *image_alloc(int w, int h, int c, int zero)
{
    if (w <= 0 || h <= 0 || w > IMAGE_MAX_DIM || h > IMAGE_MAX_DIM || (c != 1 && c != 3))
        return NULL;
    image *img = malloc(sizeof *img);
    if (!img)
        return NULL;
    img->w = w;
    img->h = h;
    img->c = c;
    img->stride = w * c;
    size_t size = (size_t)img->stride * (size_t)h;
    img->data = zero ? calloc(size, 1) : malloc(size);
    if (!img->data) {
        free(img);
        return NULL;
    }
    return img;
}

image *image_create(int w, int h, int c) { return image_alloc(w, h, c, 1); }

image *image_create_uninit(int w, int h, int c) { return image_alloc(w, h, c, 0); }

void image_destroy(image *img)
{
    if (!img)
        return;
    free(img->data);
    free(img);
}

image *image_clone(const image *src)
{
    image *img = image_create_uninit(src->w, src->h, src->c);
    if (!img)
        return NULL;
    for (int y = 0; y < src->h; y++)
        memcpy(image_row(img, y), image_row(src, y), (size_t)src->w * (size_t)src->c);
    return img;
}

/* OpenCV's fixed-point weights: 15 bits, rounded. */
EC_TARGET_CLONES
void gray_from_rgb(const uint8_t *rgb, size_t rgb_stride, int w, int h, uint8_t *gray,
                   size_t gray_stride)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *restrict s = rgb + (size_t)y * rgb_stride;
        uint8_t *restrict d = gray + (size_t)y * gray_stride;
        for (int x = 0; x < w; x++)
            d[x] = (uint8_t)((s[3 * x] * 9798u + s[3 * x + 1] * 19235u + s[3 * x + 2] * 3735u +
                              (1u << 14)) >> 15);
    }
}

void image_rgb_to_gray(const image *rgb, image *gray)
{
    gray_from_rgb(rgb->data, (size_t)rgb->stride, rgb->w, rgb->h, gray->data,
                  (size_t)gray->stride);
}
