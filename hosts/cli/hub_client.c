/* Hugging Face hub client: configuration, errors, HTTP helpers and the repository listing. */
#include "hub_client.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

/* A listing bigger than this is not a model repository we can use. */
#define LISTING_MAX_BYTES (64 << 20)

hub_status hub_fail(hub_error *err, hub_status status, const char *fmt, ...)
{
    if (err && err->status == HUB_OK) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void hub_config_init(hub_config *c)
{
    memset(c, 0, sizeof *c);
    const char *endpoint = getenv("HF_ENDPOINT");
    c->endpoint = endpoint && *endpoint ? endpoint : HUB_DEFAULT_ENDPOINT;
    const char *token = getenv("HF_TOKEN");
    c->token = token && *token ? token : NULL;
    c->user_agent = "sparkhost";
    c->connect_timeout_s = 30;
    /* Under 1 KiB/s for a minute means a stuck connection, not a slow link. */
    c->low_speed_limit = 1024;
    c->low_speed_time_s = 60;
    c->max_attempts = 5;
    c->retry_base_ms = 1000;
}

void hub_log(const hub_config *c, int level, const char *fmt, ...)
{
    if (!c->log)
        return;
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->log(c->log_user, level, line);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

hub_status hub_global_init(hub_error *err)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return hub_fail(err, HUB_ERR_INTERNAL, "libcurl initialisation failed: %s",
                        curl_easy_strerror(global_rc));
    return HUB_OK;
}

static bool repo_part_valid(const char *s, size_t n)
{
    if (n == 0 || n > 96 || (n <= 2 && strncmp(s, "..", n) == 0))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

bool hub_repo_id_valid(const char *repo)
{
    const char *slash = strchr(repo, '/');
    if (!slash)
        return repo_part_valid(repo, strlen(repo));
    return repo_part_valid(repo, (size_t)(slash - repo)) &&
           repo_part_valid(slash + 1, strlen(slash + 1));
}

/* ---- responses and errors ---- */

void hub_response_reset(hub_response *r)
{
    memset(r, 0, sizeof *r);
    r->range_start = -1;
    r->retry_after_s = -1;
    r->linked_size = -1;
}

/* Copies a header value, dropping surrounding quotes and anything unprintable. */
static void copy_value(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++)
        if (v[i] >= 0x20 && v[i] < 0x7f)
            dst[o++] = v[i];
    dst[o] = '\0';
}

void hub_response_header(hub_response *r, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a redirect): forget what the previous one said. */
        char buf[32];
        size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, line, n);
        buf[n] = '\0';
        const char *sp = strchr(buf, ' ');
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        r->range_start = -1;
        r->retry_after_s = -1;
        r->error_code[0] = r->error_message[0] = '\0';
        return;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vn = len - name_len - 1;
    while (vn > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vn--;
    }
    char value[300];
    copy_value(value, sizeof value, v, vn);
#define IS(name) (name_len == sizeof name - 1 && strncasecmp(line, name, name_len) == 0)
    if (IS("Content-Range")) {
        long long start;
        if (sscanf(value, "bytes %lld-", &start) == 1 && start >= 0)
            r->range_start = start;
    } else if (IS("Retry-After")) {
        char *end;
        long s = strtol(value, &end, 10);
        if (end != value && *end == '\0' && s >= 0) /* the HTTP-date form is ignored */
            r->retry_after_s = s;
    } else if (IS("X-Linked-Etag")) {
        const char *etag = strncmp(value, "W/", 2) == 0 ? value + 2 : value; /* weak tag */
        copy_value(r->linked_etag, sizeof r->linked_etag, etag, strlen(etag));
    } else if (IS("X-Linked-Size")) {
        char *end;
        long long s = strtoll(value, &end, 10);
        if (end != value && *end == '\0' && s >= 0)
            r->linked_size = s;
    } else if (IS("X-Error-Code")) {
        copy_value(r->error_code, sizeof r->error_code, value, strlen(value));
    } else if (IS("X-Error-Message")) {
        copy_value(r->error_message, sizeof r->error_message, value, strlen(value));
    }
