/* s3_profile.c - reads a profile from the shared AWS credentials and config files. The
 * format is the SDKs' INI dialect: "[section]" headers, "key = value" lines, comment lines
 * starting with '#' or ';', and indented lines that belong to a nested setting (skipped). */
#include "s3_profile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *s3_profile_path(const char *env_name, const char *leaf)
{
    const char *from_env = getenv(env_name);
    if (from_env && from_env[0])
        return strdup(from_env);
    const char *home = getenv("HOME");
    if (!home || !home[0])
        return NULL;
    size_t len = strlen(home) + strlen("/.aws/") + strlen(leaf) + 1;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/.aws/%s", home, leaf);
    return path;
}

static char *trim(char *text)
{
    while (*text && isspace((unsigned char)*text))
        text++;
    size_t len = strlen(text);
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        text[--len] = '\0';
    return text;
}

static void wipe_free(char *text)
{
    if (!text)
        return;
    volatile char *p = text;
    while (*p)
        *p++ = '\0';
    free(text);
}

/* Sets *slot to a copy of value unless an earlier file already set it. */
static bool keep_first(char **slot, const char *value)
{
    if (*slot)
        return true;
    *slot = strdup(value);
    return *slot != NULL;
}

/* Does the header text (inside the brackets, trimmed) name the profile? In the config file
 * a profile is "[profile NAME]", the default one also "[default]". */
static bool section_matches(const char *header, const char *name, bool config_file)
{
    if (!config_file)
        return strcmp(header, name) == 0;
    if (strcmp(name, "default") == 0 && strcmp(header, "default") == 0)
        return true;
    if (strncmp(header, "profile", 7) != 0 || !isspace((unsigned char)header[7]))
        return false;
    const char *rest = header + 7;
    while (isspace((unsigned char)*rest))
        rest++;
    return strcmp(rest, name) == 0;
}

static bool read_file(const char *path, const char *name, bool config_file, s3_profile *out,
                      char *error, size_t error_cap)
{
    if (!path)
        return true;
    FILE *file = fopen(path, "r");
    if (!file) {
        if (errno == ENOENT)
            return true;
        snprintf(error, error_cap, "cannot read the AWS %s file %s: %s",
                 config_file ? "config" : "credentials", path, strerror(errno));
        return false;
    }
    char line[8192];
    bool in_section = false;
    bool ok = true;
    while (ok && fgets(line, sizeof line, file)) {
        bool indented = line[0] == ' ' || line[0] == '\t';
        char *text = trim(line);
        if (!text[0] || text[0] == '#' || text[0] == ';')
            continue;
        if (text[0] == '[') {
            char *close = strrchr(text, ']');
            if (!close)
                continue;
            *close = '\0';
            in_section = section_matches(trim(text + 1), name, config_file);
            out->found = out->found || in_section;
            continue;
        }
        if (!in_section || indented)
            continue;
        char *equals = strchr(text, '=');
        if (!equals)
            continue;
        *equals = '\0';
        char *key = trim(text);
        char *value = trim(equals + 1);
        if (strcasecmp(key, "aws_access_key_id") == 0)
            ok = keep_first(&out->access_key_id, value);
        else if (strcasecmp(key, "aws_secret_access_key") == 0)
            ok = keep_first(&out->secret_access_key, value);
        else if (strcasecmp(key, "aws_session_token") == 0)
            ok = keep_first(&out->session_token, value);
        else if (config_file && strcasecmp(key, "region") == 0)
            ok = keep_first(&out->region, value);
    }
    /* The line may have held a secret. */
    memset(line, 0, sizeof line);
    if (ok && ferror(file)) {
        snprintf(error, error_cap, "cannot read the AWS %s file %s",
                 config_file ? "config" : "credentials", path);
        ok = false;
    } else if (!ok) {
        snprintf(error, error_cap, "out of memory reading %s", path);
    }
    fclose(file);
    return ok;
}

bool s3_profile_load(const char *credentials_path, const char *config_path, const char *name,
                     s3_profile *out, char *error, size_t error_cap)
{
    memset(out, 0, sizeof *out);
    if (error_cap)
        error[0] = '\0';
    /* The credentials file first: its keys win over the config file's. */
    bool ok = read_file(credentials_path, name, false, out, error, error_cap) &&
              read_file(config_path, name, true, out, error, error_cap);
    if (!ok)
        s3_profile_free(out);
    return ok;
}

void s3_profile_free(s3_profile *profile)
{
    free(profile->access_key_id);
    wipe_free(profile->secret_access_key);
    wipe_free(profile->session_token);
    free(profile->region);
    memset(profile, 0, sizeof *profile);
}
