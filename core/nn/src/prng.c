/* splitmix64 seeding, xoshiro256** (Blackman and Vigna) and a bell-shaped float draw that
 * is bit-identical everywhere: integer sums, an exact product and one correctly rounded
 * add under IEEE 754. */
#include <spark/nn/prng.h>

#include <float.h>

/* Wider intermediate precision (x87) would round differently from every other machine. */
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "prng.c needs FLT_EVAL_METHOD == 0 (float arithmetic evaluated in float)"
#endif

uint64_t nn_fnv1a64(const char *text)
{
    uint64_t hash = 0xcbf29ce484222325u;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        hash ^= *p;
        hash *= 0x100000001b3u;
    }
    return hash;
}

uint64_t nn_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void nn_rng_seed(nn_rng *rng, uint64_t seed, const char *stream)
{
    uint64_t state = seed ^ (stream ? nn_fnv1a64(stream) : 0);
    for (int i = 0; i < 4; i++)
        rng->s[i] = nn_splitmix64(&state);
    /* xoshiro must not start from all zeros; splitmix64 never yields four zeros in a row,
     * but keep the guarantee explicit. */
    if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]))
        rng->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t nn_rng_next(nn_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t nn_rng_below(nn_rng *rng, uint64_t bound)
{
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do
        x = nn_rng_next(rng);
    while (x >= limit);
    return x % bound;
}

void nn_rng_fill_normal(nn_rng *rng, float *dst, size_t n, float mean, float std)
{
    /* Each 16-bit uniform has variance (65536^2 - 1) / 12, so the centred sum of four has
     * standard deviation ~65536 / sqrt(3): scale by std * sqrt(3) / 65536. The factor is
     * computed once in double (exact operations) and rounded to float once. */
    const float factor = (float)((double)std * 1.7320508075688772 / 65536.0);
    for (size_t i = 0; i < n; i++) {
        uint64_t bits = nn_rng_next(rng);
        int32_t sum = (int32_t)(bits & 0xffff) + (int32_t)((bits >> 16) & 0xffff) +
                      (int32_t)((bits >> 32) & 0xffff) + (int32_t)(bits >> 48);
        /* An 18-bit integer times a 24-bit float is exact in double, so whether a compiler
         * fuses the multiply and the add into an FMA or not, the sum rounds the same. */
        double scaled = (double)(sum - 131070) * (double)factor;
        dst[i] = (float)(scaled + (double)mean);
    }
}
