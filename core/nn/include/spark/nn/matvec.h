/*
 * spark/nn/matvec.h - weight matrices in the precision chosen at activation (f32, bf16 or
 * int8 with scales) and the products the model plugins run on them: matrix-vector for decode
 * (one token: bandwidth-bound, so the kernels are written for AVX2 and AVX-512 and picked at
 * run time), a subset of rows (the output head of constrained decoding), and matrix-matrix
 * for prefill.
 *
 * Weights follow PyTorch's nn.Linear layout: rows = out_features, cols = in_features,
 * row-major. The CUDA backend implements the same calls on device-resident weights.
 */
#ifndef SPARK_NN_MATVEC_H
#define SPARK_NN_MATVEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spark/nn/cpu.h"
#include "spark/nn/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nn_weight_type {
    NN_WEIGHT_F32 = 0,
    NN_WEIGHT_BF16 = 1, /* round-to-nearest-even from f32 */
    NN_WEIGHT_INT8 = 2, /* symmetric, one f32 scale per block of `block` columns of a row:
                         * scale = max|w| / 127, q = round-half-even(w / scale) in [-127, 127],
                         * so |w - q * scale| <= scale / 2 for every element */
} nn_weight_type;

/* "f32", "bf16", "int8"; parse returns false for anything else. */
const char *nn_weight_type_name(nn_weight_type type);
bool nn_weight_type_parse(const char *name, nn_weight_type *out);

/* How the decode products meet int8 weights (nn_matvec, nn_matvec_rows). */
typedef enum nn_int8_x {
    /* Weights widened to f32 in registers, x used as given: the only error is the weight
     * rounding. The default: on AVX-512 it still streams at memory speed. */
    NN_INT8_X_F32 = 0,
    /* x quantised in chunks of 32 (max-abs / 127, round half to even, as llama.cpp's Q8_0)
     * and integer dot products (VNNI / VPMADDUBSW): about half the compute, for CPUs where
     * widening cannot keep up with memory; adds the rounding of x (|dx| <= chunk scale / 2). */
    NN_INT8_X_Q8 = 1,
} nn_int8_x;

typedef struct nn_weight {
    nn_weight_type type;
    size_t rows, cols;
    size_t block;   /* int8: columns per scale (cols when per-row) */
    void *data;     /* rows x cols elements of `type`, 64-byte aligned, rows padded to align */
    size_t stride;  /* elements from one row to the next */
    float *scales;  /* int8: rows x ceil(cols / block); NULL otherwise */
    nn_int8_x int8_x; /* int8: set after conversion to change it (0 = NN_INT8_X_F32) */
} nn_weight;

/* Converts (and for int8 quantises) a row-major f32 matrix. block: int8 columns per scale
 * (0 = per row; otherwise a multiple of 32; the last block of a row may be shorter). int8
 * refuses non-finite elements. Returns 0, or -1 with err set. */
int nn_weight_from_f32(nn_weight *out, const float *src, size_t rows, size_t cols,
                       nn_weight_type type, size_t block, char *err, size_t err_size);
/* Storage for a weight filled by the caller (a cached conversion read back): data (stride
 * elements per row, padding zero) and, for int8, scales, both zeroed; same checks as above. */
int nn_weight_alloc(nn_weight *out, size_t rows, size_t cols, nn_weight_type type, size_t block,
                    char *err, size_t err_size);
void nn_weight_free(nn_weight *w);
/* Bytes the weight occupies (data and scales): what a decode step streams from memory. */
size_t nn_weight_bytes(const nn_weight *w);
/* Row r back in f32 (for embedding lookups and checks). */
void nn_weight_row_f32(const nn_weight *w, size_t r, float *out);
/* int8: scales per row, ceil(cols / block); 0 for other types. */
size_t nn_weight_blocks_per_row(const nn_weight *w);

/* bf16 <-> f32: round to nearest even; NaN stays NaN (quietened, sign kept). */
uint16_t nn_bf16_from_f32(float f);
float nn_bf16_to_f32(uint16_t h);
/* The int8 rule above on n values: writes q[0..n) and returns the scale (0 for all zeros). */
float nn_int8_quantize(const float *src, size_t n, int8_t *q);

/* The kernel family the products below use on this CPU ("avx512", "avx2", "scalar"); f32,
 * bf16 and int8 (NN_INT8_X_F32) multiply in f32. No call allocates after a thread's first call
 * with its largest shape (x is prepared in a per-thread buffer). */
nn_isa nn_matvec_isa(void);

/* y[r] = dot(w[r], x) + (bias ? bias[r] : 0) for every row. x has w->cols elements. x is read
 * (into a per-thread buffer) before y is written, so y may overlap x. */
void nn_matvec(nn_pool *pool, const nn_weight *w, const float *x, const float *bias, float *y);

/* y[i] = dot(w[rows[i]], x) for i < n_rows: only the rows asked for are read. */
void nn_matvec_rows(nn_pool *pool, const nn_weight *w, const int32_t *rows, size_t n_rows,
                    const float *x, float *y);

/* y[m][r] = dot(w[r], x[m]) + bias[r] for m < n (prefill; x and y row-major, packed).
 * bf16 and int8 weights are widened to f32 tile by tile and multiplied by OpenBLAS with the
 * f32 x; one or two tokens go through nn_matvec. x is never quantised here, whatever int8_x
 * says. y must not overlap x. */
void nn_matmul_weight(nn_pool *pool, const nn_weight *w, size_t n, const float *x,
                      const float *bias, float *y);

#ifdef __cplusplus
}
#endif
#endif
