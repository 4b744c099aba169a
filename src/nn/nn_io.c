/* Model and tensor files in safetensors layout: u64 little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then raw little-endian data.
 * Everything read is untrusted: every length, offset and shape is checked. */
#include "nn/nn_internal.h"

#include <cJSON.h>
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Threads are ours (row blocks of a conv); OpenBLAS stays single-threaded so that concurrent
 * callers and our own threads never contend inside it. */
static _Atomic int conv_threads = 1;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single_thread(void) { openblas_set_num_threads(1); }

void nn_set_threads(int nthreads)
{
    pthread_once(&blas_once, blas_single_thread);
    conv_threads = nthreads < 1 ? 1 : nthreads > NN_MAX_THREADS ? NN_MAX_THREADS : nthreads;
}

int nn_threads(void)
{
    pthread_once(&blas_once, blas_single_thread);
    return conv_threads;
}

/* File layout index of memory element: conv OHWI <-> OIHW, depthwise HWC <-> C1HW. */
void nn_param_to_file(const struct nn_param *p, const float *mem, float *file)
{
    if (p->layout == PL_PLAIN) {
        memcpy(file, mem, p->numel * sizeof(float));
        return;
    }
    int O = p->shape[0], Ci = p->shape[1], K = p->shape[2] * p->shape[3];
    for (int o = 0; o < O; o++)
        for (int i = 0; i < Ci; i++)
            for (int k = 0; k < K; k++) {
                size_t f = ((size_t)o * Ci + i) * K + k;
                file[f] = p->layout == PL_CONV ? mem[((size_t)o * K + k) * Ci + i]
                                               : mem[(size_t)k * O + o];
            }
}

void nn_param_from_file(const struct nn_param *p, const float *file, float *mem)
{
    if (p->layout == PL_PLAIN) {
        memcpy(mem, file, p->numel * sizeof(float));
        return;
    }
    int O = p->shape[0], Ci = p->shape[1], K = p->shape[2] * p->shape[3];
    for (int o = 0; o < O; o++)
        for (int i = 0; i < Ci; i++)
            for (int k = 0; k < K; k++) {
                size_t f = ((size_t)o * Ci + i) * K + k;
                if (p->layout == PL_CONV)
                    mem[((size_t)o * K + k) * Ci + i] = file[f];
                else
                    mem[(size_t)k * O + o] = file[f];
            }
}

void nn_st_free(struct nn_st_file *f)
{
    free(f->buf);
    free(f->entries);
    free(f->arch);
    memset(f, 0, sizeof *f);
}

static int cmp_begin(const void *a, const void *b)
{
    const struct nn_st_entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int parse_entry(const cJSON *it, size_t data_len, struct nn_st_entry *e, ec_err *err)
{
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (strlen(it->string) >= sizeof e->name)
        return ec_err_set(err, EC_EFORMAT, "tensor name too long");
    snprintf(e->name, sizeof e->name, "%s", it->string);
    if (!cJSON_IsObject(it) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape) ||
        !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return ec_err_set(err, EC_EFORMAT, "tensor %s: needs dtype, shape, data_offsets", e->name);
    if (strcmp(dtype->valuestring, "F32") != 0)
        return ec_err_set(err, EC_EFORMAT, "tensor %s: dtype %.16s, only F32 is supported",
                          e->name, dtype->valuestring);
    e->ndim = cJSON_GetArraySize(shape);
    if (e->ndim > 8)
        return ec_err_set(err, EC_EFORMAT, "tensor %s: rank %d too high", e->name, e->ndim);
    double numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        const cJSON *v = cJSON_GetArrayItem(shape, d);
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9 ||
            v->valuedouble != floor(v->valuedouble))
            return ec_err_set(err, EC_EFORMAT, "tensor %s: bad shape", e->name);
        e->shape[d] = (int64_t)v->valuedouble;
        numel *= v->valuedouble;
    }
    double b = cJSON_GetArrayItem(offs, 0)->valuedouble, en = cJSON_GetArrayItem(offs, 1)->valuedouble;
    if (!cJSON_IsNumber(cJSON_GetArrayItem(offs, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(offs, 1)) ||
        b < 0 || en < b || en > (double)data_len || b != floor(b) || en != floor(en))
        return ec_err_set(err, EC_EFORMAT, "tensor %s: data_offsets out of range", e->name);
    e->begin = (size_t)b, e->end = (size_t)en;
    if (numel * 4.0 != (double)(e->end - e->begin))
        return ec_err_set(err, EC_EFORMAT, "tensor %s: shape does not match its byte size",
                          e->name);
    return 0;
}

