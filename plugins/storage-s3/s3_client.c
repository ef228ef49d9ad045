/* s3_client.c - S3 requests on libcurl, signed with s3_sigv4. One request = up to
 * max_attempts attempts within total_timeout_ms; transient failures (connection errors,
 * timeouts, 500/502/503/504/429, SlowDown, RequestTimeout, InternalError and friends, also
 * in a 200 CompleteMultipartUpload body) are retried with full-jitter exponential backoff;
 * other 4xx are final. Secrets never leave this file except inside the signature. */
#include "s3_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3_crypto.h"
#include "s3_sigv4.h"

enum { HANDLE_POOL_MAX = 32 };

struct s3_client {
    s3_client_config config; /* strings below are owned copies */
    char *endpoint_scheme;   /* "http" or "https" */
    char *endpoint_host;     /* host[:port] */
    bool endpoint_is_ip;
    struct curl_slist *resolve;
    bool pool_ready; /* pool_lock initialised */
    pthread_mutex_t pool_lock;
    CURL *pool[HANDLE_POOL_MAX];
    int pool_count;
    unsigned int jitter_seed;
};

static pthread_once_t curl_init_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_status = CURLE_OK;

static void init_curl(void)
{
    curl_init_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_null(const char *text)
{
    return text ? strdup(text) : NULL;
}

static void set_error(s3_error *err, int status, const char *code, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static void set_error(s3_error *err, int status, const char *code, const char *format, ...)
{
    if (!err)
        return;
    err->http_status = status;
    snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    va_list args;
    va_start(args, format);
    vsnprintf(err->message, sizeof err->message, format, args);
    va_end(args);
    /* One line: S3 messages may carry newlines. */
    for (char *p = err->message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

static void client_log(const s3_client *client, int level, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void client_log(const s3_client *client, int level, const char *format, ...)
{
    if (!client->config.log)
        return;
    char line[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    client->config.log(client->config.log_user, level, line);
}

void s3_key_id_hint(const char *access_key_id, char out[12])
{
    size_t len = access_key_id ? strlen(access_key_id) : 0;
    snprintf(out, 12, "...%s", len >= 4 ? access_key_id + len - 4 : "");
}

bool s3_parse_url(const char *url, char **bucket, char **key)
{
    *bucket = *key = NULL;
    if (strncmp(url, "s3://", 5) != 0)
        return false;
    const char *start = url + 5;
    const char *slash = strchr(start, '/');
    if (!slash || slash == start || slash[1] == '\0')
        return false;
    *bucket = strndup(start, (size_t)(slash - start));
    *key = strdup(slash + 1);
    if (!*bucket || !*key) {
        free(*bucket);
        free(*key);
        *bucket = *key = NULL;
        return false;
    }
    return true;
}

static bool host_is_ip(const char *host)
{
    if (host[0] == '[')
        return true;
    for (const char *p = host; *p && *p != ':'; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return strncmp(host, "localhost", 9) == 0;
    return true;
}

s3_client *s3_client_new(const s3_client_config *config, s3_error *err)
{
    memset(err, 0, sizeof *err);
    pthread_once(&curl_init_once, init_curl);
    if (curl_init_status != CURLE_OK) {
        set_error(err, 0, "CurlInit", "libcurl could not be initialised");
        return NULL;
    }
    if (!config->region || !config->region[0]) {
        set_error(err, 0, "InvalidConfig", "S3: no region (set region or AWS_REGION)");
        return NULL;
    }
    if (!config->access_key_id || !config->access_key_id[0] || !config->secret_access_key ||
        !config->secret_access_key[0]) {
        set_error(err, 0, "InvalidConfig",
                  "S3: no credentials (set access_key_id/secret_access_key, "
                  "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a credentials profile)");
        return NULL;
    }
    if (config->part_size < S3_MIN_PART_SIZE || config->upload_threads < 1 ||
        config->max_attempts < 1) {
        set_error(err, 0, "InvalidConfig",
                  "S3: part_size must be at least 5 MiB, upload_threads and max_attempts "
                  "at least 1");
        return NULL;
    }
    s3_client *client = calloc(1, sizeof *client);
    if (!client) {
        set_error(err, 0, "NoMemory", "S3: out of memory");
        return NULL;
    }
    client->config = *config;
    client->config.region = dup_or_null(config->region);
    client->config.access_key_id = dup_or_null(config->access_key_id);
    client->config.secret_access_key = dup_or_null(config->secret_access_key);
    client->config.session_token =
        config->session_token && config->session_token[0] ? strdup(config->session_token)
                                                           : NULL;
    client->config.resolve = NULL;
    client->config.endpoint = NULL;

    char default_endpoint[256];
    const char *endpoint = config->endpoint;
    if (!endpoint || !endpoint[0]) {
        snprintf(default_endpoint, sizeof default_endpoint, "https://s3.%s.amazonaws.com",
                 config->region);
        endpoint = default_endpoint;
    }
    const char *sep = strstr(endpoint, "://");
    bool ok = sep && (strncmp(endpoint, "http://", 7) == 0 || strncmp(endpoint, "https://", 8) == 0);
    if (ok) {
        client->endpoint_scheme = strndup(endpoint, (size_t)(sep - endpoint));
        const char *host = sep + 3;
        size_t host_len = strcspn(host, "/?#");
        client->endpoint_host = strndup(host, host_len);
        ok = client->endpoint_scheme && client->endpoint_host && host_len > 0;
    }
    if (!ok) {
        set_error(err, 0, "InvalidConfig", "S3: endpoint must be http://host[:port] or https://host[:port]");
        s3_client_free(client);
        return NULL;
    }
    client->endpoint_is_ip = host_is_ip(client->endpoint_host);
    if (client->config.addressing == S3_ADDRESSING_AUTO)
        client->config.addressing =
            (config->endpoint && config->endpoint[0]) || client->endpoint_is_ip
                ? S3_ADDRESSING_PATH
                : S3_ADDRESSING_VIRTUAL;
    if (config->resolve && config->resolve[0]) {
        client->resolve = curl_slist_append(NULL, config->resolve);
        if (!client->resolve) {
            set_error(err, 0, "NoMemory", "S3: out of memory");
            s3_client_free(client);
            return NULL;
        }
    }
    pthread_mutex_init(&client->pool_lock, NULL);
    client->pool_ready = true;
    client->jitter_seed = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)client;
    return client;
}

static void free_secret(const char *text)
{
    if (text) {
        memset((char *)text, 0, strlen(text));
        free((char *)text);
    }
}

void s3_client_free(s3_client *client)
{
    if (!client)
        return;
    for (int i = 0; i < client->pool_count; i++)
        curl_easy_cleanup(client->pool[i]);
    if (client->pool_ready)
        pthread_mutex_destroy(&client->pool_lock);
    curl_slist_free_all(client->resolve);
    free((char *)client->config.region);
    free((char *)client->config.access_key_id);
    free_secret(client->config.secret_access_key);
    free_secret(client->config.session_token);
    free(client->endpoint_scheme);
    free(client->endpoint_host);
    free(client);
}

static CURL *borrow_handle(s3_client *client)
{
    CURL *curl = NULL;
    pthread_mutex_lock(&client->pool_lock);
    if (client->pool_count > 0)
        curl = client->pool[--client->pool_count];
    pthread_mutex_unlock(&client->pool_lock);
    return curl ? curl : curl_easy_init();
}

/* Handles go back to the pool so their connection caches keep sockets alive. */
static void return_handle(s3_client *client, CURL *curl)
{
    pthread_mutex_lock(&client->pool_lock);
    if (client->pool_count < HANDLE_POOL_MAX) {
        client->pool[client->pool_count++] = curl;
        curl = NULL;
    }
    pthread_mutex_unlock(&client->pool_lock);
    if (curl)
        curl_easy_cleanup(curl);
}

/* ---- one HTTP exchange ---------------------------------------------------------------- */

typedef struct exchange {
    const uint8_t *body;
    uint64_t body_size;
    uint64_t body_offset;
    s3_buf response;
    uint64_t response_limit; /* 0: no limit */
    bool over_limit;
    char etag[80];
    long long content_length; /* -1 when absent */
    const s3_client *client;
    const s3_cancel *cancel;
    bool ignore_cancel; /* cleanup requests (abort) run even when the job is cancelled */
    long status;        /* of the last status line seen */
    const s3_sink *sink; /* a 200 with a Content-Length goes here instead of response */
    uint8_t *sink_data;
    uint64_t sink_len;
    bool sink_failed;   /* reserve gave no memory, or more bytes came than announced */
} exchange;

static bool want_cancel(const s3_client *client, const s3_cancel *cancel)
{
    if (client->config.cancelled && client->config.cancelled(client->config.cancel_user))
        return true;
    return cancel && cancel->cancelled && cancel->cancelled(cancel->user);
}

static size_t on_read(char *dest, size_t size, size_t count, void *user)
{
    exchange *x = user;
    uint64_t left = x->body_size - x->body_offset;
    size_t n = size * count;
    if (n > left)
        n = (size_t)left;
    if (n)
        memcpy(dest, x->body + x->body_offset, n);
    x->body_offset += n;
    return n;
}

static int on_seek(void *user, curl_off_t offset, int origin)
{
    exchange *x = user;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->body_size)
        return CURL_SEEKFUNC_CANTSEEK;
    x->body_offset = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* The body of a 200 with a known length, into the sink's memory. */
static size_t write_to_sink(exchange *x, const char *data, size_t n)
{
    uint64_t length = (uint64_t)x->content_length;
    if (!x->sink_data) {
        if (x->response_limit && length > x->response_limit) {
            x->over_limit = true;
            return 0;
        }
        x->sink_data = x->sink->reserve(x->sink->user, length);
        if (!x->sink_data) {
            x->sink_failed = true;
            return 0;
        }
    }
    if (n > length - x->sink_len) {
        x->sink_failed = true;
        return 0;
    }
    memcpy(x->sink_data + x->sink_len, data, n);
    x->sink_len += n;
    return n;
}

static size_t on_write(char *data, size_t size, size_t count, void *user)
{
    exchange *x = user;
    size_t n = size * count;
    if (x->sink && x->status == 200 && x->content_length >= 0)
        return write_to_sink(x, data, n);
    if (x->response_limit && x->response.len + n > x->response_limit) {
        x->over_limit = true;
        return 0;
    }
    s3_buf_append(&x->response, data, n);
    return s3_buf_ok(&x->response) ? n : 0;
}

static size_t on_header(char *data, size_t size, size_t count, void *user)
{
    exchange *x = user;
    size_t n = size * count;
    if (n > 9 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue, say): forget the previous headers. */
        const char *space = memchr(data, ' ', n);
        x->status = space ? strtol(space + 1, NULL, 10) : 0;
        x->content_length = -1;
        x->etag[0] = '\0';
    } else if (n > 5 && strncasecmp(data, "etag:", 5) == 0) {
        const char *value = data + 5;
        while (*value == ' ' || *value == '\t')
            value++;
        size_t len = strcspn(value, "\r\n");
        if (len >= sizeof x->etag)
            len = sizeof x->etag - 1;
        memcpy(x->etag, value, len);
        x->etag[len] = '\0';
    } else if (n > 15 && strncasecmp(data, "content-length:", 15) == 0) {
        x->content_length = strtoll(data + 15, NULL, 10);
    }
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const exchange *x = user;
    /* curl calls this about once a second even while a transfer is stalled. */
    return !x->ignore_cancel && want_cancel(x->client, x->cancel);
}

/* The text of <tag>...</tag> in xml into out (entities for & < > " ' decoded). */
static bool xml_value(const char *xml, const char *tag, char *out, size_t cap)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *start = xml ? strstr(xml, open) : NULL;
    if (!start)
        return false;
    start += strlen(open);
    const char *end = strstr(start, close);
    if (!end)
        return false;
    size_t o = 0;
    for (const char *p = start; p < end && o + 1 < cap; p++) {
        static const struct { const char *entity; char c; } entities[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool decoded = false;
        for (size_t i = 0; i < sizeof entities / sizeof entities[0] && *p == '&'; i++) {
            size_t len = strlen(entities[i].entity);
            if ((size_t)(end - p) >= len && strncmp(p, entities[i].entity, len) == 0) {
                out[o++] = entities[i].c;
                p += len - 1;
                decoded = true;
                break;
            }
        }
        if (!decoded)
            out[o++] = *p;
    }
    out[o] = '\0';
    return true;
}

static bool code_is_transient(const char *code)
{
    static const char *const transient[] = {
        "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling",
        "ThrottlingException", "RequestThrottled", "TooManyRequestsException",
        "RequestTimeoutException", "PriorRequestNotComplete", "RequestLimitExceeded",
        "BandwidthLimitExceeded", "BadDigest", "IntegrityCheckFailed"};
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        if (strcmp(code, transient[i]) == 0)
            return true;
    return false;
}

static bool curl_code_is_transient(CURLcode code)
{
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* What one request is. */
typedef struct s3_request {
    const char *operation; /* for messages: "GetObject", "PutObject", ... */
    const char *method;
    const char *bucket;
    const char *key;        /* NULL for bucket-level requests */
    const s3_kv *query;
    size_t query_count;
    const char *content_type;
    const char *content_md5; /* base64, or NULL */
    const uint8_t *body;
    uint64_t body_size;
    uint64_t response_limit;
    bool head;              /* no body in the response */
    bool error_in_200;      /* CompleteMultipartUpload: a 200 may carry <Error> */
    const char *expect_md5_etag; /* quoted hex MD5 the response ETag must equal, or NULL */
    const s3_cancel *cancel;
    const s3_sink *sink;
    bool ignore_cancel;
} s3_request;

typedef struct s3_response {
    long status;
    s3_buf body;
    char etag[80];
    long long content_length;
    uint8_t *sink_data; /* the body when it went to the request's sink */
    uint64_t sink_len;
    bool in_sink;
} s3_response;

static void response_free(s3_response *r)
{
    s3_buf_free(&r->body);
}

/* host and path for bucket/key under the configured addressing. */
static void build_target(const s3_client *client, const char *bucket, const char *key,
                         s3_buf *host, s3_buf *raw_path)
{
    if (client->config.addressing == S3_ADDRESSING_VIRTUAL) {
        s3_buf_printf(host, "%s.%s", bucket, client->endpoint_host);
        s3_buf_putc(raw_path, '/');
    } else {
        s3_buf_puts(host, client->endpoint_host);
        s3_buf_printf(raw_path, "/%s%s", bucket, key ? "/" : "");
    }
    if (key)
        s3_buf_puts(raw_path, key);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static const char *describe_target(const s3_request *req, char *out, size_t cap)
{
    snprintf(out, cap, "%s s3://%s%s%s", req->operation, req->bucket, req->key ? "/" : "",
             req->key ? req->key : "");
    return out;
}

/* One attempt. Returns the classification: 0 done (ok or final error), 1 transient. */
static int attempt(s3_client *client, CURL *curl, const s3_request *req, s3_response *res,
                   s3_error *err)
{
    char target[600];
    describe_target(req, target, sizeof target);
    s3_buf host, raw_path, url, query, header_line;
    s3_buf_init(&host);
    s3_buf_init(&raw_path);
    s3_buf_init(&url);
    s3_buf_init(&query);
    s3_buf_init(&header_line);
    build_target(client, req->bucket, req->key, &host, &raw_path);

    char payload_hash[S3_SHA256_HEX_LEN + 1];
    s3_sha256_hex(req->body ? (const void *)req->body : "", (size_t)req->body_size, payload_hash);
    s3_kv headers[4];
    size_t header_count = 0;
    headers[header_count++] = (s3_kv){"host", s3_buf_str(&host)};
    if (req->content_type)
        headers[header_count++] = (s3_kv){"content-type", req->content_type};
    if (req->content_md5)
        headers[header_count++] = (s3_kv){"content-md5", req->content_md5};

    s3_sign_input input = {0};
    input.method = req->method;
    input.path = s3_buf_str(&raw_path);
    input.query = req->query;
    input.query_count = req->query_count;
    input.headers = headers;
    input.header_count = header_count;
    input.payload_hash = payload_hash;
    input.region = client->config.region;
    input.service = "s3";
    input.when = time(NULL);
    input.add_content_sha256 = true;
    s3_credentials creds = {client->config.access_key_id, client->config.secret_access_key,
                            client->config.session_token};
    s3_signature sig;
    s3_signature_init(&sig);
    int transient = 0;
    struct curl_slist *list = NULL;
    exchange x;
    memset(&x, 0, sizeof x);
    s3_buf_init(&x.response);
    x.body = req->body;
    x.body_size = req->body_size;
    x.response_limit = req->response_limit;
    x.content_length = -1;
    x.client = client;
    x.cancel = req->cancel;
    x.sink = req->sink;
    x.ignore_cancel = req->ignore_cancel;

    bool ok = s3_sign_headers(&input, &creds, &sig) &&
              s3_canonical_query(&query, req->query, req->query_count);
    if (ok) {
        s3_buf_printf(&url, "%s://%s", client->endpoint_scheme, s3_buf_str(&host));
        s3_uri_encode(&url, raw_path.data, raw_path.len, true);
        if (query.len)
            s3_buf_printf(&url, "?%s", s3_buf_str(&query));
        const char *lines[8];
        size_t line_count = 0;
        char date_line[64], sha_line[96];
        snprintf(date_line, sizeof date_line, "x-amz-date: %s", sig.amz_date);
        snprintf(sha_line, sizeof sha_line, "x-amz-content-sha256: %s", payload_hash);
        lines[line_count++] = date_line;
        lines[line_count++] = sha_line;
        for (size_t i = 0; ok && i < header_count + 2; i++) {
            s3_buf_reset(&header_line);
            if (i == 0)
                s3_buf_printf(&header_line, "Authorization: %s", s3_buf_str(&sig.authorization));
            else if (i == 1 && client->config.session_token)
                s3_buf_printf(&header_line, "x-amz-security-token: %s", client->config.session_token);
            else if (i >= 2 && strcmp(headers[i - 2].name, "host") != 0)
                s3_buf_printf(&header_line, "%s: %s", headers[i - 2].name, headers[i - 2].value);
            else if (i >= 2) /* curl sends Host itself; the signed one must match */
                s3_buf_printf(&header_line, "Host: %s", headers[i - 2].value);
            if (header_line.len) {
                struct curl_slist *next = curl_slist_append(list, s3_buf_str(&header_line));
                ok = next != NULL;
                if (next)
                    list = next;
            }
        }
        for (size_t i = 0; ok && i < line_count; i++) {
            struct curl_slist *next = curl_slist_append(list, lines[i]);
            ok = next != NULL;
            if (next)
                list = next;
        }
        /* No "Expect: 100-continue" round trip; S3 answers errors after the body anyway. */
        struct curl_slist *next = ok ? curl_slist_append(list, "Expect:") : NULL;
        ok = next != NULL;
        if (next)
            list = next;
        ok = ok && s3_buf_ok(&url);
    }
    if (!ok) {
        set_error(err, 0, "NoMemory", "%s: out of memory or unsignable request", target);
        goto done;
    }

    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url.data);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, client->config.connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, client->config.request_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, client->config.low_speed_bytes);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, client->config.low_speed_seconds);
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    if (client->resolve)
        curl_easy_setopt(curl, CURLOPT_RESOLVE, client->resolve);
    /* Proxies come from http_proxy/https_proxy/no_proxy, which curl reads itself. */
    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "PUT") == 0) {
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, &x);
        curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(curl, CURLOPT_SEEKDATA, &x);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_size);
    } else if (strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_size);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
    }

    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_ABORTED_BY_CALLBACK && want_cancel(client, req->cancel)) {
        set_error(err, 0, "Cancelled", "%s: cancelled", target);
        err->cancelled = true;
        goto done;
    }
    if (code == CURLE_WRITE_ERROR && x.sink_failed) {
        bool no_memory = !x.sink_data;
        transient = !no_memory; /* more bytes than announced: a broken response */
        set_error(err, 0, no_memory ? "NoMemory" : "LengthMismatch",
                  no_memory ? "%s failed: NoMemory: no memory for %lld bytes"
                            : "%s failed: LengthMismatch: more than the %lld bytes announced",
                  target, x.content_length);
        goto done;
    }
    if (code == CURLE_WRITE_ERROR && x.over_limit) {
        set_error(err, 0, "TooLarge", "%s: object larger than the limit of %llu bytes", target,
                  (unsigned long long)req->response_limit);
        goto done;
    }
    if (code != CURLE_OK) {
        transient = curl_code_is_transient(code);
        set_error(err, 0, "ConnectionError", "%s: %s (curl %d)", target,
                  curl_easy_strerror(code), (int)code);
        goto done;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    const char *body_text = s3_buf_str(&x.response);
    bool has_error_body = strstr(body_text, "<Error>") != NULL;
    if (status >= 300 || (req->error_in_200 && has_error_body)) {
        char code_text[64] = "", message[512] = "";
        xml_value(body_text, "Code", code_text, sizeof code_text);
        xml_value(body_text, "Message", message, sizeof message);
        if (!code_text[0])
            snprintf(code_text, sizeof code_text, "%s",
                     status == 404 ? "NotFound" : status == 403 ? "Forbidden" : "HTTPError");
        transient = status == 500 || status == 502 || status == 503 || status == 504 ||
                    status == 429 || code_is_transient(code_text);
        set_error(err, (int)status, code_text, "%s failed: HTTP %ld %s%s%s", target, status,
                  code_text, message[0] ? ": " : "", message);
        err->not_found = status == 404;
        goto done;
    }
    if (req->expect_md5_etag && strcmp(x.etag, req->expect_md5_etag) != 0) {
        /* The server stored something other than what was sent: send it again. */
        transient = 1;
        set_error(err, (int)status, "ETagMismatch",
                  "%s failed: ETagMismatch: the returned ETag %s is not the MD5 of the data "
                  "sent (%s)", target,
                  x.etag[0] ? x.etag : "(none)", req->expect_md5_etag);
        goto done;
    }
    res->status = status;
    res->content_length = x.content_length;
    res->in_sink = x.sink && x.status == 200 && x.content_length >= 0;
    res->sink_data = x.sink_data;
    res->sink_len = x.sink_len;
    snprintf(res->etag, sizeof res->etag, "%s", x.etag);
    s3_buf_free(&res->body);
    res->body = x.response;
    s3_buf_init(&x.response);
    memset(err, 0, sizeof *err);

done:
    curl_slist_free_all(list);
    s3_signature_free(&sig);
    s3_buf_free(&x.response);
    s3_buf_free(&host);
    s3_buf_free(&raw_path);
    s3_buf_free(&url);
    s3_buf_free(&query);
    if (header_line.data)
        memset(header_line.data, 0, header_line.len);
    s3_buf_free(&header_line);
    return transient;
}

