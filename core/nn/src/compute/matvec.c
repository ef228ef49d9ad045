/* Matrix-vector products for decode: kernel family chosen once by CPU features, x prepared
 * once per call in the calling thread's scratch, rows split over the pool. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "matvec_kernels.h"
#include "matvec_scratch.h"

/* Below this many weight bytes a product runs on the caller: a dispatch costs a few us. */
#define MIN_BYTES_TO_SPLIT (48 * 1024)
/* Pieces per thread, each at least MIN_PIECE_BYTES: pieces are taken first come, first
 * served, so a thread that starts late (a busy machine) leaves its share to the others
 * instead of holding up the whole product. */
#define PIECES_PER_THREAD 4
#define MIN_PIECE_BYTES (32 * 1024)
/* Row ranges are split in multiples of this (the kernels work on 4 rows at a time). */
#define ROW_ALIGN_SPLIT 4

static _Atomic(const nn_matvec_family *) chosen;

static const nn_matvec_family *family_for(nn_isa isa)
{
    return isa == NN_ISA_AVX512 ? &nn_matvec_avx512
           : isa == NN_ISA_AVX2 ? &nn_matvec_avx2
                                : &nn_matvec_scalar;
}

static const nn_matvec_family *family(void)
{
    const nn_matvec_family *f = atomic_load_explicit(&chosen, memory_order_acquire);
    if (!f) {
        f = family_for(nn_cpu_isa());
        atomic_store_explicit(&chosen, f, memory_order_release);
    }
    return f;
}

bool nn_matvec_force_isa(nn_isa isa)
{
    if (isa > nn_cpu_isa())
        return false;
    atomic_store_explicit(&chosen, family_for(isa), memory_order_release);
    return true;
}

nn_isa nn_matvec_isa(void)
{
    return family()->isa;
}

nn_matvec_kernel nn_matvec_kernel_for(const nn_weight *w)
{
    const nn_matvec_family *f = family();
    nn_kernel_id id = w->type == NN_WEIGHT_F32    ? NN_KERNEL_F32
                      : w->type == NN_WEIGHT_BF16 ? NN_KERNEL_BF16
                      : w->int8_x == NN_INT8_X_Q8 ? NN_KERNEL_INT8_Q8
                                                  : NN_KERNEL_INT8_F32;
    if (f->isa == NN_ISA_AVX512 && id == NN_KERNEL_INT8_Q8 && !nn_cpu()->avx512vnni)
        f = &nn_matvec_avx2;
    /* a family without a kernel for this type falls back to the portable one */
    nn_matvec_kernel k = f->kernel[id].rows ? f->kernel[id] : nn_matvec_scalar.kernel[id];
    if (!k.widen)
        k.widen = nn_weight_row_f32;
    return k;
}

size_t nn_xprep_bytes(size_t n)
{
    /* f: 4n; int8: q n + qscale n/8 + qcorr n + qscale4 n, each rounded to 64 */
    return 4 * n + 4 * 64;
}

static size_t up64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

void nn_xprep_layout(nn_xprep *p, size_t n, void *scratch)
{
    char *base = scratch;
    p->n = n;
    p->f = (float *)base;
    p->q = (int8_t *)base;
    p->qscale = (float *)(base + up64(n));
    p->qcorr = (int32_t *)(base + up64(n) + up64(n / 8));
    p->qscale4 = (float *)(base + up64(n) + up64(n / 8) + up64(n));
}

void nn_prepare_padded(const nn_weight *w, const float *x, nn_xprep *p)
{
    memcpy(p->f, x, w->cols * sizeof *x);
    memset(p->f + w->cols, 0, (p->n - w->cols) * sizeof *x);
}

float nn_xq_chunk(const float *x, size_t n, int8_t *q)
{
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = x[i] < 0 ? -x[i] : x[i];
        amax = a > amax ? a : amax;
    }
    if (amax == 0.0f) {
        memset(q, 0, n);
        return 0.0f;
    }
    float inv = 127.0f / amax;
    for (size_t i = 0; i < n; i++)
        q[i] = (int8_t)nearbyintf(x[i] * inv);
    return amax / 127.0f;
}

typedef struct product {
    const nn_weight *w;
    nn_rows_fn rows_fn;
    const nn_xprep *x;
    const int32_t *rows;
    size_t n_rows;
    const float *bias;
    float *y;
} product;

static void product_piece(void *ctx, int task, int n_tasks)
{
    const product *p = ctx;
    size_t i0, i1;
    nn_pool_range(p->n_rows, ROW_ALIGN_SPLIT, task, n_tasks, &i0, &i1);
    if (i0 < i1)
        p->rows_fn(p->w, p->x, p->rows, i0, i1, p->bias, p->y);
}

static size_t element_size(nn_weight_type type)
{
    return type == NN_WEIGHT_F32 ? 4 : type == NN_WEIGHT_BF16 ? 2 : 1;
}

static void run(nn_pool *pool, const nn_weight *w, const int32_t *rows, size_t n_rows,
                const float *x, const float *bias, float *y)
{
    if (n_rows == 0)
        return;
    nn_matvec_kernel k = nn_matvec_kernel_for(w);
    nn_xprep prep;
    nn_xprep_layout(&prep, w->stride, nn_scratch(NN_SCRATCH_XPREP, nn_xprep_bytes(w->stride)));
    k.prepare(w, x, &prep);
    product p = {.w = w, .rows_fn = k.rows, .x = &prep, .rows = rows, .n_rows = n_rows,
                 .bias = bias, .y = y};
    size_t bytes = n_rows * w->stride * element_size(w->type);
    size_t units = (n_rows + ROW_ALIGN_SPLIT - 1) / ROW_ALIGN_SPLIT;
    size_t threads = (size_t)nn_pool_threads(pool), pieces = 1;
    if (threads > 1 && bytes >= MIN_BYTES_TO_SPLIT) {
        pieces = bytes / MIN_PIECE_BYTES;
        pieces = pieces > threads * PIECES_PER_THREAD ? threads * PIECES_PER_THREAD : pieces;
        pieces = pieces < threads ? threads : pieces;
        pieces = pieces > units ? units : pieces;
    }
    nn_pool_run(pieces > 1 ? pool : NULL, product_piece, &p, (int)pieces);
}

void nn_matvec(nn_pool *pool, const nn_weight *w, const float *x, const float *bias, float *y)
{
    run(pool, w, NULL, w->rows, x, bias, y);
}

void nn_matvec_rows(nn_pool *pool, const nn_weight *w, const int32_t *rows, size_t n_rows,
                    const float *x, float *y)
{
    run(pool, w, rows, n_rows, x, NULL, y);
}
