/* Internal to src/filter: the few OpenCV 4.6 operations the filter features need, on 8-bit planes
 * (row stride == width), reproduced bit-exactly where OpenCV is integer (cvtColor, GaussianBlur,
 * Canny, dilate, findContours) and in exact integer sums where it is float (cornerHarris). */
#ifndef EDGECAM_FILTER_IMGPROC_H
#define EDGECAM_FILTER_IMGPROC_H

#include <stddef.h>
#include <stdint.h>

/* Reusable scratch buffers for one frame size. */
typedef struct ip_ws ip_ws;

ip_ws *ip_ws_create(int w, int h);
void ip_ws_destroy(ip_ws *ws);

/* GaussianBlur(ksize 11x11, sigma 0 -> 2.0, BORDER_REFLECT_101), OpenCV's bit-exact 8-bit path. */
void ip_gauss11(ip_ws *ws, const uint8_t *src, uint8_t *dst);
/* Canny(low, high, aperture 3, L1 gradient): dst = 1 on edges, 0 elsewhere. */
void ip_canny(ip_ws *ws, const uint8_t *src, int low, int high, uint8_t *dst);
/* Harris(block 5, ksize 3, k 0.05, BORDER_REFLECT_101) -> dilate 3x3 -> dst = 1 where the dilated
 * response > rel * max(response) (all 0 if the maximum is not positive). */
void ip_harris_mask(ip_ws *ws, const uint8_t *gray, double rel, uint8_t *dst);
/* dilate(3x3 rect, default border) of a 0/1 plane. `src` and `dst` must differ. */
void ip_dilate3(ip_ws *ws, const uint8_t *src, uint8_t *dst);
/* Largest contourArea over findContours(RETR_EXTERNAL) of the nonzero pixels of `mask`. */
double ip_max_contour_area(ip_ws *ws, const uint8_t *mask);
/* absdiff(a, b) > thresh -> dilate 3x3 -> ip_max_contour_area. */
double ip_area_diff(ip_ws *ws, const uint8_t *a, const uint8_t *b, int thresh);
/* Number of positions where a and b differ. */
size_t ip_count_differing(const uint8_t *a, const uint8_t *b, size_t n);
/* Pixels whose cvtColor(absdiff(a, b), RGB2GRAY) > thresh (packed RGB, npix pixels). */
size_t ip_count_rgb_absdiff_over(const uint8_t *a, const uint8_t *b, size_t npix, int thresh);
/* GaussianBlur kernel in 8-bit fixed point (sum 256), as OpenCV builds it for 8-bit images. */
void ip_gauss_kernel_q8(int n, uint16_t *k);

#endif
