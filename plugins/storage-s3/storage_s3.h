/* storage_s3.h - the storage-backend operations of the S3 backend (org.sparkhost.storage.s3). */
#ifndef STORAGE_S3_H
#define STORAGE_S3_H

#include <spark/plugin.h>

/* Parameter keys, shared by the descriptor (plugin.c) and configure. */
#define STORAGE_S3_PARAM_ENDPOINT "endpoint"
#define STORAGE_S3_PARAM_REGION "region"
#define STORAGE_S3_PARAM_ACCESS_KEY_ID "access_key_id"
#define STORAGE_S3_PARAM_SECRET_ACCESS_KEY "secret_access_key"
#define STORAGE_S3_PARAM_SESSION_TOKEN "session_token"
#define STORAGE_S3_PARAM_ADDRESSING "addressing"
#define STORAGE_S3_PARAM_PRESIGN_EXPIRY "presign_expiry"
#define STORAGE_S3_PARAM_MULTIPART_THRESHOLD "multipart_threshold"
#define STORAGE_S3_PARAM_PART_SIZE "part_size"
#define STORAGE_S3_PARAM_MAX_OBJECT_SIZE "max_object_size"
#define STORAGE_S3_PARAM_PROFILE "profile"

#define STORAGE_S3_DEFAULT_PRESIGN_EXPIRY 3600
#define STORAGE_S3_DEFAULT_MULTIPART_THRESHOLD (16LL * 1024 * 1024)
#define STORAGE_S3_DEFAULT_PART_SIZE (8LL * 1024 * 1024)
#define STORAGE_S3_DEFAULT_MAX_OBJECT_SIZE (1024LL * 1024 * 1024)

extern const spark_storage_ops storage_s3_ops;

#endif
