/* Prometheus text-format registry. Counters and gauges are lock-free doubles
 * (bit patterns in atomics); a histogram takes its own lock so that a scrape
 * always sees buckets, sum and count that agree. */
#include "net/net.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 128
#define MAX_LABELS 256
#define MAX_BOUNDS 32

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric {
    enum metric_type type;
    char name[MAX_NAME];
    char labels[MAX_LABELS];
    char *help;
    atomic_uint_least64_t bits; /* counter/gauge value as double bits */
    /* histogram */
    pthread_mutex_t lock;
    int nbounds;
    double bounds[MAX_BOUNDS];
    uint64_t buckets[MAX_BOUNDS + 1]; /* per bucket, not cumulative; last is +Inf */
    uint64_t count;
    double sum;
};

#define MAX_COLLECTORS 32

struct collector {
    metrics_collector_fn fn;
    void *ctx;
};

struct metrics {
    pthread_mutex_t lock;
    metric **v;
    int n, cap;
    /* Collectors run one scrape at a time under collect_lock, which is always taken
     * before `lock` (they register and update metrics). */
    pthread_mutex_t collect_lock;
    struct collector collectors[MAX_COLLECTORS];
    int ncollectors;
};

static const double default_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static uint64_t dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_dbl(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

metrics *metrics_create(void)
{
    metrics *m = calloc(1, sizeof *m);
    if (m) {
        pthread_mutex_init(&m->lock, NULL);
        pthread_mutex_init(&m->collect_lock, NULL);
    }
    return m;
}

void metrics_destroy(metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++) {
        pthread_mutex_destroy(&m->v[i]->lock);
        free(m->v[i]->help);
        free(m->v[i]);
    }
    free(m->v);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->collect_lock);
    free(m);
}

static int name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= MAX_NAME || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':'))
            return 0;
    }
    return 1;
}

/* `k="v",k2="v2"`: label names as metric names (no ':'), values without raw
 * newlines, with \" and \\ escapes. */
static int labels_valid(const char *s)
{
    if (strlen(s) >= MAX_LABELS - 16) /* room for le="..." */
        return 0;
    while (*s) {
        const char *eq = strchr(s, '=');
        if (!eq || eq == s || eq[1] != '"')
            return 0;
        for (const char *p = s; p < eq; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                  (p > s && *p >= '0' && *p <= '9')))
                return 0;
        const char *p = eq + 2;
        for (; *p && *p != '"'; p++) {
            if (*p == '\n')
                return 0;
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == 'n'))
                p++;
            else if (*p == '\\')
                return 0;
        }
        if (*p != '"')
            return 0;
        s = p + 1;
        if (*s == ',')
            s++;
        else if (*s)
            return 0;
    }
    return 1;
}

static metric *find_or_add(metrics *m, enum metric_type type, const char *name, const char *labels,
                           const char *help, const double *bounds, int nbounds)
{
    if (!m || !name || !name_valid(name) || !labels_valid(labels ? labels : ""))
        return NULL;
    labels = labels ? labels : "";
    pthread_mutex_lock(&m->lock);
    metric *found = NULL;
    int clash = 0;
    for (int i = 0; i < m->n && !found; i++) {
        metric *x = m->v[i];
        if (strcmp(x->name, name) != 0)
            continue;
        if (x->type != type)
            clash = 1;
        else if (strcmp(x->labels, labels) == 0)
            found = x;
    }
    if (found || clash) {
        pthread_mutex_unlock(&m->lock);
        return found;
    }
    metric *x = calloc(1, sizeof *x);
    if (x && m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 16;
        metric **v = realloc(m->v, (size_t)cap * sizeof *v);
        if (v) {
            m->v = v;
            m->cap = cap;
        }
    }
    if (!x || m->n == m->cap || !(x->help = strdup(help ? help : ""))) {
        pthread_mutex_unlock(&m->lock);
        free(x);
        return NULL;
    }
    x->type = type;
    snprintf(x->name, sizeof x->name, "%s", name);
    snprintf(x->labels, sizeof x->labels, "%s", labels);
    atomic_init(&x->bits, dbl_bits(0));
    pthread_mutex_init(&x->lock, NULL);
    x->nbounds = nbounds;
    if (nbounds)
        memcpy(x->bounds, bounds, (size_t)nbounds * sizeof *bounds);
    m->v[m->n++] = x;
    pthread_mutex_unlock(&m->lock);
    return x;
}

