/* An exclusive lock on a download directory, so that several processes (workers sharing one
 * network volume) fetching into it take turns instead of corrupting it or downloading twice. */
#ifndef SPARK_FETCH_LOCK_H
#define SPARK_FETCH_LOCK_H

#include "hub_client.h"

typedef struct fetch_lock {
    int fd;
} fetch_lock;

/* Called once, before blocking, when another process holds the lock. */
typedef void (*fetch_lock_wait_fn)(void *user, const char *dir);

/* Blocks until DIR/.fetch.lock is ours. The directory must exist. */
hub_status fetch_lock_acquire(fetch_lock *lock, const char *dir, fetch_lock_wait_fn waiting,
                              void *user, hub_error *err);
void fetch_lock_release(fetch_lock *lock);

#endif
