/* kv_half.h - IEEE half precision <-> f32 in portable C, bit for bit what F16C's VCVTPS2PH
 * (round to nearest even) and VCVTPH2PS give, NaNs included (quieted, upper payload kept),
 * so a cache written or read without F16C holds and yields the same values. */
#ifndef SPARK_NN_KV_HALF_H
#define SPARK_NN_KV_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint16_t kv_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* 65520 and up round past the largest half, 65504 */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below 2^-14: a subnormal half, or zero */
        if (a <= 0x33000000u) /* up to 2^-25 (a tie, to even) */
            return (uint16_t)sign;
        uint32_t exponent = a >> 23, mantissa = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - exponent; /* the value in units of 2^-24 is mantissa >> shift */
        uint32_t r = mantissa >> shift, rest = mantissa & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        r += rest > half || (rest == half && (r & 1));
        return (uint16_t)(sign | r);
    }
    uint32_t rebiased = a - 0x38000000u; /* exponent bias 127 -> 15 */
    uint32_t r = rebiased >> 13, rest = rebiased & 0x1fffu;
    r += rest > 0x1000u || (rest == 0x1000u && (r & 1)); /* a carry moves into the exponent */
    return (uint16_t)(sign | r);
}

static inline float kv_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 31u, m = h & 0x3ffu;
    uint32_t x;
    if (exponent == 31)
        x = sign | 0x7f800000u | (m ? 0x400000u : 0) | (m << 13);
    else if (exponent)
        x = sign | ((exponent + 112) << 23) | (m << 13);
    else if (!m)
        x = sign;
    else { /* subnormal: normalise */
        exponent = 113;
        while (!(m & 0x400u)) {
            m <<= 1;
            exponent--;
        }
        x = sign | (exponent << 23) | ((m & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

#endif
