/* Storage backends of a pipeline: activation, routing URLs by scheme, and the
 * spark.ext.storage/1 service with its write transactions tracked per job so that a job
 * that fails or is cancelled leaves nothing half-written. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct spark_storage_writer {
    sp_storage *backend;
    void *writer;
    sp_job *job;
    spark_storage_writer *next;
};

static char *url_scheme(const char *url)
{
    const char *colon = strchr(url, ':');
    if (!colon || colon == url)
        return sp_strdup("");
    for (const char *c = url; c < colon; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (c > url && ((*c >= '0' && *c <= '9') || *c == '+' || *c == '-' || *c == '.'))))
            return sp_strdup(""); /* not a scheme: a path that contains ':' */
    char *s = sp_strndup(url, (size_t)(colon - url));
    for (char *c = s; c && *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return s;
}

sp_storage *sp_storage_route(spark_pipeline *p, const char *url, char **reason)
{
    char *scheme = url_scheme(url);
    if (!scheme) {
        *reason = sp_strdup("out of memory");
        return NULL;
    }
    for (size_t i = 0; i < p->storage_count; i++) {
        sp_storage *s = &p->storages[i];
        if (s->state != SP_NODE_ACTIVE)
            continue;
        for (size_t k = 0; s->desc->schemes[k]; k++)
            if (strcmp(s->desc->schemes[k], scheme) == 0) {
                free(scheme);
                return s;
            }
    }
    *reason = *scheme ? sp_printf("no storage backend of the pipeline serves '%s:' URLs", scheme)
                      : sp_strdup("no storage backend of the pipeline serves plain paths");
    free(scheme);
    return NULL;
}

/* Makes the implicit local backend when a pipeline declares none. */
static int add_default_storage(spark_pipeline *p)
{
    const sp_registry_entry *e = sp_registry_find(&p->engine->registry,
                                                  "org.sparkhost.storage.local");
    if (!e || !e->info.storage)
        return 0;
    p->storages = calloc(1, sizeof *p->storages);
    if (!p->storages)
        return -1;
    sp_storage *s = &p->storages[0];
    s->id = sp_strdup("local");
    s->plugin_id = sp_strdup(e->info.id);
    s->entry = e;
    s->desc = e->info.storage;
    if (!s->id || !s->plugin_id || sp_param_set_init(&s->params, s->desc->params,
                                                     s->desc->param_count) != 0)
        return -1;
    p->storage_count = 1;
    return 0;
}

static int storage_failed(sp_storage *s, const char *phase, spark_status st, spark_error **error)
{
    char *msg = sp_posted_error_take(st);
    sp_fail(error, SPARK_ERROR_PIPELINE, "storage backend '%s' (%s) failed in %s: %s",
            s->id, s->desc->id, phase, msg ? msg : "");
    free(msg);
    return -1;
}

int sp_storage_activate(spark_pipeline *p, spark_error **error)
{
    if (p->storage_count == 0 && add_default_storage(p) != 0)
        return sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
    for (size_t i = 0; i < p->storage_count; i++) {
        sp_storage *s = &p->storages[i];
        const spark_storage_ops *ops = s->desc->ops;
        sp_host_ctx_init(&s->host, p->engine, p, s->id, s->desc->id);
        sp_posted_error_clear();
        spark_status st = ops->create(&s->host.host, s->id, &s->self);
        if (st < 0)
            return storage_failed(s, "create", st, error);
        s->state = SP_NODE_CREATED;
        if (ops->configure && (st = ops->configure(s->self, &s->params.api)) < 0)
            return storage_failed(s, "configure", st, error);
        s->state = SP_NODE_CONFIGURED;
        if (ops->activate && (st = ops->activate(s->self)) < 0)
            return storage_failed(s, "activate", st, error);
        s->state = SP_NODE_ACTIVE;
    }
    return 0;
}