/* Uniform in [0, 1]; the seed is shared by the upload threads. */
static double jitter(s3_client *client)
{
    pthread_mutex_lock(&client->pool_lock);
    int value = rand_r(&client->jitter_seed);
    pthread_mutex_unlock(&client->pool_lock);
    return (double)value / (double)RAND_MAX;
}

static bool perform(s3_client *client, const s3_request *req, s3_response *res, s3_error *err)
{
    memset(err, 0, sizeof *err);
    CURL *curl = borrow_handle(client);
    if (!curl) {
        set_error(err, 0, "NoMemory", "S3: cannot create a curl handle");
        return false;
    }
    double deadline = now_seconds() + (double)client->config.total_timeout_ms / 1000.0;
    bool ok = false;
    char target[600];
    describe_target(req, target, sizeof target);
    for (int n = 1;; n++) {
        if (!req->ignore_cancel && want_cancel(client, req->cancel)) {
            set_error(err, 0, "Cancelled", "%s: cancelled", target);
            err->cancelled = true;
            break;
        }
        double started = now_seconds();
        int transient = attempt(client, curl, req, res, err);
        client_log(client, 3, "%s: %s %d%s%s in %.3f s (attempt %d)", target,
                   err->code[0] ? "failed, HTTP" : "HTTP",
                   err->code[0] ? err->http_status : (int)res->status,
                   err->code[0] ? " " : "", err->code, now_seconds() - started, n);
        if (!err->code[0]) {
            ok = true;
            break;
        }
        if (!transient || err->cancelled || n >= client->config.max_attempts)
            break;
        double cap = client->config.backoff_base_s * (double)(1u << (n - 1 < 20 ? n - 1 : 20));
        if (cap > client->config.backoff_cap_s)
            cap = client->config.backoff_cap_s;
        double delay = cap * jitter(client);
        if (now_seconds() + delay >= deadline) {
            client_log(client, 1, "%s; no time left for another attempt", err->message);
            break;
        }
        client_log(client, 1, "%s; attempt %d of %d in %.2f s", err->message, n + 1,
                   client->config.max_attempts, delay);
        sleep_seconds(delay);
        if (!req->ignore_cancel && want_cancel(client, req->cancel)) {
            set_error(err, 0, "Cancelled", "%s: cancelled", req->operation);
            err->cancelled = true;
            break;
        }
    }
    return_handle(client, curl);
    return ok;
}