#undef IS
}

hub_status hub_http_error(const hub_config *c, hub_error *err, const hub_response *r,
                          const char *repo, const char *revision, const char *path)
{
    char said[300] = "";
    if (r->error_message[0])
        snprintf(said, sizeof said, "; the hub says: %s", r->error_message);
    const char *subject = path ? path : repo;
    switch (r->status) {
    case 401:
        if (c->token)
            return hub_fail(err, HUB_ERR_AUTH,
                            "%s: the hub refused the token in HF_TOKEN (HTTP 401%s); check that it "
                            "is valid and can read %s",
                            subject, said, repo);
        return hub_fail(err, HUB_ERR_AUTH,
                        "%s: authentication required (HTTP 401%s); %s may be gated or private "
                        "(or may not exist): set HF_TOKEN to an access token that can read it",
                        subject, said, repo);
    case 403:
        return hub_fail(err, HUB_ERR_AUTH,
                        "%s: access denied (HTTP 403%s); %s is gated or private: accept its "
                        "conditions on the hub and set HF_TOKEN to a token of an account with "
                        "access",
                        subject, said, repo);
    case 404:
        if (strcmp(r->error_code, "RevisionNotFound") == 0)
            return hub_fail(err, HUB_ERR_NOT_FOUND, "revision '%s' not found in %s (HTTP 404%s)",
                            revision, repo, said);
        if (strcmp(r->error_code, "RepoNotFound") == 0)
            return hub_fail(err, HUB_ERR_NOT_FOUND, "repository %s not found at %s (HTTP 404%s)",
                            repo, c->endpoint, said);
        if (path)
            return hub_fail(err, HUB_ERR_NOT_FOUND,
                            "%s not found in %s at revision %s (HTTP 404%s)", path, repo,
                            revision, said);
        return hub_fail(err, HUB_ERR_NOT_FOUND,
                        "repository %s or its revision '%s' not found at %s (HTTP 404%s)", repo,
                        revision, c->endpoint, said);
    default:
        return hub_fail(err, HUB_ERR_HTTP, "%s: the hub answered HTTP %ld%s", subject, r->status,
                        said);
    }
}

hub_status hub_network_error(hub_error *err, CURLcode rc, const char *errbuf, const char *what)
{
    return hub_fail(err, HUB_ERR_NETWORK, "%s: %s", what,
                    errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

bool hub_transient(CURLcode rc, long http_status)
{
    switch (rc) {
    case CURLE_OK:
        return http_status == 408 || http_status == 429 ||
               (http_status >= 500 && http_status < 600);
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST: /* container DNS has hiccups */
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

long hub_backoff_ms(const hub_config *c, int attempt, long retry_after_s)
{
    if (retry_after_s >= 0)
        return (retry_after_s > 60 ? 60 : retry_after_s) * 1000;
    long ms = c->retry_base_ms > 0 ? c->retry_base_ms : 1000;
    for (int i = 1; i < attempt && ms < 30000; i++)
        ms *= 2;
    if (ms > 30000)
        ms = 30000;
    /* Jitter, so workers that failed together do not retry in lockstep. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return ms + (long)((unsigned long)now.tv_nsec % (unsigned long)(ms / 4 + 1));
}

void hub_sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

CURL *hub_easy_new(const hub_config *c, char *errbuf, struct curl_slist **headers, hub_error *err)
{
    *headers = NULL;
    CURL *h = curl_easy_init();
    if (!h) {
        hub_fail(err, HUB_ERR_INTERNAL, "cannot create a libcurl handle");
        return NULL;
    }
    if (c->token) {
        /* libcurl sends a custom Authorization header only to the first host and port, so the
         * token never reaches the CDN the hub redirects to. */
        /* A token pasted from a file often ends in a newline, which would break the header. */
        size_t n = strlen(c->token);
        while (n > 0 && isspace((unsigned char)c->token[n - 1]))
            n--;
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)c->token[i] < 0x21 || c->token[i] == 0x7f) {
                curl_easy_cleanup(h);
                hub_fail(err, HUB_ERR_AUTH, "HF_TOKEN contains spaces or control characters");
                return NULL;
            }
        }
        char *line;
        if (asprintf(&line, "Authorization: Bearer %.*s", (int)n, c->token) < 0) {
            curl_easy_cleanup(h);
            hub_fail(err, HUB_ERR_INTERNAL, "out of memory");
            return NULL;
        }
        *headers = curl_slist_append(NULL, line);
        memset(line, 0, strlen(line));
        free(line);
        if (!*headers) {
            curl_easy_cleanup(h);
            hub_fail(err, HUB_ERR_INTERNAL, "out of memory");
            return NULL;
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
    }
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent ? c->user_agent : "sparkhost");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* several threads transfer at once */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->low_speed_limit);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->low_speed_time_s);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    return h;
}

