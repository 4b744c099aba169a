#include "core/image.h"

#include <stdlib.h>
#include <string.h>

image *image_create(int w, int h, int c)
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
    img->data = calloc((size_t)img->stride * (size_t)h, 1);
    if (!img->data) {
        free(img);
        return NULL;
    }
    return img;
}

void image_destroy(image *img)
{
    if (!img)
        return;
    free(img->data);
    free(img);
}

image *image_clone(const image *src)
{
    image *img = image_create(src->w, src->h, src->c);
    if (!img)
        return NULL;
    for (int y = 0; y < src->h; y++)
        memcpy(image_row(img, y), image_row(src, y), (size_t)src->w * (size_t)src->c);
    return img;
}

void image_rgb_to_gray(const image *rgb, image *gray)
{
    /* Fixed-point weights matching OpenCV (R 0.299, G 0.587, B 0.114, 14-bit). */
    for (int y = 0; y < rgb->h; y++) {
        const uint8_t *s = image_row(rgb, y);
        uint8_t *d = image_row(gray, y);
        for (int x = 0; x < rgb->w; x++, s += 3)
            d[x] = (uint8_t)((s[0] * 4899 + s[1] * 9617 + s[2] * 1868 + (1 << 13)) >> 14);
    }
}
