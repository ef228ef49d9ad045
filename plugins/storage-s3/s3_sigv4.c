/* s3_sigv4.c - SigV4 canonical request, string to sign, signing key and signature. */
#include "s3_sigv4.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_crypto.h"

void s3_signature_init(s3_signature *sig)
{
    memset(sig, 0, sizeof *sig);
    s3_buf_init(&sig->canonical_request);
    s3_buf_init(&sig->string_to_sign);
    s3_buf_init(&sig->authorization);
    s3_buf_init(&sig->query);
}

void s3_signature_free(s3_signature *sig)
{
    s3_buf_free(&sig->canonical_request);
    s3_buf_free(&sig->string_to_sign);
    s3_buf_free(&sig->authorization);
    s3_buf_free(&sig->query);
    /* The signature is a credential for a while: do not leave it in freed memory. */
    memset(sig->signature, 0, sizeof sig->signature);
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

void s3_uri_encode(s3_buf *out, const char *bytes, size_t len, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)bytes[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            s3_buf_putc(out, (char)c);
        } else {
            char escaped[3] = {'%', hex[c >> 4], hex[c & 15]};
            s3_buf_append(out, escaped, 3);
        }
    }
}

typedef struct encoded_pair {
    char *name;
    char *value;
} encoded_pair;

static int compare_pairs(const void *a, const void *b)
{
    const encoded_pair *x = a, *y = b;
    int by_name = strcmp(x->name, y->name);
    return by_name ? by_name : strcmp(x->value, y->value);
}

static char *encode_copy(const char *text)
{
    s3_buf buf;
    s3_buf_init(&buf);
    s3_uri_encode(&buf, text ? text : "", text ? strlen(text) : 0, false);
    return s3_buf_take(&buf);
}

bool s3_canonical_query(s3_buf *out, const s3_kv *query, size_t count)
{
    if (count == 0)
        return s3_buf_ok(out);
    encoded_pair *pairs = calloc(count, sizeof *pairs);
    bool ok = pairs != NULL;
    for (size_t i = 0; ok && i < count; i++) {
        pairs[i].name = encode_copy(query[i].name);
        pairs[i].value = encode_copy(query[i].value);
        ok = pairs[i].name && pairs[i].value;
    }
    if (ok) {
        qsort(pairs, count, sizeof *pairs, compare_pairs);
        for (size_t i = 0; i < count; i++) {
            if (i)
                s3_buf_putc(out, '&');
            s3_buf_puts(out, pairs[i].name);
            s3_buf_putc(out, '=');
            s3_buf_puts(out, pairs[i].value);
        }
    }
    for (size_t i = 0; pairs && i < count; i++) {
        free(pairs[i].name);
        free(pairs[i].value);
    }
    free(pairs);
    return ok && s3_buf_ok(out);
}

typedef struct canonical_header {
    char *name;  /* lowercase */
    char *value; /* trimmed, inner whitespace squeezed */
} canonical_header;

