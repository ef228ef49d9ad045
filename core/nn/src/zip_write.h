/* Writing a zip archive of stored members the way PyTorch does: each member's data aligned
 * to 64 bytes (padding in an extra field), zip64 end records always and zip64 fields where
 * sizes or offsets need them, written to a temporary file that replaces the target only
 * when complete. */
#ifndef SPARK_NN_ZIP_WRITE_H
#define SPARK_NN_ZIP_WRITE_H

#include <stdint.h>

/* Where torch puts stored data: mappings of the file can be read as any element type. */
#define ZIP_WRITE_ALIGNMENT 64

typedef struct zip_writer zip_writer;

/* Starts writing path (through a temporary file beside it). Sizes and offsets at or above
 * zip64_threshold use zip64 fields; UINT32_MAX is the standard choice, lower values force
 * zip64 (for tests). NULL with *error set on failure. */
zip_writer *zip_writer_create(const char *path, uint64_t zip64_threshold, char **error);

/* Appends a stored member; *crc (if not NULL) receives its CRC-32. -1 with *error set on
 * failure, after which only zip_writer_abort may be called. */
int zip_writer_add(zip_writer *writer, const char *name, const void *data, uint64_t size,
                   uint32_t *crc, char **error);

/* Writes the central directory, syncs the file and renames it over the target; frees the
 * writer either way. On failure nothing is left behind. */
int zip_writer_commit(zip_writer *writer, char **error);

/* Removes the temporary file and frees the writer. */
void zip_writer_abort(zip_writer *writer);

#endif
