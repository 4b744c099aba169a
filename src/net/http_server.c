/* HTTP server over libmicrohttpd: route table, bounded request bodies,
 * bearer-token auth, optional TLS, JSON error bodies. */
#include "net/net.h"

#include "core/clock.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define DEFAULT_THREADS 4
#define DEFAULT_MAX_BODY (16u << 20)
#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_MAX_CONNECTIONS 256
#define MAX_ROUTES 64
#define MAX_TOKEN 256
#define MAX_PEM_BYTES (1u << 20)
/* A body over the limit is read and discarded, to answer 413 on a connection
 * that stays usable, only up to this multiple of the limit. Larger declared
 * bodies (and clients that sent Expect: 100-continue) get 413 at once and the
 * connection closes; larger chunked ones are dropped mid-stream. */
#define DRAIN_FACTOR 4
#define PREALLOC_BYTES (1u << 20)
#define MAX_BODY_LIMIT (1u << 30) /* keeps DRAIN_FACTOR * limit and buffer doubling in range */

struct route {
    char *method; /* NULL: any */
    char *path;
    int flags;
    http_handler_fn fn;
    void *user;
    char label[160]; /* route="..." for metrics */
    metric *latency, *bytes_in, *bytes_out;
};

struct http_server {
    struct http_server_config cfg;
    char bind_addr[64];
    char token[MAX_TOKEN];
    size_t token_len;
    char *tls_cert, *tls_key;
    struct route routes[MAX_ROUTES];
    int nroutes;
    struct MHD_Daemon *daemon;
    uint16_t port;
    atomic_uint_fast64_t connections;
    /* MHD says why a start failed only through its logger: keep its last words. */
    atomic_int starting;
    char start_error[256];
};

