/* Environment, URL templates and the HTTP calls to the platform. */
#include "platform.h"

#include "rp_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <spark/engine.h>

void rp_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* s with every `from` replaced by `to`. malloc'd. */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), count = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
        count++;
    char *out = malloc(strlen(s) + count * tl + 1);
    if (!out)
        return NULL;
    char *w = out;
    for (const char *p = s;;) {
        const char *hit = strstr(p, from);
        if (!hit) {
            strcpy(w, p);
            break;
        }
        memcpy(w, p, (size_t)(hit - p));
        w += hit - p;
        memcpy(w, to, tl);
        w += tl;
        p = hit + fl;
    }
    return out;
}

char *rp_url_add_param(const char *url, const char *param)
{
    size_t n = strlen(url);
    const char *sep = !strchr(url, '?') ? "?" : (url[n - 1] == '?' || url[n - 1] == '&') ? "" : "&";
    char *out = NULL;
    if (asprintf(&out, "%s%s%s", url, sep, param) < 0)
        return NULL;
    return out;
}

char *rp_job_url(const char *tmpl, const char *job_id, bool is_stream)
{
    char *escaped = curl_easy_escape(NULL, job_id, 0);
    if (!escaped)
        return NULL;
    char *url = replace_all(tmpl, "$ID", escaped);
    curl_free(escaped);
    if (!url)
        return NULL;
    char *full = rp_url_add_param(url, is_stream ? "isStream=true" : "isStream=false");
    free(url);
    return full;
}

static long env_long(const char *name, long fallback, long min)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return fallback;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < min) {
        rp_log(RP_WARN, NULL, "%s='%s' is not a whole number >= %ld; using %ld", name, v, min,
               fallback);
        return fallback;
    }
    return n;
}

static char *env_dup(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? strdup(v) : NULL;
}

/* Take/stop URL from the take template: $ID and $RUNPOD_POD_ID become the worker id, and
 * /job-take/ becomes `segment` when given. NULL when the segment swap is impossible. */
static char *take_variant(const char *tmpl, const char *worker, const char *segment)
{
    char *a = replace_all(tmpl, "$RUNPOD_POD_ID", worker);
    char *b = a ? replace_all(a, "$ID", worker) : NULL;
    free(a);
    if (!b || !segment)
        return b;
    if (!strstr(b, "/job-take/")) {
        free(b);
        return NULL;
    }
    char *c = replace_all(b, "/job-take/", segment);
    free(b);
    return c;
}

bool rp_platform_from_env(rp_platform *pf)
{
    memset(pf, 0, sizeof *pf);
    pf->worker_id = env_dup("RUNPOD_POD_ID");
    if (!pf->worker_id) {
        unsigned char r[8];
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(r, 1, sizeof r, f) != sizeof r)
            memset(r, 0x5a, sizeof r);
        if (f)
            fclose(f);
        if (asprintf(&pf->worker_id, "sparkhost-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1],
                     r[2], r[3], r[4], r[5], r[6], r[7]) < 0)
            pf->worker_id = NULL;
    }
    pf->api_key = env_dup("RUNPOD_AI_API_KEY");
    long interval = env_long("RUNPOD_PING_INTERVAL", 10000, 0);
    pf->ping_interval_ms = interval < 1000 ? 1000 : interval; /* the SDK's 0 s would hot-loop */
    pf->take_timeout_ms = env_long("SPARKHOST_RUNPOD_TAKE_TIMEOUT_MS", 90000, 100);
    pf->retry_wait_ms = env_long("SPARKHOST_RUNPOD_RETRY_WAIT_MS", 2000, 0);
    pf->backoff_429_ms = env_long("SPARKHOST_RUNPOD_BACKOFF_MS", 5000, 0);
    pf->error_sleep_ms = env_long("SPARKHOST_RUNPOD_ERROR_SLEEP_MS", 1000, 0);

    const char *take = getenv("RUNPOD_WEBHOOK_GET_JOB");
    if (!take || !*take || !pf->worker_id)
        return false;
    pf->take_url = take_variant(take, pf->worker_id, NULL);
    pf->take_batch_url = take_variant(take, pf->worker_id, "/job-take-batch/");
    pf->stop_url = take_variant(take, pf->worker_id, "/job-stop/");
    const char *done = getenv("RUNPOD_WEBHOOK_POST_OUTPUT");
    const char *stream = getenv("RUNPOD_WEBHOOK_POST_STREAM");
    if (!stream || !*stream)
        stream = getenv("RUNPOD_WEBHOOK_JOB_STREAM"); /* the simulator's spelling */
    const char *ping = getenv("RUNPOD_WEBHOOK_PING");
    if (done && *done)
        pf->done_template = replace_all(done, "$RUNPOD_POD_ID", pf->worker_id);
    if (stream && *stream)
        pf->stream_template = replace_all(stream, "$RUNPOD_POD_ID", pf->worker_id);
    if (ping && *ping) {
        char *a = replace_all(ping, "$RUNPOD_POD_ID", pf->worker_id);
        pf->ping_url = a ? replace_all(a, "$ID", pf->worker_id) : NULL;
        free(a);
    }
    return pf->take_url != NULL;
}

