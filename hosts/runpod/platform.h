/* The worker's side of the platform protocol (spec/runpod-protocol.md): settings from the
 * environment, URL templates, and the HTTP calls (job-take, job-stop, job-done, stream, ping).
 * Every call uses the caller's own rp_http (libcurl easy handles are not thread-safe). */
#ifndef RP_PLATFORM_H
#define RP_PLATFORM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

typedef struct rp_platform {
    char *take_url;       /* job-take, ids filled in; NULL when not deployed */
    char *take_batch_url; /* /job-take-batch/, or NULL when the template has no /job-take/ */
    char *stop_url;       /* /job-stop/, or NULL likewise */
    char *done_template;  /* worker id filled in, $ID left for the job id */
    char *stream_template;
    char *ping_url; /* NULL: no heartbeat */
    char *api_key;  /* never logged */
    char *worker_id;
    long ping_interval_ms;
    long take_timeout_ms;   /* client bound on the job-take and job-stop long polls */
    long retry_wait_ms;     /* first wait before re-posting a result; the second is 1.5x */
    long backoff_429_ms;    /* after a 429 */
    long error_sleep_ms;    /* after another failure or a suspiciously quick empty answer */
} rp_platform;

/* Reads RUNPOD_* (and the test-only SPARKHOST_RUNPOD_* timing overrides). Returns false when
 * RUNPOD_WEBHOOK_GET_JOB is unset (local mode); the struct is then still usable for freeing. */
bool rp_platform_from_env(rp_platform *pf);
void rp_platform_free(rp_platform *pf);

/* url + "name=value" joined by '?', '&' or nothing, as the URL needs. malloc'd. */
char *rp_url_add_param(const char *url, const char *param);
/* The done or stream URL of one job. malloc'd. */
char *rp_job_url(const char *tmpl, const char *job_id, bool is_stream);

typedef struct rp_http {
    CURL *curl;
    struct curl_slist *headers;
    const rp_platform *pf;
    const atomic_bool *abort; /* when set and true, a transfer in progress ends at once */
} rp_http;

typedef struct rp_response {
    CURLcode rc;
    long status;   /* 0 when the transfer failed */
    char *body;    /* NUL-terminated, may be empty */
    size_t len;
    bool json;     /* Content-Type says application/json */
    char error[CURL_ERROR_SIZE];
} rp_response;

int rp_http_init(rp_http *h, const rp_platform *pf);
void rp_http_free(rp_http *h);
void rp_response_free(rp_response *r);

/* GET with a timeout; h->abort is polled during the transfer. */
void rp_http_get(rp_http *h, const char *url, long timeout_ms, rp_response *r);
/* POST a JSON body the way the SDK does (form content type, charset and X-Request-ID). */
void rp_http_post(rp_http *h, const char *url, const char *body, const char *job_id,
                  long timeout_ms, rp_response *r);

/* Posts a job's final body to job-done: up to 3 attempts on 5xx and transport failures,
 * waiting retry_wait_ms then 1.5x that. A 400/413 (body refused, usually too large) is
 * followed by one small error body so the job still ends FAILED rather than empty.
 * Returns true when the platform took the result. */
bool rp_post_result(rp_http *h, const char *job_id, const char *body, bool is_stream);
/* Posts one streamed chunk {"output": ...} to the stream URL (same retries). */
bool rp_post_stream(rp_http *h, const char *job_id, const char *body);

/* One best-effort heartbeat saying the worker cannot serve (status=unhealthy, the check that
 * failed and why, at most 256 characters), 2 s timeout, as the SDK does before exiting 1. */
void rp_ping_unhealthy(const rp_platform *pf, const char *check, const char *reason);

void rp_sleep_ms(long ms);

#endif
