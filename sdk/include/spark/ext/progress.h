/* spark/ext/progress.h - host service "spark.ext.progress/1": progress and cancellation. */
#ifndef SPARK_EXT_PROGRESS_H
#define SPARK_EXT_PROGRESS_H

#include <spark/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPARK_EXT_PROGRESS "spark.ext.progress/1"

typedef struct spark_ext_progress {
    uint32_t struct_size;
    uint32_t reserved;
    /* SPARK_OK to go on, SPARK_E_CANCELLED when the job (or, with job == NULL inside
     * activate, the engine) is being stopped, SPARK_E_TIMEOUT past the job's deadline.
     * Poll it in every long loop and return the status it gave.
     * [thread] any  [state] activate, or inside a job  [owns] nothing kept */
    spark_status (*check)(const spark_host *host, const spark_job *job);
    /* Report progress: fraction 0..1 of this node's work, what = short label or NULL.
     * [thread] the calling node's thread  [owns] what borrowed for the call */
    void (*report)(const spark_host *host, const spark_job *job, double fraction,
                   const char *what);
} spark_ext_progress;

#ifdef __cplusplus
}
#endif

#endif
