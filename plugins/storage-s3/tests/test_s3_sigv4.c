/* The signer against the AWS S3 documentation examples and the aws-c-auth SigV4 suite
 * (spec io-plugins.md 1.5), byte for byte, plus the encoding rules and refusals. */
#include "check.h"

#include <string.h>

#include "s3_sigv4.h"

static const s3_credentials aws_doc_creds = {"AKIAIOSFODNN7EXAMPLE",
                                             "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL};
static const time_t aws_doc_time = 1369353600; /* 2013-05-24T00:00:00Z */
static const char doc_host[] = "examplebucket.s3.amazonaws.com";

static s3_sign_input doc_input(const char *method, const char *path, const s3_kv *headers,
                               size_t header_count, const char *payload_hash)
{
    s3_sign_input input = {0};
    input.method = method;
    input.path = path;
    input.headers = headers;
    input.header_count = header_count;
    input.payload_hash = payload_hash;
    input.region = "us-east-1";
    input.service = "s3";
    input.when = aws_doc_time;
    input.add_content_sha256 = true;
    return input;
}

static void test_get_object_range(void)
{
    const s3_kv headers[] = {{"Host", doc_host}, {"Range", "bytes=0-9"}};
    s3_sign_input input = doc_input("GET", "/test.txt", headers, 2, S3_EMPTY_SHA256);
    s3_signature sig;
    s3_signature_init(&sig);
    CHECK(s3_sign_headers(&input, &aws_doc_creds, &sig));
    CHECK_STR_EQ(s3_buf_str(&sig.canonical_request),
                 "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                 "x-amz-content-sha256:" S3_EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
                 "host;range;x-amz-content-sha256;x-amz-date\n" S3_EMPTY_SHA256);
    CHECK_STR_EQ(s3_buf_str(&sig.string_to_sign),
                 "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                 "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    CHECK_STR_EQ(sig.signature,
                 "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    CHECK_STR_EQ(s3_buf_str(&sig.authorization),
                 "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                 "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                 "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    s3_signature_free(&sig);
}

static void test_put_object(void)
{
    const s3_kv headers[] = {{"Host", doc_host},
                             {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                             {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
    s3_sign_input input = doc_input(
        "PUT", "/test$file.text", headers, 3,
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    s3_signature sig;
    s3_signature_init(&sig);
    CHECK(s3_sign_headers(&input, &aws_doc_creds, &sig));
    CHECK(strncmp(s3_buf_str(&sig.canonical_request), "PUT\n/test%24file.text\n\n", 23) == 0);
    CHECK_STR_CONTAINS(s3_buf_str(&sig.authorization),
                       "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
                       "x-amz-storage-class,");
    CHECK_STR_EQ(sig.signature,
                 "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    s3_signature_free(&sig);
}

static void test_bucket_queries(void)
{
    const s3_kv headers[] = {{"Host", doc_host}};
    s3_signature sig;

    const s3_kv lifecycle[] = {{"lifecycle", NULL}};
    s3_sign_input input = doc_input("GET", "/", headers, 1, S3_EMPTY_SHA256);
    input.query = lifecycle;
    input.query_count = 1;
    s3_signature_init(&sig);
    CHECK(s3_sign_headers(&input, &aws_doc_creds, &sig));
    CHECK(strncmp(s3_buf_str(&sig.canonical_request), "GET\n/\nlifecycle=\n", 17) == 0);
    CHECK_STR_EQ(sig.signature,
                 "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    s3_signature_free(&sig);

    /* Given out of order: the canonical query sorts them. */
    const s3_kv list[] = {{"prefix", "J"}, {"max-keys", "2"}};
    input.query = list;
    input.query_count = 2;
    s3_signature_init(&sig);
    CHECK(s3_sign_headers(&input, &aws_doc_creds, &sig));
    CHECK(strncmp(s3_buf_str(&sig.canonical_request), "GET\n/\nmax-keys=2&prefix=J\n", 26) ==
          0);
    CHECK_STR_EQ(sig.signature,
                 "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    s3_signature_free(&sig);
}

static void test_presigned_get(void)
{
    const s3_kv headers[] = {{"Host", doc_host}};
    s3_sign_input input = doc_input("GET", "/test.txt", headers, 1, S3_UNSIGNED_PAYLOAD);
    s3_signature sig;
    s3_signature_init(&sig);
    CHECK(s3_presign(&input, &aws_doc_creds, 86400, &sig));
    CHECK_STR_EQ(s3_buf_str(&sig.string_to_sign),
                 "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                 "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
    CHECK_STR_EQ(sig.signature,
                 "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    CHECK_STR_EQ(s3_buf_str(&sig.query),
                 "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F"
                 "20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&"
                 "X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
                 "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    s3_signature_free(&sig);

    /* Expiry bounds: 1 s to 7 days. */
    s3_signature_init(&sig);
    CHECK(!s3_presign(&input, &aws_doc_creds, 0, &sig));
    CHECK(!s3_presign(&input, &aws_doc_creds, S3_PRESIGN_MAX_EXPIRES + 1, &sig));
    CHECK(s3_presign(&input, &aws_doc_creds, S3_PRESIGN_MAX_EXPIRES, &sig));
    CHECK_STR_CONTAINS(s3_buf_str(&sig.query), "X-Amz-Expires=604800&");
    s3_signature_free(&sig);
}

/* aws-c-auth tests/aws-signing-test-suite/v4 (service "service", path "/"). */
static const s3_credentials suite_creds = {"AKIDEXAMPLE",
                                           "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};
static const time_t suite_time = 1440938160; /* 2015-08-30T12:36:00Z */

static void test_suite_get_vanilla(void)
{
    const s3_kv headers[] = {{"Host", "example.amazonaws.com"}};
    s3_sign_input input = {0};
    input.method = "GET";
    input.path = "/";
    input.headers = headers;
    input.header_count = 1;
    input.payload_hash = S3_EMPTY_SHA256;
    input.region = "us-east-1";
    input.service = "service";
    input.when = suite_time;
    s3_signature sig;
    s3_signature_init(&sig);
    CHECK(s3_sign_headers(&input, &suite_creds, &sig));
    CHECK_STR_EQ(sig.signature,
                 "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    CHECK_STR_EQ(s3_buf_str(&sig.authorization),
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                 "aws4_request, SignedHeaders=host;x-amz-date, Signature="
                 "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    s3_signature_free(&sig);

    s3_signature_init(&sig);
    CHECK(s3_presign(&input, &suite_creds, 3600, &sig));
    CHECK_STR_EQ(sig.signature,
                 "e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d");
    s3_signature_free(&sig);

    /* get-vanilla-with-session-token, header mode: the token is a signed header. */
    const s3_credentials token_creds = {
        suite_creds.access_key_id, suite_creds.secret_access_key,
        "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"};
    s3_signature_init(&sig);
    CHECK(s3_sign_headers(&input, &token_creds, &sig));
    CHECK_STR_CONTAINS(s3_buf_str(&sig.authorization),
                       "SignedHeaders=host;x-amz-date;x-amz-security-token,");
    CHECK_STR_EQ(sig.signature,
                 "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
    s3_signature_free(&sig);
}

static void test_encoding_rules(void)
{
    s3_buf buf;
    s3_buf_init(&buf);
    const char key[] = "/dir/a b+c=d~e_f-g.h/\xc3\xa9?#%&*";
    s3_uri_encode(&buf, key, strlen(key), true);
    CHECK_STR_EQ(s3_buf_str(&buf), "/dir/a%20b%2Bc%3Dd~e_f-g.h/%C3%A9%3F%23%25%26%2A");
    s3_buf_reset(&buf);
    s3_uri_encode(&buf, "a/b c", 5, false);
    CHECK_STR_EQ(s3_buf_str(&buf), "a%2Fb%20c");
    s3_buf_reset(&buf);
    /* S3 paths are not normalised: "//" and ".." stay. */
    s3_uri_encode(&buf, "/b//../k", 8, true);
    CHECK_STR_EQ(s3_buf_str(&buf), "/b//../k");
    s3_buf_reset(&buf);
    const s3_kv query[] = {{"b", "2"}, {"a", "z"}, {"a", "y"}, {"uploads", NULL}, {"sp ace", "/"}};
    CHECK(s3_canonical_query(&buf, query, 5));
    CHECK_STR_EQ(s3_buf_str(&buf), "a=y&a=z&b=2&sp%20ace=%2F&uploads=");
    s3_buf_free(&buf);
}

static void test_header_canonical_form(void)
{
    const s3_kv headers[] = {{"Host", "h"},
                             {"X-Amz-Meta-A-B", "  one   two  "},
                             {"x-amz-meta-a", "1"},
                             {"X-AMZ-META-A", "2"}};
    s3_sign_input input = doc_input("GET", "/k", headers, 4, S3_EMPTY_SHA256);
    s3_signature sig;
    s3_signature_init(&sig);
    CHECK(s3_sign_headers(&input, &aws_doc_creds, &sig));
    CHECK_STR_CONTAINS(s3_buf_str(&sig.canonical_request),
                       "\nhost:h\nx-amz-content-sha256:" S3_EMPTY_SHA256
                       "\nx-amz-date:20130524T000000Z\nx-amz-meta-a:1,2\n"
                       "x-amz-meta-a-b:one two\n\n"
                       "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-amz-meta-a-b\n");
    s3_signature_free(&sig);

    /* Missing pieces are refused, not signed. */
    s3_sign_input bad = input;
    bad.path = "k";
    s3_signature_init(&sig);
    CHECK(!s3_sign_headers(&bad, &aws_doc_creds, &sig));
    bad = input;
    bad.region = "";
    CHECK(!s3_sign_headers(&bad, &aws_doc_creds, &sig));
    s3_signature_free(&sig);
}

int main(void)
{
    test_get_object_range();
    test_put_object();
    test_bucket_queries();
    test_presigned_get();
    test_suite_get_vanilla();
    test_encoding_rules();
    test_header_canonical_form();
    return CHECK_DONE();
}
