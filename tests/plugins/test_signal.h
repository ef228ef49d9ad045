/*
 * The deterministic signal of org.sparkhost.test.source and the checksum of
 * org.sparkhost.test.sink, as static inline functions so that graph tests can compute the
 * expected results on their own.
 *
 * Sample (seed, packet, channel, frame): splitmix64 of a mix of the four numbers; its top
 * 24 bits scaled to [-0.5, 0.5). Every value is exactly representable as a float, so the
 * samples and the checksum are bit-exact on every platform.
 *
 * Checksum: FNV-1a 64 over the bytes of the float samples as they lie in memory (little
 * endian on x86-64 and aarch64), packet after packet in arrival order, and within a packet
 * channel plane after channel plane; printed as 16 lowercase hex digits.
 */
#ifndef SPARK_TEST_SIGNAL_H
#define SPARK_TEST_SIGNAL_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TEST_FNV1A64_OFFSET UINT64_C(0xcbf29ce484222325)
#define TEST_FNV1A64_PRIME UINT64_C(0x100000001b3)

static inline uint64_t test_splitmix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static inline float test_signal_sample(int64_t seed, uint64_t packet, uint32_t channel,
                                       uint64_t frame)
{
    uint64_t key = test_splitmix64((uint64_t)seed);
    key = test_splitmix64(key ^ packet);
    key = test_splitmix64(key ^ ((uint64_t)channel << 48) ^ frame);
    return (float)(int32_t)(key >> 40) / 16777216.0f - 0.5f;
}

static inline uint64_t test_fnv1a64(uint64_t hash, const void *data, size_t size)
{
    const unsigned char *bytes = (const unsigned char *)data;
    for (size_t i = 0; i < size; i++) {
        hash ^= bytes[i];
        hash *= TEST_FNV1A64_PRIME;
    }
    return hash;
}

/* out must hold 17 bytes. */
static inline void test_checksum_hex(uint64_t hash, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, hash);
}

/* The checksum the sink reports for an unchanged source output (the default graph
 * source -> sink), computed sample by sample. */
static inline uint64_t test_source_checksum(int64_t seed, uint64_t count, uint64_t frames,
                                            uint32_t channels)
{
    uint64_t hash = TEST_FNV1A64_OFFSET;
    for (uint64_t p = 0; p < count; p++)
        for (uint32_t c = 0; c < channels; c++)
            for (uint64_t f = 0; f < frames; f++) {
                float sample = test_signal_sample(seed, p, c, f);
                hash = test_fnv1a64(hash, &sample, sizeof sample);
            }
    return hash;
}

#endif