void sp_storage_teardown(spark_pipeline *p)
{
    for (size_t i = p->storage_count; i-- > 0;) {
        sp_storage *s = &p->storages[i];
        if (s->state == SP_NODE_NONE)
            continue;
        if (s->state == SP_NODE_ACTIVE && s->desc->ops->deactivate)
            s->desc->ops->deactivate(s->self);
        s->desc->ops->destroy(s->self);
        s->self = NULL;
        s->state = SP_NODE_NONE;
    }
}

static sp_job *job_of(const spark_job *job)
{
    return job ? ((const sp_node_job *)job->host_data)->job : NULL;
}

static spark_status ext_read(const spark_host *host, const spark_job *job, const char *url,
                             spark_packet **out_blob)
{
    const sp_host_ctx *ctx = (const sp_host_ctx *)host;
    *out_blob = NULL;
    char *why = NULL;
    sp_storage *s = ctx->pipeline ? sp_storage_route(ctx->pipeline, url, &why) : NULL;
    if (!s) {
        char *msg = sp_printf("cannot read '%s': %s", url, why ? why : "no pipeline");
        sp_posted_error_set(msg);
        free(msg);
        free(why);
        return SPARK_E_UNSUPPORTED;
    }
    return s->desc->ops->read(s->self, job, url, out_blob);
}

static spark_status ext_write_begin(const spark_host *host, const spark_job *job,
                                    const char *url, const char *media_type,
                                    spark_storage_writer **out_writer)
{
    const sp_host_ctx *ctx = (const sp_host_ctx *)host;
    *out_writer = NULL;
    sp_job *j = job_of(job);
    char *why = NULL;
    sp_storage *s = ctx->pipeline ? sp_storage_route(ctx->pipeline, url, &why) : NULL;
    if (!s || !j) {
        char *msg = sp_printf("cannot write '%s': %s", url,
                              why ? why : "writes need a job");
        sp_posted_error_set(msg);
        free(msg);
        free(why);
        return SPARK_E_UNSUPPORTED;
    }
    spark_storage_writer *w = calloc(1, sizeof *w);
    if (!w)
        return SPARK_E_NO_MEMORY;
    spark_status st = s->desc->ops->write_begin(s->self, job, url, media_type, &w->writer);
    if (st < 0) {
        free(w);
        return st;
    }
    w->backend = s;
    w->job = j;
    pthread_mutex_lock(&j->lock);
    w->next = j->writers;
    j->writers = w;
    pthread_mutex_unlock(&j->lock);
    *out_writer = w;
    return SPARK_OK;
}

static spark_status ext_write(spark_storage_writer *w, const void *data, uint64_t size)
{
    return w->backend->desc->ops->write(w->backend->self, w->writer, data, size);
}

static void forget_writer(spark_storage_writer *w)
{
    sp_job *j = w->job;
    pthread_mutex_lock(&j->lock);
    spark_storage_writer **link = &j->writers;
    while (*link && *link != w)
        link = &(*link)->next;
    if (*link)
        *link = w->next;
    pthread_mutex_unlock(&j->lock);
}

static spark_status ext_commit(spark_storage_writer *w, char *url_out, uint32_t url_cap)
{
    forget_writer(w);
    spark_status st = w->backend->desc->ops->write_commit(w->backend->self, w->writer, url_out,
                                                          url_cap);
    free(w);
    return st;
}

static void ext_abort(spark_storage_writer *w)
{
    forget_writer(w);
    w->backend->desc->ops->write_abort(w->backend->self, w->writer);
    free(w);
}

void sp_storage_abort_writers(sp_job *job)
{
    for (;;) {
        pthread_mutex_lock(&job->lock);
        spark_storage_writer *w = job->writers;
        pthread_mutex_unlock(&job->lock);
        if (!w)
            return;
        sp_log(&job->pipeline->engine->logger, SPARK_LOG_LEVEL_DEBUG,
               "job %s: aborting an uncommitted write to storage '%s'", job->id, w->backend->id);
        ext_abort(w);
    }
}

const spark_ext_storage sp_ext_storage = {
    .struct_size = sizeof(spark_ext_storage),
    .read = ext_read,
    .write_begin = ext_write_begin,
    .write = ext_write,
    .commit = ext_commit,
    .abort = ext_abort,
};
