/* A read-only view of a zip archive held in memory (a file mapping): the central directory,
 * with zip64, and members stored (exposed in place) or deflated (inflated into a buffer).
 * Every offset and size is checked against the mapping before it is used. */
#ifndef SPARK_NN_ZIP_READ_H
#define SPARK_NN_ZIP_READ_H

#include <stddef.h>
#include <stdint.h>

enum { ZIP_METHOD_STORED = 0, ZIP_METHOD_DEFLATED = 8 };

typedef struct zip_member {
    const char *name;           /* NUL-terminated copy, owned by the archive */
    size_t name_len;
    uint16_t method;
    uint16_t flags;
    uint32_t crc32;
    uint64_t compressed_size;
    uint64_t uncompressed_size;
    uint64_t local_header_offset;
} zip_member;

typedef struct zip_archive {
    const uint8_t *map;
    size_t size;
    zip_member *members;        /* central directory order */
    size_t count;
    const zip_member **by_name; /* every member, sorted by name, for lookups */
    char *names;                /* one block holding every member name */
} zip_archive;

/* Reads the central directory of the archive in map[0..size). Returns 0, or -1 with *error
 * set to a malloc'd message. The archive keeps pointing into map. */
int zip_open(zip_archive *zip, const uint8_t *map, size_t size, char **error);
void zip_close(zip_archive *zip);

/* The member with exactly this name; NULL when absent. */
const zip_member *zip_find(const zip_archive *zip, const char *name);

/* The bytes of a member, CRC-checked. A stored member is returned in place (*data points
 * into the mapping, *owned is NULL); a deflated one is inflated into a malloc'd buffer
 * returned in both *data and *owned, provided its size is at most max_inflated. Returns 0,
 * or -1 with *error set. */
int zip_read(const zip_archive *zip, const zip_member *member, uint64_t max_inflated,
             const uint8_t **data, uint8_t **owned, char **error);

#endif
