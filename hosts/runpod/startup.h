/* Start-up: fetch the model if its directory is missing (under the fetch lock, so workers
 * sharing a volume download once), make the engine, load and activate the pipeline. Each
 * step's time is logged, and the whole from process start to ready. */
#ifndef RP_STARTUP_H
#define RP_STARTUP_H

#include <stdbool.h>

#include <spark/engine.h>

typedef struct rp_startup_options {
    const char *pipeline;
    const char *const *plugin_paths;
    size_t plugin_path_count;
    unsigned job_threads;
    const char *model_dir;  /* NULL: nothing to fetch */
    const char *model_repo;
    const char *model_revision;
    int log_level;          /* for the engine's messages */
} rp_startup_options;

typedef struct rp_runtime {
    spark_engine *engine;
    spark_pipeline *pipeline;
    double ready_seconds; /* process start -> ready */
} rp_runtime;

/* Returns 0, or -1 after logging why. */
int rp_startup(const rp_startup_options *o, rp_runtime *rt);
void rp_runtime_free(rp_runtime *rt);
/* Seconds since the process started (from /proc/self/stat). */
double rp_process_age(void);

#endif