/* ---- operations ----------------------------------------------------------------------- */

static bool is_plain_md5_etag(const char *etag)
{
    size_t len = strlen(etag);
    if (len != 34 || etag[0] != '"' || etag[33] != '"')
        return false;
    for (size_t i = 1; i < 33; i++)
        if (!((etag[i] >= '0' && etag[i] <= '9') || (etag[i] >= 'a' && etag[i] <= 'f')))
            return false;
    return true;
}

static void quoted_md5(const uint8_t md5[S3_MD5_LEN], char out[35])
{
    out[0] = '"';
    s3_hex(md5, S3_MD5_LEN, out + 1);
    out[33] = '"';
    out[34] = '\0';
}

/* GetObject into a buffer (sink NULL) or a sink; the length and a plain MD5 ETag are
 * checked against what arrived. */
static bool get_object(s3_client *client, const char *bucket, const char *key,
                       uint64_t max_size, const s3_cancel *cancel, const s3_sink *sink,
                       s3_buf *out, s3_object_info *info, s3_error *err)
{
    s3_request req = {.operation = "GetObject", .method = "GET", .bucket = bucket, .key = key,
                      .response_limit = max_size, .cancel = cancel, .sink = sink};
    s3_response res;
    memset(&res, 0, sizeof res);
    if (!perform(client, &req, &res, err)) {
        response_free(&res);
        return false;
    }
    const uint8_t *data = res.in_sink ? res.sink_data : (const uint8_t *)res.body.data;
    uint64_t len = res.in_sink ? res.sink_len : res.body.len;
    bool ok = true;
    if (sink && !res.in_sink) {
        /* No Content-Length (or an empty object): hand the buffer to the sink. */
        uint8_t *dest = sink->reserve(sink->user, len);
        if (dest && len)
            memcpy(dest, data, (size_t)len);
        if (!dest) {
            set_error(err, 0, "NoMemory",
                      "GetObject s3://%s/%s failed: NoMemory: no memory for %llu bytes", bucket,
                      key, (unsigned long long)len);
            ok = false;
        }
    }
    if (ok && res.content_length >= 0 && (uint64_t)res.content_length != len) {
        set_error(err, (int)res.status, "LengthMismatch",
                  "GetObject s3://%s/%s failed: LengthMismatch: received %llu bytes, "
                  "Content-Length said %lld", bucket, key, (unsigned long long)len,
                  res.content_length);
        ok = false;
    }
    if (ok && is_plain_md5_etag(res.etag)) {
        uint8_t md5[S3_MD5_LEN];
        char expected[35];
        s3_md5(data ? (const void *)data : "", (size_t)len, md5);
        quoted_md5(md5, expected);
        if (strcmp(expected, res.etag) != 0) {
            set_error(err, (int)res.status, "ETagMismatch",
                      "GetObject s3://%s/%s failed: ETagMismatch: the data's MD5 %s does not "
                      "match the ETag %s",
                      bucket, key, expected, res.etag);
            ok = false;
        }
    }
    if (ok) {
        if (info) {
            info->size = len;
            snprintf(info->etag, sizeof info->etag, "%s", res.etag);
        }
        if (out) {
            s3_buf_free(out);
            *out = res.body;
            s3_buf_init(&res.body);
        }
    }
    response_free(&res);
    return ok;
}

