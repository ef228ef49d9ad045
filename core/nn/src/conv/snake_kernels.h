/* Snake over one row, per instruction set (snake_avx2.c, snake_avx512.c: libmvec's vector
 * sinf); elementwise.c picks one at run time. */
#ifndef SPARK_NN_SNAKE_KERNELS_H
#define SPARK_NN_SNAKE_KERNELS_H

#include <stddef.h>

/* dst[t] = src[t] + inv * sin^2(alpha * src[t]) for t < n; dst may equal src. */
typedef void (*nn_snake_row_fn)(const float *src, float *dst, size_t n, float alpha, float inv);

void nn_snake_row_avx2(const float *src, float *dst, size_t n, float alpha, float inv);
void nn_snake_row_avx512(const float *src, float *dst, size_t n, float alpha, float inv);

#endif
