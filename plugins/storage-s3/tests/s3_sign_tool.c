/* s3_sign_tool - signs requests read from stdin with the plugin's signer and prints the
 * results, so tests/sigv4_vs_botocore.py can compare them with botocore's. Strings are hex
 * so any byte (UTF-8 keys, spaces, reserved characters) passes through unchanged.
 *
 * Input, one request per block:
 *   mode header|presign   method M   path HEX   payload HASH   region R   time EPOCH
 *   expires N   key AKID   secret HEX   token HEX|-   query HEXNAME HEXVALUE|-
 *   header HEXNAME HEXVALUE   end
 * Output per block: "authorization <value>" (header) or "query <query>" (presign), or
 * "error" when the signer refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_sigv4.h"

enum { MAX_ITEMS = 64, LINE_MAX_BYTES = 1 << 16 };

static char *from_hex(const char *hex)
{
    size_t len = strlen(hex);
    char *out = malloc(len / 2 + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i + 1 < len + 1 && i / 2 < len / 2; i += 2) {
        unsigned value = 0;
        if (sscanf(hex + i, "%2x", &value) != 1) {
            free(out);
            return NULL;
        }
        out[i / 2] = (char)value;
    }
    out[len / 2] = '\0';
    return out;
}

typedef struct request_text {
    char mode[16], method[16], payload[80], region[128], key[256];
    long long when;
    long expires;
    char *path, *secret, *token;
    s3_kv query[MAX_ITEMS], headers[MAX_ITEMS];
    size_t query_count, header_count;
} request_text;

static void request_free(request_text *r)
{
    free(r->path);
    free(r->secret);
    free(r->token);
    for (size_t i = 0; i < r->query_count; i++) {
        free((char *)r->query[i].name);
        free((char *)r->query[i].value);
    }
    for (size_t i = 0; i < r->header_count; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
    memset(r, 0, sizeof *r);
}

static void sign_and_print(const request_text *r)
{
    s3_sign_input input = {0};
    input.method = r->method;
    input.path = r->path;
    input.query = r->query;
    input.query_count = r->query_count;
    input.headers = r->headers;
    input.header_count = r->header_count;
    input.payload_hash = r->payload;
    input.region = r->region;
    input.service = "s3";
    input.when = (time_t)r->when;
    input.add_content_sha256 = strcmp(r->mode, "header") == 0;
    s3_credentials creds = {r->key, r->secret, r->token};
    s3_signature sig;
    s3_signature_init(&sig);
    if (strcmp(r->mode, "header") == 0 && s3_sign_headers(&input, &creds, &sig))
        printf("authorization %s\n", s3_buf_str(&sig.authorization));
    else if (strcmp(r->mode, "presign") == 0 && s3_presign(&input, &creds, r->expires, &sig))
        printf("query %s\n", s3_buf_str(&sig.query));
    else
        printf("error\n");
    fflush(stdout);
    s3_signature_free(&sig);
}

/* Copies a request field; a value too long for it would sign something else, so say so. */
static void copy_field(char *dst, size_t capacity, const char *value, const char *name)
{
    size_t n = strlen(value);
    if (n >= capacity) {
        fprintf(stderr, "s3_sign_tool: %s is %zu bytes, at most %zu fit\n", name, n,
                capacity - 1);
        exit(2);
    }
    memcpy(dst, value, n + 1);
}

int main(void)
{
    static char line[LINE_MAX_BYTES];
    static char a[LINE_MAX_BYTES], b[LINE_MAX_BYTES];
    request_text r;
    memset(&r, 0, sizeof r);
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        a[0] = b[0] = '\0';
        char word[16] = "";
        int fields = sscanf(line, "%15s %65535s %65535s", word, a, b);
        if (fields < 1)
            continue;
        if (strcmp(word, "end") == 0) {
            sign_and_print(&r);
            request_free(&r);
        } else if (strcmp(word, "mode") == 0) {
            copy_field(r.mode, sizeof r.mode, a, word);
        } else if (strcmp(word, "method") == 0) {
            copy_field(r.method, sizeof r.method, a, word);
        } else if (strcmp(word, "payload") == 0) {
            copy_field(r.payload, sizeof r.payload, a, word);
        } else if (strcmp(word, "region") == 0) {
            copy_field(r.region, sizeof r.region, a, word);
        } else if (strcmp(word, "key") == 0) {
            copy_field(r.key, sizeof r.key, a, word);
        } else if (strcmp(word, "time") == 0) {
            r.when = atoll(a);
        } else if (strcmp(word, "expires") == 0) {
            r.expires = atol(a);
        } else if (strcmp(word, "path") == 0) {
            r.path = from_hex(a);
        } else if (strcmp(word, "secret") == 0) {
            r.secret = from_hex(a);
        } else if (strcmp(word, "token") == 0) {
            r.token = strcmp(a, "-") == 0 ? NULL : from_hex(a);
        } else if (strcmp(word, "query") == 0 && r.query_count < MAX_ITEMS) {
            s3_kv *kv = &r.query[r.query_count++];
            kv->name = from_hex(a);
            kv->value = strcmp(b, "-") == 0 ? NULL : from_hex(b);
        } else if (strcmp(word, "header") == 0 && r.header_count < MAX_ITEMS) {
            s3_kv *kv = &r.headers[r.header_count++];
            kv->name = from_hex(a);
            kv->value = fields == 3 ? from_hex(b) : from_hex("");
        } else {
            fprintf(stderr, "s3_sign_tool: bad line: %s\n", line);
            request_free(&r);
            return 2;
        }
    }
    request_free(&r);
    return 0;
}