/* Per-request state between MHD's access-handler calls. */
struct req_state {
    const struct route *route;
    uint64_t t0_ns;
    uint8_t *body;
    size_t len, cap;
    size_t drained;
    int too_big;
};

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *read_pem(const char *path, ec_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ec_err_set(err, EC_EIO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_PEM_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_PEM_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    if (n == 0 || n > MAX_PEM_BYTES) {
        free(buf);
        ec_err_set(err, EC_EFORMAT, "%s: empty or larger than %u bytes", path, MAX_PEM_BYTES);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

http_server *http_server_create(const struct http_server_config *cfg, ec_err *err)
{
    struct http_server_config def = {0};
    if (!cfg)
        cfg = &def;
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    snprintf(s->bind_addr, sizeof s->bind_addr, "%s", cfg->bind_addr ? cfg->bind_addr : "127.0.0.1");
    s->cfg.bind_addr = s->bind_addr;
    if (s->cfg.threads <= 0)
        s->cfg.threads = DEFAULT_THREADS;
    if (s->cfg.max_body_bytes == 0)
        s->cfg.max_body_bytes = DEFAULT_MAX_BODY;
    if (s->cfg.max_body_bytes > MAX_BODY_LIMIT) {
        free(s);
        ec_err_set(err, EC_EINVAL, "max_body_bytes over %u", MAX_BODY_LIMIT);
        return NULL;
    }
    if (s->cfg.timeout_s == 0)
        s->cfg.timeout_s = DEFAULT_TIMEOUT_S;
    if (s->cfg.max_connections == 0)
        s->cfg.max_connections = DEFAULT_MAX_CONNECTIONS;
    if (cfg->bearer_token && cfg->bearer_token[0]) {
        s->token_len = strlen(cfg->bearer_token);
        if (s->token_len >= MAX_TOKEN) {
            free(s);
            ec_err_set(err, EC_EINVAL, "bearer token longer than %d bytes", MAX_TOKEN - 1);
            return NULL;
        }
        memcpy(s->token, cfg->bearer_token, s->token_len + 1);
    }
    s->cfg.bearer_token = NULL;
    if (!cfg->tls_cert_file != !cfg->tls_key_file) {
        free(s);
        ec_err_set(err, EC_EINVAL, "TLS needs both a certificate and a key file");
        return NULL;
    }
    if (cfg->tls_cert_file) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            free(s);
            ec_err_set(err, EC_EUNSUPPORTED, "libmicrohttpd built without TLS");
            return NULL;
        }
        s->tls_cert = read_pem(cfg->tls_cert_file, err);
        s->tls_key = s->tls_cert ? read_pem(cfg->tls_key_file, err) : NULL;
        if (!s->tls_key) {
            free(s->tls_cert);
            free(s);
            return NULL;
        }
    }
    s->cfg.tls_cert_file = s->cfg.tls_key_file = NULL;
    return s;
}

int http_server_route(http_server *s, const char *method, const char *path, int flags,
                      http_handler_fn fn, void *user, ec_err *err)
{
    if (!s || !path || path[0] != '/' || !fn)
        return ec_err_set(err, EC_EINVAL, "route needs a path starting with '/' and a handler");
    if (s->daemon)
        return ec_err_set(err, EC_EINVAL, "routes must be added before start");
    if (s->nroutes == MAX_ROUTES)
        return ec_err_set(err, EC_EFULL, "more than %d routes", MAX_ROUTES);
    struct route *r = &s->routes[s->nroutes];
    r->method = dup_str(method);
    r->path = strdup(path);
    if ((method && !r->method) || !r->path) {
        free(r->method);
        free(r->path);
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    }
    r->flags = flags;
    r->fn = fn;
    r->user = user;
    /* Label by route, not by request path, to bound the series count. */
    snprintf(r->label, sizeof r->label, "route=\"%s %s\"", method ? method : "*", path);
    if (s->cfg.metrics)
        r->latency = metrics_histogram(s->cfg.metrics, "edgecam_http_request_seconds", r->label,
                                       "Time from request headers to reply.", NULL, 0);
    if (s->cfg.metrics) {
        r->bytes_in = metrics_counter(s->cfg.metrics, "edgecam_http_received_bytes_total",
                                      r->label, "Request body bytes received, by route.");
        r->bytes_out = metrics_counter(s->cfg.metrics, "edgecam_http_sent_bytes_total", r->label,
                                       "Response body bytes sent, by route.");
    }
    s->nroutes++;
    return 0;
}

static int path_matches(const struct route *r, const char *path)
{
    if (r->flags & HTTP_ROUTE_PREFIX)
        return strncmp(path, r->path, strlen(r->path)) == 0;
    return strcmp(path, r->path) == 0;
}

static int method_matches(const struct route *r, const char *method)
{
    if (!r->method || strcmp(r->method, method) == 0)
        return 1;
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

/* Finds the route; on no match sets *path_found to say 404 or 405, and fills
 * `allow` with the methods the path does accept. */
static const struct route *find_route(const http_server *s, const char *method, const char *path,
                                      int *path_found, char *allow, size_t allow_size)
{
    *path_found = 0;
    allow[0] = '\0';
    for (int i = 0; i < s->nroutes; i++) {
        const struct route *r = &s->routes[i];
        if (!path_matches(r, path))
            continue;
        if (method_matches(r, method))
            return r;
        *path_found = 1;
        size_t used = strlen(allow);
        snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "", r->method);
    }
    return NULL;
}

/* Constant time in the token's content: every byte is compared. */
static int token_equals(const char *given, const char *want, size_t want_len)
{
    size_t given_len = strnlen(given, MAX_TOKEN);
    unsigned diff = (unsigned)(given_len ^ want_len);
    for (size_t i = 0; i < want_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= g ^ (unsigned char)want[i];
    }
    return diff == 0;
}

static int authorized(const http_server *s, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    return token_equals(h + 7, s->token, s->token_len);
}

static void response_clear(struct http_response *resp)
{
    free(resp->body);
    for (int i = 0; i < resp->nheaders; i++) {
        free(resp->header_names[i]);
        free(resp->header_values[i]);
    }
    memset(resp, 0, sizeof *resp);
}

/* Counts a reply in the optional registry: by route and status, and the
 * handler latency when the request got that far (t0_ns != 0). */
static void count_reply(const http_server *s, const struct route *r, int status, uint64_t t0_ns)
{
    if (!s->cfg.metrics)
        return;
    char labels[224];
    snprintf(labels, sizeof labels, "%s,code=\"%d\"", r ? r->label : "route=\"unmatched\"", status);
    metric_inc(metrics_counter(s->cfg.metrics, "edgecam_http_requests_total", labels,
                               "HTTP requests answered, by route and status."));
    if (r && t0_ns)
        metric_observe(r->latency, (double)(clock_mono_ns() - t0_ns) * 1e-9);
}

/* Hands `resp` to MHD (consuming its body) and frees the rest. */
static enum MHD_Result send_response(const http_server *s, const struct route *r, uint64_t t0_ns,
                                     struct MHD_Connection *conn, struct http_response *resp)
{
    struct MHD_Response *mr = MHD_create_response_from_buffer(
        resp->body_len, resp->body_len ? resp->body : (void *)"",
        resp->body_len ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!mr) {
        response_clear(resp);
        return MHD_NO;
    }
    if (resp->body_len)
        resp->body = NULL; /* MHD frees it now */
    if (resp->content_type[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (int i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(mr, resp->header_names[i], resp->header_values[i]);
    int status = resp->status >= 100 && resp->status <= 599 ? resp->status : 500;
    count_reply(s, r, status, t0_ns);
    if (r)
        metric_add(r->bytes_out, (double)resp->body_len);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, mr);
    MHD_destroy_response(mr);
    response_clear(resp);
    return ret;
}

static enum MHD_Result send_error(const http_server *s, const struct route *r,
                                  struct MHD_Connection *conn, int status, const char *hname,
                                  const char *hvalue, const char *msg)
{
    struct http_response resp = {0};
    http_response_error(&resp, status, "%s", msg);
    if (hname)
        http_response_add_header(&resp, hname, hvalue);
    return send_response(s, r, 0, conn, &resp);
}

/* Content-Length, or -1 when absent. MHD itself rejects malformed values. */
static long long content_length(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(cl, &end, 10);
    if (errno || end == cl || v < 0)
        return -1;
    return v;
}

static int expects_continue(struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    return h && strcasecmp(h, "100-continue") == 0;
}

/* First call for a request: only headers are known. Returns MHD_YES to go on
 * reading the body, or the result of queueing an early error. */
static enum MHD_Result on_headers(http_server *s, struct MHD_Connection *conn, const char *url,
                                  const char *method, struct req_state **out)
{
    int path_found;
    char allow[256];
    const struct route *r = find_route(s, method, url, &path_found, allow, sizeof allow);
    if (!r && path_found)
        return send_error(s, NULL, conn, 405, MHD_HTTP_HEADER_ALLOW, allow, "method not allowed");
    if (!r)
        return send_error(s, NULL, conn, 404, NULL, NULL, "no such endpoint");
    if (s->token_len && !(r->flags & HTTP_ROUTE_PUBLIC) && !authorized(s, conn))
        return send_error(s, r, conn, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                          "Bearer realm=\"edgecam\"", "missing or invalid bearer token");
    long long cl = content_length(conn);
    int too_big = cl > (long long)s->cfg.max_body_bytes;
    if (too_big && (expects_continue(conn) || cl > (long long)(DRAIN_FACTOR * s->cfg.max_body_bytes)))
        return send_error(s, r, conn, 413, MHD_HTTP_HEADER_CONNECTION, "close", "request body too large");
    struct req_state *st = calloc(1, sizeof *st);
    if (!st)
        return MHD_NO;
    st->route = r;
    st->t0_ns = clock_mono_ns();
    st->too_big = too_big;
    if (cl > 0 && !too_big) {
        /* Trust a declared length only up to PREALLOC: idle clients announcing
         * big bodies must not pin memory they never send. */
        st->cap = (size_t)cl < PREALLOC_BYTES ? (size_t)cl : PREALLOC_BYTES;
        st->body = malloc(st->cap);
        if (!st->body) {
            free(st);
            return MHD_NO;
        }
    }
    *out = st;
    return MHD_YES;
}

static int body_append(struct req_state *st, const char *data, size_t n, size_t max)
{
    if (st->too_big || n > max - st->len) {
        st->too_big = 1;
        st->drained += n;
        return 0;
    }
    if (st->len + n > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        uint8_t *b = realloc(st->body, cap);
        if (!b)
            return -1;
        st->body = b;
        st->cap = cap;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
    return 0;
}

static void fill_remote(struct MHD_Connection *conn, char *buf, size_t size)
{
    snprintf(buf, size, "?");
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf, (socklen_t)size);
}

static enum MHD_Result run_handler(const http_server *s, struct MHD_Connection *conn,
                                   const char *url, const char *method, struct req_state *st)
{
    struct http_request req = {
        .method = method,
        .path = url,
        .body = st->len ? st->body : NULL,
        .body_len = st->len,
        .conn_ = conn,
    };
    fill_remote(conn, req.remote_addr, sizeof req.remote_addr);
    metric_add(st->route->bytes_in, (double)st->len);
    struct http_response resp = {.status = 200};
    if (st->route->fn(&req, &resp, st->route->user) != 0 && resp.status < 400) {
        response_clear(&resp);
        http_response_error(&resp, 500, "internal error");
    }
    return send_response(s, st->route, st->t0_ns, conn, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    struct req_state *st = *con_cls;
    if (!st)
        return on_headers(s, conn, url, method, (struct req_state **)con_cls);
    if (*upload_data_size) {
        if (body_append(st, upload_data, *upload_data_size, s->cfg.max_body_bytes) != 0)
            return MHD_NO;
        if (st->drained > DRAIN_FACTOR * s->cfg.max_body_bytes)
            return MHD_NO; /* hostile stream: drop the connection */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_big) /* drained: the connection can stay alive */
        return send_error(s, st->route, conn, 413, NULL, NULL, "request body too large");
    return run_handler(s, conn, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct req_state *st = *con_cls;
    if (st) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)conn;
    (void)socket_context;
    http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&s->connections, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server *s = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (atomic_load(&s->starting))
        memcpy(s->start_error, msg, n + 1);
    log_debug("microhttpd: %s", msg);
}

int http_server_start(http_server *s, ec_err *err)
{
    if (!s || s->daemon)
        return ec_err_set(err, EC_EINVAL, "server missing or already started");
    struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(s->cfg.port)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(s->cfg.port)};
    const struct sockaddr *sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    unsigned pool = (unsigned)s->cfg.threads;
    if (pool == 1)
        pool = 0; /* one polling thread is MHD's default, not a pool */
    if (s->cfg.thread_per_connection) {
        flags |= MHD_USE_THREAD_PER_CONNECTION;
        pool = 0; /* MHD refuses a pool together with thread-per-connection */
    }
    if (inet_pton(AF_INET, s->bind_addr, &in4.sin_addr) == 1) {
        sa = (const struct sockaddr *)&in4;
    } else if (inet_pton(AF_INET6, s->bind_addr, &in6.sin6_addr) == 1) {
        sa = (const struct sockaddr *)&in6;
        flags |= MHD_USE_IPv6;
    } else {
        return ec_err_set(err, EC_EINVAL, "bind address '%s' is not an IP literal", s->bind_addr);
    }
    if (s->tls_cert)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {s->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    s->start_error[0] = '\0';
    atomic_store(&s->starting, 1);
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, /* first: it logs the other options */
        MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_THREAD_POOL_SIZE, pool,
        MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, s->cfg.max_connections,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    atomic_store(&s->starting, 0);
    if (!s->daemon)
        return ec_err_set(err, EC_ENET, "cannot start http server on %s:%u: %s", s->bind_addr,
                          (unsigned)s->cfg.port, s->start_error[0] ? s->start_error : "unknown error");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->cfg.port;
    log_info("http server on %s:%u%s", s->bind_addr, (unsigned)s->port, s->tls_cert ? " (TLS)" : "");
    return 0;
}

uint16_t http_server_port(const http_server *s)
{
    return s && s->daemon ? s->port : 0;
}

uint64_t http_server_connections(const http_server *s)
{
    return s ? atomic_load(&((http_server *)s)->connections) : 0;
}

void http_server_destroy(http_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon); /* joins the polling threads, so handlers are done */
    for (int i = 0; i < s->nroutes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].path);
    }
    free(s->tls_cert);
    free(s->tls_key);
    free(s);
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn_, MHD_HEADER_KIND, name);
}