static int parse_header(struct nn_st_file *f, const cJSON *root, ec_err *err)
{
    int count = cJSON_GetArraySize(root);
    f->entries = calloc((size_t)count + 1, sizeof *f->entries);
    if (!f->entries)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        if (strcmp(it->string, "__metadata__") == 0) {
            const cJSON *arch = cJSON_GetObjectItemCaseSensitive(it, "arch");
            if (cJSON_IsString(arch) && !(f->arch = strdup(arch->valuestring)))
                return ec_err_set(err, EC_ENOMEM, "out of memory");
            continue;
        }
        if (parse_entry(it, f->data_len, &f->entries[f->nentries], err))
            return -1;
        for (int k = 0; k < f->nentries; k++)
            if (strcmp(f->entries[k].name, it->string) == 0)
                return ec_err_set(err, EC_EFORMAT, "tensor %s listed twice", it->string);
        f->nentries++;
    }
    struct nn_st_entry *sorted = malloc(((size_t)f->nentries + 1) * sizeof *sorted);
    if (!sorted)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    memcpy(sorted, f->entries, (size_t)f->nentries * sizeof *sorted);
    qsort(sorted, (size_t)f->nentries, sizeof *sorted, cmp_begin);
    for (int k = 1; k < f->nentries; k++)
        if (sorted[k].begin < sorted[k - 1].end) {
            ec_err_set(err, EC_EFORMAT, "tensors %s and %s overlap", sorted[k - 1].name,
                       sorted[k].name);
            free(sorted);
            return -1;
        }
    free(sorted);
    return 0;
}

/* Parses a copy of `buf`; on success f owns the copy. */
int nn_st_parse(const void *buf, size_t len, struct nn_st_file *f, ec_err *err)
{
    memset(f, 0, sizeof *f);
    if (len < 8)
        return ec_err_set(err, EC_EFORMAT, "file truncated: %zu bytes, no header length", len);
    if (len > NN_MAX_FILE_BYTES)
        return ec_err_set(err, EC_EFORMAT, "file too large (%zu bytes)", len);
    const uint8_t *b = buf;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | b[i];
    if (hlen < 2 || hlen > NN_MAX_HEADER_BYTES || hlen > len - 8)
        return ec_err_set(err, EC_EFORMAT, "bad header length %llu for a %zu-byte file",
                          (unsigned long long)hlen, len);
    f->buf = malloc(len + 1);
    if (!f->buf)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    memcpy(f->buf, buf, len);
    f->len = len;
    f->data = f->buf + 8 + hlen;
    f->data_len = len - 8 - hlen;
    cJSON *root = cJSON_ParseWithLength((const char *)f->buf + 8, (size_t)hlen);
    int rc = cJSON_IsObject(root) ? parse_header(f, root, err)
                                  : ec_err_set(err, EC_EFORMAT, "header is not a JSON object");
    cJSON_Delete(root);
    if (rc)
        nn_st_free(f);
    return rc;
}

int nn_st_read_file(const char *path, struct nn_st_file *f, ec_err *err)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ec_err_set(err, EC_EIO, "%s: %s", path, strerror(errno));
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0)
        size = ftell(fp);
    if (size < 0 || (unsigned long)size > NN_MAX_FILE_BYTES || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return ec_err_set(err, EC_EFORMAT, "%s: unreadable or larger than %u bytes", path,
                          NN_MAX_FILE_BYTES);
    }
    void *buf = malloc((size_t)size + 1);
    size_t got = buf ? fread(buf, 1, (size_t)size, fp) : 0;
    fclose(fp);
    if (!buf || got != (size_t)size) {
        free(buf);
        return ec_err_set(err, buf ? EC_EIO : EC_ENOMEM, "%s: read failed", path);
    }
    int rc = nn_st_parse(buf, got, f, err);
    free(buf);
    if (rc)
        ec_err_wrap(err, "%s", path);
    return rc;
}

