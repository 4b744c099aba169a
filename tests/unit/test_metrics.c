/* Prometheus /metrics of every process kind, scraped over real loopback HTTP: the text is
 * checked against the exposition format (HELP/TYPE, label escaping, _total counters,
 * cumulative histogram buckets) by a small parser, and the values must move with traffic. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "edge/edge.h"
#include "gateway/gateway.h"
#include "net/net.h"
#include "support/scene.h"
#include "support/tiny_model.h"
#include "video/video.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- exposition parser */

#define MAX_SAMPLES 4096
#define MAX_FAMILIES 512

struct sample {
    char name[128];
    char labels[512]; /* as written between the braces */
    double value;
};

struct family {
    char name[128];
    char type[16];
    int help, samples;
};

struct scrape {
    struct sample s[MAX_SAMPLES];
    int n;
    struct family f[MAX_FAMILIES];
    int nf;
};

static struct family *family_of(struct scrape *sc, const char *name)
{
    for (int i = 0; i < sc->nf; i++)
        if (strcmp(sc->f[i].name, name) == 0)
            return &sc->f[i];
    return NULL;
}

static int valid_metric_name(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:", s[i]))
            return 0;
    return 1;
}

/* `k="v",...` per the format: label names, quoted values with only \\, \" and \n escapes.
 * Returns the length consumed up to the closing brace, or -1. */
static int parse_labels(const char *p)
{
    const char *start = p;
    while (*p != '}') {
        const char *k = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
               (p > k && *p >= '0' && *p <= '9'))
            p++;
        if (p == k || *p++ != '=' || *p++ != '"')
            return -1;
        for (; *p != '"'; p++) {
            if (*p == '\0' || *p == '\n')
                return -1;
            if (*p == '\\' && !strchr("\\\"n", *++p))
                return -1;
        }
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return -1;
    }
    return (int)(p - start);
}

/* The family a sample belongs to (histograms: without _bucket/_sum/_count). */
static struct family *sample_family(struct scrape *sc, const char *name)
{
    struct family *f = family_of(sc, name);
    if (f)
        return f;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(name), k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0) {
            char base[128];
            snprintf(base, sizeof base, "%.*s", (int)(n - k), name);
            f = family_of(sc, base);
            if (f && strcmp(f->type, "histogram") == 0)
                return f;
        }
    }
    return NULL;
}

static void parse_line(struct scrape *sc, const char *line)
{
    if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
        const char *name = line + 7, *sp = strchr(name, ' ');
        assert_non_null(sp);
        assert_true(valid_metric_name(name, (size_t)(sp - name)));
        char fname[128];
        snprintf(fname, sizeof fname, "%.*s", (int)(sp - name), name);
        struct family *f = family_of(sc, fname);
        if (!f) {
            assert_true(sc->nf < MAX_FAMILIES);
            f = &sc->f[sc->nf++];
            memset(f, 0, sizeof *f);
            snprintf(f->name, sizeof f->name, "%s", fname);
        }
        assert_int_equal(f->samples, 0); /* HELP and TYPE come before the family's samples */
        if (line[2] == 'H') {
            assert_int_equal(f->help++, 0);
            for (const char *p = sp + 1; *p; p++) /* only \\ and \n escapes in HELP */
                if (*p == '\\')
                    assert_non_null(strchr("\\n", *++p));
        } else {
            assert_int_equal(f->type[0], '\0');
            snprintf(f->type, sizeof f->type, "%s", sp + 1);
            assert_true(strcmp(f->type, "counter") == 0 || strcmp(f->type, "gauge") == 0 ||
                        strcmp(f->type, "histogram") == 0);
            if (strcmp(f->type, "counter") == 0) {
                size_t n = strlen(fname);
                assert_true(n > 6 && strcmp(fname + n - 6, "_total") == 0);
            }
        }
        return;
    }
    assert_true(line[0] != '#');
    assert_true(sc->n < MAX_SAMPLES);
    struct sample *s = &sc->s[sc->n++];
    size_t nlen = strcspn(line, "{ ");
    assert_true(valid_metric_name(line, nlen) && nlen < sizeof s->name);
    snprintf(s->name, sizeof s->name, "%.*s", (int)nlen, line);
    const char *p = line + nlen;
    s->labels[0] = '\0';
    if (*p == '{') {
        int len = parse_labels(p + 1);
        assert_true(len >= 0 && (size_t)len < sizeof s->labels);
        snprintf(s->labels, sizeof s->labels, "%.*s", len, p + 1);
        p += len + 2;
    }
    assert_int_equal(*p++, ' ');
    char *end;
    s->value = strcmp(p, "+Inf") == 0 ? INFINITY : strtod(p, &end);
    if (strcmp(p, "+Inf") != 0)
        assert_true(end != p && *end == '\0');
    struct family *f = sample_family(sc, s->name);
    assert_non_null(f); /* every sample has a TYPE before it */
    assert_true(f->type[0] && f->help);
    f->samples++;
}

