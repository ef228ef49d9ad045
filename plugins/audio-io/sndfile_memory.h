/* libsndfile over memory buffers (sf_open_virtual): read encoded audio from a borrowed byte
 * range, or write an encoded file into a growing heap buffer. No SDK dependency.
 *
 * libsndfile reports a failed sf_open only through its global error state, which is not
 * thread-safe, so both open functions serialise sf_open_virtual together with reading that
 * error under one process-wide mutex. After a successful open, use the per-handle
 * sf_error(handle) / sf_strerror(handle). */
#ifndef AUDIO_IO_SNDFILE_MEMORY_H
#define AUDIO_IO_SNDFILE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include <sndfile.h>

#include "audio_status.h"

/* A virtual file. Read mode borrows `source`; write mode owns `owned`. Must stay at a fixed
 * address while its SNDFILE is open (libsndfile keeps the pointer). */
typedef struct sndfile_memory {
    const uint8_t *source; /* read mode: the encoded bytes, borrowed */
    uint8_t *owned;        /* write mode: the bytes written so far */
    sf_count_t size;       /* logical file length */
    sf_count_t capacity;   /* write mode: allocated bytes of owned */
    sf_count_t position;
    int out_of_memory;     /* write mode: a write could not grow the buffer */
} sndfile_memory;

/* Open bytes[size] for reading; bytes must outlive the handle. info is filled by
 * libsndfile. On failure returns NULL and writes libsndfile's reason into message. */
SNDFILE *sndfile_memory_open_read(sndfile_memory *file, const uint8_t *bytes, size_t size,
                                  SF_INFO *info, char *message, size_t message_capacity);

/* Open an empty in-memory file for writing with info (format, samplerate, channels).
 * On failure returns NULL and writes libsndfile's reason into message. */
SNDFILE *sndfile_memory_open_write(sndfile_memory *file, SF_INFO *info, char *message,
                                   size_t message_capacity);

/* sf_open_virtual on any virtual I/O, serialised with the others; on failure returns NULL
 * and writes libsndfile's reason into message. */
SNDFILE *sndfile_open_virtual_serialised(SF_VIRTUAL_IO *io, int mode, SF_INFO *info,
                                         void *user_data, char *message,
                                         size_t message_capacity);

/* Write mode, after sf_close: hand over the written bytes (caller frees with free()). */
uint8_t *sndfile_memory_take(sndfile_memory *file, size_t *out_size);

/* Free whatever the file still owns. */
void sndfile_memory_release(sndfile_memory *file);

#endif