bool s3_get(s3_client *client, const char *bucket, const char *key, uint64_t max_size,
            const s3_cancel *cancel, s3_buf *out, s3_object_info *info, s3_error *err)
{
    return get_object(client, bucket, key, max_size, cancel, NULL, out, info, err);
}

bool s3_get_to(s3_client *client, const char *bucket, const char *key, uint64_t max_size,
               const s3_cancel *cancel, const s3_sink *sink, s3_object_info *info,
               s3_error *err)
{
    return get_object(client, bucket, key, max_size, cancel, sink, NULL, info, err);
}

bool s3_head(s3_client *client, const char *bucket, const char *key, s3_object_info *info,
             s3_error *err)
{
    s3_request req = {.operation = "HeadObject", .method = "HEAD", .bucket = bucket, .key = key,
                      .head = true};
    s3_response res;
    memset(&res, 0, sizeof res);
    bool ok = perform(client, &req, &res, err);
    if (ok && info) {
        info->size = res.content_length > 0 ? (uint64_t)res.content_length : 0;
        snprintf(info->etag, sizeof info->etag, "%s", res.etag);
    }
    response_free(&res);
    return ok;
}

bool s3_delete(s3_client *client, const char *bucket, const char *key, s3_error *err)
{
    s3_request req = {.operation = "DeleteObject", .method = "DELETE", .bucket = bucket,
                      .key = key};
    s3_response res;
    memset(&res, 0, sizeof res);
    bool ok = perform(client, &req, &res, err);
    response_free(&res);
    return ok;
}

