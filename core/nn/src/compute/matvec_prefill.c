/* Prefill products on stored weights: f32 goes straight to OpenBLAS; bf16 and int8 are
 * widened to f32 a tile of rows at a time into a per-thread buffer, then multiplied by
 * OpenBLAS (single-threaded inside each piece; the pool owns the threads). */
#include <cblas.h>
#include <string.h>

#include "matvec_kernels.h"
#include "matvec_scratch.h"
#include "spark/nn/gemm.h"
#include "spark/nn/matvec.h"

/* Rows per widened tile. OpenBLAS packs all of x again for every call, so a tile must be
 * tall enough that this repacking stays small next to the product (16 rows cost 25-35%). */
#define TILE_ROWS 128
#define TILE_ROW_ALIGN 16
/* Up to this many tokens go through the decode kernels instead. */
#define SMALL_N 2

typedef struct prefill {
    const nn_weight *w;
    size_t n;
    const float *x, *bias;
    float *y;
    size_t tile_rows;
    nn_widen_fn widen;
} prefill;

static void multiply(const prefill *p, const float *w, size_t ldw, size_t r0, size_t r1)
{
    size_t rows = r1 - r0;
    float *y = p->y + r0;
    float beta = 0.0f;
    if (p->bias) {
        for (size_t m = 0; m < p->n; m++)
            memcpy(y + m * p->w->rows, p->bias + r0, rows * sizeof *y);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)p->n, (blasint)rows,
                (blasint)p->w->cols, 1.0f, p->x, (blasint)p->w->cols, w, (blasint)ldw, beta, y,
                (blasint)p->w->rows);
}

static void prefill_piece(void *ctx, int task, int n_tasks)
{
    const prefill *p = ctx;
    const nn_weight *w = p->w;
    size_t r0, r1;
    nn_pool_range(w->rows, TILE_ROW_ALIGN, task, n_tasks, &r0, &r1);
    if (r0 >= r1)
        return;
    if (w->type == NN_WEIGHT_F32) {
        multiply(p, (const float *)w->data + r0 * w->stride, w->stride, r0, r1);
        return;
    }
    float *tile = nn_scratch(NN_SCRATCH_TILE, p->tile_rows * w->cols * sizeof(float));
    for (size_t t0 = r0; t0 < r1; t0 += p->tile_rows) {
        size_t t1 = t0 + p->tile_rows < r1 ? t0 + p->tile_rows : r1;
        for (size_t r = t0; r < t1; r++)
            p->widen(w, r, tile + (r - t0) * w->cols);
        multiply(p, tile, w->cols, t0, t1);
    }
}

void nn_matmul_weight(nn_pool *pool, const nn_weight *w, size_t n, const float *x,
                      const float *bias, float *y)
{
    if (n == 0)
        return;
    /* A token or two: the decode kernels read the weight once per token at its stored width,
     * where widened tiles would move 2-4 times the bytes (not with Q8, which rounds x). */
    if (n <= SMALL_N && !(w->type == NN_WEIGHT_INT8 && w->int8_x == NN_INT8_X_Q8)) {
        for (size_t m = 0; m < n; m++)
            nn_matvec(pool, w, x + m * w->cols, bias, y + m * w->rows);
        return;
    }
    nn_blas_single_threaded();
    prefill p = {.w = w, .n = n, .x = x, .bias = bias, .y = y, .tile_rows = TILE_ROWS,
                 .widen = nn_matvec_kernel_for(w).widen};
    size_t units = (w->rows + TILE_ROW_ALIGN - 1) / TILE_ROW_ALIGN;
    int threads = nn_pool_threads(pool);
    int pieces = n * w->rows * w->cols < 65536 ? 1 : units < (size_t)threads ? (int)units : threads;
    nn_pool_run(pieces > 1 ? pool : NULL, prefill_piece, &p, pieces);
}
