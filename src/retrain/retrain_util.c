/* Options, batches and SHA-256 (model digests) for continuous learning. */
#include "retrain/retrain.h"

#include "config/config.h"
#include "video/video.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void retrain_opts_default(struct retrain_opts *o)
{
    memset(o, 0, sizeof *o);
    o->window_s = 90;
    o->collect_num = 20;
    o->select_num = 15;
    o->num_epoch = 2;
    o->optimizer = NN_OPTIM_SGD;
    o->lr = 0.005f;
    o->momentum = 0.9f;
    o->weight_decay = 5e-4f;
    o->head_only = 0;
    o->label_score_thresh = 0.6f;
    o->replay_fraction = 0.25f;
    o->holdout_fraction = 0.25f;
    o->confident_thresh = 0.5f;
    o->batch_size = 4;
    o->replay_max = 64;
    o->seed = 1;
}

void retrain_opts_from_config(struct retrain_opts *o, const struct config_retrain *c)
{
    retrain_opts_default(o);
    o->window_s = c->window;
    o->collect_num = c->collect_num;
    o->select_num = c->select_num;
    o->num_epoch = c->num_epoch;
    o->optimizer = c->optimizer == CONFIG_OPTIMIZER_ADAM ? NN_OPTIM_ADAM : NN_OPTIM_SGD;
    o->lr = (float)c->lr;
    o->momentum = (float)c->momentum;
    o->weight_decay = (float)c->weight_decay;
    o->head_only = c->layers == CONFIG_LAYERS_HEAD;
    o->label_score_thresh = (float)c->label_score_thresh;
    o->replay_fraction = (float)c->replay_fraction;
    o->holdout_fraction = (float)c->holdout_fraction;
}

int retrain_opts_validate(const struct retrain_opts *o, ec_err *err)
{
    if (!(o->window_s > 0))
        return ec_err_set(err, EC_EINVAL, "retrain window must be > 0 s");
    if (o->collect_num < 1 || o->collect_num > RETRAIN_MAX_FRAMES)
        return ec_err_set(err, EC_EINVAL, "collect_num must be in 1..%d", RETRAIN_MAX_FRAMES);
    if (o->select_num < 1 || o->select_num > o->collect_num)
        return ec_err_set(err, EC_EINVAL, "select_num must be in 1..collect_num");
    if (o->num_epoch < 1 || o->num_epoch > 1000)
        return ec_err_set(err, EC_EINVAL, "num_epoch must be in 1..1000");
    if (!(o->lr > 0 && o->lr < 10) || !(o->momentum >= 0 && o->momentum < 1) ||
        !(o->weight_decay >= 0 && o->weight_decay < 1))
        return ec_err_set(err, EC_EINVAL, "lr, momentum or weight_decay out of range");
    if (!(o->label_score_thresh >= 0 && o->label_score_thresh <= 1) ||
        !(o->confident_thresh >= 0 && o->confident_thresh <= 1))
        return ec_err_set(err, EC_EINVAL, "score thresholds must be in 0..1");
    if (!(o->replay_fraction >= 0 && o->replay_fraction <= 1) ||
        !(o->holdout_fraction > 0 && o->holdout_fraction < 1))
        return ec_err_set(err, EC_EINVAL, "replay_fraction in 0..1, holdout_fraction in (0, 1)");
    if (o->batch_size < 1 || o->batch_size > 64 || o->replay_max < 0 || o->replay_max > 4096)
        return ec_err_set(err, EC_EINVAL, "batch_size in 1..64, replay_max in 0..4096");
    return 0;
}

void retrain_batch_destroy(struct retrain_batch *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->n; i++)
        image_destroy(b->frames[i]);
    free(b->frames);
    free(b->mean_conf);
    free(b);
}

/* ---- SHA-256 (FIPS 180-4) ---- */
static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha_k[i] + w[i];
        uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void retrain_sha256_hex(const void *data, size_t len, char out[65])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const uint8_t *p = data;
    size_t full = len / 64;
    for (size_t i = 0; i < full; i++)
        sha256_block(h, p + 64 * i);
    uint8_t tail[128] = {0};
    size_t rest = len - full * 64;
    if (rest)
        memcpy(tail, p + full * 64, rest);
    tail[rest] = 0x80;
    size_t tlen = rest + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha256_block(h, tail);
    if (tlen == 128)
        sha256_block(h, tail + 64);
    for (int i = 0; i < 8; i++)
        snprintf(out + 8 * i, 9, "%08x", h[i]);
}

