/* s3_client.h - an S3 client on libcurl with the plugin's own SigV4 signer: get, head, put
 * (single request or concurrent multipart), delete and presign, with retries and integrity
 * checks. Free of SDK types so tests drive it directly. Thread-safe: every call may come
 * from any thread; curl easy handles are pooled so connections are reused across calls. */
#ifndef S3_CLIENT_H
#define S3_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3_buf.h"

typedef enum s3_addressing { S3_ADDRESSING_AUTO, S3_ADDRESSING_PATH, S3_ADDRESSING_VIRTUAL } s3_addressing;

typedef struct s3_client_config {
    const char *endpoint;          /* "https://s3.us-east-1.amazonaws.com", "http://127.0.0.1:9000"; NULL: AWS for region */
    const char *region;
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;     /* NULL or "" */
    s3_addressing addressing;
    const char *resolve;           /* optional curl "host:port:address" pin (tests, split DNS) */
    long connect_timeout_ms;
    long request_timeout_ms;       /* one attempt */
    long low_speed_bytes;          /* abort an attempt slower than this ... */
    long low_speed_seconds;        /* ... for this long */
    int max_attempts;              /* per request, >= 1 */
    long total_timeout_ms;         /* all attempts of one request, backoff included */
    double backoff_base_s;         /* delay = random(0,1) * min(cap, base * 2^(attempt-1)) */
    double backoff_cap_s;
    uint64_t multipart_threshold;  /* objects above this go multipart */
    uint64_t part_size;            /* >= 5 MiB */
    int upload_threads;            /* parts in flight at once */
    void (*log)(void *user, int level, const char *message); /* level: 0 error 1 warn 2 info 3 debug */
    void *log_user;
    /* Polled during transfers and between parts; nonzero cancels (multipart is aborted). */
    int (*cancelled)(void *user);
    void *cancel_user;
} s3_client_config;

enum { S3_MIN_PART_SIZE = 5 * 1024 * 1024, S3_MAX_PARTS = 10000 };

typedef struct s3_error {
    int http_status;   /* 0 when no response */
    char code[64];     /* S3 error code, or a local one such as "ConnectionError" */
    char message[1024]; /* one line, names operation, bucket, key, code and S3's message */
    bool cancelled;
    bool not_found;
} s3_error;

typedef struct s3_client s3_client;

/* A per-call cancellation hook (a job's), polled during transfers, between attempts and
 * between parts; nonzero cancels. A cancelled multipart upload is aborted. NULL: none. */
typedef struct s3_cancel {
    int (*cancelled)(void *user);
    void *user;
} s3_cancel;

/* Copies the configuration. NULL with err filled when it is unusable. */
s3_client *s3_client_new(const s3_client_config *config, s3_error *err);
void s3_client_free(s3_client *client);

typedef struct s3_object_info {
    uint64_t size;
    char etag[80];
} s3_object_info;

/* Read a whole object (at most max_size bytes) into out. */
bool s3_get(s3_client *client, const char *bucket, const char *key, uint64_t max_size,
            const s3_cancel *cancel, s3_buf *out, s3_object_info *info, s3_error *err);
/* Where s3_get_to puts an object: straight into memory the sink hands out once the length
 * is known, so that a large object is not held twice (a buffer, then the caller's copy). */
typedef struct s3_sink {
    /* Memory for exactly size bytes, or NULL when out of memory. Called once per attempt
     * (again after a retried one: the caller may reuse or replace the earlier memory). */
    uint8_t *(*reserve)(void *user, uint64_t size);
    void *user;
} s3_sink;

/* As s3_get, into the memory of the sink's last reserve call; info->size bytes. */
bool s3_get_to(s3_client *client, const char *bucket, const char *key, uint64_t max_size,
               const s3_cancel *cancel, const s3_sink *sink, s3_object_info *info,
               s3_error *err);
bool s3_head(s3_client *client, const char *bucket, const char *key, s3_object_info *info,
             s3_error *err);
/* Single PUT up to the multipart threshold, multipart above it; nothing is visible
 * unless everything succeeded. */
bool s3_put(s3_client *client, const char *bucket, const char *key, const void *data,
            uint64_t size, const char *content_type, const s3_cancel *cancel,
            s3_object_info *info, s3_error *err);
/* As s3_put with the body in the first size bytes of the file fd (read with pread, so the
 * file offset is left alone). Memory stays bounded: at most upload_threads parts are held
 * at once, whatever the size. */
bool s3_put_file(s3_client *client, const char *bucket, const char *key, int fd,
                 uint64_t size, const char *content_type, const s3_cancel *cancel,
                 s3_object_info *info, s3_error *err);
bool s3_delete(s3_client *client, const char *bucket, const char *key, s3_error *err);
/* A presigned URL for method ("GET" or "PUT"), valid for expires seconds (1..604800). */
bool s3_presign_url(s3_client *client, const char *method, const char *bucket,
                    const char *key, long expires, s3_buf *url, s3_error *err);
/* GET a full URL as is (a presigned https URL), unsigned. */
bool s3_get_url(s3_client *client, const char *url, uint64_t max_size,
                const s3_cancel *cancel, s3_buf *out, s3_error *err);

/* Parse "s3://bucket/key" into bucket and key (allocated). */
bool s3_parse_url(const char *url, char **bucket, char **key);
/* "...1234": the last 4 characters of an access key id, for messages. */
void s3_key_id_hint(const char *access_key_id, char out[12]);

#endif