void rp_platform_free(rp_platform *pf)
{
    free(pf->take_url);
    free(pf->take_batch_url);
    free(pf->stop_url);
    free(pf->done_template);
    free(pf->stream_template);
    free(pf->ping_url);
    free(pf->api_key);
    free(pf->worker_id);
    memset(pf, 0, sizeof *pf);
}

static size_t collect(char *data, size_t size, size_t n, void *user)
{
    rp_response *r = user;
    size_t len = size * n;
    char *grown = realloc(r->body, r->len + len + 1);
    if (!grown)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

int rp_http_init(rp_http *h, const rp_platform *pf)
{
    memset(h, 0, sizeof *h);
    h->pf = pf;
    h->curl = curl_easy_init();
    if (!h->curl)
        return -1;
    char ua[96];
    snprintf(ua, sizeof ua, "User-Agent: sparkhost-runpod/%s", spark_engine_version());
    h->headers = curl_slist_append(h->headers, ua);
    if (pf && pf->api_key) {
        char *auth = NULL;
        if (asprintf(&auth, "Authorization: %s", pf->api_key) >= 0) {
            h->headers = curl_slist_append(h->headers, auth);
            free(auth);
        }
    }
    return 0;
}

void rp_http_free(rp_http *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    memset(h, 0, sizeof *h);
}

void rp_response_free(rp_response *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static int check_abort(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const atomic_bool *abort = user;
    return atomic_load(abort) ? 1 : 0;
}

static void perform(rp_http *h, const char *url, long timeout_ms, struct curl_slist *headers,
                    rp_response *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->error);
    if (h->abort) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, check_abort);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)h->abort);
    }
    r->rc = curl_easy_perform(c);
    if (r->rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        char *type = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
        r->json = type && strncasecmp(type, "application/json", 16) == 0;
    } else if (!r->error[0]) {
        snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(r->rc));
    }
    if (!r->body)
        r->body = calloc(1, 1);
}

