/* Little-endian integers in byte buffers, as zip records, pickles and the safetensors length
 * field store them: byte by byte, so any alignment and any host byte order will do. */
#ifndef SPARK_NN_LE_H
#define SPARK_NN_LE_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t nn_read_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t nn_read_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t nn_read_le64(const uint8_t *p)
{
    return (uint64_t)nn_read_le32(p) | (uint64_t)nn_read_le32(p + 4) << 32;
}

/* Stores the low `bytes` bytes of value (at most 8) at out. */
static inline void nn_write_le(uint8_t *out, uint64_t value, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        out[i] = (uint8_t)(value >> (8 * i));
}

#endif