/* ---- files ---- */
int retrain_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len,
                      ec_err *err)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ec_err_set(err, EC_ENOTFOUND, "cannot open %s", path);
    uint8_t *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            if (cap > max_bytes) {
                free(b);
                fclose(f);
                return ec_err_set(err, EC_EFORMAT, "%s is larger than %zu bytes", path,
                                  max_bytes);
            }
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(b, cap + 1);
            if (!nb) {
                free(b);
                fclose(f);
                return ec_err_set(err, EC_ENOMEM, "out of memory reading %s", path);
            }
            b = nb;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max_bytes) {
        free(b);
        return ec_err_set(err, bad ? EC_EIO : EC_EFORMAT, "%s: %s", path,
                          bad ? "read error" : "too large");
    }
    *buf = b;
    *len = n;
    return 0;
}

int retrain_write_file(const char *path, const void *data, size_t len, ec_err *err)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return ec_err_set(err, EC_EINVAL, "path too long");
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return ec_err_set(err, EC_EIO, "cannot create %s", tmp);
    int bad = fwrite(data, 1, len, f) != len;
    bad |= fflush(f) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return ec_err_set(err, EC_EIO, "cannot write %s", path);
    }
    return 0;
}

/* ---- frame upload framing ---- */
#define FRAMES_MAGIC "ECR1"

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int retrain_frames_encode(const image *const frames[], int n, int quality, uint8_t **out,
                          size_t *len, ec_err *err)
{
    *out = NULL;
    *len = 0;
    if (n < 1 || n > RETRAIN_MAX_FRAMES)
        return ec_err_set(err, EC_EINVAL, "%d frames: need 1..%d", n, RETRAIN_MAX_FRAMES);
    jpeg_codec *jc = jpeg_codec_create(err);
    if (!jc)
        return -1;
    size_t cap = 8, used = 8;
    uint8_t *buf = malloc(cap);
    int rc = buf ? 0 : ec_err_set(err, EC_ENOMEM, "out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        uint8_t *j = NULL;
        size_t jl = 0;
        if ((rc = jpeg_encode(jc, frames[i], quality, &j, &jl, err)))
            break;
        uint8_t *nb = realloc(buf, used + 4 + jl);
        if (!nb) {
            free(j);
            rc = ec_err_set(err, EC_ENOMEM, "out of memory");
            break;
        }
        buf = nb;
        put_u32(buf + used, (uint32_t)jl);
        memcpy(buf + used + 4, j, jl);
        used += 4 + jl;
        free(j);
    }
    jpeg_codec_destroy(jc);
    if (rc) {
        free(buf);
        return -1;
    }
    memcpy(buf, FRAMES_MAGIC, 4);
    put_u32(buf + 4, (uint32_t)n);
    *out = buf;
    *len = used;
    return 0;
}

int retrain_frames_decode(const uint8_t *body, size_t len, image *frames[], int max_frames,
                          int *n, ec_err *err)
{
    *n = 0;
    if (!body || len < 8 || memcmp(body, FRAMES_MAGIC, 4) != 0)
        return ec_err_set(err, EC_EFORMAT, "not a frame upload (magic " FRAMES_MAGIC ")");
    uint32_t count = get_u32(body + 4);
    if (count < 1 || count > (uint32_t)max_frames)
        return ec_err_set(err, EC_EFORMAT, "frame count %u not in 1..%d", count, max_frames);
    jpeg_codec *jc = jpeg_codec_create(err);
    if (!jc)
        return -1;
    size_t off = 8;
    int rc = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < 4) {
            rc = ec_err_set(err, EC_EFORMAT, "frame %u: truncated length", i);
            break;
        }
        uint32_t fl = get_u32(body + off);
        off += 4;
        if (fl == 0 || fl > len - off) {
            rc = ec_err_set(err, EC_EFORMAT, "frame %u: length %u past the body", i, fl);
            break;
        }
        if (jpeg_decode(jc, body + off, fl, &frames[i], err)) {
            rc = ec_err_wrap(err, "frame %u", i);
            break;
        }
        *n = (int)i + 1;
        off += fl;
    }
    if (rc == 0 && off != len)
        rc = ec_err_set(err, EC_EFORMAT, "%zu trailing bytes after the frames", len - off);
    jpeg_codec_destroy(jc);
    if (rc) {
        for (int i = 0; i < *n; i++)
            image_destroy(frames[i]);
        *n = 0;
    }
    return rc;
}
