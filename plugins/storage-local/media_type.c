/* media_type.c - file extension -> media type. */
#include "media_type.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *extension;
    const char *media_type;
} media_types[] = {
    {"wav", "audio/wav"},        {"flac", "audio/flac"},       {"ogg", "audio/ogg"},
    {"opus", "audio/ogg"},       {"mp3", "audio/mpeg"},        {"json", "application/json"},
    {"txt", "text/plain"},
};

const char *local_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

const char *local_media_type(const char *name)
{
    const char *base = local_base_name(name);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) {
        for (size_t i = 0; i < sizeof media_types / sizeof media_types[0]; i++)
            if (strcasecmp(dot + 1, media_types[i].extension) == 0)
                return media_types[i].media_type;
    }
    return "application/octet-stream";
}
