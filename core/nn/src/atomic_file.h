/* Replacing a file all at once: the bytes go to a temporary file beside the target, which is
 * synced and renamed over it, so a reader sees the old file or the whole new one and a
 * failure leaves nothing behind. The writers word their own messages from the step that
 * failed and errno. */
#ifndef SPARK_NN_ATOMIC_FILE_H
#define SPARK_NN_ATOMIC_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct atomic_file atomic_file;

typedef enum atomic_file_step {
    ATOMIC_FILE_OK,
    ATOMIC_FILE_NO_MEMORY, /* the handle or the temporary file's name */
    ATOMIC_FILE_CREATE,    /* creating the temporary file */
    ATOMIC_FILE_MODE,      /* giving it its mode */
    ATOMIC_FILE_SYNC,
    ATOMIC_FILE_CLOSE,
    ATOMIC_FILE_RENAME,
} atomic_file_step;

/* Creates the temporary file ".<name>.XXXXXX.part" in path's directory, with exactly the
 * given mode: the umask does not apply (atomic_file_creation_mode applies it). NULL with
 * *failed and errno set on failure. */
atomic_file *atomic_file_begin(const char *path, mode_t mode, atomic_file_step *failed);

/* Appends size bytes, through short writes and EINTR. 0, or -1 with errno set (EIO when
 * the system writes nothing). */
int atomic_file_write(atomic_file *file, const void *data, uint64_t size);

/* Syncs and closes the temporary file and renames it over the target. Returns ATOMIC_FILE_OK
 * and frees the handle, or the step that failed with errno set, the handle then left to
 * atomic_file_temp_path and atomic_file_abort. After the rename the directory is synced so
 * that the rename is durable; *dir_synced (when not NULL) says whether that worked, errno
 * saying why not. */
atomic_file_step atomic_file_commit(atomic_file *file, bool *dir_synced);

/* The temporary file's path, for messages. */
const char *atomic_file_temp_path(const atomic_file *file);

/* Closes and removes the temporary file and frees the handle; NULL is ignored. */
void atomic_file_abort(atomic_file *file);

/* The mode open(path, O_CREAT, requested) would give: requested less the umask. */
mode_t atomic_file_creation_mode(mode_t requested);

#endif
