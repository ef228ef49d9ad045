/* s3_sigv4.h - AWS Signature Version 4, S3 flavour: header signing and presigned URLs.
 * Free of libcurl and SDK types so it is tested alone (golden vectors, botocore).
 *
 * Paths and query parameters are given raw (not percent-encoded); the signer encodes them
 * with the S3 rule (bytes outside A-Z a-z 0-9 - . _ ~ as %XX, '/' kept in the path only,
 * path encoded once and never normalised), and the caller sends exactly the encoded forms
 * it returns, so what is sent is what was signed. */
#ifndef S3_SIGV4_H
#define S3_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "s3_buf.h"

enum { S3_PRESIGN_MAX_EXPIRES = 604800 }; /* 7 days, the AWS limit */

#define S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct s3_kv {
    const char *name;
    const char *value; /* NULL means empty (a query flag such as "uploads") */
} s3_kv;

typedef struct s3_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "" without temporary credentials */
} s3_credentials;

typedef struct s3_sign_input {
    const char *method;
    const char *path;   /* raw, starts with '/' */
    const s3_kv *query; /* raw names and values */
    size_t query_count;
    const s3_kv *headers; /* every header to sign; must include host */
    size_t header_count;
    const char *payload_hash; /* hex SHA-256 of the body or S3_UNSIGNED_PAYLOAD */
    const char *region;
    const char *service; /* "s3" */
    time_t when;         /* UTC seconds */
    /* Sign (and expect the caller to send) x-amz-content-sha256: always for S3. */
    bool add_content_sha256;
} s3_sign_input;

typedef struct s3_signature {
    char amz_date[17]; /* YYYYMMDDTHHMMSSZ */
    char signature[65];
    s3_buf canonical_request;
    s3_buf string_to_sign;
    s3_buf authorization; /* header mode: the Authorization header's value */
    s3_buf query;         /* presign mode: the whole encoded query, X-Amz-Signature last */
} s3_signature;

void s3_signature_init(s3_signature *sig);
void s3_signature_free(s3_signature *sig);

/* Percent-encode bytes[len] with the S3 rule; '/' kept when keep_slash. */
void s3_uri_encode(s3_buf *out, const char *bytes, size_t len, bool keep_slash);
/* The canonical (and sent) query: names and values encoded, sorted, "name=" when empty. */
bool s3_canonical_query(s3_buf *out, const s3_kv *query, size_t count);

/* Header mode. The caller sends x-amz-date (sig->amz_date), x-amz-content-sha256 (when
 * add_content_sha256), x-amz-security-token (when a token is set) and Authorization. */
bool s3_sign_headers(const s3_sign_input *input, const s3_credentials *creds,
                     s3_signature *sig);
/* Presign (query mode) with an expiry of 1..S3_PRESIGN_MAX_EXPIRES seconds; payload_hash
 * is S3_UNSIGNED_PAYLOAD for S3. sig->query is the URL's whole query string. */
bool s3_presign(const s3_sign_input *input, const s3_credentials *creds, long expires,
                s3_signature *sig);

#endif