static bool put_single(s3_client *client, const char *bucket, const char *key,
                       const void *data, uint64_t size, const char *content_type,
                       const s3_cancel *cancel, s3_object_info *info, s3_error *err)
{
    uint8_t md5[S3_MD5_LEN];
    char md5_b64[32], etag[35];
    s3_md5(data ? data : "", (size_t)size, md5);
    s3_base64(md5, sizeof md5, md5_b64);
    quoted_md5(md5, etag);
    s3_request req = {.operation = "PutObject", .method = "PUT", .bucket = bucket, .key = key,
                      .content_type = content_type, .content_md5 = md5_b64, .body = data,
                      .body_size = size, .expect_md5_etag = etag, .cancel = cancel};
    s3_response res;
    memset(&res, 0, sizeof res);
    bool ok = perform(client, &req, &res, err);
    if (ok && info) {
        info->size = size;
        snprintf(info->etag, sizeof info->etag, "%s", res.etag);
    }
    response_free(&res);
    return ok;
}

/* Where the parts come from: memory, or a file read part by part so that at most one part
 * per upload thread is in memory. */
typedef struct part_source {
    const uint8_t *data; /* NULL: read from fd */
    int fd;
} part_source;

/* Reads len bytes at offset of fd into dest; false on a read error or a short file. */
static bool read_exactly(int fd, uint8_t *dest, uint64_t len, uint64_t offset)
{
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, dest + done, (size_t)(len - done), (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += (uint64_t)n;
    }
    return true;
}

