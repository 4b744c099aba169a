/* HTTP client over one reused libcurl easy handle (keep-alive), with bounded
 * response bodies and errors that say what went wrong. */
#include "net/net.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONNECT_MS 3000
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_RESPONSE (64u << 20)
#define MAX_HEADERS 32
#define ERR_BODY_SNIPPET 200
#define EXPECT_CONTINUE_BYTES (1u << 20)

struct http_client {
    CURL *curl;
    struct http_client_config cfg;
    char *token_header; /* "Authorization: Bearer ..." */
    char *ca_file;
    uint8_t *buf;
    size_t len, cap;
    int oversize;
    char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    http_client *c = user;
    size_t n = size * nmemb;
    if (n > c->cfg.max_response_bytes - c->len) {
        c->oversize = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 16384;
        while (cap < c->len + n + 1)
            cap *= 2;
        uint8_t *b = realloc(c->buf, cap);
        if (!b)
            return 0;
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    return n;
}

http_client *http_client_create(const struct http_client_config *cfg, ec_err *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        ec_err_set(err, EC_ENET, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    struct http_client_config def = {0};
    http_client *c = calloc(1, sizeof *c);
    if (!c) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    c->cfg = cfg ? *cfg : def;
    if (c->cfg.connect_timeout_ms <= 0)
        c->cfg.connect_timeout_ms = DEFAULT_CONNECT_MS;
    if (c->cfg.timeout_ms <= 0)
        c->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (c->cfg.max_response_bytes == 0)
        c->cfg.max_response_bytes = DEFAULT_MAX_RESPONSE;
    c->curl = curl_easy_init();
    if (c->cfg.bearer_token && c->cfg.bearer_token[0]) {
        size_t n = strlen(c->cfg.bearer_token) + 32;
        c->token_header = malloc(n);
        if (c->token_header)
            snprintf(c->token_header, n, "Authorization: Bearer %s", c->cfg.bearer_token);
    }
    if (c->cfg.ca_file)
        c->ca_file = strdup(c->cfg.ca_file);
    c->cfg.bearer_token = c->cfg.ca_file = NULL;
    if (!c->curl || (cfg && cfg->bearer_token && cfg->bearer_token[0] && !c->token_header) ||
        (cfg && cfg->ca_file && !c->ca_file)) {
        http_client_destroy(c);
        ec_err_set(err, EC_ENOMEM, "cannot create curl handle");
        return NULL;
    }
    return c;
}

void http_client_destroy(http_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->token_header);
    free(c->ca_file);
    free(c->buf);
    free(c);
}

/* Options that do not change between requests are set again after a reset-free
 * reuse too; curl keeps the connection cache across them. */
static void set_common(http_client *c)
{
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->cfg.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->cfg.max_response_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Our servers answer an Expect at once; the wait only matters for servers
     * that ignore it, and those get the body after this delay. */
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 3000L);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
}

static void set_method(CURL *h, const char *method, const void *body, size_t body_len)
{
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        return;
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        return;
    }
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_len ? body : "");
    if (strcmp(method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

static int build_headers(http_client *c, const char *const *headers, const char *content_type,
                         size_t body_len, struct curl_slist **out, ec_err *err)
{
    struct curl_slist *l = NULL, *t;
    char ct[160];
    /* "Expect: 100-continue" costs a round trip, so only big bodies ask first
     * (a server refusing them then answers 413 before they are sent). */
    if (!(t = curl_slist_append(l, body_len > EXPECT_CONTINUE_BYTES ? "Expect: 100-continue" : "Expect:")))
        goto oom;
    l = t;
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        if (!(t = curl_slist_append(l, ct)))
            goto oom;
        l = t;
    }
    if (c->token_header) {
        if (!(t = curl_slist_append(l, c->token_header)))
            goto oom;
        l = t;
    }
    for (int i = 0; headers && headers[i]; i++) {
        if (i == MAX_HEADERS || strpbrk(headers[i], "\r\n")) {
            curl_slist_free_all(l);
            return ec_err_set(err, EC_EINVAL, "too many headers or CR/LF in a header");
        }
        if (!(t = curl_slist_append(l, headers[i])))
            goto oom;
        l = t;
    }
    *out = l;
    return 0;
oom:
    curl_slist_free_all(l);
    return ec_err_set(err, EC_ENOMEM, "out of memory");
}

static int map_curl_error(http_client *c, CURLcode rc, const char *method, const char *url,
                          ec_err *err)
{
    const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    if (c->oversize || rc == CURLE_FILESIZE_EXCEEDED)
        return ec_err_set(err, EC_EFORMAT, "%s %s: response larger than %zu bytes", method, url,
                          c->cfg.max_response_bytes);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return ec_err_set(err, EC_ETIMEOUT, "%s %s: %s", method, url, detail);
    if (rc == CURLE_COULDNT_CONNECT)
        return ec_err_set(err, EC_ENET, "%s %s: connection refused (%s)", method, url, detail);
    if (rc == CURLE_OUT_OF_MEMORY || rc == CURLE_WRITE_ERROR)
        return ec_err_set(err, EC_ENOMEM, "%s %s: %s", method, url, detail);
    return ec_err_set(err, EC_ENET, "%s %s: %s", method, url, detail);
}

static void fill_result(http_client *c, struct http_client_result *res)
{
    long status = 0, connects = 0;
    char *ct = NULL;
    double total = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct);
    curl_easy_getinfo(c->curl, CURLINFO_TOTAL_TIME, &total);
    res->status = status;
    res->num_connects = connects;
    res->content_type = ct ? ct : "";
    res->total_s = total;
    res->body = c->buf ? c->buf : (const uint8_t *)"";
    res->body_len = c->len;
    if (c->buf)
        c->buf[c->len] = '\0';
}

int http_client_request(http_client *c, const char *method, const char *url,
                        const char *const *headers, const void *body, size_t body_len,
                        const char *content_type, struct http_client_result *res, ec_err *err)
{
    struct http_client_result scratch;
    if (!res)
        res = &scratch;
    memset(res, 0, sizeof *res);
    res->body = (const uint8_t *)"";
    res->content_type = "";
    if (!c || !method || !url)
        return ec_err_set(err, EC_EINVAL, "client, method and url are required");
    struct curl_slist *hl = NULL;
    /* Without a type curl would claim application/x-www-form-urlencoded. */
    if (!content_type && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        content_type = "application/octet-stream";
    if (build_headers(c, headers, content_type, body_len, &hl, err) != 0)
        return -1;
    c->len = 0;
    c->oversize = 0;
    c->errbuf[0] = '\0';
    set_common(c);
    set_method(c->curl, method, body, body_len);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hl);
    CURLcode rc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    fill_result(c, res);
    if (rc != CURLE_OK)
        return map_curl_error(c, rc, method, url, err);
    if (res->status < 200 || res->status > 299) {
        int n = (int)(res->body_len < ERR_BODY_SNIPPET ? res->body_len : ERR_BODY_SNIPPET);
        return ec_err_set(err, EC_ENET, "%s %s: HTTP %ld: %.*s", method, url, res->status, n,
                          (const char *)res->body);
    }
    return 0;
}

const char *http_client_header(http_client *c, const char *name)
{
    struct curl_header *h = NULL;
    if (!c || curl_easy_header(c->curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return NULL;
    return h->value;
}
