/* s3_profile.h - a named profile of the shared AWS files: keys from the credentials file
 * (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials, sections "[name]") and the region
 * from the config file (AWS_CONFIG_FILE, else ~/.aws/config, sections "[profile name]" and
 * "[default]"), in the INI form the AWS SDKs read. Free of libcurl and SDK types. */
#ifndef S3_PROFILE_H
#define S3_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct s3_profile {
    bool found;              /* a section of that name is in either file */
    char *access_key_id;     /* NULL when not set */
    char *secret_access_key; /* NULL when not set */
    char *session_token;     /* NULL when not set */
    char *region;            /* NULL when not set */
} s3_profile;

/* The path of a shared file: the environment variable env_name when set, else
 * $HOME/.aws/leaf. Allocated; NULL when neither is known. */
char *s3_profile_path(const char *env_name, const char *leaf);

/* Reads profile name from the two files (either may be NULL or absent: a missing file is
 * an empty one). Keys in the credentials file beat keys in the config file, as in the
 * SDKs. false with a message in error (naming the file, never a value) when a file exists
 * but cannot be read. */
bool s3_profile_load(const char *credentials_path, const char *config_path, const char *name,
                     s3_profile *out, char *error, size_t error_cap);
/* Frees the strings, wiping the secrets first. */
void s3_profile_free(s3_profile *profile);

#endif
