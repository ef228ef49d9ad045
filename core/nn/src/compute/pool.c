/* The kernel thread pool: workers claim the pieces of a dispatch (spin, then sleep between). */
#include "spark/nn/pool.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
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
    atomic_int sleepers;
    atomic_bool stopping;
    /* One word says everything a worker needs to claim a piece: the dispatch number (high
     * 32 bits), its piece count (16 bits) and the next unclaimed piece (low 16 bits). A
     * worker claims with compare-and-swap, so one that wakes after its dispatch has ended
     * claims nothing (its count is never mixed with the next dispatch's), and the caller
     * waits only for pieces actually claimed, never for a worker not scheduled yet. */
    atomic_uint_least64_t claim;
    atomic_int pieces_done;
    /* the current dispatch's function, written before `claim` publishes it */
    nn_pool_task task;
    void *ctx;
};

enum { MAX_PIECES = 0xffff };

static uint32_t dispatch_of(uint64_t claim)
{
    return (uint32_t)(claim >> 32);
}

/* Claims and runs pieces of dispatch `number` until none is left. */
static void run_pieces(nn_pool *pool, uint32_t number)
{
    uint64_t c = atomic_load_explicit(&pool->claim, memory_order_acquire);
    for (;;) {
        int next = (int)(c & MAX_PIECES), count = (int)((c >> 16) & MAX_PIECES);
        if (dispatch_of(c) != number || next >= count)
            return;
        if (!atomic_compare_exchange_weak_explicit(&pool->claim, &c, c + 1,
                                                   memory_order_acq_rel, memory_order_acquire))
            continue; /* c was reloaded */
        pool->task(pool->ctx, next, count);
        atomic_fetch_add_explicit(&pool->pieces_done, 1, memory_order_release);
        c = atomic_load_explicit(&pool->claim, memory_order_acquire);
    }
}

static void *worker_main(void *arg)
{
    nn_pool *pool = arg;
    uint32_t seen = 0; /* the dispatch number at creation: a dispatch may come before this
                          thread runs */
    for (;;) {
        uint32_t now = seen;
        for (int spin = 0; spin < SPIN_ROUNDS; spin++) {
            now = dispatch_of(atomic_load_explicit(&pool->claim, memory_order_acquire));
            if (now != seen || atomic_load_explicit(&pool->stopping, memory_order_relaxed))
                break;
            _mm_pause();
        }
        if (now == seen && !atomic_load(&pool->stopping)) {
            pthread_mutex_lock(&pool->sleep_lock);
            atomic_fetch_add(&pool->sleepers, 1);
            while ((now = dispatch_of(atomic_load(&pool->claim))) == seen &&
                   !atomic_load(&pool->stopping))
                pthread_cond_wait(&pool->wake, &pool->sleep_lock);
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->sleep_lock);
        }
        if (atomic_load(&pool->stopping))
            return NULL;
        seen = now;
        run_pieces(pool, now);
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
    if (!pool || pool->threads == 1 || n_tasks == 1 || n_tasks > MAX_PIECES) {
        for (int i = 0; i < n_tasks; i++)
            task(ctx, i, n_tasks);
        return;
    }
    pthread_mutex_lock(&pool->dispatch_lock);
    pool->task = task;
    pool->ctx = ctx;
    atomic_store_explicit(&pool->pieces_done, 0, memory_order_relaxed);
    uint32_t number = dispatch_of(atomic_load(&pool->claim)) + 1;
    /* seq_cst pairs with the sleeper count: a worker either sees the new dispatch or is
     * counted as asleep and gets the broadcast. */
    atomic_store(&pool->claim, (uint64_t)number << 32 | (uint64_t)n_tasks << 16);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->sleep_lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->sleep_lock);
    }
    run_pieces(pool, number);
    /* every piece is claimed: wait for the ones other threads are still running */
    for (unsigned spin = 0;
         atomic_load_explicit(&pool->pieces_done, memory_order_acquire) < n_tasks; spin++) {
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
