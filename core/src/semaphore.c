/* A counting semaphore for per-instance job slots (max_concurrent_jobs). */
#include "internal.h"

void sp_semaphore_init(sp_semaphore *s, uint32_t count)
{
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->available = count;
    s->limited = count > 0;
}

void sp_semaphore_destroy(sp_semaphore *s)
{
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
}

void sp_semaphore_acquire(sp_semaphore *s)
{
    if (!s->limited)
        return;
    pthread_mutex_lock(&s->lock);
    while (s->available == 0)
        pthread_cond_wait(&s->cond, &s->lock);
    s->available--;
    pthread_mutex_unlock(&s->lock);
}

void sp_semaphore_release(sp_semaphore *s)
{
    if (!s->limited)
        return;
    pthread_mutex_lock(&s->lock);
    s->available++;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}
