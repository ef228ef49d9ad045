/* s3_crypto.c - digests on OpenSSL's EVP (the one-shot MD5() is deprecated in OpenSSL 3). */
#include "s3_crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

static bool digest_once(const EVP_MD *md, const void *data, size_t len, uint8_t *out)
{
    unsigned int out_len = 0;
    return EVP_Digest(data, len, out, &out_len, md, NULL) == 1;
}

bool s3_sha256(const void *data, size_t len, uint8_t out[S3_SHA256_LEN])
{
    return digest_once(EVP_sha256(), data, len, out);
}

bool s3_md5(const void *data, size_t len, uint8_t out[S3_MD5_LEN])
{
    return digest_once(EVP_md5(), data, len, out);
}

bool s3_hmac_sha256(const void *key, size_t key_len, const void *data, size_t data_len,
                    uint8_t out[S3_SHA256_LEN])
{
    unsigned int out_len = 0;
    if (key_len > (size_t)INT32_MAX)
        return false;
    return HMAC(EVP_sha256(), key, (int)key_len, data, data_len, out, &out_len) != NULL &&
           out_len == S3_SHA256_LEN;
}

void s3_hex(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

bool s3_sha256_hex(const void *data, size_t len, char out[S3_SHA256_HEX_LEN + 1])
{
    uint8_t hash[S3_SHA256_LEN];
    if (!s3_sha256(data, len, hash))
        return false;
    s3_hex(hash, sizeof hash, out);
    return true;
}

void s3_base64(const uint8_t *bytes, size_t len, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, bytes, (int)len);
}

struct s3_digest {
    EVP_MD_CTX *ctx;
};

static s3_digest *digest_new(const EVP_MD *md)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return NULL;
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    s3_digest *digest = OPENSSL_malloc(sizeof *digest);
    if (!digest) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    digest->ctx = ctx;
    return digest;
}

s3_digest *s3_digest_new_md5(void)
{
    return digest_new(EVP_md5());
}

s3_digest *s3_digest_new_sha256(void)
{
    return digest_new(EVP_sha256());
}

bool s3_digest_update(s3_digest *digest, const void *data, size_t len)
{
    return EVP_DigestUpdate(digest->ctx, data, len) == 1;
}

bool s3_digest_final(s3_digest *digest, uint8_t *out)
{
    unsigned int out_len = 0;
    bool ok = EVP_DigestFinal_ex(digest->ctx, out, &out_len) == 1;
    s3_digest_free(digest);
    return ok;
}

void s3_digest_free(s3_digest *digest)
{
    if (!digest)
        return;
    EVP_MD_CTX_free(digest->ctx);
    OPENSSL_free(digest);
}