static double value_of(const struct scrape *sc, const char *name, const char *labels)
{
    for (int i = 0; i < sc->n; i++)
        if (strcmp(sc->s[i].name, name) == 0 && strcmp(sc->s[i].labels, labels ? labels : "") == 0)
            return sc->s[i].value;
    return NAN;
}

/* Histogram buckets are cumulative and the +Inf bucket equals _count, per series. */
static void check_histograms(const struct scrape *sc)
{
    for (int i = 0; i < sc->n; i++) {
        const struct sample *s = &sc->s[i];
        size_t n = strlen(s->name);
        if (n < 7 || strcmp(s->name + n - 7, "_bucket") != 0)
            continue;
        const char *le = strncmp(s->labels, "le=\"", 4) == 0 ? s->labels
                                                              : strstr(s->labels, ",le=\"");
        assert_non_null(le);
        le += *le == ',';
        if (strcmp(le, "le=\"+Inf\"") != 0) {
            assert_true(i + 1 < sc->n && strcmp(sc->s[i + 1].name, s->name) == 0);
            assert_true(sc->s[i + 1].value >= s->value);
            continue;
        }
        char count[140], labels[512];
        snprintf(count, sizeof count, "%.*s_count", (int)(n - 7), s->name);
        size_t ln = (size_t)(le - s->labels);
        snprintf(labels, sizeof labels, "%.*s", ln ? (int)ln - 1 : 0, s->labels);
        assert_true(value_of(sc, count, labels) == s->value);
    }
}

static struct scrape *parse_text(const char *text)
{
    struct scrape *sc = calloc(1, sizeof *sc);
    assert_non_null(sc);
    char line[2048];
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        assert_true(p[n] == '\n'); /* every line ends in \n */
        assert_true(n < sizeof line);
        memcpy(line, p, n);
        line[n] = '\0';
        if (n)
            parse_line(sc, line);
        p += n + 1;
    }
    check_histograms(sc);
    return sc;
}

/* GET base/metrics over loopback and parse it. */
static struct scrape *scrape(const char *base)
{
    ec_err err = {0};
    http_client *c = http_client_create(&(struct http_client_config){0}, &err);
    assert_non_null(c);
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", base);
    struct http_client_result res;
    assert_int_equal(http_client_request(c, "GET", url, NULL, NULL, 0, NULL, &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.content_type, "text/plain; version=0.0.4"));
    struct scrape *sc = parse_text((const char *)res.body);
    http_client_destroy(c);
    return sc;
}

/* ---------------------------------------------------------------- registry */

static void collect_counter(metrics *m, void *ctx)
{
    int *calls = ctx;
    (*calls)++;
    metric_set(metrics_counter(m, "t_collected_total", NULL, "Set by a collector."), *calls);
}

