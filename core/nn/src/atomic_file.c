/* See atomic_file.h. */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char TEMP_SUFFIX[] = ".part";

struct atomic_file {
    int fd; /* -1 once closed */
    char *path;
    char *temp_path;
    char *dir_path; /* synced after the rename */
};

static void free_handle(atomic_file *file)
{
    free(file->dir_path);
    free(file->temp_path);
    free(file->path);
    free(file);
}

/* ".<name>.XXXXXX.part" in the target's directory: the same file system, so the rename is
 * atomic; hidden; and unique, so concurrent writers of one target do not collide. */
static int name_temp(atomic_file *file)
{
    const char *path = file->path;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dir_len = slash ? (size_t)(slash - path) : 0;
    file->dir_path = slash ? (dir_len ? strndup(path, dir_len) : strdup("/")) : strdup(".");
    /* Keep the whole name within NAME_MAX: ".", the stem, ".XXXXXX", ".part". */
    size_t stem = strlen(base);
    size_t limit = NAME_MAX - (1 + 7 + sizeof TEMP_SUFFIX - 1);
    if (stem > limit) {
        stem = limit;
        while (stem > 0 && ((unsigned char)base[stem] & 0xC0) == 0x80)
            stem--;
    }
    if (!file->dir_path || asprintf(&file->temp_path, "%.*s.%.*s.XXXXXX%s", (int)(base - path),
                                    path, (int)stem, base, TEMP_SUFFIX) < 0) {
        file->temp_path = NULL;
        return -1;
    }
    return 0;
}

atomic_file *atomic_file_begin(const char *path, mode_t mode, atomic_file_step *failed)
{
    atomic_file *file = calloc(1, sizeof *file);
    if (!file || !(file->path = strdup(path)) || name_temp(file) != 0) {
        if (file)
            free_handle(file);
        *failed = ATOMIC_FILE_NO_MEMORY;
        errno = ENOMEM;
        return NULL;
    }
    file->fd = mkostemps(file->temp_path, (int)sizeof TEMP_SUFFIX - 1, O_CLOEXEC);
    if (file->fd < 0) {
        int err = errno;
        free_handle(file); /* nothing was created: nothing to remove */
        *failed = ATOMIC_FILE_CREATE;
        errno = err;
        return NULL;
    }
    /* mkstemp makes 0600; the caller says what the file should be. */
    if (fchmod(file->fd, mode) != 0) {
        int err = errno;
        atomic_file_abort(file);
        *failed = ATOMIC_FILE_MODE;
        errno = err;
        return NULL;
    }
    return file;
}

int atomic_file_write(atomic_file *file, const void *data, uint64_t size)
{
    const uint8_t *p = data;
    while (size > 0) {
        size_t chunk = size > (1u << 30) ? (1u << 30) : (size_t)size;
        ssize_t n = write(file->fd, p, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        size -= (uint64_t)n;
    }
    return 0;
}

atomic_file_step atomic_file_commit(atomic_file *file, bool *dir_synced)
{
    if (fsync(file->fd) != 0)
        return ATOMIC_FILE_SYNC;
    int closed = close(file->fd);
    file->fd = -1;
    if (closed != 0)
        return ATOMIC_FILE_CLOSE;
    if (rename(file->temp_path, file->path) != 0)
        return ATOMIC_FILE_RENAME;
    int dir_fd = open(file->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool synced = dir_fd >= 0 && fsync(dir_fd) == 0;
    int err = errno;
    if (dir_fd >= 0)
        close(dir_fd);
    free_handle(file);
    if (dir_synced)
        *dir_synced = synced;
    errno = err; /* why the directory was not synced, for the caller's message */
    return ATOMIC_FILE_OK;
}

const char *atomic_file_temp_path(const atomic_file *file)
{
    return file->temp_path;
}

void atomic_file_abort(atomic_file *file)
{
    if (!file)
        return;
    if (file->fd >= 0)
        close(file->fd);
    unlink(file->temp_path);
    free_handle(file);
}

/* Read from /proc rather than with umask(), which would change it for a moment for every
 * thread of the process. */
mode_t atomic_file_creation_mode(mode_t requested)
{
    mode_t mask = 022;
    FILE *status = fopen("/proc/self/status", "re");
    if (status) {
        char line[256];
        unsigned int value;
        while (fgets(line, sizeof line, status))
            if (sscanf(line, "Umask: %o", &value) == 1) {
                mask = (mode_t)(value & 0777);
                break;
            }
        fclose(status);
    }
    return (mode_t)(requested & ~mask);
}