typedef struct multipart {
    s3_client *client;
    const char *bucket, *key, *upload_id;
    part_source source;
    const s3_cancel *cancel;
    uint64_t size, part_size;
    uint32_t part_count;
    char (*etags)[80];
    pthread_mutex_t lock;
    uint32_t next_part; /* 0-based, under lock */
    bool failed;        /* under lock */
    s3_error first_error;
} multipart;

/* Records the first failure; the other threads stop at their next part. */
static void fail_multipart(multipart *mp, const s3_error *err, uint32_t index)
{
    pthread_mutex_lock(&mp->lock);
    if (!mp->failed) {
        mp->failed = true;
        mp->first_error = *err;
        if (!err->cancelled) {
            char part_note[64];
            snprintf(part_note, sizeof part_note, " (part %u of %u)", index + 1,
                     mp->part_count);
            size_t used = strlen(mp->first_error.message);
            snprintf(mp->first_error.message + used, sizeof mp->first_error.message - used,
                     "%s", part_note);
        }
    }
    pthread_mutex_unlock(&mp->lock);
}

static void *upload_parts(void *arg)
{
    multipart *mp = arg;
    uint8_t *buffer = NULL; /* one part, when reading from a file */
    for (;;) {
        pthread_mutex_lock(&mp->lock);
        bool stop = mp->failed || mp->next_part >= mp->part_count;
        uint32_t index = mp->next_part++;
        pthread_mutex_unlock(&mp->lock);
        if (stop)
            break;
        s3_error err;
        memset(&err, 0, sizeof err);
        if (want_cancel(mp->client, mp->cancel)) {
            set_error(&err, 0, "Cancelled", "UploadPart s3://%s/%s: cancelled", mp->bucket,
                      mp->key);
            err.cancelled = true;
            fail_multipart(mp, &err, index);
            break;
        }
        uint64_t offset = (uint64_t)index * mp->part_size;
        uint64_t len = mp->size - offset < mp->part_size ? mp->size - offset : mp->part_size;
        const uint8_t *part = mp->source.data ? mp->source.data + offset : NULL;
        if (!part) {
            if (!buffer)
                buffer = malloc((size_t)mp->part_size);
            if (!buffer) {
                set_error(&err, 0, "NoMemory", "UploadPart s3://%s/%s: out of memory for a part",
                          mp->bucket, mp->key);
                fail_multipart(mp, &err, index);
                break;
            }
            if (!read_exactly(mp->source.fd, buffer, len, offset)) {
                set_error(&err, 0, "LocalReadError",
                          "UploadPart s3://%s/%s: cannot read the spooled data: %s", mp->bucket,
                          mp->key, errno ? strerror(errno) : "file shorter than expected");
                fail_multipart(mp, &err, index);
                break;
            }
            part = buffer;
        }
        char part_number[16];
        snprintf(part_number, sizeof part_number, "%u", index + 1);
        const s3_kv query[] = {{"partNumber", part_number}, {"uploadId", mp->upload_id}};
        uint8_t md5[S3_MD5_LEN];
        char md5_b64[32], etag[35];
        s3_md5(part, (size_t)len, md5);
        s3_base64(md5, sizeof md5, md5_b64);
        quoted_md5(md5, etag);
        s3_request req = {.operation = "UploadPart", .method = "PUT", .bucket = mp->bucket,
                          .key = mp->key, .query = query, .query_count = 2,
                          .content_md5 = md5_b64, .body = part, .body_size = len,
                          .expect_md5_etag = etag, .cancel = mp->cancel};
        s3_response res;
        memset(&res, 0, sizeof res);
        bool ok = perform(mp->client, &req, &res, &err);
        if (ok)
            snprintf(mp->etags[index], sizeof mp->etags[index], "%s", res.etag);
        response_free(&res);
        if (!ok) {
            fail_multipart(mp, &err, index);
            break;
        }
    }
    free(buffer);
    return NULL;
}