static void test_render_format_and_escaping(void **state)
{
    (void)state;
    metrics *m = metrics_create();
    char l[128];
    assert_int_equal(metrics_labels(l, sizeof l, "path", "a\"b\\c\nd", "k", "v", NULL), 0);
    assert_string_equal(l, "path=\"a\\\"b\\\\c\\nd\",k=\"v\"");
    assert_int_equal(metrics_labels(l, sizeof l, "9bad", "v", NULL), -1);
    assert_string_equal(l, "");
    assert_int_equal(metrics_labels(l, 8, "long", "value that does not fit", NULL), -1);
    metric *c = metrics_counter(m, "t_requests_total", l, "Help with \\ and\nnewline.");
    metric *g = metrics_gauge(m, "t_queue_length", NULL, "A gauge.");
    metrics_labels(l, sizeof l, "route", "GET /x\"y", NULL);
    metric *h = metrics_histogram(m, "t_seconds", l, "A histogram.", NULL, 0);
    assert_non_null(c);
    assert_non_null(h);
    assert_null(metrics_gauge(m, "t_requests_total", NULL, "type clash"));
    metric_add(c, 3);
    metric_set(c, 2); /* a counter never goes down */
    assert_true(metric_value(c) == 3);
    metric_set(c, 5);
    assert_true(metric_value(c) == 5);
    metric_set(g, -1.5);
    metric_observe(h, 0.003);
    metric_observe(h, 0.2);
    metric_observe(h, 100);
    int calls = 0;
    assert_int_equal(metrics_add_collector(m, collect_counter, &calls), 0);
    char *text = metrics_render(m, NULL);
    struct scrape *sc = parse_text(text);
    assert_true(value_of(sc, "t_requests_total", "") == 5);
    assert_true(value_of(sc, "t_queue_length", "") == -1.5);
    assert_true(value_of(sc, "t_seconds_count", "route=\"GET /x\\\"y\"") == 3);
    assert_true(value_of(sc, "t_seconds_bucket", "route=\"GET /x\\\"y\",le=\"0.005\"") == 1);
    assert_true(value_of(sc, "t_seconds_bucket", "route=\"GET /x\\\"y\",le=\"0.25\"") == 2);
    assert_true(value_of(sc, "t_seconds_sum", "route=\"GET /x\\\"y\"") == 100.203);
    assert_true(value_of(sc, "t_collected_total", "") == 1);
    assert_non_null(strstr(text, "# HELP t_requests_total Help with \\\\ and\\nnewline.\n"));
    free(sc);
    free(text);
    text = metrics_render(m, NULL);
    sc = parse_text(text);
    assert_true(value_of(sc, "t_collected_total", "") == 2);
    free(sc);
    free(text);
    metrics_remove_collector(m, collect_counter, &calls);
    free(metrics_render(m, NULL));
    assert_int_equal(calls, 2);
    metrics_destroy(m);
}

/* ---------------------------------------------------------------- processes */

struct world {
    char model[64];
    metrics *backend_m;
    infer_service *backend;
    http_server *backend_srv;
    char backend_url[64];
    store *st;
};

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    snprintf(w->model, sizeof w->model, "/tmp/edgecam-metrics-%d.model", (int)getpid());
    tiny_model_save(TINY_DET_ARCH, 7, w->model);
    ec_err err = {0};
    w->backend_m = metrics_create();
    struct infer_model_spec spec = {"tiny", w->model};
    struct infer_service_opts so = {.models = &spec, .nmodels = 1, .workers = 1, .queue_size = 4,
                                    .role = "backend", .metrics = w->backend_m};
    w->backend = infer_service_create(&so, &err);
    assert_non_null(w->backend);
    struct http_server_config sc = {.thread_per_connection = 1, .metrics = w->backend_m};
    w->backend_srv = http_server_create(&sc, &err);
    assert_int_equal(infer_service_mount(w->backend, w->backend_srv, &err), 0);
    assert_int_equal(http_server_route(w->backend_srv, "GET", "/metrics", HTTP_ROUTE_PUBLIC,
                                       metrics_http_handler, w->backend_m, &err), 0);
    assert_int_equal(http_server_start(w->backend_srv, &err), 0);
    snprintf(w->backend_url, sizeof w->backend_url, "http://127.0.0.1:%u",
             http_server_port(w->backend_srv));
    struct store_opts sto = {.kind = "sqlite", .path = ":memory:"};
    w->st = store_open(&sto, &err);
    assert_non_null(w->st);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    http_server_destroy(w->backend_srv);
    infer_service_destroy(w->backend);
    metrics_destroy(w->backend_m);
    store_close(w->st);
    unlink(w->model);
    free(w);
    return 0;
}

