/* Jobs: submission (request validated first), a fixed pool of job threads per pipeline,
 * cancellation, deadlines and waiting for the result. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct spark_job_handle {
    sp_job job;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
    bool joined; /* the outcome was handed out; the handle lives until released */
    int rc;
    spark_job_handle *next_queued;
};

struct sp_job_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    spark_job_handle *head, *tail;
    bool stopping;
    pthread_t *threads;
    unsigned thread_count;
};

static void job_handle_free(spark_job_handle *h)
{
    sp_job *job = &h->job;
    spark_pipeline *p = job->pipeline;
    if (job->inputs)
        for (size_t i = 0; i < p->input_count; i++)
            sp_value_clear(&job->inputs[i]);
    free(job->inputs);
    for (size_t i = 0; i < job->result_count; i++) {
        free(job->results[i].name);
        free(job->results[i].text);
    }
    free(job->results);
    free(job->nodes);
    free(job->queues);
    spark_error_free(job->error);
    free(job->id);
    pthread_mutex_destroy(&job->lock);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->done_cond);
    free(h);
}

static void run_one(spark_job_handle *h)
{
    sp_job *job = &h->job;
    sp_logger *log = &job->pipeline->engine->logger;
    sp_log(log, SPARK_LOG_LEVEL_DEBUG, "job %s started", job->id);
    int rc = sp_schedule_run(job);
    if (rc == 0)
        sp_log(log, SPARK_LOG_LEVEL_DEBUG, "job %s done in %.1f ms", job->id,
               (double)(sp_monotonic_ns() - job->started_ns) / 1e6);
    else
        sp_log(log, SPARK_LOG_LEVEL_DEBUG, "job %s failed: %s", job->id,
               job->error && job->error->message ? job->error->message : "?");
    pthread_mutex_lock(&h->lock);
    h->rc = rc;
    h->done = true;
    pthread_cond_broadcast(&h->done_cond);
    pthread_mutex_unlock(&h->lock);
}

static void *job_thread(void *arg)
{
    sp_job_queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->cond, &q->lock);
        spark_job_handle *h = q->head;
        if (!h) {
            pthread_mutex_unlock(&q->lock);
            return NULL;
        }
        q->head = h->next_queued;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->lock);
        run_one(h);
    }
}

int sp_job_queue_start(spark_pipeline *p)
{
    sp_job_queue *q = calloc(1, sizeof *q);
    if (!q)
        return -1;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    unsigned n = p->job_threads ? p->job_threads : 1;
    q->threads = calloc(n, sizeof *q->threads);
    if (!q->threads) {
        free(q);
        return -1;
    }
    p->queue = q;
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&q->threads[i], NULL, job_thread, q) != 0)
            break;
        q->thread_count++;
    }
    if (q->thread_count == 0) {
        sp_job_queue_stop(p);
        return -1;
    }
    return 0;
}

/* Finishes the queued jobs, then joins the threads. */
void sp_job_queue_stop(spark_pipeline *p)
{
    sp_job_queue *q = p->queue;
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    for (unsigned i = 0; i < q->thread_count; i++)
        pthread_join(q->threads[i], NULL);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
    free(q->threads);
    free(q);
    p->queue = NULL;
}

spark_job_handle *spark_job_submit(spark_pipeline *p, const char *request_json,
                                   const spark_job_options *options, spark_error **error)
{
    if (!p->activated) {
        sp_fail(error, SPARK_ERROR_USAGE, "the pipeline is not activated");
        return NULL;
    }
    spark_job_handle *h = calloc(1, sizeof *h);
    if (!h) {
        sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->done_cond, NULL);
    sp_job *job = &h->job;
    pthread_mutex_init(&job->lock, NULL);
    job->pipeline = p;
    atomic_init(&job->cancel, false);
    atomic_init(&job->failed, false);
    uint64_t number = atomic_fetch_add(&p->job_counter, 1) + 1;
    job->id = options && options->id ? sp_strdup(options->id) : sp_printf("job-%llu",
                                                                         (unsigned long long)number);
    job->inputs = calloc(p->input_count ? p->input_count : 1, sizeof *job->inputs);
    if (!job->id || !job->inputs) {
        job_handle_free(h);
        sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
        return NULL;
    }
    if (sp_request_validate(p, request_json, job->inputs, error) != 0) {
        job_handle_free(h);
        return NULL;
    }
    job->timeout_seconds = options && options->timeout_seconds > 0 ? options->timeout_seconds
                                                                    : p->job_timeout;
    if (job->timeout_seconds > 0)
        job->deadline_ns = sp_monotonic_ns() + (uint64_t)(job->timeout_seconds * 1e9);
    if (options) {
        job->progress = options->progress;
        job->progress_user = options->progress_user;
        job->on_chunk = options->on_chunk;
        job->chunk_user = options->chunk_user;
    }
    sp_job_queue *q = p->queue;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next_queued = h;
    else
        q->head = h;
    q->tail = h;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return h;
}

void spark_job_cancel(spark_job_handle *h)
{
    if (h)
        atomic_store(&h->job.cancel, true);
}

const char *spark_job_id(const spark_job_handle *h)
{
    return h ? h->job.id : NULL;
}

int spark_job_join(spark_job_handle *h, char **result_json, spark_error **error)
{
    if (result_json)
        *result_json = NULL;
    if (h->joined)
        return sp_fail(error, SPARK_ERROR_INTERNAL, "job %s was already joined", h->job.id);
    h->joined = true;
    pthread_mutex_lock(&h->lock);
    while (!h->done)
        pthread_cond_wait(&h->done_cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    int rc = h->rc;
    if (rc == 0) {
        char *text = sp_job_result_json(&h->job);
        if (!text)
            rc = sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
        else if (result_json)
            *result_json = text;
        else
            free(text);
    } else {
        spark_error *err = h->job.error;
        h->job.error = NULL; /* the job is over: no thread polls it any more */
        sp_error_set(error, err ? err : sp_error_new(SPARK_ERROR_INTERNAL, SPARK_E_INTERNAL,
                                                     "job failed"));
        rc = -1;
    }
    return rc;
}

void spark_job_release(spark_job_handle *h)
{
    if (!h)
        return;
    if (!h->joined) {
        char *ignored = NULL;
        spark_error *err = NULL;
        spark_job_join(h, &ignored, &err);
        free(ignored);
        spark_error_free(err);
    }
    job_handle_free(h);
}

int spark_job_wait(spark_job_handle *h, char **result_json, spark_error **error)
{
    int rc = spark_job_join(h, result_json, error);
    job_handle_free(h);
    return rc;
}

int spark_job_run(spark_pipeline *p, const char *request_json, const spark_job_options *options,
                  char **result_json, spark_error **error)
{
    spark_job_handle *h = spark_job_submit(p, request_json, options, error);
    if (!h)
        return -1;
    return spark_job_wait(h, result_json, error);
}