/* ---- URLs ---- */

static bool append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t want = (*cap ? *cap * 2 : 128) + n;
        char *p = realloc(*buf, want);
        if (!p)
            return false;
        *buf = p;
        *cap = want;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

/* Percent-encodes all but RFC 3986's unreserved characters, and '/' when keep_slash. */
static bool append_quoted(char **buf, size_t *len, size_t *cap, const char *s, bool keep_slash)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~' ||
            (keep_slash && ch == '/')) {
            if (!append(buf, len, cap, (const char *)&ch, 1))
                return false;
        } else {
            char esc[4];
            snprintf(esc, sizeof esc, "%%%02X", ch);
            if (!append(buf, len, cap, esc, 3))
                return false;
        }
    }
    return true;
}

static size_t endpoint_len(const char *endpoint)
{
    size_t n = strlen(endpoint);
    while (n > 0 && endpoint[n - 1] == '/')
        n--;
    return n;
}

char *hub_resolve_url(const hub_config *c, const char *repo, const char *revision,
                      const char *path)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    bool ok = append(&buf, &len, &cap, c->endpoint, endpoint_len(c->endpoint)) &&
              append(&buf, &len, &cap, "/", 1) && append_quoted(&buf, &len, &cap, repo, true) &&
              append(&buf, &len, &cap, "/resolve/", 9) &&
              append_quoted(&buf, &len, &cap, revision, false) &&
              append(&buf, &len, &cap, "/", 1) && append_quoted(&buf, &len, &cap, path, true);
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

static char *listing_url(const hub_config *c, const char *repo, const char *revision)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    bool ok = append(&buf, &len, &cap, c->endpoint, endpoint_len(c->endpoint)) &&
              append(&buf, &len, &cap, "/api/models/", 12) &&
              append_quoted(&buf, &len, &cap, repo, true) &&
              append(&buf, &len, &cap, "/revision/", 10) &&
              append_quoted(&buf, &len, &cap, revision, false) &&
              /* blobs=true adds each file's size and, for LFS files, its SHA-256. */
              append(&buf, &len, &cap, "?blobs=true", 11);
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- the listing ---- */

typedef struct body {
    char *data;
    size_t len, cap;
    bool too_big;
} body;

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *user)
{
    body *b = user;
    size_t n = size * nmemb;
    if (b->len + n > LISTING_MAX_BYTES) {
        b->too_big = true;
        return 0;
    }
    return append(&b->data, &b->len, &b->cap, ptr, n) ? n : 0;
}

static size_t header_write(char *ptr, size_t size, size_t nmemb, void *user)
{
    hub_response_header(user, ptr, size * nmemb);
    return size * nmemb;
}

/* Paths come from the network: refuse anything that could leave the target directory. */
static bool path_safe(const char *p)
{
    if (!*p || *p == '/' || strlen(p) > 1024)
        return false;
    for (const char *s = p; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '\\' || *s == 0x7f)
            return false;
    const char *part = p;
    for (;;) {
        const char *slash = strchr(part, '/');
        size_t n = slash ? (size_t)(slash - part) : strlen(part);
        if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.'))
            return false;
        if (!slash)
            return true;
        part = slash + 1;
    }
}

