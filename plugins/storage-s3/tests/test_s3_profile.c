/* The shared credentials and config file reader: sections, the config file's "profile "
 * prefix, comments, nested settings, precedence of the credentials file, missing files and
 * profiles, and the path variables. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3_profile.h"

static char dir[] = "/tmp/s3profile-XXXXXX";

static char *write_file(const char *leaf, const char *text)
{
    static char paths[4][512];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, 512, "%s/%s", dir, leaf);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static const char credentials_text[] =
    "# a comment\n"
    "[default]\n"
    "aws_access_key_id = AKIADEFAULT0000\n"
    "aws_secret_access_key=defaultSecret/with+chars=\n"
    "\n"
    "  ; another comment\n"
    "[ work ]\n"
    "AWS_ACCESS_KEY_ID =   AKIAWORK11112222   \r\n"
    "aws_secret_access_key = work secret with spaces\n"
    "aws_session_token = tokenWORK\n"
    "[workshop]\n"
    "aws_access_key_id = AKIAWRONGPROFILE\n";

static const char config_text[] =
    "[default]\n"
    "region = eu-west-3\n"
    "[profile work]\n"
    "region = ap-south-1\n"
    "aws_access_key_id = AKIACONFIGLOSES\n"
    "s3 =\n"
    "  region = nested-is-not-the-region\n"
    "  addressing_style = path\n"
    "[profile onlyconfig]\n"
    "aws_access_key_id = AKIAFROMCONFIG\n"
    "aws_secret_access_key = configSecret\n"
    "[work]\n"
    "region = sections-without-profile-prefix-do-not-count\n";

static void test_profiles(const char *credentials, const char *config)
{
    s3_profile p;
    char error[256];
    CHECK(s3_profile_load(credentials, config, "default", &p, error, sizeof error));
    CHECK(p.found);
    CHECK_STR_EQ(p.access_key_id, "AKIADEFAULT0000");
    CHECK_STR_EQ(p.secret_access_key, "defaultSecret/with+chars=");
    CHECK(p.session_token == NULL);
    CHECK_STR_EQ(p.region, "eu-west-3");
    s3_profile_free(&p);

    CHECK(s3_profile_load(credentials, config, "work", &p, error, sizeof error));
    CHECK(p.found);
    CHECK_STR_EQ(p.access_key_id, "AKIAWORK11112222");
    CHECK_STR_EQ(p.secret_access_key, "work secret with spaces");
    CHECK_STR_EQ(p.session_token, "tokenWORK");
    CHECK_STR_EQ(p.region, "ap-south-1");
    s3_profile_free(&p);

    CHECK(s3_profile_load(credentials, config, "onlyconfig", &p, error, sizeof error));
    CHECK(p.found);
    CHECK_STR_EQ(p.access_key_id, "AKIAFROMCONFIG");
    CHECK_STR_EQ(p.secret_access_key, "configSecret");
    CHECK(p.region == NULL);
    s3_profile_free(&p);

    CHECK(s3_profile_load(credentials, config, "absent", &p, error, sizeof error));
    CHECK(!p.found);
    CHECK(p.access_key_id == NULL && p.secret_access_key == NULL && p.region == NULL);
    s3_profile_free(&p);
}

static void test_missing_and_unreadable(void)
{
    s3_profile p;
    char error[256];
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-file", dir);
    CHECK(s3_profile_load(missing, NULL, "default", &p, error, sizeof error));
    CHECK(!p.found);
    s3_profile_free(&p);

    /* A directory where the file should be: an error naming the file. */
    CHECK(!s3_profile_load(dir, NULL, "default", &p, error, sizeof error));
    CHECK_STR_CONTAINS(error, "credentials file");
    CHECK_STR_CONTAINS(error, dir);
}

static void test_paths(void)
{
    setenv("HOME", "/home/someone", 1);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    char *path = s3_profile_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    CHECK_STR_EQ(path, "/home/someone/.aws/credentials");
    free(path);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/etc/creds", 1);
    path = s3_profile_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    CHECK_STR_EQ(path, "/etc/creds");
    free(path);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    char *credentials = write_file("credentials", credentials_text);
    char *config = write_file("config", config_text);
    test_profiles(credentials, config);
    test_missing_and_unreadable();
    test_paths();
    unlink(credentials);
    unlink(config);
    rmdir(dir);
    return CHECK_DONE();
}