static void abort_multipart(s3_client *client, const char *bucket, const char *key,
                            const char *upload_id)
{
    const s3_kv query[] = {{"uploadId", upload_id}};
    s3_request req = {.operation = "AbortMultipartUpload", .method = "DELETE", .bucket = bucket,
                      .key = key, .query = query, .query_count = 1,
                      /* Runs even after a cancellation: the parts must not stay behind. */
                      .ignore_cancel = true};
    s3_response res;
    memset(&res, 0, sizeof res);
    s3_error err;
    if (perform(client, &req, &res, &err))
        client_log(client, 2, "AbortMultipartUpload s3://%s/%s: the incomplete upload was "
                              "removed", bucket, key);
    else
        client_log(client, 0, "%s (the incomplete upload stays until the bucket's lifecycle "
                              "rule removes it)", err.message);
    response_free(&res);
}

static bool complete_multipart(s3_client *client, const multipart *mp, s3_object_info *info,
                               s3_error *err)
{
    s3_buf body;
    s3_buf_init(&body);
    s3_buf_puts(&body, "<CompleteMultipartUpload>");
    for (uint32_t i = 0; i < mp->part_count; i++)
        s3_buf_printf(&body, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>", i + 1,
                      mp->etags[i]);
    s3_buf_puts(&body, "</CompleteMultipartUpload>");
    const s3_kv query[] = {{"uploadId", mp->upload_id}};
    /* A job cancelled now must still leave nothing: the cancel hook stays on. */
    s3_request complete = {.operation = "CompleteMultipartUpload", .method = "POST",
                           .bucket = mp->bucket, .key = mp->key, .query = query,
                           .query_count = 1, .content_type = "application/xml",
                           .body = (const uint8_t *)s3_buf_str(&body), .body_size = body.len,
                           .error_in_200 = true, .cancel = mp->cancel};
    s3_response res;
    memset(&res, 0, sizeof res);
    bool ok = s3_buf_ok(&body) && perform(client, &complete, &res, err);
    if (ok && info) {
        info->size = mp->size;
        xml_value(s3_buf_str(&res.body), "ETag", info->etag, sizeof info->etag);
    }
    response_free(&res);
    s3_buf_free(&body);
    return ok;
}

static bool put_multipart(s3_client *client, const char *bucket, const char *key,
                          part_source source, uint64_t size, const char *content_type,
                          const s3_cancel *cancel, s3_object_info *info, s3_error *err)
{
    uint64_t part_size = client->config.part_size;
    /* Keep one fixed part size (R2 requires it); grow it only past 10,000 parts. */
    while ((size + part_size - 1) / part_size > S3_MAX_PARTS)
        part_size *= 2;
    uint32_t part_count = (uint32_t)((size + part_size - 1) / part_size);

    const s3_kv create_query[] = {{"uploads", NULL}};
    s3_request create = {.operation = "CreateMultipartUpload", .method = "POST",
                         .bucket = bucket, .key = key, .query = create_query, .query_count = 1,
                         .content_type = content_type, .cancel = cancel};
    s3_response res;
    memset(&res, 0, sizeof res);
    if (!perform(client, &create, &res, err)) {
        response_free(&res);
        return false;
    }
    char upload_id[1024] = "";
    bool ok = xml_value(s3_buf_str(&res.body), "UploadId", upload_id, sizeof upload_id) &&
              upload_id[0];
    response_free(&res);
    if (!ok) {
        set_error(err, 200, "MalformedResponse",
                  "CreateMultipartUpload s3://%s/%s: no UploadId in the response", bucket, key);
        return false;
    }

    multipart mp;
    memset(&mp, 0, sizeof mp);
    mp.client = client;
    mp.bucket = bucket;
    mp.key = key;
    mp.upload_id = upload_id;
    mp.source = source;
    mp.cancel = cancel;
    mp.size = size;
    mp.part_size = part_size;
    mp.part_count = part_count;
    mp.etags = calloc(part_count, sizeof *mp.etags);
    pthread_mutex_init(&mp.lock, NULL);
    int thread_count = client->config.upload_threads;
    if ((uint32_t)thread_count > part_count)
        thread_count = (int)part_count;
    pthread_t threads[64];
    if (thread_count > 64)
        thread_count = 64;
    int started = 0;
    if (mp.etags) {
        for (; started < thread_count; started++)
            if (pthread_create(&threads[started], NULL, upload_parts, &mp) != 0)
                break;
        if (started == 0)
            upload_parts(&mp);
    } else {
        mp.failed = true;
        set_error(&mp.first_error, 0, "NoMemory", "S3: out of memory");
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&mp.lock);

    ok = !mp.failed;
    if (!ok)
        *err = mp.first_error;
    else
        ok = complete_multipart(client, &mp, info, err);
    free(mp.etags);
    if (!ok)
        abort_multipart(client, bucket, key, upload_id);
    return ok;
}

bool s3_put(s3_client *client, const char *bucket, const char *key, const void *data,
            uint64_t size, const char *content_type, const s3_cancel *cancel,
            s3_object_info *info, s3_error *err)
{
    if (size > client->config.multipart_threshold)
        return put_multipart(client, bucket, key, (part_source){.data = data, .fd = -1}, size,
                             content_type, cancel, info, err);
    return put_single(client, bucket, key, data, size, content_type, cancel, info, err);
}

