/* local_writer.h - one atomic file write: a unique temporary file in the target's
 * directory, renamed over the target on commit. No SDK types. */
#ifndef STORAGE_LOCAL_WRITER_H
#define STORAGE_LOCAL_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "local_error.h"
#include "local_path.h"

typedef struct local_writer local_writer;

/* Create ".<name>.XXXXXX.part" in target->dir (mkstemp), with permissions file_mode.
 * The target's directory must exist (local_target_resolve for writing made it). */
local_status local_writer_begin(const local_target *target, bool durable, mode_t file_mode,
                                local_writer **out, local_error *err);

/* Append size bytes; short writes and EINTR are retried. After a failure the writer only
 * accepts abort (commit refuses). */
local_status local_writer_write(local_writer *writer, const void *data, uint64_t size,
                                local_error *err);

/* The absolute path the object will have after commit. */
const char *local_writer_path(const local_writer *writer);

/* fsync the file (durable), close it, rename it over the target, fsync the directory
 * (durable). The writer is freed whatever the outcome; when the rename did not happen the
 * temporary file is removed. A failure of the last directory fsync is reported, but the
 * file is then already in place. */
local_status local_writer_commit(local_writer *writer, local_error *err);

/* Close and remove the temporary file, free the writer. NULL is ignored. */
void local_writer_abort(local_writer *writer);

/* 0666 less the process umask: the mode an ordinary open(O_CREAT) would give. Reads the
 * umask without changing it (Linux /proc/self/status), falling back to 022. */
mode_t local_default_file_mode(void);

#endif
