/* Gateway section of `edgecam bench`: requests/s and p50/p99 latency of a direct backend call vs
 * through the gateway with 1 and 2 backends, for a trivial and a CPU-bound model, on loopback.
 * Bars (issue 5): the gateway adds <= 1 ms p50 over a direct call; 2 backends give >= 1.8x the
 * throughput of one on the CPU-bound model. Backends run in this process, one worker each. */
#include "bench/bench.h"

#include "backend/backend.h"
#include "core/clock.h"
#include "core/log.h"
#include "gateway/gateway.h"
#include "video/video.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *TRIVIAL_ARCH =
    "{\"input\":{\"h\":32,\"w\":32,\"c\":3},\"num_classes\":2,\"layers\":["
    "{\"name\":\"c1\",\"type\":\"conv\",\"filters\":4,\"size\":3,\"stride\":2},"
    "{\"name\":\"head\",\"type\":\"conv\",\"filters\":7,\"size\":1}]}";

static const char *CPU_ARCH =
    "{\"input\":{\"h\":256,\"w\":256,\"c\":3},\"num_classes\":4,\"layers\":["
    "{\"name\":\"c1\",\"type\":\"conv\",\"filters\":32,\"size\":3,\"stride\":2},"
    "{\"name\":\"a1\",\"type\":\"relu\"},"
    "{\"name\":\"c2\",\"type\":\"conv\",\"filters\":64,\"size\":3,\"stride\":2},"
    "{\"name\":\"a2\",\"type\":\"relu\"},"
    "{\"name\":\"c3\",\"type\":\"conv\",\"filters\":64,\"size\":3,\"stride\":1},"
    "{\"name\":\"a3\",\"type\":\"relu\"},"
    "{\"name\":\"c4\",\"type\":\"conv\",\"filters\":128,\"size\":3,\"stride\":2},"
    "{\"name\":\"a4\",\"type\":\"relu\"},"
    "{\"name\":\"head\",\"type\":\"conv\",\"filters\":9,\"size\":1}]}";

struct load {
    const char *url, *url2; /* clients alternate between the two when url2 is set */
    const uint8_t *jpeg;
    size_t len;
    int total;
    atomic_int next, errors;
    double *lat_ms;
};

static atomic_int thread_seq;

