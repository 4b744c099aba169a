/* Models section of `edgecam bench`: forward time per frame and GFLOP/s of each model at 1..N
 * threads, printed beside the same network in python3-torch (channels_last) run in the same
 * invocation by tests/oracle/nn_bench.py. */
#include "bench/bench.h"

#include "core/clock.h"
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 3
#define ROUNDS 5
#define PER_ROUND 5

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best of ROUNDS rounds of PER_ROUND forwards: wall and calling-thread CPU ms per forward. */
static int time_forward(const nn_model *m, const nn_tensor *x, double *wall_ms, double *cpu_ms,
                        ec_err *err)
{
    *wall_ms = *cpu_ms = 1e30;
    for (int i = 0; i < WARMUP + ROUNDS; i++) {
        double t0 = clock_mono_s(), c0 = thread_cpu_s();
        for (int k = 0; k < (i < WARMUP ? 1 : PER_ROUND); k++) {
            nn_tensor *y = nn_model_forward(m, x, err);
            if (!y)
                return -1;
            nn_tensor_destroy(y);
        }
        if (i < WARMUP)
            continue;
        double w = (clock_mono_s() - t0) * 1e3 / PER_ROUND, c = (thread_cpu_s() - c0) * 1e3 / PER_ROUND;
        *wall_ms = w < *wall_ms ? w : *wall_ms;
        *cpu_ms = c < *cpu_ms ? c : *cpu_ms;
    }
    return 0;
}

static int bench_one_model(const struct bench_opts *o, const char *name, const char *path,
                           const char *torch_script, ec_err *err)
{
    nn_model *m = nn_model_load(path, err);
    if (!m)
        return ec_err_wrap(err, "model %s", name);
    int h, w, c;
    nn_model_input_shape(m, &h, &w, &c);
    double gflop = nn_model_flops(m) * 1e-9;
    fprintf(o->out, "%s (%s): input %dx%dx%d, %.2f GFLOP per frame, %zu weights\n", name, path,
            w, h, c, gflop, nn_model_num_weights(m));
    nn_tensor *x = nn_tensor_create(1, h, w, c);
    int rc = x ? 0 : ec_err_set(err, EC_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < nn_tensor_numel(x); i++)
        x->data[i] = (float)((i * 2654435761u) % 1000u) / 1000.0f;
    for (int t = 1; rc == 0 && t <= o->max_threads; t++) {
        double wall, cpu;
        nn_set_threads(t);
        if ((rc = time_forward(m, x, &wall, &cpu, err)) != 0)
            break;
        fprintf(o->out, "  edgecam %d thread(s): %.2f ms wall, %.2f ms thread cpu, %.1f GFLOP/s\n",
                t, wall, cpu, gflop / (wall * 1e-3));
    }
    nn_set_threads(1); /* the engine's default: later sections time 1-worker services */
    nn_tensor_destroy(x);
    nn_model_destroy(m);
    if (rc != 0)
        return rc;
    if (!torch_script || access(torch_script, R_OK) != 0) {
        fprintf(o->out, "  torch: skipped (%s not found)\n", torch_script ? torch_script : "script");
        return 0;
    }
    char cmd[8192];
    /* Debian's interpreter: python3-torch is installed for it, not for a PATH-first python3. */
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    snprintf(cmd, sizeof cmd, "%s '%s' '%s' 1 %d 2>&1", py, torch_script, path, o->max_threads);
    fflush(o->out);
    FILE *p = popen(cmd, "r");
    char line[512];
    while (p && fgets(line, sizeof line, p))
        fprintf(o->out, "  %s", line);
    if (!p || pclose(p) != 0)
        fprintf(o->out, "  torch: reference failed or python3-torch missing (see above)\n");
    return 0;
}

int bench_models(const struct bench_opts *o, const char *const names[], const char *const paths[],
                 int n, const char *torch_script, ec_err *err)
{
    fprintf(o->out, "\n== models: forward per frame, batch 1 (best of %d x %d); torch channels_last "
                    "in the same run. 1-thread bar: edgecam <= 1.2x torch (thread cpu)\n",
            ROUNDS, PER_ROUND);
    for (int i = 0; i < n; i++)
        if (bench_one_model(o, names[i], paths[i], torch_script, err) != 0)
            return -1;
    return 0;
}
