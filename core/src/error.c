/* Engine errors for hosts, and the per-thread message a plugin posts before failing. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void spark_error_free(spark_error *error)
{
    if (!error)
        return;
    free(error->message);
    free(error->node_id);
    free(error->field);
    free(error);
}

spark_error *sp_error_new(spark_error_class cls, spark_status status, const char *fmt, ...)
{
    spark_error *err = calloc(1, sizeof *err);
    if (!err)
        return NULL;
    err->error_class = cls;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    err->message = sp_vprintf(fmt, ap);
    va_end(ap);
    if (!err->message) {
        free(err);
        return NULL;
    }
    return err;
}

int sp_error_set(spark_error **out, spark_error *err)
{
    if (out && !*out)
        *out = err;
    else
        spark_error_free(err);
    return -1;
}

int sp_fail(spark_error **out, spark_error_class cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *message = sp_vprintf(fmt, ap);
    va_end(ap);
    spark_error *err = sp_error_new(cls, SPARK_OK, "%s", message ? message : "out of memory");
    free(message);
    return sp_error_set(out, err);
}

static _Thread_local char *posted_error;

void sp_posted_error_set(const char *message)
{
    free(posted_error);
    posted_error = sp_strdup(message ? message : "");
}

void sp_posted_error_clear(void)
{
    free(posted_error);
    posted_error = NULL;
}

const char *sp_status_name(spark_status status)
{
    switch (status) {
    case SPARK_OK: return "ok";
    case SPARK_NEED_MORE: return "need more input";
    case SPARK_END_OF_STREAM: return "end of stream";
    case SPARK_E_INVALID_ARGUMENT: return "invalid argument";
    case SPARK_E_UNSUPPORTED: return "unsupported";
    case SPARK_E_FORMAT_MISMATCH: return "format mismatch";
    case SPARK_E_NOT_FOUND: return "not found";
    case SPARK_E_IO: return "I/O error";
    case SPARK_E_NO_MEMORY: return "out of memory";
    case SPARK_E_INVALID_MODEL: return "invalid model";
    case SPARK_E_DEVICE: return "device error";
    case SPARK_E_CANCELLED: return "cancelled";
    case SPARK_E_TIMEOUT: return "deadline exceeded";
    case SPARK_E_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

char *sp_posted_error_take(spark_status status)
{
    char *msg = posted_error;
    posted_error = NULL;
    if (msg && *msg)
        return msg;
    free(msg);
    return sp_printf("%s (status %d, no message posted)", sp_status_name(status), (int)status);
}