static void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int nn_st_write(const char *path, const char *arch, const struct nn_st_out *t, int count,
                ec_err *err)
{
    cJSON *root = cJSON_CreateObject();
    size_t off = 0;
    if (arch) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        cJSON_AddStringToObject(meta, "format", "edgecam-nn");
        cJSON_AddStringToObject(meta, "arch", arch);
    }
    for (int i = 0; i < count; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t[i].ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(t[i].shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += t[i].numel * sizeof(float);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    size_t jlen = strlen(json), hlen = (jlen + 7) & ~(size_t)7; /* pad with spaces to 8 */
    uint8_t head[8];
    put_u64le(head, hlen);
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        free(json);
        return ec_err_set(err, EC_EINVAL, "path too long");
    }
    FILE *fp = fopen(tmp, "wb");
    int ok = fp && fwrite(head, 1, 8, fp) == 8 && fwrite(json, 1, jlen, fp) == jlen;
    for (size_t i = jlen; ok && i < hlen; i++)
        ok = fputc(' ', fp) != EOF;
    for (int i = 0; ok && i < count; i++)
        ok = fwrite(t[i].data, sizeof(float), t[i].numel, fp) == t[i].numel;
    free(json);
    if (fp && fclose(fp) != 0)
        ok = 0;
    /* Write-then-rename so a reader (hot swap, download) never sees half a file. */
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return ec_err_set(err, EC_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return 0;
}

static int save_model(const nn_model *m, const char *path, int grads, ec_err *err)
{
    struct nn_st_out *t = calloc((size_t)m->nparams, sizeof *t);
    float **bufs = calloc((size_t)m->nparams, sizeof *bufs);
    int rc = 0, count = 0;
    if (!t || !bufs)
        rc = ec_err_set(err, EC_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < m->nparams; i++) {
        const struct nn_param *p = &m->params[i];
        const float *src = grads ? p->grad : p->data;
        if (!src)
            continue; /* buffers have no gradient */
        if (!(bufs[count] = malloc(p->numel * sizeof(float)))) {
            rc = ec_err_set(err, EC_ENOMEM, "out of memory");
            break;
        }
        nn_param_to_file(p, src, bufs[count]);
        t[count] = (struct nn_st_out){p->name, p->ndim, p->shape, bufs[count], p->numel};
        count++;
    }
    if (rc == 0)
        rc = nn_st_write(path, m->arch, t, count, err);
    for (int i = 0; bufs && i < m->nparams; i++)
        free(bufs[i]);
    free(bufs);
    free(t);
    return rc;
}

int nn_model_save(const nn_model *m, const char *path, ec_err *err)
{
    return save_model(m, path, 0, err);
}

int nn_model_save_grads(const nn_model *m, const char *path, ec_err *err)
{
    return save_model(m, path, 1, err);
}

static int fill_params(nn_model *m, const struct nn_st_file *f, ec_err *err)
{
    for (int k = 0; k < f->nentries; k++) {
        const struct nn_st_entry *e = &f->entries[k];
        int i = nn_find_param(m, e->name);
        if (i < 0)
            return ec_err_set(err, EC_EFORMAT, "tensor %s is not in the architecture", e->name);
        struct nn_param *p = &m->params[i];
        int same = e->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++)
            same = e->shape[d] == p->shape[d];
        if (!same)
            return ec_err_set(err, EC_EFORMAT, "tensor %s: shape differs from the architecture",
                              e->name);
        float *file = malloc(p->numel * sizeof(float));
        if (!file)
            return ec_err_set(err, EC_ENOMEM, "out of memory");
        memcpy(file, f->data + e->begin, p->numel * sizeof(float)); /* data may be unaligned */
        for (size_t q = 0; q < p->numel; q++)
            if (!isfinite(file[q])) {
                free(file);
                return ec_err_set(err, EC_EFORMAT, "tensor %s: non-finite value", e->name);
            }
        nn_param_from_file(p, file, p->data);
        free(file);
    }
    /* Names are unique and all known, so equal counts mean none is missing. */
    if (f->nentries != m->nparams)
        return ec_err_set(err, EC_EFORMAT, "file has %d tensors, architecture needs %d",
                          f->nentries, m->nparams);
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].layout == PL_PLAIN && strstr(m->params[i].name, ".running_var"))
            for (size_t q = 0; q < m->params[i].numel; q++)
                if (m->params[i].data[q] < 0)
                    return ec_err_set(err, EC_EFORMAT, "%s: negative variance",
                                      m->params[i].name);
    return 0;
}

