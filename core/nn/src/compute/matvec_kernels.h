/*
 * matvec_kernels.h - what the matrix-vector front end (matvec.c) shares with the kernels of
 * each instruction set (matvec_scalar.c, matvec_avx2.c, matvec_avx512.c).
 *
 * A call first prepares x once (padded with zeros to the weight's row stride, rearranged or
 * quantised as the kernel wants it) into a scratch buffer of the calling thread, then splits
 * the rows over the pool; every kernel reads whole padded rows, so none has a tail loop.
 */
#ifndef SPARK_NN_MATVEC_KERNELS_H
#define SPARK_NN_MATVEC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "spark/nn/cpu.h"
#include "spark/nn/matvec.h"

/* With NN_INT8_X_Q8, x is quantised in chunks of this many elements (one f32 scale per chunk,
 * max-abs / 127, round half to even), as llama.cpp's Q8_0 does. */
#define NN_XQ_CHUNK 32

/* x as one kernel family reads it. n = the weight's stride (a multiple of 64 bytes of weight). */
typedef struct nn_xprep {
    size_t n;
    float *f;         /* f32, bf16, int8 F32: x then zeros (bf16 on AVX: pairs split, see there) */
    int8_t *q;        /* int8 Q8: quantised x, zeros past cols */
    float *qscale;    /* int8 Q8: one scale per NN_XQ_CHUNK elements */
    int32_t *qcorr;   /* int8 Q8 AVX-512: -128 * (sum of each 4 consecutive q), see there */
    float *qscale4;   /* int8 Q8: the chunk scale of each 4 consecutive q */
} nn_xprep;

/* Bytes of scratch nn_xprep needs for a stride of n elements (any type). */
size_t nn_xprep_bytes(size_t n);
/* Points p's arrays into scratch (64-byte aligned, nn_xprep_bytes(n) long). */
void nn_xprep_layout(nn_xprep *p, size_t n, void *scratch);

/* x copied to p->f and padded with zeros to p->n (the f32 preparation of every family). */
void nn_prepare_padded(const nn_weight *w, const float *x, nn_xprep *p);

/* Prepares x (w->cols elements) for the row kernel of the same family and type. */
typedef void (*nn_prepare_fn)(const nn_weight *w, const float *x, nn_xprep *p);
/* y[i] = dot(row(i), x) + (bias ? bias[row(i)] : 0) for i in [i0, i1), where
 * row(i) = rows ? rows[i] : i. */
typedef void (*nn_rows_fn)(const nn_weight *w, const nn_xprep *x, const int32_t *rows,
                           size_t i0, size_t i1, const float *bias, float *y);

/* Row r of w as f32 (w->cols values): the tile widening of prefill. */
typedef void (*nn_widen_fn)(const nn_weight *w, size_t r, float *out);

typedef struct nn_matvec_kernel {
    nn_prepare_fn prepare;
    nn_rows_fn rows;
    nn_widen_fn widen;
} nn_matvec_kernel;

/* The kernels of one family: one per weight type, int8 once for each nn_int8_x. */
typedef enum nn_kernel_id {
    NN_KERNEL_F32 = 0,
    NN_KERNEL_BF16 = 1,
    NN_KERNEL_INT8_Q8 = 2,  /* int8, NN_INT8_X_Q8 */
    NN_KERNEL_INT8_F32 = 3, /* int8, NN_INT8_X_F32 */
    NN_KERNELS
} nn_kernel_id;

typedef struct nn_matvec_family {
    nn_isa isa;
    nn_matvec_kernel kernel[NN_KERNELS];
} nn_matvec_family;

extern const nn_matvec_family nn_matvec_scalar;
extern const nn_matvec_family nn_matvec_avx2;
/* AVX-512 F/BW/VL/DQ; its int8 Q8 kernel also needs VNNI (else the AVX2 one is used). */
extern const nn_matvec_family nn_matvec_avx512;

/* The int8 activation quantisation every family uses, on one chunk: returns the scale and
 * writes n <= NN_XQ_CHUNK quantised values (the vector versions give the same results). */
float nn_xq_chunk(const float *x, size_t n, int8_t *q);

/* The kernel of the current family for w (the AVX-512 Q8 one needs VNNI, else the AVX2 one
 * stands in; a missing kernel falls back to the portable one). */
nn_matvec_kernel nn_matvec_kernel_for(const nn_weight *w);

/* Test and benchmark hook: use the kernels of `isa` from now on (process-wide). Returns false,
 * changing nothing, when this CPU (after the SPARK_CPU_ISA cap) lacks it. */
bool nn_matvec_force_isa(nn_isa isa);

#endif