/* POSTs one small JPEG frame to base/v1/infer. */
static void post_frame(const char *base, int64_t frame)
{
    ec_err err = {0};
    image *img = image_create(64, 48, 3);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++)
            image_row(img, y)[3 * x] = (uint8_t)(x * 4);
    jpeg_codec *codec = jpeg_codec_create(&err);
    uint8_t *jpeg = NULL;
    size_t len = 0;
    assert_int_equal(jpeg_encode(codec, img, 90, &jpeg, &len, &err), 0);
    struct wire_frame_meta meta = {.edge = "cam-1", .frame = frame};
    struct wire_meta_headers hdrs;
    assert_int_equal(wire_meta_to_headers(&meta, &hdrs, &err), 0);
    http_client *c = http_client_create(&(struct http_client_config){0}, &err);
    char url[128];
    snprintf(url, sizeof url, "%s/v1/infer", base);
    struct http_client_result res;
    assert_int_equal(http_client_request(c, "POST", url, hdrs.list, jpeg, len, "image/jpeg", &res,
                                         &err), 0);
    assert_int_equal(res.status, 200);
    http_client_destroy(c);
    free(jpeg);
    jpeg_codec_destroy(codec);
    image_destroy(img);
}

#define BACKEND_MODEL "role=\"backend\",model=\"tiny\""

static void test_backend_metrics_move_with_requests(void **state)
{
    struct world *w = *state;
    struct scrape *before = scrape(w->backend_url);
    double req0 = value_of(before, "edgecam_infer_requests_total", BACKEND_MODEL);
    assert_false(isnan(req0));
    assert_true(value_of(before, "edgecam_infer_queue_length", "role=\"backend\"") == 0);
    assert_true(value_of(before, "edgecam_infer_queue_capacity", "role=\"backend\"") == 4);
    assert_true(value_of(before, "edgecam_infer_rejected_total", "role=\"backend\"") == 0);
    assert_true(value_of(before, "edgecam_model_version",
                         BACKEND_MODEL ",lineage=\"tiny\"") == 1);
    post_frame(w->backend_url, 1);
    post_frame(w->backend_url, 2);
    struct scrape *after = scrape(w->backend_url);
    assert_true(value_of(after, "edgecam_infer_requests_total", BACKEND_MODEL) == req0 + 2);
    assert_true(value_of(after, "edgecam_infer_seconds_count", BACKEND_MODEL) >= 2);
    assert_true(value_of(after, "edgecam_infer_seconds_sum", BACKEND_MODEL) > 0);
    assert_true(value_of(after, "edgecam_infer_queue_seconds_count", "role=\"backend\"") >= 2);
    assert_true(value_of(after, "edgecam_http_requests_total",
                         "route=\"POST /v1/infer\",code=\"200\"") >= 2);
    assert_true(value_of(after, "edgecam_http_received_bytes_total", "route=\"POST /v1/infer\"") >
                2 * 100);
    assert_true(value_of(after, "edgecam_http_sent_bytes_total", "route=\"POST /v1/infer\"") > 0);
    /* A hot swap shows as a new version. */
    ec_err err = {0};
    assert_int_equal(infer_service_swap(w->backend, "tiny", detector_load(w->model, &err), 7, &err),
                     0);
    free(after);
    after = scrape(w->backend_url);
    assert_true(value_of(after, "edgecam_model_version", BACKEND_MODEL ",lineage=\"tiny\"") == 7);
    free(before);
    free(after);
}

