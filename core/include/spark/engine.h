/*
 * spark/engine.h - the host-facing API of the sparkhost engine.
 *
 * A host makes an engine (which finds and loads plugins), loads a pipeline file (parsed and
 * checked against the plugins' descriptors), activates it once, then runs any number of
 * jobs on it, several at once if it likes. Requests and results are JSON text.
 */
#ifndef SPARK_ENGINE_H
#define SPARK_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <spark/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spark_engine spark_engine;
typedef struct spark_pipeline spark_pipeline;
typedef struct spark_job_handle spark_job_handle;

/* What went wrong, by class; hosts map classes to exit codes or HTTP statuses. */
typedef enum spark_error_class {
    SPARK_ERROR_NONE = 0,
    SPARK_ERROR_USAGE = 1,    /* the host was called wrongly */
    SPARK_ERROR_PIPELINE = 2, /* the pipeline file or a plugin it needs is invalid */
    SPARK_ERROR_REQUEST = 3,  /* a job request breaks the pipeline's input schema */
    SPARK_ERROR_JOB = 4,      /* a job failed, was cancelled or ran past its deadline */
    SPARK_ERROR_INTERNAL = 5  /* out of memory, a bug, the system failed */
} spark_error_class;

typedef struct spark_error {
    spark_error_class error_class;
    spark_status status; /* the plugin status behind a job failure, or SPARK_OK */
    char *message;       /* one or more lines; every line stands alone */
    char *node_id;       /* the node a job failure comes from, or NULL */
    char *field;         /* the request field a request error is about, or NULL */
} spark_error;

void spark_error_free(spark_error *error);

enum {
    SPARK_LOG_LEVEL_ERROR = 0,
    SPARK_LOG_LEVEL_WARN = 1,
    SPARK_LOG_LEVEL_INFO = 2,
    SPARK_LOG_LEVEL_DEBUG = 3
};

/* [thread] any thread; the callback must be thread-safe. */
typedef void (*spark_log_fn)(void *user, int level, const char *line);

typedef struct spark_engine_options {
    const char *const *plugin_paths; /* searched first (the --plugin-path flags) */
    size_t plugin_path_count;
    int log_level;                   /* messages above this level are dropped */
    spark_log_fn log;                /* NULL: log lines go to stderr */
    void *log_user;
} spark_engine_options;

/* Makes an engine and loads every plugin on the search path: the options' paths, then
 * SPARK_PLUGIN_PATH (colon-separated), then ../lib/sparkhost/plugins beside the
 * executable, then the install prefix. Plugins that fail validation are skipped with a
 * logged reason and listed by spark_engine_plugin_problems. */
spark_engine *spark_engine_new(const spark_engine_options *options, spark_error **error);
void spark_engine_free(spark_engine *engine);

/* Loads the plugins of one more directory (a pipeline's plugin_path). */
int spark_engine_add_plugin_dir(spark_engine *engine, const char *dir, spark_error **error);

/* Descriptors of every usable node and storage backend, with the file they come from. */
typedef struct spark_plugin_info {
    const char *id;
    const char *version;
    const char *kind; /* "node" or "storage" */
    const char *file; /* the DSO, or "(built in)" */
    const spark_node_desc *node;       /* for nodes */
    const spark_storage_desc *storage; /* for storage backends */
} spark_plugin_info;

size_t spark_engine_plugin_count(const spark_engine *engine);
const spark_plugin_info *spark_engine_plugin_at(const spark_engine *engine, size_t index);
const spark_plugin_info *spark_engine_find_plugin(const spark_engine *engine, const char *id);
/* Problems found while loading (refused plugins, duplicate ids), one per line, or NULL. */
const char *spark_engine_plugin_problems(const spark_engine *engine);

typedef struct spark_pipeline_options {
    unsigned job_threads; /* jobs that may run at once; 0 means 1 */
} spark_pipeline_options;

/* Parses and checks a pipeline file against the registry. All problems are reported, one
 * line each, as "file:line: message". Nothing is instantiated. */
