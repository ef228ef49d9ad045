/* Pool-split f32 GEMM: each piece is one single-threaded OpenBLAS call on a slice. */
#include "spark/nn/gemm.h"

#include <cblas.h>
#include <pthread.h>

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void set_blas_threads(void)
{
    openblas_set_num_threads(1);
}

void nn_blas_single_threaded(void)
{
    pthread_once(&blas_once, set_blas_threads);
}

typedef struct product {
    bool b_transposed; /* b is [n][k] (a weight) rather than [k][n] */
    size_t m, n, k;
    const float *a, *b, *bias;
    size_t lda, ldb, ldc;
    float *c;
    bool accumulate;
    bool split_rows; /* slice m rather than n */
} product;

/* Rows of the output are split when there are many of them; columns otherwise (decode-like
 * shapes with a handful of rows), in multiples of 16 so slices stay vector-aligned. */
static void product_piece(void *ctx, int task, int n_tasks)
{
    const product *p = ctx;
    size_t m0 = 0, m1 = p->m, n0 = 0, n1 = p->n;
    if (p->split_rows)
        nn_pool_range(p->m, 1, task, n_tasks, &m0, &m1);
    else
        nn_pool_range(p->n, 16, task, n_tasks, &n0, &n1);
    if (m0 >= m1 || n0 >= n1)
        return;
    size_t rows = m1 - m0, cols = n1 - n0;
    float *c = p->c + m0 * p->ldc + n0;
    float beta = p->accumulate ? 1.0f : 0.0f;
    if (p->bias) {
        for (size_t i = 0; i < rows; i++) {
            float *row = c + i * p->ldc;
            for (size_t j = 0; j < cols; j++)
                row[j] = (p->accumulate ? row[j] : 0.0f) + p->bias[n0 + j];
        }
        beta = 1.0f;
    }
    const float *a = p->a + m0 * p->lda;
    const float *b = p->b_transposed ? p->b + n0 * p->ldb : p->b + n0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, p->b_transposed ? CblasTrans : CblasNoTrans,
                (blasint)rows, (blasint)cols, (blasint)p->k, 1.0f, a, (blasint)p->lda, b,
                (blasint)p->ldb, beta, c, (blasint)p->ldc);
}

static void run_product(nn_pool *pool, product *p)
{
    nn_blas_single_threaded();
    if (p->m == 0 || p->n == 0)
        return;
    int threads = nn_pool_threads(pool);
    p->split_rows = p->m >= (size_t)threads * 8;
    size_t units = p->split_rows ? p->m : (p->n + 15) / 16;
    /* small products are not worth a dispatch */
    int pieces = (p->m * p->n * p->k < 65536 || units < 2) ? 1
                 : units < (size_t)threads ? (int)units : threads;
    nn_pool_run(pieces > 1 ? pool : NULL, product_piece, p, pieces);
}

void nn_linear_f32(nn_pool *pool, size_t rows, size_t out_features, size_t in_features,
                   const float *x, size_t ldx, const float *w, size_t ldw, const float *bias,
                   float *out, size_t ldout, bool accumulate)
{
    product p = {.b_transposed = true, .m = rows, .n = out_features, .k = in_features,
                 .a = x, .b = w, .bias = bias, .lda = ldx, .ldb = ldw, .ldc = ldout,
                 .c = out, .accumulate = accumulate};
    run_product(pool, &p);
}

void nn_matmul_f32(nn_pool *pool, size_t m, size_t n, size_t k, const float *a, size_t lda,
                   const float *b, size_t ldb, float *c, size_t ldc, bool accumulate)
{
    product p = {.b_transposed = false, .m = m, .n = n, .k = k, .a = a, .b = b, .lda = lda,
                 .ldb = ldb, .ldc = ldc, .c = c, .accumulate = accumulate};
    run_product(pool, &p);
}
