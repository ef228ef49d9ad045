/* local_writer.c - atomic, optionally durable file writes.
 *
 * The durable pattern (shared/spec/io-plugins.md 1.10): the temporary file lives in the
 * target's own directory so rename(2) stays within one file system and is atomic; the file
 * is fsync'd before the rename and the directory after it. mkstemp gives each writer its own
 * temporary file, so concurrent writers of one target never share bytes: the last rename
 * wins and every reader sees one complete version. */
#include "local_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct local_writer {
    int fd;          /* the temporary file */
    int dir_fd;      /* the directory of target and temporary file */
    bool durable;
    bool failed;     /* an earlier write failed */
    char *temp_name; /* base name of the temporary file */
    char *name;      /* base name of the target */
    char *path;      /* absolute path of the target */
};

enum { TEMP_SUFFIX_LEN = 5 }; /* ".part" */

static void writer_free(local_writer *writer)
{
    if (writer->fd >= 0)
        close(writer->fd);
    if (writer->dir_fd >= 0)
        close(writer->dir_fd);
    free(writer->temp_name);
    free(writer->name);
    free(writer->path);
    free(writer);
}

/* The bytes of name to use in the temporary name: at most limit, not ending inside a
 * UTF-8 sequence, so the temporary name stays valid text. */
static size_t temp_stem_length(const char *name, size_t limit)
{
    size_t len = strlen(name);
    if (len <= limit)
        return len;
    len = limit;
    while (len > 0 && ((unsigned char)name[len] & 0xC0) == 0x80)
        len--;
    return len;
}

local_status local_writer_begin(const local_target *target, bool durable, mode_t file_mode,
                                local_writer **out, local_error *err)
{
    char errbuf[128];
    *out = NULL;
    local_writer *writer = calloc(1, sizeof *writer);
    if (!writer)
        return local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");
    writer->fd = -1;
    writer->durable = durable;
    writer->name = strdup(target->name);
    writer->path = strdup(target->path);
    writer->dir_fd = open(target->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!writer->name || !writer->path) {
        writer_free(writer);
        return local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");
    }
    if (writer->dir_fd < 0) {
        int e = errno;
        writer_free(writer);
        return local_fail(err, LOCAL_E_IO, "cannot write %s: cannot open directory %s: %s",
                          target->path, target->dir, local_strerror(e, errbuf, sizeof errbuf));
    }

    /* ".<name>.XXXXXX.part", the name shortened so the whole stays within NAME_MAX. */
    size_t stem = temp_stem_length(target->name, NAME_MAX - (1 + 7 + TEMP_SUFFIX_LEN));
    size_t dir_len = strlen(target->dir);
    size_t cap = dir_len + 2 + stem + 7 + TEMP_SUFFIX_LEN + 1;
    char *template = malloc(cap);
    if (!template) {
        writer_free(writer);
        return local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");
    }
    snprintf(template, cap, "%s%s.%.*s.XXXXXX.part", target->dir,
             (dir_len > 0 && target->dir[dir_len - 1] == '/') ? "" : "/", (int)stem,
             target->name);
    writer->fd = mkostemps(template, TEMP_SUFFIX_LEN, O_CLOEXEC);
    if (writer->fd < 0) {
        int e = errno;
        local_fail(err, LOCAL_E_IO, "cannot write %s: cannot create a temporary file in %s: %s",
                   target->path, target->dir, local_strerror(e, errbuf, sizeof errbuf));
        free(template);
        writer_free(writer);
        return LOCAL_E_IO;
    }
    writer->temp_name = strdup(strrchr(template, '/') + 1);
    free(template);
    if (!writer->temp_name) {
        local_writer_abort(writer);
        return local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");
    }
    /* mkstemp makes 0600; the object should get the mode a plain create would give. */
    if (fchmod(writer->fd, file_mode) != 0) {
        int e = errno;
        local_fail(err, LOCAL_E_IO, "cannot write %s: cannot set the file mode: %s",
                   target->path, local_strerror(e, errbuf, sizeof errbuf));
        local_writer_abort(writer);
        return LOCAL_E_IO;
    }
    *out = writer;
    return LOCAL_OK;
}

local_status local_writer_write(local_writer *writer, const void *data, uint64_t size,
                                local_error *err)
{
    char errbuf[128];
    const unsigned char *bytes = data;
    if (writer->failed)
        return local_fail(err, LOCAL_E_IO, "cannot write %s: an earlier write failed",
                          writer->path);
    while (size > 0) {
        size_t chunk = size > (1u << 30) ? (1u << 30) : (size_t)size;
        ssize_t n = write(writer->fd, bytes, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            writer->failed = true;
            return local_fail(err, LOCAL_E_IO, "cannot write %s: %s", writer->path,
                              local_strerror(e, errbuf, sizeof errbuf));
        }
        bytes += n;
        size -= (uint64_t)n;
    }
    return LOCAL_OK;
}

const char *local_writer_path(const local_writer *writer)
{
    return writer->path;
}

local_status local_writer_commit(local_writer *writer, local_error *err)
{
    char errbuf[128];
    int fd = writer->fd;
    if (writer->failed) {
        local_fail(err, LOCAL_E_IO, "cannot commit %s: an earlier write failed", writer->path);
        local_writer_abort(writer);
        return LOCAL_E_IO;
    }
    const char *step = "fsync";
    if (writer->durable && fsync(writer->fd) != 0)
        goto fail;
    step = "close";
    writer->fd = -1; /* closed below whatever close() says */
    if (close(fd) != 0)
        goto fail;
    step = "rename";
    if (renameat(writer->dir_fd, writer->temp_name, writer->dir_fd, writer->name) != 0)
        goto fail;
    if (writer->durable && fsync(writer->dir_fd) != 0) {
        int e = errno;
        local_fail(err, LOCAL_E_IO,
                   "%s was written, but fsync of its directory failed, so it may not survive "
                   "a crash: %s",
                   writer->path, local_strerror(e, errbuf, sizeof errbuf));
        writer_free(writer);
        return LOCAL_E_IO;
    }
    writer_free(writer);
    return LOCAL_OK;

fail: {
    int e = errno;
    local_fail(err, LOCAL_E_IO, "cannot commit %s: %s failed: %s", writer->path, step,
               local_strerror(e, errbuf, sizeof errbuf));
    local_writer_abort(writer);
    return LOCAL_E_IO;
}
}

void local_writer_abort(local_writer *writer)
{
    if (!writer)
        return;
    if (writer->temp_name)
        unlinkat(writer->dir_fd, writer->temp_name, 0);
    writer_free(writer);
}

mode_t local_default_file_mode(void)
{
    mode_t mask = 022;
    FILE *status = fopen("/proc/self/status", "re");
    if (status) {
        char line[256];
        unsigned int value;
        while (fgets(line, sizeof line, status)) {
            if (sscanf(line, "Umask: %o", &value) == 1) {
                mask = (mode_t)(value & 0777);
                break;
            }
        }
        fclose(status);
    }
    return (mode_t)(0666 & ~mask);
}