void rp_http_get(rp_http *h, const char *url, long timeout_ms, rp_response *r)
{
    curl_easy_reset(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    perform(h, url, timeout_ms, h->headers, r);
}

void rp_http_post(rp_http *h, const char *url, const char *body, const char *job_id,
                  long timeout_ms, rp_response *r)
{
    curl_easy_reset(h->curl);
    struct curl_slist *headers = NULL;
    for (struct curl_slist *s = h->headers; s; s = s->next)
        headers = curl_slist_append(headers, s->data);
    char *rid = NULL;
    if (asprintf(&rid, "X-Request-ID: %s", job_id) >= 0) {
        headers = curl_slist_append(headers, rid);
        free(rid);
    }
    headers = curl_slist_append(headers, "charset: utf-8");
    curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    perform(h, url, timeout_ms, headers, r);
    curl_slist_free_all(headers);
}

/* One body to one URL with the result retry rule. Returns the last HTTP status (0: none). */
static long post_with_retries(rp_http *h, const char *url, const char *job_id, const char *body,
                              const char *what)
{
    long waits[2] = {h->pf->retry_wait_ms, h->pf->retry_wait_ms * 3 / 2};
    long status = 0;
    for (int attempt = 1; attempt <= 3; attempt++) {
        rp_response r;
        rp_http_post(h, url, body, job_id, 30000, &r);
        status = r.status;
        bool transient = r.rc != CURLE_OK || r.status >= 500;
        if (r.rc != CURLE_OK)
            rp_log(RP_WARN, job_id, "%s post failed (attempt %d of 3): %s", what, attempt, r.error);
        else if (r.status >= 300)
            rp_log(RP_WARN, job_id, "%s post answered HTTP %ld (attempt %d of 3)", what, r.status,
                   attempt);
        rp_response_free(&r);
        if (!transient || attempt == 3)
            break;
        rp_sleep_ms(waits[attempt - 1]);
    }
    return status;
}

bool rp_post_result(rp_http *h, const char *job_id, const char *body, bool is_stream)
{
    if (!h->pf->done_template) {
        rp_log(RP_ERROR, job_id, "RUNPOD_WEBHOOK_POST_OUTPUT is not set: the result is lost");
        return false;
    }
    char *url = rp_job_url(h->pf->done_template, job_id, is_stream);
    if (!url)
        return false;
    long status = post_with_retries(h, url, job_id, body, "result");
    if (status == 400 || status == 413) {
        /* A refused body would leave the job COMPLETED with no output: say why instead. */
        char small[160];
        snprintf(small, sizeof small,
                 "{\"error\":\"{\\\"type\\\":\\\"result_rejected\\\",\\\"message\\\":\\\"the "
                 "platform refused the result (HTTP %ld, %zu bytes)\\\"}\"}",
                 status, strlen(body));
        status = post_with_retries(h, url, job_id, small, "error");
        if (status >= 200 && status < 300)
            status = 0; /* delivered, but not the result */
    }
    free(url);
    bool ok = status >= 200 && status < 300;
    if (!ok)
        rp_log(RP_ERROR, job_id, "failed to return the job's result (last HTTP status %ld)",
               status);
    return ok;
}

bool rp_post_stream(rp_http *h, const char *job_id, const char *body)
{
    if (!h->pf->stream_template)
        return false;
    char *url = rp_job_url(h->pf->stream_template, job_id, false);
    if (!url)
        return false;
    long status = post_with_retries(h, url, job_id, body, "stream");
    free(url);
    return status >= 200 && status < 300;
}

void rp_ping_unhealthy(const rp_platform *pf, const char *check, const char *reason)
{
    if (!pf->ping_url)
        return;
    rp_http h;
    if (rp_http_init(&h, pf) != 0)
        return;
    char cut[257];
    snprintf(cut, sizeof cut, "%s", reason);
    char *c = curl_easy_escape(h.curl, check, 0);
    char *r = curl_easy_escape(h.curl, cut, 0);
    char *param = NULL, *url = NULL;
    if (c && r && asprintf(&param, "status=unhealthy&check=%s&reason=%s&runpod_version=sparkhost-%s",
                           c, r, spark_engine_version()) >= 0)
        url = rp_url_add_param(pf->ping_url, param);
    if (url) {
        rp_response resp;
        rp_http_get(&h, url, 2000, &resp);
        rp_response_free(&resp);
    }
    free(url);
    free(param);
    curl_free(c);
    curl_free(r);
    rp_http_free(&h);
}
