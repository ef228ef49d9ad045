/* The engine object: plugin search path and registry, and the pipeline life cycle. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#ifndef SPARK_VERSION
#define SPARK_VERSION "0.0.0"
#endif
#ifndef SPARK_INSTALL_PLUGIN_DIR
#define SPARK_INSTALL_PLUGIN_DIR "/usr/local/lib/sparkhost/plugins"
#endif

const char *spark_engine_version(void)
{
    return SPARK_VERSION;
}

static void add_env_dirs(spark_engine *engine, const char *value)
{
    char *copy = sp_strdup(value);
    char *save = NULL;
    for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir;
         dir = strtok_r(NULL, ":", &save))
        sp_registry_add_dir(engine, dir);
    free(copy);
}

spark_engine *spark_engine_new(const spark_engine_options *options, spark_error **error)
{
    spark_engine *engine = calloc(1, sizeof *engine);
    if (!engine) {
        sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&engine->lock, NULL);
    atomic_init(&engine->shutting_down, false);
    engine->logger.level = SPARK_LOG_LEVEL_WARN;
    if (options) {
        engine->logger.fn = options->log;
        engine->logger.user = options->log_user;
        engine->logger.level = options->log_level;
    }
    if (sp_loader_init() != 0) {
        free(engine);
        sp_fail(error, SPARK_ERROR_INTERNAL, "cannot initialise libltdl");
        return NULL;
    }
    sp_registry_add_plugin(engine, "(built in)", NULL, &sp_builtin_entry);
    for (size_t i = 0; options && i < options->plugin_path_count; i++)
        sp_registry_add_dir(engine, options->plugin_paths[i]);
    const char *env = getenv("SPARK_PLUGIN_PATH");
    if (env && *env)
        add_env_dirs(engine, env);
    char *exe_dir = sp_loader_exe_dir();
    if (exe_dir) {
        char *beside = sp_printf("%s/../lib/sparkhost/plugins", exe_dir);
        if (beside)
            sp_registry_add_dir(engine, beside);
        free(beside);
        free(exe_dir);
    }
    sp_registry_add_dir(engine, SPARK_INSTALL_PLUGIN_DIR);
    return engine;
}

void spark_engine_free(spark_engine *engine)
{
    if (!engine)
        return;
    atomic_store(&engine->shutting_down, true);
    sp_registry_free(&engine->registry);
    sp_loader_exit();
    pthread_mutex_destroy(&engine->lock);
    free(engine);
}

int spark_engine_add_plugin_dir(spark_engine *engine, const char *dir, spark_error **error)
{
    (void)error;
    pthread_mutex_lock(&engine->lock);
    sp_registry_add_dir(engine, dir);
    pthread_mutex_unlock(&engine->lock);
    return 0;
}

size_t spark_engine_plugin_count(const spark_engine *engine)
{
    return engine->registry.entry_count;
}

const spark_plugin_info *spark_engine_plugin_at(const spark_engine *engine, size_t index)
{
    return index < engine->registry.entry_count ? &engine->registry.entries[index].info : NULL;
}

const spark_plugin_info *spark_engine_find_plugin(const spark_engine *engine, const char *id)
{
    const sp_registry_entry *e = sp_registry_find(&engine->registry, id);
    return e ? &e->info : NULL;
}

const char *spark_engine_plugin_problems(const spark_engine *engine)
{
    return engine->registry.problems.len ? engine->registry.problems.data : NULL;
}

spark_pipeline *spark_pipeline_load(spark_engine *engine, const char *path,
                                    const spark_pipeline_options *options, spark_error **error)
{
    sp_buf diag = {0};
    spark_pipeline *p = sp_pipeline_parse(engine, path, &diag);
    if (!p) {
        sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
        return NULL;
    }
    p->job_threads = options && options->job_threads ? options->job_threads : 1;
    atomic_init(&p->job_counter, 0);
    for (size_t i = 0; i < p->plugin_path_count; i++)
        spark_engine_add_plugin_dir(engine, p->plugin_paths[i], NULL);
    if (!diag.len)
        sp_graph_check(p, &diag);
    if (diag.len) {
        if (diag.data[diag.len - 1] == '\n')
            diag.data[--diag.len] = '\0';
        sp_error_set(error, sp_error_new(SPARK_ERROR_PIPELINE, SPARK_OK, "%s", diag.data));
        sp_buf_free(&diag);
        sp_pipeline_free_description(p);
        return NULL;
    }
    sp_buf_free(&diag);
    return p;
}

int spark_pipeline_activate(spark_pipeline *p, spark_error **error)
{
    if (p->activated)
        return 0;
    if (sp_storage_activate(p, error) != 0 || sp_graph_activate(p, error) != 0 ||
        sp_job_queue_start(p) != 0) {
        if (error && !*error)
            sp_fail(error, SPARK_ERROR_INTERNAL, "cannot start the job threads");
        sp_graph_teardown(p);
        sp_storage_teardown(p);
        return -1;
    }
    p->activated = true;
    return 0;
}

void spark_pipeline_free(spark_pipeline *p)
{
    if (!p)
        return;
    sp_job_queue_stop(p);
    sp_graph_teardown(p);
    sp_storage_teardown(p);
    sp_pipeline_free_description(p);
}

size_t spark_pipeline_node_count(const spark_pipeline *p)
{
    return p->node_count;
}

size_t spark_pipeline_link_count(const spark_pipeline *p)
{
    return p->link_count;
}
