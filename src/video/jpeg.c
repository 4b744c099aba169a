/* JPEG encode/decode through TurboJPEG (libjpeg-turbo 2.x API).
 * Handles are created once per codec: creating them per call costs more than
 * coding a small frame. */
#include "video/video.h"

#include <stdlib.h>
#include <turbojpeg.h>

struct jpeg_codec {
    tjhandle enc, dec;
};

jpeg_codec *jpeg_codec_create(ec_err *err)
{
    jpeg_codec *c = calloc(1, sizeof *c);
    if (!c) {
        ec_err_set(err, EC_ENOMEM, "jpeg codec: out of memory");
        return NULL;
    }
    c->enc = tjInitCompress();
    c->dec = tjInitDecompress();
    if (!c->enc || !c->dec) {
        ec_err_set(err, EC_ENOMEM, "jpeg codec: %s", tjGetErrorStr2(NULL));
        jpeg_codec_destroy(c);
        return NULL;
    }
    return c;
}

void jpeg_codec_destroy(jpeg_codec *c)
{
    if (!c)
        return;
    if (c->enc)
        tjDestroy(c->enc);
    if (c->dec)
        tjDestroy(c->dec);
    free(c);
}

int jpeg_encode(jpeg_codec *c, const image *img, int quality, uint8_t **out, size_t *len,
                ec_err *err)
{
    if (!c || !img || !img->data || !out || !len)
        return ec_err_set(err, EC_EINVAL, "jpeg encode: missing argument");
    if (img->w <= 0 || img->h <= 0 || img->w > IMAGE_MAX_DIM || img->h > IMAGE_MAX_DIM ||
        (img->c != 1 && img->c != 3) || img->stride < img->w * img->c)
        return ec_err_set(err, EC_EINVAL, "jpeg encode: bad image %dx%dx%d", img->w, img->h,
                          img->c);
    if (quality < 1 || quality > 100)
        return ec_err_set(err, EC_EINVAL, "jpeg encode: quality %d not in 1..100", quality);

    int gray = img->c == 1;
    int subsamp = gray ? TJSAMP_GRAY : TJSAMP_420;
    /* Worst-case buffer we own, so the caller can free() it (tjFree is not free). */
    unsigned long cap = tjBufSize(img->w, img->h, subsamp);
    if (cap == (unsigned long)-1)
        return ec_err_set(err, EC_EINVAL, "jpeg encode: %s", tjGetErrorStr2(c->enc));
    uint8_t *buf = malloc(cap);
    if (!buf)
        return ec_err_set(err, EC_ENOMEM, "jpeg encode: out of memory (%lu bytes)", cap);
    unsigned long size = cap;
    if (tjCompress2(c->enc, img->data, img->w, img->stride, img->h, gray ? TJPF_GRAY : TJPF_RGB,
                    &buf, &size, subsamp, quality, TJFLAG_NOREALLOC) != 0) {
        free(buf);
        return ec_err_set(err, EC_EFORMAT, "jpeg encode: %s", tjGetErrorStr2(c->enc));
    }
    uint8_t *shrunk = realloc(buf, size);
    *out = shrunk ? shrunk : buf;
    *len = size;
    return 0;
}

/* libjpeg-turbo 2.1 leaves a handle unusable after some header errors (the next
 * call fails with the old error), so a failed decode gets a fresh handle. */
static int decode_failed(jpeg_codec *c, ec_err *err, const char *what)
{
    ec_err_set(err, EC_EFORMAT, "jpeg decode: %s%s", what, tjGetErrorStr2(c->dec));
    tjDestroy(c->dec);
    c->dec = tjInitDecompress();
    return -1;
}

int jpeg_decode(jpeg_codec *c, const uint8_t *buf, size_t len, image **out, ec_err *err)
{
    if (!c || !buf || !out)
        return ec_err_set(err, EC_EINVAL, "jpeg decode: missing argument");
    *out = NULL;
    if (!c->dec && !(c->dec = tjInitDecompress()))
        return ec_err_set(err, EC_ENOMEM, "jpeg decode: %s", tjGetErrorStr2(NULL));
    if (len < 4 || buf[0] != 0xFF || buf[1] != 0xD8)
        return ec_err_set(err, EC_EFORMAT, "jpeg decode: not a JPEG (%zu bytes)", len);
    if (len > JPEG_MAX_BYTES)
        return ec_err_set(err, EC_EFORMAT, "jpeg decode: %zu bytes exceeds limit %u", len,
                          JPEG_MAX_BYTES);

    int w, h, subsamp, colorspace;
    if (tjDecompressHeader3(c->dec, buf, (unsigned long)len, &w, &h, &subsamp, &colorspace) != 0)
        return decode_failed(c, err, "bad header: ");
    if (w <= 0 || h <= 0 || w > IMAGE_MAX_DIM || h > IMAGE_MAX_DIM)
        return ec_err_set(err, EC_EFORMAT, "jpeg decode: %dx%d exceeds limit %d", w, h,
                          IMAGE_MAX_DIM);

    image *img = image_create_uninit(w, h, 3);
    if (!img)
        return ec_err_set(err, EC_ENOMEM, "jpeg decode: out of memory for %dx%d", w, h);
    /* Warnings (truncated data, corrupt segments) are errors: the input is untrusted and
     * a half-grey frame would only mislead a detector. LIMITSCANS bounds progressive
     * JPEGs crafted with thousands of scans. */
    if (tjDecompress2(c->dec, buf, (unsigned long)len, img->data, w, img->stride, h, TJPF_RGB,
                      TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
        image_destroy(img);
        return decode_failed(c, err, "");
    }
    *out = img;
    return 0;
}
