/* The kernel thread pool: workers wait on a generation counter (spin, then sleep). */
#include "spark/nn/pool.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* About 100-200 us of pause instructions: longer than the gap between the kernels of one
 * decode step, short enough that an idle pool stops burning a core at once. */
#define SPIN_ROUNDS 4096

struct nn_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t dispatch_lock; /* one dispatch at a time */
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;
    atomic_uint generation;
    atomic_int sleepers;
    atomic_bool stopping;
    /* the current dispatch */
    nn_pool_task task;
    void *ctx;
    int n_tasks;
    atomic_int next_task;
    atomic_int busy_workers;
};

static void run_pieces(nn_pool *pool)
{
    int n = pool->n_tasks;
    for (;;) {
        int i = atomic_fetch_add_explicit(&pool->next_task, 1, memory_order_relaxed);
        if (i >= n)
            break;
        pool->task(pool->ctx, i, n);
    }
}

static void *worker_main(void *arg)
{
    nn_pool *pool = arg;
    unsigned seen = 0; /* the generation at creation: a dispatch may come before this thread runs */
    for (;;) {
        unsigned now = seen;
        for (int spin = 0; spin < SPIN_ROUNDS; spin++) {
            now = atomic_load_explicit(&pool->generation, memory_order_acquire);
            if (now != seen || atomic_load_explicit(&pool->stopping, memory_order_relaxed))
                break;
            _mm_pause();
        }
        if (now == seen && !atomic_load(&pool->stopping)) {
            pthread_mutex_lock(&pool->sleep_lock);
            atomic_fetch_add(&pool->sleepers, 1);
            while ((now = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stopping))
                pthread_cond_wait(&pool->wake, &pool->sleep_lock);
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->sleep_lock);
        }
        if (atomic_load(&pool->stopping))
            return NULL;
        seen = now;
        run_pieces(pool);
        atomic_fetch_sub_explicit(&pool->busy_workers, 1, memory_order_release);
    }
}

static int online_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
    return 1;
}

nn_pool *nn_pool_create(int threads, char *err, size_t err_size)
{
    if (threads < 0) {
        snprintf(err, err_size, "threads: %d is negative (0 means one per CPU)", threads);
        return NULL;
    }
    if (threads == 0)
        threads = online_cpus();
    nn_pool *pool = calloc(1, sizeof *pool);
    if (!pool || !(pool->workers = calloc((size_t)threads, sizeof *pool->workers))) {
        free(pool);
        snprintf(err, err_size, "thread pool: out of memory");
        return NULL;
    }
    pool->threads = 1;
    pthread_mutex_init(&pool->dispatch_lock, NULL);
    pthread_mutex_init(&pool->sleep_lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    for (int i = 1; i < threads; i++) {
        int rc = pthread_create(&pool->workers[i - 1], NULL, worker_main, pool);
        if (rc != 0) {
            snprintf(err, err_size, "thread pool: starting thread %d of %d: %s", i + 1, threads,
                     strerror(rc));
            nn_pool_destroy(pool);
            return NULL;
        }
        pool->threads++;
    }
    return pool;
}

void nn_pool_destroy(nn_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->sleep_lock);
    atomic_store(&pool->stopping, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->sleep_lock);
    for (int i = 0; i < pool->threads - 1; i++)
        pthread_join(pool->workers[i], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->sleep_lock);
    pthread_mutex_destroy(&pool->dispatch_lock);
    free(pool->workers);
    free(pool);
}

int nn_pool_threads(const nn_pool *pool)
{
    return pool ? pool->threads : 1;
}

void nn_pool_run(nn_pool *pool, nn_pool_task task, void *ctx, int n_tasks)
{
    if (n_tasks <= 0)
        return;
    if (!pool || pool->threads == 1 || n_tasks == 1) {
        for (int i = 0; i < n_tasks; i++)
            task(ctx, i, n_tasks);
        return;
    }
    pthread_mutex_lock(&pool->dispatch_lock);
    pool->task = task;
    pool->ctx = ctx;
    pool->n_tasks = n_tasks;
    atomic_store_explicit(&pool->next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->busy_workers, pool->threads - 1, memory_order_relaxed);
    /* seq_cst pairs with the sleeper count: a worker either sees the new generation or is
     * counted as asleep and gets the broadcast. */
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->sleep_lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->sleep_lock);
    }
    run_pieces(pool);
    for (unsigned spin = 0; atomic_load_explicit(&pool->busy_workers, memory_order_acquire) > 0;
         spin++) {
        if (spin < SPIN_ROUNDS)
            _mm_pause();
        else
            sched_yield();
    }
    pthread_mutex_unlock(&pool->dispatch_lock);
}

void nn_pool_range(size_t total, size_t align, int task, int n_tasks, size_t *begin, size_t *end)
{
    if (align == 0)
        align = 1;
    size_t units = (total + align - 1) / align;
    size_t per = units / (size_t)n_tasks, extra = units % (size_t)n_tasks;
    size_t t = (size_t)task;
    size_t first = t * per + (t < extra ? t : extra);
    size_t count = per + (t < extra ? 1 : 0);
    size_t b = first * align, e = (first + count) * align;
    *begin = b < total ? b : total;
    *end = e < total ? e : total;
}
