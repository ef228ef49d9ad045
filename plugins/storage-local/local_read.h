/* local_read.h - reading a whole file into a buffer the caller provides. No SDK types. */
#ifndef STORAGE_LOCAL_READ_H
#define STORAGE_LOCAL_READ_H

#include <stdint.h>

#include "local_error.h"

/* Called once with the file's size; returns 0 and sets *out_bytes to a buffer of size bytes
 * (may be NULL when size is 0), or -1 when out of memory. */
typedef int (*local_read_alloc)(void *ctx, uint64_t size, uint8_t **out_bytes);

/* Read the regular file at path (a symlink there is refused: resolve first) in full.
 * url names the request in messages. Missing: LOCAL_E_NOT_FOUND; other failures
 * LOCAL_E_IO; both name the path and the system's reason. */
local_status local_read_file(const char *path, const char *url, local_read_alloc alloc,
                             void *ctx, local_error *err);

#endif