static void test_gateway_metrics_move_with_requests(void **state)
{
    struct world *w = *state;
    struct gateway_backend_spec b = {"b1", w->backend_url, GATEWAY_BACKEND_EDGECAM};
    struct gateway_opts o = {.backends = &b, .nbackends = 1, .queue_size = 8,
                             .monitor_interval_s = 0.2};
    ec_err err = {0};
    gateway *g = gateway_create(&o, &err);
    assert_non_null(g);
    assert_int_equal(gateway_start(g, &err), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", gateway_port(g));
    struct scrape *before = scrape(url);
    assert_true(value_of(before, "edgecam_gateway_requests_total", "") == 0);
    assert_true(value_of(before, "edgecam_gateway_backend_up", "backend=\"b1\"") == 1);
    assert_true(value_of(before, "edgecam_gateway_queue_capacity", "") == 8);
    post_frame(url, 1);
    post_frame(url, 2);
    post_frame(url, 3);
    struct scrape *after = scrape(url);
    assert_true(value_of(after, "edgecam_gateway_requests_total", "") == 3);
    assert_true(value_of(after, "edgecam_gateway_backend_requests_total", "backend=\"b1\"") == 3);
    assert_true(value_of(after, "edgecam_gateway_backend_request_seconds_count",
                         "backend=\"b1\"") == 3);
    assert_true(value_of(after, "edgecam_gateway_rejected_total", "") == 0);
    assert_true(value_of(after, "edgecam_gateway_in_flight", "") == 0);
    free(before);
    free(after);
    gateway_destroy(g);
}

static void test_edge_metrics_move_with_frames(void **state)
{
    struct world *w = *state;
    struct scene sc = {.total = 30, .move_every = 3};
    struct edge_node_opts o;
    edge_node_opts_init(&o);
    o.pipeline.edge_id = "cam-1";
    o.pipeline.source.gen_next = scene_next;
    o.pipeline.source.gen_ctx = &sc;
    o.pipeline.filter.enabled = 0;
    o.pipeline.store = w->st;
    o.pipeline.queue_size = 64;
    o.local_model = w->model;
    o.score_thresh = 0.0f;
    o.policy_name = "always_cloud_lowest_delay";
    o.cloud_url = w->backend_url;
    o.exchange_interval_ms = 50;
    o.model_lineage = "edge-lite.cam1";
    metrics *m = o.metrics = metrics_create();
    ec_err err = {0};
    edge_node *n = edge_node_create(&o, &err);
    assert_non_null(n);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", edge_node_port(n));
    struct scrape *before = scrape(url);
#define EDGE "edge=\"cam-1\""
    assert_true(value_of(before, "edgecam_edge_frames_total", EDGE) == 0);
    assert_true(value_of(before, "edgecam_edge_queue_length", EDGE) == 0);
    assert_true(value_of(before, "edgecam_edge_queue_capacity", EDGE) == 64);
    assert_true(value_of(before, "edgecam_model_version",
                         "role=\"edge\",model=\"edge\",lineage=\"edge-lite.cam1\"") == 1);
    usleep(150000); /* the first cloud poll */
    assert_int_equal(edge_node_run(n, &err), 0);
    struct edge_node_stats s;
    edge_node_stats(n, &s);
    struct scrape *after = scrape(url);
    assert_true(value_of(after, "edgecam_edge_frames_total", EDGE) == 30);
    assert_true(value_of(after, "edgecam_edge_key_frames_total", EDGE) == s.pipeline.key_frames);
    double sum = 0;
    static const char *const outcomes[] = {"finished", "ref", "timeout", "dropped"};
    for (int i = 0; i < 4; i++) {
        char l[96];
        snprintf(l, sizeof l, EDGE ",outcome=\"%s\"", outcomes[i]);
        double v = value_of(after, "edgecam_edge_outcomes_total", l);
        assert_true(v == (double)s.pipeline.by_outcome[i]);
        sum += v;
    }
    assert_true(sum == 30); /* every frame in exactly one outcome */
    double finished = (double)s.pipeline.by_outcome[OUTCOME_FINISHED];
    assert_true(finished > 0);
    assert_true(value_of(after, "edgecam_edge_decisions_total", EDGE ",dest=\"cloud\"") ==
                (double)s.by_dest[POLICY_CLOUD]);
    assert_true(value_of(after, "edgecam_edge_sent_bytes_total", EDGE) == (double)s.bytes_sent);
    assert_true(s.bytes_sent > 0);
    assert_true(value_of(after, "edgecam_edge_received_bytes_total", EDGE) > 0);
    assert_true(value_of(after, "edgecam_edge_queue_dropped_total", EDGE) == 0);
    assert_true(value_of(after, "edgecam_edge_fallbacks_total", EDGE) == (double)s.fallbacks);
    assert_true(value_of(after, "edgecam_edge_fps", EDGE) > 0);
    assert_true(value_of(after, "edgecam_edge_frame_latency_seconds_count", EDGE) == finished);
    assert_true(value_of(after, "edgecam_edge_infer_seconds_count", EDGE ",dest=\"cloud\"") +
                    value_of(after, "edgecam_edge_infer_seconds_count", EDGE ",dest=\"local\"") ==
                finished);
    free(before);
    free(after);
    edge_node_destroy(n);
    /* The node's collector is gone with it: the registry still renders. */
    char *text = metrics_render(m, NULL);
    assert_non_null(text);
    free(text);
    metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_format_and_escaping),
        cmocka_unit_test(test_backend_metrics_move_with_requests),
        cmocka_unit_test(test_gateway_metrics_move_with_requests),
        cmocka_unit_test(test_edge_metrics_move_with_frames),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