static int compare_headers(const void *a, const void *b)
{
    const canonical_header *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static char *lowercase_copy(const char *text)
{
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i <= len; i++)
        copy[i] = (char)tolower((unsigned char)text[i]);
    return copy;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static char *squeeze_copy(const char *text)
{
    s3_buf buf;
    s3_buf_init(&buf);
    s3_buf_reserve(&buf, strlen(text));
    bool pending_space = false;
    for (const char *p = text; *p; p++) {
        if (is_space(*p)) {
            pending_space = buf.len > 0;
            continue;
        }
        if (pending_space)
            s3_buf_putc(&buf, ' ');
        pending_space = false;
        s3_buf_putc(&buf, *p);
    }
    return s3_buf_take(&buf);
}

/* Canonical headers and SignedHeaders from the caller's headers plus the x-amz ones the
 * signer adds. Repeated names are merged with commas, in the order given. */
static bool build_headers(const s3_sign_input *input, const s3_kv *added, size_t added_count,
                          s3_buf *canonical, s3_buf *signed_names)
{
    size_t total = input->header_count + added_count;
    canonical_header *headers = calloc(total ? total : 1, sizeof *headers);
    bool ok = headers != NULL;
    for (size_t i = 0; ok && i < total; i++) {
        const s3_kv *kv = i < input->header_count ? &input->headers[i]
                                                  : &added[i - input->header_count];
        headers[i].name = lowercase_copy(kv->name);
        headers[i].value = squeeze_copy(kv->value ? kv->value : "");
        ok = headers[i].name && headers[i].value;
    }
    if (ok) {
        /* A stable sort keeps repeated headers in order: insertion sort, lists are short. */
        for (size_t i = 1; i < total; i++) {
            canonical_header moving = headers[i];
            size_t j = i;
            while (j > 0 && compare_headers(&headers[j - 1], &moving) > 0) {
                headers[j] = headers[j - 1];
                j--;
            }
            headers[j] = moving;
        }
        for (size_t i = 0; i < total; i++) {
            bool same_as_previous = i > 0 && strcmp(headers[i - 1].name, headers[i].name) == 0;
            if (same_as_previous) {
                canonical->len--; /* drop the previous line's '\n' and append */
                s3_buf_putc(canonical, ',');
            } else {
                if (signed_names->len)
                    s3_buf_putc(signed_names, ';');
                s3_buf_puts(signed_names, headers[i].name);
                s3_buf_puts(canonical, headers[i].name);
                s3_buf_putc(canonical, ':');
            }
            s3_buf_puts(canonical, headers[i].value);
            s3_buf_putc(canonical, '\n');
        }
    }
    for (size_t i = 0; headers && i < total; i++) {
        free(headers[i].name);
        free(headers[i].value);
    }
    free(headers);
    return ok && s3_buf_ok(canonical) && s3_buf_ok(signed_names);
}

static bool format_dates(time_t when, char amz_date[17], char date[9])
{
    struct tm utc;
    if (!gmtime_r(&when, &utc))
        return false;
    if (strftime(amz_date, 17, "%Y%m%dT%H%M%SZ", &utc) != 16)
        return false;
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    return true;
}

static void append_scope(s3_buf *out, const char *date, const s3_sign_input *input)
{
    s3_buf_printf(out, "%s/%s/%s/aws4_request", date, input->region, input->service);
}

/* canonical request -> string to sign -> signing key -> signature, into sig. */
static bool finish_signature(const s3_sign_input *input, const s3_credentials *creds,
                             const char *date, s3_signature *sig)
{
    char request_hash[S3_SHA256_HEX_LEN + 1];
    if (!s3_buf_ok(&sig->canonical_request) ||
        !s3_sha256_hex(sig->canonical_request.data, sig->canonical_request.len,
                       request_hash))
        return false;
    s3_buf_reset(&sig->string_to_sign);
    s3_buf_printf(&sig->string_to_sign, "AWS4-HMAC-SHA256\n%s\n", sig->amz_date);
    append_scope(&sig->string_to_sign, date, input);
    s3_buf_putc(&sig->string_to_sign, '\n');
    s3_buf_puts(&sig->string_to_sign, request_hash);
    if (!s3_buf_ok(&sig->string_to_sign))
        return false;

    s3_buf secret;
    s3_buf_init(&secret);
    s3_buf_puts(&secret, "AWS4");
    s3_buf_puts(&secret, creds->secret_access_key);
    uint8_t key[S3_SHA256_LEN];
    bool ok = s3_buf_ok(&secret) &&
              s3_hmac_sha256(secret.data, secret.len, date, strlen(date), key) &&
              s3_hmac_sha256(key, sizeof key, input->region, strlen(input->region), key) &&
              s3_hmac_sha256(key, sizeof key, input->service, strlen(input->service), key) &&
              s3_hmac_sha256(key, sizeof key, "aws4_request", 12, key);
    if (secret.data)
        memset(secret.data, 0, secret.len);
    s3_buf_free(&secret);
    uint8_t mac[S3_SHA256_LEN];
    ok = ok && s3_hmac_sha256(key, sizeof key, sig->string_to_sign.data,
                              sig->string_to_sign.len, mac);
    memset(key, 0, sizeof key);
    if (ok)
        s3_hex(mac, sizeof mac, sig->signature);
    return ok;
}

static bool has_token(const s3_credentials *creds)
{
    return creds->session_token && creds->session_token[0];
}

static bool input_valid(const s3_sign_input *input, const s3_credentials *creds)
{
    return input->method && input->path && input->path[0] == '/' && input->payload_hash &&
           input->region && input->region[0] && input->service && creds->access_key_id &&
           creds->secret_access_key;
}

bool s3_sign_headers(const s3_sign_input *input, const s3_credentials *creds,
                     s3_signature *sig)
{
    char date[9];
    if (!input_valid(input, creds) || !format_dates(input->when, sig->amz_date, date))
        return false;
    s3_kv added[3];
    size_t added_count = 0;
    if (input->add_content_sha256)
        added[added_count++] = (s3_kv){"x-amz-content-sha256", input->payload_hash};
    added[added_count++] = (s3_kv){"x-amz-date", sig->amz_date};
    if (has_token(creds))
        added[added_count++] = (s3_kv){"x-amz-security-token", creds->session_token};

    s3_buf headers, signed_names;
    s3_buf_init(&headers);
    s3_buf_init(&signed_names);
    s3_buf *cr = &sig->canonical_request;
    s3_buf_reset(cr);
    s3_buf_puts(cr, input->method);
    s3_buf_putc(cr, '\n');
    s3_uri_encode(cr, input->path, strlen(input->path), true);
    s3_buf_putc(cr, '\n');
    bool ok = s3_canonical_query(cr, input->query, input->query_count) &&
              build_headers(input, added, added_count, &headers, &signed_names);
    if (ok) {
        s3_buf_putc(cr, '\n');
        s3_buf_append(cr, headers.data, headers.len);
        s3_buf_putc(cr, '\n');
        s3_buf_append(cr, signed_names.data, signed_names.len);
        s3_buf_putc(cr, '\n');
        s3_buf_puts(cr, input->payload_hash);
        ok = finish_signature(input, creds, date, sig);
    }
    if (ok) {
        s3_buf *auth = &sig->authorization;
        s3_buf_reset(auth);
        s3_buf_printf(auth, "AWS4-HMAC-SHA256 Credential=%s/", creds->access_key_id);
        append_scope(auth, date, input);
        s3_buf_printf(auth, ", SignedHeaders=%s, Signature=%s", s3_buf_str(&signed_names),
                      sig->signature);
        ok = s3_buf_ok(auth);
    }
    s3_buf_free(&headers);
    s3_buf_free(&signed_names);
    return ok;
}

bool s3_presign(const s3_sign_input *input, const s3_credentials *creds, long expires,
                s3_signature *sig)
{
    char date[9];
    if (expires < 1 || expires > S3_PRESIGN_MAX_EXPIRES || !input_valid(input, creds) ||
        !format_dates(input->when, sig->amz_date, date))
        return false;

    s3_buf headers, signed_names, credential;
    s3_buf_init(&headers);
    s3_buf_init(&signed_names);
    s3_buf_init(&credential);
    s3_buf_printf(&credential, "%s/", creds->access_key_id);
    append_scope(&credential, date, input);
    char expires_text[24];
    snprintf(expires_text, sizeof expires_text, "%ld", expires);

    bool ok = s3_buf_ok(&credential) && build_headers(input, NULL, 0, &headers, &signed_names);
    size_t count = input->query_count + 6;
    s3_kv *query = ok ? calloc(count, sizeof *query) : NULL;
    ok = ok && query;
    if (ok) {
        size_t n = 0;
        for (; n < input->query_count; n++)
            query[n] = input->query[n];
        query[n++] = (s3_kv){"X-Amz-Algorithm", "AWS4-HMAC-SHA256"};
        query[n++] = (s3_kv){"X-Amz-Credential", credential.data};
        query[n++] = (s3_kv){"X-Amz-Date", sig->amz_date};
        query[n++] = (s3_kv){"X-Amz-Expires", expires_text};
        query[n++] = (s3_kv){"X-Amz-SignedHeaders", signed_names.data};
        if (has_token(creds))
            query[n++] = (s3_kv){"X-Amz-Security-Token", creds->session_token};
        count = n;
        s3_buf_reset(&sig->query);
        ok = s3_canonical_query(&sig->query, query, count);
    }
    if (ok) {
        s3_buf *cr = &sig->canonical_request;
        s3_buf_reset(cr);
        s3_buf_printf(cr, "%s\n", input->method);
        s3_uri_encode(cr, input->path, strlen(input->path), true);
        s3_buf_putc(cr, '\n');
        s3_buf_append(cr, sig->query.data, sig->query.len);
        s3_buf_putc(cr, '\n');
        s3_buf_append(cr, headers.data, headers.len);
        s3_buf_putc(cr, '\n');
        s3_buf_append(cr, signed_names.data, signed_names.len);
        s3_buf_putc(cr, '\n');
        s3_buf_puts(cr, input->payload_hash);
        ok = finish_signature(input, creds, date, sig);
    }
    if (ok) {
        s3_buf_printf(&sig->query, "&X-Amz-Signature=%s", sig->signature);
        ok = s3_buf_ok(&sig->query);
    }
    free(query);
    s3_buf_free(&headers);
    s3_buf_free(&signed_names);
    s3_buf_free(&credential);
    return ok;
}
