/*
 * Helpers shared by the test plugins (static inline: each DSO gets its own hidden copy).
 * They show the patterns PLUGINS.md asks for: look up host services once in create and check
 * their struct_size, post a message before every negative status, copy parameter strings.
 */
#ifndef SPARK_TEST_PLUGIN_UTIL_H
#define SPARK_TEST_PLUGIN_UTIL_H

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>
#include <spark/plugin.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when a host table is new enough to contain `member` (tables only grow at the end). */
#define TEST_HAS_MEMBER(table, type, member)                                             \
    ((table)->struct_size >= offsetof(type, member) + sizeof((table)->member))

/* The host services an instance uses, looked up once in create. */
typedef struct test_services {
    const spark_host *host;
    const spark_ext_log *log;           /* NULL when the host has none */
    const spark_ext_alloc *alloc;       /* NULL unless asked for */
    const spark_ext_progress *progress; /* NULL unless asked for */
} test_services;

#if defined(__GNUC__) || defined(__clang__)
#define TEST_PRINTF(fmt_index, arg_index) __attribute__((format(printf, fmt_index, arg_index)))
#else
#define TEST_PRINTF(fmt_index, arg_index)
#endif

/* Post the reason for a failure through spark.ext.log/1 and return the status, so a
 * failing path reads `return test_fail(s, SPARK_E_..., "...", ...);`. */
static inline spark_status test_fail(const test_services *s, spark_status status,
                                     const char *fmt, ...) TEST_PRINTF(3, 4);
static inline spark_status test_fail(const test_services *s, spark_status status,
                                     const char *fmt, ...)
{
    char message[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    if (s && s->log)
        s->log->error(s->host, message);
    return status;
}

/* Fill *s from the host. alloc and progress are looked up only when the node needs them;
 * a missing required service fails create with SPARK_E_UNSUPPORTED. */
static inline spark_status test_services_init(test_services *s, const spark_host *host,
                                              int need_alloc, int need_progress)
{
    const spark_ext_log *log;
    memset(s, 0, sizeof *s);
    if (!host || !host->get_extension)
        return SPARK_E_INVALID_ARGUMENT;
    s->host = host;
    log = (const spark_ext_log *)host->get_extension(host, SPARK_EXT_LOG);
    if (log && TEST_HAS_MEMBER(log, spark_ext_log, error))
        s->log = log;
    if (need_alloc) {
        const spark_ext_alloc *alloc =
            (const spark_ext_alloc *)host->get_extension(host, SPARK_EXT_ALLOC);
        if (!alloc || !TEST_HAS_MEMBER(alloc, spark_ext_alloc, release))
            return test_fail(s, SPARK_E_UNSUPPORTED, "host lacks %s", SPARK_EXT_ALLOC);
        s->alloc = alloc;
    }
    if (need_progress) {
        const spark_ext_progress *progress =
            (const spark_ext_progress *)host->get_extension(host, SPARK_EXT_PROGRESS);
        if (!progress || !TEST_HAS_MEMBER(progress, spark_ext_progress, report))
            return test_fail(s, SPARK_E_UNSUPPORTED, "host lacks %s", SPARK_EXT_PROGRESS);
        s->progress = progress;
    }
    return SPARK_OK;
}

/* Every test node's instance struct begins with its test_services (a node with nothing else
 * to keep uses test_services itself), so the helpers below serve every node. */

/* create's work: `size` zeroed bytes with the services filled in. */
static inline spark_status test_instance_create(size_t size, const spark_host *host,
                                                int need_alloc, int need_progress,
                                                void **out_self)
{
    test_services *services = (test_services *)calloc(1, size);
    spark_status status;
    if (!services)
        return SPARK_E_NO_MEMORY;
    status = test_services_init(services, host, need_alloc, need_progress);
    if (status < 0) {
        free(services);
        return status;
    }
    *out_self = services;
    return SPARK_OK;
}

static inline void test_instance_destroy(void *self)
{
    free(self);
}

/* job_end of a node whose job state is one malloc'ed block and that posts no results. */
static inline spark_status test_job_end_free(void *self, void *job_state, const spark_job *job,
                                             spark_status outcome)
{
    (void)self;
    (void)job;
    (void)outcome;
    free(job_state);
    return SPARK_OK;
}

/* get_factory of a plugin that offers nodes only. */
static inline const void *test_node_factory_for(const char *factory_id,
                                                const spark_node_factory *factory)
{
    if (factory_id && strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return factory;
    return NULL;
}

/* Parameter getters: the engine fills defaults, the fallback only covers a NULL params. */
static inline int64_t test_param_integer(const spark_params *params, const char *key,
                                         int64_t fallback)
{
    if (!params || !params->has(params->user, key))
        return fallback;
    return params->get_integer(params->user, key);
}

/* Returns a malloc'ed copy (the value is only borrowed), or NULL when out of memory. */
static inline char *test_param_string_copy(const spark_params *params, const char *key,
                                           const char *fallback)
{
    const char *value = NULL;
    if (params && params->has(params->user, key))
        value = params->get_string(params->user, key);
    if (!value)
        value = fallback;
    return strdup(value);
}

/* Results carry both forms: the number, and its text for hosts that print results. */
static inline spark_status test_post_integer(const spark_job *job, const char *name,
                                             int64_t value)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, value);
    return job->post_result(job, name, SPARK_VALUE_INTEGER, text, (double)value);
}

static inline spark_status test_post_string(const spark_job *job, const char *name,
                                            const char *value)
{
    return job->post_result(job, name, SPARK_VALUE_STRING, value, 0.0);
}

/* Re-emit a borrowed packet: take a reference of our own, then hand it to emit, which takes
 * it over (also on failure). emit wants a non-const pointer; the packet stays immutable. */
static inline spark_status test_forward(const test_services *s, const spark_job *job,
                                        uint32_t port, const spark_packet *packet)
{
    const spark_packet *kept = s->alloc->retain(packet);
    return job->emit(job, port, (spark_packet *)(uintptr_t)kept);
}

/* process of a node that passes every packet of input port 0 on to output port 1. */
static inline spark_status test_forward_process(void *self, void *job_state,
                                                const spark_job *job, uint32_t port,
                                                const spark_packet *packet)
{
    const test_services *s = (const test_services *)self;
    (void)job_state;
    if (port != 0)
        return test_fail(s, SPARK_E_INVALID_ARGUMENT, "no input port %u", (unsigned)port);
    if (!packet)
        return SPARK_OK; /* end of stream: nothing held back */
    return test_forward(s, job, 1, packet);
}

/* A job id for messages; the engine may leave it NULL. */
static inline const char *test_job_id(const spark_job *job)
{
    return job && job->id ? job->id : "(none)";
}

#endif
