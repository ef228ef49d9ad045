/* One job on the activated pipeline: the job's `input` object becomes the engine request
 * (checked against the pipeline's inputs before anything runs) and the outcome becomes the
 * body the platform expects: {"output": RESULT} or {"error": "<JSON text>"}, where the text
 * is an object {type, message, node, field}. Errors are strings because the platform only
 * marks a job FAILED for a string `error`. */
#ifndef RP_JOB_EXEC_H
#define RP_JOB_EXEC_H

#include <pthread.h>
#include <stdbool.h>

#include <cjson/cJSON.h>
#include <spark/engine.h>

/* Lets another thread cancel a job that may not have started yet. */
typedef struct job_ctl {
    pthread_mutex_t mu;
    spark_job_handle *handle; /* set while the job runs */
    bool cancelled;
} job_ctl;

void job_ctl_init(job_ctl *c);
void job_ctl_destroy(job_ctl *c);
/* [thread] any. Marks the job cancelled and stops it if it runs. */
void job_ctl_cancel(job_ctl *c);
bool job_ctl_cancelled(job_ctl *c);

typedef struct job_outcome {
    cJSON *body;     /* {"output": ...} or {"error": "..."} */
    bool failed;
    bool cancelled;  /* stopped through its job_ctl */
    bool streamed;   /* the job ran with the stream hook (its pieces went there) */
    double seconds;
} job_outcome;

/* Where a job's streamed pieces go when its request asks for them. */
typedef struct job_stream_hook {
    spark_chunk_fn on_chunk;
    void *user;
} job_stream_hook;

/* Whether a request asks for a streamed output: "stream": true, and the pipeline has a
 * 'stream' input (its store and encoder nodes stream). */
bool job_wants_stream(const spark_pipeline *p, const cJSON *input);

/* Runs the job and fills *out (out->body is NULL only when out of memory). stream may be
 * NULL; it is used only when the request asks to stream. */
void job_exec_run(spark_pipeline *p, const char *job_id, const cJSON *input, job_ctl *ctl,
                  spark_progress_fn progress, void *progress_user, const job_stream_hook *stream,
                  job_outcome *out);

/* {"error": "<JSON text of {type, message, node, field}>"}; node and field may be NULL. */
cJSON *job_error_body(const char *type, const char *message, const char *node,
                      const char *field);

#endif
