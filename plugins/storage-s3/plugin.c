/* plugin.c - entry and descriptor of the storage-s3 plugin. The backend's work is in
 * storage_s3.c on top of the client of s3_client.c. */
#include <spark/plugin.h>

#include <string.h>

#include "storage_s3.h"

static const char *const s3_schemes[] = {"s3", "https", NULL};
static const char *const s3_addressing_choices[] = {"auto", "path", "virtual", NULL};

#define SECRET (SPARK_PARAM_SECRET)
#define RANGE (SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX)

static const spark_param_desc s3_params[] = {
    {STORAGE_S3_PARAM_ENDPOINT, SPARK_PARAM_URL, 0, NULL, 0, 0, 2047, 0, NULL,
     "S3 endpoint URL (no default), for example http://127.0.0.1:9000 or https://<account>.r2."
     "cloudflarestorage.com. Unset or empty: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL from the "
     "environment, else AWS S3 of the region."},
    {STORAGE_S3_PARAM_REGION, SPARK_PARAM_STRING, 0, "", 0, 0, 64, 0, NULL,
     "Signing region. Empty: AWS_REGION, then AWS_DEFAULT_REGION, then the profile's region "
     "in the config file, else us-east-1."},
    {STORAGE_S3_PARAM_ACCESS_KEY_ID, SPARK_PARAM_STRING, SECRET, "", 0, 0, 256, 0, NULL,
     "Access key id. Empty: AWS_ACCESS_KEY_ID, else the profile's aws_access_key_id."},
    {STORAGE_S3_PARAM_SECRET_ACCESS_KEY, SPARK_PARAM_STRING, SECRET, "", 0, 0, 256, 0, NULL,
     "Secret access key. Empty: AWS_SECRET_ACCESS_KEY, else the profile's "
     "aws_secret_access_key."},
    {STORAGE_S3_PARAM_SESSION_TOKEN, SPARK_PARAM_STRING, SECRET, "", 0, 0, 4096, 0, NULL,
     "Session token of temporary credentials. Empty: AWS_SESSION_TOKEN with keys from the "
     "environment, the profile's aws_session_token with keys from a profile (optional)."},
    {STORAGE_S3_PARAM_PROFILE, SPARK_PARAM_STRING, 0, "", 0, 0, 128, 0, NULL,
     "Profile of the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else "
     "~/.aws/credentials; its region from AWS_CONFIG_FILE, else ~/.aws/config). Empty: "
     "AWS_PROFILE, else default, used when neither the parameters nor the environment give "
     "keys. A profile named here is used before the environment's keys, as in the AWS SDKs."},
    {STORAGE_S3_PARAM_ADDRESSING, SPARK_PARAM_ENUM, 0, "auto", 0, 0, 0, 0,
     s3_addressing_choices,
     "path (endpoint/bucket/key), virtual (bucket.endpoint/key), or auto (virtual on AWS "
     "when the bucket name allows it, path elsewhere)."},
    {STORAGE_S3_PARAM_PRESIGN_EXPIRY, SPARK_PARAM_INTEGER, RANGE, "3600", 1, 604800, 0, 0,
     NULL, "Seconds the presigned GET URL returned for each written object stays valid."},
    {STORAGE_S3_PARAM_MULTIPART_THRESHOLD, SPARK_PARAM_INTEGER, RANGE, "16777216", 1,
     5497558138880.0, 0, 0, NULL,
     "Objects larger than this many bytes are uploaded in parts (multipart upload); a write "
     "past it is spooled to a temporary file in TMPDIR (else /tmp) instead of memory."},
    {STORAGE_S3_PARAM_PART_SIZE, SPARK_PARAM_INTEGER, RANGE, "8388608", 5242880,
     5368709120.0, 0, 0, NULL, "Bytes per part of a multipart upload (5 MiB to 5 GiB)."},
    {STORAGE_S3_PARAM_MAX_OBJECT_SIZE, SPARK_PARAM_INTEGER, RANGE, "1073741824", 1,
     68719476736.0, 0, 0, NULL, "Largest object a read accepts, in bytes."},
};

static const spark_storage_desc s3_backend = {
    .struct_size = sizeof(spark_storage_desc),
    .param_count = sizeof s3_params / sizeof s3_params[0],
    .id = "org.sparkhost.storage.s3",
    .name = "S3",
    .version = "1.0.0",
    .description = "Reads and writes s3://bucket/key objects on AWS S3 or an S3-compatible "
                   "store (SigV4-signed, multipart above a threshold, retried), and reads "
                   "presigned https:// URLs. A write becomes visible only on commit and "
                   "returns a presigned GET URL; a cancelled job aborts its upload. "
                   "Credentials come from the parameters, the usual AWS environment variables "
                   "or a shared credentials profile and never appear in messages.",
    .schemes = s3_schemes,
    .params = s3_params,
    .ops = &storage_s3_ops,
};

static const spark_storage_desc *const s3_backends[] = {&s3_backend};

static const spark_storage_factory s3_factory = {
    .struct_size = sizeof(spark_storage_factory),
    .backend_count = 1,
    .backends = s3_backends,
};

static const void *s3_get_factory(const char *factory_id)
{
    if (factory_id && strcmp(factory_id, SPARK_FACTORY_STORAGE) == 0)
        return &s3_factory;
    return NULL;
}

SPARK_PLUGIN_ENTRY = {
    .struct_size = sizeof(spark_entry),
    .abi = SPARK_ABI_VERSION_INIT,
    .name = "storage-s3",
    .version = "1.0.0",
    .get_factory = s3_get_factory,
};