/* Names this program keeps beside the files; a repository entry there would collide. */
static bool path_reserved(const char *p)
{
    return strcmp(p, ".fetch.lock") == 0 || strcmp(p, ".cache") == 0 ||
           strncmp(p, ".cache/", 7) == 0;
}

static bool hex_digest(const char *s, size_t want)
{
    if (strlen(s) != want)
        return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return false;
    return true;
}

static void lower_copy(char *dst, const char *src)
{
    for (; *src; src++)
        *dst++ = (char)tolower((unsigned char)*src);
    *dst = '\0';
}

static hub_status parse_listing(const hub_config *c, const char *repo, const body *b,
                                hub_listing *out, hub_error *err)
{
    cJSON *root = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
    if (!root)
        return hub_fail(err, HUB_ERR_PROTOCOL, "the hub's listing of %s is not valid JSON", repo);
    hub_status st = HUB_OK;
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(root, "sha");
    const cJSON *siblings = cJSON_GetObjectItemCaseSensitive(root, "siblings");
    if (!cJSON_IsArray(siblings)) {
        st = hub_fail(err, HUB_ERR_PROTOCOL, "the hub's listing of %s has no file list (siblings)",
                      repo);
        goto done;
    }
    if (cJSON_IsString(sha) && hex_digest(sha->valuestring, 40)) {
        out->commit = strdup(sha->valuestring);
        if (!out->commit) {
            st = hub_fail(err, HUB_ERR_INTERNAL, "out of memory");
            goto done;
        }
    }
    size_t n = (size_t)cJSON_GetArraySize(siblings);
    out->files = calloc(n ? n : 1, sizeof *out->files);
    if (!out->files) {
        st = hub_fail(err, HUB_ERR_INTERNAL, "out of memory");
        goto done;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, siblings) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "rfilename");
        if (!cJSON_IsString(name)) {
            st = hub_fail(err, HUB_ERR_PROTOCOL, "the hub's listing of %s has an entry without "
                          "rfilename", repo);
            goto done;
        }
        const char *path = name->valuestring;
        if (!path_safe(path)) {
            st = hub_fail(err, HUB_ERR_PROTOCOL, "the hub's listing of %s names an unsafe path "
                          "'%.200s'; refusing it", repo, path);
            goto done;
        }
        if (path_reserved(path)) {
            hub_log(c, HUB_LOG_WARN, "skipping %s: the name is reserved for the download cache",
                    path);
            continue;
        }
        hub_file *f = &out->files[out->count];
        f->size = -1;
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(item, "size");
        if (cJSON_IsNumber(size) && size->valuedouble >= 0)
            f->size = (int64_t)size->valuedouble;
        const cJSON *blob = cJSON_GetObjectItemCaseSensitive(item, "blobId");
        if (cJSON_IsString(blob) && hex_digest(blob->valuestring, 40))
            lower_copy(f->blob_id, blob->valuestring);
        const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(item, "lfs");
        if (cJSON_IsObject(lfs)) {
            const cJSON *digest = cJSON_GetObjectItemCaseSensitive(lfs, "sha256");
            const cJSON *lfs_size = cJSON_GetObjectItemCaseSensitive(lfs, "size");
            if (!cJSON_IsString(digest) || !hex_digest(digest->valuestring, 64)) {
                st = hub_fail(err, HUB_ERR_PROTOCOL, "the hub's listing of %s gives %s no valid "
                              "LFS sha256", repo, path);
                goto done;
            }
            lower_copy(f->sha256, digest->valuestring);
            if (cJSON_IsNumber(lfs_size) && lfs_size->valuedouble >= 0)
                f->size = (int64_t)lfs_size->valuedouble;
        }
        f->path = strdup(path);
        if (!f->path) {
            st = hub_fail(err, HUB_ERR_INTERNAL, "out of memory");
            goto done;
        }
        out->count++;
    }
done:
    cJSON_Delete(root);
    return st;
}

