/*
 * spark/nn/gemm.h - f32 matrix products on OpenBLAS, split over an nn_pool.
 *
 * OpenBLAS runs single-threaded inside each piece (the pool owns the threads: two thread
 * pools spinning on the same cores would slow each other down), so the first call sets
 * OpenBLAS to one thread for the whole process.
 */
#ifndef SPARK_NN_GEMM_H
#define SPARK_NN_GEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "spark/nn/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out[m][n] (+)= sum_k x[m][k] * w[n][k] + bias[n]: a linear layer over M rows, with the
 * weight stored as PyTorch does (out_features x in_features, row-major). Leading dimensions
 * are in elements. bias may be NULL. With accumulate the product is added to out. */
void nn_linear_f32(nn_pool *pool, size_t rows, size_t out_features, size_t in_features,
                   const float *x, size_t ldx, const float *w, size_t ldw, const float *bias,
                   float *out, size_t ldout, bool accumulate);

/* c[m][n] (+)= sum_k a[m][k] * b[k][n]: the plain product, all row-major. */
void nn_matmul_f32(nn_pool *pool, size_t m, size_t n, size_t k, const float *a, size_t lda,
                   const float *b, size_t ldb, float *c, size_t ldc, bool accumulate);

/* Sets OpenBLAS to one thread (done by the functions above on first use; idempotent). */
void nn_blas_single_threaded(void);

#ifdef __cplusplus
}
#endif
#endif
