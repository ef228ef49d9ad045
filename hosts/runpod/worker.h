/* The deployed job loop: a take loop (single or batch long polls), N job threads on the one
 * activated pipeline, a heartbeat thread and a stop-signal thread. Every job taken is reported
 * exactly once unless the platform stops it. SIGTERM/SIGINT stop the taking; jobs in hand
 * finish and are reported; then rp_worker_run returns 0. */
#ifndef RP_WORKER_H
#define RP_WORKER_H

#include <spark/engine.h>

#include "platform.h"

typedef struct rp_worker_options {
    int concurrency;
    bool stream_progress; /* post progress chunks to the stream URL */
} rp_worker_options;

int rp_worker_run(const rp_platform *pf, spark_pipeline *pipeline, const rp_worker_options *o);

#endif
