/* A small Hugging Face hub client: configuration from the environment, error reporting, the
 * repository listing, and the HTTP pieces the downloader shares with it. It prints nothing;
 * messages go through the log callback, so the CLI and the Runpod worker can both use it. */
#ifndef SPARK_HUB_CLIENT_H
#define SPARK_HUB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#define HUB_DEFAULT_ENDPOINT "https://huggingface.co"

typedef enum hub_status {
    HUB_OK = 0,
    HUB_ERR_AUTH,      /* 401/403: gated or private repository, or a refused token */
    HUB_ERR_NOT_FOUND, /* 404: repository, revision or file */
    HUB_ERR_NETWORK,   /* a transfer failed at the network level, after the retries */
    HUB_ERR_HTTP,      /* another HTTP status, or 429/5xx after the retries */
    HUB_ERR_PROTOCOL,  /* the hub's answer made no sense (bad JSON, unsafe path) */
    HUB_ERR_CHECKSUM,  /* a file's SHA-256 was wrong twice */
    HUB_ERR_IO,        /* the local file system */
    HUB_ERR_INTERNAL   /* out of memory, libcurl or thread set-up */
} hub_status;

typedef struct hub_error {
    hub_status status;
    char message[1024];
} hub_error;

/* Records the first error only (the error must start zeroed); later calls keep it. Returns the
 * status. */
hub_status hub_fail(hub_error *err, hub_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

enum { HUB_LOG_WARN = 1, HUB_LOG_INFO = 2, HUB_LOG_DEBUG = 3 };
typedef void (*hub_log_fn)(void *user, int level, const char *message);

typedef struct hub_config {
    const char *endpoint;   /* no trailing slash needed */
    const char *token;      /* NULL or "": anonymous; sent only to the endpoint's host */
    const char *user_agent;
    long connect_timeout_s;
    long low_speed_limit;   /* a transfer slower than this many bytes/s ... */
    long low_speed_time_s;  /* ... for this long is abandoned (and retried) */
    int max_attempts;       /* per request, for transient failures (429, 5xx, network) */
    long retry_base_ms;     /* first back-off; it doubles per attempt */
    hub_log_fn log;
    void *log_user;
} hub_config;

/* Defaults, then HF_ENDPOINT and HF_TOKEN from the environment. */
void hub_config_init(hub_config *c);
void hub_log(const hub_config *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct hub_file {
    char *path;        /* repository-relative, '/'-separated, checked safe */
    int64_t size;      /* -1 when the hub did not say */
    char sha256[65];   /* lower-case hex content digest of an LFS file; "" otherwise */
    char blob_id[41];  /* git object id; for LFS files that of the pointer; "" if unknown */
} hub_file;

typedef struct hub_listing {
    char *commit; /* the commit the revision resolved to; NULL if the hub did not say */
    hub_file *files;
    size_t count;
} hub_listing;

/* curl_global_init, once per process, thread-safe. */
hub_status hub_global_init(hub_error *err);

bool hub_repo_id_valid(const char *repo);

/* GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true, with retries. */
hub_status hub_list(const hub_config *c, const char *repo, const char *revision, hub_listing *out,
                    hub_error *err);
void hub_listing_free(hub_listing *l);

/* Whether Spark-TTS inference reads the file: config.yaml, LLM/, BiCodec/ and three files of
 * wav2vec2-large-xlsr-53/. */
bool hub_is_inference_file(const char *path);
/* Names the first inference file the listing lacks, or NULL when it has them all. */
const char *hub_missing_inference_file(const hub_listing *l);

/* ---- HTTP pieces shared by the listing and the downloader ---- */

/* What the headers of a transfer said. The linked_* fields come from the hub's answer before
 * its redirect to the CDN, so they survive later responses; the rest describe the last one. */
typedef struct hub_response {
    long status;
    int64_t range_start;   /* from Content-Range, -1 if none */
    long retry_after_s;    /* -1 if none */
    char linked_etag[72];  /* X-Linked-Etag without quotes: the SHA-256 of an LFS file */
    int64_t linked_size;   /* X-Linked-Size, -1 if none */
    char error_code[64];   /* X-Error-Code, e.g. RepoNotFound, RevisionNotFound, GatedRepo */
    char error_message[256];
} hub_response;

void hub_response_reset(hub_response *r);
/* CURLOPT_HEADERFUNCTION body: parses one header line into r. */
void hub_response_header(hub_response *r, const char *line, size_t len);

/* An easy handle with the common options: user agent, redirects, protocols, timeouts, the
 * error buffer (CURL_ERROR_SIZE bytes) and the bearer token in *headers (free with
 * curl_slist_free_all after the handle). */
CURL *hub_easy_new(const hub_config *c, char *errbuf, struct curl_slist **headers, hub_error *err);

/* {endpoint}/{repo}/resolve/{revision}/{path}, percent-encoded; NULL when out of memory. */
char *hub_resolve_url(const hub_config *c, const char *repo, const char *revision,
                      const char *path);

bool hub_transient(CURLcode rc, long http_status);
/* How long to wait before attempt number `attempt` + 1 (attempt counts from 1). */
long hub_backoff_ms(const hub_config *c, int attempt, long retry_after_s);
void hub_sleep_ms(long ms);

/* Turns a failed HTTP status into an error about `what` (the repository or a file). */
hub_status hub_http_error(const hub_config *c, hub_error *err, const hub_response *r,
                          const char *repo, const char *revision, const char *what);
/* A failed transfer: curl's own message, or curl_easy_strerror when it left none. */
hub_status hub_network_error(hub_error *err, CURLcode rc, const char *errbuf, const char *what);

#endif
