/* The host structs handed to plugins and instances, and the log and progress services. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void ext_log(const spark_host *host, int32_t level, const char *message)
{
    const sp_host_ctx *ctx = (const sp_host_ctx *)host;
    if (!message)
        return;
    int engine_level = level < SPARK_LOG_ERROR ? SPARK_LOG_LEVEL_ERROR
                       : level > SPARK_LOG_DEBUG ? SPARK_LOG_LEVEL_DEBUG
                                                 : (int)level;
    if (ctx->node_id)
        sp_log(&ctx->engine->logger, engine_level, "node %s: %s", ctx->node_id, message);
    else
        sp_log(&ctx->engine->logger, engine_level, "plugin %s: %s",
               ctx->plugin_id ? ctx->plugin_id : "?", message);
}

static void ext_error(const spark_host *host, const char *message)
{
    (void)host;
    sp_posted_error_set(message);
}

static const spark_ext_log log_ext = {
    .struct_size = sizeof(spark_ext_log),
    .log = ext_log,
    .error = ext_error,
};

static spark_status ext_check(const spark_host *host, const spark_job *job)
{
    const sp_host_ctx *ctx = (const sp_host_ctx *)host;
    if (!job)
        return atomic_load(&ctx->engine->shutting_down) ? SPARK_E_CANCELLED : SPARK_OK;
    const sp_node_job *nj = job->host_data;
    return sp_job_check(nj->job);
}

static void ext_report(const spark_host *host, const spark_job *job, double fraction,
                       const char *what)
{
    const sp_host_ctx *ctx = (const sp_host_ctx *)host;
    if (!job) {
        sp_log(&ctx->engine->logger, SPARK_LOG_LEVEL_DEBUG, "node %s: %s %.0f%%",
               ctx->node_id ? ctx->node_id : "?", what ? what : "progress", fraction * 100.0);
        return;
    }
    const sp_node_job *nj = job->host_data;
    sp_job *j = nj->job;
    if (!j->progress)
        return;
    if (fraction < 0)
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    double total = ((double)j->nodes_closed + fraction) / (double)j->pipeline->node_count;
    j->progress(j->progress_user, j->id, total > 1 ? 1 : total, ctx->node_id);
}

static const spark_ext_progress progress_ext = {
    .struct_size = sizeof(spark_ext_progress),
    .check = ext_check,
    .report = ext_report,
};

static const void *get_extension(const spark_host *host, const char *ext_id)
{
    (void)host;
    if (!ext_id)
        return NULL;
    if (strcmp(ext_id, SPARK_EXT_LOG) == 0)
        return &log_ext;
    if (strcmp(ext_id, SPARK_EXT_PROGRESS) == 0)
        return &progress_ext;
    if (strcmp(ext_id, SPARK_EXT_ALLOC) == 0)
        return &sp_ext_alloc;
    if (strcmp(ext_id, SPARK_EXT_STORAGE) == 0)
        return &sp_ext_storage;
    return NULL;
}

void sp_host_ctx_init(sp_host_ctx *ctx, spark_engine *engine, spark_pipeline *pipeline,
                      const char *node_id, const char *plugin_id)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->host = (spark_host){
        .struct_size = sizeof(spark_host),
        .abi = SPARK_ABI_VERSION_INIT,
        .name = "sparkhost",
        .version = spark_engine_version(),
        .host_data = ctx,
        .get_extension = get_extension,
    };
    ctx->engine = engine;
    ctx->pipeline = pipeline;
    ctx->node_id = node_id;
    ctx->plugin_id = plugin_id;
}
