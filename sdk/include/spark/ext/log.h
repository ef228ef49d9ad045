/* spark/ext/log.h - host service "spark.ext.log/1": logging and error posting. */
#ifndef SPARK_EXT_LOG_H
#define SPARK_EXT_LOG_H

#include <spark/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPARK_EXT_LOG "spark.ext.log/1"

enum {
    SPARK_LOG_ERROR = 0,
    SPARK_LOG_WARN = 1,
    SPARK_LOG_INFO = 2,
    SPARK_LOG_DEBUG = 3
};

typedef struct spark_ext_log {
    uint32_t struct_size;
    uint32_t reserved;
    /* Write one log line; the engine adds the node and job. Never pass secrets.
     * [thread] any  [state] any  [owns] message borrowed for the call */
    void (*log)(const spark_host *host, int32_t level, const char *message);
    /* Record the reason for the failure this call is about to return. The engine attaches
     * node id, plugin id, lifecycle phase and the pipeline's file:line. The last message
     * posted on a thread before a negative status wins.
     * [thread] the thread of the failing call  [owns] message copied */
    void (*error)(const spark_host *host, const char *message);
} spark_ext_log;

#ifdef __cplusplus
}
#endif

#endif