metric *metrics_counter(metrics *m, const char *name, const char *labels, const char *help)
{
    return find_or_add(m, METRIC_COUNTER, name, labels, help, NULL, 0);
}

metric *metrics_gauge(metrics *m, const char *name, const char *labels, const char *help)
{
    return find_or_add(m, METRIC_GAUGE, name, labels, help, NULL, 0);
}

metric *metrics_histogram(metrics *m, const char *name, const char *labels, const char *help,
                          const double *bounds, int nbounds)
{
    if (!bounds) {
        bounds = default_bounds;
        nbounds = (int)(sizeof default_bounds / sizeof default_bounds[0]);
    }
    if (nbounds < 1 || nbounds > MAX_BOUNDS)
        return NULL;
    for (int i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
            return NULL;
    return find_or_add(m, METRIC_HISTOGRAM, name, labels, help, bounds, nbounds);
}

static void atomic_add_double(atomic_uint_least64_t *a, double v)
{
    uint64_t old = atomic_load(a);
    while (!atomic_compare_exchange_weak(a, &old, dbl_bits(bits_dbl(old) + v))) {
    }
}

void metric_inc(metric *c)
{
    metric_add(c, 1);
}

void metric_add(metric *c, double v)
{
    if (!c || c->type == METRIC_HISTOGRAM || (c->type == METRIC_COUNTER && !(v >= 0)))
        return; /* counters only go up */
    atomic_add_double(&c->bits, v);
}

void metric_set(metric *g, double v)
{
    if (!g || g->type == METRIC_HISTOGRAM || isnan(v))
        return;
    if (g->type == METRIC_GAUGE) {
        atomic_store(&g->bits, dbl_bits(v));
        return;
    }
    /* A counter copied from a module's own total: it never goes down. */
    uint64_t old = atomic_load(&g->bits);
    while (v > bits_dbl(old) && !atomic_compare_exchange_weak(&g->bits, &old, dbl_bits(v))) {
    }
}

void metric_observe(metric *h, double v)
{
    if (!h || h->type != METRIC_HISTOGRAM || isnan(v))
        return;
    int b = 0;
    while (b < h->nbounds && v > h->bounds[b])
        b++;
    pthread_mutex_lock(&h->lock);
    h->buckets[b]++;
    h->count++;
    h->sum += v;
    pthread_mutex_unlock(&h->lock);
}

double metric_value(metric *x)
{
    if (!x)
        return 0;
    if (x->type != METRIC_HISTOGRAM)
        return bits_dbl(atomic_load(&x->bits));
    pthread_mutex_lock(&x->lock);
    double n = (double)x->count;
    pthread_mutex_unlock(&x->lock);
    return n;
}

/* ---------------------------------------------------------------- rendering */

struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* Shortest text that reads back as the same double; Prometheus spellings for specials. */
static const char *fmt_num(double v, char *buf, size_t size)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

/* HELP text escapes only backslash and newline. */
static void sb_help(struct sbuf *b, const metric *x)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    sb_printf(b, "# HELP %s ", x->name);
    for (const char *p = x->help; *p; p++) {
        if (*p == '\\')
            sb_printf(b, "\\\\");
        else if (*p == '\n')
            sb_printf(b, "\\n");
        else
            sb_printf(b, "%c", *p);
    }
    sb_printf(b, "\n# TYPE %s %s\n", x->name, types[x->type]);
}

static void render_histogram(struct sbuf *b, metric *x)
{
    char nb[40], lb[40];
    const char *sep = x->labels[0] ? "," : "";
    pthread_mutex_lock(&x->lock);
    uint64_t cum = 0;
    for (int i = 0; i <= x->nbounds; i++) {
        cum += x->buckets[i];
        const char *le = i < x->nbounds ? fmt_num(x->bounds[i], lb, sizeof lb) : "+Inf";
        sb_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", x->name, x->labels, sep, le,
                  (unsigned long long)cum);
    }
    double sum = x->sum;
    uint64_t count = x->count;
    pthread_mutex_unlock(&x->lock);
    const char *o = x->labels[0] ? "{" : "", *c = x->labels[0] ? "}" : "";
    sb_printf(b, "%s_sum%s%s%s %s\n", x->name, o, x->labels, c, fmt_num(sum, nb, sizeof nb));
    sb_printf(b, "%s_count%s%s%s %llu\n", x->name, o, x->labels, c, (unsigned long long)count);
}