static void *load_thread(void *arg)
{
    struct load *l = arg;
    const char *url = l->url2 && (atomic_fetch_add(&thread_seq, 1) & 1) ? l->url2 : l->url;
    struct http_client_config cc = {0};
    http_client *c = http_client_create(&cc, NULL);
    const char *hdrs[] = {"X-Edgecam-Edge: bench", "X-Edgecam-Frame: 1", NULL};
    for (int i; c && (i = atomic_fetch_add(&l->next, 1)) < l->total;) {
        double t0 = clock_mono_s();
        if (http_client_request(c, "POST", url, hdrs, l->jpeg, l->len, "image/jpeg", NULL,
                                NULL) != 0)
            atomic_fetch_add(&l->errors, 1);
        l->lat_ms[i] = (clock_mono_s() - t0) * 1000.0;
    }
    http_client_destroy(c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct result {
    double rps, p50, p99;
    int errors;
};

static int run_load(const char *base, const char *base2, const uint8_t *jpeg, size_t len,
                    int clients, int total, struct result *r)
{
    char url[128], url2[128];
    snprintf(url, sizeof url, "%s/v1/infer", base);
    snprintf(url2, sizeof url2, "%s/v1/infer", base2 ? base2 : "");
    struct load l = {.url = url, .url2 = base2 ? url2 : NULL, .jpeg = jpeg, .len = len,
                     .total = total};
    l.lat_ms = calloc((size_t)total, sizeof *l.lat_ms);
    pthread_t t[16];
    if (!l.lat_ms || clients > 16)
        return free(l.lat_ms), -1;
    /* Warm-up: connections and model caches. */
    struct load w = l;
    atomic_init(&w.next, total - 10 > 0 ? total - 10 : 0);
    load_thread(&w);
    if (base2)
        atomic_init(&w.next, total - 10 > 0 ? total - 10 : 0), load_thread(&w);
    atomic_init(&l.next, 0);
    atomic_init(&l.errors, 0);
    double t0 = clock_mono_s();
    for (int i = 0; i < clients; i++)
        pthread_create(&t[i], NULL, load_thread, &l);
    for (int i = 0; i < clients; i++)
        pthread_join(t[i], NULL);
    double secs = clock_mono_s() - t0;
    qsort(l.lat_ms, (size_t)total, sizeof *l.lat_ms, cmp_double);
    r->rps = total / secs;
    r->p50 = l.lat_ms[total / 2];
    r->p99 = l.lat_ms[(int)(total * 0.99)];
    r->errors = atomic_load(&l.errors);
    free(l.lat_ms);
    return 0;
}

struct backend_srv {
    infer_service *svc;
    http_server *srv;
    char url[64];
};

static int backend_start(struct backend_srv *b, const char *model_path, ec_err *err)
{
    struct infer_model_spec m = {"m", model_path};
    struct infer_service_opts so = {.models = &m, .nmodels = 1, .workers = 1, .queue_size = 64,
                                    .score_thresh = 0.5f, .role = "backend"};
    struct http_server_config sc = {.thread_per_connection = 1};
    b->svc = infer_service_create(&so, err);
    b->srv = b->svc ? http_server_create(&sc, err) : NULL;
    if (!b->srv || infer_service_mount(b->svc, b->srv, err) != 0 || http_server_start(b->srv, err) != 0)
        return -1;
    snprintf(b->url, sizeof b->url, "http://127.0.0.1:%u", http_server_port(b->srv));
    return 0;
}

static void backend_stop(struct backend_srv *b)
{
    http_server_destroy(b->srv);
    infer_service_destroy(b->svc);
}

static gateway *gateway_over(struct backend_srv *b, int n, ec_err *err)
{
    struct gateway_backend_spec specs[2] = {{"b0", b[0].url, GATEWAY_BACKEND_EDGECAM},
                                            {"b1", b[1].url, GATEWAY_BACKEND_EDGECAM}};
    struct gateway_opts o = {.backends = specs, .nbackends = n, .dispatch = GATEWAY_LEAST_IN_FLIGHT,
                             .retry = 1, .monitor_interval_s = 0.5, .queue_size = 256};
    gateway *g = gateway_create(&o, err);
    if (g && gateway_start(g, err) != 0) {
        gateway_destroy(g);
        return NULL;
    }
    return g;
}

static int write_model(const char *arch, const char *path, ec_err *err)
{
    nn_model *m = nn_model_create(arch, 7, err);
    detector *d = m ? detector_from_model(m, err) : NULL;
    int rc = d ? detector_save(d, path, err) : -1;
    detector_destroy(d);
    return rc;
}

static uint8_t *bench_jpeg(size_t *len, ec_err *err)
{
    image *img = image_create(320, 240, 3);
    if (!img)
        return NULL;
    for (int y = 0; y < 240; y++)
        for (int x = 0; x < 320; x++) {
            uint8_t *p = image_row(img, y) + 3 * x;
            p[0] = (uint8_t)x, p[1] = (uint8_t)y, p[2] = (uint8_t)((x ^ y) & 0xff);
        }
    jpeg_codec *c = jpeg_codec_create(err);
    uint8_t *out = NULL;
    if (c && jpeg_encode(c, img, 85, &out, len, err) != 0)
        out = NULL;
    jpeg_codec_destroy(c);
    image_destroy(img);
    return out;
}

static void print_row(FILE *out, const char *model, const char *path, int nb, int clients,
                      const struct result *r)
{
    fprintf(out, "%-9s %-8s %8d %8d %10.1f %9.3f %9.3f %7d\n", model, path, nb, clients, r->rps,
            r->p50, r->p99, r->errors);
}

/* One model: direct, gateway x1, gateway x2 at `clients` concurrency; latency rows at 1 client. */
static int bench_model(const struct bench_opts *o, const char *name, const char *path,
                       const uint8_t *jpeg, size_t len, int total, struct result res[4],
                       ec_err *err)
{
    struct backend_srv b[2] = {0};
    int rc = -1;
    gateway *g1 = NULL, *g2 = NULL;
    if (backend_start(&b[0], path, err) != 0 || backend_start(&b[1], path, err) != 0 ||
        !(g1 = gateway_over(b, 1, err)) || !(g2 = gateway_over(b, 2, err)))
        goto out;
    char g1url[64], g2url[64];
    snprintf(g1url, sizeof g1url, "http://127.0.0.1:%u", gateway_port(g1));
    snprintf(g2url, sizeof g2url, "http://127.0.0.1:%u", gateway_port(g2));
    /* res: 0 direct 1 client, 1 gateway 1 client, 2 direct 4 clients, 3 gateway-2 4 clients */
    struct result r;
    if (run_load(b[0].url, NULL, jpeg, len, 1, total, &res[0]) != 0)
        goto out;
    print_row(o->out, name, "direct", 1, 1, &res[0]);
    run_load(g1url, NULL, jpeg, len, 1, total, &res[1]);
    print_row(o->out, name, "gateway", 1, 1, &res[1]);
    run_load(b[0].url, NULL, jpeg, len, 4, total, &res[2]);
    print_row(o->out, name, "direct", 1, 4, &res[2]);
    run_load(b[0].url, b[1].url, jpeg, len, 4, total, &r);
    print_row(o->out, name, "direct", 2, 4, &r); /* clients split by hand: the ceiling */
    run_load(g1url, NULL, jpeg, len, 4, total, &r);
    print_row(o->out, name, "gateway", 1, 4, &r);
    run_load(g2url, NULL, jpeg, len, 4, total, &res[3]);
    print_row(o->out, name, "gateway", 2, 4, &res[3]);
    rc = 0;
out:
    gateway_destroy(g1);
    gateway_destroy(g2);
    backend_stop(&b[0]);
    backend_stop(&b[1]);
    return rc;
}

int bench_gateway(const struct bench_opts *o, ec_err *err)
{
    char trivial[600], cpu[600];
    mkdir(o->dir, 0755);
    snprintf(trivial, sizeof trivial, "%s/gw-trivial.model", o->dir);
    snprintf(cpu, sizeof cpu, "%s/gw-cpu.model", o->dir);
    if (write_model(TRIVIAL_ARCH, trivial, err) != 0 || write_model(CPU_ARCH, cpu, err) != 0)
        return ec_err_wrap(err, "bench gateway models");
    size_t len = 0;
    uint8_t *jpeg = bench_jpeg(&len, err);
    if (!jpeg)
        return -1;
    enum log_level lvl = log_get_level();
    log_set_level(LOG_LEVEL_WARN);
    fprintf(o->out, "\n== gateway: loopback, 320x240 JPEG (%zu B), backends with 1 worker each, "
                    "dispatch least_in_flight\n", len);
    fprintf(o->out, "%-9s %-8s %8s %8s %10s %9s %9s %7s\n", "model", "path", "backends", "clients",
            "req/s", "p50 ms", "p99 ms", "errors");
    struct result rt[4], rc[4];
    int rc1 = bench_model(o, "trivial", trivial, jpeg, len, 2000, rt, err);
    int rc2 = rc1 == 0 ? bench_model(o, "cpu", cpu, jpeg, len, 200, rc, err) : -1;
    log_set_level(lvl);
    free(jpeg);
    if (rc1 != 0 || rc2 != 0)
        return -1;
    double overhead = rt[1].p50 - rt[0].p50, scale = rc[3].rps / rc[2].rps;
    fprintf(o->out, "gateway p50 overhead, trivial model, 1 client: %.3f ms (bar <= 1 ms: %s)\n",
            overhead, overhead <= 1.0 ? "met" : "MISSED");
    fprintf(o->out, "2 backends vs 1 (direct), cpu model, 4 clients: %.2fx (bar >= 1.8x: %s)\n",
            scale, scale >= 1.8 ? "met" : "MISSED");
    return 0;
}

#ifdef BENCH_GATEWAY_MAIN
int main(void)
{
    struct bench_opts o = {.dir = "/tmp/edgecam-bench", .out = stdout};
    ec_err err = {0};
    if (bench_gateway(&o, &err) != 0) {
        fprintf(stderr, "bench gateway: %s\n", err.msg);
        return 1;
    }
    return 0;
}
#endif