spark_pipeline *spark_pipeline_load(spark_engine *engine, const char *path,
                                    const spark_pipeline_options *options,
                                    spark_error **error);
void spark_pipeline_free(spark_pipeline *pipeline);

/* Instantiates, configures, negotiates and activates every node, in dependency order. */
int spark_pipeline_activate(spark_pipeline *pipeline, spark_error **error);

size_t spark_pipeline_node_count(const spark_pipeline *pipeline);
size_t spark_pipeline_link_count(const spark_pipeline *pipeline);

/* Turns "key=value" strings (command-line style) into a JSON request, typing each value by
 * the pipeline's input schema. Returns malloc'd JSON text. */
char *spark_pipeline_request_from_pairs(const spark_pipeline *pipeline,
                                        const char *const *keys, const char *const *values,
                                        size_t count, spark_error **error);
/* Whether the pipeline declares a job input with this name. */
int spark_pipeline_has_input(const spark_pipeline *pipeline, const char *name);

/* [thread] the job's thread. fraction of the job's nodes finished, node = the node that
 * reported. */
typedef void (*spark_progress_fn)(void *user, const char *job_id, double fraction,
                                  const char *node_id);

/* One piece of a streamed output: a store node with `stream: true` hands each blob it
 * receives to the host as it arrives (and also appends it to its object, committed at job
 * end). The pieces of one node, in seq order, are the whole object.
 * [owns] everything is borrowed for the duration of the callback. */
typedef struct spark_chunk {
    const char *job_id;
    const char *node_id;    /* the store node */
    const char *url;        /* where the object goes; "-" when only the host gets it */
    const char *media_type; /* of the whole object, e.g. "audio/wav" */
    const char *file_name;  /* suggested, may be "" */
    const void *bytes;
    size_t size;
    uint64_t seq;           /* 0, 1, 2, ... within the node's object */
    uint64_t offset;        /* byte offset of this piece in the object */
} spark_chunk;

/* [thread] the job's thread. Return 0 to go on; any other value fails the job (the host
 * could not take the piece, e.g. its reader went away). */
typedef int (*spark_chunk_fn)(void *user, const spark_chunk *chunk);

/* Zero-initialise and set what you need: fields added later keep zero meaning "off". */
typedef struct spark_job_options {
    const char *id;          /* NULL: the engine makes one */
    double timeout_seconds;  /* 0: the pipeline's job_timeout, if any */
    spark_progress_fn progress;
    void *progress_user;
    spark_chunk_fn on_chunk; /* NULL: streamed pieces only go to their objects */
    void *chunk_user;
} spark_job_options;

/* Validates the request (JSON object text) against the input schema, then queues the job on
 * the pipeline's job threads. A bad request fails here, before any node runs. */
spark_job_handle *spark_job_submit(spark_pipeline *pipeline, const char *request_json,
                                   const spark_job_options *options, spark_error **error);
/* Asks the job to stop; it ends promptly with SPARK_E_CANCELLED. [thread] any */
void spark_job_cancel(spark_job_handle *job);
const char *spark_job_id(const spark_job_handle *job);
/* Waits for the job and frees the handle. On success *result_json is the job's result
 * (malloc'd JSON object text). Returns 0 or -1. */
int spark_job_wait(spark_job_handle *job, char **result_json, spark_error **error);
/* The two halves of spark_job_wait, for hosts that may cancel from another thread: join
 * waits and gives the outcome (once) but keeps the handle, so a late spark_job_cancel is
 * harmless; release frees it (joining first if nobody did). */
int spark_job_join(spark_job_handle *job, char **result_json, spark_error **error);
void spark_job_release(spark_job_handle *job);

/* submit + wait. */
int spark_job_run(spark_pipeline *pipeline, const char *request_json,
                  const spark_job_options *options, char **result_json, spark_error **error);

const char *spark_engine_version(void);

#ifdef __cplusplus
}
#endif

#endif