const char *http_request_query(const struct http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn_, MHD_GET_ARGUMENT_KIND, key);
}

int http_response_set_body(struct http_response *resp, const void *data, size_t len,
                           const char *content_type)
{
    void *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, data, len);
    return http_response_take_body(resp, copy, len, content_type);
}

int http_response_take_body(struct http_response *resp, void *data, size_t len,
                            const char *content_type)
{
    free(resp->body);
    resp->body = data;
    resp->body_len = len;
    snprintf(resp->content_type, sizeof resp->content_type, "%s",
             content_type ? content_type : "application/octet-stream");
    return 0;
}

/* Writes `s` as a JSON string literal (with quotes) into out; returns its length. */
static size_t json_quote(const char *s, char *out, size_t size)
{
    size_t o = 0;
    out[o++] = '"';
    for (; *s && o + 8 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return o;
}

int http_response_error(struct http_response *resp, int status, const char *fmt, ...)
{
    char msg[512], quoted[1100], body[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_quote(msg, quoted, sizeof quoted);
    int n = snprintf(body, sizeof body, "{\"error\":%s}", quoted);
    resp->status = status;
    return http_response_set_body(resp, body, (size_t)n, "application/json");
}

static int header_token_ok(const char *s, int is_name)
{
    if (!s || (is_name && !*s))
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\r' || c == '\n' || (is_name && (c <= ' ' || c == ':')))
            return 0;
    }
    return 1;
}

int http_response_add_header(struct http_response *resp, const char *name, const char *value)
{
    if (resp->nheaders == HTTP_MAX_RESP_HEADERS || !header_token_ok(name, 1) ||
        !header_token_ok(value, 0))
        return -1;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    resp->header_names[resp->nheaders] = n;
    resp->header_values[resp->nheaders] = v;
    resp->nheaders++;
    return 0;
}
