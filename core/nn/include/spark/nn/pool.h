/*
 * spark/nn/pool.h - a fixed set of worker threads that model kernels split their work over.
 *
 * Threads are made once (at activation), never per token. Between dispatches a worker spins
 * briefly before it sleeps, because a decode step dispatches a few hundred small kernels and
 * a condition-variable wake-up per kernel would cost more than the kernels. Several jobs may
 * share one pool: dispatches are serialised, each one uses every thread.
 */
#ifndef SPARK_NN_POOL_H
#define SPARK_NN_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_pool nn_pool;

/* One piece of a dispatch: task in [0, n_tasks). Pieces run concurrently in any order. */
typedef void (*nn_pool_task)(void *ctx, int task, int n_tasks);

/* threads >= 1 counts the calling thread: threads - 1 workers are started. 0 means the number
 * of CPUs this process may run on. NULL with a message in err when threads cannot start. */
nn_pool *nn_pool_create(int threads, char *err, size_t err_size);
void nn_pool_destroy(nn_pool *pool);
int nn_pool_threads(const nn_pool *pool);

/* Runs task(ctx, i, n_tasks) for every i and returns when all have returned. The caller
 * works too. n_tasks <= 0 does nothing. A NULL pool, or more than 65,535 pieces, runs
 * everything on the caller. */
void nn_pool_run(nn_pool *pool, nn_pool_task task, void *ctx, int n_tasks);

/* Splits [0, total) into n_tasks nearly equal ranges aligned to `align`; the range of task i. */
void nn_pool_range(size_t total, size_t align, int task, int n_tasks, size_t *begin, size_t *end);

#ifdef __cplusplus
}
#endif
#endif