int metrics_add_collector(metrics *m, metrics_collector_fn fn, void *ctx)
{
    if (!m || !fn)
        return -1;
    pthread_mutex_lock(&m->collect_lock);
    int ok = m->ncollectors < MAX_COLLECTORS;
    if (ok)
        m->collectors[m->ncollectors++] = (struct collector){fn, ctx};
    pthread_mutex_unlock(&m->collect_lock);
    return ok ? 0 : -1;
}

void metrics_remove_collector(metrics *m, metrics_collector_fn fn, void *ctx)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->collect_lock); /* waits for a scrape running it */
    for (int i = 0; i < m->ncollectors; i++) {
        if (m->collectors[i].fn == fn && m->collectors[i].ctx == ctx) {
            memmove(&m->collectors[i], &m->collectors[i + 1],
                    (size_t)(m->ncollectors - i - 1) * sizeof m->collectors[0]);
            m->ncollectors--;
            break;
        }
    }
    pthread_mutex_unlock(&m->collect_lock);
}

int metrics_labels(char *buf, size_t size, ...)
{
    va_list ap;
    va_start(ap, size);
    size_t len = 0;
    int rc = size ? 0 : -1;
    const char *k;
    while (rc == 0 && (k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        size_t kn = strlen(k);
        if (kn == 0 || !v || strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123"
                                       "456789_") != kn || (k[0] >= '0' && k[0] <= '9') ||
            len + kn + 4 >= size) {
            rc = -1;
            break;
        }
        len += (size_t)snprintf(buf + len, size - len, "%s%s=\"", len ? "," : "", k);
        for (; *v && rc == 0; v++) {
            const char *esc = *v == '\\'  ? "\\\\"
                              : *v == '"' ? "\\\""
                              : *v == '\n' ? "\\n"
                                           : NULL;
            size_t need = esc ? 2 : 1;
            if (len + need + 2 >= size) {
                rc = -1;
                break;
            }
            if (esc)
                memcpy(buf + len, esc, 2);
            else
                buf[len] = *v;
            len += need;
        }
        if (rc == 0) {
            buf[len++] = '"';
            buf[len] = '\0';
        }
    }
    va_end(ap);
    if (rc != 0 && size)
        buf[0] = '\0';
    else if (len == 0)
        buf[0] = '\0';
    return rc;
}

static void run_collectors(metrics *m)
{
    pthread_mutex_lock(&m->collect_lock);
    for (int i = 0; i < m->ncollectors; i++)
        m->collectors[i].fn(m, m->collectors[i].ctx);
    pthread_mutex_unlock(&m->collect_lock);
}

char *metrics_render(metrics *m, size_t *len)
{
    struct sbuf b = {.p = malloc(4096), .cap = 4096};
    if (!m || !b.p) {
        free(b.p);
        return NULL;
    }
    run_collectors(m);
    b.p[0] = '\0';
    char nb[40];
    pthread_mutex_lock(&m->lock);
    /* Families in registration order; each family's series together. */
    for (int i = 0; i < m->n; i++) {
        int first = 1;
        for (int k = 0; k < i && first; k++)
            first = strcmp(m->v[k]->name, m->v[i]->name) != 0;
        if (!first)
            continue;
        sb_help(&b, m->v[i]);
        for (int k = i; k < m->n; k++) {
            metric *x = m->v[k];
            if (strcmp(x->name, m->v[i]->name) != 0)
                continue;
            if (x->type == METRIC_HISTOGRAM)
                render_histogram(&b, x);
            else if (x->labels[0])
                sb_printf(&b, "%s{%s} %s\n", x->name, x->labels, fmt_num(metric_value(x), nb, sizeof nb));
            else
                sb_printf(&b, "%s %s\n", x->name, fmt_num(metric_value(x), nb, sizeof nb));
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}

int metrics_http_handler(const struct http_request *req, struct http_response *resp, void *user)
{
    (void)req;
    size_t len;
    char *text = metrics_render(user, &len);
    if (!text)
        return -1;
    return http_response_take_body(resp, text, len, "text/plain; version=0.0.4; charset=utf-8");
}