bool s3_put_file(s3_client *client, const char *bucket, const char *key, int fd,
                 uint64_t size, const char *content_type, const s3_cancel *cancel,
                 s3_object_info *info, s3_error *err)
{
    memset(err, 0, sizeof *err);
    if (size > client->config.multipart_threshold)
        return put_multipart(client, bucket, key, (part_source){.data = NULL, .fd = fd}, size,
                             content_type, cancel, info, err);
    /* At most the threshold: one request from memory. */
    uint8_t *data = malloc(size ? (size_t)size : 1);
    if (!data) {
        set_error(err, 0, "NoMemory", "PutObject s3://%s/%s: out of memory", bucket, key);
        return false;
    }
    bool ok = read_exactly(fd, data, size, 0);
    if (!ok)
        set_error(err, 0, "LocalReadError",
                  "PutObject s3://%s/%s: cannot read the spooled data: %s", bucket, key,
                  errno ? strerror(errno) : "file shorter than expected");
    else
        ok = put_single(client, bucket, key, data, size, content_type, cancel, info, err);
    free(data);
    return ok;
}

bool s3_presign_url(s3_client *client, const char *method, const char *bucket,
                    const char *key, long expires, s3_buf *url, s3_error *err)
{
    memset(err, 0, sizeof *err);
    s3_buf host, raw_path;
    s3_buf_init(&host);
    s3_buf_init(&raw_path);
    build_target(client, bucket, key, &host, &raw_path);
    s3_kv headers[] = {{"host", s3_buf_str(&host)}};
    s3_sign_input input = {0};
    input.method = method;
    input.path = s3_buf_str(&raw_path);
    input.headers = headers;
    input.header_count = 1;
    input.payload_hash = S3_UNSIGNED_PAYLOAD;
    input.region = client->config.region;
    input.service = "s3";
    input.when = time(NULL);
    s3_credentials creds = {client->config.access_key_id, client->config.secret_access_key,
                            client->config.session_token};
    s3_signature sig;
    s3_signature_init(&sig);
    bool ok = s3_presign(&input, &creds, expires, &sig);
    if (ok) {
        s3_buf_reset(url);
        s3_buf_printf(url, "%s://%s", client->endpoint_scheme, s3_buf_str(&host));
        s3_uri_encode(url, raw_path.data, raw_path.len, true);
        s3_buf_printf(url, "?%s", s3_buf_str(&sig.query));
        ok = s3_buf_ok(url);
    }
    if (!ok)
        set_error(err, 0, "InvalidArgument",
                  "Presign %s s3://%s/%s: cannot sign (expiry must be 1 to %d s)", method,
                  bucket, key, S3_PRESIGN_MAX_EXPIRES);
    s3_signature_free(&sig);
    s3_buf_free(&host);
    s3_buf_free(&raw_path);
    return ok;
}

static void url_without_query(const char *url, char *out, size_t cap)
{
    size_t len = strcspn(url, "?#");
    snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), url);
}

bool s3_get_url(s3_client *client, const char *url, uint64_t max_size,
                const s3_cancel *cancel, s3_buf *out, s3_error *err)
{
    memset(err, 0, sizeof *err);
    /* The query holds the presigned signature: messages show the URL without it. */
    char shown[512];
    url_without_query(url, shown, sizeof shown);
    CURL *curl = borrow_handle(client);
    if (!curl) {
        set_error(err, 0, "NoMemory", "S3: cannot create a curl handle");
        return false;
    }
    bool ok = false;
    double deadline = now_seconds() + (double)client->config.total_timeout_ms / 1000.0;
    for (int n = 1; !ok; n++) {
        if (want_cancel(client, cancel)) {
            set_error(err, 0, "Cancelled", "GET %s: cancelled", shown);
            err->cancelled = true;
            break;
        }
        exchange x;
        memset(&x, 0, sizeof x);
        s3_buf_init(&x.response);
        x.response_limit = max_size;
        x.content_length = -1;
        x.client = client;
        x.cancel = cancel;
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, client->config.connect_timeout_ms);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, client->config.request_timeout_ms);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, client->config.low_speed_bytes);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, client->config.low_speed_seconds);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &x);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        if (client->resolve)
            curl_easy_setopt(curl, CURLOPT_RESOLVE, client->resolve);
        CURLcode code = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        bool transient = false;
        if (code == CURLE_ABORTED_BY_CALLBACK) {
            set_error(err, 0, "Cancelled", "GET %s: cancelled", shown);
            err->cancelled = true;
        } else if (code == CURLE_WRITE_ERROR && x.over_limit) {
            set_error(err, 0, "TooLarge", "GET %s: larger than the limit of %llu bytes", shown,
                      (unsigned long long)max_size);
        } else if (code != CURLE_OK) {
            transient = curl_code_is_transient(code);
            set_error(err, 0, "ConnectionError", "GET %s: %s", shown, curl_easy_strerror(code));
        } else if (status >= 300) {
            char code_text[64] = "HTTPError", message[512] = "";
            xml_value(s3_buf_str(&x.response), "Code", code_text, sizeof code_text);
            xml_value(s3_buf_str(&x.response), "Message", message, sizeof message);
            transient = status >= 500 || status == 429 || code_is_transient(code_text);
            set_error(err, (int)status, code_text, "GET %s failed: HTTP %ld %s%s%s", shown,
                      status, code_text, message[0] ? ": " : "", message);
            err->not_found = status == 404;
        } else if (x.content_length >= 0 && (uint64_t)x.content_length != x.response.len) {
            set_error(err, (int)status, "LengthMismatch", "GET %s: short read", shown);
            transient = true;
        } else {
            s3_buf_free(out);
            *out = x.response;
            s3_buf_init(&x.response);
            ok = true;
        }
        s3_buf_free(&x.response);
        if (ok || !transient || n >= client->config.max_attempts)
            break;
        double delay = client->config.backoff_base_s * (double)(1u << (n - 1 < 20 ? n - 1 : 20));
        if (delay > client->config.backoff_cap_s)
            delay = client->config.backoff_cap_s;
        delay *= jitter(client);
        if (now_seconds() + delay >= deadline)
            break;
        sleep_seconds(delay);
    }
    if (ok)
        memset(err, 0, sizeof *err);
    return_handle(client, curl);
    return ok;
}
