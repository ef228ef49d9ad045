#include "node_support.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A host table is usable when its struct_size covers the last member this plugin calls. */
#define TABLE_COVERS(table, type, member)                                                     \
    ((table) && (table)->struct_size >= offsetof(type, member) + sizeof((table)->member) &&   \
     (table)->member)

spark_status node_instance_create(const spark_host *host, size_t instance_size,
                                  void **out_instance)
{
    *out_instance = NULL;
    if (!host || !host->get_extension || instance_size < sizeof(node_services))
        return SPARK_E_INVALID_ARGUMENT;
    node_services services = {
        .host = host,
        .alloc = host->get_extension(host, SPARK_EXT_ALLOC),
        .log = host->get_extension(host, SPARK_EXT_LOG),
        .progress = host->get_extension(host, SPARK_EXT_PROGRESS),
    };
    if (!TABLE_COVERS(services.log, spark_ext_log, error))
        services.log = NULL;
    if (!TABLE_COVERS(services.alloc, spark_ext_alloc, release) || !services.alloc->audio ||
        !services.alloc->blob)
        services.alloc = NULL;
    if (!TABLE_COVERS(services.progress, spark_ext_progress, check))
        services.progress = NULL; /* optional: jobs then simply cannot be polled */
    /* Without the log service no failure could be explained, so it is required too. */
    if (!services.log)
        return SPARK_E_UNSUPPORTED;
    if (!services.alloc) {
        services.log->error(host, "the host lacks the " SPARK_EXT_ALLOC " service");
        return SPARK_E_UNSUPPORTED;
    }
    void *instance = calloc(1, instance_size);
    if (!instance) {
        services.log->error(host, "out of memory");
        return SPARK_E_NO_MEMORY;
    }
    memcpy(instance, &services, sizeof(services));
    *out_instance = instance;
    return SPARK_OK;
}

void node_post_error(const node_services *services, const char *format, ...)
{
    char message[NODE_MESSAGE_CAPACITY];
    va_list args;
    va_start(args, format);
    int written = vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    if (written < 0)
        snprintf(message, sizeof(message), "error (message could not be formatted)");
    services->log->error(services->host, message);
}

spark_status node_status_from_audio(audio_status status)
{
    switch (status) {
    case AUDIO_OK:
        return SPARK_OK;
    case AUDIO_ERR_INVALID_DATA:
    case AUDIO_ERR_INVALID_ARGUMENT:
        return SPARK_E_INVALID_ARGUMENT;
    case AUDIO_ERR_UNSUPPORTED:
        return SPARK_E_UNSUPPORTED;
    case AUDIO_ERR_FORMAT_MISMATCH:
        return SPARK_E_FORMAT_MISMATCH;
    case AUDIO_ERR_NO_MEMORY:
        return SPARK_E_NO_MEMORY;
    case AUDIO_ERR_CODEC:
        break;
    }
    return SPARK_E_INTERNAL;
}

spark_status node_check_progress(const node_services *services, const spark_job *job)
{
    if (!services->progress)
        return SPARK_OK;
    spark_status status = services->progress->check(services->host, job);
    return status < 0 ? status : SPARK_OK;
}

const char *node_param_string(const spark_params *params, const char *key, const char *fallback)
{
    if (!params || !params->get_string)
        return fallback;
    const char *value = params->get_string(params->user, key);
    return value ? value : fallback;
}

double node_param_number(const spark_params *params, const char *key, double fallback)
{
    if (!params || !params->has || !params->get_number || !params->has(params->user, key))
        return fallback;
    return params->get_number(params->user, key);
}

int64_t node_param_integer(const spark_params *params, const char *key, int64_t fallback)
{
    if (!params || !params->has || !params->get_integer || !params->has(params->user, key))
        return fallback;
    return params->get_integer(params->user, key);
}

spark_status node_emit_audio(const node_services *services, const spark_job *job, uint32_t port,
                             planar_buffer *buffer, uint32_t rate,
                             audio_stream_position *position)
{
    if (buffer->frames > (uint64_t)(INT64_MAX - position->next_timestamp)) {
        node_post_error(services, "the job's audio stream is too long");
        return SPARK_E_INVALID_ARGUMENT;
    }
    spark_packet *packet = services->alloc->audio(services->host, buffer->channels,
                                                  buffer->frames, rate);
    if (!packet) {
        node_post_error(services, "out of memory for an audio packet of %llu frames x %u channels",
                        (unsigned long long)buffer->frames, buffer->channels);
        return SPARK_E_NO_MEMORY;
    }
    spark_audio_data *audio = &packet->data.audio;
    if (audio->channels != buffer->channels || audio->frames != buffer->frames) {
        services->alloc->release(packet);
        node_post_error(services, "the host made an audio packet of the wrong shape");
        return SPARK_E_INTERNAL;
    }
    for (uint32_t channel = 0; channel < buffer->channels; channel++)
        memcpy(audio->planes[channel], buffer->planes[channel],
               (size_t)buffer->frames * sizeof(float));
    audio->timestamp = position->next_timestamp;
    packet->seq = position->next_seq;
    spark_status status = job->emit(job, port, packet);
    if (status < 0)
        return status;
    position->next_seq++;
    position->next_timestamp += (int64_t)buffer->frames;
    planar_buffer_clear(buffer);
    return SPARK_OK;
}

spark_status node_check_formats(const node_services *services, const spark_format *formats,
                                uint32_t port_count)
{
    if (!formats || port_count != AUDIO_IO_PORT_COUNT) {
        node_post_error(services, "negotiate expected %d port formats, got %u",
                        AUDIO_IO_PORT_COUNT, port_count);
        return SPARK_E_INVALID_ARGUMENT;
    }
    return SPARK_OK;
}
