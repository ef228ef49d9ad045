/* CRC-32 as zip records it, over any length: zlib's length argument may be narrower than the
 * data. Shared by the zip reader (to check members) and writer (to record them). */
#ifndef SPARK_NN_ZIP_CRC_H
#define SPARK_NN_ZIP_CRC_H

#include <limits.h>
#include <stdint.h>
#include <zlib.h>

static inline uint32_t zip_crc32(const void *data, uint64_t size)
{
    const uint8_t *p = data;
    uLong crc = crc32(0L, Z_NULL, 0);
    while (size > 0) {
        uInt chunk = size > UINT_MAX ? UINT_MAX : (uInt)size;
        crc = crc32(crc, p, chunk);
        p += chunk;
        size -= chunk;
    }
    return (uint32_t)crc;
}

#endif