static nn_model *model_from_st(const struct nn_st_file *f, ec_err *err)
{
    if (!f->arch) {
        ec_err_set(err, EC_EFORMAT, "no architecture in __metadata__.arch");
        return NULL;
    }
    nn_model *m = nn_model_build(f->arch, err);
    if (!m)
        return NULL;
    if (fill_params(m, f, err)) {
        nn_model_destroy(m);
        return NULL;
    }
    nn_model_refresh_inference(m);
    return m;
}

nn_model *nn_model_load_buffer(const void *buf, size_t len, ec_err *err)
{
    struct nn_st_file f;
    if (nn_st_parse(buf, len, &f, err))
        return NULL;
    nn_model *m = model_from_st(&f, err);
    nn_st_free(&f);
    return m;
}

nn_model *nn_model_load(const char *path, ec_err *err)
{
    struct nn_st_file f;
    if (nn_st_read_file(path, &f, err))
        return NULL;
    nn_model *m = model_from_st(&f, err);
    nn_st_free(&f);
    if (!m)
        ec_err_wrap(err, "%s", path);
    return m;
}

int nn_tensors_save(const char *path, int count, const char *const names[],
                    const nn_tensor *const tensors[], ec_err *err)
{
    if (count < 0 || count > 4096)
        return ec_err_set(err, EC_EINVAL, "bad tensor count");
    struct nn_st_out *t = calloc((size_t)count + 1, sizeof *t);
    int *shapes = calloc((size_t)count * 4 + 1, sizeof *shapes);
    if (!t || !shapes) {
        free(t);
        free(shapes);
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    }
    for (int i = 0; i < count; i++) {
        const nn_tensor *x = tensors[i];
        int *s = shapes + 4 * i;
        s[0] = x->n, s[1] = x->h, s[2] = x->w, s[3] = x->c;
        t[i] = (struct nn_st_out){names[i], 4, s, x->data, nn_tensor_numel(x)};
    }
    int rc = nn_st_write(path, NULL, t, count, err);
    free(t);
    free(shapes);
    return rc;
}

nn_tensor *nn_tensors_load_one(const char *path, const char *name, ec_err *err)
{
    struct nn_st_file f;
    if (nn_st_read_file(path, &f, err))
        return NULL;
    nn_tensor *t = NULL;
    int k;
    for (k = 0; k < f.nentries; k++)
        if (strcmp(f.entries[k].name, name) == 0)
            break;
    if (k == f.nentries) {
        ec_err_set(err, EC_ENOTFOUND, "%s: no tensor %s", path, name);
    } else if (f.entries[k].ndim < 1 || f.entries[k].ndim > 4) {
        ec_err_set(err, EC_EFORMAT, "%s: tensor %s has rank %d", path, name, f.entries[k].ndim);
    } else {
        int dims[4] = {1, 1, 1, 1};
        const struct nn_st_entry *e = &f.entries[k];
        for (int d = 0; d < e->ndim; d++)
            dims[4 - e->ndim + d] = (int)e->shape[d];
        t = nn_tensor_create(dims[0], dims[1], dims[2], dims[3]);
        if (t)
            memcpy(t->data, f.data + e->begin, e->end - e->begin);
        else
            ec_err_set(err, EC_EFORMAT, "%s: tensor %s is empty or too large", path, name);
    }
    nn_st_free(&f);
    return t;
}
