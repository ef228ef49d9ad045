/* s3_crypto.h - the digests SigV4 and the integrity checks need, on OpenSSL's EVP. */
#ifndef S3_CRYPTO_H
#define S3_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { S3_SHA256_LEN = 32, S3_MD5_LEN = 16, S3_SHA256_HEX_LEN = 64 };

bool s3_sha256(const void *data, size_t len, uint8_t out[S3_SHA256_LEN]);
bool s3_md5(const void *data, size_t len, uint8_t out[S3_MD5_LEN]);
bool s3_hmac_sha256(const void *key, size_t key_len, const void *data, size_t data_len,
                    uint8_t out[S3_SHA256_LEN]);
/* Lowercase hex of bytes[len] into out[2 * len + 1]. */
void s3_hex(const uint8_t *bytes, size_t len, char *out);
/* Lowercase hex SHA-256 of data into out[65]. */
bool s3_sha256_hex(const void *data, size_t len, char out[S3_SHA256_HEX_LEN + 1]);
/* Standard base64 (with padding) of bytes[len] into out, which holds 4 * ((len + 2) / 3) + 1. */
void s3_base64(const uint8_t *bytes, size_t len, char *out);

/* Incremental MD5 and SHA-256 over a stream (for downloads and multipart parts). */
typedef struct s3_digest s3_digest;
s3_digest *s3_digest_new_md5(void);
s3_digest *s3_digest_new_sha256(void);
bool s3_digest_update(s3_digest *digest, const void *data, size_t len);
/* Writes the digest (16 or 32 bytes) and frees the state. */
bool s3_digest_final(s3_digest *digest, uint8_t *out);
void s3_digest_free(s3_digest *digest);

#endif
