/* synth:// URIs name a synthetic source in configs and on the command line:
 *   synth://<schedule>?frames=N&width=W&height=H&fps=F&seed=S&objects=K
 * <schedule> is a drift preset (synth_drift_preset) or "street" (plain day). */
#include "synth/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_num(const char *key, const char *val, double lo, double hi, double *out,
                     ec_err *err)
{
    char *end;
    double v = strtod(val, &end);
    if (*val == '\0' || *end != '\0' || !(v >= lo && v <= hi))
        return ec_err_set(err, EC_EINVAL, "synth uri: %s must be a number in [%g, %g] (got \"%s\")",
                          key, lo, hi, val);
    *out = v;
    return 0;
}

static int apply_param(struct synth_opts *o, const char *key, const char *val, ec_err *err)
{
    double v = 0;
    if (strcmp(key, "frames") == 0) {
        if (parse_num(key, val, 0, 1e9, &v, err))
            return -1;
        o->frames = (int64_t)v;
    } else if (strcmp(key, "width") == 0 || strcmp(key, "height") == 0) {
        if (parse_num(key, val, 64, IMAGE_MAX_DIM, &v, err))
            return -1;
        *(key[0] == 'w' ? &o->width : &o->height) = (int)v & ~1;
    } else if (strcmp(key, "fps") == 0) {
        if (parse_num(key, val, 1, 240, &v, err))
            return -1;
        o->fps = v;
    } else if (strcmp(key, "seed") == 0) {
        if (parse_num(key, val, 0, 1e15, &v, err))
            return -1;
        o->seed = (uint64_t)v;
    } else if (strcmp(key, "objects") == 0) {
        if (parse_num(key, val, 0, SYNTH_MAX_OBJECTS, &v, err))
            return -1;
        o->max_objects = (int)v;
    } else {
        return ec_err_set(err, EC_EINVAL,
                          "synth uri: unknown parameter '%s' (frames, width, height, fps, seed, "
                          "objects)", key);
    }
    return 0;
}

int synth_opts_from_uri(const char *uri, struct synth_opts *o, ec_err *err)
{
    synth_opts_default(o);
    const char *p = strncmp(uri, "synth://", 8) == 0 ? uri + 8
                    : strncmp(uri, "synth:", 6) == 0 ? uri + 6
                                                      : NULL;
    if (!p)
        return ec_err_set(err, EC_EINVAL, "not a synth uri: \"%s\"", uri);
    char buf[512];
    if (strlen(p) >= sizeof buf)
        return ec_err_set(err, EC_EINVAL, "synth uri too long");
    snprintf(buf, sizeof buf, "%s", p);
    char *query = strchr(buf, '?');
    if (query)
        *query++ = '\0';
    const char *preset = buf[0] && strcmp(buf, "street") != 0 ? buf : "day";
    if (synth_drift_preset(preset, o, err) != 0)
        return -1;
    for (char *save, *kv = query ? strtok_r(query, "&", &save) : NULL; kv;
         kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            return ec_err_set(err, EC_EINVAL, "synth uri: expected key=value, got \"%s\"", kv);
        *eq = '\0';
        if (apply_param(o, kv, eq + 1, err) != 0)
            return -1;
    }
    return 0;
}
