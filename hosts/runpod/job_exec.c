/* Runs one job and shapes its result or error for the platform. */
#include "job_exec.h"

#include "rp_log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void job_ctl_init(job_ctl *c)
{
    pthread_mutex_init(&c->mu, NULL);
    c->handle = NULL;
    c->cancelled = false;
}

void job_ctl_destroy(job_ctl *c)
{
    pthread_mutex_destroy(&c->mu);
}

void job_ctl_cancel(job_ctl *c)
{
    pthread_mutex_lock(&c->mu);
    c->cancelled = true;
    if (c->handle)
        spark_job_cancel(c->handle);
    pthread_mutex_unlock(&c->mu);
}

bool job_ctl_cancelled(job_ctl *c)
{
    pthread_mutex_lock(&c->mu);
    bool v = c->cancelled;
    pthread_mutex_unlock(&c->mu);
    return v;
}

cJSON *job_error_body(const char *type, const char *message, const char *node,
                      const char *field)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddStringToObject(e, "message", message ? message : "unknown error");
    cJSON_AddItemToObject(e, "node", node ? cJSON_CreateString(node) : cJSON_CreateNull());
    if (field)
        cJSON_AddStringToObject(e, "field", field);
    char *text = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "error", text ? text : "{\"type\":\"internal_error\"}");
    free(text);
    return body;
}

static const char *error_type(const spark_error *e)
{
    switch (e->error_class) {
    case SPARK_ERROR_REQUEST: return "invalid_request";
    case SPARK_ERROR_JOB:
        if (e->status == SPARK_E_CANCELLED) return "cancelled";
        if (e->status == SPARK_E_TIMEOUT) return "timeout";
        return "job_failed";
    case SPARK_ERROR_PIPELINE: return "pipeline_error";
    case SPARK_ERROR_USAGE: return "usage_error";
    default: return "internal_error";
    }
}

/* Safe in file names and URLs: the store node may use the id in a path. */
static bool plain_id(const char *id)
{
    if (!*id || strlen(id) > 128 || id[0] == '.')
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

/* The engine names a failing node as "node 'ID' (plugin, file:line) failed ..."; the result
 * keeps "node 'ID' failed ..." and leaves plugin and file to the log. */
static char *public_message(const char *message)
{
    char *out = strdup(message);
    if (!out || strncmp(out, "node '", 6) != 0)
        return out;
    char *open = strstr(out, "' (");
    char *close = open ? strstr(open, ") ") : NULL;
    if (open && close)
        memmove(open + 1, close + 1, strlen(close + 1) + 1);
    return out;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

bool job_wants_stream(const spark_pipeline *p, const cJSON *input)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(input, "stream")) &&
           spark_pipeline_has_input(p, "stream");
}

void job_exec_run(spark_pipeline *p, const char *job_id, const cJSON *input, job_ctl *ctl,
                  spark_progress_fn progress, void *progress_user, const job_stream_hook *stream,
                  job_outcome *out)
{
    memset(out, 0, sizeof *out);
    double start = now_s();
    if (!cJSON_IsObject(input)) {
        out->body = job_error_body("invalid_request",
                                   input ? "'input' must be a JSON object of request fields"
                                         : "the job has no 'input'",
                                   NULL, "input");
        out->failed = true;
        rp_log(RP_WARN, job_id, "refused: the job's input is not a JSON object");
        return;
    }
    char *request = cJSON_PrintUnformatted(input);
    spark_error *error = NULL;
    out->streamed = stream && stream->on_chunk && job_wants_stream(p, input);
    spark_job_options options = {
        .id = plain_id(job_id) ? job_id : NULL,
        .progress = progress,
        .progress_user = progress_user,
        .on_chunk = out->streamed ? stream->on_chunk : NULL,
        .chunk_user = out->streamed ? stream->user : NULL,
    };
    pthread_mutex_lock(&ctl->mu);
    spark_job_handle *h = NULL;
    if (!ctl->cancelled && request)
        h = spark_job_submit(p, request, &options, &error);
    bool cancelled_early = ctl->cancelled;
    ctl->handle = h;
    pthread_mutex_unlock(&ctl->mu);
    free(request);

    char *result = NULL;
    int rc = -1;
    if (h) {
        rc = spark_job_join(h, &result, &error);
        /* the handle outlives the join until no stop signal can reach it */
        pthread_mutex_lock(&ctl->mu);
        ctl->handle = NULL;
        pthread_mutex_unlock(&ctl->mu);
        spark_job_release(h);
    }
    out->seconds = now_s() - start;
    out->cancelled = job_ctl_cancelled(ctl);
    if (rc == 0) {
        cJSON *parsed = cJSON_Parse(result);
        out->body = cJSON_CreateObject();
        cJSON_AddItemToObject(out->body, "output", parsed ? parsed : cJSON_CreateObject());
        rp_log(RP_INFO, job_id, "completed in %.3f s", out->seconds);
    } else if (cancelled_early && !error) {
        out->body = job_error_body("cancelled", "the job was cancelled before it started", NULL,
                                   NULL);
        out->failed = true;
    } else {
        const char *type = error ? error_type(error) : "internal_error";
        const char *message = error && error->message ? error->message : "out of memory";
        char *shown = public_message(message);
        out->body = job_error_body(type, shown ? shown : message, error ? error->node_id : NULL,
                                   error ? error->field : NULL);
        free(shown);
        out->failed = true;
        const char *node = error ? error->node_id : NULL;
        rp_log(RP_WARN, job_id, "%s after %.3f s: %s%s%s%s", type, out->seconds, message,
               node ? " (node '" : "", node ? node : "", node ? "')" : "");
    }
    free(result);
    spark_error_free(error);
}
