/* 8-bit interleaved images (gray or RGB), shared by video, filter, nn and synth. */
#ifndef EDGECAM_CORE_IMAGE_H
#define EDGECAM_CORE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct image {
    int w, h;
    int c;      /* channels: 1 (gray) or 3 (RGB) */
    int stride; /* bytes per row, >= w * c */
    uint8_t *data;
} image;

/* Limits on any image we accept from outside (sources, JPEG bodies). */
#define IMAGE_MAX_DIM 8192

/* A zeroed image; NULL on bad dimensions or no memory. */
image *image_create(int w, int h, int c);
/* The same with undefined pixels, for producers that write every pixel (decoders, resize):
 * zeroing a 720p frame costs as much as converting it. */
image *image_create_uninit(int w, int h, int c);
void image_destroy(image *img);
image *image_clone(const image *src);
static inline uint8_t *image_row(const image *img, int y) { return img->data + (size_t)y * img->stride; }
/* ITU-R BT.601 luma, bit-exact with OpenCV's cvtColor(RGB2GRAY). Writes into `gray` (w x h x 1). */
void image_rgb_to_gray(const image *rgb, image *gray);
/* The same on raw rows (RGB24 in, one byte per pixel out). */
void gray_from_rgb(const uint8_t *rgb, size_t rgb_stride, int w, int h, uint8_t *gray,
                   size_t gray_stride);

#endif
