/* DIR/.fetch.lock, held with an fcntl write lock on the whole file. fcntl locks are the kind
 * network file systems (NFS and its kin) carry between machines. Open-file-description locks
 * are preferred because they also exclude two fetches in threads of one process; kernels
 * without them fall back to process-wide POSIX locks. The file is never removed: removing a
 * lock file lets a late opener lock an orphaned inode while another locks a new one. */
#include "fetch_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int set_lock(int fd, bool wait, bool *ofd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    for (;;) {
        int rc;
#ifdef F_OFD_SETLKW
        if (*ofd) {
            rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
            if (rc != 0 && errno == EINVAL) {
                *ofd = false;
                continue;
            }
        } else
#endif
            rc = fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl);
        if (rc == 0 || errno != EINTR)
            return rc;
    }
}

hub_status fetch_lock_acquire(fetch_lock *lock, const char *dir, fetch_lock_wait_fn waiting,
                              void *user, hub_error *err)
{
    lock->fd = -1;
    char *path;
    if (asprintf(&path, "%s/.fetch.lock", dir) < 0)
        return hub_fail(err, HUB_ERR_INTERNAL, "out of memory");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        hub_status st = hub_fail(err, HUB_ERR_IO, "cannot open the lock file %s: %s", path,
                                 strerror(errno));
        free(path);
        return st;
    }
    bool ofd = true;
    if (set_lock(fd, false, &ofd) != 0) {
        if (errno != EACCES && errno != EAGAIN) {
            hub_status st = hub_fail(err, HUB_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
            close(fd);
            free(path);
            return st;
        }
        if (waiting)
            waiting(user, dir);
        if (set_lock(fd, true, &ofd) != 0) {
            hub_status st = hub_fail(err, HUB_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
            close(fd);
            free(path);
            return st;
        }
    }
    free(path);
    lock->fd = fd;
    return HUB_OK;
}

void fetch_lock_release(fetch_lock *lock)
{
    if (lock->fd >= 0)
        close(lock->fd); /* closing drops the lock */
    lock->fd = -1;
}
