/*
 * spark/nn/prng.h - a portable pseudo-random generator for synthetic model weights.
 *
 * Every value is computed with integer arithmetic, an exact product and one correctly
 * rounded add, with no libm call, so a seed gives bit-identical weights on every machine and
 * C library. Streams are named (a tensor's name), so a tensor's values do not depend on
 * which other tensors were drawn before it.
 */
#ifndef SPARK_NN_PRNG_H
#define SPARK_NN_PRNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* xoshiro256** state. */
typedef struct nn_rng {
    uint64_t s[4];
} nn_rng;

/* 64-bit FNV-1a of a NUL-terminated string. */
uint64_t nn_fnv1a64(const char *text);

/* One step of splitmix64: advances *state and returns the next output. */
uint64_t nn_splitmix64(uint64_t *state);

/* Seeds the stream called `stream` (may be NULL) of the global seed. */
void nn_rng_seed(nn_rng *rng, uint64_t seed, const char *stream);

/* The next 64 random bits (xoshiro256**). */
uint64_t nn_rng_next(nn_rng *rng);

/* An integer uniform in [0, bound) (bound > 0), by rejection, so exactly uniform. */
uint64_t nn_rng_below(nn_rng *rng, uint64_t bound);

/* n values of mean + std * z, where z is an Irwin-Hall sum of four 16-bit uniforms scaled to
 * unit variance: bell-shaped, zero mean, bounded by +-3.46. One 64-bit draw per value. */
void nn_rng_fill_normal(nn_rng *rng, float *dst, size_t n, float mean, float std);

#ifdef __cplusplus
}
#endif

#endif