hub_status hub_list(const hub_config *c, const char *repo, const char *revision, hub_listing *out,
                    hub_error *err)
{
    memset(out, 0, sizeof *out);
    hub_status st = hub_global_init(err);
    if (st != HUB_OK)
        return st;
    char *url = listing_url(c, repo, revision);
    if (!url)
        return hub_fail(err, HUB_ERR_INTERNAL, "out of memory");
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers = NULL;
    CURL *h = hub_easy_new(c, errbuf, &headers, err);
    if (!h) {
        free(url);
        return err->status;
    }
    body b = {0};
    hub_response r;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* the listing compresses well */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_write);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
    char what[300];
    snprintf(what, sizeof what, "listing %s at %s", repo, revision);
    int attempts = c->max_attempts > 0 ? c->max_attempts : 1;
    for (int attempt = 1;; attempt++) {
        b.len = 0;
        b.too_big = false;
        errbuf[0] = '\0';
        hub_response_reset(&r);
        CURLcode rc = curl_easy_perform(h);
        if (rc == CURLE_OK && r.status == 200) {
            st = parse_listing(c, repo, &b, out, err);
            break;
        }
        if (b.too_big) {
            st = hub_fail(err, HUB_ERR_PROTOCOL, "%s: the answer exceeds %d MiB", what,
                          LISTING_MAX_BYTES >> 20);
            break;
        }
        if (attempt < attempts && hub_transient(rc, r.status)) {
            long wait = hub_backoff_ms(c, attempt, rc == CURLE_OK ? r.retry_after_s : -1);
            if (rc == CURLE_OK)
                hub_log(c, HUB_LOG_INFO, "%s: HTTP %ld, retrying in %.1f s (attempt %d of %d)",
                        what, r.status, wait / 1000.0, attempt + 1, attempts);
            else
                hub_log(c, HUB_LOG_INFO, "%s: %s, retrying in %.1f s (attempt %d of %d)", what,
                        errbuf[0] ? errbuf : curl_easy_strerror(rc), wait / 1000.0, attempt + 1,
                        attempts);
            hub_sleep_ms(wait);
            continue;
        }
        st = rc != CURLE_OK ? hub_network_error(err, rc, errbuf, what)
                            : hub_http_error(c, err, &r, repo, revision, NULL);
        break;
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    free(b.data);
    free(url);
    if (st != HUB_OK)
        hub_listing_free(out);
    return st;
}

void hub_listing_free(hub_listing *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->files[i].path);
    free(l->files);
    free(l->commit);
    memset(l, 0, sizeof *l);
}

/* ---- what inference needs ---- */

static const char *const inference_files[] = {
    "config.yaml",
    "wav2vec2-large-xlsr-53/config.json",
    "wav2vec2-large-xlsr-53/preprocessor_config.json",
    "wav2vec2-large-xlsr-53/pytorch_model.bin",
};
static const char *const inference_dirs[] = {"LLM/", "BiCodec/"};

bool hub_is_inference_file(const char *path)
{
    for (size_t i = 0; i < sizeof inference_files / sizeof *inference_files; i++)
        if (strcmp(path, inference_files[i]) == 0)
            return true;
    for (size_t i = 0; i < sizeof inference_dirs / sizeof *inference_dirs; i++)
        if (strncmp(path, inference_dirs[i], strlen(inference_dirs[i])) == 0)
            return true;
    return false;
}

const char *hub_missing_inference_file(const hub_listing *l)
{
    static const char *const needed[] = {
        "config.yaml",
        "LLM/config.json",
        "LLM/model.safetensors",
        "LLM/tokenizer.json",
        "BiCodec/config.yaml",
        "BiCodec/model.safetensors",
        "wav2vec2-large-xlsr-53/config.json",
        "wav2vec2-large-xlsr-53/preprocessor_config.json",
        "wav2vec2-large-xlsr-53/pytorch_model.bin",
    };
    for (size_t i = 0; i < sizeof needed / sizeof *needed; i++) {
        bool found = false;
        for (size_t j = 0; j < l->count && !found; j++)
            found = strcmp(l->files[j].path, needed[i]) == 0;
        if (!found)
            return needed[i];
    }
    return NULL;
}
