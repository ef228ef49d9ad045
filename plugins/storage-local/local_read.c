/* local_read.c - read one file in full, with the reason for any failure. */
#include "local_read.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

local_status local_read_file(const char *path, const char *url, local_read_alloc alloc,
                             void *ctx, local_error *err)
{
    char errbuf[128];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        return local_fail(err, local_status_from_errno(e), "cannot read \"%s\": %s: %s", url,
                          path, local_strerror(e, errbuf, sizeof errbuf));
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return local_fail(err, LOCAL_E_IO, "cannot read \"%s\": %s: %s", url, path,
                          local_strerror(e, errbuf, sizeof errbuf));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return local_fail(err, LOCAL_E_IO, "cannot read \"%s\": %s is not a regular file", url,
                          path);
    }

    uint64_t size = (uint64_t)st.st_size;
    uint8_t *bytes = NULL;
    if (alloc(ctx, size, &bytes) != 0) {
        close(fd);
        return local_fail(err, LOCAL_E_NO_MEMORY,
                          "cannot read \"%s\": out of memory for %llu bytes", url,
                          (unsigned long long)size);
    }
    uint64_t done = 0;
    while (done < size) {
        uint64_t left = size - done;
        ssize_t n = read(fd, bytes + done, left > (1u << 30) ? (1u << 30) : (size_t)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return local_fail(err, LOCAL_E_IO, "cannot read \"%s\": %s: %s", url, path,
                              local_strerror(e, errbuf, sizeof errbuf));
        }
        if (n == 0) {
            close(fd);
            return local_fail(err, LOCAL_E_IO,
                              "cannot read \"%s\": %s became shorter while being read", url,
                              path);
        }
        done += (uint64_t)n;
    }
    close(fd);
    return LOCAL_OK;
}
